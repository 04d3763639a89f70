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
mod capsules;
pub mod compare;
mod error;
mod failures;
mod files;
mod groups;
#[cfg(test)]
mod i18n_tests;
mod json;
mod listing;
mod openapi;
mod options;
mod persons;
#[cfg(test)]
mod persons_tests;
mod plugins;
pub mod preferences;
mod query;
pub mod routes;
#[cfg(test)]
mod routes_tests;
pub mod scan;
pub mod scope;
pub mod search;
pub mod sessions;
mod settings;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod users_tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
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
    /// Serialises group decisions (each re-detects the groups).
    group_lock: tokio::sync::Mutex<()>,
    cache: tokio::sync::Mutex<Cache>,
    gate: auth::Gate,
    /// Server-side sessions (the store's `sessions` table).
    sessions: sessions::Sessions,
    config: FacetConfig,
    /// The configuration file `facet serve` read: password changes are
    /// written into it.
    config_file: std::sync::OnceLock<std::path::PathBuf>,
    /// The configuration file's modification time when the members were
    /// last read from it ([`AppState::refresh_members`]).
    members_read: std::sync::Mutex<Option<std::time::SystemTime>>,
    scans: scan::Scans,
    /// `viewer.cache_ttl_seconds`' answers (see `cache`).
    responses: cache::Responses,
    /// The pipeline's text encoder, when `facet serve --pipeline` gave one.
    text: std::sync::OnceLock<Arc<search::TextSearch>>,
    /// Woken when a background listing build ends.
    built: tokio::sync::Notify,
    /// Share links resolved, per table versions.
    guests: albums::Guests,
    /// The capsules built, per session owner (see `capsules`).
    capsules: capsules::Cache,
}

/// The session and the `/api/photos` listing, kept while no table changes.
#[derive(Default)]
struct Cache {
    snapshot: Option<Snapshot>,
    listing: Option<Arc<listing::Listing>>,
    /// Per session owner (`""`: single-user mode; else the member's name):
    /// the user state, and the rows the member may see (per listing).
    users: std::collections::HashMap<String, Arc<listing::UserCols>>,
    visible: std::collections::HashMap<String, Arc<Vec<bool>>>,
    /// The listing being built in the background, and the last full
    /// build's duration (an extension's says little of the next build), and
    /// a failure.
    building: Option<listing::ListingKey>,
    last_build: Option<std::time::Duration>,
    failed: Option<(listing::ListingKey, String)>,
}

