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
    let cams = shared.join("cameras/jpg");
    copy_photos(&cams, &HDR_PAIRS, &lib);
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

/// Similarity groups from the real MobileNetV2 embeddings of
/// `../shared/photos/objects`: the motorcycle stereo pair (cosine 0.95) is
/// a group, nothing else (the next closest pair is at 0.62). A photo added
/// later is absorbed incrementally: only it is looked up, the pair keeps its
/// id, and the result is the one a full detection gives.
#[test]
fn the_stereo_pair_is_similar_and_new_photos_are_absorbed_incrementally() {
    let (Some(shared), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    const IMAGENET: &str = "tests/pipelines/models/imagenet.yaml";
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for e in std::fs::read_dir(shared.join("objects")).unwrap() {
        let p = e.unwrap().path();
        if !p.ends_with("coffee.png") {
            std::fs::copy(&p, lib.join(p.file_name().unwrap())).unwrap();
        }
    }
    let store = tmp.path().join("store");
    let r = run_into(facet_ort(), Some(IMAGENET), &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let g = groups(&store);
    assert_eq!(
        members(&g, "similar"),
        vec![vec![
            "motorcycle_left.png".to_string(),
            "motorcycle_right.png".to_string()
        ]],
        "{g:#?}"
    );
    let pair_id = g.iter().find(|r| r.0 == "similar").unwrap().1.clone();
    assert!(pair_id.starts_with("s-"));
    let leads: Vec<_> = g.iter().filter(|r| r.0 == "similar" && r.3).collect();
    assert_eq!(leads.len(), 1);
    assert!(leads[0].4.as_deref().unwrap().contains("similar photos"));
    // The photos view carries the group column.
    let n = sql_json(
        &store,
        "SELECT count(*) AS n FROM photos WHERE similar_group_id IS NOT NULL",
    );
    assert_eq!(n[0]["n"], 2);

    // New photos: a half-size copy of the left view and the coffee cup
    // (unrelated).
    let left = image::open(lib.join("motorcycle_left.png")).unwrap();
    left.resize(
        left.width() / 2,
        left.height() / 2,
        image::imageops::FilterType::Lanczos3,
    )
    .save(lib.join("motorcycle_small.png"))
    .unwrap();
    std::fs::copy(shared.join("objects/coffee.png"), lib.join("coffee.png")).unwrap();
    let r = run_into(facet_ort(), Some(IMAGENET), &lib, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    // Looked up: the new photos and the group they reach, not the library.
    let looked: usize = r
        .stdout
        .split(" photo(s) looked up")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(looked < 10, "{}", r.stdout);
    let inc = groups(&store);
    let sim = members(&inc, "similar");
    assert_eq!(sim.len(), 1, "{inc:#?}");
    assert!(
        sim[0].contains(&"motorcycle_small.png".to_string()),
        "{sim:?}"
    );
    assert!(!sim[0].contains(&"coffee.png".to_string()));
    // The full detection agrees, ids included.
    let full = ran(facet()
        .args(["detect-duplicates", "--full", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(full.status, 0, "{}", full.stderr);
    assert!(
        full.stdout
            .contains("full detection: 10 photo(s) looked up"),
        "{}",
        full.stdout
    );
    assert_eq!(groups(&store), inc);
    // Nothing changed since: nothing is looked up, nothing written.
    let again = ran(facet()
        .args(["detect-duplicates", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert!(
        again
            .stdout
            .contains("incremental detection: 0 photo(s) looked up, 0 read, 0 row(s) written"),
        "{}",
        again.stdout
    );
    // The pair's group kept its id (its first path is still the left view).
    assert!(
        inc.iter().any(|r| r.0 == "similar" && r.1 == pair_id),
        "{inc:#?}"
    );
}

/// The store's vector index: built once there are enough vectors, and its
/// answers (k nearest within a cosine distance) match an exact search on
/// clustered vectors.
#[test]
fn the_vector_index_finds_the_neighbours_an_exact_search_finds() {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let store = facet_store::Store::open(tmp.path()).unwrap();
    let dim = 32;
    let n = 600;
    // 60 clusters of 10 around random unit centres, each point a small step away.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let normal = |v: Vec<f32>| {
        let l = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / l).collect::<Vec<f32>>()
    };
    let centres: Vec<Vec<f32>> = (0..60)
        .map(|_| normal((0..dim).map(|_| rnd()).collect()))
        .collect();
    let vectors: Vec<Vec<f32>> = (0..n)
        .map(|i| normal(centres[i / 10].iter().map(|c| c + 0.05 * rnd()).collect()))
        .collect();
    let field = arrow::datatypes::Field::new(
        "embedding",
        arrow::datatypes::DataType::FixedSizeList(
            Arc::new(arrow::datatypes::Field::new(
                "item",
                arrow::datatypes::DataType::Float32,
                true,
            )),
            dim,
        ),
        true,
    );
    let photos = facet_schemas::photos();
    let table = photos
        .clone()
        .with_extra([facet_schemas::Column::extra(&field, "test vectors")]);
    let values = arrow::array::Float32Array::from(vectors.concat());
    let list = arrow::array::FixedSizeListArray::try_new(
        Arc::new(arrow::datatypes::Field::new(
            "item",
            arrow::datatypes::DataType::Float32,
            true,
        )),
        dim,
        Arc::new(values),
        None,
    )
    .unwrap();
    let paths: Vec<String> = (0..n).map(|i| format!("/v/{i:04}.jpg")).collect();
    let batch = arrow::array::RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(vec![
            photos.column("path").unwrap().field(),
            photos.column("file_size").unwrap().field(),
            photos.column("file_mtime").unwrap().field(),
            field.clone(),
        ])),
        vec![
            Arc::new(arrow::array::StringArray::from(paths.clone())),
            Arc::new(arrow::array::Int64Array::from(vec![1; n])),
            Arc::new(arrow::array::TimestampNanosecondArray::from(vec![1; n]).with_timezone("UTC")),
            Arc::new(list),
        ],
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(store.upsert(&table, batch)).unwrap();
    assert!(
        rt.block_on(store.index_vectors("photos", "embedding"))
            .unwrap()
    );
    let queries: Vec<&[f32]> = vectors.iter().step_by(7).map(|v| v.as_slice()).collect();
    let found = rt
        .block_on(store.nearest("photos", "embedding", &queries, 20, 0.15, 20))
        .unwrap();
    for (q, got) in vectors.iter().step_by(7).zip(found) {
        let mut want: Vec<String> = vectors
            .iter()
            .enumerate()
            .filter(|(_, v)| 1.0 - v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() <= 0.15)
            .map(|(i, _)| paths[i].clone())
            .collect();
        want.sort();
        let mut got: Vec<String> = got.into_iter().map(|(p, _)| p).collect();
        got.sort();
        assert_eq!(got, want);
    }
}

/// A camera frame: `seed` decides the content (and pHash), `at` the capture
/// time ("HH:MM:SS.cc" on 2021-07-14).
fn frame(dir: &Path, name: &str, seed: u32, at: &str) {
    let (time, cs) = at.split_once('.').unwrap();
    let meta = Meta {
        date: Box::leak(format!("2021:07:14 {time}").into_boxed_str()),
        subsec: Box::leak(cs.to_string().into_boxed_str()),
        ..META
    };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), with_exif(cells_jpeg(160, 120, seed), &meta)).unwrap();
}

/// The photos `facet run` says its group detection read, `None` for "every photo".
fn groups_read(stdout: &str) -> Option<usize> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("groups: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    line.strip_prefix("groups: ")
        .and_then(|l| l.split(" photo(s) read").next())
        .and_then(|n| n.parse().ok())
}

/// Groups after `facet detect-duplicates --full` over the same store.
fn full_detection(store: &Path) -> Vec<(String, String, String, bool, Option<String>)> {
    let full = ran(facet()
        .args(["detect-duplicates", "--full", "--store"])
        .arg(store)
        .output()
        .unwrap());
    assert_eq!(full.status, 0, "{}", full.stderr);
    assert!(full.stdout.contains("full detection"), "{}", full.stdout);
    groups(store)
}

/// A run that adds photos to a library reads only the photos they can
/// affect — through the store's indexes: pHash quarters, capture times,
/// previous groups — and ends with the groups a full detection finds: a
/// frame that extends a burst, three frames that bridge two bursts into
/// one, a third copy of a duplicate pair, an unrelated photo. A user's lead
/// choice re-leads its group the same way.
#[test]
fn a_run_that_adds_photos_regroups_what_they_reach_as_a_full_detection_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, store) = (
        tmp.path().join("lib/a"),
        tmp.path().join("lib/b"),
        tmp.path().join("store"),
    );
    for (i, at) in ["10:00:00.10", "10:00:00.30", "10:00:00.50"]
        .iter()
        .enumerate()
    {
        frame(&a, &format!("burst1_{i}.jpg"), 1 + i as u32, at);
    }
    for (i, at) in ["10:00:02.00", "10:00:02.20"].iter().enumerate() {
        frame(&a, &format!("burst2_{i}.jpg"), 4 + i as u32, at);
    }
    // Copies without EXIF (with one capture time they would be a burst too).
    std::fs::write(a.join("copy_0.jpg"), cells_jpeg(160, 120, 6)).unwrap();
    std::fs::write(a.join("copy_1.jpg"), cells_jpeg(160, 120, 6)).unwrap();
    for i in 0..10u32 {
        frame(
            &a,
            &format!("single_{i}.jpg"),
            100 + 7 * i,
            &format!("{:02}:00:00.00", 12 + i),
        );
    }
    let r = run_into(facet(), None, &a, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(groups_read(&r.stdout), None, "{}", r.stdout);
    let before = groups(&store);
    assert_eq!(
        members(&before, "burst"),
        vec![
            vec!["burst1_0.jpg", "burst1_1.jpg", "burst1_2.jpg"],
            vec!["burst2_0.jpg", "burst2_1.jpg"],
        ],
        "{before:#?}"
    );
    assert_eq!(
        members(&before, "duplicate"),
        vec![vec!["copy_0.jpg", "copy_1.jpg"]]
    );

    frame(&b, "burst1_3.jpg", 17, "10:00:00.70");
    for (i, at) in ["10:00:01.00", "10:00:01.35", "10:00:01.70"]
        .iter()
        .enumerate()
    {
        frame(&b, &format!("bridge_{i}.jpg"), 18 + i as u32, at);
    }
    std::fs::write(b.join("copy_2.jpg"), cells_jpeg(160, 120, 6)).unwrap();
    frame(&b, "single_new.jpg", 21, "23:30:00.00");
    let r = run_into(facet(), None, &b, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    // The 6 new photos, the two bursts and the copies they reach: not the
    // 10 unrelated photos.
    let read = groups_read(&r.stdout).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!((13..23).contains(&read), "{read}: {}", r.stdout);
    let inc = groups(&store);
    assert_eq!(members(&inc, "burst").len(), 1, "{inc:#?}");
    assert_eq!(members(&inc, "burst")[0].len(), 9, "{inc:#?}");
    assert_eq!(members(&inc, "duplicate")[0].len(), 3, "{inc:#?}");
    assert_eq!(full_detection(&store), inc);

    // Nothing new: nothing read.
    let r = run_into(facet(), None, &b, &store, &[]);
    assert_eq!(groups_read(&r.stdout), Some(0), "{}", r.stdout);

    // A lead chosen by the user: only that burst is read again.
    let chosen = a.join("burst2_1.jpg");
    let r = ran(facet()
        .args(["groups", "lead"])
        .arg(&chosen)
        .args(["--kind", "burst", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    let led = groups(&store);
    let lead: Vec<_> = led.iter().filter(|g| g.0 == "burst" && g.3).collect();
    assert_eq!(lead.len(), 1);
    assert_eq!(lead[0].2, "burst2_1.jpg", "{led:#?}");
    assert_eq!(full_detection(&store), led);
}
