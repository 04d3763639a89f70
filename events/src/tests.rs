//! End-to-end tests of the crate: a real store, a real loopback HTTP
//! receiver, real Python and shell plugins. No traffic leaves loopback.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A loopback HTTP server that records requests and answers 200.
struct Receiver {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(addr: &str) -> Receiver {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                r.lock().unwrap().push(Received {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Receiver {
            addr,
            connections,
            requests,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn plugins(settings: Value) -> Plugins {
    Plugins::from_settings(Settings::from_value(&settings).unwrap())
}

fn photo(path: &str, aggregate: f64, new: bool) -> ScoredPhoto {
    ScoredPhoto {
        path: path.into(),
        aggregate,
        aesthetic: Some(aggregate + 0.3),
        comp_score: Some(8.8),
        category: "portrait".into(),
        tags: Some("person, outdoor".into()),
        new,
    }
}

fn verify(secret: &str, r: &Received) {
    let ts = &r.headers["x-facet-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    let want = hex::encode(mac.finalize().into_bytes());
    let got = r.headers["x-facet-signature"]
        .strip_prefix("sha256=")
        .unwrap();
    // The receiver's check: constant-time, as a receiver should.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    mac.verify_slice(&hex::decode(got).unwrap())
        .unwrap_or_else(|_| panic!("bad signature {got}, want {want}"));
}

#[tokio::test]
async fn webhook_delivery_is_signed_shaped_and_once() {
    let rx = Receiver::start("127.0.0.1:0");
    let store_dir = tempfile::tempdir().unwrap();
    let store = facet_store::Store::open(store_dir.path()).unwrap();
    let p = plugins(json!({
        "enabled": true,
        "directory": store_dir.path().join("no-plugins"),
        "allow_private": [rx.addr.to_string()],
        "webhooks": [{"url": format!("http://{}/hook/TOKEN", rx.addr),
                      "events": ["on_score_complete", "on_high_score"],
                      "min_score": 8.0, "secret": "s3cret"}]
    }));
    assert!(
        !p.warnings().iter().any(|w| w.contains("signed")),
        "{:?}",
        p.warnings()
    );
    let events = p.score_events(&[
        photo("/photos/IMG_001.jpg", 9.2, true),
        photo("/photos/IMG_002.jpg", 5.0, true),
    ]);
    // new + complete + high for the first, new + complete for the second.
    assert_eq!(events.len(), 5);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 2);
    let d = p.deliver(&store, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (d.delivered, d.failures.len(), d.pending),
        (2, 0, 0),
        "{d:?}"
    );
    let got = rx.requests();
    assert_eq!(got.len(), 2);
    let ids: Vec<String> = outbox::all(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut seen_events = Vec::new();
    for r in &got {
        assert_eq!(r.path, "/hook/TOKEN");
        assert_eq!(r.headers["content-type"], "application/json");
        verify("s3cret", r);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["event"], r.headers["x-facet-event"].as_str());
        assert_eq!(
            body["data"],
            json!({"path": "/photos/IMG_001.jpg", "filename": "IMG_001.jpg", "aggregate": 9.2,
                   "aesthetic": 9.5, "comp_score": 8.8, "category": "portrait",
                   "tags": "person, outdoor"})
        );
        assert!(ids.contains(&r.headers["x-facet-delivery"]));
        seen_events.push(body["event"].as_str().unwrap().to_string());
    }
    seen_events.sort();
    assert_eq!(seen_events, ["on_high_score", "on_score_complete"]);

    // The same events again (a re-run, same scores): nothing new.
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 0);
    let d = p.deliver(&store, Duration::from_secs(30)).await.unwrap();
    assert_eq!(d.delivered, 0);
    assert_eq!(rx.requests().len(), 2);

    let desc = p.describe(&store).await.unwrap();
    assert_eq!(desc["webhooks"][0]["host"], rx.addr.to_string());
    assert_eq!(desc["webhooks"][0]["signed"], true);
    assert_eq!(desc["outbox"]["totals"]["delivered"], 2);
    assert_eq!(desc["outbox"]["totals"]["pending"], 0);
    let text = desc.to_string();
    assert!(
        !text.contains("TOKEN") && !text.contains("s3cret"),
        "{text}"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_after_it_comes_back_across_a_restart() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let store_dir = tempfile::tempdir().unwrap();
    let settings = json!({
        "enabled": true,
        "directory": store_dir.path().join("no-plugins"),
        "allow_private": [addr],
        "webhook_secret": "k",
        "retry": {"initial_seconds": 0, "max_seconds": 0, "max_attempts": 5},
        "webhooks": [{"url": format!("http://{addr}/in"), "events": ["on_high_score"]}]
    });
    {
        let store = facet_store::Store::open(store_dir.path()).unwrap();
        let p = plugins(settings.clone());
        let events = p.score_events(&[photo("/p/a.jpg", 9.0, false)]);
        assert_eq!(p.enqueue(&store, &events).await.unwrap(), 1);
        for attempt in 1..=2 {
            let d = p.deliver(&store, Duration::from_secs(30)).await.unwrap();
            assert_eq!((d.delivered, d.retrying, d.pending), (0, 1, 1), "{d:?}");
            assert!(d.failures[0].error.contains(&addr), "{}", d.failures[0]);
            let rows = outbox::all(&store).await.unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].state, outbox::PENDING);
            assert_eq!(rows[0].attempts, attempt);
            assert!(rows[0].last_error.is_some());
        }
    }
    // Facet restarts; the receiver is up now.
    let rx = Receiver::start(&addr);
    let store = facet_store::Store::open(store_dir.path()).unwrap();
    let p = plugins(settings);
    let d = p.deliver(&store, Duration::from_secs(30)).await.unwrap();
    assert_eq!((d.delivered, d.pending), (1, 0), "{d:?}");
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    verify("k", &got[0]);
    assert_eq!(got[0].headers["x-facet-event"], "on_high_score");
    let rows = outbox::all(&store).await.unwrap();
    assert_eq!(rows[0].state, outbox::DELIVERED);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(got[0].headers["x-facet-delivery"], rows[0].id);
    // Delivered stays delivered.
    p.deliver(&store, Duration::from_secs(30)).await.unwrap();
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn private_addresses_are_refused_before_connecting() {
    let rx = Receiver::start("127.0.0.1:0");
    let port = rx.addr.port();
    let store_dir = tempfile::tempdir().unwrap();
    let store = facet_store::Store::open(store_dir.path()).unwrap();
    let p = plugins(json!({
        "enabled": true,
        "directory": store_dir.path().join("no-plugins"),
        "webhook_secret": "k",
        "retry": {"max_attempts": 1},
        "webhooks": [
            {"url": format!("http://127.0.0.1:{port}/a")},
            {"url": format!("http://[::1]:{port}/b")},
            {"url": format!("http://localhost:{port}/c")},
        ]
    }));
    let events = p.burst_events(&[Burst {
        burst_group_id: "b-1".into(),
        best_path: "/p/2.jpg".into(),
        paths: vec!["/p/1.jpg".into(), "/p/2.jpg".into()],
    }]);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 3);
    let d = p.deliver(&store, Duration::from_secs(30)).await.unwrap();
    assert_eq!((d.delivered, d.gave_up), (0, 3), "{d:?}");
    let errors: HashMap<String, String> = d
        .failures
        .iter()
        .map(|f| (f.target.clone(), f.error.clone()))
        .collect();
    let of = |host: &str| {
        errors
            .iter()
            .find(|(t, _)| t.starts_with(&format!("webhook:{host}")))
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    let e = of("127.0.0.1");
    assert!(
        e.contains("refused") && e.contains("127.0.0.1 is loopback"),
        "{e}"
    );
    let e = of("[::1]");
    assert!(
        e.contains("refused") && e.contains("::1 is loopback"),
        "{e}"
    );
    let e = of("localhost");
    assert!(
        e.contains("refused") && (e.contains("127.0.0.1") || e.contains("::1")),
        "{e}"
    );
    // Given up, the error kept.
    let rows = outbox::all(&store).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == outbox::FAILED && r.last_error.is_some())
    );
    // The test endpoint refuses them the same way.
    for url in [
        format!("http://127.0.0.1:{port}/t"),
        format!("http://[::1]:{port}/t"),
        format!("http://localhost:{port}/t"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://[::ffff:127.0.0.1]:{port}/t"),
    ] {
        match p.test_webhook(&url).await {
            Err(Error::Blocked { .. }) => {}
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(matches!(
        p.test_webhook("ftp://example.com/").await,
        Err(Error::Config { .. })
    ));
    assert_eq!(
        rx.connections.load(Ordering::SeqCst),
        0,
        "nothing connected"
    );
    assert!(rx.requests().is_empty());

    // Lifted for exactly this receiver, the test webhook arrives, signed.
    let allowed = plugins(json!({"allow_private": [rx.addr.to_string()], "webhook_secret": "k"}));
    let status = allowed
        .test_webhook(&format!("http://127.0.0.1:{port}/t"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["x-facet-event"], "test");
    verify("k", &got[0]);
}

fn write_plugin(dir: &Path, name: &str, source: &str) {
    std::fs::write(dir.join(name), source).unwrap();
}

#[tokio::test]
async fn python_plugins_get_each_event_and_one_raising_stops_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir(&plugins_dir).unwrap();
    write_plugin(
        &plugins_dir,
        "good.py",
        "import os\n\n\ndef on_score_complete(data: dict) -> None:\n    print(f\"Scored: {data['path']} - {data['aggregate']:.1f}\")\n    with open(os.path.join(os.path.dirname(__file__), 'seen.txt'), 'a') as f:\n        f.write(f\"{data['filename']} {data['aggregate']} {data['tags']}\\n\")\n",
    );
    write_plugin(
        &plugins_dir,
        "bad.py",
        "def on_score_complete(data):\n    raise ValueError('boom ' + data['filename'])\n",
    );
    write_plugin(
        &plugins_dir,
        "zz_after.py",
        "import os\n\ndef on_score_complete(data):\n    with open(os.path.join(os.path.dirname(__file__), 'after.txt'), 'a') as f:\n        f.write(data['path'] + '\\n')\n\ndef on_high_score(data):\n    raise RuntimeError('no high scores here')\n",
    );
    let store = facet_store::Store::open(&dir.path().join("store")).unwrap();
    let p = plugins(json!({"enabled": true, "directory": plugins_dir}));
    let photos: Vec<ScoredPhoto> = (1..=3)
        .map(|i| photo(&format!("/p/{i}.jpg"), 5.0 + i as f64 / 2.0, false))
        .collect();
    let events = p.score_events(&photos);
    // 3 complete events to 3 plugins; no high scores (threshold 8).
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 9);
    let d = p.deliver(&store, Duration::from_secs(60)).await.unwrap();
    assert_eq!(d.delivered, 6, "{d:?}");
    assert_eq!(d.failures.len(), 3, "{d:?}");
    for f in &d.failures {
        assert_eq!(f.target, "plugin:bad.py");
        assert!(f.error.contains("ValueError: boom"), "{}", f.error);
        assert!(
            f.to_string()
                .starts_with("plugin:bad.py on_score_complete: "),
            "{f}"
        );
    }
    let seen = std::fs::read_to_string(plugins_dir.join("seen.txt")).unwrap();
    assert_eq!(
        seen,
        "1.jpg 5.5 person, outdoor\n2.jpg 6.0 person, outdoor\n3.jpg 6.5 person, outdoor\n"
    );
    let after = std::fs::read_to_string(plugins_dir.join("after.txt")).unwrap();
    assert_eq!(after.lines().count(), 3);
    let desc = p.describe(&store).await.unwrap();
    assert_eq!(desc["plugins"].as_array().unwrap().len(), 3);
    assert_eq!(
        desc["plugins"][2]["events"],
        json!(["on_score_complete", "on_high_score"])
    );
}

#[tokio::test]
async fn a_hanging_plugin_is_killed_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir(&plugins_dir).unwrap();
    write_plugin(
        &plugins_dir,
        "slow.py",
        "import time\n\ndef on_score_complete(data):\n    time.sleep(600)\n",
    );
    let store = facet_store::Store::open(&dir.path().join("store")).unwrap();
    let p = plugins(json!({"enabled": true, "directory": plugins_dir, "timeout_seconds": 2}));
    let events = p.score_events(&[photo("/p/1.jpg", 5.0, false), photo("/p/2.jpg", 5.0, false)]);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 2);
    let start = Instant::now();
    let d = p.deliver(&store, Duration::from_secs(60)).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(d.failures.len(), 1, "{d:?}");
    let f = &d.failures[0];
    assert_eq!(f.target, "plugin:slow.py");
    assert!(f.error.contains("time limit"), "{}", f.error);
    // The other event of the batch was not started: still pending, untried.
    let rows = outbox::all(&store).await.unwrap();
    let untried: Vec<_> = rows.iter().filter(|r| r.attempts == 0).collect();
    assert_eq!(untried.len(), 1);
    assert_eq!(untried[0].state, outbox::PENDING);
}

#[tokio::test]
async fn executable_plugins_get_the_event_json_on_stdin() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir(&plugins_dir).unwrap();
    let exe = |name: &str, source: &str| {
        write_plugin(&plugins_dir, name, source);
        std::fs::set_permissions(
            plugins_dir.join(name),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    };
    exe(
        "hook.sh",
        "#!/bin/sh\nd=$(dirname \"$0\")\ncat >> \"$d/received.jsonl\"\necho \"$1 $FACET_EVENT\" >> \"$d/args.txt\"\n",
    );
    exe("fails.sh", "#!/bin/sh\necho 'no disk space' >&2\nexit 3\n");
    let store = facet_store::Store::open(&dir.path().join("store")).unwrap();
    let p = plugins(json!({"enabled": true, "directory": plugins_dir}));
    let events = p.score_events(&[photo("/p/1.jpg", 5.0, false), photo("/p/2.jpg", 6.0, false)]);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 4);
    let d = p.deliver(&store, Duration::from_secs(60)).await.unwrap();
    assert_eq!(d.delivered, 2, "{d:?}");
    assert_eq!(d.failures.len(), 2);
    for f in &d.failures {
        assert_eq!(f.target, "plugin:fails.sh");
        assert!(f.error.contains("no disk space"), "{}", f.error);
    }
    let received = std::fs::read_to_string(plugins_dir.join("received.jsonl")).unwrap();
    let lines: Vec<Value> = received
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let mut paths: Vec<&str> = lines
        .iter()
        .map(|l| l["data"]["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/p/1.jpg", "/p/2.jpg"]);
    assert!(lines.iter().all(|l| l["event"] == "on_score_complete"));
    let args = std::fs::read_to_string(plugins_dir.join("args.txt")).unwrap();
    assert_eq!(args, "on_score_complete on_score_complete\n".repeat(2));
}

#[tokio::test]
async fn copy_to_folder_copies_the_high_scores_once_and_notifications_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let photos_dir = dir.path().join("photos");
    let best = dir.path().join("best");
    std::fs::create_dir_all(&photos_dir).unwrap();
    std::fs::create_dir_all(&best).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let mut photos = Vec::new();
    for (name, score) in [("a.jpg", 9.5), ("b.jpg", 7.0), ("c.jpg", 9.0)] {
        let path = photos_dir.join(name);
        std::fs::write(&path, format!("pixels of {name}")).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        photos.push(photo(path.to_str().unwrap(), score, false));
    }
    // Someone else's a.jpg is already in the folder.
    std::fs::write(best.join("a.jpg"), "another photo").unwrap();
    let store = facet_store::Store::open(&dir.path().join("store")).unwrap();
    let p = plugins(json!({
        "enabled": true,
        "directory": dir.path().join("no-plugins"),
        "actions": {
            "keep_best": {"event": "on_score_complete", "action": "copy_to_folder",
                          "folder": best, "min_score": 9.0},
            "tell_me": {"event": "on_high_score", "action": "send_notification"}
        }
    }));
    let events = p.score_events(&photos);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 4);
    let d = p.deliver(&store, Duration::from_secs(60)).await.unwrap();
    assert_eq!((d.delivered, d.failures.len()), (4, 0), "{d:?}");
    let mut notes = d.notifications.clone();
    notes.sort();
    assert_eq!(
        notes,
        [
            format!("notification: on_high_score {} 9.5", photos[0].path),
            format!("notification: on_high_score {} 9.0", photos[2].path),
        ]
    );
    // Enqueued and delivered again: nothing more.
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 0);
    let again = p.deliver(&store, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.delivered, 0);
    let mut names: Vec<String> = std::fs::read_dir(&best)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a (2).jpg", "a.jpg", "c.jpg"]);
    assert_eq!(
        std::fs::read_to_string(best.join("a.jpg")).unwrap(),
        "another photo"
    );
    assert_eq!(
        std::fs::read_to_string(best.join("a (2).jpg")).unwrap(),
        "pixels of a.jpg"
    );
    for n in ["a (2).jpg", "c.jpg"] {
        assert_eq!(
            std::fs::metadata(best.join(n)).unwrap().modified().unwrap(),
            old
        );
    }
    // A fresh store (the outbox lost): the copies are found, not repeated.
    let store2 = facet_store::Store::open(&dir.path().join("store2")).unwrap();
    p.enqueue(&store2, &events).await.unwrap();
    let d = p.deliver(&store2, Duration::from_secs(60)).await.unwrap();
    assert_eq!(d.failures.len(), 0);
    assert_eq!(std::fs::read_dir(&best).unwrap().count(), 3);
}

