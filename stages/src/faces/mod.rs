//! `faces`: finds the faces of a photo and describes them, on ONNX Runtime:
//!
//! 1. **Detection** with an anchor-based SSD detector (MediaPipe BlazeFace,
//!    [`detection`]) on the whole frame and on overlapping tiles (small faces
//!    of group photos reach the detector large enough), non-maximum
//!    suppression — or with the MTCNN cascade ([`mtcnn`], `decoder: mtcnn`:
//!    P-Net over an image pyramid down from `min_face_size`, R-Net, O-Net) —
//!    then `face_detection.min_confidence_percent` and `min_face_size`
//!    (pixels of the original frame).
//! 2. **Landmarks** (optional): the 468-point face mesh on an upright crop
//!    (rotated by the detector's eye keypoints) → eye aspect ratios, blink
//!    (below `face_detection.blink_ear_threshold`, judged only when the head
//!    is turned less than `max_head_turn`), eyes open 0–10 ([`landmarks`]).
//! 3. **Embedding** (optional): a recognition model on the aligned crop,
//!    L2-normalised, for `facet faces cluster`.
//! 4. **Measures**: face sharpness (Laplacian variance of the face box), eye
//!    sharpness (around each eye, relative to the face), a JPEG thumbnail
//!    (`face_processing`).
//!
//! Per photo it writes `face_count`, `face_ratio`, `is_group_portrait`,
//! `face_quality`, `eye_sharpness`, `face_sharpness`, `isolation_ratio`,
//! `is_blink`, `eyes_open`, and the nested `faces` column that the run's
//! writer stores as the `faces` table (one row per face, coordinates in the
//! original frame).
//!
//! ```yaml
//! faces:
//!   uses: faces
//!   after: [decode]
//!   with:
//!     detector:  { model: blazeface_full_range.onnx, size: 192, strides: [4], anchors_per_layer: 1 }
//!     landmarks: { model: face_landmark_468.onnx }
//!     embedding: { model: faceres_1024.onnx, input: "input_1:0", output: "global_pooling/Mean", size: 224, layout: nhwc, range: unit }
//! ```
//!
//! The MTCNN cascade instead (`model` is P-Net; `size`, `strides`,
//! `anchors_per_layer` and `tiles` do not apply):
//!
//! ```yaml
//!     detector:
//!       decoder: mtcnn
//!       model: mtcnn_pnet.onnx
//!       rnet: { model: mtcnn_rnet.onnx }
//!       onet: { model: mtcnn_onet.onnx }
//!       thresholds: [0.6, 0.7, 0.7]
//! ```

pub mod crop;
pub mod detection;
pub mod landmarks;
mod measure;
pub mod mtcnn;
pub mod people;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int32Builder};
use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch};
use facet_engine::stage::ModelFile;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use serde::Deserialize;

use crate::onnx::preprocess::{Channels, Layout, Preprocess, Range, Resize};
use crate::onnx::shared::{self, Client};
use crate::onnx::{Provider, intra_threads};
use crate::working::{self, Images, RgbRef, photos_field};
use crop::Region;
use detection::{Decoder, Detection};
pub use measure::{Face, PhotoFaces};

fn default_detector_size() -> u32 {
    128
}
fn default_strides() -> Vec<u32> {
    vec![8, 16, 16, 16]
}
fn default_per_layer() -> usize {
    2
}
fn default_tiles() -> Vec<u32> {
    vec![1, 2, 3]
}
fn default_overlap() -> f32 {
    0.3
}
fn default_nms_iou() -> f32 {
    0.3
}
fn default_landmark_size() -> u32 {
    192
}
fn default_eye_size() -> u32 {
    64
}
fn default_embedding_size() -> u32 {
    224
}
fn default_side() -> u32 {
    2048
}
fn default_head_turn() -> f32 {
    0.5
}
fn default_thresholds() -> [f32; 3] {
    [0.6, 0.7, 0.7]
}
fn default_scale_factor() -> f32 {
    0.709
}

