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
