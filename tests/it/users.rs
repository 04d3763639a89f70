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

#[test]
fn a_scan_started_from_the_gallery_adds_the_new_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    for i in 0..2 {
        std::fs::write(lib.join(format!("p{i}.jpg")), jpeg(320, 240, i)).unwrap();
    }
    let store = tmp.path().join("store");
    let r = ran(facet()
        .args(["run", "--quiet", "--store"])
        .arg(&store)
        .arg(&lib)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    std::fs::write(lib.join("p2.jpg"), jpeg(320, 240, 2)).unwrap();
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(
        &config,
        r#"{"viewer": {"features": {"show_scan_button": true}}}"#,
    )
    .unwrap();
    let server = crate::gallery::Server::start(&store, &config);
    // First run: a share_secret is written into the configuration.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["share_secret"].as_str().map(str::len), Some(64));
    let lib_s = lib.canonicalize().unwrap().to_string_lossy().into_owned();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let r = agent
        .post(&format!("{}/api/scan", server.url))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({"directories": [lib_s]}).to_string())
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    let status = loop {
        let body = agent
            .get(&format!("{}/api/scan", server.url))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["running"] == false {
            break v;
        }
        assert!(started.elapsed().as_secs() < 300, "{v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(status["exit_code"], 0, "{status}");
    assert_eq!(
        (status["found"].clone(), status["skipped"].clone()),
        (serde_json::json!(3), serde_json::json!(2)),
        "{status}"
    );
    let log = status["log"].to_string();
    assert!(log.contains("3 found, 1 analysed"), "{log}");
    let photos: serde_json::Value = serde_json::from_str(
        &agent
            .get(&format!("{}/api/photos", server.url))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(photos["total"], 3, "the gallery shows the new photo");
}
