//! `translate`: translates a text column (a caption) with a MarianMT model
//! (Helsinki-NLP opus-mt) on ONNX Runtime, as the reference's caption
//! translation does; the target language is `translation.target_language`.
//!
//! ```yaml
//! translate:
//!   uses: translate
//!   after: [caption]                      # the stage that writes the text
//!   with:
//!     encoder: opus-mt-en-fr-encoder.onnx # relative to models_dir
//!     decoder: opus-mt-en-fr-decoder.onnx
//!     tokenizer: opus-mt-en-fr-tokenizer.json
//!     config: opus-mt-en-fr-config.json
//!     export: marian-opus-mt              # the tools/export recipe
//!     from: caption                       # a Utf8 column (default caption)
//!     into: caption_fr                    # default caption_<translation.target_language>
//!     beams: 4                            # default: the config's num_beams; 1 = greedy
//!     max_length: 64                      # default: the config's max_length
//!     provider: cpu                       # cpu | auto | cuda, as the onnx stage
//! ```
//!
//! The files are those `tools/export` writes (recipe `marian-opus-mt`, see
//! `tools/export/recipes/marian.py`): an encoder (`input_ids`,
//! `attention_mask` → `last_hidden_state`), one decoder graph for every step
//! with a self-attention cache (`past_key_values.{i}.key|value` in,
//! `present.{i}.key|value` out), the Hugging Face `tokenizer.json` (a
//! Unigram model with Marian's ids, read by the `tokenizers` crate) and
//! `config.json` (special ids, `bad_words_ids`, `max_length`, `num_beams`,
//! sizes). They are checked against each other when the stage starts: tensor
//! names, layer count, vocabulary size of the tokenizer and of the logits.
//!
//! Per batch, in chunks of `batch_size` texts: the non-null texts are
//! tokenized (`</s>` appended; cut to the encoder's 512 positions), padded
//! into one encoder call, and decoded together from the decoder start token,
//! one token per decoder call with the cache fed back
//! ([`search`]): greedy (`beams: 1`) takes the best token; beam search keeps
//! `beams` running beams per text (each text's encoder states repeated per
//! beam, the cache rows gathered by the beam each continuation came from),
//! finished hypotheses scored by their log-probability divided by their
//! length (Hugging Face's `length_penalty` 1, `early_stopping` false). Both
//! ban `bad_words_ids` (the pad id), force `</s>` at the last position as
//! Marian's generation config does (`forced_eos_token_id`, default the eos
//! id) and stop a text at `</s>` or `max_length` tokens (the decoder start
//! token included, as in Hugging Face); finished texts leave the batch.
//! The ids are detokenized with special tokens skipped. Null texts stay
//! null; an empty text gives an empty translation.

pub mod marian;
pub mod search;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use facet_engine::stage::ModelFile;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use serde::Deserialize;

use crate::onnx::Provider;
use crate::working;
use marian::{Files, Marian};

fn caption() -> String {
    "caption".into()
}

/// `with:` of a `translate` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateConfig {
    /// The encoder (ONNX), relative to the pipeline's `models_dir`.
    pub encoder: String,
    /// The decoder with its self-attention cache (ONNX), relative to `models_dir`.
    pub decoder: String,
    /// The Hugging Face `tokenizer.json`, relative to `models_dir`.
    pub tokenizer: String,
    /// The exporter's `config.json` (ids, generation settings, sizes),
    /// relative to `models_dir`.
    pub config: String,
    /// The `tools/export` recipe that `facet models export` runs to produce
    /// the four files (`marian-opus-mt`).
    #[serde(default)]
    pub export: Option<String>,
    /// The text column translated (Utf8; default `caption`).
    #[serde(default = "caption")]
    pub from: String,
    /// The column written (default `caption_<translation.target_language>`).
    #[serde(default)]
    pub into: Option<String>,
    /// Beams of the beam search (default: the config's `num_beams`); 1: greedy.
    #[serde(default)]
    pub beams: Option<usize>,
    /// Longest translation in tokens, the decoder start token included
    /// (default: the config's `max_length`).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Texts per encoder call (default 16).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// cpu (default), cuda, auto.
    #[serde(default)]
    pub provider: Provider,
    /// ONNX Runtime intra-op threads (default: the cores divided among the workers).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl TranslateConfig {
    /// The column written.
    pub fn into_column(&self, config: &facet_config::FacetConfig) -> String {
        self.into
            .clone()
            .unwrap_or_else(|| format!("caption_{}", config.translation.target_language))
    }

    fn files(&self, cx: &PlanCx) -> Files {
        Files {
            encoder: cx.model_path(&self.encoder),
            decoder: cx.model_path(&self.decoder),
            tokenizer: cx.model_path(&self.tokenizer),
            config: cx.model_path(&self.config),
        }
    }
}

/// The `translate` stage kind.
pub struct Translate;

impl StageKind for Translate {
    const NAME: &'static str = "translate";
    const DOC: &'static str = "Caption translation with MarianMT (opus-mt) on ONNX Runtime: a text column into `caption_<translation.target_language>`, greedy or beam search.";
    type Config = TranslateConfig;

