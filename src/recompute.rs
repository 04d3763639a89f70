//! `facet recompute`: re-scores the library from the stored raw metrics —
//! categories, normalization statistics, aggregates, critiques, Top Picks —
//! without decoding a single image. `facet run` calls it at the end, so that
//! scores always reflect the whole library and the current configuration.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, RecordBatch, TimestampNanosecondArray};
use facet_config::FacetConfig;
use facet_stages::score::table::{INPUT_COLUMNS, score_table};
use facet_store::{PHOTOS_STORED, Store};

/// Re-scores every photo; returns (photos scored, seconds).
pub fn recompute(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<(usize, f64)> {
    let started = Instant::now();
    let Some(ds) = rt.block_on(store.dataset("photos"))? else {
        return Ok((0, 0.0));
    };
    let have: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
    let columns: Vec<&str> = INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| have.iter().any(|h| h == c))
        .collect();
    let query = format!("SELECT {} FROM {PHOTOS_STORED}", columns.join(", "));
    let (schema, batches) = rt.block_on(store.sql(&query))?;
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    let scores = facet_schemas::scores();
    let scored = if all.num_rows() == 0 {
        RecordBatch::new_empty(scores.schema())
    } else {
        let scored = score_table(&all, config)
            .map_err(anyhow::Error::msg)
            .context("scoring")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let at: ArrayRef = Arc::new(
            TimestampNanosecondArray::from_iter_values((0..scored.num_rows()).map(|_| now))
                .with_timezone("UTC"),
        );
        facet_engine::with_columns(
            scored,
            vec![scores.column("scored_at").expect("declared").field()],
            vec![at],
        )?
    };
    let n = scored.num_rows();
    // `scores` is derived: replaced as a whole in one commit, never merged
    // into the photo rows (which would make Lance rewrite their thumbnails).
    rt.block_on(store.replace(&scores, scored))?;
    Ok((n, started.elapsed().as_secs_f64()))
}
