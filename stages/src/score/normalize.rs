//! Percentile normalization: raw metrics whose scale depends on the library
//! (Laplacian variance, colour entropy, eye sharpness) are scaled so that the
//! `normalization.percentile_target` percentile of the library — or of the
//! photo's category, when it has at least `category_min_samples` values —
//! scores 10.
//!
//! The percentile is the reference's nearest-rank value: the values sorted
//! ascending, index `⌊n · target / 100⌋`, clamped to the last one (no
//! interpolation). The functions over value slices ([`library_percentile`],
//! [`category_percentile`], [`percentile_of_counts`]) are what an incremental
//! (differential-dataflow) reduce per `(category, metric)` calls; [`NormStats`]
//! only gathers their results.

use std::collections::BTreeMap;

use facet_config::Normalization;

use super::PhotoMetrics;

/// The weight metrics that are percentile-normalized before scoring, as the
/// reference's recalculation does (`raw_sharpness_variance` → `tech_sharpness`,
/// `raw_color_entropy` → `color`, `raw_eye_sharpness` → `eye_sharpness`).
/// Every other metric is already on a 0–10 scale when stored.
pub const NORMALIZED_METRICS: [&str; 3] = ["tech_sharpness", "color", "eye_sharpness"];

/// The `target` percentile (0 < target ≤ 100) of `sorted` (ascending, finite):
/// `sorted[min(⌊n · target / 100⌋, n − 1)]`; `None` when empty.
pub fn percentile_of_sorted(sorted: &[f64], target: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(sorted[nearest_rank(n as u64, target).min(n as u64 - 1) as usize])
}

/// The `target` percentile of `values` (any order; non-finite values are
/// ignored), or `None` when there is none.
pub fn library_percentile(values: &[f64], target: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    percentile_of_sorted(&sorted, target)
}

/// The `target` percentile of one category's `values`, or `None` when it has
/// fewer than `min_samples` finite values (the caller then falls back to the
/// library's percentile).
pub fn category_percentile(values: &[f64], target: f64, min_samples: u64) -> Option<f64> {
    let finite = values.iter().filter(|v| v.is_finite()).count() as u64;
    if finite < min_samples {
        return None;
    }
    library_percentile(values, target)
}

/// The `target` percentile of a multiset given as `(value, count)` pairs sorted
/// ascending by value — the shape a differential-dataflow `reduce` hands over.
/// Pairs with a zero count are skipped; `None` when the multiset has fewer than
/// `min_samples` elements (or none).
pub fn percentile_of_counts(counts: &[(f64, u64)], target: f64, min_samples: u64) -> Option<f64> {
    let n: u64 = counts.iter().map(|&(_, c)| c).sum();
    if n == 0 || n < min_samples {
        return None;
    }
    let idx = nearest_rank(n, target).min(n - 1);
    let mut seen = 0u64;
    for &(v, c) in counts {
        seen += c;
        if seen > idx {
            return Some(v);
        }
    }
    None
}

/// `⌊n · target / 100⌋`, evaluated as the reference does (`int(n * p / 100)`).
fn nearest_rank(n: u64, target: f64) -> u64 {
    let idx = (n as f64) * target / 100.0;
    if idx.is_finite() && idx > 0.0 {
        idx.floor() as u64
    } else {
        0
    }
}

/// Scale `raw` so that `p` maps to 10, clamped to 0–10. With no percentile, or
/// a percentile of 0, the raw value is returned unchanged (the reference's
/// pass-through; the aggregate then treats a value outside −100…100 as missing
/// and clamps the rest to 0–10).
pub fn scale_to_percentile(raw: f64, p: Option<f64>) -> f64 {
    match p {
        Some(p) if p != 0.0 => (raw / p * 10.0).clamp(0.0, 10.0),
        _ => raw,
    }
}

/// The percentiles of the normalized metrics: library-wide, and per category
/// for the categories with at least `category_min_samples` values of a metric
/// (only when `per_category` is on).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NormStats {
    /// Metric → library percentile.
    pub library: BTreeMap<String, f64>,
    /// (category, metric) → the category's percentile.
    pub by_category: BTreeMap<(String, String), f64>,
}

impl NormStats {
    /// The statistics of a library: `photos` is every photo's category (as
    /// assigned now) and metrics.
    pub fn build<'a>(
        cfg: &Normalization,
        photos: impl IntoIterator<Item = (&'a str, &'a PhotoMetrics)>,
    ) -> NormStats {
        let mut library: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        let mut per_cat: BTreeMap<(&'a str, &'static str), Vec<f64>> = BTreeMap::new();
        for (category, m) in photos {
            for metric in NORMALIZED_METRICS {
                if let Some(v) = m.normalization_input(metric).filter(|v| v.is_finite()) {
                    library.entry(metric).or_default().push(v);
                    if cfg.per_category {
                        per_cat.entry((category, metric)).or_default().push(v);
                    }
                }
            }
        }
        let target = cfg.percentile_target;
        NormStats {
            library: library
                .into_iter()
                .filter_map(|(metric, v)| {
                    library_percentile(&v, target).map(|p| (metric.to_string(), p))
                })
                .collect(),
            by_category: per_cat
                .into_iter()
                .filter_map(|((category, metric), v)| {
                    category_percentile(&v, target, cfg.category_min_samples)
                        .map(|p| ((category.to_string(), metric.to_string()), p))
                })
                .collect(),
        }
    }

    /// The percentile that normalizes `metric` for a photo of `category`: the
    /// category's when it has one, else the library's.
    pub fn percentile(&self, metric: &str, category: &str) -> Option<f64> {
        self.by_category
            .get(&(category.to_string(), metric.to_string()))
            .or_else(|| self.library.get(metric))
            .copied()
    }

    /// `raw` on the 0–10 scale: `raw / percentile · 10`, clamped to 0–10, for
    /// the metrics in [`NORMALIZED_METRICS`]; any other metric, or one without a
    /// (non-zero) percentile, is returned as it is.
    pub fn normalize(&self, metric: &str, raw: f64, category: &str) -> f64 {
        if !NORMALIZED_METRICS.contains(&metric) {
            return raw;
        }
        scale_to_percentile(raw, self.percentile(metric, category))
    }
}
