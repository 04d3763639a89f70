//! Scoring a whole table: the raw columns stored by the stages in, the
//! category, aggregate, critique and Top Picks score of every photo out.
//! Normalization statistics are those of the rows given (the whole library
//! when `facet recompute` passes every photo), so they are always current.
//! Pure Arrow in, Arrow out: the caller reads and writes the store.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};
use std::collections::HashMap;

use facet_config::{Category, FacetConfig, PhotoFacts, category_for};

use super::normalize::NORMALIZED_METRICS;
use super::top_picks::{TopPicksInputs, is_top_pick, top_picks_score};
use super::{NormStats, PhotoMetrics, ScoringInputs, score};

/// Stored columns the scoring model reads (absent columns count as missing values).
pub const INPUT_COLUMNS: &[&str] = &[
    "path",
    "sharpness",
    "color_score",
    "exposure_score",
    "composition_score",
    "samp_composition",
    "contrast_score",
    "histogram_spread",
    "leading_lines_score",
    "noise_sigma",
    "shadow_clipped",
    "highlight_clipped",
    "histogram_bimodality",
    "mean_saturation",
    "is_monochrome",
    "luminance",
    "dark_mass",
    "bright_mass",
    "iso",
    "f_number",
    "shutter_speed",
    "focal_length",
    "aesthetic",
    "tags",
    "face_count",
    "face_ratio",
    "is_group_portrait",
    "face_quality",
    "eye_sharpness",
    "isolation_ratio",
    "is_blink",
    "width",
    "height",
];

/// A silhouette: at least this fraction of dark pixels (`dark_mass`, grey
/// 0–84) …
pub const SILHOUETTE_DARK_MASS: f64 = 0.4;
/// … against at least this fraction of bright ones (`bright_mass`, grey
/// 170–255): a dark subject against a bright background, whose clipping is
/// intended. Unknown (and so no category filter on it matches) until the
/// technical stage measured both.
pub const SILHOUETTE_BRIGHT_MASS: f64 = 0.2;

/// Columns written by scoring.
pub const OUTPUT_COLUMNS: &[&str] = &[
    "path",
    "category",
    "aggregate",
    "score_breakdown",
    "top_picks_score",
    "is_top_pick",
    "scored_with",
];

/// A numeric (or boolean) column as f64 per row; `None` where absent or null.
pub(crate) fn f64s(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let n = batch.num_rows();
    let Some(c) = batch.column_by_name(name) else {
        return vec![None; n];
    };
    let get = |i: usize| -> Option<f64> {
        if c.is_null(i) {
            return None;
        }
        match c.data_type() {
            DataType::Float64 => Some(c.as_primitive::<Float64Type>().value(i)),
            DataType::Float32 => Some(c.as_primitive::<Float32Type>().value(i) as f64),
            DataType::Int64 => Some(c.as_primitive::<Int64Type>().value(i) as f64),
            DataType::Int32 => Some(c.as_primitive::<Int32Type>().value(i) as f64),
            DataType::Boolean => Some(if c.as_boolean().value(i) { 1.0 } else { 0.0 }),
            _ => None,
        }
    };
    (0..n).map(get).collect()
}

/// A list-of-strings column (tags) per row; empty where absent or null.
fn string_lists(batch: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let n = batch.num_rows();
    let Some(list) = batch
        .column_by_name(name)
        .and_then(|c| c.as_list_opt::<i32>())
    else {
        return vec![Vec::new(); n];
    };
    (0..n)
        .map(|i| {
            if list.is_null(i) {
                return Vec::new();
            }
            let v = list.value(i);
            v.as_string_opt::<i32>()
                .map(|s| s.iter().flatten().map(str::to_string).collect())
                .unwrap_or_default()
        })
        .collect()
}

fn bools(batch: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    f64s(batch, name)
        .into_iter()
        .map(|v| v.map(|v| v != 0.0))
        .collect()
}

/// The scoring inputs of a table's rows: what [`score_rows`] needs, read once.
pub struct Prepared<'c> {
    paths: arrow_array::StringArray,
    categories: Vec<&'c Category>,
    metrics: Vec<PhotoMetrics>,
    composition: Vec<Option<f64>>,
    face_ratio: Vec<Option<f64>>,
    /// Width × height / 10⁶ (`None` when unknown).
    megapixels: Vec<Option<f64>>,
}

