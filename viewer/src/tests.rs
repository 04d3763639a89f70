//! Every route through `app(state).oneshot(request)` on a real Lance store
//! built in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListBuilder,
    RecordBatch, StringArray, StringBuilder, TimestampNanosecondArray,
};
use arrow::datatypes::{Field, Schema};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use facet_config::FacetConfig;
use facet_store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{AppState, app};

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) lib: PathBuf,
    pub(crate) store_dir: PathBuf,
    pub(crate) app: Router,
}

impl Fixture {
    pub(crate) fn path(&self, name: &str) -> String {
        self.lib.join(name).to_string_lossy().into_owned()
    }
}

const BREAKDOWN: &str = r#"[{"kind":"metric","metric":"aesthetic","raw":null,"normalized":5.0,"weight_percent":40.0,"points":2.0,"neutral":true},{"kind":"adjustment","name":"noise","points":-0.5,"reason":"noise sigma 6.1 above 4"}]"#;

pub(crate) fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

pub(crate) fn ts(v: i64, n: usize) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(vec![v; n]).with_timezone("UTC"))
}

fn tags(rows: &[&[&str]]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for t in *r {
            b.values().append_value(t);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Writes the photos and scores rows (as a run would).
pub(crate) async fn write_rows(store: &Store, lib: &Path, thumb_file: &Path) {
    let p = |n: &str| lib.join(n).to_string_lossy().into_owned();
    let paths = vec![p("a.jpg"), p("b.png"), p("c.cr2"), p("d it's é.jpg")];
    let n = paths.len();
    let photos = batch(vec![
        ("path", Arc::new(StringArray::from(paths.clone()))),
        (
            "file_size",
            Arc::new(Int64Array::from(vec![100, 200, 300, 400])),
        ),
        ("file_mtime", ts(1_600_000_000_000_000_000, n)),
        (
            "format",
            Arc::new(StringArray::from(vec!["jpeg", "png", "raw-cr2", "jpeg"])),
        ),
        (
            "width",
            Arc::new(Int32Array::from(vec![6000, 800, 5000, 10])),
        ),
        (
            "height",
            Arc::new(Int32Array::from(vec![4000, 600, 3000, 10])),
        ),
        (
            "camera_make",
            Arc::new(StringArray::from(vec![
                Some("Canon"),
                Some("Nikon"),
                Some("Canon"),
                None,
            ])),
        ),
        (
            "camera_model",
            Arc::new(StringArray::from(vec![
                Some("Canon EOS R5"),
                Some("Nikon D70"),
                Some("Canon EOS R5"),
                None,
            ])),
        ),
        (
            "lens",
            Arc::new(StringArray::from(vec![
                Some("RF24-70mm F2.8"),
                None,
                Some("RF50mm F1.2"),
                None,
            ])),
        ),
        (
            "date_taken",
            Arc::new(StringArray::from(vec![
                Some("2021-07-14T09:30:05.25+02:00"),
                Some("2019-01-02T10:00:00"),
                Some("2020-05-05T23:59:59"),
                None,
            ])),
        ),
        (
            "tags",
            tags(&[
                &["landscape", "mountain"],
                &["portrait"],
                &["landscape"],
                &[],
            ]),
        ),
        (
            "aesthetic",
            Arc::new(Float64Array::from(vec![
                Some(7.5),
                Some(4.0),
                Some(6.0),
                None,
            ])),
        ),
        (
            "sharpness",
            Arc::new(Float64Array::from(vec![
                Some(900.0),
                Some(50.0),
                Some(300.0),
                Some(f64::NAN),
            ])),
        ),
        (
            "thumbnail",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\xFF\xD8thumb-a"[..]),
                Some(&b"\xFF\xD8thumb-b"[..]),
                None,
                None,
            ])),
        ),
        (
            "thumbnail_path",
            Arc::new(StringArray::from(vec![
                None,
                None,
                Some(thumb_file.to_string_lossy().into_owned()),
                None,
            ])),
        ),
    ]);
    store
        .upsert(&facet_schemas::photos(), photos)
        .await
        .unwrap();
    let scores = batch(vec![
        ("path", Arc::new(StringArray::from(paths[..3].to_vec()))),
        (
            "category",
            Arc::new(StringArray::from(vec![
                "landscape",
                "portrait",
                "landscape",
            ])),
        ),
        (
            "aggregate",
            Arc::new(Float64Array::from(vec![8.5, 6.0, 7.0])),
        ),
        (
            "score_breakdown",
            Arc::new(StringArray::from(vec![BREAKDOWN, BREAKDOWN, "not json"])),
        ),
        (
            "top_picks_score",
            Arc::new(Float64Array::from(vec![8.0, 5.0, 6.5])),
        ),
        (
            "is_top_pick",
            Arc::new(BooleanArray::from(vec![true, false, false])),
        ),
    ]);
    store
        .replace(&facet_schemas::scores(), scores)
        .await
        .unwrap();
}

pub(crate) async fn fixture_with(config: FacetConfig) -> Fixture {
    fixture_scanning(config, None).await
}

/// [`fixture_with`] whose gallery scans with `scanner`.
pub(crate) async fn fixture_scanning(
    config: FacetConfig,
    scanner: Option<Arc<dyn crate::scan::Scanner>>,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("library");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("a.jpg"), b"\xFF\xD8original-a").unwrap();
    std::fs::write(lib.join("b.png"), b"\x89PNGoriginal-b").unwrap();
    std::fs::write(lib.join("c.cr2"), b"raw-c").unwrap();
    std::fs::write(lib.join("d it's é.jpg"), b"\xFF\xD8original-d").unwrap();
    let thumb = dir.path().join("thumbs").join("c_640.jpg");
    std::fs::create_dir_all(thumb.parent().unwrap()).unwrap();
    std::fs::write(&thumb, b"\xFF\xD8thumb-c").unwrap();
    let store_dir = dir.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    write_rows(&store, &lib, &thumb).await;
    Fixture {
        app: app(AppState::with_scanner(store, &config, scanner)),
        lib: lib.canonicalize().unwrap(),
        store_dir,
        _dir: dir,
    }
}

