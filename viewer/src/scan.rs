//! Scans from the gallery (`viewer.features.show_scan_button`, superadmins
//! only in the multi-user mode): `POST /api/scan` starts `facet run` on
//! some folders as a child process — a crash or a memory spike of the
//! analysis never takes the gallery down — and `GET /api/scan` reports its
//! progress, read from the `facet-progress` lines the run prints, and how
//! it ended. One scan at a time; the gallery shows the new photos as soon as
//! the run commits them (the listing follows the store's versions).
//!
//! Which folders: in the multi-user mode, the members' and shared
//! directories; in single-user mode, folders that already hold photos of the
//! store (a scan finds what changed there). Never a folder the request
//! names freely.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use facet_config::Role;
use serde::Serialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::scope::{Scope, normalize};

/// Builds the command that analyses `directories` into the gallery's store.
pub trait Scanner: Send + Sync {
    fn command(&self, directories: &[String]) -> Command;
}

/// Lines of the run's output kept for the status.
const LOG_LINES: usize = 20;

/// The latest scan (fields in key order: the JSON the API sends).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ScanStatus {
    pub directories: Vec<String>,
    /// Files analysed so far.
    pub done: u64,
    pub exit_code: Option<i32>,
    /// Seconds since the epoch.
    pub finished_at: Option<u64>,
    /// Files found so far.
    pub found: u64,
    /// The run's last lines (summaries, warnings, failures).
    #[schema(value_type = Vec<String>)]
    pub log: VecDeque<String>,
    /// Files queued for analysis so far.
    pub queued: u64,
    pub running: bool,
    /// Still walking the folders.
    pub scanning: bool,
    /// Files skipped as unchanged so far.
    pub skipped: u64,
    /// Seconds since the epoch.
    pub started_at: Option<u64>,
    /// The member who started it.
    pub started_by: Option<String>,
}

/// The scanner and the latest scan's status.
#[derive(Clone, Default)]
pub struct Scans {
    scanner: Option<Arc<dyn Scanner>>,
    status: Arc<Mutex<ScanStatus>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads `key=value` pairs of a `facet-progress` line into `s`.
fn progress(line: &str, s: &mut ScanStatus) -> bool {
    let Some(rest) = line.strip_prefix("facet-progress ") else {
        return false;
    };
    for (k, v) in rest.split_whitespace().filter_map(|kv| kv.split_once('=')) {
        let v: u64 = v.parse().unwrap_or(0);
        match k {
            "found" => s.found = v,
            "skipped" => s.skipped = v,
            "queued" => s.queued = v,
            "done" => s.done = v,
            "scanning" => s.scanning = v == 1,
            _ => {}
        }
    }
    true
}

impl Scans {
    pub fn new(scanner: Option<Arc<dyn Scanner>>) -> Scans {
        Scans {
            scanner,
            status: Arc::default(),
        }
    }

    pub fn status(&self) -> ScanStatus {
        self.status.lock().expect("scan status").clone()
    }

    /// Starts the scan unless one runs.
    fn start(&self, directories: Vec<String>, by: Option<String>) -> ApiResult<ScanStatus> {
        let Some(scanner) = &self.scanner else {
            return Err(ApiError::Unavailable(
                "this gallery cannot start scans (no pipeline to run)".into(),
            ));
        };
        let mut cmd = scanner.command(&directories);
        {
            let mut s = self.status.lock().expect("scan status");
            if s.running {
                return Err(ApiError::Unavailable("a scan is already running".into()));
            }
            *s = ScanStatus {
                running: true,
                directories,
                started_by: by,
                started_at: Some(now()),
                scanning: true,
                ..ScanStatus::default()
            };
        }
        let mut child = match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                let mut s = self.status.lock().expect("scan status");
                s.running = false;
                s.finished_at = Some(now());
                s.log.push_back(format!("cannot start the scan: {e}"));
                return Err(ApiError::internal(format!("cannot start the scan: {e}")));
            }
        };
        let status = self.status.clone();
        let read = move |out: Box<dyn std::io::Read + Send>| {
            let status = status.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let mut s = status.lock().expect("scan status");
                    if !progress(&line, &mut s) {
                        if s.log.len() == LOG_LINES {
                            s.log.pop_front();
                        }
                        s.log.push_back(line);
                    }
                }
            })
        };
        let readers = [
            read(Box::new(child.stdout.take().expect("piped"))),
            read(Box::new(child.stderr.take().expect("piped"))),
        ];
        let status = self.status.clone();
        std::thread::spawn(move || {
            let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
            for r in readers {
                let _ = r.join();
            }
            let mut s = status.lock().expect("scan status");
            s.running = false;
            s.scanning = false;
            s.exit_code = Some(code);
            s.finished_at = Some(now());
        });
        Ok(self.status())
    }
}

/// The folders `who` may scan: members' and shared directories (multi-user
/// mode), else the folders holding the store's photos.
async fn scannable(state: &AppState, requested: Vec<String>) -> ApiResult<Vec<String>> {
    let users = &state.config().users;
    let configured: Vec<String> = users
        .users
        .values()
        .flat_map(|u| u.directories.iter())
        .chain(&users.shared_directories)
        .cloned()
        .collect();
    if users.enabled() {
        let all = Scope::new(&configured);
        if requested.is_empty() {
            return Ok(all.dirs().to_vec());
        }
        for d in &requested {
            if !all.dirs().iter().any(|c| Some(c) == normalize(d).as_ref()) {
                return Err(ApiError::bad(
                    "directories",
                    format!("`{d}` is not a directory of `users`"),
                ));
            }
        }
        return Ok(requested);
    }
    if requested.is_empty() {
        return Err(ApiError::bad(
            "directories",
            "required: the folders to scan again",
        ));
    }
    let (listing, _) = state
        .listing(&Who::Single(crate::auth::Access::Edit))
        .await?;
    for d in &requested {
        let holds = normalize(d).is_some_and(|d| {
            let scope = Scope::new(std::slice::from_ref(&d));
            listing.any_path(|p| scope.allows(p))
        });
        if !holds {
            return Err(ApiError::bad(
                "directories",
                format!("`{d}` holds no photo of this library"),
            ));
        }
    }
    Ok(requested)
}

