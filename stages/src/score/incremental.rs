//! Normalization statistics maintained with differential dataflow.
//!
//! Photos enter (and leave, when re-analysed or deleted) as updates of a
//! collection of `(category, metric, value)`; a `reduce` per (category,
//! metric) and one per metric keep the `percentile_target` percentiles. An
//! update touches only the groups of the photos it changes, so adding 100
//! photos to a library of 100,000 re-sorts nothing else. The percentiles equal
//! [`NormStats::build`]'s over the same photos (tested).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use differential_dataflow::input::{Input, InputSession};
use facet_config::Normalization;
use timely::WorkerConfig;
use timely::communication::Allocator;
use timely::communication::allocator::thread::Thread;
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::normalize::{NORMALIZED_METRICS, percentile_of_counts};
use super::{NormStats, PhotoMetrics};

/// An order-preserving integer key for a finite f64 (so values sort in the reduce).
fn key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    if b < 0 { b ^ i64::MAX } else { b }
}

fn unkey(k: i64) -> f64 {
    let b = if k < 0 { k ^ i64::MAX } else { k };
    f64::from_bits(b as u64)
}

type Shared<K> = Rc<RefCell<BTreeMap<K, f64>>>;

/// One reduce group: value keys with their multiplicities.
type Group<'a> = [(&'a i64, isize)];

