//! The outbox: the `event_outbox` table ([`facet_schemas::event_outbox`]).
//!
//! # A delivery's identity
//!
//! A row is one event for one target; its key is the SHA-256 of
//! `target \n event \n payload` ([`id`]). The payload holds everything the
//! receiver is told (path, scores, category, tags), so:
//!
//! * enqueuing the same event for the same target again — a re-run that
//!   re-scores a photo to the same score — finds the row and adds nothing,
//!   whether it is still pending, delivered or given up ([`insert_new`]);
//! * a photo whose score changed is a new event (another payload), and is
//!   delivered;
//! * the same id is the `X-Facet-Delivery` header of every attempt, so a
//!   receiver can drop the duplicates at-least-once delivery may bring.
//!
//! A photo scored 8, then 7, then 8 again gets its second 8 deduplicated
//! against the first: same receiver, same content.
//!
//! # States
//!
//! `pending` rows are due at `next_attempt_at`. A delivered row becomes
//! `delivered` (with `finished_at`); a failed attempt adds one to
//! `attempts`, keeps the error in `last_error` and moves `next_attempt_at`
//! by the backoff, until `plugins.retry.max_attempts` failures make it
//! `failed` (given up; its error stays). Delivered and given-up rows are
//! kept: they are the record of what was sent, and what makes enqueuing
//! idempotent. Every write is one Lance commit: an append for new rows, an
//! upsert by key for the rows a delivery round changed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType};
use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray, TimestampNanosecondArray};
use facet_store::{Store, filter};
use sha2::{Digest, Sha256};

use crate::Error;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Every column, in the table's order.
const COLUMNS: [&str; 10] = [
    "id",
    "target",
    "event",
    "payload",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "finished_at",
];

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub target: String,
    pub event: String,
    pub payload: String,
    pub state: String,
    pub attempts: u32,
    /// ns since the epoch, UTC.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl Row {
    /// A new pending row, due now.
    pub fn new(target: &str, event: &str, payload: String, now: i64) -> Row {
        Row {
            id: id(target, event, &payload),
            target: target.to_string(),
            event: event.to_string(),
            payload,
            state: PENDING.to_string(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            finished_at: None,
        }
    }
}

/// A delivery's identity: hex SHA-256 of `target \n event \n payload`.
pub fn id(target: &str, event: &str, payload: &str) -> String {
    let mut h = Sha256::new();
    h.update(target.as_bytes());
    h.update(b"\n");
    h.update(event.as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

/// Now, in ns since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn table() -> facet_schemas::Table {
    facet_schemas::event_outbox()
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch, Error> {
    let s = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let t = |f: fn(&Row) -> Option<i64>| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(f)
                .collect::<TimestampNanosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        s(|r| Some(r.id.as_str())),
        s(|r| Some(r.target.as_str())),
        s(|r| Some(r.event.as_str())),
        s(|r| Some(r.payload.as_str())),
        s(|r| Some(r.state.as_str())),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.attempts.min(i32::MAX as u32) as i32))
                .collect::<Int32Array>(),
        ),
        t(|r| Some(r.next_attempt_at)),
        s(|r| r.last_error.as_deref()),
        t(|r| Some(r.created_at)),
        t(|r| r.finished_at),
    ];
    RecordBatch::try_new(table().schema(), columns)
        .map_err(|e| Error::Internal(format!("outbox batch: {e}")))
}

fn from_batch(batch: &RecordBatch, out: &mut Vec<Row>) {
    let string = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_string::<i32>().clone())
    };
    let time = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_primitive::<TimestampNanosecondType>().clone())
    };
    let (id, target, event, payload, state, last_error) = (
        string("id"),
        string("target"),
        string("event"),
        string("payload"),
        string("state"),
        string("last_error"),
    );
    let attempts = batch
        .column_by_name("attempts")
        .map(|c| c.as_primitive::<Int32Type>().clone());
    let (next, created, finished) = (
        time("next_attempt_at"),
        time("created_at"),
        time("finished_at"),
    );
    let get = |a: &Option<StringArray>, i: usize| {
        a.as_ref()
            .filter(|a| arrow_array::Array::is_valid(*a, i))
            .map(|a| a.value(i).to_string())
    };
    let get_t = |a: &Option<arrow_array::PrimitiveArray<TimestampNanosecondType>>, i: usize| {
        a.as_ref()
            .filter(|a| arrow_array::Array::is_valid(*a, i))
            .map(|a| a.value(i))
    };
    for i in 0..batch.num_rows() {
        out.push(Row {
            id: get(&id, i).unwrap_or_default(),
            target: get(&target, i).unwrap_or_default(),
            event: get(&event, i).unwrap_or_default(),
            payload: get(&payload, i).unwrap_or_default(),
            state: get(&state, i).unwrap_or_else(|| PENDING.into()),
            attempts: attempts
                .as_ref()
                .filter(|a| arrow_array::Array::is_valid(*a, i))
                .map_or(0, |a| a.value(i).max(0) as u32),
            next_attempt_at: get_t(&next, i).unwrap_or(0),
            last_error: get(&last_error, i),
            created_at: get_t(&created, i).unwrap_or(0),
            finished_at: get_t(&finished, i),
        });
    }
}

