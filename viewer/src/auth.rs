//! Passwords and sessions.
//!
//! Passwords are stored as PBKDF2-HMAC-SHA256 `salt_hex:dk_hex` (16 random
//! bytes of salt, a 32-byte key, [`ITERATIONS`] rounds), the format of the
//! reference's `users` section; they are compared in constant time and never
//! logged. A session is held by the server (see [`crate::sessions`]): the
//! HttpOnly, SameSite=Strict cookie carries only its random id, and logging
//! out, "log out everywhere", a password change or the member's removal end
//! it at once. Share links are signed tokens `subject.expires.signature`
//! (HMAC-SHA256 keyed by the server's secret, [`sign_session`]).

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

/// A signed token for `user` valid until `expires` (Unix seconds): share
/// links.
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

// ---- The gate: who a request is, and what it may do.
//
// Single-user mode (no `users`): `viewer.password` protects everything,
// `viewer.edition_password` the changes; a session's subject is `view` or
// `edit`. Multi-user mode (`users` with at least one user): each member logs
// in with their name and password (the single-user passwords are ignored);
// a session's subject is `user:<name>`, and the member's role and folders
// decide the rest. A subject of the other mode never verifies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use facet_config::Role;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope::Scope;
use crate::{AppState, Settings};

/// Failed logins a client may make per minute before being refused (429).
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;

/// What a single-user session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    None,
    View,
    Edit,
}

/// A member of the family (multi-user mode).
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    /// Their directories and the shared ones, as stored paths.
    pub scope: Scope,
    /// The same directories on this machine (after `viewer.path_mapping`):
    /// every file served must resolve inside one of them.
    pub roots: Vec<PathBuf>,
    /// Changed by `POST /api/auth/password`.
    password_hash: std::sync::RwLock<String>,
}

/// Who a request is: set by [`guard`] on every request, read by handlers
/// as an extractor.
#[derive(Debug, Clone)]
pub enum Who {
    /// No session where one is needed.
    Nobody,
    /// Single-user mode.
    Single(Access),
    /// A logged-in member (multi-user mode).
    Member(Arc<Member>),
    /// The holder of an album's share link: that album's photos only.
    Guest(Arc<Guest>),
}

/// What a share link admits.
#[derive(Debug)]
pub struct Guest {
    pub album: String,
    /// The album's owner, whose view of the library the album is.
    pub owner: Who,
    /// The album's photos.
    pub paths: std::collections::HashSet<String>,
}

impl Member {
    /// The member's password hash now.
    fn password_hash(&self) -> String {
        self.password_hash.read().expect("password lock").clone()
    }
}

impl Who {
    /// The per-user state's owner: the member's name, `None` in single-user
    /// mode (the shared `user_state`).
    pub fn user(&self) -> Option<&str> {
        match self {
            Who::Member(m) => Some(&m.name),
            _ => None,
        }
    }

    /// The member's scope; `None` means every photo (single-user mode).
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Who::Member(m) => Some(&m.scope),
            _ => None,
        }
    }

    /// Whether the photo at stored `path` is visible.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            Who::Nobody => false,
            Who::Single(a) => *a != Access::None,
            Who::Member(m) => m.scope.allows(path),
            Who::Guest(g) => g.paths.contains(path) && g.owner.allows(path),
        }
    }

    /// The directories on this machine every file served must resolve
    /// into; `None`: the store's paths alone decide (single-user mode).
    pub fn roots(&self) -> Option<&[PathBuf]> {
        match self {
            Who::Member(m) => Some(&m.roots),
            Who::Guest(g) => g.owner.roots(),
            _ => None,
        }
    }

    /// `Ok` when the photo is visible, else the same 404 as an unknown
    /// photo: nobody learns what lies in another member's folders.
    pub fn check(&self, path: &str) -> ApiResult<()> {
        if self.allows(path) {
            Ok(())
        } else {
            Err(ApiError::NotFound("no such photo".into()))
        }
    }

    /// Rate, favourite, reject, compare, edit albums.
    pub fn can_edit(&self) -> bool {
        match self {
            Who::Nobody | Who::Guest(_) => false,
            Who::Single(a) => *a == Access::Edit,
            Who::Member(_) => true,
        }
    }

    /// Whether this session has `role` or more (single-user edition access
    /// has every role).
    pub fn has(&self, role: Role) -> bool {
        match self {
            Who::Nobody | Who::Guest(_) => false,
            Who::Single(a) => *a == Access::Edit,
            Who::Member(m) => m.role >= role,
        }
    }

    /// 403 unless [`Who::has`] `role`.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                format!("{role:?}").to_lowercase()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Who>()
            .cloned()
            .unwrap_or(Who::Nobody))
    }
}