impl Prepared<'_> {
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The photo's path.
    pub fn path(&self, row: usize) -> &str {
        self.paths.value(row)
    }

    /// The category the photo is in now.
    pub fn category(&self, row: usize) -> &str {
        &self.categories[row].name
    }

    /// `(category, metrics)` of every row, as the normalization statistics read them.
    pub fn photos(&self) -> impl Iterator<Item = (&str, &PhotoMetrics)> {
        self.categories
            .iter()
            .zip(&self.metrics)
            .map(|(c, m)| (c.name.as_str(), m))
    }
}

/// Reads the scoring inputs of every row of `batch` (which must have `path`;
/// see [`INPUT_COLUMNS`]) and assigns each photo its category.
pub fn prepare<'c>(batch: &RecordBatch, config: &'c FacetConfig) -> Result<Prepared<'c>, String> {
    let n = batch.num_rows();
    let paths = batch
        .column_by_name("path")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or("the batch has no utf8 `path` column")?
        .clone();
    let col = |name: &str| f64s(batch, name);
    let (sharp, color, exposure, comp, contrast, spread) = (
        col("sharpness"),
        col("color_score"),
        col("exposure_score"),
        col("composition_score"),
        col("contrast_score"),
        col("histogram_spread"),
    );
    let (lines, noise, bimodality, saturation, luminance) = (
        col("leading_lines_score"),
        col("noise_sigma"),
        col("histogram_bimodality"),
        col("mean_saturation"),
        col("luminance"),
    );
    let (iso, f_number, shutter, focal) = (
        col("iso"),
        col("f_number"),
        col("shutter_speed"),
        col("focal_length"),
    );
    let (shadow, highlight, mono) = (
        bools(batch, "shadow_clipped"),
        bools(batch, "highlight_clipped"),
        bools(batch, "is_monochrome"),
    );
    let aesthetic = col("aesthetic");
    // A composition model's score (SAMP-Net) replaces the rule-based one; the
    // rules stay the fallback for photos (and pipelines) without it.
    let samp = col("samp_composition");
    let composition: Vec<Option<f64>> = samp.iter().zip(&comp).map(|(s, c)| s.or(*c)).collect();
    let tags = string_lists(batch, "tags");
    // From the `faces` stage (absent, or null before it ran: unmeasured).
    let (face_count, face_ratio, face_quality, eye_sharpness, isolation) = (
        col("face_count"),
        col("face_ratio"),
        col("face_quality"),
        col("eye_sharpness"),
        col("isolation_ratio"),
    );
    let (stored_group, blink) = (bools(batch, "is_group_portrait"), bools(batch, "is_blink"));
    // A group portrait by today's `face_detection.min_faces_for_group`, not
    // by the one in force when the faces were counted; the stored flag only
    // where the count is missing.
    let min_group = f64::from(config.face_detection.min_faces_for_group);
    let group: Vec<Option<bool>> = face_count
        .iter()
        .zip(&stored_group)
        .map(|(n, g)| n.map(|n| n >= min_group).or(*g))
        .collect();
    let (dark, bright) = (col("dark_mass"), col("bright_mass"));
    let silhouette: Vec<Option<bool>> = dark
        .iter()
        .zip(&bright)
        .map(|(d, b)| {
            Some(d.as_ref()? >= &SILHOUETTE_DARK_MASS && b.as_ref()? >= &SILHOUETTE_BRIGHT_MASS)
        })
        .collect();

    let mut metrics = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    for i in 0..n {
        let m = PhotoMetrics {
            tech_sharpness: sharp[i],
            color: color[i],
            exposure: exposure[i],
            composition: composition[i],
            contrast: contrast[i],
            dynamic_range: spread[i],
            leading_lines: lines[i],
            noise_sigma: noise[i],
            shadow_clipped: shadow[i],
            highlight_clipped: highlight[i],
            histogram_bimodality: bimodality[i],
            mean_saturation: saturation[i],
            is_monochrome: mono[i],
            iso: iso[i],
            f_number: f_number[i],
            aesthetic: aesthetic[i],
            // Face metrics mean nothing without a face: unmeasured there.
            face_quality: face_quality[i],
            eye_sharpness: eye_sharpness[i],
            isolation: isolation[i],
            is_blink: blink[i],
            is_silhouette: silhouette[i],
            ..Default::default()
        };
        // Before the faces stage ran the face facts are unknown, and a
        // filter on an unknown value does not match.
        let facts = PhotoFacts {
            face_count: face_count[i].map(|n| n as u32),
            face_ratio: face_ratio[i],
            is_group_portrait: group[i],
            is_silhouette: silhouette[i],
            luminance: luminance[i],
            iso: iso[i],
            shutter_speed: shutter[i],
            focal_length: focal[i],
            f_stop: f_number[i],
            is_monochrome: mono[i],
            tags: tags[i].clone(),
            ..Default::default()
        };
        categories.push(category_for(&config.categories, &facts));
        metrics.push(m);
    }
    let megapixels = col("width")
        .iter()
        .zip(col("height"))
        .map(|(w, h)| Some(w.as_ref()? * h? / 1e6).filter(|mp| *mp > 0.0))
        .collect();
    Ok(Prepared {
        paths,
        categories,
        metrics,
        composition,
        face_ratio,
        megapixels,
    })
}

