//! `facet recommend`: the configuration's "Analysis" checks (the reference's
//! `--compute-recommendations`) over a scored library. Each check measures
//! something about the stored scores and, when it finds a problem, proposes a
//! concrete edit of `scoring_config.json` (`path: current -> new`).
//!
//! Statistics are plain population means and standard deviations. Categories
//! are looked up by name in `config.categories`; a photo whose category is not
//! configured counts in the library statistics but gets no per-category
//! suggestion. The checks, highest priority first (see `CHECKS`), thresholds
//! from `config.analysis`:
//!
//! 1. `score_clustering` (warning): the aggregates' std (≥ 2 photos) is below
//!    `score_clustering_std_threshold` → lower `normalization.percentile_target`
//!    by 5.
//! 2. `top_score` (warning): the best aggregate is below `top_score_threshold`
//!    → lower the percentile target, or raise the bonuses by the gap.
//! 3. `normalization_compressed` (warning): at least 50 photos and
//!    `max − min` of the aggregates under 4 points → lower the percentile target.
//! 4. `aesthetic_scale` (warning): the largest stored aesthetic score is below
//!    `aesthetic_max_threshold` → scale aesthetic by `aesthetic_target / max`.
//!    Nothing when no photo has an aesthetic score.
//! 5. `dominant_metric` (warning): per category with at least
//!    `category_min_samples` photos, the weighted metric whose (non-neutral)
//!    0–10 value correlates most with the aggregate (Pearson, highest |r|) is
//!    flagged when `r ≥ correlation_dominant_threshold` and it carries more than
//!    half of the variance of the weighted sum (`w²·var / Σ w²·var`) → move 5
//!    weight points to the category's least correlated metric that varies.
//! 6. `exposure_high` (warning): the mean `exposure_score` exceeds
//!    `exposure_avg_threshold`, so exposure does not discriminate → move up to
//!    5 points of `exposure_percent`, in the most populated category that
//!    weights exposure, to that category's largest other weight.
//! 7. `quality_weight` (info): the mean aesthetic is at least
//!    `quality_avg_threshold` while a category with photos weights aesthetic
//!    (plus `quality`, whose weight scoring gives to aesthetic) at most
//!    `quality_weight_threshold_percent` → raise it to that threshold + 5,
//!    taking the points from the category's largest other weight.
//! 8. `category_imbalance` (info): for categories with at least
//!    `category_min_samples` photos (two or more such categories), `gap` =
//!    category mean − mean of the other such categories' photos; when
//!    `|gap| > category_imbalance_threshold` → `modifiers.bonus: b -> b − gap/2`
//!    (rounded to 0.1).
//! 9. `small_category` (info): a category with photos but fewer than
//!    `category_min_samples` is not analysed; below
//!    `normalization.category_min_samples` its percentile normalization also
//!    falls back to the library percentiles.
//! 10. `missing_metric` (info, lowest priority): per weighted metric, the
//!     photos that have no value for it (not measured, so left out of their
//!     score; `raw` is
//!     `None`: its stage has not run, or, for face metrics, no face).

use std::collections::BTreeMap;

use facet_config::{Category, FacetConfig};
use serde::Serialize;

use super::{BreakdownItem, round_to};

/// One scored photo, as read back from the store.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub category: String,
    pub aggregate: f64,
    pub breakdown: Vec<BreakdownItem>,
    pub exposure_score: Option<f64>,
    pub aesthetic: Option<f64>,
}

/// How much a recommendation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
}

/// One suggestion for `scoring_config.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Stable identifier of the check: "score_clustering", "top_score", "exposure_high", "dominant_metric", "category_imbalance", "aesthetic_scale", "quality_weight", "missing_metric", "normalization_compressed", "small_category".
    pub check: &'static str,
    pub severity: Severity,
    /// What was measured, with the figures.
    pub finding: String,
    /// The concrete change to make, e.g. `categories[portrait].modifiers.bonus: 0 -> 0.4` or `normalization.percentile_target: 90 -> 85`.
    pub suggestion: String,
    /// JSON path in scoring_config.json the suggestion edits, when there is one (e.g. "categories[3].weights.tech_sharpness_percent" using the category's index in config.categories, or "normalization.percentile_target").
    pub config_path: Option<String>,
    /// Higher first.
    pub priority: u8,
}