/// The passwords or members, the share links' key and the login throttle.
pub struct Gate {
    password: Option<String>,
    edition_password: Option<String>,
    /// Multi-user mode's members by name, as the configuration file says
    /// now ([`Gate::reload_members`]).
    members: std::sync::RwLock<HashMap<String, Arc<Member>>>,
    /// Multi-user mode (members configured at start): fixed for the
    /// server's life.
    multi_user: bool,
    /// Signs album share links.
    share_key: Vec<u8>,
    failures: Throttle,
}

/// Who failed to log in: a client address, or (multi-user mode) the user
/// name tried from any address.
#[derive(Clone, Hash, PartialEq, Eq)]
enum Attempt {
    Client(IpAddr),
    User(String),
}

/// Failed logins per [`Attempt`] in the minute since the first: a bounded,
/// expiring table (at most [`THROTTLE_ENTRIES`] entries, each dropped a
/// minute after its first failure), so that clients that never come back —
/// or a flood of made-up addresses — cannot grow the server's memory.
struct Throttle(moka::sync::Cache<Attempt, Arc<std::sync::atomic::AtomicU32>>);

/// The most login failures the throttle remembers at once.
pub const THROTTLE_ENTRIES: u64 = 50_000;

impl Throttle {
    fn new() -> Throttle {
        Throttle(
            moka::sync::Cache::builder()
                .max_capacity(THROTTLE_ENTRIES)
                .time_to_live(Duration::from_secs(60))
                .build(),
        )
    }

