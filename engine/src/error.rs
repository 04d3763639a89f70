//! Errors grouped by whose fault they are.

use std::path::PathBuf;

use crate::Diagnostic;

/// An error a stage reports for a whole batch (a single bad photo is a
/// [`crate::Failure`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage's configuration cannot work (a missing model file, say).
    #[error("configuration: {0}")]
    Config(String),
    /// A resource is missing or exhausted (a runtime library, memory).
    #[error("resources: {0}")]
    Resource(String),
    /// A bug in Facet.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

/// Top-level engine errors.
#[derive(Debug, thiserror::Error)]
pub enum FacetError {
    /// The user's pipeline file: every problem at once.
    #[error("{file}: {} problem(s):\n{}", .diagnostics.len(), .diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Pipeline {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// An input the user gave (a folder that does not exist, say).
    #[error("input: {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("stage `{stage}`: {source}")]
    Stage { stage: String, source: StageError },
    #[error("resources: {0}")]
    Resource(String),
    /// A cluster run lost one of its processes (or the network between them).
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("internal error (please report): {0}")]
    Internal(String),
}
