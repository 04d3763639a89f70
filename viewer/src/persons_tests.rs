//! `/api/persons` (list, thumbnail, rename, hide, merge), the person filter
//! of `/api/photos`, `/api/search` without a text encoder, the
//! `viewer.cache_ttl_seconds` cache, and `/api/photo` as the view has it,
//! through `app(state).oneshot(request)`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Builder, Float64Array, Int32Array, Int64Array,
    ListBuilder, StringArray,
};
use axum::http::{StatusCode, header};
use facet_config::FacetConfig;
use facet_store::Store;
use serde_json::{Value, json};

use crate::tests::{
    Fixture, assert_bad, batch, enc, fixture_with, get, get_json, names, post, post_raw, ts,
};
use crate::{AppState, app};

/// The fixture's photos with faces: person 1 "Ann" in a.jpg and b.png
/// (representative face a.jpg#0), person 2 (unnamed, no representative) in
/// a.jpg, person 3 hidden in c.cr2 (no face crop); one face of nobody.
async fn people(config: FacetConfig) -> Fixture {
    let f = fixture_with(config).await;
    let store = Store::open(&f.store_dir).unwrap();
    let (a, b, c) = (f.path("a.jpg"), f.path("b.png"), f.path("c.cr2"));
    let faces = batch(vec![
        (
            "face_id",
            Arc::new(StringArray::from(vec![
                format!("{a}#0"),
                format!("{a}#1"),
                format!("{b}#0"),
                format!("{c}#0"),
                format!("{c}#1"),
            ])) as ArrayRef,
        ),
        (
            "path",
            Arc::new(StringArray::from(vec![
                a.clone(),
                a.clone(),
                b.clone(),
                c.clone(),
                c.clone(),
            ])),
        ),
        (
            "face_index",
            Arc::new(Int32Array::from(vec![0, 1, 0, 0, 1])),
        ),
        (
            "confidence",
            Arc::new(Float64Array::from(vec![0.99, 0.9, 0.95, 0.8, 0.7])),
        ),
        (
            "thumbnail",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\xFF\xD8face-a0"[..]),
                Some(&b"\xFF\xD8face-a1"[..]),
                Some(&b"\xFF\xD8face-b0"[..]),
                None,
                None,
            ])),
        ),
        (
            "person_id",
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                Some(1),
                Some(3),
                None,
            ])),
        ),
    ]);
    store.replace(&facet_schemas::faces(), faces).await.unwrap();
    let mut centroid = ListBuilder::new(Float32Builder::new());
    for v in [[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8]] {
        centroid.values().append_slice(&v);
        centroid.append(true);
    }
    let persons = batch(vec![
        ("person_id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("Ann"), None, None])),
        ),
        (
            "representative_face",
            Arc::new(StringArray::from(vec![
                Some(format!("{a}#0")),
                None,
                Some(format!("{c}#0")),
            ])),
        ),
        ("face_count", Arc::new(Int64Array::from(vec![2, 1, 1]))),
        ("centroid", Arc::new(centroid.finish())),
        (
            "hidden",
            Arc::new(BooleanArray::from(vec![false, false, true])),
        ),
        ("updated_at", ts(1_700_000_000_000_000_000, 3)),
    ]);
    store
        .replace(&facet_schemas::persons(), persons)
        .await
        .unwrap();
    f
}