    fn count(&self, a: &Attempt) -> u32 {
        self.0
            .get(a)
            .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn fail(&self, a: Attempt) {
        self.0
            .get_with(a, Default::default)
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Entries held now (after the cache's pending evictions ran).
    #[cfg(test)]
    fn len(&self) -> u64 {
        self.0.run_pending_tasks();
        self.0.entry_count()
    }
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A hash no password matches, verified for unknown user names so that a
/// login takes as long whether the name exists or not.
const DUMMY_HASH: &str = "00000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000";

impl Gate {
    /// From `viewer.password` / `viewer.edition_password` (empty: off) or
    /// the `users` section, with `share_secret` as the share links' signing
    /// key when set, else a random one (links then end with the process).
    pub fn from_config(config: &facet_config::FacetConfig, settings: &Settings) -> Gate {
        let o = &config.viewer.other;
        let base = config
            .share_secret
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| new_secret().unwrap_or_default());
        let share_key = format!("share:{base}").into_bytes();
        let members = members_of(config, settings);
        Gate {
            password: nonempty(o.get("password")),
            edition_password: nonempty(o.get("edition_password")),
            multi_user: !members.is_empty(),
            members: std::sync::RwLock::new(members),
            share_key,
            failures: Throttle::new(),
        }
    }

    /// The members as `config` has them now: a member added, removed or
    /// given a new password by `facet user` while the gallery runs (the
    /// configuration file changed) can log in, or no longer can, without
    /// a restart. Their sessions were revoked in the store already.
    pub fn reload_members(&self, config: &facet_config::FacetConfig, settings: &Settings) {
        *self.members.write().expect("members lock") = members_of(config, settings);
    }

    /// The member `name`, while configured.
    fn member(&self, name: &str) -> Option<Arc<Member>> {
        self.members
            .read()
            .expect("members lock")
            .get(name)
            .cloned()
    }
}

/// The `users` section's members, by name.
fn members_of(
    config: &facet_config::FacetConfig,
    settings: &Settings,
) -> HashMap<String, Arc<Member>> {
    let shared = &config.users.shared_directories;
    config
        .users
        .users
        .iter()
        .map(|(name, u)| {
            let dirs: Vec<String> = u.directories.iter().chain(shared).cloned().collect();
            let scope = Scope::new(&dirs);
            let roots = scope
                .dirs()
                .iter()
                .map(|d| settings.local_path(d))
                .collect();
            let member = Member {
                name: name.clone(),
                display_name: if u.display_name.is_empty() {
                    name.clone()
                } else {
                    u.display_name.clone()
                },
                role: u.role,
                scope,
                roots,
                password_hash: std::sync::RwLock::new(u.password_hash.clone()),
            };
            (name.clone(), Arc::new(member))
        })
        .collect()
}

impl Gate {
    /// A share link's token for album `id` with `nonce`.
    pub fn share_token(&self, id: &str, nonce: &str) -> String {
        sign_session(&self.share_key, &format!("album:{id}:{nonce}"), u64::MAX)
    }

    /// The album id and nonce of a genuine share token.
    pub fn verify_share(&self, token: &str) -> Option<(String, String)> {
        let subject = verify_session(&self.share_key, token, Self::now())?;
        let (id, nonce) = subject.strip_prefix("album:")?.split_once(':')?;
        Some((id.to_string(), nonce.to_string()))
    }

    /// The session an album's owner would have: the member (while
    /// configured) in multi-user mode, the editor in single-user mode.
    pub fn owner(&self, owner: Option<&str>) -> Option<Who> {
        match (self.multi_user(), owner) {
            (true, Some(name)) => self.member(name).map(Who::Member),
            (false, None) => Some(Who::Single(Access::Edit)),
            _ => None,
        }
    }

    /// Multi-user mode is on.
    pub fn multi_user(&self) -> bool {
        self.multi_user
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// Who a session of `subject` is (`None`: no live session).
    pub fn who(&self, subject: Option<&str>) -> Who {
        if self.multi_user() {
            return subject
                .and_then(|s| s.strip_prefix("user:"))
                .and_then(|name| self.member(name))
                .map_or(Who::Nobody, Who::Member);
        }
        let access = match subject {
            Some("edit") => Access::Edit,
            Some("view") if self.edition_password.is_none() => Access::Edit,
            Some("view") => Access::View,
            _ if self.password.is_none() && self.edition_password.is_none() => Access::Edit,
            _ if self.password.is_none() => Access::View,
            _ => Access::None,
        };
        match access {
            Access::None => Who::Nobody,
            a => Who::Single(a),
        }
    }

    /// Whether the client, or the user name tried, failed too often in the
    /// last minute.
    fn throttled(&self, ip: Option<IpAddr>, user: Option<&str>) -> bool {
        let over = |a: Attempt| self.failures.count(&a) >= LOGIN_ATTEMPTS_PER_MINUTE;
        ip.is_some_and(|ip| over(Attempt::Client(ip)))
            || user.is_some_and(|u| over(Attempt::User(u.to_string())))
    }

    fn failed(&self, ip: Option<IpAddr>, user: Option<&str>) {
        if let Some(ip) = ip {
            self.failures.fail(Attempt::Client(ip));
        }
        if let Some(u) = user {
            self.failures.fail(Attempt::User(u.to_string()));
        }
    }
}

/// The session id a request's cookie carries.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| cookie(h, COOKIE))
}

/// The request's live session (set by [`guard`]; absent without one).
#[derive(Debug, Clone)]
pub struct CurrentSession(pub crate::sessions::Current);

/// `Set-Cookie` of a new session `token`, for the sessions' lifetime.
fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        state.sessions().max_age_seconds()
    ))
    .expect("a token is ASCII")
}

