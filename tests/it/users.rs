//! `facet user add`: the password is hashed with PBKDF2-HMAC-SHA256 into the
//! configuration (checked against Python's `hashlib`, a standard
//! implementation), never echoed; the multi-user gallery is refused until
//! per-user scoping exists.

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

    // A multi-user configuration is refused by the gallery (no per-user
    // scoping yet), before anything is served.
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let r = ran(facet()
        .arg("--config")
        .arg(&config)
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("multi-user"), "{}", r.stderr);
}
