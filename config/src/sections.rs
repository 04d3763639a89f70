//! The typed sections. Defaults are the reference's; every field is documented
//! with the reference's description.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Known keys of a typed section (by dotted path), for "did you mean".
pub fn known_keys(section: &str) -> &'static [&'static str] {
    match section {
        "scanning" => &["skip_hidden_directories"],
        "processing" => &[
            "mode",
            "gpu_batch_size",
            "ram_chunk_size",
            "num_workers",
            "auto_tuning",
            "thumbnails",
        ],
        "processing.auto_tuning" => &[
            "enabled",
            "monitor_interval_seconds",
            "tuning_interval_images",
            "min_processing_workers",
            "max_processing_workers",
            "min_gpu_batch_size",
            "max_gpu_batch_size",
            "min_ram_chunk_size",
            "max_ram_chunk_size",
            "memory_limit_percent",
            "cpu_target_percent",
            "metrics_print_interval_seconds",
        ],
        "processing.thumbnails" => &["photo_size", "photo_quality", "face_padding_ratio"],
        "storage" => &["mode", "filesystem_path"],
        "capsules" => &[
            "min_aggregate",
            "max_photos_per_capsule",
            "max_photo_overlap",
            "mmr_lambda",
            "freshness_hours",
            "reverse_geocoding",
            "journey",
            "faces_of",
            "seasonal",
            "golden",
            "color_story",
            "this_week_years_ago",
            "seeded",
            "progress",
            "color_palette",
            "rare_pair",
            "favorites",
        ],
        "capsules.journey" => &["min_distance_km", "min_photos", "time_gap_hours"],
        "capsules.faces_of"
        | "capsules.seasonal"
        | "capsules.color_palette"
        | "capsules.favorites" => &["min_photos"],
        "capsules.golden" => &["percentile", "max_photos"],
        "capsules.color_story" => &["embedding_threshold", "min_group_size", "max_groups"],
        "capsules.this_week_years_ago" => &["min_photos_per_year"],
        "capsules.seeded" => &[
            "num_seeds",
            "min_photos",
            "seed_lifetime_minutes",
            "time_window_days",
            "embedding_threshold",
            "location_radius_km",
        ],
        "capsules.progress" => &["min_improvement_pct", "min_photos", "period_months"],
        "capsules.rare_pair" => &["max_shared_photos", "min_score", "min_photos"],
        "performance" => &[
            "mmap_size_mb",
            "cache_size_mb",
            "pool_size",
            "thumbnail_cache_size",
            "face_cache_size",
        ],
        "categories[]" => crate::CATEGORY_KEYS,
        "categories[].filters" => crate::FILTER_KEYS,
        "categories[].modifiers" => crate::MODIFIER_KEYS,
        "scoring" => &["score_min", "score_max", "score_precision"],
        "thresholds" => &[
            "portrait_face_ratio_percent",
            "blink_penalty_percent",
            "night_luminance_threshold",
            "night_iso_threshold",
            "long_exposure_shutter_threshold",
            "astro_shutter_threshold",
        ],
        "composition" => &["power_point_weight", "line_weight"],
        "exif_adjustments" => &["iso_sharpness_compensation", "aperture_isolation_boost"],
        "exposure" => &[
            "shadow_clip_threshold_percent",
            "highlight_clip_threshold_percent",
            "silhouette_detection",
        ],
        "penalties" => &[
            "noise_sigma_threshold",
            "noise_max_penalty_points",
            "noise_penalty_per_sigma",
            "bimodality_threshold",
            "bimodality_penalty_points",
            "leading_lines_blend_percent",
            "oversaturation_threshold",
            "oversaturation_pixel_percent",
            "oversaturation_penalty_points",
        ],
        "normalization" => &[
            "method",
            "percentile_target",
            "per_category",
            "category_min_samples",
        ],
        "monochrome_detection" => &["saturation_threshold_percent"],
        "face_detection" => &[
            "min_confidence_percent",
            "min_face_size",
            "blink_ear_threshold",
            "min_faces_for_group",
        ],
        "face_clustering" => &[
            "enabled",
            "min_faces_per_person",
            "min_samples",
            "auto_merge_distance_percent",
            "clustering_algorithm",
            "leaf_size",
            "use_gpu",
            "merge_threshold",
            "chunk_size",
        ],
        "face_processing" => &[
            "crop_padding",
            "use_db_thumbnails",
            "face_thumbnail_size",
            "face_thumbnail_quality",
            "extract_workers",
            "extract_batch_size",
            "refill_workers",
            "refill_batch_size",
            "auto_tuning",
        ],
        "face_processing.auto_tuning" => &[
            "enabled",
            "memory_limit_percent",
            "min_batch_size",
            "monitor_interval_seconds",
        ],
        "analysis" => &[
            "aesthetic_max_threshold",
            "aesthetic_target",
            "quality_avg_threshold",
            "quality_weight_threshold_percent",
            "correlation_dominant_threshold",
            "category_min_samples",
            "category_imbalance_threshold",
            "score_clustering_std_threshold",
            "top_score_threshold",
            "exposure_avg_threshold",
        ],
        "viewer" => VIEWER_KEYS,
        "models" => MODELS_KEYS,
        "models.clip" | "models.clip_legacy" => &[
            "model_name",
            "pretrained",
            "embedding_dim",
            "similarity_threshold_percent",
            "backend",
        ],
        "tagging" => &["enabled", "max_tags"],
        "translation" => &["target_language"],
        "viewer.photo_types" => &[
            "top_picks_min_score",
            "top_picks_min_megapixels",
            "top_picks_percent",
            "top_picks_min_face_ratio",
            "top_picks_weights",
            "low_light_max_luminance",
        ],
        "viewer.photo_types.top_picks_weights" => &[
            "aggregate_percent",
            "aesthetic_percent",
            "composition_percent",
            "face_quality_percent",
        ],
        _ => &[],
    }
}

