//! The events and their payloads, as the reference defines them.
//!
//! | event | when | payload |
//! |---|---|---|
//! | `on_new_photo` | a photo analysed for the first time | the score payload |
//! | `on_score_complete` | every photo scored | the score payload |
//! | `on_high_score` | aggregate ≥ `plugins.high_score_threshold` | the score payload |
//! | `on_burst_detected` | a burst group found | `burst_group_id`, `photo_count`, `best_path`, `paths` |
//!
//! The score payload is `{path, filename, aggregate, aesthetic, comp_score,
//! category, tags}`; `tags` is the comma-separated string of the photo's
//! tags (`"person, outdoor"`), `aesthetic`, `comp_score` and `tags` are null
//! when unknown.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The four events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    OnNewPhoto,
    OnScoreComplete,
    OnHighScore,
    OnBurstDetected,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::OnNewPhoto,
        EventKind::OnScoreComplete,
        EventKind::OnHighScore,
        EventKind::OnBurstDetected,
    ];

    /// The name plugins' functions and webhooks' `event` field use.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::OnNewPhoto => "on_new_photo",
            EventKind::OnScoreComplete => "on_score_complete",
            EventKind::OnHighScore => "on_high_score",
            EventKind::OnBurstDetected => "on_burst_detected",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One event: its kind and its payload (a JSON object whose keys serialize
/// sorted, so the same event always gives the same bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub data: Map<String, Value>,
}

impl Event {
    /// The photo's aggregate, for `min_score` filters (`None` for bursts).
    pub fn score(&self) -> Option<f64> {
        self.data.get("aggregate").and_then(Value::as_f64)
    }

    /// The photo an action works on: `path`, or a burst's `best_path`.
    pub fn path(&self) -> Option<&str> {
        self.data
            .get("path")
            .or_else(|| self.data.get("best_path"))
            .and_then(Value::as_str)
    }

    /// The payload as the JSON text stored in the outbox and sent.
    pub fn payload(&self) -> String {
        Value::Object(self.data.clone()).to_string()
    }
}

/// A photo scored now (input of [`crate::Plugins::score_events`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPhoto {
    pub path: String,
    pub aggregate: f64,
    pub aesthetic: Option<f64>,
    pub comp_score: Option<f64>,
    pub category: String,
    /// The photo's tags, comma-separated (`"person, outdoor"`).
    pub tags: Option<String>,
    /// Analysed for the first time (emits `on_new_photo`).
    pub new: bool,
}

impl ScoredPhoto {
    /// The reference's score payload.
    pub fn payload(&self) -> Map<String, Value> {
        let filename = std::path::Path::new(&self.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.clone());
        let Value::Object(map) = json!({
            "path": self.path,
            "filename": filename,
            "aggregate": finite(self.aggregate),
            "aesthetic": self.aesthetic.and_then(finite),
            "comp_score": self.comp_score.and_then(finite),
            "category": self.category,
            "tags": self.tags,
        }) else {
            unreachable!("an object literal")
        };
        map
    }
}

/// A burst group found (input of [`crate::Plugins::burst_events`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// `photo_groups.burst_group_id` (`b-…`).
    pub burst_group_id: String,
    pub best_path: String,
    pub paths: Vec<String>,
}

impl Burst {
    /// The reference's burst payload.
    pub fn payload(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "burst_group_id": self.burst_group_id,
            "photo_count": self.paths.len(),
            "best_path": self.best_path,
            "paths": self.paths,
        }) else {
            unreachable!("an object literal")
        };
        map
    }
}

/// JSON has no NaN or infinity: those become null.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The events of photos scored now: `on_new_photo` for new ones, then
/// `on_score_complete`, then `on_high_score` at or above `threshold`.
pub fn score_events(photos: &[ScoredPhoto], threshold: f64) -> Vec<Event> {
    let mut out = Vec::new();
    for p in photos {
        let data = p.payload();
        if p.new {
            out.push(Event {
                kind: EventKind::OnNewPhoto,
                data: data.clone(),
            });
        }
        out.push(Event {
            kind: EventKind::OnScoreComplete,
            data: data.clone(),
        });
        if p.aggregate >= threshold {
            out.push(Event {
                kind: EventKind::OnHighScore,
                data,
            });
        }
    }
    out
}

/// One `on_burst_detected` per burst.
pub fn burst_events(bursts: &[Burst]) -> Vec<Event> {
    bursts
        .iter()
        .map(|b| Event {
            kind: EventKind::OnBurstDetected,
            data: b.payload(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(aggregate: f64, new: bool) -> ScoredPhoto {
        ScoredPhoto {
            path: "/photos/IMG_001.jpg".into(),
            aggregate,
            aesthetic: Some(9.5),
            comp_score: None,
            category: "portrait".into(),
            tags: Some("person, outdoor".into()),
            new,
        }
    }

    #[test]
    fn score_payload_is_the_references() {
        let events = score_events(&[photo(9.2, true)], 8.0);
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::OnNewPhoto,
                EventKind::OnScoreComplete,
                EventKind::OnHighScore
            ]
        );
        assert_eq!(
            Value::Object(events[0].data.clone()),
            json!({"path": "/photos/IMG_001.jpg", "filename": "IMG_001.jpg",
                   "aggregate": 9.2, "aesthetic": 9.5, "comp_score": null,
                   "category": "portrait", "tags": "person, outdoor"})
        );
        let low = score_events(&[photo(7.9, false)], 8.0);
        assert_eq!(low.len(), 1);
        assert_eq!(low[0].kind, EventKind::OnScoreComplete);
        // Keys sorted: the same event always serializes the same.
        assert!(
            events[1]
                .payload()
                .starts_with(r#"{"aesthetic":9.5,"aggregate":9.2"#)
        );
    }

    #[test]
    fn burst_payload_counts_its_photos() {
        let e = burst_events(&[Burst {
            burst_group_id: "b-1".into(),
            best_path: "/a/2.jpg".into(),
            paths: vec!["/a/1.jpg".into(), "/a/2.jpg".into()],
        }]);
        assert_eq!(e[0].kind, EventKind::OnBurstDetected);
        assert_eq!(e[0].data["photo_count"], 2);
        assert_eq!(e[0].path(), Some("/a/2.jpg"));
        assert_eq!(e[0].score(), None);
    }
}
