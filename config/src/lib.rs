//! `scoring_config.json`: Facet's settings, with the structure, keys and defaults
//! of the configuration reference. A YAML file of the same shape is accepted too.
//!
//! Unknown keys are warnings naming the nearest known key; a wrong type or an
//! out-of-range value is an error naming its JSON path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod sections;
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
];

/// The effective configuration, defaults filled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FacetConfig {
    pub scanning: Scanning,
    pub processing: Processing,
    pub storage: Storage,
    pub performance: Performance,
    /// Sections read by features that type them themselves.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
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
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
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
        let mut track = |p: serde_ignored::Path| ignored.push(p.to_string());
        let de = serde_ignored::Deserializer::new(&value, &mut track);
        let config: FacetConfig =
            serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Invalid {
                file: file.into(),
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        for key in config.other.keys() {
            if !KNOWN_SECTIONS.contains(&key.as_str()) {
                warnings.push(unknown_key(key, key, KNOWN_SECTIONS));
            }
        }
        for path in ignored {
            let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", &path));
            let known = sections::known_keys(parent);
            warnings.push(unknown_key(&path, leaf, known));
        }
        config
            .validate()
            .map_err(|(path, message)| ConfigError::Invalid {
                file: file.into(),
                path,
                message,
            })?;
        Ok(Loaded { config, warnings })
    }

    /// Range checks that types alone cannot express; the first problem wins.
    fn validate(&self) -> Result<(), (String, String)> {
        let p = &self.processing;
        let t = &p.thumbnails;
        check_range(
            "processing.thumbnails.photo_quality",
            t.photo_quality as f64,
            1.0,
            100.0,
        )?;
        check_range(
            "processing.thumbnails.photo_size",
            t.photo_size as f64,
            16.0,
            8192.0,
        )?;
        check_range("processing.num_workers", p.num_workers as f64, 1.0, 1024.0)?;
        let a = &p.auto_tuning;
        check_range(
            "processing.auto_tuning.memory_limit_percent",
            a.memory_limit_percent,
            1.0,
            100.0,
        )?;
        check_range(
            "processing.auto_tuning.cpu_target_percent",
            a.cpu_target_percent,
            1.0,
            100.0,
        )?;
        if a.min_processing_workers > a.max_processing_workers {
            return Err((
                "processing.auto_tuning.min_processing_workers".into(),
                format!(
                    "{} is above max_processing_workers {}",
                    a.min_processing_workers, a.max_processing_workers
                ),
            ));
        }
        if a.min_ram_chunk_size > a.max_ram_chunk_size {
            return Err((
                "processing.auto_tuning.min_ram_chunk_size".into(),
                format!(
                    "{} is above max_ram_chunk_size {}",
                    a.min_ram_chunk_size, a.max_ram_chunk_size
                ),
            ));
        }
        Ok(())
    }
}

fn check_range(path: &str, v: f64, lo: f64, hi: f64) -> Result<(), (String, String)> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err((path.into(), format!("{v} is out of range {lo}..={hi}")))
    }
}

fn unknown_key(path: &str, leaf: &str, known: &[&str]) -> String {
    let nearest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(leaf, k), *k))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((_, k)) => format!("{path}: unknown key (did you mean `{k}`?)"),
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
    fn yaml_is_accepted() {
        let c = FacetConfig::parse("storage:\n  mode: filesystem\n", "c.yaml", true)
            .unwrap()
            .config;
        assert_eq!(c.storage.mode, StorageMode::Filesystem);
    }
}
