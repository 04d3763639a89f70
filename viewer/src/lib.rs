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
pub mod auth;
mod browse;
#[cfg(test)]
mod browse_tests;
mod cache;
pub mod compare;
mod error;
mod files;
mod json;
mod listing;
mod openapi;
mod persons;
#[cfg(test)]
mod persons_tests;
mod query;
pub mod search;
mod settings;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use facet_config::FacetConfig;
use facet_store::{Snapshot, Store};

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
    cache: tokio::sync::Mutex<Cache>,
    gate: auth::Gate,
    config: FacetConfig,
    /// `viewer.cache_ttl_seconds`' answers (see `cache`).
    responses: cache::Responses,
    /// The pipeline's text encoder, when `facet serve --pipeline` gave one.
    text: std::sync::OnceLock<Arc<search::TextSearch>>,
}

/// The session and the `/api/photos` listing, kept while no table changes.
#[derive(Default)]
struct Cache {
    snapshot: Option<Snapshot>,
    listing: Option<Arc<listing::Listing>>,
    user: Option<Arc<listing::UserCols>>,
}

impl AppState {
    pub fn new(store: Store, config: &FacetConfig) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                settings: Settings::from_config(config),
                user_state_lock: tokio::sync::Mutex::new(()),
                cache: tokio::sync::Mutex::new(Cache::default()),
                gate: auth::Gate::from_config(config),
                config: config.clone(),
                responses: cache::Responses::default(),
                text: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &FacetConfig {
        &self.inner.config
    }

    /// Passwords and sessions.
    pub fn gate(&self) -> &auth::Gate {
        &self.inner.gate
    }

    /// The cached snapshot, re-opened when a table has a newer version than
    /// it reads (one directory listing per table: writes by the API, or a
    /// run beside the server, show on the next request).
    async fn fresh(&self, cache: &mut Cache) -> Result<Snapshot, ApiError> {
        if let Some(s) = &cache.snapshot
            && self.store().is_current(s).await?
        {
            return Ok(s.clone());
        }
        let s = self.store().snapshot().await?;
        cache.snapshot = Some(s.clone());
        Ok(s)
    }

    /// A DataFusion session over the tables' latest versions (cached).
    pub async fn session(&self) -> Result<datafusion::prelude::SessionContext, ApiError> {
        let mut cache = self.inner.cache.lock().await;
        Ok(self.fresh(&mut cache).await?.ctx)
    }

    /// The `/api/photos` listing and user state for the latest versions,
    /// rebuilt when a run changed the photos, scores or groups (the listing)
    /// or the user state changed (only the user arrays).
    async fn listing(&self) -> Result<(Arc<listing::Listing>, Arc<listing::UserCols>), ApiError> {
        let mut cache = self.inner.cache.lock().await;
        let snap = self.fresh(&mut cache).await?;
        let key = listing::listing_key(&snap);
        let listing = match &cache.listing {
            Some(l) if l.key == key => l.clone(),
            _ => {
                cache.user = None;
                let l = Arc::new(listing::Listing::build(&snap).await?);
                cache.listing = Some(l.clone());
                l
            }
        };
        let user = match &cache.user {
            Some(u) if u.version == snap.version("user_state") => u.clone(),
            _ => {
                let u = Arc::new(listing.user(&snap).await?);
                cache.user = Some(u.clone());
                u
            }
        };
        Ok((listing, user))
    }
}

/// The gallery's routes; those of a feature `viewer.features` switches off
/// are not there (404).
pub fn app(state: AppState) -> Router {
    let f = state.settings().features.clone();
    fn on(
        router: Router<AppState>,
        flag: bool,
        path: &str,
        route: axum::routing::MethodRouter<AppState>,
    ) -> Router<AppState> {
        if flag {
            router.route(path, route)
        } else {
            router
        }
    }
    let mut r = Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::asset))
        .route("/openapi.json", get(openapi::document))
        .route("/api/config", get(api::config))
        .route("/api/photos", get(api::photos))
        .route("/api/photo", get(api::photo))
        .route("/api/groups", get(api::groups))
        .route("/api/filter_options", get(api::filter_options))
        .route("/api/type_counts", get(api::type_counts))
        .route("/api/reject", post(api::reject))
        .route("/thumbnail", get(files::thumbnail))
        .route("/image", get(files::image))
        .route("/api/download", get(files::download))
        .route("/api/comparison/pair", get(compare::pair))
        .route("/api/comparison", post(compare::record))
        .route("/api/comparison/suggestion", get(compare::suggest))
        .route("/api/persons", get(persons::list))
        .route("/api/persons/thumbnail", get(persons::thumbnail))
        .route("/api/persons/rename", post(persons::rename))
        .route("/api/persons/hide", post(persons::hide))
        .route("/api/persons/merge", post(persons::merge))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me));
    r = on(r, f.show_rating_controls, "/api/rating", post(api::rating));
    r = on(
        r,
        f.show_rating_controls,
        "/api/favorite",
        post(api::favorite),
    );
    r = on(r, f.show_timeline, "/api/timeline", get(browse::timeline));
    r = on(r, f.show_memories, "/api/memories", get(browse::memories));
    r = on(r, f.show_map, "/api/map", get(browse::map));
    r = on(
        r,
        f.show_similar_button,
        "/api/similar",
        get(browse::similar),
    );
    r = on(
        r,
        f.show_semantic_search,
        "/api/search",
        get(search::search),
    );
    r.fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
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
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
