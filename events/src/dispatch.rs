//! A delivery round ([`crate::Plugins::deliver`]).
//!
//! 1. The pending rows are read (one filtered scan) and those due
//!    (`next_attempt_at` ≤ now) grouped by target, oldest first; each row is
//!    tried at most once per round.
//! 2. Target by target, until the budget is spent, the rows are delivered
//!    on a blocking thread ([`tokio::task::spawn_blocking`]):
//!    * webhooks one request at a time; a 2xx delivers, another status
//!      (a 3xx too: redirects are not followed) fails the row; a refused
//!      address or a network failure fails the row and the target's other
//!      rows of the round (the receiver is down: their attempts count, and
//!      they wait the same backoff);
//!    * actions one row at a time;
//!    * a Python plugin's rows in batches of [`BATCH`] through one host
//!      process each ([`crate::host`]);
//!    * an executable plugin one run per row ([`crate::exec`]).
//! 3. The outcomes of a target are written in one commit before the next
//!    target starts (a crash re-delivers at most one target's round: at
//!    least once). Rows whose target is no longer configured stay pending
//!    and are counted as orphaned; rows not reached within the budget stay
//!    as they are.
//!
//! A target's failure never fails the round: it is in the report
//! ([`Delivered::failures`]), the row's `last_error` and `attempts`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Error;
use crate::host::Outcome;
use crate::outbox::{self, Row};
use crate::settings::ActionKind;
use crate::targets::{Kind, Target};

/// Events per Python host process.
pub const BATCH: usize = 200;

/// What a delivery round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delivered {
    /// Rows delivered this round.
    pub delivered: usize,
    /// Rows that failed this round and will be tried again.
    pub retrying: usize,
    /// Rows that failed for the last time this round (now `failed`).
    pub gave_up: usize,
    /// Every failed attempt of the round, with the target's name.
    pub failures: Vec<Failure>,
    /// Pending rows left after the round (not due yet, not reached within
    /// the budget, or failed and rescheduled).
    pub pending: usize,
    /// Pending rows whose target is no longer configured.
    pub orphaned: usize,
    /// `send_notification`'s lines.
    pub notifications: Vec<String>,
}

/// One failed attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The outbox id.
    pub id: String,
    /// `webhook:…`, `action:…`, `plugin:<file>`.
    pub target: String,
    pub event: String,
    pub error: String,
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    pub gave_up: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.target, self.event, self.error)?;
        if self.gave_up {
            write!(f, " (gave up after {} attempts)", self.attempts)
        } else {
            write!(f, " (attempt {}, will retry)", self.attempts)
        }
    }
}

/// One round (see the module doc).
pub(crate) async fn deliver(
    inner: Arc<crate::Inner>,
    store: &facet_store::Store,
    budget: Duration,
) -> Result<Delivered, Error> {
    let _one_round_at_a_time = inner.delivering.lock().await;
    let start = Instant::now();
    let deadline = start + budget;
    let mut report = Delivered::default();
    let pending = outbox::pending(store).await?;
    let now = outbox::now_ns();
    let mut groups: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for row in &pending {
        if row.next_attempt_at > now {
            report.pending += 1;
            continue;
        }
        let t = row.target.as_str();
        if !groups.contains_key(t) {
            order.push(t);
        }
        groups.entry(t).or_default().push(row.clone());
    }
    let mut wrote = false;
    for name in order {
        let rows = groups.remove(name).unwrap_or_default();
        let Some(target) = inner.targets.iter().find(|t| t.name == name).cloned() else {
            report.orphaned += rows.len();
            report.pending += rows.len();
            continue;
        };
        if Instant::now() >= deadline {
            report.pending += rows.len();
            continue;
        }
        let inner2 = inner.clone();
        let rows2 = rows.clone();
        let (outcomes, notes) =
            tokio::task::spawn_blocking(move || deliver_target(&inner2, &target, &rows2, deadline))
                .await
                .map_err(|e| Error::Internal(format!("delivery thread: {e}")))?;
        report.notifications.extend(notes);
        let done_at = outbox::now_ns();
        let mut changed = Vec::new();
        for (mut row, outcome) in rows.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Done => {
                    row.state = outbox::DELIVERED.into();
                    row.finished_at = Some(done_at);
                    report.delivered += 1;
                }
                Outcome::Failed(error) => {
                    row.attempts += 1;
                    let error = truncate(&error, 8000);
                    row.last_error = Some(error.clone());
                    let gave_up = row.attempts >= inner.settings.retry.max_attempts;
                    if gave_up {
                        row.state = outbox::FAILED.into();
                        row.finished_at = Some(done_at);
                        report.gave_up += 1;
                    } else {
                        let wait = inner.settings.retry.backoff(row.attempts);
                        row.next_attempt_at =
                            done_at.saturating_add(wait.as_nanos().min(i64::MAX as u128) as i64);
                        report.retrying += 1;
                        report.pending += 1;
                    }
                    report.failures.push(Failure {
                        id: row.id.clone(),
                        target: row.target.clone(),
                        event: row.event.clone(),
                        error,
                        attempts: row.attempts,
                        gave_up,
                    });
                }
                Outcome::NotRun => {
                    report.pending += 1;
                    continue;
                }
            }
            changed.push(row);
        }
        if !changed.is_empty() {
            outbox::write(store, &changed).await?;
            wrote = true;
        }
    }
    if wrote {
        outbox::prune(store).await?;
    }
    Ok(report)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Delivers `rows` to `target` (blocking); one outcome per row, and the
