//! Normalization summaries that a library keeps between runs, so that the
//! percentiles of [`super::normalize`] follow the photos a run adds without
//! reading the photos it does not touch.
//!
//! **Windows.** The nearest-rank percentile of a group of `n` values (one
//! normalized metric, library-wide or in one category) is the value of rank
//! `r(n) = min(⌊n · target / 100⌋, n − 1)`. A [`Window`] keeps the count `n`,
//! the sorted values of ranks `below … below + len` around `r(n)` (at most
//! [`WINDOW_HALF`] on either side) and only counts for the values under and
//! over them. Adding a value under the window counts it in `below`, over it
//! counts it above, inside inserts it: O(log len). The percentile stays exact
//! while `r(n)` lies inside the window. Each value added moves `r(n)` by
//! `target / 100` of a rank and the window by one rank when the value lies
//! under it (a share of about `target / 100` of the values), so on a stable
//! library the rank walks around the window's centre with no drift (a
//! window that grew is trimmed back to [`WINDOW_HALF`] values either side).
//! New photos that are all sharper (or all softer) than the old ones can
//! move the rank out — after about [`WINDOW_HALF`] of them when the window
//! lies inside the group — and the next re-score then builds the windows
//! again from every photo (the caller's full path). Removing a value is the mirror image; the caller removes the
//! values of re-analysed and deleted photos that it still knows.
//!
//! **Quantized percentiles.** The scores use each percentile rounded *down*
//! to three significant digits ([`quantize`]): the photo at the percentile
//! still scores 10, every other normalized value moves by less than 1 %, and
//! a category's scores change only when its percentile crosses a step of
//! that grid — not with every photo added to a library of a million. The
//! full and the incremental re-scores quantize the same exact percentile, so
//! they agree (tested).

use std::collections::BTreeMap;

use facet_config::Normalization;

use super::PhotoMetrics;
use super::normalize::{NORMALIZED_METRICS, NormStats};

/// Values kept on either side of the percentile's rank.
pub const WINDOW_HALF: usize = 1024;

/// The scope name of the library-wide groups.
pub const LIBRARY: &str = "";

/// `p` rounded down to three significant digits (0 and non-finite values
/// unchanged). Exact on the decimal grid: `40.0` stays `40.0`.
pub fn quantize(p: f64) -> f64 {
    if !p.is_finite() || p <= 0.0 {
        return p;
    }
    let e = p.log10().floor() as i32;
    let k = 2 - e;
    // A hair above p so that a value already on the grid stays there.
    let nudge = 1.0 + 4.0 * f64::EPSILON;
    if k >= 0 {
        let s = 10f64.powi(k);
        (p * s * nudge).floor() / s
    } else {
        let s = 10f64.powi(-k);
        (p / s * nudge).floor() * s
    }
}

/// The target rank of `n` values, as the reference computes it.
fn rank(n: u64, target: f64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let idx = (n as f64) * target / 100.0;
    let idx = if idx.is_finite() && idx > 0.0 {
        idx.floor() as u64
    } else {
        0
    };
    Some(idx.min(n - 1))
}

/// One group's values around its percentile (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The percentile it keeps (`normalization.percentile_target`).
    pub target: f64,
    /// Values in the group.
    pub count: u64,
    /// Values under the window (each ≤ its first value).
    pub below: u64,
    /// The values of ranks `below …`, ascending.
    pub values: Vec<f64>,
}

/// A window no longer holds its group's percentile rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfWindow;

impl Window {
    /// The window of no values.
    pub fn empty(target: f64) -> Window {
        Window {
            target,
            count: 0,
            below: 0,
            values: Vec::new(),
        }
    }

    /// The window of `values` (finite, any order) around the `target` rank.
    pub fn build(mut values: Vec<f64>, target: f64) -> Window {
        values.sort_by(f64::total_cmp);
        let n = values.len() as u64;
        let Some(r) = rank(n, target) else {
            return Window::empty(target);
        };
        let lo = (r as usize).saturating_sub(WINDOW_HALF);
        let hi = (r as usize + WINDOW_HALF + 1).min(values.len());
        Window {
            target,
            count: n,
            below: lo as u64,
            values: values[lo..hi].to_vec(),
        }
    }

