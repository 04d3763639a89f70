//! Re-scoring a large library from stored metrics, as a full batch and
//! incrementally, measured in the same run.
//!
//!   cargo bench --bench recompute          (rows: FACET_RECOMPUTE_ROWS, default 1,000,000)
//!
//! * `full`: what `facet recompute` does in memory for every row: categories,
//!   normalization statistics over the whole library, aggregate and critique.
//! * `add_100`: 100 new photos arrive: the differential-dataflow statistics
//!   absorb them and only those photos are scored.
//! * `weight_change`: one category's weights change: only that category's
//!   photos are re-scored (statistics do not depend on weights).

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Field, Schema};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use facet_config::{FacetConfig, PhotoFacts, category_for};
use facet_stages::score::incremental::IncrementalNorm;
use facet_stages::score::table::score_table;
use facet_stages::score::{PhotoMetrics, ScoringInputs, score};

fn rows() -> usize {
    // `cargo test --all-targets` runs benches once without `--bench`: keep that quick.
    let default = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    std::env::var("FACET_RECOMPUTE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random metrics for `n` photos.
fn library(n: usize, offset: usize) -> RecordBatch {
    let f = |i: usize, salt: u64| {
        ((i as u64 + offset as u64)
            .wrapping_mul(6364136223846793005)
            .wrapping_add(salt)
            >> 33) as f64
            / (1u64 << 31) as f64
    };
    let col = |name: &str, scale: f64, salt: u64| -> (Field, ArrayRef) {
        let field = facet_schemas::photos().column(name).unwrap().field();
        (
            field,
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| f(i, salt) * scale),
            )),
        )
    };
    let mut fields = vec![facet_schemas::photos().column("path").unwrap().field()];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("/lib/{:08}.jpg", i + offset)),
    ))];
    for (name, scale, salt) in [
        ("sharpness", 800.0, 1),
        ("color_score", 10.0, 2),
        ("exposure_score", 10.0, 3),
        ("composition_score", 10.0, 4),
        ("contrast_score", 10.0, 5),
        ("histogram_spread", 80.0, 6),
        ("leading_lines_score", 10.0, 7),
        ("noise_sigma", 8.0, 8),
        ("histogram_bimodality", 2.0, 9),
        ("mean_saturation", 0.6, 10),
        ("luminance", 1.0, 11),
    ] {
        let (fd, c) = col(name, scale, salt);
        fields.push(fd);
        columns.push(c);
    }
    fields.push(
        facet_schemas::photos()
            .column("is_monochrome")
            .unwrap()
            .field(),
    );
    columns.push(Arc::new(BooleanArray::from(
        (0..n).map(|i| f(i, 12) < 0.05).collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn metrics_of(batch: &RecordBatch, config: &FacetConfig) -> Vec<(String, PhotoMetrics)> {
    let c = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    let (sharp, color, lum) = (c("sharpness"), c("color_score"), c("luminance"));
    (0..batch.num_rows())
        .map(|i| {
            let facts = PhotoFacts {
                luminance: Some(lum.value(i)),
                ..Default::default()
            };
            let cat = category_for(&config.categories, &facts).name.clone();
            (
                cat,
                PhotoMetrics {
                    tech_sharpness: Some(sharp.value(i)),
                    color: Some(color.value(i)),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let config = FacetConfig::default();
    let inputs = ScoringInputs::from_config(&config);
    let lib = library(n, 0);
    let photos = metrics_of(&lib, &config);
    let mut inc = IncrementalNorm::new(&config.normalization);
    inc.update(photos.iter().map(|(cat, m)| (cat.as_str(), m, 1)));
    let mut g = c.benchmark_group(format!("recompute_{n}"));
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("full", |b| b.iter(|| score_table(&lib, &config).unwrap()));
    let mut next = n;
    g.bench_function("add_100", |b| {
        b.iter(|| {
            let new = metrics_of(&library(100, next), &config);
            next += 100;
            inc.update(new.iter().map(|(cat, m)| (cat.as_str(), m, 1)));
            let stats = inc.stats();
            let cats = &config.categories;
            new.iter()
                .map(|(cat, m)| {
                    score(
                        cats.iter().find(|c| &c.name == cat).unwrap(),
                        m,
                        &stats,
                        &inputs,
                    )
                    .aggregate
                })
                .sum::<f64>()
        })
    });
    let stats = inc.stats();
    let night = config
        .categories
        .iter()
        .find(|c| c.name == "night")
        .unwrap()
        .clone();
    g.bench_function("weight_change_night", |b| {
        b.iter(|| {
            photos
                .iter()
                .filter(|(cat, _)| *cat == night.name)
                .map(|(_, m)| score(&night, m, &stats, &inputs).aggregate)
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
