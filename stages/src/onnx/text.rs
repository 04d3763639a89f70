//! The text side of a dual encoder (CLIP, SigLIP): a Hugging Face
//! `tokenizer.json` (the `tokenizers` crate) and an ONNX text tower whose
//! output lives in the same space as the image embedding. Zero-shot tagging
//! embeds its vocabulary with it; text search embeds the query.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorElementType;
use ort::value::{Tensor, ValueType};
use tokenizers::Tokenizer;

use super::{Provider, open_session};
use facet_engine::StageError;

/// How the text tower is fed.
#[derive(Debug, Clone, Default)]
pub struct TextInputs {
    /// The token-id input (default: `input_ids`, or the model's only input).
    pub ids: Option<String>,
    /// The attention-mask input, when the model has one (default: an input
    /// named `attention_mask`, if any).
    pub mask: Option<String>,
    /// The output holding the text embedding (default: the only output).
    pub output: Option<String>,
    /// Token length when the model's sequence axis is dynamic (default: the
    /// longest text of the call). A model with a fixed axis (CLIP's 77) is
    /// padded and truncated to it.
    pub max_length: Option<usize>,
    /// Id used for padding (default: the tokenizer's padding id, else 0).
    pub pad_id: Option<u32>,
}

/// A loaded text encoder.
pub struct TextEncoder {
    session: Session,
    tokenizer: Tokenizer,
    ids: (String, TensorElementType),
    mask: Option<(String, TensorElementType)>,
    output: String,
    /// Fixed sequence length of the model, or the configured maximum.
    length: Option<usize>,
    pad_id: u32,
}

impl TextEncoder {
    /// Loads the tokenizer and the model and checks the model's inputs and output.
    pub fn open(
        model: &Path,
        tokenizer: &Path,
        inputs: &TextInputs,
        provider: Provider,
        threads: usize,
    ) -> Result<Self, StageError> {
        let tok = Tokenizer::from_file(tokenizer).map_err(|e| {
            StageError::Config(format!(
                "{}: not a tokenizer.json: {e}",
                tokenizer.display()
            ))
        })?;
        let session = open_session(model, provider, threads)?;
        let err = |m: String| StageError::Config(format!("{}: {m}", model.display()));
        let names: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        let find = |name: &str| session.inputs().iter().find(|i| i.name() == name);
        let ids_outlet = match &inputs.ids {
            Some(n) => find(n)
                .ok_or_else(|| err(format!("no input `{n}` (it has: {})", names.join(", "))))?,
            None => find("input_ids")
                .or_else(|| (session.inputs().len() == 1).then(|| &session.inputs()[0]))
                .ok_or_else(|| {
                    err(format!(
                        "name the token-id input with `text_input` (it has: {})",
                        names.join(", ")
                    ))
                })?,
        };
        let integer = |outlet: &ort::value::Outlet| -> Result<(String, TensorElementType, Vec<i64>), StageError> {
            match outlet.dtype() {
                ValueType::Tensor { ty, shape, .. }
                    if matches!(ty, TensorElementType::Int64 | TensorElementType::Int32) =>
                {
                    Ok((outlet.name().to_string(), *ty, shape.iter().copied().collect()))
                }
                other => Err(err(format!(
                    "input `{}` must be an int64 or int32 tensor, not {other:?}",
                    outlet.name()
                ))),
            }
        };
        let (ids_name, ids_ty, shape) = integer(ids_outlet)?;
        if shape.len() != 2 {
            return Err(err(format!(
                "input `{ids_name}` has shape {shape:?}; a text tower takes [batch, tokens]"
            )));
        }
        let mask = match &inputs.mask {
            Some(n) => {
                let (name, ty, _) = integer(find(n).ok_or_else(|| {
                    err(format!("no input `{n}` (it has: {})", names.join(", ")))
                })?)?;
                Some((name, ty))
            }
            None => match find("attention_mask") {
                Some(o) => {
                    let (name, ty, _) = integer(o)?;
                    Some((name, ty))
                }
                None => None,
            },
        };
        let fed = 1 + usize::from(mask.is_some());
        if session.inputs().len() > fed {
            return Err(err(format!(
                "the model has {} inputs ({}); Facet feeds token ids and an attention mask",
                names.len(),
                names.join(", ")
            )));
        }
        let outs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let output = match &inputs.output {
            Some(n) if outs.contains(n) => n.clone(),
            Some(n) => {
                return Err(err(format!(
                    "no output `{n}` (it has: {})",
                    outs.join(", ")
                )));
            }
            None if outs.len() == 1 => outs[0].clone(),
            None => {
                return Err(err(format!(
                    "name the embedding output with `text_output` (it has: {})",
                    outs.join(", ")
                )));
            }
        };
        let length = (shape[1] > 0)
            .then_some(shape[1] as usize)
            .or(inputs.max_length);
        let pad_id = inputs
            .pad_id
            .or_else(|| tok.get_padding().map(|p| p.pad_id))
            .unwrap_or(0);
        Ok(Self {
            session,
            tokenizer: tok,
            ids: (ids_name, ids_ty),
            mask,
            output,
            length,
            pad_id,
        })
    }

    /// The L2-normalised embeddings of `texts` (a zero vector stays zero).
    pub fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(texts.len());
        for t in texts {
            let enc = self
                .tokenizer
                .encode(t.as_str(), true)
                .map_err(|e| format!("tokenizing \"{t}\": {e}"))?;
            rows.push(enc.get_ids().to_vec());
        }
        let longest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let len = self.length.unwrap_or(longest);
        let n = rows.len();
        let mut ids = vec![i64::from(self.pad_id); n * len];
        let mut mask = vec![0i64; n * len];
        for (r, row) in rows.iter().enumerate() {
            for (i, &id) in row.iter().take(len).enumerate() {
                ids[r * len + i] = i64::from(id);
                mask[r * len + i] = 1;
            }
        }
        let tensor = |data: Vec<i64>,
                      ty: TensorElementType|
         -> Result<ort::session::SessionInputValue<'static>, String> {
            let shape = vec![n, len];
            Ok(match ty {
                TensorElementType::Int32 => Tensor::from_array((
                    shape,
                    data.into_iter().map(|v| v as i32).collect::<Vec<_>>(),
                ))
                .map_err(|e| e.to_string())?
                .into(),
                _ => Tensor::from_array((shape, data))
                    .map_err(|e| e.to_string())?
                    .into(),
            })
        };
        let mut feed = vec![(self.ids.0.clone(), tensor(ids, self.ids.1)?)];
        if let Some((name, ty)) = &self.mask {
            feed.push((name.clone(), tensor(mask, *ty)?));
        }
        let out = self
            .session
            .run(feed)
            .map_err(|e| format!("text model: {e}"))?;
        let (_, values) = out[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("text output `{}`: {e}", self.output))?;
        let dim = values.len() / n;
        Ok(values
            .chunks(dim.max(1))
            .map(|v| {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter().map(|x| x / norm).collect()
                } else {
                    v.to_vec()
                }
            })
            .collect())
    }
}
