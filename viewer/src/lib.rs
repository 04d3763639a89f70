//! The gallery: an axum server over the store, and its web UI (embedded).
//!
//! Every query goes through DataFusion's DataFrame API over the store's
//! `photos` view: user input only ever becomes `lit()` values or a key of a
//! fixed allow-list, never SQL text. Files are served only for paths found in
//! the store, never for a path as the request wrote it.
//!
//! `app(state)` is the router ([`AppState`] holds the store and the
//! configuration); `serve` binds and runs it.

mod api;
mod assets;
mod error;
mod files;
mod json;
mod openapi;
mod query;
mod settings;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use facet_config::FacetConfig;
use facet_store::Store;

pub use error::ApiError;
pub use settings::Settings;

/// What every handler shares: the store, the configuration's viewer settings,
/// and a lock serialising the read-modify-write of `user_state`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    user_state_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    pub fn new(store: Store, config: &FacetConfig) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                settings: Settings::from_config(config),
                user_state_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}

/// The gallery's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::asset))
        .route("/openapi.json", get(openapi::document))
        .route("/api/config", get(api::config))
        .route("/api/photos", get(api::photos))
        .route("/api/photo", get(api::photo))
        .route("/api/filter_options", get(api::filter_options))
        .route("/api/type_counts", get(api::type_counts))
        .route("/api/rating", post(api::rating))
        .route("/api/favorite", post(api::favorite))
        .route("/api/reject", post(api::reject))
        .route("/thumbnail", get(files::thumbnail))
        .route("/image", get(files::image))
        .route("/api/download", get(files::download))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

/// Binds `addr`, calls `bound` with the address bound (port 0 picks a free
/// one), then serves `app(state)` until Ctrl-C.
pub async fn serve(
    addr: &str,
    state: AppState,
    bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    bound(listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