/// `Set-Cookie` clearing the session cookie.
fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("facet_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Routes anyone may reach: the page, its assets, the API description and
/// the session routes themselves.
fn public(path: &str) -> bool {
    path == "/"
        || path.starts_with("/assets/")
        || path == "/manifest.webmanifest"
        || path == "/sw.js"
        || path == "/openapi.json"
        || path == "/api/login"
        || path == "/api/logout"
        || path == "/api/me"
}

/// Routes a session reaches whatever it may change: its own logout
/// everywhere and password (a view-only session may end its sessions).
fn own_session_route(path: &str) -> bool {
    path == "/api/auth/logout-all" || path == "/api/auth/password"
}

/// The routes a share link opens (with `?share=TOKEN`).
fn guest_route(path: &str) -> bool {
    matches!(
        path,
        "/api/shared" | "/thumbnail" | "/image" | "/api/download"
    )
}

/// The role a change needs in multi-user mode: persons, faces and group
/// decisions (one lead per group for the whole family) are managed by admins, scans started by superadmins; every member rates,
/// compares and keeps albums.
pub fn role_for_change(path: &str) -> Role {
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    if under("/api/scan") {
        Role::Superadmin
    } else if under("/api/persons")
        || under("/api/person")
        || under("/api/faces")
        || under("/api/groups")
    {
        Role::Admin
    } else {
        Role::User
    }
}

fn deny(status: StatusCode, message: &str) -> Response {
    (status, Json(ErrorBody::new(message))).into_response()
}

/// Middleware: records [`Who`] the request is, then 401 without a session
/// where one is needed; 403 for a change (any non-GET request) the session
/// may not make (single-user: without the edition password; multi-user:
/// without the role of [`role_for_change`]). A `path` query parameter
/// outside the member's folders is a 404 here already, whatever the route.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > crate::MAX_BODY_BYTES as u64);
    if too_large {
        return deny(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
    }
    let gate = state.gate();
    let path = req.uri().path().to_string();
    // A share link's holder, on the routes a shared album needs.
    if matches!(*req.method(), Method::GET | Method::HEAD) && guest_route(&path) {
        let token = query_pairs(req.uri())
            .into_iter()
            .find(|(k, _)| k == "share")
            .map(|(_, v)| v);
        if let Some(token) = token {
            let Some(guest) = crate::albums::guest(&state, &token).await else {
                return ApiError::NotFound(
                    "no such shared album (the link is wrong or was revoked)".into(),
                )
                .into_response();
            };
            if let Some((_, p)) = query_pairs(req.uri())
                .into_iter()
                .find(|(k, _)| k == "path")
                && !guest.allows(&p)
            {
                return ApiError::NotFound("no such photo".into()).into_response();
            }
            req.extensions_mut().insert(guest);
            return next.run(req).await;
        }
    }
    let current = match session_token(req.headers()) {
        Some(token) => match state.sessions().resolve(state.store(), token).await {
            Ok(c) => c,
            Err(e) => return ApiError::internal(e).into_response(),
        },
        None => None,
    };
    if state.sessions().flush_due() {
        // The sessions' last requests, written off the request's path.
        let s = state.clone();
        tokio::spawn(async move {
            if let Err(e) = s.sessions().flush(s.store()).await {
                eprintln!("facet serve: {e}");
            }
        });
    }
    let who = gate.who(current.as_ref().map(|c| c.subject.as_str()));
    if let Some(c) = current {
        req.extensions_mut().insert(CurrentSession(c));
    }
    req.extensions_mut().insert(who.clone());
    if public(&path) {
        return next.run(req).await;
    }
    let change = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !own_session_route(&path);
    match &who {
        Who::Nobody => return deny(StatusCode::UNAUTHORIZED, "login required"),
        Who::Single(Access::View) if change => {
            return deny(
                StatusCode::FORBIDDEN,
                "changes need the edition password (log in with it)",
            );
        }
        Who::Member(m) if change && m.role < role_for_change(&path) => {
            return ApiError::Forbidden(format!(
                "this needs the {} role",
                format!("{:?}", role_for_change(&path)).to_lowercase()
            ))
            .into_response();
        }
        _ => {}
    }
    if let Who::Member(_) = &who {
        for (k, v) in query_pairs(req.uri()) {
            if k == "path" && !who.allows(&v) {
                return ApiError::NotFound("no such photo".into()).into_response();
            }
        }
    }
    next.run(req).await
}

/// The query's decoded pairs (what the handlers' `Query` sees).
fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// A member's role, as the API names it.
fn role_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["user", "admin", "superadmin"]))
        .build()
}

