//! From a model's output tensors to store columns: a scalar, a vector, a
//! label, a set of tags, or the mean of a score distribution.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    FixedSizeListBuilder, Float32Builder, Float64Builder, ListBuilder, StringBuilder,
};
use arrow_schema::{DataType, Field};
use serde::Deserialize;

/// What an output becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One number (element `index`, default 0), `value · scale + offset`: Float64.
    Scalar,
    /// The whole output row as a fixed-size float vector of `dim` values
    /// (L2-normalised when `l2_normalize`): an embedding.
    Vector,
    /// The label (from `labels`) of the highest score: Utf8.
    Label,
    /// Tags: the labels — or, with a `mapping` file, the tags they map to —
    /// whose probability reaches `min_score`, best first, at most `top_k`: List<Utf8>.
    Tags,
    /// The mean of a score distribution over 1…N (NIMA), `· scale + offset`: Float64.
    DistributionMean,
}

/// Applied to the output row first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    None,
    Softmax,
    Sigmoid,
}

/// `outputs.<tensor name>:` in a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The `photos` column written.
    pub column: String,
    /// What the output becomes: scalar, vector, label, tags, distribution_mean.
    #[serde(rename = "as")]
    pub kind: Kind,
    /// none (default), softmax, sigmoid.
    #[serde(default)]
    pub activation: Activation,
    /// scalar: the element read (default 0).
    #[serde(default)]
    pub index: Option<usize>,
    /// scalar, distribution_mean: multiplier (default 1).
    #[serde(default)]
    pub scale: Option<f64>,
    /// scalar, distribution_mean: added after `scale` (default 0).
    #[serde(default)]
    pub offset: Option<f64>,
    /// vector: its length (required; checked against the model).
    #[serde(default)]
    pub dim: Option<usize>,
    /// vector: divide by the L2 norm (default true).
    #[serde(default)]
    pub l2_normalize: Option<bool>,
    /// label, tags: a text file, one label per line, in output order
    /// (relative to the pipeline file).
    #[serde(default)]
    pub labels: Option<String>,
    /// tags: a YAML file `tag: [label, …]` (relative to the pipeline file); a
    /// tag's probability is the sum of
    /// its labels'. Without it the labels themselves are the tags.
    #[serde(default)]
    pub mapping: Option<String>,
    /// tags: at most this many (default 5).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// tags: minimum probability (default 0.1).
    #[serde(default)]
    pub min_score: Option<f64>,
}

impl OutputSpec {
    /// The column's Arrow field.
    pub fn field(&self) -> Field {
        let t = match self.kind {
            Kind::Scalar | Kind::DistributionMean => DataType::Float64,
            Kind::Vector => DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                self.dim.unwrap_or(0) as i32,
            ),
            Kind::Label => DataType::Utf8,
            Kind::Tags => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        };
        Field::new(&self.column, t, true)
    }

    /// Problems with the spec itself, as (field, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let needs = |p: &mut Vec<(&'static str, String)>, ok: bool, f: &'static str, m: &str| {
            if !ok {
                p.push((f, m.to_string()));
            }
        };
        let k = self.kind;
        needs(
            &mut p,
            k != Kind::Vector || self.dim.is_some_and(|d| d > 0),
            "dim",
            "a vector output needs its length, `dim`",
        );
        needs(
            &mut p,
            !matches!(k, Kind::Label | Kind::Tags) || self.labels.is_some(),
            "labels",
            "a label or tags output needs a `labels` file",
        );
        needs(
            &mut p,
            self.mapping.is_none() || k == Kind::Tags,
            "mapping",
            "only a tags output takes a mapping",
        );
        needs(
            &mut p,
            self.index.is_none() || k == Kind::Scalar,
            "index",
            "only a scalar output takes an index",
        );
        needs(
            &mut p,
            self.dim.is_none() || k == Kind::Vector,
            "dim",
            "only a vector output takes a dim",
        );
        needs(
            &mut p,
            self.min_score.is_none_or(|s| (0.0..=1.0).contains(&s)),
            "min_score",
            "must be between 0 and 1",
        );
        needs(
            &mut p,
            !self.column.is_empty()
                && self
                    .column
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !self.column.starts_with('_'),
            "column",
            "a column name is snake_case and does not start with `_`",
        );
        p
    }
}

/// An output ready to convert rows: the spec with its label files read.
pub struct Output {
    pub tensor: String,
    pub spec: OutputSpec,
    labels: Vec<String>,
    /// label index → tag indices (tags output with a mapping).
    mapping: Option<(Vec<String>, Vec<Vec<usize>>)>,
}

