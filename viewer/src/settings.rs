//! The viewer settings the gallery reads from `viewer` in scoring_config.json
//! (kept there as JSON, see `facet_config::Viewer::other`), with the
//! reference's defaults.

use std::collections::BTreeMap;

use facet_config::FacetConfig;
use serde::Serialize;
use serde_json::Value;

/// Most photos one `/api/photos` page returns, whatever `per_page` asks.
pub const MAX_PER_PAGE: usize = 500;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `viewer.pagination.default_per_page` (64).
    pub default_per_page: usize,
    /// `viewer.dropdowns.max_cameras` / `max_lenses` / `max_tags` (50, 50, 20).
    pub max_cameras: usize,
    pub max_lenses: usize,
    pub max_tags: usize,
    /// Categories in the dropdown (not configurable in the reference).
    pub max_categories: usize,
    /// `viewer.defaults.sort` / `sort_direction` / `hide_rejected`.
    pub default_sort: String,
    pub default_dir: String,
    pub hide_rejected: bool,
    /// `viewer.defaults.hide_bursts` / `hide_duplicates` / `hide_blinks`
    /// (all true): only burst leads, only duplicate leads, no photo whose
    /// judged faces blink (`is_blink`, from a faces stage).
    pub hide_bursts: bool,
    pub hide_duplicates: bool,
    pub hide_blinks: bool,
    /// `viewer.display.thumbnail_slider` (120, 400, 168, 8).
    pub thumbnail_slider: Slider,
    /// `viewer.display.image_jpeg_quality` (96, 1–100): RAW and other
    /// formats browsers cannot show, converted for `/image`.
    pub image_jpeg_quality: u8,
    /// `viewer.quality_thresholds` (6, 7, 8, 9).
    pub quality_thresholds: BTreeMap<String, f64>,
    /// `viewer.photo_types.top_picks_min_score`.
    pub top_picks_min_score: f64,
    /// `viewer.photo_types.top_picks_percent` and `top_picks_min_megapixels`.
    pub top_picks_percent: f64,
    pub top_picks_min_megapixels: f64,
    /// `viewer.path_mapping`: stored path prefix → local prefix, applied only
    /// when reading files.
    #[serde(skip)]
    pub path_mapping: Vec<(String, String)>,
    /// `viewer.features`: what the UI shows and which routes exist.
    pub features: Features,
    /// `timeline.photos_per_group` (30).
    pub timeline_photos_per_group: usize,
    /// `map.cluster_zoom_threshold` (10, 1–18): at or above it, photos one by one.
    pub map_cluster_zoom_threshold: u32,
    /// `viewer.cache_ttl_seconds` (60; 0: no cache): how long aggregate
    /// answers are kept while the store is unchanged (see `cache`).
    pub cache_ttl_seconds: u64,
    /// `viewer.defaults.gallery_mode` ("mosaic"; or "grid"): the UI's layout.
    pub gallery_mode: String,
    /// `viewer.dropdowns.max_persons` / `min_photos_for_person` (50, 10):
    /// the person dropdown.
    pub max_persons: usize,
    pub min_photos_for_person: usize,
}

/// `viewer.features` (the reference's defaults). A feature switched off
/// hides its UI control and its routes (404).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Features {
    /// `show_albums` (true): `/api/albums`, `/api/album*`, `/api/shared`.
    pub show_albums: bool,
    /// `show_capsules` (true): `/api/capsules`, `/api/capsule`.
    pub show_capsules: bool,
    /// `show_critique` (true): the score breakdown in `/api/photo` and the viewer.
    pub show_critique: bool,
    /// `show_map` (false: photos may lack GPS data): `/api/map`.
    pub show_map: bool,
    /// `show_memories` (true): `/api/memories`.
    pub show_memories: bool,
    /// `show_rating_badge` (true): the stars on the cards (UI only).
    pub show_rating_badge: bool,
    /// `show_rating_controls` (true): `POST /api/rating`, `/api/favorite`.
    pub show_rating_controls: bool,
    /// `show_scan_button` (false): `/api/scan`, for superadmins.
    pub show_scan_button: bool,
    /// `show_semantic_search` (true): `/api/search` and the search box
    /// (shown only when `facet serve --pipeline` gave a text encoder).
    pub show_semantic_search: bool,
    /// `show_similar_button` (true; also read from `viewer.display`, off
    /// when either says false): `/api/similar` and the viewer's button.
    pub show_similar_button: bool,
    /// `show_timeline` (true): `/api/timeline`.
    pub show_timeline: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Slider {
    pub default_px: u32,
    pub max_px: u32,
    pub min_px: u32,
    pub step_px: u32,
}

fn get<'a>(other: &'a BTreeMap<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let mut v = other.get(path[0])?;
    for k in &path[1..] {
        v = v.get(k)?;
    }
    Some(v)
}

