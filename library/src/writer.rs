//! The run's store writer: one thread that buffers what the dataflow's
//! workers send and commits it every `commit_every` photos (and at the end).
//!
//! **Crash consistency.** Lance commits are atomic per table, not across
//! tables, so the order of a batch's commits is what makes a kill at any
//! moment harmless. A photo counts as analysed — and the next run skips it —
//! only when its row in `photos` (or in `failures`) is committed, and that
//! row is always committed last:
//!
//! 1. child rows (`faces`): the photos' earlier rows deleted, the new ones
//!    appended;
//! 2. the `failures` rows of photos that went through this time, deleted;
//! 3. the photo rows, appended (new paths) or merged (known paths).
//!
//! A photo that fails: its child rows and its photo row are deleted first,
//! then its `failures` row is written. A kill between any two commits leaves
//! a photo whose own row is absent or still describes the old file (another
//! size or mtime), so the next run analyses it again and its step 1 replaces
//! whatever child rows the killed run left. Derived tables (scores, groups,
//! people) are brought up to date after every run from these, so they
//! converge too (`tests/it/kill.rs` kills a run at each of these points).
//!
//! **Memory.** The buffered batches reserve their bytes from the run's
//! budget, under its admission limit like the batches in flight; when the
//! budget cannot hold the next one, or admission waits for memory the buffer
//! holds, the buffer is committed early instead of growing outside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use facet_engine::runtime::Output;
use facet_engine::{Budget, Failure, Reservation};
use facet_schemas::Table;
use facet_store::Store;

use crate::failpoint::point;
use crate::{Result, now_ns};

/// Where a known path is stored, and the file identity stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub size: i64,
    pub mtime_ns: i64,
    /// A row in `photos`.
    pub analysed: bool,
    /// A row in `failures`.
    pub failed: bool,
}

/// The paths the store knows, held once for the whole run: the driver's
/// unchanged-file check reads it, the writer keeps it current.
#[derive(Debug, Default, Clone)]
pub struct KnownFiles(Arc<Mutex<HashMap<String, Known>>>);

impl KnownFiles {
    /// Reads the file identities of `photos` and `failures` (a photo row wins
    /// over a stale failure of the same path): of the paths under `roots`
    /// (as the scan spells them: absolute, not canonical), or of every path
    /// with `None`. A run that scans one new folder of a million-photo
    /// library reads that folder's rows, not the library's.
    pub async fn load(store: &Store, photos: &Table, roots: Option<&[String]>) -> Result<Self> {
        let known = |(size, mtime_ns), analysed, failed| Known {
            size,
            mtime_ns,
            analysed,
            failed,
        };
        let mut map: HashMap<String, Known> = store
            .file_index_under(&facet_schemas::failures(), roots)
            .await?
            .into_iter()
            .map(|(path, id)| (path, known(id, false, true)))
            .collect();
        for (path, id) in store.file_index_under(photos, roots).await? {
            let failed = map.get(&path).is_some_and(|k| k.failed);
            map.insert(path, known(id, true, failed));
        }
        Ok(KnownFiles(Arc::new(Mutex::new(map))))
    }

    /// Whether `path` is stored (analysed or failed) with this size and mtime.
    pub fn unchanged(&self, path: &str, size: i64, mtime_ns: i64) -> bool {
        self.0
            .lock()
            .expect("known files lock")
            .get(path)
            .is_some_and(|k| k.size == size && k.mtime_ns == mtime_ns)
    }

    pub fn get(&self, path: &str) -> Option<Known> {
        self.0.lock().expect("known files lock").get(path).copied()
    }

    fn update(&self, path: &str, f: impl FnOnce(&mut Known)) {
        let mut map = self.0.lock().expect("known files lock");
        let k = map.entry(path.to_string()).or_insert(Known {
            size: -1,
            mtime_ns: -1,
            analysed: false,
            failed: false,
        });
        f(k);
    }
}

/// What the writer committed.
#[derive(Debug, Default)]
pub struct Written {
    pub analysed: u64,
    pub failures: Vec<Failure>,
    /// Early commits because the budget could not hold the buffer.
    pub early_commits: u64,
}

/// The writer's settings.
pub struct WriterOptions {
    pub photos: Table,
    /// Photos per commit: a killed run loses at most this much work.
    pub commit_every: usize,
    /// Buffers are committed at least this often.
    pub max_delay: Duration,
    pub budget: Budget,
}

/// Starts the writer thread; it ends when every sender of `rx` is dropped.
pub fn spawn(
    rt: tokio::runtime::Handle,
    store: Arc<Store>,
    known: KnownFiles,
    rx: crossbeam_channel::Receiver<Output>,
    opts: WriterOptions,
) -> std::thread::JoinHandle<Result<Written>> {
    std::thread::Builder::new()
        .name("facet-writer".into())
        .spawn(move || write_loop(&rt, &store, &known, rx, &opts))
        .expect("spawn the store writer")
}

#[derive(Default)]
struct Buffer {
    photos: Vec<RecordBatch>,
    failures: Vec<Failure>,
    rows: usize,
    reserved: Vec<Reservation>,
}

