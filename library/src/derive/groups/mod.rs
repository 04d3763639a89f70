//! Burst, duplicate and similarity groups over the store (`facet
//! detect-duplicates`, and at the end of every `facet run`), and users'
//! decisions about groups (`facet groups lead|keep-all|reset`).
//!
//! A detection costs what changed, not the library. `group_state`
//! ([`state`]) keeps the last detection's watermarks: the last fragment of
//! `photos` it read (every write adds fragments with higher ids, so the rows
//! of later fragments are the photos new or analysed again since), the
//! version of `scores` its leads were chosen with, the decisions it applied
//! and the library's totals. The next detection reads those photos, closes
//! the subset of the library they can affect through index look-ups
//! ([`region`]: near copies through the pHash quarters indexed in
//! `photo_groups`, photos taken within the burst reach through the index on
//! `photos.date_taken`, embedding neighbours through the vector index, and
//! the whole of every previous group met), regroups that subset with
//! `groups::maintain` — which gives what a full detection gives — and
//! writes the rows that differ. Photos whose scores or decisions changed
//! only have their groups re-led.
//!
//! A full detection reads every photo: the first one, `--full`, other group
//! settings, photos removed since (the row counts of `photos` and
//! `photo_groups` disagree), or similarity over more photos than
//! `similarity_groups.max_photos` (which picks the most recent ones).

mod region;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::util::display::array_value_to_string;
use facet_config::FacetConfig;
use facet_stages::groups::hamming::chunks;
use facet_stages::groups::maintain::{Settings, Since};
use facet_stages::groups::similar::Neighbours;
use facet_stages::groups::table::{INPUT_COLUMNS, photos_of, rows, stored_groups};
use facet_stages::groups::{Decision, Decisions, Group, Kind, Photo, maintain};
use facet_store::{Dataset, Store};
use sha2::{Digest, Sha256};

use crate::failpoint::point;
use crate::{Error, Result, now_ns};
use region::{NPROBES, Region};
use state::{DecisionWords, GroupState, Totals};

/// What a detection found.
#[derive(Debug, Default)]
pub struct Detected {
    pub photos: usize,
    pub bursts: usize,
    pub in_bursts: usize,
    pub duplicate_groups: usize,
    pub duplicates: usize,
    pub similar_groups: usize,
    pub similar: usize,
    /// Photos looked up in an index, and whether it was a full detection.
    pub looked_up: usize,
    pub full: bool,
    /// Why it was a full detection.
    pub why_full: Option<String>,
    /// Photos read from the store (all of them in a full detection).
    pub read: usize,
    /// `photo_groups` rows written (new or changed) and removed.
    pub written: usize,
    pub removed: usize,
    pub seconds: f64,
}

/// The users' decisions, as detection applies them and in the table's words.
fn decisions(rt: &tokio::runtime::Runtime, store: &Store) -> Result<(Decisions, DecisionWords)> {
    let mut out = Decisions::new();
    let mut words = DecisionWords::new();
    let Some(ds) = rt.block_on(store.dataset("group_decisions"))? else {
        return Ok((out, words));
    };
    let mut scan = rt.block_on(facet_store::scan(&ds, &["kind", "path", "decision"], None))?;
    while let Some(b) = rt.block_on(scan.next())? {
        let (k, p, d) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            let kind = Kind::parse(k.value(i));
            let decision = match d.value(i) {
                "lead" => Some(Decision::Lead),
                "keep_all" => Some(Decision::KeepAll),
                _ => None,
            };
            if let (Some(kind), Some(decision)) = (kind, decision) {
                out.insert((kind, p.value(i).to_string()), decision);
                words.insert(
                    format!("{}:{}", kind.as_str(), p.value(i)),
                    d.value(i).to_string(),
                );
            }
        }
    }
    Ok((out, words))
}

/// Embedding neighbours from the store's vector index on `photos.embedding`.
struct Indexed<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a Store,
    /// Neighbours asked per photo (the group size cap, and a few more).
    k: usize,
    index_of: HashMap<String, usize>,
}