fn uint(other: &BTreeMap<String, Value>, path: &[&str], default: u64) -> u64 {
    get(other, path)
        .and_then(Value::as_u64)
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

impl Features {
    fn from_config(o: &BTreeMap<String, Value>) -> Features {
        let flag = |section: &str, k: &str, default: bool| {
            get(o, &[section, k])
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        let feature = |k: &str, default: bool| flag("features", k, default);
        Features {
            show_similar_button: feature("show_similar_button", true)
                && flag("display", "show_similar_button", true),
            show_rating_controls: feature("show_rating_controls", true),
            show_rating_badge: feature("show_rating_badge", true),
            show_critique: feature("show_critique", true),
            show_capsules: feature("show_capsules", true),
            show_memories: feature("show_memories", true),
            show_timeline: feature("show_timeline", true),
            show_map: feature("show_map", false),
            show_albums: feature("show_albums", true),
            show_scan_button: feature("show_scan_button", false),
            show_semantic_search: feature("show_semantic_search", true),
        }
    }
}

impl Settings {
    pub fn from_config(config: &FacetConfig) -> Settings {
        let o = &config.viewer.other;
        let sort = get(o, &["defaults", "sort"])
            .and_then(Value::as_str)
            .filter(|s| crate::query::sort_column(s).is_some())
            .unwrap_or("aggregate")
            .to_string();
        let dir = match get(o, &["defaults", "sort_direction"]).and_then(Value::as_str) {
            Some(d) if d.eq_ignore_ascii_case("asc") => "asc",
            _ => "desc",
        }
        .to_string();
        let flag = |k: &str| {
            get(o, &["defaults", k])
                .and_then(Value::as_bool)
                .unwrap_or(true)
        };
        let slider = |k: &str, d: u64| uint(o, &["display", "thumbnail_slider", k], d) as u32;
        let mut quality_thresholds = BTreeMap::new();
        for (k, d) in [
            ("good", 6.0),
            ("great", 7.0),
            ("excellent", 8.0),
            ("best", 9.0),
        ] {
            let v = get(o, &["quality_thresholds", k])
                .and_then(Value::as_f64)
                .unwrap_or(d);
            quality_thresholds.insert(k.to_string(), v);
        }
        let path_mapping = get(o, &["path_mapping"])
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Settings {
            default_per_page: (uint(o, &["pagination", "default_per_page"], 64) as usize)
                .min(MAX_PER_PAGE),
            max_cameras: uint(o, &["dropdowns", "max_cameras"], 50) as usize,
            max_lenses: uint(o, &["dropdowns", "max_lenses"], 50) as usize,
            max_tags: uint(o, &["dropdowns", "max_tags"], 20) as usize,
            max_categories: 100,
            default_sort: sort,
            default_dir: dir,
            hide_rejected: get(o, &["defaults", "hide_rejected"])
                .and_then(Value::as_bool)
                .unwrap_or(true),
            hide_bursts: flag("hide_bursts"),
            hide_duplicates: flag("hide_duplicates"),
            hide_blinks: flag("hide_blinks"),
            image_jpeg_quality: get(o, &["display", "image_jpeg_quality"])
                .and_then(Value::as_u64)
                .map_or(96, |q| q.clamp(1, 100) as u8),
            thumbnail_slider: Slider {
                min_px: slider("min_px", 120),
                max_px: slider("max_px", 400),
                default_px: slider("default_px", 168),
                step_px: slider("step_px", 8),
            },
            quality_thresholds,
            top_picks_min_score: config.viewer.photo_types.top_picks_min_score,
            top_picks_percent: config.viewer.photo_types.top_picks_percent,
            top_picks_min_megapixels: config.viewer.photo_types.top_picks_min_megapixels,
            path_mapping,
            features: Features::from_config(o),
            timeline_photos_per_group: uint(&config.other, &["timeline", "photos_per_group"], 30)
                .min(MAX_PER_PAGE as u64) as usize,
            map_cluster_zoom_threshold: uint(&config.other, &["map", "cluster_zoom_threshold"], 10)
                .clamp(1, 18) as u32,
            cache_ttl_seconds: get(o, &["cache_ttl_seconds"])
                .and_then(Value::as_u64)
                .unwrap_or(60),
            gallery_mode: match get(o, &["defaults", "gallery_mode"]).and_then(Value::as_str) {
                Some("grid") => "grid",
                _ => "mosaic",
            }
            .to_string(),
            max_persons: uint(o, &["dropdowns", "max_persons"], 50) as usize,
            min_photos_for_person: get(o, &["dropdowns", "min_photos_for_person"])
                .and_then(Value::as_u64)
                .unwrap_or(10) as usize,
        }
    }

    /// The local file of a stored path: the first `path_mapping` prefix that
    /// matches (slashes normalised) is replaced.
    pub fn local_path(&self, stored: &str) -> std::path::PathBuf {
        let norm = |s: &str| s.replace('\\', "/");
        let path = norm(stored);
        for (from, to) in &self.path_mapping {
            let from = norm(from);
            if let Some(rest) = path.strip_prefix(from.trim_end_matches('/'))
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return std::path::PathBuf::from(format!("{}{rest}", to.trim_end_matches('/')));
            }
        }
        std::path::PathBuf::from(stored)
    }
}