    fn above(&self) -> u64 {
        self.count - self.below - self.values.len() as u64
    }

    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        match (self.values.first(), self.values.last()) {
            (Some(&lo), _) if v < lo && self.below > 0 => self.below += 1,
            (_, Some(&hi)) if v > hi && self.above() > 1 => {}
            _ => {
                let at = self.values.partition_point(|x| x.total_cmp(&v).is_le());
                self.values.insert(at, v);
                self.trim();
            }
        }
    }

    /// Keeps a grown window to [`WINDOW_HALF`] values on either side of the rank.
    fn trim(&mut self) {
        if self.values.len() <= 4 * WINDOW_HALF + 1 {
            return;
        }
        let Some(r) = rank(self.count, self.target) else {
            return;
        };
        let Some(at) = r.checked_sub(self.below).map(|a| a as usize) else {
            return;
        };
        if at > WINDOW_HALF {
            let drop = at - WINDOW_HALF;
            self.values.drain(..drop);
            self.below += drop as u64;
        }
        let at = at.min(WINDOW_HALF);
        if self.values.len() > at + WINDOW_HALF + 1 {
            self.values.truncate(at + WINDOW_HALF + 1);
        }
    }

    /// Removes one value equal to `v`; `Err` when the window cannot tell
    /// where it was (the caller builds the windows again).
    pub fn remove(&mut self, v: f64) -> Result<(), OutOfWindow> {
        if self.count == 0 {
            return Err(OutOfWindow);
        }
        let (Some(&lo), Some(&hi)) = (self.values.first(), self.values.last()) else {
            return Err(OutOfWindow);
        };
        if v < lo && self.below > 0 {
            self.below -= 1;
        } else if v > hi && self.above() > 0 {
        } else if let Some(at) = self.values.iter().position(|x| x.total_cmp(&v).is_eq()) {
            self.values.remove(at);
        } else {
            return Err(OutOfWindow);
        }
        self.count -= 1;
        if self.values.is_empty() && self.count > 0 {
            // Nothing left to order new values against.
            return Err(OutOfWindow);
        }
        Ok(())
    }

    /// The exact percentile, `None` with fewer than `min_samples` values,
    /// `Err` when its rank has left the window.
    pub fn percentile(&self, min_samples: u64) -> Result<Option<f64>, OutOfWindow> {
        if self.count == 0 || self.count < min_samples {
            return Ok(None);
        }
        let r = rank(self.count, self.target).expect("count > 0");
        if r < self.below {
            return Err(OutOfWindow);
        }
        self.values
            .get((r - self.below) as usize)
            .map(|&v| Some(v))
            .ok_or(OutOfWindow)
    }
}

/// Every normalization group's window: `(scope, metric)`, the scope a
/// category's name or [`LIBRARY`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summaries {
    pub windows: BTreeMap<(String, String), Window>,
}