impl<'a> Indexed<'a> {
    fn new(rt: &'a tokio::runtime::Runtime, store: &'a Store, config: &FacetConfig) -> Self {
        Indexed {
            rt,
            store,
            k: config.similarity_groups.max_group_size as usize + 8,
            index_of: HashMap::new(),
        }
    }
}

/// Query vectors per Lance query.
const QUERY_BATCH: usize = 256;

impl Neighbours for Indexed<'_> {
    fn similar(
        &mut self,
        photos: &[Photo],
        of: &[usize],
        threshold: f32,
    ) -> Result<Vec<Vec<(usize, f32)>>, String> {
        if self.index_of.is_empty() {
            self.index_of = photos
                .iter()
                .enumerate()
                .map(|(i, p)| (p.path.clone(), i))
                .collect();
        }
        let mut out = vec![Vec::new(); of.len()];
        let asked: Vec<(usize, &[f32])> = of
            .iter()
            .enumerate()
            .filter_map(|(slot, &i)| Some((slot, photos[i].embedding.as_deref()?)))
            .collect();
        for chunk in asked.chunks(QUERY_BATCH) {
            let queries: Vec<&[f32]> = chunk.iter().map(|(_, q)| *q).collect();
            let found = self
                .rt
                .block_on(self.store.nearest(
                    "photos",
                    "embedding",
                    &queries,
                    self.k,
                    1.0 - threshold,
                    NPROBES,
                ))
                .map_err(|e| format!("embedding neighbours: {e}"))?;
            for ((slot, _), ns) in chunk.iter().zip(found) {
                let me = of[*slot];
                out[*slot] = ns
                    .into_iter()
                    .filter_map(|(path, d)| {
                        let j = *self.index_of.get(&path)?;
                        (j != me).then_some((j, 1.0 - d))
                    })
                    .collect();
            }
        }
        Ok(out)
    }
}

/// Every scored photo's `aggregate`, by path.
fn aggregates(rt: &tokio::runtime::Runtime, store: &Store) -> Result<HashMap<String, f64>> {
    let mut by_path = HashMap::new();
    let Some(ds) = rt.block_on(store.dataset("scores"))? else {
        return Ok(by_path);
    };
    let mut scan = rt.block_on(facet_store::scan(&ds, &["path", "aggregate"], None))?;
    while let Some(b) = rt.block_on(scan.next())? {
        let (p, a) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_primitive::<arrow::datatypes::Float64Type>(),
        );
        for i in 0..b.num_rows() {
            if !a.is_null(i) {
                by_path.insert(p.value(i).to_string(), a.value(i));
            }
        }
    }
    Ok(by_path)
}

/// The fingerprint of the settings groups depend on.
fn fingerprint(config: &FacetConfig) -> String {
    let s = serde_json::to_string(&(
        &config.burst_detection,
        &config.burst_scoring,
        &config.duplicate_detection,
        &config.similarity_groups,
    ))
    .expect("settings serialize");
    hex::encode(&Sha256::digest(format!("groups/1:{s}"))[..8])
}

/// The `photos` columns groups are made of, those the table has.
fn photo_columns(ds: &Dataset) -> Vec<&'static str> {
    INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| *c != "aggregate" && ds.schema().field(c).is_some())
        .collect()
}

fn slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|&k| k == kind).expect("listed")
}

/// Groups and members per kind of `groups`.
fn totals_of<'g>(groups: impl IntoIterator<Item = (Kind, usize)> + 'g) -> Totals {
    let mut t = Totals::default();
    for (kind, members) in groups {
        t.groups[slot(kind)] += 1;
        t.members[slot(kind)] += members as u64;
    }
    t
}

