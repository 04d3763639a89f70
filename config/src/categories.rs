//! `categories`: the scoring categories, their filters, weights, modifiers and
//! tag vocabularies, and the rule that assigns a photo to one of them.
//!
//! The default set is the reference's (34 categories, priorities 8–999),
//! shipped in `config/default_categories.json` and used when a configuration
//! has no `categories` key. A configuration that has the key replaces the whole
//! list, as the reference does.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The metrics a category may weight, as the reference names them (the weight
/// keys are these plus `_percent`, e.g. `aesthetic_percent`): the reference's
/// `VALID_WEIGHT_COLUMNS`. Any other weight key is an error.
pub const WEIGHT_METRICS: &[&str] = &[
    "aesthetic",
    "face_quality",
    "eye_sharpness",
    "tech_sharpness",
    "exposure",
    "composition",
    "color",
    "quality",
    "contrast",
    "dynamic_range",
    "isolation",
    "leading_lines",
    // Supplementary PyIQA metrics.
    "aesthetic_iaa",
    "face_quality_iqa",
    "liqe",
    // Subject saliency metrics (BiRefNet).
    "subject_sharpness",
    "subject_prominence",
    "subject_placement",
    "bg_separation",
];

/// The weight keys: [`WEIGHT_METRICS`] with the `_percent` suffix.
pub const WEIGHT_KEYS: &[&str] = &[
    "aesthetic_percent",
    "face_quality_percent",
    "eye_sharpness_percent",
    "tech_sharpness_percent",
    "exposure_percent",
    "composition_percent",
    "color_percent",
    "quality_percent",
    "contrast_percent",
    "dynamic_range_percent",
    "isolation_percent",
    "leading_lines_percent",
    "aesthetic_iaa_percent",
    "face_quality_iqa_percent",
    "liqe_percent",
    "subject_sharpness_percent",
    "subject_prominence_percent",
    "subject_placement_percent",
    "bg_separation_percent",
];

/// Keys of one category object.
pub const CATEGORY_KEYS: &[&str] = &[
    "name",
    "priority",
    "filters",
    "weights",
    "modifiers",
    "tags",
];

/// Keys of a category's `filters`.
pub const FILTER_KEYS: &[&str] = &[
    "face_ratio_min",
    "face_ratio_max",
    "face_count_min",
    "face_count_max",
    "iso_min",
    "iso_max",
    "shutter_speed_min",
    "shutter_speed_max",
    "luminance_min",
    "luminance_max",
    "focal_length_min",
    "focal_length_max",
    "f_stop_min",
    "f_stop_max",
    "has_face",
    "is_monochrome",
    "is_silhouette",
    "is_group_portrait",
    "required_tags",
    "excluded_tags",
    "tag_match_mode",
];

/// Keys of a category's `modifiers`.
pub const MODIFIER_KEYS: &[&str] = &[
    "bonus",
    "noise_tolerance_multiplier",
    "iso_tolerance_multiplier",
    "min_saturation_bonus",
    "contrast_bonus",
    "_skip_clipping_penalty",
    "_skip_oversaturation_penalty",
    "_clipping_multiplier",
    "_apply_blink_penalty",
];

const DEFAULT_CATEGORIES_JSON: &str = include_str!("../default_categories.json");

/// The reference's default categories (parsed once, then cloned).
pub fn default_categories() -> Vec<Category> {
    static DEFAULT: OnceLock<Vec<Category>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            serde_json::from_str(DEFAULT_CATEGORIES_JSON)
                .expect("config/default_categories.json is valid (checked by a unit test)")
        })
        .clone()
}

/// One scoring category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawCategory")]
pub struct Category {
    /// Category identifier, stored with each photo (`portrait`, `landscape`, …).
    pub name: String,
    /// Evaluation order: lower is evaluated first. The first category whose
    /// filters all hold is the photo's category.
    pub priority: i64,
    /// Conditions a photo must meet; none at all makes a catch-all category.
    pub filters: Filters,
    /// Metric weight in percent, keyed as the reference does
    /// (`"aesthetic_percent": 61`); the keys are [`WEIGHT_KEYS`], a missing key
    /// weighs 0, and the values sum to 100.
    pub weights: BTreeMap<String, f64>,
    /// Bonuses, penalty scaling and behaviour flags.
    pub modifiers: Modifiers,
    /// Tag vocabulary for tag-based matching: canonical tag name -> synonyms
    /// given to CLIP/VLM taggers. The union of every category's tags and
    /// `standalone_tags` is the full vocabulary.
    pub tags: BTreeMap<String, Vec<String>>,
}

