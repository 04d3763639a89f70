//! A MarianMT translator as `tools/export` (recipe `marian-opus-mt`) writes
//! it: encoder and decoder ONNX graphs, the Hugging Face `tokenizer.json`,
//! and a `config.json` with the generation settings and the sizes.

use std::path::{Path, PathBuf};

use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, ValueType};
use serde_json::Value;
use tokenizers::Tokenizer;

use super::search::{self, Output, Params, Step};
use crate::onnx::{Provider, open_session};
use facet_engine::StageError;

/// Marian's position limit (`max_position_embeddings` of every opus-mt model),
/// used when the config does not give one.
const DEFAULT_MAX_SOURCE: usize = 512;

/// The four files, each with the config field that names it.
#[derive(Debug, Clone)]
pub struct Files {
    pub encoder: PathBuf,
    pub decoder: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
}

/// What `config.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct MarianConfig {
    pub decoder_start_token_id: u32,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
    /// Absent: eos (Marian's generation config); null: none.
    pub forced_eos_token_id: Option<u32>,
    pub bad_words_ids: Vec<Vec<u32>>,
    pub max_length: usize,
    pub num_beams: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    pub d_model: usize,
    pub vocab_size: usize,
    /// Longest source in tokens (`max_position_embeddings`, default 512).
    pub max_source: usize,
}

impl MarianConfig {
    /// Reads `config.json`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        Self::from_json(&v).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_json(v: &Value) -> Result<Self, String> {
        let uint = |k: &str| -> Result<u64, String> {
            v.get(k)
                .ok_or_else(|| format!("no `{k}`"))?
                .as_u64()
                .ok_or_else(|| format!("`{k}` must be a whole number ≥ 0"))
        };
        let id = |k: &str| uint(k).map(|x| x as u32);
        let size = |k: &str| -> Result<usize, String> {
            match uint(k)? {
                0 => Err(format!("`{k}` must be at least 1")),
                x => Ok(x as usize),
            }
        };
        let eos = id("eos_token_id")?;
        let forced_eos_token_id = match v.get("forced_eos_token_id") {
            None => Some(eos),
            Some(Value::Null) => None,
            Some(_) => Some(id("forced_eos_token_id")?),
        };
        let bad_words_ids = match v.get("bad_words_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(b) => serde_json::from_value::<Vec<Vec<u32>>>(b.clone())
                .map_err(|_| "`bad_words_ids` must be a list of lists of token ids".to_string())?,
        };
        let c = Self {
            decoder_start_token_id: id("decoder_start_token_id")?,
            eos_token_id: eos,
            pad_token_id: id("pad_token_id")?,
            forced_eos_token_id,
            bad_words_ids,
            max_length: size("max_length")?,
            num_beams: size("num_beams")?,
            num_layers: size("num_layers")?,
            num_heads: size("num_heads")?,
            head_dim: size("head_dim")?,
            d_model: size("d_model")?,
            vocab_size: size("vocab_size")?,
            max_source: match v.get("max_position_embeddings") {
                None => DEFAULT_MAX_SOURCE,
                Some(_) => size("max_position_embeddings")?,
            },
        };
        for (k, t) in [
            ("decoder_start_token_id", c.decoder_start_token_id),
            ("eos_token_id", c.eos_token_id),
            ("pad_token_id", c.pad_token_id),
        ] {
            if t as usize >= c.vocab_size {
                return Err(format!(
                    "`{k}` {t} is not below vocab_size {}",
                    c.vocab_size
                ));
            }
        }
        Ok(c)
    }
}

/// A loaded translator.
pub struct Marian {
    encoder: Session,
    decoder: Session,
    tokenizer: Tokenizer,
    pub config: MarianConfig,
    /// The decoder's cache outputs, per layer (key, value), and inputs.
    present: Vec<(String, String)>,
    past: Vec<(String, String)>,
}

/// The names of a session's inputs or outputs.
fn names(outlets: &[ort::value::Outlet]) -> Vec<String> {
    outlets.iter().map(|o| o.name().to_string()).collect()
}

