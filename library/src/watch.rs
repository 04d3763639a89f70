//! Live mode (`facet watch`): the file-system changes under the library's
//! folders, gathered into batches for the same incremental pass a
//! `facet run` makes.
//!
//! **Events.** [`Watcher`] watches the roots with the `notify` crate —
//! inotify on Linux, or [`Mode::Poll`] (a periodic comparison of the folder
//! tree, for network shares where inotify sees nothing of what other
//! machines write). An event only says *which paths* to look at: what a path
//! is (new, changed, moved, gone) is decided when the batch is taken, from
//! the disk itself, so reordered, repeated or coalesced events (an editor's
//! save-to-temp-and-rename, a copy reported as create + many modifies) give
//! the same batch.
//!
//! **Batches.** [`Watcher::next_batch`] waits for a first event, then until
//! the folders have been quiet for `settle` (a copy in progress keeps
//! writing; at most `max_wait` in all), and returns a [`Batch`]: the paths
//! that exist (files, or folders that appeared: walked whole by the pass)
//! and the paths that are gone. A move is one of each: the pass finds the
//! moved photo by its content hash among the photos whose file is gone
//! (`lifecycle`), before the gone paths are marked missing, so that its row
//! moves rather than being analysed again.
//!
//! **Safety.** A root that is gone (an unmounted share) or a gone path that
//! is a root or holds one never marks anything missing ([`Batch::root_lost`]).
//! When the kernel's event queue overflowed ([`Batch::rescan`]) the caller
//! passes over the whole roots, as a one-shot run does. Hidden files and
//! folders (name starting with `.`: partial downloads, sync tools' temp
//! files) are ignored when `skip_hidden` is set, as the scan ignores them,
//! and so is everything under `ignore` (the store, when it lies inside a
//! watched folder).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};

use crate::{Error, Result};

/// How the folders are watched.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// The operating system's notifications (inotify).
    Native,
    /// A comparison of the folder trees every interval (network shares).
    Poll(Duration),
}

/// The changes of one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Files and folders that exist now and were created, changed or moved
    /// here; none lies under another.
    pub present: Vec<PathBuf>,
    /// Paths that are gone (deleted, or moved away): the stored photos at or
    /// under them are missing, unless they moved to one of `present`.
    pub gone: Vec<String>,
    /// Events were lost (queue overflow): pass over the whole roots.
    pub rescan: bool,
    /// A watched root is gone or a gone path holds one: mark nothing missing.
    pub root_lost: Vec<PathBuf>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.present.is_empty() && self.gone.is_empty() && !self.rescan
    }
}

/// The folders' watcher and the events it has not yet batched.
pub struct Watcher {
    _inner: Box<dyn notify::Watcher + Send>,
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    roots: Vec<PathBuf>,
    ignore: Vec<PathBuf>,
    skip_hidden: bool,
}

impl Watcher {
    /// Starts watching `roots` (absolute folders), recursively.
    pub fn new(
        roots: &[PathBuf],
        mode: Mode,
        skip_hidden: bool,
        ignore: &[PathBuf],
    ) -> Result<Watcher> {
        let (tx, rx) = mpsc::channel();
        let fail = |path: &Path, e: notify::Error| Error::Io {
            path: path.to_path_buf(),
            reason: format!("cannot watch: {e}"),
        };
        let mut inner: Box<dyn notify::Watcher + Send> = match mode {
            Mode::Native => {
                Box::new(notify::recommended_watcher(tx).map_err(|e| fail(&roots[0], e))?)
            }
            Mode::Poll(every) => Box::new(
                notify::PollWatcher::new(tx, notify::Config::default().with_poll_interval(every))
                    .map_err(|e| fail(&roots[0], e))?,
            ),
        };
        for r in roots {
            inner
                .watch(r, RecursiveMode::Recursive)
                .map_err(|e| fail(r, e))?;
        }
        Ok(Watcher {
            _inner: inner,
            rx,
            roots: roots.to_vec(),
            ignore: ignore.to_vec(),
            skip_hidden,
        })
    }

    /// Waits for changes and returns them once the folders have been quiet
    /// for `settle` (or `max_wait` after the first change); `None` once
    /// `stop` is set (checked every 200 ms) or the watcher is gone.
    pub fn next_batch(
        &self,
        settle: Duration,
        max_wait: Duration,
        stop: &AtomicBool,
    ) -> Result<Option<Batch>> {
        let mut paths = BTreeSet::new();
        let mut rescan = false;
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let wait = match first {
                None => Duration::from_millis(200),
                Some(_) => settle
                    .saturating_sub(last.elapsed())
                    .min(Duration::from_millis(200)),
            };
            match self.rx.recv_timeout(wait) {
                Ok(Ok(event)) => {
                    if event.need_rescan() {
                        rescan = true;
                    }
                    if matters(&event.kind) {
                        for p in event.paths {
                            if self.relevant(&p) {
                                paths.insert(p);
                            }
                        }
                    }
                    if (rescan || !paths.is_empty()) && first.is_none() {
                        first = Some(Instant::now());
                    }
                    last = Instant::now();
                }
                // A lost event: look at everything again.
                Ok(Err(_)) => {
                    rescan = true;
                    first.get_or_insert_with(Instant::now);
                    last = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
            }
            if let Some(f) = first
                && (last.elapsed() >= settle || f.elapsed() >= max_wait)
            {
                let mut batch = classify(paths, &self.roots);
                batch.rescan = rescan;
                return Ok(Some(batch));
            }
        }
    }

