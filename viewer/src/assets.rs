//! The web UI, embedded in the binary: no Node toolchain at build or run time.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Leaflet, loaded at run time by the map view only (never committed here);
/// the UI falls back to a plain list when it cannot load.
pub const LEAFLET_ORIGIN: &str = "https://unpkg.com";
/// OpenStreetMap's tiles, the map's background.
pub const TILES_ORIGIN: &str = "https://tile.openstreetmap.org";

const INDEX: &str = include_str!("../web/index.html");
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
];

fn text(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Embedded in the binary: revalidate, so that a new build shows at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`: the gallery page. The policy lets the map view load Leaflet and
/// its tiles only when `viewer.features.show_map` is on.
pub async fn index(State(state): State<AppState>) -> Response {
    let mut r = text(INDEX, "text/html; charset=utf-8");
    let (cdn, tiles) = if state.settings().features.show_map {
        (format!(" {LEAFLET_ORIGIN}"), format!(" {TILES_ORIGIN}"))
    } else {
        (String::new(), String::new())
    };
    let policy = format!(
        "default-src 'self'; img-src 'self' data: blob:{tiles}; style-src 'self'{cdn}; script-src 'self'{cdn}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&policy) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// `GET /assets/{file}`: the UI's script and style sheet.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, content_type, body)| text(body, content_type))
        .ok_or_else(|| ApiError::NotFound("no such asset".into()))
}
