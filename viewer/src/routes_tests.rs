//! The route table against the router, the roles and the API document:
//! every entry of [`routes::table`] is sent as every role (generated: a
//! route added to the table is tested with no change here), and the OpenAPI
//! document describes exactly the table's routes.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use facet_config::FacetConfig;
use serde_json::{Value, json};

use crate::routes::{self, Feature, Needs};
use crate::users_tests::{Family, as_, call, family_with};

/// The routes that end the session they are called with: the role logs in
/// again after each.
const SESSION_ENDING: &[(&str, &str)] =
    &[("POST", "/api/logout"), ("POST", "/api/auth/logout-all")];

/// Routes whose minimal request is more than `{}` (or no query).
fn minimal_body(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/scan") => Some(json!({"directories": []})),
        // Refused before any connection (loopback is blocked).
        ("POST", "/api/plugins/test-webhook") => Some(json!({"url": "http://127.0.0.1:9/"})),
        ("POST", _) => Some(json!({})),
        _ => None,
    }
}

/// The routes this test names, each of which the table must have.
const NAMED: &[(&str, &str)] = &[
    ("POST", "/api/logout"),
    ("POST", "/api/auth/logout-all"),
    ("POST", "/api/scan"),
];

fn table_keys() -> BTreeSet<(String, String)> {
    routes::table()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

/// A concrete URI for a path (`{param}` and `{*rest}` filled in).
fn uri(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn all_features_on(config: &mut Value) {
    let features: serde_json::Map<String, Value> = Feature::ALL
        .iter()
        .map(|f| (f.key().to_string(), json!(true)))
        .collect();
    config["viewer"]["features"] = Value::Object(features);
}

/// One caller: a name, how to get its session, and the highest level it
/// meets.
struct Caller {
    name: &'static str,
    login: Option<&'static str>,
    meets: Needs,
}

/// What a caller below a route's level gets today: 401 without a session,
/// 403 with one.
fn refusal(c: &Caller) -> StatusCode {
    if c.meets == Needs::Anyone {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::FORBIDDEN
    }
}

fn assert_answer(c: &Caller, method: &Method, path: &str, needs: Needs, s: StatusCode, b: &str) {
    let what = format!(
        "{} {method} {path} (needs {needs:?}; {} meets {:?}): {s} {b}",
        c.name, c.name, c.meets
    );
    if c.meets >= needs {
        assert!(
            s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
            "allowed, refused: {what}"
        );
        assert!(
            !(s == StatusCode::NOT_FOUND && b.contains("no such route")),
            "the router lacks a route of the table: {what}"
        );
    } else {
        assert_eq!(s, refusal(c), "refused with the wrong status: {what}");
    }
}

#[test]
fn the_table_has_every_route_the_tests_name_and_no_duplicates() {
    let keys = table_keys();
    assert_eq!(keys.len(), routes::table().len(), "a route listed twice");
    for (m, p) in NAMED.iter().chain(SESSION_ENDING) {
        assert!(
            keys.contains(&(m.to_string(), p.to_string())),
            "the test names {m} {p}, which the table lacks"
        );
    }
}

/// Multi-user mode: anonymous, and each role (user, admin, superadmin),
/// every route of the table.
#[tokio::test]
async fn every_route_as_every_role() {
    let f = family_with(all_features_on).await;
    let callers = [
        Caller {
            name: "anonymous",
            login: None,
            meets: Needs::Anyone,
        },
        Caller {
            name: "alice",
            login: Some("alice"),
            meets: Needs::Edit,
        },
        Caller {
            name: "bob",
            login: Some("bob"),
            meets: Needs::Admin,
        },
        Caller {
            name: "carol",
            login: Some("carol"),
            meets: Needs::Superadmin,
        },
    ];
    for c in &callers {
        let mut cookie = as_(&f, c.login).await;
        for r in routes::table() {
            let method = r.method.as_str();
            let (s, b) = call(
                &f,
                &cookie,
                method,
                &uri(r.path),
                minimal_body(method, r.path),
            )
            .await;
            assert_answer(c, &r.method, r.path, r.needs, s, &b);
            if SESSION_ENDING.contains(&(method, r.path)) {
                cookie = as_(&f, c.login).await;
            }
        }
    }
    // A route the table lacks is no route, whoever asks.
    let carol = as_(&f, Some("carol")).await;
    let (s, b) = call(&f, &carol, "POST", "/api/persons/1/rename", Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}

/// Single-user mode with both passwords: anonymous, the viewer password,
/// the edition password.
#[tokio::test]
async fn every_route_at_each_single_user_access() {
    let mut config = FacetConfig::default();
    config.viewer.other.insert("password".into(), json!("look"));
    config
        .viewer
        .other
        .insert("edition_password".into(), json!("change"));
    let mut features = json!({});
    all_features_on(&mut features);
    config
        .viewer
        .other
        .insert("features".into(), features["viewer"]["features"].clone());
    let f = crate::tests::fixture_with(config).await;
    let callers = [
        (
            Caller {
                name: "anonymous",
                login: None,
                meets: Needs::Anyone,
            },
            None,
        ),
        (
            Caller {
                name: "viewer",
                login: None,
                meets: Needs::View,
            },
            Some("look"),
        ),
        (
            Caller {
                name: "editor",
                login: None,
                meets: Needs::Superadmin,
            },
            Some("change"),
        ),
    ];
    let session = |password: Option<&'static str>| {
        let app = f.app.clone();
        async move {
            match password {
                Some(p) => {
                    let (s, c) = crate::tests::login(&app, p).await;
                    assert_eq!(s, StatusCode::OK);
                    c
                }
                None => None,
            }
        }
    };
    for (c, password) in &callers {
        let mut cookie = session(*password).await;
        for r in routes::table() {
            let method = r.method.as_str();
            let mut req = axum::http::Request::builder()
                .method(method)
                .uri(uri(r.path));
            if let Some(k) = &cookie {
                req = req.header(axum::http::header::COOKIE, k);
            }
            let req = match minimal_body(method, r.path) {
                Some(b) => req
                    .header(axum::http::header::CONTENT_TYPE, "application/json")
                    .body(axum::body::Body::from(b.to_string())),
                None => req.body(axum::body::Body::empty()),
            }
            .unwrap();
            let (s, _, b) = crate::tests::send(&f.app, req).await;
            assert_answer(
                c,
                &r.method,
                r.path,
                r.needs,
                s,
                &String::from_utf8_lossy(&b),
            );
            if SESSION_ENDING.contains(&(method, r.path)) {
                cookie = session(*password).await;
            }
        }
    }
}

/// A feature switched off takes its routes away (404), and only those.
#[tokio::test]
async fn features_switch_their_routes_off() {
    let f: Family = family_with(|c| {
        let features: serde_json::Map<String, Value> = Feature::ALL
            .iter()
            .map(|f| (f.key().to_string(), json!(false)))
            .collect();
        c["viewer"]["features"] = Value::Object(features);
        c["viewer"]["display"] = json!({"show_similar_button": false});
    })
    .await;
    let carol = as_(&f, Some("carol")).await;
    for r in routes::table() {
        if SESSION_ENDING.contains(&(r.method.as_str(), r.path)) {
            continue;
        }
        let method = r.method.as_str();
        let (s, b) = call(
            &f,
            &carol,
            method,
            &uri(r.path),
            minimal_body(method, r.path),
        )
        .await;
        let gone = s == StatusCode::NOT_FOUND && b.contains("no such route");
        assert_eq!(gone, r.feature.is_some(), "{method} {} {s} {b}", r.path);
    }
}

/// The operations of the generated document, as (METHOD, path).
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    documented
}

/// Every route of the table is in the OpenAPI document (generated from the
/// handlers' `#[utoipa::path]`, gathered by `openapi::ApiDoc`), and every
/// operation the document describes is a route of the table: a route added
/// to the table without its `#[utoipa::path]` (or not listed in `ApiDoc`)
/// fails here.
#[test]
fn the_openapi_document_describes_exactly_the_tables_routes() {
    let doc = crate::openapi::spec();
    let documented = documented(&doc);
    let table: BTreeSet<(String, String)> = routes::table()
        .iter()
        .map(|r| (r.method.to_string(), r.openapi_path()))
        .collect();
    let undocumented: Vec<_> = table.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes of routes::table() not in /openapi.json (give the handler a \
         #[utoipa::path] and list it in openapi::ApiDoc): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&table).collect();
    assert!(
        unrouted.is_empty(),
        "documented, yet no such route: {unrouted:?}"
    );
}

/// Every operation of the document: a unique `operationId`, a 200 answer,
/// and each `$ref` names a schema of the document's components; the
/// routes that need a session say 401.
#[test]
fn the_openapi_document_is_whole() {
    let doc = crate::openapi::spec();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    assert_eq!(doc["info"]["title"], json!("Facet gallery"));
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Error",
        "Photo",
        "PhotoPage",
        "UserState",
        "Album",
        "ScanStatus",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    let mut ids = BTreeSet::new();
    for r in routes::table() {
        let op = &doc["paths"][r.openapi_path()][r.method.as_str().to_lowercase()];
        let what = format!("{} {}", r.method, r.path);
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(ids.insert(id.clone()), "{what}: operationId {id:?} twice");
        assert!(op["responses"].get("200").is_some(), "{what}: no 200: {op}");
        if r.needs > Needs::Anyone {
            assert!(op["responses"].get("401").is_some(), "{what}: no 401");
        }
        if r.needs > Needs::View {
            assert!(op["responses"].get("403").is_some(), "{what}: no 403");
        }
    }
    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside the schemas: {r}"));
        assert!(
            schemas.contains_key(name),
            "{r} is no schema of the document"
        );
    }
}

/// The paths the web UI calls (`/api/...`, `/thumbnail`, `/image`, as
/// string literals in `app.js`; query strings left out).
fn ui_paths(js: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for quote in ['"', '\'', '`'] {
        for prefix in ["/api/", "/thumbnail", "/image"] {
            let opening = format!("{quote}{prefix}");
            for (at, _) in js.match_indices(&opening) {
                let path: String = js[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/_-.".contains(*c))
                    .collect();
                // `/images…` or `/thumbnails…` would be other paths.
                let rest = &js[at + 1 + path.len()..];
                if prefix != "/api/" && path != prefix {
                    continue;
                }
                if prefix != "/api/" && !rest.starts_with(['?', quote]) {
                    continue;
                }
                out.insert(path);
            }
        }
    }
    out
}

/// Every path the web UI calls is a documented route.
#[test]
fn the_uis_calls_are_documented_routes() {
    let js = include_str!("../web/app.js");
    let called = ui_paths(js);
    // The extraction finds the UI's calls (not nothing).
    for p in [
        "/api/photos",
        "/api/me",
        "/api/login",
        "/thumbnail",
        "/image",
    ] {
        assert!(called.contains(p), "{p} not found in app.js: {called:?}");
    }
    assert!(called.len() >= 30, "{called:?}");
    let doc = crate::openapi::spec();
    let paths: BTreeSet<String> = documented(&doc).into_iter().map(|(_, p)| p).collect();
    let unknown: Vec<&String> = called.iter().filter(|p| !paths.contains(*p)).collect();
    assert!(
        unknown.is_empty(),
        "app.js calls paths /openapi.json lacks: {unknown:?}"
    );
    // And the extraction sees a path that is not documented.
    let made_up = ui_paths("fetch(`/api/no_such_route?x=${y}`); api(\"/thumbnail?path=1\")");
    assert_eq!(
        made_up,
        ["/api/no_such_route", "/thumbnail"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

/// `/openapi.json` leaves out the routes of features switched off.
#[tokio::test]
async fn the_served_document_follows_the_features() {
    let f = crate::tests::fixture_with(FacetConfig::default()).await;
    let (s, v) = crate::tests::get_json(&f.app, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let features = crate::Settings::from_config(&FacetConfig::default()).features;
    for r in routes::table() {
        let listed = v["paths"][r.openapi_path()]
            .get(r.method.as_str().to_lowercase())
            .is_some();
        assert_eq!(listed, r.enabled(&features), "{} {}", r.method, r.path);
    }
}

/// The bounds the document states as numbers are the code's constants.
#[test]
fn the_documents_bounds_are_the_codes() {
    let doc = crate::openapi::spec();
    let max = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"]["maximum"].clone())
            .unwrap_or_else(|| panic!("{path}: no parameter {name}"))
    };
    let per_page = json!(crate::settings::MAX_PER_PAGE);
    for (path, name) in [
        ("/api/search", "limit"),
        ("/api/memories", "limit"),
        ("/api/timeline", "per_group"),
    ] {
        assert_eq!(max(path, name), per_page, "{path} {name}");
    }
    assert_eq!(
        max("/api/filter_options", "limit"),
        json!(crate::options::MAX_MATCHES)
    );
}

/// Fields that name a photo (besides any with `path` in its name).
const PHOTO_FIELDS: &[&str] = &["winner", "loser", "a", "b", "photo", "add", "remove"];

/// A value for a request field the document describes: Bob's photo and
/// person (`photo`, `person`) — or their stand-ins that do not exist —
/// where the field names one; a plain value where the field is required;
/// nothing otherwise (filters left out keep the answers comparable).
fn probe_value(
    name: &str,
    schema: &Value,
    required: bool,
    photo: &str,
    person: i64,
) -> Option<Value> {
    let kind = schema["type"]
        .as_str()
        .or_else(|| schema["type"].as_array().and_then(|t| t[0].as_str()))
        .unwrap_or("");
    let names_person = name.contains("person") || name == "from";
    let names_photo = name.contains("path") || PHOTO_FIELDS.contains(&name);
    Some(match kind {
        "integer" | "number" if names_person => json!(person),
        // (Merging Bob's person into one Alice sees.)
        "integer" if name == "into" => json!(2),
        "string" if names_person => json!(person.to_string()),
        "array" if names_photo => json!([photo]),
        "string" if names_photo => json!(photo),
        _ if !required => return None,
        _ if schema["enum"].is_array() => schema["enum"][0].clone(),
        "integer" if name == "rating" => json!(3),
        "integer" | "number" => json!(1),
        "boolean" => json!(true),
        "array" => json!([]),
        "string" => json!("x"),
        _ => return None,
    })
}

/// The route's request naming `photo` and `person` wherever the document
/// says it takes a field: (uri with its query, JSON body).
fn probe_request(
    doc: &Value,
    method: &str,
    path: &str,
    photo: &str,
    person: i64,
) -> (String, Option<Value>) {
    let op = &doc["paths"][path][method.to_lowercase()];
    let mut query = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("");
        let required = p["required"].as_bool().unwrap_or(false);
        if p["in"] == "query"
            && let Some(v) = probe_value(name, &p["schema"], required, photo, person)
        {
            let v = match v {
                Value::String(s) => s,
                Value::Array(a) => a[0].as_str().unwrap_or("").to_string(),
                v => v.to_string(),
            };
            query.push(format!("{name}={}", crate::tests::enc(&v)));
        }
    }
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let body = op["requestBody"]["content"]["application/json"]["schema"]
        .as_object()
        .map(|schema| {
            let mut schema = Value::Object(schema.clone());
            // (`Option<Body>` is documented as oneOf [null, $ref].)
            if let Some(one) = schema["oneOf"]
                .as_array()
                .and_then(|o| o.iter().find(|s| s.get("$ref").is_some()).cloned())
            {
                schema = one;
            }
            if let Some(r) = schema["$ref"].as_str() {
                let name = r.rsplit('/').next().unwrap_or("");
                schema = doc["components"]["schemas"][name].clone();
            }
            let mut body = serde_json::Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (name, field) in schema["properties"].as_object().into_iter().flatten() {
                let needed = required.contains(&name.as_str());
                if let Some(v) = probe_value(name, field, needed, photo, person) {
                    body.insert(name.clone(), v);
                }
            }
            Value::Object(body)
        })
        .or_else(|| (method == "POST").then(|| json!({})));
    (uri, body)
}

/// What the owner sees of their photo, their people and their groups.
async fn owners_view(f: &Family, owner: &Option<String>, photo: &str) -> Vec<(StatusCode, String)> {
    let mut seen = Vec::new();
    for uri in [
        format!("/api/photo?path={}", crate::tests::enc(photo)),
        "/api/persons?include_hidden=true".to_string(),
        "/api/groups".to_string(),
    ] {
        seen.push(call(f, owner, "GET", &uri, None).await);
    }
    seen
}

/// Every route of the table called by `prober` naming `(photo, person)` —
/// another member's — and then a photo and a person that do not exist (see
/// `no_route_lets_a_member_see_or_change_anothers_photos_or_people`).
async fn probe_every_route(
    f: &Family,
    prober: &str,
    visible: &[&str],
    (photo, person): (&str, i64),
    owner: &str,
) {
    let doc = crate::openapi::spec();
    let none_photo = f.path(&format!(
        "{}/nothing.jpg",
        photo.rsplit('/').nth(1).unwrap_or("")
    ));
    let none_person = 1_000_001i64;
    let owner = as_(f, Some(owner)).await;
    let before = owners_view(f, &owner, photo).await;
    let caller = as_(f, Some(prober)).await;
    let skip = [
        "/api/login",
        "/api/logout",
        "/api/auth/logout-all",
        "/api/auth/password",
    ];
    let mut probed = 0;
    for r in routes::table() {
        let (method, path) = (r.method.as_str(), r.openapi_path());
        if skip.contains(&path.as_str()) {
            continue;
        }
        let (uri_o, body_o) = probe_request(&doc, method, &path, photo, person);
        let (uri_n, body_n) = probe_request(&doc, method, &path, &none_photo, none_person);
        let (s_o, a_o) = call(f, &caller, method, &uri_o, body_o.clone()).await;
        let (s_n, a_n) = call(f, &caller, method, &uri_n, body_n.clone()).await;
        let what = format!("{prober} {method} {uri_o} {body_o:?}: {s_o} {a_o}");
        // (A refusal may repeat what was asked; an answer shows only theirs.)
        if s_o.is_success() {
            for p in crate::users_tests::mentioned(f, &a_o) {
                assert!(visible.contains(&p.as_str()), "{what}: shows {p}");
            }
        }
        assert_eq!(
            s_o, s_n,
            "not theirs and absent differ: {what} / {s_n} {a_n}"
        );
        // The same words too, when the route answers the same request alike.
        let (s_again, again) = call(f, &caller, method, &uri_n, body_n).await;
        if s_again == s_n && again == a_n {
            let a_n = a_n
                .replace(&none_photo, photo)
                .replace(&none_person.to_string(), &person.to_string());
            assert_eq!(a_o, a_n, "not theirs and absent differ: {what}");
        }
        probed += 1;
    }
    assert!(probed > 40, "{probed} routes probed");
    let after = owners_view(f, &owner, photo).await;
    assert_eq!(
        before, after,
        "{prober} changed another member's photo or people"
    );
}

/// Scope on every route, generated from the API document (a route added
/// later is probed with no change here): a member calls each route naming
/// another member's photo and a person only that member's photos show,
/// wherever the document says the request names one (query parameters and
/// body fields), then naming a photo and a person that do not exist. The
/// two answers are the same (one answer for "not yours" and "does not
/// exist"), no successful answer mentions a photo outside the caller's
/// folders, and the owner's photo and people are as they were afterwards.
/// Probed as alice (a user: the routes every member has) against Bob's
/// things, and as bob (an admin: persons rename, hide, merge, group
/// decisions) against Alice's.
#[tokio::test]
async fn no_route_lets_a_member_see_or_change_anothers_photos_or_people() {
    use crate::users_tests::{ALICE, BOB, FAMILY, bobs_people};
    let f = family_with(all_features_on).await;
    bobs_people(&f).await;
    // Person 3: only in Alice's a2.
    let store = facet_store::Store::open(&f.store_dir()).unwrap();
    let face = crate::tests::batch(vec![
        (
            "face_id",
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["a2#0"]))
                as arrow::array::ArrayRef,
        ),
        (
            "path",
            std::sync::Arc::new(arrow::array::StringArray::from(vec![
                f.path("Alice/a2.jpg"),
            ])),
        ),
        (
            "person_id",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![3])),
        ),
    ]);
    store.upsert(&facet_schemas::faces(), face).await.unwrap();
    let person = crate::tests::batch(vec![
        (
            "person_id",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![3])) as arrow::array::ArrayRef,
        ),
        (
            "name",
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["Alice's friend"])),
        ),
        (
            "face_count",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1])),
        ),
    ]);
    store
        .upsert(&facet_schemas::persons(), person)
        .await
        .unwrap();

    let alices: Vec<&str> = [ALICE, FAMILY].concat();
    probe_every_route(&f, "alice", &alices, (&f.path("Bob/b1.jpg"), 1), "bob").await;
    let bobs: Vec<&str> = [BOB, FAMILY].concat();
    probe_every_route(&f, "bob", &bobs, (&f.path("Alice/a2.jpg"), 3), "alice").await;
}
