//! Scores in live mode (`facet watch`): a long-lived differential-dataflow
//! computation whose inputs are the photos that arrive, change and leave.
//!
//! A one-shot re-score ([`super::recompute`]) starts from `score_state`,
//! whose normalization windows can take added photos but not the values of
//! a photo that was analysed again or moved: its old metrics are gone from
//! `photos` once the row is rewritten, so such a re-score reads the whole
//! library. A watcher sees exactly those changes all day (an edited photo,
//! a folder moved), so [`LiveScores`] keeps, for the life of the process:
//!
//! * the normalization collection ([`IncrementalNorm`]: one `reduce` per
//!   category and metric, per metric library-wide) fed with `+1` for every
//!   photo row that arrives and `-1` for the values it replaces or that
//!   leave — an update re-sorts only the groups it touches;
//! * each photo's category and normalized inputs (three numbers), so that
//!   the values to retract are known without reading the store.
//!
//! Each batch reads only the `photos` fragments written since the last one
//! (new, re-analysed and moved rows), updates the collection, scores those
//! photos, and re-scores the photos of a category only when its
//! fingerprint moved (the quantized percentiles, as
//! [`super::recompute`]) — found in memory, not through a scan. It then
//! writes the same `score_state` a one-shot re-score would (windows rebuilt
//! from memory when a retraction left one), so that a `facet run` or a
//! restarted watcher goes on incrementally. The scores equal those of a
//! full re-score of the same library (tested). When the store changed under
//! it in ways it did not see (another process wrote `scores`, or removed
//! photos), it starts again from a re-score and one read of the library.

use std::collections::{HashMap, HashSet};

use facet_config::FacetConfig;
use facet_stages::score::PhotoMetrics;
use facet_stages::score::incremental::IncrementalNorm;
use facet_stages::score::summary::Summaries;
use facet_stages::score::table::{fingerprints, prepare};
use facet_store::Store;

use super::state::State;
use super::{
    Recomputed, SCORES_PER_COMMIT, input_columns, photos_by_path, recompute, scored_batch,
    settings_fingerprint,
};
use crate::{Error, Result};

/// What a photo contributes to normalization: its category (an index into
/// [`LiveScores::categories`]) and the inputs of
/// [`facet_stages::score::normalize::NORMALIZED_METRICS`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Inputs {
    category: u32,
    sharpness: Option<f64>,
    color: Option<f64>,
    eye_sharpness: Option<f64>,
}

/// The live scoring state of one library (see the module documentation).
pub struct LiveScores {
    dd: IncrementalNorm,
    photos: HashMap<String, Inputs>,
    categories: Vec<String>,
    state: State,
}