/// What a photo's score depends on besides its own metrics, per category: the
/// scoring sections, every category's place and filters (which decide the
/// category), Top Picks settings, the category's weights and modifiers, and
/// the percentiles its normalized metrics use. Two scores with the same
/// fingerprint and the same metrics are equal, so `facet recompute` re-scores
/// only the photos whose fingerprint (or metrics) changed.
pub fn fingerprints(config: &FacetConfig, stats: &NormStats) -> HashMap<String, String> {
    use sha2::{Digest, Sha256};
    let global = serde_json::json!({
        "formula": super::FORMULA,
        "inputs": [
            &config.scoring, &config.thresholds, &config.penalties,
            &config.exif_adjustments, &config.exposure, &config.normalization,
        ],
        "photo_types": &config.viewer.photo_types,
        "assignment": config.categories.iter()
            .map(|c| serde_json::json!([&c.name, c.priority, &c.filters]))
            .collect::<Vec<_>>(),
    });
    let mut base = Sha256::new();
    base.update(global.to_string());
    config
        .categories
        .iter()
        .map(|c| {
            let mut h = base.clone();
            h.update(serde_json::json!([&c.name, &c.weights, &c.modifiers]).to_string());
            for metric in NORMALIZED_METRICS {
                let p = stats.percentile(metric, &c.name);
                h.update(format!("{metric}={:?};", p.map(f64::to_bits)));
            }
            (c.name.clone(), hex::encode(&h.finalize()[..12]))
        })
        .collect()
}