/// Library statistics printed before the recommendations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub photos: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Most photos first, then by name.
    pub per_category: Vec<CategorySummary>,
}

/// One category's aggregate statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategorySummary {
    pub category: String,
    pub photos: usize,
    pub mean: f64,
    pub std: f64,
    pub max: f64,
}

/// The summary and the recommendations, highest priority first.
#[derive(Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub recommendations: Vec<Recommendation>,
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    mean(&xs.iter().map(|x| (x - m).powi(2)).collect::<Vec<_>>()).sqrt()
}

/// Pearson's r; `None` when either side does not vary.
fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 1e-12 && syy > 1e-12).then(|| sxy / (sxx * syy).sqrt())
}

/// A figure for a message: at most 3 decimals, no trailing zeros.
fn num(x: f64) -> String {
    round_to(x, 3).to_string()
}

fn find<'a>(config: &'a FacetConfig, name: &str) -> Option<(usize, &'a Category)> {
    config
        .categories
        .iter()
        .enumerate()
        .find(|(_, c)| c.name == name)
}

/// The category's largest weight other than `exclude` and `quality` (which
/// always scores 0).
fn largest_other<'a>(cat: &'a Category, exclude: &str) -> Option<(&'a str, f64)> {
    cat.metric_weights()
        .filter(|&(m, w)| w > 0.0 && m != exclude && m != "quality")
        .fold(None, |best: Option<(&str, f64)>, (m, w)| match best {
            Some((_, bw)) if bw >= w => best,
            _ => Some((m, w)),
        })
}

/// `categories[name].weights.from_percent: a -> a−d; ….to_percent: b -> b+d`.
fn move_weight(cat: &Category, from: &str, to: &str, d: f64) -> String {
    let (a, b) = (cat.weight_percent(from), cat.weight_percent(to));
    let n = &cat.name;
    format!(
        "categories[{n}].weights.{from}_percent: {} -> {}; categories[{n}].weights.{to}_percent: {} -> {}",
        num(a),
        num(a - d),
        num(b),
        num(b + d)
    )
}

/// Each check's severity and priority (higher first).
const CHECKS: [(&str, Severity, u8); 10] = [
    ("score_clustering", Severity::Warning, 90),
    ("top_score", Severity::Warning, 85),
    ("normalization_compressed", Severity::Warning, 80),
    ("aesthetic_scale", Severity::Warning, 75),
    ("dominant_metric", Severity::Warning, 70),
    ("exposure_high", Severity::Warning, 65),
    ("quality_weight", Severity::Info, 60),
    ("category_imbalance", Severity::Info, 50),
    ("small_category", Severity::Info, 20),
    ("missing_metric", Severity::Info, 10),
];

fn rec(
    check: &'static str,
    finding: String,
    suggestion: String,
    path: Option<String>,
) -> Recommendation {
    let &(check, severity, priority) = CHECKS.iter().find(|c| c.0 == check).expect("known check");
    Recommendation {
        check,
        severity,
        finding,
        suggestion,
        config_path: path,
        priority,
    }
}

