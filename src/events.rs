//! The events a `facet run`, `facet watch` batch or `facet recompute`
//! emits to plugins, webhooks and actions (`facet_events`): read back from
//! the store after the pass — the photos scored since the pass began
//! (`scores.scored_at`), the photos analysed in it, and the bursts whose
//! rows it wrote — appended to the outbox, then delivered.
//!
//! Emitting costs nothing when `plugins.enabled` is false (the default):
//! the store is not read.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::scalar::ScalarValue;
use facet_events::{Burst, Plugins, ScoredPhoto};
use facet_store::Store;

/// Where a pass began: events are what was written after it.
pub struct Mark {
    /// `scored_at` of the pass's scores are at or after this (ns, UTC).
    started_ns: i64,
    /// The version of `photo_groups` before the pass.
    groups: Option<u64>,
}

impl Mark {
    pub fn now(rt: &tokio::runtime::Runtime, store: &Store) -> Result<Mark> {
        Ok(Mark {
            started_ns: facet_library::now_ns(),
            groups: rt.block_on(store.table_version("photo_groups"))?,
        })
    }
}

/// The photos scored since `mark` as events (`new`: the paths analysed for
/// the first time in the pass), with the bursts whose rows changed;
/// appended to the outbox. Returns how many deliveries were queued.
pub fn emit(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    plugins: &Plugins,
    mark: &Mark,
    new: &HashSet<String>,
) -> Result<usize> {
    if !plugins.enabled() {
        return Ok(0);
    }
    let mut events = plugins.score_events(&scored_since(rt, store, mark.started_ns, new)?);
    events.extend(plugins.burst_events(&bursts_since(rt, store, mark.groups)?));
    if events.is_empty() {
        return Ok(0);
    }
    Ok(rt.block_on(plugins.enqueue(store, &events))?)
}

/// Delivers what is due for at most `budget`, and says what happened when
/// anything did.
pub fn deliver(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    plugins: &Plugins,
    budget: Duration,
) -> Result<()> {
    if !plugins.enabled() {
        return Ok(());
    }
    let done = rt.block_on(plugins.deliver(store, budget))?;
    for f in &done.failures {
        eprintln!("plugins: {f}");
    }
    if done.delivered + done.retrying + done.gave_up > 0 {
        eprintln!(
            "plugins: {} delivered, {} to retry, {} given up, {} pending",
            done.delivered, done.retrying, done.gave_up, done.pending
        );
    }
    Ok(())
}