impl Summaries {
    /// The summaries of a whole library: each photo's category (as assigned
    /// now) and metrics.
    pub fn build<'a>(
        cfg: &Normalization,
        photos: impl IntoIterator<Item = (&'a str, &'a PhotoMetrics)>,
    ) -> Summaries {
        let mut values: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
        for (category, m) in photos {
            for (scope, metric, v) in Self::values(cfg, category, m) {
                values.entry((scope, metric)).or_default().push(v);
            }
        }
        Summaries {
            windows: values
                .into_iter()
                .map(|(k, v)| (k, Window::build(v, cfg.percentile_target)))
                .collect(),
        }
    }

    /// A builder that takes the library's photos batch by batch.
    pub fn builder() -> SummariesBuilder {
        SummariesBuilder::default()
    }

    /// The `(scope, metric, value)`s a photo contributes.
    fn values(cfg: &Normalization, category: &str, m: &PhotoMetrics) -> Vec<(String, String, f64)> {
        let mut out = Vec::new();
        for metric in NORMALIZED_METRICS {
            if let Some(v) = m.normalization_input(metric).filter(|v| v.is_finite()) {
                out.push((LIBRARY.to_string(), metric.to_string(), v));
                if cfg.per_category {
                    out.push((category.to_string(), metric.to_string(), v));
                }
            }
        }
        out
    }

    /// Adds a photo.
    pub fn add(&mut self, cfg: &Normalization, category: &str, m: &PhotoMetrics) {
        for (scope, metric, v) in Self::values(cfg, category, m) {
            self.windows
                .entry((scope, metric))
                .or_insert_with(|| Window::empty(cfg.percentile_target))
                .add(v);
        }
    }

    /// Removes a photo that was added with this category and these metrics.
    pub fn remove(
        &mut self,
        cfg: &Normalization,
        category: &str,
        m: &PhotoMetrics,
    ) -> Result<(), OutOfWindow> {
        for (scope, metric, v) in Self::values(cfg, category, m) {
            self.windows
                .get_mut(&(scope, metric))
                .ok_or(OutOfWindow)?
                .remove(v)?;
        }
        Ok(())
    }

    /// The exact percentiles ([`NormStats::build`]'s), or `Err` when a
    /// group's rank has left its window.
    pub fn stats(&self, cfg: &Normalization) -> Result<NormStats, OutOfWindow> {
        let mut stats = NormStats::default();
        for ((scope, metric), w) in &self.windows {
            if scope == LIBRARY {
                if let Some(p) = w.percentile(1)? {
                    stats.library.insert(metric.clone(), p);
                }
            } else if let Some(p) = w.percentile(cfg.category_min_samples)? {
                stats.by_category.insert((scope.clone(), metric.clone()), p);
            }
        }
        Ok(stats)
    }
}

/// [`Summaries::build`] over photos that arrive batch by batch: keeps each
/// group's values (one f64 per photo and metric), then builds the windows.
#[derive(Debug, Default)]
pub struct SummariesBuilder {
    values: BTreeMap<(String, String), Vec<f64>>,
}

impl SummariesBuilder {
    pub fn add(&mut self, cfg: &Normalization, category: &str, m: &PhotoMetrics) {
        for (scope, metric, v) in Summaries::values(cfg, category, m) {
            self.values.entry((scope, metric)).or_default().push(v);
        }
    }

    /// The windows, and the exact statistics of every photo added.
    pub fn finish(self, cfg: &Normalization) -> Summaries {
        Summaries {
            windows: self
                .values
                .into_iter()
                .map(|(k, v)| (k, Window::build(v, cfg.percentile_target)))
                .collect(),
        }
    }
}

