//! A library that stays true to the disk: a folder moved and a file renamed
//! keep their rows and user state without being analysed again; an edited
//! file is analysed again and keeps its user state; byte copies stay two
//! photos; deleted files are marked missing and hidden by the
//! gallery; a root that is gone is an error that marks nothing; `facet
//! prune` lists, then removes, the missing photos with their rows.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;
use crate::gallery::{Server, http_json};

pub(crate) fn post(server: &Server, route: &str, body: Value) -> Value {
    let text = ureq::post(&format!("{}{route}", server.url))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{route}: {e}"))
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{route}: {e}: {text}"))
}

fn count(store: &Path, table: &str, filter: &str) -> i64 {
    sql_json(
        store,
        &format!("SELECT count(*) AS n FROM {table} {filter}"),
    )[0]["n"]
        .as_i64()
        .unwrap()
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The paths `/api/photos` lists (every hiding off but the missing one).
pub(crate) fn listed(server: &Server, extra: &str) -> Vec<String> {
    let (status, v) = http_json(&format!(
        "{}/api/photos?per_page=100&hide_bursts=false&hide_duplicates=false&hide_rejected=false&hide_blinks=false{extra}",
        server.url
    ));
    assert_eq!(status, 200, "{v}");
    let mut out: Vec<String> = v["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn moves_copies_missing_files_and_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let (a, b) = (lib.join("a"), lib.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for i in 0..4 {
        std::fs::write(a.join(format!("p{i}.jpg")), jpeg(96, 64, 11 + i)).unwrap();
    }
    // A byte copy of p0 in another folder: two photos, one duplicate group.
    std::fs::copy(a.join("p0.jpg"), b.join("p0.jpg")).unwrap();
    let store = tmp.path().join("store");
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("5 analysed"), "{}", r.stdout);
    assert_eq!(count(&store, "photos", ""), 5);
    assert_eq!(
        count(&store, "photos", "WHERE content_hash IS NOT NULL"),
        5,
        "every analysed photo has its content hash"
    );
    let dup = sql_json(
        &store,
        "SELECT count(DISTINCT duplicate_group_id) AS n FROM photo_groups WHERE duplicate_group_id IS NOT NULL",
    );
    assert_eq!(dup[0]["n"], 1, "the two copies are one duplicate group");

    // User state on the old paths, through the gallery and the CLI.
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, "{}").unwrap();
    {
        let server = Server::start(&store, &config);
        post(
            &server,
            "/api/rating",
            json!({"path": p(&a, "p1.jpg"), "rating": 4}),
        );
        post(
            &server,
            "/api/favorite",
            json!({"path": p(&a, "p2.jpg"), "favorite": true}),
        );
        let album = post(&server, "/api/albums", json!({"name": "trip"}));
        let id = album["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{album}"))
            .to_string();
        post(
            &server,
            "/api/album/photos",
            json!({"id": id, "add": [p(&a, "p3.jpg")]}),
        );
    }
    let r = ran(facet()
        .args(["groups", "keep-all"])
        .arg(p(&a, "p0.jpg"))
        .args(["--kind", "duplicate", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);

    // The folder moved and renamed, one file renamed in it.
    let moved = lib.join("moved");
    std::fs::rename(&a, &moved).unwrap();
    std::fs::rename(moved.join("p1.jpg"), moved.join("renamed.jpg")).unwrap();
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(" 0 analysed"),
        "nothing analysed again: {}",
        r.stdout
    );
    assert!(r.stdout.contains("4 moved"), "{}", r.stdout);
    assert_eq!(count(&store, "photos", ""), 5, "no ghost rows");
    assert_eq!(
        count(
            &store,
            "photos",
            &format!("WHERE path LIKE '{}%'", a.display())
        ),
        0
    );
    let rating = sql_json(
        &store,
        "SELECT path, rating FROM user_state WHERE rating = 4",
    );
    assert_eq!(rating.len(), 1);
    assert_eq!(rating[0]["path"], p(&moved, "renamed.jpg"));
    let fav = sql_json(&store, "SELECT path FROM user_state WHERE favorite");
    assert_eq!(fav[0]["path"], p(&moved, "p2.jpg"));
    let entry = sql_json(&store, "SELECT entry_id, album_id, path FROM album_photos");
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0]["path"], p(&moved, "p3.jpg"));
    assert_eq!(
        entry[0]["entry_id"].as_str().unwrap(),
        format!(
            "{}:{}",
            entry[0]["album_id"].as_str().unwrap(),
            p(&moved, "p3.jpg")
        )
    );
    let decision = sql_json(&store, "SELECT decision_key, path FROM group_decisions");
    assert_eq!(decision.len(), 1);
    assert_eq!(decision[0]["path"], p(&moved, "p0.jpg"));
    assert_eq!(
        decision[0]["decision_key"],
        format!("duplicate:{}", p(&moved, "p0.jpg"))
    );
    assert_eq!(count(&store, "scores", ""), 5);
    assert_eq!(
        count(&store, "moves", ""),
        0,
        "the journal is empty once applied"
    );
    // A third run finds everything unchanged.
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert!(
        r.stdout.contains(" 0 analysed") && r.stdout.contains("5 skipped"),
        "{}",
        r.stdout
    );

    // An edited file (same path, new bytes) is analysed again, keeps its
    // user state and gets its new content hash.
    let renamed = p(&moved, "renamed.jpg");
    let hash_of = |store: &Path| {
        sql_json(
            store,
            &format!("SELECT content_hash FROM photos WHERE path = '{renamed}'"),
        )[0]["content_hash"]
            .clone()
    };
    let before = hash_of(&store);
    std::fs::write(&renamed, jpeg(96, 64, 99)).unwrap();
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert!(r.stdout.contains(" 1 analysed"), "{}", r.stdout);
    assert_ne!(hash_of(&store), before);
    let rating = sql_json(&store, "SELECT path FROM user_state WHERE rating = 4");
    assert_eq!(rating[0]["path"], renamed.as_str());
    assert_eq!(count(&store, "photos", ""), 5);

    // A byte copy whose original is still there is a new photo.
    std::fs::create_dir_all(lib.join("c")).unwrap();
    std::fs::copy(moved.join("p3.jpg"), lib.join("c/p3.jpg")).unwrap();
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert!(r.stdout.contains(" 1 analysed"), "{}", r.stdout);
    assert_eq!(count(&store, "photos", ""), 6);

    // A root that is gone: an error naming it, nothing marked missing.
    let gone = tmp.path().join("unmounted");
    let r = run_into(facet(), None, &gone, &store, &[]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains(&*gone.to_string_lossy()), "{}", r.stderr);
    assert_eq!(
        count(&store, "photos", "WHERE missing_since IS NOT NULL"),
        0
    );

    // A deleted file is marked missing and hidden by the gallery.
    std::fs::remove_file(moved.join("p2.jpg")).unwrap();
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("1 missing"), "{}", r.stdout);
    let missing = sql_json(
        &store,
        "SELECT path FROM photos WHERE missing_since IS NOT NULL",
    );
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["path"], p(&moved, "p2.jpg"));
    {
        let server = Server::start(&store, &config);
        let shown = listed(&server, "");
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert!(!shown.contains(&p(&moved, "p2.jpg")));
        assert_eq!(listed(&server, "&show_missing=true").len(), 6);
    }

    // Prune: the dry run lists, the real one removes its rows everywhere.
    let prune = |extra: &[&str]| {
        ran(facet()
            .arg("prune")
            .args(extra)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap())
    };
    let r = prune(&["--dry-run"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&p(&moved, "p2.jpg")), "{}", r.stdout);
    assert!(
        r.stdout.contains("user_state: 1 row(s) would be removed"),
        "{}",
        r.stdout
    );
    assert_eq!(count(&store, "photos", ""), 6);
    let r = prune(&[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("photos: 1 row(s) removed"),
        "{}",
        r.stdout
    );
    assert_eq!(count(&store, "photos", ""), 5);
    let gone = p(&moved, "p2.jpg");
    for table in ["photos", "scores", "user_state", "photo_groups"] {
        assert_eq!(
            count(&store, table, &format!("WHERE path = '{gone}'")),
            0,
            "{table} keeps a row of the pruned photo"
        );
    }
    let r = prune(&["--dry-run"]);
    assert!(r.stdout.contains("0 missing photo(s)"), "{}", r.stdout);
}

