//! `zero_shot_tags`: tags from an image embedding and the text side of the
//! same dual encoder (CLIP, SigLIP). The vocabulary is every category's `tags`
//! and `standalone_tags` (each tag with its synonyms); each synonym is embedded
//! once when the stage starts, a tag's similarity to a photo is the best cosine
//! over its synonyms, and a photo gets the tags at or above
//! `models.<clip_config>.similarity_threshold_percent`, best first, at most
//! `tagging.max_tags`. The tags then drive the tag filters of the categories.
//!
//! ```yaml
//! tags:
//!   uses: zero_shot_tags
//!   after: [clip]                  # the stage writing the image embedding
//!   with:
//!     text_model: clip_text.onnx   # relative to models_dir
//!     tokenizer: clip_tokenizer.json
//!     dim: 768                     # the embedding's length
//!     clip_config: clip_legacy     # whose similarity_threshold_percent applies
//!     prompt: "a photo of {}"      # optional template
//! ```
//!
//! `tagging.enabled: false` leaves the tags empty (null).

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field};
use facet_engine::stage::ModelFile;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use serde::Deserialize;

use crate::onnx::Provider;
use crate::onnx::text::{TextEncoder, TextInputs};
use crate::working;

fn embedding() -> String {
    "embedding".into()
}

fn tags() -> String {
    "tags".into()
}

fn clip() -> String {
    "clip".into()
}

/// `with:` of a `zero_shot_tags` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroShotConfig {
    /// The text tower (ONNX), relative to the pipeline's `models_dir`.
    pub text_model: String,
    /// The Hugging Face `tokenizer.json` of the text tower, relative to `models_dir`.
    pub tokenizer: String,
    /// Where `facet models fetch` downloads the text model from.
    #[serde(default)]
    pub url: Option<String>,
    /// Expected SHA-256 of the text model (hex).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The `tools/export` recipe that `facet models export` runs to produce
    /// the model from its published PyTorch weights.
    #[serde(default)]
    pub export: Option<String>,
    /// Where `facet models fetch` downloads the tokenizer from.
    #[serde(default)]
    pub tokenizer_url: Option<String>,
    /// The image-embedding column read (default `embedding`).
    #[serde(default = "embedding")]
    pub embedding: String,
    /// The embedding's length (as the image stage's `dim`).
    pub dim: usize,
    /// The tags column written (default `tags`).
    #[serde(default = "tags")]
    pub into: String,
    /// `clip` (default) or `clip_legacy`: the `models` section whose
    /// `similarity_threshold_percent` applies.
    #[serde(default = "clip")]
    pub clip_config: String,
    /// Overrides the threshold of `clip_config` (percent of cosine similarity).
    #[serde(default)]
    pub similarity_threshold_percent: Option<f64>,
    /// Overrides `tagging.max_tags`.
    #[serde(default)]
    pub max_tags: Option<usize>,
    /// Template each synonym is put in, `{}` standing for it (default `{}`).
    #[serde(default)]
    pub prompt: Option<String>,
    /// Token-id input of the text model (default `input_ids` or its only input).
    #[serde(default)]
    pub text_input: Option<String>,
    /// Attention-mask input (default: `attention_mask` when the model has it).
    #[serde(default)]
    pub attention_mask: Option<String>,
    /// Output holding the text embedding (default: the only output).
    #[serde(default)]
    pub text_output: Option<String>,
    /// Token length for a model whose sequence axis is dynamic.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Padding id (default: the tokenizer's, else 0).
    #[serde(default)]
    pub pad_id: Option<u32>,
    /// cpu (default), cuda, auto.
    #[serde(default)]
    pub provider: Provider,
}

impl ZeroShotConfig {
    fn threshold(&self, config: &facet_config::FacetConfig) -> f64 {
        self.similarity_threshold_percent
            .unwrap_or(match self.clip_config.as_str() {
                "clip_legacy" => config.models.clip_legacy.similarity_threshold_percent,
                _ => config.models.clip.similarity_threshold_percent,
            })
            / 100.0
    }

    /// How the text model's inputs and output are named and padded.
    pub fn text_inputs(&self) -> TextInputs {
        TextInputs {
            ids: self.text_input.clone(),
            mask: self.attention_mask.clone(),
            output: self.text_output.clone(),
            max_length: self.max_length,
            pad_id: self.pad_id,
        }
    }

    fn embedding_field(&self) -> Field {
        Field::new(
            &self.embedding,
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                self.dim as i32,
            ),
            true,
        )
    }
}

/// The `zero_shot_tags` stage kind.
pub struct ZeroShotTags;

impl StageKind for ZeroShotTags {
    const NAME: &'static str = "zero_shot_tags";
    const DOC: &'static str = "Zero-shot tags: the image embedding against the text embeddings of the category and standalone tag vocabulary (dual encoder + tokenizer).";
    type Config = ZeroShotConfig;

