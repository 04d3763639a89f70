//! The gallery's routes, in one table: for each its method, path, handler,
//! the least access it needs and the `viewer.features` flag that switches it
//! off. [`crate::app`] builds the router from [`table`] alone (a route cannot
//! exist without an entry), the OpenAPI test checks the document against it,
//! and the role × route matrix test (`routes_tests`) sends every entry as
//! every role.
//!
//! [`Needs`] describes what [`crate::auth::guard`] and the handlers decide;
//! it does not decide anything itself.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};

use crate::settings::Features;
use crate::{AppState, albums, api, assets, auth, browse, compare, failures, files, groups};
use crate::{capsules, openapi, options, persons, plugins, scan, search};

/// The least access a route needs, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needs {
    /// Anyone, without a session: the page, its assets, the API
    /// description, login, logout and `/api/me`.
    Anyone,
    /// A session that may look: single-user `viewer.password` (or none set),
    /// any member. (`/api/shared` is for a share link's holder: a session
    /// without one gets its 404.)
    View,
    /// A change: single-user `viewer.edition_password` (or none set); any
    /// member (role `user` and up).
    Edit,
    /// Persons, faces and group decisions: members with role `admin` and up;
    /// single-user edition access.
    Admin,
    /// Scans: members with role `superadmin`; single-user edition access.
    Superadmin,
}

/// A `viewer.features` flag that switches routes off (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    RatingControls,
    Timeline,
    Memories,
    Map,
    SimilarButton,
    SemanticSearch,
    Albums,
    ScanButton,
    Capsules,
}

impl Feature {
    /// Every flag.
    pub const ALL: [Feature; 9] = [
        Feature::RatingControls,
        Feature::Timeline,
        Feature::Memories,
        Feature::Map,
        Feature::SimilarButton,
        Feature::SemanticSearch,
        Feature::Albums,
        Feature::ScanButton,
        Feature::Capsules,
    ];

    /// Its key under `viewer.features`.
    pub fn key(self) -> &'static str {
        match self {
            Feature::RatingControls => "show_rating_controls",
            Feature::Timeline => "show_timeline",
            Feature::Memories => "show_memories",
            Feature::Map => "show_map",
            Feature::SimilarButton => "show_similar_button",
            Feature::SemanticSearch => "show_semantic_search",
            Feature::Albums => "show_albums",
            Feature::ScanButton => "show_scan_button",
            Feature::Capsules => "show_capsules",
        }
    }

    /// Whether the configuration switches it on.
    pub fn on(self, f: &Features) -> bool {
        match self {
            Feature::RatingControls => f.show_rating_controls,
            Feature::Timeline => f.show_timeline,
            Feature::Memories => f.show_memories,
            Feature::Map => f.show_map,
            Feature::SimilarButton => f.show_similar_button,
            Feature::SemanticSearch => f.show_semantic_search,
            Feature::Albums => f.show_albums,
            Feature::ScanButton => f.show_scan_button,
            Feature::Capsules => f.show_capsules,
        }
    }
}

/// One route.
pub struct Route {
    pub method: Method,
    /// In axum's syntax (`/assets/{*file}`).
    pub path: &'static str,
    pub needs: Needs,
    pub feature: Option<Feature>,
    handler: MethodRouter<AppState>,
}

impl Route {
    fn new<H, T>(method: Method, path: &'static str, needs: Needs, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let handler = match method {
            Method::GET => routing::get(handler),
            Method::POST => routing::post(handler),
            _ => unreachable!("the gallery's routes are GET or POST"),
        };
        Route {
            method,
            path,
            needs,
            feature: None,
            handler,
        }
    }

    /// Switched off unless `feature` is on.
    fn when(mut self, feature: Feature) -> Route {
        self.feature = Some(feature);
        self
    }

    /// Whether the configuration has it (its feature, if any, is on).
    pub fn enabled(&self, f: &Features) -> bool {
        self.feature.is_none_or(|x| x.on(f))
    }

    /// The path in OpenAPI's syntax (`/assets/{file}`).
    pub fn openapi_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, needs: Needs, h: H) -> Route {
    Route::new(Method::GET, path, needs, h)
}

fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, needs: Needs, h: H) -> Route {
    Route::new(Method::POST, path, needs, h)
}

/// Every route of the gallery.
pub fn table() -> Vec<Route> {
    use Feature::*;
    use Needs::*;
    vec![
        get("/", Anyone, assets::index),
        get("/assets/{*file}", Anyone, assets::asset),
        get("/manifest.webmanifest", Anyone, assets::manifest),
        get("/sw.js", Anyone, assets::service_worker),
        get("/openapi.json", Anyone, openapi::document),
        post("/api/login", Anyone, auth::login),
        post("/api/logout", Anyone, auth::logout),
        get("/api/me", Anyone, auth::me),
        post("/api/auth/logout-all", View, auth::logout_all),
        post("/api/auth/password", View, auth::change_password),
        get("/api/config", View, api::config),
        get("/api/photos", View, api::photos),
        get("/api/photo", View, api::photo),
        get("/api/groups", View, groups::list),
        post("/api/groups/decide", Admin, groups::decide),
        get("/api/filter_options", View, options::filter_options),
        get("/api/failures", View, failures::list),
        get("/api/type_counts", View, api::type_counts),
        post("/api/reject", Edit, api::reject),
        get("/thumbnail", View, files::thumbnail),
        get("/image", View, files::image),
        get("/api/download", View, files::download),
        get("/api/comparison/pair", View, compare::pair),
        post("/api/comparison", Edit, compare::record),
        get("/api/comparison/suggestion", View, compare::suggest),
        get("/api/persons", View, persons::list),
        get("/api/persons/thumbnail", View, persons::thumbnail),
        post("/api/persons/rename", Admin, persons::rename),
        post("/api/persons/hide", Admin, persons::hide),
        post("/api/persons/merge", Admin, persons::merge),
        post("/api/rating", Edit, api::rating).when(RatingControls),
        post("/api/favorite", Edit, api::favorite).when(RatingControls),
        get("/api/timeline", View, browse::timeline).when(Timeline),
        get("/api/memories", View, browse::memories).when(Memories),
        get("/api/map", View, browse::map).when(Map),
        get("/api/similar", View, browse::similar).when(SimilarButton),
        get("/api/search", View, search::search).when(SemanticSearch),
        get("/api/albums", View, albums::list).when(Albums),
        post("/api/albums", Edit, albums::create).when(Albums),
        get("/api/album", View, albums::show).when(Albums),
        post("/api/album/update", Edit, albums::update).when(Albums),
        post("/api/album/photos", Edit, albums::photos).when(Albums),
        post("/api/album/delete", Edit, albums::delete).when(Albums),
        post("/api/album/share", Edit, albums::share).when(Albums),
        post("/api/album/unshare", Edit, albums::unshare).when(Albums),
        get("/api/shared", View, albums::shared).when(Albums),
        get("/api/capsules", View, capsules::list).when(Capsules),
        get("/api/capsule", View, capsules::show).when(Capsules),
        get("/api/scan", Superadmin, scan::status).when(ScanButton),
        post("/api/scan", Superadmin, scan::start).when(ScanButton),
        get("/api/plugins", Superadmin, plugins::list),
        post(
            "/api/plugins/test-webhook",
            Superadmin,
            plugins::test_webhook,
        ),
    ]
}

/// The router of the routes `features` switches on (the others are not
/// there: 404).
pub(crate) fn router(features: &Features) -> axum::Router<AppState> {
    table()
        .into_iter()
        .filter(|r| r.enabled(features))
        .fold(axum::Router::new(), |router, r| {
            router.route(r.path, r.handler)
        })
}