/// `photo_groups` rows of `photos` with their groups: the pHash quarters,
/// the detection's time and settings.
fn group_rows(photos: &[Photo], groups: &[Group], fp: &str) -> Result<RecordBatch> {
    let batch = rows(photos, groups).map_err(Error::Internal)?;
    let table = facet_schemas::photo_groups();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for q in 0..4 {
        fields.push(
            table
                .column(&format!("phash_q{q}"))
                .expect("declared")
                .field(),
        );
        columns.push(Arc::new(
            photos
                .iter()
                .map(|p| p.phash.map(|h| chunks(h)[q] as i32))
                .collect::<Int32Array>(),
        ));
    }
    let now = now_ns();
    fields.push(table.column("grouped_at").expect("declared").field());
    columns.push(Arc::new(
        TimestampNanosecondArray::from_iter_values(photos.iter().map(|_| now)).with_timezone("UTC"),
    ));
    fields.push(table.column("grouped_with").expect("declared").field());
    columns.push(Arc::new(StringArray::from_iter_values(
        photos.iter().map(|_| fp),
    )));
    Ok(facet_engine::with_columns(batch, fields, columns)?)
}

/// The columns a stored row is compared on (what a detection decides).
fn compared() -> Vec<String> {
    facet_schemas::photo_groups()
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .filter(|n| n != "grouped_at" && n != "grouped_with")
        .collect()
}