    fn plan(&self, cfg: &TranslateConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let mut d = Vec::new();
        let into = cfg.into_column(cx.config);
        if cfg.from.is_empty() {
            d.push(Diagnostic::new("from", "name the text column to translate"));
        }
        if into == cfg.from {
            d.push(Diagnostic::new(
                "into",
                format!("`{into}` is also the column read (`from`)"),
            ));
        }
        if into.is_empty() || into.starts_with('_') {
            d.push(Diagnostic::new(
                "into",
                "must name a stored column (not empty, not starting with `_`)",
            ));
        }
        if cfg.beams == Some(0) {
            d.push(Diagnostic::new("beams", "must be at least 1 (1: greedy)"));
        }
        if let Some(m) = cfg.max_length
            && m < 2
        {
            d.push(Diagnostic::new(
                "max_length",
                "must be at least 2 (the decoder start token and one more)",
            ));
        }
        for (k, v) in [("batch_size", cfg.batch_size), ("threads", cfg.threads)] {
            if v == Some(0) {
                d.push(Diagnostic::new(k, "must be at least 1"));
            }
        }
        if !d.is_empty() {
            return Err(d);
        }
        let files = cfg.files(cx);
        let model = |field: &str, path| ModelFile {
            field: field.into(),
            path,
            url: None,
            sha256: None,
            export: cfg.export.clone(),
        };
        Ok(StagePlan {
            reads: vec![Field::new(&cfg.from, DataType::Utf8, true)],
            writes: vec![Field::new(&into, DataType::Utf8, true)],
            // The texts themselves; the decoding state is bounded by
            // `batch_size` texts at a time, whatever the batch.
            bytes_per_photo: 16 << 10,
            models: vec![
                model("with.encoder", files.encoder),
                model("with.decoder", files.decoder),
                model("with.tokenizer", files.tokenizer),
                model("with.config", files.config),
            ],
            onnx_runtime: true,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &TranslateConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let plan_cx = cx.plan_cx();
        self.plan(cfg, &plan_cx).map_err(|d| {
            StageError::Config(
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        Ok(Built::Transform(Box::new(Translator::new(
            model(cfg, cx)?,
            cfg,
            &cx.config,
        ))))
    }
}

/// The stage's model: opened once per process (per files, provider and
/// threads); every worker's instance takes its turn with it.
fn model(cfg: &TranslateConfig, cx: &BuildCx) -> Result<Arc<Mutex<Marian>>, StageError> {
    let threads = crate::onnx::intra_threads(cfg.threads, cx);
    let files = cfg.files(&cx.plan_cx());
    let key = format!("{files:?} {:?} {threads}", cfg.provider);
    crate::onnx::shared::once_per_process(key, || {
        Marian::open(&files, cfg.provider, threads).map(Mutex::new)
    })
}

/// A built `translate` stage.
pub struct Translator {
    /// The model's sessions, shared by every worker of the process.
    marian: Arc<Mutex<Marian>>,
    from: String,
    into: String,
    params: search::Params,
    batch_size: usize,
}

impl Translator {
    pub fn new(
        marian: Arc<Mutex<Marian>>,
        cfg: &TranslateConfig,
        config: &facet_config::FacetConfig,
    ) -> Self {
        let params = marian
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .params(cfg.beams, cfg.max_length);
        Self {
            marian,
            from: cfg.from.clone(),
            into: cfg.into_column(config),
            params,
            batch_size: cfg.batch_size.unwrap_or(16).max(1),
        }
    }

    /// The translations of `texts` (None stays None).
    pub fn translate(&mut self, texts: &[Option<&str>]) -> Result<Vec<Option<String>>, String> {
        let mut out: Vec<Option<String>> = vec![None; texts.len()];
        let rows: Vec<usize> = (0..texts.len())
            .filter(|&r| texts[r].is_some_and(|t| !t.trim().is_empty()))
            .collect();
        for (r, t) in texts.iter().enumerate() {
            if t.is_some_and(|t| t.trim().is_empty()) {
                out[r] = Some(String::new());
            }
        }
        // (A worker that panicked holding the model left it whole: its
        // state is per call.)
        let mut marian = self.marian.lock().unwrap_or_else(|e| e.into_inner());
        for part in rows.chunks(self.batch_size) {
            let sources = part
                .iter()
                .map(|&r| marian.tokenize(texts[r].expect("filtered")))
                .collect::<Result<Vec<_>, _>>()?;
            let outputs = marian.generate(&sources, &self.params)?;
            for (&r, o) in part.iter().zip(outputs) {
                out[r] = Some(marian.detokenize(&o.ids)?);
            }
        }
        Ok(out)
    }
}

impl Stage for Translator {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let texts: &StringArray = working::column(&batch, &self.from)?;
        let input: Vec<Option<&str>> = (0..texts.len())
            .map(|r| (!texts.is_null(r)).then(|| texts.value(r)))
            .collect();
        let translated = match self.translate(&input) {
            Ok(t) => t,
            Err(e) => {
                // The model failed on this batch: its texts fail, the run goes on.
                for (r, t) in input.iter().enumerate() {
                    if t.is_some() {
                        cx.fail(r, format!("translating `{}`: {e}", self.from));
                    }
                }
                vec![None; input.len()]
            }
        };
        let mut b = StringBuilder::new();
        for t in &translated {
            b.append_option(t.as_deref());
        }
        let field = Field::new(&self.into, DataType::Utf8, true);
        working::with_columns(batch, vec![field], vec![Arc::new(b.finish())])
    }
}