/// `POST /api/login`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct LoginBody {
    /// viewer.password or viewer.edition_password (single-user mode), or
    /// the member's password.
    password: String,
    /// The member's name (multi-user mode).
    username: Option<String>,
}

/// `POST /api/login`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoggedIn {
    Member(MemberLogin),
    Single(SingleLogin),
}

/// A member logged in (multi-user mode).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberLogin {
    can_edit: bool,
    display_name: String,
    ok: bool,
    #[schema(schema_with = role_schema)]
    role: Role,
    /// The member's name.
    user: String,
}

/// Logged in with a password (single-user mode).
#[derive(Debug, Serialize, ToSchema)]
pub struct SingleLogin {
    /// The edition password (or none is set).
    can_edit: bool,
    ok: bool,
}

/// `ok`: true.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    ok: bool,
}

/// Sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    ok: bool,
    /// How many sessions ended.
    revoked: usize,
}

/// `POST /api/login`: single-user `{"password"}` (the edition password gives
/// view and edit, the viewer password view only); multi-user `{"username",
/// "password"}`. Set-Cookie on success; 401 on a wrong name or password
/// (the same answer, after the same work); 429 after too many failures from
/// one client in a minute. Sets an HttpOnly, SameSite=Strict session cookie.
#[utoipa::path(post, path = "/api/login", request_body = LoginBody, responses(
    (status = 200, description = "Logged in (Set-Cookie).", body = LoggedIn),
    (status = 400, description = "No password (or, in multi-user mode, no user name).", body = ErrorBody),
    (status = 401, description = "Wrong user name or password.", body = ErrorBody),
    (status = 429, description = "Too many failed logins from this client (or for this user name) in a minute.", body = ErrorBody),
))]
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
    // The user name tried (multi-user mode): guessing one member's
    // password from many addresses is throttled too.
    let user = body
        .get("username")
        .and_then(Value::as_str)
        .filter(|_| gate.multi_user());
    if gate.throttled(ip, user) {
        return deny(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute",
        );
    }
    // The session the client came with ends: a login never upgrades it.
    let replacing = extensions
        .get::<CurrentSession>()
        .map(|CurrentSession(c)| c.hash.clone());
    let Some(given) = body.get("password").and_then(Value::as_str) else {
        return ApiError::bad("password", "a string is required").into_response();
    };
    if gate.multi_user() {
        let Some(name) = body.get("username").and_then(Value::as_str) else {
            return ApiError::bad("username", "a string is required").into_response();
        };
        state.refresh_members();
        let member = gate.member(name);
        let hash = member
            .as_ref()
            .map_or(DUMMY_HASH.to_string(), |m| m.password_hash());
        let given = given.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&given, &hash))
            .await
            .unwrap_or(false);
        let Some(m) = member.filter(|_| ok) else {
            gate.failed(ip, Some(name));
            return deny(StatusCode::UNAUTHORIZED, "wrong user name or password");
        };
        let token = match state
            .sessions()
            .create(
                state.store(),
                &crate::sessions::member_subject(&m.name),
                replacing.as_deref(),
            )
            .await
        {
            Ok(t) => t,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let mut r = Json(LoggedIn::Member(MemberLogin {
            can_edit: true,
            display_name: m.display_name.clone(),
            ok: true,
            role: m.role,
            user: m.name.clone(),
        }))
        .into_response();
        r.headers_mut()
            .insert(header::SET_COOKIE, session_cookie(&state, &token));
        return r;
    }
    let matches = |p: &Option<String>| {
        p.as_deref()
            .is_some_and(|p| subtle_eq(p.as_bytes(), given.as_bytes()))
    };
    let level = if matches(&gate.edition_password) {
        "edit"
    } else if matches(&gate.password) {
        "view"
    } else {
        gate.failed(ip, None);
        return deny(StatusCode::UNAUTHORIZED, "wrong password");
    };
    let token = match state
        .sessions()
        .create(state.store(), level, replacing.as_deref())
        .await
    {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut r = Json(LoggedIn::Single(SingleLogin {
        can_edit: level == "edit" || gate.edition_password.is_none(),
        ok: true,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &token));
    r
}

/// `POST /api/logout`: ends this session (its cookie then gets 401) and
/// clears the cookie.
#[utoipa::path(post, path = "/api/logout", responses(
    (status = 200, description = "Logged out.", body = Done),
))]
pub async fn logout(State(state): State<AppState>, extensions: axum::http::Extensions) -> Response {
    if let Some(CurrentSession(c)) = extensions.get::<CurrentSession>()
        && let Err(e) = state.sessions().revoke(state.store(), &c.hash).await
    {
        return ApiError::from(e).into_response();
    }
    let mut r = Json(Done { ok: true }).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    r
}

