//! `scoring_config.json`: Facet's settings, with the structure, keys and defaults
//! of the configuration reference. A YAML file of the same shape is accepted too.
//!
//! Unknown keys are warnings naming the nearest known key; a wrong type or an
//! out-of-range value is an error naming its JSON path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod categories;
mod sections;
pub use categories::*;
pub use sections::*;

/// Top-level sections of the reference, for "did you mean" on unknown keys.
/// Sections typed in this crate are read and validated; the others are kept as
/// JSON for the features that read them.
pub const KNOWN_SECTIONS: &[&str] = &[
    "users",
    "shared_directories",
    "scanning",
    "categories",
    "scoring",
    "thresholds",
    "composition",
    "exif_adjustments",
    "exposure",
    "penalties",
    "normalization",
    "models",
    "quality",
    "processing",
    "burst_detection",
    "burst_scoring",
    "duplicate_detection",
    "face_detection",
    "face_clustering",
    "face_processing",
    "monochrome_detection",
    "tagging",
    "standalone_tags",
    "analysis",
    "viewer",
    "performance",
    "storage",
    "plugins",
    "capsules",
    "similarity_groups",
    "timeline",
    "map",
    "translation",
    "share_secret",
];

/// The effective configuration, defaults filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FacetConfig {
    pub scanning: Scanning,
    /// Scoring categories (default: the reference's 34, see
    /// [`default_categories`]). Evaluated in ascending priority; see
    /// [`category_for`].
    pub categories: Vec<Category>,
    pub scoring: Scoring,
    pub thresholds: Thresholds,
    pub composition: Composition,
    pub exif_adjustments: ExifAdjustments,
    pub exposure: Exposure,
    pub penalties: Penalties,
    pub normalization: Normalization,
    pub monochrome_detection: MonochromeDetection,
    pub analysis: Analysis,
    /// Tags not tied to a category: tag name -> synonyms for CLIP/VLM matching.
    pub standalone_tags: BTreeMap<String, Vec<String>>,
    pub processing: Processing,
    pub storage: Storage,
    pub performance: Performance,
    pub viewer: Viewer,
    pub burst_detection: BurstDetection,
    pub burst_scoring: BurstScoring,
    pub duplicate_detection: DuplicateDetection,
    pub similarity_groups: SimilarityGroups,
    pub models: Models,
    pub tagging: Tagging,
    /// Sections read by features that type them themselves.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Default for FacetConfig {
    fn default() -> Self {
        Self {
            scanning: Scanning::default(),
            categories: default_categories(),
            scoring: Scoring::default(),
            thresholds: Thresholds::default(),
            composition: Composition::default(),
            exif_adjustments: ExifAdjustments::default(),
            exposure: Exposure::default(),
            penalties: Penalties::default(),
            normalization: Normalization::default(),
            monochrome_detection: MonochromeDetection::default(),
            analysis: Analysis::default(),
            standalone_tags: default_standalone_tags(),
            processing: Processing::default(),
            storage: Storage::default(),
            performance: Performance::default(),
            viewer: Viewer::default(),
            burst_detection: BurstDetection::default(),
            burst_scoring: BurstScoring::default(),
            duplicate_detection: DuplicateDetection::default(),
            similarity_groups: SimilarityGroups::default(),
            models: Models::default(),
            tagging: Tagging::default(),
            other: BTreeMap::new(),
        }
    }
}

