//! `facet run --processes 3` on loopback (timely's cluster mode): the store
//! ends as one process's run leaves it, and a run that loses a process fails
//! with a clear message, after which the same command completes the work.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;

/// A hosts file naming three free loopback ports — below the kernel's
/// ephemeral range, so that no other test's `bind(:0)` or outgoing
/// connection takes one between this check and the processes' own bind.
fn hosts(dir: &Path, name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 500) as u16 * 16;
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let port = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 8_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    let text: String = ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect();
    let file = dir.join(name);
    std::fs::write(&file, format!("# three processes on loopback\n{text}")).unwrap();
    file
}

/// One process of a cluster run, its output read as it comes.
struct Process {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    /// stderr's lines as they are written.
    lines: Receiver<String>,
}

#[allow(clippy::too_many_arguments)]
fn start(
    mut cmd: Command,
    pipeline: &str,
    photos: &Path,
    store: &Path,
    hosts: &Path,
    process: usize,
    extra: &[&str],
) -> Process {
    let mut child = cmd
        .current_dir(root())
        .arg("run")
        .arg(pipeline)
        .arg(photos)
        .arg("--store")
        .arg(store)
        .args(["--quiet", "--processes", "3", "--process"])
        .arg(process.to_string())
        .arg("--hosts")
        .arg(hosts)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("facet runs");
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = child.stderr.take().unwrap();
    let (tx, lines) = channel();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    Process {
        child,
        stdout,
        stderr,
        lines,
    }
}

