//! The library: everything that writes a photo library's store after the
//! stages have measured its photos, in one place, so that `facet run`, the
//! gallery's scans (which run `facet run`) and the tests share one code path.
//!
//! * [`writer`] — the run's store writer: batches the dataflow's output and
//!   commits it so that a photo counts as analysed only once every row of it,
//!   in every table, is committed (child rows first, the photo row last).
//! * [`lifecycle`] — moves (identity by content hash), missing files and
//!   `facet prune`.
//! * [`watch`] — live mode: the folders' changes, in batches.
//! * [`derive`] — the library-wide derivations, which depend on the whole
//!   library rather than on one photo: [`derive::scores`] (categories,
//!   normalization, aggregates), [`derive::groups`] (bursts, duplicates,
//!   similar photos) and [`derive::people`] (faces clustered into persons).
//! * [`upgrade`] — the store's format version and the migrations that bring
//!   an older store up to it.
//! * [`xmp_sidecar`] — XMP sidecars for Lightroom, darktable, digiKam and
//!   Capture One: `facet xmp export` (merged into existing ones) and `import`.
//!
//! Errors are grouped by whose fault they are ([`Error`]).

pub mod derive;
pub mod lifecycle;
pub mod upgrade;
pub mod watch;
pub mod writer;
pub mod xmp_sidecar;

pub mod failpoint;

use std::path::PathBuf;

/// What went wrong, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user asked for that the store does not have (an unknown
    /// photo, person or face), with what to do about it.
    #[error("{0}")]
    NotFound(String),
    /// The configuration cannot be applied to the stored data.
    #[error("{0}")]
    Config(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] facet_store::StoreError),
    #[error("query: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("engine: {0}")]
    Engine(#[from] facet_engine::FacetError),
    /// A bug: data in the store that Facet itself wrote does not have the
    /// shape it expects.
    #[error("internal error (please report): {0}")]
    Internal(String),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Phase timings on stderr when `FACET_TRACE` is set (for finding where a
/// run's time goes: `FACET_TRACE=1 facet run …`).
pub struct Trace {
    what: &'static str,
    started: std::time::Instant,
    on: bool,
}

impl Trace {
    pub fn new(what: &'static str) -> Trace {
        Trace {
            what,
            started: std::time::Instant::now(),
            on: std::env::var_os("FACET_TRACE").is_some(),
        }
    }

    /// The time since the start.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Reports the time since the start at the end of `phase`, and the
    /// process's resident and peak memory (Linux).
    pub fn at(&self, phase: &str) {
        if self.on {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let kib = |key: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(0, |v| v / 1024)
            };
            eprintln!(
                "facet-trace {} {phase}: {:.1} ms, RSS {} MiB (peak {} MiB)",
                self.what,
                self.started.elapsed().as_secs_f64() * 1e3,
                kib("VmRSS:"),
                kib("VmHWM:")
            );
        }
    }
}

/// Now, in nanoseconds since the Unix epoch (the stores' timestamps).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
