//! The metadata oracle: `facet sql` against `exiftool -json -n` over
//! `../shared/photos` for every field exiftool reports of make, model, lens,
//! ISO, aperture, shutter, focal length and its 35 mm equivalent, date taken
//! (sub-seconds and offset), GPS and pixel dimensions after orientation.
//! Prints the per-field agreement and every disagreement; at least 99 % of
//! the fields exiftool reports must agree (README, Formats, lists the rest
//! with their reasons). exiftool missing is a failure, not a skip.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value};

use crate::common::*;

/// The fraction of exiftool's fields Facet must agree with.
const REQUIRED: f64 = 0.99;

/// The numeric fields, read with `-n` (no print conversion).
const NUMERIC_TAGS: &[&str] = &[
    "-Make",
    "-Model",
    "-ISO",
    "-FNumber",
    "-ExposureTime",
    "-FocalLength",
    "-FocalLengthIn35mmFormat",
    "-SubSecDateTimeOriginal",
    "-DateTimeOriginal",
    "-GPSLatitude",
    "-GPSLongitude",
    "-ImageSize",
    "-Orientation",
    "-Rotation",
];

/// The lens name as exiftool prints it: the composite LensID (maker-note lens
/// IDs resolved to names), else LensModel, else Lens. `-n` would print the
/// IDs as numbers, so these come from a second, print-converted read.
const LENS_TAGS: &[&str] = &["-LensID", "-LensModel", "-Lens"];

