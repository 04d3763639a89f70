//! `onnx`: runs any ONNX model on the working image and stores its outputs —
//! configured entirely in the pipeline file, so that adding or swapping a
//! model is a YAML edit:
//!
//! ```yaml
//! classify:
//!   uses: onnx
//!   after: [decode]
//!   with:
//!     model: mobilenet_v2_imagenet.onnx    # relative to the pipeline's models_dir
//!     # (labels and mapping files: relative to the pipeline file)
//!     size: [224, 224]                     # width, height
//!     resize: crop                         # squash | crop | letterbox
//!     crop_fraction: 0.875
//!     range: unit                          # unit (0–1) | byte (0–255) | symmetric (−1–1)
//!     mean: [0.485, 0.456, 0.406]
//!     std: [0.229, 0.224, 0.225]
//!     outputs:
//!       feat:   { column: embedding, as: vector, dim: 1280 }
//!       logits: { column: tags, as: tags, activation: softmax, labels: imagenet_labels.txt, mapping: imagenet_tags.yaml }
//! ```
//!
//! The model's input (the only one, or `input:`) is checked against `size`
//! and `layout` when the stage starts, and every output's length against the
//! pipeline (`dim`, the labels file) on the first batch. Models with a fixed
//! batch dimension run in chunks of that size. ONNX Runtime is loaded at run
//! time (see [`runtime`]).

pub mod outputs;
pub mod preprocess;
pub mod runtime;
pub mod shared;
pub mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use facet_engine::stage::ModelFile;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use ort::session::Session;
use serde::Deserialize;

use crate::working::{self, Images};
use outputs::{Output, OutputSpec};
use preprocess::{Channels, Layout, Preprocess, Range, Resize};

/// Where inference runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// CUDA, or fail when it is unavailable.
    Cuda,
    /// CUDA when available, else CPU.
    Auto,
}

fn one() -> f64 {
    1.0
}

fn unit_std() -> [f32; 3] {
    [1.0; 3]
}

/// `with:` of an `onnx` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxConfig {
    /// The `.onnx` file; a relative path is resolved against the pipeline's `models_dir`.
    pub model: String,
    /// Where `facet models fetch` downloads the model from.
    #[serde(default)]
    pub url: Option<String>,
    /// Expected SHA-256 of the model file (hex).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The `tools/export` recipe that `facet models export` runs to produce
    /// the model from its published PyTorch weights.
    #[serde(default)]
    pub export: Option<String>,
    /// Input tensor name (default: the model's only input).
    #[serde(default)]
    pub input: Option<String>,
    /// Input width and height in pixels.
    pub size: [u32; 2],
    /// squash (default), crop, letterbox.
    #[serde(default)]
    pub resize: Resize,
    /// For `crop`: the fraction of the largest centred region kept (default 1).
    #[serde(default = "one")]
    pub crop_fraction: f64,
    /// For `letterbox`: the padding colour (default black).
    #[serde(default)]
    pub pad: [u8; 3],
    /// nchw (default) or nhwc.
    #[serde(default)]
    pub layout: Layout,
    /// rgb (default) or bgr.
    #[serde(default)]
    pub channels: Channels,
    /// unit (0–1, default), byte (0–255), symmetric (−1–1).
    #[serde(default)]
    pub range: Range,
    /// Subtracted per channel after `range` (default 0).
    #[serde(default)]
    pub mean: [f32; 3],
    /// Divides per channel after `mean` (default 1).
    #[serde(default = "unit_std")]
    pub std: [f32; 3],
    /// Images per inference call (default: the whole batch, or the model's
    /// fixed batch size).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// cpu (default), cuda, auto.
    #[serde(default)]
    pub provider: Provider,
    /// ONNX Runtime intra-op threads of the model's one session (default:
    /// the cores divided among the workers, see [`intra_threads`]).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Output tensor name → what it becomes (see [`OutputSpec`]).
    pub outputs: BTreeMap<String, OutputSpec>,
}

impl OnnxConfig {
    fn preprocess(&self) -> Preprocess {
        Preprocess {
            width: self.size[0],
            height: self.size[1],
            resize: self.resize,
            crop_fraction: self.crop_fraction,
            pad: self.pad,
            layout: self.layout,
            channels: self.channels,
            range: self.range,
            mean: self.mean,
            std: self.std,
        }
    }