/// A further model of the detector (MTCNN's R-Net and O-Net).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// The `.onnx` file (relative: to the pipeline's `models_dir`).
    pub model: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// `with.detector`: the face detector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// The `.onnx` file (relative: to the pipeline's `models_dir`).
    pub model: String,
    /// Where `facet models fetch` downloads it from.
    #[serde(default)]
    pub url: Option<String>,
    /// Expected SHA-256 (hex).
    #[serde(default)]
    pub sha256: Option<String>,
    /// How the outputs are read: blazeface (default); scrfd (InsightFace
    /// SCRFD, e.g. `size: 640, strides: [8, 16, 32], anchors_per_layer: 2`);
    /// or mtcnn (then `model` is P-Net, and `rnet` and `onet` name the other
    /// two nets).
    #[serde(default)]
    pub decoder: Decoder,
    /// MTCNN's R-Net (24×24 crops).
    #[serde(default)]
    pub rnet: Option<NetConfig>,
    /// MTCNN's O-Net (48×48 crops; boxes, five landmarks).
    #[serde(default)]
    pub onet: Option<NetConfig>,
    /// MTCNN: face probability P-Net, R-Net and O-Net candidates must reach
    /// (default `[0.6, 0.7, 0.7]`; `face_detection.min_confidence_percent`
    /// applies to O-Net's too).
    #[serde(default = "default_thresholds")]
    pub thresholds: [f32; 3],
    /// MTCNN: the image pyramid's step (default 0.709).
    #[serde(default = "default_scale_factor")]
    pub scale_factor: f32,
    /// Square input side in pixels (BlazeFace short range 128, full range 192).
    #[serde(default = "default_detector_size")]
    pub size: u32,
    /// Anchor layer strides (short range `[8, 16, 16, 16]`, full range `[4]`).
    #[serde(default = "default_strides")]
    pub strides: Vec<u32>,
    /// Anchors per cell and layer (short range 2, full range 1).
    #[serde(default = "default_per_layer")]
    pub anchors_per_layer: usize,
    /// Passes over the frame: `n` looks at it in n×n overlapping square
    /// tiles (1: the whole frame). Default `[1, 2, 3]`.
    #[serde(default = "default_tiles")]
    pub tiles: Vec<u32>,
    /// Tile overlap, a fraction of the tile side (default 0.3).
    #[serde(default = "default_overlap")]
    pub tile_overlap: f32,
    /// Non-maximum suppression: boxes overlapping a better one by more than
    /// this IoU are the same face (default 0.3).
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
}

/// `with.landmarks`: a 468-point face mesh model (MediaPipe's `face_landmark`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandmarksConfig {
    pub model: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Square input side (192); values 0–1, NCHW.
    #[serde(default = "default_landmark_size")]
    pub size: u32,
}

/// `with.eyes`: an eye contour model on each eye (MediaPipe's
/// `iris_landmark`: 71 eye and brow points), which follows the lids more
/// closely than the face mesh; its eye aspect ratios replace the mesh's.
/// Needs `landmarks` (the eyes are found from the mesh).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EyesConfig {
    pub model: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Square input side (64); values 0–1, NCHW.
    #[serde(default = "default_eye_size")]
    pub size: u32,
}

/// `with.embedding`: a face recognition model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    pub model: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Input tensor name (default: the model's only input).
    #[serde(default)]
    pub input: Option<String>,
    /// The output tensor holding the embedding.
    pub output: String,
    /// Square input side in pixels (default 224).
    #[serde(default = "default_embedding_size")]
    pub size: u32,
    /// nchw or nhwc (default nchw).
    #[serde(default)]
    pub layout: Layout,
    /// unit (0–1), byte (0–255), symmetric (−1–1).
    #[serde(default)]
    pub range: Range,
}

