//! XMP sidecars on real files: a library made by `facet run`, rated through
//! the gallery, with tags and a named person; `facet xmp export` writes the
//! sidecars, which exiftool and exiv2 (Debian's packages) read back with the
//! same rating, label, keywords and face regions; another application's
//! sidecar (darktable's history, Lightroom's `crs:` settings) keeps those
//! bytes; sidecars edited by exiftool come back with `facet xmp import`
//! and change what the gallery's `/api/photos` shows. exiftool or exiv2
//! missing is a skip, and a failure under `FACET_REQUIRE_FIXTURES=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::gallery::{Server, http_json};
use crate::lifecycle::post;

/// Whether `tool` runs (`args` prints its version); reported as absent
/// (a failure when fixtures are required) when not.
fn have(tool: &str, args: &[&str], package: &str) -> bool {
    let ok = Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        facet_stages::fixtures::absent(
            std::thread::current().name().unwrap_or("an xmp test"),
            &format!(
                "`{tool}` cannot be run: the XMP tests read sidecars back with it (apt-get install {package})"
            ),
        );
    }
    ok
}

fn tools() -> bool {
    // Both checked, so that both are reported.
    let exiftool = have("exiftool", &["-ver"], "libimage-exiftool-perl");
    let exiv2 = have("exiv2", &["--version"], "exiv2");
    exiftool && exiv2
}

/// A library of `n` photos `IMG_000<i>.jpg` analysed by `facet run`:
/// (photo paths, store, config file).
fn library(tmp: &Path, n: u32) -> (Vec<String>, PathBuf, PathBuf) {
    let photos = tmp.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let mut paths = Vec::new();
    for i in 1..=n {
        let p = photos.join(format!("IMG_000{i}.jpg"));
        std::fs::write(&p, cells_jpeg(320, 240, 40 + i)).unwrap();
        paths.push(p.canonicalize().unwrap().to_string_lossy().into_owned());
    }
    let store = tmp.join("store");
    let r = run_into(facet(), None, &photos, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let config = tmp.join("scoring_config.json");
    std::fs::write(&config, "{}").unwrap();
    let listed: Vec<String> = sql_json(&store, "SELECT path FROM photos ORDER BY path")
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, paths);
    (paths, store, config)
}