/// Keys the reference documents under `viewer`. Only `photo_types` is typed
/// here; the others are kept as JSON in [`Viewer::other`].
pub const VIEWER_KEYS: &[&str] = &[
    "password",
    "default_category",
    "edition_password",
    "comparison_mode",
    "sort_options",
    "pagination",
    "dropdowns",
    "raw_processor",
    "display",
    "face_thumbnails",
    "quality_thresholds",
    "photo_types",
    "defaults",
    "features",
    "allowed_origins",
    "cache_ttl_seconds",
    "notification_duration_ms",
    "path_mapping",
    "performance",
    "sessions",
];

/// `scanning`: directory scanning behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Scanning {
    /// Skip directories starting with `.` during photo scanning.
    pub skip_hidden_directories: bool,
}

impl Default for Scanning {
    fn default() -> Self {
        Self {
            skip_hidden_directories: true,
        }
    }
}

/// `processing.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessingMode {
    /// Multi-pass or single-pass chosen from the VRAM budget.
    #[default]
    Auto,
    /// Model stages run in passes that each fit the VRAM budget.
    MultiPass,
    /// All model stages loaded at once.
    SinglePass,
}

/// `processing`: batching, workers and thumbnails.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Processing {
    /// Processing mode: auto, multi-pass, single-pass.
    pub mode: ProcessingMode,
    /// Images per GPU batch (VRAM-limited).
    pub gpu_batch_size: usize,
    /// Images per RAM chunk (multi-pass).
    pub ram_chunk_size: usize,
    /// Image loader threads: the number of dataflow workers.
    pub num_workers: usize,
    pub auto_tuning: AutoTuning,
    pub thumbnails: Thumbnails,
}

impl Default for Processing {
    fn default() -> Self {
        Self {
            mode: ProcessingMode::Auto,
            gpu_batch_size: 16,
            ram_chunk_size: 32,
            num_workers: 4,
            auto_tuning: AutoTuning::default(),
            thumbnails: Thumbnails::default(),
        }
    }
}

/// `processing.auto_tuning`: resource monitoring and batch/chunk adjustment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoTuning {
    /// Enable auto-tuning.
    pub enabled: bool,
    /// Resource check interval.
    pub monitor_interval_seconds: f64,
    /// Re-tune every N images.
    pub tuning_interval_images: usize,
    /// Minimum loader threads.
    pub min_processing_workers: usize,
    /// Maximum loader threads.
    pub max_processing_workers: usize,
    /// Minimum GPU batch size.
    pub min_gpu_batch_size: usize,
    /// Maximum GPU batch size.
    pub max_gpu_batch_size: usize,
    /// Minimum RAM chunk size.
    pub min_ram_chunk_size: usize,
    /// Maximum RAM chunk size.
    pub max_ram_chunk_size: usize,
    /// System memory usage limit.
    pub memory_limit_percent: f64,
    /// CPU usage target.
    pub cpu_target_percent: f64,
    /// Stats print interval.
    pub metrics_print_interval_seconds: f64,
}