/// One problem in a configuration: where (a JSON path such as
/// `categories[6].weights`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The problems of one file, listed one per line after the first.
fn list_problems(file: &str, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("{file}: {one}"),
        many => {
            let mut s = format!("{file}: {} problems:", many.len());
            for p in many {
                s.push_str("\n  ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A wrong type (one problem: deserialization stops there) or failed checks
    /// (every problem found).
    #[error("{}", list_problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// A configuration plus the warnings found while reading it.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub config: FacetConfig,
    pub warnings: Vec<String>,
}

impl FacetConfig {
    /// Reads a JSON (or, by extension, YAML) configuration file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Self::parse(&text, &path.display().to_string(), yaml)
    }

    /// Parses configuration text; `file` names it in messages.
    pub fn parse(text: &str, file: &str, yaml: bool) -> Result<Loaded, ConfigError> {
        let value: serde_json::Value = if yaml {
            serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
                file: file.into(),
                message: e.to_string(),
            })?
        } else {
            serde_json::from_str(text).map_err(|e| ConfigError::Parse {
                file: file.into(),
                message: e.to_string(),
            })?
        };
        let mut warnings = Vec::new();
        let mut ignored = Vec::new();
        let mut track = |p: serde_ignored::Path| ignored.push(segments(&p));
        let de = serde_ignored::Deserializer::new(&value, &mut track);
        let config: FacetConfig =
            serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Invalid {
                file: file.into(),
                problems: vec![Problem::new(e.path().to_string(), e.inner().to_string())],
            })?;
        for key in config.other.keys() {
            if !KNOWN_SECTIONS.contains(&key.as_str()) {
                warnings.push(unknown_key(key, key, KNOWN_SECTIONS));
            }
        }
        for key in config.viewer.other.keys() {
            if !VIEWER_KEYS.contains(&key.as_str()) {
                warnings.push(unknown_key(&format!("viewer.{key}"), key, VIEWER_KEYS));
            }
        }
        for key in config.models.other.keys() {
            if !MODELS_KEYS.contains(&key.as_str()) {
                warnings.push(unknown_key(&format!("models.{key}"), key, MODELS_KEYS));
            }
        }
        for segs in ignored {
            let Some((Segment::Key(leaf), parent)) = segs.split_last() else {
                continue;
            };
            let known = sections::known_keys(&join(parent, true));
            warnings.push(unknown_key(&join(&segs, false), leaf, known));
        }
        warnings.extend(config.tag_warnings());
        config.validate().map_err(|problems| ConfigError::Invalid {
            file: file.into(),
            problems,
        })?;
        Ok(Loaded { config, warnings })
    }

    /// The effective configuration as JSON, defaults filled in (what
    /// `facet config show` prints). Category modifiers appear resolved.
    ///
    /// # Panics
    /// Only if a path set programmatically is not valid UTF-8.
    pub fn effective_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the configuration serializes to JSON")
    }

    /// Every range and consistency problem that types alone cannot express.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut v = Checks::default();
        self.validate_processing(&mut v);
        self.validate_scoring(&mut v);
        self.validate_categories(&mut v);
        self.validate_groups(&mut v);
        for (key, clip) in [("clip", &self.models.clip), ("clip_legacy", &self.models.clip_legacy)] {
            v.percent(
                &format!("models.{key}.similarity_threshold_percent"),
                clip.similarity_threshold_percent,
            );
        }
        if v.0.is_empty() { Ok(()) } else { Err(v.0) }
    }

    fn validate_processing(&self, v: &mut Checks) {
        let p = &self.processing;
        let t = &p.thumbnails;
        v.range(
            "processing.thumbnails.photo_quality",
            t.photo_quality as f64,
            1.0,
            100.0,
        );
        v.range(
            "processing.thumbnails.photo_size",
            t.photo_size as f64,
            16.0,
            8192.0,
        );
        v.range("processing.num_workers", p.num_workers as f64, 1.0, 1024.0);
        let a = &p.auto_tuning;
        v.range(
            "processing.auto_tuning.memory_limit_percent",
            a.memory_limit_percent,
            1.0,
            100.0,
        );
        v.range(
            "processing.auto_tuning.cpu_target_percent",
            a.cpu_target_percent,
            1.0,
            100.0,
        );
        if a.min_processing_workers > a.max_processing_workers {
            v.push(
                "processing.auto_tuning.min_processing_workers",
                format!(
                    "{} is above max_processing_workers {}",
                    a.min_processing_workers, a.max_processing_workers
                ),
            );
        }
        if a.min_ram_chunk_size > a.max_ram_chunk_size {
            v.push(
                "processing.auto_tuning.min_ram_chunk_size",
                format!(
                    "{} is above max_ram_chunk_size {}",
                    a.min_ram_chunk_size, a.max_ram_chunk_size
                ),
            );
        }
    }

    fn validate_groups(&self, v: &mut Checks) {
        let b = &self.burst_detection;
        v.percent(
            "burst_detection.similarity_threshold_percent",
            b.similarity_threshold_percent,
        );
        v.range(
            "burst_detection.time_window_minutes",
            b.time_window_minutes,
            0.0,
            f64::INFINITY,
        );
        v.range(
            "burst_detection.rapid_burst_seconds",
            b.rapid_burst_seconds,
            0.0,
            f64::INFINITY,
        );
        let s = &self.burst_scoring;
        for (k, w) in [
            ("weight_aggregate", s.weight_aggregate),
            ("weight_aesthetic", s.weight_aesthetic),
            ("weight_sharpness", s.weight_sharpness),
            ("weight_blink", s.weight_blink),
        ] {
            v.range(&format!("burst_scoring.{k}"), w, 0.0, f64::INFINITY);
        }
        v.percent(
            "duplicate_detection.similarity_threshold_percent",
            self.duplicate_detection.similarity_threshold_percent,
        );
        let g = &self.similarity_groups;
        v.range(
            "similarity_groups.default_threshold",
            g.default_threshold,
            0.0,
            1.0,
        );
        if g.min_group_size < 2 {
            v.push(
                "similarity_groups.min_group_size",
                format!("{} is below 2", g.min_group_size),
            );
        }
        if g.max_group_size < g.min_group_size {
            v.push(
                "similarity_groups.max_group_size",
                format!(
                    "{} is below min_group_size {}",
                    g.max_group_size, g.min_group_size
                ),
            );
        }
    }

    fn validate_scoring(&self, v: &mut Checks) {
        const INF: f64 = f64::INFINITY;
        let s = &self.scoring;
        v.finite("scoring.score_min", s.score_min);
        v.finite("scoring.score_max", s.score_max);
        if s.score_min >= s.score_max {
            v.push(
                "scoring.score_min",
                format!("{} is not below score_max {}", s.score_min, s.score_max),
            );
        }
        v.range(
            "scoring.score_precision",
            s.score_precision as f64,
            0.0,
            15.0,
        );

        let t = &self.thresholds;
        v.percent(
            "thresholds.portrait_face_ratio_percent",
            t.portrait_face_ratio_percent,
        );
        v.percent("thresholds.blink_penalty_percent", t.blink_penalty_percent);
        v.range(
            "thresholds.night_luminance_threshold",
            t.night_luminance_threshold,
            0.0,
            1.0,
        );
        v.range(
            "thresholds.night_iso_threshold",
            t.night_iso_threshold,
            0.0,
            INF,
        );
        v.range(
            "thresholds.long_exposure_shutter_threshold",
            t.long_exposure_shutter_threshold,
            0.0,
            INF,
        );
        v.range(
            "thresholds.astro_shutter_threshold",
            t.astro_shutter_threshold,
            0.0,
            INF,
        );

        let c = &self.composition;
        v.range(
            "composition.power_point_weight",
            c.power_point_weight,
            0.0,
            INF,
        );
        v.range("composition.line_weight", c.line_weight, 0.0, INF);

        let e = &self.exposure;
        v.percent(
            "exposure.shadow_clip_threshold_percent",
            e.shadow_clip_threshold_percent,
        );
        v.percent(
            "exposure.highlight_clip_threshold_percent",
            e.highlight_clip_threshold_percent,
        );

        let p = &self.penalties;
        v.range(
            "penalties.noise_sigma_threshold",
            p.noise_sigma_threshold,
            0.0,
            INF,
        );
        v.range(
            "penalties.noise_max_penalty_points",
            p.noise_max_penalty_points,
            0.0,
            INF,
        );
        v.range(
            "penalties.noise_penalty_per_sigma",
            p.noise_penalty_per_sigma,
            0.0,
            INF,
        );
        v.range(
            "penalties.bimodality_threshold",
            p.bimodality_threshold,
            0.0,
            INF,
        );
        v.range(
            "penalties.bimodality_penalty_points",
            p.bimodality_penalty_points,
            0.0,
            INF,
        );
        v.percent(
            "penalties.leading_lines_blend_percent",
            p.leading_lines_blend_percent,
        );
        v.range(
            "penalties.oversaturation_threshold",
            p.oversaturation_threshold,
            0.0,
            1.0,
        );
        v.percent(
            "penalties.oversaturation_pixel_percent",
            p.oversaturation_pixel_percent,
        );
        v.range(
            "penalties.oversaturation_penalty_points",
            p.oversaturation_penalty_points,
            0.0,
            INF,
        );

        let n = &self.normalization;
        if !(n.percentile_target > 0.0 && n.percentile_target <= 100.0) {
            v.push(
                "normalization.percentile_target",
                format!("{} is out of range (0, 100]", n.percentile_target),
            );
        }

        v.percent(
            "monochrome_detection.saturation_threshold_percent",
            self.monochrome_detection.saturation_threshold_percent,
        );

        let a = &self.analysis;
        v.range(
            "analysis.aesthetic_max_threshold",
            a.aesthetic_max_threshold,
            0.0,
            INF,
        );
        v.range("analysis.aesthetic_target", a.aesthetic_target, 0.0, INF);
        v.range(
            "analysis.quality_avg_threshold",
            a.quality_avg_threshold,
            0.0,
            INF,
        );
        v.percent(
            "analysis.quality_weight_threshold_percent",
            a.quality_weight_threshold_percent,
        );
        v.range(
            "analysis.correlation_dominant_threshold",
            a.correlation_dominant_threshold,
            0.0,
            1.0,
        );
        v.range(
            "analysis.category_imbalance_threshold",
            a.category_imbalance_threshold,
            0.0,
            INF,
        );
        v.range(
            "analysis.score_clustering_std_threshold",
            a.score_clustering_std_threshold,
            0.0,
            INF,
        );
        v.range(
            "analysis.top_score_threshold",
            a.top_score_threshold,
            0.0,
            INF,
        );
        v.range(
            "analysis.exposure_avg_threshold",
            a.exposure_avg_threshold,
            0.0,
            INF,
        );

        let pt = &self.viewer.photo_types;
        v.finite(
            "viewer.photo_types.top_picks_min_score",
            pt.top_picks_min_score,
        );
        v.range(
            "viewer.photo_types.top_picks_min_face_ratio",
            pt.top_picks_min_face_ratio,
            0.0,
            1.0,
        );
        v.range(
            "viewer.photo_types.low_light_max_luminance",
            pt.low_light_max_luminance,
            0.0,
            1.0,
        );
        let w = &pt.top_picks_weights;
        let weights = [
            ("aggregate_percent", w.aggregate_percent),
            ("aesthetic_percent", w.aesthetic_percent),
            ("composition_percent", w.composition_percent),
            ("face_quality_percent", w.face_quality_percent),
        ];
        for (k, x) in weights {
            v.percent(&format!("viewer.photo_types.top_picks_weights.{k}"), x);
        }
        v.sums_to_100(
            "viewer.photo_types.top_picks_weights",
            weights.iter().map(|w| w.1).sum(),
        );
    }

    fn validate_categories(&self, v: &mut Checks) {
        const INF: f64 = f64::INFINITY;
        if self.categories.is_empty() {
            v.push(
                "categories",
                "no categories; at least a catch-all one (no filters, like the reference's `default`) is needed",
            );
            return;
        }
        if !self.categories.iter().any(|c| c.filters.is_empty()) {
            v.push(
                "categories",
                "no category without filters, so some photos would match none; add a catch-all like the reference's `default` (priority 999, \"filters\": {})",
            );
        }
        let mut first_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, c) in self.categories.iter().enumerate() {
            let at = format!("categories[{i}]");
            if c.name.trim().is_empty() {
                v.push(format!("{at}.name"), "empty category name");
            } else if let Some(first) = first_of.get(c.name.as_str()) {
                v.push(
                    format!("{at}.name"),
                    format!(
                        "duplicate category name \"{}\" (also categories[{first}])",
                        c.name
                    ),
                );
            } else {
                first_of.insert(&c.name, i);
            }

            for (k, x) in &c.weights {
                let path = format!("{at}.weights.{k}");
                if !WEIGHT_KEYS.contains(&k.as_str()) {
                    let hint = nearest(k, WEIGHT_KEYS)
                        .map(|n| format!(" (did you mean `{n}`?)"))
                        .unwrap_or_default();
                    v.push(
                        path,
                        format!(
                            "unknown weight metric{hint}; known: {}",
                            WEIGHT_KEYS.join(", ")
                        ),
                    );
                } else {
                    v.percent(&path, *x);
                }
            }
            v.sums_to_100(&format!("{at}.weights"), c.weights.values().sum());

            let f = &c.filters;
            for (quantity, min_key, max_key, min, max) in f.ranges() {
                let hi = if matches!(quantity, "face_ratio" | "luminance") {
                    1.0
                } else {
                    INF
                };
                for (key, x) in [(min_key, min), (max_key, max)] {
                    if let Some(x) = x {
                        v.range(&format!("{at}.filters.{key}"), x, 0.0, hi);
                    }
                }
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    v.push(
                        format!("{at}.filters.{min_key}"),
                        format!("{lo} is above {max_key} {hi}"),
                    );
                }
            }

            let m = &c.modifiers;
            v.finite(&format!("{at}.modifiers.bonus"), m.bonus);
            v.finite(
                &format!("{at}.modifiers.min_saturation_bonus"),
                m.min_saturation_bonus,
            );
            v.finite(&format!("{at}.modifiers.contrast_bonus"), m.contrast_bonus);
            for (key, x) in [
                ("noise_tolerance_multiplier", m.noise_tolerance_multiplier),
                ("iso_tolerance_multiplier", m.iso_tolerance_multiplier),
                ("_clipping_multiplier", m.clipping_multiplier),
            ] {
                v.range(&format!("{at}.modifiers.{key}"), x, 0.0, INF);
            }
        }
    }

    /// Warnings for tag filters naming a tag no tagger can produce: one that
    /// is neither a category's tag nor a standalone tag.
    /// The tag vocabulary of zero-shot taggers: every category's `tags` and
    /// `standalone_tags`, merged by tag name (synonyms united, in order, without
    /// repeats). A tag without synonyms is matched by its own name, `_` read
    /// as a space.
    pub fn tag_vocabulary(&self) -> BTreeMap<String, Vec<String>> {
        let mut vocab: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let all = self
            .categories
            .iter()
            .flat_map(|c| c.tags.iter())
            .chain(self.standalone_tags.iter());
        for (tag, synonyms) in all {
            let entry = vocab.entry(tag.clone()).or_default();
            for s in synonyms {
                let s = s.trim();
                if !s.is_empty() && !entry.iter().any(|e| e == s) {
                    entry.push(s.to_string());
                }
            }
        }
        for (tag, synonyms) in &mut vocab {
            if synonyms.is_empty() {
                synonyms.push(tag.replace('_', " "));
            }
        }
        vocab
    }

    fn tag_warnings(&self) -> Vec<String> {
        let known = |t: &str| {
            let t = t.trim();
            self.standalone_tags
                .keys()
                .any(|k| k.eq_ignore_ascii_case(t))
                || self
                    .categories
                    .iter()
                    .any(|c| c.tags.keys().any(|k| k.eq_ignore_ascii_case(t)))
        };
        let mut out = Vec::new();
        for (i, c) in self.categories.iter().enumerate() {
            for (list, tags) in [
                ("required_tags", &c.filters.required_tags),
                ("excluded_tags", &c.filters.excluded_tags),
            ] {
                for t in tags.iter().filter(|t| !known(t)) {
                    out.push(format!(
                        "categories[{i}].filters.{list}: tag \"{t}\" is in no category's `tags` nor in `standalone_tags`, so no photo gets it"
                    ));
                }
            }
        }
        out
    }
}