/// `with:` of a `faces` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacesConfig {
    pub detector: DetectorConfig,
    #[serde(default)]
    pub landmarks: Option<LandmarksConfig>,
    #[serde(default)]
    pub eyes: Option<EyesConfig>,
    #[serde(default)]
    pub embedding: Option<EmbeddingConfig>,
    /// Longest side of the working image the stage asks `decode` for
    /// (default 2048): small faces need the detail.
    #[serde(default = "default_side")]
    pub side: u32,
    /// Heads turned more than this (0 frontal – 1 profile) get no blink
    /// verdict (default 0.5).
    #[serde(default = "default_head_turn")]
    pub max_head_turn: f32,
    /// cpu (default), cuda, auto.
    #[serde(default)]
    pub provider: Provider,
    /// ONNX Runtime intra-op threads (default: the cores divided among the workers).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl FacesConfig {
    fn problems(&self) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        let det = &self.detector;
        if !(16..=1024).contains(&det.size) {
            d.push(Diagnostic::new("detector.size", "must be 16–1024"));
        }
        if det.strides.is_empty() || det.strides.iter().any(|&s| s == 0 || s > det.size) {
            d.push(Diagnostic::new(
                "detector.strides",
                "one stride or more, each 1–size",
            ));
        }
        if det.anchors_per_layer == 0 {
            d.push(Diagnostic::new(
                "detector.anchors_per_layer",
                "must be at least 1",
            ));
        }
        if det.tiles.is_empty() || det.tiles.iter().any(|&n| n == 0 || n > 8) {
            d.push(Diagnostic::new(
                "detector.tiles",
                "one grid or more, each 1–8",
            ));
        }
        if !(0.0..0.9).contains(&det.tile_overlap) {
            d.push(Diagnostic::new(
                "detector.tile_overlap",
                "must be in [0, 0.9)",
            ));
        }
        if !(0.0..=1.0).contains(&det.nms_iou) {
            d.push(Diagnostic::new("detector.nms_iou", "must be in [0, 1]"));
        }
        match det.decoder {
            Decoder::Mtcnn => {
                for (field, net) in [("detector.rnet", &det.rnet), ("detector.onet", &det.onet)] {
                    if net.is_none() {
                        d.push(Diagnostic::new(field, "the mtcnn decoder needs it"));
                    }
                }
                if det.thresholds.iter().any(|t| !(0.0..1.0).contains(t)) {
                    d.push(Diagnostic::new(
                        "detector.thresholds",
                        "three probabilities, each in [0, 1)",
                    ));
                }
                if !(0.1..=0.95).contains(&det.scale_factor) {
                    d.push(Diagnostic::new(
                        "detector.scale_factor",
                        "must be in [0.1, 0.95]",
                    ));
                }
            }
            Decoder::Blazeface | Decoder::Scrfd => {
                for (field, net) in [("detector.rnet", &det.rnet), ("detector.onet", &det.onet)] {
                    if net.is_some() {
                        d.push(Diagnostic::new(field, "only the mtcnn decoder uses it"));
                    }
                }
            }
        }
        if !(64..=8192).contains(&self.side) {
            d.push(Diagnostic::new("side", "must be 64–8192"));
        }
        if !(0.0..=1.0).contains(&self.max_head_turn) {
            d.push(Diagnostic::new("max_head_turn", "must be in [0, 1]"));
        }
        if self.threads == Some(0) {
            d.push(Diagnostic::new("threads", "must be at least 1"));
        }
        if self.eyes.is_some() && self.landmarks.is_none() {
            d.push(Diagnostic::new(
                "eyes",
                "needs `landmarks` (the eyes are found from the mesh)",
            ));
        }
        for (field, size) in [
            ("landmarks.size", self.landmarks.as_ref().map(|l| l.size)),
            ("eyes.size", self.eyes.as_ref().map(|l| l.size)),
            ("embedding.size", self.embedding.as_ref().map(|e| e.size)),
        ] {
            if size.is_some_and(|s| !(16..=1024).contains(&s)) {
                d.push(Diagnostic::new(field, "must be 16–1024"));
            }
        }
        d
    }

    fn models(&self, cx: &PlanCx) -> Vec<ModelFile> {
        let file =
            |field: &str, model: &str, url: &Option<String>, sha: &Option<String>| ModelFile {
                field: format!("with.{field}.model"),
                path: cx.model_path(model),
                url: url.clone(),
                sha256: sha.clone(),
                export: None,
            };
        let d = &self.detector;
        let mut out = vec![file("detector", &d.model, &d.url, &d.sha256)];
        for (field, net) in [("detector.rnet", &d.rnet), ("detector.onet", &d.onet)] {
            if let Some(n) = net {
                out.push(file(field, &n.model, &n.url, &n.sha256));
            }
        }
        if let Some(l) = &self.landmarks {
            out.push(file("landmarks", &l.model, &l.url, &l.sha256));
        }
        if let Some(e) = &self.eyes {
            out.push(file("eyes", &e.model, &e.url, &e.sha256));
        }
        if let Some(e) = &self.embedding {
            out.push(file("embedding", &e.model, &e.url, &e.sha256));
        }
        out
    }
}

