//! `/api/timeline`, `/api/memories`, `/api/map`, `/api/similar` and the
//! `viewer.features` switches, through `app(state).oneshot(request)`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field};
use axum::http::StatusCode;
use facet_config::FacetConfig;
use facet_store::Store;
use serde_json::{Value, json};

use crate::tests::{assert_bad, batch, enc, fixture_with, get_json, names, post, ts};
use crate::{AppState, app};

/// A library of six photos with capture dates, GPS and embeddings:
/// p1, p2 on 2021-07-14 in Paris (9, 5), p3 2021-08-01 in New York (7),
/// p4 2020-07-14 without GPS (8), p5 2019-07-14 in Sydney without embedding
/// (6), p6 undated and unscored.
async fn library(config: FacetConfig) -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let paths: Vec<String> = (1..=6).map(|i| format!("/lib/p{i}.jpg")).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let field = Field::new("embedding", DataType::FixedSizeList(item.clone(), 3), true);
    let vectors: Vec<f32> = [
        [1.0, 0.0, 0.0],
        [0.9, 0.1, 0.0],
        [0.0, 1.0, 0.0],
        [0.8, 0.2, 0.1],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
    ]
    .concat();
    let embedding = FixedSizeListArray::try_new(
        item,
        3,
        Arc::new(Float32Array::from(vectors)),
        Some(NullBuffer::from(vec![true, true, true, true, false, true])),
    )
    .unwrap();
    let table =
        facet_schemas::photos().with_extra([facet_schemas::Column::extra(&field, "test vectors")]);
    let photos = batch(vec![
        (
            "path",
            Arc::new(StringArray::from(paths.clone())) as ArrayRef,
        ),
        ("file_size", Arc::new(Int64Array::from(vec![1; 6]))),
        ("file_mtime", ts(1, 6)),
        (
            "date_taken",
            Arc::new(StringArray::from(vec![
                Some("2021-07-14T09:00:00"),
                Some("2021-07-14T18:00:00+02:00"),
                Some("2021-08-01T12:00:00"),
                Some("2020-07-14T08:00:00"),
                Some("2019-07-14T08:00:00"),
                None,
            ])),
        ),
        (
            "gps_lat",
            Arc::new(Float64Array::from(vec![
                Some(48.8566),
                Some(48.86),
                Some(40.7128),
                None,
                Some(-33.86),
                None,
            ])),
        ),
        (
            "gps_lon",
            Arc::new(Float64Array::from(vec![
                Some(2.3522),
                Some(2.35),
                Some(-74.006),
                None,
                Some(151.21),
                None,
            ])),
        ),
        // Its field (nullable, of nullable floats) is the table's.
        ("embedding", Arc::new(embedding)),
    ]);
    store.upsert(&table, photos).await.unwrap();
    let scores = batch(vec![
        ("path", Arc::new(StringArray::from(paths[..5].to_vec()))),
        (
            "aggregate",
            Arc::new(Float64Array::from(vec![9.0, 5.0, 7.0, 8.0, 6.0])),
        ),
    ]);
    store
        .replace(&facet_schemas::scores(), scores)
        .await
        .unwrap();
    (dir, app(AppState::new(store, &config)))
}

fn config(sections: Value) -> FacetConfig {
    let mut c = FacetConfig::default();
    for (k, v) in sections.as_object().unwrap() {
        c.viewer.other.insert(k.clone(), v.clone());
    }
    c
}

fn with_map() -> FacetConfig {
    config(json!({"features": {"show_map": true}}))
}

async fn ok(app: &axum::Router, uri: &str) -> Value {
    let (s, v) = get_json(app, uri).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {v}");
    v
}

fn group_names(g: &Value) -> Vec<String> {
    names(&json!({"photos": g["photos"]}))
}

#[tokio::test]
async fn timeline_years_months_days() {
    let (_d, app) = library(FacetConfig::default()).await;
    let v = ok(&app, "/api/timeline?per_group=2").await;
    assert_eq!(v["level"], "year");
    assert_eq!(v["total"], 5);
    assert_eq!(v["undated"], 1);
    let keys: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["2021", "2020", "2019"], "newest first");
    assert_eq!(v["groups"][0]["count"], 3);
    // The two best of 2021 (p1 9, p3 7), in capture order.
    assert_eq!(group_names(&v["groups"][0]), ["p1.jpg", "p3.jpg"]);
    let v = ok(&app, "/api/timeline?dir=asc").await;
    assert_eq!(v["groups"][0]["key"], "2019");
    assert_eq!(v["per_group"], 30, "timeline.photos_per_group");
    let v = ok(&app, "/api/timeline?year=2021").await;
    assert_eq!(v["level"], "month");
    assert_eq!(v["undated"], Value::Null);
    assert_eq!(v["groups"][0]["key"], "2021-08");
    assert_eq!(v["groups"][1]["key"], "2021-07");
    assert_eq!(v["groups"][1]["month"], 7);
    assert_eq!(v["groups"][1]["count"], 2);
    let v = ok(&app, "/api/timeline?year=2021&month=7").await;
    assert_eq!(v["level"], "day");
    assert_eq!(v["groups"][0]["key"], "2021-07-14");
    assert_eq!(v["groups"][0]["day"], 14);
    assert_eq!(group_names(&v["groups"][0]), ["p1.jpg", "p2.jpg"]);
    let v = ok(&app, "/api/timeline?year=1999").await;
    assert_eq!(v["groups"], json!([]));
    // The filters of /api/photos apply.
    let v = ok(&app, "/api/timeline?min_score=8").await;
    assert_eq!(v["total"], 2);
}

