//! Plugins, webhooks and actions through `facet run` (the `facet_events`
//! crate's own tests cover each piece): a Python plugin written the
//! reference's way gets `on_score_complete` for every photo of a run, a
//! plugin that raises or hangs is reported and the run finishes;
//! `copy_to_folder` copies exactly the photos at or above its `min_score`,
//! once; a webhook whose receiver is down gets its signed event from the
//! outbox at the next run once the receiver is back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::common::*;

fn library(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("p{i}.jpg")),
            jpeg(200 + 40 * i, 150, 71 + i),
        )
        .unwrap();
    }
}

fn config(t: &Path, plugins: Value) {
    std::fs::write(
        t.join("scoring_config.json"),
        json!({ "plugins": plugins }).to_string(),
    )
    .unwrap();
}

#[test]
fn python_plugins_get_every_scored_photo_and_a_bad_one_never_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"), 3);
    let dir = t.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let seen = t.join("seen.jsonl");
    std::fs::write(
        dir.join("journal.py"),
        format!(
            "import json\n\
             def on_score_complete(data: dict) -> None:\n\
             \x20   with open({seen:?}, 'a') as f:\n\
             \x20       f.write(json.dumps(data) + '\\n')\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.py"),
        "def on_score_complete(data):\n    raise ValueError('broken on purpose')\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("stuck.py"),
        "import time\ndef on_new_photo(data):\n    time.sleep(600)\n",
    )
    .unwrap();
    config(
        t,
        json!({"enabled": true, "directory": dir, "timeout_seconds": 3}),
    );
    let started = std::time::Instant::now();
    let r = run_in(t, &["run", "photos", "--quiet", "--store", "store"]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        started.elapsed().as_secs() < 120,
        "the stuck plugin was not stopped"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&seen)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut paths: Vec<String> = lines
        .iter()
        .map(|d| d["filename"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["p0.jpg", "p1.jpg", "p2.jpg"], "{}", r.stderr);
    let scores = sql_json(
        &t.join("store"),
        "SELECT path, aggregate, category FROM scores",
    );
    for d in &lines {
        let row = scores
            .iter()
            .find(|s| s["path"] == d["path"])
            .expect("a scored photo");
        assert_eq!(row["aggregate"], d["aggregate"], "{d}");
        assert_eq!(row["category"], d["category"], "{d}");
    }
    assert!(r.stderr.contains("broken.py"), "{}", r.stderr);
    assert!(r.stderr.contains("broken on purpose"), "{}", r.stderr);
    assert!(r.stderr.contains("stuck.py"), "{}", r.stderr);
}

#[test]
fn copy_to_folder_copies_exactly_the_photos_at_or_above_its_score_once() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"), 4);
    // The scores first, without plugins, to set the bar between them.
    let r = run_in(t, &["run", "photos", "--quiet", "--store", "store"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let mut scores: Vec<(f64, String)> =
        sql_json(&t.join("store"), "SELECT path, aggregate FROM scores")
            .iter()
            .map(|s| {
                (
                    s["aggregate"].as_f64().unwrap(),
                    s["path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(scores[1].0 < scores[2].0, "{scores:?}");
    let bar = scores[2].0;
    let best = t.join("best");
    config(
        t,
        json!({"enabled": true, "directory": t.join("no-plugins"), "actions": {
            "keep": {"event": "on_score_complete", "action": "copy_to_folder",
                     "folder": best, "min_score": bar}
        }}),
    );
    for _ in 0..2 {
        // Every photo analysed and scored again: each run emits its events.
        let r = run_in(
            t,
            &["run", "photos", "--quiet", "--store", "store", "--force"],
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
    }
    let mut copied: Vec<String> = std::fs::read_dir(&best)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    copied.sort();
    let mut want: Vec<String> = scores[2..]
        .iter()
        .map(|(_, p)| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    want.sort();
    assert_eq!(copied, want);
}

/// The requests a receiver got: each one's header lines and body.
type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A one-request-at-a-time HTTP receiver on loopback that records
/// (headers, body) and answers 200.
fn receiver(listener: TcpListener) -> Received {
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push(line);
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            out.lock()
                .unwrap()
                .push((headers, String::from_utf8(body).unwrap()));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    got
}

fn header<'a>(headers: &'a [String], name: &str) -> &'a str {
    headers
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

#[test]
fn a_webhook_whose_receiver_was_down_gets_its_signed_event_at_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"), 2);
    // A port that nothing listens on yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "a shared secret";
    config(
        t,
        json!({"enabled": true, "directory": t.join("no-plugins"),
               "allow_private": [format!("127.0.0.1:{port}")],
               "retry": {"initial_seconds": 1},
               "webhooks": [{"url": format!("http://127.0.0.1:{port}/hook"),
                             "events": ["on_score_complete"], "secret": secret}]}),
    );
    let r = run_in(t, &["run", "photos", "--quiet", "--store", "store"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("plugins: 2 event delivery(ies) queued"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("2 to retry"),
        "the receiver is down\n{}",
        r.stderr
    );

    // The receiver is back; a run with nothing new delivers the outbox.
    let got = receiver(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let pending = sql_json(
        &t.join("store"),
        "SELECT count(*) AS n FROM event_outbox WHERE state = 'pending'",
    );
    assert_eq!(pending[0]["n"], 2);
    // The retry is due a second after the failure (`retry.initial_seconds`).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = run_in(t, &["run", "photos", "--quiet", "--store", "store"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}\n{}", r.stderr);
    for (headers, body) in &got {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["event"], "on_score_complete");
        for k in [
            "path",
            "filename",
            "aggregate",
            "aesthetic",
            "comp_score",
            "category",
            "tags",
        ] {
            assert!(v["data"].get(k).is_some(), "{k} missing from {v}");
        }
        let ts = header(headers, "X-Facet-Timestamp");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header(headers, "X-Facet-Signature"), want);
    }
}
