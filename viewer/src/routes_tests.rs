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

/// Every route of the table is in the OpenAPI document, and every
/// operation the document describes is a route of the table.
#[test]
fn the_openapi_document_describes_exactly_the_tables_routes() {
    let doc = crate::openapi::spec();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = routes::table()
        .iter()
        .map(|r| (r.method.to_string(), r.openapi_path()))
        .collect();
    let undocumented: Vec<_> = table.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes not in /openapi.json: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&table).collect();
    assert!(
        unrouted.is_empty(),
        "documented, yet no such route: {unrouted:?}"
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