/// The rows that match `filter`.
async fn rows_where(store: &Store, filter: filter::Filter) -> Result<Vec<Row>, Error> {
    let Some(ds) = store.dataset(table().name).await? else {
        return Ok(Vec::new());
    };
    let mut scan = facet_store::scan_where(&ds, &COLUMNS, filter).await?;
    let mut out = Vec::new();
    while let Some(b) = scan.next().await? {
        from_batch(&b, &mut out);
    }
    Ok(out)
}

/// Appends the rows whose id is not in the outbox yet (nor earlier in
/// `rows`); returns how many. One look-up by key per 500 ids, one commit.
pub async fn insert_new(store: &Store, rows: Vec<Row>) -> Result<usize, Error> {
    let mut seen = HashSet::new();
    let mut rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| seen.insert(r.id.clone()))
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut stored = HashSet::new();
    if let Some(ds) = store.dataset(table().name).await? {
        for chunk in ids.chunks(500) {
            let f = filter::one_of("id", chunk.iter().map(String::as_str));
            let mut scan = facet_store::scan_where(&ds, &["id"], f).await?;
            while let Some(b) = scan.next().await? {
                if let Some(c) = b.column_by_name("id") {
                    stored.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
                }
            }
        }
    }
    rows.retain(|r| !stored.contains(&r.id));
    if rows.is_empty() {
        return Ok(0);
    }
    store.append(&table(), to_batch(&rows)?).await?;
    Ok(rows.len())
}

/// Every pending row, oldest first.
pub async fn pending(store: &Store) -> Result<Vec<Row>, Error> {
    let mut rows = rows_where(store, filter::eq("state", PENDING)).await?;
    rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(rows)
}

/// Every row (tests, `describe`'s counts read less: [`counts`]).
pub async fn all(store: &Store) -> Result<Vec<Row>, Error> {
    let Some(ds) = store.dataset(table().name).await? else {
        return Ok(Vec::new());
    };
    let mut scan = facet_store::scan(&ds, &COLUMNS, None).await?;
    let mut out = Vec::new();
    while let Some(b) = scan.next().await? {
        from_batch(&b, &mut out);
    }
    Ok(out)
}

/// Rewrites `rows` by key (one commit).
pub async fn write(store: &Store, rows: &[Row]) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    store.upsert(&table(), to_batch(rows)?).await?;
    Ok(())
}

/// Rows per target and state: `target -> state -> count`.
pub async fn counts(store: &Store) -> Result<BTreeMap<String, BTreeMap<String, usize>>, Error> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let Some(ds) = store.dataset(table().name).await? else {
        return Ok(out);
    };
    let mut scan = facet_store::scan(&ds, &["target", "state"], None).await?;
    while let Some(b) = scan.next().await? {
        let (Some(t), Some(s)) = (b.column_by_name("target"), b.column_by_name("state")) else {
            continue;
        };
        let (t, s) = (t.as_string::<i32>(), s.as_string::<i32>());
        for i in 0..b.num_rows() {
            *out.entry(t.value(i).to_string())
                .or_default()
                .entry(s.value(i).to_string())
                .or_default() += 1;
        }
    }
    Ok(out)
}

/// Drops the table's versions but the last few (each delivery round is a
/// commit; nobody reads the outbox's history).
pub async fn prune(store: &Store) -> Result<(), Error> {
    store.prune_versions(table().name, 8).await?;
    Ok(())
}