fn exiftool(photos: &Path, numeric: bool, tags: &[&str]) -> HashMap<String, Map<String, Value>> {
    let mut cmd = Command::new("exiftool");
    cmd.args(["-json", "-r", "-q", "-q"]);
    if numeric {
        cmd.arg("-n");
    }
    let out = cmd.args(tags).arg(photos).output().unwrap_or_else(|e| {
        panic!(
            "exiftool cannot be run ({e}): the metadata oracle needs it \
             (Debian/Ubuntu: apt-get install libimage-exiftool-perl)"
        )
    });
    assert!(
        !out.stdout.is_empty(),
        "exiftool printed nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Map<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| (r["SourceFile"].as_str().unwrap().to_string(), r))
        .collect()
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// exiftool's "2019:06:01 14:03:22.45+02:00" as Facet's ISO 8601 form (a "Z"
/// zone as "+00:00", the same instant).
fn iso_date(s: &str) -> Option<String> {
    let s = s.trim();
    let (date, rest) = (s.get(0..10)?, s.get(10..)?);
    let date = date.replace(':', "-");
    let rest = rest.strip_prefix(' ')?;
    let rest = match rest.strip_suffix('Z') {
        Some(r) => format!("{r}+00:00"),
        None => rest.to_string(),
    };
    Some(format!("{date}T{rest}"))
}

#[test]
fn facet_metadata_agrees_with_exiftool() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let numeric = exiftool(&shared, true, NUMERIC_TAGS);
    let lenses = exiftool(&shared, false, LENS_TAGS);

    // The stages the compared columns come from: scan, decode (oriented pixel
    // size) and exif; not the whole CPU pipeline.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let pipeline = tmp.path().join("metadata.yaml");
    std::fs::write(
        &pipeline,
        "version: 1\nstages:\n  scan: { uses: scan }\n  decode: { uses: decode, after: [scan], batch: 16 }\n  exif: { uses: exif, after: [scan] }\n",
    )
    .unwrap();
    let r = run_in(
        tmp.path(),
        &[
            "run",
            pipeline.to_str().unwrap(),
            shared.to_str().unwrap(),
            "--quiet",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, camera_make, camera_model, lens, iso, f_number, shutter_speed, focal_length, \
         focal_length_35mm, date_taken, gps_lat, gps_lon, width, height FROM photos",
    );
    assert!(rows.len() > 100, "only {} photos stored", rows.len());

    // field -> (agreed, compared); every disagreement.
    let mut stats: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for row in &rows {
        let path = row["path"].as_str().unwrap();
        let rel = path
            .strip_prefix(shared.to_str().unwrap())
            .unwrap_or(path)
            .trim_start_matches('/');
        let empty = Map::new();
        let e = numeric.get(path).unwrap_or(&empty);
        let l = lenses.get(path).unwrap_or(&empty);
        let got = |c: &str| row.get(c).cloned().unwrap_or(Value::Null);
        let mut check = |field: &'static str, want: String, got: Value, ok: bool| {
            let s = stats.entry(field).or_default();
            s.1 += 1;
            if ok {
                s.0 += 1;
            } else {
                disagreements.push(format!("{rel}: {field}: exiftool {want}, facet {got}"));
            }
        };
        // Text: exiftool's value trimmed (Facet trims the padding cameras write).
        for (tag, column, field) in [
            ("Make", "camera_make", "make"),
            ("Model", "camera_model", "model"),
        ] {
            if let Some(want) = e.get(tag).and_then(text) {
                let g = got(column);
                let ok = g.as_str() == Some(want.as_str());
                check(field, want, g, ok);
            }
        }
        let lens = ["LensID", "LensModel", "Lens"]
            .iter()
            .find_map(|t| l.get(*t).and_then(text).filter(|s| !s.is_empty()));
        if let Some(want) = lens {
            let g = got("lens");
            let ok = g.as_str() == Some(want.as_str());
            check("lens", want, g, ok);
        }
        // ISO: Facet stores whole numbers; exiftool's Canon composite ISO
        // (BaseISO × AutoISO / 100) is not rounded, so half a unit.
        if let Some(want) = e.get("ISO").and_then(num) {
            let g = got("iso");
            let ok = g.as_f64().is_some_and(|g| (g - want).abs() <= 0.5);
            check("iso", want.to_string(), g, ok);
        }
        // Numbers: 0.1 % (exiftool prints rationals rounded; Facet keeps f64).
        for (tag, column, field) in [
            ("FNumber", "f_number", "aperture"),
            ("ExposureTime", "shutter_speed", "shutter"),
            ("FocalLength", "focal_length", "focal_length"),
            (
                "FocalLengthIn35mmFormat",
                "focal_length_35mm",
                "focal_length_35mm",
            ),
        ] {
            if let Some(want) = e.get(tag).and_then(num) {
                let g = got(column);
                let ok = g
                    .as_f64()
                    .is_some_and(|g| (g - want).abs() <= 1e-3 * want.abs().max(1e-3));
                check(field, want.to_string(), g, ok);
            }
        }
        // GPS: 1e-5 degree (about a metre).
        for (tag, column, field) in [
            ("GPSLatitude", "gps_lat", "gps_lat"),
            ("GPSLongitude", "gps_lon", "gps_lon"),
        ] {
            if let Some(want) = e.get(tag).and_then(num) {
                let g = got(column);
                let ok = g.as_f64().is_some_and(|g| (g - want).abs() <= 1e-5);
                check(field, want.to_string(), g, ok);
            }
        }
        // Date with sub-seconds and offset where exiftool has them.
        let date = ["SubSecDateTimeOriginal", "DateTimeOriginal"]
            .iter()
            .find_map(|t| e.get(*t).and_then(text));
        if let Some(want) = date {
            let want = iso_date(&want).unwrap_or(want);
            let g = got("date_taken");
            let ok = g.as_str() == Some(want.as_str());
            check("date_taken", want, g, ok);
        }
        // Pixel size after orientation (exiftool's ImageSize is as stored). In HEIF the
        // `irot` transform (exiftool's Rotation) is the authority, and any EXIF
        // Orientation only repeats it; elsewhere Orientation 5–8 swaps the sides.
        if let Some(size) = e.get("ImageSize").and_then(text) {
            let mut wh: Vec<u64> = size
                .split([' ', 'x'])
                .filter_map(|s| s.parse().ok())
                .collect();
            if wh.len() == 2 {
                let swap = match e.get("Rotation").and_then(num) {
                    Some(r) => r as i64 % 180 == 90,
                    None => (5..=8)
                        .contains(&(e.get("Orientation").and_then(num).unwrap_or(1.0) as i64)),
                };
                if swap {
                    wh.swap(0, 1);
                }
                let g = Value::from(vec![got("width"), got("height")]);
                let ok =
                    got("width").as_u64() == Some(wh[0]) && got("height").as_u64() == Some(wh[1]);
                check("pixel_size", format!("{}x{}", wh[0], wh[1]), g, ok);
            }
        }
    }

    let (agreed, compared) = stats.values().fold((0, 0), |(a, c), (x, y)| (a + x, c + y));
    eprintln!(
        "metadata oracle: facet sql against exiftool over {}",
        shared.display()
    );
    for (field, (a, c)) in &stats {
        eprintln!(
            "  {field:<18} {a:>4}/{c:<4} {:6.1} %",
            100.0 * *a as f64 / *c as f64
        );
    }
    let share = agreed as f64 / compared as f64;
    eprintln!(
        "  {:<18} {agreed:>4}/{compared:<4} {:6.1} %",
        "all",
        100.0 * share
    );
    eprintln!("{} disagreements:", disagreements.len());
    for d in &disagreements {
        eprintln!("  {d}");
    }
    assert!(compared > 600, "only {compared} fields compared");
    assert!(
        share >= REQUIRED,
        "{:.1} % of exiftool's fields agree, {:.0} % required; disagreements:\n{}",
        100.0 * share,
        100.0 * REQUIRED,
        disagreements.join("\n")
    );
}
