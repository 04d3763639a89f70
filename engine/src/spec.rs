//! The pipeline file: a version, where the store lives, resource budgets and a
//! map of named stages. Stage parameters sit under `with:`, so each stage kind's
//! config is a struct with `deny_unknown_fields`.
//!
//! ```yaml
//! version: 1
//! store: ./facet-data
//! budget: { ram: 6GiB, vram: 14GiB }
//! stages:
//!   scan:   { uses: scan }
//!   decode: { uses: decode, after: [scan], with: { max_side: 2048 } }
//! ```

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

/// The current pipeline file version.
pub const VERSION: u32 = 1;

/// The top level of a pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// File format version; must be 1.
    pub version: u32,
    /// Store directory (relative to the working directory). Default `./facet-data`.
    #[serde(default)]
    pub store: Option<String>,
    /// Folder that relative model paths are resolved against, relative to
    /// the pipeline file. Default: the pipeline file's folder.
    #[serde(default)]
    pub models_dir: Option<String>,
    /// Resource budgets for the run.
    #[serde(default)]
    pub budget: BudgetSpec,
    /// Named stages; validated one by one, so that every problem is reported.
    pub stages: IndexMap<String, serde_yaml::Value>,
}

/// `budget:` — RAM and VRAM the run may use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// RAM for photos in flight (e.g. `6GiB`). Default: `processing.auto_tuning.memory_limit_percent` of available memory.
    #[serde(default, deserialize_with = "size")]
    pub ram: Option<u64>,
    /// VRAM for model sessions (e.g. `14GiB`). Default: what the GPU reports free, or none.
    #[serde(default, deserialize_with = "size")]
    pub vram: Option<u64>,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// The stage kind (see `facet stages`).
    pub uses: String,
    /// Stages whose columns this one reads.
    #[serde(default)]
    pub after: Vec<String>,
    /// The stage kind's parameters.
    #[serde(default)]
    pub with: serde_yaml::Value,
    /// Photos per batch through this stage (upper bound; the scheduler may pick fewer).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Declared resource needs of one instance of this stage.
    #[serde(default)]
    pub needs: Needs,
    /// One of several alternatives a configuration setting chooses between
    /// (`{ setting: quality.model, value: topiq }`): the stage runs only when
    /// the setting has this value, or when it is `auto` and this is the first
    /// alternative in the file.
    #[serde(default)]
    pub choice: Option<Choice>,
}

/// `choice:` of a stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// A dotted path into the configuration (`quality.model`).
    pub setting: String,
    /// The setting's value that selects this stage.
    pub value: String,
}

/// `needs:` of a stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Needs {
    #[serde(default, deserialize_with = "size")]
    pub ram: Option<u64>,
    #[serde(default, deserialize_with = "size")]
    pub vram: Option<u64>,
}

/// A byte size: a number of bytes or a string such as `512MiB`, `6GiB`, `2 GB`.
fn size<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(de)? {
        None => Ok(None),
        Some(Raw::Bytes(b)) => Ok(Some(b)),
        Some(Raw::Text(t)) => parse_size(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Parses `6GiB`, `512 MiB`, `2GB`, `1024`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("`{text}` is not a size (examples: 512MiB, 6GiB)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("6GiB").unwrap(), 6 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert!(parse_size("lots").is_err());
    }
}
