//! `viewer.cache_ttl_seconds` (60; 0 turns it off): answers of the
//! aggregate queries (`/api/filter_options`, `/api/type_counts`,
//! `/api/timeline`, `/api/persons`) kept for that long, and only while no
//! table of the store has changed: each entry records the table versions it
//! was computed from, and a request that finds other versions (a run, a
//! rating, a person renamed) computes afresh.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::AppState;
use crate::error::ApiResult;

/// Most answers kept (distinct query strings); the oldest go first.
const MAX_ENTRIES: usize = 512;

struct Entry {
    at: Instant,
    versions: Vec<Option<u64>>,
    /// The answer, of its route's type.
    value: Arc<dyn Any + Send + Sync>,
}

/// The cached answers, by route and query.
#[derive(Default)]
pub(crate) struct Responses {
    entries: std::sync::Mutex<HashMap<String, Entry>>,
}

impl AppState {
    /// The version of every table the latest snapshot reads (`None`: not
    /// written yet).
    pub(crate) async fn versions(&self) -> ApiResult<Vec<Option<u64>>> {
        let mut cache = self.inner.cache.lock().await;
        let snap = self.fresh(&mut cache).await?;
        // The event outbox changes with every delivery and no answer reads it.
        Ok(facet_schemas::tables()
            .iter()
            .filter(|t| t.name != "event_outbox")
            .map(|t| snap.version(t.name))
            .collect())
    }
}

/// The part of a cache key that tells sessions apart: each member (and
/// each share link) sees other photos than the single-user gallery.
pub(crate) fn owner(who: &crate::auth::Who) -> String {
    match who {
        crate::auth::Who::Member(m) => format!("user:{}", m.name),
        crate::auth::Who::Guest(g) => format!("album:{}", g.album),
        _ => String::new(),
    }
}

/// The answer for `key`: from the cache when computed less than the TTL ago
/// from the tables as they are now, else `compute`d (and kept). A key is
/// one route's: its answers are all of one type `T`.
pub(crate) async fn cached<T, F, Fut>(state: &AppState, key: String, compute: F) -> ApiResult<T>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let ttl = Duration::from_secs(state.settings().cache_ttl_seconds);
    if ttl.is_zero() {
        return compute().await;
    }
    let versions = state.versions().await?;
    let responses = &state.inner.responses;
    {
        let entries = responses.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get(&key)
            && e.versions == versions
            && e.at.elapsed() < ttl
            && let Some(v) = e.value.downcast_ref::<T>()
        {
            return Ok(v.clone());
        }
    }
    let value = compute().await?;
    let mut entries = responses.entries.lock().unwrap_or_else(|e| e.into_inner());
    entries.retain(|_, e| e.versions == versions && e.at.elapsed() < ttl);
    if entries.len() >= MAX_ENTRIES
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, e)| e.at)
            .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
    entries.insert(
        key,
        Entry {
            at: Instant::now(),
            versions,
            value: Arc::new(value.clone()),
        },
    );
    Ok(value)
}

/// A cache key of a route and its query parameters (in key order).
pub(crate) fn key(route: &str, params: &HashMap<String, String>) -> String {
    let mut kv: Vec<(&String, &String)> = params.iter().collect();
    kv.sort();
    let mut k = route.to_string();
    for (n, v) in kv {
        k.push('\u{1f}');
        k.push_str(n);
        k.push('=');
        k.push_str(v);
    }
    k
}
