//! The family NAS mode through `app(state).oneshot(request)`: every route as
//! anonymous, as each role, and as a member looking at another member's
//! folder. Nothing of Bob's ever reaches Alice.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, FixedSizeListArray, Float32Array, Float64Array,
    Int64Array, ListBuilder, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use facet_config::FacetConfig;
use facet_store::Store;
use serde_json::{Value, json};

use crate::tests::{batch, enc, send, ts};
use crate::{AppState, app};

/// Hashes are slow on purpose: made once for every test.
fn hashes() -> &'static [String; 3] {
    static H: OnceLock<[String; 3]> = OnceLock::new();
    H.get_or_init(|| {
        ["alice password", "bob password", "carol password"]
            .map(|p| crate::auth::hash_password(p).unwrap())
    })
}

pub(crate) struct Family {
    _dir: tempfile::TempDir,
    lib: PathBuf,
    pub(crate) app: Router,
}

impl Family {
    pub(crate) fn store_dir(&self) -> PathBuf {
        self._dir.path().join("store")
    }

    pub(crate) fn path(&self, rel: &str) -> String {
        self.lib.join(rel).to_string_lossy().into_owned()
    }
}

pub(crate) const ALICE: &[&str] = &["Alice/a1.jpg", "Alice/a2.jpg", "Alice/link.jpg"];
pub(crate) const BOB: &[&str] = &["Bob/b1.jpg", "Bob/b2.jpg"];
pub(crate) const FAMILY: &[&str] = &["Family/f1.jpg"];
/// A folder whose name starts like Alice's.
const ALICEX: &[&str] = &["Alicex/x1.jpg"];

fn config(lib: &Path) -> FacetConfig {
    serde_json::from_value(config_json(lib)).unwrap()
}

fn config_json(lib: &Path) -> Value {
    let h = hashes();
    let dir = |d: &str| lib.join(d).to_string_lossy().into_owned();
    let text = json!({
        "users": {
            "alice": {"password_hash": h[0], "display_name": "Alice", "role": "user", "directories": [dir("Alice")]},
            "bob": {"password_hash": h[1], "display_name": "Bob", "role": "admin", "directories": [dir("Bob")]},
            "carol": {"password_hash": h[2], "role": "superadmin", "directories": []},
            "shared_directories": [dir("Family")]
        },
        "share_secret": "test-share-secret",
        "viewer": {
            "password": "ignored in multi-user mode",
            "allowed_origins": ["https://photos.example.org"],
            "features": {"show_map": true},
            "comparison_mode": {"min_comparisons_for_optimization": 1}
        }
    });
    text
}

async fn family() -> Family {
    family_with(|_| {}).await
}

/// The family, with `edit` applied to the configuration's JSON first.
pub(crate) async fn family_with(edit: impl FnOnce(&mut Value)) -> Family {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    let all: Vec<&str> = [ALICE, BOB, FAMILY, ALICEX].concat();
    for rel in &all {
        let p = lib.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if *rel != "Alice/link.jpg" {
            std::fs::write(&p, format!("\u{FF}\u{D8}{rel}")).unwrap();
        }
    }
    // A link in Alice's folder to Bob's photo.
    #[cfg(unix)]
    std::os::unix::fs::symlink(lib.join("Bob/b1.jpg"), lib.join("Alice/link.jpg")).unwrap();
    let lib = lib.canonicalize().unwrap();
    let paths: Vec<String> = all
        .iter()
        .map(|r| lib.join(r).to_string_lossy().into_owned())
        .collect();
    let n = paths.len();
    let is_bob = |r: &&str| r.starts_with("Bob/");
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let field = Field::new("embedding", DataType::FixedSizeList(item.clone(), 2), true);
    // Bob's photos are the nearest neighbours of Alice's first.
    let vectors: Vec<f32> = all
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            if is_bob(r) {
                [1.0, 0.01 * i as f32]
            } else {
                [1.0, 0.5 + 0.1 * i as f32]
            }
        })
        .collect();
    let embedding =
        FixedSizeListArray::try_new(item, 2, Arc::new(Float32Array::from(vectors)), None).unwrap();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for r in &all {
        tags.values()
            .append_value(if is_bob(r) { "bobsecret" } else { "shared" });
        tags.append(true);
    }
    let table =
        facet_schemas::photos().with_extra([facet_schemas::Column::extra(&field, "test vectors")]);
    let photos = batch(vec![
        (
            "path",
            Arc::new(StringArray::from(paths.clone())) as ArrayRef,
        ),
        ("file_size", Arc::new(Int64Array::from(vec![10; n]))),
        ("file_mtime", ts(1, n)),
        ("format", Arc::new(StringArray::from(vec!["jpeg"; n]))),
        (
            "camera_model",
            Arc::new(StringArray::from(
                all.iter()
                    .map(|r| if is_bob(r) { "BobCam" } else { "HomeCam" })
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "date_taken",
            Arc::new(StringArray::from(
                all.iter()
                    .map(|r| {
                        if is_bob(r) {
                            "2015-03-01T10:00:00"
                        } else {
                            "2021-07-14T10:00:00"
                        }
                    })
                    .collect::<Vec<_>>(),
            )),
        ),
        ("gps_lat", Arc::new(Float64Array::from(vec![48.85; n]))),
        ("gps_lon", Arc::new(Float64Array::from(vec![2.35; n]))),
        ("tags", Arc::new(tags.finish())),
        (
            "thumbnail",
            Arc::new(BinaryArray::from(vec![Some(&b"\xFF\xD8thumb"[..]); n])),
        ),
        ("embedding", Arc::new(embedding)),
    ]);
    let store = Store::open(&dir.path().join("store")).unwrap();
    store.upsert(&table, photos).await.unwrap();
    let scores = batch(vec![
        (
            "path",
            Arc::new(StringArray::from(paths.clone())) as ArrayRef,
        ),
        (
            "category",
            Arc::new(StringArray::from(vec!["landscape"; n])),
        ),
        (
            "aggregate",
            Arc::new(Float64Array::from(
                (0..n).map(|i| 5.0 + i as f64 * 0.5).collect::<Vec<_>>(),
            )),
        ),
        (
            "score_breakdown",
            Arc::new(StringArray::from(vec!["[]"; n])),
        ),
        (
            "top_picks_score",
            Arc::new(Float64Array::from(vec![5.0; n])),
        ),
        ("is_top_pick", Arc::new(BooleanArray::from(vec![true; n]))),
    ]);
    store
        .replace(&facet_schemas::scores(), scores)
        .await
        .unwrap();
    let mut config = config_json(&lib);
    edit(&mut config);
    let app = app(AppState::new(
        store,
        &serde_json::from_value(config).unwrap(),
    ));
    Family {
        _dir: dir,
        lib,
        app,
    }
}

async fn login(app: &Router, user: &str, password: &str) -> (StatusCode, Option<String>) {
    let req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": user, "password": password}).to_string(),
        ))
        .unwrap();
    let (s, h, _) = send(app, req).await;
    let cookie = h
        .get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
    (s, cookie)
}