fn ids(v: &Value) -> Vec<i64> {
    v["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn persons_are_listed_with_counts_most_photographed_first() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = get_json(&f.app, "/api/persons").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [1, 2], "hidden left out: {v}");
    assert_eq!(v["total"], 2);
    assert_eq!(v["hidden"], 1);
    let ann = &v["persons"][0];
    assert_eq!(ann["name"], "Ann");
    assert_eq!(ann["face_count"], 2);
    assert_eq!(ann["photo_count"], 2);
    assert_eq!(ann["hidden"], false);
    assert_eq!(ann["thumbnail"], "/api/persons/thumbnail?person_id=1");
    assert_eq!(v["persons"][1]["name"], Value::Null);
    assert_eq!(v["persons"][1]["photo_count"], 1);

    let (_, v) = get_json(&f.app, "/api/persons?include_hidden=true").await;
    assert_eq!(ids(&v), [1, 2, 3]);
    assert_eq!(v["persons"][2]["hidden"], true);
    let (_, v) = get_json(&f.app, "/api/persons?min_photos=2").await;
    assert_eq!(ids(&v), [1]);
    let (_, v) = get_json(&f.app, "/api/persons?limit=1").await;
    assert_eq!(ids(&v), [1]);
    assert_eq!(v["total"], 2);

    assert_bad(&f, "/api/persons?include_hidden=maybe", "include_hidden").await;
    assert_bad(&f, "/api/persons?min_photos=-1", "min_photos").await;
    assert_bad(&f, "/api/persons?limit=0", "limit").await;
}

#[tokio::test]
async fn a_store_without_faces_has_no_persons() {
    let f = fixture_with(FacetConfig::default()).await;
    let (s, v) = get_json(&f.app, "/api/persons").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 0);
    let (s, _) = get_json(&f.app, "/api/persons/thumbnail?person_id=1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get_json(&f.app, "/api/photos?person=1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_person_thumbnail_is_the_representative_face_crop() {
    let f = people(FacetConfig::default()).await;
    let (s, h, body) = get(&f.app, "/api/persons/thumbnail?person_id=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(body, b"\xFF\xD8face-a0");
    // No representative face: the most confident face with a crop.
    let (s, _, body) = get(&f.app, "/api/persons/thumbnail?person_id=2").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, b"\xFF\xD8face-a1");
    // No crop at all.
    let (s, v) = get_json(&f.app, "/api/persons/thumbnail?person_id=3").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = get_json(&f.app, "/api/persons/thumbnail?person_id=99").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].as_str().unwrap().contains("99"), "{v}");
    assert_bad(&f, "/api/persons/thumbnail", "person_id").await;
    assert_bad(&f, "/api/persons/thumbnail?person_id=ann", "person_id").await;
}

/// A person without a face crop and a person that does not exist get the
/// same 404 (the message tells nothing of whether the id exists).
#[tokio::test]
async fn a_person_without_a_crop_reads_as_no_person() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = get_json(&f.app, "/api/persons/thumbnail?person_id=3").await;
    let (s2, v2) = get_json(&f.app, "/api/persons/thumbnail?person_id=99").await;
    assert_eq!((s, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(
        v["error"].as_str().unwrap().replace('3', "N"),
        v2["error"].as_str().unwrap().replace("99", "N"),
        "{v} {v2}"
    );
}

#[tokio::test]
async fn photos_filter_by_person() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = get_json(&f.app, "/api/photos?person=1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(names(&v), ["a.jpg", "b.png"]);
    assert_eq!(v["total"], 2);
    let (_, v) = get_json(&f.app, "/api/photos?person=2").await;
    assert_eq!(names(&v), ["a.jpg"]);
    // With the other filters.
    let (_, v) = get_json(&f.app, "/api/photos?person=1&camera=Nikon%20D70").await;
    assert_eq!(names(&v), ["b.png"]);
    // The timeline takes it too.
    let (s, v) = get_json(&f.app, "/api/timeline?person=2").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 1, "{v}");
    let (s, v) = get_json(&f.app, "/api/photos?person=99").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_bad(&f, "/api/photos?person=ann", "person").await;
    assert_bad(&f, "/api/timeline?person=1.5", "person").await;
}