/// notification lines.
fn deliver_target(
    inner: &crate::Inner,
    target: &Target,
    rows: &[Row],
    deadline: Instant,
) -> (Vec<Outcome>, Vec<String>) {
    let settings = &inner.settings;
    let limit = settings.timeout();
    let mut out = vec![Outcome::NotRun; rows.len()];
    let mut notes = Vec::new();
    match &target.kind {
        Kind::Webhook {
            index, target: url, ..
        } => {
            for (i, row) in rows.iter().enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                let req = crate::webhook::Request {
                    target: url,
                    event: &row.event,
                    delivery: &row.id,
                    payload: &row.payload,
                    secret: settings.secret_of(*index),
                    timeout: limit,
                    allow: &settings.allow_private,
                };
                match crate::webhook::send(&req) {
                    Ok(s) if (200..300).contains(&s) => out[i] = Outcome::Done,
                    Ok(s) if (300..400).contains(&s) => {
                        out[i] = Outcome::Failed(format!("HTTP {s}: redirects are not followed"))
                    }
                    Ok(s) => out[i] = Outcome::Failed(format!("HTTP {s}")),
                    Err(e @ (Error::Blocked { .. } | Error::Unreachable(_))) => {
                        // The receiver is out of reach: so for every row.
                        for o in &mut out[i..] {
                            *o = Outcome::Failed(e.to_string());
                        }
                        break;
                    }
                    Err(e) => out[i] = Outcome::Failed(e.to_string()),
                }
            }
        }
        Kind::Action { settings: a, .. } => {
            for (i, row) in rows.iter().enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                let data: serde_json::Value =
                    serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
                out[i] = match a.action {
                    ActionKind::SendNotification => {
                        let line = crate::actions::notification(&row.event, &data);
                        eprintln!("{line}");
                        notes.push(line);
                        Outcome::Done
                    }
                    ActionKind::CopyToFolder => {
                        let folder = a.folder.clone().unwrap_or_default();
                        let src = data
                            .get("path")
                            .or_else(|| data.get("best_path"))
                            .and_then(|p| p.as_str());
                        match src {
                            None => Outcome::Failed("the event names no photo".into()),
                            Some(src) => {
                                match crate::actions::copy_to_folder(src.as_ref(), &folder) {
                                    Ok(_) => Outcome::Done,
                                    Err(e) => Outcome::Failed(format!(
                                        "copy {src} to {}: {e}",
                                        folder.display()
                                    )),
                                }
                            }
                        }
                    }
                };
            }
        }
        Kind::Python { file, .. } => {
            for (chunk_no, chunk) in rows.chunks(BATCH).enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                let calls: Vec<crate::host::Call> = chunk
                    .iter()
                    .map(|r| crate::host::Call {
                        id: &r.id,
                        event: &r.event,
                        payload: &r.payload,
                    })
                    .collect();
                let outcomes = crate::host::run_batch(&inner.python, file, &calls, limit);
                for (j, o) in outcomes.into_iter().enumerate() {
                    out[chunk_no * BATCH + j] = o;
                }
            }
        }
        Kind::Executable { file } => {
            for (i, row) in rows.iter().enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                out[i] = match crate::webhook::body(&row.event, &row.payload) {
                    Err(e) => Outcome::Failed(e.to_string()),
                    Ok(body) => {
                        match crate::exec::run_executable(file, &row.event, &row.id, &body, limit) {
                            Ok(()) => Outcome::Done,
                            Err(e) => Outcome::Failed(e),
                        }
                    }
                };
            }
        }
    }
    (out, notes)
}
