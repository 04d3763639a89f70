//! `facet run` on generated photos: values, failures, resumability, SQL, export.

use std::fs;
use std::path::Path;

use crate::common::*;

fn library(dir: &Path) {
    fs::create_dir_all(dir.join(".cache")).unwrap();
    for seed in 0..6 {
        fs::write(
            dir.join(format!("img{seed}.jpg")),
            jpeg_with_exif(800, 600, seed, &META),
        )
        .unwrap();
    }
    let png = image::RgbImage::from_fn(320, 200, |x, y| image::Rgb([x as u8, y as u8, 9]));
    png.save(dir.join("plain.png")).unwrap();
    fs::write(dir.join("empty.jpg"), b"").unwrap();
    let whole = jpeg(640, 480, 9);
    fs::write(dir.join("cut.jpg"), &whole[..whole.len() / 2]).unwrap();
    fs::write(dir.join("garbage.jpg"), b"this is not a photo at all").unwrap();
    fs::write(dir.join("notes.txt"), b"not a photo").unwrap();
    fs::write(dir.join(".cache/hidden.jpg"), jpeg(64, 64, 1)).unwrap();
}

fn pipeline() -> String {
    root()
        .join("pipelines/cpu.yaml")
        .to_string_lossy()
        .into_owned()
}