impl Default for AutoTuning {
    fn default() -> Self {
        Self {
            enabled: true,
            monitor_interval_seconds: 5.0,
            tuning_interval_images: 32,
            min_processing_workers: 1,
            max_processing_workers: 32,
            min_gpu_batch_size: 2,
            max_gpu_batch_size: 32,
            min_ram_chunk_size: 10,
            max_ram_chunk_size: 128,
            memory_limit_percent: 85.0,
            cpu_target_percent: 85.0,
            metrics_print_interval_seconds: 30.0,
        }
    }
}

/// `processing.thumbnails`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Thumbnails {
    /// Stored thumbnail size (pixels, longest side).
    pub photo_size: u32,
    /// Thumbnail JPEG quality.
    pub photo_quality: u8,
    /// Padding around face crops.
    pub face_padding_ratio: f64,
}

impl Default for Thumbnails {
    fn default() -> Self {
        Self {
            photo_size: 640,
            photo_quality: 80,
            face_padding_ratio: 0.3,
        }
    }
}

/// `storage.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageMode {
    /// Thumbnails as a binary column of the store.
    #[default]
    Database,
    /// Thumbnails as files under `filesystem_path`, sharded by SHA-256 of the path.
    Filesystem,
}

/// `storage`: where thumbnails (and later embeddings) live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Storage {
    /// Storage backend: "database" or "filesystem".
    pub mode: StorageMode,
    /// Base directory for filesystem mode (`<path>/thumbnails/ab/abcd…_640.jpg`).
    pub filesystem_path: PathBuf,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            mode: StorageMode::Database,
            filesystem_path: PathBuf::from("./storage"),
        }
    }
}

/// `performance`: the reference's SQLite connection settings. Facet's store is
/// Lance, which has no mmap or page-cache knobs; the keys are accepted so that
/// existing configuration files load, and the cache sizes bound the gallery's
/// in-memory caches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Performance {
    pub mmap_size_mb: u64,
    pub cache_size_mb: u64,
    pub pool_size: usize,
    /// Max entries in the in-memory thumbnail resize cache.
    pub thumbnail_cache_size: usize,
    /// Max entries in the in-memory face thumbnail cache.
    pub face_cache_size: usize,
}

impl Default for Performance {
    fn default() -> Self {
        Self {
            mmap_size_mb: 12288,
            cache_size_mb: 64,
            pool_size: 5,
            thumbnail_cache_size: 2000,
            face_cache_size: 500,
        }
    }
}

/// `scoring`: the range and precision of every score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scoring {
    /// Minimum possible score.
    pub score_min: f64,
    /// Maximum possible score.
    pub score_max: f64,
    /// Decimal places for scores.
    pub score_precision: u32,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            score_min: 0.0,
            score_max: 10.0,
            score_precision: 2,
        }
    }
}

/// `thresholds`: detection thresholds for automatic categorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Face area above this percent of the frame makes a portrait.
    pub portrait_face_ratio_percent: f64,
    /// Score multiplier, in percent, when a blink is detected (50 = 0.5x).
    pub blink_penalty_percent: f64,
    /// Mean luminance (0–1) below this is night.
    pub night_luminance_threshold: f64,
    /// ISO above this is low light.
    pub night_iso_threshold: f64,
    /// Shutter time (s) above this is a long exposure.
    pub long_exposure_shutter_threshold: f64,
    /// Shutter time (s) above this is astrophotography.
    pub astro_shutter_threshold: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            portrait_face_ratio_percent: 5.0,
            blink_penalty_percent: 50.0,
            night_luminance_threshold: 0.15,
            night_iso_threshold: 3200.0,
            long_exposure_shutter_threshold: 1.0,
            astro_shutter_threshold: 10.0,
        }
    }
}

/// `composition`: rule-based composition scoring (used when SAMP-Net is not
/// active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Composition {
    /// Weight for rule-of-thirds placement.
    pub power_point_weight: f64,
    /// Weight for leading lines.
    pub line_weight: f64,
}

impl Default for Composition {
    fn default() -> Self {
        Self {
            power_point_weight: 2.0,
            line_weight: 1.0,
        }
    }
}

/// `exif_adjustments`: automatic scoring adjustments from camera settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExifAdjustments {
    /// Reduce the sharpness penalty for high-ISO photos.
    pub iso_sharpness_compensation: bool,
    /// Boost isolation for wide apertures (f/1.4–f/2.8).
    pub aperture_isolation_boost: bool,
}