impl LiveScores {
    /// Brings `scores` up to date ([`recompute`]), then reads every photo
    /// once into the collection. `Ok(None)` when there is no photo yet.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        store: &Store,
        config: &FacetConfig,
    ) -> Result<(Option<LiveScores>, Recomputed)> {
        let done = recompute(rt, store, config)?;
        let Some(state) = State::load(rt, store, config.normalization.percentile_target)? else {
            return Ok((None, done));
        };
        let Some(ds) = rt.block_on(store.dataset("photos"))? else {
            return Ok((None, done));
        };
        let mut live = LiveScores {
            dd: IncrementalNorm::new(&config.normalization),
            photos: HashMap::new(),
            categories: Vec::new(),
            state,
        };
        let columns = input_columns(&ds);
        let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
        let last = scan.last_fragment;
        while let Some(batch) = rt.block_on(scan.next())? {
            let prepared = prepare(&batch, config).map_err(Error::Internal)?;
            for (i, (category, m)) in prepared.photos().enumerate() {
                let inputs = live.inputs(category, m);
                live.photos.insert(prepared.path(i).to_string(), inputs);
            }
            live.dd.stage(
                prepared
                    .photos()
                    .map(|(c, m)| (c, m, 1))
                    .collect::<Vec<_>>(),
            );
        }
        live.dd.settle();
        // The state must describe the version just read (nothing is written
        // to `photos` between the re-score and this read in a watcher).
        if last != live.state.fragment || live.photos.len() as u64 != live.state.photos {
            return Err(Error::Internal(format!(
                "photos changed while live scoring started ({} read, {} scored)",
                live.photos.len(),
                live.state.photos
            )));
        }
        Ok((Some(live), done))
    }

    fn inputs(&mut self, category: &str, m: &PhotoMetrics) -> Inputs {
        let category = match self.categories.iter().position(|c| c == category) {
            Some(i) => i,
            None => {
                self.categories.push(category.to_string());
                self.categories.len() - 1
            }
        } as u32;
        Inputs {
            category,
            sharpness: m.tech_sharpness,
            color: m.color,
            eye_sharpness: m.eye_sharpness,
        }
    }

    /// The metrics a photo's inputs stand for (only the normalized ones set).
    fn metrics(i: &Inputs) -> PhotoMetrics {
        PhotoMetrics {
            tech_sharpness: i.sharpness,
            color: i.color,
            eye_sharpness: i.eye_sharpness,
            ..Default::default()
        }
    }

    /// Photos in the collection.
    pub fn len(&self) -> usize {
        self.photos.len()
    }

    /// Whether the collection holds no photo.
    pub fn is_empty(&self) -> bool {
        self.photos.is_empty()
    }

    /// Brings `scores` up to date after a batch: the rows of `photos`
    /// written since the last update, and `removed`, the paths whose rows
    /// left `photos` (the old paths of moved photos). `Ok(Err(why))` when
    /// the store changed in a way the collection did not see: the caller
    /// starts again.
    pub fn update(
        &mut self,
        rt: &tokio::runtime::Runtime,
        store: &Store,
        config: &FacetConfig,
        removed: &[String],
    ) -> Result<std::result::Result<Recomputed, String>> {
        let norm = &config.normalization;
        let trace = crate::Trace::new("scores (live)");
        if rt.block_on(store.table_version("scores"))? != Some(self.state.scores_version) {
            return Ok(Err("scores were written by another process".into()));
        }
        if self.state.settings != settings_fingerprint(config) {
            return Ok(Err("the scoring settings changed".into()));
        }
        let Some(ds) = rt.block_on(store.dataset("photos"))? else {
            return Ok(Err("photos is gone".into()));
        };
        let columns = input_columns(&ds);
        let mut scan = rt.block_on(facet_store::scan(&ds, &columns, self.state.fragment))?;
        let last = scan.last_fragment.or(self.state.fragment);
        let mut batches = Vec::new();
        while let Some(b) = rt.block_on(scan.next())? {
            batches.push(b);
        }
        let written = arrow::compute::concat_batches(&scan.schema, &batches)?;
        drop(batches);
        let in_library = rt
            .block_on(ds.count_rows(None))
            .map_err(facet_store::StoreError::from)?;
        trace.at("photos written since read");

        // The collection's updates: what leaves, what is replaced, what arrives.
        let prepared = prepare(&written, config).map_err(Error::Internal)?;
        let mut minus: Vec<(String, PhotoMetrics)> = Vec::new();
        let mut plus: Vec<(u32, PhotoMetrics)> = Vec::new();
        for path in removed {
            if let Some(old) = self.photos.remove(path) {
                minus.push((
                    self.categories[old.category as usize].clone(),
                    Self::metrics(&old),
                ));
            }
        }
        for (i, (category, m)) in prepared.photos().enumerate() {
            let new = self.inputs(category, m);
            if let Some(old) = self.photos.insert(prepared.path(i).to_string(), new) {
                if old == new {
                    continue;
                }
                minus.push((
                    self.categories[old.category as usize].clone(),
                    Self::metrics(&old),
                ));
            }
            plus.push((new.category, Self::metrics(&new)));
        }
        if self.photos.len() != in_library {
            return Ok(Err(format!(
                "photos were removed by another process ({in_library} in the library, {} known)",
                self.photos.len()
            )));
        }
        let mut windows_hold = true;
        for (category, m) in &minus {
            windows_hold &= self.state.summaries.remove(norm, category, m).is_ok();
        }
        for (category, m) in &plus {
            self.state
                .summaries
                .add(norm, &self.categories[*category as usize], m);
        }
        let changes = minus
            .iter()
            .map(|(c, m)| (c.as_str(), m, -1))
            .chain(
                plus.iter()
                    .map(|(c, m)| (self.categories[*c as usize].as_str(), m, 1)),
            )
            .collect::<Vec<_>>();
        self.dd.update(changes);
        let stats = self.dd.stats().quantized();
        let prints = fingerprints(config, &stats);
        trace.at("collection updated");

        // Photos to score: those written since, and every photo of a
        // category whose fingerprint moved (found in memory).
        let moved: Vec<u32> = (0..self.categories.len() as u32)
            .filter(|&c| {
                let name = &self.categories[c as usize];
                self.state
                    .categories
                    .get(name)
                    .is_some_and(|old| prints.get(name) != Some(old))
            })
            .collect();
        let mut again: Vec<String> = if moved.is_empty() {
            Vec::new()
        } else {
            let written: HashSet<&str> = (0..prepared.len()).map(|i| prepared.path(i)).collect();
            self.photos
                .iter()
                .filter(|(p, i)| moved.contains(&i.category) && !written.contains(p.as_str()))
                .map(|(p, _)| p.clone())
                .collect()
        };
        again.sort_unstable();
        let mut scored = 0usize;
        if !prepared.is_empty() {
            let rows: Vec<usize> = (0..prepared.len()).collect();
            let batch = scored_batch(&prepared, &rows, &stats, config, &prints)?;
            rt.block_on(store.upsert(&facet_schemas::scores(), batch))?;
            scored += rows.len();
        }
        drop(prepared);
        for chunk in again.chunks(SCORES_PER_COMMIT / 2) {
            let photos = photos_by_path(rt, &ds, &columns, chunk)?;
            let prepared = prepare(&photos, config).map_err(Error::Internal)?;
            let rows: Vec<usize> = (0..prepared.len()).collect();
            if rows.is_empty() {
                continue;
            }
            let batch = scored_batch(&prepared, &rows, &stats, config, &prints)?;
            rt.block_on(store.upsert(&facet_schemas::scores(), batch))?;
            scored += rows.len();
        }
        // Scores of photos that left (a move renames its score; a removal
        // leaves one behind).
        let gone: Vec<String> = removed
            .iter()
            .filter(|p| !self.photos.contains_key(p.as_str()))
            .cloned()
            .collect();
        if !gone.is_empty() {
            rt.block_on(store.delete_keys(&facet_schemas::scores(), &gone))?;
        }
        if scored > 0 || !gone.is_empty() {
            rt.block_on(store.index_scalar("scores", "category"))?;
        }
        trace.at("scored");

        // The state a one-shot re-score goes on from.
        if !windows_hold {
            let all: Vec<(&str, PhotoMetrics)> = self
                .photos
                .values()
                .map(|i| {
                    (
                        self.categories[i.category as usize].as_str(),
                        Self::metrics(i),
                    )
                })
                .collect();
            self.state.summaries = Summaries::build(norm, all.iter().map(|(c, m)| (*c, m)));
        }
        self.state.photos = in_library as u64;
        self.state.fragment = last;
        self.state.categories = prints.into_iter().collect();
        self.state.scores_version = rt
            .block_on(store.table_version("scores"))?
            .ok_or_else(|| Error::Internal("scores vanished".into()))?;
        self.state.save(rt, store)?;
        trace.at("state saved");
        Ok(Ok(Recomputed {
            scored,
            kept: in_library.saturating_sub(scored),
            removed: gone.len(),
            ..Default::default()
        }))
    }
}

