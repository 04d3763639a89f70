//! The runtime: photos flow as Arrow batches through the stages on timely
//! dataflow workers, under admission control.
//!
//! The driver (the calling thread) scans, skips unchanged files, cuts the rest
//! into batches and admits a batch only once its estimated memory is reserved
//! from the [`Budget`]; a bounded channel hands admitted batches to the workers.
//! Each worker runs the stage graph as timely operators (branches joined by
//! photo, model stages on threads of their own: see [`crate::operators`])
//! and feeds its timely input only as far as the batches out of its sink
//! allow (timely's `flow_controlled` pattern): one batch in flight per
//! worker, two when a model stage has its own thread and the workers leave
//! a core free (the next is decoded while the model works; see
//! `in_flight`), so memory stays flat for any library size.
//! Finished batches leave through the sink channel, working columns stripped,
//! and the batch's reservation is released.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::{Schema, SchemaRef};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use facet_config::FacetConfig;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Exchange, Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

use crate::cluster::{Cluster, PeerWatch, Shipped};
#[cfg(test)]
use crate::operators::string_column;
use crate::operators::{Graph, Item, Offloads, apply};
use crate::passes::Passes;
use crate::stage::{Found, ScanIssue};
use crate::{Budget, BuildCx, Built, FacetError, Failure, FileEntry, Plan, Stage, StageCx};

/// Options of a run.
pub struct RunOptions {
    pub workers: usize,
    pub store_dir: PathBuf,
    pub config: Arc<FacetConfig>,
    pub budget: Budget,
    /// Rows per batch; `None` = chosen from the budget (and auto-tuned).
    pub batch_rows: Option<usize>,
    /// Auto-tuning (`processing.auto_tuning`), when wanted.
    pub tuning: Option<Tuning>,
    /// The VRAM budget for model passes (the pipeline's `budget.vram`, else
    /// the GPU's memory); `None` without a GPU.
    pub vram: Option<u64>,
    /// A run over several processes (`facet run --processes`): this process
    /// analyses its shard of the photos and ships the results to process 0
    /// (see [`crate::cluster`]); `None` for a local run.
    pub cluster: Option<Cluster>,
}

/// Auto-tuning during a run: where samples come from and where decisions go.
pub struct Tuning {
    pub probe: Box<dyn crate::tuning::Probe>,
    /// Receives each decision and the periodic metrics line.
    pub report: Box<dyn Fn(&str) + Send>,
}

/// What leaves the dataflow: stored columns of the photos that went through, and the failures.
#[derive(Debug, Clone)]
pub struct Output {
    pub photos: RecordBatch,
    pub failures: Vec<Failure>,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files found by the scan.
    pub found: AtomicU64,
    /// Files skipped as unchanged.
    pub skipped: AtomicU64,
    /// Files admitted for analysis (known once the scan ends).
    pub queued: AtomicU64,
    /// Files through the dataflow (analysed or failed).
    pub done: AtomicU64,
    /// 1 once the scan has finished.
    pub scan_done: AtomicU64,
}

/// Summary of a run.
#[derive(Debug, Default)]
pub struct RunStats {
    pub found: u64,
    pub skipped: u64,
    pub queued: u64,
    pub batch_rows: usize,
    pub scan_issues: Vec<ScanIssue>,
    pub peak_reserved: u64,
    /// How the model stages were loaded (`processing.mode`).
    pub passes: Option<Passes>,
    /// Model stages built during the run (multi-pass: per pass and RAM chunk).
    pub model_loads: u64,
    /// Files other processes of a cluster run analyse (their shards).
    pub elsewhere: u64,
    /// Model-file bytes reserved from the memory budget for the run: the
    /// models resident at the worst moment, each once per process (the
    /// workers share the sessions); 0 when they did not fit beside a photo.
    pub model_bytes: u64,
}

type WorkerStages = Vec<(String, Slot)>;

/// A stage on a worker: built for the whole run, or (multi-pass) built when
/// its pass comes and dropped when another pass needs the room; `Away` once
/// an offloaded stage has moved to its own thread (see [`crate::operators`]).
enum Slot {
    Ready(Box<dyn Stage>),
    Lazy(Lazy),
    Away,
}

struct Lazy {
    configured: Arc<dyn crate::Configured>,
    cx: BuildCx,
    hints: crate::stage::BuildHints,
    pass: usize,
    keep: bool,
    loaded: Option<Box<dyn Stage>>,
}

/// A stage that could not be built for this chunk: its rows fail with why.
struct Unbuilt(String);

impl Stage for Unbuilt {
    fn process(
        &mut self,
        _: RecordBatch,
        _: &mut StageCx,
    ) -> Result<RecordBatch, crate::StageError> {
        Err(crate::StageError::Resource(self.0.clone()))
    }
}

/// Makes stage `i` ready: in multi-pass, unloads the models of every other
/// pass (unless kept) and loads stage `i`'s.
fn ready(stages: &mut WorkerStages, i: usize, loads: &AtomicU64) -> Result<Box<dyn Stage>, String> {
    let pass = match &stages[i].1 {
        Slot::Ready(_) | Slot::Away => unreachable!("only lazy stages are readied"),
        Slot::Lazy(l) => l.pass,
    };
    for (j, (name, slot)) in stages.iter_mut().enumerate() {
        if let Slot::Lazy(l) = slot
            && j != i
            && l.pass != pass
            && !l.keep
            && let Some(mut stage) = l.loaded.take()
            && let Err(e) = stage.finish()
        {
            eprintln!("stage `{name}`: {e}");
        }
    }
    let Slot::Lazy(l) = &mut stages[i].1 else {
        unreachable!("checked above")
    };
    match l.loaded.take() {
        Some(stage) => Ok(stage),
        None => match crate::stage::with_build_hints(l.hints, || l.configured.build(&l.cx)) {
            Ok(Built::Transform(t)) => {
                loads.fetch_add(1, Ordering::Relaxed);
                Ok(t)
            }
            Ok(Built::Source(_)) => Err("a source in the middle of the pipeline".into()),
            Err(e) => Err(format!("loading the model: {e}")),
        },
    }
}

