//! Server-side sessions, kept in the store's `sessions` table.
//!
//! A session id is 32 random bytes (getrandom), carried hex-encoded in the
//! `facet_session` cookie; the store holds only its SHA-256, so a copy of the
//! store logs no one in. Each login makes a new id (a session the client
//! came with is revoked, never upgraded). A session ends when revoked
//! (logout, "log out everywhere", a password change, the member's removal by
//! `facet user remove` or password reset by `facet user add`), after
//! `viewer.sessions.idle_seconds` without a request, or
//! `viewer.sessions.lifetime_seconds` after the login, whichever is first.
//!
//! The table is small (one row per live session), so each change rewrites it
//! whole through [`Store::replace`]: one atomic Lance commit of one fragment,
//! the store's crash-consistent write path (a killed server leaves the
//! previous version, never half a table), and no fragments pile up from
//! many small writes. Changes are read-modify-writes under the store's
//! `sessions.lock` file lock, so that `facet user` (another process) and the
//! server never overwrite each other's revocations; the server notices the
//! table changed under it within [`SYNC_EVERY_MS`]. Requests are answered
//! from memory: the last request's time is kept there and written at most
//! once per [`FLUSH_EVERY_MS`] (with the other changes, or by a flush a
//! request starts in the background), never on every request; a restart
//! loses at most that much of it.
//!
//! Each rewrite is a Lance version; every [`PRUNE_EVERY`] writes all but
//! the last [`KEEP_VERSIONS`] are removed, so the table's files stay the
//! size of its live sessions however long the gallery runs.
//!
//! The table is the gallery's own: not in `facet_schemas::tables()`, so not
//! in `facet sql` or the Parquet export.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use facet_config::FacetConfig;
use facet_schemas::{Column, Table};
use facet_store::Store;
use sha2::{Digest, Sha256};

/// The table's name (`<store>/sessions.lance`).
pub const TABLE: &str = "sessions";
/// `viewer.sessions.idle_seconds`' default: a week without a request.
pub const DEFAULT_IDLE_SECONDS: u64 = 7 * 24 * 3600;
/// `viewer.sessions.lifetime_seconds`' default: 30 days after the login.
pub const DEFAULT_LIFETIME_SECONDS: u64 = 30 * 24 * 3600;
/// A session's last request is written at most this often.
pub const FLUSH_EVERY_MS: i64 = 60_000;
/// How often the server looks whether another process changed the table.
pub const SYNC_EVERY_MS: i64 = 1_000;
/// The table's old versions are removed every this many writes ...
pub const PRUNE_EVERY: u64 = 32;
/// ... all but this many.
pub const KEEP_VERSIONS: usize = 4;

/// The `sessions` table.
pub fn table() -> Table {
    let col = |name: &'static str, data_type: DataType, nullable: bool, doc: &'static str| Column {
        name: Cow::Borrowed(name),
        data_type,
        nullable,
        doc: Cow::Borrowed(doc),
    };
    Table {
        name: TABLE,
        doc: "The gallery's live sessions (server-side; the cookie carries the id).",
        key: "session_hash",
        columns: vec![
            col(
                "session_hash",
                DataType::Utf8,
                false,
                "SHA-256 of the session id, hex (the key; the id itself is never stored).",
            ),
            col(
                "subject",
                DataType::Utf8,
                true,
                "`user:<name>` (multi-user mode), or `view` / `edit` (single-user mode).",
            ),
            col("created_at", facet_schemas::timestamp(), true, "The login."),
            col(
                "last_seen",
                facet_schemas::timestamp(),
                true,
                "The last request (written at most once a minute).",
            ),
        ],
    }
}

