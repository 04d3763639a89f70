//! A run killed with SIGKILL leaves a readable store; the next run completes the
//! work with exactly one row per photo and the same values as an uninterrupted run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

const PHOTOS: u32 = 48;

fn versions(store: &Path) -> usize {
    std::fs::read_dir(store.join("photos.lance/_versions"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn values(store: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    sql_json(
        store,
        "SELECT path, file_size, width, height, phash, camera_make, date_taken, gps_lat FROM photos ORDER BY path",
    )
}

#[test]
fn sigkill_midway_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let photos = t.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..PHOTOS {
        std::fs::write(
            photos.join(format!("p{i:03}.jpg")),
            jpeg_with_exif(1600, 1200, i, &META),
        )
        .unwrap();
    }
    let pipeline = root().join("pipelines/cpu.yaml");
    let killed_store = t.join("killed");
    let mut child = facet()
        .arg("run")
        .arg(&pipeline)
        .arg(&photos)
        .args([
            "--quiet",
            "--workers",
            "1",
            "--batch",
            "1",
            "--commit-every",
            "2",
            "--store",
        ])
        .arg(&killed_store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a few commits have landed, well before the end.
    let start = Instant::now();
    while versions(&killed_store) < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed: make it longer"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no commit within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let partial = values(&killed_store);
    assert!(
        !partial.is_empty() && partial.len() < PHOTOS as usize,
        "killed midway: {} rows",
        partial.len()
    );

    let resume = run_in(
        t,
        &[
            "run",
            pipeline.to_str().unwrap(),
            photos.to_str().unwrap(),
            "--quiet",
            "--store",
            killed_store.to_str().unwrap(),
        ],
    );
    assert_eq!(resume.status, 0, "{}", resume.stderr);
    assert!(
        resume
            .stdout
            .contains(&format!("{} skipped", partial.len())),
        "already stored photos are skipped: {}",
        resume.stdout
    );

    let whole_store = t.join("whole");
    let whole = run_in(
        t,
        &[
            "run",
            pipeline.to_str().unwrap(),
            photos.to_str().unwrap(),
            "--quiet",
            "--store",
            whole_store.to_str().unwrap(),
        ],
    );
    assert_eq!(whole.status, 0, "{}", whole.stderr);

    let resumed = values(&killed_store);
    assert_eq!(resumed.len(), PHOTOS as usize, "exactly one row per photo");
    assert_eq!(
        resumed,
        values(&whole_store),
        "same values as an uninterrupted run"
    );
}

/// `facet run` of the faces pipeline over the group photos into `store`, one
/// photo per batch and per commit; with `failpoint` (`NAME=ACTIONS`) it is
/// SIGKILLed when it reports that point, and must report it.
fn faces_run(photos: &Path, store: &Path, failpoint: Option<&str>) {
    use std::io::BufRead;
    let mut cmd = facet_ort();
    cmd.current_dir(root())
        .args(["run", "tests/pipelines/models/faces.yaml"])
        .arg(photos)
        .arg("--store")
        .arg(store)
        .args([
            "--quiet",
            "--workers",
            "1",
            "--batch",
            "1",
            "--commit-every",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(f) = failpoint {
        cmd.env("FAILPOINTS", f);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut reached = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.starts_with("facet-failpoint ") {
            reached = true;
            child.kill().unwrap(); // SIGKILL, while it waits at the point
            break;
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    match failpoint {
        Some(f) => assert!(reached, "{f} was never reached: {}", seen.join("\n")),
        None => assert!(status.success(), "{}", seen.join("\n")),
    }
}

/// Every table a run writes, without the times of the writes.
fn tables(store: &Path) -> Vec<Vec<serde_json::Map<String, serde_json::Value>>> {
    [
        "SELECT path, file_size, face_count, face_quality, is_blink, phash, category, aggregate, \
         score_breakdown, top_picks_score, burst_group_id, duplicate_group_id FROM photos ORDER BY path",
        "SELECT face_id, path, confidence, is_blink, person_id FROM faces ORDER BY face_id",
        "SELECT person_id, name, representative_face, face_count, hidden FROM persons ORDER BY person_id",
        "SELECT path, category, aggregate, score_breakdown, is_top_pick, scored_with FROM scores ORDER BY path",
        "SELECT * EXCEPT (grouped_at) FROM photo_groups ORDER BY path",
        "SELECT path, stage, reason FROM failures ORDER BY path",
    ]
    .iter()
    .map(|q| sql_json(store, q))
    .collect()
}

#[test]
fn sigkill_at_every_commit_point_of_a_faces_run_loses_nothing() {
    let photos = shared_photos()
        .expect("../shared/photos is part of the checkout's CI")
        .join("faces");
    shared_models().expect("../shared/models is part of the checkout's CI");
    let tmp = tempfile::tempdir().unwrap();
    let killed = tmp.path().join("killed");
    // One store, killed again and again, each time at a later point: between
    // the faces and the photo rows of one batch, after a whole batch, after
    // the scores, after the groups, between the faces' persons and `persons`.
    for point in [
        "writer::children_committed=1*off->return",
        "writer::photos_committed=1*off->return",
        "writer::children_committed=return",
        "scores::written=return",
        "groups::written=return",
        "people::faces_written=return",
    ] {
        faces_run(&photos, &killed, Some(point));
        // Whatever the moment, the store opens and answers.
        let faces = sql_json(&killed, "SELECT count(*) AS n FROM faces");
        assert!(faces[0]["n"].as_i64().is_some(), "{point}: {faces:?}");
    }
    faces_run(&photos, &killed, None);
    let whole = tmp.path().join("whole");
    faces_run(&photos, &whole, None);
    let (after_kills, uninterrupted) = (tables(&killed), tables(&whole));
    assert!(
        uninterrupted[1].len() >= 10,
        "the photos' faces were found: {:?}",
        uninterrupted[1]
    );
    for (a, b) in after_kills.iter().zip(&uninterrupted) {
        assert_eq!(a, b, "every table equals an uninterrupted run's");
    }
}

/// The rows of [`tables`] with `from` (a folder's absolute path) written as
/// `<lib>` in every text value: two stores' rows compared across a move.
fn tables_under(store: &Path, from: &Path) -> Vec<Vec<serde_json::Map<String, serde_json::Value>>> {
    fn strip(v: &mut serde_json::Value, from: &str) {
        match v {
            serde_json::Value::String(s) => *s = s.replace(from, "<lib>"),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| strip(x, from)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| strip(x, from)),
            _ => {}
        }
    }
    let from = from.to_string_lossy().into_owned();
    let mut all = tables(store);
    for table in &mut all {
        for row in table.iter_mut() {
            row.values_mut().for_each(|v| strip(v, &from));
        }
        // Ordered by path before the paths were rewritten.
        table.sort_by_key(|r| serde_json::Value::Object(r.clone()).to_string());
    }
    all
}

#[test]
fn sigkill_while_a_moved_folder_is_applied_loses_nothing() {
    let faces = shared_photos()
        .expect("../shared/photos is part of the checkout's CI")
        .join("faces");
    shared_models().expect("../shared/models is part of the checkout's CI");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("lib/a"), tmp.path().join("lib/b"));
    std::fs::create_dir_all(&a).unwrap();
    for e in std::fs::read_dir(&faces).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), a.join(e.file_name())).unwrap();
        }
    }
    let store = tmp.path().join("store");
    faces_run(&a, &store, None);
    // A named person and a kept group decision hang off the old paths too.
    let person = sql_json(&store, "SELECT min(person_id) AS id FROM persons")[0]["id"]
        .as_i64()
        .expect("the photos' faces make people");
    let r = run_in(
        tmp.path(),
        &[
            "faces",
            "name",
            &person.to_string(),
            "Ada",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let before = tables_under(&store, &a);
    assert!(before[1].len() >= 10, "faces: {:?}", before[1]);

    // The folder moves; the runs that follow it are killed while the moves
    // are journaled but no table is rewritten, then after one table, then
    // after three.
    std::fs::rename(&a, &b).unwrap();
    for point in [
        "lifecycle::moves_journaled=return",
        "lifecycle::table_moved=1*off->return",
        "lifecycle::table_moved=3*off->return",
    ] {
        faces_run(&b, &store, Some(point));
        let n = sql_json(&store, "SELECT count(*) AS n FROM photos");
        assert!(n[0]["n"].as_i64().is_some(), "{point}: {n:?}");
    }
    faces_run(&b, &store, None);
    let after = tables_under(&store, &b);
    for (i, (x, y)) in after.iter().zip(&before).enumerate() {
        assert_eq!(x, y, "table {i}: every row followed the move, once");
    }
    let journal = sql_json(&store, "SELECT count(*) AS n FROM moves");
    assert_eq!(journal[0]["n"], 0, "the journal is cleared");
    let named = sql_json(&store, "SELECT name FROM persons WHERE name IS NOT NULL");
    assert_eq!(named.len(), 1, "{named:?}");
}