impl Default for ExifAdjustments {
    fn default() -> Self {
        Self {
            iso_sharpness_compensation: true,
            aperture_isolation_boost: true,
        }
    }
}

/// `exposure`: exposure analysis and clipping detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exposure {
    /// Flag shadow clipping when more than this percent of pixels are pure black.
    pub shadow_clip_threshold_percent: f64,
    /// Flag highlight clipping when more than this percent of pixels are pure white.
    pub highlight_clip_threshold_percent: f64,
    /// Detect intentional silhouettes.
    pub silhouette_detection: bool,
}

impl Default for Exposure {
    fn default() -> Self {
        Self {
            shadow_clip_threshold_percent: 15.0,
            highlight_clip_threshold_percent: 10.0,
            silhouette_detection: true,
        }
    }
}

/// `penalties`: score penalties for technical issues. Noise penalty:
/// `min(noise_max_penalty_points, (noise_sigma - noise_sigma_threshold) * noise_penalty_per_sigma)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Penalties {
    /// Noise sigma above this triggers the noise penalty.
    pub noise_sigma_threshold: f64,
    /// Maximum noise penalty (points).
    pub noise_max_penalty_points: f64,
    /// Points per sigma above the threshold.
    pub noise_penalty_per_sigma: f64,
    /// Histogram bimodality coefficient above which the bimodality penalty applies.
    pub bimodality_threshold: f64,
    /// Penalty for bimodal histograms (points).
    pub bimodality_penalty_points: f64,
    /// Percent of the leading-lines score blended into the composition score.
    pub leading_lines_blend_percent: f64,
    /// Mean saturation (0–1) above which the oversaturation penalty applies.
    pub oversaturation_threshold: f64,
    /// Reserved by the reference for pixel-level detection.
    pub oversaturation_pixel_percent: f64,
    /// Oversaturation penalty (points).
    pub oversaturation_penalty_points: f64,
}

impl Default for Penalties {
    fn default() -> Self {
        Self {
            noise_sigma_threshold: 4.0,
            noise_max_penalty_points: 1.5,
            noise_penalty_per_sigma: 0.3,
            bimodality_threshold: 2.5,
            bimodality_penalty_points: 0.5,
            leading_lines_blend_percent: 30.0,
            oversaturation_threshold: 0.9,
            oversaturation_pixel_percent: 5.0,
            oversaturation_penalty_points: 0.5,
        }
    }
}

/// `normalization.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormalizationMethod {
    /// Raw metrics are scaled so the `percentile_target` percentile of the
    /// library maps to 10.
    #[default]
    Percentile,
}

/// `normalization`: how raw metrics are scaled to 0–10 scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Normalization {
    /// Normalization method (the reference has only `percentile`).
    pub method: NormalizationMethod,
    /// This percentile of a metric maps to a score of 10 (0 < p <= 100).
    pub percentile_target: f64,
    /// Normalize per category (for the metrics that benefit from it).
    pub per_category: bool,
    /// Minimum photos in a category for per-category normalization.
    pub category_min_samples: u64,
}

impl Default for Normalization {
    fn default() -> Self {
        Self {
            method: NormalizationMethod::Percentile,
            percentile_target: 90.0,
            per_category: true,
            category_min_samples: 50,
        }
    }
}

/// `monochrome_detection`: black & white detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonochromeDetection {
    /// Mean saturation below this percent makes a photo monochrome.
    pub saturation_threshold_percent: f64,
}

impl Default for MonochromeDetection {
    fn default() -> Self {
        Self {
            saturation_threshold_percent: 5.0,
        }
    }
}

/// `analysis`: thresholds for the scoring recommendations report
/// (`--compute-recommendations` in the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Analysis {
    /// Warn if the maximum aesthetic score is below this.
    pub aesthetic_max_threshold: f64,
    /// Target for the aesthetic scale.
    pub aesthetic_target: f64,
    /// "High value" quality threshold.
    pub quality_avg_threshold: f64,
    /// Warn if the quality weight is at most this percent.
    pub quality_weight_threshold_percent: f64,
    /// Correlation above which a metric is a "dominant signal".
    pub correlation_dominant_threshold: f64,
    /// Minimum photos per category for its statistics.
    pub category_min_samples: u64,
    /// Score gap between categories that warns of imbalance.
    pub category_imbalance_threshold: f64,
    /// Warn if the score standard deviation is below this.
    pub score_clustering_std_threshold: f64,
    /// Warn if the maximum aggregate score is below this.
    pub top_score_threshold: f64,
    /// Warn if the average exposure score is above this.
    pub exposure_avg_threshold: f64,
}

