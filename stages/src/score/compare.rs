//! Pairwise comparison mode (`viewer.comparison_mode`): the gallery shows two
//! photos of a category, the user picks the better one, and once a category
//! has `min_comparisons_for_optimization` choices its weights are fitted to
//! them with a Bradley–Terry model.
//!
//! The model: photo `i` beats photo `j` with probability
//! `σ(s · Σₖ wₖ (xᵢₖ − xⱼₖ) / 100)`, where `xₖ` are the 0–10 metric values the
//! critique scored and `wₖ` the category's weights in percent (≥ 0, summing
//! to 100). The weights are `100 · softmax(θ)` (so they stay a valid weight
//! set), `θ` starts at the current weights and is fitted by gradient ascent on
//! the choices' log-likelihood with a pull back towards the current weights
//! (a Gaussian prior on `θ`), so that a few choices move them a little and many
//! choices move them as far as the choices say.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One photo as comparison mode sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub path: String,
    pub category: String,
    pub aggregate: f64,
    /// The 0–10 value of each weight metric (the critique's `normalized`).
    pub metrics: BTreeMap<String, f64>,
}

/// A user's choice between two photos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub winner: String,
    pub loser: String,
    /// Neither is better: counts as half a win each way.
    pub tie: bool,
}

/// How the next pair is picked (`pair_selection_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Photos whose current scores are closest (the model is least sure),
    /// among those compared least.
    Uncertainty,
    /// One photo just above the Top Picks threshold and one just below: the
    /// choices that decide what is a Top Pick.
    Boundary,
    /// Any two photos of the category.
    Random,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "uncertainty" => Some(Strategy::Uncertainty),
            "boundary" => Some(Strategy::Boundary),
            "random" => Some(Strategy::Random),
            _ => None,
        }
    }

    pub const NAMES: &'static [&'static str] = &["uncertainty", "boundary", "random"];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Uncertainty => "uncertainty",
            Strategy::Boundary => "boundary",
            Strategy::Random => "random",
        }
    }
}

/// splitmix64: a reproducible choice among equals from a seed (the request's).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The next pair of `candidates` (one category's photos) to compare, never a
/// pair already compared; `None` when every pair has been.
pub fn next_pair<'a>(
    candidates: &'a [Candidate],
    done: &[Choice],
    strategy: Strategy,
    top_pick_threshold: f64,
    seed: u64,
) -> Option<(&'a Candidate, &'a Candidate)> {
    if candidates.len() < 2 {
        return None;
    }
    let compared: HashSet<(&str, &str)> = done
        .iter()
        .flat_map(|c| {
            [
                (c.winner.as_str(), c.loser.as_str()),
                (c.loser.as_str(), c.winner.as_str()),
            ]
        })
        .collect();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for c in done {
        *times.entry(c.winner.as_str()).or_default() += 1;
        *times.entry(c.loser.as_str()).or_default() += 1;
    }
    let fresh = |a: &Candidate, b: &Candidate| {
        a.path != b.path && !compared.contains(&(a.path.as_str(), b.path.as_str()))
    };
    let n = candidates.len();
    match strategy {
        Strategy::Random => {
            let start = (mix(seed) % n as u64) as usize;
            for k in 0..n {
                let a = &candidates[(start + k) % n];
                let off = (mix(seed ^ k as u64) % n as u64) as usize;
                for m in 0..n {
                    let b = &candidates[(off + m) % n];
                    if fresh(a, b) {
                        return Some((a, b));
                    }
                }
            }
            None
        }
        Strategy::Uncertainty => {
            // By score; the least-compared photo first, paired with its
            // nearest score among the photos it has not met.
            let mut by_score: Vec<&Candidate> = candidates.iter().collect();
            by_score.sort_by(|a, b| {
                a.aggregate
                    .total_cmp(&b.aggregate)
                    .then(a.path.cmp(&b.path))
            });
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| {
                (
                    times.get(by_score[i].path.as_str()).copied().unwrap_or(0),
                    mix(seed ^ i as u64),
                )
            });
            for i in order {
                let a = by_score[i];
                let best = by_score.iter().filter(|b| fresh(a, b)).min_by(|x, y| {
                    (x.aggregate - a.aggregate)
                        .abs()
                        .total_cmp(&(y.aggregate - a.aggregate).abs())
                        .then(x.path.cmp(&y.path))
                });
                if let Some(b) = best {
                    return Some((a, b));
                }
            }
            None
        }
        Strategy::Boundary => {
            let (mut above, mut below): (Vec<&Candidate>, Vec<&Candidate>) = candidates
                .iter()
                .partition(|c| c.aggregate >= top_pick_threshold);
            above.sort_by(|a, b| a.aggregate.total_cmp(&b.aggregate));
            below.sort_by(|a, b| b.aggregate.total_cmp(&a.aggregate));
            // Closest to the threshold from each side first.
            let mut pairs: Vec<(&Candidate, &Candidate, f64)> = Vec::new();
            for a in above.iter().take(32) {
                for b in below.iter().take(32) {
                    if fresh(a, b) {
                        pairs.push((a, b, a.aggregate - b.aggregate));
                    }
                }
            }
            pairs.sort_by(|x, y| x.2.total_cmp(&y.2));
            pairs.first().map(|(a, b, _)| (*a, *b)).or_else(|| {
                next_pair(
                    candidates,
                    done,
                    Strategy::Uncertainty,
                    top_pick_threshold,
                    seed,
                )
            })
        }
    }
}

