//! The stage traits. Stage authors implement the typed [`StageKind`]; the
//! registry holds them as the object-safe [`DynStageKind`] (as Arroyo does).
//!
//! A stage consumes a [`RecordBatch`] and returns it with its own columns added.
//! A photo the stage cannot handle is reported with [`StageCx::fail`] (its
//! columns are null in that row) and the runtime moves the row to the
//! `failures` table: a bad photo never stops a run.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Field;
use facet_config::FacetConfig;
use serde::de::DeserializeOwned;

use crate::{Budget, Diagnostic, StageError};

/// What a stage reads, writes and needs. Pure: computed from the config alone.
#[derive(Debug, Clone, Default)]
pub struct StagePlan {
    /// Columns read, with the type expected.
    pub reads: Vec<Field>,
    /// Columns added. Names starting with `_` are working columns (the decoded
    /// image, say) that flow between stages but are never stored.
    pub writes: Vec<Field>,
    /// For stages that read the working image: the longest side they want, so
    /// that `decode` produces an image no larger than the largest request.
    pub image_side: Option<u32>,
    /// Peak memory per photo in flight through this stage (bytes).
    pub bytes_per_photo: u64,
    /// A source produces the photos (scan); every other stage transforms batches.
    pub source: bool,
    /// Model files the stage loads: `facet check` warns of missing ones,
    /// `facet models` lists and fetches them, `facet run` refuses to start
    /// without them.
    pub models: Vec<ModelFile>,
    /// The stage runs models on ONNX Runtime, which `facet run` loads
    /// (and checks) before the first photo.
    pub onnx_runtime: bool,
}

/// A model file a stage loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFile {
    /// Where the stage's config names it, relative to the stage (`with.model`).
    pub field: String,
    /// The file, resolved against the pipeline's `models_dir`.
    pub path: PathBuf,
    /// Where `facet models fetch` downloads it from.
    pub url: Option<String>,
    /// Expected SHA-256 (hex) of the file.
    pub sha256: Option<String>,
    /// The recipe of `tools/export` that `facet models export` runs to
    /// produce it from the published PyTorch weights (`with.export`).
    pub export: Option<String>,
}

/// What `plan` sees besides the stage's own config.
pub struct PlanCx<'a> {
    pub config: &'a FacetConfig,
    /// Relative model paths are resolved against this folder (the pipeline's
    /// `models_dir`, relative to the pipeline file); `None`: the working directory.
    pub models_dir: Option<&'a std::path::Path>,
    /// The pipeline file's folder: small files that ship with a pipeline
    /// (label lists, tag mappings) are resolved against it.
    pub pipeline_dir: Option<&'a std::path::Path>,
}

impl PlanCx<'_> {
    /// A file that ships with the pipeline (labels, mappings), resolved.
    pub fn asset_path(&self, path: &str) -> PathBuf {
        let p = std::path::Path::new(path);
        match self.pipeline_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// A model path as a pipeline writes it, resolved.
    pub fn model_path(&self, path: &str) -> PathBuf {
        let p = std::path::Path::new(path);
        match self.models_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

/// What `build` sees: one call per dataflow worker.
#[derive(Clone)]
pub struct BuildCx {
    pub config: Arc<FacetConfig>,
    pub store_dir: PathBuf,
    /// For `decode`: the longest side any later stage asks for.
    pub image_side: Option<u32>,
    pub budget: Budget,
    pub worker: usize,
    /// The pipeline's models folder (see [`PlanCx::models_dir`]).
    pub models_dir: Option<PathBuf>,
    /// The pipeline file's folder (see [`PlanCx::pipeline_dir`]).
    pub pipeline_dir: Option<PathBuf>,
    /// Images per GPU inference call, moved by the auto-tuner while the run
    /// goes (`processing.gpu_batch_size` at the start).
    pub gpu_batch: Arc<std::sync::atomic::AtomicUsize>,
}

impl BuildCx {
    /// The plan-time context of the same pipeline (to resolve model and asset paths).
    pub fn plan_cx(&self) -> PlanCx<'_> {
        PlanCx {
            config: &self.config,
            models_dir: self.models_dir.as_deref(),
            pipeline_dir: self.pipeline_dir.as_deref(),
        }
    }
}

/// What the runtime tells a stage while it builds it, beside [`BuildCx`]:
/// the run's number of dataflow workers and the stage's declared `batch:`.
/// Model stages share one session per model among the workers (gathering
/// their rows into inferences of at most `batch` rows) and divide the cores
/// among the workers. Outside a run's build both are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildHints {
    pub workers: Option<usize>,
    pub batch: Option<usize>,
}

thread_local! {
    static HINTS: std::cell::Cell<BuildHints> = const {
        std::cell::Cell::new(BuildHints { workers: None, batch: None })
    };
}