async fn fixture() -> Fixture {
    fixture_with(FacetConfig::default()).await
}

/// Percent-encodes a query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

pub(crate) async fn get(app: &Router, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub(crate) async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (s, h, b) = get(app, uri).await;
    assert_eq!(
        h[header::CONTENT_TYPE],
        "application/json",
        "{uri}: {}",
        String::from_utf8_lossy(&b)
    );
    (s, serde_json::from_slice(&b).unwrap())
}

pub(crate) async fn post_raw(app: &Router, uri: &str, body: &str) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, _, b) = send(app, req).await;
    (s, serde_json::from_slice(&b).unwrap())
}

pub(crate) async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    post_raw(app, uri, &body.to_string()).await
}

pub(crate) fn names(v: &Value) -> Vec<String> {
    v["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["filename"].as_str().unwrap().to_string())
        .collect()
}

async fn list(f: &Fixture, query: &str) -> Vec<String> {
    let (s, v) = get_json(&f.app, &format!("/api/photos?{query}")).await;
    assert_eq!(s, StatusCode::OK, "{query}: {v}");
    assert_eq!(
        v["total"].as_u64().unwrap() as usize,
        names(&v).len(),
        "{query}"
    );
    names(&v)
}

#[tokio::test]
async fn photos_lists_pages_of_the_listed_columns() {
    let f = fixture().await;
    let (s, v) = get_json(&f.app, "/api/photos").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 4);
    assert_eq!(v["page"], 1);
    assert_eq!(v["per_page"], 64, "the reference's default_per_page");
    assert_eq!(v["has_more"], false);
    // Default sort: aggregate, descending, unscored last.
    assert_eq!(names(&v), ["a.jpg", "c.cr2", "b.png", "d it's é.jpg"]);
    let a = &v["photos"][0];
    assert_eq!(a["path"], f.path("a.jpg"));
    assert_eq!(a["category"], "landscape");
    assert_eq!(a["aggregate"], 8.5);
    assert_eq!(a["aesthetic"], 7.5);
    assert_eq!(a["top_picks_score"], 8.0);
    assert_eq!(a["is_top_pick"], true);
    assert_eq!(a["camera_model"], "Canon EOS R5");
    assert_eq!(a["date_taken"], "2021-07-14T09:30:05.25+02:00");
    assert_eq!(a["width"], 6000);
    assert_eq!(a["tags"], json!(["landscape", "mountain"]));
    assert_eq!(a["rating"], 0);
    assert_eq!(a["favorite"], false);
    assert_eq!(a["rejected"], false);
    for p in v["photos"].as_array().unwrap() {
        let o = p.as_object().unwrap();
        for hidden in [
            "thumbnail",
            "thumbnail_path",
            "score_breakdown",
            "exposure_score",
            "burst_group_id",
        ] {
            assert!(!o.contains_key(hidden), "{hidden} in the list");
        }
    }
    // Pages.
    let (_, v) = get_json(&f.app, "/api/photos?per_page=3&page=2").await;
    assert_eq!(names(&v), ["d it's é.jpg"]);
    assert_eq!(v["total"], 4);
    assert_eq!(v["has_more"], false);
    let (_, v) = get_json(&f.app, "/api/photos?per_page=3&page=1").await;
    assert_eq!(v["has_more"], true);
    let (_, v) = get_json(&f.app, "/api/photos?per_page=3&page=9").await;
    assert_eq!(names(&v), Vec::<String>::new());
    let (_, v) = get_json(&f.app, "/api/photos?per_page=100000").await;
    assert_eq!(v["per_page"], 500, "capped");
}