    /// Whether a path is one the scan would look at (not hidden when hidden
    /// folders are skipped, not under an ignored folder).
    fn relevant(&self, path: &Path) -> bool {
        if self.ignore.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        if !self.skip_hidden {
            return true;
        }
        let below = self
            .roots
            .iter()
            .find_map(|r| path.strip_prefix(r).ok())
            .unwrap_or(path);
        !below
            .components()
            .any(|c| c.as_os_str().to_str().is_some_and(|s| s.starts_with('.')))
    }
}

/// Whether an event can change what is stored (reads and opens cannot: the
/// analysis itself reads the photos).
fn matters(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// What the paths of a batch are now, on disk.
pub fn classify(paths: BTreeSet<PathBuf>, roots: &[PathBuf]) -> Batch {
    let mut batch = Batch::default();
    for r in roots {
        if !r.is_dir() {
            batch.root_lost.push(r.clone());
        }
    }
    let mut present: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.exists() {
            // Sorted: a folder comes before what it holds.
            if !present.iter().any(|q| p.starts_with(q)) {
                present.push(p);
            }
        } else if roots.iter().any(|r| r.starts_with(&p)) {
            batch.root_lost.push(p);
        } else {
            batch.gone.push(p.to_string_lossy().into_owned());
        }
    }
    batch.present = present;
    batch.root_lost.sort();
    batch.root_lost.dedup();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_what_the_disk_holds_now() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lib");
        std::fs::create_dir_all(root.join("new")).unwrap();
        std::fs::write(root.join("new/a.jpg"), b"x").unwrap();
        std::fs::write(root.join("b.jpg"), b"x").unwrap();
        let paths: BTreeSet<PathBuf> = [
            root.join("new"),
            root.join("new/a.jpg"),
            root.join("b.jpg"),
            root.join("deleted.jpg"),
            root.join("moved-away"),
        ]
        .into_iter()
        .collect();
        let b = classify(paths, std::slice::from_ref(&root));
        // The folder covers its file; the gone paths are listed.
        assert_eq!(b.present, vec![root.join("b.jpg"), root.join("new")]);
        assert_eq!(
            b.gone,
            vec![
                root.join("deleted.jpg").to_string_lossy().into_owned(),
                root.join("moved-away").to_string_lossy().into_owned()
            ]
        );
        assert!(b.root_lost.is_empty());
    }

    #[test]
    fn a_lost_root_marks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("share");
        let paths: BTreeSet<PathBuf> = [root.clone(), root.join("x.jpg")].into_iter().collect();
        let b = classify(paths, std::slice::from_ref(&root));
        assert_eq!(b.root_lost, vec![root.clone()]);
        // Its files are listed as gone, but the caller marks nothing while
        // a root is lost.
        assert_eq!(
            b.gone,
            vec![root.join("x.jpg").to_string_lossy().into_owned()]
        );
    }

    #[test]
    fn events_become_one_batch_after_the_folder_settles() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::absolute(dir.path()).unwrap();
        std::fs::create_dir_all(root.join(".sync")).unwrap();
        let w = Watcher::new(std::slice::from_ref(&root), Mode::Native, true, &[]).unwrap();
        let stop = AtomicBool::new(false);
        let writer = {
            let root = root.clone();
            std::thread::spawn(move || {
                for i in 0..3 {
                    std::fs::write(root.join(format!("p{i}.jpg")), b"x").unwrap();
                    std::fs::write(root.join(".sync/tmp.jpg"), b"x").unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::fs::remove_file(root.join("p2.jpg")).unwrap();
            })
        };
        let b = w
            .next_batch(Duration::from_secs(2), Duration::from_secs(20), &stop)
            .unwrap()
            .unwrap();
        writer.join().unwrap();
        assert_eq!(b.present, vec![root.join("p0.jpg"), root.join("p1.jpg")]);
        assert_eq!(
            b.gone,
            vec![root.join("p2.jpg").to_string_lossy().into_owned()]
        );
        stop.store(true, Ordering::Relaxed);
        assert_eq!(
            w.next_batch(Duration::from_millis(100), Duration::from_secs(1), &stop)
                .unwrap(),
            None
        );
    }
}
