//! Scores (`facet recompute`, and the end of every `facet run`): each
//! photo's category, aggregate, critique and Top Picks score from its stored
//! raw metrics, without decoding a single image.
//!
//! **Incremental.** A re-score reads back what the last one knew
//! (`score_state`, [`state`]): the normalization windows of every category
//! and metric (`facet_stages::score::summary`), each category's fingerprint,
//! the photos it scored and the last fragment of `photos` it read. When the scoring
//! settings that decide categories and normalization are unchanged and the
//! library only grew since, it reads just the rows of the `photos` fragments
//! written since (every write adds fragments), adds them
//! to the windows, and — when no category's fingerprint moved (its weights,
//! or its percentiles rounded to three significant digits) — scores and
//! appends those photos and nothing else: the cost follows the photos added,
//! not the library.
//!
//! **Full.** Otherwise (no state yet, settings edited, photos re-analysed or
//! removed, a percentile that left its window, a category whose fingerprint
//! moved, a kill between `scores` and `score_state`) every photo is read and
//! assigned its category again, the percentiles are computed by the
//! differential-dataflow collection (`score::incremental`) — two streaming
//! passes over one version of `photos`, batch by batch — and a photo is
//! scored again only when it has no score yet, was analysed after its
//! score, or its category's fingerprint differs from the one stored with its
//! score: an edit of one category's weights rewrites that category's rows
//! and nothing else. A full re-score writes the state the next one starts
//! from. Both paths store the same scores (tested).

pub mod live;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::failpoint::point;
use crate::{Error, Result, now_ns};
use arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use facet_config::FacetConfig;
use facet_stages::score::incremental::IncrementalNorm;
use facet_stages::score::summary::Summaries;
use facet_stages::score::table::{INPUT_COLUMNS, Prepared, fingerprints, prepare, score_rows};
use facet_store::Store;
use sha2::{Digest, Sha256};

use state::State;

/// What a re-score did.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// Photos scored now.
    pub scored: usize,
    /// Photos whose stored score was still current.
    pub kept: usize,
    /// Scores of photos no longer in the library, removed.
    pub removed: usize,
    /// Why every photo was read (`None`: only the photos added since).
    pub full: Option<String>,
    pub seconds: f64,
}

/// The stored scores: path → (fingerprint, scored_at in ns). `None` when the
/// table is absent or predates fingerprints (then everything is re-scored).
fn stored_scores(
    rt: &tokio::runtime::Runtime,
    store: &Store,
) -> Result<Option<HashMap<String, (String, i64)>>> {
    let Some(ds) = rt.block_on(store.dataset("scores"))? else {
        return Ok(None);
    };
    if ds.schema().field("scored_with").is_none() {
        return Ok(None);
    }
    let (_, batches) = rt.block_on(store.sql("SELECT path, scored_with, scored_at FROM scores"))?;
    let mut out = HashMap::new();
    for b in &batches {
        let (p, w) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        let at = b.column(2).as_primitive::<TimestampNanosecondType>();
        for i in 0..b.num_rows() {
            if !w.is_null(i) && !at.is_null(i) {
                out.insert(
                    p.value(i).to_string(),
                    (w.value(i).to_string(), at.value(i)),
                );
            }
        }
    }
    Ok(Some(out))
}

/// Brings `scores` up to date with the stored photos and `config`: the
/// photos added since the last re-score when that is enough, else every
/// photo (see the module documentation).
pub fn recompute(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Recomputed> {
    let started = Instant::now();
    let done = match incremental(rt, store, config)? {
        Ok(done) => done,
        Err(why) => full(rt, store, config, why)?,
    };
    point!("scores::written");
    Ok(Recomputed {
        seconds: started.elapsed().as_secs_f64(),
        ..done
    })
}

/// The fingerprint of the settings that decide each photo's category and
/// the normalization groups it falls in: while it holds, a stored photo's
/// category and contribution to the windows stay what they were.
fn settings_fingerprint(config: &FacetConfig) -> String {
    let s = serde_json::json!({
        "normalization": &config.normalization,
        "min_faces_for_group": config.face_detection.min_faces_for_group,
        "assignment": config.categories.iter()
            .map(|c| serde_json::json!([&c.name, c.priority, &c.filters]))
            .collect::<Vec<_>>(),
        "inputs": INPUT_COLUMNS,
    });
    hex::encode(&Sha256::digest(format!("score_state/1:{s}"))[..12])
}

/// The stored input columns of `photos` the scoring reads, with `analyzed_at`.
fn input_columns(ds: &facet_store::Dataset) -> Vec<&'static str> {
    let mut columns: Vec<&str> = INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| ds.schema().field(c).is_some())
        .collect();
    columns.push("analyzed_at");
    columns
}

