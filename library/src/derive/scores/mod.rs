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
//! differential-dataflow collection (`score::incremental`), and a photo is
//! scored again only when it has no score yet, was analysed after its
//! score, or its category's fingerprint differs from the one stored with its
//! score: an edit of one category's weights rewrites that category's rows
//! and nothing else. A full re-score writes the state the next one starts
//! from. Both paths store the same scores (tested).

pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::failpoint::point;
use crate::{Error, Result, now_ns};
use arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use facet_config::FacetConfig;
use facet_stages::score::summary::Summaries;
use facet_stages::score::table::{
    INPUT_COLUMNS, Prepared, fingerprints, prepare, score_rows, statistics,
};
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

/// Re-scores from every photo, whatever the state says.
pub fn recompute_full(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Recomputed> {
    let started = Instant::now();
    let done = full(rt, store, config, "asked for".into())?;
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

fn analyzed_at(batch: &arrow::array::RecordBatch) -> Result<arrow::array::TimestampNanosecondArray> {
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
        return Ok(Err("the settings that decide categories or normalization changed".into()));
    }
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Ok(Recomputed::default()));
    };
    let in_library = rt.block_on(store.count_rows("photos"))?;
    let columns = input_columns(&ds);
    let (schema, batches, last) =
        rt.block_on(store.rows_since("photos", &columns, state.fragment))?;
    let added = arrow::compute::concat_batches(&schema, &batches)?;
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
    if !moved.is_empty() {
        return Ok(Err(format!(
            "the fingerprint of {} moved (weights, or a percentile's step)",
            moved.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    tr("fingerprints");
    if added.num_rows() == 0 {
        return Ok(Ok(Recomputed {
            kept: in_library as usize,
            ..Default::default()
        }));
    }
    let rows: Vec<usize> = (0..prepared.len()).collect();
    let batch = scored_batch(&prepared, &rows, &stats, config, &prints)?;
    // New photos: appended, no join with the stored scores.
    rt.block_on(store.append(&facet_schemas::scores(), batch))?;
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
        scored: rows.len(),
        kept: in_library as usize - rows.len(),
        ..Default::default()
    }))
}

/// Every photo read, those whose score is not current re-scored, and the
/// state written.
fn full(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    why: String,
) -> Result<Recomputed> {
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Recomputed::default());
    };
    let columns = input_columns(&ds);
    let (schema, batches, last) = rt.block_on(store.rows_since("photos", &columns, None))?;
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    drop(batches);
    let analyzed = analyzed_at(&all)?;

    let prepared = prepare(&all, config).map_err(Error::Internal)?;
    let stats = statistics(&prepared, config).quantized();
    let prints = fingerprints(config, &stats);
    let stored = stored_scores(rt, store)?;

    let current = |i: usize| -> bool {
        let Some(Some((with, at))) = stored.as_ref().map(|s| s.get(prepared.path(i))) else {
            return false;
        };
        prints.get(prepared.category(i)) == Some(with)
            && (analyzed.is_null(i) || analyzed.value(i) <= *at)
    };
    let rows: Vec<usize> = (0..prepared.len()).filter(|&i| !current(i)).collect();
    let in_library: std::collections::HashSet<&str> =
        (0..prepared.len()).map(|i| prepared.path(i)).collect();
    let removed: Vec<String> = stored
        .iter()
        .flat_map(|s| s.keys())
        .filter(|p| !in_library.contains(p.as_str()))
        .cloned()
        .collect();
    let scored = scored_batch(&prepared, &rows, &stats, config, &prints)?;
    let table = facet_schemas::scores();
    // `scores` is derived: replaced as a whole when every row changes, else
    // merged by path — never merged into the photo rows (which would make
    // Lance rewrite their thumbnails).
    if stored.is_none() || rows.len() == prepared.len() {
        rt.block_on(store.replace(&table, scored))?;
    } else {
        if !rows.is_empty() {
            rt.block_on(store.upsert(&table, scored))?;
        }
        if !removed.is_empty() {
            rt.block_on(store.delete_keys(&table, &removed))?;
        }
    }
    let state = State {
        photos: prepared.len() as u64,
        fragment: last,
        settings: settings_fingerprint(config),
        scores_version: rt.block_on(store.table_version("scores"))?.unwrap_or(0),
        categories: prints.into_iter().collect(),
        summaries: Summaries::build(&config.normalization, prepared.photos()),
    };
    state.save(rt, store)?;
    Ok(Recomputed {
        scored: rows.len(),
        kept: prepared.len() - rows.len(),
        removed: removed.len(),
        full: Some(why),
        seconds: 0.0,
    })
}
