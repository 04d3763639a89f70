//! Live mode: `facet watch` on a folder while files are copied in, moved and
//! deleted; the store and a `facet serve` beside it follow each change
//! within a bounded time, and the final scores and groups equal those of a
//! one-shot `facet run` over the same final folder.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::gallery::Server;

/// A `facet watch` child and the lines it printed so far.
struct Watching {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    fn start(lib: &Path, store: &Path) -> Watching {
        Watching::start_with(facet(), None, lib, store)
    }

    /// `cmd watch [PIPELINE] LIB` (from the checkout's root).
    fn start_with(mut cmd: Command, pipeline: Option<&str>, lib: &Path, store: &Path) -> Watching {
        cmd.current_dir(root()).arg("watch");
        if let Some(p) = pipeline {
            cmd.arg(p);
        }
        let mut child = cmd
            .arg(lib)
            .arg("--store")
            .arg(store)
            .args(["--settle-ms", "300", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    out.lock().unwrap().push(line);
                }
            });
        }
        let w = Watching { child, out };
        w.wait_for("watching ");
        w
    }

    fn printed(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    /// Lines printed so far.
    fn lines(&self) -> usize {
        self.out.lock().unwrap().len()
    }

    /// What was printed after the first `from` lines.
    fn printed_since(&self, from: usize) -> String {
        self.out.lock().unwrap()[from..].join("\n")
    }

    /// Waits (60 s at most) until a line contains `what`.
    fn wait_for(&self, what: &str) {
        self.wait_for_since(0, what)
    }

    /// Waits (60 s at most) until a line after the first `from` contains `what`.
    fn wait_for_since(&self, from: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.out.lock().unwrap()[from..]
            .iter()
            .any(|l| l.contains(what))
        {
            assert!(
                Instant::now() < deadline,
                "facet watch never printed {what:?}:\n{}",
                self.printed()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The paths `/api/photos` lists (every hiding off but the missing one's).
fn listed(server: &Server) -> Vec<String> {
    crate::lifecycle::listed(server, "")
}

/// Waits (60 s at most) until the gallery lists exactly `want`; returns how
/// long that took.
fn until_listed(server: &Server, want: &[String], w: &Watching) -> Duration {
    let started = Instant::now();
    let mut want = want.to_vec();
    want.sort();
    loop {
        let now = listed(server);
        if now == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gallery lists {now:?}, not {want:?}\nwatch printed:\n{}",
            w.printed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Scores and group partitions by file name (relative to the library).
fn results(store: &Path, lib: &Path) -> (BTreeMap<String, String>, Vec<Vec<String>>) {
    let rel = |p: &str| {
        p.strip_prefix(&format!("{}/", lib.display()))
            .unwrap_or(p)
            .to_string()
    };
    let scores = sql_json(store, "SELECT path, category, aggregate FROM scores")
        .into_iter()
        .map(|r| {
            (
                rel(r["path"].as_str().unwrap()),
                format!("{:?} {:?}", r.get("category"), r.get("aggregate")),
            )
        })
        .collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in sql_json(
        store,
        "SELECT path, duplicate_group_id, burst_group_id, similar_group_id FROM photo_groups",
    ) {
        for kind in ["duplicate_group_id", "burst_group_id", "similar_group_id"] {
            if let Some(id) = r.get(kind).and_then(|v| v.as_str()) {
                groups
                    .entry(format!("{kind}:{id}"))
                    .or_default()
                    .push(rel(r["path"].as_str().unwrap()));
            }
        }
    }
    // Ids hash a member's path: compare each kind's partition of the photos.
    let mut parts: Vec<Vec<String>> = groups
        .into_iter()
        .map(|(key, mut v)| {
            v.sort();
            v.insert(0, key.split(':').next().unwrap_or_default().to_string());
            v
        })
        .collect();
    parts.sort();
    (scores, parts)
}

#[test]
fn watch_follows_copies_moves_and_deletions_as_a_run_would() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for i in 0..3 {
        std::fs::write(lib.join(format!("a{i}.jpg")), jpeg(160, 120, 31 + i)).unwrap();
    }
    let store = tmp.path().join("store");
    let w = Watching::start(&lib, &store);
    assert!(w.printed().contains("3 analysed"), "{}", w.printed());
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, "{}").unwrap();
    let server = Server::start(&store, &config);
    let mut want: Vec<String> = (0..3).map(|i| s(&lib.join(format!("a{i}.jpg")))).collect();
    until_listed(&server, &want, &w);

    // New photos copied in (one a byte copy of a0: a duplicate), written
    // the way a copy writes them (a staging name, renamed when complete).
    std::fs::create_dir_all(lib.join("phone")).unwrap();
    for i in 0..2 {
        let part = lib.join(format!("phone/.b{i}.jpg.part"));
        std::fs::write(&part, jpeg(160, 120, 41 + i)).unwrap();
        std::fs::rename(&part, lib.join(format!("phone/b{i}.jpg"))).unwrap();
        want.push(s(&lib.join(format!("phone/b{i}.jpg"))));
    }
    std::fs::copy(lib.join("a0.jpg"), lib.join("phone/copy-of-a0.jpg")).unwrap();
    want.push(s(&lib.join("phone/copy-of-a0.jpg")));
    let shown = until_listed(&server, &want, &w);
    eprintln!("new photos listed after {shown:?}");
    assert_eq!(
        sql_json(&store, "SELECT count(*) AS n FROM photos")[0]["n"],
        6
    );

    // A move: the row follows, nothing is analysed again.
    let mark = w.lines();
    std::fs::create_dir_all(lib.join("sorted")).unwrap();
    std::fs::rename(lib.join("a1.jpg"), lib.join("sorted/a1-best.jpg")).unwrap();
    want.retain(|p| !p.ends_with("/a1.jpg"));
    want.push(s(&lib.join("sorted/a1-best.jpg")));
    until_listed(&server, &want, &w);
    w.wait_for("1 moved");
    assert!(
        w.printed().contains("0 analysed, 0 failed, 1 moved"),
        "{}",
        w.printed()
    );
    assert_eq!(
        sql_json(&store, "SELECT count(*) AS n FROM photos")[0]["n"],
        6,
        "a move adds no row"
    );

    // The move was scored by the live collection, not by reading the library.
    assert!(
        !w.printed_since(mark).contains("every photo read"),
        "{}",
        w.printed()
    );

    // An edit in place (the photo re-touched): analysed again, its score
    // follows, the library is not read.
    let edited = lib.join("phone/b1.jpg");
    let before = sql_json(
        &store,
        &format!(
            "SELECT analyzed_at FROM photos WHERE path = '{}'",
            s(&edited)
        ),
    );
    let mark = w.lines();
    std::fs::write(&edited, jpeg(320, 240, 77)).unwrap();
    w.wait_for_since(mark, "1 analysed");
    let after = sql_json(
        &store,
        &format!(
            "SELECT analyzed_at FROM photos WHERE path = '{}'",
            s(&edited)
        ),
    );
    assert_ne!(before, after, "the edited photo is analysed again");
    assert!(
        !w.printed_since(mark).contains("every photo read"),
        "{}",
        w.printed()
    );

    // A deletion: marked missing, hidden by the gallery.
    std::fs::remove_file(lib.join("a2.jpg")).unwrap();
    want.retain(|p| !p.ends_with("/a2.jpg"));
    until_listed(&server, &want, &w);
    assert_eq!(
        sql_json(
            &store,
            "SELECT path FROM photos WHERE missing_since IS NOT NULL"
        )[0]["path"],
        s(&lib.join("a2.jpg"))
    );
    drop(server);
    drop(w);

    // The same final folder, analysed once.
    let pruned = run_in(tmp.path(), &["prune", "--store", store.to_str().unwrap()]);
    assert_eq!(pruned.status, 0, "{}", pruned.stderr);
    let once = tmp.path().join("once");
    let r = run_into(facet(), None, &lib, &once, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let (live, live_groups) = results(&store, &lib);
    let (oneshot, oneshot_groups) = results(&once, &lib);
    assert_eq!(live, oneshot, "scores: live vs one-shot");
    assert_eq!(live_groups, oneshot_groups, "groups: live vs one-shot");
    assert!(
        live_groups.iter().any(|g| g[0] == "duplicate_group_id"
            && g.contains(&"a0.jpg".to_string())
            && g.contains(&"phone/copy-of-a0.jpg".to_string())),
        "{live_groups:?}"
    );
}

#[test]
fn serve_watch_shows_a_photo_dropped_into_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("first.jpg"), jpeg(160, 120, 51)).unwrap();
    let store = tmp.path().join("store");
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, "{}").unwrap();
    let server = Server::start_with(
        facet(),
        &store,
        &config,
        &["--watch", lib.to_str().unwrap()],
    );
    let mut want = vec![s(&lib.join("first.jpg"))];
    // Found by the watcher's first pass or by its notifications (it
    // listens before that pass begins): either way, listed.
    std::fs::write(lib.join("second.jpg"), jpeg(160, 120, 52)).unwrap();
    want.push(s(&lib.join("second.jpg")));
    let started = Instant::now();
    let mut now = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        now = listed(&server);
        if now == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("facet serve --watch never listed the new photo: {now:?}");
}

/// Faces grouped by person, each face as `<file>#<index>`: a partition of
/// the faces (person ids differ between stores).
fn people(store: &Path) -> Vec<Vec<String>> {
    let mut by: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in sql_json(
        store,
        "SELECT path, face_index, person_id FROM faces WHERE person_id IS NOT NULL",
    ) {
        let file = Path::new(r["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        by.entry(r["person_id"].as_i64().unwrap())
            .or_default()
            .push(format!("{file}#{}", r["face_index"]));
    }
    let mut parts: Vec<Vec<String>> = by
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    parts.sort();
    parts
}

#[test]
fn watch_keeps_people_as_a_run_would() {
    const FACES: &str = "tests/pipelines/models/faces.yaml";
    let src = shared_photos()
        .expect("../shared/photos is part of the checkout's CI")
        .join("faces");
    shared_models().expect("../shared/models is part of the checkout's CI");
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for i in 1..=3 {
        std::fs::copy(
            src.join(format!("sample{i}.jpg")),
            lib.join(format!("sample{i}.jpg")),
        )
        .unwrap();
    }
    let store = tmp.path().join("store");
    let w = Watching::start_with(facet_ort(), Some(FACES), &lib, &store);
    // Three more photos of the same people, then a move and a deletion.
    for i in 4..=6 {
        std::fs::copy(
            src.join(format!("sample{i}.jpg")),
            lib.join(format!("sample{i}.jpg")),
        )
        .unwrap();
    }
    let started = Instant::now();
    while sql_json(&store, "SELECT count(*) AS n FROM photos")[0]["n"] != 6 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the new photos were never stored:\n{}",
            w.printed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::create_dir_all(lib.join("kept")).unwrap();
    std::fs::rename(lib.join("sample2.jpg"), lib.join("kept/sample2.jpg")).unwrap();
    w.wait_for("1 moved");
    std::fs::remove_file(lib.join("sample5.jpg")).unwrap();
    w.wait_for("1 missing");
    drop(w);
    let prune = |store: &Path| {
        let r = run_in(tmp.path(), &["prune", "--store", store.to_str().unwrap()]);
        assert_eq!(r.status, 0, "{}", r.stderr);
    };
    prune(&store);

    // The same steps, each followed by a one-shot run: people are assigned
    // incrementally (the clusters found first keep their faces), so live
    // mode is held to what runs after each change give.
    let steps = tmp.path().join("steps");
    let ran = tmp.path().join("ran");
    std::fs::create_dir_all(&steps).unwrap();
    let run = || {
        let r = run_into(facet_ort(), Some(FACES), &steps, &ran, &[]);
        assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    };
    for i in 1..=3 {
        std::fs::copy(
            src.join(format!("sample{i}.jpg")),
            steps.join(format!("sample{i}.jpg")),
        )
        .unwrap();
    }
    run();
    for i in 4..=6 {
        std::fs::copy(
            src.join(format!("sample{i}.jpg")),
            steps.join(format!("sample{i}.jpg")),
        )
        .unwrap();
    }
    run();
    std::fs::create_dir_all(steps.join("kept")).unwrap();
    std::fs::rename(steps.join("sample2.jpg"), steps.join("kept/sample2.jpg")).unwrap();
    run();
    std::fs::remove_file(steps.join("sample5.jpg")).unwrap();
    run();
    prune(&ran);
    let (live, oneshot) = (people(&store), people(&ran));
    assert!(live.len() >= 2, "people were found: {live:?}");
    assert_eq!(live, oneshot, "people: live vs runs after each change");
    assert_eq!(results(&store, &lib), results(&ran, &steps));
}
