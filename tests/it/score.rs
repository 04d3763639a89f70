//! Scores after a run, `facet recompute` after a weight edit, and bad configs.

use std::fs;

use crate::common::*;

fn library(dir: &std::path::Path) {
    fs::create_dir_all(dir).unwrap();
    for seed in 0..5 {
        fs::write(dir.join(format!("p{seed}.jpg")), jpeg(640, 480, seed)).unwrap();
    }
    // A dark photo: the `night` category (luminance ≤ 0.15).
    let dark = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([((x ^ y) % 20) as u8, 5, 10]));
    dark.save(dir.join("dark.png")).unwrap();
}

fn scores(store: &std::path::Path) -> Vec<(String, String, f64)> {
    sql_json(
        store,
        "SELECT path, category, aggregate FROM photos ORDER BY path",
    )
    .iter()
    .map(|r| {
        (
            r["path"].as_str().unwrap().to_string(),
            r["category"].as_str().unwrap().to_string(),
            r["aggregate"].as_f64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn run_scores_and_recompute_follows_weight_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    let r = run_in(t, &["run", "photos", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let store = t.join("facet-data");
    let by_cat = sql_json(
        &store,
        "SELECT category, count(*) AS n, avg(aggregate) AS avg FROM photos GROUP BY category ORDER BY category",
    );
    assert!(!by_cat.is_empty());
    let before = scores(&store);
    assert_eq!(before.len(), 6);
    assert!(
        before
            .iter()
            .any(|(p, c, _)| p.ends_with("dark.png") && c == "night"),
        "{before:?}"
    );
    for (_, _, a) in &before {
        assert!((0.0..=10.0).contains(a));
    }
    let critiques = sql_json(&store, "SELECT score_breakdown FROM photos");
    for c in critiques {
        let items: serde_json::Value =
            serde_json::from_str(c["score_breakdown"].as_str().unwrap()).unwrap();
        assert!(
            items
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["kind"] == "metric"),
            "{items}"
        );
    }

    // Shift weight within the `default` category and recompute: only default photos change.
    let mut config = serde_json::json!({});
    let mut cats: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("config/default_categories.json")).unwrap(),
    )
    .unwrap();
    for c in cats.as_array_mut().unwrap() {
        if c["name"] == "default" {
            let w = c["weights"].as_object_mut().unwrap();
            let (big, _) = w
                .iter()
                .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap();
            let other = if big == "exposure_percent" {
                "contrast_percent"
            } else {
                "exposure_percent"
            };
            let moved = 10.0_f64.min(w[&big].as_f64().unwrap());
            w.insert(
                big.clone(),
                serde_json::json!(w[&big].as_f64().unwrap() - moved),
            );
            let o = w.get(other).and_then(|v| v.as_f64()).unwrap_or(0.0);
            w.insert(other.to_string(), serde_json::json!(o + moved));
        }
    }
    config["categories"] = cats;
    fs::write(
        t.join("scoring_config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let scored_at = |store: &std::path::Path| -> Vec<(String, i64)> {
        sql_json(
            store,
            "SELECT path, CAST(scored_at AS BIGINT) AS at FROM scores ORDER BY path",
        )
        .into_iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["at"].as_i64().unwrap(),
            )
        })
        .collect()
    };
    let at_before = scored_at(&store);
    let in_default = before.iter().filter(|(_, c, _)| c == "default").count();
    assert!(in_default > 0 && in_default < before.len(), "{before:?}");
    let re = run_in(t, &["recompute"]);
    assert_eq!(re.status, 0, "{}", re.stderr);
    assert!(
        re.stdout.contains(&format!(
            "{in_default} photos re-scored, {} unchanged",
            before.len() - in_default
        )),
        "only the edited category is re-scored: {}",
        re.stdout
    );
    let at_after = scored_at(&store);
    for ((p, b), (_, a)) in at_before.iter().zip(&at_after) {
        let cat = &before.iter().find(|r| &r.0 == p).unwrap().1;
        assert_eq!(
            cat == "default",
            b != a,
            "{p} ({cat}) rewritten: {}",
            b != a
        );
    }
    let again = run_in(t, &["recompute"]);
    assert!(
        again.stdout.contains("0 photos re-scored, 6 unchanged"),
        "{}",
        again.stdout
    );
    let after = scores(&store);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.1, a.1, "categories do not move");
        if b.1 != "default" {
            assert_eq!(b.2, a.2, "{} is not in the edited category", b.0);
        }
    }
    assert!(
        before
            .iter()
            .zip(&after)
            .any(|(b, a)| b.1 == "default" && b.2 != a.2),
        "some default photo changes: {before:?} {after:?}"
    );
}

#[test]
fn bad_config_stops_the_run_with_json_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    let mut cats: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("config/default_categories.json")).unwrap(),
    )
    .unwrap();
    let w = cats[0]["weights"].as_object_mut().unwrap();
    let k = w.keys().next().unwrap().clone();
    let v = w[&k].as_f64().unwrap();
    w.insert(k, serde_json::json!(v + 7.0));
    let config =
        serde_json::json!({"categories": cats, "processing": {"thumbnails": {"photo_quality": 0}}});
    fs::write(t.join("scoring_config.json"), config.to_string()).unwrap();
    let r = run_in(t, &["run", "photos", "--quiet"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("categories[0].weights"), "{}", r.stderr);
    assert!(
        r.stderr.contains("processing.thumbnails.photo_quality"),
        "{}",
        r.stderr
    );
    assert!(!t.join("facet-data").exists(), "the run did not start");
    let show = run_in(
        tmp.path(),
        &["--config", "/nonexistent.json", "config", "show"],
    );
    assert_ne!(show.status, 0);
    fs::remove_file(t.join("scoring_config.json")).unwrap();
    let show = run_in(t, &["config", "show"]);
    assert_eq!(show.status, 0);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(v["processing"]["thumbnails"]["photo_size"], 640);
    assert_eq!(v["categories"].as_array().unwrap().len(), 34);
}

