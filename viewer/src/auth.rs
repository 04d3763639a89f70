//! Passwords and sessions.
//!
//! Passwords are stored as PBKDF2-HMAC-SHA256 `salt_hex:dk_hex` (16 random
//! bytes of salt, a 32-byte key, [`ITERATIONS`] rounds), the format of the
//! reference's `users` section; they are compared in constant time and never
//! logged. A session is a signed token `user.expires.signature` (HMAC-SHA256
//! over the user and the expiry, keyed by the server's secret) carried in an
//! HttpOnly, SameSite=Strict cookie: it expires on its own, and changing the
//! secret logs everyone out.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// PBKDF2 rounds for new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const ITERATIONS: u32 = 600_000;

/// The session cookie's name.
pub const COOKIE: &str = "facet_session";

type HmacSha256 = Hmac<Sha256>;

/// PBKDF2-HMAC-SHA256 of `password` with `salt`, 32 bytes.
pub fn derive(password: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, rounds, &mut dk);
    dk
}

/// A new `salt_hex:dk_hex` hash of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no system randomness: {e}"))?;
    Ok(format!(
        "{}:{}",
        hex::encode(salt),
        hex::encode(derive(password, &salt, ITERATIONS))
    ))
}

/// Whether `password` matches a stored `salt_hex:dk_hex` hash (constant time
/// in the key; a malformed hash never matches).
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Some((salt, dk)) = stored.split_once(':') else {
        return false;
    };
    let (Ok(salt), Ok(dk)) = (hex::decode(salt), hex::decode(dk)) else {
        return false;
    };
    if dk.len() != 32 {
        return false;
    }
    let got = derive(password, &salt, ITERATIONS);
    subtle_eq(&got, &dk)
}

/// Constant-time equality of two byte strings of the same length (the
/// comparison HMAC's `verify_slice` uses).
pub fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(b"facet-compare").expect("any key length");
    mac.update(a);
    let ta = mac.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(b"facet-compare").expect("any key length");
    mac.update(b);
    mac.verify_slice(&ta).is_ok()
}

/// A random secret for signing sessions and share links (64 hex digits).
pub fn new_secret() -> Result<String, String> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| format!("no system randomness: {e}"))?;
    Ok(hex::encode(s))
}

fn signature(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(payload.as_bytes());
    mac
}

/// A session token for `user` valid until `expires` (Unix seconds).
pub fn sign_session(secret: &[u8], user: &str, expires: u64) -> String {
    let payload = format!("{}.{expires}", hex::encode(user.as_bytes()));
    let sig = signature(secret, &payload).finalize().into_bytes();
    format!("{payload}.{}", hex::encode(sig))
}