fn write_loop(
    rt: &tokio::runtime::Handle,
    store: &Store,
    known: &KnownFiles,
    rx: crossbeam_channel::Receiver<Output>,
    opts: &WriterOptions,
) -> Result<Written> {
    let mut written = Written::default();
    let mut buf = Buffer::default();
    let mut last = Instant::now();
    let commit_every = opts.commit_every.max(1);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(out) => {
                let bytes = out.photos.get_array_memory_size() as u64;
                let limit = opts.budget.admission_limit();
                let reservation = match opts.budget.try_reserve_under(bytes, limit) {
                    Some(r) => Some(r),
                    None if !buf.photos.is_empty() => {
                        // The buffer may not grow outside the budget: commit it now.
                        commit(rt, store, known, &opts.photos, &mut buf, &mut written)?;
                        written.early_commits += 1;
                        last = Instant::now();
                        opts.budget.try_reserve_under(bytes, limit)
                    }
                    // Alone it does not fit: it is already in memory, commit it as it comes.
                    None => None,
                };
                buf.rows += out.photos.num_rows() + out.failures.len();
                if out.photos.num_rows() > 0 {
                    buf.photos.push(out.photos);
                }
                buf.failures.extend(out.failures);
                buf.reserved.extend(reservation);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                // Admission waits for memory this buffer holds: give it back.
                if !buf.reserved.is_empty() && opts.budget.has_waiters() {
                    commit(rt, store, known, &opts.photos, &mut buf, &mut written)?;
                    written.early_commits += 1;
                    last = Instant::now();
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if buf.rows >= commit_every || (buf.rows > 0 && last.elapsed() > opts.max_delay) {
            commit(rt, store, known, &opts.photos, &mut buf, &mut written)?;
            last = Instant::now();
        }
    }
    commit(rt, store, known, &opts.photos, &mut buf, &mut written)?;
    Ok(written)
}

/// Commits the buffer in the order the module documentation explains.
fn commit(
    rt: &tokio::runtime::Handle,
    store: &Store,
    known: &KnownFiles,
    photos_t: &Table,
    buf: &mut Buffer,
    written: &mut Written,
) -> Result<()> {
    if !buf.photos.is_empty() {
        // Nested child-table columns (`faces`) go to their own tables.
        let (batch, children) = facet_engine::split_children(arrow::compute::concat_batches(
            &buf.photos[0].schema(),
            buf.photos.iter(),
        )?)?;
        let batch = with_analyzed_at(batch)?;
        let paths: Vec<String> = string_values(&batch, "path");
        // 1. Child rows: a re-analysed photo's replace its earlier ones.
        for c in children {
            rt.block_on(store.delete_in(&c.child.table, c.child.parent, &c.parents))?;
            if c.rows.num_rows() > 0 {
                rt.block_on(store.append(&c.child.table, c.rows))?;
            }
        }
        point!("writer::children_committed");
        // 2. Photos that used to fail and now went through leave `failures`.
        let recovered: Vec<String> = paths
            .iter()
            .filter(|p| known.get(p).is_some_and(|k| k.failed))
            .cloned()
            .collect();
        rt.block_on(store.delete_keys(&facet_schemas::failures(), &recovered))?;
        // 3. The photo rows, last. New paths are appended (no join with the
        // stored rows, so a commit costs the same at any library size).
        let is_new = BooleanArray::from(
            paths
                .iter()
                .map(|p| !known.get(p).is_some_and(|k| k.analysed))
                .collect::<Vec<_>>(),
        );
        let new = arrow::compute::filter_record_batch(&batch, &is_new)?;
        let old = arrow::compute::filter_record_batch(&batch, &arrow::compute::not(&is_new)?)?;
        rt.block_on(store.append(photos_t, new))?;
        rt.block_on(store.upsert(photos_t, old))?;
        for p in &paths {
            known.update(p, |k| {
                k.analysed = true;
                k.failed = false;
            });
        }
        written.analysed += paths.len() as u64;
        buf.photos.clear();
        point!("writer::photos_committed");
    }
    if !buf.failures.is_empty() {
        // A changed photo that now fails must not keep its old results: its
        // rows go first, its failure row is written last.
        let paths: Vec<String> = buf.failures.iter().map(|f| f.path.clone()).collect();
        for c in facet_schemas::child_tables() {
            rt.block_on(store.delete_in(&c.table, c.parent, &paths))?;
        }
        rt.block_on(store.delete_keys(photos_t, &paths))?;
        rt.block_on(store.upsert(&facet_schemas::failures(), failures_batch(&buf.failures)))?;
        for p in &paths {
            known.update(p, |k| {
                k.analysed = false;
                k.failed = true;
            });
        }
        written.failures.append(&mut buf.failures);
    }
    buf.rows = 0;
    buf.reserved.clear();
    Ok(())
}

fn string_values(batch: &RecordBatch, name: &str) -> Vec<String> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .map(|a| a.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The photo rows with `analyzed_at` and their identity across moves,
/// `content_hash` ([`crate::lifecycle::content_hash`], null when the file
/// cannot be read again).
fn with_analyzed_at(batch: RecordBatch) -> Result<RecordBatch> {
    let t = facet_schemas::photos();
    let field = t.column("analyzed_at").expect("declared").field();
    let now = now_ns();
    let col: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..batch.num_rows()).map(|_| now))
            .with_timezone("UTC"),
    );
    let hashes: ArrayRef = Arc::new(StringArray::from(
        string_values(&batch, "path")
            .iter()
            .map(|p| crate::lifecycle::content_hash(std::path::Path::new(p)).ok())
            .collect::<Vec<_>>(),
    ));
    let hash_field = t.column("content_hash").expect("declared").field();
    Ok(facet_engine::with_columns(
        batch,
        vec![field, hash_field],
        vec![col, hashes],
    )?)
}

fn failures_batch(failures: &[Failure]) -> RecordBatch {
    let t = facet_schemas::failures();
    let now = now_ns();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            failures.iter().map(|f| f.path.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            failures.iter().map(|f| f.file_size),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(failures.iter().map(|f| f.file_mtime_ns))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            failures.iter().map(|f| f.stage.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            failures.iter().map(|f| f.reason.as_str()),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(failures.iter().map(|_| now))
                .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(t.schema(), columns).expect("failures batch matches schemas/")
}