/// Runs every check over the scored library.
pub fn analyse(rows: &[Row], config: &FacetConfig) -> Report {
    let a = &config.analysis;
    let aggs: Vec<f64> = rows.iter().map(|r| r.aggregate).collect();
    let mut by_cat: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_cat.entry(&r.category).or_default().push(r);
    }
    let mut groups: Vec<(&str, Vec<&Row>)> = by_cat.into_iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let cat_aggs = |g: &[&Row]| g.iter().map(|r| r.aggregate).collect::<Vec<_>>();
    let (min, max) = if rows.is_empty() {
        (0.0, 0.0)
    } else {
        (
            aggs.iter().copied().fold(f64::INFINITY, f64::min),
            aggs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let summary = Summary {
        photos: rows.len(),
        mean: mean(&aggs),
        std: std(&aggs),
        min,
        max,
        per_category: groups
            .iter()
            .map(|(name, g)| {
                let v = cat_aggs(g);
                CategorySummary {
                    category: name.to_string(),
                    photos: g.len(),
                    mean: mean(&v),
                    std: std(&v),
                    max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                }
            })
            .collect(),
    };
    let mut out = Vec::new();
    if rows.is_empty() {
        return Report {
            summary,
            recommendations: out,
        };
    }
    let min_samples = a.category_min_samples as usize;
    let target = config.normalization.percentile_target;
    let lower_target = format!(
        "normalization.percentile_target: {} -> {}",
        num(target),
        num((target - 5.0).max(1.0))
    );
    let target_path = || Some("normalization.percentile_target".to_string());

    if rows.len() >= 2 && summary.std < a.score_clustering_std_threshold {
        let finding = format!(
            "aggregate scores cluster: std {} < {}",
            num(summary.std),
            num(a.score_clustering_std_threshold)
        );
        out.push(rec(
            "score_clustering",
            finding,
            lower_target.clone(),
            target_path(),
        ));
    }
    if max < a.top_score_threshold {
        let finding = format!(
            "best aggregate {} < {}",
            num(max),
            num(a.top_score_threshold)
        );
        let gap = round_to(a.top_score_threshold - max, 1);
        let suggestion = format!(
            "{lower_target}, or raise the categories' modifiers.bonus by about {}",
            num(gap)
        );
        out.push(rec("top_score", finding, suggestion, target_path()));
    }
    if rows.len() >= 50 && max - min < 4.0 {
        let finding = format!(
            "aggregates span only {} points ({} to {}) over {} photos",
            num(max - min),
            num(min),
            num(max),
            rows.len()
        );
        out.push(rec(
            "normalization_compressed",
            finding,
            lower_target.clone(),
            target_path(),
        ));
    }

    let aesthetics: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.aesthetic)
        .filter(|v| v.is_finite())
        .collect();
    let aes_max = aesthetics.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !aesthetics.is_empty() && aes_max > 0.0 && aes_max < a.aesthetic_max_threshold {
        let finding = format!(
            "highest aesthetic score {} < {}",
            num(aes_max),
            num(a.aesthetic_max_threshold)
        );
        let suggestion = format!(
            "scale aesthetic by ×{} ({} / {}) so that its best photo reaches {}",
            num(a.aesthetic_target / aes_max),
            num(a.aesthetic_target),
            num(aes_max),
            num(a.aesthetic_target)
        );
        out.push(rec("aesthetic_scale", finding, suggestion, None));
    }

    for (name, g) in groups.iter().filter(|(_, g)| g.len() >= min_samples) {
        let Some((i, cat)) = find(config, name) else {
            continue;
        };
        // metric -> (weight, [(normalized, aggregate)]) over non-neutral items.
        let mut samples: BTreeMap<&str, (f64, Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for r in g {
            for item in &r.breakdown {
                if let BreakdownItem::Metric {
                    metric,
                    normalized,
                    weight_percent,
                    neutral: false,
                    ..
                } = item
                    && *weight_percent > 0.0
                {
                    let e = samples
                        .entry(metric)
                        .or_insert((*weight_percent, vec![], vec![]));
                    e.1.push(*normalized);
                    e.2.push(r.aggregate);
                }
            }
        }
        // (metric, r, w²·var); r is None for a metric that does not vary.
        let stats: Vec<(&str, Option<f64>, f64)> = samples
            .iter()
            .filter(|(_, (_, xs, _))| xs.len() >= 3)
            .map(|(m, (w, xs, ys))| (*m, pearson(xs, ys), w * w * std(xs).powi(2)))
            .collect();
        let total: f64 = stats.iter().map(|s| s.2).sum();
        let Some(&(metric, Some(r), part)) = stats
            .iter()
            .filter(|s| s.1.is_some())
            .max_by(|x, y| x.1.unwrap().abs().total_cmp(&y.1.unwrap().abs()))
        else {
            continue;
        };
        let share = part / total;
        let current = cat.weight_percent(metric);
        if r < a.correlation_dominant_threshold || share <= 0.5 || current <= 0.0 {
            continue;
        }
        let receiver = stats
            .iter()
            .filter(|s| s.0 != metric && s.2 > 0.0)
            .filter_map(|s| s.1.map(|r| (s.0, r)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        let finding = format!(
            "{name}: {metric} (weight {}%) correlates with the aggregate at r = {} and carries {}% of its variance",
            num(current),
            num(r),
            num(share * 100.0)
        );
        let suggestion = match receiver {
            Some((to, _)) => move_weight(cat, metric, to, current.min(5.0)),
            None => format!(
                "categories[{name}].weights.{metric}_percent: lower it in favour of another measured metric"
            ),
        };
        let path = Some(format!("categories[{i}].weights.{metric}_percent"));
        out.push(rec("dominant_metric", finding, suggestion, path));
    }

    let exposures: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.exposure_score)
        .filter(|v| v.is_finite())
        .collect();
    if !exposures.is_empty() && mean(&exposures) > a.exposure_avg_threshold {
        let finding = format!(
            "mean exposure score {} > {}: exposure hardly tells photos apart",
            num(mean(&exposures)),
            num(a.exposure_avg_threshold)
        );
        let target = groups.iter().find_map(|(name, _)| {
            find(config, name).filter(|(_, c)| c.weight_percent("exposure") > 0.0)
        });
        let (suggestion, path) =
            match target.and_then(|(i, c)| largest_other(c, "exposure").map(|o| (i, c, o))) {
                Some((i, c, (to, _))) => (
                    move_weight(c, "exposure", to, c.weight_percent("exposure").min(5.0)),
                    Some(format!("categories[{i}].weights.exposure_percent")),
                ),
                None => (
                    "no category with photos weights exposure; nothing to change".to_string(),
                    None,
                ),
            };
        out.push(rec("exposure_high", finding, suggestion, path));
    }

    if !aesthetics.is_empty() && mean(&aesthetics) >= a.quality_avg_threshold {
        for (name, _) in &groups {
            let Some((i, cat)) = find(config, name) else {
                continue;
            };
            let effective = cat.weight_percent("aesthetic") + cat.weight_percent("quality");
            let Some((from, fw)) = largest_other(cat, "aesthetic") else {
                continue;
            };
            if effective > a.quality_weight_threshold_percent {
                continue;
            }
            let d = (a.quality_weight_threshold_percent + 5.0 - effective).min(fw);
            let finding = format!(
                "mean aesthetic {} ≥ {} but {name} weights aesthetic at only {}%",
                num(mean(&aesthetics)),
                num(a.quality_avg_threshold),
                num(effective)
            );
            let path = Some(format!("categories[{i}].weights.aesthetic_percent"));
            out.push(rec(
                "quality_weight",
                finding,
                move_weight(cat, from, "aesthetic", d),
                path,
            ));
        }
    }

    let qualifying: Vec<&(&str, Vec<&Row>)> = groups
        .iter()
        .filter(|(_, g)| g.len() >= min_samples)
        .collect();
    if qualifying.len() >= 2 {
        let (sum, n) = qualifying.iter().fold((0.0, 0), |(s, n), (_, g)| {
            (s + cat_aggs(g).iter().sum::<f64>(), n + g.len())
        });
        for (name, g) in &qualifying {
            let Some((i, cat)) = find(config, name) else {
                continue;
            };
            let own: f64 = cat_aggs(g).iter().sum();
            let gap = own / g.len() as f64 - (sum - own) / (n - g.len()) as f64;
            if gap.abs() <= a.category_imbalance_threshold {
                continue;
            }
            let b = cat.modifiers.bonus;
            let finding = format!(
                "{name} scores {} points {} the other categories on average",
                num(gap.abs()),
                if gap > 0.0 { "above" } else { "below" }
            );
            let suggestion = format!(
                "categories[{name}].modifiers.bonus: {} -> {}",
                num(b),
                num(round_to(b - gap / 2.0, 1))
            );
            out.push(rec(
                "category_imbalance",
                finding,
                suggestion,
                Some(format!("categories[{i}].modifiers.bonus")),
            ));
        }
    }

    for (name, g) in groups.iter().filter(|(_, g)| g.len() < min_samples) {
        let mut finding = format!(
            "{name} has {} photos (< {min_samples}): too few to analyse",
            g.len()
        );
        let norm = &config.normalization;
        if norm.per_category && (g.len() as u64) < norm.category_min_samples {
            finding += &format!(
                "; below normalization.category_min_samples ({}) its normalization falls back to the library percentiles",
                norm.category_min_samples
            );
        }
        out.push(rec(
            "small_category",
            finding,
            "no change needed; recheck once the category has more photos".into(),
            None,
        ));
    }

    let mut missing: BTreeMap<&str, usize> = BTreeMap::new();
    for item in rows.iter().flat_map(|r| &r.breakdown) {
        // Every metric item is one the category weights; an unmeasured one
        // weighs 0 in the photo's score.
        if let BreakdownItem::Metric {
            metric,
            raw: None,
            neutral: true,
            ..
        } = item
        {
            *missing.entry(metric).or_default() += 1;
        }
    }
    for (metric, n) in missing {
        let finding =
            format!("{n} photos have no {metric} (not measured: their scores leave it out)");
        let suggestion = format!(
            "run the pipeline stage that measures {metric} (`facet run … --force` for photos analysed before it existed); face metrics stay unmeasured on photos without a face"
        );
        out.push(rec("missing_metric", finding, suggestion, None));
    }

    out.sort_by_key(|r| std::cmp::Reverse(r.priority));
    Report {
        summary,
        recommendations: out,
    }
}

#[cfg(test)]
mod tests {
    use super::super::weight_fractions;
    use super::*;

    fn idx(config: &FacetConfig, name: &str) -> usize {
        find(config, name).unwrap().0
    }

    /// A small deterministic pseudo-random sequence in 0..1.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn metric(name: &str, normalized: f64, weight_percent: f64, neutral: bool) -> BreakdownItem {
        BreakdownItem::Metric {
            metric: name.to_string(),
            raw: (!neutral).then_some(normalized),
            normalized,
            weight_percent,
            points: normalized * weight_percent / 100.0,
            neutral,
        }
    }

    /// A photo of `cat` scored with its configured weights; metrics not in
    /// `values` score a constant 5.
    fn scored(config: &FacetConfig, cat: &str, values: &[(&str, f64)]) -> Row {
        let (_, c) = find(config, cat).unwrap();
        let breakdown: Vec<_> = weight_fractions(c)
            .into_iter()
            .map(|(m, w)| {
                let v = values
                    .iter()
                    .find(|(n, _)| *n == m)
                    .map_or(5.0, |(_, v)| *v);
                metric(m, v, w * 100.0, false)
            })
            .collect();
        Row {
            category: cat.to_string(),
            aggregate: breakdown.iter().map(BreakdownItem::points).sum(),
            breakdown,
            ..Row::default()
        }
    }

    fn plain(cat: &str, aggregate: f64) -> Row {
        Row {
            category: cat.to_string(),
            aggregate,
            ..Row::default()
        }
    }

    fn checks<'a>(r: &'a Report, check: &str) -> Vec<&'a Recommendation> {
        r.recommendations
            .iter()
            .filter(|x| x.check == check)
            .collect()
    }

    #[test]
    fn empty_library_gives_zero_summary_and_nothing_to_do() {
        let r = analyse(&[], &FacetConfig::default());
        assert_eq!(
            (
                r.summary.photos,
                r.summary.mean,
                r.summary.std,
                r.summary.max
            ),
            (0, 0.0, 0.0, 0.0)
        );
        assert!(r.summary.per_category.is_empty() && r.recommendations.is_empty());
    }

    #[test]
    fn well_spread_library_has_no_distribution_warnings() {
        let config = FacetConfig::default();
        let rows: Vec<_> = (0..100)
            .map(|i| plain("default", 1.0 + 9.0 * i as f64 / 99.0))
            .collect();
        let r = analyse(&rows, &config);
        assert_eq!(r.summary.photos, 100);
        assert!(
            (r.summary.mean - 5.5).abs() < 1e-9 && r.summary.max == 10.0 && r.summary.min == 1.0
        );
        assert_eq!(r.summary.per_category[0].photos, 100);
        for c in [
            "score_clustering",
            "top_score",
            "normalization_compressed",
            "category_imbalance",
            "small_category",
        ] {
            assert!(checks(&r, c).is_empty(), "{c}: {:?}", r.recommendations);
        }
    }

    #[test]
    fn clustered_library_lowers_the_percentile_target() {
        let config = FacetConfig::default();
        let rows: Vec<_> = (0..60)
            .map(|i| plain("default", 6.0 + 0.01 * (i % 20) as f64))
            .collect();
        let r = analyse(&rows, &config);
        for c in ["score_clustering", "top_score", "normalization_compressed"] {
            let x = checks(&r, c);
            assert_eq!(x.len(), 1, "{c}");
            assert_eq!(x[0].severity, Severity::Warning);
            assert!(
                x[0].suggestion
                    .contains("normalization.percentile_target: 90 -> 85"),
                "{}",
                x[0].suggestion
            );
            assert_eq!(
                x[0].config_path.as_deref(),
                Some("normalization.percentile_target")
            );
        }
        // Sorted by priority, highest first.
        assert!(
            r.recommendations
                .windows(2)
                .all(|w| w[0].priority >= w[1].priority)
        );
        assert_eq!(r.recommendations[0].check, "score_clustering");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["recommendations"][0]["severity"], "warning");
    }

    #[test]
    fn one_metric_driving_the_aggregate_is_dominant() {
        let config = FacetConfig::default();
        let mut rng = Lcg(7);
        let rows: Vec<_> = (0..60)
            .map(|i| {
                let aes = 10.0 * i as f64 / 59.0;
                let small = [
                    ("face_quality", 5.0 + rng.next()),
                    ("eye_sharpness", 5.0 + rng.next()),
                    ("composition", 5.0 + rng.next()),
                ];
                scored(
                    &config,
                    "portrait",
                    &[&[("aesthetic", aes)][..], &small].concat(),
                )
            })
            .collect();
        let r = analyse(&rows, &config);
        let d = checks(&r, "dominant_metric");
        assert_eq!(d.len(), 1, "{:?}", r.recommendations);
        let i = idx(&config, "portrait");
        assert_eq!(
            d[0].config_path,
            Some(format!("categories[{i}].weights.aesthetic_percent"))
        );
        assert!(
            d[0].suggestion
                .starts_with("categories[portrait].weights.aesthetic_percent: 32 -> 27; "),
            "{}",
            d[0].suggestion
        );
    }

    #[test]
    fn evenly_driven_category_has_no_dominant_metric() {
        let config = FacetConfig::default();
        let mut rng = Lcg(11);
        let rows: Vec<_> = (0..80)
            .map(|_| {
                let v = [
                    ("eye_sharpness", 10.0 * rng.next()),
                    ("face_quality", 10.0 * rng.next()),
                    ("composition", 10.0 * rng.next()),
                ];
                scored(&config, "portrait", &v)
            })
            .collect();
        let r = analyse(&rows, &config);
        assert!(
            checks(&r, "dominant_metric").is_empty(),
            "{:?}",
            r.recommendations
        );
    }

    #[test]
    fn imbalanced_categories_get_opposite_bonus_changes() {
        let config = FacetConfig::default();
        let mut rows: Vec<_> = (0..60)
            .map(|i| plain("portrait", 6.5 + (i % 10) as f64 / 10.0))
            .collect();
        rows.extend((0..60).map(|i| plain("landscape", 4.5 + (i % 10) as f64 / 10.0)));
        let r = analyse(&rows, &config);
        let imb = checks(&r, "category_imbalance");
        assert_eq!(imb.len(), 2);
        let of = |name: &str| *imb.iter().find(|x| x.finding.starts_with(name)).unwrap();
        let p = of("portrait");
        assert_eq!(
            p.config_path,
            Some(format!(
                "categories[{}].modifiers.bonus",
                idx(&config, "portrait")
            ))
        );
        // gap +2: 0.419 - 1 = -0.581 -> -0.6; landscape 0.463 + 1 -> 1.5.
        assert_eq!(
            p.suggestion,
            "categories[portrait].modifiers.bonus: 0.419 -> -0.6"
        );
        assert_eq!(
            of("landscape").suggestion,
            "categories[landscape].modifiers.bonus: 0.463 -> 1.5"
        );
        assert_eq!(p.severity, Severity::Info);
        // Within the threshold: nothing.
        let close: Vec<_> = (0..120)
            .map(|i| {
                plain(
                    if i < 60 { "portrait" } else { "landscape" },
                    5.0 + (i % 7) as f64,
                )
            })
            .collect();
        assert!(checks(&analyse(&close, &config), "category_imbalance").is_empty());
    }

    #[test]
    fn small_category_mentions_the_library_fallback() {
        let config = FacetConfig::default();
        let mut rows: Vec<_> = (0..10).map(|i| plain("macro", i as f64)).collect();
        let r = analyse(&rows, &config);
        let s = checks(&r, "small_category");
        assert_eq!(s.len(), 1);
        assert!(
            s[0].finding.contains("library percentiles"),
            "{}",
            s[0].finding
        );
        rows.extend((0..50).map(|i| plain("macro", i as f64 / 5.0)));
        assert!(checks(&analyse(&rows, &config), "small_category").is_empty());
    }

    #[test]
    fn low_aesthetic_maximum_suggests_a_scale_factor() {
        let config = FacetConfig::default();
        let mut rows: Vec<_> = (0..5)
            .map(|i| Row {
                aesthetic: Some(6.0 + i as f64 / 2.0),
                ..plain("default", 5.0)
            })
            .collect();
        let s = checks(&analyse(&rows, &config), "aesthetic_scale")[0]
            .suggestion
            .clone();
        assert!(s.contains("×1.188"), "{s}");
        rows.iter_mut().for_each(|r| r.aesthetic = None);
        assert!(checks(&analyse(&rows, &config), "aesthetic_scale").is_empty());
        rows[0].aesthetic = Some(9.4);
        assert!(checks(&analyse(&rows, &config), "aesthetic_scale").is_empty());
    }

    #[test]
    fn high_aesthetic_with_low_aesthetic_weight_raises_it() {
        let mut config = FacetConfig::default();
        let rows: Vec<_> = (0..5)
            .map(|_| Row {
                aesthetic: Some(8.0),
                ..plain("street", 5.0)
            })
            .collect();
        assert!(checks(&analyse(&rows, &config), "quality_weight").is_empty());
        let i = idx(&config, "street");
        let w = &mut config.categories[i].weights;
        w.insert("aesthetic_percent".into(), 8.0);
        w.insert("composition_percent".into(), 56.0);
        let r = analyse(&rows, &config);
        let q = checks(&r, "quality_weight");
        assert_eq!(q.len(), 1);
        assert_eq!(
            q[0].config_path,
            Some(format!("categories[{i}].weights.aesthetic_percent"))
        );
        assert_eq!(
            q[0].suggestion,
            "categories[street].weights.composition_percent: 56 -> 49; categories[street].weights.aesthetic_percent: 8 -> 15"
        );
    }

    #[test]
    fn high_exposure_average_lowers_the_exposure_weight() {
        let config = FacetConfig::default();
        let mut rows: Vec<_> = (0..5)
            .map(|_| Row {
                exposure_score: Some(9.0),
                ..plain("portrait", 5.0)
            })
            .collect();
        rows.extend((0..8).map(|_| Row {
            exposure_score: Some(9.0),
            ..plain("landscape", 5.0)
        }));
        let r = analyse(&rows, &config);
        let e = checks(&r, "exposure_high");
        // landscape has more photos but does not weight exposure.
        assert_eq!(
            e[0].config_path,
            Some(format!(
                "categories[{}].weights.exposure_percent",
                idx(&config, "portrait")
            ))
        );
        assert_eq!(
            e[0].suggestion,
            "categories[portrait].weights.exposure_percent: 4 -> 0; categories[portrait].weights.aesthetic_percent: 32 -> 36"
        );
        rows.iter_mut().for_each(|r| r.exposure_score = Some(6.0));
        assert!(checks(&analyse(&rows, &config), "exposure_high").is_empty());
    }

    #[test]
    fn unmeasured_metrics_are_counted_per_metric() {
        let config = FacetConfig::default();
        let mut rows: Vec<_> = (0..3).map(|_| scored(&config, "portrait", &[])).collect();
        rows[0]
            .breakdown
            .push(metric("eye_sharpness", 5.0, 16.0, true));
        rows[1]
            .breakdown
            .push(metric("eye_sharpness", 5.0, 16.0, true));
        // Neutral but measured (colour of a monochrome photo): not counted.
        rows[2].breakdown.push(BreakdownItem::Metric {
            metric: "color".into(),
            raw: Some(0.1),
            normalized: 5.0,
            weight_percent: 4.0,
            points: 0.2,
            neutral: true,
        });
        let r = analyse(&rows, &config);
        let m = checks(&r, "missing_metric");
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].finding,
            "2 photos have no eye_sharpness (not measured: their scores leave it out)"
        );
        assert_eq!(r.recommendations.last().unwrap().check, "missing_metric");
    }
}
