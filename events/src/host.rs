//! Python plugins, run as they are through a small host process.
//!
//! Users of the reference write `plugins/<name>.py` with functions named
//! after events (`def on_score_complete(data: dict) -> None:`). Facet runs
//! them unchanged with `python3 -c <host.py> <file>` (the interpreter is
//! `python3` on `PATH`, or `$FACET_PYTHON`): the host (`src/host.py`,
//! embedded) imports the file, then reads a batch of events as JSON lines
//! on stdin and calls the module's function for each, catching exceptions
//! per call; it answers on stdout with JSON lines (see its docstring). What
//! a plugin prints goes to Facet's stderr, prefixed with its name.
//!
//! Each plugin file gets its own host process per batch, so a plugin that
//! hangs, exits the interpreter or crashes it delays only its own events.
//! The time limit (`plugins.timeout_seconds`) applies to the import and to
//! each call ([`crate::exec::run_limited`] moves the deadline at each
//! call's start): when it passes, the process group is killed, the call
//! that was running fails with "killed at the time limit", and the events
//! of the batch not started yet stay pending, untouched, for the next round.
//!
//! A plugin handles the events whose functions it defines at module level
//! (`def on_high_score(`, found by reading the file at load: [`handled`]);
//! events it has no function for are not enqueued for it.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::event::EventKind;
use crate::exec::{run_limited, tail};

/// The host script.
pub const HOST_PY: &str = include_str!("host.py");

/// The interpreter: `$FACET_PYTHON`, else `python3`.
pub fn interpreter() -> std::ffi::OsString {
    std::env::var_os("FACET_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// The events `source` defines a module-level function for.
pub fn handled(source: &str) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|k| {
            source.lines().any(|line| {
                line.strip_prefix("def ")
                    .and_then(|rest| rest.trim_start().strip_prefix(k.name()))
                    .is_some_and(|rest| rest.trim_start().starts_with('('))
            })
        })
        .collect()
}

/// One event of a batch.
pub struct Call<'a> {
    pub id: &'a str,
    pub event: &'a str,
    /// The event's data as JSON text.
    pub payload: &'a str,
}

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function returned (or the plugin has none for the event).
    Done,
    Failed(String),
    /// Not started: the batch ended first (time limit, crash).
    NotRun,
}

/// Runs `calls` through the plugin `file`; one outcome per call, in order.
pub fn run_batch(
    python: &std::ffi::OsStr,
    file: &Path,
    calls: &[Call<'_>],
    limit: Duration,
) -> Vec<Outcome> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut input = Vec::new();
    for c in calls {
        let data: Value = serde_json::from_str(c.payload).unwrap_or(Value::Null);
        let line = serde_json::json!({"id": c.id, "plugin": name, "event": c.event, "data": data});
        input.extend_from_slice(line.to_string().as_bytes());
        input.push(b'\n');
    }
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(HOST_PY).arg(file);
    let mut results: HashMap<String, Outcome> = HashMap::new();
    let mut running: Option<String> = None;
    let mut import_error: Option<String> = None;
    let mut imported = false;
    let done = run_limited(cmd, input, limit, &name, |line| {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            eprintln!("plugin {name}: {line}");
            return false;
        };
        if msg.get("imported").is_some() {
            imported = true;
            return true;
        }
        if let Some(tb) = msg.get("import_error").and_then(Value::as_str) {
            import_error = Some(tb.trim_end().to_string());
            return true;
        }
        if let Some(id) = msg.get("start").and_then(Value::as_str) {
            running = Some(id.to_string());
            return true;
        }
        let Some(id) = msg.get("id").and_then(Value::as_str) else {
            return false;
        };
        let outcome = match msg.get("error").and_then(Value::as_str) {
            Some(_) if import_error.is_some() => Outcome::Failed(format!(
                "import failed: {}",
                import_error.as_deref().unwrap_or_default()
            )),
            Some(tb) => Outcome::Failed(tb.trim_end().to_string()),
            None => Outcome::Done,
        };
        results.insert(id.to_string(), outcome);
        if running.as_deref() == Some(id) {
            running = None;
        }
        true
    });
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("cannot start {}: {e}", python.to_string_lossy());
            return calls.iter().map(|_| Outcome::Failed(msg.clone())).collect();
        }
    };
    let ended = if done.timed_out {
        format!("killed at the time limit ({} s)", limit.as_secs_f64())
    } else {
        match done.status {
            Some(s) => format!("the plugin host exited with {s}"),
            None => "the plugin host was killed".to_string(),
        }
    };
    calls
        .iter()
        .map(|c| match results.remove(c.id) {
            Some(o) => o,
            None if running.as_deref() == Some(c.id) => Outcome::Failed(format!(
                "{ended} while running {}{}",
                c.event,
                tail(&done.stderr_tail)
            )),
            // The import itself hung, failed or crashed the interpreter.
            None if !imported => Outcome::Failed(match &import_error {
                Some(tb) => format!("import failed: {tb}"),
                None => format!("{ended} while importing{}", tail(&done.stderr_tail)),
            }),
            None => Outcome::NotRun,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_events_are_the_module_level_functions() {
        let src = "import time\n\ndef on_score_complete(data: dict) -> None:\n    pass\n\ndef  on_high_score (data):\n    pass\n    def on_new_photo(data): pass\n\ndef on_burst_detected_old(d): pass\n";
        assert_eq!(
            handled(src),
            [EventKind::OnScoreComplete, EventKind::OnHighScore]
        );
    }
}
