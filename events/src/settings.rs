//! The `plugins` section of the configuration, typed.
//!
//! ```json
//! "plugins": {
//!   "enabled": true,
//!   "high_score_threshold": 8.0,
//!   "directory": "plugins",
//!   "timeout_seconds": 30,
//!   "webhook_secret": "…",
//!   "allow_private": [],
//!   "retry": { "initial_seconds": 30, "max_seconds": 3600, "max_attempts": 10 },
//!   "webhooks": [
//!     { "url": "https://example.com/hook", "events": ["on_high_score"],
//!       "min_score": 8.0, "secret": "…" }
//!   ],
//!   "actions": {
//!     "copy_high_scores": { "event": "on_high_score", "action": "copy_to_folder",
//!                           "folder": "/path/to/best-photos", "min_score": 9.0 }
//!   }
//! }
//! ```
//!
//! The reference's keys (`enabled`, `high_score_threshold`, `webhooks` with
//! `url`, `events`, `min_score`, `actions` with `event`, `action`, `folder`,
//! `min_score`) mean what they mean there. Facet adds `directory` (where
//! plugins are found, relative to the current directory; default
//! `plugins`), `timeout_seconds` (a plugin call's time limit, default 30),
//! `webhook_secret` and each webhook's `secret` (HMAC-SHA256 signing key;
//! the webhook's own wins), `allow_private` (socket addresses `IP:PORT`,
//! `[IPv6]:PORT`, exempt from the private-address block — a receiver on
//! this machine or the LAN that the user trusts; default none) and `retry`
//! (the outbox's backoff).
//!
//! Unknown keys are errors (a misspelt `min_scor` would silently deliver
//! everything), named with their path (`plugins.webhooks[0]: unknown field
//! …`), as are wrong types, unknown event or action names (listing the
//! valid ones), URLs that are not http(s), and a `copy_to_folder` without
//! `folder`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::Error;
use crate::event::EventKind;

/// `plugins`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Master switch: when false no event is emitted (default false).
    pub enabled: bool,
    /// `on_high_score` at or above this aggregate (default 8.0).
    pub high_score_threshold: f64,
    pub webhooks: Vec<WebhookSettings>,
    pub actions: BTreeMap<String, ActionSettings>,
    /// The plugins folder (default `plugins`, relative to the current
    /// directory).
    pub directory: PathBuf,
    /// Time limit of one plugin call, one executable's run and one webhook
    /// request (default 30 s).
    pub timeout_seconds: f64,
    /// Signing key of the webhooks without their own `secret`.
    pub webhook_secret: Option<String>,
    /// Socket addresses a webhook may reach although they are private.
    pub allow_private: Vec<SocketAddr>,
    pub retry: Retry,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: false,
            high_score_threshold: 8.0,
            webhooks: Vec::new(),
            actions: BTreeMap::new(),
            directory: PathBuf::from("plugins"),
            timeout_seconds: 30.0,
            webhook_secret: None,
            allow_private: Vec::new(),
            retry: Retry::default(),
        }
    }
}

/// One of `plugins.webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// The events it receives (default: all four).
    #[serde(default = "all_events")]
    pub events: Vec<EventKind>,
    /// Only events whose aggregate is at least this (bursts always pass).
    #[serde(default)]
    pub min_score: Option<f64>,
    /// Its signing key (default `plugins.webhook_secret`).
    #[serde(default)]
    pub secret: Option<String>,
}

fn all_events() -> Vec<EventKind> {
    EventKind::ALL.to_vec()
}

/// One of `plugins.actions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSettings {
    pub event: EventKind,
    pub action: ActionKind,
    /// `copy_to_folder`'s destination (relative: to the current directory).
    #[serde(default)]
    pub folder: Option<PathBuf>,
    #[serde(default)]
    pub min_score: Option<f64>,
}

/// The built-in actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CopyToFolder,
    SendNotification,
}