/// Checks that `have` holds every one of `want` and nothing else.
fn expect_names(
    field: &str,
    path: &Path,
    what: &str,
    have: &[String],
    want: &[String],
) -> Result<(), StageError> {
    let missing: Vec<&String> = want.iter().filter(|w| !have.contains(w)).collect();
    let extra: Vec<&String> = have.iter().filter(|h| !want.contains(h)).collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let mut m = format!("{field}: {}: ", path.display());
    if !missing.is_empty() {
        m.push_str(&format!(
            "no {what} {} ",
            missing
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !extra.is_empty() {
        m.push_str(&format!(
            "{}unexpected {what} {} ",
            if missing.is_empty() { "" } else { "and " },
            extra
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    m.push_str(&format!(
        "(it has: {}); expected a Marian export of tools/export (recipe marian-opus-mt) whose config matches",
        have.join(", ")
    ));
    Err(StageError::Config(m))
}

impl Marian {
    /// Loads and checks the four files. Errors name the field (`with.encoder`,
    /// …) and the file.
    pub fn open(files: &Files, provider: Provider, threads: usize) -> Result<Self, StageError> {
        for (field, p) in [
            ("with.encoder", &files.encoder),
            ("with.decoder", &files.decoder),
            ("with.tokenizer", &files.tokenizer),
            ("with.config", &files.config),
        ] {
            if !p.is_file() {
                return Err(StageError::Config(format!(
                    "{field}: file not found: {}",
                    p.display()
                )));
            }
        }
        let config = MarianConfig::load(&files.config)
            .map_err(|e| StageError::Config(format!("with.config: {e}")))?;
        let tokenizer = Tokenizer::from_file(&files.tokenizer).map_err(|e| {
            StageError::Config(format!(
                "with.tokenizer: {}: not a tokenizer.json: {e}",
                files.tokenizer.display()
            ))
        })?;
        let ids = tokenizer.get_vocab_size(true);
        if ids != config.vocab_size {
            return Err(StageError::Config(format!(
                "with.tokenizer: {} has {ids} token ids but with.config ({}) has vocab_size {}: the tokenizer is not this model's",
                files.tokenizer.display(),
                files.config.display(),
                config.vocab_size
            )));
        }
        for (k, t) in [
            ("eos_token_id", config.eos_token_id),
            ("pad_token_id", config.pad_token_id),
        ] {
            if tokenizer.id_to_token(t).is_none() {
                return Err(StageError::Config(format!(
                    "with.tokenizer: {} has no token {t}, the {k} of with.config ({})",
                    files.tokenizer.display(),
                    files.config.display()
                )));
            }
        }

        let encoder = open_session(&files.encoder, provider, threads)?;
        expect_names(
            "with.encoder",
            &files.encoder,
            "input",
            &names(encoder.inputs()),
            &["input_ids".into(), "attention_mask".into()],
        )?;
        expect_names(
            "with.encoder",
            &files.encoder,
            "output",
            &names(encoder.outputs()),
            &["last_hidden_state".into()],
        )?;

        let decoder = open_session(&files.decoder, provider, threads)?;
        let layers = config.num_layers;
        let past: Vec<(String, String)> = (0..layers)
            .map(|i| {
                (
                    format!("past_key_values.{i}.key"),
                    format!("past_key_values.{i}.value"),
                )
            })
            .collect();
        let present: Vec<(String, String)> = (0..layers)
            .map(|i| (format!("present.{i}.key"), format!("present.{i}.value")))
            .collect();
        let mut want_in: Vec<String> = vec![
            "input_ids".into(),
            "encoder_hidden_states".into(),
            "encoder_attention_mask".into(),
        ];
        want_in.extend(past.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
        let mut want_out: Vec<String> = vec!["logits".into()];
        want_out.extend(present.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
        let have_in = names(decoder.inputs());
        // First the inputs every step needs, then the cache (one pair per layer).
        let plain: Vec<String> = have_in
            .iter()
            .filter(|h| !h.starts_with("past_key_values."))
            .cloned()
            .collect();
        expect_names(
            "with.decoder",
            &files.decoder,
            "input",
            &plain,
            &want_in[..3],
        )?;
        if have_in
            .iter()
            .filter(|n| n.starts_with("past_key_values."))
            .count()
            != 2 * layers
        {
            return Err(StageError::Config(format!(
                "with.decoder: {} has {} cache inputs but with.config ({}) says num_layers {layers} (2 per layer): the files do not belong together",
                files.decoder.display(),
                have_in
                    .iter()
                    .filter(|n| n.starts_with("past_key_values."))
                    .count(),
                files.config.display()
            )));
        }
        expect_names("with.decoder", &files.decoder, "input", &have_in, &want_in)?;
        expect_names(
            "with.decoder",
            &files.decoder,
            "output",
            &names(decoder.outputs()),
            &want_out,
        )?;
        // Static sizes, where the graph fixes them.
        let dims = |outlets: &[ort::value::Outlet], name: &str| -> Vec<i64> {
            outlets
                .iter()
                .find(|o| o.name() == name)
                .and_then(|o| match o.dtype() {
                    ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
                    _ => None,
                })
                .unwrap_or_default()
        };
        let logits = dims(decoder.outputs(), "logits");
        if let Some(&v) = logits.last()
            && v > 0
            && v as usize != config.vocab_size
        {
            return Err(StageError::Config(format!(
                "with.decoder: {} gives logits over {v} tokens but with.config ({}) has vocab_size {}",
                files.decoder.display(),
                files.config.display(),
                config.vocab_size
            )));
        }
        let hidden = dims(encoder.outputs(), "last_hidden_state");
        if let Some(&d) = hidden.last()
            && d > 0
            && d as usize != config.d_model
        {
            return Err(StageError::Config(format!(
                "with.encoder: {} gives states of {d} values but with.config ({}) has d_model {}",
                files.encoder.display(),
                files.config.display(),
                config.d_model
            )));
        }
        Ok(Self {
            encoder,
            decoder,
            tokenizer,
            config,
            present,
            past,
        })
    }

    /// Token ids of `text` (`</s>` last), cut to the encoder's limit.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, String> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| format!("tokenizing \"{text}\": {e}"))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.len() > self.config.max_source {
            ids.truncate(self.config.max_source - 1);
            ids.push(self.config.eos_token_id);
        }
        Ok(ids)
    }

    /// Text of generated ids (special tokens skipped).
    pub fn detokenize(&self, ids: &[u32]) -> Result<String, String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| format!("detokenizing: {e}"))
    }

    /// The generation settings of the config, with the stage's overrides.
    pub fn params(&self, beams: Option<usize>, max_length: Option<usize>) -> Params {
        let c = &self.config;
        Params {
            start: c.decoder_start_token_id,
            eos: c.eos_token_id,
            forced_eos: c.forced_eos_token_id,
            bad_words: c.bad_words_ids.clone(),
            max_length: max_length.unwrap_or(c.max_length),
            beams: beams.unwrap_or(c.num_beams),
        }
    }

    /// Token ids (decoder start first) and scores of the translations of
    /// `sources` (token ids, as [`Marian::tokenize`] gives them).
    pub fn generate(&mut self, sources: &[Vec<u32>], p: &Params) -> Result<Vec<Output>, String> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let n = sources.len();
        let src = sources.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let pad = i64::from(self.config.pad_token_id);
        let mut ids = vec![pad; n * src];
        let mut mask = vec![0i64; n * src];
        for (r, s) in sources.iter().enumerate() {
            for (i, &t) in s.iter().enumerate() {
                ids[r * src + i] = i64::from(t);
                mask[r * src + i] = 1;
            }
        }
        let tensor =
            |shape: Vec<usize>, data: Vec<i64>| -> Result<SessionInputValue<'static>, String> {
                Ok(Tensor::from_array((shape, data))
                    .map_err(|e| e.to_string())?
                    .into())
            };
        let out = self
            .encoder
            .run(vec![
                ("input_ids".to_string(), tensor(vec![n, src], ids)?),
                (
                    "attention_mask".to_string(),
                    tensor(vec![n, src], mask.clone())?,
                ),
            ])
            .map_err(|e| format!("encoder: {e}"))?;
        let (shape, hidden) = out["last_hidden_state"]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("encoder output `last_hidden_state`: {e}"))?;
        let d = self.config.d_model;
        if shape.len() != 3
            || shape[0] as usize != n
            || shape[1] as usize != src
            || shape[2] as usize != d
        {
            return Err(format!(
                "encoder output `last_hidden_state` has shape {:?}, expected [{n}, {src}, {d}]",
                &shape[..]
            ));
        }
        let hidden = hidden.to_vec();
        drop(out);
        let layers = self.config.num_layers;
        let mut state = Decoding {
            marian: self,
            rows: n,
            src,
            hidden,
            mask,
            past_len: 0,
            cache: vec![Vec::new(); 2 * layers],
        };
        search::generate(&mut state, n, p)
    }
}

/// The decoder's state for the rows being decoded: their encoder states and
/// mask, and the self-attention cache (per layer, key and value, each
/// `[rows, heads, past_len, head_dim]`).
struct Decoding<'m> {
    marian: &'m mut Marian,
    rows: usize,
    src: usize,
    hidden: Vec<f32>,
    mask: Vec<i64>,
    past_len: usize,
    cache: Vec<Vec<f32>>,
}