/// Collects problems.
#[derive(Default)]
struct Checks(Vec<Problem>);

impl Checks {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    fn range(&mut self, path: &str, v: f64, lo: f64, hi: f64) {
        if !(lo..=hi).contains(&v) {
            let range = if hi.is_infinite() {
                format!(">= {lo}")
            } else {
                format!("{lo}..={hi}")
            };
            self.push(path, format!("{v} is out of range {range}"));
        }
    }

    fn percent(&mut self, path: &str, v: f64) {
        self.range(path, v, 0.0, 100.0);
    }

    fn finite(&mut self, path: &str, v: f64) {
        if !v.is_finite() {
            self.push(path, format!("{v} is not a finite number"));
        }
    }

    fn sums_to_100(&mut self, path: &str, sum: f64) {
        if (sum - 100.0).abs() > 0.01 {
            let sum = (sum * 1000.0).round() / 1000.0;
            self.push(path, format!("weights sum to {sum}, expected 100"));
        }
    }
}

/// One step of a path reported by serde_ignored.
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_ignored::Path) -> Vec<Segment> {
    use serde_ignored::Path as P;
    let mut out = match path {
        P::Root => return Vec::new(),
        P::Seq { parent, .. }
        | P::Map { parent, .. }
        | P::Some { parent }
        | P::NewtypeStruct { parent }
        | P::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        P::Seq { index, .. } => out.push(Segment::Index(*index)),
        P::Map { key, .. } => out.push(Segment::Key(key.clone())),
        _ => {}
    }
    out
}