#[test]
fn recommend_reports_on_the_scored_library() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    let r = run_in(t, &["run", "photos", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let rec = run_in(t, &["recommend", "--json"]);
    assert_eq!(rec.status, 0, "{}", rec.stderr);
    let report: serde_json::Value = serde_json::from_str(&rec.stdout).unwrap();
    assert_eq!(report["summary"]["photos"], 6, "{report}");
    let checks: Vec<&serde_json::Value> = report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    // No model measures aesthetics in the CPU pipeline: the report says so.
    assert!(
        checks.iter().any(|c| c["check"] == "missing_metric"
            && c["finding"].as_str().unwrap().contains("aesthetic")),
        "{report}"
    );
    // Six photos are fewer than any category's minimum sample.
    assert!(
        checks.iter().any(|c| c["check"] == "small_category"),
        "{report}"
    );
    let text = run_in(t, &["recommend"]);
    assert!(text.stdout.contains("6 scored photos"), "{}", text.stdout);
    assert!(text.stdout.contains("recommendation(s)"), "{}", text.stdout);
}

/// `SELECT` of every stored score column but the time it was written.
fn score_rows(store: &std::path::Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    sql_json(
        store,
        "SELECT path, category, aggregate, score_breakdown, top_picks_score, is_top_pick, scored_with \
         FROM scores ORDER BY path",
    )
}

/// Each folder of `folders` into `store`, one run per folder.
fn runs(t: &std::path::Path, store: &str, folders: &[&str]) -> Vec<Ran> {
    folders
        .iter()
        .map(|f| {
            let r = run_in(t, &["run", f, "--quiet", "--store", store]);
            assert_eq!(r.status, 0, "{}", r.stderr);
            r
        })
        .collect()
}

#[test]
fn a_run_that_adds_photos_scores_only_them_and_equals_a_full_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // 40 copies of one detailed photo hold the top of both normalized
    // metrics (sharpness, colour), so that the percentiles of 50 and of 60
    // photos are theirs: adding ten soft photos moves no percentile.
    let sharp = jpeg(800, 600, 7);
    // Soft and nearly one colour: under the detailed photo in both.
    let soft = |seed: u32| {
        let img = image::RgbImage::from_fn(800, 600, |x, y| {
            image::Rgb([(100 + x / 200 + seed) as u8, (100 + y / 300) as u8, 100])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    for (dir, range) in [("a", 0..10), ("b", 10..20)] {
        fs::create_dir_all(t.join(dir)).unwrap();
        for seed in range {
            fs::write(t.join(dir).join(format!("soft{seed}.jpg")), soft(seed)).unwrap();
        }
    }
    for i in 0..40 {
        fs::write(t.join("a").join(format!("sharp{i}.jpg")), &sharp).unwrap();
    }
    // Then 30 photos of another detail level: the percentiles move.
    fs::create_dir_all(t.join("c")).unwrap();
    for seed in 0..30 {
        fs::write(
            t.join("c").join(format!("other{seed}.jpg")),
            jpeg(1200, 900, 100 + seed),
        )
        .unwrap();
    }

    let r = runs(t, "grown", &["a", "b", "c"]);
    assert!(
        r[0].stdout
            .contains("scores: every photo read (no score state yet)"),
        "{}",
        r[0].stdout
    );
    assert!(
        r[1].stdout
            .contains("10 photos scored (50 already current)")
            && !r[1].stdout.contains("every photo read"),
        "ten soft photos: only they are read and scored\n{}",
        r[1].stdout
    );
    assert!(
        r[2].stdout
            .contains("scores: every photo read (the fingerprint of"),
        "30 photos of other detail move a percentile's step\n{}",
        r[2].stdout
    );
    // A `facet recompute` with nothing new reads nothing.
    let again = run_in(t, &["recompute", "--store", "grown"]);
    assert!(
        again
            .stdout
            .contains("0 photos re-scored, 90 unchanged, 0 removed")
            && again.stdout.contains("only the photos analysed since read"),
        "{}",
        again.stdout
    );

    // One run over the same photos (one folder holding them all).
    fs::create_dir_all(t.join("all")).unwrap();
    for dir in ["a", "b", "c"] {
        for e in fs::read_dir(t.join(dir)).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), t.join("all").join(e.file_name())).unwrap();
        }
    }
    runs(t, "once", &["all"]);
    let strip = |rows: Vec<serde_json::Map<String, serde_json::Value>>| {
        rows.into_iter()
            .map(|mut r| {
                let p = r["path"].as_str().unwrap().to_string();
                let name = std::path::Path::new(&p).file_name().unwrap().to_owned();
                r.insert(
                    "path".into(),
                    serde_json::Value::String(name.to_string_lossy().into_owned()),
                );
                r
            })
            .collect::<Vec<_>>()
    };
    let mut grown = strip(score_rows(&t.join("grown")));
    let mut once = strip(score_rows(&t.join("once")));
    grown.sort_by_key(|r| r["path"].as_str().unwrap().to_string());
    once.sort_by_key(|r| r["path"].as_str().unwrap().to_string());
    assert_eq!(grown.len(), 90);
    assert_eq!(grown, once, "three runs score as one run does");
}