fn read_labels(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

impl Output {
    /// Reads the label and mapping files (paths already resolved).
    pub fn load(
        tensor: &str,
        spec: OutputSpec,
        labels: Option<&Path>,
        mapping: Option<&Path>,
    ) -> Result<Output, String> {
        let labels = labels.map(read_labels).transpose()?.unwrap_or_default();
        let mapping = match mapping {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let map: BTreeMap<String, Vec<String>> =
                    serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                let tags: Vec<String> = map.keys().cloned().collect();
                let mut of_label = vec![Vec::new(); labels.len()];
                for (t, (tag, ls)) in map.iter().enumerate() {
                    for l in ls {
                        let i = labels.iter().position(|x| x == l).ok_or_else(|| {
                            format!(
                                "{}: tag `{tag}` maps label `{l}`, which the labels file does not have",
                                path.display()
                            )
                        })?;
                        of_label[i].push(t);
                    }
                }
                Some((tags, of_label))
            }
        };
        Ok(Output {
            tensor: tensor.to_string(),
            spec,
            labels,
            mapping,
        })
    }

    /// Checks the per-image output length against what the spec needs.
    pub fn check_len(&self, len: usize) -> Result<(), String> {
        let s = &self.spec;
        let want = match s.kind {
            Kind::Vector => s.dim,
            Kind::Label | Kind::Tags => Some(self.labels.len()),
            _ => None,
        };
        if let Some(w) = want
            && w != len
        {
            return Err(format!(
                "output `{}` has {len} values per image, but the pipeline expects {w} ({})",
                self.tensor,
                if s.kind == Kind::Vector {
                    "dim"
                } else {
                    "lines of the labels file"
                }
            ));
        }
        if s.kind == Kind::Scalar && s.index.unwrap_or(0) >= len {
            return Err(format!(
                "output `{}` has {len} values per image; index {} is out of range",
                self.tensor,
                s.index.unwrap_or(0)
            ));
        }
        Ok(())
    }

    pub fn builder(&self) -> ColumnBuilder {
        match self.spec.kind {
            Kind::Scalar | Kind::DistributionMean => ColumnBuilder::F64(Float64Builder::new()),
            Kind::Vector => ColumnBuilder::Vector(FixedSizeListBuilder::new(
                Float32Builder::new(),
                self.spec.dim.unwrap_or(0) as i32,
            )),
            Kind::Label => ColumnBuilder::Str(StringBuilder::new()),
            Kind::Tags => ColumnBuilder::Tags(ListBuilder::new(StringBuilder::new())),
        }
    }

    /// Appends the value of one image's output row (`None`: a failed image).
    pub fn push(&self, b: &mut ColumnBuilder, row: Option<&[f32]>) {
        let Some(row) = row else {
            b.push_null(self.spec.dim.unwrap_or(0));
            return;
        };
        let v = activate(row, self.spec.activation);
        let affine = |x: f64| x * self.spec.scale.unwrap_or(1.0) + self.spec.offset.unwrap_or(0.0);
        match (self.spec.kind, b) {
            (Kind::Scalar, ColumnBuilder::F64(b)) => {
                b.append_value(affine(v[self.spec.index.unwrap_or(0)] as f64))
            }
            (Kind::DistributionMean, ColumnBuilder::F64(b)) => {
                let total: f64 = v.iter().map(|&p| p as f64).sum();
                let mean = v
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| (i + 1) as f64 * p as f64)
                    .sum::<f64>()
                    / total.max(f64::MIN_POSITIVE);
                b.append_value(affine(mean))
            }
            (Kind::Vector, ColumnBuilder::Vector(b)) => {
                let norm = if self.spec.l2_normalize.unwrap_or(true) {
                    v.iter()
                        .map(|x| x * x)
                        .sum::<f32>()
                        .sqrt()
                        .max(f32::MIN_POSITIVE)
                } else {
                    1.0
                };
                b.values()
                    .append_slice(&v.iter().map(|x| x / norm).collect::<Vec<_>>());
                b.append(true);
            }
            (Kind::Label, ColumnBuilder::Str(b)) => {
                let best = argmax(&v);
                b.append_option(self.labels.get(best))
            }
            (Kind::Tags, ColumnBuilder::Tags(b)) => {
                let scored: Vec<(String, f32)> = match &self.mapping {
                    None => self.labels.iter().cloned().zip(v.iter().copied()).collect(),
                    Some((tags, of_label)) => {
                        let mut s = vec![0.0f32; tags.len()];
                        for (i, ts) in of_label.iter().enumerate() {
                            for &t in ts {
                                s[t] += v[i];
                            }
                        }
                        tags.iter().cloned().zip(s).collect()
                    }
                };
                for t in select_tags(
                    scored,
                    self.spec.min_score.unwrap_or(0.1) as f32,
                    self.spec.top_k.unwrap_or(5),
                ) {
                    b.values().append_value(t);
                }
                b.append(true);
            }
            _ => unreachable!("builder made for its own kind"),
        }
    }
}