#[tokio::test]
async fn nothing_is_emitted_when_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let store = facet_store::Store::open(dir.path()).unwrap();
    let p = plugins(json!({
        "directory": dir.path().join("none"),
        "webhooks": [{"url": "https://hooks.example.com/x"}]
    }));
    assert!(!p.enabled());
    let photos = [photo("/p/1.jpg", 9.9, true)];
    assert!(p.score_events(&photos).is_empty());
    let enabled = plugins(json!({"enabled": true, "directory": dir.path().join("none")}));
    let events = enabled.score_events(&photos);
    assert_eq!(events.len(), 3);
    assert_eq!(p.enqueue(&store, &events).await.unwrap(), 0);
    assert!(outbox::all(&store).await.unwrap().is_empty());
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("plugins.enabled is false"))
    );
}

#[test]
fn load_reads_the_configuration_and_names_bad_paths() {
    let mut config = facet_config::FacetConfig::default();
    assert!(!Plugins::load(&config).unwrap().enabled());
    config.other.insert(
        "plugins".into(),
        json!({"enabled": true, "directory": "/nonexistent/facet-plugins",
               "webhooks": [{"url": "https://hooks.example.com/x"}]}),
    );
    let p = Plugins::load(&config).unwrap();
    assert!(p.enabled());
    let w = p.warnings();
    assert!(w.iter().any(|w| w.contains("not signed")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("not a folder")), "{w:?}");
    config.other.insert(
        "plugins".into(),
        json!({"webhooks": [{"url": "https://a.example", "events": ["on_score_complete", "on_photo"]}]}),
    );
    let e = Plugins::load(&config).unwrap_err().to_string();
    assert!(
        e.starts_with("plugins.webhooks[0].events[1]: unknown variant `on_photo`"),
        "{e}"
    );
    assert!(e.contains("on_new_photo"), "{e}");
}