impl Default for Analysis {
    fn default() -> Self {
        Self {
            aesthetic_max_threshold: 9.0,
            aesthetic_target: 9.5,
            quality_avg_threshold: 7.5,
            quality_weight_threshold_percent: 10.0,
            correlation_dominant_threshold: 0.5,
            category_min_samples: 50,
            category_imbalance_threshold: 0.5,
            score_clustering_std_threshold: 1.0,
            top_score_threshold: 8.5,
            exposure_avg_threshold: 8.0,
        }
    }
}

/// `viewer`: the gallery's settings. Only `photo_types` (Top Picks and low
/// light) is typed here; every other key is kept as JSON in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Viewer {
    /// `viewer.photo_types`: Top Picks and low light.
    pub photo_types: PhotoTypes,
    /// The other viewer settings (`display`, `defaults`, `features`, …), as
    /// written.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `viewer.photo_types`: the Top Picks and low-light filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoTypes {
    /// Minimum Top Picks score for a photo to be a Top Pick.
    pub top_picks_min_score: f64,
    /// Facet: the smallest photo (in megapixels) that can be a Top Pick.
    pub top_picks_min_megapixels: f64,
    /// Facet: the library's best this-many percent (by Top Picks score, of
    /// the photos large enough) are Top Picks in the gallery too, so that a
    /// library whose scores stay under `top_picks_min_score` still has some.
    /// 0: only the reference's rule.
    pub top_picks_percent: f64,
    /// Face ratio (0–1) from which `face_quality_percent` counts in the Top
    /// Picks score; below it that weight goes to aesthetic and composition.
    pub top_picks_min_face_ratio: f64,
    /// The Top Picks score's weights.
    pub top_picks_weights: TopPicksWeights,
    /// Mean luminance (0–1) below which a photo is low light.
    pub low_light_max_luminance: f64,
}

impl Default for PhotoTypes {
    fn default() -> Self {
        Self {
            top_picks_min_score: 7.0,
            top_picks_min_megapixels: 1.0,
            top_picks_percent: 5.0,
            top_picks_min_face_ratio: 0.2,
            top_picks_weights: TopPicksWeights::default(),
            low_light_max_luminance: 0.2,
        }
    }
}

/// `viewer.photo_types.top_picks_weights`, in percent (sum 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopPicksWeights {
    /// Weight of the aggregate score.
    pub aggregate_percent: f64,
    /// Weight of the aesthetic score.
    pub aesthetic_percent: f64,
    /// Weight of the composition score.
    pub composition_percent: f64,
    /// Weight of face quality (only with a face ratio of at least
    /// `top_picks_min_face_ratio`).
    pub face_quality_percent: f64,
}

impl Default for TopPicksWeights {
    fn default() -> Self {
        Self {
            aggregate_percent: 30.0,
            aesthetic_percent: 28.0,
            composition_percent: 18.0,
            face_quality_percent: 24.0,
        }
    }
}

/// The reference's default `standalone_tags`: tags not tied to a category
/// (tag name -> synonyms), merged with the categories' tags into the full tag
/// vocabulary.
pub fn default_standalone_tags() -> BTreeMap<String, Vec<String>> {
    let tags: &[(&str, &[&str])] = &[
        (
            "bokeh",
            &[
                "bokeh",
                "shallow depth of field",
                "background blur",
                "out of focus",
            ],
        ),
        (
            "surreal",
            &[
                "surreal",
                "dreamlike",
                "fantasy",
                "composite",
                "double exposure",
            ],
        ),
        (
            "flat_lay",
            &[
                "flat lay",
                "overhead shot",
                "top down",
                "bird's eye product",
            ],
        ),
        (
            "golden_hour",
            &["golden hour", "magic hour", "warm light", "sunset light"],
        ),
        (
            "portrait_tag",
            &["portrait", "headshot", "face portrait", "close-up portrait"],
        ),
        (
            "wedding",
            &[
                "wedding",
                "bride",
                "groom",
                "ceremony",
                "wedding photography",
            ],
        ),
        (
            "product",
            &[
                "product",
                "product photography",
                "commercial",
                "studio product",
            ],
        ),
    ];
    tags.iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// `burst_detection`: photos shot in quick succession, grouped so that only
/// the best frame is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BurstDetection {
    /// pHash similarity (percent of the 64 bits equal) for two consecutive
    /// photos within `time_window_minutes` to join a burst.
    pub similarity_threshold_percent: f64,
    /// Maximum time between consecutive photos of a burst, in minutes.
    pub time_window_minutes: f64,
    /// Photos this close in time (seconds) join a burst whatever their hashes.
    pub rapid_burst_seconds: f64,
}