impl NormStats {
    /// The statistics the scores use: every percentile [`quantize`]d.
    pub fn quantized(&self) -> NormStats {
        NormStats {
            library: self
                .library
                .iter()
                .map(|(k, &p)| (k.clone(), quantize(p)))
                .collect(),
            by_category: self
                .by_category
                .iter()
                .map(|(k, &p)| (k.clone(), quantize(p)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_down_to_three_significant_digits() {
        assert_eq!(quantize(40.0), 40.0);
        assert_eq!(quantize(1234.5), 1230.0);
        assert_eq!(quantize(0.012_345), 0.0123);
        assert_eq!(quantize(999.99), 999.0);
        assert_eq!(quantize(7.0), 7.0);
        assert_eq!(quantize(123_456_789.0), 123_000_000.0);
        assert_eq!(quantize(0.0), 0.0);
        for p in [0.3, 1.7, 55.5, 812.0, 4321.0] {
            let q = quantize(p);
            assert!(q <= p && q > p * 0.99, "{p} -> {q}");
            assert_eq!(quantize(q), q, "{p}: the grid is stable");
        }
    }

    /// A deterministic stream of values (an LCG), `skew` shifts them up.
    fn values(n: usize, seed: u64, skew: f64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 1000.0 + skew
            })
            .collect()
    }

    fn exact(all: &[f64], target: f64) -> Option<f64> {
        super::super::normalize::library_percentile(all, target)
    }

    #[test]
    fn a_window_follows_additions_exactly() {
        let mut all = values(5000, 1, 0.0);
        let mut w = Window::build(all.clone(), 90.0);
        // Rank 4500 of 5000: the window reaches the largest value.
        assert_eq!((w.below, w.values.len()), (4500 - WINDOW_HALF as u64, 1524));
        for (i, v) in values(3000, 2, 0.0).into_iter().enumerate() {
            w.add(v);
            all.push(v);
            if i % 97 == 0 {
                assert_eq!(w.percentile(1), Ok(exact(&all, 90.0)), "after {i}");
            }
        }
        assert_eq!(w.count, all.len() as u64);
        assert_eq!(w.percentile(1), Ok(exact(&all, 90.0)));
    }

    #[test]
    fn removals_mirror_additions() {
        let mut all = values(4000, 3, 0.0);
        let mut w = Window::build(all.clone(), 50.0);
        for v in all.split_off(3000) {
            w.remove(v).unwrap();
        }
        assert_eq!(w.count, 3000);
        assert_eq!(w.percentile(1), Ok(exact(&all, 50.0)));
        assert_eq!(w.remove(f64::NAN), Err(OutOfWindow), "never added");
    }

    #[test]
    fn a_drifting_library_leaves_the_window_and_says_so() {
        let mut w = Window::build(values(6000, 4, 0.0), 50.0);
        assert_eq!(w.values.len(), 2 * WINDOW_HALF + 1);
        let mut left = false;
        for v in values(5000, 5, 10_000.0) {
            w.add(v);
            if w.percentile(1).is_err() {
                left = true;
                break;
            }
        }
        assert!(left, "all-larger values move the rank out of the window");
    }

    #[test]
    fn small_groups_are_kept_whole() {
        let mut w = Window::build(vec![3.0, 1.0, 2.0], 90.0);
        assert_eq!(w.values, vec![1.0, 2.0, 3.0]);
        w.add(0.5);
        w.add(10.0);
        assert_eq!(w.values, vec![0.5, 1.0, 2.0, 3.0, 10.0]);
        assert_eq!(w.percentile(1), Ok(Some(10.0)));
        assert_eq!(w.percentile(6), Ok(None), "min samples");
        assert_eq!(Window::empty(90.0).percentile(1), Ok(None));
    }

    #[test]
    fn summaries_equal_the_batch_statistics() {
        let cfg = Normalization {
            category_min_samples: 5,
            ..Default::default()
        };
        let photo = |i: usize| PhotoMetrics {
            tech_sharpness: Some((i * 37 % 1001) as f64),
            color: Some((i % 17) as f64),
            ..Default::default()
        };
        let cat = |i: usize| {
            if i.is_multiple_of(3) {
                "night"
            } else {
                "default"
            }
        };
        let photos: Vec<(&str, PhotoMetrics)> = (0..3000).map(|i| (cat(i), photo(i))).collect();
        let mut s = Summaries::build(&cfg, photos[..2000].iter().map(|(c, m)| (*c, m)));
        for (c, m) in &photos[2000..] {
            s.add(&cfg, c, m);
        }
        let batch = NormStats::build(&cfg, photos.iter().map(|(c, m)| (*c, m)));
        assert_eq!(s.stats(&cfg), Ok(batch.clone()));
        let mut built = Summaries::builder();
        for (c, m) in &photos {
            built.add(&cfg, c, m);
        }
        assert_eq!(
            built.finish(&cfg).stats(&cfg),
            Ok(batch.clone()),
            "batch by batch"
        );
        assert_eq!(
            s.stats(&cfg).unwrap().quantized(),
            batch.quantized(),
            "and so the quantized ones"
        );
        for (c, m) in &photos[2500..] {
            s.remove(&cfg, c, m).unwrap();
        }
        let fewer = NormStats::build(&cfg, photos[..2500].iter().map(|(c, m)| (*c, m)));
        assert_eq!(s.stats(&cfg), Ok(fewer));
    }
}