/// Waits for the process (killing it after `limit`) and returns what it said.
fn finish(mut p: Process, limit: Duration) -> Ran {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = p.child.kill();
            let _ = p.child.wait();
            panic!(
                "a cluster process ran past {limit:?}:\n{}\n{}",
                p.stdout.join().unwrap(),
                p.stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran {
        status: status.code().unwrap_or(-1),
        stdout: p.stdout.join().unwrap(),
        stderr: p.stderr.join().unwrap(),
    }
}

/// Runs the three processes of a cluster run to their end.
fn cluster_run(
    cmd: fn() -> Command,
    pipeline: &str,
    photos: &Path,
    store: &Path,
    hosts: &Path,
    extra: &[&str],
) -> Vec<Ran> {
    let mut started: Vec<Process> = (0..3)
        .map(|i| start(cmd(), pipeline, photos, store, hosts, i, extra))
        .collect();
    // A process that fails leaves the others waiting for it: they get 30 s.
    let begun = Instant::now();
    let mut failed_at: Option<Instant> = None;
    loop {
        let done: Vec<Option<std::process::ExitStatus>> = started
            .iter_mut()
            .map(|p| p.child.try_wait().unwrap())
            .collect();
        if done.iter().all(Option::is_some) {
            break;
        }
        if failed_at.is_none() && done.iter().flatten().any(|s| !s.success()) {
            failed_at = Some(Instant::now());
        }
        let gave_up = failed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(30));
        if gave_up || begun.elapsed() > Duration::from_secs(600) {
            for p in &mut started {
                let _ = p.child.kill();
            }
            let said: Vec<String> = started
                .into_iter()
                .map(|p| {
                    let r = finish(p, Duration::from_secs(10));
                    format!("status {}\n{}\n{}", r.status, r.stdout, r.stderr)
                })
                .collect();
            panic!(
                "a cluster run did not end together:\n{}",
                said.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    started
        .into_iter()
        .map(|p| finish(p, Duration::from_secs(10)))
        .collect()
}

fn assert_same_tables(one: &Path, other: &Path, tables: &[&str], what: &str) {
    for table in tables {
        let (want, have) = (stored(one, table), stored(other, table));
        assert_eq!(want.len(), have.len(), "{what}: {table} rows");
        for (a, b) in want.iter().zip(&have) {
            assert_eq!(a, b, "{what}: {table} differs");
        }
    }
}

/// Every table a run writes is the same whether one process or three on
/// loopback ran it — the default pipeline on generated photos, and every
/// pipeline of `tests/pipelines/models/` on the shared photos.
#[test]
fn three_processes_on_loopback_store_what_one_process_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("generated");
    spread_library(&generated, 18);
    let cases = spread_cases(&generated);
    let args = ["--workers", "1", "--batch", "2"];
    for (n, (pipeline, photos, tables)) in cases.iter().enumerate() {
        let one = tmp.path().join(format!("one-{n}"));
        let r = run_into(facet_ort(), Some(pipeline), photos, &one, &args);
        assert_eq!(r.status, 0, "{pipeline}:\n{}\n{}", r.stdout, r.stderr);

        let three = tmp.path().join(format!("three-{n}"));
        let hosts = hosts(tmp.path(), &format!("hosts-{n}.txt"));
        let ran = cluster_run(facet_ort, pipeline, photos, &three, &hosts, &args);
        for (i, r) in ran.iter().enumerate() {
            assert_eq!(
                r.status, 0,
                "{pipeline}, process {i}:\n{}\n{}",
                r.stdout, r.stderr
            );
        }
        assert!(ran[0].stdout.contains(" analysed, "), "{}", ran[0].stdout);
        for r in &ran[1..] {
            assert!(r.stdout.contains("sent to process 0"), "{}", r.stdout);
        }
        assert!(
            !stored(&one, "photos").is_empty(),
            "{pipeline}: nothing stored"
        );
        assert_same_tables(&one, &three, tables, pipeline);
    }
}

/// A process killed in the middle of a cluster run: the others stop with a
/// message that says so, the store stays readable with what process 0 had
/// received, and the same command run again ends with the tables an
/// uninterrupted run writes.
#[test]
fn a_killed_process_fails_the_cluster_run_and_the_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    spread_library(&photos, 30);
    let pipeline = "pipelines/cpu.yaml";
    let args = ["--workers", "1", "--batch", "1", "--commit-every", "1"];
    let tables = ["photos", "failures", "scores", "photo_groups"];

    let whole = tmp.path().join("whole");
    let r = run_into(facet(), Some(pipeline), &photos, &whole, &args);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);

    let store = tmp.path().join("store");
    let hosts1 = hosts(tmp.path(), "hosts-1.txt");
    let mut held = {
        let mut cmd = facet();
        // Process 2 stops at its second batch shipped to process 0.
        cmd.env("FAILPOINTS", "runtime::shipped=1*off->return");
        start(cmd, pipeline, &photos, &store, &hosts1, 2, &args)
    };
    let others: Vec<Process> = (0..2)
        .map(|i| start(facet(), pipeline, &photos, &store, &hosts1, i, &args))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match held.lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("facet-failpoint runtime::shipped") => break,
            Ok(_) => {}
            Err(_) => assert!(
                Instant::now() < deadline && held.child.try_wait().unwrap().is_none(),
                "process 2 never reached its fail point"
            ),
        }
    }
    held.child.kill().unwrap();
    let _ = held.child.wait();
    for (i, p) in others.into_iter().enumerate() {
        let r = finish(p, Duration::from_secs(120));
        assert_ne!(r.status, 0, "process {i} went on:\n{}", r.stdout);
        assert!(
            r.stderr.contains("cluster: process")
                && r.stderr.contains("lost its connection to another process")
                && r.stderr.contains("run the same command"),
            "process {i}:\n{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked"),
            "process {i} printed a panic:\n{}",
            r.stderr
        );
    }
    // Readable, and without process 2's photos from its second batch on.
    let kept = stored(&store, "photos").len();
    assert!(kept < 30, "{kept} photos stored");

    let hosts2 = hosts(tmp.path(), "hosts-2.txt");
    let ran = cluster_run(facet, pipeline, &photos, &store, &hosts2, &args);
    for (i, r) in ran.iter().enumerate() {
        assert_eq!(
            r.status, 0,
            "re-run, process {i}:\n{}\n{}",
            r.stdout, r.stderr
        );
    }
    assert_same_tables(&whole, &store, &tables, "killed and re-run");
}

/// A process whose peers never come (the other machines were not started)
/// gives up after `--connect-timeout` with a message that names them, and
/// leaves no store behind it that a later run could not open.
#[test]
fn a_process_whose_peers_never_come_fails_after_the_connect_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    spread_library(&photos, 4);
    let store = tmp.path().join("store");
    let hosts = hosts(tmp.path(), "hosts.txt");
    let alone = start(
        facet(),
        "pipelines/cpu.yaml",
        &photos,
        &store,
        &hosts,
        0,
        &["--workers", "1", "--connect-timeout", "2"],
    );
    let r = finish(alone, Duration::from_secs(120));
    assert_ne!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let others: Vec<String> = std::fs::read_to_string(&hosts)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .skip(1)
        .map(str::to_string)
        .collect();
    let said = r
        .stderr
        .lines()
        .find(|l| l.contains("waited 2 s"))
        .unwrap_or_else(|| panic!("no connect-timeout message:\n{}\n{}", r.stdout, r.stderr));
    for other in &others {
        assert!(said.contains(other.as_str()), "{said}");
    }
    assert!(said.contains("--connect-timeout"), "{said}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // The same process alone (a one-process run) then analyses everything.
    let r = run_into(
        facet(),
        Some("pipelines/cpu.yaml"),
        &photos,
        &store,
        &["--workers", "1"],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
}