    fn problems(&self) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        if self.size[0] == 0 || self.size[1] == 0 || self.size[0] > 4096 || self.size[1] > 4096 {
            d.push(Diagnostic::new("size", "width and height must be 1–4096"));
        }
        if !(self.crop_fraction > 0.0 && self.crop_fraction <= 1.0) {
            d.push(Diagnostic::new("crop_fraction", "must be in (0, 1]"));
        }
        if self.std.contains(&0.0) {
            d.push(Diagnostic::new(
                "std",
                "a standard deviation of 0 divides by zero",
            ));
        }
        if self.batch_size == Some(0) {
            d.push(Diagnostic::new("batch_size", "must be at least 1"));
        }
        if self.threads == Some(0) {
            d.push(Diagnostic::new("threads", "must be at least 1"));
        }
        if let Some(h) = &self.sha256
            && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
        {
            d.push(Diagnostic::new("sha256", "must be 64 hex digits"));
        }
        if self.outputs.is_empty() {
            d.push(Diagnostic::new(
                "outputs",
                "map at least one output tensor to a column",
            ));
        }
        let mut columns = BTreeMap::new();
        for (tensor, o) in &self.outputs {
            for (field, msg) in o.problems() {
                d.push(Diagnostic::new(format!("outputs.{tensor}.{field}"), msg));
            }
            if let Some(other) = columns.insert(o.column.clone(), tensor) {
                d.push(Diagnostic::new(
                    format!("outputs.{tensor}.column"),
                    format!("column `{}` is also written by output `{other}`", o.column),
                ));
            }
        }
        d
    }
}

/// The `onnx` stage kind.
pub struct Onnx;

impl StageKind for Onnx {
    const NAME: &'static str = "onnx";
    const DOC: &'static str = "Any ONNX model on the working image: preprocessing and output columns (scalar, vector, label, tags, distribution mean) configured in YAML.";
    type Config = OnnxConfig;