/// The look for moved photos walks the folders as the pipeline's own scan
/// does: with `skip_hidden_directories: false` in the pipeline (the
/// configuration says true), a photo moved into a hidden folder is a move,
/// not a new photo beside a missing one.
#[test]
fn moves_are_found_with_the_pipelines_scan_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(lib.join("a")).unwrap();
    for i in 0..2 {
        std::fs::write(lib.join(format!("a/p{i}.jpg")), jpeg(160, 120, 61 + i)).unwrap();
    }
    let cpu = std::fs::read_to_string(root().join("pipelines/cpu.yaml")).unwrap();
    let scan = "  scan:      { uses: scan }";
    assert!(cpu.contains(scan), "{cpu}");
    let pipeline = tmp.path().join("hidden-too.yaml");
    std::fs::write(
        &pipeline,
        cpu.replace(
            scan,
            "  scan:      { uses: scan, with: { skip_hidden_directories: false } }",
        ),
    )
    .unwrap();
    let store = tmp.path().join("store");
    let pipeline = pipeline.to_str().unwrap();
    let r = run_into(facet(), Some(pipeline), &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    std::fs::create_dir_all(lib.join(".sorted")).unwrap();
    std::fs::rename(lib.join("a/p0.jpg"), lib.join(".sorted/p0.jpg")).unwrap();
    let r = run_into(facet(), Some(pipeline), &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 moved (kept, not analysed), 0 missing"),
        "{}",
        r.stdout
    );
    assert_eq!(count(&store, "photos", ""), 2);
    assert_eq!(
        count(
            &store,
            "photos",
            &format!("WHERE path = '{}'", p(&lib, ".sorted/p0.jpg"))
        ),
        1
    );
}