/// Scores the given rows: [`OUTPUT_COLUMNS`] plus `scored_with` (the row's
/// category fingerprint from `fingerprints`).
pub fn score_rows(
    prepared: &Prepared<'_>,
    rows: &[usize],
    stats: &NormStats,
    config: &FacetConfig,
    fingerprints: &HashMap<String, String>,
) -> Result<RecordBatch, String> {
    let inputs = ScoringInputs::from_config(config);
    let mut path = StringBuilder::new();
    let mut category = StringBuilder::new();
    let mut aggregate = Float64Builder::new();
    let mut breakdown = StringBuilder::new();
    let mut picks = Float64Builder::new();
    let mut is_pick = BooleanBuilder::new();
    let mut scored_with = StringBuilder::new();
    for &i in rows {
        let s = score(prepared.categories[i], &prepared.metrics[i], stats, &inputs);
        let tp = top_picks_score(
            &TopPicksInputs {
                aggregate: Some(s.aggregate),
                aesthetic: prepared.metrics[i].aesthetic,
                composition: prepared.composition[i],
                face_quality: prepared.metrics[i].face_quality,
                face_ratio: prepared.face_ratio[i],
            },
            &config.viewer.photo_types,
        );
        path.append_value(prepared.path(i));
        scored_with.append_option(fingerprints.get(&s.category));
        category.append_value(&s.category);
        aggregate.append_value(s.aggregate);
        breakdown.append_value(serde_json::to_string(&s.breakdown).map_err(|e| e.to_string())?);
        picks.append_value(tp);
        is_pick.append_value(is_top_pick(
            tp,
            prepared.megapixels[i],
            &config.viewer.photo_types,
        ));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(category.finish()),
        Arc::new(aggregate.finish()),
        Arc::new(breakdown.finish()),
        Arc::new(picks.finish()),
        Arc::new(is_pick.finish()),
        Arc::new(scored_with.finish()),
    ];
    let scores = facet_schemas::scores();
    let schema = Arc::new(Schema::new(
        OUTPUT_COLUMNS
            .iter()
            .map(|c| scores.column(c).expect("declared in schemas/").field())
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// Scores every row of `batch` (which must have `path`; see [`INPUT_COLUMNS`])
/// with the (quantized) statistics of those rows.
pub fn score_table(batch: &RecordBatch, config: &FacetConfig) -> Result<RecordBatch, String> {
    let prepared = prepare(batch, config)?;
    // The scores use the percentiles rounded down to three significant
    // digits (`summary::quantize`), as the library's re-scores do.
    let stats = NormStats::build(&config.normalization, prepared.photos()).quantized();
    let prints = fingerprints(config, &stats);
    let all: Vec<usize> = (0..prepared.len()).collect();
    score_rows(&prepared, &all, &stats, config, &prints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::working::photos_field;
    use arrow_array::{BooleanArray, Float64Array, StringArray};

    fn table(rows: &[(&str, f64, f64, bool)]) -> RecordBatch {
        // path, sharpness, luminance, is_monochrome
        let schema = Arc::new(Schema::new(vec![
            photos_field("path"),
            photos_field("sharpness"),
            photos_field("luminance"),
            photos_field("is_monochrome"),
            photos_field("exposure_score"),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|_| 7.0))),
            ],
        )
        .unwrap()
    }

    fn scored(batch: &RecordBatch, config: &FacetConfig) -> Vec<(String, String, f64)> {
        let out = score_table(batch, config).unwrap();
        let p = out.column(0).as_string::<i32>();
        let c = out.column(1).as_string::<i32>();
        let a = out.column(2).as_primitive::<Float64Type>();
        (0..out.num_rows())
            .map(|i| (p.value(i).to_string(), c.value(i).to_string(), a.value(i)))
            .collect()
    }

    #[test]
    fn categories_follow_the_facts_and_breakdowns_are_stored() {
        let config = FacetConfig::default();
        let b = table(&[
            ("/night.jpg", 100.0, 0.05, false),
            ("/mono.jpg", 100.0, 0.5, true),
            ("/day.jpg", 100.0, 0.5, false),
        ]);
        let rows = scored(&b, &config);
        assert_eq!(rows[0].1, "night");
        assert_eq!(rows[1].1, "monochrome");
        assert_eq!(rows[2].1, "default");
        let out = score_table(&b, &config).unwrap();
        let critique: serde_json::Value =
            serde_json::from_str(out.column(3).as_string::<i32>().value(2)).unwrap();
        assert!(
            critique
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metric"] == "tech_sharpness"),
            "{critique}"
        );
    }

    #[test]
    fn a_composition_model_replaces_the_rule_based_score_where_it_ran() {
        let base = table(&[
            ("/a.jpg", 100.0, 0.5, false),
            ("/b.jpg", 100.0, 0.5, false),
            ("/c.jpg", 100.0, 0.5, false),
        ]);
        let mut fields: Vec<arrow_schema::Field> = base
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns = base.columns().to_vec();
        fields.push(photos_field("composition_score"));
        columns.push(Arc::new(Float64Array::from(vec![5.0, 5.0, 5.0])));
        fields.push(arrow_schema::Field::new(
            "samp_composition",
            arrow_schema::DataType::Float64,
            true,
        ));
        columns.push(Arc::new(Float64Array::from(vec![
            Some(9.0),
            Some(1.0),
            None,
        ])));
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let config = FacetConfig::default();
        let prepared = prepare(&b, &config).unwrap();
        assert_eq!(prepared.metrics[0].composition, Some(9.0));
        assert_eq!(prepared.metrics[1].composition, Some(1.0));
        // no model output for this photo: the rules' score
        assert_eq!(prepared.metrics[2].composition, Some(5.0));
        let rows = scored(&b, &config);
        assert!(rows[0].2 > rows[2].2 && rows[2].2 > rows[1].2, "{rows:?}");
    }

    /// path, face_count, face_ratio, stored is_group_portrait, is_blink.
    type FaceRow = (&'static str, i32, f64, bool, bool);

    fn face_table(rows: &[FaceRow]) -> RecordBatch {
        let names = [
            "path",
            "face_count",
            "face_ratio",
            "is_group_portrait",
            "is_blink",
            "face_quality",
            "dark_mass",
            "bright_mass",
            "luminance",
            "is_monochrome",
        ];
        let schema = Arc::new(Schema::new(names.map(photos_field).to_vec()));
        let f64s = |f: &dyn Fn(&FaceRow) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
        };
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(arrow_array::Int32Array::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
                f64s(&|r| r.2),
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.4).collect::<Vec<_>>(),
                )),
                f64s(&|_| 8.0),
                f64s(&|_| 0.1),
                f64s(&|_| 0.1),
                f64s(&|_| 0.5),
                Arc::new(BooleanArray::from(vec![false; rows.len()])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn face_columns_choose_portrait_categories_and_blinks_cost() {
        let config = FacetConfig::default();
        let b = face_table(&[
            ("/close.jpg", 1, 0.3, false, false),
            ("/blink.jpg", 1, 0.3, false, true),
            ("/group.jpg", 5, 0.06, true, false),
            ("/none.jpg", 0, 0.0, false, false),
        ]);
        let got = scored(&b, &config);
        assert_eq!(got[0].1, "portrait");
        assert_eq!(got[1].1, "portrait");
        assert!(got[1].2 < got[0].2, "the blink costs: {got:?}");
        assert_eq!(got[2].1, "group_portrait");
        assert_ne!(got[3].1, "portrait");
    }

    #[test]
    fn group_portraits_follow_the_current_min_faces_for_group() {
        // Flags stored when the faces were counted with the default (4).
        let b = face_table(&[
            ("/three.jpg", 3, 0.06, false, false),
            ("/five.jpg", 5, 0.06, true, false),
        ]);
        let categories = |min: u32| -> Vec<String> {
            let mut config = FacetConfig::default();
            config.face_detection.min_faces_for_group = min;
            scored(&b, &config).into_iter().map(|r| r.1).collect()
        };
        let default = categories(4);
        assert_ne!(default[0], "group_portrait", "3 faces < 4");
        assert_eq!(default[1], "group_portrait");
        let three = categories(3);
        assert_eq!(
            three[0], "group_portrait",
            "3 faces ≥ 3, though stored false"
        );
        assert_eq!(three[1], "group_portrait");
        let six = categories(6);
        assert_ne!(six[1], "group_portrait", "5 faces < 6, though stored true");
    }

    #[test]
    fn a_sharper_photo_scores_higher_in_the_same_category() {
        let config = FacetConfig::default();
        let rows = scored(
            &table(&[
                ("/soft.jpg", 20.0, 0.5, false),
                ("/sharp.jpg", 400.0, 0.5, false),
            ]),
            &config,
        );
        assert!(rows[1].2 > rows[0].2, "{rows:?}");
    }

    #[test]
    fn changing_one_category_weight_changes_only_that_category() {
        let mut config = FacetConfig::default();
        let b = table(&[
            ("/night.jpg", 50.0, 0.05, false),
            ("/day.jpg", 50.0, 0.5, false),
            ("/day2.jpg", 500.0, 0.5, false),
        ]);
        let before = scored(&b, &config);
        let night = config
            .categories
            .iter_mut()
            .find(|c| c.name == "night")
            .unwrap();
        // Move weight from one metric to another, keeping the sum at 100.
        let (from, to) = {
            let mut ws: Vec<(String, f64)> =
                night.weights.iter().map(|(k, v)| (k.clone(), *v)).collect();
            ws.sort_by(|a, b| b.1.total_cmp(&a.1));
            (
                ws[0].0.clone(),
                if ws[0].0 == "exposure_percent" {
                    "contrast_percent".to_string()
                } else {
                    "exposure_percent".to_string()
                },
            )
        };
        let moved = 10.0_f64.min(night.weights[&from]);
        *night.weights.get_mut(&from).unwrap() -= moved;
        *night.weights.entry(to).or_insert(0.0) += moved;
        let after = scored(&b, &config);
        assert_ne!(before[0].2, after[0].2, "the night photo's score changes");
        assert_eq!(before[1..], after[1..], "other categories' scores do not");
    }

    #[test]
    fn tags_and_aesthetic_from_model_stages_are_read() {
        use arrow_array::builder::{ListBuilder, StringBuilder};
        let config = FacetConfig::default();
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("vehicle");
        tags.append(true);
        tags.append(true);
        let tags = tags.finish();
        let schema = Arc::new(Schema::new(vec![
            photos_field("path"),
            photos_field("luminance"),
            photos_field("aesthetic"),
            photos_field("tags"),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["/car.jpg", "/plain.jpg"])),
                Arc::new(Float64Array::from(vec![0.5, 0.5])),
                Arc::new(Float64Array::from(vec![Some(9.0), None])),
                Arc::new(tags),
            ],
        )
        .unwrap();
        let out = score_table(&b, &config).unwrap();
        let cats = out.column(1).as_string::<i32>();
        assert_eq!(cats.value(0), "vehicle");
        assert_eq!(cats.value(1), "default");
        let critique: serde_json::Value =
            serde_json::from_str(out.column(3).as_string::<i32>().value(0)).unwrap();
        let aesthetic = critique
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metric"] == "aesthetic")
            .expect("vehicle weighs aesthetic");
        assert_eq!(aesthetic["raw"], 9.0);
        assert_eq!(aesthetic["neutral"], false);
    }
}
