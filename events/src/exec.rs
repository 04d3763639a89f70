//! Plugin processes under a time limit, and executable plugins.
//!
//! [`run_limited`] runs a command with its stdin fed from memory, its
//! stdout read line by line and its stderr forwarded to Facet's stderr
//! (each line prefixed `plugin <name>: `, its last lines kept for error
//! messages). The command runs in its own process group; when the time
//! limit passes, the whole group is killed (SIGKILL), so a plugin's own
//! children die with it. The limit is a deadline that a progress line (as
//! the caller's `on_line` says) moves forward: the Python host announces
//! each call, so the limit applies to each call, not to a whole batch.
//! Reader threads are never joined (a grandchild that escaped the group
//! could hold a pipe open): what they read is shared through channels and
//! a mutex.
//!
//! # Executable plugins
//!
//! Any file of the plugins folder that is not `*.py` and has an execute
//! bit gets each event in its own run: `<file> <event name>`, the JSON
//! `{"event": NAME, "data": {...}}` and a newline on stdin, environment
//! `FACET_EVENT` (the name) and `FACET_DELIVERY` (the outbox id). Exit
//! status 0 is delivered; anything else, or the time limit, is a failure
//! (retried with backoff), reported with the last lines of its stderr.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit status (`None`: killed at the time limit).
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// The last lines of its stderr.
    pub stderr_tail: String,
}

/// Stderr lines kept for messages.
const TAIL_LINES: usize = 20;

/// Runs `cmd` (see the module doc). `on_line` gets each stdout line and
/// says whether it is progress (which moves the deadline `limit` ahead).
pub fn run_limited(
    mut cmd: Command,
    input: Vec<u8>,
    limit: Duration,
    name: &str,
    mut on_line: impl FnMut(&str) -> bool,
) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        // A plugin that exits without reading is not an error here.
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let (stderr_done, stderr_closed) = channel::<()>();
    {
        let tail = tail.clone();
        let prefix = format!("plugin {name}: ");
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                eprintln!("{prefix}{line}");
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
            let _ = stderr_done.send(());
        });
    }
    let mut deadline = Instant::now() + limit;
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if on_line(&line) {
                    deadline = Instant::now() + limit;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = if timed_out {
        kill(&mut child);
        None
    } else {
        // Stdout is closed: the process is exiting (or closed it and goes
        // on, which the deadline bounds).
        loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            if Instant::now() >= deadline {
                timed_out = true;
                kill(&mut child);
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Let the stderr reader take the last lines (bounded: a grandchild
    // that escaped the group may hold the pipe open).
    let _ = stderr_closed.recv_timeout(Duration::from_millis(if timed_out { 50 } else { 500 }));
    let stderr_tail = tail
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Finished {
        status,
        timed_out,
        stderr_tail,
    })
}

/// Kills the child's process group, then the child, and reaps it.
fn kill(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// What one executable plugin run did with one event.
pub fn run_executable(
    file: &Path,
    event: &str,
    delivery: &str,
    body: &str,
    limit: Duration,
) -> Result<(), String> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(file);
    cmd.arg(event)
        .env("FACET_EVENT", event)
        .env("FACET_DELIVERY", delivery);
    let mut input = body.as_bytes().to_vec();
    input.push(b'\n');
    let done = run_limited(cmd, input, limit, &name, |line| {
        eprintln!("plugin {name}: {line}");
        false
    })
    .map_err(|e| format!("cannot run {}: {e}", file.display()))?;
    if done.timed_out {
        return Err(format!(
            "killed at the time limit ({} s){}",
            limit.as_secs_f64(),
            tail(&done.stderr_tail)
        ));
    }
    match done.status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("exited with {s}{}", tail(&done.stderr_tail))),
        None => Err("killed".into()),
    }
}

/// `: <stderr tail>` when there is one.
pub fn tail(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_process_group_is_killed_at_the_limit() {
        let mut cmd = Command::new("sh");
        // The shell's child holds stdout too: the whole group must die.
        cmd.arg("-c").arg("echo started; sleep 600; echo never");
        let start = Instant::now();
        let mut lines = Vec::new();
        let done = run_limited(cmd, Vec::new(), Duration::from_millis(500), "t", |l| {
            lines.push(l.to_string());
            false
        })
        .unwrap();
        assert!(done.timed_out);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(lines, ["started"]);
    }

    #[test]
    fn progress_moves_the_deadline() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done; echo oops >&2; exit 3");
        let done = run_limited(cmd, Vec::new(), Duration::from_millis(300), "t", |_| true).unwrap();
        assert!(!done.timed_out);
        assert_eq!(done.status.and_then(|s| s.code()), Some(3));
        assert!(done.stderr_tail.contains("oops"));
    }
}