impl Default for BurstDetection {
    fn default() -> Self {
        Self {
            similarity_threshold_percent: 70.0,
            time_window_minutes: 0.8,
            rapid_burst_seconds: 0.4,
        }
    }
}

/// `burst_scoring`: how a burst's best frame (its lead) is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BurstScoring {
    /// Weight of the aggregate score.
    pub weight_aggregate: f64,
    /// Weight of the aesthetic score.
    pub weight_aesthetic: f64,
    /// Weight of sharpness (relative to the sharpest frame of the burst).
    pub weight_sharpness: f64,
    /// Weight of open eyes (10 without a blink, 0 with one).
    pub weight_blink: f64,
}

impl Default for BurstScoring {
    fn default() -> Self {
        Self {
            weight_aggregate: 0.4,
            weight_aesthetic: 0.25,
            weight_sharpness: 0.2,
            weight_blink: 0.15,
        }
    }
}

/// `duplicate_detection`: copies of the same photo across the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DuplicateDetection {
    /// pHash similarity (percent) from which two photos are duplicates:
    /// 90 % is a Hamming distance of at most 6 of 64 bits.
    pub similarity_threshold_percent: f64,
}

impl Default for DuplicateDetection {
    fn default() -> Self {
        Self {
            similarity_threshold_percent: 90.0,
        }
    }
}

/// `similarity_groups`: visually similar photos by embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimilarityGroups {
    /// Minimum cosine similarity (0–1) for two photos to be similar.
    pub default_threshold: f64,
    /// Minimum photos in a group.
    pub min_group_size: u64,
    /// Photos considered at most.
    pub max_photos: u64,
    /// Larger groups are split.
    pub max_group_size: u64,
}

impl Default for SimilarityGroups {
    fn default() -> Self {
        Self {
            default_threshold: 0.85,
            min_group_size: 2,
            max_photos: 10000,
            max_group_size: 50,
        }
    }
}

/// `face_detection`: which faces count, and when eyes are closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaceDetection {
    /// Minimum detection confidence (percent) for a face to count.
    pub min_confidence_percent: f64,
    /// Minimum face size in pixels (the shorter side of the box, in the
    /// original frame).
    pub min_face_size: u32,
    /// Eye Aspect Ratio below which an eye is closed (blink detection).
    pub blink_ear_threshold: f64,
    /// Minimum faces to classify as group portrait.
    pub min_faces_for_group: u32,
}

impl Default for FaceDetection {
    fn default() -> Self {
        Self {
            min_confidence_percent: 65.0,
            min_face_size: 20,
            blink_ear_threshold: 0.28,
            min_faces_for_group: 4,
        }
    }
}

/// `face_clustering.clustering_algorithm`: how HDBSCAN builds its minimum
/// spanning tree. Facet's HDBSCAN (petal-clustering) searches neighbours in
/// a ball tree; `*_kdtree` run as their ball-tree counterparts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusteringAlgorithm {
    /// Let HDBSCAN decide (Borůvka).
    #[default]
    Best,
    /// O(n log n), high-dimensional data (recommended).
    BoruvkaBalltree,
    /// O(n log n), low-dimensional data.
    BoruvkaKdtree,
    /// O(n²), memory-constrained, high-dimensional.
    PrimsBalltree,
    /// O(n²), memory-constrained, low-dimensional.
    PrimsKdtree,
}

impl ClusteringAlgorithm {
    /// Whether the minimum spanning tree is built with Borůvka (else Prim).
    pub fn boruvka(self) -> bool {
        !matches!(self, Self::PrimsBalltree | Self::PrimsKdtree)
    }
}

