//! The `faces` stage and people (`facet faces …`) on the real models of
//! `../shared/models` and the group photos of `../shared/photos/faces`.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;

const FACES: &str = "tests/pipelines/models/faces.yaml";

/// Clearly visible faces of sample1…6, counted by looking at them.
const COUNTS: [i64; 6] = [3, 3, 3, 4, 5, 4];

fn name(path: &serde_json::Value) -> String {
    Path::new(path.as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_visible_face_and_none_on_landscapes() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let r = run_into(facet_ort(), Some(FACES), &photos.join("faces"), &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, face_count, is_group_portrait, face_quality, face_ratio, eye_sharpness, isolation_ratio, category FROM photos ORDER BY path",
    );
    let counts: Vec<i64> = rows
        .iter()
        .map(|r| r["face_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, COUNTS, "{rows:?}");
    for r in &rows {
        let n = r["face_count"].as_i64().unwrap();
        assert_eq!(r["is_group_portrait"].as_bool(), Some(n >= 4), "{r:?}");
        assert!(r["face_quality"].as_f64().is_some_and(|q| q > 5.0), "{r:?}");
        assert!(
            r["face_ratio"]
                .as_f64()
                .is_some_and(|q| q > 0.005 && q < 0.2),
            "{r:?}"
        );
        assert!(
            r["eye_sharpness"].as_f64().is_some()
                && r["isolation_ratio"].as_f64().is_some_and(|v| v >= 1.0)
        );
    }
    // `face_detection.min_faces_for_group` edited: `facet recompute` judges
    // group portraits by the stored face counts, not the stored flags, and
    // re-scores the photos whose category that changes. (The faces of these
    // photos are 1–3 % of the frame: the group category's face_ratio_min
    // goes to 0 so that the count alone decides.)
    let mut categories: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("config/default_categories.json")).unwrap(),
    )
    .unwrap();
    for c in categories.as_array_mut().unwrap() {
        if c["name"] == "group_portrait" {
            c["filters"]["face_ratio_min"] = serde_json::json!(0.0);
        }
    }
    let recompute = |min: u32| -> Vec<(i64, bool)> {
        let cfg = tmp.path().join(format!("min{min}.json"));
        let config = serde_json::json!({
            "categories": categories,
            "face_detection": { "min_faces_for_group": min },
        });
        std::fs::write(&cfg, config.to_string()).unwrap();
        let r = run_in(
            tmp.path(),
            &[
                "recompute",
                "--store",
                store.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
            ],
        );
        assert_eq!(r.status, 0, "{}", r.stderr);
        sql_json(
            &store,
            "SELECT p.face_count, s.category FROM photos p JOIN scores s ON p.path = s.path ORDER BY p.path",
        )
        .iter()
        .map(|r| {
            (
                r["face_count"].as_i64().unwrap(),
                r["category"].as_str() == Some("group_portrait"),
            )
        })
        .collect()
    };
    let four = recompute(4);
    assert!(four.iter().all(|&(n, g)| g == (n >= 4)), "{four:?}");
    let three = recompute(3);
    assert!(three.iter().all(|&(n, g)| g == (n >= 3)), "{three:?}");
    assert!(three.iter().any(|&(n, _)| n == 3), "{three:?}");

    // One `faces` row per face, its box in the original frame.
    let faces = sql_json(
        &store,
        "SELECT f.face_id, f.path, f.face_index, f.box_x, f.box_width, f.confidence, array_length(f.landmarks) AS mesh, \
                array_length(f.embedding) AS dim, f.thumbnail IS NOT NULL AS thumb, p.width \
         FROM faces f JOIN photos p ON f.path = p.path ORDER BY f.face_id",
    );
    assert_eq!(faces.len() as i64, COUNTS.iter().sum::<i64>());
    for f in &faces {
        assert_eq!(
            f["face_id"].as_str().unwrap(),
            format!("{}#{}", f["path"].as_str().unwrap(), f["face_index"])
        );
        assert_eq!(f["mesh"].as_i64(), Some(936), "468 x, y pairs");
        assert_eq!(f["dim"].as_i64(), Some(1024));
        assert_eq!(f["thumb"].as_bool(), Some(true), "a JPEG crop");
        let (x, w, width) = (
            f["box_x"].as_i64().unwrap(),
            f["box_width"].as_i64().unwrap(),
            f["width"].as_i64().unwrap(),
        );
        assert!(x >= 0 && x + w <= width && w >= 100, "{f:?}");
        assert!(f["confidence"].as_f64().unwrap() >= 0.65);
    }

    // The camera samples: faces exactly on the eight with people in them
    // (looked at: a wedding couple, a family, a kitchen, a poster, a banner,
    // portraits); none on the landscapes, buildings and objects.
    let store2 = tmp.path().join("store2");
    let r = run_into(
        facet_ort(),
        Some(FACES),
        &photos.join("cameras/jpg"),
        &store2,
        &[],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(&store2, "SELECT path, face_count FROM photos ORDER BY path");
    assert!(rows.len() >= 20, "{rows:?}");
    let with_faces: Vec<String> = rows
        .iter()
        .filter(|r| r["face_count"].as_i64() != Some(0))
        .map(|r| name(&r["path"]))
        .collect();
    let mut people = [
        "Konica_Minolta_DiMAGE_Z3.jpg",
        "canon-ixus.jpg",
        "kodak-dc210.jpg",
        "sony-cybershot.jpg",
        "sony-d700.jpg",
        "image01137.jpg",
        "image00971.jpg",
        "no_exif.jpg",
    ];
    people.sort();
    let mut with_faces = with_faces;
    with_faces.sort();
    assert_eq!(with_faces, people, "faces on landscapes, or missed people");
}

const MTCNN: &str = "tests/pipelines/models/faces-mtcnn.yaml";

/// What the MTCNN cascade finds on sample1–6: the faces above but the
/// middle one of sample2 (head bowed, eyes closed, hair across the face),
/// which its R-Net turns down.
const MTCNN_COUNTS: [i64; 6] = [3, 2, 3, 4, 5, 4];

#[test]
fn mtcnn_cascade_finds_the_faces_and_none_on_landscapes() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let r = run_into(facet_ort(), Some(MTCNN), &photos.join("faces"), &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, face_count, is_group_portrait FROM photos ORDER BY path",
    );
    let counts: Vec<i64> = rows
        .iter()
        .map(|r| r["face_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, MTCNN_COUNTS, "{rows:?}");
    let faces = sql_json(
        &store,
        "SELECT f.box_x, f.box_width, f.confidence, array_length(f.landmarks) AS mesh, \
                array_length(f.embedding) AS dim, p.width \
         FROM faces f JOIN photos p ON f.path = p.path",
    );
    assert_eq!(faces.len() as i64, MTCNN_COUNTS.iter().sum::<i64>());
    for f in &faces {
        assert_eq!(
            f["mesh"].as_i64(),
            Some(936),
            "the mesh on the cascade's box"
        );
        assert_eq!(f["dim"].as_i64(), Some(1024));
        let (x, w, width) = (
            f["box_x"].as_i64().unwrap(),
            f["box_width"].as_i64().unwrap(),
            f["width"].as_i64().unwrap(),
        );
        assert!(x >= 0 && x + w <= width && w >= 100, "{f:?}");
        assert!(f["confidence"].as_f64().unwrap() >= 0.8, "{f:?}");
    }

    // Landscapes, a park, an iguana, leaves: nobody.
    let dir = tmp.path().join("landscapes");
    std::fs::create_dir(&dir).unwrap();
    let cameras = photos.join("cameras/jpg");
    for name in [
        "gps/DSCN0010.jpg",
        "gps/DSCN0021.jpg",
        "Canon_40D.jpg",
        "Nikon_D70.jpg",
    ] {
        let to = dir.join(name.replace('/', "_"));
        std::fs::copy(cameras.join(name), to).unwrap();
    }
    let store2 = tmp.path().join("store2");
    let r = run_into(facet_ort(), Some(MTCNN), &dir, &store2, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(&store2, "SELECT path, face_count FROM photos ORDER BY path");
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().all(|r| r["face_count"].as_i64() == Some(0)),
        "{rows:?}"
    );
}

/// Writes augmented copies of sample1–3: `kind` is mirror, bright or crop.
fn augment(src: &Path, dst: &Path, kind: &str) {
    for i in 1..=3 {
        let img = image::open(src.join(format!("sample{i}.jpg")))
            .unwrap()
            .to_rgb8();
        let out = match kind {
            "mirror" => image::imageops::flip_horizontal(&img),
            "bright" => image::imageops::colorops::brighten(&img, 35),
            "crop" => {
                let (w, h) = img.dimensions();
                image::imageops::crop_imm(&img, w / 12, h / 12, w - w / 6, h - h / 6).to_image()
            }
            _ => img.clone(),
        };
        out.save(dst.join(format!("{kind}{i}.jpg"))).unwrap();
    }
}

/// face_id → (photo file, index) for every stored face with its person.
fn people(store: &Path) -> Vec<(String, i64, Option<i64>)> {
    sql_json(
        store,
        "SELECT path, face_index, person_id FROM faces ORDER BY path, face_index",
    )
    .iter()
    .map(|r| {
        (
            name(&r["path"]),
            r["face_index"].as_i64().unwrap(),
            r["person_id"].as_i64(),
        )
    })
    .collect()
}

/// The individual a face is: (sample, position from the left in the original).
fn individual(file: &str, index: i64, per_sample: &HashMap<char, i64>) -> (char, i64) {
    let sample = file.chars().rev().nth(4).unwrap();
    if file.starts_with("mirror") {
        (sample, per_sample[&sample] - 1 - index)
    } else {
        (sample, index)
    }
}

#[test]
fn people_are_found_and_keep_their_ids_and_manual_assignments() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let src = photos.join("faces");
    augment(&src, &dir, "orig");
    augment(&src, &dir, "mirror");
    let store = tmp.path().join("store");
    let r = run_into(facet_ort(), Some(FACES), &dir, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let per_sample: HashMap<char, i64> = HashMap::from([('1', 3), ('2', 3), ('3', 3)]);

    // One person per individual: 9 people, two faces each.
    let check = |faces: &[(String, i64, Option<i64>)]| {
        let mut person_of: HashMap<(char, i64), i64> = HashMap::new();
        let mut who: HashMap<i64, (char, i64)> = HashMap::new();
        for (file, index, person) in faces {
            let ind = individual(file, *index, &per_sample);
            let p = person.unwrap_or_else(|| panic!("{file}#{index} belongs to nobody"));
            assert_eq!(
                *person_of.entry(ind).or_insert(p),
                p,
                "{ind:?} split: {faces:?}"
            );
            assert_eq!(
                *who.entry(p).or_insert(ind),
                ind,
                "person {p} mixes people: {faces:?}"
            );
        }
        person_of
    };
    let first = people(&store);
    assert_eq!(first.len(), 18, "{first:?}");
    let person_of = check(&first);
    assert_eq!(person_of.len(), 9);

    // The user names someone and puts one face in another person by hand.
    let ada = person_of[&('1', 0)];
    let r = run_in(
        tmp.path(),
        &[
            "faces",
            "name",
            &ada.to_string(),
            "Ada",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let moved = format!("{}#0", dir.join("orig2.jpg").display());
    let target = person_of[&('3', 2)];
    let r = run_in(
        tmp.path(),
        &[
            "faces",
            "assign",
            &moved,
            &target.to_string(),
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);

    // More photos of the same people arrive; the run clusters again.
    augment(&src, &dir, "bright");
    augment(&src, &dir, "crop");
    let r = run_into(facet_ort(), Some(FACES), &dir, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let second = people(&store);
    assert_eq!(second.len(), 36, "{second:?}");
    for (file, index, person) in &second {
        let ind = individual(file, *index, &per_sample);
        let want = if dir.join(file).display().to_string() + "#" + &index.to_string() == moved {
            target
        } else {
            *person_of.get(&ind).unwrap_or_else(|| {
                panic!("{file}#{index}: not a face of the originals: {second:?}")
            })
        };
        assert_eq!(*person, Some(want), "{file}#{index} ({ind:?})");
    }
    let persons = sql_json(
        &store,
        "SELECT person_id, name, face_count FROM persons ORDER BY person_id",
    );
    assert_eq!(persons.len(), 9, "no new person: {persons:?}");
    let named: Vec<_> = persons
        .iter()
        .filter(|p| p.get("name").and_then(|n| n.as_str()) == Some("Ada"))
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["person_id"].as_i64(), Some(ada));
    let total: i64 = persons
        .iter()
        .map(|p| p["face_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 36);
    // One more photo of sample 1: the run reads the new faces and those of
    // the persons they join, not the library's.
    std::fs::copy(dir.join("crop1.jpg"), dir.join("copy1.jpg")).unwrap();
    let r = run_into(facet_ort(), Some(FACES), &dir, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(" faces: "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    // 3 new faces, and 4 of each of sample 1's 3 persons (the moved face
    // is sample 2's).
    assert!(
        line.starts_with("39 faces: 39 in 9 person(s) (0 new), 15 read"),
        "{line}"
    );
    let incremental = people(&store);
    let rows = "SELECT person_id, name, hidden, face_count, representative_face, centroid FROM persons ORDER BY person_id";
    let persons_incremental = sql_json(&store, rows);
    // A full clustering, reading every face, comes to the same people.
    let r = run_in(
        tmp.path(),
        &["faces", "cluster", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("every face read (asked for)"),
        "{}",
        r.stdout
    );
    assert_eq!(people(&store), incremental);
    assert_eq!(sql_json(&store, rows), persons_incremental);
}