/// Photo columns the stage writes (besides the nested `faces`).
pub const PHOTO_COLUMNS: [&str; 9] = [
    "face_count",
    "face_ratio",
    "is_group_portrait",
    "face_quality",
    "eye_sharpness",
    "face_sharpness",
    "isolation_ratio",
    "is_blink",
    "eyes_open",
];

/// The `faces` stage kind.
pub struct Faces;

impl StageKind for Faces {
    const NAME: &'static str = "faces";
    const DOC: &'static str = "Face detection (BlazeFace tiled with NMS, or the MTCNN cascade), face mesh (blink, eyes open), embedding, face sharpness and thumbnails: per-photo face metrics and the `faces` table.";
    type Config = FacesConfig;

    fn plan(&self, cfg: &FacesConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut reads = working::fields();
        reads.extend(["width", "height"].map(photos_field));
        let mut writes: Vec<_> = PHOTO_COLUMNS.map(photos_field).to_vec();
        writes.push(
            facet_schemas::child_table("faces")
                .expect("declared")
                .field(),
        );
        Ok(StagePlan {
            reads,
            writes,
            image_side: Some(cfg.side),
            // Tiles, crops and a grey copy of the frame.
            bytes_per_photo: (cfg.side as u64).pow(2) + (4 << 20),
            models: cfg.models(cx),
            onnx_runtime: true,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &FacesConfig, cx: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Transform(Box::new(self.build_stage(cfg, cx)?)))
    }
}

impl Faces {
    /// The stage itself (what `build` boxes).
    pub(crate) fn build_stage(
        &self,
        cfg: &FacesConfig,
        cx: &BuildCx,
    ) -> Result<FaceStage, StageError> {
        let plan_cx = PlanCx {
            config: &cx.config,
            models_dir: cx.models_dir.as_deref(),
            pipeline_dir: cx.pipeline_dir.as_deref(),
        };
        let models = cfg.models(&plan_cx);
        for m in &models {
            if !m.path.is_file() {
                return Err(StageError::Config(format!(
                    "{}: file not found: {}",
                    m.field,
                    m.path.display()
                )));
            }
        }
        // Each model's session is the process's, shared with the other
        // workers (see `onnx::shared`).
        let threads = intra_threads(cfg.threads, cx);
        let open = |p: &PathBuf| shared::shared(p, cfg.provider, threads);
        let mut paths = models.iter().map(|m| m.path.clone());
        let detector = match cfg.detector.decoder {
            Decoder::Blazeface | Decoder::Scrfd => Detector::Anchors {
                model: Box::new(Model::new(
                    open(&paths.next().expect("detector"))?,
                    "with.detector",
                    None,
                    square(cfg.detector.size, Layout::Nchw, Range::Symmetric),
                )?),
                anchors: detection::anchors(
                    cfg.detector.size,
                    &cfg.detector.strides,
                    cfg.detector.anchors_per_layer,
                ),
            },
            Decoder::Mtcnn => {
                let mut net = |field: &str| -> Result<mtcnn::Net, StageError> {
                    let path = paths.next().expect("the cascade's nets");
                    mtcnn::Net::new(open(&path)?, field).map_err(StageError::Config)
                };
                let pnet = net("with.detector.model")?;
                let rnet = net("with.detector.rnet.model")?;
                let onet = net("with.detector.onet.model")?;
                Detector::Mtcnn(Box::new(mtcnn::Cascade::new(
                    pnet,
                    rnet,
                    onet,
                    cfg.detector.thresholds,
                    cfg.detector.scale_factor,
                )))
            }
        };
        let landmarks = match &cfg.landmarks {
            Some(l) => Some(Model::new(
                open(&paths.next().expect("landmarks"))?,
                "with.landmarks",
                None,
                square(l.size, Layout::Nchw, Range::Unit),
            )?),
            None => None,
        };
        let eyes = match &cfg.eyes {
            Some(e) => Some(Model::new(
                open(&paths.next().expect("eyes"))?,
                "with.eyes",
                None,
                square(e.size, Layout::Nchw, Range::Unit),
            )?),
            None => None,
        };
        let embedding = match &cfg.embedding {
            Some(e) => {
                let m = Model::new(
                    open(&paths.next().expect("embedding"))?,
                    "with.embedding",
                    e.input.as_deref(),
                    square(e.size, e.layout, e.range),
                )?;
                if !m.outputs.contains(&e.output) {
                    return Err(StageError::Config(format!(
                        "with.embedding.output: the model has no output `{}` (it has: {})",
                        e.output,
                        m.outputs.join(", ")
                    )));
                }
                Some((m, e.output.clone()))
            }
            None => None,
        };
        let fd = &cx.config.face_detection;
        let fp = &cx.config.face_processing;
        Ok(FaceStage {
            detector,
            det: cfg.detector.clone(),
            landmarks,
            eyes,
            embedding,
            settings: measure::Settings {
                min_confidence: (fd.min_confidence_percent / 100.0) as f32,
                min_face_size: fd.min_face_size as f32,
                blink_ear: fd.blink_ear_threshold as f32,
                min_faces_for_group: fd.min_faces_for_group as usize,
                max_head_turn: cfg.max_head_turn,
                crop_padding: fp.crop_padding as f32,
                thumbnail_size: fp.face_thumbnail_size,
                thumbnail_quality: fp.face_thumbnail_quality,
            },
        })
    }
}

fn square(size: u32, layout: Layout, range: Range) -> Preprocess {
    Preprocess {
        width: size,
        height: size,
        resize: Resize::Squash,
        crop_fraction: 1.0,
        pad: [0; 3],
        layout,
        channels: Channels::Rgb,
        range,
        mean: [0.0; 3],
        std: [1.0; 3],
    }
}

/// Every output of a model run: name and values per crop.
type Outputs = Vec<(String, Vec<Vec<f32>>)>;
/// Every output of a run on one crop: name and values.
type CropOutputs = Vec<(String, Vec<f32>)>;

/// A model (its shared session) with its input and how images become its input.
pub(crate) struct Model {
    client: Client,
    /// The most crops one inference gathers (across workers): the model's
    /// fixed batch, else the stage's `batch:`, else what is waiting.
    cap: usize,
    input: String,
    outputs: Vec<String>,
    pre: Preprocess,
    resizer: fr::Resizer,
}

impl Model {
    fn new(
        client: Client,
        field: &str,
        input: Option<&str>,
        pre: Preprocess,
    ) -> Result<Model, StageError> {
        let names: Vec<String> = client
            .info()
            .inputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let input = match input {
            Some(n) if names.iter().any(|i| i == n) => n.to_string(),
            Some(n) => {
                return Err(StageError::Config(format!(
                    "{field}.input: the model has no input `{n}` (it has: {})",
                    names.join(", ")
                )));
            }
            None if names.len() == 1 => names[0].clone(),
            None => {
                return Err(StageError::Config(format!(
                    "{field}.input: the model has {} inputs ({}); name the image input",
                    names.len(),
                    names.join(", ")
                )));
            }
        };
        let outputs = client.info().outputs.clone();
        let cap = client
            .info()
            .fixed_batch(&input)
            .or(facet_engine::stage::build_hints().batch)
            .unwrap_or(usize::MAX);
        Ok(Model {
            client,
            cap,
            input,
            outputs,
            pre,
            resizer: fr::Resizer::new(),
        })
    }