/// `face_clustering`: HDBSCAN over face embeddings, grouping faces into people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaceClustering {
    /// Enable face clustering.
    pub enabled: bool,
    /// Minimum photos per person (HDBSCAN's minimum cluster size).
    pub min_faces_per_person: usize,
    /// HDBSCAN min_samples parameter.
    pub min_samples: usize,
    /// Clusters whose centroids are within this cosine distance (percent)
    /// are merged into one person.
    pub auto_merge_distance_percent: f64,
    /// HDBSCAN algorithm.
    pub clustering_algorithm: ClusteringAlgorithm,
    /// Tree leaf size (CPU only). Kept for the reference's files; the ball
    /// tree chooses its own leaves.
    pub leaf_size: usize,
    /// GPU mode: auto, always, never. Facet clusters on the CPU.
    pub use_gpu: String,
    /// Centroid similarity (cosine, 0–1) for new faces to join an existing person.
    pub merge_threshold: f64,
    /// Faces clustered at once: larger sets are clustered in chunks whose
    /// clusters are then merged by centroid.
    pub chunk_size: usize,
}

impl Default for FaceClustering {
    fn default() -> Self {
        Self {
            enabled: true,
            min_faces_per_person: 2,
            min_samples: 2,
            auto_merge_distance_percent: 15.0,
            clustering_algorithm: ClusteringAlgorithm::Best,
            leaf_size: 40,
            use_gpu: "auto".into(),
            merge_threshold: 0.6,
            chunk_size: 10000,
        }
    }
}

/// `face_processing.auto_tuning`: memory-based tuning of face extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaceAutoTuning {
    /// Enable memory-based tuning.
    pub enabled: bool,
    /// Memory usage limit (percent).
    pub memory_limit_percent: f64,
    /// Minimum batch size.
    pub min_batch_size: usize,
    /// Seconds between memory samples.
    pub monitor_interval_seconds: f64,
}

impl Default for FaceAutoTuning {
    fn default() -> Self {
        Self {
            enabled: true,
            memory_limit_percent: 80.0,
            min_batch_size: 8,
            monitor_interval_seconds: 5.0,
        }
    }
}

/// `face_processing`: face crops and thumbnails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaceProcessing {
    /// Padding ratio for face crops (of the box's size, on each side).
    pub crop_padding: f64,
    /// Use stored thumbnails.
    pub use_db_thumbnails: bool,
    /// Face thumbnail size in pixels (longest side).
    pub face_thumbnail_size: u32,
    /// Face thumbnail JPEG quality.
    pub face_thumbnail_quality: u8,
    /// Parallel extraction workers.
    pub extract_workers: usize,
    /// Extraction batch size.
    pub extract_batch_size: usize,
    /// Thumbnail refill workers.
    pub refill_workers: usize,
    /// Refill batch size.
    pub refill_batch_size: usize,
    pub auto_tuning: FaceAutoTuning,
}

impl Default for FaceProcessing {
    fn default() -> Self {
        Self {
            crop_padding: 0.3,
            use_db_thumbnails: true,
            face_thumbnail_size: 640,
            face_thumbnail_quality: 90,
            extract_workers: 2,
            extract_batch_size: 16,
            refill_workers: 4,
            refill_batch_size: 100,
            auto_tuning: FaceAutoTuning::default(),
        }
    }
}

/// Hamming distance (of 64 bits) that a pHash similarity percentage allows:
/// `floor(64 · (100 − percent) / 100)` (90 % → 6).
pub fn hamming_radius(similarity_percent: f64) -> u32 {
    (64.0 * (100.0 - similarity_percent.clamp(0.0, 100.0)) / 100.0 + 1e-9).floor() as u32
}

/// `models.keep_in_ram`: whether a multi-pass run keeps a pass's models
/// between RAM chunks instead of loading them again for every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeepInRam {
    /// Keep them when the memory budget has room for them.
    #[default]
    Auto,
    /// Always keep them.
    Always,
    /// Unload them after every chunk.
    Never,
}

/// `models`: which AI models a VRAM profile uses and how they are kept. The
/// profiles themselves are the pipeline files `pipelines/legacy|8gb|16gb|24gb.yaml`;
/// `clip` and `clip_legacy` carry the zero-shot tagging threshold of each
/// embedding model; every other key is kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Models {
    /// Active profile (auto, legacy, 8gb, 16gb, 24gb): the pipeline `facet run
    /// --profile auto` picks.
    pub vram_profile: String,
    /// Keep models in RAM between multi-pass chunks ("auto", "always",
    /// "never"). auto checks available RAM before caching.
    pub keep_in_ram: KeepInRam,
    /// The embedding model of the 16gb/24gb profiles (SigLIP 2).
    pub clip: ClipModel,
    /// The embedding model of the legacy/8gb profiles (CLIP ViT-L-14).
    pub clip_legacy: ClipModel,
    /// The other keys of the reference (`profiles`, `qwen2_vl`, `samp_net`, …), as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Default for Models {
    fn default() -> Self {
        Self {
            vram_profile: "auto".into(),
            keep_in_ram: KeepInRam::Auto,
            clip: ClipModel {
                model_name: "ViT-SO400M-16-SigLIP2-384".into(),
                pretrained: Some("webli".into()),
                embedding_dim: 1152,
                similarity_threshold_percent: 18.0,
                backend: Some("transformers".into()),
            },
            clip_legacy: ClipModel {
                model_name: "ViT-L-14".into(),
                pretrained: Some("laion2b_s32b_b82k".into()),
                embedding_dim: 768,
                similarity_threshold_percent: 22.0,
                backend: None,
            },
            other: BTreeMap::new(),
        }
    }
}