/// Fitted weights for one category.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Metric → weight in percent (integers summing to 100), as the fit says.
    pub suggested: BTreeMap<String, f64>,
    /// The category's current weights (of the fitted metrics).
    pub current: BTreeMap<String, f64>,
    /// Choices the current and the suggested weights predict (ties excluded).
    pub agreement_current: f64,
    pub agreement_suggested: f64,
    pub comparisons: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Fits the weights of `current` (metric → percent) to `choices` between
/// `photos` (by path). Metrics a photo lacks count as the neutral 5.
pub fn fit(
    current: &BTreeMap<String, f64>,
    photos: &HashMap<String, BTreeMap<String, f64>>,
    choices: &[Choice],
) -> Option<Suggestion> {
    let metrics: Vec<&String> = current.keys().collect();
    if metrics.is_empty() {
        return None;
    }
    // Per choice: the winner − loser metric differences, and the target
    // (1 for a win, ½ for a tie).
    let rows: Vec<(Vec<f64>, f64)> = choices
        .iter()
        .filter_map(|c| {
            let (w, l) = (photos.get(&c.winner)?, photos.get(&c.loser)?);
            let d = metrics
                .iter()
                .map(|m| w.get(*m).copied().unwrap_or(5.0) - l.get(*m).copied().unwrap_or(5.0))
                .collect();
            Some((d, if c.tie { 0.5 } else { 1.0 }))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let k = metrics.len();
    let total: f64 = current.values().sum::<f64>().max(1e-9);
    let prior: Vec<f64> = metrics
        .iter()
        .map(|m| (current[*m] / total).max(1e-3).ln())
        .collect();
    let weights = |theta: &[f64]| -> Vec<f64> {
        let m = theta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = theta.iter().map(|t| (t - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| 100.0 * x / s).collect()
    };
    let margin = |w: &[f64], d: &[f64]| w.iter().zip(d).map(|(a, b)| a * b).sum::<f64>() / 100.0;
    let mut theta = prior.clone();
    let mut scale = 1.0f64;
    // Gaussian prior on θ around the current weights; weaker with more choices.
    let lambda = 1.0 / rows.len() as f64;
    let rate = 0.5;
    for _ in 0..2000 {
        let w = weights(&theta);
        let mut g_w = vec![0.0; k];
        let mut g_s = 0.0;
        for (d, y) in &rows {
            let z = margin(&w, d);
            let err = y - sigmoid(scale * z);
            g_s += err * z;
            for j in 0..k {
                g_w[j] += err * scale * d[j] / 100.0;
            }
        }
        // Chain rule through w = 100·softmax(θ): ∂w_j/∂θ_i = w_j (δ_ij − w_i/100).
        let n = rows.len() as f64;
        let mut g_t = vec![0.0; k];
        for i in 0..k {
            let mut acc = 0.0;
            for j in 0..k {
                let delta = if i == j { 1.0 } else { 0.0 };
                acc += g_w[j] * w[j] * (delta - w[i] / 100.0);
            }
            g_t[i] = acc / n - lambda * (theta[i] - prior[i]);
        }
        for i in 0..k {
            theta[i] += rate * g_t[i];
        }
        scale = (scale + rate * (g_s / n - lambda * (scale - 1.0))).clamp(0.05, 20.0);
    }
    let fitted = weights(&theta);
    let suggested = round_to_100(&fitted);
    let agree = |w: &[f64]| {
        let decided: Vec<&(Vec<f64>, f64)> = rows.iter().filter(|(_, y)| *y == 1.0).collect();
        if decided.is_empty() {
            return 0.0;
        }
        decided.iter().filter(|(d, _)| margin(w, d) > 0.0).count() as f64 / decided.len() as f64
    };
    let cur: Vec<f64> = metrics
        .iter()
        .map(|m| current[*m] * 100.0 / total)
        .collect();
    Some(Suggestion {
        suggested: metrics
            .iter()
            .map(|m| (*m).clone())
            .zip(suggested.clone())
            .collect(),
        current: metrics
            .iter()
            .map(|m| ((*m).clone(), current[*m]))
            .collect(),
        agreement_current: agree(&cur),
        agreement_suggested: agree(&suggested),
        comparisons: rows.len(),
    })
}

/// Integers summing to 100, nearest to `w` (largest remainders).
fn round_to_100(w: &[f64]) -> Vec<f64> {
    let mut floors: Vec<f64> = w.iter().map(|x| x.floor()).collect();
    let short = (100.0 - floors.iter().sum::<f64>()).round() as usize;
    let mut by_rest: Vec<usize> = (0..w.len()).collect();
    by_rest.sort_by(|&a, &b| (w[b] - w[b].floor()).total_cmp(&(w[a] - w[a].floor())));
    for &i in by_rest.iter().take(short) {
        floors[i] += 1.0;
    }
    floors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(path: &str, aggregate: f64) -> Candidate {
        Candidate {
            path: path.into(),
            category: "default".into(),
            aggregate,
            metrics: BTreeMap::new(),
        }
    }

    #[test]
    fn uncertainty_pairs_the_closest_scores_and_never_repeats() {
        let c = vec![
            cand("a", 2.0),
            cand("b", 5.0),
            cand("c", 5.1),
            cand("d", 9.0),
        ];
        let (x, y) = next_pair(&c, &[], Strategy::Uncertainty, 8.0, 1).unwrap();
        let mut p = [x.path.as_str(), y.path.as_str()];
        p.sort();
        // the least compared first (all 0), then its nearest score
        assert!((x.aggregate - y.aggregate).abs() <= 3.0, "{p:?}");
        // Every pair once, then none.
        let mut done = Vec::new();
        while let Some((a, b)) = next_pair(&c, &done, Strategy::Uncertainty, 8.0, 7) {
            done.push(Choice {
                winner: a.path.clone(),
                loser: b.path.clone(),
                tie: false,
            });
            assert!(done.len() <= 6);
        }
        assert_eq!(done.len(), 6, "4 photos: 6 pairs");
    }

    #[test]
    fn boundary_straddles_the_top_picks_threshold() {
        let c = vec![
            cand("a", 2.0),
            cand("b", 7.8),
            cand("c", 8.1),
            cand("d", 9.5),
        ];
        let (x, y) = next_pair(&c, &[], Strategy::Boundary, 8.0, 1).unwrap();
        assert_eq!((x.path.as_str(), y.path.as_str()), ("c", "b"));
        let r = next_pair(&c, &[], Strategy::Random, 8.0, 3).unwrap();
        assert_ne!(r.0.path, r.1.path);
    }

    /// Choices made by a hidden "true" weighting move the fit towards it.
    #[test]
    fn bradley_terry_recovers_the_weights_the_choices_follow() {
        let current: BTreeMap<String, f64> = [
            ("aesthetic".to_string(), 50.0),
            ("tech_sharpness".to_string(), 50.0),
        ]
        .into();
        // The user only cares about sharpness.
        let mut photos = HashMap::new();
        let mut x = 12345u64;
        for i in 0..60 {
            x = mix(x);
            let a = (x % 1000) as f64 / 100.0;
            x = mix(x);
            let s = (x % 1000) as f64 / 100.0;
            photos.insert(
                format!("p{i}"),
                BTreeMap::from([
                    ("aesthetic".to_string(), a),
                    ("tech_sharpness".to_string(), s),
                ]),
            );
        }
        let mut choices = Vec::new();
        for i in 0..60 {
            for j in (i + 1)..60 {
                if (i * 7 + j) % 5 != 0 {
                    continue;
                }
                let (pi, pj) = (format!("p{i}"), format!("p{j}"));
                let si = photos[&pi]["tech_sharpness"];
                let sj = photos[&pj]["tech_sharpness"];
                let (winner, loser) = if si >= sj { (pi, pj) } else { (pj, pi) };
                choices.push(Choice {
                    winner,
                    loser,
                    tie: false,
                });
            }
        }
        let s = fit(&current, &photos, &choices).unwrap();
        assert_eq!(s.suggested.values().sum::<f64>(), 100.0);
        assert!(
            s.suggested["tech_sharpness"] >= 80.0,
            "sharpness should dominate: {s:?}"
        );
        assert!(s.agreement_suggested > s.agreement_current, "{s:?}");
        assert!(s.agreement_suggested > 0.95, "{s:?}");
    }

    #[test]
    fn few_choices_move_the_weights_little() {
        let current: BTreeMap<String, f64> = [
            ("aesthetic".to_string(), 60.0),
            ("exposure".to_string(), 40.0),
        ]
        .into();
        let photos = HashMap::from([
            (
                "a".to_string(),
                BTreeMap::from([
                    ("aesthetic".to_string(), 4.0),
                    ("exposure".to_string(), 9.0),
                ]),
            ),
            (
                "b".to_string(),
                BTreeMap::from([
                    ("aesthetic".to_string(), 6.0),
                    ("exposure".to_string(), 3.0),
                ]),
            ),
        ]);
        let s = fit(
            &current,
            &photos,
            &[Choice {
                winner: "a".into(),
                loser: "b".into(),
                tie: false,
            }],
        )
        .unwrap();
        // One choice for exposure: exposure gains, but not everything.
        assert!(
            s.suggested["exposure"] > 40.0 && s.suggested["exposure"] < 90.0,
            "{s:?}"
        );
    }

    #[test]
    fn rounding_keeps_the_sum() {
        assert_eq!(round_to_100(&[33.4, 33.3, 33.3]).iter().sum::<f64>(), 100.0);
        assert_eq!(round_to_100(&[99.6, 0.4]), vec![100.0, 0.0]);
    }
}