impl Step for Decoding<'_> {
    fn vocab(&self) -> usize {
        self.marian.config.vocab_size
    }

    fn step(&mut self, last: &[u32]) -> Result<Vec<f32>, String> {
        let (rows, src) = (self.rows, self.src);
        if last.len() != rows {
            return Err(format!("{} tokens for {rows} rows", last.len()));
        }
        let c = &self.marian.config;
        let (heads, hd, d, vocab) = (c.num_heads, c.head_dim, c.d_model, c.vocab_size);
        let f32s =
            |shape: Vec<usize>, data: Vec<f32>| -> Result<SessionInputValue<'static>, String> {
                Ok(Tensor::from_array((shape, data))
                    .map_err(|e| e.to_string())?
                    .into())
            };
        let i64s =
            |shape: Vec<usize>, data: Vec<i64>| -> Result<SessionInputValue<'static>, String> {
                Ok(Tensor::from_array((shape, data))
                    .map_err(|e| e.to_string())?
                    .into())
            };
        let mut feed: Vec<(String, SessionInputValue<'static>)> = vec![
            (
                "input_ids".into(),
                i64s(vec![rows, 1], last.iter().map(|&t| i64::from(t)).collect())?,
            ),
            (
                "encoder_hidden_states".into(),
                f32s(vec![rows, src, d], self.hidden.clone())?,
            ),
            (
                "encoder_attention_mask".into(),
                i64s(vec![rows, src], self.mask.clone())?,
            ),
        ];
        let cache = std::mem::take(&mut self.cache);
        for ((k, v), kv) in self.marian.past.iter().zip(cache.chunks(2)) {
            for (name, data) in [(k, &kv[0]), (v, &kv[1])] {
                feed.push((
                    name.clone(),
                    f32s(vec![rows, heads, self.past_len, hd], data.clone())?,
                ));
            }
        }
        let out = self
            .marian
            .decoder
            .run(feed)
            .map_err(|e| format!("decoder: {e}"))?;
        let (shape, logits) = out["logits"]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("decoder output `logits`: {e}"))?;
        if shape.len() != 3
            || shape[0] as usize != rows
            || shape[1] != 1
            || shape[2] as usize != vocab
        {
            return Err(format!(
                "decoder output `logits` has shape {:?}, expected [{rows}, 1, {vocab}]",
                &shape[..]
            ));
        }
        let logits = logits.to_vec();
        let total = self.past_len + 1;
        let mut next = Vec::with_capacity(self.cache.len());
        for (k, v) in &self.marian.present {
            for name in [k, v] {
                let (_, values) = out[name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| format!("decoder output `{name}`: {e}"))?;
                if values.len() != rows * heads * total * hd {
                    return Err(format!(
                        "decoder output `{name}` has {} values, expected [{rows}, {heads}, {total}, {hd}]",
                        values.len()
                    ));
                }
                next.push(values.to_vec());
            }
        }
        self.cache = next;
        self.past_len = total;
        Ok(logits)
    }

    fn select(&mut self, rows: &[usize]) -> Result<(), String> {
        fn gather<T: Copy>(data: &[T], per_row: usize, rows: &[usize]) -> Vec<T> {
            let mut out = Vec::with_capacity(rows.len() * per_row);
            for &r in rows {
                out.extend_from_slice(&data[r * per_row..(r + 1) * per_row]);
            }
            out
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= self.rows) {
            return Err(format!("row {r} of {}", self.rows));
        }
        let c = &self.marian.config;
        let d = c.d_model;
        let per_cache_row = c.num_heads * self.past_len * c.head_dim;
        self.hidden = gather(&self.hidden, self.src * d, rows);
        self.mask = gather(&self.mask, self.src, rows);
        for t in &mut self.cache {
            *t = gather(t, per_cache_row, rows);
        }
        self.rows = rows.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_key() {
        let base = serde_json::json!({
            "decoder_start_token_id": 5, "eos_token_id": 0, "pad_token_id": 5,
            "bad_words_ids": [[5]], "max_length": 64, "num_beams": 4, "num_layers": 1,
            "num_heads": 2, "head_dim": 8, "d_model": 16, "vocab_size": 6
        });
        let c = MarianConfig::from_json(&base).unwrap();
        assert_eq!(c.forced_eos_token_id, Some(0));
        assert_eq!(c.max_source, 512);
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove("eos_token_id");
        assert_eq!(
            MarianConfig::from_json(&v).unwrap_err(),
            "no `eos_token_id`"
        );
        let mut v = base.clone();
        v["num_beams"] = 0.into();
        assert!(
            MarianConfig::from_json(&v)
                .unwrap_err()
                .contains("`num_beams`")
        );
        let mut v = base.clone();
        v["pad_token_id"] = 6.into();
        assert!(
            MarianConfig::from_json(&v)
                .unwrap_err()
                .contains("`pad_token_id` 6")
        );
        let mut v = base;
        v["forced_eos_token_id"] = serde_json::Value::Null;
        assert_eq!(
            MarianConfig::from_json(&v).unwrap().forced_eos_token_id,
            None
        );
    }
}