/// `categories[6].modifiers`, or with `wildcard` `categories[].modifiers`
/// (the form `known_keys` takes).
fn join(segs: &[Segment], wildcard: bool) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(_) if wildcard => s.push_str("[]"),
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn nearest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn unknown_key(path: &str, leaf: &str, known: &[&str]) -> String {
    match nearest(leaf, known) {
        Some(k) => format!("{path}: unknown key (did you mean `{k}`?)"),
        None => format!("{path}: unknown key, ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference() {
        let c = FacetConfig::parse("{}", "t.json", false).unwrap().config;
        assert!(c.scanning.skip_hidden_directories);
        assert_eq!(c.processing.num_workers, 4);
        assert_eq!(c.processing.gpu_batch_size, 16);
        assert_eq!(c.processing.ram_chunk_size, 32);
        assert_eq!(c.processing.thumbnails.photo_size, 640);
        assert_eq!(c.processing.thumbnails.photo_quality, 80);
        assert_eq!(c.processing.auto_tuning.memory_limit_percent, 85.0);
        assert_eq!(c.storage.mode, StorageMode::Database);
        assert_eq!(c.storage.filesystem_path, PathBuf::from("./storage"));
    }

    #[test]
    fn unknown_keys_warn_with_nearest() {
        let l = FacetConfig::parse(
            r#"{"scanning": {"skip_hiden_directories": false}, "procesing": {}}"#,
            "t.json",
            false,
        )
        .unwrap();
        assert!(
            l.warnings
                .iter()
                .any(|w| w.contains("scanning.skip_hiden_directories")
                    && w.contains("skip_hidden_directories")),
            "{:?}",
            l.warnings
        );
        assert!(
            l.warnings
                .iter()
                .any(|w| w.contains("procesing") && w.contains("`processing`")),
            "{:?}",
            l.warnings
        );
        assert!(
            l.config.scanning.skip_hidden_directories,
            "misspelt key must not apply"
        );
    }

    #[test]
    fn wrong_type_names_the_path() {
        let e = FacetConfig::parse(
            r#"{"processing": {"thumbnails": {"photo_size": "big"}}}"#,
            "c.json",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.json: processing.thumbnails.photo_size"),
            "{e}"
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        let e = FacetConfig::parse(
            r#"{"processing": {"thumbnails": {"photo_quality": 0}}}"#,
            "c.json",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("processing.thumbnails.photo_quality") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn scoring_defaults_match_the_reference() {
        let c = FacetConfig::parse("{}", "t.json", false).unwrap().config;
        assert_eq!(c.categories.len(), 34);
        assert_eq!(c.categories, default_categories());
        assert_eq!((c.scoring.score_min, c.scoring.score_max), (0.0, 10.0));
        assert_eq!(c.scoring.score_precision, 2);
        assert_eq!(c.thresholds.portrait_face_ratio_percent, 5.0);
        assert_eq!(c.thresholds.blink_penalty_percent, 50.0);
        assert_eq!(c.thresholds.night_luminance_threshold, 0.15);
        assert_eq!(c.thresholds.night_iso_threshold, 3200.0);
        assert_eq!(c.thresholds.long_exposure_shutter_threshold, 1.0);
        assert_eq!(c.thresholds.astro_shutter_threshold, 10.0);
        assert_eq!(c.composition.power_point_weight, 2.0);
        assert_eq!(c.composition.line_weight, 1.0);
        assert!(c.exif_adjustments.iso_sharpness_compensation);
        assert!(c.exif_adjustments.aperture_isolation_boost);
        assert_eq!(c.exposure.shadow_clip_threshold_percent, 15.0);
        assert_eq!(c.exposure.highlight_clip_threshold_percent, 10.0);
        assert!(c.exposure.silhouette_detection);
        assert_eq!(c.penalties.noise_sigma_threshold, 4.0);
        assert_eq!(c.penalties.noise_max_penalty_points, 1.5);
        assert_eq!(c.penalties.noise_penalty_per_sigma, 0.3);
        assert_eq!(c.penalties.bimodality_threshold, 2.5);
        assert_eq!(c.penalties.leading_lines_blend_percent, 30.0);
        assert_eq!(c.penalties.oversaturation_threshold, 0.9);
        assert_eq!(c.penalties.oversaturation_penalty_points, 0.5);
        assert_eq!(c.normalization.method, NormalizationMethod::Percentile);
        assert_eq!(c.normalization.percentile_target, 90.0);
        assert!(c.normalization.per_category);
        assert_eq!(c.normalization.category_min_samples, 50);
        assert_eq!(c.monochrome_detection.saturation_threshold_percent, 5.0);
        assert_eq!(c.analysis.aesthetic_max_threshold, 9.0);
        assert_eq!(c.analysis.aesthetic_target, 9.5);
        assert_eq!(c.analysis.quality_weight_threshold_percent, 10.0);
        assert_eq!(c.analysis.category_min_samples, 50);
        assert_eq!(c.analysis.top_score_threshold, 8.5);
        assert_eq!(c.analysis.exposure_avg_threshold, 8.0);
        let pt = &c.viewer.photo_types;
        assert_eq!(pt.top_picks_min_score, 7.0);
        assert_eq!(pt.top_picks_min_face_ratio, 0.2);
        assert_eq!(pt.low_light_max_luminance, 0.2);
        assert_eq!(pt.top_picks_weights.aggregate_percent, 30.0);
        assert_eq!(pt.top_picks_weights.aesthetic_percent, 28.0);
        assert_eq!(pt.top_picks_weights.composition_percent, 18.0);
        assert_eq!(pt.top_picks_weights.face_quality_percent, 24.0);
        assert_eq!(c.standalone_tags.len(), 7);
        assert_eq!(c.standalone_tags["flat_lay"][0], "flat lay");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn sections_read_from_the_file() {
        let l = FacetConfig::parse(
            r#"{
                "scoring": {"score_max": 5, "score_precision": 1},
                "normalization": {"percentile_target": 95, "per_category": false},
                "viewer": {"photo_types": {"top_picks_min_score": 8},
                           "display": {"tags_per_photo": 6}, "password": "x"},
                "models": {"vram_profile": "8gb"},
                "categories": [
                    {"name": "people", "priority": 1, "filters": {"has_face": true},
                     "weights": {"aesthetic_percent": 60, "face_quality_percent": 40}},
                    {"name": "rest", "priority": 2, "weights": {"aesthetic_percent": 100}}
                ]
            }"#,
            "t.json",
            false,
        )
        .unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let c = l.config;
        assert_eq!(c.scoring.score_max, 5.0);
        assert_eq!(c.scoring.score_min, 0.0, "unset keys keep their default");
        assert_eq!(c.normalization.percentile_target, 95.0);
        assert!(!c.normalization.per_category);
        assert_eq!(c.viewer.photo_types.top_picks_min_score, 8.0);
        assert_eq!(c.viewer.photo_types.top_picks_min_face_ratio, 0.2);
        assert_eq!(c.viewer.other["display"]["tags_per_photo"], 6);
        assert_eq!(c.viewer.other["password"], "x");
        assert!(c.other.contains_key("models"));
        for typed in ["scoring", "normalization", "viewer", "categories"] {
            assert!(
                !c.other.contains_key(typed),
                "{typed} is typed, not kept as JSON"
            );
        }
        let names: Vec<&str> = c.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["people", "rest"],
            "a categories key replaces the defaults"
        );
        let photo = PhotoFacts {
            face_count: Some(3),
            ..PhotoFacts::default()
        };
        assert_eq!(category_for(&c.categories, &photo).name, "people");
    }

    fn problems(text: &str) -> Vec<Problem> {
        match FacetConfig::parse(text, "c.json", false) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn has(problems: &[Problem], path: &str, needle: &str) -> bool {
        problems
            .iter()
            .any(|p| p.path == path && p.message.contains(needle))
    }

    #[test]
    fn weights_must_sum_to_100() {
        let mut cats = default_categories();
        *cats[6].weights.get_mut("aesthetic_percent").unwrap() -= 2.0;
        let text = serde_json::json!({ "categories": cats }).to_string();
        let p = problems(&text);
        assert_eq!(
            p,
            [Problem::new(
                "categories[6].weights",
                "weights sum to 98, expected 100"
            )]
        );
        let e = FacetConfig::parse(&text, "c.json", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.json: categories[6].weights: weights sum to 98, expected 100"
        );
        // Within the tolerance is fine.
        let mut cats = default_categories();
        *cats[6].weights.get_mut("aesthetic_percent").unwrap() += 0.005;
        let text = serde_json::json!({ "categories": cats }).to_string();
        assert!(FacetConfig::parse(&text, "c.json", false).is_ok());
    }

    #[test]
    fn unknown_weight_metric_lists_the_known_ones() {
        let p = problems(
            r#"{"categories": [{"name": "default", "priority": 1,
                "weights": {"aesthetc_percent": 50, "composition_percent": 50}}]}"#,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "categories[0].weights.aesthetc_percent");
        assert!(
            p[0].message.contains("did you mean `aesthetic_percent`"),
            "{}",
            p[0]
        );
        for known in WEIGHT_KEYS {
            assert!(
                p[0].message.contains(known),
                "{known} missing from: {}",
                p[0]
            );
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let p = problems(
            r#"{
                "scoring": {"score_min": 10, "score_max": 5},
                "normalization": {"percentile_target": 0},
                "thresholds": {"blink_penalty_percent": 150},
                "viewer": {"photo_types": {"top_picks_weights": {"aggregate_percent": 50}}},
                "processing": {"thumbnails": {"photo_quality": 0}},
                "categories": [
                    {"name": "a", "priority": 1, "filters": {"luminance_max": 15, "iso_min": 800, "iso_max": 100},
                     "weights": {"aesthetic_percent": 120, "composition_percent": -20},
                     "modifiers": {"_clipping_multiplier": -1}},
                    {"name": "a", "priority": 2, "weights": {"aesthetic_percent": 100}}
                ]
            }"#,
        );
        assert!(
            has(&p, "scoring.score_min", "not below score_max 5"),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "normalization.percentile_target",
                "out of range (0, 100]"
            ),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "thresholds.blink_penalty_percent",
                "out of range 0..=100"
            ),
            "{p:?}"
        );
        assert!(
            has(&p, "viewer.photo_types.top_picks_weights", "sum to 120"),
            "{p:?}"
        );
        assert!(
            has(&p, "processing.thumbnails.photo_quality", "out of range"),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "categories[0].filters.luminance_max",
                "out of range 0..=1"
            ),
            "{p:?}"
        );
        assert!(
            has(&p, "categories[0].filters.iso_min", "above iso_max 100"),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "categories[0].weights.aesthetic_percent",
                "out of range 0..=100"
            ),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "categories[0].weights.composition_percent",
                "out of range"
            ),
            "{p:?}"
        );
        assert!(
            has(&p, "categories[0].modifiers._clipping_multiplier", ">= 0"),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "categories[1].name",
                "duplicate category name \"a\" (also categories[0])"
            ),
            "{p:?}"
        );
        assert_eq!(p.len(), 11, "{p:?}");
        let e = FacetConfig::parse(
            r#"{"scoring": {"score_min": 10, "score_max": 5}, "normalization": {"percentile_target": 101}}"#,
            "c.json",
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "c.json: 2 problems:\n  scoring.score_min: 10 is not below score_max 5\n  normalization.percentile_target: 101 is out of range (0, 100]"
        );
    }

    #[test]
    fn categories_need_a_catch_all() {
        let p = problems(
            r#"{"categories": [{"name": "x", "priority": 1, "filters": {"has_face": true},
                "weights": {"aesthetic_percent": 100}}]}"#,
        );
        assert!(
            has(&p, "categories", "no category without filters"),
            "{p:?}"
        );
        let p = problems(r#"{"categories": []}"#);
        assert!(has(&p, "categories", "no categories"), "{p:?}");
    }

    #[test]
    fn wrong_types_in_scoring_sections_name_the_path() {
        for (text, path) in [
            (
                r#"{"categories": [{"name": "x", "priority": "high"}]}"#,
                "categories[0].priority",
            ),
            (
                r#"{"categories": [{"name": "x", "priority": 1, "weights": {"aesthetic_percent": "lots"}}]}"#,
                "categories[0].weights.aesthetic_percent",
            ),
            (
                r#"{"categories": [{"name": "x", "priority": 1, "filters": {"tag_match_mode": "some"}}]}"#,
                "categories[0].filters.tag_match_mode",
            ),
            (
                r#"{"categories": [{"name": "x", "priority": 1, "modifiers": {"_apply_blink_penalty": 1}}]}"#,
                "categories[0].modifiers._apply_blink_penalty",
            ),
            (r#"{"categories": [{"priority": 1}]}"#, "categories[0]"),
            (
                r#"{"normalization": {"method": "minmax"}}"#,
                "normalization.method",
            ),
            (
                r#"{"penalties": {"noise_sigma_threshold": "4"}}"#,
                "penalties.noise_sigma_threshold",
            ),
            (
                r#"{"viewer": {"photo_types": {"top_picks_weights": {"aggregate_percent": []}}}}"#,
                "viewer.photo_types.top_picks_weights.aggregate_percent",
            ),
        ] {
            let e = FacetConfig::parse(text, "c.json", false)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("c.json: {path}: ")), "{text}: {e}");
        }
    }

    #[test]
    fn unknown_keys_in_scoring_sections_warn_with_nearest() {
        let l = FacetConfig::parse(
            r#"{
                "scoring": {"score_maximum": 5},
                "penalties": {"noise_sigma_treshold": 3},
                "viewer": {"photo_typs": {}, "photo_types": {"top_picks_min_scor": 1,
                    "top_picks_weights": {"aggregate_percnt": 1}}},
                "categories": [
                    {"name": "x", "priority": 1, "filter": {}, "weights": {"aesthetic_percent": 100},
                     "modifiers": {"bonnus": 1}},
                    {"name": "default", "priority": 2, "filters": {"tag_mode": "all"},
                     "weights": {"aesthetic_percent": 100}}
                ],
                "quality": {"model": "auto"},
                "share_secret": "abc"
            }"#,
            "t.json",
            false,
        )
        .unwrap();
        let w = &l.warnings;
        for (path, nearest) in [
            ("scoring.score_maximum", "score_max"),
            ("penalties.noise_sigma_treshold", "noise_sigma_threshold"),
            ("viewer.photo_typs", "photo_types"),
            (
                "viewer.photo_types.top_picks_min_scor",
                "top_picks_min_score",
            ),
            (
                "viewer.photo_types.top_picks_weights.aggregate_percnt",
                "aggregate_percent",
            ),
            ("categories[0].filter", "filters"),
            ("categories[0].modifiers.bonnus", "bonus"),
            ("categories[1].filters.tag_mode", "tag_match_mode"),
        ] {
            let want = format!("{path}: unknown key (did you mean `{nearest}`?)");
            assert!(w.contains(&want), "missing {want:?} in {w:?}");
        }
        assert_eq!(w.len(), 8, "{w:?}");
        assert_eq!(
            l.config.scoring.score_max, 10.0,
            "misspelt key must not apply"
        );
        assert_eq!(
            l.config.categories[1].filters.tag_match_mode,
            TagMatchMode::Any
        );
    }

    #[test]
    fn tags_no_tagger_produces_warn() {
        let l = FacetConfig::parse(
            r#"{"standalone_tags": {"bokeh": ["bokeh"]},
                "categories": [
                    {"name": "x", "priority": 1, "filters": {"required_tags": ["Bokeh", "unicorn"]},
                     "weights": {"aesthetic_percent": 100}, "tags": {"cat": ["cat"]}},
                    {"name": "y", "priority": 2, "filters": {"excluded_tags": ["cat", "dog"]},
                     "weights": {"aesthetic_percent": 100}},
                    {"name": "default", "priority": 3, "weights": {"aesthetic_percent": 100}}
                ]}"#,
            "t.json",
            false,
        )
        .unwrap();
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings[0].starts_with("categories[0].filters.required_tags: tag \"unicorn\""));
        assert!(l.warnings[1].starts_with("categories[1].filters.excluded_tags: tag \"dog\""));
    }

    #[test]
    fn effective_json_fills_in_defaults_and_round_trips() {
        let l = FacetConfig::parse(
            r#"{"scoring": {"score_max": 5}, "models": {"vram_profile": "8gb"},
                "viewer": {"display": {"tags_per_photo": 6}}}"#,
            "t.json",
            false,
        )
        .unwrap();
        let v = l.config.effective_json();
        assert_eq!(v["scoring"]["score_max"], 5.0);
        assert_eq!(v["scoring"]["score_min"], 0.0);
        assert_eq!(v["scoring"]["score_precision"], 2);
        assert_eq!(v["normalization"]["method"], "percentile");
        assert_eq!(v["penalties"]["noise_max_penalty_points"], 1.5);
        assert_eq!(
            v["viewer"]["photo_types"]["top_picks_weights"]["face_quality_percent"],
            24.0
        );
        assert_eq!(v["viewer"]["display"]["tags_per_photo"], 6);
        assert_eq!(v["models"]["vram_profile"], "8gb");
        assert_eq!(v["processing"]["thumbnails"]["photo_size"], 640);
        let cats = v["categories"].as_array().unwrap();
        assert_eq!(cats.len(), 34);
        let default = &cats[33];
        assert_eq!(default["name"], "default");
        assert_eq!(default["filters"], serde_json::json!({}));
        assert_eq!(default["modifiers"]["_clipping_multiplier"], 1.5);
        assert_eq!(
            cats[1]["filters"]["tag_match_mode"],
            serde_json::Value::Null
        );
        assert_eq!(cats[1]["filters"]["required_tags"][0], "aurora");

        let again = FacetConfig::parse(&v.to_string(), "shown.json", false).unwrap();
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        assert_eq!(again.config.effective_json(), v);
    }

    #[test]
    fn yaml_is_accepted() {
        let c = FacetConfig::parse("storage:\n  mode: filesystem\n", "c.yaml", true)
            .unwrap()
            .config;
        assert_eq!(c.storage.mode, StorageMode::Filesystem);
    }
}