/// `POST /api/auth/logout-all`: ends every session of this member (in
/// single-user mode: every session of this access level), this one
/// included, and clears the cookie. `{"ok", "revoked"}`.
#[utoipa::path(post, path = "/api/auth/logout-all", responses(
    (status = 200, description = "`ok`, and `revoked`: how many sessions ended.", body = Revoked),
))]
pub async fn logout_all(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
) -> Response {
    let Some(CurrentSession(c)) = extensions.get::<CurrentSession>() else {
        return deny(StatusCode::UNAUTHORIZED, "login required");
    };
    let revoked = match state
        .sessions()
        .revoke_subject(state.store(), &c.subject, None)
        .await
    {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut r = Json(Revoked { ok: true, revoked }).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    r
}

/// `POST /api/auth/password`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct PasswordBody {
    current_password: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    new_password: String,
}

/// Shortest password `POST /api/auth/password` takes (as `facet user add`).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// `POST /api/auth/password` `{"current_password", "new_password"}`
/// (multi-user mode): sets the member's password, written into the
/// configuration file `facet serve` read (kept in memory only when it read
/// none), and ends every other session of the member; this one stays.
/// 400 naming `current_password` when it is wrong (failures count in the
/// login throttle: 429 after too many), 400 naming `new_password` for one
/// under [`MIN_PASSWORD_CHARS`] characters or in single-user mode (whose
/// passwords are the configuration's). `{"ok", "revoked"}`.
#[utoipa::path(post, path = "/api/auth/password", request_body = PasswordBody, responses(
    (status = 200, description = "`ok`, and `revoked`: how many other sessions ended.", body = Revoked),
    (status = 400, description = "A wrong current password, or a bad new one (the parameter is named).", body = ErrorBody),
    (status = 429, description = "Too many wrong passwords for this member or client in a minute.", body = ErrorBody),
))]
pub async fn change_password(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Json(body): Json<Value>,
) -> Response {
    let gate = state.gate();
    let (Some(CurrentSession(c)), Some(Who::Member(m))) =
        (extensions.get::<CurrentSession>(), extensions.get::<Who>())
    else {
        if !gate.multi_user() {
            return ApiError::bad(
                "new_password",
                "single-user passwords are set in the configuration (viewer.password)",
            )
            .into_response();
        }
        return deny(StatusCode::UNAUTHORIZED, "login required");
    };
    let ip = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|p| p.0.ip());
    if gate.throttled(ip, Some(&m.name)) {
        return deny(
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong passwords; wait a minute",
        );
    }
    let Some(current) = body.get("current_password").and_then(Value::as_str) else {
        return ApiError::bad("current_password", "a string is required").into_response();
    };
    let Some(new) = body.get("new_password").and_then(Value::as_str) else {
        return ApiError::bad("new_password", "a string is required").into_response();
    };
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return ApiError::bad(
            "new_password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        )
        .into_response();
    }
    let (current, new, stored) = (current.to_string(), new.to_string(), m.password_hash());
    let hashed = tokio::task::spawn_blocking(move || {
        verify_password(&current, &stored).then(|| hash_password(&new))
    })
    .await;
    let hash = match hashed {
        Ok(Some(Ok(h))) => h,
        Ok(None) => {
            gate.failed(ip, Some(&m.name));
            return ApiError::bad("current_password", "wrong password").into_response();
        }
        Ok(Some(Err(e))) => return ApiError::internal(e).into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    if let Some(path) = state.config_file()
        && let Err(e) = write_password_hash(path, &m.name, &hash)
    {
        return ApiError::internal(format!("{}: {e}", path.display())).into_response();
    }
    *m.password_hash.write().expect("password lock") = hash;
    match state
        .sessions()
        .revoke_subject(state.store(), &c.subject, Some(&c.hash))
        .await
    {
        Ok(n) => Json(Revoked {
            ok: true,
            revoked: n,
        })
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Writes `hash` as `users.<name>.password_hash` into the JSON configuration
/// at `path` (other keys kept), whole to a temporary file then renamed.
pub fn write_password_hash(path: &Path, name: &str, hash: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut config: Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    let Some(user) = config
        .get_mut("users")
        .and_then(|u| u.get_mut(name))
        .and_then(Value::as_object_mut)
    else {
        return Err(std::io::Error::other(format!("no user `{name}` in it")));
    };
    user.insert("password_hash".into(), json!(hash));
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string_pretty(&config).map_err(std::io::Error::other)? + "\n",
    )?;
    std::fs::rename(&tmp, path)
}

/// `GET /api/me`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    can_edit: bool,
    can_manage_people: bool,
    can_scan: bool,
    can_view: bool,
    /// Single-user mode with viewer.edition_password set.
    edition_password_required: bool,
    multi_user: bool,
    password_required: bool,
    /// The member (multi-user mode), else null.
    user: Option<MeUser>,
}