/// The hints of the build going on on this thread (see [`BuildHints`]).
pub fn build_hints() -> BuildHints {
    HINTS.with(|h| h.get())
}

/// Runs `f` (a stage's build) with `hints` visible to [`build_hints`].
pub fn with_build_hints<R>(hints: BuildHints, f: impl FnOnce() -> R) -> R {
    let before = HINTS.with(|h| h.replace(hints));
    let out = f();
    HINTS.with(|h| h.set(before));
    out
}

/// A stage kind, as its author writes it.
pub trait StageKind: Send + Sync + 'static {
    /// The name pipelines use (`uses: decode`).
    const NAME: &'static str;
    /// One line for `facet stages`.
    const DOC: &'static str;
    /// The `with:` parameters: `deny_unknown_fields`, every field documented.
    type Config: DeserializeOwned + Send + Sync + 'static;

    /// Pure: columns read and written, memory per photo. Opens no file.
    fn plan(&self, cfg: &Self::Config, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>>;

    /// Instantiates the stage for one worker.
    fn build(&self, cfg: &Self::Config, cx: &BuildCx) -> Result<Built, StageError>;
}

/// A built stage: a source of photos or a batch transform.
pub enum Built {
    Source(Box<dyn Source>),
    Transform(Box<dyn Stage>),
}

/// A batch transform.
pub trait Stage: Send {
    /// Returns `batch` with this stage's columns added, row for row.
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError>;

    /// Called once when the worker has no more input.
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

/// A file found by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// A problem met while scanning (unreadable folder, symlink loop): reported, never fatal.
#[derive(Debug, Clone)]
pub struct ScanIssue {
    pub path: PathBuf,
    pub reason: String,
}

/// One item a source yields.
#[derive(Debug, Clone)]
pub enum Found {
    File(FileEntry),
    Issue(ScanIssue),
}

/// A source of photos.
pub trait Source: Send {
    fn scan<'a>(&'a mut self, roots: &'a [PathBuf]) -> Box<dyn Iterator<Item = Found> + 'a>;
}

/// A photo that a stage rejected.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub path: String,
    pub file_size: i64,
    pub file_mtime_ns: i64,
    pub stage: String,
    pub reason: String,
}

/// Per-call context of [`Stage::process`].
#[derive(Debug, Default)]
pub struct StageCx {
    failed: Vec<(usize, String)>,
}

impl StageCx {
    /// Marks row `row` of the batch as failed; the stage leaves its columns null there.
    pub fn fail(&mut self, row: usize, reason: impl Into<String>) {
        self.failed.push((row, reason.into()));
    }

    pub fn take_failed(&mut self) -> Vec<(usize, String)> {
        std::mem::take(&mut self.failed)
    }
}

/// The object-safe face of a stage kind, held by the registry.
pub trait DynStageKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn doc(&self) -> &'static str;
    /// Parses and checks `with:`; diagnostics are relative to `with`.
    fn configure(
        &self,
        with: &serde_yaml::Value,
        cx: &PlanCx,
    ) -> Result<Arc<dyn Configured>, Vec<Diagnostic>>;
}

/// A stage kind with its parsed config.
pub trait Configured: Send + Sync {
    fn plan(&self) -> &StagePlan;
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError>;
}

struct ConfiguredKind<K: StageKind> {
    kind: Arc<K>,
    cfg: K::Config,
    plan: StagePlan,
}

impl<K: StageKind> Configured for ConfiguredKind<K> {
    fn plan(&self) -> &StagePlan {
        &self.plan
    }
    fn build(&self, cx: &BuildCx) -> Result<Built, StageError> {
        self.kind.build(&self.cfg, cx)
    }
}

/// Wraps a typed kind for the registry.
pub fn register<K: StageKind>(kind: K) -> Box<dyn DynStageKind> {
    Box::new(Registered(Arc::new(kind)))
}

struct Registered<K: StageKind>(Arc<K>);

impl<K: StageKind> DynStageKind for Registered<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn doc(&self) -> &'static str {
        K::DOC
    }
    fn configure(
        &self,
        with: &serde_yaml::Value,
        cx: &PlanCx,
    ) -> Result<Arc<dyn Configured>, Vec<Diagnostic>> {
        let with = match with {
            serde_yaml::Value::Null => serde_yaml::Value::Mapping(Default::default()),
            other => other.clone(),
        };
        let cfg: K::Config = serde_path_to_error::deserialize(with).map_err(|e| {
            let path = e.path().to_string();
            vec![Diagnostic::new(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )]
        })?;
        let plan = self.0.plan(&cfg, cx)?;
        Ok(Arc::new(ConfiguredKind {
            kind: self.0.clone(),
            cfg,
            plan,
        }))
    }
}