/// A category as written: modifiers not yet resolved against the
/// category-dependent defaults.
#[derive(Deserialize)]
struct RawCategory {
    name: String,
    priority: i64,
    #[serde(default)]
    filters: Filters,
    #[serde(default)]
    weights: BTreeMap<String, f64>,
    #[serde(default)]
    modifiers: RawModifiers,
    #[serde(default)]
    tags: BTreeMap<String, Vec<String>>,
}

impl From<RawCategory> for Category {
    fn from(r: RawCategory) -> Self {
        let modifiers = r.modifiers.resolve(&r.name);
        Self {
            name: r.name,
            priority: r.priority,
            filters: r.filters,
            weights: r.weights,
            modifiers,
            tags: r.tags,
        }
    }
}

impl Category {
    /// The weight of `metric` in percent (0 when absent). `metric` may be
    /// given with or without the `_percent` suffix.
    pub fn weight_percent(&self, metric: &str) -> f64 {
        let metric = metric.strip_suffix("_percent").unwrap_or(metric);
        self.metric_weights()
            .find(|(m, _)| *m == metric)
            .map_or(0.0, |(_, w)| w)
    }

    /// `(metric, percent)` for every weight, metric names without the
    /// `_percent` suffix (the scoring model multiplies a metric's 0–10 score by
    /// `percent / 100`).
    pub fn metric_weights(&self) -> impl Iterator<Item = (&str, f64)> {
        self.weights
            .iter()
            .map(|(k, v)| (k.strip_suffix("_percent").unwrap_or(k), *v))
    }
}

/// How `required_tags` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMatchMode {
    /// At least one required tag is present.
    #[default]
    Any,
    /// Every required tag is present.
    All,
}

impl TagMatchMode {
    fn is_any(&self) -> bool {
        *self == TagMatchMode::Any
    }
}

/// A category's `filters`: every filter given must hold for a photo to match.
/// A numeric filter on a value the photo lacks fails, and so does a boolean
/// filter on an unknown flag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// Minimum face area as a fraction of the frame (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_ratio_min: Option<f64>,
    /// Maximum face area as a fraction of the frame (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_ratio_max: Option<f64>,
    /// Minimum number of faces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_count_min: Option<f64>,
    /// Maximum number of faces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_count_max: Option<f64>,
    /// Minimum camera ISO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso_min: Option<f64>,
    /// Maximum camera ISO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso_max: Option<f64>,
    /// Minimum exposure time in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutter_speed_min: Option<f64>,
    /// Maximum exposure time in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutter_speed_max: Option<f64>,
    /// Minimum mean luminance (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub luminance_min: Option<f64>,
    /// Maximum mean luminance (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub luminance_max: Option<f64>,
    /// Minimum focal length in mm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focal_length_min: Option<f64>,
    /// Maximum focal length in mm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focal_length_max: Option<f64>,
    /// Minimum aperture f-number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f_stop_min: Option<f64>,
    /// Maximum aperture f-number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f_stop_max: Option<f64>,
    /// At least one face detected (`true`) or none (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_face: Option<bool>,
    /// Black & white photo (mean saturation under
    /// `monochrome_detection.saturation_threshold_percent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_monochrome: Option<bool>,
    /// Backlit subject with heavy shadows/highlights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_silhouette: Option<bool>,
    /// Face count at least `face_detection.min_faces_for_group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_group_portrait: Option<bool>,
    /// Tags the photo must have (canonical tag names, case-insensitive),
    /// combined by `tag_match_mode`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_tags: Vec<String>,
    /// Tags the photo must not have (any one present fails the filter).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_tags: Vec<String>,
    /// `"any"` (default): one required tag suffices; `"all"`: every one is needed.
    #[serde(skip_serializing_if = "TagMatchMode::is_any")]
    pub tag_match_mode: TagMatchMode,
}

