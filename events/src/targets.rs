//! Who receives what: the webhooks and actions of the settings, and the
//! plugins found in the plugins folder, each with its outbox name and the
//! events it wants.
//!
//! | target | outbox name | wants |
//! |---|---|---|
//! | webhook | `webhook:<authority>#<8 hex of SHA-256(url)>` | its `events` (default all), aggregate ≥ `min_score` |
//! | action | `action:<name>` | its `event`, aggregate ≥ `min_score` |
//! | Python plugin | `plugin:<file name>` | the events it defines a function for |
//! | executable plugin | `plugin:<file name>` | every event |
//!
//! A webhook's name holds its host and a hash of its URL, never the URL
//! (whose path or query may hold a token): reordering the list keeps each
//! webhook's pending rows, a changed URL is another target. `min_score`
//! passes events without an aggregate (bursts).
//!
//! Plugins: the `*.py` files of the folder whose name does not start with
//! `_` or `.`, and the other regular files (links followed) with an
//! execute bit whose name does not start with `.` and that do not end in
//! `.example`, `~` or `.md`/`.txt`; sub-folders are not read. A missing
//! folder is no plugins.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind};
use crate::settings::{ActionSettings, Settings};
use crate::ssrf;

/// What a target is.
#[derive(Debug, Clone)]
pub enum Kind {
    Webhook {
        /// Its index in `plugins.webhooks`.
        index: usize,
        target: ssrf::Target,
        events: Vec<EventKind>,
        min_score: Option<f64>,
    },
    Action {
        name: String,
        settings: ActionSettings,
    },
    Python {
        file: PathBuf,
        events: Vec<EventKind>,
    },
    Executable {
        file: PathBuf,
    },
}

/// A receiver of events.
#[derive(Debug, Clone)]
pub struct Target {
    /// The outbox's `target`.
    pub name: String,
    pub kind: Kind,
}

fn passes(min: Option<f64>, e: &Event) -> bool {
    match (min, e.score()) {
        (Some(m), Some(s)) => s >= m,
        _ => true,
    }
}

impl Target {
    /// Whether `e` goes to this target.
    pub fn wants(&self, e: &Event) -> bool {
        match &self.kind {
            Kind::Webhook {
                events, min_score, ..
            } => events.contains(&e.kind) && passes(*min_score, e),
            Kind::Action { settings, .. } => {
                settings.event == e.kind && passes(settings.min_score, e)
            }
            Kind::Python { events, .. } => events.contains(&e.kind),
            Kind::Executable { .. } => true,
        }
    }
}

/// The outbox name of a webhook.
pub fn webhook_name(t: &ssrf::Target) -> String {
    let hash = hex::encode(Sha256::digest(t.url.as_bytes()));
    format!("webhook:{}#{}", t.authority(), &hash[..8])
}

/// The targets of `settings` and of the plugins folder, with warnings.
pub fn targets(settings: &Settings) -> (Vec<Target>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (index, w) in settings.webhooks.iter().enumerate() {
        // Checked when the settings were read.
        let Ok(target) = ssrf::Target::parse(&w.url) else {
            continue;
        };
        out.push(Target {
            name: webhook_name(&target),
            kind: Kind::Webhook {
                index,
                target,
                events: w.events.clone(),
                min_score: w.min_score,
            },
        });
    }
    for (name, a) in &settings.actions {
        out.push(Target {
            name: format!("action:{name}"),
            kind: Kind::Action {
                name: name.clone(),
                settings: a.clone(),
            },
        });
    }
    let (plugins, w) = discover(&settings.directory);
    out.extend(plugins);
    warnings.extend(w);
    (out, warnings)
}

/// The plugins of `dir` (see the module doc), sorted by file name.
pub fn discover(dir: &Path) -> (Vec<Target>, Vec<String>) {
    let mut warnings = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), warnings),
        Err(e) => {
            warnings.push(format!("plugins folder {}: {e}", dir.display()));
            return (Vec::new(), warnings);
        }
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for (name, path) in files {
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if name.ends_with(".py") {
            if name.starts_with('_') {
                continue;
            }
            let events = match std::fs::read_to_string(&path) {
                Ok(src) => crate::host::handled(&src),
                Err(e) => {
                    warnings.push(format!("plugin {name}: cannot read: {e}"));
                    continue;
                }
            };
            if events.is_empty() {
                warnings.push(format!(
                    "plugin {name} defines none of the event functions ({})",
                    EventKind::ALL.map(EventKind::name).join(", ")
                ));
            }
            out.push(Target {
                name: format!("plugin:{name}"),
                kind: Kind::Python { file: path, events },
            });
        } else if executable(&meta)
            && ![".example", "~", ".md", ".txt"]
                .iter()
                .any(|s| name.ends_with(s))
        {
            out.push(Target {
                name: format!("plugin:{name}"),
                kind: Kind::Executable { file: path },
            });
        }
    }
    (out, warnings)
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_names_hide_the_url() {
        let t = ssrf::Target::parse("https://hooks.example.com/T0/SECRET-TOKEN").unwrap();
        let n = webhook_name(&t);
        assert!(n.starts_with("webhook:hooks.example.com#"), "{n}");
        assert!(!n.contains("SECRET"), "{n}");
        let u = ssrf::Target::parse("https://hooks.example.com/T0/OTHER").unwrap();
        assert_ne!(n, webhook_name(&u));
    }

    #[test]
    fn discovery_finds_python_and_executables_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.py"), "def on_high_score(data):\n    pass\n").unwrap();
        std::fs::write(d.join("_helper.py"), "def on_high_score(data): pass\n").unwrap();
        std::fs::write(d.join("none.py"), "x = 1\n").unwrap();
        std::fs::write(d.join("notes.txt"), "hello").unwrap();
        std::fs::write(d.join("hook.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(d.join("hook.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(d.join("plain.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(d.join("x.py.example"), "").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let (t, w) = discover(d);
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["plugin:a.py", "plugin:hook.sh", "plugin:none.py"]);
        assert!(w.iter().any(|w| w.contains("none.py")), "{w:?}");
        assert!(discover(&d.join("missing")).0.is_empty());
    }
}