/// The auto-tuning loop: samples every `monitor_interval_seconds`, moves the
/// knobs, reports decisions and, every `metrics_print_interval_seconds`, a
/// metrics line.
fn tune(
    t: Tuning,
    cfg: facet_config::AutoTuning,
    chunk: Arc<AtomicUsize>,
    gpu_batch: Arc<AtomicUsize>,
    most: usize,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) {
    let Tuning { mut probe, report } = t;
    // Never above `most` (the smallest `batch:`, the budget), even when the
    // configured minimum chunk is larger.
    let mut tuner = crate::tuning::Tuner::new(
        &cfg,
        crate::tuning::Knobs {
            chunk: chunk.load(Ordering::Relaxed),
            gpu_batch: gpu_batch.load(Ordering::Relaxed),
        },
    )
    .limited(most);
    let interval = std::time::Duration::from_secs_f64(cfg.monitor_interval_seconds.max(0.05));
    let mut last_print = std::time::Instant::now();
    let mut gpu_said = false;
    while !stop.load(Ordering::Relaxed) {
        let wake = std::time::Instant::now() + interval;
        while std::time::Instant::now() < wake {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let s = probe.sample();
        if s.gpu_used_percent.is_none() && !gpu_said {
            report("no GPU: auto-tuning in RAM-only mode");
            gpu_said = true;
        }
        for msg in tuner.observe(s) {
            report(&format!("auto-tuning: {msg}"));
        }
        chunk.store(tuner.knobs.chunk.min(most), Ordering::Relaxed);
        gpu_batch.store(tuner.knobs.gpu_batch, Ordering::Relaxed);
        if last_print.elapsed().as_secs_f64() >= cfg.metrics_print_interval_seconds {
            last_print = std::time::Instant::now();
            report(&format!(
                "metrics: RAM {:.0} %, GPU {}, chunk {}, GPU batch {}, {} photos done",
                s.ram_used_percent,
                s.gpu_used_percent
                    .map_or("-".to_string(), |g| format!("{g:.0} %")),
                chunk.load(Ordering::Relaxed),
                tuner.knobs.gpu_batch,
                progress.done.load(Ordering::Relaxed)
            ));
        }
    }
}

/// The photo files the plan's source finds under `roots`, with its own
/// settings (hidden folders, symbolic links, RAW beside JPEG): what a run
/// over `roots` would consider, for the checks made before it (moved
/// photos). Problems met while walking are left to the run to report.
pub fn list_files(
    plan: &Plan,
    roots: &[PathBuf],
    config: Arc<FacetConfig>,
    store_dir: PathBuf,
) -> Result<Vec<FileEntry>, FacetError> {
    let cx = BuildCx {
        config,
        store_dir,
        image_side: None,
        budget: Budget::new(u64::MAX),
        worker: 0,
        models_dir: plan.models_dir.clone(),
        pipeline_dir: plan.pipeline_dir.clone(),
        gpu_batch: Arc::new(AtomicUsize::new(1)),
    };
    let built = plan
        .source
        .configured
        .build(&cx)
        .map_err(|source| FacetError::Stage {
            stage: plan.source.name.clone(),
            source,
        })?;
    let Built::Source(mut source) = built else {
        return Err(FacetError::Internal(format!(
            "stage `{}` is not a source",
            plan.source.name
        )));
    };
    Ok(source
        .scan(roots)
        .filter_map(|f| match f {
            Found::File(e) => Some(e),
            Found::Issue(_) => None,
        })
        .collect())
}

/// Runs `plan` over `roots`. `skip` says which files are already analysed;
/// results go to `sink`. Returns when every admitted photo has left the dataflow.
pub fn run(
    plan: &Plan,
    roots: &[PathBuf],
    opts: RunOptions,
    skip: &dyn Fn(&FileEntry) -> bool,
    sink: Sender<Output>,
    progress: Arc<Progress>,
) -> Result<RunStats, FacetError> {
    let mut opts = opts;
    let workers = opts.workers.max(1);
    let gpu_batch = Arc::new(AtomicUsize::new(
        opts.config.processing.gpu_batch_size.max(1),
    ));
    let cx = |worker: usize, image_side: Option<u32>| BuildCx {
        config: opts.config.clone(),
        store_dir: opts.store_dir.clone(),
        image_side,
        budget: opts.budget.clone(),
        worker,
        models_dir: plan.models_dir.clone(),
        pipeline_dir: plan.pipeline_dir.clone(),
        gpu_batch: gpu_batch.clone(),
    };
    let stage_err = |stage: &str, source| FacetError::Stage {
        stage: stage.to_string(),
        source,
    };

    // Build everything before the first photo: a missing model fails here.
    let mut source = match plan
        .source
        .configured
        .build(&cx(0, None))
        .map_err(|e| stage_err(&plan.source.name, e))?
    {
        Built::Source(s) => s,
        Built::Transform(_) => {
            return Err(FacetError::Internal(format!(
                "stage `{}` is not a source",
                plan.source.name
            )));
        }
    };
    let passes = crate::passes::plan_passes(
        plan,
        opts.config.processing.mode,
        opts.config.models.keep_in_ram,
        opts.vram,
        opts.budget.total(),
    );
    // What a stage learns beside its context: the workers (model stages
    // divide the cores among them) and its `batch:` (the most rows one
    // inference of its shared model session gathers).
    let hints = |s: &crate::PlannedStage| crate::stage::BuildHints {
        workers: Some(workers),
        batch: s.batch,
    };
    let build = |s: &crate::PlannedStage, w: usize| -> Result<Box<dyn Stage>, FacetError> {
        match crate::stage::with_build_hints(hints(s), || s.configured.build(&cx(w, s.image_side)))
            .map_err(|e| stage_err(&s.name, e))?
        {
            Built::Transform(t) => Ok(t),
            Built::Source(_) => Err(FacetError::Internal(format!(
                "stage `{}` is a second source",
                s.name
            ))),
        }
    };
    if !passes.single {
        // Multi-pass: check every model stage loads before the first photo,
        // one pass at a time, and unload it again.
        for pass in 0..passes.names.len() {
            let loaded: Vec<Box<dyn Stage>> = plan
                .stages
                .iter()
                .zip(&passes.pass_of)
                .filter(|(_, p)| **p == Some(pass))
                .map(|(s, _)| build(s, 0))
                .collect::<Result<_, _>>()?;
            drop(loaded);
        }
    }
    let mut per_worker: Vec<Option<WorkerStages>> = Vec::new();
    for w in 0..workers {
        let mut stages = Vec::new();
        for (i, s) in plan.stages.iter().enumerate() {
            let slot = match passes.pass_of[i] {
                Some(pass) if !passes.single => Slot::Lazy(Lazy {
                    configured: s.configured.clone(),
                    cx: cx(w, s.image_side),
                    hints: hints(s),
                    pass,
                    keep: passes.keep[i],
                    loaded: None,
                }),
                _ => Slot::Ready(build(s, w)?),
            };
            stages.push((s.name.clone(), slot));
        }
        per_worker.push(Some(stages));
    }
    let loads = Arc::new(AtomicU64::new(0));
    let per_worker = Arc::new(Mutex::new(per_worker));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The stage graph, and the stages that run on threads of their own: those
    // that run models, in single-pass (multi-pass keeps one pass in memory
    // at a time, which batches in several passes at once would defeat).
    let graph = Arc::new(Graph::of(plan));
    let offloaded: Arc<Vec<bool>> = Arc::new(
        plan.stages
            .iter()
            .map(|s| {
                let p = s.configured.plan();
                passes.single && !stages_inline() && (!p.models.is_empty() || p.onnx_runtime)
            })
            .collect(),
    );
    let depth = in_flight(offloaded.iter().any(|&o| o), workers, cores);

    // Batch size from the budget: half the budget admits batches (and the
    // writer's buffer), the other half is headroom for decodes larger than
    // the estimate (see `budget`). The models are held for the whole run,
    // once per process (the workers share their sessions): their files'
    // bytes are reserved first, when that leaves room for a photo per worker.
    let per_photo = plan.bytes_per_photo();
    let admit_limit = opts.budget.admission_limit();
    let model_bytes = crate::passes::resident_model_bytes(plan, &passes);
    // (Not with a batch size given: that batch alone may take the whole limit.)
    let models_held = (model_bytes > 0 && opts.batch_rows.is_none())
        .then(|| {
            opts.budget.try_reserve_under(
                model_bytes,
                admit_limit.saturating_sub(per_photo * workers as u64),
            )
        })
        .flatten();
    let admit_for_photos =
        admit_limit.saturating_sub(models_held.as_ref().map_or(0, |r| r.bytes()));
    let by_memory = (admit_for_photos / (per_photo * workers as u64 * 2).max(1)) as usize;
    let worker_batch = worker_batch(plan, workers);
    // Multi-pass: a batch is a RAM chunk, decoded once for every pass.
    let batch_rows = opts.batch_rows.unwrap_or_else(|| {
        if passes.single {
            by_memory.clamp(1, worker_batch.unwrap_or(16))
        } else {
            opts.config
                .processing
                .ram_chunk_size
                .clamp(1, by_memory.max(1))
        }
    });

    // The admitted batch size, moved by the auto-tuner (never above what the
    // memory budget admits).
    let chunk = Arc::new(AtomicUsize::new(batch_rows));
    let stop_tuner = Arc::new(AtomicBool::new(false));
    let tuner = match opts.tuning.take() {
        Some(t) if opts.config.processing.auto_tuning.enabled && opts.batch_rows.is_none() => {
            let cfg = opts.config.processing.auto_tuning.clone();
            let (chunk, gpu_batch, stop, progress) = (
                chunk.clone(),
                gpu_batch.clone(),
                stop_tuner.clone(),
                progress.clone(),
            );
            // The chunk never goes above what the budget admits, nor (in
            // single-pass, where a batch is the stages' batch) above a
            // worker's share of the smallest `batch:` a stage declares:
            // `batch:` is an upper bound.
            let most = if passes.single {
                by_memory.min(worker_batch.unwrap_or(usize::MAX))
            } else {
                by_memory
            }
            .max(1);
            Some(std::thread::spawn(move || {
                tune(t, cfg, chunk, gpu_batch, most, stop, progress)
            }))
        }
        _ => None,
    };

    let (work_tx, work_rx) = crossbeam_channel::bounded::<Item>(workers);
    let cluster = opts.cluster.clone();
    // A cluster run: every process runs `workers` workers; worker 0 (in
    // process 0) receives every finished batch.
    let (config, first_worker) = match &cluster {
        Some(c) => {
            PeerWatch::install();
            (
                timely::Config {
                    communication: timely::CommunicationConfig::Cluster {
                        threads: workers,
                        process: c.process,
                        addresses: c.addresses.clone(),
                        report: false,
                        zerocopy: false,
                    },
                    worker: timely::WorkerConfig::default(),
                },
                c.process * workers,
            )
        }
        None => (timely::Config::process(workers), 0),
    };
    let guards = {
        let per_worker = per_worker.clone();
        let progress = progress.clone();
        let loads = loads.clone();
        let shipping = cluster.is_some();
        // The sink, taken back if the cluster never connects: timely's
        // connecting thread cannot be stopped and keeps `logic`, but the
        // writer must see the sink close to end.
        let sink = Arc::new(Mutex::new(Some(sink)));
        let sink_back = sink.clone();
        let logic = move |worker: &mut timely::worker::Worker| {
            let Some(sink) = sink.lock().expect("sink lock").clone() else {
                return;
            };
            let stages = per_worker.lock().expect("stages lock")[worker.index() - first_worker]
                .take()
                .expect("stages for worker");
            let plan = WorkerPlan {
                stages,
                graph: graph.clone(),
                offloaded: offloaded.clone(),
                depth,
            };
            worker_loop(
                worker,
                plan,
                work_rx.clone(),
                sink,
                progress.clone(),
                loads.clone(),
                shipping,
            )
        };
        let started = match &cluster {
            // timely connects the processes before it starts the workers,
            // retrying for as long as it takes: a process whose peers do not
            // all come gives up after `connect_timeout`.
            Some(c) => {
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::Builder::new()
                    .name("facet-cluster-connect".into())
                    .spawn(move || {
                        let _ = tx.send(timely::execute(config, logic));
                    })
                    .map_err(|e| FacetError::Internal(format!("cannot start a thread: {e}")))?;
                match rx.recv_timeout(c.connect_timeout) {
                    Ok(started) => started,
                    Err(_) => {
                        stop_tuner.store(true, Ordering::Relaxed);
                        sink_back.lock().expect("sink lock").take();
                        return Err(c.unreached());
                    }
                }
            }
            None => timely::execute(config, logic),
        };
        started.map_err(|e| match &cluster {
            Some(_) => FacetError::Cluster(format!("cannot start the cluster's connections: {e}")),
            None => FacetError::Internal(e),
        })?
    };

    let mut stats = RunStats {
        batch_rows,
        model_bytes: models_held.as_ref().map_or(0, |r| r.bytes()),
        passes: Some(passes.clone()),
        ..Default::default()
    };
    let mut pending: Vec<FileEntry> = Vec::new();
    let file_schema = file_schema();
    let mut send_error = None;
    {
        let admit = |entries: &mut Vec<FileEntry>| -> Result<(), FacetError> {
            let bytes = per_photo * entries.len() as u64;
            let reservation = opts
                .budget
                .reserve_under(bytes, admit_limit)
                .map_err(FacetError::Resource)?;
            let batch = file_batch(&file_schema, entries);
            entries.clear();
            let mut item = Item::new(batch, reservation);
            // (A cluster's workers stop when a peer process is lost: the
            // scan stops with them.)
            loop {
                match work_tx.send_timeout(item, Duration::from_millis(100)) {
                    Ok(()) => return Ok(()),
                    Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                        if let Some(c) = &cluster
                            && PeerWatch::lost()
                        {
                            return Err(PeerWatch::error(c));
                        }
                        item = back;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
                        return Err(FacetError::Internal(
                            "dataflow workers stopped early".into(),
                        ));
                    }
                }
            }
        };
        for found in source.scan(roots) {
            match found {
                Found::Issue(issue) => stats.scan_issues.push(issue),
                Found::File(entry) => {
                    stats.found += 1;
                    progress.found.fetch_add(1, Ordering::Relaxed);
                    if skip(&entry) {
                        stats.skipped += 1;
                        progress.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // Another process's shard (it sees the same files).
                    if let Some(c) = &cluster
                        && !c.owns(&entry.path)
                    {
                        stats.elsewhere += 1;
                        continue;
                    }
                    stats.queued += 1;
                    progress.queued.fetch_add(1, Ordering::Relaxed);
                    pending.push(entry);
                    if pending.len() >= chunk.load(Ordering::Relaxed)
                        && let Err(e) = admit(&mut pending)
                    {
                        send_error = Some(e);
                        break;
                    }
                }
            }
        }
        progress.scan_done.store(1, Ordering::Relaxed);
        if send_error.is_none() && !pending.is_empty() {
            send_error = admit(&mut pending).err();
        }
    }
    drop(work_tx);
    // (After a lost peer, timely's guard of the network threads panics as it
    // joins the threads that panicked: that is the loss already reported.)
    let results = match catch_unwind(AssertUnwindSafe(|| guards.join())) {
        Ok(results) => results,
        Err(_) if cluster.is_some() && PeerWatch::lost() => Vec::new(),
        Err(panic) => std::panic::resume_unwind(panic),
    };
    stop_tuner.store(true, Ordering::Relaxed);
    if let Some(t) = tuner {
        let _ = t.join();
    }
    if let Some(c) = &cluster
        && PeerWatch::lost()
    {
        return Err(PeerWatch::error(c));
    }
    for r in results {
        if let Err(e) = r {
            return Err(FacetError::Internal(format!("dataflow worker: {e}")));
        }
    }
    if let Some(e) = send_error {
        return Err(e);
    }
    stats.peak_reserved = opts.budget.peak();
    drop(models_held);
    stats.model_loads = loads.load(Ordering::Relaxed);
    Ok(stats)
}

/// `FACET_SESSION_PER_WORKER=1`: the engine as it was before the workers
/// shared their model sessions — each worker opens its own
/// (`facet_stages::onnx::shared`) and admits a whole `batch:` of its own.
/// The baseline `benches/models.sh` measures against in the same run; not
/// for users.
pub fn session_per_worker() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FACET_SESSION_PER_WORKER").is_some_and(|v| v == "1"))
}

