//! `score`: the scoring model — a photo's aggregate score from its metrics and
//! its category's weights, modifiers and the global penalties — as pure
//! functions, with a breakdown of what raised and lowered the score (the
//! critique). The semantics are the reference's `calculate_aggregate_logic`
//! (weighted 0–10 metrics, blink multiplier, bonus, clipping / noise /
//! bimodality / oversaturation penalties, EXIF adjustments, clamp, round), its
//! percentile normalizer (see [`normalize`]) and the viewer's Top Picks score
//! (see [`top_picks`]).
//!
//! The steps of [`score`]:
//! 1. Each metric the category weights (`weight > 0`; weights are fractions
//!    `percent / 100`, rescaled to sum 1 when they sum to more than 0.1 % away
//!    from 100 %) contributes `value × weight`, `value` clamped to 0–10. A
//!    missing (or non-finite, or outside −100…100) input is *not measured*:
//!    it is flagged `neutral`, weighs 0, and the measured metrics' weights are
//!    rescaled to keep their sum — a photo is judged on what was measured, not
//!    pulled toward 5 by models the pipeline does not run (the reference
//!    scores such a metric with its default: 5 for most metrics, 0 for
//!    `leading_lines` and `dynamic_range`, an isolation ratio of 1 for
//!    `isolation`; Facet does so only when nothing at all was measured). `quality` always scores 0; its weight is redistributed
//!    to `aesthetic` by the reference's rule (aesthetic's value is raised by
//!    `w_quality / w_aesthetic` before clamping).
//! 2. Before clamping, EXIF adjustments: ISO > 800 raises tech sharpness by
//!    `0.5 · log2(ISO / 800)` (capped at 10); f ≤ 2.8 multiplies the isolation
//!    ratio by 1.3 (1.5 at f ≤ 2.0), capped at 3. Outside `portrait` and
//!    `group_portrait`, `leading_lines_blend_percent` % of the leading-lines
//!    score (stored score × 1.77, capped at 10) is added to composition.
//! 3. The weighted sum is multiplied by `thresholds.blink_penalty_percent / 100`
//!    when a blink is detected and the category's `_apply_blink_penalty` is set.
//! 4. `modifiers.bonus` is added.
//! 5. Clipping: `0.5 · shadow_clipped + highlight_clipped` (flags), times the
//!    category's `_clipping_multiplier`, is subtracted — unless the photo is a
//!    silhouette (with `exposure.silhouette_detection` on) or the category sets
//!    `_skip_clipping_penalty`.
//! 6. Noise: when σ > `noise_sigma_threshold`,
//!    `min(noise_max_penalty_points, (σ − threshold) · noise_penalty_per_sigma)`
//!    times the category's `noise_tolerance_multiplier` is subtracted.
//! 7. `bimodality_penalty_points` is subtracted when the histogram bimodality
//!    exceeds `bimodality_threshold`.
//! 8. `oversaturation_penalty_points` is subtracted when the mean saturation
//!    exceeds `oversaturation_threshold`, unless `_skip_oversaturation_penalty`.
//! 9. The result is clamped to `scoring.score_min`–`score_max` and rounded to
//!    `score_precision` decimals (half to even on the exact binary value, as
//!    Python's `round`).

pub mod compare;
pub mod incremental;
pub mod normalize;
pub mod recommend;
pub mod summary;
pub mod table;
pub mod top_picks;

#[cfg(test)]
mod tests;

use facet_config::{
    Category, ExifAdjustments, Exposure, FacetConfig, Normalization, Penalties, Scoring, Thresholds,
};
use serde::{Deserialize, Serialize};

pub use normalize::{
    NORMALIZED_METRICS, NormStats, category_percentile, library_percentile, percentile_of_counts,
    percentile_of_sorted, scale_to_percentile,
};
pub use top_picks::{TopPicksInputs, is_top_pick, top_picks_score};