fn analyzed_at(
    batch: &arrow::array::RecordBatch,
) -> Result<arrow::array::TimestampNanosecondArray> {
    Ok(batch
        .column_by_name("analyzed_at")
        .ok_or_else(|| Error::Internal("photos has no analyzed_at".into()))?
        .as_primitive::<TimestampNanosecondType>()
        .clone())
}

/// Scores `rows` of `prepared`, stamped with `scored_at` now.
fn scored_batch(
    prepared: &Prepared<'_>,
    rows: &[usize],
    stats: &facet_stages::score::NormStats,
    config: &FacetConfig,
    prints: &HashMap<String, String>,
) -> Result<arrow::array::RecordBatch> {
    let scored = score_rows(prepared, rows, stats, config, prints)
        .map_err(|e| Error::Internal(format!("scoring: {e}")))?;
    let now = now_ns();
    let at: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..scored.num_rows()).map(|_| now))
            .with_timezone("UTC"),
    );
    let table = facet_schemas::scores();
    Ok(facet_engine::with_columns(
        scored,
        vec![table.column("scored_at").expect("declared").field()],
        vec![at],
    )?)
}

/// `batch` (from [`scored_batch`]) with the given rows' `scored_at` put
/// back (`Some`: a score that was current, rewritten unchanged).
fn keep_scored_at(
    batch: arrow::array::RecordBatch,
    kept: impl Iterator<Item = Option<i64>>,
) -> Result<arrow::array::RecordBatch> {
    let at = batch
        .column_by_name("scored_at")
        .ok_or_else(|| Error::Internal("scored batch without scored_at".into()))?
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    let merged: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter(kept.zip(at.iter()).map(|(k, now)| k.or(now)))
            .with_timezone("UTC"),
    );
    let schema = batch.schema();
    let at_index = schema.index_of("scored_at")?;
    let mut columns = batch.columns().to_vec();
    columns[at_index] = merged;
    Ok(arrow::array::RecordBatch::try_new(schema, columns)?)
}

/// The photos added since the last re-score, when that is all that changed;
/// `Ok(Err(why))` when every photo must be read.
fn incremental(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Result<Recomputed, String>> {
    let norm = &config.normalization;
    let trace = crate::Trace::new("scores");
    let tr = |phase: &str| trace.at(phase);
    let Some(mut state) = State::load(rt, store, norm.percentile_target)? else {
        return Ok(Err("no score state yet".into()));
    };
    tr("state loaded");
    if rt.block_on(store.table_version("scores"))? != Some(state.scores_version) {
        return Ok(Err("scores were written after the last score state".into()));
    }
    if state.settings != settings_fingerprint(config) {
        return Ok(Err(
            "the settings that decide categories or normalization changed".into(),
        ));
    }
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Ok(Recomputed::default()));
    };
    // The count and the rows written since, from one version of `photos`.
    let in_library = rt
        .block_on(ds.count_rows(None))
        .map_err(facet_store::StoreError::from)? as u64;
    let columns = input_columns(&ds);
    let mut scan = rt.block_on(facet_store::scan(&ds, &columns, state.fragment))?;
    let last = scan.last_fragment;
    let mut batches = Vec::new();
    while let Some(b) = rt.block_on(scan.next())? {
        batches.push(b);
    }
    let added = arrow::compute::concat_batches(&scan.schema, &batches)?;
    drop(batches);
    tr("photos written since read");
    if in_library != state.photos + added.num_rows() as u64 {
        return Ok(Err(format!(
            "photos were re-analysed or removed ({in_library} in the library, {} scored before, {} analysed since)",
            state.photos,
            added.num_rows()
        )));
    }
    let prepared = prepare(&added, config).map_err(Error::Internal)?;
    for (category, m) in prepared.photos() {
        state.summaries.add(norm, category, m);
    }
    let Ok(exact) = state.summaries.stats(norm) else {
        return Ok(Err("a percentile left its normalization window".into()));
    };
    let stats = exact.quantized();
    let prints = fingerprints(config, &stats);
    let moved: Vec<&String> = prints
        .iter()
        .filter(|(c, f)| state.categories.get(*c).is_some_and(|old| old != *f))
        .map(|(c, _)| c)
        .collect();
    tr("fingerprints");
    // The photos of categories whose fingerprint moved (their weights, or a
    // percentile's step): found through their stored scores, read by path.
    let moved: Vec<String> = moved.into_iter().cloned().collect();
    let again = match category_paths(rt, store, &moved, in_library)? {
        Ok(paths) => paths,
        Err(why) => return Ok(Err(why)),
    };
    tr("moved categories' photos found");
    if added.num_rows() == 0 && again.is_empty() {
        return Ok(Ok(Recomputed {
            kept: in_library as usize,
            ..Default::default()
        }));
    }
    let rows: Vec<usize> = (0..prepared.len()).collect();
    let batch = scored_batch(&prepared, &rows, &stats, config, &prints)?;
    let mut rescored = rows.len();
    drop(prepared);
    if again.is_empty() {
        // New photos only: appended, no join with the stored scores.
        rt.block_on(store.append(&facet_schemas::scores(), batch))?;
    } else {
        rt.block_on(store.upsert(&facet_schemas::scores(), batch))?;
        // The moved categories' photos, a commit per chunk so that memory
        // holds one chunk, not the category. A kill between two commits
        // leaves `scores` newer than the state: the next re-score is full.
        for chunk in again.chunks(SCORES_PER_COMMIT / 2) {
            let photos = photos_by_path(rt, &ds, &columns, chunk)?;
            if photos.num_rows() == 0 {
                continue;
            }
            let prepared = prepare(&photos, config).map_err(Error::Internal)?;
            if let Some(i) =
                (0..prepared.len()).find(|&i| !moved.iter().any(|c| c == prepared.category(i)))
            {
                return Ok(Err(format!(
                    "{} is no longer in the category of its score",
                    prepared.path(i)
                )));
            }
            let rows: Vec<usize> = (0..prepared.len()).collect();
            let rewritten = scored_batch(&prepared, &rows, &stats, config, &prints)?;
            rescored += rows.len();
            rt.block_on(store.upsert(&facet_schemas::scores(), rewritten))?;
            point!("scores::chunk");
        }
        tr("moved categories re-scored");
    }
    rt.block_on(store.index_scalar("scores", "category"))?;
    state.photos = in_library;
    state.fragment = last;
    state.categories = prints.into_iter().collect();
    state.scores_version = rt
        .block_on(store.table_version("scores"))?
        .ok_or_else(|| Error::Internal("scores vanished".into()))?;
    tr("scored");
    state.save(rt, store)?;
    tr("saved");
    Ok(Ok(Recomputed {
        scored: rescored,
        kept: in_library as usize - rescored,
        ..Default::default()
    }))
}