/// A worker's batch: the smallest `batch:` a stage declares (16 with model
/// stages that declare none); `None` — no bound but the budget — without
/// either. With model stages, the workers share each model's session, which
/// gathers their rows into the stage's `batch:`: together they hold one
/// `batch:` of photos, not one each (÷ workers, rounded up), so the photos
/// in flight (most of the memory) do not grow with the workers.
fn worker_batch(plan: &Plan, workers: usize) -> Option<usize> {
    let models = !plan.models().is_empty();
    let stage_batch = match plan.batch_limit() {
        None if !models => return None,
        limit => limit.unwrap_or(16),
    };
    Some(if !models || session_per_worker() {
        stage_batch
    } else {
        stage_batch.div_ceil(workers)
    })
}

/// Batches in flight on one worker: one; two when a stage runs on a thread
/// of its own and the workers leave a core free (one worker: always) — the
/// worker then decodes the next batch while the model works. With a worker
/// per core the other workers keep the cores busy while one waits on a
/// model, and a second batch each would only add memory (measured:
/// `benches/models.sh`, `benches/overlap.sh`).
fn in_flight(offloaded: bool, workers: usize, cores: usize) -> u64 {
    if offloaded && workers < cores.max(2) {
        2
    } else {
        1
    }
}

/// `FACET_STAGES_INLINE=1`: every stage on its worker's thread, one batch
/// in flight per worker — the engine as it was before model stages got
/// threads of their own (see [`crate::operators`]). The baseline
/// `benches/overlap.sh` measures against in the same run; not for users.
pub fn stages_inline() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FACET_STAGES_INLINE").is_some_and(|v| v == "1"))
}

