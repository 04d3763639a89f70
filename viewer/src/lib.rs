//! The gallery: an axum server over the store, and its web UI (embedded).
//!
//! Every query goes through DataFusion's DataFrame API over the store's
//! `photos` view: user input only ever becomes `lit()` values or a key of a
//! fixed allow-list, never SQL text. Files are served only for paths found in
//! the store, never for a path as the request wrote it.
//!
//! `app(state)` is the router ([`AppState`] holds the store and the
//! configuration); `serve` binds and runs it.

pub mod albums;
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
pub mod preferences;
mod query;
pub mod scan;
pub mod scope;
pub mod search;
mod settings;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod users_tests;

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
    scans: scan::Scans,
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
    /// Per session owner (`""`: single-user mode; else the member's name).
    users: std::collections::HashMap<String, Arc<listing::UserCols>>,
}

impl AppState {
    pub fn new(store: Store, config: &FacetConfig) -> AppState {
        AppState::with_scanner(store, config, None)
    }

    /// With the command that scans folders into the store (`/api/scan`).
    pub fn with_scanner(
        store: Store,
        config: &FacetConfig,
        scanner: Option<Arc<dyn scan::Scanner>>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                gate: auth::Gate::from_config(config, &Settings::from_config(config)),
                settings: Settings::from_config(config),
                user_state_lock: tokio::sync::Mutex::new(()),
                cache: tokio::sync::Mutex::new(Cache::default()),
                config: config.clone(),
                scans: scan::Scans::new(scanner),
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

    /// The gallery's scans.
    pub fn scans(&self) -> &scan::Scans {
        &self.inner.scans
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

    /// The `/api/photos` listing and `who`'s view of it (user state,
    /// visible rows) for the latest versions: the listing is rebuilt when a
    /// run changed the photos, scores or groups, a view when its user state
    /// changed.
    async fn listing(
        &self,
        who: &auth::Who,
    ) -> Result<(Arc<listing::Listing>, Arc<listing::UserCols>), ApiError> {
        let mut cache = self.inner.cache.lock().await;
        let snap = self.fresh(&mut cache).await?;
        let key = listing::listing_key(&snap);
        let listing = match &cache.listing {
            Some(l) if l.key == key => l.clone(),
            _ => {
                cache.users.clear();
                let l = Arc::new(listing::Listing::build(&snap).await?);
                cache.listing = Some(l.clone());
                l
            }
        };
        let owner = who.user().unwrap_or("").to_string();
        let version = snap.version(listing::state_table(who));
        let user = match cache.users.get(&owner) {
            Some(u) if u.version == version => u.clone(),
            _ => {
                let u = Arc::new(listing.user(&snap, who).await?);
                cache.users.insert(owner, u.clone());
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
    for (path, route) in [
        ("/api/albums", get(albums::list).post(albums::create)),
        ("/api/album", get(albums::show)),
        ("/api/album/update", post(albums::update)),
        ("/api/album/photos", post(albums::photos)),
        ("/api/album/delete", post(albums::delete)),
        ("/api/album/share", post(albums::share)),
        ("/api/album/unshare", post(albums::unshare)),
        ("/api/shared", get(albums::shared)),
    ] {
        r = on(r, f.show_albums, path, route);
    }
    r = on(
        r,
        f.show_scan_button,
        "/api/scan",
        get(scan::status).post(scan::start),
    );
    let cors = cors(state.config());
    let r = r
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        // Requests carry small JSON bodies: anything larger is refused (413).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    match cors {
        Some(c) => r.layer(c),
        None => r,
    }
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Cross-origin requests (with the session cookie) only from
/// `viewer.allowed_origins`; none when the list is empty or absent (the
/// browser's same-origin rule then stands).
fn cors(config: &FacetConfig) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = config
        .viewer
        .other
        .get("allowed_origins")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .filter(|o| *o != "*")
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE]),
    )
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