/// The reduce logic: the `target` percentile of a group's values (sorted by
/// their keys, as differential dataflow hands them over).
fn percentile<K>(
    target: f64,
    min_samples: u64,
) -> impl FnMut(&K, &Group<'_>, &mut Vec<(i64, isize)>) + 'static {
    move |_k, vals, out| {
        let counts: Vec<(f64, u64)> = vals
            .iter()
            .map(|(v, c)| (unkey(**v), (*c).max(0) as u64))
            .collect();
        if let Some(p) = percentile_of_counts(&counts, target, min_samples) {
            out.push((key(p), 1));
        }
    }
}

/// The live statistics of a library.
pub struct IncrementalNorm {
    worker: Worker,
    by_category_in: InputSession<u64, (String, String, i64), isize>,
    probe: ProbeHandle<u64>,
    by_category: Shared<(String, String)>,
    library: Shared<String>,
    epoch: u64,
}

impl IncrementalNorm {
    pub fn new(cfg: &Normalization) -> Self {
        let alloc = Allocator::Thread(Thread::default());
        let mut worker = Worker::new(WorkerConfig::default(), alloc, Some(Instant::now()));
        let by_category: Shared<(String, String)> = Rc::default();
        let library: Shared<String> = Rc::default();
        let (target, min_samples, per_category) = (
            cfg.percentile_target,
            cfg.category_min_samples,
            cfg.per_category,
        );
        let probe = ProbeHandle::new();
        let input = {
            let (by_category, library, probe) =
                (by_category.clone(), library.clone(), probe.clone());
            worker.dataflow::<u64, _, _>(move |scope| {
                let (input, values) = scope.new_collection::<(String, String, i64), isize>();
                let lib = values
                    .clone()
                    .map(|(_, metric, v)| (metric, v))
                    .reduce(percentile(target, 1));
                lib.inspect(move |((metric, p), _t, diff)| {
                    let mut l = library.borrow_mut();
                    if *diff > 0 {
                        l.insert(metric.clone(), unkey(*p));
                    } else if l.get(metric) == Some(&unkey(*p)) {
                        l.remove(metric);
                    }
                })
                .probe_with(&probe);
                let cat = values
                    .filter(move |_| per_category)
                    .map(|(category, metric, v)| ((category, metric), v))
                    .reduce(percentile(target, min_samples));
                cat.inspect(move |((k, p), _t, diff)| {
                    let mut m = by_category.borrow_mut();
                    if *diff > 0 {
                        m.insert(k.clone(), unkey(*p));
                    } else if m.get(k) == Some(&unkey(*p)) {
                        m.remove(k);
                    }
                })
                .probe_with(&probe);
                input
            })
        };
        IncrementalNorm {
            worker,
            by_category_in: input,
            probe,
            by_category,
            library,
            epoch: 0,
        }
    }

    fn values(category: &str, m: &PhotoMetrics) -> impl Iterator<Item = (String, String, i64)> {
        NORMALIZED_METRICS
            .iter()
            .filter_map(move |metric| {
                m.normalization_input(metric)
                    .filter(|v| v.is_finite())
                    .map(|v| (category.to_string(), metric.to_string(), key(v)))
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Adds (`+1`) or removes (`-1`) photos without bringing the statistics
    /// up to date: photos staged in several calls, then [`Self::settle`]d,
    /// are reduced once (a whole library read batch by batch).
    pub fn stage<'a>(
        &mut self,
        photos: impl IntoIterator<Item = (&'a str, &'a PhotoMetrics, isize)>,
    ) {
        for (category, m, diff) in photos {
            for v in Self::values(category, m) {
                self.by_category_in.update(v, diff);
            }
        }
    }

    /// Brings the statistics up to date with everything staged.
    pub fn settle(&mut self) {
        self.epoch += 1;
        self.by_category_in.advance_to(self.epoch);
        self.by_category_in.flush();
        while self.probe.less_than(self.by_category_in.time()) {
            self.worker.step();
        }
    }

    /// Adds (`+1`) or removes (`-1`) photos, then brings the statistics up to date.
    pub fn update<'a>(
        &mut self,
        photos: impl IntoIterator<Item = (&'a str, &'a PhotoMetrics, isize)>,
    ) {
        self.stage(photos);
        self.settle();
    }

    /// The current statistics.
    pub fn stats(&self) -> NormStats {
        NormStats {
            library: self.library.borrow().clone(),
            by_category: self.by_category.borrow().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(sharp: f64, color: f64) -> PhotoMetrics {
        PhotoMetrics {
            tech_sharpness: Some(sharp),
            color: Some(color),
            ..Default::default()
        }
    }

    #[test]
    fn keys_sort_like_floats() {
        let mut v = vec![3.5, -2.0, 0.0, -0.5, 1e9, 1e-9];
        let mut k: Vec<i64> = v.iter().map(|&x| key(x)).collect();
        k.sort();
        v.sort_by(f64::total_cmp);
        assert_eq!(k.iter().map(|&k| unkey(k)).collect::<Vec<_>>(), v);
    }

    #[test]
    fn incremental_statistics_equal_the_batch_ones() {
        let cfg = Normalization {
            category_min_samples: 5,
            ..Default::default()
        };
        let mut photos: Vec<(String, PhotoMetrics)> = (0..60)
            .map(|i| {
                (
                    if i % 3 == 0 { "night" } else { "default" }.to_string(),
                    photo((i * 37 % 101) as f64, (i % 10) as f64),
                )
            })
            .collect();
        let mut inc = IncrementalNorm::new(&cfg);
        inc.update(photos.iter().map(|(c, m)| (c.as_str(), m, 1)));
        let batch = |photos: &[(String, PhotoMetrics)]| {
            NormStats::build(&cfg, photos.iter().map(|(c, m)| (c.as_str(), m)))
        };
        assert_eq!(inc.stats(), batch(&photos));
        // Add photos, remove some: still equal.
        let added: Vec<(String, PhotoMetrics)> = (0..7)
            .map(|i| ("macro".to_string(), photo(500.0 + i as f64, 9.0)))
            .collect();
        inc.update(added.iter().map(|(c, m)| (c.as_str(), m, 1)));
        let removed: Vec<(String, PhotoMetrics)> = photos.drain(..10).collect();
        inc.update(removed.iter().map(|(c, m)| (c.as_str(), m, -1)));
        photos.extend(added);
        assert_eq!(inc.stats(), batch(&photos));
        assert!(
            inc.stats()
                .by_category
                .contains_key(&("macro".to_string(), "tech_sharpness".to_string()))
        );
    }
}
