//! `facet user add`: the password is hashed with PBKDF2-HMAC-SHA256 into the
//! configuration (checked against Python's `hashlib`, a standard
//! implementation), never echoed; `facet serve` then logs the user in over
//! HTTP; `facet user migrate-preferences` copies single-user ratings. (The
//! per-route matrix of the multi-user mode is in the viewer's tests.)

use std::io::Write;
use std::process::Stdio;

use crate::common::*;

fn add_user(config: &std::path::Path, name: &str, password: &str) -> Ran {
    let mut child = facet()
        .arg("--config")
        .arg(config)
        .args([
            "user",
            "add",
            name,
            "--role",
            "superadmin",
            "--display-name",
            "Alice A.",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    ran(child.wait_with_output().unwrap())
}

#[test]
fn user_add_writes_a_standard_pbkdf2_hash_and_never_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(
        &config,
        r#"{"scoring": {"score_max": 10}, "viewer": {"password": ""}}"#,
    )
    .unwrap();
    let password = "correct horse battery";
    let r = add_user(&config, "alice", password);
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(password) && !r.stderr.contains(password));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains(password));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["scoring"]["score_max"], 10, "other keys kept");
    let alice = &v["users"]["alice"];
    assert_eq!(alice["role"], "superadmin");
    assert_eq!(alice["display_name"], "Alice A.");
    let hash = alice["password_hash"].as_str().unwrap();
    let (salt, dk) = hash.split_once(':').unwrap();
    assert_eq!((salt.len(), dk.len()), (32, 64), "{hash}");
    // The configuration still loads (and validates the hash's form).
    let r = ran(facet()
        .arg("--config")
        .arg(&config)
        .args(["config", "show"])
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(password));

    // Python's hashlib derives the same key from the same salt.
    let check = format!(
        "import hashlib; print(hashlib.pbkdf2_hmac('sha256', {password:?}.encode(), bytes.fromhex('{salt}'), 600000).hex())"
    );
    match std::process::Command::new("python3")
        .args(["-c", &check])
        .output()
    {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), dk);
        }
        _ => eprintln!("python3 not found: PBKDF2 checked against the RFC vectors only"),
    }

    // Too short, and a name that is not a user.
    assert_ne!(add_user(&config, "bob", "short").status, 0);
    assert_ne!(add_user(&config, "shared_directories", password).status, 0);

    // The gallery logs the user in with that password, over HTTP.
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let server = crate::gallery::Server::start(&store, &config);
    let login = |pw: &str| {
        ureq::post(&format!("{}/api/login", server.url))
            .header("Content-Type", "application/json")
            .config()
            .http_status_as_error(false)
            .build()
            .send(serde_json::json!({"username": "alice", "password": pw}).to_string())
            .unwrap()
    };
    assert_eq!(login("wrong password").status(), 401);
    let ok = login(password);
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains(password),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let photos = ureq::get(&format!("{}/api/photos", server.url))
        .header("Cookie", &session)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let photos: serde_json::Value = serde_json::from_str(&photos).unwrap();
    assert_eq!(photos["total"], 0, "alice has no folders yet: {photos}");
    let anonymous = ureq::get(&format!("{}/api/photos", server.url))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    drop(server);

    let r = ran(facet()
        .arg("--config")
        .arg(&config)
        .args(["user", "migrate-preferences", "--user", "alice", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("0 ratings/favourites/rejects copied"),
        "{}",
        r.stdout
    );
    let r = ran(facet()
        .arg("--config")
        .arg(&config)
        .args(["user", "migrate-preferences", "--user", "nobody", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("no user `nobody`"), "{}", r.stderr);
}