/// Why a session could not be made, changed or read.
#[derive(Debug)]
pub enum SessionError {
    Store(facet_store::StoreError),
    /// The system gave no random bytes.
    Random(String),
    /// The store's `sessions.lock` could not be taken.
    Lock {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Store(e) => write!(f, "sessions: {e}"),
            SessionError::Random(e) => write!(f, "sessions: no system randomness: {e}"),
            SessionError::Lock { path, reason } => {
                write!(f, "sessions: cannot lock {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<facet_store::StoreError> for SessionError {
    fn from(e: facet_store::StoreError) -> Self {
        SessionError::Store(e)
    }
}

impl From<SessionError> for crate::ApiError {
    fn from(e: SessionError) -> Self {
        crate::ApiError::internal(e)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The stored form of a cookie's session id: hex SHA-256 of its bytes;
/// `None` for anything but 64 hex digits.
pub fn hash_of(token: &str) -> Option<String> {
    if token.len() != 64 {
        return None;
    }
    let id = hex::decode(token).ok()?;
    Some(hex::encode(Sha256::digest(&id)))
}

/// The subject of a member's sessions.
pub fn member_subject(name: &str) -> String {
    format!("user:{name}")
}

struct Entry {
    subject: String,
    created_ms: i64,
    last_seen_ms: AtomicI64,
    /// The `last_seen` the table holds.
    written_seen_ms: AtomicI64,
}

/// A live session, as a request found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// The stored hash of its id.
    pub hash: String,
    /// `user:<name>`, `view` or `edit`.
    pub subject: String,
}

/// The sessions: the table's rows in memory, and the lifetimes.
pub struct Sessions {
    idle_ms: i64,
    lifetime_ms: i64,
    map: RwLock<HashMap<String, Arc<Entry>>>,
    /// Held while the table is read or written: the table version the map
    /// was read from or written as.
    sync: tokio::sync::Mutex<Option<u64>>,
    loaded: AtomicBool,
    last_check_ms: AtomicI64,
    last_flush_ms: AtomicI64,
    flushing: AtomicBool,
}

fn seconds(config: &FacetConfig, key: &str, default: u64) -> u64 {
    config
        .viewer
        .other
        .get("sessions")
        .and_then(|s| s.get(key))
        .and_then(serde_json::Value::as_u64)
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

impl Sessions {
    /// With `viewer.sessions.idle_seconds` and `lifetime_seconds` (the
    /// defaults [`DEFAULT_IDLE_SECONDS`], [`DEFAULT_LIFETIME_SECONDS`] where
    /// absent or not a positive integer).
    pub fn from_config(config: &FacetConfig) -> Sessions {
        Sessions::new(
            seconds(config, "idle_seconds", DEFAULT_IDLE_SECONDS),
            seconds(config, "lifetime_seconds", DEFAULT_LIFETIME_SECONDS),
        )
    }

    pub fn new(idle_seconds: u64, lifetime_seconds: u64) -> Sessions {
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        Sessions {
            idle_ms: ms(idle_seconds),
            lifetime_ms: ms(lifetime_seconds),
            map: RwLock::new(HashMap::new()),
            sync: tokio::sync::Mutex::new(None),
            loaded: AtomicBool::new(false),
            last_check_ms: AtomicI64::new(0),
            last_flush_ms: AtomicI64::new(now_ms()),
            flushing: AtomicBool::new(false),
        }
    }

    /// The cookie's `Max-Age`: the absolute lifetime, in seconds.
    pub fn max_age_seconds(&self) -> i64 {
        self.lifetime_ms / 1000
    }

    fn live(&self, e: &Entry, now: i64) -> bool {
        now - e.created_ms < self.lifetime_ms
            && now - e.last_seen_ms.load(Ordering::Relaxed) < self.idle_ms
    }

    /// The live session whose id `token` is (the cookie's value), its last
    /// request now; `None` for an unknown, revoked or expired one.
    pub async fn resolve(
        &self,
        store: &Store,
        token: &str,
    ) -> Result<Option<Current>, SessionError> {
        let Some(hash) = hash_of(token) else {
            return Ok(None);
        };
        self.sync_with(store).await?;
        let now = now_ms();
        let map = self.map.read().expect("sessions lock");
        let Some(e) = map.get(&hash) else {
            return Ok(None);
        };
        if !self.live(e, now) {
            return Ok(None);
        }
        e.last_seen_ms.fetch_max(now, Ordering::Relaxed);
        Ok(Some(Current {
            hash,
            subject: e.subject.clone(),
        }))
    }

    /// Reads the table the first time, and again when another process
    /// (`facet user`) changed it, looked at once per [`SYNC_EVERY_MS`].
    async fn sync_with(&self, store: &Store) -> Result<(), SessionError> {
        if self.loaded.load(Ordering::Acquire) {
            let now = now_ms();
            let last = self.last_check_ms.load(Ordering::Relaxed);
            if now - last < SYNC_EVERY_MS
                || self
                    .last_check_ms
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                return Ok(());
            }
            // A write in progress re-reads the table itself.
            let Ok(mut version) = self.sync.try_lock() else {
                return Ok(());
            };
            if store.table_version(TABLE).await? != *version {
                self.reload(store, &mut version).await?;
            }
            return Ok(());
        }
        let mut version = self.sync.lock().await;
        if !self.loaded.load(Ordering::Acquire) {
            self.reload(store, &mut version).await?;
            self.last_check_ms.store(now_ms(), Ordering::Relaxed);
            self.loaded.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// The map from the table's rows: the table says which sessions exist;
    /// of a session known here, the later of the two last requests is kept.
    async fn reload(&self, store: &Store, version: &mut Option<u64>) -> Result<(), SessionError> {
        let (rows, v) = read_rows(store).await?;
        let mut map = self.map.write().expect("sessions lock");
        let mut fresh = HashMap::with_capacity(rows.len());
        for (hash, subject, created_ms, seen_ms) in rows {
            let e = match map.remove(&hash) {
                Some(e) if e.subject == subject => {
                    e.last_seen_ms.fetch_max(seen_ms, Ordering::Relaxed);
                    e.written_seen_ms.store(seen_ms, Ordering::Relaxed);
                    e
                }
                _ => Arc::new(Entry {
                    subject,
                    created_ms,
                    last_seen_ms: AtomicI64::new(seen_ms),
                    written_seen_ms: AtomicI64::new(seen_ms),
                }),
            };
            fresh.insert(hash, e);
        }
        *map = fresh;
        *version = v;
        Ok(())
    }

    /// A read-modify-write of the table: under the store's `sessions.lock`
    /// (and this process's lock), from the table as it is now, `change`
    /// applied, expired sessions dropped, written whole in one commit
    /// (unless `change` says it changed nothing and none expired).
    async fn change<R>(
        &self,
        store: &Store,
        change: impl FnOnce(&mut HashMap<String, Arc<Entry>>) -> (R, bool),
    ) -> Result<R, SessionError> {
        let mut version = self.sync.lock().await;
        let _file = lock_file(store).await?;
        if !self.loaded.load(Ordering::Acquire) || store.table_version(TABLE).await? != *version {
            self.reload(store, &mut version).await?;
            self.loaded.store(true, Ordering::Release);
        }
        let now = now_ms();
        let (out, batch, written) = {
            let mut map = self.map.write().expect("sessions lock");
            let (out, changed) = change(&mut map);
            let before = map.len();
            map.retain(|_, e| self.live(e, now));
            if !changed && map.len() == before {
                return Ok(out);
            }
            let written: Vec<(Arc<Entry>, i64)> = map
                .values()
                .map(|e| (e.clone(), e.last_seen_ms.load(Ordering::Relaxed)))
                .collect();
            (out, to_batch(&map), written)
        };
        store.replace(&table(), batch).await?;
        *version = store.table_version(TABLE).await?;
        // Every rewrite is a version; their history is of no use, so the
        // old ones go (the last few stay for readers that opened one).
        if version.is_some_and(|v| v % PRUNE_EVERY == 0) {
            store.prune_versions(TABLE, KEEP_VERSIONS).await?;
        }
        for (e, seen) in written {
            e.written_seen_ms.store(seen, Ordering::Relaxed);
        }
        self.last_flush_ms.store(now, Ordering::Relaxed);
        Ok(out)
    }

    /// A new session for `subject`, revoking `replacing` (the session the
    /// client logged in with, if any): the cookie value (the id, hex).
    pub async fn create(
        &self,
        store: &Store,
        subject: &str,
        replacing: Option<&str>,
    ) -> Result<String, SessionError> {
        let mut id = [0u8; 32];
        getrandom::fill(&mut id).map_err(|e| SessionError::Random(e.to_string()))?;
        let token = hex::encode(id);
        let hash = hex::encode(Sha256::digest(id));
        let now = now_ms();
        let entry = Arc::new(Entry {
            subject: subject.to_string(),
            created_ms: now,
            last_seen_ms: AtomicI64::new(now),
            written_seen_ms: AtomicI64::new(now),
        });
        self.change(store, |map| {
            if let Some(old) = replacing {
                map.remove(old);
            }
            map.insert(hash, entry);
            ((), true)
        })
        .await?;
        Ok(token)
    }

    /// Ends the session whose hash is `hash`; whether it was live.
    pub async fn revoke(&self, store: &Store, hash: &str) -> Result<bool, SessionError> {
        self.change(store, |map| {
            let gone = map.remove(hash).is_some();
            (gone, gone)
        })
        .await
    }

    /// Ends every session of `subject` but `except` (a hash); how many.
    pub async fn revoke_subject(
        &self,
        store: &Store,
        subject: &str,
        except: Option<&str>,
    ) -> Result<usize, SessionError> {
        self.change(store, |map| {
            let before = map.len();
            map.retain(|h, e| e.subject != subject || Some(h.as_str()) == except);
            let n = before - map.len();
            (n, n > 0)
        })
        .await
    }

    /// Whether a flush of the last requests is due: one session's last
    /// request is a minute newer than the table's, and the table was last
    /// written a minute ago or more (a request then starts [`Sessions::flush`]).
    pub fn flush_due(&self) -> bool {
        let now = now_ms();
        if now - self.last_flush_ms.load(Ordering::Relaxed) < FLUSH_EVERY_MS
            || self.flushing.load(Ordering::Relaxed)
        {
            return false;
        }
        self.map.read().expect("sessions lock").values().any(|e| {
            e.last_seen_ms.load(Ordering::Relaxed) - e.written_seen_ms.load(Ordering::Relaxed)
                >= FLUSH_EVERY_MS
        })
    }

    /// Writes the sessions' last requests (and drops the expired ones).
    pub async fn flush(&self, store: &Store) -> Result<(), SessionError> {
        if self.flushing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let r = self.change(store, |_| ((), true)).await;
        self.flushing.store(false, Ordering::Release);
        r
    }

    /// How many sessions are held (live or not yet dropped).
    pub fn len(&self) -> usize {
        self.map.read().expect("sessions lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Ends every session of member `user` in the store at `store` (`facet user
/// remove`, and `facet user add` resetting a password): how many. A server
/// running on the store notices within a second.
pub async fn revoke_member(
    store: &Store,
    config: &FacetConfig,
    user: &str,
) -> Result<usize, SessionError> {
    Sessions::from_config(config)
        .revoke_subject(store, &member_subject(user), None)
        .await
}

/// The store's `sessions.lock`, taken (released when the file is dropped).
async fn lock_file(store: &Store) -> Result<std::fs::File, SessionError> {
    let path = store.dir().join("sessions.lock");
    let p = path.clone();
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    locked.map_err(|reason| SessionError::Lock { path, reason })
}

type Row = (String, String, i64, i64);

/// The table's rows and version (none before the first login).
async fn read_rows(store: &Store) -> Result<(Vec<Row>, Option<u64>), SessionError> {
    let Some(ds) = store.dataset(TABLE).await? else {
        return Ok((Vec::new(), None));
    };
    let version = Some(ds.version().version);
    let mut scan = facet_store::scan(
        &ds,
        &["session_hash", "subject", "created_at", "last_seen"],
        None,
    )
    .await?;
    let mut rows = Vec::new();
    while let Some(b) = scan.next().await? {
        let (Some(hash), Some(subject), Some(created), Some(seen)) = (
            b.column_by_name("session_hash")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>()),
            b.column_by_name("subject")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>()),
            b.column_by_name("created_at").and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow::array::PrimitiveArray<TimestampNanosecondType>>()
            }),
            b.column_by_name("last_seen").and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow::array::PrimitiveArray<TimestampNanosecondType>>()
            }),
        ) else {
            // Not the columns this Facet writes: no session is kept.
            continue;
        };
        for i in 0..b.num_rows() {
            if hash.is_null(i) || subject.is_null(i) || created.is_null(i) {
                continue;
            }
            let created_ms = created.value(i) / 1_000_000;
            let seen_ms = if seen.is_null(i) {
                created_ms
            } else {
                seen.value(i) / 1_000_000
            };
            rows.push((
                hash.value(i).to_string(),
                subject.value(i).to_string(),
                created_ms,
                seen_ms,
            ));
        }
    }
    Ok((rows, version))
}

fn to_batch(map: &HashMap<String, Arc<Entry>>) -> RecordBatch {
    let mut rows: Vec<(&String, &Arc<Entry>)> = map.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let ts = |v: Vec<i64>| -> ArrayRef {
        Arc::new(
            TimestampNanosecondArray::from(
                v.into_iter().map(|ms| ms * 1_000_000).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        )
    };
    RecordBatch::try_new(
        table().schema(),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|(_, e)| e.subject.as_str())
                    .collect::<Vec<_>>(),
            )),
            ts(rows.iter().map(|(_, e)| e.created_ms).collect()),
            ts(rows
                .iter()
                .map(|(_, e)| e.last_seen_ms.load(Ordering::Relaxed))
                .collect()),
        ],
    )
    .expect("the sessions columns match the table")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn sessions_are_stored_hashed_rotate_and_survive_a_restart() {
        let (_dir, store) = store();
        let s = Sessions::new(3600, 7200);
        let a = s.create(&store, "user:alice", None).await.unwrap();
        assert_eq!(a.len(), 64);
        let b = s.create(&store, "user:alice", None).await.unwrap();
        assert_ne!(a, b, "a new id each login");
        let got = s.resolve(&store, &a).await.unwrap().unwrap();
        assert_eq!(got.subject, "user:alice");
        assert_ne!(got.hash, a, "the id is not what is stored");
        // Only hashes are on disk.
        let (rows, _) = read_rows(&store).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.0 != a && r.0 != b));
        // Another server on the same store (a restart) knows them.
        let again = Sessions::new(3600, 7200);
        assert!(again.resolve(&store, &a).await.unwrap().is_some());
        // Unknown and malformed ids.
        let mut other = a.clone();
        let last = other.pop().unwrap();
        other.push(if last == '0' { '1' } else { '0' });
        assert_eq!(s.resolve(&store, &other).await.unwrap(), None);
        assert_eq!(s.resolve(&store, "zz").await.unwrap(), None);
        assert_eq!(s.resolve(&store, &"g".repeat(64)).await.unwrap(), None);
        // A login from a session replaces it.
        let c = s
            .create(&store, "user:alice", Some(&got.hash))
            .await
            .unwrap();
        assert_eq!(s.resolve(&store, &a).await.unwrap(), None);
        assert!(s.resolve(&store, &c).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn old_versions_of_the_table_are_pruned() {
        let (_dir, store) = store();
        let s = Sessions::new(3600, 7200);
        let mut ids = Vec::new();
        for _ in 0..3 * PRUNE_EVERY {
            ids.push(s.create(&store, "user:alice", None).await.unwrap());
        }
        let ds = store.dataset(TABLE).await.unwrap().unwrap();
        let versions = ds.versions().await.unwrap().len();
        assert!(
            versions <= PRUNE_EVERY as usize + KEEP_VERSIONS,
            "{versions} versions kept"
        );
        // Every live session is still there.
        for id in &ids {
            assert!(s.resolve(&store, id).await.unwrap().is_some());
        }
        let again = Sessions::new(3600, 7200);
        assert!(again.resolve(&store, &ids[0]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn revocations_reach_every_process_on_the_store() {
        let (_dir, store) = store();
        let server = Sessions::new(3600, 7200);
        let a1 = server.create(&store, "user:alice", None).await.unwrap();
        let a2 = server.create(&store, "user:alice", None).await.unwrap();
        let b = server.create(&store, "user:bob", None).await.unwrap();
        let keep = server.resolve(&store, &a1).await.unwrap().unwrap().hash;
        assert_eq!(
            server
                .revoke_subject(&store, "user:alice", Some(&keep))
                .await
                .unwrap(),
            1
        );
        assert!(server.resolve(&store, &a1).await.unwrap().is_some());
        assert_eq!(server.resolve(&store, &a2).await.unwrap(), None);
        // `facet user remove alice`, from another process: the server
        // sees it at its next look (a second at most).
        let removed = revoke_member(&store, &FacetConfig::default(), "alice")
            .await
            .unwrap();
        assert_eq!(removed, 1);
        server.last_check_ms.store(0, Ordering::Relaxed);
        assert_eq!(server.resolve(&store, &a1).await.unwrap(), None);
        assert!(server.resolve(&store, &b).await.unwrap().is_some());
        // Its own next write does not bring Alice's back.
        let h = server.resolve(&store, &b).await.unwrap().unwrap().hash;
        assert!(server.revoke(&store, &h).await.unwrap());
        let (rows, _) = read_rows(&store).await.unwrap();
        assert!(rows.is_empty(), "{rows:?}");
        assert!(server.is_empty());
    }

    #[tokio::test]
    async fn idle_and_absolute_lifetimes_end_sessions() {
        let (_dir, store) = store();
        let s = Sessions::new(1, 3);
        let a = s.create(&store, "edit", None).await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            assert!(
                s.resolve(&store, &a).await.unwrap().is_some(),
                "kept alive by requests"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(s.resolve(&store, &a).await.unwrap(), None, "idle");
        let b = s.create(&store, "edit", None).await.unwrap();
        // Dropped from the table at the next write.
        assert_eq!(read_rows(&store).await.unwrap().0.len(), 1);
        for _ in 0..6 {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            let _ = s.resolve(&store, &b).await.unwrap();
        }
        assert_eq!(s.resolve(&store, &b).await.unwrap(), None, "absolute");
    }

    #[test]
    fn lifetimes_come_from_the_configuration() {
        let s = Sessions::from_config(&FacetConfig::default());
        assert_eq!(s.idle_ms, DEFAULT_IDLE_SECONDS as i64 * 1000);
        assert_eq!(s.max_age_seconds(), DEFAULT_LIFETIME_SECONDS as i64);
        let mut c = FacetConfig::default();
        c.viewer.other.insert(
            "sessions".into(),
            serde_json::json!({"idle_seconds": 2, "lifetime_seconds": 60}),
        );
        let s = Sessions::from_config(&c);
        assert_eq!((s.idle_ms, s.max_age_seconds()), (2000, 60));
    }

    #[tokio::test]
    async fn last_requests_are_written_at_most_once_a_minute() {
        let (_dir, store) = store();
        let s = Sessions::new(3600, 7200);
        let a = s.create(&store, "view", None).await.unwrap();
        let v = store.table_version(TABLE).await.unwrap();
        for _ in 0..50 {
            s.resolve(&store, &a).await.unwrap();
        }
        assert!(!s.flush_due());
        assert_eq!(store.table_version(TABLE).await.unwrap(), v, "no write");
        // A minute later (the clocks moved back instead of waiting).
        s.last_flush_ms.fetch_sub(FLUSH_EVERY_MS, Ordering::Relaxed);
        for e in s.map.read().unwrap().values() {
            e.written_seen_ms
                .fetch_sub(FLUSH_EVERY_MS, Ordering::Relaxed);
        }
        assert!(s.flush_due());
        s.flush(&store).await.unwrap();
        assert!(!s.flush_due());
        assert_ne!(store.table_version(TABLE).await.unwrap(), v);
    }
}