/// The user of a valid, unexpired token.
pub fn verify_session(secret: &[u8], token: &str, now: u64) -> Option<String> {
    let (payload, sig) = token.rsplit_once('.')?;
    let (user_hex, expires) = payload.split_once('.')?;
    let sig = hex::decode(sig).ok()?;
    signature(secret, payload).verify_slice(&sig).ok()?;
    if expires.parse::<u64>().ok()? <= now {
        return None;
    }
    String::from_utf8(hex::decode(user_hex).ok()?).ok()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_published_vectors() {
        // RFC 7914 §11 and the widely used PBKDF2-HMAC-SHA256 vectors.
        assert_eq!(
            hex::encode(derive("password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hex::encode(derive("password", b"salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
        assert_eq!(
            hex::encode(derive("password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "random salts");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horse!", &a));
        assert!(!verify_password("correct horse", "nothex:zz"));
        assert!(!verify_password("correct horse", "00:00"));
        assert!(!a.contains("correct"));
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let t = sign_session(b"k1", "alice", 1000);
        assert_eq!(verify_session(b"k1", &t, 999).as_deref(), Some("alice"));
        assert_eq!(verify_session(b"k1", &t, 1000), None, "expired");
        assert_eq!(verify_session(b"k2", &t, 10), None, "another secret");
        let forged = t.replacen(&hex::encode("alice"), &hex::encode("bob"), 1);
        assert_eq!(verify_session(b"k1", &forged, 10), None, "another user");
        let later = t.replacen(".1000.", ".9999.", 1);
        assert_eq!(verify_session(b"k1", &later, 10), None, "another expiry");
        assert_eq!(verify_session(b"k1", "garbage", 10), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(cookie("a=1; facet_session=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("facet_session_x=1", COOKIE), None);
    }
}

// ---- The gate: single-user passwords (`viewer.password`, `viewer.edition_password`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;

/// Sessions last this long.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Failed logins a client may make per minute before being refused (429).
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    None,
    View,
    Edit,
}

/// The passwords, the signing secret and the login throttle.
pub struct Gate {
    password: Option<String>,
    edition_password: Option<String>,
    secret: Vec<u8>,
    failures: std::sync::Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Gate {
    /// From `viewer.password` / `viewer.edition_password` (empty: off), with
    /// `share_secret` as the signing key when set, else a random one (sessions
    /// then end with the process).
    pub fn from_config(config: &facet_config::FacetConfig) -> Gate {
        let o = &config.viewer.other;
        let secret = config
            .share_secret
            .clone()
            .filter(|s| !s.is_empty())
            .map(|s| format!("session:{s}").into_bytes())
            .unwrap_or_else(|| new_secret().unwrap_or_default().into_bytes());
        Gate {
            password: nonempty(o.get("password")),
            edition_password: nonempty(o.get("edition_password")),
            secret,
            failures: Default::default(),
        }
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// What the session cookie of `headers` allows.
    pub fn access(&self, headers: &HeaderMap) -> Access {
        let session = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find_map(|h| cookie(h, COOKIE))
            .and_then(|t| verify_session(&self.secret, t, Self::now()));
        match session.as_deref() {
            Some("edit") => Access::Edit,
            Some("view") if self.edition_password.is_none() => Access::Edit,
            Some("view") => Access::View,
            _ if self.password.is_none() && self.edition_password.is_none() => Access::Edit,
            _ if self.password.is_none() => Access::View,
            _ => Access::None,
        }
    }

    fn throttled(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        let map = self.failures.lock().expect("login throttle");
        map.get(&ip).is_some_and(|(since, n)| {
            since.elapsed() < Duration::from_secs(60) && *n >= LOGIN_ATTEMPTS_PER_MINUTE
        })
    }

    fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut map = self.failures.lock().expect("login throttle");
        let e = map.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= Duration::from_secs(60) {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }

    fn cookie_header(&self, level: &str) -> HeaderValue {
        let token = sign_session(&self.secret, level, Self::now() + SESSION_TTL.as_secs());
        HeaderValue::from_str(&format!(
            "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            SESSION_TTL.as_secs()
        ))
        .expect("a token is ASCII")
    }
}

/// Routes anyone may reach: the page, its assets, the API description and
/// the session routes themselves.
fn public(path: &str) -> bool {
    path == "/"
        || path.starts_with("/assets/")
        || path == "/openapi.json"
        || path.starts_with("/api/login")
        || path.starts_with("/api/logout")
        || path.starts_with("/api/me")
}

fn deny(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Middleware: 401 without a session when `viewer.password` is set; 403 for
/// a change (any non-GET request) without the edition password when
/// `viewer.edition_password` is set.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let gate = state.gate();
    if public(req.uri().path()) {
        return next.run(req).await;
    }
    let access = gate.access(req.headers());
    let change = !matches!(*req.method(), Method::GET | Method::HEAD);
    match access {
        Access::None => deny(StatusCode::UNAUTHORIZED, "login required"),
        Access::View if change => deny(
            StatusCode::FORBIDDEN,
            "changes need the edition password (log in with it)",
        ),
        _ => next.run(req).await,
    }
}

/// `POST /api/login` `{"password": "…"}`: the edition password gives view
/// and edit, the viewer password view only. Set-Cookie on success; 401 on a
/// wrong password; 429 after too many failures from one client in a minute.
pub async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Json(body): Json<Value>,
) -> Response {
    let gate = state.gate();
    // The client's address, as `serve` records it for each connection.
    let ip = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|p| p.0.ip());
    if gate.throttled(ip) {
        return deny(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute",
        );
    }
    let Some(given) = body.get("password").and_then(Value::as_str) else {
        return crate::ApiError::bad("password", "a string is required").into_response();
    };
    let matches = |p: &Option<String>| {
        p.as_deref()
            .is_some_and(|p| subtle_eq(p.as_bytes(), given.as_bytes()))
    };
    let level = if matches(&gate.edition_password) {
        "edit"
    } else if matches(&gate.password) {
        "view"
    } else {
        gate.failed(ip);
        return deny(StatusCode::UNAUTHORIZED, "wrong password");
    };
    let mut r =
        Json(json!({ "ok": true, "can_edit": level == "edit" || gate.edition_password.is_none() }))
            .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, gate.cookie_header(level));
    r
}

/// `POST /api/logout`: clears the session cookie.
pub async fn logout() -> Response {
    let mut r = Json(json!({ "ok": true })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("facet_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

/// `GET /api/me`: what this session may do and which passwords exist.
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let gate = state.gate();
    let access = gate.access(&headers);
    Json(json!({
        "can_view": access != Access::None,
        "can_edit": access == Access::Edit,
        "password_required": gate.password.is_some(),
        "edition_password_required": gate.edition_password.is_some(),
    }))
    .into_response()
}