/// A build that took longer than this is not waited for: requests are
/// answered from the previous listing until the new one is swapped in.
const WAIT_FOR_BUILDS_UNDER: std::time::Duration = std::time::Duration::from_secs(1);

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
                sessions: sessions::Sessions::from_config(config),
                config_file: std::sync::OnceLock::new(),
                members_read: std::sync::Mutex::new(None),
                settings: Settings::from_config(config),
                user_state_lock: tokio::sync::Mutex::new(()),
                group_lock: tokio::sync::Mutex::new(()),
                cache: tokio::sync::Mutex::new(Cache::default()),
                config: config.clone(),
                scans: scan::Scans::new(scanner),
                responses: cache::Responses::default(),
                text: std::sync::OnceLock::new(),
                built: tokio::sync::Notify::new(),
                guests: albums::Guests::default(),
                capsules: capsules::Cache::default(),
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

    /// Passwords and members.
    pub fn gate(&self) -> &auth::Gate {
        &self.inner.gate
    }

    /// The sessions.
    pub fn sessions(&self) -> &sessions::Sessions {
        &self.inner.sessions
    }

    /// With the configuration file the server read (`POST
    /// /api/auth/password` writes the new hash into it).
    pub fn with_config_file(self, path: std::path::PathBuf) -> AppState {
        let _ = self.inner.config_file.set(path);
        self
    }

    pub(crate) fn config_file(&self) -> Option<&std::path::Path> {
        self.inner.config_file.get().map(|p| p.as_path())
    }

    /// Reads the members again when the configuration file changed since
    /// they were read (`facet user add|remove` while the gallery runs), so
    /// that a removed member cannot log in and an added one can, without a
    /// restart. A file that does not parse (caught mid-edit) keeps the
    /// members read before, and says so.
    pub(crate) fn refresh_members(&self) {
        let Some(path) = self.config_file() else {
            return;
        };
        let Ok(mtime) = std::fs::metadata(path).and_then(|m| m.modified()) else {
            return;
        };
        let mut read = self.inner.members_read.lock().expect("members_read lock");
        if *read == Some(mtime) {
            return;
        }
        match FacetConfig::load(path) {
            // With every member removed no one can log in: the server stays
            // in multi-user mode (`Gate::multi_user` is fixed at start).
            Ok(loaded) => {
                self.gate()
                    .reload_members(&loaded.config, &self.inner.settings);
                *read = Some(mtime);
            }
            Err(e) => eprintln!(
                "facet serve: {}: {e}; the members read before stay",
                path.display()
            ),
        }
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
        let trace = facet_library::Trace::new("gallery");
        // The tables no one wrote since are kept as they are.
        let s = self.store().snapshot_since(cache.snapshot.as_ref()).await?;
        trace.at("snapshot re-opened");
        cache.snapshot = Some(s.clone());
        Ok(s)
    }

    pub(crate) fn guests(&self) -> &albums::Guests {
        &self.inner.guests
    }

    /// A DataFusion session over the tables' latest versions (cached).
    pub async fn session(&self) -> Result<datafusion::prelude::SessionContext, ApiError> {
        let mut cache = self.inner.cache.lock().await;
        Ok(self.fresh(&mut cache).await?.ctx)
    }

    /// The `/api/photos` listing and `who`'s view of it (user state,
    /// visible rows) for the latest versions.
    ///
    /// When a run changed the photos, scores or groups, the new listing is
    /// built in the background and swapped in whole: requests meanwhile
    /// wait for it while builds are quick (under [`WAIT_FOR_BUILDS_UNDER`]:
    /// a small library is always consistent, and a request waits for the
    /// versions it arrived at, not for every commit made meanwhile), and are
    /// answered from the previous listing at once when they are not (a large
    /// library stays responsive while its listing is rebuilt). A member's
    /// visible rows are computed once per listing; the user state (a
    /// rating) never rebuilds the listing.
    async fn listing(
        &self,
        who: &auth::Who,
    ) -> Result<(Arc<listing::Listing>, Arc<listing::UserCols>), ApiError> {
        let trace = facet_library::Trace::new("gallery request");
        // The versions when the request came: a listing of them (or later)
        // answers it, however many commits a run makes meanwhile (waiting
        // for the latest would chase each of them).
        let mut arrived: Option<listing::ListingKey> = None;
        let (listing, snap) = loop {
            let notified = self.inner.built.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut cache = self.inner.cache.lock().await;
            let snap = self.fresh(&mut cache).await?;
            let key = listing::listing_key(&snap);
            let arrived = *arrived.get_or_insert(key);
            if let Some(l) = cache
                .listing
                .as_ref()
                .filter(|l| l.key == key || listing::covers(&l.key, &arrived))
            {
                break (l.clone(), snap);
            }
            if let Some((k, e)) = &cache.failed
                && *k == key
            {
                let e = e.clone();
                cache.failed = None;
                return Err(ApiError::internal(e));
            }
            self.start_build(&mut cache, &snap, key);
            let stale = cache.listing.clone();
            let patient = cache.last_build.is_none_or(|d| d < WAIT_FOR_BUILDS_UNDER);
            drop(cache);
            match stale {
                // Never waited for: the build runs beside the requests.
                Some(l) if !patient => break (l, snap),
                _ => notified.await,
            }
        };
        if trace.elapsed() > std::time::Duration::from_millis(50) {
            trace.at("waited for the listing");
        }
        let mut cache = self.inner.cache.lock().await;
        if !cache
            .listing
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, &listing))
        {
            // A previous listing: its own views, not cached.
            let visible = listing.visible(who);
            let user = Arc::new(listing.user(&snap, who, visible).await?);
            return Ok((listing, user));
        }
        let owner = who.user().unwrap_or("").to_string();
        let version = snap.version(listing::state_table(who));
        let user = match cache.users.get(&owner) {
            Some(u) if u.version == version => u.clone(),
            _ => {
                let visible = match cache.visible.get(&owner) {
                    Some(v) => Some(v.clone()),
                    None => {
                        let v = listing.visible(who);
                        if let Some(v) = &v {
                            cache.visible.insert(owner.clone(), v.clone());
                        }
                        v
                    }
                };
                let u = Arc::new(listing.user(&snap, who, visible).await?);
                cache.users.insert(owner, u.clone());
                u
            }
        };
        Ok((listing, user))
    }

    /// Starts building the listing of `snap` in the background, unless a
    /// listing is being built: one build at a time (each holds a listing
    /// beside the one it replaces; a run's commits would otherwise start
    /// one per version), on a thread of its own, so that the runtime's
    /// workers answer requests while it computes; the versions written
    /// meanwhile are taken by the next build (the next request or
    /// [`AppState::refresh`] starts it).
    fn start_build(&self, cache: &mut Cache, snap: &Snapshot, key: listing::ListingKey) {
        if cache.building.is_some() {
            return;
        }
        cache.building = Some(key);
        let state = self.clone();
        let snap = snap.clone();
        let previous = cache.listing.clone();
        let handle = tokio::runtime::Handle::current();
        let job = async move {
            let started = std::time::Instant::now();
            let trace = facet_library::Trace::new("listing");
            // From the previous listing when it can be extended.
            let extended = match &previous {
                Some(p) => p.extend(&snap).await.unwrap_or(None),
                None => None,
            };
            trace.at(if extended.is_some() {
                "extended"
            } else {
                "not extendable"
            });
            drop(previous);
            let built = match extended {
                Some(l) => Ok(l),
                None => listing::Listing::build(&snap).await,
            }
            .map(|mut l| {
                let s = state.settings();
                l.calibrate_top_picks(s.top_picks_percent, s.top_picks_min_megapixels);
                l.prepare_order(&s.default_sort);
                l
            });
            trace.at("built");
            let mut cache = state.inner.cache.lock().await;
            if cache.building == Some(key) {
                cache.building = None;
            }
            match built {
                Ok(l) => {
                    if !l.extended {
                        cache.last_build = Some(started.elapsed());
                    }
                    // A later version may have been swapped in meanwhile.
                    let newer = cache
                        .listing
                        .as_ref()
                        .is_some_and(|old| old.key.iter().zip(key.iter()).any(|(o, n)| o > n));
                    if !newer {
                        cache.listing = Some(Arc::new(l));
                        cache.users.clear();
                        cache.visible.clear();
                    }
                }
                Err(e) => cache.failed = Some((key, format!("listing: {e:?}"))),
            }
            drop(cache);
            state.inner.built.notify_waiters();
            release_free_memory();
        };
        let spawned = std::thread::Builder::new()
            .name("facet-listing".into())
            .spawn(move || handle.block_on(job));
        if let Err(e) = spawned {
            cache.building = None;
            cache.failed = Some((key, format!("listing: no thread: {e}")));
        }
    }

    /// Brings the listing up to date in the background when a run changed
    /// the store (`facet serve` calls it every few seconds, so that the
    /// first request after a run finds the new listing built).
    pub async fn refresh(&self) -> Result<(), ApiError> {
        let mut cache = self.inner.cache.lock().await;
        let snap = self.fresh(&mut cache).await?;
        let key = listing::listing_key(&snap);
        if cache.listing.as_ref().is_none_or(|l| l.key != key) {
            self.start_build(&mut cache, &snap, key);
        }
        Ok(())
    }
}

/// Gives the memory a replaced listing and its build freed back to the
/// system (glibc keeps freed pages in its arenas otherwise: a million-photo
/// listing's build leaves hundreds of MiB resident that nothing uses).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The gallery's routes ([`routes::table`]); those of a feature
/// `viewer.features` switches off are not there (404).
pub fn app(state: AppState) -> Router {
    let r = routes::router(&state.settings().features);
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
    // The listing follows the store's writes off the request path.
    let watched = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            let _ = watched.refresh().await;
        }
    });
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