/// The member a session is.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    display_name: String,
    name: String,
    #[schema(schema_with = role_schema)]
    role: Role,
}

/// `GET /api/me`: who this session is (multi_user, user: name,
/// display_name, role) and what it may do (can_view, can_edit,
/// can_manage_people, can_scan); which passwords are set.
#[utoipa::path(get, path = "/api/me", responses(
    (status = 200, description = "The session.", body = Me),
))]
pub async fn me(State(state): State<AppState>, who: Who) -> Json<Me> {
    let gate = state.gate();
    let user = match &who {
        Who::Member(m) => Some(MeUser {
            display_name: m.display_name.clone(),
            name: m.name.clone(),
            role: m.role,
        }),
        _ => None,
    };
    Json(Me {
        can_edit: who.can_edit(),
        can_manage_people: who.has(Role::Admin),
        can_scan: who.has(Role::Superadmin),
        can_view: !matches!(who, Who::Nobody),
        edition_password_required: !gate.multi_user() && gate.edition_password.is_some(),
        multi_user: gate.multi_user(),
        password_required: gate.multi_user() || gate.password.is_some(),
        user,
    })
}

#[cfg(test)]
mod throttle_tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{LOGIN_ATTEMPTS_PER_MINUTE, THROTTLE_ENTRIES, Throttle};

    /// 100,000 failed logins from as many made-up addresses leave the table
    /// bounded; a client and a user name that keep failing are throttled.
    #[test]
    fn the_login_throttle_is_bounded_and_keyed_by_client_and_user() {
        let gate = super::Gate {
            password: None,
            edition_password: None,
            members: Default::default(),
            multi_user: false,
            share_key: vec![2; 32],
            failures: Throttle::new(),
        };
        for k in 0..100_000u32 {
            gate.failed(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k))), None);
        }
        assert!(
            gate.failures.len() <= THROTTLE_ENTRIES,
            "{}",
            gate.failures.len()
        );
        let me = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        for _ in 0..LOGIN_ATTEMPTS_PER_MINUTE {
            assert!(!gate.throttled(me, None));
            gate.failed(me, None);
        }
        assert!(gate.throttled(me, None));
        // One user name tried from ever new addresses.
        for k in 0..LOGIN_ATTEMPTS_PER_MINUTE {
            let ip = Some(IpAddr::V4(Ipv4Addr::from(0xc633_6400 + k)));
            assert!(!gate.throttled(ip, Some("alice")));
            gate.failed(ip, Some("alice"));
        }
        let fresh = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 250)));
        assert!(gate.throttled(fresh, Some("alice")));
        assert!(!gate.throttled(fresh, Some("bob")));
    }
}