/// One row's compared values, as text.
fn render(b: &RecordBatch, i: usize, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| {
            b.column_by_name(c)
                .map(|a| {
                    if a.is_null(i) {
                        "∅".to_string()
                    } else {
                        array_value_to_string(a, i).unwrap_or_default()
                    }
                })
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// The indexes look-ups go through: the pHash quarters and group ids of
/// `photo_groups`, the capture time of `photos`.
fn index_for_lookups(rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
    let mut columns: Vec<String> = (0..4).map(|q| format!("phash_q{q}")).collect();
    columns.extend(Kind::ALL.iter().map(|k| format!("{}_group_id", k.as_str())));
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    rt.block_on(store.index_scalars("photo_groups", &columns))?;
    rt.block_on(store.index_scalar("photos", "date_taken"))?;
    Ok(())
}

/// Detects the groups (what changed since the last detection, or
/// everything with `full`) and brings `photo_groups` up to date.
pub fn detect(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    full: bool,
) -> Result<Detected> {
    let started = Instant::now();
    let fp = fingerprint(config);
    let (decided, words) = decisions(rt, store)?;
    let why = if full {
        "asked for".to_string()
    } else {
        match GroupState::load(rt, store)? {
            None => "no previous detection".to_string(),
            Some(s) if s.fingerprint != fp => "group settings changed".to_string(),
            Some(s) => match incremental(rt, store, config, &decided, words.clone(), s, &fp)? {
                Ok(mut d) => {
                    d.seconds = started.elapsed().as_secs_f64();
                    return Ok(d);
                }
                Err(why) => why,
            },
        }
    };
    let mut d = full_detection(rt, store, config, &decided, words, &fp)?;
    d.why_full = Some(why);
    d.seconds = started.elapsed().as_secs_f64();
    Ok(d)
}

/// Every photo read and grouped; `photo_groups` replaced.
fn full_detection(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    decided: &Decisions,
    words: DecisionWords,
    fp: &str,
) -> Result<Detected> {
    let trace = crate::Trace::new("groups");
    let scores_version = rt.block_on(store.table_version("scores"))?;
    let aggregates = aggregates(rt, store)?;
    let mut photos: Vec<Photo> = Vec::new();
    let mut fragment = None;
    let mut has_embedding = false;
    if let Some(ds) = rt.block_on(store.dataset("photos"))? {
        let columns = photo_columns(&ds);
        has_embedding = columns.contains(&"embedding");
        // Batch by batch: never the library's rows and its photos at once.
        let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
        fragment = scan.last_fragment;
        while let Some(batch) = rt.block_on(scan.next())? {
            let mut ps = photos_of(&batch).map_err(Error::Internal)?;
            for p in &mut ps {
                p.aggregate = aggregates.get(&p.path).copied();
            }
            photos.extend(ps);
        }
    }
    drop(aggregates);
    trace.at("photos read");
    if has_embedding {
        rt.block_on(store.index_vectors("photos", "embedding"))?;
    }
    let mut neighbours = Indexed::new(rt, store, config);
    let found = maintain::detect(
        &photos,
        Settings::of(config),
        decided,
        None,
        &mut neighbours,
    )
    .map_err(Error::Config)?;
    trace.at("detected");
    let batch = group_rows(&photos, &found.groups, fp)?;
    let written = batch.num_rows();
    rt.block_on(store.replace(&facet_schemas::photo_groups(), batch))?;
    trace.at("written");
    point!("groups::written");
    index_for_lookups(rt, store)?;
    let totals = totals_of(found.groups.iter().map(|g| (g.kind, g.members.len())));
    GroupState {
        fingerprint: fp.to_string(),
        fragment,
        scores_version,
        decisions: words,
        totals,
    }
    .save(rt, store)?;
    trace.at("state saved");
    Ok(detected(
        photos.len(),
        totals,
        found.looked_up,
        true,
        photos.len(),
        written,
    ))
}

fn detected(
    photos: usize,
    t: Totals,
    looked_up: usize,
    full: bool,
    read: usize,
    written: usize,
) -> Detected {
    let n = |x: u64| x as usize;
    Detected {
        photos,
        bursts: n(t.groups[0]),
        in_bursts: n(t.members[0]),
        duplicate_groups: n(t.groups[1]),
        duplicates: n(t.members[1]),
        similar_groups: n(t.groups[2]),
        similar: n(t.members[2]),
        looked_up,
        full,
        why_full: None,
        read,
        written,
        removed: 0,
        seconds: 0.0,
    }
}

/// Below this many changed photos a detection looks them up (or below a
/// twentieth of the library, whichever is larger); past it, a full
/// detection is cheaper.
const MANY_CHANGED: usize = 2_000;

/// How many re-scored photos count as one changed photo (see above).
const RELEAD_PER_CHANGED: usize = 4;

/// The detection of what changed since `state` (see the module docs); the
/// reason it must be a full one instead.
fn incremental(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    decided: &Decisions,
    words: DecisionWords,
    state: GroupState,
    fp: &str,
) -> Result<std::result::Result<Detected, String>> {
    let trace = crate::Trace::new("groups");
    let Some(photos_ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Err("no photos".into()));
    };
    let groups_ds = rt.block_on(store.dataset("photo_groups"))?;
    let scores_ds = rt.block_on(store.dataset("scores"))?;
    let columns = photo_columns(&photos_ds);
    let settings = Settings::of(config);
    let photos_total = rt
        .block_on(photos_ds.count_rows(None))
        .map_err(facet_store::StoreError::from)?;
    if columns.contains(&"embedding") && photos_total as u64 > config.similarity_groups.max_photos {
        return Ok(Err(format!(
            "similarity over the most recent {} photos",
            config.similarity_groups.max_photos
        )));
    }
    let mut region = Region::new(
        rt,
        store,
        &photos_ds,
        groups_ds.as_ref(),
        scores_ds.as_ref(),
        &columns,
        settings,
        config.similarity_groups.max_group_size as usize + 8,
    );
    // The photos written since: new, or analysed again.
    let mut scan = rt.block_on(facet_store::scan(&photos_ds, &columns, state.fragment))?;
    let fragment = scan.last_fragment.or(state.fragment);
    let mut changed = Vec::new();
    while let Some(b) = rt.block_on(scan.next())? {
        changed.extend(region.add(&b, true)?);
    }
    trace.at("changed photos read");
    // Removed photos leave groups whose rows are not looked up: detected by
    // the counts (every photo had a `photo_groups` row after the last detection).
    let grouped_total = match &groups_ds {
        Some(ds) => rt
            .block_on(ds.count_rows(None))
            .map_err(facet_store::StoreError::from)?,
        None => 0,
    };
    // Leads to choose again: scores written since, decisions changed.
    let scores_version = scores_ds.as_ref().map(|d| d.version().version);
    let mut relead: Vec<String> = match (&scores_ds, state.scores_version) {
        (None, _) => Vec::new(),
        (Some(ds), Some(v)) => match rt.block_on(facet_store::paths_written_since(ds, Some(v)))? {
            Some(paths) => paths,
            None => {
                return Ok(Err(
                    "the scores were rewritten or their previous version is gone".into(),
                ));
            }
        },
        (Some(_), None) => return Ok(Err("no scores at the last detection".into())),
    };
    for (k, d) in state.decisions.iter() {
        if words.get(k) != Some(d) {
            relead.extend(k.split_once(':').map(|(_, p)| p.to_string()));
        }
    }
    for (k, d) in words.iter() {
        if state.decisions.get(k) != Some(d) {
            relead.extend(k.split_once(':').map(|(_, p)| p.to_string()));
        }
    }
    relead.sort_unstable();
    relead.dedup();
    // Look-ups cost more per photo than a full read: past a share of the
    // library, the full detection is the cheaper one. A re-scored photo
    // costs a look-up of its group rows only (no neighbour search), so it
    // counts for a fraction of a changed one: a weight edit that re-scores a
    // whole category stays within the region (a full read of a million
    // photos peaked over 1 GiB).
    let many = MANY_CHANGED.max(photos_total / 20);
    if changed.len() + relead.len() / RELEAD_PER_CHANGED > many {
        return Ok(Err(format!(
            "{} photo(s) changed or re-scored since the last detection",
            changed.len() + relead.len()
        )));
    }
    let nothing = changed.is_empty() && relead.is_empty();
    if !nothing {
        region.relead(&relead)?;
        trace.at("leads to choose again read");
        region.close(&changed)?;
        trace.at("region closed");
    }
    let stored = match region.stored.first() {
        Some(first) => arrow::compute::concat_batches(&first.schema(), &region.stored)?,
        None => RecordBatch::new_empty(facet_schemas::photo_groups().schema()),
    };
    let stored_paths: HashMap<String, usize> = match stored.column_by_name("path") {
        Some(c) => c
            .as_string::<i32>()
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p?.to_string(), i)))
            .collect(),
        None => HashMap::new(),
    };
    let new_photos = changed
        .iter()
        .filter(|&&i| !stored_paths.contains_key(&region.photos[i].path))
        .count();
    if photos_total != grouped_total + new_photos {
        return Ok(Err(format!(
            "{} photo(s) removed since the last detection",
            (grouped_total + new_photos).saturating_sub(photos_total)
        )));
    }
    if nothing {
        return Ok(Ok(detected(photos_total, state.totals, 0, false, 0, 0)));
    }
    // The previous groups of the subset: whole by construction.
    let previous: Vec<(Kind, Vec<String>)> = stored_groups(&stored);
    if let Some((kind, m)) = previous
        .iter()
        .find(|(_, m)| m.iter().any(|p| !region.index.contains_key(p)))
    {
        return Err(Error::Internal(format!(
            "{} group of {} loaded in part",
            kind.as_str(),
            m[0]
        )));
    }
    let since = Since {
        groups: previous.clone(),
        changed: changed.clone(),
    };
    let photos = std::mem::take(&mut region.photos);
    let read = photos.len();
    let queries = region.queries;
    drop(region);
    let mut neighbours = Indexed::new(rt, store, config);
    if columns.contains(&"embedding") {
        rt.block_on(store.index_vectors("photos", "embedding"))?;
    }
    let found = maintain::detect(&photos, settings, decided, Some(&since), &mut neighbours)
        .map_err(Error::Config)?;
    trace.at(&format!(
        "detected ({read} photos read, {queries} look-ups)"
    ));
    // Rows that differ from the stored ones, and every changed photo's.
    let batch = group_rows(&photos, &found.groups, fp)?;
    let columns = compared();
    let is_changed: HashSet<usize> = changed.iter().copied().collect();
    let write: Vec<bool> = (0..batch.num_rows())
        .map(|i| {
            is_changed.contains(&i)
                || match stored_paths.get(&photos[i].path) {
                    Some(&j) => render(&stored, j, &columns) != render(&batch, i, &columns),
                    None => true,
                }
        })
        .collect();
    let batch =
        arrow::compute::filter_record_batch(&batch, &arrow::array::BooleanArray::from(write))?;
    let written = batch.num_rows();
    if written > 0 {
        rt.block_on(store.upsert(&facet_schemas::photo_groups(), batch))?;
    }
    trace.at("written");
    point!("groups::written");
    index_for_lookups(rt, store)?;
    // The totals: the subset's previous groups out, its groups now in.
    let before = totals_of(previous.iter().map(|(k, m)| (*k, m.len())));
    let after = totals_of(found.groups.iter().map(|g| (g.kind, g.members.len())));
    let mut totals = state.totals;
    for k in 0..3 {
        totals.groups[k] = (totals.groups[k] + after.groups[k]).saturating_sub(before.groups[k]);
        totals.members[k] =
            (totals.members[k] + after.members[k]).saturating_sub(before.members[k]);
    }
    GroupState {
        fingerprint: fp.to_string(),
        fragment,
        scores_version,
        decisions: words,
        totals,
    }
    .save(rt, store)?;
    trace.at("state saved");
    Ok(Ok(detected(
        photos_total,
        totals,
        found.looked_up,
        false,
        read,
        written,
    )))
}

