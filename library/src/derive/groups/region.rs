//! The part of the library an incremental detection must see: the photos
//! that changed, everything their links reach, and the whole of every
//! previous group any of those belongs to — read from Lance by index look-ups
//! ([`Region::close`]), never by reading the library.
//!
//! A detection over this subset gives the groups a full detection gives
//! (`groups::maintain` works on it as on the whole library, tested) when the
//! subset is *closed*:
//!
//! * **links** — every photo a regrouped region can reach is *expanded*: its
//!   near copies (pHash within the radius, through the indexed quarters of
//!   `photo_groups.phash_q0..3`, the multi-index hash kept in the store),
//!   its embedding neighbours (the vector index of `photos.embedding`) and
//!   every photo taken within the burst reach of it (`burst_reach`, through
//!   the BTree index of `photos.date_taken`) are loaded, and loaded photos
//!   linked to an expanded one are expanded in turn;
//! * **bursts** — a camera's photos within the burst reach of an expanded
//!   photo are all loaded, so consecutive photos of the subset's sequence are
//!   consecutive in the library's wherever a link between them is possible;
//!   a stretch linked to an expanded photo, and the photos next to a changed
//!   one, are expanded (the regrouping starts from them);
//! * **groups** — every loaded photo's previous groups (of each kind) are
//!   loaded whole, so a previous group is either entirely in the subset or
//!   untouched by it.
//!
//! Photos whose scores (or the users' decisions) changed are loaded with
//! their previous groups without being expanded: their groups keep their
//! members and only their leads are chosen again.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type};
use facet_config::{BurstDetection, hamming_radius};
use facet_stages::groups::hamming::{CHUNKS, HammingIndex, chunks};
use facet_stages::groups::maintain::Settings;
use facet_stages::groups::table::photos_of;
use facet_stages::groups::{Kind, Photo, burst_link, burst_reach, camera_sequences};
use facet_store::{Dataset, Filter, Store, filter};

use crate::{Error, Result};

/// Values per `IN (…)` list of one Lance query.
const IN_CHUNK: usize = 256;
/// Capture-time windows per Lance query.
const WINDOW_CHUNK: usize = 64;
/// Embedding queries per Lance query.
const QUERY_BATCH: usize = 256;
/// Partitions of the IVF index probed per embedding query.
pub(super) const NPROBES: usize = 20;

pub(crate) struct Region<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a Store,
    photos_ds: &'a Dataset,
    groups_ds: Option<&'a Dataset>,
    scores_ds: Option<&'a Dataset>,
    /// The `photos` columns a [`Photo`] is made of (those the table has).
    columns: &'a [&'a str],
    settings: Settings<'a>,
    /// Embedding neighbours asked per photo.
    k: usize,
    pub photos: Vec<Photo>,
    pub index: HashMap<String, usize>,
    /// The photo's links must be looked up, and whether they were.
    expand: Vec<bool>,
    expanded: Vec<bool>,
    /// The photo's stored `photo_groups` row was looked up.
    membership_read: Vec<bool>,
    /// The stored `photo_groups` rows of the loaded photos.
    pub stored: Vec<RecordBatch>,
    /// Each loaded photo's stored group ids.
    groups_of: Vec<Vec<String>>,
    /// Group ids whose members were loaded, and whether as expanded.
    groups_loaded: HashMap<String, bool>,
    /// Lance queries made (for the trace).
    pub queries: usize,
}

/// A capture time (seconds, as `parse_taken` reads it) as the stored text's
/// first 19 characters, whose order is the time's.
fn taken_text(t: f64) -> String {
    let secs = t.floor() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| "0000-00-00T00:00:00".into())
}

/// The pHash of row `r` from its four stored quarters (`phash_q0..3`, as
/// `group_rows` writes them); `None` when the photo has none.
fn stored_phash(quarters: &[arrow::array::ArrayRef], r: usize) -> Option<u64> {
    let mut h = 0u64;
    for (c, q) in quarters.iter().take(CHUNKS).enumerate() {
        let q = q.as_primitive::<Int32Type>();
        if q.is_null(r) {
            return None;
        }
        h |= (q.value(r) as u16 as u64) << (16 * c);
    }
    Some(h)
}