#[tokio::test]
async fn timeline_per_group_comes_from_the_config() {
    let mut c = FacetConfig::default();
    c.other
        .insert("timeline".into(), json!({"photos_per_group": 1}));
    let (_d, app) = library(c).await;
    let v = ok(&app, "/api/timeline").await;
    assert_eq!(v["per_group"], 1);
    assert_eq!(group_names(&v["groups"][0]), ["p1.jpg"]);
    let (_, c) = get_json(&app, "/api/config").await;
    assert_eq!(c["timeline"]["photos_per_group"], 1);
}

#[tokio::test]
async fn memories_are_earlier_years_on_this_day_best_first() {
    let (_d, app) = library(FacetConfig::default()).await;
    let v = ok(&app, "/api/memories?date=2022-07-14").await;
    assert_eq!(v["date"], "2022-07-14");
    assert_eq!(v["total"], 4);
    assert_eq!(names(&v), ["p1.jpg", "p4.jpg", "p5.jpg", "p2.jpg"]);
    assert_eq!(v["photos"][1]["years_ago"], 2);
    assert_eq!(
        v["years"],
        json!([{"year": 2021, "count": 2}, {"year": 2020, "count": 1}, {"year": 2019, "count": 1}])
    );
    let v = ok(&app, "/api/memories?date=2021-07-14").await;
    assert_eq!(names(&v), ["p4.jpg", "p5.jpg"], "earlier years only");
    let v = ok(&app, "/api/memories?date=2022-07-14&limit=1").await;
    assert_eq!(names(&v), ["p1.jpg"]);
    assert_eq!(v["total"], 4);
    let v = ok(&app, "/api/memories?date=2022-01-01").await;
    assert_eq!(v["total"], 0);
    let v = ok(&app, "/api/memories").await;
    assert_eq!(v["date"].as_str().unwrap().len(), 10, "today");
}

#[tokio::test]
async fn map_clusters_below_the_threshold_and_lists_photos_above() {
    let (_d, app) = library(with_map()).await;
    let v = ok(&app, "/api/map?zoom=2").await;
    assert_eq!(v["clustered"], true);
    assert_eq!(v["cluster_zoom_threshold"], 10);
    assert_eq!(v["total"], 4, "geotagged photos");
    let m = v["markers"].as_array().unwrap();
    assert_eq!(m.len(), 3, "{v}");
    assert_eq!(m[0]["count"], 2, "Paris");
    assert_eq!(m[0]["photo"]["filename"], "p1.jpg", "the best");
    assert!((m[0]["lat"].as_f64().unwrap() - 48.8583).abs() < 1e-3);
    let v = ok(&app, "/api/map?zoom=12").await;
    assert_eq!(v["clustered"], false);
    let m = v["markers"].as_array().unwrap();
    assert_eq!(m.len(), 4);
    assert!(m.iter().all(|m| m["count"] == 1));
    assert_eq!(m[0]["lat"], 48.8566);
    // The box: Paris only; a box past the antimeridian (140°E–160°E).
    let v = ok(&app, "/api/map?zoom=5&bbox=-10,40,10,50").await;
    assert_eq!(v["total"], 2);
    let v = ok(&app, "/api/map?zoom=5&bbox=-220,-40,-200,-30").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["markers"][0]["photo"]["filename"], "p5.jpg");
    // A place's box opens all its photos in the grid.
    let v = ok(&app, "/api/map?zoom=2").await;
    let paris = v["markers"][0]["bbox"].as_str().unwrap().to_string();
    assert_eq!(paris, "2.35,48.8566,2.3522,48.86");
    let mut all = names(&ok(&app, &format!("/api/photos?bbox={paris}")).await);
    all.sort();
    assert_eq!(all, ["p1.jpg", "p2.jpg"]);
    let (s, v) = get_json(&app, "/api/photos?bbox=1,2,3").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["param"], "bbox");
    let mut c = with_map();
    c.other
        .insert("map".into(), json!({"cluster_zoom_threshold": 2}));
    let (_d2, app2) = library(c).await;
    let v = ok(&app2, "/api/map?zoom=2").await;
    assert_eq!(v["clustered"], false);
}