/// A numeric filter pair: (quantity, min key, max key, min, max).
type Range = (
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
    Option<f64>,
);

impl Filters {
    /// No filter at all: the category matches every photo.
    pub fn is_empty(&self) -> bool {
        self.ranges().iter().all(|r| r.3.is_none() && r.4.is_none())
            && self.booleans().iter().all(|b| b.1.is_none())
            && self.required_tags.is_empty()
            && self.excluded_tags.is_empty()
    }

    /// Whether every filter holds for `photo`.
    pub fn matches(&self, photo: &PhotoFacts) -> bool {
        self.mismatch(photo).is_none()
    }

    /// The key of the first filter that fails for `photo` (numeric filters,
    /// then booleans, then tags, as the reference checks them), or `None` when
    /// the photo matches.
    pub fn mismatch(&self, photo: &PhotoFacts) -> Option<&'static str> {
        for (quantity, min_key, max_key, min, max) in self.ranges() {
            let actual = photo.quantity(quantity);
            if let Some(min) = min {
                match actual {
                    Some(v) if v >= min => {}
                    _ => return Some(min_key),
                }
            }
            if let Some(max) = max {
                match actual {
                    Some(v) if v <= max => {}
                    _ => return Some(max_key),
                }
            }
        }
        for (key, wanted, actual) in self.booleans_for(photo) {
            if let Some(wanted) = wanted
                && actual != Some(wanted)
            {
                return Some(key);
            }
        }
        if !self.required_tags.is_empty() {
            let ok = match self.tag_match_mode {
                TagMatchMode::Any => self.required_tags.iter().any(|t| photo.has_tag(t)),
                TagMatchMode::All => self.required_tags.iter().all(|t| photo.has_tag(t)),
            };
            if !ok {
                return Some("required_tags");
            }
        }
        if self.excluded_tags.iter().any(|t| photo.has_tag(t)) {
            return Some("excluded_tags");
        }
        None
    }

    /// The numeric filters: (quantity, min key, max key, min, max).
    pub(crate) fn ranges(&self) -> [Range; 7] {
        [
            (
                "face_ratio",
                "face_ratio_min",
                "face_ratio_max",
                self.face_ratio_min,
                self.face_ratio_max,
            ),
            (
                "face_count",
                "face_count_min",
                "face_count_max",
                self.face_count_min,
                self.face_count_max,
            ),
            ("iso", "iso_min", "iso_max", self.iso_min, self.iso_max),
            (
                "shutter_speed",
                "shutter_speed_min",
                "shutter_speed_max",
                self.shutter_speed_min,
                self.shutter_speed_max,
            ),
            (
                "luminance",
                "luminance_min",
                "luminance_max",
                self.luminance_min,
                self.luminance_max,
            ),
            (
                "focal_length",
                "focal_length_min",
                "focal_length_max",
                self.focal_length_min,
                self.focal_length_max,
            ),
            (
                "f_stop",
                "f_stop_min",
                "f_stop_max",
                self.f_stop_min,
                self.f_stop_max,
            ),
        ]
    }

    fn booleans(&self) -> [(&'static str, Option<bool>); 4] {
        [
            ("has_face", self.has_face),
            ("is_monochrome", self.is_monochrome),
            ("is_silhouette", self.is_silhouette),
            ("is_group_portrait", self.is_group_portrait),
        ]
    }

    fn booleans_for(&self, photo: &PhotoFacts) -> [(&'static str, Option<bool>, Option<bool>); 4] {
        [
            ("has_face", self.has_face, photo.has_face()),
            ("is_monochrome", self.is_monochrome, photo.is_monochrome),
            ("is_silhouette", self.is_silhouette, photo.is_silhouette),
            (
                "is_group_portrait",
                self.is_group_portrait,
                photo.is_group_portrait,
            ),
        ]
    }
}

/// What category filters look at, for one photo. `None` is "unknown": any
/// filter on it fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoFacts {
    /// Face area as a fraction of the frame (0–1).
    pub face_ratio: Option<f64>,
    /// Number of faces detected.
    pub face_count: Option<u32>,
    /// Camera ISO.
    pub iso: Option<f64>,
    /// Exposure time in seconds.
    pub shutter_speed: Option<f64>,
    /// Mean luminance (0–1).
    pub luminance: Option<f64>,
    /// Focal length in mm.
    pub focal_length: Option<f64>,
    /// Aperture f-number.
    pub f_stop: Option<f64>,
    /// At least one face; when `None`, derived from `face_count` (`> 0`).
    pub has_face: Option<bool>,
    /// Black & white photo.
    pub is_monochrome: Option<bool>,
    /// Silhouette.
    pub is_silhouette: Option<bool>,
    /// Group portrait.
    pub is_group_portrait: Option<bool>,
    /// The photo's tags (canonical names; compared case-insensitively, trimmed).
    pub tags: Vec<String>,
}