/// Live scoring as a watcher uses it: started on the first call, updated on
/// the next ones, started again when the store changed under it.
#[derive(Default)]
pub struct Live(Option<LiveScores>);

impl Live {
    /// [`LiveScores::update`], or [`LiveScores::start`] when there is no
    /// collection yet or the last one no longer describes the store.
    pub fn rescore(
        &mut self,
        rt: &tokio::runtime::Runtime,
        store: &Store,
        config: &FacetConfig,
        removed: &[String],
    ) -> Result<Recomputed> {
        let started = std::time::Instant::now();
        let mut why = None;
        if let Some(live) = &mut self.0 {
            match live.update(rt, store, config, removed) {
                Ok(Ok(done)) => {
                    return Ok(Recomputed {
                        seconds: started.elapsed().as_secs_f64(),
                        ..done
                    });
                }
                Ok(Err(w)) => why = Some(w),
                Err(e) => {
                    // Half-applied: the next batch starts again.
                    self.0 = None;
                    return Err(e);
                }
            }
        }
        let (live, done) = LiveScores::start(rt, store, config)?;
        self.0 = live;
        Ok(Recomputed {
            full: done.full.or(why),
            seconds: started.elapsed().as_secs_f64(),
            ..done
        })
    }

    /// Moves this process applied (`lifecycle::apply_pending`) renamed rows
    /// of `scores` without changing any: the collection still describes
    /// the table at its new version. Call right after applying them, before
    /// anything else writes `scores`.
    pub fn moves_applied(&mut self, rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
        if let Some(live) = &mut self.0
            && let Some(v) = rt.block_on(store.table_version("scores"))?
        {
            live.state.scores_version = v;
        }
        Ok(())
    }

