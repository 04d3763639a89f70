//! A run past one machine, on timely's own cluster mode
//! (`timely::Config::Cluster`).
//!
//! Every process of a cluster run is started with the same pipeline, photo
//! folders, store and `--workers`, and its place in a hosts file (one
//! `host:port` per process, the same file everywhere). Each process scans the
//! folders, and keeps the photos of its **shard**: a photo belongs to the
//! process numbered `xxh3_64(path) mod processes` (the path as the scan spells
//! it, so every process must see the photos at the same path). Its workers
//! analyse them as in a local run; each finished batch leaves the worker as
//! Arrow IPC ([`Shipped`]) through a timely `exchange` to worker 0, in
//! process 0, whose writer is the store's only writer. Process 0 alone runs
//! what touches the whole library — moves, missing photos, scores, groups,
//! people, events — after the dataflow has ended, which is after every
//! process's last batch has reached it.
//!
//! A process that dies breaks its TCP connections; timely's network threads
//! then panic with "timely communication error". [`PeerWatch`] catches that
//! panic, the workers drop their dataflow and the run fails with
//! [`FacetError::Cluster`]; what process 0 had received is committed (the
//! writer's commit order keeps the store consistent, as for a kill), so the
//! same command run again analyses the rest.

use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::{FacetError, Failure};

/// Where this process stands in a cluster run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// How many processes take part.
    pub processes: usize,
    /// This process's number, `0..processes`; process 0 writes the store.
    pub process: usize,
    /// Every process's `host:port`, in process order.
    pub addresses: Vec<String>,
    /// How long this process waits for the others to connect before the
    /// run fails (`--connect-timeout`).
    pub connect_timeout: std::time::Duration,
}

/// How long a process waits for the others by default: time to start the
/// same command on each machine by hand.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl Cluster {
    /// Reads a hosts file: one `host:port` per process, in process order;
    /// blank lines and `#` comments are ignored. Errors name the file and line.
    pub fn from_hosts_file(
        file: &Path,
        processes: usize,
        process: usize,
    ) -> Result<Cluster, FacetError> {
        let bad = |reason: String| FacetError::Input {
            path: file.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        let mut addresses = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((host, port)) = line.rsplit_once(':') else {
                return Err(bad(format!("line {}: `{line}` is not host:port", n + 1)));
            };
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(format!(
                    "line {}: `{line}` is not host:port (a port is 1 to 65535)",
                    n + 1
                )));
            }
            addresses.push(line.to_string());
        }
        Cluster::new(addresses, processes, process).map_err(bad)
    }

    /// A cluster of `processes` at `addresses`, seen from `process`.
    pub fn new(
        addresses: Vec<String>,
        processes: usize,
        process: usize,
    ) -> Result<Cluster, String> {
        if processes < 1 {
            return Err("--processes must be at least 1".into());
        }
        if addresses.len() != processes {
            return Err(format!(
                "names {} process address(es), --processes says {processes}",
                addresses.len()
            ));
        }
        if process >= processes {
            return Err(format!(
                "--process {process} is not one of 0..{processes} (processes are numbered from 0)"
            ));
        }
        Ok(Cluster {
            processes,
            process,
            addresses,
            connect_timeout: CONNECT_TIMEOUT,
        })
    }

    /// The error of a process whose peers did not all connect in time.
    pub(crate) fn unreached(&self) -> FacetError {
        let others: Vec<&str> = self
            .addresses
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.process)
            .map(|(_, a)| a.as_str())
            .collect();
        FacetError::Cluster(format!(
            "process {} of {} waited {} s for the other processes ({}) to connect, and not all did; nothing was analysed. Start the same command, with its own --process, on every machine of the hosts file (or raise --connect-timeout)",
            self.process,
            self.processes,
            self.connect_timeout.as_secs(),
            others.join(", ")
        ))
    }

    /// Whether this process analyses the photo at `path`.
    pub fn owns(&self, path: &Path) -> bool {
        shard_of(path, self.processes) == self.process
    }

    /// Whether this is process 0, which writes the store.
    pub fn writes(&self) -> bool {
        self.process == 0
    }
}

/// The process that analyses the photo at `path`: a hash of the path's bytes
/// (xxh3, the same on every machine and build), modulo the processes.
pub fn shard_of(path: &Path, processes: usize) -> usize {
    let bytes = path.as_os_str().as_encoded_bytes();
    (xxhash_rust::xxh3::xxh3_64(bytes) % processes.max(1) as u64) as usize
}

/// A finished batch on its way to process 0: the stored columns as one Arrow
/// IPC stream, and the batch's failures.
#[derive(Serialize, Deserialize)]
pub(crate) struct Shipped {
    ipc: Vec<u8>,
    failures: Vec<Failure>,
}

impl Shipped {
    pub(crate) fn pack(photos: &RecordBatch, failures: Vec<Failure>) -> Result<Shipped, String> {
        let mut ipc = Vec::new();
        {
            let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &photos.schema())
                .map_err(|e| e.to_string())?;
            w.write(photos).map_err(|e| e.to_string())?;
            w.finish().map_err(|e| e.to_string())?;
        }
        Ok(Shipped { ipc, failures })
    }

    pub(crate) fn unpack(self) -> Result<(RecordBatch, Vec<Failure>), String> {
        let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(self.ipc), None)
            .map_err(|e| e.to_string())?;
        let batch = reader
            .next()
            .ok_or("an empty batch stream")?
            .map_err(|e| e.to_string())?;
        Ok((batch, self.failures))
    }
}