    /// Runs the model on square RGB8 crops of its input size; every output's
    /// values, per crop.
    fn run(&mut self, crops: &[Vec<u8>]) -> Result<Outputs, String> {
        let n = crops.len();
        let len = self.pre.len();
        let mut data = vec![0.0f32; n * len];
        for (i, c) in crops.iter().enumerate() {
            let img = RgbRef {
                width: self.pre.width,
                height: self.pre.height,
                pixels: c,
            };
            self.pre
                .write(&mut self.resizer, img, &mut data[i * len..(i + 1) * len])?;
        }
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        let shape = match self.pre.layout {
            Layout::Nchw => vec![n, 3, h, w],
            Layout::Nhwc => vec![n, h, w, 3],
        };
        let out = self.client.run(&self.input, shape, data, self.cap, false)?;
        let mut result = Vec::new();
        for name in &self.outputs {
            let Some((_, _, values)) = out.iter().find(|(o, _, _)| o == name) else {
                continue;
            };
            let per = values.len() / n.max(1);
            result.push((
                name.clone(),
                values
                    .chunks(per.max(1))
                    .take(n)
                    .map(<[f32]>::to_vec)
                    .collect(),
            ));
        }
        Ok(result)
    }

    /// [`Model::run`] one crop at a time (models with a fixed batch of 1).
    fn run_each(&mut self, crops: &[Vec<u8>]) -> Result<Vec<CropOutputs>, String> {
        crops
            .iter()
            .map(|c| {
                Ok(self
                    .run(std::slice::from_ref(c))?
                    .into_iter()
                    .map(|(n, mut v)| (n, v.pop().unwrap_or_default()))
                    .collect())
            })
            .collect()
    }
}

/// The face detector, by decoder.
enum Detector {
    /// BlazeFace or SCRFD on square tiles.
    Anchors {
        model: Box<Model>,
        anchors: Vec<[f32; 2]>,
    },
    Mtcnn(Box<mtcnn::Cascade>),
}

pub(crate) struct FaceStage {
    detector: Detector,
    det: DetectorConfig,
    landmarks: Option<Model>,
    eyes: Option<Model>,
    embedding: Option<(Model, String)>,
    settings: measure::Settings,
}

impl FaceStage {
    /// The faces of one working image, boxes in its pixels. `scale`:
    /// original pixels per working pixel.
    pub(crate) fn detect(&mut self, img: RgbRef<'_>, scale: f32) -> Result<Vec<Detection>, String> {
        let (detector, anchors) = match &mut self.detector {
            Detector::Mtcnn(cascade) => {
                let min_face = self.settings.min_face_size / scale.max(1e-6);
                return cascade
                    .detect(img, min_face.max(12.0))
                    .map_err(|e| format!("with.detector (mtcnn): {e}"));
            }
            Detector::Anchors { model, anchors } => (model, &*anchors),
        };
        let is_scrfd = self.det.decoder == Decoder::Scrfd;
        let size = self.det.size;
        let mut found = Vec::new();
        let tiles = detection::tiles(
            img.width,
            img.height,
            &self.det.tiles,
            self.det.tile_overlap,
        );
        for t in tiles {
            let region = Region {
                cx: t.x + t.side / 2.0,
                cy: t.y + t.side / 2.0,
                side: t.side,
                angle: 0.0,
            };
            let crop = region.sample(img, size, [0; 3]);
            let out = detector.run(std::slice::from_ref(&crop))?;
            let scale = t.side / size as f32;
            if is_scrfd {
                let dets = scrfd(&self.det, self.settings.min_confidence, &out)?;
                found.extend(dets.into_iter().map(|d| d.mapped(t.x, t.y, scale)));
                continue;
            }
            let pick = |per: usize| {
                out.iter()
                    .find(|(_, v)| v[0].len() == anchors.len() * per)
                    .map(|(_, v)| v[0].as_slice())
            };
            let (Some(reg), Some(logits)) = (pick(16), pick(1)) else {
                return Err(format!(
                    "with.detector: the model's outputs ({}) are not {} anchors × 16 regressors and × 1 scores: check size, strides and anchors_per_layer",
                    out.iter()
                        .map(|(n, v)| format!("{n}: {}", v[0].len()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    anchors.len()
                ));
            };
            found.extend(
                detection::decode_blazeface(
                    reg,
                    logits,
                    anchors,
                    size as f32,
                    self.settings.min_confidence,
                )
                .into_iter()
                .map(|d| d.mapped(t.x, t.y, scale)),
            );
        }
        Ok(detection::nms(found, self.det.nms_iou, 0.6))
    }

    /// Everything about the faces of one photo. `scale`: original pixels per
    /// working-image pixel.
    pub(crate) fn analyse(&mut self, img: RgbRef<'_>, scale: f32) -> Result<PhotoFaces, String> {
        let s = self.settings.clone();
        let s = &s;
        let mut dets: Vec<Detection> = self
            .detect(img, scale)?
            .into_iter()
            .filter(|d| d.score >= s.min_confidence && d.w.min(d.h) * scale >= s.min_face_size)
            .collect();
        dets.sort_by(|a, b| (a.x + a.w / 2.0).total_cmp(&(b.x + b.w / 2.0)));
        let mut faces: Vec<Face> = dets
            .iter()
            .enumerate()
            .map(|(i, d)| Face::from_detection(i, d, scale))
            .collect();
        if let Some(lm) = self.landmarks.as_mut() {
            let size = lm.pre.width;
            let regions: Vec<Region> = dets.iter().map(measure::mesh_region).collect();
            let crops: Vec<Vec<u8>> = regions
                .iter()
                .map(|r| r.sample(img, size, [0; 3]))
                .collect();
            let outs = lm.run_each(&crops)?;
            for ((face, region), out) in faces.iter_mut().zip(&regions).zip(outs) {
                let Some((_, mesh)) = out.iter().find(|(_, v)| v.len() == landmarks::POINTS * 3)
                else {
                    return Err(format!(
                        "with.landmarks: no output of {} values (468 points × xyz)",
                        landmarks::POINTS * 3
                    ));
                };
                face.set_mesh(mesh, region, size, scale, s);
            }
        }
        if let Some(model) = self.eyes.as_mut() {
            let size = model.pre.width;
            for face in faces.iter_mut().filter(|f| !f.mesh.is_empty()) {
                let regions = measure::eye_regions(face, scale);
                let crops: Vec<Vec<u8>> = regions
                    .iter()
                    .map(|(r, flip)| {
                        let c = r.sample(img, size, [0; 3]);
                        if *flip { measure::mirror(&c, size) } else { c }
                    })
                    .collect();
                let outs = model.run_each(&crops)?;
                let mut ears = Vec::new();
                for out in outs {
                    let Some((_, pts)) = out
                        .iter()
                        .find(|(_, v)| v.len() == landmarks::CONTOUR_POINTS * 3)
                    else {
                        return Err(format!(
                            "with.eyes: no output of {} values (71 points × xyz)",
                            landmarks::CONTOUR_POINTS * 3
                        ));
                    };
                    let pts: Vec<[f32; 2]> = pts.chunks_exact(3).map(|p| [p[0], p[1]]).collect();
                    ears.push(landmarks::eye_aspect_ratio(&pts, &landmarks::CONTOUR_EYE));
                }
                face.set_ears(ears[0], ears[1], s);
            }
        }
        if let Some((model, output)) = self.embedding.as_mut() {
            let size = model.pre.width;
            let crops: Vec<Vec<u8>> = faces
                .iter()
                .zip(&dets)
                .map(|(f, d)| f.embedding_region(d, scale).sample(img, size, [0; 3]))
                .collect();
            if !crops.is_empty() {
                let out = model.run(&crops)?;
                let (_, vectors) = out
                    .into_iter()
                    .find(|(n, _)| n == output)
                    .ok_or_else(|| format!("with.embedding.output: no output `{output}`"))?;
                for (face, mut v) in faces.iter_mut().zip(vectors) {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    if norm > 0.0 {
                        v.iter_mut().for_each(|x| *x /= norm);
                    }
                    face.embedding = v;
                }
            }
        }
        Ok(measure::measure(img, faces, &dets, scale, s))
    }
}

/// SCRFD's outputs for one tile decoded: every stride's scores, then
/// boxes, then (optionally) keypoints, in the model's output order.
fn scrfd(det: &DetectorConfig, min_score: f32, out: &Outputs) -> Result<Vec<Detection>, String> {
    let (size, strides, per) = (det.size, &det.strides, det.anchors_per_layer);
    let n = strides.len();
    let anchors = |s: u32| (size.div_ceil(s) as usize).pow(2) * per;
    let len = |i: usize| out.get(i).map_or(0, |(_, v)| v[0].len());
    let fits = |first: usize, width: usize| {
        strides
            .iter()
            .enumerate()
            .all(|(k, &s)| len(first + k) == anchors(s) * width)
    };
    let keypoints = out.len() >= 3 * n && fits(2 * n, 10);
    if !(fits(0, 1) && fits(n, 4)) {
        return Err(format!(
            "with.detector: the model's outputs ({}) are not SCRFD's scores, boxes and keypoints per stride {strides:?} with {per} anchors per cell of a {size}-pixel input",
            out.iter()
                .map(|(name, v)| format!("{name}: {}", v[0].len()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let levels: Vec<detection::ScrfdLevel<'_>> = strides
        .iter()
        .enumerate()
        .map(|(k, &stride)| detection::ScrfdLevel {
            stride,
            scores: &out[k].1[0],
            boxes: &out[n + k].1[0],
            keypoints: if keypoints { &out[2 * n + k].1[0] } else { &[] },
        })
        .collect();
    Ok(detection::decode_scrfd(&levels, size, per, min_score))
}

impl Stage for FaceStage {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let width: Option<&Int32Array> = batch
            .column_by_name("width")
            .and_then(|c| c.as_any().downcast_ref());
        let mut results: Vec<Option<PhotoFaces>> = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let Some(img) = images.get(row) else {
                results.push(None);
                continue;
            };
            // Original pixels per working pixel (1 without the original's width).
            let scale = width
                .filter(|w| !w.is_null(row) && img.width > 0)
                .map_or(1.0, |w| w.value(row) as f32 / img.width as f32);
            match self.analyse(img, scale) {
                Ok(p) => results.push(Some(p)),
                Err(e) => {
                    cx.fail(row, format!("faces: {e}"));
                    results.push(None);
                }
            }
        }
        let (fields, columns) = columns(&results).map_err(StageError::Internal)?;
        working::with_columns(batch, fields, columns)
    }
}

/// The photo columns and the nested `faces` column of a batch's results.
pub fn columns(
    results: &[Option<PhotoFaces>],
) -> Result<(Vec<arrow_schema::Field>, Vec<ArrayRef>), String> {
    let mut count = Int32Builder::new();
    let mut group = BooleanBuilder::new();
    let mut blink = BooleanBuilder::new();
    let mut floats: Vec<Float64Builder> = (0..6).map(|_| Float64Builder::new()).collect();
    for r in results {
        match r {
            Some(p) => {
                count.append_value(p.faces.len() as i32);
                group.append_value(p.is_group_portrait);
                blink.append_option(p.is_blink);
                for (b, v) in floats.iter_mut().zip([
                    Some(p.face_ratio),
                    p.face_quality,
                    p.eye_sharpness,
                    p.face_sharpness,
                    p.isolation_ratio,
                    p.eyes_open,
                ]) {
                    b.append_option(v);
                }
            }
            None => {
                count.append_null();
                group.append_null();
                blink.append_null();
                floats.iter_mut().for_each(|b| b.append_null());
            }
        }
    }
    let mut f = floats
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut next = || f.next().expect("six");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(count.finish()),
        next(),
        Arc::new(group.finish()),
        next(),
        next(),
        next(),
        next(),
        Arc::new(blink.finish()),
        next(),
    ];
    let mut fields: Vec<_> = PHOTO_COLUMNS.map(photos_field).to_vec();
    let child = facet_schemas::child_table("faces").expect("declared");
    let lengths: Vec<Option<usize>> = results
        .iter()
        .map(|r| r.as_ref().map(|p| p.faces.len()))
        .collect();
    let all: Vec<&Face> = results.iter().flatten().flat_map(|p| &p.faces).collect();
    let items = measure::face_columns(&child.item_fields, &all)?;
    let nested = facet_engine::batch::nest(&child, items, &lengths).map_err(|e| e.to_string())?;
    let mut columns = columns;
    fields.push(child.field());
    columns.push(nested);
    Ok((fields, columns))
}