/// A photo's raw scoring inputs, in the form they are stored. `None` is "not
/// measured" (a stage that has not run, or no face for the face metrics).
///
/// The weighted metrics, with the column that feeds each and how it reaches
/// the 0–10 scale:
///
/// | field | stored column | to 0–10 |
/// |---|---|---|
/// | `aesthetic` | `aesthetic` | as stored |
/// | `face_quality` | `face_quality` | as stored |
/// | `eye_sharpness` | raw eye sharpness (the reference's `raw_eye_sharpness`) | percentile |
/// | `tech_sharpness` | `sharpness` (Laplacian variance) | percentile, then ISO compensation |
/// | `exposure` | `exposure_score` | as stored |
/// | `composition` | `composition_score` | as stored, plus the leading-lines blend |
/// | `color` | `color_score` | percentile; 5 for a monochrome photo |
/// | `quality` | — | never scored (0), see [`score`] |
/// | `contrast` | `contrast_score` | as stored |
/// | `dynamic_range` | `histogram_spread` (grey std, 0–255) | ÷ 6, capped at 10 |
/// | `isolation` | isolation ratio (face sharpness / (Laplacian variance + 1), ≥ 1) | `(ratio − 1) · 5`, after the aperture boost |
/// | `leading_lines` | `leading_lines_score` | × 1.77, capped at 10 |
/// | `aesthetic_iaa` | `aesthetic_iaa` (TOPIQ IAA) | as stored |
/// | `face_quality_iqa` | `face_quality_iqa` (TOPIQ NR-face) | as stored |
/// | `liqe` | `liqe_score` | as stored |
/// | `subject_sharpness`, `subject_prominence`, `subject_placement`, `bg_separation` | same names (saliency) | as stored |
///
/// The reference scores the dynamic-range weight from `histogram_spread`, not
/// from `dynamic_range_stops` (which it stores but does not score).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoMetrics {
    pub aesthetic: Option<f64>,
    pub face_quality: Option<f64>,
    /// Raw eye sharpness (percentile-normalized).
    pub eye_sharpness: Option<f64>,
    /// Laplacian variance, the `sharpness` column (percentile-normalized).
    pub tech_sharpness: Option<f64>,
    /// `exposure_score` (0–10).
    pub exposure: Option<f64>,
    /// `composition_score` (0–10).
    pub composition: Option<f64>,
    /// `color_score` (percentile-normalized).
    pub color: Option<f64>,
    /// Not read: the reference scores `quality` as 0 and gives its weight to
    /// aesthetic. Kept so every weight metric has a field.
    pub quality: Option<f64>,
    /// `contrast_score` (0–10).
    pub contrast: Option<f64>,
    /// `histogram_spread`: standard deviation of the grey levels, 0–255 units.
    pub dynamic_range: Option<f64>,
    /// Isolation ratio (≥ 1; 1 = no subject isolation).
    pub isolation: Option<f64>,
    /// `leading_lines_score` (0–10).
    pub leading_lines: Option<f64>,
    pub aesthetic_iaa: Option<f64>,
    pub face_quality_iqa: Option<f64>,
    /// `liqe_score`.
    pub liqe: Option<f64>,
    pub subject_sharpness: Option<f64>,
    pub subject_prominence: Option<f64>,
    pub subject_placement: Option<f64>,
    pub bg_separation: Option<f64>,

    // Penalty and adjustment inputs.
    /// `noise_sigma` (grey levels).
    pub noise_sigma: Option<f64>,
    /// `shadow_clipped`: more than `exposure.shadow_clip_threshold_percent` % of
    /// the pixels are near black.
    pub shadow_clipped: Option<bool>,
    /// `highlight_clipped`: more than `exposure.highlight_clip_threshold_percent`
    /// % of the pixels are near white.
    pub highlight_clipped: Option<bool>,
    /// `histogram_bimodality`.
    pub histogram_bimodality: Option<f64>,
    /// `mean_saturation` (0–1).
    pub mean_saturation: Option<f64>,
    /// `is_monochrome`: colour scores a neutral 5.
    pub is_monochrome: Option<bool>,
    /// A detected face has its eyes closed.
    pub is_blink: Option<bool>,
    /// Intentional silhouette: no clipping penalty.
    pub is_silhouette: Option<bool>,
    /// Camera ISO (EXIF).
    pub iso: Option<f64>,
    /// Aperture f-number (EXIF).
    pub f_number: Option<f64>,
}