fn run(tmp: &Path, extra: &[&str]) -> Ran {
    let store = tmp.join("store");
    let photos = tmp.join("photos");
    let mut args = vec![
        "run",
        pipeline().leak() as &str,
        photos.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(extra);
    let r = run_in(tmp, &args);
    assert_eq!(r.status, 0, "facet run failed:\n{}\n{}", r.stdout, r.stderr);
    r
}

#[test]
fn generated_library_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    let store = t.join("store");

    let first = run(t, &[]);
    assert!(
        first
            .stdout
            .contains("10 found, 7 analysed, 0 skipped (unchanged), 3 failed"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stderr
            .contains("empty.jpg: decode: empty file (0 bytes)"),
        "{}",
        first.stderr
    );

    // EXIF values, exactly as written.
    let rows = sql_json(
        &store,
        "SELECT path, camera_make, camera_model, lens, iso, f_number, shutter_speed, shutter_speed_text, focal_length, \
         focal_length_35mm, date_taken, gps_lat, gps_lon, gps_alt, width, height, format, phash, thumbnail IS NOT NULL AS has_thumb \
         FROM photos WHERE camera_make IS NOT NULL ORDER BY path",
    );
    assert_eq!(rows.len(), 6);
    let mut hashes = std::collections::HashSet::new();
    for r in &rows {
        assert_eq!(r["camera_make"], "Canon");
        assert_eq!(r["camera_model"], "Canon EOS R5");
        assert_eq!(r["lens"], "RF24-70mm F2.8 L IS USM");
        assert_eq!(r["iso"], 400);
        assert_eq!(r["f_number"].as_f64().unwrap(), 2.8);
        assert_eq!(r["shutter_speed"].as_f64().unwrap(), 0.004);
        assert_eq!(r["shutter_speed_text"], "1/250");
        assert_eq!(r["focal_length"].as_f64().unwrap(), 50.0);
        assert_eq!(r["focal_length_35mm"].as_f64().unwrap(), 50.0);
        assert_eq!(r["date_taken"], "2021-07-14T09:30:05.25+02:00");
        assert!(
            (r["gps_lat"].as_f64().unwrap() - degrees(META.lat)).abs() < 1e-9,
            "{}",
            r["gps_lat"]
        );
        assert!((r["gps_lon"].as_f64().unwrap() - degrees(META.lon)).abs() < 1e-9);
        assert!(
            (r["gps_alt"].as_f64().unwrap() + 12.5).abs() < 1e-9,
            "below sea level: {}",
            r["gps_alt"]
        );
        assert_eq!(
            (r["width"].as_i64(), r["height"].as_i64()),
            (Some(800), Some(600))
        );
        assert_eq!(r["format"], "jpeg");
        assert_eq!(r["has_thumb"], true);
        hashes.insert(r["phash"].as_i64().unwrap());
    }
    assert_eq!(hashes.len(), 6, "different photos hash differently");

    let failures = sql_json(
        &store,
        "SELECT path, stage, reason FROM failures ORDER BY path",
    );
    let failed: Vec<(String, String)> = failures
        .iter()
        .map(|r| {
            (
                Path::new(r["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed[0].0 == "cut.jpg" && failed[0].1.contains("truncated"),
        "{failed:?}"
    );
    assert!(
        failed[1].0 == "empty.jpg" && failed[1].1.contains("0 bytes"),
        "{failed:?}"
    );
    assert!(
        failed[2].0 == "garbage.jpg" && failed[2].1.contains("not a recognised image format"),
        "{failed:?}"
    );

    // A second run analyses nothing.
    let second = run(t, &[]);
    assert!(
        second
            .stdout
            .contains("10 found, 0 analysed, 10 skipped (unchanged), 0 failed"),
        "{}",
        second.stdout
    );

    // A changed file is analysed again, and a fixed one leaves the failures table.
    fs::write(t.join("photos/img0.jpg"), jpeg(400, 300, 42)).unwrap();
    fs::write(t.join("photos/cut.jpg"), jpeg(640, 480, 9)).unwrap();
    let third = run(t, &[]);
    assert!(third.stdout.contains("2 analysed"), "{}", third.stdout);
    let img0 = sql_json(
        &store,
        "SELECT width, camera_make FROM photos WHERE path LIKE '%img0.jpg'",
    );
    assert_eq!(img0.len(), 1);
    assert_eq!(img0[0]["width"], 400);
    assert!(img0[0].get("camera_make").is_none_or(|v| v.is_null()));
    assert_eq!(sql_json(&store, "SELECT path FROM failures").len(), 2);

    // --force analyses everything again, still one row per photo.
    let forced = run(t, &["--force"]);
    assert!(forced.stdout.contains("8 analysed"), "{}", forced.stdout);
    let dup = sql_json(
        &store,
        "SELECT path, count(*) AS n FROM photos GROUP BY path HAVING count(*) > 1",
    );
    assert!(dup.is_empty(), "{dup:?}");
    assert_eq!(
        sql_json(&store, "SELECT count(*) AS n FROM photos")[0]["n"],
        8
    );
}

#[test]
fn sql_formats_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    run(t, &[]);
    let store = t.join("store");
    let csv = ran(facet()
        .args(["sql", "--format", "csv", "--store"])
        .arg(&store)
        .arg("SELECT iso, camera_make FROM photos WHERE iso IS NOT NULL ORDER BY path LIMIT 2")
        .output()
        .unwrap());
    assert_eq!(csv.status, 0, "{}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines, ["iso,camera_make", "400,Canon", "400,Canon"]);
    let table = ran(facet()
        .args(["sql", "--store"])
        .arg(&store)
        .arg("SELECT count(*) AS photos FROM photos")
        .output()
        .unwrap());
    assert!(
        table.stdout.contains("| photos |") && table.stdout.contains("| 7      |"),
        "{}",
        table.stdout
    );
    let bad = ran(facet()
        .args(["sql", "--store"])
        .arg(&store)
        .arg("SELECT nope FROM photos")
        .output()
        .unwrap());
    assert_ne!(bad.status, 0);
    assert!(
        bad.stderr.contains("nope"),
        "DataFusion's message names the column: {}",
        bad.stderr
    );
    let syntax = ran(facet()
        .args(["sql", "--store"])
        .arg(&store)
        .arg("SELEKT 1")
        .output()
        .unwrap());
    assert_ne!(syntax.status, 0);
    assert!(syntax.stderr.contains("SELEKT"), "{}", syntax.stderr);
}

#[test]
fn parquet_export_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    run(t, &[]);
    let out = t.join("export");
    let r = ran(facet()
        .args(["export", "parquet"])
        .arg(&out)
        .arg("--store")
        .arg(t.join("store"))
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    for (table, rows) in [("photos", 7), ("failures", 3)] {
        let f = fs::File::open(out.join(format!("{table}.parquet"))).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        assert!(reader.schema().field_with_name("path").is_ok());
        let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(n, rows, "{table}");
    }
}

#[test]
fn filesystem_thumbnails_and_the_embedded_default_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    library(&t.join("photos"));
    fs::write(t.join("scoring_config.json"), r#"{"storage": {"mode": "filesystem", "filesystem_path": "./thumbs"}, "processing": {"thumbnails": {"photo_size": 200}}}"#).unwrap();
    // No pipeline file: the embedded cpu pipeline, the default store ./facet-data.
    let r = run_in(t, &["run", "photos", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let rows = sql_json(
        &t.join("facet-data"),
        "SELECT thumbnail_path, thumbnail IS NULL AS no_blob FROM photos",
    );
    assert_eq!(rows.len(), 7);
    for row in rows {
        assert_eq!(row["no_blob"], true);
        let p = row["thumbnail_path"].as_str().unwrap();
        assert!(p.contains("/thumbnails/") && p.ends_with("_200.jpg"), "{p}");
        let thumb = image::open(t.join(p)).or_else(|_| image::open(p)).unwrap();
        assert!(thumb.width().max(thumb.height()) <= 200);
    }
}

#[test]
fn a_decode_the_budget_can_never_free_fails_that_photo_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let photos = t.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..3 {
        std::fs::write(photos.join(format!("p{i}.jpg")), jpeg(800, 600, i)).unwrap();
    }
    // 5 MP of PNG: 40 MB to decode, under the 64 MiB budget but over the
    // 32 MiB of headroom above what admitted batches may hold.
    let big = image::RgbImage::from_fn(2000, 2500, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 7])
    });
    big.save(photos.join("big.png")).unwrap();
    let pipeline = t.join("small-budget.yaml");
    std::fs::write(
        &pipeline,
        std::fs::read_to_string(root().join("pipelines/cpu.yaml"))
            .unwrap()
            .replace("budget: { ram: 2GiB }", "budget: { ram: 64MiB }"),
    )
    .unwrap();
    let r = run_in(
        t,
        &[
            "run",
            pipeline.to_str().unwrap(),
            photos.to_str().unwrap(),
            "--quiet",
            "--store",
            "store",
        ],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let failed = sql_json(&t.join("store"), "SELECT path, stage, reason FROM failures");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["path"].as_str().unwrap().ends_with("big.png"));
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("more than the memory budget can ever free")
            && reason.contains("headroom")
            && reason.contains("budget.ram"),
        "{reason}"
    );
    let rows = sql_json(&t.join("store"), "SELECT count(*) AS n FROM photos");
    assert_eq!(
        rows[0]["n"].as_i64(),
        Some(3),
        "the other photos went through"
    );
}

/// The model stages share one ONNX Runtime session per model among the
/// workers and gather several workers' rows into one inference: with 1 and
/// 4 workers (and single- vs multi-pass), every stored column is the same —
/// for the default pipeline and every pipeline of `tests/pipelines/models/`.
#[test]
fn pipelines_store_the_same_results_with_one_and_four_workers_and_in_multi_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let multi = tmp.path().join("multi-pass.json");
    std::fs::write(
        &multi,
        serde_json::json!({ "processing": { "mode": "multi-pass", "ram_chunk_size": 2 } })
            .to_string(),
    )
    .unwrap();
    let generated = tmp.path().join("generated");
    spread_library(&generated, 12);
    let cases = spread_cases(&generated);
    // Every pipeline of tests/pipelines/models/ is a case.
    let mut listed: Vec<String> = std::fs::read_dir(root().join("tests/pipelines/models"))
        .unwrap()
        .map(|e| {
            format!(
                "tests/pipelines/models/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    listed.sort();
    let mut covered: Vec<String> = cases
        .iter()
        .filter(|(p, _, _)| p.starts_with("tests/"))
        .map(|(p, _, _)| p.to_string())
        .collect();
    covered.sort();
    assert_eq!(
        listed, covered,
        "a model pipeline is not among spread_cases"
    );
    for (pipeline, dir, tables) in cases {
        let mut runs: Vec<(String, Vec<Vec<String>>)> = Vec::new();
        // Small batches so that the four workers run at once and their rows
        // meet in the shared sessions.
        let mut variants = vec![
            ("1 worker", vec!["--workers", "1", "--batch", "2"]),
            ("4 workers", vec!["--workers", "4", "--batch", "2"]),
        ];
        if pipeline.starts_with("tests/") {
            variants.push((
                "4 workers, multi-pass",
                vec!["--workers", "4", "--config", multi.to_str().unwrap()],
            ));
        }
        for (what, args) in variants {
            let store = tmp.path().join(format!(
                "{}-{}",
                Path::new(pipeline).file_stem().unwrap().to_string_lossy(),
                what.replace([' ', ','], "-")
            ));
            let r = run_into(facet_ort(), Some(pipeline), &dir, &store, &args);
            assert_eq!(
                r.status, 0,
                "{pipeline}, {what}:\n{}\n{}",
                r.stdout, r.stderr
            );
            if what.contains("multi-pass") {
                assert!(r.stdout.contains("multi-pass"), "{pipeline}: {}", r.stdout);
            }
            runs.push((
                what.to_string(),
                tables.iter().map(|t| stored(&store, t)).collect(),
            ));
        }
        let (first, expected) = &runs[0];
        assert!(!expected[0].is_empty(), "{pipeline}: nothing stored");
        for (what, got) in &runs[1..] {
            for ((table, want), have) in tables.iter().zip(expected).zip(got) {
                assert_eq!(
                    want.len(),
                    have.len(),
                    "{pipeline}: {table} rows, {first} vs {what}"
                );
                for (a, b) in want.iter().zip(have) {
                    assert_eq!(a, b, "{pipeline}: {table} differs, {first} vs {what}");
                }
            }
        }
    }
}