#[tokio::test]
async fn photos_filters() {
    let f = fixture().await;
    assert_eq!(
        list(&f, "camera=Canon%20EOS%20R5").await,
        ["a.jpg", "c.cr2"]
    );
    assert_eq!(list(&f, "camera=Nope").await, Vec::<String>::new());
    assert_eq!(list(&f, "category=portrait").await, ["b.png"]);
    assert_eq!(list(&f, "lens=RF50mm%20F1.2").await, ["c.cr2"]);
    assert_eq!(list(&f, "tag=landscape").await, ["a.jpg", "c.cr2"]);
    assert_eq!(list(&f, "tag=mountain").await, ["a.jpg"]);
    assert_eq!(list(&f, "date_from=2020-05-05").await, ["a.jpg", "c.cr2"]);
    assert_eq!(list(&f, "date_to=2020-05-05").await, ["c.cr2", "b.png"]);
    assert_eq!(
        list(&f, "date_from=2019-01-02&date_to=2019-01-02").await,
        ["b.png"]
    );
    assert_eq!(list(&f, "min_score=7").await, ["a.jpg", "c.cr2"]);
    assert_eq!(list(&f, "max_score=7").await, ["c.cr2", "b.png"]);
    assert_eq!(list(&f, "min_aesthetic=6").await, ["a.jpg", "c.cr2"]);
    assert_eq!(list(&f, "top_picks=true").await, ["a.jpg"]);
    assert_eq!(list(&f, "top_picks=false").await.len(), 4);
    assert_eq!(
        list(&f, "camera=Canon%20EOS%20R5&min_score=8").await,
        ["a.jpg"]
    );
    // A hostile value is a value, not SQL.
    assert_eq!(
        list(&f, &format!("camera={}", enc("x' OR '1'='1"))).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn photos_sorts() {
    let f = fixture().await;
    assert_eq!(
        list(&f, "sort=aggregate&dir=asc").await,
        ["b.png", "c.cr2", "a.jpg", "d it's é.jpg"],
        "nulls last both ways"
    );
    assert_eq!(
        list(&f, "sort=date&dir=asc").await,
        ["b.png", "c.cr2", "a.jpg", "d it's é.jpg"]
    );
    assert_eq!(
        list(&f, "sort=date").await,
        ["a.jpg", "c.cr2", "b.png", "d it's é.jpg"]
    );
    assert_eq!(
        list(&f, "sort=filename&dir=asc").await,
        ["a.jpg", "b.png", "c.cr2", "d it's é.jpg"]
    );
    assert_eq!(
        list(&f, "sort=top_picks&dir=desc").await,
        ["a.jpg", "c.cr2", "b.png", "d it's é.jpg"]
    );
    assert_eq!(list(&f, "sort=aesthetic&dir=DESC").await[0], "a.jpg");
    for key in ["sharpness", "exposure", "color", "rating"] {
        assert_eq!(list(&f, &format!("sort={key}")).await.len(), 4, "{key}");
    }
}

pub(crate) async fn assert_bad(f: &Fixture, uri: &str, param: &str) {
    let (s, v) = get_json(&f.app, uri).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
    assert_eq!(v["param"], param, "{uri}: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{param}:")),
        "{uri}: {v}"
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let f = fixture().await;
    for (uri, param) in [
        ("/api/photos?sort=bogus", "sort"),
        ("/api/photos?sort=aggregate;DROP", "sort"),
        ("/api/photos?dir=up", "dir"),
        ("/api/photos?page=0", "page"),
        ("/api/photos?page=two", "page"),
        ("/api/photos?per_page=0", "per_page"),
        ("/api/photos?per_page=-5", "per_page"),
        ("/api/photos?min_score=11", "min_score"),
        ("/api/photos?max_score=abc", "max_score"),
        ("/api/photos?min_score=8&max_score=7", "max_score"),
        ("/api/photos?min_aesthetic=NaN", "min_aesthetic"),
        ("/api/photos?date_from=2020-13-01", "date_from"),
        ("/api/photos?date_to=yesterday", "date_to"),
        (
            "/api/photos?date_from=2021-01-01&date_to=2020-01-01",
            "date_to",
        ),
        ("/api/photos?top_picks=maybe", "top_picks"),
        ("/api/photos?rating_min=6", "rating_min"),
        ("/api/photos?favorites=2", "favorites"),
        ("/api/photos?hide_rejected=nah", "hide_rejected"),
        ("/api/type_counts?hide_rejected=nah", "hide_rejected"),
        ("/api/photo", "path"),
        ("/api/photo?path=", "path"),
        ("/thumbnail", "path"),
        ("/image", "path"),
        ("/api/download", "path"),
    ] {
        assert_bad(&f, uri, param).await;
    }
}

#[tokio::test]
async fn photo_detail_has_every_column_but_binaries_and_the_parsed_breakdown() {
    let f = fixture().await;
    let (s, v) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("a.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["filename"], "a.jpg");
    assert_eq!(v["camera_make"], "Canon");
    assert_eq!(v["lens"], "RF24-70mm F2.8");
    assert_eq!(v["sharpness"], 900.0);
    assert_eq!(v["file_size"], 100);
    assert!(v["file_mtime"].as_str().unwrap().starts_with("2020-09-13"));
    assert_eq!(v["rating"], 0);
    let b = v["score_breakdown"].as_array().unwrap();
    assert_eq!(b[0]["metric"], "aesthetic");
    assert_eq!(b[0]["neutral"], true);
    assert_eq!(b[1]["reason"], "noise sigma 6.1 above 4");
    let o = v.as_object().unwrap();
    assert!(!o.contains_key("thumbnail"));
    assert!(!o.contains_key("thumbnail_path"));
    // A NaN metric is null; an unparsable breakdown is null; a photo without
    // scores has null scores.
    let (_, d) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("d it's é.jpg"))),
    )
    .await;
    assert_eq!(d["sharpness"], Value::Null);
    assert_eq!(d["aggregate"], Value::Null);
    assert_eq!(d["filename"], "d it's é.jpg");
    let (_, c) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("c.cr2"))),
    )
    .await;
    assert_eq!(c["score_breakdown"], Value::Null);
    // Unknown photos.
    let (s, v) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("zzz.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "no such photo");
}

#[tokio::test]
async fn hostile_paths_are_404_and_read_nothing() {
    let f = fixture().await;
    let secret = f.lib.join("../secret.txt");
    std::fs::write(&secret, "root:x:0:0").unwrap();
    let lib = f.lib.to_string_lossy().into_owned();
    for path in [
        "../../etc/passwd".to_string(),
        "/etc/passwd".to_string(),
        format!("{lib}/../secret.txt"),
        format!("{lib}/a.jpg/../../secret.txt"),
        secret.to_string_lossy().into_owned(),
        format!("{lib}/a.jpg\0"),
    ] {
        for route in ["/api/photo", "/thumbnail", "/image", "/api/download"] {
            let (s, h, b) = get(&f.app, &format!("{route}?path={}", enc(&path))).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{route} {path:?}");
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
            let body = String::from_utf8_lossy(&b);
            assert!(!body.contains("root:"), "{body}");
            assert!(!body.contains(&lib), "{body}: no filesystem path");
        }
    }
    // A stored photo whose file is gone: 404 without the path.
    std::fs::remove_file(f.lib.join("b.png")).unwrap();
    let (s, _, b) = get(&f.app, &format!("/image?path={}", enc(&f.path("b.png")))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&b).contains(&lib));
}