#[tokio::test]
async fn similar_photos_by_embedding() {
    let (_d, app) = library(FacetConfig::default()).await;
    let v = ok(&app, &format!("/api/similar?path={}", enc("/lib/p1.jpg"))).await;
    let n = names(&v);
    assert_eq!(n[..2], ["p2.jpg", "p4.jpg"], "{v}");
    assert!(!n.contains(&"p1.jpg".to_string()), "not itself");
    assert!(v["photos"][0]["similarity"].as_f64().unwrap() > 0.99);
    let v = ok(&app, "/api/similar?path=%2Flib%2Fp1.jpg&limit=1").await;
    assert_eq!(names(&v), ["p2.jpg"]);
    let (s, _) = get_json(&app, "/api/similar?path=%2Flib%2Fnope.jpg").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get_json(&app, "/api/similar?path=%2Flib%2Fp5.jpg").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"], "this photo has no embedding");
}

#[tokio::test]
async fn similar_without_embeddings_is_409() {
    let f = fixture_with(FacetConfig::default()).await;
    let (s, v) = get_json(
        &f.app,
        &format!("/api/similar?path={}", enc(&f.path("a.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no embeddings"));
}

#[tokio::test]
async fn bad_browse_parameters_are_400_naming_the_parameter() {
    let f = fixture_with(with_map()).await;
    for (uri, param) in [
        ("/api/timeline?month=7", "month"),
        ("/api/timeline?year=abc", "year"),
        ("/api/timeline?year=2021&month=13", "month"),
        ("/api/timeline?per_group=0", "per_group"),
        ("/api/timeline?dir=up", "dir"),
        ("/api/timeline?min_score=11", "min_score"),
        ("/api/memories?date=2022-13-01", "date"),
        ("/api/memories?date=today", "date"),
        ("/api/memories?limit=0", "limit"),
        ("/api/map?zoom=23", "zoom"),
        ("/api/map?zoom=x", "zoom"),
        ("/api/map?bbox=1,2,3", "bbox"),
        ("/api/map?bbox=0,50,10,40", "bbox"),
        ("/api/map?bbox=0,0,10,95", "bbox"),
        ("/api/map?bbox=a,b,c,d", "bbox"),
        ("/api/map?bbox=10,0,0,10", "bbox"),
        ("/api/similar", "path"),
        ("/api/similar?path=%2Fx.jpg&limit=0", "limit"),
        ("/api/similar?path=%2Fx.jpg&limit=101", "limit"),
    ] {
        assert_bad(&f, uri, param).await;
    }
}

#[tokio::test]
async fn features_switched_off_hide_their_routes() {
    // The reference's defaults: all on but the map.
    let (_d, app) = library(FacetConfig::default()).await;
    let (s, _) = get_json(&app, "/api/map").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "show_map is off by default");
    let (_, c) = get_json(&app, "/api/config").await;
    assert_eq!(c["features"]["show_map"], false);
    assert_eq!(c["features"]["show_timeline"], true);
    let (_, doc) = get_json(&app, "/openapi.json").await;
    assert!(doc["paths"].get("/api/map").is_none());
    assert!(doc["paths"].get("/api/timeline").is_some());

    let off = config(json!({"features": {
        "show_similar_button": false, "show_timeline": false, "show_memories": false,
        "show_rating_controls": false, "show_critique": false, "show_map": false}}));
    let (_d2, app) = library(off).await;
    for uri in [
        "/api/timeline",
        "/api/memories",
        "/api/map",
        "/api/similar?path=%2Flib%2Fp1.jpg",
    ] {
        let (s, _) = get_json(&app, uri).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
    }
    for (route, body, status) in [
        ("/api/rating", json!({"rating": 3}), StatusCode::NOT_FOUND),
        (
            "/api/favorite",
            json!({"favorite": true}),
            StatusCode::NOT_FOUND,
        ),
        // No flag for rejects.
        ("/api/reject", json!({"rejected": true}), StatusCode::OK),
    ] {
        let mut body = body;
        body["path"] = json!("/lib/p1.jpg");
        let (s, v) = post(&app, route, body).await;
        assert_eq!(s, status, "{route}: {v}");
    }
    let (_, d) = get_json(&app, "/api/photo?path=%2Flib%2Fp1.jpg").await;
    assert!(d.get("score_breakdown").is_none(), "show_critique off");
    let (_, c) = get_json(&app, "/api/config").await;
    assert_eq!(c["features"]["show_similar_button"], false);
    let (_, doc) = get_json(&app, "/openapi.json").await;
    for route in [
        "/api/timeline",
        "/api/memories",
        "/api/similar",
        "/api/rating",
    ] {
        assert!(doc["paths"].get(route).is_none(), "{route}");
    }
    // viewer.display.show_similar_button, as the brief of the gallery names it.
    let (_d3, app) = library(config(json!({"display": {"show_similar_button": false}}))).await;
    let (s, _) = get_json(&app, "/api/similar?path=%2Flib%2Fp1.jpg").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_allows_leaflet_only_with_the_map() {
    let f = fixture_with(FacetConfig::default()).await;
    let (_, h, _) = crate::tests::get(&f.app, "/").await;
    let csp = h[axum::http::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("unpkg"), "{csp}");
    let f = fixture_with(with_map()).await;
    let (_, h, _) = crate::tests::get(&f.app, "/").await;
    let csp = h[axum::http::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self' https://unpkg.com"), "{csp}");
    assert!(csp.contains("https://tile.openstreetmap.org"), "{csp}");
}