    /// Photos in the live collection (0 before the first batch).
    pub fn photos(&self) -> usize {
        self.0.as_ref().map_or(0, LiveScores::len)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    /// `photos` rows with the two normalized metrics a CPU pipeline stores.
    fn rows(photos: &[(String, f64, f64)]) -> RecordBatch {
        let t = facet_schemas::photos();
        let field = |c: &str| t.column(c).unwrap().field();
        let now = crate::now_ns();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                photos.iter().map(|p| p.0.as_str()),
            )),
            Arc::new(arrow::array::Int64Array::from_iter_values(
                photos.iter().map(|_| 1000),
            )),
            Arc::new(
                TimestampNanosecondArray::from_iter_values(photos.iter().map(|_| now))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(photos.iter().map(|p| p.1))),
            Arc::new(Float64Array::from_iter_values(photos.iter().map(|p| p.2))),
            Arc::new(Float64Array::from_iter_values(photos.iter().map(|_| 5.0))),
            Arc::new(
                TimestampNanosecondArray::from_iter_values(photos.iter().map(|_| now))
                    .with_timezone("UTC"),
            ),
        ];
        let fields: Vec<Field> = [
            "path",
            "file_size",
            "file_mtime",
            "sharpness",
            "color_score",
            "exposure_score",
            "analyzed_at",
        ]
        .iter()
        .map(|c| field(c))
        .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn photo(i: usize, shift: f64) -> (String, f64, f64) {
        (
            format!("/lib/p{i:04}.jpg"),
            (i * 37 % 1000) as f64 + shift,
            (i * 11 % 97) as f64 / 10.0 + shift / 100.0,
        )
    }

    fn scores(rt: &tokio::runtime::Runtime, store: &Store) -> Vec<String> {
        let (_, b) = rt
            .block_on(
                store
                    .sql("SELECT path, category, aggregate, scored_with FROM scores ORDER BY path"),
            )
            .unwrap();
        let mut out = Vec::new();
        for b in b {
            for i in 0..b.num_rows() {
                let cells: Vec<String> = (0..b.num_columns())
                    .map(|c| arrow::util::display::array_value_to_string(b.column(c), i).unwrap())
                    .collect();
                out.push(cells.join("|"));
            }
        }
        out
    }

    /// Photos added, analysed again with other values and moved, batch
    /// after batch through the live collection, give the scores of one full
    /// re-score of the final library — without reading the library again.
    #[test]
    fn live_updates_equal_a_full_rescore() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let config = FacetConfig::default();
        let photos_t = facet_schemas::photos();
        let dir = tempfile::tempdir().unwrap();
        let live_store = Store::open(&dir.path().join("live")).unwrap();
        let mut library: Vec<(String, f64, f64)> = (0..300).map(|i| photo(i, 0.0)).collect();
        rt.block_on(live_store.upsert(&photos_t, rows(&library)))
            .unwrap();
        let mut live = Live::default();
        let first = live.rescore(&rt, &live_store, &config, &[]).unwrap();
        assert!(first.full.is_some(), "the first batch reads the library");
        assert_eq!(live.photos(), 300);

        // 1. New photos, sharper than all: the percentiles move.
        let added: Vec<_> = (300..340).map(|i| photo(i, 2000.0)).collect();
        rt.block_on(live_store.upsert(&photos_t, rows(&added)))
            .unwrap();
        library.extend(added);
        let r = live.rescore(&rt, &live_store, &config, &[]).unwrap();
        assert_eq!(r.full, None, "{r:?}");
        assert!(r.scored >= 40, "{r:?}");

        // 2. Photos analysed again with other values (edits).
        let edited: Vec<_> = (0..20).map(|i| photo(i, 5000.0)).collect();
        rt.block_on(live_store.upsert(&photos_t, rows(&edited)))
            .unwrap();
        for e in &edited {
            let at = library.iter().position(|p| p.0 == e.0).unwrap();
            library[at] = e.clone();
        }
        let r = live.rescore(&rt, &live_store, &config, &[]).unwrap();
        assert_eq!(r.full, None, "{r:?}");

        // 3. Photos moved: the old rows leave, the same values arrive under new paths.
        let moved: Vec<String> = library[100..110].iter().map(|p| p.0.clone()).collect();
        let arrived: Vec<_> = library[100..110]
            .iter()
            .map(|p| (p.0.replace("/lib/", "/lib/sorted/"), p.1, p.2))
            .collect();
        rt.block_on(live_store.delete_keys(&photos_t, &moved))
            .unwrap();
        rt.block_on(live_store.upsert(&photos_t, rows(&arrived)))
            .unwrap();
        library.drain(100..110);
        library.extend(arrived);
        let r = live.rescore(&rt, &live_store, &config, &moved).unwrap();
        assert_eq!(r.full, None, "{r:?}");
        assert_eq!(live.photos(), library.len());

        // The same final library, scored once from nothing.
        let once = Store::open(&dir.path().join("once")).unwrap();
        rt.block_on(once.upsert(&photos_t, rows(&library))).unwrap();
        recompute(&rt, &once, &config).unwrap();
        assert_eq!(scores(&rt, &live_store), scores(&rt, &once));

        // And a one-shot re-score goes on from the state the live one saved.
        let again = recompute(&rt, &live_store, &config).unwrap();
        assert_eq!(again.full, None, "{again:?}");
        assert_eq!(again.scored, 0, "{again:?}");
    }

    /// Another process removing photos under the watcher: it starts again.
    #[test]
    fn a_store_changed_elsewhere_starts_the_collection_again() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let config = FacetConfig::default();
        let photos_t = facet_schemas::photos();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let library: Vec<_> = (0..50).map(|i| photo(i, 0.0)).collect();
        rt.block_on(store.upsert(&photos_t, rows(&library)))
            .unwrap();
        let mut live = Live::default();
        live.rescore(&rt, &store, &config, &[]).unwrap();
        rt.block_on(store.delete_keys(&photos_t, &[library[0].0.clone()]))
            .unwrap();
        let r = live.rescore(&rt, &store, &config, &[]).unwrap();
        assert!(
            r.full.as_deref().is_some_and(|w| w.contains("removed")),
            "{r:?}"
        );
        assert_eq!(live.photos(), 49);
    }
}