impl PhotoMetrics {
    /// The raw value of a weight metric (names of
    /// [`facet_config::WEIGHT_METRICS`]); `None` when missing or unknown.
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "aesthetic" => self.aesthetic,
            "face_quality" => self.face_quality,
            "eye_sharpness" => self.eye_sharpness,
            "tech_sharpness" => self.tech_sharpness,
            "exposure" => self.exposure,
            "composition" => self.composition,
            "color" => self.color,
            "quality" => self.quality,
            "contrast" => self.contrast,
            "dynamic_range" => self.dynamic_range,
            "isolation" => self.isolation,
            "leading_lines" => self.leading_lines,
            "aesthetic_iaa" => self.aesthetic_iaa,
            "face_quality_iqa" => self.face_quality_iqa,
            "liqe" => self.liqe,
            "subject_sharpness" => self.subject_sharpness,
            "subject_prominence" => self.subject_prominence,
            "subject_placement" => self.subject_placement,
            "bg_separation" => self.bg_separation,
            _ => None,
        }
    }

    /// The value that enters the percentile statistics of a metric in
    /// [`NORMALIZED_METRICS`] (`None` for other metrics).
    pub fn normalization_input(&self, metric: &str) -> Option<f64> {
        if NORMALIZED_METRICS.contains(&metric) {
            self.get(metric)
        } else {
            None
        }
    }
}

/// The configuration the scoring model reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoringInputs {
    pub scoring: Scoring,
    pub thresholds: Thresholds,
    pub penalties: Penalties,
    pub exif_adjustments: ExifAdjustments,
    pub exposure: Exposure,
    pub normalization: Normalization,
}

impl ScoringInputs {
    /// The scoring sections of a configuration.
    pub fn from_config(config: &FacetConfig) -> ScoringInputs {
        ScoringInputs {
            scoring: config.scoring.clone(),
            thresholds: config.thresholds.clone(),
            penalties: config.penalties.clone(),
            exif_adjustments: config.exif_adjustments.clone(),
            exposure: config.exposure.clone(),
            normalization: config.normalization.clone(),
        }
    }
}

/// A photo's score and its critique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The category whose weights and modifiers were applied.
    pub category: String,
    /// The aggregate, clamped and rounded.
    pub aggregate: f64,
    /// What made the score: the weighted metrics, then the adjustments in the
    /// order they were applied. The `points` of all items add up to the
    /// aggregate before rounding.
    pub breakdown: Vec<BreakdownItem>,
}

impl Score {
    /// The sum of the breakdown's points (the aggregate before rounding).
    pub fn breakdown_total(&self) -> f64 {
        self.breakdown.iter().map(BreakdownItem::points).sum()
    }

    /// The breakdown item of a metric.
    pub fn metric(&self, name: &str) -> Option<&BreakdownItem> {
        self.breakdown
            .iter()
            .find(|i| matches!(i, BreakdownItem::Metric { metric, .. } if metric == name))
    }

    /// The breakdown item of an adjustment.
    pub fn adjustment(&self, name: &str) -> Option<&BreakdownItem> {
        self.breakdown
            .iter()
            .find(|i| matches!(i, BreakdownItem::Adjustment { name: n, .. } if n == name))
    }
}

/// One line of the critique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakdownItem {
    /// A weighted metric's contribution, `normalized × weight_percent / 100`.
    Metric {
        /// Weight metric name (`aesthetic`, `tech_sharpness`, …).
        metric: String,
        /// The stored input, `None` when missing.
        raw: Option<f64>,
        /// The 0–10 value scored (before the EXIF / leading-lines / quality
        /// adjustments, which are separate items).
        normalized: f64,
        /// The effective weight in percent (after rescaling to sum 100).
        weight_percent: f64,
        /// Contribution in points.
        points: f64,
        /// The input was missing (or unusable, or colour of a monochrome photo)
        /// and the reference's default value was scored.
        neutral: bool,
    },
    /// A bonus, penalty or adjustment (signed points).
    Adjustment {
        /// `quality_to_aesthetic`, `iso_sharpness_compensation`,
        /// `aperture_isolation_boost`, `leading_lines_blend`, `blink`, `bonus`,
        /// `clipping`, `noise`, `bimodality`, `oversaturation`, `clamp`.
        name: String,
        /// Signed points; 0 for a penalty that was skipped (the reason says why).
        points: f64,
        /// Human-readable explanation.
        reason: String,
    },
}

impl BreakdownItem {
    /// The item's points.
    pub fn points(&self) -> f64 {
        match self {
            BreakdownItem::Metric { points, .. } | BreakdownItem::Adjustment { points, .. } => {
                *points
            }
        }
    }

    fn adjustment(name: &str, points: f64, reason: String) -> BreakdownItem {
        BreakdownItem::Adjustment {
            name: name.to_string(),
            points,
            reason,
        }
    }
}