    fn plan(&self, cfg: &ZeroShotConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let mut d = Vec::new();
        if cfg.dim == 0 {
            d.push(Diagnostic::new("dim", "must be at least 1"));
        }
        if !matches!(cfg.clip_config.as_str(), "clip" | "clip_legacy") {
            d.push(Diagnostic::new(
                "clip_config",
                format!("`{}`: expected clip or clip_legacy", cfg.clip_config),
            ));
        }
        if let Some(t) = cfg.similarity_threshold_percent
            && !(0.0..=100.0).contains(&t)
        {
            d.push(Diagnostic::new(
                "similarity_threshold_percent",
                "must be 0–100",
            ));
        }
        if let Some(p) = &cfg.prompt
            && !p.contains("{}")
        {
            d.push(Diagnostic::new(
                "prompt",
                "must contain `{}` where the tag goes",
            ));
        }
        if cfg.max_length == Some(0) {
            d.push(Diagnostic::new("max_length", "must be at least 1"));
        }
        if !d.is_empty() {
            return Err(d);
        }
        Ok(StagePlan {
            reads: vec![cfg.embedding_field()],
            writes: vec![Field::new(
                &cfg.into,
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            )],
            bytes_per_photo: 4 << 10,
            models: vec![
                ModelFile {
                    field: "with.text_model".into(),
                    path: cx.model_path(&cfg.text_model),
                    url: cfg.url.clone(),
                    sha256: cfg.sha256.clone(),
                    export: cfg.export.clone(),
                },
                ModelFile {
                    field: "with.tokenizer".into(),
                    path: cx.model_path(&cfg.tokenizer),
                    url: cfg.tokenizer_url.clone(),
                    sha256: None,
                    export: cfg.export.clone(),
                },
            ],
            onnx_runtime: true,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &ZeroShotConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let plan_cx = cx.plan_cx();
        let model = plan_cx.model_path(&cfg.text_model);
        let tokenizer = plan_cx.model_path(&cfg.tokenizer);
        for (field, p) in [("with.text_model", &model), ("with.tokenizer", &tokenizer)] {
            if !p.is_file() {
                return Err(StageError::Config(format!(
                    "{field}: file not found: {}",
                    p.display()
                )));
            }
        }
        let enabled = cx.config.tagging.enabled;
        let vocabulary = if enabled {
            let tags = cx.config.tag_vocabulary();
            // Embedded once per process: every worker's instance shares it.
            let key = format!(
                "{} {} {:?} {:?} {:?} {:?} {:?} {:?} {} {:?} {tags:?}",
                model.display(),
                tokenizer.display(),
                cfg.text_input,
                cfg.attention_mask,
                cfg.text_output,
                cfg.max_length,
                cfg.pad_id,
                cfg.prompt,
                cfg.dim,
                cfg.provider,
            );
            crate::onnx::shared::once_per_process(key, || {
                Vocabulary::embed(
                    &tags,
                    cfg.prompt.as_deref(),
                    &mut TextEncoder::open(
                        &model,
                        &tokenizer,
                        &cfg.text_inputs(),
                        cfg.provider,
                        // Embedded once, before any photo flows: every core (the
                        // full SigLIP 2 text tower takes minutes on one).
                        std::thread::available_parallelism().map_or(1, usize::from),
                    )?,
                    cfg.dim,
                )
                .map_err(|e| StageError::Config(format!("{}: {e}", model.display())))
            })?
        } else {
            Arc::new(Vocabulary::default())
        };
        Ok(Built::Transform(Box::new(Tagger {
            column: cfg.embedding.clone(),
            into: cfg.into.clone(),
            vocabulary,
            threshold: cfg.threshold(&cx.config) as f32,
            max_tags: cfg.max_tags.unwrap_or(cx.config.tagging.max_tags),
            enabled,
        })))
    }
}

/// The embedded vocabulary: per tag, the unit text embeddings of its synonyms.
#[derive(Debug, Default)]
pub struct Vocabulary {
    pub tags: Vec<String>,
    /// Flattened synonym embeddings and the tag each belongs to.
    embeddings: Vec<Vec<f32>>,
    owner: Vec<usize>,
}

impl Vocabulary {
    /// Embeds every synonym of `vocab` (in `prompt`, if any).
    pub fn embed(
        vocab: &std::collections::BTreeMap<String, Vec<String>>,
        prompt: Option<&str>,
        encoder: &mut TextEncoder,
        dim: usize,
    ) -> Result<Self, String> {
        let mut v = Vocabulary::default();
        let mut texts = Vec::new();
        for (t, synonyms) in vocab {
            for s in synonyms {
                texts.push(prompt.map_or_else(|| s.clone(), |p| p.replace("{}", s)));
                v.owner.push(v.tags.len());
            }
            v.tags.push(t.clone());
        }
        for chunk in texts.chunks(64) {
            v.embeddings.extend(encoder.embed(chunk)?);
        }
        if let Some(e) = v.embeddings.first()
            && e.len() != dim
        {
            return Err(format!(
                "the text embedding has {} values but the image embedding `dim` is {dim}: the two towers do not match",
                e.len()
            ));
        }
        Ok(v)
    }

    /// From already embedded synonyms (`(tag, unit embedding)`), for tests and
    /// for callers that embed elsewhere.
    pub fn from_embeddings(synonyms: Vec<(String, Vec<f32>)>) -> Self {
        let mut v = Vocabulary::default();
        for (tag, e) in synonyms {
            let i = match v.tags.iter().position(|t| *t == tag) {
                Some(i) => i,
                None => {
                    v.tags.push(tag);
                    v.tags.len() - 1
                }
            };
            v.owner.push(i);
            v.embeddings.push(e);
        }
        v
    }

    /// Each tag's similarity to `image` (a unit vector): the best cosine over
    /// its synonyms.
    pub fn similarities(&self, image: &[f32]) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; self.tags.len()];
        for (e, &t) in self.embeddings.iter().zip(&self.owner) {
            let cos: f32 = e.iter().zip(image).map(|(a, b)| a * b).sum();
            best[t] = best[t].max(cos);
        }
        best
    }

