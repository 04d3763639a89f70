//! `brisque`: no-reference image quality on the CPU, with no neural network —
//! OpenCV's BRISQUE (an ε-SVR over 36 natural-scene statistics, trained on
//! LIVE; see [`algorithm`]). Writes `brisque` (about 0 = pristine … 100 =
//! heavily distorted) and, with `into:`, a 0–10 score `10 − brisque / 10`
//! into that column (`aesthetic` makes it the quality input of the score when
//! no learned model runs).
//!
//! ```yaml
//! quality:
//!   uses: brisque
//!   after: [decode]
//!   with: { model: brisque_model_live.yml, range: brisque_range_live.yml, into: aesthetic }
//! ```
//!
//! BRISQUE's statistics depend on the scale, so the working image is measured
//! at `side` pixels on its longest side (default 1024), as `technical` does.

pub mod algorithm;

use arrow_array::RecordBatch;
use arrow_array::builder::Float64Builder;
use arrow_schema::{DataType, Field};
use facet_engine::stage::ModelFile;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use serde::Deserialize;

use crate::decode::resize;
use crate::working::{self, Images, Rgb, photos_field};
pub use algorithm::Brisque;

fn default_side() -> u32 {
    1024
}

/// `with:` of a `brisque` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrisqueConfig {
    /// The SVR model (OpenCV FileStorage YAML, `brisque_model_live.yml`),
    /// relative to the pipeline's `models_dir`.
    pub model: String,
    /// The feature ranges (`brisque_range_live.yml`), relative to `models_dir`.
    pub range: String,
    /// Longest side the image is measured at (default 1024).
    #[serde(default = "default_side")]
    pub side: u32,
    /// Also write `10 − brisque / 10` (clamped to 0–10) into this column.
    #[serde(default)]
    pub into: Option<String>,
}

/// The `brisque` stage kind.
pub struct BrisqueStage;

impl StageKind for BrisqueStage {
    const NAME: &'static str = "brisque";
    const DOC: &'static str = "BRISQUE no-reference quality on the CPU (OpenCV's LIVE model); optionally as a 0-10 score.";
    type Config = BrisqueConfig;

    fn plan(&self, cfg: &BrisqueConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let mut d = Vec::new();
        if !(64..=8192).contains(&cfg.side) {
            d.push(Diagnostic::new(
                "side",
                format!("{} is out of range 64..=8192", cfg.side),
            ));
        }
        if cfg.into.as_deref() == Some("brisque") {
            d.push(Diagnostic::new(
                "into",
                "`brisque` is the raw column; choose another",
            ));
        }
        if !d.is_empty() {
            return Err(d);
        }
        let mut writes = vec![photos_field("brisque")];
        if let Some(c) = &cfg.into {
            writes.push(Field::new(c, DataType::Float64, true));
        }
        let file = |field: &str, p: &str| ModelFile {
            field: format!("with.{field}"),
            path: cx.model_path(p),
            ..Default::default()
        };
        Ok(StagePlan {
            reads: working::fields(),
            writes,
            image_side: Some(cfg.side),
            bytes_per_photo: (cfg.side as u64 * cfg.side as u64) * 16,
            models: vec![file("model", &cfg.model), file("range", &cfg.range)],
            ..Default::default()
        })
    }

    fn build(&self, cfg: &BrisqueConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let pcx = cx.plan_cx();
        let model = shared_model(&pcx.model_path(&cfg.model), &pcx.model_path(&cfg.range))
            .map_err(StageError::Config)?;
        Ok(Built::Transform(Box::new(Scorer {
            model,
            side: cfg.side,
            into: cfg.into.clone(),
            resizer: fr::Resizer::new(),
        })))
    }
}

/// The process's copy of a BRISQUE model (its support vectors), loaded once
/// and shared by every worker's stage: scoring only reads it.
fn shared_model(
    model: &std::path::Path,
    range: &std::path::Path,
) -> Result<std::sync::Arc<Brisque>, String> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, OnceLock, Weak};
    type Loaded = Mutex<HashMap<(PathBuf, PathBuf), Weak<Brisque>>>;
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    let key = (
        std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf()),
        std::fs::canonicalize(range).unwrap_or_else(|_| range.to_path_buf()),
    );
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    loaded.retain(|_, m| m.strong_count() > 0);
    if let Some(m) = loaded.get(&key).and_then(Weak::upgrade) {
        return Ok(m);
    }
    let m = Arc::new(Brisque::load(model, range)?);
    loaded.insert(key, Arc::downgrade(&m));
    Ok(m)
}

struct Scorer {
    model: std::sync::Arc<Brisque>,
    side: u32,
    into: Option<String>,
    resizer: fr::Resizer,
}

impl Scorer {
    fn score(&mut self, img: working::RgbRef<'_>) -> Result<f64, String> {
        let longest = img.width.max(img.height);
        if longest <= self.side {
            return self.model.score(img.width, img.height, img.pixels);
        }
        let f = self.side as f64 / longest as f64;
        let (w, h) = (
            ((img.width as f64 * f).round() as u32).max(1),
            ((img.height as f64 * f).round() as u32).max(1),
        );
        let owned = Rgb {
            width: img.width,
            height: img.height,
            pixels: img.pixels.to_vec(),
        };
        let small = resize(&mut self.resizer, &owned, w, h)?;
        self.model.score(w, h, &small.pixels)
    }
}

impl Stage for Scorer {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let mut raw = Float64Builder::new();
        let mut score = Float64Builder::new();
        for row in 0..batch.num_rows() {
            let v = match images.get(row) {
                None => None,
                Some(img) => match self.score(img) {
                    Ok(v) => Some(v),
                    // A flat image has no statistics: no score, not a failure.
                    Err(e) if e.contains("texture") => None,
                    Err(e) => {
                        cx.fail(row, format!("brisque: {e}"));
                        None
                    }
                },
            };
            raw.append_option(v);
            score.append_option(v.map(|b| (10.0 - b / 10.0).clamp(0.0, 10.0)));
        }
        let mut fields = vec![photos_field("brisque")];
        let mut columns: Vec<arrow_array::ArrayRef> = vec![std::sync::Arc::new(raw.finish())];
        if let Some(c) = &self.into {
            fields.push(Field::new(c, DataType::Float64, true));
            columns.push(std::sync::Arc::new(score.finish()));
        }
        working::with_columns(batch, fields, columns)
    }
}