impl<'a> Region<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: &'a tokio::runtime::Runtime,
        store: &'a Store,
        photos_ds: &'a Dataset,
        groups_ds: Option<&'a Dataset>,
        scores_ds: Option<&'a Dataset>,
        columns: &'a [&'a str],
        settings: Settings<'a>,
        k: usize,
    ) -> Self {
        Region {
            rt,
            store,
            photos_ds,
            groups_ds,
            scores_ds,
            columns,
            settings,
            k,
            photos: Vec::new(),
            index: HashMap::new(),
            expand: Vec::new(),
            expanded: Vec::new(),
            membership_read: Vec::new(),
            stored: Vec::new(),
            groups_of: Vec::new(),
            groups_loaded: HashMap::new(),
            queries: 0,
        }
    }

    /// Every batch of a filtered scan.
    fn query(
        &mut self,
        ds: &Dataset,
        columns: &[&str],
        filter: Filter,
    ) -> Result<Vec<RecordBatch>> {
        self.queries += 1;
        let trace = crate::Trace::new("groups look-up");
        let what: String = filter.to_string().chars().take(48).collect();
        let mut scan = self
            .rt
            .block_on(facet_store::scan_where(ds, columns, filter))?;
        let mut out = Vec::new();
        while let Some(b) = self.rt.block_on(scan.next())? {
            out.push(b);
        }
        let rows: usize = out.iter().map(RecordBatch::num_rows).sum();
        trace.at(&format!("{what}… ({rows} rows)"));
        Ok(out)
    }

    /// The `aggregate` of each of `paths` that has one.
    fn aggregates(&mut self, paths: &[String]) -> Result<HashMap<String, f64>> {
        let mut out = HashMap::new();
        let Some(ds) = self.scores_ds else {
            return Ok(out);
        };
        for chunk in paths.chunks(IN_CHUNK) {
            let filter = filter::one_of("path", chunk.iter().map(String::as_str));
            for b in self.query(ds, &["path", "aggregate"], filter)? {
                let (p, a) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_primitive::<Float64Type>(),
                );
                for i in 0..b.num_rows() {
                    if !a.is_null(i) {
                        out.insert(p.value(i).to_string(), a.value(i));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds the photos of `batch` (`photos` rows) not loaded yet; marks them
    /// (and the loaded ones among them) for expansion when `expand`.
    /// Returns the indices of the batch's photos.
    pub fn add(&mut self, batch: &RecordBatch, expand: bool) -> Result<Vec<usize>> {
        let mut photos = photos_of(batch).map_err(Error::Internal)?;
        let fresh: Vec<String> = photos
            .iter()
            .filter(|p| !self.index.contains_key(&p.path))
            .map(|p| p.path.clone())
            .collect();
        let aggregates = self.aggregates(&fresh)?;
        let mut out = Vec::with_capacity(photos.len());
        for mut p in photos.drain(..) {
            let i = match self.index.get(&p.path) {
                Some(&i) => i,
                None => {
                    p.aggregate = aggregates.get(&p.path).copied();
                    let i = self.photos.len();
                    self.index.insert(p.path.clone(), i);
                    self.photos.push(p);
                    self.expand.push(false);
                    self.expanded.push(false);
                    self.membership_read.push(false);
                    self.groups_of.push(Vec::new());
                    i
                }
            };
            self.expand[i] |= expand;
            out.push(i);
        }
        Ok(out)
    }

    /// Loads the photos of `paths` (those not loaded yet are read by path).
    pub fn load(&mut self, paths: &[String], expand: bool) -> Result<()> {
        let mut missing = Vec::new();
        for p in paths {
            match self.index.get(p) {
                Some(&i) => self.expand[i] |= expand,
                None => missing.push(p.as_str()),
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let columns = self.columns;
        for chunk in missing.chunks(IN_CHUNK) {
            let filter = filter::one_of("path", chunk.iter().copied());
            for b in self.query(self.photos_ds, columns, filter)? {
                self.add(&b, expand)?;
            }
        }
        Ok(())
    }

    /// The member paths of the stored groups `ids`.
    fn members(&mut self, ids: &[String]) -> Result<Vec<String>> {
        let Some(ds) = self.groups_ds else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let filter = filter::any(Kind::ALL.iter().map(|k| {
                filter::one_of(
                    &format!("{}_group_id", k.as_str()),
                    chunk.iter().map(String::as_str),
                )
            }))
            .expect("there are group kinds");
            for b in self.query(ds, &["path"], filter)? {
                let p = b.column(0).as_string::<i32>();
                out.extend((0..b.num_rows()).map(|i| p.value(i).to_string()));
            }
        }
        Ok(out)
    }

    /// Re-leads the groups of `paths` (photos whose score or decision
    /// changed): their previous groups are loaded whole, not expanded.
    pub fn relead(&mut self, paths: &[String]) -> Result<()> {
        let Some(ds) = self.groups_ds else {
            return Ok(());
        };
        // By path alone, which the `path` index answers; a further
        // condition on the group columns made Lance scan the whole table
        // (4.4 s for 100 paths of a million-photo library).
        let mut ids = Vec::new();
        let id_columns: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("{}_group_id", k.as_str()))
            .collect();
        let columns: Vec<&str> = id_columns.iter().map(String::as_str).collect();
        for chunk in paths.chunks(IN_CHUNK) {
            let filter = filter::one_of("path", chunk.iter().map(String::as_str));
            for b in self.query(ds, &columns, filter)? {
                for c in b.columns() {
                    let c = c.as_string::<i32>();
                    ids.extend(c.iter().flatten().map(str::to_string));
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| !self.groups_loaded.contains_key(id));
        for id in &ids {
            self.groups_loaded.insert(id.clone(), false);
        }
        let members = self.members(&ids)?;
        self.load(&members, false)
    }

    /// Reads the stored rows of the photos loaded since the last call and
    /// loads the rest of every loaded photo's groups (expanded when the
    /// photo is). Returns whether it read, loaded or marked anything.
    fn memberships(&mut self) -> Result<bool> {
        let todo: Vec<usize> = (0..self.photos.len())
            .filter(|&i| !self.membership_read[i])
            .collect();
        let Some(ds) = self.groups_ds else {
            self.membership_read.iter_mut().for_each(|r| *r = true);
            return Ok(false);
        };
        let schema = facet_schemas::photo_groups();
        let all: Vec<&str> = schema.columns.iter().map(|c| c.name.as_ref()).collect();
        for chunk in todo.chunks(IN_CHUNK) {
            let paths: Vec<&str> = chunk
                .iter()
                .map(|&i| self.photos[i].path.as_str())
                .collect();
            let filter = filter::one_of("path", paths);
            for b in self.query(ds, &all, filter)? {
                let p = b
                    .column_by_name("path")
                    .expect("projected")
                    .as_string::<i32>()
                    .clone();
                for kind in Kind::ALL {
                    let Some(c) = b.column_by_name(&format!("{}_group_id", kind.as_str())) else {
                        continue;
                    };
                    let c = c.as_string::<i32>();
                    for r in 0..b.num_rows() {
                        if let (false, Some(&i)) = (c.is_null(r), self.index.get(p.value(r))) {
                            self.groups_of[i].push(c.value(r).to_string());
                        }
                    }
                }
                self.stored.push(b);
            }
            for &i in chunk {
                self.membership_read[i] = true;
            }
        }
        // Groups not loaded yet, or loaded unexpanded and now of an expanded photo.
        let mut ids: [Vec<String>; 2] = Default::default();
        for i in 0..self.photos.len() {
            let expand = self.expand[i];
            for id in &self.groups_of[i] {
                match self.groups_loaded.get(id) {
                    Some(&had) if had || !expand => {}
                    _ => {
                        self.groups_loaded.insert(id.clone(), expand);
                        ids[usize::from(expand)].push(id.clone());
                    }
                }
            }
        }
        let any = !todo.is_empty() || ids.iter().any(|v| !v.is_empty());
        for (expand, these) in [false, true].into_iter().zip(ids) {
            if !these.is_empty() {
                let members = self.members(&these)?;
                self.load(&members, expand)?;
            }
        }
        Ok(any)
    }

    /// Looks up the links of the photos to expand: near copies, photos taken
    /// within the burst reach, embedding neighbours. Returns whether any.
    fn expand_links(&mut self) -> Result<bool> {
        let todo: Vec<usize> = (0..self.photos.len())
            .filter(|&i| self.expand[i] && !self.expanded[i])
            .collect();
        if todo.is_empty() {
            return Ok(false);
        }
        for &i in &todo {
            self.expanded[i] = true;
        }
        self.near_copies(&todo)?;
        self.taken_near(&todo)?;
        self.embedding_neighbours(&todo)?;
        Ok(true)
    }

    /// Photos whose pHash is within the duplicate radius of one of `of`'s
    /// (loaded, expanded). Every stored pHash is read — its four quarters,
    /// 16 bytes a photo, 140 ms at a million photos in the dev profile — and
    /// compared in memory; then the few near ones are read by their first
    /// quarter. (Looking the candidates up through the quarter indexes
    /// instead costs their rows, which grow with the library: 64,000 rows
    /// and 3.4 s for 64 photos at a million.)
    fn near_copies(&mut self, of: &[usize]) -> Result<()> {
        let Some(ds) = self.groups_ds else {
            return Ok(());
        };
        let radius = hamming_radius(self.settings.duplicates.similarity_threshold_percent);
        let mut queries = HammingIndex::new();
        for &i in of {
            if let Some(h) = self.photos[i].phash {
                queries.insert(h);
            }
        }
        if queries.is_empty() {
            return Ok(());
        }
        let quarters = ["phash_q0", "phash_q1", "phash_q2", "phash_q3"];
        self.queries += 1;
        let trace = crate::Trace::new("groups pHashes");
        let mut stored = Vec::new();
        let mut scan = self.rt.block_on(facet_store::scan(ds, &quarters, None))?;
        while let Some(b) = self.rt.block_on(scan.next())? {
            stored.extend((0..b.num_rows()).filter_map(|r| stored_phash(b.columns(), r)));
        }
        let near: HashSet<u64> = queries
            .near_any(&stored, radius)
            .into_iter()
            .map(|k| stored[k])
            .collect();
        trace.at(&format!("{} read and compared", stored.len()));
        drop(stored);
        let mut firsts: Vec<u16> = near.iter().map(|&h| chunks(h)[0]).collect();
        firsts.sort_unstable();
        firsts.dedup();
        let mut found = Vec::new();
        for chunk in firsts.chunks(IN_CHUNK) {
            let filter = filter::one_of("phash_q0", chunk.iter().map(|&v| v as i32));
            let mut columns = vec!["path"];
            columns.extend(quarters);
            for b in self.query(ds, &columns, filter)? {
                let p = b.column(0).as_string::<i32>();
                for r in 0..b.num_rows() {
                    if stored_phash(&b.columns()[1..], r).is_some_and(|h| near.contains(&h)) {
                        found.push(p.value(r).to_string());
                    }
                }
            }
        }
        self.load(&found, true)
    }

    /// Every photo taken within the burst reach of one of `of` (loaded; the
    /// burst pass decides which to expand).
    fn taken_near(&mut self, of: &[usize]) -> Result<()> {
        if self.photos_ds.schema().field("date_taken").is_none() {
            return Ok(());
        }
        let reach = burst_reach(self.settings.bursts);
        let mut windows: Vec<(f64, f64)> = of
            .iter()
            .filter_map(|&i| self.photos[i].taken)
            .map(|t| (t - reach, t + reach))
            .collect();
        windows.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Overlapping windows merged.
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.0 <= last.1 => last.1 = last.1.max(w.1),
                _ => merged.push(w),
            }
        }
        let columns = self.columns;
        for chunk in merged.chunks(WINDOW_CHUNK) {
            let filter = filter::any(chunk.iter().map(|&(lo, hi)| {
                filter::range("date_taken", &taken_text(lo), &taken_text(hi + 1.0))
            }))
            .expect("a chunk has windows");
            for b in self.query(self.photos_ds, columns, filter)? {
                self.add(&b, false)?;
            }
        }
        Ok(())
    }

    /// Embedding neighbours of `of` above the similarity threshold (loaded, expanded).
    fn embedding_neighbours(&mut self, of: &[usize]) -> Result<()> {
        if !self.columns.contains(&"embedding") {
            return Ok(());
        }
        let threshold = self.settings.similarity.default_threshold as f32;
        let queries: Vec<Vec<f32>> = of
            .iter()
            .filter_map(|&i| self.photos[i].embedding.clone())
            .collect();
        let mut found = Vec::new();
        for chunk in queries.chunks(QUERY_BATCH) {
            let q: Vec<&[f32]> = chunk.iter().map(Vec::as_slice).collect();
            self.queries += 1;
            let ns = self.rt.block_on(self.store.nearest(
                "photos",
                "embedding",
                &q,
                self.k,
                1.0 - threshold,
                NPROBES,
            ))?;
            found.extend(ns.into_iter().flatten().map(|(p, _)| p));
        }
        self.load(&found, true)
    }

    /// Marks for expansion the photos a burst regrouping can start from or
    /// run through: the stretches of linked photos (per camera, in capture
    /// order) that hold an expanded photo, and the photos next to a changed
    /// one. Returns whether it marked any.
    fn bursts(&mut self, changed: &[usize], detect: &BurstDetection) -> bool {
        let mut mark = Vec::new();
        let is_changed: HashSet<usize> = changed.iter().copied().collect();
        for seq in camera_sequences(&self.photos).values() {
            let mut start = 0;
            for k in 0..seq.len() {
                let end_here = k + 1 == seq.len()
                    || !burst_link(&self.photos[seq[k]], &self.photos[seq[k + 1]], detect);
                if end_here {
                    let stretch = &seq[start..=k];
                    if stretch.len() > 1 && stretch.iter().any(|&i| self.expand[i]) {
                        mark.extend(stretch.iter().copied());
                    }
                    start = k + 1;
                }
                if is_changed.contains(&seq[k]) {
                    if k > 0 {
                        mark.push(seq[k - 1]);
                    }
                    if k + 1 < seq.len() {
                        mark.push(seq[k + 1]);
                    }
                }
            }
        }
        let mut any = false;
        for i in mark {
            if !self.expand[i] {
                self.expand[i] = true;
                any = true;
            }
        }
        any
    }

    /// Loads until the subset is closed (see the module docs).
    pub fn close(&mut self, changed: &[usize]) -> Result<()> {
        let detect = self.settings.bursts;
        loop {
            let a = self.memberships()?;
            let b = self.expand_links()?;
            let c = self.bursts(changed, detect);
            if !(a || b || c) {
                return Ok(());
            }
        }
    }
}
