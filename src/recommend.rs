//! `facet recommend`: the Analysis section's checks over the scored library,
//! printed as findings with concrete configuration changes.

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use facet_config::FacetConfig;
use facet_stages::score::recommend::{Report, Row, analyse};
use facet_store::Store;

/// Reads every scored photo back from the store.
fn rows(rt: &tokio::runtime::Runtime, store: &Store) -> Result<Vec<Row>> {
    let session = rt.block_on(store.session())?;
    let photos = rt.block_on(session.table("photos"))?;
    let has = |c: &str| photos.schema().field_with_unqualified_name(c).is_ok();
    let optional = |c: &str| {
        if has(c) {
            format!("CAST({c} AS DOUBLE) AS {c}")
        } else {
            format!("CAST(NULL AS DOUBLE) AS {c}")
        }
    };
    let query = format!(
        "SELECT category, aggregate, score_breakdown, {}, {} FROM photos WHERE aggregate IS NOT NULL",
        optional("exposure_score"),
        optional("aesthetic")
    );
    // The session already opened: no second one for the query.
    let batches = rt.block_on(async { session.sql(&query).await?.collect().await })?;
    let mut out = Vec::new();
    for b in &batches {
        let category = b.column(0).as_string::<i32>();
        let aggregate = b.column(1).as_primitive::<Float64Type>();
        let breakdown = b.column(2).as_string::<i32>();
        let exposure = b.column(3).as_primitive::<Float64Type>();
        let aesthetic = b.column(4).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let opt = |a: &arrow::array::Float64Array| (!a.is_null(i)).then(|| a.value(i));
            out.push(Row {
                category: category.value(i).to_string(),
                aggregate: aggregate.value(i),
                breakdown: if breakdown.is_null(i) {
                    Vec::new()
                } else {
                    serde_json::from_str(breakdown.value(i))
                        .with_context(|| format!("score_breakdown of row {i} is not valid JSON"))?
                },
                exposure_score: opt(exposure),
                aesthetic: opt(aesthetic),
            });
        }
    }
    Ok(out)
}

/// Runs the checks; `json` prints the report as JSON instead of text.
pub fn recommend(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    json: bool,
) -> Result<Report> {
    let rows = rows(rt, store)?;
    let report = analyse(&rows, config);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(report)
}

fn print(report: &Report) {
    let s = &report.summary;
    println!(
        "{} scored photos: aggregate mean {:.2}, std {:.2}, range {:.2}–{:.2}",
        s.photos, s.mean, s.std, s.min, s.max
    );
    if !s.per_category.is_empty() {
        println!(
            "\n{:<18} {:>7} {:>6} {:>6} {:>6}",
            "category", "photos", "mean", "std", "max"
        );
        for c in &s.per_category {
            println!(
                "{:<18} {:>7} {:>6.2} {:>6.2} {:>6.2}",
                c.category, c.photos, c.mean, c.std, c.max
            );
        }
    }
    if report.recommendations.is_empty() {
        println!("\nNo recommendations: the scores look healthy for this library.");
        return;
    }
    println!("\n{} recommendation(s):", report.recommendations.len());
    for (i, r) in report.recommendations.iter().enumerate() {
        let severity = serde_json::to_value(r.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!("\n{}. [{severity}] {}: {}", i + 1, r.check, r.finding);
        println!("   suggestion: {}", r.suggestion);
        if let Some(p) = &r.config_path {
            println!("   edit: scoring_config.json {p}");
        }
    }
}