/// Catches timely's "timely communication error" panics (a peer process
/// died, or the network between them failed), and the "MergeQueue poisoned"
/// panics of workers that touch that peer's channels after it, so
/// that the workers can stop and the run fail with a clear message instead
/// of waiting forever for a peer that is gone.
pub(crate) struct PeerWatch;

static LOST: AtomicBool = AtomicBool::new(false);
static WHY: Mutex<Option<String>> = Mutex::new(None);
static HOOK: OnceLock<()> = OnceLock::new();

impl PeerWatch {
    /// Installs the panic hook (once per process; other panics go on to the
    /// hook that was there) and forgets any earlier loss.
    pub(crate) fn install() -> PeerWatch {
        HOOK.get_or_init(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let msg = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("");
                // (A worker that then touches a channel of the lost peer
                // panics with "MergeQueue poisoned": the same loss.)
                // (And the guard of the network threads, joining them.)
                let network = msg.starts_with("timely communication error")
                    || msg.starts_with("MergeQueue poisoned");
                let joining = LOST.load(Ordering::SeqCst)
                    && (msg.starts_with("Send thread panic")
                        || msg.starts_with("Recv thread panic"));
                if network || joining {
                    let mut why = WHY.lock().unwrap_or_else(|p| p.into_inner());
                    why.get_or_insert_with(|| msg.to_string());
                    LOST.store(true, Ordering::SeqCst);
                } else {
                    previous(info);
                }
            }));
        });
        LOST.store(false, Ordering::SeqCst);
        *WHY.lock().unwrap_or_else(|p| p.into_inner()) = None;
        PeerWatch
    }

    /// Whether a peer has been lost.
    pub(crate) fn lost() -> bool {
        LOST.load(Ordering::SeqCst)
    }

    /// The error a run that lost a peer ends with.
    pub(crate) fn error(cluster: &Cluster) -> FacetError {
        let why = WHY
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        FacetError::Cluster(format!(
            "process {} of {} lost its connection to another process of the run ({why}); \
             the run stops here. What process 0 had received is stored: run the same \
             command on every machine again to analyse the rest",
            cluster.process, cluster.processes
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn a_hosts_file_is_read_with_its_comments_and_its_errors_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.txt");
        std::fs::write(
            &file,
            "# the NAS\nnas.local:4100\n\n192.168.1.20:4100  # the desktop\n",
        )
        .unwrap();
        let c = Cluster::from_hosts_file(&file, 2, 1).unwrap();
        assert_eq!(c.addresses, ["nas.local:4100", "192.168.1.20:4100"]);
        assert!(!c.writes());

        let err = Cluster::from_hosts_file(&file, 3, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hosts.txt") && err.contains("2 process address(es)"),
            "{err}"
        );
        let err = Cluster::from_hosts_file(&file, 2, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--process 2"), "{err}");
        std::fs::write(&file, "nas.local:4100\ndesktop\n").unwrap();
        let err = Cluster::from_hosts_file(&file, 2, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("desktop"), "{err}");
        std::fs::write(&file, "nas.local:99999\n").unwrap();
        let err = Cluster::from_hosts_file(&file, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn every_photo_has_exactly_one_process_and_the_shards_are_even() {
        let n = 3;
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            let path = PathBuf::from(format!("/photos/2024/IMG_{i:05}.jpg"));
            let owners: Vec<usize> = (0..n)
                .filter(|&p| {
                    Cluster::new(vec!["a:1".into(), "b:1".into(), "c:1".into()], n, p)
                        .unwrap()
                        .owns(&path)
                })
                .collect();
            assert_eq!(owners.len(), 1, "{}", path.display());
            counts[owners[0]] += 1;
        }
        for c in counts {
            assert!((900..1100).contains(&c), "{counts:?}");
        }
        // The hash is xxh3 of the bytes: the same on every machine.
        assert_eq!(
            shard_of(Path::new("/photos/a.jpg"), 1000),
            (xxhash_rust::xxh3::xxh3_64(b"/photos/a.jpg") % 1000) as usize
        );
    }

    #[test]
    fn a_shipped_batch_arrives_as_it_left() {
        let schema = crate::runtime::file_schema();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow_array::StringArray::from(vec!["/a.jpg", "/b.jpg"])),
                Arc::new(arrow_array::Int64Array::from(vec![1, 2])),
                Arc::new(
                    arrow_array::TimestampNanosecondArray::from(vec![3, 4]).with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let failure = Failure {
            path: "/c.jpg".into(),
            file_size: 5,
            file_mtime_ns: 6,
            stage: "decode".into(),
            reason: "truncated".into(),
        };
        let shipped = Shipped::pack(&batch, vec![failure.clone()]).unwrap();
        let (got, failures) = through_serde(shipped).unpack().unwrap();
        assert_eq!(got, batch);
        assert_eq!(failures, vec![failure]);
    }

    /// Through serde, as timely's exchange sends it between processes.
    fn through_serde(s: Shipped) -> Shipped {
        let json = serde_json::to_vec(&s).unwrap();
        serde_json::from_slice(&json).unwrap()
    }
}
