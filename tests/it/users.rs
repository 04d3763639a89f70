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

/// A client of the gallery at `url`: no cookie jar (each session is a
/// cookie the test holds), statuses as values.
struct Client {
    url: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(url: &str) -> Client {
        Client {
            url: url.to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent(),
        }
    }

    /// `POST /api/login`: the session cookie (`facet_session=…`).
    fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .agent
            .post(&format!("{}/api/login", self.url))
            .header("Content-Type", "application/json")
            .send(serde_json::json!({"username": user, "password": password}).to_string())
            .unwrap();
        assert_eq!(r.status(), 200, "{user} logs in");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    }

    /// The status of `GET /api/photos` with `session`.
    fn photos(&self, session: &str) -> u16 {
        self.agent
            .get(&format!("{}/api/photos", self.url))
            .header("Cookie", session)
            .call()
            .unwrap()
            .status()
            .as_u16()
    }

    /// `POST route` with `session` and a JSON body: status and body.
    fn post(
        &self,
        route: &str,
        session: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .agent
            .post(&format!("{}{route}", self.url))
            .header("Cookie", session)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }
}

/// `facet --config CONFIG user ARGS… --store STORE`, `stdin` on its input.
pub(crate) fn user_cli(
    config: &std::path::Path,
    store: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> Ran {
    let mut child = facet()
        .arg("--config")
        .arg(config)
        .arg("user")
        .args(args)
        .arg("--store")
        .arg(store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{stdin}").unwrap();
    ran(child.wait_with_output().unwrap())
}

/// Waits up to 5 s for `f` (a running server notices another process's
/// revocation within a second).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !f() {
        assert!(started.elapsed().as_secs() < 5, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Sessions are held by the server, in the store: through the real HTTP
/// server, logout, "log out everywhere", a password change and `facet user
/// remove` / `add` end them (401 on their next request), each login gets a
/// new id, they survive a restart of `facet serve` (even a kill), and an
/// idle one ends after `viewer.sessions.idle_seconds`.
#[test]
fn sessions_are_revoked_at_once_survive_a_restart_and_expire_when_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("scoring_config.json");
    std::fs::write(&config, r#"{"viewer": {}}"#).unwrap();
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    for (name, pw) in [("alice", "alice password"), ("bob", "bob password")] {
        let r = user_cli(&config, &store, &["add", name], pw);
        assert_eq!(r.status, 0, "{}", r.stderr);
    }
    let server = crate::gallery::Server::start(&store, &config);
    let c = Client::new(&server.url);

    // A new session id at each login.
    let a1 = c.login("alice", "alice password");
    let a2 = c.login("alice", "alice password");
    assert_ne!(a1, a2);
    assert_eq!((c.photos(&a1), c.photos(&a2)), (200, 200));

    // Logout: that session's cookie gets 401, the other stays.
    let (s, _) = c.post("/api/logout", &a1, serde_json::json!({}));
    assert_eq!(s, 200);
    assert_eq!((c.photos(&a1), c.photos(&a2)), (401, 200));

    // Log out everywhere, from one client: the other client's cookie too.
    let a3 = c.login("alice", "alice password");
    let b1 = c.login("bob", "bob password");
    let (s, v) = c.post("/api/auth/logout-all", &a3, serde_json::json!({}));
    assert_eq!((s, v["revoked"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!((c.photos(&a2), c.photos(&a3)), (401, 401));
    assert_eq!(c.photos(&b1), 200, "Bob's session is his");

    // A password change: the member's other sessions end.
    let a4 = c.login("alice", "alice password");
    let a5 = c.login("alice", "alice password");
    let (s, v) = c.post(
        "/api/auth/password",
        &a4,
        serde_json::json!({"current_password": "alice password", "new_password": "alice's new one"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!((c.photos(&a4), c.photos(&a5)), (200, 401));
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(!written.contains("alice's new one"), "only its hash");

    // A restart (a kill, even): the sessions in the store are still valid,
    // the ended ones still ended, the new password is the configuration's.
    drop(server);
    let server = crate::gallery::Server::start(&store, &config);
    let c = Client::new(&server.url);
    assert_eq!((c.photos(&a4), c.photos(&b1)), (200, 200));
    assert_eq!((c.photos(&a1), c.photos(&a5)), (401, 401));
    let a6 = c.login("alice", "alice's new one");

    // `facet user remove bob`, and `facet user add alice` resetting her
    // password, while the server runs: their sessions end.
    let r = user_cli(&config, &store, &["remove", "bob"], "");
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("1 gallery session(s)"), "{}", r.stdout);
    eventually("Bob's session ends", || c.photos(&b1) == 401);
    let r = user_cli(&config, &store, &["add", "alice"], "alice password again");
    assert_eq!(r.status, 0, "{}", r.stderr);
    eventually("Alice's sessions end", || {
        c.photos(&a4) == 401 && c.photos(&a6) == 401
    });
    // The server reads the members again, without a restart: Bob can no
    // longer log in, Alice only with her new password.
    let login = |user: &str, password: &str| {
        c.post(
            "/api/login",
            "",
            serde_json::json!({"username": user, "password": password}),
        )
        .0
    };
    assert_eq!(login("bob", "bob password"), 401, "a removed member");
    assert_eq!(login("alice", "alice's new one"), 401, "her old password");
    let a8 = c.login("alice", "alice password again");
    assert_eq!(c.photos(&a8), 200);
    drop(server);

    // An idle lifetime of 2 s: requests keep a session alive, 3 s without
    // one end it.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    v["viewer"]["sessions"] = serde_json::json!({"idle_seconds": 2});
    std::fs::write(&config, v.to_string()).unwrap();
    let server = crate::gallery::Server::start(&store, &config);
    let c = Client::new(&server.url);
    let a7 = c.login("alice", "alice password again");
    for _ in 0..3 {
        assert_eq!(c.photos(&a7), 200);
        std::thread::sleep(std::time::Duration::from_millis(1000));
    }
    assert_eq!(c.photos(&a7), 200);
    std::thread::sleep(std::time::Duration::from_millis(3000));
    assert_eq!(c.photos(&a7), 401, "idle for 3 s");
}