/// Records a decision (`None` removes the photo's decision for that kind).
pub fn decide(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    kind: Kind,
    path: &str,
    decision: Option<Decision>,
) -> Result<()> {
    use datafusion::prelude::{col, lit};
    // Values reach the queries as literals of expressions, never as text.
    let ctx = rt.block_on(store.session())?;
    let n = rt.block_on(async {
        ctx.table(facet_store::PHOTOS_STORED)
            .await?
            .filter(col("path").eq(lit(path)))?
            .count()
            .await
    })?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "{path}: not a photo of this store"
        )));
    }
    let table = facet_schemas::group_decisions();
    let key = format!("{}:{path}", kind.as_str());
    match decision {
        None => rt.block_on(store.delete_keys(&table, &[key]))?,
        Some(d) => {
            let word = match d {
                Decision::Lead => "lead",
                Decision::KeepAll => "keep_all",
            };
            // A photo leads its group alone: drop other lead choices in it.
            let schema = table.schema();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![key])),
                Arc::new(StringArray::from(vec![kind.as_str()])),
                Arc::new(StringArray::from(vec![path])),
                Arc::new(StringArray::from(vec![word])),
                Arc::new(TimestampNanosecondArray::from(vec![now_ns()]).with_timezone("UTC")),
            ];
            let batch = RecordBatch::try_new(schema, columns)?;
            if d == Decision::Lead {
                let gid = format!("{}_group_id", kind.as_str());
                // The other members of the photo's group.
                let others = rt.block_on(async {
                    let groups = ctx.table("photo_groups").await?;
                    let mine = groups
                        .clone()
                        .filter(col("path").eq(lit(path)).and(col(&gid).is_not_null()))?
                        .select(vec![col(&gid).alias("mine")])?;
                    groups
                        .join_on(
                            mine,
                            datafusion::common::JoinType::Inner,
                            [col(&gid).eq(col("mine"))],
                        )?
                        .filter(col("path").not_eq(lit(path)))?
                        .select(vec![col("path")])?
                        .collect()
                        .await
                })?;
                let keys: Vec<String> = others
                    .iter()
                    .flat_map(|b| {
                        let a = b.column(0).as_string::<i32>();
                        (0..a.len())
                            .map(|i| format!("{}:{}", kind.as_str(), a.value(i)))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                rt.block_on(store.delete_keys(&table, &keys))?;
            }
            rt.block_on(store.upsert(&table, batch))?;
        }
    }
    Ok(())
}