/// The scores written at or after `since_ns`, joined with the photo's
/// aesthetic, composition and tags.
fn scored_since(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    since_ns: i64,
    new: &HashSet<String>,
) -> Result<Vec<ScoredPhoto>> {
    let (Some(photos), Some(_)) = (
        rt.block_on(store.dataset("photos"))?,
        rt.block_on(store.dataset("scores"))?,
    ) else {
        return Ok(Vec::new());
    };
    let has = |c: &str| photos.schema().field(c).is_some();
    let column = |c: &str, cast: &str| {
        if has(c) {
            format!("CAST(p.{c} AS {cast}) AS {c}")
        } else {
            format!("CAST(NULL AS {cast}) AS {c}")
        }
    };
    let query = format!(
        "SELECT s.path, s.aggregate, s.category, {}, {}, {} \
         FROM scores s JOIN photos p ON p.path = s.path \
         WHERE s.scored_at >= $1 ORDER BY s.path",
        column("aesthetic", "DOUBLE"),
        column("composition_score", "DOUBLE"),
        if has("tags") {
            "array_to_string(p.tags, ', ') AS tags".to_string()
        } else {
            "CAST(NULL AS VARCHAR) AS tags".to_string()
        },
    );
    let since = ScalarValue::TimestampNanosecond(Some(since_ns), Some("UTC".into()));
    let (_, batches) = rt.block_on(store.sql_with(&query, vec![since]))?;
    let mut out = Vec::new();
    // DataFusion may answer strings as views and numbers as their stored
    // types: each column is cast to the type read here.
    let cast = |b: &arrow::array::RecordBatch, i: usize, to: &DataType| {
        arrow::compute::cast(b.column(i), to)
    };
    for b in &batches {
        let (path, category, tags) = (
            cast(b, 0, &DataType::Utf8)?,
            cast(b, 2, &DataType::Utf8)?,
            cast(b, 5, &DataType::Utf8)?,
        );
        let (aggregate, aesthetic, comp) = (
            cast(b, 1, &DataType::Float64)?,
            cast(b, 3, &DataType::Float64)?,
            cast(b, 4, &DataType::Float64)?,
        );
        let (path, category, tags) = (
            path.as_string::<i32>(),
            category.as_string::<i32>(),
            tags.as_string::<i32>(),
        );
        let (aggregate, aesthetic, comp) = (
            aggregate.as_primitive::<Float64Type>(),
            aesthetic.as_primitive::<Float64Type>(),
            comp.as_primitive::<Float64Type>(),
        );
        let opt = |a: &arrow::array::Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..b.num_rows() {
            if path.is_null(i) || aggregate.is_null(i) {
                continue;
            }
            out.push(ScoredPhoto {
                path: path.value(i).to_string(),
                aggregate: aggregate.value(i),
                aesthetic: opt(aesthetic, i),
                comp_score: opt(comp, i),
                category: if category.is_null(i) {
                    String::new()
                } else {
                    category.value(i).to_string()
                },
                tags: (!tags.is_null(i)).then(|| tags.value(i).to_string()),
                new: new.contains(path.value(i)),
            });
        }
    }
    Ok(out)
}

/// The bursts with a row of `photo_groups` written since version `before`:
/// each with every member, its lead and size.
fn bursts_since(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    before: Option<u64>,
) -> Result<Vec<Burst>> {
    let Some(ds) = rt.block_on(store.dataset("photo_groups"))? else {
        return Ok(Vec::new());
    };
    let changed = rt.block_on(facet_store::paths_written_since(&ds, before))?;
    let filter = match changed {
        Some(paths) if paths.is_empty() => return Ok(Vec::new()),
        Some(paths) => facet_store::filter::one_of("path", paths.iter().map(String::as_str)),
        // The table was rewritten: every burst.
        None => facet_store::filter::not_null("burst_group_id"),
    };
    let mut ids: HashSet<String> = HashSet::new();
    let mut scan = rt.block_on(facet_store::scan_where(&ds, &["burst_group_id"], filter))?;
    while let Some(b) = rt.block_on(scan.next())? {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        ids.extend(id.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    let mut scan = rt.block_on(facet_store::scan_where(
        &ds,
        &["burst_group_id", "path", "is_burst_lead"],
        facet_store::filter::one_of("burst_group_id", ids.iter().map(String::as_str)),
    ))?;
    let mut bursts: std::collections::BTreeMap<String, Burst> = Default::default();
    while let Some(b) = rt.block_on(scan.next())? {
        let id = b.column(0).as_string::<i32>();
        let path = b.column(1).as_string::<i32>();
        let lead = b.column(2).as_boolean();
        for i in 0..b.num_rows() {
            if id.is_null(i) || path.is_null(i) {
                continue;
            }
            let burst = bursts
                .entry(id.value(i).to_string())
                .or_insert_with(|| Burst {
                    burst_group_id: id.value(i).to_string(),
                    best_path: String::new(),
                    paths: Vec::new(),
                });
            burst.paths.push(path.value(i).to_string());
            if !lead.is_null(i) && lead.value(i) {
                burst.best_path = path.value(i).to_string();
            }
        }
    }
    Ok(bursts
        .into_values()
        .map(|mut b| {
            b.paths.sort();
            b
        })
        .collect())
}