    fn plan(&self, cfg: &OnnxConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut models = vec![ModelFile {
            field: "with.model".into(),
            path: cx.model_path(&cfg.model),
            url: cfg.url.clone(),
            sha256: cfg.sha256.clone(),
            export: cfg.export.clone(),
        }];
        for (tensor, o) in &cfg.outputs {
            for (field, file) in [("labels", &o.labels), ("mapping", &o.mapping)] {
                if let Some(f) = file {
                    models.push(ModelFile {
                        field: format!("with.outputs.{tensor}.{field}"),
                        path: cx.asset_path(f),
                        ..Default::default()
                    });
                }
            }
        }
        let pre = cfg.preprocess();
        Ok(StagePlan {
            reads: working::fields(),
            writes: cfg.outputs.values().map(OutputSpec::field).collect(),
            // Decode twice the input size: enough detail for any resize mode.
            image_side: Some(2 * cfg.size[0].max(cfg.size[1])),
            bytes_per_photo: (pre.len() * 4) as u64 + (256 << 10),
            models,
            onnx_runtime: true,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &OnnxConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let plan_cx = cx.plan_cx();
        let plan = self.plan(cfg, &plan_cx).map_err(|d| {
            StageError::Config(
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        for m in &plan.models {
            if !m.path.is_file() {
                return Err(StageError::Config(format!(
                    "{}: file not found: {}",
                    m.field,
                    m.path.display()
                )));
            }
        }
        let threads = intra_threads(cfg.threads, cx);
        let client = shared::shared(&plan.models[0].path, cfg.provider, threads)?;
        let (input, fixed_batch) = check_input(client.info(), cfg)?;
        let available: Vec<String> = client.info().outputs.clone();
        let mut outputs = Vec::new();
        for (tensor, spec) in &cfg.outputs {
            if !available.contains(tensor) {
                return Err(StageError::Config(format!(
                    "with.outputs.{tensor}: {} has no output `{tensor}` (it has: {})",
                    plan.models[0].path.display(),
                    available.join(", ")
                )));
            }
            let path = |f: &Option<String>| f.as_ref().map(|f| plan_cx.asset_path(f));
            outputs.push(
                Output::load(
                    tensor,
                    spec.clone(),
                    path(&spec.labels).as_deref(),
                    path(&spec.mapping).as_deref(),
                )
                .map_err(StageError::Config)?,
            );
        }
        Ok(Built::Transform(Box::new(Runner {
            client,
            declared_batch: facet_engine::stage::build_hints().batch,
            input,
            fixed_batch,
            batch_size: cfg.batch_size,
            pre: cfg.preprocess(),
            outputs,
            resizer: fr::Resizer::new(),
            checked: false,
            model: plan.models[0].path.clone(),
            // On a GPU, the auto-tuner moves the batch unless the pipeline fixes it.
            tuned_batch: (cfg.provider != Provider::Cpu).then(|| cx.gpu_batch.clone()),
        })))
    }
}

/// ONNX Runtime intra-op threads of a model session: `threads:` when the
/// stage sets it, else the cores divided among the run's workers (at least
/// one). A model has one session per process that runs one inference at a
/// time (gathering the workers' rows), so the threads do not grow with the
/// workers. Model stages on parallel branches of the pipeline (after
/// `decode`, say) run at once, each on its own thread (see the engine's
/// `operators`): their sessions then share the cores with each other and
/// with the workers decoding the next batches — idle ONNX Runtime threads
/// do not spin, so the cores go to whichever has work.
pub fn intra_threads(threads: Option<usize>, cx: &BuildCx) -> usize {
    threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores
            / facet_engine::stage::build_hints()
                .workers
                .unwrap_or(cx.config.processing.num_workers)
                .max(1))
        .max(1)
    })
}

/// Opens a model on the configured provider.
pub fn open_session(
    path: &std::path::Path,
    provider: Provider,
    threads: usize,
) -> Result<Session, StageError> {
    let env = runtime::environment().map_err(StageError::Resource)?;
    let err = |e: String| StageError::Config(format!("{}: {e}", path.display()));
    let mut builder = Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_intra_threads(threads)
        .map_err(|e| err(e.to_string()))?
        // Idle ORT threads must not spin: decode and the other stages share the cores.
        .with_intra_op_spinning(false)
        .map_err(|e| err(e.to_string()))?;
    match provider {
        Provider::Cpu => {}
        Provider::Cuda => {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| {
                    StageError::Resource(format!(
                        "CUDA is not available to ONNX Runtime ({e}); install the onnxruntime-gpu build or use `provider: cpu`"
                    ))
                })?
        }
        Provider::Auto => {
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build()])
                .map_err(|e| err(e.to_string()))?
        }
    }
    builder
        .commit_from_file(path)
        .map_err(|e| err(e.to_string()))
}

/// The input's name and fixed batch size (if any), after checking the model's
/// input shape against `size` and `layout`.
fn check_input(
    info: &shared::ModelInfo,
    cfg: &OnnxConfig,
) -> Result<(String, Option<usize>), StageError> {
    let inputs = &info.inputs;
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let (name, dims) = match &cfg.input {
        Some(n) => inputs.iter().find(|(i, _)| i == n).ok_or_else(|| {
            StageError::Config(format!(
                "with.input: the model has no input `{n}` (it has: {})",
                names.join(", ")
            ))
        })?,
        None if inputs.len() == 1 => &inputs[0],
        None => {
            return Err(StageError::Config(format!(
                "with.input: the model has {} inputs ({}); name the image input",
                inputs.len(),
                names.join(", ")
            )));
        }
    };
    if dims.is_empty() {
        return Err(StageError::Config(format!(
            "input `{name}` is not a tensor"
        )));
    }
    let (w, h) = (cfg.size[0] as i64, cfg.size[1] as i64);
    let want = match cfg.layout {
        Layout::Nchw => [3, h, w],
        Layout::Nhwc => [h, w, 3],
    };
    let fits = dims.len() == 4 && dims[1..].iter().zip(want).all(|(&d, w)| d < 0 || d == w);
    if !fits {
        return Err(StageError::Config(format!(
            "input `{}` has shape {dims:?} (−1: any), but the pipeline feeds [N, {}] ({:?} layout, size {w}×{h}): check `size` and `layout`",
            name,
            want.map(|d| d.to_string()).join(", "),
            cfg.layout
        )));
    }
    Ok((name.clone(), (dims[0] > 0).then_some(dims[0] as usize)))
}

