//! The capsule routes over the family fixture: each member's capsules hold
//! their own and the shared photos only, and another member's capsule is
//! no capsule of theirs.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::tests::enc;
use crate::users_tests::{as_, call, family_with};

/// Small enough thresholds for the fixture's nine photos to make capsules.
fn small(c: &mut Value) {
    c["capsules"] = json!({
        "min_aggregate": 0.0,
        "journey": {"min_photos": 1},
        "seasonal": {"min_photos": 1},
        "favorites": {"min_photos": 1},
        "max_photo_overlap": 1.0
    });
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_member_sees_only_their_photos_through_capsules() {
    let f = family_with(small).await;
    let alice = as_(&f, Some("alice")).await;
    let bob = as_(&f, Some("bob")).await;
    let (s, b) = call(&f, &None, "GET", "/api/capsules", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let mut ids = std::collections::HashMap::new();
    for (name, cookie, own, other) in [
        ("alice", &alice, "/Alice/", "/Bob/"),
        ("bob", &bob, "/Bob/", "/Alice/"),
    ] {
        let (s, b) = call(&f, cookie, "GET", "/api/capsules", None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {b}");
        let v = json_of(&b);
        let list = v["capsules"].as_array().expect("capsules").clone();
        assert!(!list.is_empty(), "{name}: {b}");
        assert_eq!(v["total"], list.len());
        assert!(!b.contains(other), "{name} sees {other} in the list: {b}");
        let mut seen_own = false;
        for c in &list {
            let id = c["id"].as_str().unwrap();
            assert!(
                ["crossfade", "slide", "zoom", "kenburns"]
                    .contains(&c["transition"].as_str().unwrap())
            );
            assert!(c["cover"]["path"].is_string(), "{c}");
            let (s, b) = call(
                &f,
                cookie,
                "GET",
                &format!("/api/capsule?id={}", enc(id)),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{name} {id}: {b}");
            let one = json_of(&b);
            let photos = one["photos"].as_array().unwrap();
            assert_eq!(photos.len(), c["count"].as_u64().unwrap() as usize);
            for p in photos {
                let path = p["path"].as_str().unwrap();
                assert!(
                    path.contains(own) || path.contains("/Family/"),
                    "{name} {id}: {path}"
                );
                seen_own |= path.contains(own);
                assert!(p["aggregate"].is_number(), "{p}");
            }
            if name == "alice" {
                assert!(
                    !b.contains("BobCam") && !b.contains("bobsecret") && !b.contains("2015"),
                    "{b}"
                );
            }
        }
        assert!(seen_own, "{name} has capsules of their own photos");
        ids.insert(
            name,
            list.iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
        );
    }
    // Bob's spring 2015 (his photos only) is no capsule of Alice's.
    let only_bob: Vec<&String> = ids["bob"]
        .iter()
        .filter(|i| !ids["alice"].contains(i))
        .collect();
    assert!(!only_bob.is_empty(), "{ids:?}");
    for id in only_bob {
        let (s, b) = call(
            &f,
            &alice,
            "GET",
            &format!("/api/capsule?id={}", enc(id)),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        assert!(!b.contains("/Bob/"), "{b}");
    }
    // Asked twice: the same (kept) answer.
    let (_, first) = call(&f, &alice, "GET", "/api/capsules", None).await;
    let (_, again) = call(&f, &alice, "GET", "/api/capsules", None).await;
    assert_eq!(first, again);
    // Parameters.
    let (s, b) = call(&f, &alice, "GET", "/api/capsule", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b.contains("id"), "{b}");
}

#[tokio::test]
async fn the_feature_switches_the_routes_off() {
    let f = family_with(|c| {
        small(c);
        c["viewer"]["features"]["show_capsules"] = json!(false);
    })
    .await;
    let alice = as_(&f, Some("alice")).await;
    for uri in ["/api/capsules", "/api/capsule?id=x"] {
        let (s, b) = call(&f, &alice, "GET", uri, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}: {b}");
    }
}