#[tokio::test]
async fn thumbnails_from_the_column_or_the_file_with_cache_headers() {
    let f = fixture().await;
    let uri = format!("/thumbnail?path={}", enc(&f.path("a.jpg")));
    let (s, h, b) = get(&f.app, &uri).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(b, b"\xFF\xD8thumb-a");
    assert!(
        h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let tag = h[header::ETAG].clone();
    let req = Request::get(&uri)
        .header(header::IF_NONE_MATCH, tag)
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&f.app, req).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert!(b.is_empty());
    // thumbnail_path (storage.mode = filesystem).
    let (s, _, b) = get(
        &f.app,
        &format!("/thumbnail?path={}", enc(&f.path("c.cr2"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, b"\xFF\xD8thumb-c");
    // None at all.
    let (s, _, _) = get(
        &f.app,
        &format!("/thumbnail?path={}", enc(&f.path("d it's é.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn images_are_originals_when_displayable_else_thumbnails() {
    let f = fixture().await;
    let img = |n: &str| format!("/image?path={}", enc(&f.path(n)));
    let (s, h, b) = get(&f.app, &img("a.jpg")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(b, b"\xFF\xD8original-a");
    let (_, h, b) = get(&f.app, &img("b.png")).await;
    assert_eq!(h[header::CONTENT_TYPE], "image/png");
    assert_eq!(b, b"\x89PNGoriginal-b");
    let (_, h, b) = get(&f.app, &img("c.cr2")).await;
    assert_eq!(h[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(b, b"\xFF\xD8thumb-c", "RAW: the thumbnail");
}

#[tokio::test]
async fn downloads_are_attachments() {
    let f = fixture().await;
    let (s, h, b) = get(
        &f.app,
        &format!("/api/download?path={}", enc(&f.path("c.cr2"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, b"raw-c");
    assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        "attachment; filename=\"c.cr2\"; filename*=UTF-8''c.cr2"
    );
    let (s, h, _) = get(
        &f.app,
        &format!("/api/download?path={}", enc(&f.path("d it's é.jpg"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        "attachment; filename=\"d it's _.jpg\"; filename*=UTF-8''d%20it%27s%20%C3%A9.jpg"
    );
}

#[tokio::test]
async fn filter_options_and_type_counts() {
    let f = fixture().await;
    let (s, v) = get_json(&f.app, "/api/filter_options").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["cameras"],
        json!([{"value": "Canon EOS R5", "count": 2}, {"value": "Nikon D70", "count": 1}])
    );
    assert_eq!(
        v["categories"],
        json!([{"value": "landscape", "count": 2}, {"value": "portrait", "count": 1}])
    );
    assert_eq!(
        v["tags"],
        json!([{"value": "landscape", "count": 2}, {"value": "mountain", "count": 1}, {"value": "portrait", "count": 1}])
    );
    assert_eq!(v["lenses"].as_array().unwrap().len(), 2);
    let (s, v) = get_json(&f.app, "/api/type_counts").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["all"], 4);
    assert_eq!(v["top_picks"], 1);
    assert_eq!(
        v["categories"][0],
        json!({"value": "landscape", "count": 2})
    );
}

#[tokio::test]
async fn ratings_favourites_and_rejects_round_trip_and_survive_a_rescan() {
    let f = fixture().await;
    let a = f.path("a.jpg");
    let (s, v) = post(&f.app, "/api/rating", json!({"path": a, "rating": 4})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"path": a, "rating": 4, "favorite": false, "rejected": false})
    );
    let (_, d) = get_json(&f.app, &format!("/api/photo?path={}", enc(&a))).await;
    assert_eq!(d["rating"], 4);
    let (s, v) = post(
        &f.app,
        "/api/favorite",
        json!({"path": a, "favorite": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["rating"], 4, "a favourite keeps the rating");
    assert_eq!(v["favorite"], true);
    assert_eq!(list(&f, "rating_min=4").await, ["a.jpg"]);
    assert_eq!(list(&f, "favorites=true").await, ["a.jpg"]);
    assert_eq!(list(&f, "sort=rating").await[0], "a.jpg");
    // Rejected photos are hidden by default (viewer.defaults.hide_rejected).
    let b = f.path("b.png");
    let (s, v) = post(&f.app, "/api/reject", json!({"path": b, "rejected": true})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["rejected"], true);
    assert_eq!(list(&f, "").await, ["a.jpg", "c.cr2", "d it's é.jpg"]);
    assert_eq!(list(&f, "hide_rejected=false").await.len(), 4);
    let (_, c) = get_json(&f.app, "/api/type_counts").await;
    assert_eq!(c["all"], 3);
    // A re-scan rewrites photos and scores, never user_state.
    let store = Store::open(&f.store_dir).unwrap();
    let thumb = f.lib.join("../thumbs/c_640.jpg");
    write_rows(&store, &f.lib, &thumb).await;
    let (_, d) = get_json(&f.app, &format!("/api/photo?path={}", enc(&a))).await;
    assert_eq!(
        (d["rating"].clone(), d["favorite"].clone()),
        (json!(4), json!(true))
    );
    assert_eq!(list(&f, "").await.len(), 3, "still rejected");
    // Clearing.
    let (_, v) = post(&f.app, "/api/rating", json!({"path": a, "rating": 0})).await;
    assert_eq!(v["rating"], 0);
    let (_, v) = post(&f.app, "/api/reject", json!({"path": b, "rejected": false})).await;
    assert_eq!(v["rejected"], false);
    assert_eq!(list(&f, "").await.len(), 4);
    // The table is there for SQL too.
    let (_, batches) = store
        .sql("SELECT count(*) FROM photos WHERE favorite")
        .await
        .unwrap();
    assert_eq!(crate::json::rows(&batches)[0]["count(*)"], 1);
}

#[tokio::test]
async fn bad_user_state_bodies_are_400_and_unknown_photos_404() {
    let f = fixture().await;
    let a = f.path("a.jpg");
    for (route, body, param) in [
        ("/api/rating", json!({"path": a, "rating": 6}), "rating"),
        ("/api/rating", json!({"path": a, "rating": -1}), "rating"),
        ("/api/rating", json!({"path": a, "rating": "5"}), "rating"),
        ("/api/rating", json!({"path": a}), "rating"),
        ("/api/rating", json!({"rating": 3}), "path"),
        ("/api/rating", json!([1, 2]), "body"),
        (
            "/api/favorite",
            json!({"path": a, "favorite": "yes"}),
            "favorite",
        ),
        ("/api/reject", json!({"path": a}), "rejected"),
    ] {
        let (s, v) = post(&f.app, route, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{route} {body}: {v}");
        assert_eq!(v["param"], param, "{route} {body}: {v}");
    }
    let (s, v) = post_raw(&f.app, "/api/rating", "{not json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["param"], "body");
    for path in ["../../etc/passwd", "/nope.jpg"] {
        let (s, _) = post(&f.app, "/api/rating", json!({"path": path, "rating": 3})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, _) = post(
        &f.app,
        "/api/favorite",
        json!({"path": "/nope.jpg", "favorite": true}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let f = fixture().await;
    let (s, v) = get_json(&f.app, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    // Every route (of the features on) is there: `routes_tests`.
    let params: Vec<&str> = v["paths"]["/api/photos"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "camera",
        "sort",
        "dir",
        "page",
        "per_page",
        "top_picks",
        "tag",
    ] {
        assert!(params.contains(&p), "{p}");
    }
}

#[tokio::test]
async fn the_ui_is_embedded() {
    let f = fixture().await;
    let (s, h, b) = get(&f.app, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(h.contains_key(header::CONTENT_SECURITY_POLICY));
    let html = String::from_utf8(b).unwrap();
    assert!(html.contains("/assets/app.js") && html.contains("/assets/app.css"));
    for id in [
        "grid",
        "f-camera",
        "sort",
        "viewer",
        "v-breakdown",
        "v-rating",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let (s, h, b) = get(&f.app, "/assets/app.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(String::from_utf8(b).unwrap().contains("/api/photos"));
    let (s, h, _) = get(&f.app, "/assets/app.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // The translation tables, English and French; no other language.
    for lang in ["en", "fr"] {
        let (s, t) = get_json(&f.app, &format!("/assets/i18n/{lang}.json")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(t["views.grid"], "Photos", "{lang}");
    }
    for uri in [
        "/assets/nope.js",
        "/assets/..%2FCargo.toml",
        "/nope",
        "/assets/i18n/de.json",
        "/assets/i18n/../app.js",
    ] {
        let (s, _, _) = get(&f.app, uri).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn viewer_settings_come_from_the_config() {
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("pagination".into(), json!({"default_per_page": 2}));
    config.viewer.other.insert(
        "defaults".into(),
        json!({"sort": "filename", "sort_direction": "ASC", "hide_rejected": false}),
    );
    config.viewer.other.insert(
        "display".into(),
        json!({"thumbnail_slider": {"default_px": 200}}),
    );
    config
        .viewer
        .other
        .insert("dropdowns".into(), json!({"max_cameras": 1}));
    let f = fixture_with(config).await;
    let (_, v) = get_json(&f.app, "/api/photos").await;
    assert_eq!(v["per_page"], 2);
    assert_eq!(names(&v), ["a.jpg", "b.png"]);
    let (_, c) = get_json(&f.app, "/api/config").await;
    assert_eq!(c["display"]["thumbnail_slider"]["default_px"], 200);
    assert_eq!(c["display"]["thumbnail_slider"]["max_px"], 400);
    assert_eq!(c["defaults"]["sort"], "filename");
    assert_eq!(c["defaults"]["hide_rejected"], false);
    let (_, o) = get_json(&f.app, "/api/filter_options").await;
    assert_eq!(o["cameras"].as_array().unwrap().len(), 1);
    // Past the dropdown's limit, a search finds the others: every value
    // containing the text, in any case, with counts and how many match.
    let (s, o) = get_json(&f.app, "/api/filter_options?field=camera").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["total"], 2, "{o}");
    assert_eq!(
        o["values"],
        json!([{"value": "Canon EOS R5", "count": 2}]),
        "the top 1 of 2"
    );
    let (_, o) = get_json(&f.app, "/api/filter_options?field=camera&q=niK").await;
    assert_eq!(
        o,
        json!({"field": "camera", "q": "niK", "total": 1, "values": [{"value": "Nikon D70", "count": 1}]})
    );
    let (_, o) = get_json(&f.app, "/api/filter_options?field=camera&q=o").await;
    assert_eq!(o["total"], 2, "{o}");
    assert_eq!(
        o["values"].as_array().unwrap().len(),
        2,
        "a search is not held to the dropdown's limit"
    );
    let (_, o) = get_json(&f.app, "/api/filter_options?field=camera&q=o&limit=1").await;
    assert_eq!(
        (o["total"].clone(), o["values"].as_array().unwrap().len()),
        (json!(2), 1)
    );
    let (_, o) = get_json(&f.app, "/api/filter_options?field=lens&q=rf50").await;
    assert_eq!(o["values"], json!([{"value": "RF50mm F1.2", "count": 1}]));
    let (_, o) = get_json(&f.app, "/api/filter_options?field=tag&q=MOUNT").await;
    assert_eq!(o["values"], json!([{"value": "mountain", "count": 1}]));
    let (_, o) = get_json(&f.app, "/api/filter_options?field=camera&q=leica").await;
    assert_eq!(
        (o["total"].clone(), o["values"].clone()),
        (json!(0), json!([]))
    );
    assert_bad(&f, "/api/filter_options?field=model", "field").await;
    assert_bad(&f, "/api/filter_options?field=camera&limit=0", "limit").await;
    assert_bad(&f, "/api/filter_options?q=nik", "q").await;
    let (_, bad) = get_json(&f.app, "/api/filter_options?field=model").await;
    assert!(
        bad["error"].as_str().unwrap().contains("\"model\""),
        "{bad}"
    );
    let (_, _) = post(
        &f.app,
        "/api/reject",
        json!({"path": f.path("a.jpg"), "rejected": true}),
    )
    .await;
    let (_, v) = get_json(&f.app, "/api/photos").await;
    assert_eq!(v["total"], 4, "hide_rejected: false");
}

#[test]
fn path_mapping_applies_to_file_reads() {
    let mut config = FacetConfig::default();
    config.viewer.other.insert(
        "path_mapping".into(),
        json!({"\\\\NAS\\Photos": "/mnt/nas/Photos", "/old": "/new/"}),
    );
    let s = crate::Settings::from_config(&config);
    assert_eq!(
        s.local_path("\\\\NAS\\Photos\\2024\\a.jpg"),
        PathBuf::from("/mnt/nas/Photos/2024/a.jpg")
    );
    assert_eq!(s.local_path("/old/x.jpg"), PathBuf::from("/new/x.jpg"));
    assert_eq!(s.local_path("/older/x.jpg"), PathBuf::from("/older/x.jpg"));
}

#[tokio::test]
async fn groups_route_and_group_filters() {
    let f = fixture().await;
    let store = Store::open(&f.store_dir).unwrap();
    let (a, b) = (f.path("a.jpg"), f.path("b.png"));
    let groups = batch(vec![
        (
            "path",
            Arc::new(StringArray::from(vec![a.clone(), b.clone()])),
        ),
        (
            "burst_group_id",
            Arc::new(StringArray::from(vec!["b-1", "b-1"])),
        ),
        (
            "is_burst_lead",
            Arc::new(BooleanArray::from(vec![true, false])),
        ),
        (
            "burst_lead_reason",
            Arc::new(StringArray::from(vec!["sharpest", "sharpest"])),
        ),
        ("burst_size", Arc::new(Int32Array::from(vec![2, 2]))),
    ]);
    store
        .replace(&facet_schemas::photo_groups(), groups)
        .await
        .unwrap();
    assert_eq!(list(&f, "hide_bursts=false").await.len(), 4);
    let shown = list(&f, "").await;
    assert!(!shown.contains(&"b.png".to_string()), "{shown:?}");
    assert_eq!(shown.len(), 3);
    assert_eq!(list(&f, "hide_blinks=true").await.len(), 3);
    // A blink on a.jpg: hidden by default, shown on request.
    let blink = batch(vec![
        ("path", Arc::new(StringArray::from(vec![a.clone()]))),
        ("is_blink", Arc::new(BooleanArray::from(vec![true]))),
    ]);
    store
        .update_columns(&facet_schemas::photos(), blink)
        .await
        .unwrap();
    let shown = list(&f, "").await;
    assert!(!shown.contains(&"a.jpg".to_string()), "{shown:?}");
    assert!(
        list(&f, "hide_blinks=false")
            .await
            .contains(&"a.jpg".to_string())
    );
    let (s, v) = get_json(&f.app, &format!("/api/groups?path={}", enc(&b))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["burst"]["size"], 2);
    assert_eq!(v["burst"]["lead"], json!(a));
    assert_eq!(v["burst"]["reason"], "sharpest");
    // Why in codes the page words in its language, and in English words.
    let codes = v["burst"]["why_codes"].as_array().unwrap();
    let words: Vec<String> = codes
        .iter()
        .map(|c| c.as_str().unwrap().replace('_', " "))
        .collect();
    assert_eq!(v["burst"]["why"], json!(words.join(", ")), "{v}");
    assert_eq!(v["burst"]["decision"], Value::Null);
    assert_eq!(v["duplicate"], Value::Null);
    assert_eq!(v["similar"], Value::Null);
    // Every member as a listed photo, the lead first.
    let members = v["burst"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{v}");
    assert_eq!(members[0]["path"], json!(a));
    assert_eq!(members[0]["is_lead"], true);
    assert_eq!(members[1]["filename"], "b.png");
    assert_eq!(members[1]["is_lead"], false);
    assert!(members[1].get("aggregate").is_some(), "{v}");
    // The first page counts what the defaults hide, and a photo shown on
    // request says why it was hidden.
    let (s, page) = get_json(&f.app, "/api/photos").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(
        page["hidden"],
        json!({"total": 2, "burst": 1, "blink": 1}),
        "{page}"
    );
    let (_, page) = get_json(&f.app, "/api/photos?hide_bursts=false&hide_blinks=false").await;
    let why: std::collections::HashMap<String, Value> = page["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["filename"].as_str().unwrap().to_string(),
                p["hidden_by"].clone(),
            )
        })
        .collect();
    assert_eq!(why["b.png"], json!(["burst"]));
    assert_eq!(why["a.jpg"], json!(["blink"]));
    assert_eq!(why["c.cr2"], Value::Null);
    let (_, page2) = get_json(&f.app, "/api/photos?page=2&per_page=2").await;
    assert_eq!(page2["hidden"], Value::Null);
    // Decisions: the body is checked before anything is written.
    for (body, param) in [
        (json!({"kind": "burst", "decision": "lead"}), "path"),
        (
            json!({"path": b, "kind": "bursts", "decision": "lead"}),
            "kind",
        ),
        (
            json!({"path": b, "kind": "burst", "decision": "best"}),
            "decision",
        ),
        (
            json!({"path": b, "kind": "duplicate", "decision": "lead"}),
            "path",
        ),
    ] {
        let (s, v) = post(&f.app, "/api/groups/decide", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["param"], param, "{body}: {v}");
    }
    let (s, _) = post(
        &f.app,
        "/api/groups/decide",
        json!({"path": "/nope.jpg", "kind": "burst", "decision": "lead"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_bad(&f, "/api/photos?hide_bursts=maybe", "hide_bursts").await;
    assert_bad(&f, "/api/photos?hide_duplicates=2", "hide_duplicates").await;
    assert_bad(&f, "/api/photos?hide_blinks=x", "hide_blinks").await;
    assert_bad(&f, "/api/groups", "path").await;
    let (s, _) = get_json(&f.app, "/api/groups?path=%2Fnope.jpg").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A request with a session cookie (and a client address, as `serve` gives).
fn with_cookie(
    req: axum::http::request::Builder,
    cookie: Option<&str>,
) -> axum::http::request::Builder {
    let req = req.extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
        [192, 0, 2, 7],
        4000,
    ))));
    match cookie {
        Some(c) => req.header(header::COOKIE, c),
        None => req,
    }
}

pub(crate) async fn login(app: &Router, password: &str) -> (StatusCode, Option<String>) {
    let req = with_cookie(Request::post("/api/login"), None)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "password": password }).to_string()))
        .unwrap();
    let (s, h, _) = send(app, req).await;
    let cookie = h.get(header::SET_COOKIE).map(|v| {
        let v = v.to_str().unwrap();
        assert!(
            v.contains("HttpOnly") && v.contains("SameSite=Strict"),
            "{v}"
        );
        v.split(';').next().unwrap().to_string()
    });
    (s, cookie)
}

#[tokio::test]
async fn the_viewer_password_closes_every_route_but_the_page_and_login() {
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("password".into(), json!("family photos"));
    config
        .viewer
        .other
        .insert("edition_password".into(), json!("editor pass"));
    let f = fixture_with(config).await;
    let a = f.lib.join("a.jpg").to_string_lossy().into_owned();
    let anon = |uri: &str| {
        with_cookie(Request::get(uri), None)
            .body(Body::empty())
            .unwrap()
    };
    for uri in [
        "/api/photos",
        "/api/photo?path=x",
        "/api/filter_options",
        "/api/type_counts",
        "/api/groups",
        "/api/failures",
        "/api/config",
        &format!("/thumbnail?path={}", enc(&a)),
        &format!("/image?path={}", enc(&a)),
        &format!("/api/download?path={}", enc(&a)),
        "/no/such/route",
    ] {
        let (s, _, b) = send(&f.app, anon(uri)).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{uri}: {}",
            String::from_utf8_lossy(&b)
        );
        assert!(!String::from_utf8_lossy(&b).contains("a.jpg"));
    }
    let (s, _, _) = send(&f.app, anon("/")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, me) = send(&f.app, anon("/api/me")).await;
    let me: Value = serde_json::from_slice(&me).unwrap();
    assert_eq!(me["can_view"], false);
    assert_eq!(me["password_required"], true);

    // A wrong password is refused; the right one opens the gallery for viewing.
    assert_eq!(
        login(&f.app, "family photo").await,
        (StatusCode::UNAUTHORIZED, None)
    );
    let (s, viewer) = login(&f.app, "family photos").await;
    assert_eq!(s, StatusCode::OK);
    let viewer = viewer.unwrap();
    assert!(
        !viewer.contains("family"),
        "the password is not in the cookie"
    );
    let get_as = |uri: &str, c: &str| {
        with_cookie(Request::get(uri), Some(c))
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = send(&f.app, get_as("/api/photos", &viewer)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = send(
        &f.app,
        get_as(&format!("/thumbnail?path={}", enc(&a)), &viewer),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Rating needs the edition password.
    let rate = |c: &str| {
        with_cookie(Request::post("/api/rating"), Some(c))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"path": a, "rating": 4}).to_string()))
            .unwrap()
    };
    let (s, _, _) = send(&f.app, rate(&viewer)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, editor) = login(&f.app, "editor pass").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = send(&f.app, rate(&editor.unwrap())).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));

    // A forged or tampered cookie is no session: the id's last hex digit
    // changed (always: a different digit), and a well-formed id never given.
    let last = viewer.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &viewer[..viewer.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_ne!(forged, viewer);
    let (s, _, _) = send(&f.app, get_as("/api/photos", &forged)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let made_up = format!("facet_session={}", "ab".repeat(32));
    let (s, _, _) = send(&f.app, get_as("/api/photos", &made_up)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Logging out clears the cookie.
    let (s, h, _) = send(
        &f.app,
        with_cookie(Request::post("/api/logout"), Some(&viewer))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // ... and ends the session: its cookie, kept, opens nothing.
    let (s, _, _) = send(&f.app, get_as("/api/photos", &viewer)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logins_are_throttled_per_client() {
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("password".into(), json!("secret pw"));
    let f = fixture_with(config).await;
    for _ in 0..crate::auth::LOGIN_ATTEMPTS_PER_MINUTE {
        assert_eq!(login(&f.app, "guess").await.0, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    assert_eq!(
        login(&f.app, "secret pw").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn without_passwords_the_gallery_is_open() {
    let f = fixture().await;
    let (s, v) = get_json(&f.app, "/api/me").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["can_edit"], true);
    assert_eq!(v["password_required"], false);
}

#[tokio::test]
async fn comparison_mode_pairs_records_and_fits() {
    let mut config = FacetConfig::default();
    config.viewer.other.insert(
        "comparison_mode".into(),
        json!({"min_comparisons_for_optimization": 1}),
    );
    let f = fixture_with(config).await;
    let a = f.lib.join("a.jpg").to_string_lossy().into_owned();
    let b = f.lib.join("b.png").to_string_lossy().into_owned();
    let c = f.lib.join("c.cr2").to_string_lossy().into_owned();
    for (uri, param) in [
        ("/api/comparison/pair", "category"),
        ("/api/comparison/pair?category=nope", "category"),
        (
            "/api/comparison/pair?category=landscape&strategy=bogus",
            "strategy",
        ),
        ("/api/comparison/suggestion", "category"),
    ] {
        assert_bad(&f, uri, param).await;
    }
    // The landscape photos are a.jpg and c.cr2: one pair.
    let (s, v) = get_json(&f.app, "/api/comparison/pair?category=landscape").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut pair = [
        v["a"]["path"].as_str().unwrap(),
        v["b"]["path"].as_str().unwrap(),
    ];
    pair.sort();
    assert_eq!(pair, [a.as_str(), c.as_str()]);
    assert!(
        v["a"]["aggregate"].is_number(),
        "show_current_scores defaults to true"
    );
    let (s, v) = get_json(&f.app, "/api/comparison/suggestion?category=landscape").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["ready"].clone(), v["comparisons"].clone()),
        (json!(false), json!(0))
    );

    // Bad choices.
    let (s, v) = post(&f.app, "/api/comparison", json!({"winner": a, "loser": a})).await;
    assert_eq!(
        (s, v["param"].clone()),
        (StatusCode::BAD_REQUEST, json!("loser"))
    );
    let (s, v) = post(&f.app, "/api/comparison", json!({"winner": a, "loser": b})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "different categories: {v}");
    let (s, _) = post(
        &f.app,
        "/api/comparison",
        json!({"winner": a, "loser": "/etc/passwd"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = post(
        &f.app,
        "/api/comparison",
        json!({"winner": a, "loser": c, "tie": "yes"}),
    )
    .await;
    assert_eq!(
        (s, v["param"].clone()),
        (StatusCode::BAD_REQUEST, json!("tie"))
    );

    let (s, v) = post(&f.app, "/api/comparison", json!({"winner": c, "loser": a})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["comparisons"], 1);
    // Every pair of the category is compared now.
    let (s, _) = get_json(&f.app, "/api/comparison/pair?category=landscape").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // One comparison reaches this configuration's minimum: a fit.
    let (s, v) = get_json(&f.app, "/api/comparison/suggestion?category=landscape").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ready"], true, "{v}");
    let total: f64 = v["suggested"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert_eq!(total, 100.0, "{v}");
    assert!(v["current"].as_object().unwrap().len() > 1, "{v}");
}

#[tokio::test]
async fn top_picks_include_the_librarys_best_percent_of_photos_large_enough() {
    // Stored: only a.jpg (8.0) reaches 7. c.cr2 (6.5, 15 MP) is in the best
    // half of the photos large enough; b.png (5.0) is 0.48 MP.
    let mut config = FacetConfig::default();
    config.viewer.photo_types.top_picks_percent = 100.0;
    let f = fixture_with(config).await;
    let mut picks = list(&f, "top_picks=true").await;
    picks.sort();
    assert_eq!(picks, ["a.jpg", "c.cr2"]);
    let (_, counts) = get_json(&f.app, "/api/type_counts").await;
    assert_eq!(counts["top_picks"], 2, "{counts}");
    let (_, c) = get_json(
        &f.app,
        &format!("/api/photo?path={}", enc(&f.path("c.cr2"))),
    )
    .await;
    assert_eq!(c["is_top_pick"], true, "{c}");
    let (_, page) = get_json(&f.app, "/api/photos?sort=filename&dir=asc").await;
    let flags: Vec<(String, Value)> = page["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["filename"].as_str().unwrap().to_string(),
                p["is_top_pick"].clone(),
            )
        })
        .collect();
    assert!(flags.contains(&("b.png".into(), json!(false))), "{flags:?}");
    assert!(flags.contains(&("c.cr2".into(), json!(true))), "{flags:?}");
    // 0: the stored rule alone.
    let mut config = FacetConfig::default();
    config.viewer.photo_types.top_picks_percent = 0.0;
    let f = fixture_with(config).await;
    assert_eq!(list(&f, "top_picks=true").await, ["a.jpg"]);
    // By default (5 %): the best one of the two large enough, a.jpg.
    let f = fixture_with(FacetConfig::default()).await;
    assert_eq!(list(&f, "top_picks=true").await, ["a.jpg"]);
}