/// What a worker runs: its stages, the graph they form, and which of them
/// run on threads of their own.
struct WorkerPlan {
    stages: WorkerStages,
    graph: Arc<Graph>,
    offloaded: Arc<Vec<bool>>,
    /// Batches in flight on the worker (see [`in_flight`]).
    depth: u64,
}

/// One worker: its stages as timely operators (see [`crate::operators`])
/// over the batches it admits; finished batches go to `sink` — in a cluster
/// run (`shipping`), as Arrow IPC through an `exchange` to worker 0, in
/// process 0, which hands them to its sink (the store's writer).
fn worker_loop(
    worker: &mut timely::worker::Worker,
    plan: WorkerPlan,
    work: Receiver<Item>,
    sink: Sender<Output>,
    progress: Arc<Progress>,
    loads: Arc<AtomicU64>,
    shipping: bool,
) {
    let WorkerPlan {
        stages,
        graph,
        offloaded,
        depth,
    } = plan;
    let mut input: InputHandle<u64, CapacityContainerBuilder<Vec<Item>>> = InputHandle::new();
    // Batches that have left the dataflow on this worker (the local probe).
    let completed = Rc::new(Cell::new(0u64));
    let probe = ProbeHandle::new();
    let stages = Arc::new(Mutex::new(stages));
    let offloads = Rc::new(RefCell::new(Offloads::default()));
    {
        let stages = stages.clone();
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input);
            let stream = crate::operators::build(stream, &graph, |i, stream| {
                if offloaded[i] {
                    let mut guard = stages.lock().expect("stage lock");
                    let name = guard[i].0.clone();
                    if let Slot::Ready(stage) = std::mem::replace(&mut guard[i].1, Slot::Away) {
                        return crate::operators::offload(stream, name, i, stage, &offloads);
                    }
                    unreachable!("only stages built for the whole run are offloaded");
                }
                let stages = stages.clone();
                let loads = loads.clone();
                stream.map(move |item: Item| {
                    let mut guard = stages.lock().expect("stage lock");
                    if let (name, Slot::Ready(stage)) = &mut guard[i] {
                        return apply(name, i, stage.as_mut(), item);
                    }
                    let name = guard[i].0.clone();
                    match ready(&mut guard, i, &loads) {
                        Ok(mut stage) => {
                            let out = apply(&name, i, stage.as_mut(), item);
                            if let Slot::Lazy(l) = &mut guard[i].1 {
                                l.loaded = Some(stage);
                            }
                            out
                        }
                        Err(why) => apply(&name, i, &mut Unbuilt(why), item),
                    }
                })
            });
            let sink = sink.clone();
            let progress = progress.clone();
            let completed = completed.clone();
            // A batch is through when it has left this worker: sent to the
            // sink, or packed for process 0 in a cluster run.
            let through = move |item: &Item| {
                let rows = item.batch.num_rows() + item.failures.len();
                progress.done.fetch_add(rows as u64, Ordering::Relaxed);
                completed.set(completed.get() + 1);
            };
            if shipping {
                stream
                    .map(move |item: Item| {
                        let photos = strip_working_columns(&item.batch);
                        let shipped = Shipped::pack(&photos, item.failures.clone())
                            .expect("Arrow IPC of a valid batch");
                        through(&item);
                        fail::fail_point!("runtime::shipped", |_| {
                            crate::failpoint::hold("runtime::shipped")
                        });
                        shipped
                    })
                    .exchange(|_| 0)
                    .map(move |shipped: Shipped| match shipped.unpack() {
                        Ok((photos, failures)) => {
                            let _ = sink.send(Output { photos, failures });
                        }
                        Err(e) => eprintln!(
                            "internal error (please report): a batch from another process cannot be read: {e}"
                        ),
                    })
                    .probe_with(&probe);
            } else {
                stream
                    .map(move |item: Item| {
                        let photos = strip_working_columns(&item.batch);
                        // The receiver only goes away when the run is being torn down.
                        let _ = sink.send(Output {
                            photos,
                            failures: item.failures.clone(),
                        });
                        through(&item);
                    })
                    .probe_with(&probe);
            }
        });
    }
    // A cluster run whose peer is gone stops here (see `crate::cluster`).
    let lost = || shipping && PeerWatch::lost();
    let abandon = |worker: &mut timely::worker::Worker| {
        for id in worker.installed_dataflows() {
            worker.drop_dataflow(id);
        }
        offloads.borrow_mut().close();
    };
    let mut epoch = 0u64;
    loop {
        // Flow control: a batch enters only while fewer than `depth` are in
        // flight. The global probe would also wait for the other workers'
        // inputs (their epochs advance independently), so the count is the
        // local one of batches out of the sink. Inline stages run as the
        // worker steps; an offloaded stage's thread wakes the worker (its
        // activator) when it hands a batch back.
        let in_flight = epoch - completed.get();
        let next = if in_flight > 0 {
            match work.try_recv() {
                Ok(item) => Some(item),
                Err(TryRecvError::Empty) => {
                    worker.step_or_park(Some(Duration::from_millis(2)));
                    None
                }
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            match work.recv_timeout(Duration::from_millis(50)) {
                Ok(item) => Some(item),
                Err(RecvTimeoutError::Timeout) => {
                    worker.step();
                    None
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
        if let Some(mut item) = next {
            epoch += 1;
            item.seq = epoch;
            input.send(item);
            input.advance_to(epoch);
            while epoch - completed.get() >= depth && !lost() {
                worker.step_or_park(Some(Duration::from_millis(20)));
            }
        }
        if lost() {
            drop(input);
            abandon(worker);
            return;
        }
    }
    drop(input);
    while !probe.done() {
        if lost() {
            abandon(worker);
            return;
        }
        // (Parks until there is work, at most 50 ms: in a cluster run the
        // rest may come from other processes.)
        worker.step_or_park(Some(Duration::from_millis(50)));
    }
    offloads.borrow_mut().close();
    for (name, slot) in stages.lock().expect("stage lock").iter_mut() {
        let stage = match slot {
            Slot::Ready(s) => Some(s),
            Slot::Lazy(l) => l.loaded.as_mut(),
            Slot::Away => None,
        };
        if let Some(stage) = stage
            && let Err(e) = stage.finish()
        {
            eprintln!("stage `{name}`: {e}");
        }
    }
}

/// Drops working columns (`_image`, …): they are never stored.
pub fn strip_working_columns(batch: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.name().starts_with('_'))
        .map(|(i, _)| i)
        .collect();
    batch
        .project(&keep)
        .expect("projection of existing columns")
}

/// Schema of the batches a source produces: the file identity columns.
pub fn file_schema() -> SchemaRef {
    let photos = facet_schemas::photos();
    Arc::new(Schema::new(
        ["path", "file_size", "file_mtime"]
            .iter()
            .map(|n| photos.column(n).expect("file identity column").field())
            .collect::<Vec<_>>(),
    ))
}

fn file_batch(schema: &SchemaRef, entries: &[FileEntry]) -> RecordBatch {
    let paths: ArrayRef = Arc::new(StringArray::from_iter_values(
        entries.iter().map(|e| e.path.to_string_lossy()),
    ));
    let sizes: ArrayRef = Arc::new(Int64Array::from_iter_values(
        entries.iter().map(|e| e.size as i64),
    ));
    let mtimes: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values(entries.iter().map(|e| e.mtime_ns))
            .with_timezone("UTC"),
    );
    RecordBatch::try_new(schema.clone(), vec![paths, sizes, mtimes])
        .expect("file batch matches its schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(bytes: u64) -> Plan {
        let text = format!(
            "version: 1\nstages:\n  f: {{ uses: files }}\n  l: {{ uses: load, after: [f], with: {{ bytes: {bytes} }} }}\n  m: {{ uses: measure, after: [l] }}\n"
        );
        crate::compile(&text, &crate::testkit::registry(), &FacetConfig::default()).unwrap()
    }

    /// Options for a test run: no GPU, batch size from the budget, no tuning.
    fn options(
        dir: &std::path::Path,
        config: FacetConfig,
        budget: u64,
        workers: usize,
    ) -> RunOptions {
        RunOptions {
            vram: None,
            workers,
            store_dir: dir.into(),
            config: Arc::new(config),
            budget: Budget::new(budget),
            batch_rows: None,
            tuning: None,
            cluster: None,
        }
    }

    fn run_dir(names: &[&str], budget: u64, workers: usize) -> (RunStats, Vec<Output>) {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let opts = options(dir.path(), FacetConfig::default(), budget, workers);
        let skip = |e: &FileEntry| e.path.to_string_lossy().ends_with("skip");
        let stats = run(
            &plan(100_000),
            &[dir.path().to_path_buf()],
            opts,
            &skip,
            tx,
            Arc::new(Progress::default()),
        )
        .unwrap();
        (stats, rx.into_iter().collect())
    }

    /// Runs `plan` over the files of `dir` (none skipped): the stats and
    /// what came out.
    fn run_plan(plan: &Plan, dir: &std::path::Path, opts: RunOptions) -> (RunStats, Vec<Output>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = run(
            plan,
            &[dir.to_path_buf()],
            opts,
            &|_| false,
            tx,
            Arc::new(Progress::default()),
        )
        .unwrap();
        (stats, rx.into_iter().collect())
    }

    /// Runs 10 files through two model stages in `mode`; the photos out (by
    /// path, sorted) and the stats. Model builds land in `testkit::MODEL_BUILDS`.
    fn run_models(
        mode: facet_config::ProcessingMode,
        keep: facet_config::KeepInRam,
        tag: &str,
    ) -> (RunStats, Vec<(String, i64, i64)>) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("p{i}")), vec![1u8; i + 1]).unwrap();
        }
        let text = format!(
            "version: 1\nstages:\n  f: {{ uses: files }}\n  l: {{ uses: load, after: [f], with: {{ bytes: 3 }} }}\n  a: {{ uses: model, after: [l], with: {{ column: a_{tag}, model: a.onnx }} }}\n  b: {{ uses: model, after: [a], with: {{ column: b_{tag}, model: b.onnx }} }}\n"
        );
        let plan =
            crate::compile(&text, &crate::testkit::registry(), &FacetConfig::default()).unwrap();
        let mut config = FacetConfig::default();
        config.processing.mode = mode;
        config.processing.ram_chunk_size = 4;
        config.models.keep_in_ram = keep;
        let (stats, outs) = run_plan(&plan, dir.path(), options(dir.path(), config, 1 << 30, 1));
        let mut rows = Vec::new();
        for o in outs {
            let b = &o.photos;
            let paths = string_column(b, "path").unwrap();
            let col = |n: &str| {
                b.column_by_name(n)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone()
            };
            let (a, bb) = (col(&format!("a_{tag}")), col(&format!("b_{tag}")));
            for r in 0..b.num_rows() {
                rows.push((
                    paths.value(r).rsplit('/').next().unwrap().to_string(),
                    a.value(r),
                    bb.value(r),
                ));
            }
        }
        rows.sort();
        (stats, rows)
    }

    fn builds(tag: &str) -> usize {
        crate::testkit::MODEL_BUILDS
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.ends_with(tag))
            .count()
    }

    #[test]
    fn multi_pass_loads_each_pass_per_chunk_and_gives_the_single_pass_results() {
        use facet_config::{KeepInRam, ProcessingMode};
        let (single, single_rows) = run_models(ProcessingMode::SinglePass, KeepInRam::Never, "s");
        let p = single.passes.unwrap();
        assert!(p.single, "{p:?}");
        assert_eq!(single.model_loads, 0);
        // one build per stage (and worker) for the whole run
        assert_eq!(builds("_s"), 2);

        let (multi, multi_rows) = run_models(ProcessingMode::MultiPass, KeepInRam::Never, "m");
        let p = multi.passes.unwrap();
        assert!(!p.single);
        assert_eq!(p.names, vec![vec!["a"], vec!["b"]]);
        assert_eq!(multi.batch_rows, 4, "a batch is a RAM chunk");
        // 10 photos in chunks of 4: 3 chunks, each loads pass a then pass b.
        assert_eq!(multi.model_loads, 6);
        // and one check of each model before the first photo
        assert_eq!(builds("_m"), 8);
        assert_eq!(multi_rows, single_rows);
        assert_eq!(multi_rows.len(), 10);
        assert_eq!(multi_rows[0], ("p0".to_string(), 2, 2));
        assert_eq!(multi_rows[9], ("p9".to_string(), 20, 20));

        // keep_in_ram keeps CPU models loaded between chunks: one load each.
        let (kept, kept_rows) = run_models(ProcessingMode::MultiPass, KeepInRam::Always, "k");
        assert_eq!(kept.model_loads, 2);
        assert_eq!(kept_rows, single_rows);
    }

    /// A machine whose RAM is always over the limit, without a GPU.
    struct Full;
    impl crate::tuning::Probe for Full {
        fn sample(&mut self) -> crate::tuning::Sample {
            crate::tuning::Sample {
                ram_used_percent: 99.0,
                gpu_used_percent: None,
            }
        }
    }

    #[test]
    fn the_auto_tuner_reports_and_shrinks_batches_during_a_run() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..120 {
            std::fs::write(dir.path().join(format!("p{i:03}")), b"x").unwrap();
        }
        let mut config = FacetConfig::default();
        config.processing.auto_tuning.monitor_interval_seconds = 0.05;
        config.processing.auto_tuning.min_ram_chunk_size = 1;
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let opts = RunOptions {
            tuning: Some(Tuning {
                probe: Box::new(Full),
                report: {
                    let said = said.clone();
                    Box::new(move |m: &str| said.lock().unwrap().push(m.to_string()))
                },
            }),
            ..options(dir.path(), config, 1 << 30, 1)
        };
        // A slow consumer keeps the run going long enough to be sampled.
        let (tx, rx) = crossbeam_channel::bounded::<Output>(1);
        let consumer = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            for o in rx {
                sizes.push(o.photos.num_rows() + o.failures.len());
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
            sizes
        });
        let stats = run(
            &plan(1000),
            &[dir.path().to_path_buf()],
            opts,
            &|_: &FileEntry| false,
            tx,
            Arc::new(Progress::default()),
        )
        .unwrap();
        let sizes = consumer.join().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 120);
        let said = said.lock().unwrap().clone();
        assert_eq!(
            said.iter().filter(|m| m.contains("RAM-only mode")).count(),
            1,
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|m| m.starts_with("auto-tuning: RAM 99 % > 85 %: chunk")),
            "{said:?}"
        );
        // Later batches are smaller than the first.
        assert!(sizes.last().unwrap() < &stats.batch_rows, "{sizes:?}");
    }

    #[test]
    fn every_photo_comes_out_once_and_failures_do_not_stop_the_run() {
        let names: Vec<String> = (0..40)
            .map(|i| format!("p{i:02}"))
            .chain(["x.bad".into(), "y.skip".into(), "z.panic".into()])
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (stats, outs) = run_dir(&refs, 1 << 30, 3);
        assert_eq!((stats.found, stats.skipped, stats.queued), (43, 1, 42));
        let mut paths: Vec<String> = outs
            .iter()
            .flat_map(|o| {
                o.photos
                    .column_by_name("path")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .iter()
                    .map(|p| p.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        paths.sort();
        let failures: Vec<&Failure> = outs.iter().flat_map(|o| o.failures.iter()).collect();
        assert!(
            failures
                .iter()
                .any(|f| f.path.ends_with("x.bad") && f.stage == "l" && f.reason == "bad input")
        );
        assert!(failures.iter().any(|f| f.path.ends_with("z.panic")
            && f.stage == "m"
            && f.reason.contains("panic: boom")));
        // Rows batched with the panicking photo fail with it; every photo is accounted for once.
        assert_eq!(paths.len() + failures.len(), 42);
        let mut all: Vec<String> = paths
            .iter()
            .cloned()
            .chain(failures.iter().map(|f| f.path.clone()))
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 42);
        for o in &outs {
            assert!(
                o.photos
                    .schema()
                    .fields()
                    .iter()
                    .all(|f| !f.name().starts_with('_')),
                "working columns are stripped"
            );
            if o.photos.num_rows() > 0 {
                assert!(o.photos.column_by_name("size").is_some());
            }
        }
    }

    /// With a model stage, the workers' batches together make one `batch:`
    /// (its shared session gathers them): the photos in flight do not grow
    /// with the workers.
    #[test]
    fn the_workers_share_a_model_stages_batch() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..12 {
            std::fs::write(dir.path().join(format!("p{i:02}")), vec![1u8; i + 1]).unwrap();
        }
        let text = "version: 1\nstages:\n  f: { uses: files }\n  l: { uses: load, after: [f], with: { bytes: 3 } }\n  a: { uses: model, after: [l], batch: 4, with: { column: a_share, model: a.onnx } }\n";
        for (workers, each) in [(1, 4), (2, 2), (3, 2), (4, 1)] {
            let plan =
                crate::compile(text, &crate::testkit::registry(), &FacetConfig::default()).unwrap();
            let (tx, rx) = crossbeam_channel::unbounded();
            let stats = run(
                &plan,
                &[dir.path().to_path_buf()],
                options(dir.path(), FacetConfig::default(), 1 << 30, workers),
                &|_| false,
                tx,
                Arc::new(Progress::default()),
            )
            .unwrap();
            assert_eq!(stats.batch_rows, each, "{workers} workers");
            let outs: Vec<Output> = rx.into_iter().collect();
            assert!(outs.iter().all(|o| o.photos.num_rows() <= each));
            assert_eq!(outs.iter().map(|o| o.photos.num_rows()).sum::<usize>(), 12);
        }
    }

    /// Three processes of a cluster run (threads here, each with its own
    /// timely cluster endpoint on loopback): every photo is analysed by
    /// exactly one of them, and every result reaches process 0's sink.
    #[test]
    fn a_cluster_of_three_analyses_each_photo_once_and_process_0_receives_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut names: Vec<String> = (0..60).map(|i| format!("p{i:02}")).collect();
        names.push("old.skip".into());
        for n in &names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let addresses: Vec<String> = (0..3)
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                format!("127.0.0.1:{}", l.local_addr().unwrap().port())
            })
            .collect();
        let runs: Vec<_> = (0..3)
            .map(|process| {
                let (root, addresses) = (dir.path().to_path_buf(), addresses.clone());
                std::thread::spawn(move || {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    let opts = RunOptions {
                        batch_rows: Some(2),
                        cluster: Some(Cluster::new(addresses, 3, process).unwrap()),
                        ..options(&root, FacetConfig::default(), 1 << 30, 2)
                    };
                    let skip = |e: &FileEntry| e.path.to_string_lossy().ends_with("skip");
                    let stats = run(
                        &plan(100_000),
                        std::slice::from_ref(&root),
                        opts,
                        &skip,
                        tx,
                        Arc::new(Progress::default()),
                    )
                    .unwrap();
                    (stats, rx.into_iter().collect::<Vec<Output>>())
                })
            })
            .collect();
        let runs: Vec<(RunStats, Vec<Output>)> =
            runs.into_iter().map(|h| h.join().unwrap()).collect();
        for (i, (stats, outs)) in runs.iter().enumerate() {
            assert_eq!((stats.found, stats.skipped), (61, 1), "process {i}");
            assert_eq!(stats.queued + stats.elsewhere, 60, "process {i}");
            assert!(
                stats.queued > 5,
                "process {i} had a shard: {}",
                stats.queued
            );
            if i > 0 {
                assert!(outs.is_empty(), "only process 0 receives results");
            }
        }
        assert_eq!(runs.iter().map(|(s, _)| s.queued).sum::<u64>(), 60);
        let mut paths: Vec<String> = runs[0]
            .1
            .iter()
            .flat_map(|o| {
                let p = o.photos.column_by_name("path").unwrap();
                let p = p.as_any().downcast_ref::<StringArray>().unwrap();
                assert!(o.photos.column_by_name("size").is_some(), "stages ran");
                p.iter().map(|p| p.unwrap().to_string()).collect::<Vec<_>>()
            })
            .collect();
        paths.sort();
        let mut want: Vec<String> = names[..60]
            .iter()
            .map(|n| dir.path().join(n).to_string_lossy().into_owned())
            .collect();
        want.sort();
        assert_eq!(paths, want);
    }

    #[test]
    fn memory_stays_within_the_budget() {
        // 100 kB per photo, 2 MB budget: half admits batches, so at most 10 photos in flight.
        let names: Vec<String> = (0..200).map(|i| format!("p{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (stats, outs) = run_dir(&refs, 2_000_000, 2);
        let rows: usize = outs.iter().map(|o| o.photos.num_rows()).sum();
        assert_eq!(rows, 200);
        assert!(
            stats.peak_reserved <= 1_000_000,
            "peak {}",
            stats.peak_reserved
        );
        assert!(
            stats.batch_rows >= 1 && stats.batch_rows <= 2,
            "batch {}",
            stats.batch_rows
        );
    }

    /// Column names, rows (every value, by path), failures (path, stage).
    type RunOut = (Vec<String>, Vec<Vec<String>>, Vec<(String, String)>);

    /// Runs pipeline `text` over files `names` with `workers` workers and
    /// two photos per batch: the column names of what came out, its rows
    /// (every value, by path) and the failures (path, stage).
    fn run_text(text: &str, names: &[&str], workers: usize) -> RunOut {
        let plan =
            crate::compile(text, &crate::testkit::registry(), &FacetConfig::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            std::fs::write(dir.path().join(n), n.as_bytes()).unwrap();
        }
        let mut opts = options(dir.path(), FacetConfig::default(), 1 << 30, workers);
        opts.batch_rows = Some(2);
        let (_, outs) = run_plan(&plan, dir.path(), opts);
        let base = |p: &str| p.rsplit('/').next().unwrap().to_string();
        let (mut columns, mut rows, mut failures) = (None, Vec::new(), Vec::new());
        for o in outs {
            failures.extend(o.failures.iter().map(|f| (base(&f.path), f.stage.clone())));
            let b = &o.photos;
            if b.num_rows() == 0 {
                continue;
            }
            let names: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(columns.get_or_insert(names.clone()), &names);
            let paths = string_column(b, "path").unwrap();
            for r in 0..b.num_rows() {
                let mut row = vec![base(paths.value(r))];
                row.extend(
                    b.columns()
                        .iter()
                        .filter(|c| c.data_type() != &arrow_schema::DataType::Utf8)
                        .map(|c| format!("{:?}", c.slice(r, 1))),
                );
                rows.push(row);
            }
        }
        rows.sort();
        failures.sort();
        (columns.unwrap_or_default(), rows, failures)
    }

    #[test]
    fn branches_are_operators_of_their_own_and_meet_again_by_photo() {
        // Two branches from `l` (a model stage that fails `…x`, and
        // `measure`) joined by `c`; `b` branches from the source and fails
        // `…y` and `…bad` (which `l` fails too).
        let stages = [
            ("l", "load", "[f]", "{ bytes: 3 }"),
            ("a", "model", "[l]", "{ column: a, model: a.onnx, fail: x }"),
            ("m", "measure", "[l]", "{}"),
            (
                "b",
                "model",
                "[f]",
                "{ column: b, model: b.onnx, fail: bad }",
            ),
            ("c", "model", "[a, m]", "{ column: c, model: c.onnx }"),
        ];
        let mut text = "version: 1\nstages:\n  f: { uses: files }\n".to_string();
        for (name, uses, after, with) in stages {
            text += &format!("  {name}: {{ uses: {uses}, after: {after}, with: {with} }}\n");
        }
        let plan =
            crate::compile(&text, &crate::testkit::registry(), &FacetConfig::default()).unwrap();
        let graph = Graph::of(&plan);
        let order: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        let at = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert_eq!(
            graph.parents[at("c")],
            vec![at("a").min(at("m")), at("a").max(at("m"))]
        );
        assert!(graph.parents[at("b")].is_empty());
        let mut leaves = vec![at("b"), at("c")];
        leaves.sort();
        assert_eq!(graph.leaves, leaves);
        // The same stages as one chain, in the plan's order.
        let mut chain = "version: 1\nstages:\n  f: { uses: files }\n".to_string();
        let mut prev = "f";
        for name in &order {
            let (_, uses, _, with) = stages.iter().find(|s| s.0 == *name).unwrap();
            chain += &format!("  {name}: {{ uses: {uses}, after: [{prev}], with: {with} }}\n");
            prev = name;
        }
        let names = ["p1", "p2bad", "p3x", "p4", "p5", "p6x", "p7", "p8bad", "p9"];
        let (chain_columns, chain_rows, chain_failures) = run_text(&chain, &names, 1);
        assert_eq!(chain_rows.len(), 5);
        for workers in [1, 3] {
            let (columns, rows, failures) = run_text(&text, &names, workers);
            assert_eq!(columns, chain_columns, "{workers} workers");
            assert_eq!(rows, chain_rows, "{workers} workers");
            assert_eq!(failures, chain_failures, "{workers} workers");
        }
        let stage_of = |p: &str| {
            chain_failures
                .iter()
                .find(|(f, _)| f == p)
                .map(|(_, s)| s.clone())
        };
        // `…bad` fails at `l` and at `b`: the failure kept is the first in
        // the plan's order, as in the chain.
        let first_bad = if at("l") < at("b") { "l" } else { "b" };
        assert_eq!(stage_of("p2bad").as_deref(), Some(first_bad));
        assert_eq!(stage_of("p3x").as_deref(), Some("a"));
        assert_eq!(chain_failures.len(), 4);
    }

    #[test]
    fn a_second_batch_enters_only_with_a_model_stage_and_a_free_core() {
        assert_eq!(in_flight(false, 1, 8), 1);
        assert_eq!(in_flight(true, 1, 1), 2);
        assert_eq!(in_flight(true, 1, 2), 2);
        assert_eq!(in_flight(true, 2, 2), 1);
        assert_eq!(in_flight(true, 3, 8), 2);
        assert_eq!(in_flight(true, 8, 8), 1);
    }

    #[test]
    fn a_batch_is_loaded_while_the_previous_one_is_in_a_model_stage() {
        // `a` holds its first batch until `l` has loaded another one: only
        // a worker that goes on while its model stage works lets it through
        // at once (a worker blocked in `a` would wait the stage's 20 s out).
        let text = "version: 1\nstages:\n  f: { uses: files }\n  l: { uses: load, after: [f], with: { bytes: 3, count_as: overlap } }\n  a: { uses: model, after: [l], with: { column: a, model: a.onnx, await_load: overlap } }\n";
        let (_, rows, failures) = run_text(text, &["p1", "p2", "p3", "p4", "p5"], 1);
        assert_eq!(rows.len(), 5);
        assert!(failures.is_empty(), "{failures:?}");
        let seen = crate::testkit::OVERLAPPED.lock().unwrap().clone();
        assert_eq!(seen, vec![("overlap".to_string(), true)]);
    }
}