/// A session: `None` is anonymous.
pub(crate) async fn as_(f: &Family, who: Option<&str>) -> Option<String> {
    let who = who?;
    let (s, c) = login(&f.app, who, &format!("{who} password")).await;
    assert_eq!(s, StatusCode::OK, "{who} logs in");
    c
}

pub(crate) async fn call(
    f: &Family,
    cookie: &Option<String>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    let req = match body {
        Some(b) => {
            let text = b.to_string();
            r.header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, text.len())
                .body(Body::from(text))
        }
        None => r.body(Body::empty()),
    }
    .unwrap();
    let (s, _, b) = send(&f.app, req).await;
    (s, String::from_utf8_lossy(&b).into_owned())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Every path a listing-like answer mentions.
pub(crate) fn mentioned(f: &Family, body: &str) -> Vec<String> {
    let lib = f.lib.to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&lib) {
        let tail = &rest[i + lib.len()..];
        let end = tail.find('"').unwrap_or(tail.len());
        out.push(tail[..end].trim_start_matches('/').to_string());
        rest = &tail[end..];
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn every_route_answers_each_role_and_nothing_of_bob_reaches_alice() {
    let f = family().await;
    let a1 = f.path("Alice/a1.jpg");
    let a2 = f.path("Alice/a2.jpg");
    let b1 = f.path("Bob/b1.jpg");
    let f1 = f.path("Family/f1.jpg");
    let link = f.path("Alice/link.jpg");
    let alice = as_(&f, Some("alice")).await;
    let bob = as_(&f, Some("bob")).await;
    let carol = as_(&f, Some("carol")).await;
    let anon: Option<String> = None;

    // Read routes: anonymous 401; each member 200 with their photos only.
    let reads = [
        "/api/photos?per_page=100",
        "/api/filter_options",
        "/api/type_counts",
        "/api/timeline",
        "/api/timeline?year=2021",
        "/api/memories?date=2024-07-14",
        "/api/map?zoom=15",
        "/api/config",
    ];
    let visible = |who: &str| -> Vec<&str> {
        match who {
            "alice" => [ALICE, FAMILY].concat(),
            "bob" => [BOB, FAMILY].concat(),
            _ => FAMILY.to_vec(),
        }
    };
    for uri in reads {
        let (s, b) = call(&f, &anon, "GET", uri, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "anonymous {uri}: {b}");
        assert!(mentioned(&f, &b).is_empty());
        for (name, c) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
            let (s, b) = call(&f, c, "GET", uri, None).await;
            assert_eq!(s, StatusCode::OK, "{name} {uri}: {b}");
            let allowed = visible(name);
            for p in mentioned(&f, &b) {
                assert!(allowed.contains(&p.as_str()), "{name} {uri} shows {p}: {b}");
            }
            if name == "alice" {
                assert!(
                    !b.contains("BobCam") && !b.contains("bobsecret") && !b.contains("2015"),
                    "{uri}: {b}"
                );
            }
        }
    }
    // The lists hold exactly the member's photos.
    for (name, c) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        let (_, b) = call(&f, c, "GET", "/api/photos?per_page=100", None).await;
        let mut want: Vec<String> = visible(name).iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(mentioned(&f, &b), want, "{name}");
        assert_eq!(json_of(&b)["total"], want.len(), "{name}");
        let (_, b) = call(&f, c, "GET", "/api/type_counts", None).await;
        assert_eq!(json_of(&b)["all"], want.len(), "{name}");
        assert_eq!(json_of(&b)["top_picks"], want.len(), "{name}");
    }

    // Photo routes: Alice gets her own and the shared photos, a 404 for
    // Bob's (the same answer as for a photo that does not exist).
    let photo_routes = [
        "/api/photo",
        "/thumbnail",
        "/image",
        "/api/download",
        "/api/groups",
        "/api/similar",
    ];
    for route in photo_routes {
        for (p, want) in [
            (&a1, StatusCode::OK),
            (&f1, StatusCode::OK),
            (&b1, StatusCode::NOT_FOUND),
            (&f.path("Alice/../Bob/b1.jpg"), StatusCode::NOT_FOUND),
            (&f.path("Alicex/x1.jpg"), StatusCode::NOT_FOUND),
            (&"/etc/passwd".to_string(), StatusCode::NOT_FOUND),
        ] {
            let uri = format!("{route}?path={}", enc(p));
            let (s, b) = call(&f, &alice, "GET", &uri, None).await;
            assert_eq!(s, want, "alice {uri}: {b}");
            if s != StatusCode::OK {
                assert!(!b.contains("b1") && !b.contains("Bob"), "{uri}: {b}");
            }
            let (s, _) = call(&f, &anon, "GET", &uri, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "anonymous {uri}");
        }
        let (s, b) = call(&f, &bob, "GET", &format!("{route}?path={}", enc(&b1)), None).await;
        assert_eq!(s, StatusCode::OK, "bob {route} of his own: {b}");
        let (s, _) = call(&f, &bob, "GET", &format!("{route}?path={}", enc(&a1)), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "bob {route} of Alice's");
    }
    // Bob's photos are the nearest to Alice's, yet her similar photos are hers.
    let (_, b) = call(
        &f,
        &alice,
        "GET",
        &format!("/api/similar?path={}", enc(&a1)),
        None,
    )
    .await;
    let sim = mentioned(&f, &b);
    assert!(
        !sim.is_empty() && sim.iter().all(|p| !p.starts_with("Bob/")),
        "{b}"
    );
    let (_, b) = call(
        &f,
        &bob,
        "GET",
        &format!("/api/similar?path={}", enc(&f1)),
        None,
    )
    .await;
    assert!(
        mentioned(&f, &b).iter().any(|p| p.starts_with("Bob/")),
        "{b}"
    );

    // The link in Alice's folder is listed (it is in her folder) but its
    // file resolves into Bob's: never served.
    for route in ["/image", "/api/download"] {
        let (s, b) = call(
            &f,
            &alice,
            "GET",
            &format!("{route}?path={}", enc(&link)),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{route} through a link: {b}");
    }
    let (s, b) = call(
        &f,
        &alice,
        "GET",
        &format!("/api/download?path={}", enc(&a1)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("Alice/a1.jpg"), "{b}");

    // Ratings are per member: Alice's four stars are not Bob's.
    for (who, c) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        let (s, b) = call(
            &f,
            c,
            "POST",
            "/api/rating",
            Some(json!({"path": f1, "rating": if who == "alice" { 4 } else { 2 }})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{who} rates a shared photo: {b}");
    }
    let (s, b) = call(
        &f,
        &alice,
        "POST",
        "/api/rating",
        Some(json!({"path": b1, "rating": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "Alice rates Bob's: {b}");
    let (s, _) = call(
        &f,
        &anon,
        "POST",
        "/api/rating",
        Some(json!({"path": f1, "rating": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for (name, c, stars) in [("alice", &alice, 4), ("bob", &bob, 2)] {
        let (_, b) = call(&f, c, "GET", &format!("/api/photo?path={}", enc(&f1)), None).await;
        assert_eq!(json_of(&b)["rating"], stars, "{name}: {b}");
        let (_, b) = call(&f, c, "GET", "/api/photos?rating_min=3", None).await;
        assert_eq!(
            json_of(&b)["total"],
            if stars >= 3 { 1 } else { 0 },
            "{name}: {b}"
        );
    }
    for (route, body) in [
        ("/api/favorite", json!({"path": a2, "favorite": true})),
        ("/api/reject", json!({"path": a2, "rejected": true})),
    ] {
        let (s, b) = call(&f, &alice, "POST", route, Some(body.clone())).await;
        assert_eq!(s, StatusCode::OK, "{route}: {b}");
        let mut other = body.clone();
        other["path"] = json!(b1);
        let (s, _) = call(&f, &alice, "POST", route, Some(other)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{route} on Bob's");
    }
    let (_, b) = call(
        &f,
        &alice,
        "GET",
        "/api/photos?favorites=true&hide_rejected=false",
        None,
    )
    .await;
    assert_eq!(mentioned(&f, &b), ["Alice/a2.jpg"]);
    let (_, b) = call(&f, &alice, "GET", "/api/photos?favorites=true", None).await;
    assert_eq!(json_of(&b)["total"], 0, "rejected, so hidden: {b}");
    let (_, b) = call(&f, &bob, "GET", "/api/photos?favorites=true", None).await;
    assert_eq!(json_of(&b)["total"], 0, "{b}");

    // Comparisons: pairs from the member's photos, choices per member.
    let (s, b) = call(
        &f,
        &alice,
        "GET",
        "/api/comparison/pair?category=landscape",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        mentioned(&f, &b)
            .iter()
            .all(|p| visible("alice").contains(&p.as_str())),
        "{b}"
    );
    let (s, _) = call(
        &f,
        &alice,
        "POST",
        "/api/comparison",
        Some(json!({"winner": a1, "loser": b1})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a comparison with Bob's photo");
    let (s, b) = call(
        &f,
        &alice,
        "POST",
        "/api/comparison",
        Some(json!({"winner": a1, "loser": f1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(json_of(&b)["comparisons"], 1);
    let (_, b) = call(
        &f,
        &bob,
        "GET",
        "/api/comparison/suggestion?category=landscape",
        None,
    )
    .await;
    assert_eq!(json_of(&b)["comparisons"], 0, "Alice's choice is hers: {b}");
    let (_, b) = call(
        &f,
        &alice,
        "GET",
        "/api/comparison/suggestion?category=landscape",
        None,
    )
    .await;
    assert_eq!(json_of(&b)["comparisons"], 1, "{b}");

    // Each route as each role: `routes_tests::every_route_as_every_role`.

    // Who am I.
    let (_, b) = call(&f, &bob, "GET", "/api/me", None).await;
    let me = json_of(&b);
    assert_eq!(
        (
            me["multi_user"].clone(),
            me["user"]["name"].clone(),
            me["user"]["role"].clone(),
            me["can_manage_people"].clone(),
            me["can_scan"].clone()
        ),
        (
            json!(true),
            json!("bob"),
            json!("admin"),
            json!(true),
            json!(false)
        )
    );
    let (_, b) = call(&f, &anon, "GET", "/api/me", None).await;
    assert_eq!(json_of(&b)["can_view"], false);
}

#[tokio::test]
async fn logins_in_multi_user_mode() {
    let f = family().await;
    // The single-user password means nothing here.
    let req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"password": "ignored in multi-user mode"}).to_string(),
        ))
        .unwrap();
    let (s, _, b) = send(&f.app, req).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(
        login(&f.app, "alice", "bob password").await,
        (StatusCode::UNAUTHORIZED, None)
    );
    assert_eq!(
        login(&f.app, "mallory", "alice password").await,
        (StatusCode::UNAUTHORIZED, None)
    );
    let (s, c) = login(&f.app, "alice", "alice password").await;
    assert_eq!(s, StatusCode::OK);
    let c = c.unwrap();
    assert!(!c.contains("password"));
    // The cookie is a random id: its last hex digit changed (always to
    // another digit) is no session.
    let token = c.split_once('=').unwrap().1;
    assert_eq!(token.len(), 64, "{token}");
    let last = token.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_ne!(forged, token);
    let (s, _) = call(
        &f,
        &Some(format!("facet_session={forged}")),
        "GET",
        "/api/photos",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A signed token of the stateless sessions Facet had (same secret) is
    // no session.
    let single = crate::auth::sign_session(b"session:test-share-secret", "edit", u64::MAX);
    let (s, _) = call(
        &f,
        &Some(format!("facet_session={single}")),
        "GET",
        "/api/photos",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hostile_requests_are_refused() {
    let f = family().await;
    let alice = as_(&f, Some("alice")).await;
    // Oversized bodies.
    let big = json!({"path": "x", "rating": 1, "pad": "x".repeat(crate::MAX_BODY_BYTES)});
    let (s, _) = call(&f, &alice, "POST", "/api/rating", Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Encoded separators, traversal and absolute paths in `path`.
    for p in [
        format!("{}/Alice/..%2FBob%2Fb1.jpg", f.lib.display()),
        format!("{}/Alice/%2e%2e/Bob/b1.jpg", f.lib.display()),
        format!("{}/Alice/../Bob/b1.jpg", f.lib.display()),
        format!("{}/Alice\\..\\Bob\\b1.jpg", f.lib.display()),
        "/etc/passwd".to_string(),
        "../../etc/passwd".to_string(),
    ] {
        for route in ["/image", "/api/download", "/thumbnail", "/api/photo"] {
            let (s, b) = call(
                &f,
                &alice,
                "GET",
                &format!("{route}?path={}", enc(&p)),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{route} {p}: {b}");
            if !p.contains('\\') {
                let (s, b) = call(&f, &alice, "GET", &format!("{route}?path={p}"), None).await;
                assert!(
                    s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
                    "{route} raw {p}: {s} {b}"
                );
            }
        }
    }
    // Header injection: a file name with CR LF cannot add a header.
    let (s, _, _) = send(
        &f.app,
        Request::get(format!(
            "/api/download?path={}",
            enc(&format!(
                "{}/Alice/a1.jpg\r\nSet-Cookie: x=1",
                f.lib.display()
            ))
        ))
        .header(header::COOKIE, alice.clone().unwrap())
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // CORS: the allowed origin gets credentials; another origin nothing.
    for (origin, allowed) in [
        ("https://photos.example.org", true),
        ("https://evil.example", false),
    ] {
        let req = Request::builder()
            .method("OPTIONS")
            .uri("/api/photos")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let (_, h, _) = send(&f.app, req).await;
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap().to_string()),
            allowed.then(|| origin.to_string()),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn single_user_ratings_migrate_to_a_member() {
    let f = family().await;
    let lib = f.lib.clone();
    // The store of `family()`, written as the single-user gallery would.
    let store_dir = f._dir.path().join("store");
    let single = app(AppState::new(
        Store::open(&store_dir).unwrap(),
        &FacetConfig::default(),
    ));
    for (rel, stars) in [("Alice/a1.jpg", 5), ("Bob/b1.jpg", 3), ("Family/f1.jpg", 1)] {
        let p = lib.join(rel).to_string_lossy().into_owned();
        let (s, _) =
            crate::tests::post(&single, "/api/rating", json!({"path": p, "rating": stars})).await;
        assert_eq!(s, StatusCode::OK);
    }
    let store = Store::open(&store_dir).unwrap();
    let config = config(&lib);
    // Alice already rated the shared photo herself: hers is kept.
    let alice = as_(&f, Some("alice")).await;
    let (s, _) = call(
        &f,
        &alice,
        "POST",
        "/api/rating",
        Some(json!({"path": f.path("Family/f1.jpg"), "rating": 4})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let m = crate::preferences::migrate(&store, &config, "alice")
        .await
        .unwrap();
    assert_eq!(
        m,
        crate::preferences::Migrated {
            copied: 1,
            kept: 1,
            outside: 1
        }
    );
    for (rel, stars) in [("Alice/a1.jpg", 5), ("Family/f1.jpg", 4)] {
        let (_, b) = call(
            &f,
            &alice,
            "GET",
            &format!("/api/photo?path={}", enc(&f.path(rel))),
            None,
        )
        .await;
        assert_eq!(json_of(&b)["rating"], stars, "{rel}: {b}");
    }
    assert!(
        crate::preferences::migrate(&store, &config, "nobody")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn albums_are_their_owners_and_share_links_stay_in_their_folders() {
    let f = family().await;
    let alice = as_(&f, Some("alice")).await;
    let bob = as_(&f, Some("bob")).await;
    let (a1, b1, f1) = (
        f.path("Alice/a1.jpg"),
        f.path("Bob/b1.jpg"),
        f.path("Family/f1.jpg"),
    );
    let (s, b) = call(
        &f,
        &alice,
        "POST",
        "/api/albums",
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let id = json_of(&b)["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &f,
        &alice,
        "POST",
        "/api/album/photos",
        Some(json!({"id": id, "add": [b1]})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "Bob's photo in Alice's album");
    let (s, b) = call(
        &f,
        &alice,
        "POST",
        "/api/album/photos",
        Some(json!({"id": id, "add": [a1, f1]})),
    )
    .await;
    assert_eq!(
        (s, json_of(&b)["count"].clone()),
        (StatusCode::OK, json!(2)),
        "{b}"
    );
    // A smart album of everything holds only Alice's folders' photos.
    let (_, b) = call(
        &f,
        &alice,
        "POST",
        "/api/albums",
        Some(json!({"name": "All", "query": ""})),
    )
    .await;
    assert_eq!(json_of(&b)["count"], 4, "{b}");
    // Bob sees none of Alice's albums and cannot touch them.
    let (_, b) = call(&f, &bob, "GET", "/api/albums", None).await;
    assert_eq!(json_of(&b)["albums"], json!([]), "{b}");
    for (method, uri, body) in [
        ("GET", format!("/api/album?id={id}"), None),
        (
            "POST",
            "/api/album/photos".to_string(),
            Some(json!({"id": id, "remove": [a1]})),
        ),
        (
            "POST",
            "/api/album/share".to_string(),
            Some(json!({"id": id})),
        ),
        (
            "POST",
            "/api/album/delete".to_string(),
            Some(json!({"id": id})),
        ),
    ] {
        let (s, _) = call(&f, &bob, method, &uri, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "bob {method} {uri}");
    }
    // Alice's link shows her album; files only of it.
    let (_, b) = call(
        &f,
        &alice,
        "POST",
        "/api/album/share",
        Some(json!({"id": id})),
    )
    .await;
    let token = json_of(&b)["token"].as_str().unwrap().to_string();
    let anon: Option<String> = None;
    let (s, b) = call(
        &f,
        &anon,
        "GET",
        &format!("/api/shared?share={token}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(mentioned(&f, &b), ["Alice/a1.jpg", "Family/f1.jpg"]);
    for (p, want) in [
        (&a1, StatusCode::OK),
        (&f1, StatusCode::OK),
        (&b1, StatusCode::NOT_FOUND),
        (&f.path("Alice/a2.jpg"), StatusCode::NOT_FOUND),
    ] {
        let (s, _) = call(
            &f,
            &anon,
            "GET",
            &format!("/api/download?path={}&share={token}", enc(p)),
            None,
        )
        .await;
        assert_eq!(s, want, "{p}");
    }
}

/// Faces and people in the family's store: person 1 only in Bob's photo;
/// person 2 in Bob's and Alice's, its representative face Bob's.
pub(crate) async fn bobs_people(f: &Family) {
    let store = Store::open(&f._dir.path().join("store")).unwrap();
    let faces = batch(vec![
        (
            "face_id",
            Arc::new(StringArray::from(vec!["b1#0", "b1#1", "a1#0"])) as ArrayRef,
        ),
        (
            "path",
            Arc::new(StringArray::from(vec![
                f.path("Bob/b1.jpg"),
                f.path("Bob/b1.jpg"),
                f.path("Alice/a1.jpg"),
            ])),
        ),
        ("person_id", Arc::new(Int64Array::from(vec![1, 2, 2]))),
        (
            "confidence",
            Arc::new(Float64Array::from(vec![0.9, 0.99, 0.5])),
        ),
        (
            "thumbnail",
            Arc::new(BinaryArray::from(vec![
                Some(&b"bob-face-1"[..]),
                Some(&b"bob-face-2"[..]),
                Some(&b"alice-face-2"[..]),
            ])),
        ),
    ]);
    store.upsert(&facet_schemas::faces(), faces).await.unwrap();
    let persons = batch(vec![
        (
            "person_id",
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("Bob's friend"), None])),
        ),
        (
            "representative_face",
            Arc::new(StringArray::from(vec!["b1#0", "b1#1"])),
        ),
        ("face_count", Arc::new(Int64Array::from(vec![1, 2]))),
    ]);
    store
        .replace(&facet_schemas::persons(), persons)
        .await
        .unwrap();
}

#[tokio::test]
async fn people_are_seen_through_the_members_folders() {
    let f = family().await;
    bobs_people(&f).await;
    let alice = as_(&f, Some("alice")).await;
    let bob = as_(&f, Some("bob")).await;
    let (s, b) = call(&f, &alice, "GET", "/api/persons", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let v = json_of(&b);
    let ids: Vec<i64> = v["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2], "{b}");
    assert_eq!(v["persons"][0]["photo_count"], 1);
    // Eve's faces are counted within Alice's folders too (one of two).
    assert_eq!(v["persons"][0]["face_count"], 1, "{b}");
    assert!(!b.contains("Bob's friend"));
    let (_, b) = call(&f, &bob, "GET", "/api/persons", None).await;
    assert_eq!(json_of(&b)["persons"].as_array().unwrap().len(), 2, "{b}");
    // The thumbnail Alice gets is a face of her photo.
    let (s, b) = call(
        &f,
        &alice,
        "GET",
        "/api/persons/thumbnail?person_id=2",
        None,
    )
    .await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "alice-face-2"));
    let (s, _) = call(
        &f,
        &alice,
        "GET",
        "/api/persons/thumbnail?person_id=1",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = call(&f, &bob, "GET", "/api/persons/thumbnail?person_id=2", None).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "bob-face-2"));
    // A person's photos: only Alice's own.
    let (_, b) = call(&f, &alice, "GET", "/api/photos?person=2", None).await;
    assert_eq!(mentioned(&f, &b), ["Alice/a1.jpg"]);
    // A person only in Bob's photos is no person for her, as one that
    // does not exist (the same 404: an id's existence is not told).
    let (s, b) = call(&f, &alice, "GET", "/api/photos?person=1", None).await;
    let (s_none, b_none) = call(&f, &alice, "GET", "/api/photos?person=77", None).await;
    assert_eq!((s, s_none), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(b.replace('1', "77"), b_none, "{b}");
    // Renaming people is an admin's: Alice may not, Bob may.
    let (s, _) = call(
        &f,
        &alice,
        "POST",
        "/api/persons/rename",
        Some(json!({"person_id": 2, "name": "Eve"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(
        &f,
        &bob,
        "POST",
        "/api/persons/rename",
        Some(json!({"person_id": 2, "name": "Eve"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // An admin changes only the people of their folders: person 3 (only in
    // Alice's photo) is no more Bob's to rename, hide or merge than a person
    // that does not exist — the same 404, nothing of it in the reply.
    let store = Store::open(&f._dir.path().join("store")).unwrap();
    store
        .upsert(
            &facet_schemas::faces(),
            batch(vec![
                (
                    "face_id",
                    Arc::new(StringArray::from(vec!["a2#0"])) as ArrayRef,
                ),
                (
                    "path",
                    Arc::new(StringArray::from(vec![f.path("Alice/a2.jpg")])),
                ),
                ("person_id", Arc::new(Int64Array::from(vec![3]))),
                ("confidence", Arc::new(Float64Array::from(vec![0.9]))),
            ]),
        )
        .await
        .unwrap();
    let persons = batch(vec![
        (
            "person_id",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![
                Some("Bob's friend"),
                Some("Eve"),
                Some("Alice's aunt"),
            ])),
        ),
        (
            "representative_face",
            Arc::new(StringArray::from(vec!["b1#0", "b1#1", "a2#0"])),
        ),
        ("face_count", Arc::new(Int64Array::from(vec![1, 2, 1]))),
        (
            "hidden",
            Arc::new(BooleanArray::from(vec![true, false, false])),
        ),
    ]);
    store
        .replace(&facet_schemas::persons(), persons)
        .await
        .unwrap();
    for (route, body) in [
        ("/api/persons/rename", json!({"person_id": 3, "name": "X"})),
        ("/api/persons/hide", json!({"person_id": 3, "hidden": true})),
        ("/api/persons/merge", json!({"into": 2, "from": 3})),
        ("/api/persons/merge", json!({"into": 3, "from": 2})),
    ] {
        let (s, b) = call(&f, &bob, "POST", route, Some(body.clone())).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{route} {body}: {b}");
        assert!(!b.contains("aunt"), "{b}");
        let absent = match route {
            "/api/persons/merge" => json!({"into": 2, "from": 99}),
            _ => {
                let mut v = body.clone();
                v["person_id"] = json!(99);
                v
            }
        };
        let (s2, b2) = call(&f, &bob, "POST", route, Some(absent)).await;
        assert_eq!(s2, StatusCode::NOT_FOUND);
        assert_eq!(b.replace('3', "N"), b2.replace("99", "N"), "{route}");
    }
    // The two thumbnail 404s (not Alice's, no such person) read alike.
    let (s, b) = call(
        &f,
        &alice,
        "GET",
        "/api/persons/thumbnail?person_id=1",
        None,
    )
    .await;
    let (s2, b2) = call(
        &f,
        &alice,
        "GET",
        "/api/persons/thumbnail?person_id=99",
        None,
    )
    .await;
    assert_eq!((s, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(b.replace('1', "N"), b2.replace("99", "N"));
    // Hidden people are counted within the member's folders: person 1 is
    // Bob's, so Alice has none hidden.
    let (_, b) = call(&f, &alice, "GET", "/api/persons?include_hidden=true", None).await;
    assert_eq!(json_of(&b)["hidden"], 0, "{b}");
    let (_, b) = call(&f, &bob, "GET", "/api/persons?include_hidden=true", None).await;
    assert_eq!(json_of(&b)["hidden"], 1, "{b}");
    // Bob still renames his own people.
    let (s, b) = call(
        &f,
        &bob,
        "POST",
        "/api/persons/rename",
        Some(json!({"person_id": 1, "name": "Dan"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The request's status with session `cookie`.
async fn status_of(f: &Family, cookie: &Option<String>, uri: &str) -> StatusCode {
    call(f, cookie, "GET", uri, None).await.0
}

/// A login sent with the session the client already has.
async fn login_from(f: &Family, from: &Option<String>, user: &str, pw: &str) -> Option<String> {
    let mut req = Request::post("/api/login").header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = from {
        req = req.header(header::COOKIE, c);
    }
    let req = req
        .body(Body::from(
            json!({"username": user, "password": pw}).to_string(),
        ))
        .unwrap();
    let (s, h, _) = send(&f.app, req).await;
    assert_eq!(s, StatusCode::OK);
    h.get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn sessions_end_at_logout_logout_everywhere_and_a_password_change() {
    let f = family().await;
    let photos = "/api/photos";
    let alice1 = as_(&f, Some("alice")).await;
    let alice2 = as_(&f, Some("alice")).await;
    let bob = as_(&f, Some("bob")).await;
    assert_ne!(alice1, alice2, "a new session id at each login");
    for c in [&alice1, &alice2, &bob] {
        assert_eq!(status_of(&f, c, photos).await, StatusCode::OK);
    }

    // Logout ends this session only.
    let (s, b) = call(&f, &alice1, "POST", "/api/logout", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        status_of(&f, &alice1, photos).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_of(&f, &alice2, photos).await, StatusCode::OK);

    // A login from a session gives a new id and ends the old one.
    let alice3 = login_from(&f, &alice2, "alice", "alice password").await;
    assert_ne!(alice3, alice2);
    assert_eq!(
        status_of(&f, &alice2, photos).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_of(&f, &alice3, photos).await, StatusCode::OK);

    // Log out everywhere: every session of Alice's, none of Bob's.
    let alice4 = as_(&f, Some("alice")).await;
    let (s, b) = call(&f, &alice4, "POST", "/api/auth/logout-all", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(json_of(&b)["revoked"], 2, "{b}");
    for c in [&alice3, &alice4] {
        assert_eq!(status_of(&f, c, photos).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(status_of(&f, &bob, photos).await, StatusCode::OK);
    let (s, _) = call(&f, &alice4, "POST", "/api/auth/logout-all", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no session to end");

    // A password change ends the member's other sessions.
    let alice5 = as_(&f, Some("alice")).await;
    let alice6 = as_(&f, Some("alice")).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    for (body, param) in [
        (change("wrong", "a new password"), "current_password"),
        (change("alice password", "short"), "new_password"),
        (
            json!({"new_password": "a new password"}),
            "current_password",
        ),
    ] {
        let (s, b) = call(&f, &alice5, "POST", "/api/auth/password", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(json_of(&b)["param"], param, "{b}");
    }
    assert_eq!(status_of(&f, &alice6, photos).await, StatusCode::OK);
    let (s, b) = call(
        &f,
        &alice5,
        "POST",
        "/api/auth/password",
        Some(change("alice password", "a new password")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(json_of(&b)["revoked"], 1, "{b}");
    assert_eq!(
        status_of(&f, &alice6, photos).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&f, &alice5, photos).await,
        StatusCode::OK,
        "this one stays"
    );
    assert_eq!(status_of(&f, &bob, photos).await, StatusCode::OK);
    assert_eq!(
        login(&f.app, "alice", "alice password").await,
        (StatusCode::UNAUTHORIZED, None)
    );
    assert_eq!(
        login(&f.app, "alice", "a new password").await.0,
        StatusCode::OK
    );

    // Every role reaches both routes; anonymous clients neither.
    let carol = as_(&f, Some("carol")).await;
    for (name, c) in [("alice", &alice5), ("bob", &bob), ("carol", &carol)] {
        let (s, b) = call(
            &f,
            c,
            "POST",
            "/api/auth/password",
            Some(change("not it", "another password")),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name}: {b}");
        let (s, b) = call(&f, c, "POST", "/api/auth/logout-all", None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {b}");
        assert_eq!(status_of(&f, c, photos).await, StatusCode::UNAUTHORIZED);
    }
    for route in ["/api/auth/password", "/api/auth/logout-all"] {
        let (s, _) = call(&f, &None, "POST", route, Some(change("x", "yyyyyyyyy"))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "anonymous {route}");
    }
    let (_, b) = call(&f, &None, "GET", "/openapi.json", None).await;
    for route in ["/api/auth/password", "/api/auth/logout-all"] {
        assert!(json_of(&b)["paths"][route]["post"].is_object(), "{route}");
    }
}

#[tokio::test]
async fn a_view_only_session_may_log_out_everywhere() {
    let mut config = FacetConfig::default();
    for (k, v) in [
        ("password", "family photos"),
        ("edition_password", "editor pass"),
    ] {
        config.viewer.other.insert(k.into(), json!(v));
    }
    let f = crate::tests::fixture_with(config).await;
    let (_, v1) = crate::tests::login(&f.app, "family photos").await;
    let (_, v2) = crate::tests::login(&f.app, "family photos").await;
    let (_, editor) = crate::tests::login(&f.app, "editor pass").await;
    let req = |method: &str, uri: &str, c: &Option<String>| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, c.as_deref().unwrap())
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = send(&f.app, req("POST", "/api/auth/logout-all", &v1)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    for (c, want) in [
        (&v1, StatusCode::UNAUTHORIZED),
        (&v2, StatusCode::UNAUTHORIZED),
        (&editor, StatusCode::OK),
    ] {
        let (s, _, _) = send(&f.app, req("GET", "/api/photos", c)).await;
        assert_eq!(s, want);
    }
    // Single-user passwords are the configuration's.
    let change = Request::post("/api/auth/password")
        .header(header::COOKIE, editor.as_deref().unwrap())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"current_password": "editor pass", "new_password": "another one"}).to_string(),
        ))
        .unwrap();
    let (s, _, _) = send(&f.app, change).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