/// `plugins.retry`: a failed delivery is tried again after
/// `min(initial_seconds · 2^(attempts-1), max_seconds)`, and given up after
/// `max_attempts` failures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    pub initial_seconds: f64,
    pub max_seconds: f64,
    pub max_attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial_seconds: 30.0,
            max_seconds: 3600.0,
            max_attempts: 10,
        }
    }
}

impl Retry {
    /// The wait after the `attempts`-th failure.
    pub fn backoff(&self, attempts: u32) -> std::time::Duration {
        let exp = attempts.saturating_sub(1).min(60) as i32;
        let secs = (self.initial_seconds * 2f64.powi(exp)).min(self.max_seconds);
        std::time::Duration::from_secs_f64(secs.max(0.0))
    }
}

fn config_error(path: impl Into<String>, message: impl std::fmt::Display) -> Error {
    Error::Config {
        path: path.into(),
        message: message.to_string(),
    }
}

impl Settings {
    /// Reads `config.other["plugins"]` (defaults when absent).
    pub fn from_config(config: &facet_config::FacetConfig) -> Result<Settings, Error> {
        match config.other.get("plugins") {
            None | Some(serde_json::Value::Null) => Ok(Settings::default()),
            Some(v) => Settings::from_value(v),
        }
    }

    /// Parses and checks the section's JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<Settings, Error> {
        let s: Settings = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." || path.is_empty() {
                "plugins".to_string()
            } else {
                format!("plugins.{path}")
            };
            config_error(path, e.inner())
        })?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), Error> {
        if !self.high_score_threshold.is_finite() {
            return Err(config_error(
                "plugins.high_score_threshold",
                "expected a number",
            ));
        }
        if !(self.timeout_seconds.is_finite() && self.timeout_seconds > 0.0) {
            return Err(config_error(
                "plugins.timeout_seconds",
                "expected a positive number of seconds",
            ));
        }
        let r = &self.retry;
        if !(r.initial_seconds.is_finite() && r.initial_seconds >= 0.0) {
            return Err(config_error(
                "plugins.retry.initial_seconds",
                "expected seconds, 0 or more",
            ));
        }
        if !(r.max_seconds.is_finite() && r.max_seconds >= r.initial_seconds) {
            return Err(config_error(
                "plugins.retry.max_seconds",
                "expected seconds, at least initial_seconds",
            ));
        }
        if r.max_attempts == 0 {
            return Err(config_error(
                "plugins.retry.max_attempts",
                "expected at least 1",
            ));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            crate::ssrf::Target::parse(&w.url)
                .map_err(|m| config_error(format!("plugins.webhooks[{i}].url"), m))?;
            if w.min_score.is_some_and(|m| !m.is_finite()) {
                return Err(config_error(
                    format!("plugins.webhooks[{i}].min_score"),
                    "expected a number",
                ));
            }
        }
        for (name, a) in &self.actions {
            if name.trim().is_empty() {
                return Err(config_error("plugins.actions", "an action has no name"));
            }
            if a.action == ActionKind::CopyToFolder
                && a.folder.as_ref().is_none_or(|f| f.as_os_str().is_empty())
            {
                return Err(config_error(
                    format!("plugins.actions.{name}.folder"),
                    "copy_to_folder needs a folder",
                ));
            }
            if a.min_score.is_some_and(|m| !m.is_finite()) {
                return Err(config_error(
                    format!("plugins.actions.{name}.min_score"),
                    "expected a number",
                ));
            }
        }
        Ok(())
    }

    /// The signing key of webhook `i`: its own `secret`, else
    /// `webhook_secret`. An empty string is no key (an empty `secret` of its
    /// own turns signing off for that webhook).
    pub fn secret_of(&self, i: usize) -> Option<&str> {
        self.webhooks
            .get(i)
            .and_then(|w| w.secret.as_deref())
            .or(self.webhook_secret.as_deref())
            .filter(|s| !s.is_empty())
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> String {
        Settings::from_value(&v).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_the_references() {
        let s = Settings::from_value(&json!({})).unwrap();
        assert!(!s.enabled);
        assert_eq!(s.high_score_threshold, 8.0);
        assert_eq!(s.directory, PathBuf::from("plugins"));
        assert_eq!(s.timeout_seconds, 30.0);
        assert!(s.allow_private.is_empty());
        let s = Settings::from_config(&facet_config::FacetConfig::default()).unwrap();
        assert!(!s.enabled);
    }

    #[test]
    fn the_references_example_parses() {
        let s = Settings::from_value(&json!({
            "enabled": true,
            "high_score_threshold": 8.0,
            "webhooks": [{"url": "https://example.com/hook",
                          "events": ["on_score_complete", "on_high_score"], "min_score": 8.0}],
            "actions": {"copy_high_scores": {"event": "on_high_score", "action": "copy_to_folder",
                        "folder": "/path/to/best-photos", "min_score": 9.0}}
        }))
        .unwrap();
        assert_eq!(
            s.webhooks[0].events,
            [EventKind::OnScoreComplete, EventKind::OnHighScore]
        );
        assert_eq!(
            s.actions["copy_high_scores"].action,
            ActionKind::CopyToFolder
        );
    }

    #[test]
    fn errors_name_their_path() {
        let e = err(json!({"webhooks": [{"url": "https://a.example", "events": ["on_bogus"]}]}));
        assert!(
            e.starts_with("plugins.webhooks[0].events[0]: unknown variant `on_bogus`"),
            "{e}"
        );
        for valid in EventKind::ALL {
            assert!(e.contains(valid.name()), "{e}");
        }
        let e = err(json!({"webhooks": [{"url": "ftp://a.example/x"}]}));
        assert!(e.starts_with("plugins.webhooks[0].url: "), "{e}");
        assert!(e.contains("http"), "{e}");
        let e = err(json!({"webhooks": [{"url": "https://a.example", "min_scor": 3}]}));
        assert!(e.starts_with("plugins.webhooks[0]"), "{e}");
        assert!(e.contains("unknown field `min_scor`"), "{e}");
        let e = err(json!({"actions": {"x": {"event": "on_high_score", "action": "email"}}}));
        assert!(
            e.starts_with("plugins.actions.x.action: unknown variant `email`"),
            "{e}"
        );
        assert!(e.contains("copy_to_folder"), "{e}");
        let e =
            err(json!({"actions": {"x": {"event": "on_high_score", "action": "copy_to_folder"}}}));
        assert_eq!(e, "plugins.actions.x.folder: copy_to_folder needs a folder");
        let e = err(json!({"allow_private": ["localhost"]}));
        assert!(e.starts_with("plugins.allow_private[0]: "), "{e}");
        let e = err(json!({"enabled": "yes"}));
        assert!(e.starts_with("plugins.enabled: "), "{e}");
        let e = err(json!({"timeout_seconds": 0}));
        assert!(e.starts_with("plugins.timeout_seconds: "), "{e}");
        let e = err(json!({"enabeld": true}));
        assert!(e.starts_with("plugins"), "{e}");
        assert!(e.contains("enabeld"), "{e}");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let r = Retry {
            initial_seconds: 30.0,
            max_seconds: 100.0,
            max_attempts: 5,
        };
        assert_eq!(r.backoff(1).as_secs(), 30);
        assert_eq!(r.backoff(2).as_secs(), 60);
        assert_eq!(r.backoff(3).as_secs(), 100);
        assert_eq!(r.backoff(99).as_secs(), 100);
    }

    #[test]
    fn a_webhooks_own_secret_wins() {
        let s = Settings::from_value(&json!({
            "webhook_secret": "shared",
            "webhooks": [{"url": "https://a.example", "secret": "own"},
                         {"url": "https://b.example"}, {"url": "https://c.example", "secret": ""}]
        }))
        .unwrap();
        assert_eq!(s.secret_of(0), Some("own"));
        assert_eq!(s.secret_of(1), Some("shared"));
        // An empty secret of its own turns signing off for that webhook.
        assert_eq!(s.secret_of(2), None);
    }
}
