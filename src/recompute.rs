//! `facet recompute`: re-scores the library from the stored raw metrics —
//! categories, normalization statistics, aggregates, critiques, Top Picks —
//! without decoding a single image. `facet run` calls it at the end, so that
//! scores always reflect the whole library and the current configuration.
//!
//! Only what changed is re-scored. Every photo's category is assigned again
//! and the normalization percentiles are brought up to date by the
//! differential-dataflow collection (`score::incremental`); then a photo is
//! scored again only when it has no score yet, was analysed after its score,
//! or the fingerprint of what its score depends on (scoring settings, its
//! category's weights and modifiers, the percentiles it is normalized with)
//! differs from the one stored with its score. An edit of one category's
//! weights therefore rewrites that category's rows and nothing else; new
//! photos re-score the categories whose percentiles they moved.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, AsArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use facet_config::FacetConfig;
use facet_stages::score::table::{INPUT_COLUMNS, fingerprints, prepare, score_rows, statistics};
use facet_store::{PHOTOS_STORED, Store};

/// What a re-score did.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// Photos scored now.
    pub scored: usize,
    /// Photos whose stored score was still current.
    pub kept: usize,
    /// Scores of photos no longer in the library, removed.
    pub removed: usize,
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

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Brings `scores` up to date with the stored photos and `config`.
pub fn recompute(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Recomputed> {
    let started = Instant::now();
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok(Recomputed::default());
    };
    let have: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
    let mut columns: Vec<&str> = INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| have.iter().any(|h| h == c))
        .collect();
    columns.push("analyzed_at");
    let query = format!("SELECT {} FROM {PHOTOS_STORED}", columns.join(", "));
    let (schema, batches) = rt.block_on(store.sql(&query))?;
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    let analyzed = all
        .column_by_name("analyzed_at")
        .context("photos has no analyzed_at")?
        .as_primitive::<TimestampNanosecondType>()
        .clone();

    let prepared = prepare(&all, config).map_err(anyhow::Error::msg)?;
    let stats = statistics(&prepared, config);
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

    let scored = score_rows(&prepared, &rows, &stats, config, &prints)
        .map_err(anyhow::Error::msg)
        .context("scoring")?;
    let now = now_ns();
    let at: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..scored.num_rows()).map(|_| now))
            .with_timezone("UTC"),
    );
    let table = facet_schemas::scores();
    let scored = facet_engine::with_columns(
        scored,
        vec![table.column("scored_at").expect("declared").field()],
        vec![at],
    )?;

    let result = Recomputed {
        scored: rows.len(),
        kept: prepared.len() - rows.len(),
        removed: removed.len(),
        seconds: 0.0,
    };
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
    Ok(Recomputed {
        seconds: started.elapsed().as_secs_f64(),
        ..result
    })
}