/// The metrics in the order the reference sums them.
const SUM_ORDER: [&str; 19] = [
    "aesthetic",
    "quality",
    "face_quality",
    "eye_sharpness",
    "tech_sharpness",
    "composition",
    "leading_lines",
    "exposure",
    "color",
    "contrast",
    "dynamic_range",
    "isolation",
    "aesthetic_iaa",
    "face_quality_iqa",
    "liqe",
    "subject_sharpness",
    "subject_prominence",
    "subject_placement",
    "bg_separation",
];

/// Leading-lines score multiplier (the stored score × 1.77, capped at 10).
const LEADING_LINES_SCALE: f64 = 1.77;
/// ISO from which the sharpness compensation applies.
const ISO_COMPENSATION_FROM: f64 = 800.0;

/// The category's weights as fractions, in the reference's summing order,
/// rescaled to sum 1 when their sum is more than 0.001 away from 1; only the
/// weights above 0.
pub fn weight_fractions(category: &Category) -> Vec<(&'static str, f64)> {
    let total: f64 = category.metric_weights().map(|(_, w)| w / 100.0).sum();
    let rescale = total > 0.0 && (total - 1.0).abs() > 0.001;
    SUM_ORDER
        .iter()
        .filter_map(|&metric| {
            let mut w = category.weight_percent(metric) / 100.0;
            if rescale {
                w /= total;
            }
            (w > 0.0).then_some((metric, w))
        })
        .collect()
}

/// The reference's guard on stored values: missing, non-finite, or outside
/// −100…100 counts as missing.
fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && (-100.0..=100.0).contains(x))
}

fn clamp10(v: f64) -> f64 {
    v.clamp(0.0, 10.0)
}

/// `x` rounded to `places` decimals, ties to even on the exact binary value
/// (as Python's `round`).
pub fn round_to(x: f64, places: u32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{:.*}", places as usize, x)
        .parse::<f64>()
        .map_or(x, |r| r + 0.0)
}

/// The scoring formula's version, part of every score's fingerprint: a
/// change of the formula re-scores the stored photos (`facet recompute`,
/// without decoding). 2: unmeasured metrics weigh nothing.
pub const FORMULA: u32 = 2;

