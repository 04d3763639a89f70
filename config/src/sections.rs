//! The typed sections. Defaults are the reference's; every field is documented
//! with the reference's description.

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
        "performance" => &[
            "mmap_size_mb",
            "cache_size_mb",
            "pool_size",
            "thumbnail_cache_size",
            "face_cache_size",
        ],
        _ => &[],
    }
}

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
