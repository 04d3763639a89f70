//! Bursts and duplicates on real photos: the HDR pairs and the GPS series of
//! `../shared/photos/cameras`, and copies made here (byte copy, resized,
//! re-encoded at quality 75, EXIF stripped).

use std::path::Path;

use crate::common::*;

fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

/// (kind, group_id, file name, is_lead, reason) of every group member.
fn groups(store: &Path) -> Vec<(String, String, String, bool, Option<String>)> {
    sql_json(
        store,
        "SELECT kind, group_id, path, is_lead, reason FROM groups ORDER BY kind, group_id, path",
    )
    .into_iter()
    .map(|r| {
        (
            r["kind"].as_str().unwrap().to_string(),
            r["group_id"].as_str().unwrap().to_string(),
            name(r["path"].as_str().unwrap()).to_string(),
            r["is_lead"].as_bool().unwrap(),
            r.get("reason").and_then(|v| v.as_str()).map(str::to_string),
        )
    })
    .collect()
}

fn members(g: &[(String, String, String, bool, Option<String>)], kind: &str) -> Vec<Vec<String>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, id, n, _, _) in g.iter().filter(|r| r.0 == kind) {
        match out.iter_mut().find(|(i, _)| i == id) {
            Some((_, v)) => v.push(n.clone()),
            None => out.push((id.clone(), vec![n.clone()])),
        }
        let _ = k;
    }
    let mut sets: Vec<Vec<String>> = out.into_iter().map(|(_, v)| v).collect();
    sets.sort();
    sets
}

#[test]
fn hdr_pairs_are_bursts_and_copies_are_duplicates() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let cams = shared.join("cameras/jpg");
    for f in [
        "hdr/canon_hdr_NO.jpg",
        "hdr/canon_hdr_YES.jpg",
        "hdr/iphone_hdr_NO.jpg",
        "hdr/iphone_hdr_YES.jpg",
    ] {
        std::fs::copy(cams.join(f), lib.join(name(f))).unwrap();
    }
    for e in std::fs::read_dir(cams.join("gps")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, lib.join(p.file_name().unwrap())).unwrap();
    }
    // Copies of one GPS photo: bytes, resized to half, re-encoded at q75
    // (both without EXIF, as most tools write them).
    let orig = lib.join("DSCN0010.jpg");
    std::fs::copy(&orig, lib.join("copy_DSCN0010.jpg")).unwrap();
    let img = image::open(&orig).unwrap();
    img.resize(320, 240, image::imageops::FilterType::Lanczos3)
        .save(lib.join("small_DSCN0010.png"))
        .unwrap();
    let mut q75 = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut q75, 75)
        .encode_image(&img)
        .unwrap();
    std::fs::write(lib.join("q75_DSCN0010.jpg"), q75).unwrap();

    let store = tmp.path().join("store");
    let r = run_into(facet(), None, &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);

    // pHash: identical pixels hash identically; a q75 re-encode is within 4 bits;
    // different scenes are far apart.
    let hashes: Vec<(String, u64)> = sql_json(&store, "SELECT path, phash FROM photos")
        .into_iter()
        .map(|r| {
            (
                name(r["path"].as_str().unwrap()).to_string(),
                r["phash"].as_i64().unwrap() as u64,
            )
        })
        .collect();
    let h = |n: &str| hashes.iter().find(|(p, _)| p == n).unwrap().1;
    assert_eq!(h("DSCN0010.jpg"), h("copy_DSCN0010.jpg"));
    assert!((h("DSCN0010.jpg") ^ h("q75_DSCN0010.jpg")).count_ones() <= 4);
    assert!((h("DSCN0010.jpg") ^ h("DSCN0012.jpg")).count_ones() > 20);

    let g = groups(&store);
    // Each HDR pair is one burst (two exposures of one scene, seconds apart);
    // the GPS series is a walk through town (minutes apart, other scenes): no
    // bursts there. The byte copy is a burst frame of its original too (same
    // camera, same instant), which is right: the lead hides the other.
    assert_eq!(
        members(&g, "burst"),
        vec![
            vec!["DSCN0010.jpg".to_string(), "copy_DSCN0010.jpg".to_string()],
            vec![
                "canon_hdr_NO.jpg".to_string(),
                "canon_hdr_YES.jpg".to_string()
            ],
            vec![
                "iphone_hdr_NO.jpg".to_string(),
                "iphone_hdr_YES.jpg".to_string()
            ],
        ],
        "{g:#?}"
    );
    // The copies are one duplicate group; the HDR frames (pHash 4 bits apart
    // for the iPhone pair) are not duplicates: different exposures.
    assert_eq!(
        members(&g, "duplicate"),
        vec![vec![
            "DSCN0010.jpg".to_string(),
            "copy_DSCN0010.jpg".to_string(),
            "q75_DSCN0010.jpg".to_string(),
            "small_DSCN0010.png".to_string(),
        ]],
        "{g:#?}"
    );
    let lead: Vec<_> = g.iter().filter(|r| r.0 == "duplicate" && r.3).collect();
    assert_eq!(lead.len(), 1);
    // Full resolution with its metadata beats the half-size PNG and the q75 copy.
    assert!(
        lead[0].2 == "DSCN0010.jpg" || lead[0].2 == "copy_DSCN0010.jpg",
        "{lead:?}"
    );
    assert!(lead[0].4.is_some());

    // The photos view carries the group columns for SQL.
    let per_burst = sql_json(
        &store,
        "SELECT burst_group_id, count(*) AS n FROM photos GROUP BY 1 ORDER BY n DESC",
    );
    assert!(
        per_burst
            .iter()
            .any(|r| r.get("burst_group_id").is_none_or(|v| v.is_null()))
    );

    // A user's lead survives re-detection and re-runs.
    let canon_no = lib.join("canon_hdr_NO.jpg").canonicalize().unwrap();
    let before: Vec<_> = g
        .iter()
        .filter(|r| r.2.starts_with("canon") && r.3)
        .map(|r| r.2.clone())
        .collect();
    let chosen = if before == ["canon_hdr_NO.jpg"] {
        lib.join("canon_hdr_YES.jpg").canonicalize().unwrap()
    } else {
        canon_no
    };
    let r = ran(facet()
        .args(["groups", "lead"])
        .arg(&chosen)
        .args(["--kind", "burst", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    let chosen_name = name(chosen.to_str().unwrap()).to_string();
    let check = |store: &Path| {
        let g = groups(store);
        let leads: Vec<_> = g
            .iter()
            .filter(|r| r.2.starts_with("canon") && r.3)
            .collect();
        assert_eq!(leads.len(), 1, "{g:#?}");
        assert_eq!(leads[0].2, chosen_name);
        assert_eq!(leads[0].4.as_deref(), Some("chosen by the user"));
    };
    check(&store);
    let again = run_into(facet(), None, &lib, &store, &["--force"]);
    assert_eq!(again.status, 0, "{}", again.stderr);
    check(&store);
    // Unknown photos are refused with their path.
    let bad = ran(facet()
        .args([
            "groups",
            "keep-all",
            "/nowhere.jpg",
            "--kind",
            "duplicate",
            "--store",
        ])
        .arg(&store)
        .output()
        .unwrap());
    assert_ne!(bad.status, 0);
    assert!(
        bad.stderr
            .contains("/nowhere.jpg: not a photo of this store"),
        "{}",
        bad.stderr
    );
}