/// Model tags for `tags` (a zero-shot stage would write them) and a person
/// "Ann" whose face is `face` (x, y, w, h) in `photo`, written as the
/// stages and `facet faces name` would.
fn tags_and_person(store: &Path, tags: &[(&str, Vec<&str>)], photo: &str, face: [i32; 4]) {
    use arrow::array::{
        BooleanArray, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    };
    use std::sync::Arc;
    let photos_t = facet_schemas::photos();
    let mut lists = ListBuilder::new(StringBuilder::new());
    for (_, t) in tags {
        for t in t {
            lists.values().append_value(t);
        }
        lists.append(true);
    }
    let tag_rows = batch(
        &photos_t,
        vec![
            (
                "path",
                Arc::new(StringArray::from_iter_values(tags.iter().map(|(p, _)| *p))),
            ),
            ("tags", Arc::new(lists.finish())),
        ],
    );
    let faces_t = facet_schemas::faces();
    let faces = batch(
        &faces_t,
        vec![
            (
                "face_id",
                Arc::new(StringArray::from(vec![format!("{photo}#0")])),
            ),
            ("path", Arc::new(StringArray::from(vec![photo]))),
            ("face_index", Arc::new(Int32Array::from(vec![0]))),
            ("box_x", Arc::new(Int32Array::from(vec![face[0]]))),
            ("box_y", Arc::new(Int32Array::from(vec![face[1]]))),
            ("box_width", Arc::new(Int32Array::from(vec![face[2]]))),
            ("box_height", Arc::new(Int32Array::from(vec![face[3]]))),
            ("person_id", Arc::new(Int64Array::from(vec![1]))),
        ],
    );
    let persons_t = facet_schemas::persons();
    let persons = batch(
        &persons_t,
        vec![
            ("person_id", Arc::new(Int64Array::from(vec![1]))),
            ("name", Arc::new(StringArray::from(vec!["Ann"]))),
            (
                "representative_face",
                Arc::new(StringArray::from(vec![format!("{photo}#0")])),
            ),
            ("face_count", Arc::new(Int64Array::from(vec![1]))),
            ("hidden", Arc::new(BooleanArray::from(vec![false]))),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = facet_store::Store::open(store).unwrap();
    rt.block_on(async {
        store.update_columns(&photos_t, tag_rows).await.unwrap();
        store.replace(&faces_t, faces).await.unwrap();
        store.replace(&persons_t, persons).await.unwrap();
    });
}

/// `exiftool -j -n -struct` of the XMP fields Facet writes.
fn exiftool_reads(sidecar: &Path) -> Value {
    let out = Command::new("exiftool")
        .args([
            "-j",
            "-n",
            "-struct",
            "-XMP-xmp:Rating",
            "-XMP-xmp:Label",
            "-XMP-dc:Subject",
            "-XMP-mwg-rs:RegionInfo",
        ])
        .arg(sidecar)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

/// `exiv2 -PXkv`: XMP key -> value.
fn exiv2_reads(sidecar: &Path) -> Vec<(String, String)> {
    let out = Command::new("exiv2")
        .arg("-PXkv")
        .arg(sidecar)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exiv2 {}: {}",
        sidecar.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

fn exiv2_value<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// exiftool's keywords (a string for one, a list for more).
fn subjects(v: &Value) -> Vec<String> {
    match &v["Subject"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// A darktable sidecar with Lightroom's camera-raw settings in it too.
const OTHER_APPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmp:Rating="1"
    xmpMM:DerivedFrom="IMG_0001.jpg"
    darktable:import_timestamp="63871912800000000"
    darktable:xmp_version="5"
    darktable:history_end="2"
    crs:Version="15.0"
    crs:Exposure2012="+0.35"
    crs:WhiteBalance="As Shot">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>darktable|format|jpg</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <darktable:history>
    <rdf:Seq>
     <rdf:li
      darktable:num="0"
      darktable:operation="exposure"
      darktable:enabled="1"
      darktable:modversion="6"
      darktable:params="00000000000080b90000c03f00004842000080c0"
      darktable:multi_name=""
      darktable:blendop_params="gz14eJxjYIAACQYYOOHEgAZY0QUYGhhggAPxsp8="/>
     <rdf:li
      darktable:num="1"
      darktable:operation="colorin"
      darktable:enabled="1"
      darktable:modversion="7"
      darktable:params="gz48eJzjZhgFo4BWAAAA"
      darktable:multi_name=""/>
    </rdf:Seq>
   </darktable:history>
   <crs:ToneCurvePV2012>
    <rdf:Seq>
     <rdf:li>0, 0</rdf:li>
     <rdf:li>255, 255</rdf:li>
    </rdf:Seq>
   </crs:ToneCurvePV2012>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"#;

#[test]
fn xmp_export_read_back_by_exiftool_and_exiv2_and_other_apps_fields_kept() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (paths, store, config) = library(tmp.path(), 3);
    // Rated, favourited and rejected through the gallery.
    {
        let server = Server::start(&store, &config);
        post(
            &server,
            "/api/rating",
            json!({"path": paths[0], "rating": 4}),
        );
        post(
            &server,
            "/api/favorite",
            json!({"path": paths[0], "favorite": true}),
        );
        post(
            &server,
            "/api/rating",
            json!({"path": paths[1], "rating": 2}),
        );
        post(
            &server,
            "/api/reject",
            json!({"path": paths[1], "rejected": true}),
        );
    }
    let (w, h) = (320.0, 240.0);
    let face = [80, 60, 64, 48];
    tags_and_person(
        &store,
        &[
            (&paths[0], vec!["beach", "sunset & sea"]),
            (&paths[2], vec!["forest"]),
        ],
        &paths[0],
        face,
    );
    // darktable and Lightroom were there first.
    let first = PathBuf::from(format!("{}.xmp", paths[0]));
    std::fs::write(&first, OTHER_APPS).unwrap();

    let r = run_in(
        tmp.path(),
        &["xmp", "export", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("3 sidecar(s) written (2 new, 1 merged)"),
        "{}",
        r.stdout
    );

    // Other applications' bytes are all there, unchanged.
    let merged = std::fs::read_to_string(&first).unwrap();
    for block in [
        ("   <darktable:history>", "</darktable:history>\n"),
        ("   <crs:ToneCurvePV2012>", "</crs:ToneCurvePV2012>\n"),
    ] {
        let s = OTHER_APPS.find(block.0).unwrap();
        let e = OTHER_APPS.find(block.1).unwrap() + block.1.len();
        assert!(
            merged.contains(&OTHER_APPS[s..e]),
            "{} not kept:\n{merged}",
            block.0
        );
    }
    let head = OTHER_APPS.find("\n    xmp:Rating").unwrap();
    assert_eq!(&merged[..head], &OTHER_APPS[..head], "{merged}");
    for attr in [
        "    xmpMM:DerivedFrom=\"IMG_0001.jpg\"\n    darktable:import_timestamp=\"63871912800000000\"\n    darktable:xmp_version=\"5\"\n    darktable:history_end=\"2\"\n    crs:Version=\"15.0\"\n    crs:Exposure2012=\"+0.35\"\n    crs:WhiteBalance=\"As Shot\"",
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n",
    ] {
        assert!(merged.contains(attr), "{attr} not kept:\n{merged}");
    }
    assert!(!merged.contains("xmp:Rating=\"1\""), "{merged}");

    // exiftool and exiv2 read the same values.
    let sidecars: Vec<PathBuf> = paths
        .iter()
        .map(|p| PathBuf::from(format!("{p}.xmp")))
        .collect();
    let expected: [(i64, Option<&str>, Vec<&str>); 3] = [
        (
            4,
            Some("Red"),
            vec!["darktable|format|jpg", "beach", "sunset & sea"],
        ),
        (-1, None, vec![]),
        (0, None, vec!["forest"]),
    ];
    for (i, (rating, label, keywords)) in expected.iter().enumerate() {
        let sidecar = &sidecars[i];
        let et = exiftool_reads(sidecar);
        let kv = exiv2_reads(sidecar);
        if i == 2 {
            // Never rated in Facet: no rating written.
            assert!(et.get("Rating").is_none(), "{et}");
            assert_eq!(exiv2_value(&kv, "Xmp.xmp.Rating"), None, "{kv:?}");
        } else {
            assert_eq!(et["Rating"], json!(rating), "{} {et}", sidecar.display());
            assert_eq!(
                exiv2_value(&kv, "Xmp.xmp.Rating"),
                Some(rating.to_string().as_str()),
                "{kv:?}"
            );
        }
        assert_eq!(et.get("Label").and_then(|l| l.as_str()), *label, "{et}");
        assert_eq!(exiv2_value(&kv, "Xmp.xmp.Label"), *label, "{kv:?}");
        assert_eq!(subjects(&et), *keywords, "{et}");
        let exiv2_subject = exiv2_value(&kv, "Xmp.dc.subject").unwrap_or("");
        assert_eq!(
            exiv2_subject,
            keywords.join(", "),
            "{} {kv:?}",
            sidecar.display()
        );
        let score = sql_json(
            &store,
            &format!(
                "SELECT aggregate, category FROM photos WHERE path = '{}'",
                paths[i]
            ),
        );
        let aggregate = score[0]["aggregate"].as_f64().unwrap();
        assert_eq!(
            exiv2_value(&kv, "Xmp.facet.Score"),
            Some(format!("{aggregate:.2}").as_str()),
            "{kv:?}"
        );
        assert_eq!(
            exiv2_value(&kv, "Xmp.facet.Category"),
            score[0]["category"].as_str(),
            "{kv:?}"
        );
    }

    // Ann's face as an MWG region, normalised centre and size.
    let et = exiftool_reads(&sidecars[0]);
    let info = &et["RegionInfo"];
    assert_eq!(info["AppliedToDimensions"]["W"], json!(320), "{et}");
    assert_eq!(info["AppliedToDimensions"]["H"], json!(240), "{et}");
    assert_eq!(info["AppliedToDimensions"]["Unit"], "pixel", "{et}");
    let region = &info["RegionList"][0];
    assert_eq!(region["Name"], "Ann", "{et}");
    assert_eq!(region["Type"], "Face", "{et}");
    let area = &region["Area"];
    let want = [
        ("X", (face[0] as f64 + face[2] as f64 / 2.0) / w),
        ("Y", (face[1] as f64 + face[3] as f64 / 2.0) / h),
        ("W", face[2] as f64 / w),
        ("H", face[3] as f64 / h),
    ];
    for (k, v) in want {
        let got = area[k].as_f64().unwrap_or_else(|| panic!("{k}: {et}"));
        assert!((got - v).abs() < 1e-6, "{k}: {got} vs {v}: {et}");
    }
    assert_eq!(area["Unit"], "normalized");
    let kv = exiv2_reads(&sidecars[0]);
    let key = |k: &str| format!("Xmp.mwg-rs.Regions/mwg-rs:RegionList[1]/{k}");
    assert_eq!(exiv2_value(&kv, &key("mwg-rs:Name")), Some("Ann"), "{kv:?}");
    assert_eq!(
        exiv2_value(&kv, &key("mwg-rs:Type")),
        Some("Face"),
        "{kv:?}"
    );
    for (k, v) in want {
        let got: f64 = exiv2_value(
            &kv,
            &key(&format!("mwg-rs:Area/stArea:{}", k.to_lowercase())),
        )
        .unwrap_or_else(|| panic!("{k}: {kv:?}"))
        .parse()
        .unwrap();
        assert!((got - v).abs() < 1e-6, "{k}: {got} vs {v}: {kv:?}");
    }
    assert_eq!(
        exiv2_value(&kv, "Xmp.mwg-rs.Regions/mwg-rs:AppliedToDimensions/stDim:w"),
        Some("320"),
        "{kv:?}"
    );

    // A second export changes nothing.
    let before: Vec<String> = sidecars
        .iter()
        .map(|s| std::fs::read_to_string(s).unwrap())
        .collect();
    let r = run_in(
        tmp.path(),
        &["xmp", "export", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 unchanged"), "{}", r.stdout);
    for (s, b) in sidecars.iter().zip(&before) {
        assert_eq!(&std::fs::read_to_string(s).unwrap(), b);
    }

    // Lightroom's naming: IMG_0001.xmp.
    let r = run_in(
        tmp.path(),
        &[
            "xmp",
            "export",
            "--naming",
            "lightroom",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let stem = Path::new(&paths[0]).with_extension("xmp");
    assert_eq!(exiftool_reads(&stem)["Rating"], json!(4));
}

/// The gallery's view of a photo: (rating, favorite, rejected).
fn in_gallery(server: &Server, path: &str) -> (i64, bool, bool) {
    let (status, v) = http_json(&format!(
        "{}/api/photos?per_page=100&hide_bursts=false&hide_duplicates=false&hide_rejected=false&hide_blinks=false",
        server.url
    ));
    assert_eq!(status, 200, "{v}");
    let p = v["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("{path} not listed: {v}"));
    (
        p["rating"].as_i64().unwrap_or(0),
        p["favorite"].as_bool().unwrap_or(false),
        p["rejected"].as_bool().unwrap_or(false),
    )
}

fn exiftool_edit(sidecar: &Path, args: &[&str]) {
    let out = Command::new("exiftool")
        .arg("-overwrite_original")
        .args(args)
        .arg(sidecar)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exiftool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn xmp_import_of_sidecars_edited_by_exiftool_changes_the_gallery() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (paths, store, config) = library(tmp.path(), 4);
    let server = Server::start(&store, &config);
    post(
        &server,
        "/api/rating",
        json!({"path": paths[0], "rating": 2}),
    );
    post(
        &server,
        "/api/rating",
        json!({"path": paths[2], "rating": 3}),
    );
    let r = run_in(
        tmp.path(),
        &["xmp", "export", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    std::thread::sleep(Duration::from_millis(50));

    // A cull in another application: a new rating, the favourite label and
    // a keyword; a reject; a rating Facet then changes again (Facet's is
    // newer); a sidecar written from nothing in Lightroom's naming.
    let sidecar = |i: usize| PathBuf::from(format!("{}.xmp", paths[i]));
    exiftool_edit(
        &sidecar(0),
        &[
            "-XMP-xmp:Rating=5",
            "-XMP-xmp:Label=Red",
            "-XMP-dc:Subject+=holiday",
        ],
    );
    exiftool_edit(&sidecar(1), &["-XMP-xmp:Rating=-1"]);
    exiftool_edit(&sidecar(2), &["-XMP-xmp:Rating=1"]);
    std::fs::remove_file(sidecar(3)).unwrap();
    let lightroom = Path::new(&paths[3]).with_extension("xmp");
    let out = Command::new("exiftool")
        .args(["-XMP-xmp:Rating=4", "-XMP-dc:Subject=lake"])
        .arg(&lightroom)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(50));
    post(
        &server,
        "/api/rating",
        json!({"path": paths[2], "rating": 4}),
    );

    assert_eq!(in_gallery(&server, &paths[0]), (2, false, false));
    let r = run_in(
        tmp.path(),
        &["xmp", "import", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("4 sidecar(s) read: 3 photo(s) with a new rating, favourite or reject, 2 with new keywords, 1 older than Facet's state (kept)"),
        "{}",
        r.stdout
    );

    // The gallery refreshes its listing when the tables change (every 2 s).
    let want = [
        (5, true, false),
        (0, false, true),
        (4, false, false),
        (4, false, false),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<_> = paths.iter().map(|p| in_gallery(&server, p)).collect();
        if got == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gallery shows {got:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let keywords = sql_json(
        &store,
        "SELECT path, keywords FROM user_keywords ORDER BY path",
    );
    assert_eq!(keywords.len(), 2, "{keywords:?}");
    assert_eq!(keywords[0]["keywords"], json!(["holiday"]));
    assert_eq!(keywords[1]["keywords"], json!(["lake"]));

    // Imported again: nothing changes.
    let r = run_in(
        tmp.path(),
        &["xmp", "import", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("0 photo(s) with a new rating, favourite or reject, 0 with new keywords"),
        "{}",
        r.stdout
    );
    drop(server);

    // And back out: the imported keyword is in the next export.
    let r = run_in(
        tmp.path(),
        &["xmp", "export", "--store", store.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let kv = exiv2_reads(&sidecar(0));
    assert_eq!(
        exiv2_value(&kv, "Xmp.dc.subject"),
        Some("holiday"),
        "{kv:?}"
    );
    assert_eq!(exiv2_value(&kv, "Xmp.xmp.Rating"), Some("5"), "{kv:?}");
}

/// The family mode: `--user` is required, imports go to that member's
/// `user_preferences`, and exports cover only the photos under their folders.
#[test]
fn xmp_for_one_member_of_the_family() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let mut paths = Vec::new();
    for (i, who) in ["ann", "bob"].iter().enumerate() {
        let dir = photos.join(who);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("IMG_000{i}.jpg"));
        std::fs::write(&p, cells_jpeg(320, 240, 60 + i as u32)).unwrap();
        paths.push(p.canonicalize().unwrap().to_string_lossy().into_owned());
    }
    let store = tmp.path().join("store");
    let r = run_into(facet(), None, &photos, &store, &[]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let dir = |p: &str| {
        Path::new(p)
            .parent()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let hash = format!("00:{}", "0".repeat(64));
    let config = tmp.path().join("family.json");
    std::fs::write(
        &config,
        json!({"users": {
            "ann": {"password_hash": hash, "directories": [dir(&paths[0])]},
            "bob": {"password_hash": hash, "directories": [dir(&paths[1])]},
        }})
        .to_string(),
    )
    .unwrap();
    let facet_xmp = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap(), "xmp"];
        all.extend_from_slice(args);
        all.extend(["--store", store.to_str().unwrap()]);
        run_in(tmp.path(), &all)
    };
    let r = facet_xmp(&["export"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("--user"), "{}", r.stderr);

    // Lightroom's sidecars (IMG_000N.xmp) for both photos.
    for p in &paths {
        let out = Command::new("exiftool")
            .args(["-XMP-xmp:Rating=3", "-XMP-xmp:Label=Red"])
            .arg(Path::new(p).with_extension("xmp"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let r = facet_xmp(&["import", "--user", "ann"]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("1 sidecar(s) read: 1 photo(s) with a new rating"),
        "{}",
        r.stdout
    );
    let rows = sql_json(
        &store,
        "SELECT preference_id, \"user\", path, rating, favorite, rejected FROM user_preferences",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["preference_id"], format!("ann:{}", paths[0]));
    assert_eq!(rows[0]["rating"], 3);
    assert_eq!(rows[0]["favorite"], true);
    assert_eq!(
        sql_json(&store, "SELECT count(*) AS n FROM user_state")[0]["n"],
        0,
        "the single-user state is not touched"
    );

    let r = facet_xmp(&["export", "--user", "bob", "--naming", "extension"]);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 sidecar(s) written (1 new, 0 merged)"),
        "{}",
        r.stdout
    );
    assert!(!Path::new(&format!("{}.xmp", paths[0])).exists());
    // Bob never rated his photo in Facet: Lightroom's rating is not in his
    // new sidecar (it is in IMG_0001.xmp, which stays).
    let kv = exiv2_reads(Path::new(&format!("{}.xmp", paths[1])));
    assert_eq!(exiv2_value(&kv, "Xmp.xmp.Rating"), None, "{kv:?}");
    assert!(exiv2_value(&kv, "Xmp.facet.Score").is_some(), "{kv:?}");
}
