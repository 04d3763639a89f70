//! Events, webhooks, built-in actions and plugins: the reference's plugin
//! system (configuration section `plugins`), with a persistent outbox.
//!
//! # Events
//!
//! | event | when | payload |
//! |---|---|---|
//! | `on_new_photo` | a photo analysed for the first time | `path, filename, aggregate, aesthetic, comp_score, category, tags` |
//! | `on_score_complete` | each photo scored | the same |
//! | `on_high_score` | aggregate ≥ `plugins.high_score_threshold` (8.0) | the same |
//! | `on_burst_detected` | a burst group found | `burst_group_id, photo_count, best_path, paths` |
//!
//! `tags` is a comma-separated string (`"person, outdoor"`). With
//! `plugins.enabled` false (the default) nothing is emitted or enqueued.
//!
//! # Receivers
//!
//! * **Webhooks** (`plugins.webhooks`: `url`, `events`, `min_score`,
//!   `secret`): a JSON POST `{"event": NAME, "data": {...}}`, signed with
//!   HMAC-SHA256 (`X-Facet-Signature: sha256=<hex>` over
//!   `<X-Facet-Timestamp>.<body>`, plus `X-Facet-Event` and
//!   `X-Facet-Delivery: <outbox id>`; see [`webhook`]), to an address
//!   checked against private, loopback, link-local, metadata and other
//!   special ranges after one resolution, with no redirect followed (see
//!   [`ssrf`]; `plugins.allow_private` lists exempt `IP:PORT`s). Without a
//!   secret (`secret`, else `plugins.webhook_secret`) requests go unsigned
//!   and [`Plugins::warnings`] says so.
//! * **Actions** (`plugins.actions`: name → `event`, `action`, `folder`,
//!   `min_score`): `copy_to_folder` (never overwrites, keeps the file's
//!   name, modification time and permissions, idempotent) and
//!   `send_notification` (a line on stderr); see [`actions`].
//! * **Plugins** in `plugins.directory` (default `plugins`, relative to the
//!   current directory): Python files written the reference's way
//!   (`def on_score_complete(data: dict) -> None:`), run unchanged through
//!   a small Python host process in batches ([`host`]), and executables
//!   that get one event per run as JSON on stdin ([`exec`]). Both under
//!   `plugins.timeout_seconds` (30) per call, killed at expiry. See
//!   `events/example_plugin.py.example` for the interface.
//!
//! # Delivery: the outbox
//!
//! Events are not delivered where they happen: [`Plugins::enqueue`] fans
//! each event out to the targets that want it ([`targets`]) and appends one
//! row per (target, event) to the store's `event_outbox` table — a cheap
//! append that never slows the analysis. [`Plugins::deliver`] (run by the
//! caller in the background or at the end of a run) delivers the due rows
//! within a time budget; a failure is retried with exponential backoff
//! (`plugins.retry`: 30 s doubling up to an hour, given up after 10
//! failures, the error kept in the row) and never fails the round. Pending
//! rows survive a restart. A row's id is a hash of target, event and
//! payload, so enqueuing the same event twice delivers it once ([`outbox`]
//! explains the identity and the states). Delivery is at least once: a
//! receiver drops duplicates by `X-Facet-Delivery`.
//!
//! # Use
//!
//! ```no_run
//! # async fn f(config: &facet_config::FacetConfig, store: &facet_store::Store,
//! #            photos: Vec<facet_events::ScoredPhoto>) -> Result<(), facet_events::Error> {
//! let plugins = facet_events::Plugins::load(config)?;
//! for w in plugins.warnings() {
//!     eprintln!("warning: {w}");
//! }
//! let events = plugins.score_events(&photos);
//! plugins.enqueue(store, &events).await?;
//! let report = plugins.deliver(store, std::time::Duration::from_secs(60)).await?;
//! for f in &report.failures {
//!     eprintln!("{f}");
//! }
//! # Ok(()) }
//! ```
//!
//! The gallery's `GET /api/plugins` answers [`Plugins::describe`], `POST
//! /api/plugins/test-webhook` [`Plugins::test_webhook`].

use std::sync::Arc;

pub mod actions;
pub mod dispatch;
pub mod event;
pub mod exec;
pub mod host;
pub mod outbox;
pub mod settings;
pub mod ssrf;
pub mod targets;
pub mod webhook;

pub use dispatch::{Delivered, Failure};
pub use event::{Burst, Event, EventKind, ScoredPhoto};
pub use settings::Settings;
pub use ssrf::{Blocked, check_address};