/// A metric's scored value: before and after its adjustment.
struct MetricValue {
    raw: Option<f64>,
    value: f64,
    neutral: bool,
    adjusted: Option<(f64, &'static str, String)>,
}

impl MetricValue {
    /// No usable input: the metric was not measured (a colour scored
    /// neutral because the photo is monochrome was measured).
    fn unmeasured(&self) -> bool {
        self.neutral && usable(self.raw).is_none()
    }
}

fn metric_value(
    metric: &'static str,
    category: &Category,
    m: &PhotoMetrics,
    norm: &NormStats,
    cfg: &ScoringInputs,
    weights: &[(&'static str, f64)],
) -> MetricValue {
    let raw = m.get(metric);
    let or_default = |v: Option<f64>, default: f64| match v {
        Some(v) => (v, false),
        None => (default, true),
    };
    let (value, neutral) = match metric {
        "quality" => (0.0, false),
        "tech_sharpness" | "color" | "eye_sharpness" => {
            if metric == "color" && m.is_monochrome == Some(true) {
                (5.0, true)
            } else {
                let normalized = raw.map(|r| norm.normalize(metric, r, &category.name));
                or_default(usable(normalized), 5.0)
            }
        }
        "dynamic_range" => {
            let (spread, neutral) = or_default(usable(raw), 0.0);
            ((spread / 6.0).min(10.0), neutral)
        }
        "isolation" => {
            let (ratio, neutral) = or_default(raw.filter(|v| v.is_finite()), 1.0);
            (isolation_score(ratio), neutral)
        }
        "leading_lines" => {
            let (ll, neutral) = or_default(usable(raw), 0.0);
            ((ll * LEADING_LINES_SCALE).min(10.0), neutral)
        }
        _ => or_default(usable(raw), 5.0),
    };
    let adjusted = match metric {
        "aesthetic" => {
            let w = |name: &str| {
                weights
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(0.0, |(_, w)| *w)
            };
            let (w_aes, w_q) = (w("aesthetic"), w("quality"));
            (w_q > 0.0).then(|| {
                (
                    value + w_q / w_aes.max(0.01),
                    "quality_to_aesthetic",
                    format!(
                        "quality weight {:.0}% goes to aesthetic (value +{:.2})",
                        w_q * 100.0,
                        w_q / w_aes.max(0.01)
                    ),
                )
            })
        }
        "tech_sharpness" => {
            let iso = m.iso.filter(|v| v.is_finite());
            match iso {
                Some(iso)
                    if cfg.exif_adjustments.iso_sharpness_compensation
                        && iso > ISO_COMPENSATION_FROM =>
                {
                    let boost = 0.5 * (iso / ISO_COMPENSATION_FROM).log2();
                    Some((
                        (value + boost).min(10.0),
                        "iso_sharpness_compensation",
                        format!("ISO {iso} raises sharpness by {boost:.2}"),
                    ))
                }
                _ => None,
            }
        }
        "isolation" => {
            let ratio = raw.filter(|v| v.is_finite()).unwrap_or(1.0);
            match usable(m.f_number) {
                Some(f) if cfg.exif_adjustments.aperture_isolation_boost && f > 0.0 && f <= 2.8 => {
                    let factor = if f <= 2.0 { 1.5 } else { 1.3 };
                    let boosted = (ratio * factor).min(3.0);
                    Some((
                        isolation_score(boosted),
                        "aperture_isolation_boost",
                        format!("f/{f} multiplies subject isolation by {factor}"),
                    ))
                }
                _ => None,
            }
        }
        "composition" => {
            let ll = (usable(m.leading_lines).unwrap_or(0.0) * LEADING_LINES_SCALE).min(10.0);
            let blend = cfg.penalties.leading_lines_blend_percent / 100.0;
            let exempt = matches!(category.name.as_str(), "portrait" | "group_portrait");
            (!exempt && ll > 0.0).then(|| {
                (
                    (value + ll * blend).min(10.0),
                    "leading_lines_blend",
                    format!(
                        "{}% of the leading-lines score {ll:.2} added to composition",
                        cfg.penalties.leading_lines_blend_percent
                    ),
                )
            })
        }
        _ => None,
    };
    MetricValue {
        raw,
        value,
        neutral,
        adjusted,
    }
}

/// Isolation ratio → 0–10: `min(10, (ratio − 1) · 5)`.
fn isolation_score(ratio: f64) -> f64 {
    ((ratio - 1.0) * 5.0).min(10.0)
}

/// The aggregate score of a photo of `category` (see the module documentation
/// for the steps).
pub fn score(
    category: &Category,
    metrics: &PhotoMetrics,
    norm: &NormStats,
    cfg: &ScoringInputs,
) -> Score {
    let m = metrics;
    let modifiers = &category.modifiers;
    let p = &cfg.penalties;
    let weights = weight_fractions(category);
    let mut breakdown = Vec::with_capacity(weights.len() + 8);
    let mut adjustments = Vec::new();

    // 1–2. The weighted sum, in the reference's order and arithmetic, over
    // the metrics that were measured: an unmeasured one (no usable input)
    // weighs nothing and the others' weights are rescaled to their sum.
    let values: Vec<MetricValue> = weights
        .iter()
        .map(|&(metric, _)| metric_value(metric, category, m, norm, cfg, &weights))
        .collect();
    let measured_weight: f64 = weights
        .iter()
        .zip(&values)
        .filter(|(_, v)| !v.unmeasured())
        .map(|((_, w), _)| w)
        .sum();
    let all_weight: f64 = weights.iter().map(|(_, w)| w).sum();
    let mut total = 0.0;
    for (&(metric, w), v) in weights.iter().zip(values) {
        // Nothing measured at all: the reference's defaults stand.
        let w = match (v.unmeasured(), measured_weight > 0.0) {
            (true, true) => 0.0,
            (false, true) => w * all_weight / measured_weight,
            (_, false) => w,
        };
        let base = clamp10(v.value);
        breakdown.push(BreakdownItem::Metric {
            metric: metric.to_string(),
            raw: v.raw,
            normalized: base,
            weight_percent: w * 100.0,
            points: base * w,
            neutral: v.neutral,
        });
        let scored = match v.adjusted {
            Some((after, name, reason)) => {
                let after = clamp10(after);
                adjustments.push(BreakdownItem::adjustment(
                    name,
                    after * w - base * w,
                    reason,
                ));
                after
            }
            None => base,
        };
        total += scored * w;
    }
    breakdown.append(&mut adjustments);

    // 3. Blink.
    if modifiers.apply_blink_penalty && m.is_blink == Some(true) {
        // The reference reads the percent with `or 50`: 0 means 50.
        let percent = match cfg.thresholds.blink_penalty_percent {
            0.0 => 50.0,
            x => x,
        };
        let after = total * (percent / 100.0);
        breakdown.push(BreakdownItem::adjustment(
            "blink",
            after - total,
            format!("closed eyes: score × {percent}%"),
        ));
        total = after;
    }

    // 4. Bonus.
    if modifiers.bonus != 0.0 {
        total += modifiers.bonus;
        breakdown.push(BreakdownItem::adjustment(
            "bonus",
            modifiers.bonus,
            format!("category {} bonus", category.name),
        ));
    }

    // 5. Clipping.
    let silhouette = cfg.exposure.silhouette_detection && m.is_silhouette == Some(true);
    let shadow = m.shadow_clipped == Some(true);
    let highlight = m.highlight_clipped == Some(true);
    if shadow || highlight {
        let base = 0.5 * f64::from(u8::from(shadow)) + f64::from(u8::from(highlight));
        let what = match (shadow, highlight) {
            (true, true) => "shadows and highlights clipped",
            (true, false) => "shadows clipped",
            _ => "highlights clipped",
        };
        if silhouette {
            breakdown.push(BreakdownItem::adjustment(
                "clipping",
                0.0,
                format!("{what}; not penalised for a silhouette"),
            ));
        } else if modifiers.skip_clipping_penalty {
            breakdown.push(BreakdownItem::adjustment(
                "clipping",
                0.0,
                format!("{what}; not penalised in category {}", category.name),
            ));
        } else {
            let points = base * modifiers.clipping_multiplier;
            total -= points;
            breakdown.push(BreakdownItem::adjustment(
                "clipping",
                -points,
                format!("{what} (× {})", modifiers.clipping_multiplier),
            ));
        }
    }

    // 6. Noise.
    let sigma = usable(m.noise_sigma).unwrap_or(0.0);
    if sigma > p.noise_sigma_threshold {
        let penalty = p
            .noise_max_penalty_points
            .min((sigma - p.noise_sigma_threshold) * p.noise_penalty_per_sigma);
        let points = penalty * modifiers.noise_tolerance_multiplier;
        total -= points;
        breakdown.push(BreakdownItem::adjustment(
            "noise",
            -points,
            format!(
                "noise σ {sigma:.2} above {} (× tolerance {})",
                p.noise_sigma_threshold, modifiers.noise_tolerance_multiplier
            ),
        ));
    }

    // 7. Bimodality.
    let bimodality = usable(m.histogram_bimodality).unwrap_or(0.0);
    if bimodality > p.bimodality_threshold {
        total -= p.bimodality_penalty_points;
        breakdown.push(BreakdownItem::adjustment(
            "bimodality",
            -p.bimodality_penalty_points,
            format!(
                "histogram bimodality {bimodality:.2} above {}",
                p.bimodality_threshold
            ),
        ));
    }

    // 8. Oversaturation.
    let saturation = usable(m.mean_saturation).unwrap_or(0.0);
    if saturation > p.oversaturation_threshold {
        if modifiers.skip_oversaturation_penalty {
            breakdown.push(BreakdownItem::adjustment(
                "oversaturation",
                0.0,
                format!(
                    "mean saturation {saturation:.2} above {}; not penalised in category {}",
                    p.oversaturation_threshold, category.name
                ),
            ));
        } else {
            total -= p.oversaturation_penalty_points;
            breakdown.push(BreakdownItem::adjustment(
                "oversaturation",
                -p.oversaturation_penalty_points,
                format!(
                    "mean saturation {saturation:.2} above {}",
                    p.oversaturation_threshold
                ),
            ));
        }
    }

    // 9. Clamp and round.
    let s = &cfg.scoring;
    let clamped = total.max(s.score_min).min(s.score_max);
    if clamped != total {
        breakdown.push(BreakdownItem::adjustment(
            "clamp",
            clamped - total,
            format!("clamped to {}–{}", s.score_min, s.score_max),
        ));
    }
    Score {
        category: category.name.clone(),
        aggregate: round_to(clamped, s.score_precision),
        breakdown,
    }
}