struct Runner {
    /// The process's session of the model, shared with the other workers.
    client: shared::Client,
    /// The stage's `batch:`: the most rows one inference gathers.
    declared_batch: Option<usize>,
    input: String,
    fixed_batch: Option<usize>,
    batch_size: Option<usize>,
    pre: Preprocess,
    outputs: Vec<Output>,
    resizer: fr::Resizer,
    checked: bool,
    model: PathBuf,
    tuned_batch: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
}

impl Runner {
    /// Runs one chunk of prepared images on the shared session, gathered
    /// with other workers' rows into inferences of at most `cap` rows; per
    /// output, each image's values.
    fn infer(
        &mut self,
        data: Vec<f32>,
        n: usize,
        cap: usize,
    ) -> Result<Vec<Vec<Vec<f32>>>, String> {
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        let shape = match self.pre.layout {
            Layout::Nchw => vec![n, 3, h, w],
            Layout::Nhwc => vec![n, h, w, 3],
        };
        let out = self.client.run(&self.input, shape, data, cap, false)?;
        let mut per_output = Vec::with_capacity(self.outputs.len());
        for o in &self.outputs {
            let (_, _, values) = out
                .iter()
                .find(|(name, _, _)| *name == o.tensor)
                .ok_or_else(|| format!("output `{}`: not an f32 tensor", o.tensor))?;
            let per = values.len() / n.max(1);
            if !self.checked {
                o.check_len(per)
                    .map_err(|e| format!("{}: {e}", self.model.display()))?;
            }
            per_output.push(
                values
                    .chunks(per.max(1))
                    .take(n)
                    .map(<[f32]>::to_vec)
                    .collect(),
            );
        }
        self.checked = true;
        Ok(per_output)
    }
}

impl Stage for Runner {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let n = batch.num_rows();
        // Per output, per row: the values (None: no image, or it failed here).
        let mut results: Vec<Vec<Option<Vec<f32>>>> = vec![vec![None; n]; self.outputs.len()];
        let rows: Vec<usize> = (0..n).filter(|&r| images.get(r).is_some()).collect();
        let tuned = self
            .tuned_batch
            .as_ref()
            .map(|b| b.load(std::sync::atomic::Ordering::Relaxed));
        // Rows per inference: the model's fixed batch, else `batch_size`,
        // else the tuned GPU batch, never above the stage's `batch:`.
        let cap = self
            .fixed_batch
            .or(self.batch_size)
            .or(tuned)
            .map(|c| self.declared_batch.map_or(c, |d| c.min(d)))
            .or(self.declared_batch)
            .unwrap_or(usize::MAX)
            .max(1);
        let chunk = cap.min(rows.len()).max(1);
        for part in rows.chunks(chunk) {
            let mut data = vec![0.0f32; part.len() * self.pre.len()];
            let mut ok = Vec::with_capacity(part.len());
            for &r in part {
                let at = ok.len() * self.pre.len();
                let img = images.get(r).expect("filtered");
                match self
                    .pre
                    .write(&mut self.resizer, img, &mut data[at..at + self.pre.len()])
                {
                    Ok(()) => ok.push(r),
                    Err(e) => cx.fail(r, format!("preparing the model input: {e}")),
                }
            }
            data.truncate(ok.len() * self.pre.len());
            if ok.is_empty() {
                continue;
            }
            match self.infer(data, ok.len(), cap) {
                Ok(per_output) => {
                    for (o, values) in per_output.into_iter().enumerate() {
                        for (&r, v) in ok.iter().zip(values) {
                            results[o][r] = Some(v);
                        }
                    }
                }
                // A wrong pipeline (lengths that do not match the model) stops the run.
                Err(e) if !self.checked => return Err(StageError::Config(e)),
                Err(e) => {
                    for &r in &ok {
                        cx.fail(r, e.clone());
                    }
                }
            }
        }
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for (o, rows) in self.outputs.iter().zip(results) {
            let mut b = o.builder();
            for v in &rows {
                o.push(&mut b, v.as_deref());
            }
            let f = o.spec.field();
            columns.push(b.finish(&f));
            fields.push(f);
        }
        working::with_columns(batch, fields, columns)
    }
}