impl PhotoFacts {
    /// `has_face`, or `face_count > 0` when only the count is known.
    pub fn has_face(&self) -> Option<bool> {
        self.has_face.or(self.face_count.map(|n| n > 0))
    }

    /// Whether the photo has `tag` (trimmed, case-insensitive).
    pub fn has_tag(&self, tag: &str) -> bool {
        let tag = tag.trim();
        self.tags.iter().any(|t| eq_ignore_case(t.trim(), tag))
    }

    fn quantity(&self, name: &str) -> Option<f64> {
        match name {
            "face_ratio" => self.face_ratio,
            "face_count" => self.face_count.map(f64::from),
            "iso" => self.iso,
            "shutter_speed" => self.shutter_speed,
            "luminance" => self.luminance,
            "focal_length" => self.focal_length,
            "f_stop" => self.f_stop,
            _ => None,
        }
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// The category of a photo: categories are evaluated in ascending priority
/// (ties in list order), and the first whose every filter holds wins. A
/// category without filters always matches. When none matches (a list without
/// a catch-all, which validation rejects) the last category in priority order
/// is returned.
///
/// # Panics
/// If `categories` is empty (a validated configuration never is).
pub fn category_for<'a>(categories: &'a [Category], photo: &PhotoFacts) -> &'a Category {
    find_category(categories, photo)
        .or_else(|| categories.iter().max_by_key(|c| c.priority))
        .expect("category_for: no categories")
}

/// Like [`category_for`], but `None` when no category matches.
pub fn find_category<'a>(categories: &'a [Category], photo: &PhotoFacts) -> Option<&'a Category> {
    let mut best: Option<&Category> = None;
    for c in categories {
        // A match of lower or equal priority earlier in the list wins already.
        if best.is_some_and(|b| b.priority <= c.priority) {
            continue;
        }
        if c.filters.matches(photo) {
            best = Some(c);
        }
    }
    best
}

/// A category's `modifiers`, resolved: an unset key takes the reference's
/// default, which for three flags depends on the category's name (see each
/// field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Modifiers {
    /// Points added to the final score (default 0).
    pub bonus: f64,
    /// Scales the noise penalty: 1 = full penalty, 0.5 = half, 0 = none
    /// (default 1).
    pub noise_tolerance_multiplier: f64,
    /// Scales the ISO-based penalty (default 1). Documented by the reference;
    /// its scoring code does not read it yet.
    pub iso_tolerance_multiplier: f64,
    /// Bonus for high saturation, e.g. concerts under coloured lights
    /// (default 0). Documented by the reference; its scoring code does not read
    /// it yet.
    pub min_saturation_bonus: f64,
    /// Bonus for high-contrast scenes (default 0). Documented by the reference;
    /// its scoring code does not read it yet.
    pub contrast_bonus: f64,
    /// `_skip_clipping_penalty`: do not penalise shadow/highlight clipping
    /// (default: true for `silhouette`, false otherwise).
    #[serde(rename = "_skip_clipping_penalty")]
    pub skip_clipping_penalty: bool,
    /// `_skip_oversaturation_penalty`: do not penalise oversaturation
    /// (default: true for `night`, `astro` and `concert`, false otherwise).
    #[serde(rename = "_skip_oversaturation_penalty")]
    pub skip_oversaturation_penalty: bool,
    /// `_clipping_multiplier`: scales the clipping penalty (default: 1.5 for
    /// `default`, 1 otherwise).
    #[serde(rename = "_clipping_multiplier")]
    pub clipping_multiplier: f64,
    /// `_apply_blink_penalty`: multiply the score by
    /// `thresholds.blink_penalty_percent` when a blink is detected (default:
    /// true for `portrait`, `portrait_bw` and `group_portrait`, false otherwise).
    #[serde(rename = "_apply_blink_penalty")]
    pub apply_blink_penalty: bool,
}