    /// The tags of `image`: similarity ≥ `threshold`, best first, at most `max`.
    pub fn tags_for(&self, image: &[f32], threshold: f32, max: usize) -> Vec<&str> {
        let sims = self.similarities(image);
        let mut hits: Vec<(usize, f32)> = sims
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s >= threshold)
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.into_iter()
            .take(max)
            .map(|(i, _)| self.tags[i].as_str())
            .collect()
    }
}

struct Tagger {
    column: String,
    into: String,
    /// Shared by every worker of the process.
    vocabulary: Arc<Vocabulary>,
    threshold: f32,
    max_tags: usize,
    enabled: bool,
}

impl Stage for Tagger {
    fn process(
        &mut self,
        batch: RecordBatch,
        _cx: &mut StageCx,
    ) -> Result<RecordBatch, StageError> {
        let vectors: &FixedSizeListArray = working::column(&batch, &self.column)?;
        let values = vectors
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| {
                StageError::Internal(format!("`{}` is not a float vector", self.column))
            })?;
        let dim = vectors.value_length() as usize;
        let mut b = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        )));
        let mut image = vec![0f32; dim];
        for r in 0..batch.num_rows() {
            if !self.enabled || vectors.is_null(r) {
                b.append_null();
                continue;
            }
            let row = &values.values()[r * dim..(r + 1) * dim];
            // Stored embeddings are unit length already; normalise anyway so
            // that a model stage with `l2_normalize: false` still gives cosines.
            let norm = row
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            for (o, x) in image.iter_mut().zip(row) {
                *o = x / norm;
            }
            for t in self
                .vocabulary
                .tags_for(&image, self.threshold, self.max_tags)
            {
                b.values().append_value(t);
            }
            b.append(true);
        }
        let column = Arc::new(b.finish());
        let field = Field::new(&self.into, column.data_type().clone(), true);
        working::with_columns(batch, vec![field], vec![column])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn best_synonym_threshold_and_max_tags() {
        let v = Vocabulary::from_embeddings(vec![
            ("red".into(), unit(&[1.0, 0.0, 0.0])),
            ("red".into(), unit(&[1.0, 1.0, 0.0])),
            ("green".into(), unit(&[0.0, 1.0, 0.0])),
            ("blue".into(), unit(&[0.0, 0.0, 1.0])),
        ]);
        let img = unit(&[1.0, 0.9, 0.0]);
        // red's second synonym is nearly the image: red first, then green.
        assert_eq!(v.tags_for(&img, 0.5, 5), vec!["red", "green"]);
        assert_eq!(v.tags_for(&img, 0.5, 1), vec!["red"]);
        // the best synonym counts, not the first
        let sims = v.similarities(&img);
        assert!(sims[0] > 0.99, "{sims:?}");
        assert!(v.tags_for(&img, 0.999, 5).is_empty() || sims[0] >= 0.999);
        assert_eq!(v.tags_for(&unit(&[0.0, 0.0, 1.0]), 0.5, 5), vec!["blue"]);
    }

    #[test]
    fn vocabulary_merges_categories_and_standalone_tags() {
        let mut c = facet_config::FacetConfig::default();
        c.standalone_tags.insert(
            "golden_hour".into(),
            vec!["golden hour".into(), "warm light".into()],
        );
        c.standalone_tags.insert("moody".into(), vec![]);
        let v = c.tag_vocabulary();
        assert_eq!(v["golden_hour"], vec!["golden hour", "warm light"]);
        assert_eq!(v["moody"], vec!["moody"]);
        // category tags are in it too
        let some_category_tag = c
            .categories
            .iter()
            .flat_map(|c| c.tags.keys())
            .next()
            .expect("default categories have tags");
        assert!(v.contains_key(some_category_tag));
    }
}