/// Tags at or above `min`, best first, at most `k`.
fn select_tags(mut scored: Vec<(String, f32)>, min: f32, k: usize) -> Vec<String> {
    scored.retain(|(_, s)| *s >= min);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.into_iter().take(k).map(|(t, _)| t).collect()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

pub fn activate(row: &[f32], a: Activation) -> Vec<f32> {
    match a {
        Activation::None => row.to_vec(),
        Activation::Sigmoid => row.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect(),
        Activation::Softmax => {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|x| (x - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(|x| x / s).collect()
        }
    }
}

/// A column being built.
pub enum ColumnBuilder {
    F64(Float64Builder),
    Vector(FixedSizeListBuilder<Float32Builder>),
    Str(StringBuilder),
    Tags(ListBuilder<StringBuilder>),
}

impl ColumnBuilder {
    fn push_null(&mut self, dim: usize) {
        match self {
            ColumnBuilder::F64(b) => b.append_null(),
            ColumnBuilder::Vector(b) => {
                b.values().append_nulls(dim);
                b.append(false);
            }
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Tags(b) => b.append_null(),
        }
    }

    /// The finished column, typed as `field` says.
    pub fn finish(self, field: &Field) -> ArrayRef {
        match self {
            ColumnBuilder::F64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Str(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Vector(mut b) => {
                let a = b.finish();
                let DataType::FixedSizeList(item, n) = field.data_type() else {
                    return Arc::new(a);
                };
                let (_, _, values, nulls) = a.into_parts();
                Arc::new(arrow_array::FixedSizeListArray::new(
                    item.clone(),
                    *n,
                    values,
                    nulls,
                ))
            }
            ColumnBuilder::Tags(mut b) => {
                let a = b.finish();
                let DataType::List(item) = field.data_type() else {
                    return Arc::new(a);
                };
                let (_, offsets, values, nulls) = a.into_parts();
                Arc::new(arrow_array::ListArray::new(
                    item.clone(),
                    offsets,
                    values,
                    nulls,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;

    fn spec(yaml: &str) -> OutputSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn out(yaml: &str, labels: &[&str], mapping: Option<&str>) -> Output {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("labels.txt");
        std::fs::write(&l, labels.join("\n")).unwrap();
        let m = mapping.map(|m| {
            let p = dir.path().join("map.yaml");
            std::fs::write(&p, m).unwrap();
            p
        });
        Output::load("t", spec(yaml), Some(&l), m.as_deref()).unwrap()
    }

    #[test]
    fn softmax_tags_and_mapping() {
        let o = out(
            "{column: tags, as: tags, activation: softmax, min_score: 0.2}",
            &["tabby", "tiger cat", "espresso"],
            Some("cat: [tabby, tiger cat]\ncoffee: [espresso]"),
        );
        let mut b = o.builder();
        // tabby and tiger cat share the cat mass; espresso is unlikely.
        o.push(&mut b, Some(&[2.0, 2.0, 0.0]));
        o.push(&mut b, None);
        let a = b.finish(&o.spec.field());
        let l = a.as_list::<i32>();
        let first = l.value(0);
        let tags = first.as_string::<i32>();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags.value(0), "cat");
        assert!(l.is_null(1));
    }

    #[test]
    fn distribution_mean_and_scalar() {
        let o = out("{column: aesthetic, as: distribution_mean}", &[], None);
        let mut b = o.builder();
        o.push(&mut b, Some(&[0.0, 0.0, 0.5, 0.5]));
        let a = b.finish(&o.spec.field());
        assert_eq!(a.as_primitive::<Float64Type>().value(0), 3.5);
        let o = out(
            "{column: aesthetic, as: scalar, index: 1, scale: 10, activation: sigmoid}",
            &[],
            None,
        );
        let mut b = o.builder();
        o.push(&mut b, Some(&[5.0, 0.0]));
        let a = b.finish(&o.spec.field());
        assert_eq!(a.as_primitive::<Float64Type>().value(0), 5.0);
    }

    #[test]
    fn vectors_are_unit_length_and_sized() {
        let o = out("{column: embedding, as: vector, dim: 2}", &[], None);
        assert!(o.check_len(3).is_err());
        let mut b = o.builder();
        o.push(&mut b, Some(&[3.0, 4.0]));
        o.push(&mut b, None);
        let f = o.spec.field();
        let a = b.finish(&f);
        assert_eq!(a.data_type(), f.data_type());
        let l = a.as_fixed_size_list();
        let v = l.value(0);
        let v = v.as_primitive::<arrow_array::types::Float32Type>();
        assert!((v.value(0) - 0.6).abs() < 1e-6 && (v.value(1) - 0.8).abs() < 1e-6);
        assert!(l.is_null(1));
    }

    #[test]
    fn spec_problems_name_the_field() {
        let p = spec("{column: Embedding, as: vector}").problems();
        let fields: Vec<&str> = p.iter().map(|(f, _)| *f).collect();
        assert!(
            fields.contains(&"dim") && fields.contains(&"column"),
            "{p:?}"
        );
        let p = spec("{column: t, as: label}").problems();
        assert_eq!(p[0].0, "labels");
    }
}