/// `POST /api/scan`'s body (optional).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct ScanBody {
    /// The folders to scan (default: every folder this session may scan).
    directories: Option<Vec<String>>,
}

/// `POST /api/scan {"directories"?: [...]}`: starts a scan of `directories`
/// (default: every folder this session may scan: members' and shared
/// directories in multi-user mode, else the folders of the store's photos);
/// each must hold photos of this library. 409 while a scan runs.
/// Superadmins only in multi-user mode. Off unless
/// viewer.features.show_scan_button.
#[utoipa::path(post, path = "/api/scan", operation_id = "start_scan",
    request_body(content = Option<ScanBody>, description = "Optional.", content_type = "application/json"),
    responses(
        (status = 200, description = "The scan started (its status).", body = ScanStatus),
        (status = 409, description = "A scan is already running, or this gallery cannot start scans.", body = ErrorBody),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<ScanStatus>> {
    who.require(Role::Superadmin)?;
    let requested = match b {
        Ok(Json(v)) => match v.get("directories") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::bad("directories", "expected folder paths"))
                })
                .collect::<ApiResult<_>>()?,
            Some(_) => return Err(ApiError::bad("directories", "expected a list of folders")),
        },
        // No body: every folder (multi-user mode).
        Err(JsonRejection::MissingJsonContentType(_)) => Vec::new(),
        Err(e) => return Err(ApiError::bad("body", e.body_text())),
    };
    let dirs = scannable(&state, requested).await?;
    let s = state.scans().start(dirs, who.user().map(str::to_string))?;
    Ok(Json(s))
}

/// `GET /api/scan`: the latest scan's progress and outcome. Superadmins
/// only in multi-user mode, the edition password in single-user mode. Off
/// unless viewer.features.show_scan_button.
#[utoipa::path(get, path = "/api/scan", operation_id = "scan_status", responses(
    (status = 200, description = "The scan's status.", body = ScanStatus),
))]
pub async fn status(State(state): State<AppState>, who: Who) -> ApiResult<Json<ScanStatus>> {
    who.require(Role::Superadmin)?;
    Ok(Json(state.scans().status()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_lines_are_read() {
        let mut s = ScanStatus::default();
        assert!(progress(
            "facet-progress found=12 skipped=2 queued=10 done=4 scanning=0",
            &mut s
        ));
        assert_eq!(
            (s.found, s.skipped, s.queued, s.done, s.scanning),
            (12, 2, 10, 4, false)
        );
        assert!(!progress("12 found, 10 analysed", &mut s));
    }

    /// A scan that reports like `facet run --progress-lines`, a second long.
    struct Sh;
    impl Scanner for Sh {
        fn command(&self, directories: &[String]) -> Command {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(
                    "echo facet-progress found=3 skipped=0 queued=3 done=1 scanning=1 >&2; sleep 1; \
                     echo facet-progress found=3 skipped=0 queued=3 done=3 scanning=0 >&2; \
                     echo \"3 found, 3 analysed in $#\"; exit 3",
                )
                .arg("sh")
                .args(directories);
            c
        }
    }

    #[tokio::test]
    async fn scans_run_in_the_background_and_report_progress() {
        use axum::http::StatusCode;
        use facet_config::FacetConfig;

        use crate::tests::{fixture_scanning, get_json, post};

        let mut config = FacetConfig::default();
        config
            .viewer
            .other
            .insert("features".into(), json!({"show_scan_button": true}));
        let f = fixture_scanning(config, Some(Arc::new(Sh))).await;
        let lib = f.lib.to_string_lossy().into_owned();
        let (s, v) = post(&f.app, "/api/scan", json!({})).await;
        assert_eq!(
            (s, v["param"].clone()),
            (StatusCode::BAD_REQUEST, json!("directories")),
            "{v}"
        );
        let (s, v) = post(&f.app, "/api/scan", json!({"directories": ["/etc"]})).await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "a folder without photos of the library: {v}"
        );
        let (s, v) = post(&f.app, "/api/scan", json!({"directories": [lib]})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["running"], true);
        let (s, _) = post(&f.app, "/api/scan", json!({"directories": [lib]})).await;
        assert_eq!(s, StatusCode::CONFLICT, "one scan at a time");
        let started = std::time::Instant::now();
        let v = loop {
            let (s, v) = get_json(&f.app, "/api/scan").await;
            assert_eq!(s, StatusCode::OK);
            if v["running"] == false {
                break v;
            }
            assert!(
                started.elapsed().as_secs() < 30,
                "the scan never ended: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(
            (v["found"].clone(), v["done"].clone(), v["scanning"].clone()),
            (json!(3), json!(3), json!(false)),
            "{v}"
        );
        assert_eq!(v["exit_code"], 3, "{v}");
        assert_eq!(v["directories"], json!([lib]));
        assert_eq!(v["log"], json!(["3 found, 3 analysed in 1"]), "{v}");

        // Off by default.
        let f = fixture_scanning(FacetConfig::default(), Some(Arc::new(Sh))).await;
        let (s, _) = post(&f.app, "/api/scan", json!({"directories": [lib]})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}
