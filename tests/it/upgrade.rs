//! A store an earlier Facet wrote — `tests/fixtures/store-v1`, format 1,
//! made by `tests/fixtures/make-store-v1.sh` with the Facet of its day — is
//! upgraded when it is opened (`photos.taken_local` computed from the
//! stored `date_taken`, every table given the columns it lacks), and then
//! serves every route of the gallery with its user state intact, and a run
//! over its photos analyses nothing again.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::*;
use crate::gallery::{Server, http_json};
use crate::lifecycle::post;

/// Where the fixture's store says its photos are.
const PHOTOS: &str = "/tmp/facet-store-v1/photos";

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The fixture's photos, back at the paths the store recorded (copies of
/// `../shared`'s, as make-store-v1.sh made them).
fn lay_out_photos(shared: &Path) -> PathBuf {
    let photos = PathBuf::from(PHOTOS);
    let _ = std::fs::remove_dir_all(&photos);
    std::fs::create_dir_all(photos.join("trip")).unwrap();
    std::fs::create_dir_all(photos.join("copy")).unwrap();
    for (from, to) in [
        ("faces/sample1.jpg", "trip/sample1.jpg"),
        ("faces/sample2.jpg", "trip/sample2.jpg"),
        ("objects/coffee.png", "trip/coffee.png"),
        ("faces/sample2.jpg", "copy/sample2.jpg"),
    ] {
        std::fs::copy(shared.join(from), photos.join(to)).unwrap();
    }
    photos
}

fn status(url: &str) -> u16 {
    ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .status()
        .as_u16()
}

#[test]
fn a_format_1_store_is_upgraded_and_serves_every_route() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    copy_dir(&root().join("tests/fixtures/store-v1"), &store);
    assert!(
        !store.join("facet-store.json").exists(),
        "format 1 predates the format file"
    );
    let photos = lay_out_photos(&shared);
    // With the modification times the store recorded: unchanged files.
    // (Read from another copy: the first command on `store` is the one
    // that upgrades it.)
    let probe = tmp.path().join("probe");
    copy_dir(&root().join("tests/fixtures/store-v1"), &probe);
    for row in sql_json(
        &probe,
        "SELECT path, CAST(file_mtime AS BIGINT) AS ns FROM photos",
    ) {
        let ns = row["ns"].as_i64().unwrap() as u64;
        std::fs::File::options()
            .write(true)
            .open(row["path"].as_str().unwrap())
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns))
            .unwrap();
    }
    let sample1 = photos.join("trip/sample1.jpg").display().to_string();

    // The first command that opens it upgrades it, and says so.
    let r = ran(facet()
        .args(["sql", "--format", "json", "--store"])
        .arg(&store)
        .arg("SELECT path, date_taken, taken_local FROM photos ORDER BY path")
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("store upgraded from format 1 to 2"),
        "{}",
        r.stderr
    );
    let rows: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let dated: Vec<&Value> = rows.iter().filter(|r| !r["date_taken"].is_null()).collect();
    assert!(!dated.is_empty(), "the face samples carry a capture time");
    for row in &rows {
        match row["date_taken"].as_str() {
            // `2019-06-01T14:03:22(.45)(+02:00)` → `2019-06-01T14:03:22(.45)`.
            Some(d) => {
                let taken = row["taken_local"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{row}"));
                assert_eq!(&taken[..19], &d[..19], "{row}");
            }
            None => assert!(row["taken_local"].is_null(), "{row}"),
        }
    }
    let format: Value =
        serde_json::from_slice(&std::fs::read(store.join("facet-store.json")).unwrap()).unwrap();
    assert_eq!(format["format"], 2);
    // Once is enough.
    let again = sql_json(&store, "SELECT count(*) AS n FROM photos");
    assert_eq!(again[0]["n"], 4);

    // Every route of the gallery answers (none fails on the old store), and
    // the user state the old Facet stored is there.
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, "{}").unwrap();
    let server = Server::start(&store, &config);
    let (_, albums) = http_json(&format!("{}/api/albums", server.url));
    let album = albums
        .as_array()
        .or_else(|| albums["albums"].as_array())
        .and_then(|a| a.iter().find(|a| a["name"] == "trip"))
        .unwrap_or_else(|| panic!("no album `trip`: {albums}"))
        .clone();
    let album_id = album["id"].as_str().unwrap().to_string();
    let ada = sql_json(&store, "SELECT person_id FROM persons WHERE name = 'Ada'");
    assert_eq!(ada.len(), 1, "the named person");
    let person = ada[0]["person_id"].as_i64().unwrap();
    let (_, doc) = http_json(&format!("{}/openapi.json", server.url));
    let paths = doc["paths"].as_object().expect("paths");
    let mut answered = Vec::new();
    for (path, ops) in paths {
        if ops.get("get").is_none() {
            continue;
        }
        // The parameters the document says are required, with values of
        // this store.
        let required: Vec<String> = ops["get"]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["required"] == true && p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let query: Vec<String> = required
            .iter()
            .map(|name| {
                let value = match name.as_str() {
                    "path" => urlencode(&sample1),
                    "person_id" => person.to_string(),
                    "id" => album_id.clone(),
                    "q" => "coffee".to_string(),
                    // The category of the stored comparison.
                    "category" => "silhouette".to_string(),
                    // Not a share link: refused, never a failure.
                    "share" => "not-a-token".to_string(),
                    other => panic!("{path}: no value for its parameter `{other}`"),
                };
                format!("{name}={value}")
            })
            .collect();
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let url = format!("{}{}{query}", server.url, path.replace("{file}", "app.js"));
        let code = status(&url);
        assert!(code < 500, "{path}: {code} on the upgraded store");
        answered.push((path.clone(), code));
    }
    for must in [
        "/api/photos",
        "/api/photo",
        "/thumbnail",
        "/image",
        "/api/groups",
        "/api/persons",
        "/api/persons/thumbnail",
        "/api/albums",
        "/api/album",
        "/api/filter_options",
        "/api/type_counts",
        "/api/failures",
        "/api/config",
    ] {
        let code = answered
            .iter()
            .find(|(p, _)| p == must)
            .unwrap_or_else(|| panic!("{must} is not in the document"))
            .1;
        assert_eq!(code, 200, "{must}");
    }
    let (code, photo) = http_json(&format!(
        "{}/api/photo?path={}",
        server.url,
        urlencode(&sample1)
    ));
    assert_eq!(code, 200, "{photo}");
    assert_eq!(photo["rating"], 4, "{photo}");
    let (_, persons) = http_json(&format!("{}/api/persons", server.url));
    assert!(persons.to_string().contains("\"Ada\""), "{persons}");
    // And it takes new writes.
    post(
        &server,
        "/api/rating",
        json!({"path": sample1, "rating": 5}),
    );
    drop(server);
    let rated = sql_json(&store, "SELECT rating FROM user_state WHERE rating = 5");
    assert_eq!(rated.len(), 1);

    // A run over its photos finds them all analysed: nothing again, and the
    // upgraded column stays.
    let r = run_into(
        facet_ort(),
        Some("tests/fixtures/store-v1.yaml"),
        &photos,
        &store,
        &[],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(" 0 analysed") && r.stdout.contains("4 skipped"),
        "{}",
        r.stdout
    );
    let kept = sql_json(
        &store,
        "SELECT count(*) AS n FROM photos WHERE taken_local IS NOT NULL",
    );
    assert_eq!(kept[0]["n"].as_i64().unwrap(), dated.len() as i64);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