/// Errors, by whose fault they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's configuration (or request): a path such as
    /// `plugins.webhooks[0].url` and what is wrong there.
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    /// A webhook address the SSRF check refuses; nothing was connected.
    #[error(
        "webhook to {host} refused: {blocked} (private addresses are blocked; plugins.allow_private lists the IP:PORTs allowed)"
    )]
    Blocked { host: String, blocked: Blocked },
    /// The receiver or the network: resolution, connection, TLS, timeout.
    #[error("{0}")]
    Unreachable(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] facet_store::StoreError),
    /// Facet's own failure (a thread that panicked, a corrupt stored row).
    #[error("internal: {0}")]
    Internal(String),
}

/// What [`Plugins`] shares with its delivery threads.
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) targets: Vec<targets::Target>,
    pub(crate) python: std::ffi::OsString,
    pub(crate) warnings: Vec<String>,
    /// One delivery round at a time (per process).
    pub(crate) delivering: tokio::sync::Mutex<()>,
}

/// The plugin system of one configuration.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("enabled", &self.inner.settings.enabled)
            .field(
                "targets",
                &self
                    .inner
                    .targets
                    .iter()
                    .map(|t| &t.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Plugins {
    /// Parses `config.other["plugins"]`; finds the plugin files in
    /// `plugins.directory`.
    pub fn load(config: &facet_config::FacetConfig) -> Result<Plugins, Error> {
        Ok(Plugins::from_settings(Settings::from_config(config)?))
    }

    /// [`Plugins::load`] from settings already read.
    pub fn from_settings(settings: Settings) -> Plugins {
        let (targets, mut warnings) = targets::targets(&settings);
        if settings.enabled {
            for (i, w) in settings.webhooks.iter().enumerate() {
                if settings.secret_of(i).is_none() {
                    let host = ssrf::Target::parse(&w.url)
                        .map(|t| t.authority())
                        .unwrap_or_default();
                    warnings.push(format!(
                        "plugins.webhooks[{i}] ({host}) has no secret: its requests are not signed (set its `secret` or plugins.webhook_secret)"
                    ));
                }
            }
            if settings.directory != Settings::default().directory && !settings.directory.is_dir() {
                warnings.push(format!(
                    "plugins.directory {} is not a folder: no plugins",
                    settings.directory.display()
                ));
            }
        } else if !targets.is_empty() {
            warnings.push(format!(
                "plugins.enabled is false: the {} webhooks, actions and plugins configured receive nothing",
                targets.len()
            ));
        }
        Plugins {
            inner: Arc::new(Inner {
                settings,
                targets,
                python: host::interpreter(),
                warnings,
                delivering: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.settings.enabled
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Unsigned webhooks, plugins that handle no event, a disabled system
    /// with receivers configured, an unreadable plugins folder.
    pub fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// The events of photos scored now: `on_new_photo` for those with
    /// `new`, `on_score_complete` for each, `on_high_score` for those at or
    /// above the threshold. None when disabled.
    pub fn score_events(&self, photos: &[ScoredPhoto]) -> Vec<Event> {
        if !self.enabled() {
            return Vec::new();
        }
        event::score_events(photos, self.inner.settings.high_score_threshold)
    }

    /// One `on_burst_detected` per burst. None when disabled.
    pub fn burst_events(&self, bursts: &[Burst]) -> Vec<Event> {
        if !self.enabled() {
            return Vec::new();
        }
        event::burst_events(bursts)
    }

    /// Fans `events` out to the targets that want them (event lists,
    /// `min_score`) and appends the rows the outbox does not hold yet;
    /// returns how many. Cheap: one key look-up and one append.
    pub async fn enqueue(
        &self,
        store: &facet_store::Store,
        events: &[Event],
    ) -> Result<usize, Error> {
        if !self.enabled() {
            return Ok(0);
        }
        // `created_at` grows by 1 ns per row, so that delivery (oldest
        // first) keeps the order of `events`.
        let now = outbox::now_ns();
        let mut rows = Vec::new();
        for e in events {
            let payload = e.payload();
            for t in self.inner.targets.iter().filter(|t| t.wants(e)) {
                let at = now + rows.len() as i64;
                rows.push(outbox::Row::new(
                    &t.name,
                    e.kind.name(),
                    payload.clone(),
                    at,
                ));
            }
        }
        outbox::insert_new(store, rows).await
    }

    /// Delivers the due rows until `budget` elapses (a call already started
    /// finishes: up to `timeout_seconds` more); failures are rescheduled
    /// with backoff. Fails only when the store does, never because a target
    /// failed. Runs even when disabled (rows enqueued before stay due).
    pub async fn deliver(
        &self,
        store: &facet_store::Store,
        budget: std::time::Duration,
    ) -> Result<Delivered, Error> {
        dispatch::deliver(self.inner.clone(), store, budget).await
    }

    /// For `GET /api/plugins`: the plugin files, the webhooks (host only,
    /// never the URL's path or a secret), the actions, and the outbox's
    /// rows per state and target.
    pub async fn describe(&self, store: &facet_store::Store) -> Result<serde_json::Value, Error> {
        use serde_json::json;
        let names = |events: &[EventKind]| events.iter().map(|e| e.name()).collect::<Vec<_>>();
        let mut plugins = Vec::new();
        let mut webhooks = Vec::new();
        let mut actions = Vec::new();
        for t in &self.inner.targets {
            match &t.kind {
                targets::Kind::Webhook {
                    index,
                    target,
                    events,
                    min_score,
                } => webhooks.push(json!({
                    "target": t.name,
                    "host": target.authority(),
                    "https": target.https,
                    "events": names(&events[..]),
                    "min_score": min_score,
                    "signed": self.inner.settings.secret_of(*index).is_some(),
                })),
                targets::Kind::Action { name, settings } => actions.push(json!({
                    "target": t.name,
                    "name": name,
                    "event": settings.event.name(),
                    "action": match settings.action {
                        settings::ActionKind::CopyToFolder => "copy_to_folder",
                        settings::ActionKind::SendNotification => "send_notification",
                    },
                    "folder": settings.folder.as_ref().map(|f| f.display().to_string()),
                    "min_score": settings.min_score,
                })),
                targets::Kind::Python { file, events } => plugins.push(json!({
                    "target": t.name,
                    "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "kind": "python",
                    "events": names(&events[..]),
                })),
                targets::Kind::Executable { file } => plugins.push(json!({
                    "target": t.name,
                    "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "kind": "executable",
                    "events": names(&EventKind::ALL[..]),
                })),
            }
        }
        let by_target = outbox::counts(store).await?;
        let mut totals = std::collections::BTreeMap::<String, usize>::new();
        for states in by_target.values() {
            for (s, n) in states {
                *totals.entry(s.clone()).or_default() += n;
            }
        }
        for s in [outbox::PENDING, outbox::DELIVERED, outbox::FAILED] {
            totals.entry(s.to_string()).or_default();
        }
        Ok(json!({
            "enabled": self.enabled(),
            "high_score_threshold": self.inner.settings.high_score_threshold,
            "directory": self.inner.settings.directory.display().to_string(),
            "plugins": plugins,
            "webhooks": webhooks,
            "actions": actions,
            "outbox": { "totals": totals, "by_target": by_target },
            "warnings": self.inner.warnings,
        }))
    }

    /// For `POST /api/plugins/test-webhook`: sends a test event (`"event":
    /// "test"`, a sample score payload) to `url` now, SSRF-checked and
    /// signed with the secret of the configured webhook of that URL, else
    /// `plugins.webhook_secret`; returns the HTTP status, whatever it is.
    /// Works when the system is disabled too.
    pub async fn test_webhook(&self, url: &str) -> Result<u16, Error> {
        let target = ssrf::Target::parse(url).map_err(|message| Error::Config {
            path: "url".into(),
            message,
        })?;
        let s = &self.inner.settings;
        let secret = match s.webhooks.iter().position(|w| w.url == url) {
            Some(i) => s.secret_of(i),
            None => s.webhook_secret.as_deref().filter(|x| !x.is_empty()),
        }
        .map(str::to_string);
        let allow = s.allow_private.clone();
        let timeout = s.timeout();
        let payload = serde_json::json!({
            "path": "/photos/IMG_001.jpg",
            "filename": "IMG_001.jpg",
            "aggregate": 9.2,
            "aesthetic": 9.5,
            "comp_score": 8.8,
            "category": "portrait",
            "tags": "person, outdoor",
        })
        .to_string();
        let delivery = format!("test-{}", outbox::now_ns());
        tokio::task::spawn_blocking(move || {
            webhook::send(&webhook::Request {
                target: &target,
                event: "test",
                delivery: &delivery,
                payload: &payload,
                secret: secret.as_deref(),
                timeout,
                allow: &allow,
            })
        })
        .await
        .map_err(|e| Error::Internal(format!("webhook thread: {e}")))?
    }
}

#[cfg(test)]
mod tests;