#[tokio::test]
async fn persons_are_renamed_hidden_and_shown() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = post(
        &f.app,
        "/api/persons/rename",
        json!({"person_id": 2, "name": "  Bob "}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "Bob");
    assert_eq!(v["photo_count"], 1);
    let (_, v) = get_json(&f.app, "/api/persons").await;
    assert_eq!(v["persons"][1]["name"], "Bob", "{v}");
    // An empty name removes it.
    let (_, v) = post(
        &f.app,
        "/api/persons/rename",
        json!({"person_id": 2, "name": ""}),
    )
    .await;
    assert_eq!(v["name"], Value::Null);

    let (s, v) = post(
        &f.app,
        "/api/persons/hide",
        json!({"person_id": 1, "hidden": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hidden"], true);
    let (_, v) = get_json(&f.app, "/api/persons").await;
    assert_eq!(ids(&v), [2]);
    assert_eq!(v["hidden"], 2);
    let (_, v) = post(
        &f.app,
        "/api/persons/hide",
        json!({"person_id": 3, "hidden": false}),
    )
    .await;
    assert_eq!(v["hidden"], false);
    let (_, v) = get_json(&f.app, "/api/persons").await;
    assert_eq!(ids(&v), [2, 3]);
    // The name, the centroid and the rest of the row are kept.
    let (_, v) = get_json(&f.app, "/api/persons?include_hidden=1").await;
    assert_eq!(v["persons"][0]["name"], "Ann", "{v}");
    assert_eq!(
        v["persons"][0]["representative_face"],
        json!(format!("{}#0", f.path("a.jpg")))
    );

    for (route, body, param) in [
        ("/api/persons/rename", json!({"name": "x"}), "person_id"),
        (
            "/api/persons/rename",
            json!({"person_id": "1", "name": "x"}),
            "person_id",
        ),
        ("/api/persons/rename", json!({"person_id": 1}), "name"),
        (
            "/api/persons/rename",
            json!({"person_id": 1, "name": 5}),
            "name",
        ),
        (
            "/api/persons/rename",
            json!({"person_id": 1, "name": "x".repeat(201)}),
            "name",
        ),
        ("/api/persons/hide", json!({"person_id": 1}), "hidden"),
        (
            "/api/persons/hide",
            json!({"person_id": 1, "hidden": "yes"}),
            "hidden",
        ),
        ("/api/persons/merge", json!({"into": 1}), "from"),
        ("/api/persons/merge", json!({"from": 1}), "into"),
        ("/api/persons/merge", json!({"into": 1, "from": 1}), "from"),
        ("/api/persons/merge", json!([1, 2]), "body"),
    ] {
        let (s, v) = post(&f.app, route, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{route} {body}: {v}");
        assert_eq!(v["param"], param, "{route} {body}: {v}");
    }
    let (s, v) = post_raw(&f.app, "/api/persons/hide", "{not json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["param"], "body");
    for (route, body) in [
        ("/api/persons/rename", json!({"person_id": 99, "name": "x"})),
        (
            "/api/persons/hide",
            json!({"person_id": 99, "hidden": true}),
        ),
        ("/api/persons/merge", json!({"into": 99, "from": 1})),
        ("/api/persons/merge", json!({"into": 1, "from": 99})),
    ] {
        let (s, v) = post(&f.app, route, body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{route} {body}: {v}");
    }
}

#[tokio::test]
async fn merging_moves_the_faces_and_pins_them() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = post(&f.app, "/api/persons/merge", json!({"into": 1, "from": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["person_id"], 1);
    assert_eq!(v["merged"], 2);
    assert_eq!(v["faces_moved"], 1);
    assert_eq!(v["face_count"], 3);
    assert_eq!(v["photo_count"], 2);
    assert_eq!(v["name"], "Ann");
    let (_, v) = get_json(&f.app, "/api/persons?include_hidden=true").await;
    assert_eq!(ids(&v), [1, 3], "person 2 is gone: {v}");
    let (_, v) = get_json(&f.app, "/api/photos?person=1").await;
    assert_eq!(names(&v), ["a.jpg", "b.png"]);
    let (s, _) = get_json(&f.app, "/api/photos?person=2").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // In the store: the face moved, the assignment recorded, the centroid
    // the weighted mean, unit length.
    let store = Store::open(&f.store_dir).unwrap();
    let (_, rows) = store
        .sql("SELECT person_id FROM faces WHERE person_id = 2")
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    let (_, rows) = store
        .sql("SELECT face_id, person_id FROM face_assignments")
        .await
        .unwrap();
    let json = crate::json::rows(&rows);
    assert_eq!(
        json,
        vec![
            json!({"face_id": format!("{}#1", f.path("a.jpg")), "person_id": 1})
                .as_object()
                .unwrap()
                .clone()
        ]
    );
    let (_, rows) = store
        .sql("SELECT centroid FROM persons WHERE person_id = 1")
        .await
        .unwrap();
    use arrow::array::AsArray;
    let c = rows[0].column(0).as_list::<i32>().value(0);
    let c = c
        .as_primitive::<arrow::datatypes::Float32Type>()
        .values()
        .to_vec();
    let n = (4.0f32 + 1.0).sqrt();
    assert!(
        (c[0] - 2.0 / n).abs() < 1e-5 && (c[1] - 1.0 / n).abs() < 1e-5,
        "{c:?}"
    );
}

#[tokio::test]
async fn search_without_a_text_encoder_says_so() {
    let f = people(FacetConfig::default()).await;
    let (s, v) = get_json(&f.app, "/api/config").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["search"]["available"], false, "{v}");
    assert_eq!(v["features"]["show_semantic_search"], true);
    let (s, v) = get_json(&f.app, "/api/search?q=red").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("text encoder")
            && v["error"].as_str().unwrap().contains("--pipeline"),
        "{v}"
    );
    assert_bad(&f, "/api/search", "q").await;
    assert_bad(&f, "/api/search?q=%20", "q").await;
    assert_bad(&f, &format!("/api/search?q={}", "a".repeat(501)), "q").await;
    assert_bad(&f, "/api/search?q=red&limit=0", "limit").await;
    assert_bad(&f, "/api/search?q=red&min_score=11", "min_score").await;
    // Switched off: no route.
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("features".into(), json!({"show_semantic_search": false}));
    let off = fixture_with(config).await;
    let (s, _) = get_json(&off.app, "/api/search?q=red").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, doc) = get_json(&off.app, "/openapi.json").await;
    assert!(doc["paths"].get("/api/search").is_none());
    let (_, doc) = get_json(&f.app, "/openapi.json").await;
    for route in [
        "/api/search",
        "/api/persons",
        "/api/persons/thumbnail",
        "/api/persons/rename",
        "/api/persons/hide",
        "/api/persons/merge",
    ] {
        assert!(doc["paths"].get(route).is_some(), "{route}");
    }
}

/// The `/api/photo` answer as the `photos` view's join gives it.
async fn joined(state: &AppState, path: &str) -> Value {
    let b = crate::api::lookup(state, "photos", path, None)
        .await
        .unwrap();
    Value::Object(crate::json::rows(&[b]).into_iter().next().unwrap())
}

#[tokio::test]
async fn photo_detail_has_the_views_columns_without_the_join() {
    let f = people(FacetConfig::default()).await;
    let state = AppState::new(Store::open(&f.store_dir).unwrap(), &FacetConfig::default());
    // A rated photo, a scored one, an unscored one.
    let (s, _) = post(
        &f.app,
        "/api/rating",
        json!({"path": f.path("b.png"), "rating": 3}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for name in ["a.jpg", "b.png", "c.cr2", "d it's é.jpg"] {
        let path = f.path(name);
        let mut want = joined(&state, &path).await;
        let got = Value::Object(crate::api::view_row(&state, &path).await.unwrap());
        assert_eq!(got, want, "{name}");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want), "{name}: the view's column order");
        let (s, detail) = get_json(&f.app, &format!("/api/photo?path={}", enc(&path))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(detail["path"], want["path"]);
        want["filename"] = json!(name);
        assert_eq!(detail["filename"], want["filename"]);
    }
    let (s, _) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("zz.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn aggregate_answers_are_cached_until_the_store_changes() {
    let f = people(FacetConfig::default()).await;
    let state = AppState::new(Store::open(&f.store_dir).unwrap(), &FacetConfig::default());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let compute = || async {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!(calls.load(std::sync::atomic::Ordering::SeqCst)))
    };
    let a = crate::cache::cached(&state, "k".into(), compute)
        .await
        .unwrap();
    let b = crate::cache::cached(&state, "k".into(), compute)
        .await
        .unwrap();
    assert_eq!((a, b), (json!(1), json!(1)), "the second from the cache");
    let c = crate::cache::cached(&state, "other".into(), compute)
        .await
        .unwrap();
    assert_eq!(c, json!(2), "another key");
    // A change to any table (a rating) invalidates.
    let app = app(state.clone());
    let (s, _) = post(
        &app,
        "/api/favorite",
        json!({"path": f.path("a.jpg"), "favorite": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let d = crate::cache::cached(&state, "k".into(), compute)
        .await
        .unwrap();
    assert_eq!(d, json!(3));

    // Through the routes: a new photo shows in the counts and the
    // dropdowns at once.
    let (_, before) = get_json(&app, "/api/type_counts").await;
    let (_, options) = get_json(&app, "/api/filter_options").await;
    assert_eq!(before["all"], 4);
    let store = Store::open(&f.store_dir).unwrap();
    let more = batch(vec![
        (
            "path",
            Arc::new(StringArray::from(vec![f.path("e.jpg")])) as ArrayRef,
        ),
        ("file_size", Arc::new(Int64Array::from(vec![500]))),
        ("file_mtime", ts(1_600_000_000_000_000_000, 1)),
        (
            "camera_model",
            Arc::new(StringArray::from(vec!["Pentax K10D"])),
        ),
    ]);
    store.upsert(&facet_schemas::photos(), more).await.unwrap();
    let (_, after) = get_json(&app, "/api/type_counts").await;
    assert_eq!(after["all"], 5);
    let (_, options2) = get_json(&app, "/api/filter_options").await;
    assert_ne!(options, options2);

    // `cache_ttl_seconds: 0`: computed every time.
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("cache_ttl_seconds".into(), json!(0));
    let uncached = AppState::new(Store::open(&f.store_dir).unwrap(), &config);
    let n0 = calls.load(std::sync::atomic::Ordering::SeqCst);
    crate::cache::cached(&uncached, "k".into(), compute)
        .await
        .unwrap();
    crate::cache::cached(&uncached, "k".into(), compute)
        .await
        .unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), n0 + 2);
}
