//! `facet recompute`: re-scores the library from the stored raw metrics —
//! categories, normalization statistics, aggregates, critiques, Top Picks —
//! without decoding a single image. `facet run` calls it at the end, so that
//! scores always reflect the whole library and the current configuration.

use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use facet_config::FacetConfig;
use facet_stages::score::table::{INPUT_COLUMNS, score_table};
use facet_store::Store;

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
    let (schema, batches) =
        rt.block_on(store.sql(&format!("SELECT {} FROM photos", columns.join(", "))))?;
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    if all.num_rows() == 0 {
        return Ok((0, started.elapsed().as_secs_f64()));
    }
    let scored: RecordBatch = score_table(&all, config)
        .map_err(anyhow::Error::msg)
        .context("scoring")?;
    let n = scored.num_rows();
    rt.block_on(store.update_columns(&facet_schemas::photos(), scored))?;
    Ok((n, started.elapsed().as_secs_f64()))
}
