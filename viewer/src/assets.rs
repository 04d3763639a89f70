//! The web UI, embedded in the binary: no Node toolchain at build or run time.
//! An installable web app: a manifest, icons drawn here, and a service worker
//! that caches the shell and the thumbnails seen.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// Leaflet, loaded at run time by the map view only (never committed here);
/// the UI falls back to a plain list when it cannot load.
pub const LEAFLET_ORIGIN: &str = "https://unpkg.com";
/// OpenStreetMap's tiles, the map's background.
pub const TILES_ORIGIN: &str = "https://tile.openstreetmap.org";

pub(crate) const INDEX: &str = include_str!("../web/index.html");
/// The interface's text, one flat table per language (`{name}`
/// placeholders; plurals as `key.one`, `key.other`, …), served as
/// `/assets/i18n/LANG.json`. English first: the fallback.
pub(crate) const LANGUAGES: [(&str, &str); 2] = [
    ("en", include_str!("../web/i18n/en.json")),
    ("fr", include_str!("../web/i18n/fr.json")),
];
pub(crate) const ASSETS: &[(&str, &str, &str)] = &[
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
/// its tiles only when `viewer.features.show_map` is on. Public: the page
/// asks for a login when the API answers 401.
#[utoipa::path(get, path = "/", responses(
    (status = 200, description = "The page.", content(("text/html"))),
))]
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

/// `GET /assets/{file}`: the UI's script, style sheet, icons and
/// translation tables (`i18n/LANG.json`). Public.
#[utoipa::path(get, path = "/assets/{file}",
    params(("file" = String, Path, description = "The asset's path under assets/ (`app.js`, `app.css`, `icon-192.png`, `i18n/en.json`, …).")),
    responses(
        (status = 200, description = "The asset.", content(
            ("text/javascript"), ("text/css"), ("application/json"), ("image/png"),
        )),
        (status = 404, description = "No such asset.", body = ErrorBody),
    ),
)]
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    if let Some(size) = ICON_SIZES.iter().find(|s| file == format!("icon-{s}.png")) {
        let mut r = icon(*size).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        );
        return Ok(r);
    }
    let language = file
        .strip_prefix("i18n/")
        .and_then(|f| f.strip_suffix(".json"))
        .and_then(|lang| LANGUAGES.iter().find(|(l, _)| *l == lang));
    if let Some((_, table)) = language {
        return Ok(text(table, "application/json"));
    }
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, content_type, body)| text(body, content_type))
        .ok_or_else(|| ApiError::NotFound("no such asset".into()))
}

/// `GET /manifest.webmanifest`: what makes the gallery installable (the web
/// app manifest; public).
#[utoipa::path(get, path = "/manifest.webmanifest", responses(
    (status = 200, description = "The manifest.", content(("application/manifest+json"))),
))]
pub async fn manifest() -> Response {
    let icons: Vec<serde_json::Value> = ICON_SIZES
        .iter()
        .map(|s| {
            serde_json::json!({"src": format!("/assets/icon-{s}.png"), "sizes": format!("{s}x{s}"),
                               "type": "image/png", "purpose": "any"})
        })
        .collect();
    let body = serde_json::json!({
        "name": "Facet",
        "short_name": "Facet",
        "description": "Your photo library, culled: the best of every burst, duplicate and day.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#0f1012",
        "theme_color": "#0f1012",
        "icons": icons,
    });
    let mut r = body.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/manifest+json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /sw.js`: the service worker (scope `/`; public).
#[utoipa::path(get, path = "/sw.js", responses(
    (status = 200, description = "The script.", content(("text/javascript"))),
))]
pub async fn service_worker() -> Response {
    text(
        include_str!("../web/sw.js"),
        "text/javascript; charset=utf-8",
    )
}

const ICON_SIZES: [u32; 2] = [192, 512];

/// The app's icon, `size` pixels square: a cut gem (four facets of the
/// accent colour, lit from the top left) on the page's background.
fn icon(size: u32) -> Vec<u8> {
    static ICONS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let icons = ICONS.get_or_init(|| ICON_SIZES.iter().map(|&s| draw_icon(s)).collect());
    let i = ICON_SIZES.iter().position(|&s| s == size).unwrap_or(0);
    icons[i].clone()
}

fn draw_icon(size: u32) -> Vec<u8> {
    let c = size as f32 / 2.0;
    let r = size as f32 * 0.36;
    let img = image::RgbaImage::from_fn(size, size, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
        if dx.abs() + dy.abs() > r {
            return image::Rgba([0x0f, 0x10, 0x12, 0xff]);
        }
        // The four facets: lighter toward the top left.
        let shade: f32 = match (dx < 0.0, dy < 0.0) {
            (true, true) => 1.0,
            (false, true) => 0.85,
            (true, false) => 0.7,
            (false, false) => 0.55,
        };
        let accent = [0xf2 as f32, 0xb9 as f32, 0x4b as f32];
        image::Rgba([
            (accent[0] * shade) as u8,
            (accent[1] * shade) as u8,
            (accent[2] * shade) as u8,
            0xff,
        ])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG encodes in memory");
    png
}