/// `models.clip` / `models.clip_legacy`: an image–text embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipModel {
    /// The model's name (informational: the pipeline file names the ONNX files).
    pub model_name: String,
    /// Pretrained weights tag.
    pub pretrained: Option<String>,
    /// Embedding dimensions (1152 for SigLIP 2, 768 for ViT-L-14).
    pub embedding_dim: usize,
    /// Minimum cosine similarity (percent) between a photo and a tag's text
    /// for zero-shot tagging.
    pub similarity_threshold_percent: f64,
    /// Backend library of the Python system (informational).
    pub backend: Option<String>,
}

impl Default for ClipModel {
    fn default() -> Self {
        Models::default().clip
    }
}

/// Keys the reference documents under `models`.
pub const MODELS_KEYS: &[&str] = &[
    "vram_profile",
    "keep_in_ram",
    "profiles",
    "qwen2_vl",
    "qwen2_5_vl_7b",
    "qwen3_vl_2b",
    "qwen3_5_2b",
    "qwen3_5_4b",
    "clip",
    "clip_legacy",
    "florence_2_large",
    "supplementary_pyiqa",
    "saliency",
    "samp_net",
];

/// `tagging`: zero-shot or classifier tags per photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tagging {
    /// Enable tagging.
    pub enabled: bool,
    /// Maximum tags per photo.
    pub max_tags: usize,
}

impl Default for Tagging {
    fn default() -> Self {
        Self {
            enabled: true,
            max_tags: 5,
        }
    }
}

/// `translation`: caption translation (MarianMT, the `translate` stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Translation {
    /// Target language code of translated captions (the reference supports
    /// fr, de, es, it: Helsinki-NLP opus-mt-en-<code>). A `translate` stage
    /// writes `caption_<code>` unless its `into:` says otherwise.
    pub target_language: String,
}

impl Default for Translation {
    fn default() -> Self {
        Self {
            target_language: "fr".into(),
        }
    }
}

/// A gallery user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Views their own and the shared photos; rates and favourites.
    #[default]
    User,
    /// A user who also manages persons and faces.
    Admin,
    /// An admin who also triggers scans.
    Superadmin,
}

/// One user of the multi-user (family NAS) mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// PBKDF2-HMAC-SHA256 hash, `salt_hex:dk_hex` (written by `facet user add`).
    pub password_hash: String,
    /// Shown in the UI header.
    #[serde(default)]
    pub display_name: String,
    /// user, admin or superadmin.
    #[serde(default)]
    pub role: Role,
    /// Private photo directories of this user.
    #[serde(default)]
    pub directories: Vec<String>,
}

/// `users`: the multi-user mode, on when at least one user is present. As in
/// the reference, user objects and the `shared_directories` list are
/// siblings: `{"alice": {...}, "bob": {...}, "shared_directories": [...]}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Users {
    pub users: BTreeMap<String, User>,
    /// Directories visible to every user.
    pub shared_directories: Vec<String>,
}

impl Users {
    /// Multi-user mode is on.
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

impl Serialize for Users {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.users.len() + 1))?;
        for (name, u) in &self.users {
            m.serialize_entry(name, u)?;
        }
        if !self.shared_directories.is_empty() {
            m.serialize_entry("shared_directories", &self.shared_directories)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut users = Users::default();
        for (key, value) in raw {
            if key == "shared_directories" {
                users.shared_directories = serde_json::from_value(value)
                    .map_err(|e| D::Error::custom(format!("shared_directories: {e}")))?;
            } else {
                let u: User = serde_json::from_value(value)
                    .map_err(|e| D::Error::custom(format!("{key}: {e}")))?;
                users.users.insert(key, u);
            }
        }
        Ok(users)
    }
}