/// The paths of the photos whose score is in one of `categories`, looked up
/// through the index on `scores.category` (empty when there are no such
/// categories); `Err(why)` when reading every photo is the cheaper way
/// (more than a third of the library).
fn category_paths(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    categories: &[String],
    in_library: u64,
) -> Result<Result<Vec<String>, String>> {
    if categories.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let Some(scores) = rt.block_on(store.dataset("scores"))? else {
        return Ok(Err("no scores yet".into()));
    };
    let mut scan = rt.block_on(facet_store::scan_where(
        &scores,
        &["path"],
        facet_store::filter::one_of("category", categories.iter().map(String::as_str)),
    ))?;
    let mut paths: Vec<String> = Vec::new();
    while let Some(b) = rt.block_on(scan.next())? {
        paths.extend(
            b.column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    if paths.len() as u64 * 3 > in_library {
        return Ok(Err(format!(
            "the fingerprint of {} moved, with {} of the {in_library} photos",
            categories.join(", "),
            paths.len()
        )));
    }
    paths.sort_unstable();
    Ok(Ok(paths))
}

/// The stored photo rows (`columns`) of `paths`, through the index on
/// `photos.path`.
fn photos_by_path(
    rt: &tokio::runtime::Runtime,
    photos: &facet_store::Dataset,
    columns: &[&str],
    paths: &[String],
) -> Result<arrow::array::RecordBatch> {
    let mut batches = Vec::new();
    for chunk in paths.chunks(1_000) {
        let mut scan = rt.block_on(facet_store::scan_where(
            photos,
            columns,
            facet_store::filter::one_of("path", chunk.iter().map(String::as_str)),
        ))?;
        while let Some(b) = rt.block_on(scan.next())? {
            batches.push(b);
        }
    }
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => {
            let schema = arrow::datatypes::Schema::from(photos.schema());
            Arc::new(
                schema.project(
                    &columns
                        .iter()
                        .filter_map(|c| schema.index_of(c).ok())
                        .collect::<Vec<_>>(),
                )?,
            )
        }
    };
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// Rows of `scores` written per commit by a full re-score.
const SCORES_PER_COMMIT: usize = 25_000;

/// Every photo read, those whose score is not current re-scored, and the
/// state written — in two streaming passes over one version of `photos`
/// (the statistics, then the scores), so that memory holds one batch of
/// photos and one commit of scores, not the library.
fn full(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    why: String,
) -> Result<Recomputed> {
    let trace = crate::Trace::new("scores (full)");
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Recomputed::default());
    };
    let columns = input_columns(&ds);
    let norm = &config.normalization;
    let mut stored = stored_scores(rt, store)?;
    let mut kept_by: HashMap<(String, String), usize> = HashMap::new();

    // 1. Categories and normalization statistics (differential dataflow),
    //    and the windows the next re-score starts from.
    let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
    let last = scan.last_fragment;
    let mut dd = IncrementalNorm::new(norm);
    let mut windows = Summaries::builder();
    let mut photos = 0usize;
    while let Some(batch) = rt.block_on(scan.next())? {
        let prepared = prepare(&batch, config).map_err(Error::Internal)?;
        dd.stage(prepared.photos().map(|(c, m)| (c, m, 1)));
        // Per category and stored fingerprint: how many scores could stay.
        for i in 0..prepared.len() {
            if let Some((with, _)) = stored.as_ref().and_then(|s| s.get(prepared.path(i))) {
                *kept_by
                    .entry((prepared.category(i).to_string(), with.clone()))
                    .or_default() += 1;
            }
        }
        for (c, m) in prepared.photos() {
            windows.add(norm, c, m);
        }
        photos += prepared.len();
    }
    dd.settle();
    let stats = dd.stats().quantized();
    drop(dd);
    let prints = fingerprints(config, &stats);
    trace.at("statistics");

    // 2. The rows whose score is not current, scored and written in commits.
    // When most are (settings edited), every row is written again and the
    // table replaced, which costs less than merging most of it; the scores
    // that were current keep their `scored_at`.
    let could_stay: usize = kept_by
        .iter()
        .filter(|((c, with), _)| prints.get(c) == Some(with))
        .map(|(_, n)| n)
        .sum();
    let replace = stored.is_none() || could_stay * 2 < photos;
    let table = facet_schemas::scores();
    let mut pending: Vec<arrow::array::RecordBatch> = Vec::new();
    let mut pending_rows = 0usize;
    let mut commits = 0usize;
    let mut flush =
        |pending: &mut Vec<arrow::array::RecordBatch>, pending_rows: &mut usize| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            let batch = arrow::compute::concat_batches(&pending[0].schema(), pending.iter())?;
            pending.clear();
            *pending_rows = 0;
            // `scores` is derived: a store without it (or an older one) is
            // replaced by the first commit, the others append; otherwise rows
            // are merged by path — never into the photo rows (which would make
            // Lance rewrite their thumbnails).
            if replace && commits == 0 {
                rt.block_on(store.replace(&table, batch))?;
            } else if replace {
                rt.block_on(store.append(&table, batch))?;
            } else {
                rt.block_on(store.upsert(&table, batch))?;
            }
            commits += 1;
            Ok(())
        };
    let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
    let mut rescored = 0usize;
    while let Some(batch) = rt.block_on(scan.next())? {
        let analyzed = analyzed_at(&batch)?;
        let prepared = prepare(&batch, config).map_err(Error::Internal)?;
        // Per row: `Some(scored_at)` of a score that is still current.
        let current: Vec<Option<i64>> = (0..prepared.len())
            .map(|i| {
                // Each stored score is looked at once: what is left at the
                // end belongs to photos no longer in the library.
                let (with, at) = stored.as_mut().and_then(|s| s.remove(prepared.path(i)))?;
                (prints.get(prepared.category(i)) == Some(&with)
                    && (analyzed.is_null(i) || analyzed.value(i) <= at))
                    .then_some(at)
            })
            .collect();
        let stale = current.iter().filter(|c| c.is_none()).count();
        rescored += stale;
        let rows: Vec<usize> = (0..prepared.len())
            .filter(|&i| replace || current[i].is_none())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut scored = scored_batch(&prepared, &rows, &stats, config, &prints)?;
        if replace && stale < rows.len() {
            scored = keep_scored_at(scored, rows.iter().map(|&i| current[i]))?;
        }
        pending.push(scored);
        pending_rows += rows.len();
        if pending_rows >= SCORES_PER_COMMIT {
            flush(&mut pending, &mut pending_rows)?;
        }
    }
    flush(&mut pending, &mut pending_rows)?;
    let removed: Vec<String> = stored.map(|s| s.into_keys().collect()).unwrap_or_default();
    if !removed.is_empty() {
        rt.block_on(store.delete_keys(&table, &removed))?;
    }
    rt.block_on(store.index_scalar("scores", "category"))?;
    trace.at("scored and written");
    let state = State {
        photos: photos as u64,
        fragment: last,
        settings: settings_fingerprint(config),
        scores_version: rt.block_on(store.table_version("scores"))?.unwrap_or(0),
        categories: prints.into_iter().collect(),
        summaries: windows.finish(norm),
    };
    state.save(rt, store)?;
    trace.at("state saved");
    Ok(Recomputed {
        scored: rescored,
        kept: photos - rescored,
        removed: removed.len(),
        full: Some(why),
        seconds: 0.0,
    })
}