impl Default for Modifiers {
    /// The defaults of a category whose name has no special defaults.
    fn default() -> Self {
        RawModifiers::default().resolve("")
    }
}

impl Modifiers {
    /// The modifiers of a category named `name` that sets none.
    pub fn defaults_for(name: &str) -> Self {
        RawModifiers::default().resolve(name)
    }
}

/// `modifiers` as written.
#[derive(Debug, Default, Deserialize)]
struct RawModifiers {
    bonus: Option<f64>,
    noise_tolerance_multiplier: Option<f64>,
    iso_tolerance_multiplier: Option<f64>,
    min_saturation_bonus: Option<f64>,
    contrast_bonus: Option<f64>,
    #[serde(rename = "_skip_clipping_penalty")]
    skip_clipping_penalty: Option<bool>,
    #[serde(rename = "_skip_oversaturation_penalty")]
    skip_oversaturation_penalty: Option<bool>,
    #[serde(rename = "_clipping_multiplier")]
    clipping_multiplier: Option<f64>,
    #[serde(rename = "_apply_blink_penalty")]
    apply_blink_penalty: Option<bool>,
}

impl RawModifiers {
    fn resolve(self, name: &str) -> Modifiers {
        Modifiers {
            bonus: self.bonus.unwrap_or(0.0),
            noise_tolerance_multiplier: self.noise_tolerance_multiplier.unwrap_or(1.0),
            iso_tolerance_multiplier: self.iso_tolerance_multiplier.unwrap_or(1.0),
            min_saturation_bonus: self.min_saturation_bonus.unwrap_or(0.0),
            contrast_bonus: self.contrast_bonus.unwrap_or(0.0),
            skip_clipping_penalty: self.skip_clipping_penalty.unwrap_or(name == "silhouette"),
            skip_oversaturation_penalty: self
                .skip_oversaturation_penalty
                .unwrap_or(matches!(name, "night" | "astro" | "concert")),
            clipping_multiplier: self.clipping_multiplier.unwrap_or(if name == "default" {
                1.5
            } else {
                1.0
            }),
            apply_blink_penalty: self.apply_blink_penalty.unwrap_or(matches!(
                name,
                "portrait" | "portrait_bw" | "group_portrait"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_categories_are_the_references() {
        let cats = default_categories();
        assert_eq!(cats.len(), 34);
        let names: Vec<&str> = cats.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "art",
                "astro",
                "concert",
                "group_portrait",
                "silhouette",
                "fashion",
                "portrait",
                "portrait_bw",
                "candid",
                "macro",
                "aerial",
                "wildlife",
                "food",
                "sports",
                "vehicle",
                "travel",
                "product",
                "architecture",
                "urban",
                "blue_hour",
                "long_exposure",
                "golden_hour",
                "cinematic",
                "vintage",
                "abstract",
                "night",
                "minimalist",
                "dramatic",
                "monochrome",
                "weather",
                "street",
                "human_others",
                "landscape",
                "default",
            ]
        );
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 34, "names are unique");
        assert!(
            cats.windows(2).all(|w| w[0].priority < w[1].priority),
            "sorted by priority"
        );
        assert_eq!(cats[0].priority, 8);
        assert_eq!(cats[33].priority, 999);
        for c in &cats {
            let sum: f64 = c.weights.values().sum();
            assert!(
                (sum - 100.0).abs() <= 0.01,
                "{}: weights sum to {sum}",
                c.name
            );
            for k in c.weights.keys() {
                assert!(WEIGHT_KEYS.contains(&k.as_str()), "{}: {k}", c.name);
            }
        }
        // Only the fallback has no filters.
        let catch_all: Vec<&str> = cats
            .iter()
            .filter(|c| c.filters.is_empty())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(catch_all, ["default"]);
    }

    #[test]
    fn default_categories_sample_values() {
        let cats = default_categories();
        let get = |n: &str| cats.iter().find(|c| c.name == n).unwrap();

        let portrait = get("portrait");
        assert_eq!(portrait.priority, 45);
        assert_eq!(portrait.filters.face_ratio_min, Some(0.05));
        assert_eq!(portrait.filters.has_face, Some(true));
        assert_eq!(portrait.filters.is_monochrome, Some(false));
        assert_eq!(portrait.weight_percent("aesthetic"), 32.0);
        assert_eq!(portrait.weight_percent("face_quality_percent"), 14.0);
        assert_eq!(portrait.weight_percent("bg_separation"), 0.0);
        assert_eq!(portrait.modifiers.bonus, 0.419);
        assert!(portrait.modifiers.apply_blink_penalty);
        assert_eq!(portrait.modifiers.clipping_multiplier, 0.5);

        let astro = get("astro");
        assert_eq!(
            astro.filters.required_tags,
            ["aurora", "astrophotography", "stars", "milky way"]
        );
        assert_eq!(astro.filters.tag_match_mode, TagMatchMode::Any);
        assert!(
            astro.modifiers.skip_clipping_penalty && astro.modifiers.skip_oversaturation_penalty
        );
        assert_eq!(astro.tags["aurora"], ["aurora", "northern lights"]);

        let concert = get("concert");
        assert_eq!(concert.modifiers.iso_tolerance_multiplier, 0.2);
        assert_eq!(concert.modifiers.min_saturation_bonus, 0.3);
        assert_eq!(concert.modifiers.contrast_bonus, 0.2);

        let sports = get("sports");
        assert_eq!(sports.filters.shutter_speed_max, Some(0.02));
        let long = get("long_exposure");
        assert_eq!(
            (
                long.filters.shutter_speed_min,
                long.filters.shutter_speed_max
            ),
            (Some(1.0), Some(10.0))
        );
        let blue = get("blue_hour");
        assert_eq!(blue.filters.luminance_max, Some(0.35));
        assert_eq!(get("urban").filters.has_face, Some(false));
        assert_eq!(get("night").modifiers.noise_tolerance_multiplier, 1.5);
        assert_eq!(get("landscape").filters.required_tags.len(), 13);
        assert_eq!(get("wildlife").tags["bird"].len(), 20);

        // Category-dependent modifier defaults: `default` sets no modifiers.
        let default = get("default");
        assert_eq!(default.modifiers.clipping_multiplier, 1.5);
        assert_eq!(default.modifiers.bonus, 0.0);
        assert!(!default.modifiers.apply_blink_penalty);
    }

    #[test]
    fn modifier_defaults_depend_on_the_name() {
        assert!(Modifiers::defaults_for("silhouette").skip_clipping_penalty);
        assert!(Modifiers::defaults_for("night").skip_oversaturation_penalty);
        assert!(Modifiers::defaults_for("group_portrait").apply_blink_penalty);
        assert_eq!(Modifiers::defaults_for("default").clipping_multiplier, 1.5);
        let plain = Modifiers::default();
        assert_eq!(plain.noise_tolerance_multiplier, 1.0);
        assert_eq!(plain.iso_tolerance_multiplier, 1.0);
        assert_eq!(plain.clipping_multiplier, 1.0);
        assert!(!plain.skip_clipping_penalty && !plain.skip_oversaturation_penalty);
        // An explicit value wins over the name's default.
        let c: Category = serde_json::from_str(
            r#"{"name": "portrait", "priority": 1, "modifiers": {"_apply_blink_penalty": false}}"#,
        )
        .unwrap();
        assert!(!c.modifiers.apply_blink_penalty);
    }

    fn cat(name: &str, priority: i64, filters: serde_json::Value) -> Category {
        serde_json::from_value(serde_json::json!({
            "name": name, "priority": priority, "filters": filters,
            "weights": {"aesthetic_percent": 100}
        }))
        .unwrap()
    }

    #[test]
    fn category_for_covers_every_filter_kind() {
        use serde_json::json;
        let fallback = cat("default", 999, json!({}));
        let full = || PhotoFacts {
            face_ratio: Some(0.3),
            face_count: Some(2),
            iso: Some(800.0),
            shutter_speed: Some(0.01),
            luminance: Some(0.5),
            focal_length: Some(50.0),
            f_stop: Some(2.8),
            has_face: Some(true),
            is_monochrome: Some(false),
            is_silhouette: Some(false),
            is_group_portrait: Some(false),
            tags: vec!["Street".into(), " city ".into()],
        };
        struct Case {
            what: &'static str,
            filters: serde_json::Value,
            photo: PhotoFacts,
            matches: bool,
        }
        let with = |f: fn(&mut PhotoFacts)| {
            let mut p = full();
            f(&mut p);
            p
        };
        let cases = [
            Case {
                what: "face_ratio_min holds",
                filters: json!({"face_ratio_min": 0.3}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "face_ratio_min fails",
                filters: json!({"face_ratio_min": 0.31}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "face_ratio_max fails",
                filters: json!({"face_ratio_max": 0.2}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "face_count_min holds",
                filters: json!({"face_count_min": 2}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "face_count_max fails",
                filters: json!({"face_count_max": 1}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "iso range holds",
                filters: json!({"iso_min": 400, "iso_max": 800}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "iso_min fails",
                filters: json!({"iso_min": 3200}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "shutter_speed_max holds",
                filters: json!({"shutter_speed_max": 0.02}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "shutter_speed_min fails",
                filters: json!({"shutter_speed_min": 1.0}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "luminance_max fails",
                filters: json!({"luminance_max": 0.15}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "luminance_min holds",
                filters: json!({"luminance_min": 0.4}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "focal_length range fails",
                filters: json!({"focal_length_min": 100, "focal_length_max": 600}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "f_stop_max holds",
                filters: json!({"f_stop_max": 2.8}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "f_stop_min fails",
                filters: json!({"f_stop_min": 4}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "missing value fails min",
                filters: json!({"iso_min": 100}),
                photo: with(|p| p.iso = None),
                matches: false,
            },
            Case {
                what: "missing value fails max",
                filters: json!({"luminance_max": 0.9}),
                photo: with(|p| p.luminance = None),
                matches: false,
            },
            Case {
                what: "has_face true holds",
                filters: json!({"has_face": true}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "has_face false fails",
                filters: json!({"has_face": false}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "has_face from face_count",
                filters: json!({"has_face": false}),
                photo: with(|p| {
                    p.has_face = None;
                    p.face_count = Some(0)
                }),
                matches: true,
            },
            Case {
                what: "has_face unknown fails",
                filters: json!({"has_face": false}),
                photo: with(|p| {
                    p.has_face = None;
                    p.face_count = None
                }),
                matches: false,
            },
            Case {
                what: "is_monochrome false holds",
                filters: json!({"is_monochrome": false}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "is_monochrome true fails",
                filters: json!({"is_monochrome": true}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "is_monochrome unknown fails",
                filters: json!({"is_monochrome": false}),
                photo: with(|p| p.is_monochrome = None),
                matches: false,
            },
            Case {
                what: "is_silhouette true holds",
                filters: json!({"is_silhouette": true}),
                photo: with(|p| p.is_silhouette = Some(true)),
                matches: true,
            },
            Case {
                what: "is_silhouette true fails",
                filters: json!({"is_silhouette": true}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "is_group_portrait true holds",
                filters: json!({"is_group_portrait": true}),
                photo: with(|p| p.is_group_portrait = Some(true)),
                matches: true,
            },
            Case {
                what: "is_group_portrait true fails",
                filters: json!({"is_group_portrait": true}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "required any holds (case, trim)",
                filters: json!({"required_tags": ["food", "CITY"]}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "required any fails",
                filters: json!({"required_tags": ["food", "animal"]}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "required all holds",
                filters: json!({"required_tags": ["street", "city"], "tag_match_mode": "all"}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "required all fails",
                filters: json!({"required_tags": ["street", "food"], "tag_match_mode": "all"}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "required without tags fails",
                filters: json!({"required_tags": ["street"]}),
                photo: with(|p| p.tags.clear()),
                matches: false,
            },
            Case {
                what: "excluded fails",
                filters: json!({"excluded_tags": ["street"]}),
                photo: full(),
                matches: false,
            },
            Case {
                what: "excluded holds",
                filters: json!({"excluded_tags": ["food"]}),
                photo: full(),
                matches: true,
            },
            Case {
                what: "excluded without tags holds",
                filters: json!({"excluded_tags": ["food"]}),
                photo: with(|p| p.tags.clear()),
                matches: true,
            },
            Case {
                what: "all filters together",
                filters: json!({"face_ratio_min": 0.05, "has_face": true, "is_silhouette": false, "is_group_portrait": false, "is_monochrome": false, "required_tags": ["street"], "excluded_tags": ["food"]}),
                photo: full(),
                matches: true,
            },
        ];
        for case in cases {
            let cats = [cat("candidate", 10, case.filters.clone()), fallback.clone()];
            let got = category_for(&cats, &case.photo);
            let want = if case.matches { "candidate" } else { "default" };
            assert_eq!(got.name, want, "{}: {}", case.what, case.filters);
        }
    }

    #[test]
    fn category_for_follows_priority_then_falls_back() {
        use serde_json::json;
        let photo = PhotoFacts {
            face_count: Some(1),
            face_ratio: Some(0.4),
            ..PhotoFacts::default()
        };
        // Listed out of order: priority decides, not position.
        let cats = [
            cat("default", 999, json!({})),
            cat("late", 50, json!({"has_face": true})),
            cat("early", 20, json!({"face_ratio_min": 0.1})),
            cat("earliest_but_fails", 5, json!({"face_ratio_min": 0.9})),
        ];
        assert_eq!(category_for(&cats, &photo).name, "early");
        // Equal priorities: the first listed wins.
        let tie = [cat("a", 10, json!({})), cat("b", 10, json!({}))];
        assert_eq!(category_for(&tie, &photo).name, "a");
        // Nothing but the catch-all matches.
        assert_eq!(category_for(&cats, &PhotoFacts::default()).name, "default");
        // Without a catch-all: no match, and category_for gives the last one.
        let strict = [
            cat("x", 1, json!({"iso_min": 1})),
            cat("y", 2, json!({"iso_min": 1})),
        ];
        assert!(find_category(&strict, &photo).is_none());
        assert_eq!(category_for(&strict, &photo).name, "y");
    }

    #[test]
    fn default_set_classifies_typical_photos() {
        let cats = default_categories();
        let portrait = PhotoFacts {
            face_ratio: Some(0.2),
            face_count: Some(1),
            is_monochrome: Some(false),
            is_silhouette: Some(false),
            is_group_portrait: Some(false),
            luminance: Some(0.5),
            ..PhotoFacts::default()
        };
        assert_eq!(category_for(&cats, &portrait).name, "portrait");
        let bw = PhotoFacts {
            is_monochrome: Some(true),
            ..portrait.clone()
        };
        assert_eq!(category_for(&cats, &bw).name, "portrait_bw");
        let landscape = PhotoFacts {
            face_ratio: Some(0.0),
            face_count: Some(0),
            is_monochrome: Some(false),
            is_silhouette: Some(false),
            is_group_portrait: Some(false),
            luminance: Some(0.5),
            tags: vec!["mountain".into()],
            ..PhotoFacts::default()
        };
        assert_eq!(category_for(&cats, &landscape).name, "landscape");
        let night = PhotoFacts {
            luminance: Some(0.1),
            tags: vec![],
            ..landscape.clone()
        };
        assert_eq!(category_for(&cats, &night).name, "night");
        assert_eq!(category_for(&cats, &PhotoFacts::default()).name, "default");
    }
}
