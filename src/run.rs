//! `facet run`: compile the pipeline, run it on the dataflow, and write the
//! results to the store in batched, atomic commits.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use facet_config::FacetConfig;
use facet_engine::Budget;
use facet_engine::runtime::{Output, Progress, RunOptions};
use facet_library::writer::{self, KnownFiles, WriterOptions};
use facet_library::{derive, lifecycle};
use facet_store::Store;

#[derive(Args)]
pub struct RunArgs {
    /// A pipeline file (.yaml) followed by photo folders or files; without a
    /// pipeline file the embedded default (pipelines/cpu.yaml) is used.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Store directory (default: the pipeline's `store`, else ./facet-data).
    #[arg(long)]
    store: Option<PathBuf>,
    /// A VRAM profile instead of a pipeline file: auto (by the VRAM NVML
    /// reports), legacy, 8gb, 16gb, 24gb (pipelines/<profile>.yaml).
    #[arg(long, value_parser = ["auto", "legacy", "8gb", "16gb", "24gb"])]
    profile: Option<String>,
    /// Analyse every photo again, even unchanged ones.
    #[arg(long)]
    pub force: bool,
    /// Dataflow workers (default: processing.num_workers).
    #[arg(long)]
    workers: Option<usize>,
    /// Photos per batch (default: chosen from the memory budget).
    #[arg(long)]
    batch: Option<usize>,
    /// Photos per store commit: a killed run loses at most this much work.
    #[arg(long, default_value_t = 500)]
    commit_every: usize,
    /// Print no progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print machine-readable progress lines (`facet-progress found=…
    /// skipped=… queued=… done=… scanning=0|1`) to stderr twice a second:
    /// the gallery's scans read them.
    #[arg(long, hide = true)]
    progress_lines: bool,
    /// A run over several processes (machines), on timely's cluster mode:
    /// how many take part. Every process is started with the same pipeline,
    /// photo folders (at the same paths), store and --workers.
    #[arg(long, requires_all = ["process", "hosts"])]
    processes: Option<usize>,
    /// This process's number in a cluster run, from 0; process 0 writes the
    /// store and runs the library-wide phases.
    #[arg(long, requires = "processes")]
    process: Option<usize>,
    /// A cluster run's hosts file: one `host:port` per process, in process
    /// order (the same file on every machine).
    #[arg(long, requires = "processes")]
    hosts: Option<PathBuf>,
    /// How long a cluster run's process waits for the others to connect
    /// before it fails, in seconds.
    #[arg(long, requires = "processes", default_value_t = facet_engine::cluster::CONNECT_TIMEOUT.as_secs())]
    connect_timeout: u64,
}

pub fn run(args: RunArgs, config: FacetConfig) -> Result<ExitCode> {
    let (session, roots) = match Session::open(&args, config)? {
        Ok(opened) => opened,
        Err(code) => return Ok(code),
    };
    let bar = Bar::from_args(&args);
    if let Some(cluster) = session.cluster.as_ref().filter(|c| !c.writes()) {
        let (stats, secs) = session.shard_pass(&roots, args.force, bar)?;
        println!(
            "process {} of {}: {} found, {} analysed here and sent to process 0, {} skipped (unchanged), {} for the other processes in {:.1}s",
            cluster.process,
            cluster.processes,
            stats.found,
            stats.queued,
            stats.skipped,
            stats.elsewhere,
            secs
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = session.pass(&roots, &[], args.force, bar)?;
    report.print();
    // Webhooks, actions and plugins: what is due now; what fails waits in
    // the outbox for the next run or `facet watch`.
    session.deliver(Duration::from_secs(30))?;
    Ok(ExitCode::SUCCESS)
}

/// How a pass shows its progress.
#[derive(Clone, Copy)]
pub enum Bar {
    None,
    /// A progress bar when stderr is a terminal.
    Terminal,
    /// `--progress-lines`.
    Lines,
}

/// How a look-up may treat the store's `content_hash` index.
#[derive(Clone, Copy)]
enum Index {
    /// Bring it up to date first (a commit).
    BringUpToDate,
    /// Read it as it is (a cluster's processes other than 0 never write).
    AsItIs,
}

/// A progress display while a pass runs; [`Shown::stop`] ends it.
struct Shown(
    Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
);

impl Shown {
    fn stop(self) {
        if let Some((stop, handle)) = self.0 {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

impl Bar {
    /// Starts showing `progress` as this bar says.
    fn show(self, progress: &Arc<Progress>) -> Shown {
        Shown(match self {
            Bar::Lines => Some(spawn_progress_lines(progress.clone())),
            Bar::Terminal => Some(spawn_progress(progress.clone())),
            Bar::None => None,
        })
    }

    pub fn from_args(args: &RunArgs) -> Bar {
        if args.progress_lines {
            Bar::Lines
        } else if !args.quiet && std::io::stderr().is_terminal() {
            Bar::Terminal
        } else {
            Bar::None
        }
    }
}

/// A compiled pipeline and its open store: what `facet run` sets up once,
/// and `facet watch` keeps for every batch of changes it analyses.
pub struct Session {
    pipeline_name: String,
    plan: facet_engine::Plan,
    store: Arc<Store>,
    rt: tokio::runtime::Runtime,
    config: Arc<FacetConfig>,
    workers: usize,
    batch: Option<usize>,
    commit_every: usize,
    quiet: bool,
    /// Live mode's scores, kept between passes (`facet watch`).
    live: Option<std::cell::RefCell<derive::scores::live::Live>>,
    /// Plugins, webhooks and actions (`plugins` of the configuration).
    plugins: Arc<facet_events::Plugins>,
    /// A cluster run (`--processes`): this process's place in it.
    cluster: Option<facet_engine::Cluster>,
}

/// What one pass over some paths did.
pub struct PassReport {
    stats: facet_engine::runtime::RunStats,
    summary: writer::Written,
    moves: usize,
    missing: lifecycle::Missing,
    rescore: derive::scores::Recomputed,
    groups: derive::groups::Detected,
    people: Option<derive::people::Clustered>,
    /// Event deliveries queued for plugins, webhooks and actions.
    queued: usize,
    secs: f64,
    workers: usize,
    store_dir: PathBuf,
}

impl Session {
    /// Compiles the pipeline `args` name and opens its store; `Err(code)`
    /// when the pipeline has problems (printed) or its models cannot run.
    /// Returns the photo roots too.
    pub fn open(
        args: &RunArgs,
        config: FacetConfig,
    ) -> Result<Result<(Session, Vec<PathBuf>), ExitCode>> {
        let profile = args.profile.as_deref().map(|p| {
            if p == "auto" {
                let (picked, why) = facet_engine::tuning::pick_profile(facet_engine::tuning::gpu());
                eprintln!("profile auto: {picked} ({why})");
                picked
            } else {
                p
            }
        });
        let (pipeline_name, text, dir, roots) = match (profile, args.inputs.first()) {
            (Some(p), _) => {
                // The checkout's pipelines/ when present, else the copy in the binary.
                let file = PathBuf::from(format!("pipelines/{p}.yaml"));
                let text = match std::fs::read_to_string(&file) {
                    Ok(t) => t,
                    Err(_) => crate::PROFILES
                        .iter()
                        .find(|(n, _)| *n == p)
                        .map(|(_, t)| t.to_string())
                        .expect("clap checked the profile"),
                };
                (
                    file.display().to_string(),
                    text,
                    Some(PathBuf::from("pipelines")),
                    args.inputs.clone(),
                )
            }
            (None, first) => match first {
                Some(p)
                    if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) =>
                {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read pipeline {}", p.display()))?;
                    (
                        p.display().to_string(),
                        text,
                        p.parent().map(std::path::Path::to_path_buf),
                        args.inputs[1..].to_vec(),
                    )
                }
                _ => (
                    "pipelines/cpu.yaml (embedded)".to_string(),
                    crate::DEFAULT_PIPELINE.to_string(),
                    None,
                    args.inputs.clone(),
                ),
            },
        };
        if roots.is_empty() {
            bail!("no photo folders given: facet run [PIPELINE.yaml] <folder>…");
        }
        check_roots(&roots)?;
        let plugins = facet_events::Plugins::load(&config)?;
        for w in plugins.warnings() {
            eprintln!("warning: plugins: {w}");
        }
        let registry = facet_stages::registry();
        let plan = match facet_engine::compile_at(&text, dir.as_deref(), &registry, &config) {
            Ok(p) => p,
            Err(diags) => {
                eprintln!("{pipeline_name}: {} problem(s)", diags.len());
                for d in diags {
                    eprintln!("  {pipeline_name}:{d}");
                }
                return Ok(Err(ExitCode::from(2)));
            }
        };
        // Everything the models need, before the first photo.
        let missing = crate::models::missing(Path::new(&pipeline_name), &plan);
        if !missing.is_empty() {
            eprintln!("{pipeline_name}: {} model file(s) missing:", missing.len());
            for m in &missing {
                eprintln!("  {m}");
            }
            return Ok(Err(ExitCode::from(2)));
        }
        let onnx = plan.onnx_stages();
        if !onnx.is_empty()
            && let Err(e) = facet_stages::onnx::runtime::environment()
        {
            eprintln!(
                "{pipeline_name}: stage(s) {} run models on ONNX Runtime, which cannot be loaded: {e}",
                onnx.join(", ")
            );
            return Ok(Err(ExitCode::from(2)));
        }
        let store_dir = args
            .store
            .clone()
            .or(plan.store.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_STORE));
        let cluster = match (args.processes, args.process, &args.hosts) {
            (Some(n), Some(i), Some(hosts)) => {
                let mut c = facet_engine::Cluster::from_hosts_file(hosts, n, i)?;
                c.connect_timeout = std::time::Duration::from_secs(args.connect_timeout);
                Some(c)
            }
            _ => None,
        };
        // Process 0 alone writes the store (and upgrades it); the others
        // read it, to skip what is analysed already.
        let store = Arc::new(match &cluster {
            Some(c) if !c.writes() => open_store_to_read(&store_dir)?,
            _ => crate::open_store(&store_dir)?,
        });
        let rt = tokio::runtime::Runtime::new()?;
        let workers = args.workers.unwrap_or(config.processing.num_workers).max(1);
        Ok(Ok((
            Session {
                pipeline_name,
                plan,
                store,
                rt,
                config: Arc::new(config),
                workers,
                batch: args.batch,
                commit_every: args.commit_every.max(1),
                quiet: args.quiet,
                live: None,
                plugins: Arc::new(plugins),
                cluster,
            },
            roots,
        )))
    }

    /// Keeps the scores' statistics in memory from one pass to the next
    /// (`derive::scores::live`): a watcher's batch of edited or moved photos
    /// then costs what changed, where a one-shot re-score reads the library.
    pub fn go_live(&mut self) {
        self.live = Some(Default::default());
    }

    /// Delivers the outbox's due events for at most `budget`.
    pub fn deliver(&self, budget: Duration) -> Result<()> {
        crate::events::deliver(&self.rt, &self.store, &self.plugins, budget)
    }

    /// The store and plugins, for a delivery loop beside the passes.
    pub fn outbox(&self) -> (Arc<Store>, Arc<facet_events::Plugins>) {
        (self.store.clone(), self.plugins.clone())
    }

    pub fn pipeline_name(&self) -> &str {
        &self.pipeline_name
    }

    pub fn config(&self) -> &FacetConfig {
        &self.config
    }

    pub fn store_dir(&self) -> &std::path::Path {
        self.store.dir()
    }

    /// The dataflow's options for a pass over `roots`, and its workers.
    fn run_options(&self, roots: &[PathBuf]) -> (usize, RunOptions) {
        let (config, plan) = (&self.config, &self.plan);
        // (Every process of a cluster runs the same number of workers.)
        let workers = match &self.cluster {
            Some(_) => self.workers,
            None => workers_for(self.workers, roots),
        };
        // The VRAM that model passes are packed into: the pipeline's, else the GPU's.
        let vram = plan.budget.vram.or_else(|| {
            (!plan.models().is_empty())
                .then(|| facet_engine::tuning::gpu().ok().map(|(_, total)| total))
                .flatten()
        });
        let quiet = self.quiet;
        let opts = RunOptions {
            vram,
            workers,
            store_dir: self.store.dir().to_path_buf(),
            config: config.clone(),
            budget: Budget::from_system(
                config.processing.auto_tuning.memory_limit_percent,
                plan.budget.ram,
            ),
            batch_rows: self.batch,
            tuning: Some(facet_engine::runtime::Tuning {
                probe: {
                    let (probe, _) = facet_engine::tuning::SystemProbe::new();
                    Box::new(probe)
                },
                report: Box::new(move |msg: &str| {
                    if !quiet {
                        eprintln!("{msg}");
                    }
                }),
            }),
            cluster: self.cluster.clone(),
        };
        (workers, opts)
    }

    /// The moves under `roots`: files unknown at their path (`known`) that
    /// are stored photos whose file is gone, walked by the pipeline's own
    /// source with its settings. `index` says whether the `content_hash`
    /// index may be brought up to date (a commit: only the store's writer).
    fn find_moves(
        &self,
        roots: &[PathBuf],
        known: &KnownFiles,
        index: Index,
    ) -> Result<Vec<lifecycle::Move>> {
        let (store, rt) = (&self.store, &self.rt);
        if rt.block_on(store.table_version("photos"))?.is_none() {
            return Ok(Vec::new());
        }
        let files = facet_engine::runtime::list_files(
            &self.plan,
            roots,
            self.config.clone(),
            store.dir().to_path_buf(),
        )?;
        let candidates = lifecycle::move_candidates(files.into_iter().map(|f| f.path), |p| {
            known.get(p).is_some()
        });
        Ok(match index {
            Index::BringUpToDate => rt.block_on(lifecycle::find_moves(store, &candidates))?,
            Index::AsItIs => rt.block_on(lifecycle::find_moves_reading(store, &candidates))?,
        })
    }

    /// A cluster run's process other than 0: analyses its shard of what is
    /// new or changed under `roots` and ships the results to process 0
    /// (`facet_engine::cluster`). It writes nothing: moves are skipped here
    /// (process 0 records them), and the library-wide phases are process 0's.
    pub fn shard_pass(
        &self,
        roots: &[PathBuf],
        force: bool,
        bar: Bar,
    ) -> Result<(facet_engine::runtime::RunStats, f64)> {
        let (store, rt, plan) = (&self.store, &self.rt, &self.plan);
        let started = Instant::now();
        let scanned = absolute_roots(roots);
        let known = rt.block_on(KnownFiles::load(
            store,
            &plan.photos_table(),
            Some(&scanned),
        ))?;
        let moved: std::collections::HashSet<String> = self
            .find_moves(roots, &known, Index::AsItIs)?
            .into_iter()
            .map(|m| m.new)
            .collect();
        let skip = |e: &facet_engine::FileEntry| {
            let path = e.path.to_string_lossy();
            moved.contains(path.as_ref())
                || (!force && known.unchanged(&path, e.size as i64, e.mtime_ns))
        };
        let (_, opts) = self.run_options(roots);
        let progress = Arc::new(Progress::default());
        // Worker 0, in process 0, receives every batch: nothing comes here.
        let (sink_tx, _sink_rx) = crossbeam_channel::unbounded::<Output>();
        let shown = bar.show(&progress);
        let result = facet_engine::runtime::run(plan, roots, opts, &skip, sink_tx, progress);
        shown.stop();
        Ok((result?, started.elapsed().as_secs_f64()))
    }

    /// Analyses what is new or changed under `roots` (folders or files),
    /// follows moved photos, marks the stored photos under `roots` that are
    /// not there any more — and those at or under `gone` (paths a watcher saw
    /// go) — as missing, then brings the library-wide results (scores,
    /// groups, people) up to date. The cost follows what changed.
    pub fn pass(
        &self,
        roots: &[PathBuf],
        gone: &[String],
        force: bool,
        bar: Bar,
    ) -> Result<PassReport> {
        let (store, rt, config, plan) = (&self.store, &self.rt, &self.config, &self.plan);
        let started = Instant::now();
        let mark = crate::events::Mark::now(rt, store)?;
        // What is already analysed (or already failed) and unchanged is skipped:
        // one index of the known paths, read by the skip check, kept by the writer.
        let photos_t = plan.photos_table();
        // Only the rows under the scanned roots (spelled as the scan spells them).
        let scanned = absolute_roots(roots);
        // Moves a killed run journaled are finished first.
        let resumed = rt.block_on(lifecycle::apply_pending(store))?;
        if resumed > 0 {
            eprintln!("finished {resumed} move(s) an earlier run had begun");
        }
        let known = rt.block_on(KnownFiles::load(store, &photos_t, Some(&scanned)))?;
        // Files unknown at their path that are stored photos whose file is gone
        // have moved: their rows follow them, they are not analysed again.
        let moves = if scanned.is_empty() {
            Vec::new()
        } else {
            self.find_moves(roots, &known, Index::BringUpToDate)?
        };
        let known = if moves.is_empty() {
            known
        } else {
            rt.block_on(lifecycle::record_moves(store, &moves))?;
            rt.block_on(lifecycle::refresh_identity(store, &moves))?;
            if let Some(live) = &self.live {
                live.borrow_mut().moves_applied(rt, store)?;
            }
            rt.block_on(KnownFiles::load(store, &photos_t, Some(&scanned)))?
        };
        let found = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
        // Files the store did not know at all: their photos are new (events).
        let fresh = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
        let skip = {
            let known = known.clone();
            let (found, fresh) = (&found, &fresh);
            move |e: &facet_engine::FileEntry| {
                let path = e.path.to_string_lossy();
                found.lock().expect("found lock").insert(path.to_string());
                if known.get(&path).is_none() {
                    fresh.lock().expect("fresh lock").insert(path.to_string());
                }
                !force && known.unchanged(&path, e.size as i64, e.mtime_ns)
            }
        };

        let (workers, opts) = self.run_options(roots);
        let progress = Arc::new(Progress::default());
        let (sink_tx, sink_rx) = crossbeam_channel::bounded::<Output>(workers * 2);
        let writer = writer::spawn(
            rt.handle().clone(),
            store.clone(),
            known,
            sink_rx,
            WriterOptions {
                photos: photos_t.clone(),
                commit_every: self.commit_every,
                max_delay: Duration::from_secs(30),
                budget: opts.budget.clone(),
            },
        );
        let shown = bar.show(&progress);

        let result = if roots.is_empty() {
            drop(sink_tx);
            Ok(facet_engine::runtime::RunStats::default())
        } else {
            facet_engine::runtime::run(plan, roots, opts, &skip, sink_tx, progress.clone())
        };
        let written = writer
            .join()
            .map_err(|_| anyhow::anyhow!("store writer panicked"))?;
        shown.stop();
        let stats = result?;
        let summary = written?;
        // Stored photos under the roots that the scan did not find are missing
        // (not under a folder it could not read); found again, they are not.
        let unsure: Vec<String> = stats
            .scan_issues
            .iter()
            .map(|i| i.path.to_string_lossy().into_owned())
            .collect();
        let mut missing = rt.block_on(lifecycle::mark_missing(
            store,
            &scanned,
            &found.into_inner().expect("found lock"),
            &unsure,
        ))?;
        if !gone.is_empty() {
            let more = rt.block_on(lifecycle::mark_missing(
                store,
                gone,
                &Default::default(),
                &[],
            ))?;
            missing.marked.extend(more.marked);
        }
        // Scores depend on the whole library (normalization): re-score it.
        let rescore = match &self.live {
            Some(live) => {
                let removed: Vec<String> = moves.iter().map(|m| m.old.clone()).collect();
                live.borrow_mut().rescore(rt, store, config, &removed)?
            }
            None => derive::scores::recompute(rt, store, config)?,
        };
        let groups = derive::groups::detect(rt, store, config, false)?;
        // New faces join people (ids, names and manual assignments kept).
        let people = if config.face_clustering.enabled
            && plan
                .stored_columns()
                .iter()
                .any(|f| facet_schemas::child_table(f.name()).is_some())
        {
            Some(derive::people::cluster(rt, store, config, false)?)
        } else {
            None
        };
        let queued = crate::events::emit(
            rt,
            store,
            &self.plugins,
            &mark,
            &fresh.into_inner().expect("fresh lock"),
        )?;
        Ok(PassReport {
            stats,
            summary,
            moves: moves.len(),
            missing,
            rescore,
            groups,
            people,
            queued,
            secs: started.elapsed().as_secs_f64(),
            workers,
            store_dir: store.dir().to_path_buf(),
        })
    }
}

/// The roots as the scan spells the paths under them.
fn absolute_roots(roots: &[PathBuf]) -> Vec<String> {
    roots
        .iter()
        .map(|r| {
            std::path::absolute(r)
                .unwrap_or_else(|_| r.clone())
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// A cluster process's view of the store that process 0 writes: opened as
/// it is, never upgraded here (process 0 upgrades it when it opens it).
fn open_store_to_read(dir: &Path) -> Result<Store> {
    let format = facet_library::upgrade::format_of(dir)
        .with_context(|| format!("opening the store {}", dir.display()))?;
    if let Some(f) = format
        && f != facet_library::upgrade::FORMAT
    {
        bail!(
            "{}: the store is in format {f}, this Facet reads format {}: run process 0 first (it upgrades the store), then this process",
            dir.display(),
            facet_library::upgrade::FORMAT
        );
    }
    Store::open(dir).with_context(|| format!("opening the store {}", dir.display()))
}

/// The dataflow workers a pass over `roots` starts: `configured`, or one per
/// file when every root is a file (a watcher's batch, `facet run a.jpg`):
/// a worker with no photo would only poll its channel for the whole pass
/// (three such workers were half of the CPU time of a one-photo batch).
/// The stored results do not depend on the worker count (tested).
fn workers_for(configured: usize, roots: &[PathBuf]) -> usize {
    if !roots.is_empty() && roots.iter().all(|r| r.is_file()) {
        configured.min(roots.len())
    } else {
        configured
    }
}

/// A root that is gone or unreadable (an unmounted share) is an error,
/// never a library of missing photos.
pub fn check_roots(roots: &[PathBuf]) -> Result<()> {
    for r in roots {
        if !r.exists() {
            bail!(
                "{}: no such file or folder (nothing was analysed or marked missing)",
                r.display()
            );
        }
        if r.is_dir()
            && let Err(e) = std::fs::read_dir(r)
        {
            bail!(
                "{}: cannot read the folder: {e} (nothing was analysed or marked missing)",
                r.display()
            );
        }
    }
    Ok(())
}

impl PassReport {
    /// Photos analysed (or failed) in this pass.
    pub fn analysed(&self) -> u64 {
        self.summary.analysed + self.summary.failures.len() as u64
    }

    /// Whether the pass changed anything stored.
    pub fn changed(&self) -> bool {
        self.analysed() > 0
            || self.moves > 0
            || !self.missing.marked.is_empty()
            || !self.missing.cleared.is_empty()
    }

    /// One line: what a `facet watch` batch did.
    pub fn line(&self) -> String {
        format!(
            "{} analysed, {} failed, {} moved, {} missing, {} found again; {} scored{}; {} burst(s), {} duplicate group(s), {} similar group(s); {:.2}s",
            self.summary.analysed,
            self.summary.failures.len(),
            self.moves,
            self.missing.marked.len(),
            self.missing.cleared.len(),
            self.rescore.scored,
            match &self.rescore.full {
                Some(why) => format!(" (every photo read: {why})"),
                None => String::new(),
            },
            self.groups.bursts,
            self.groups.duplicate_groups,
            self.groups.similar_groups,
            self.secs
        )
    }

    /// The failures, each on its line (at most 50).
    pub fn print_failures(&self) {
        for f in self.summary.failures.iter().take(50) {
            eprintln!("failed: {}: {}: {}", f.path, f.stage, f.reason);
        }
        if self.summary.failures.len() > 50 {
            eprintln!(
                "… and {} more: facet sql \"SELECT path, stage, reason FROM failures\"",
                self.summary.failures.len() - 50
            );
        }
    }

    /// `facet run`'s report.
    pub fn print(&self) {
        let (stats, summary, rescore, groups, secs) = (
            &self.stats,
            &self.summary,
            &self.rescore,
            &self.groups,
            self.secs,
        );
        for issue in &stats.scan_issues {
            eprintln!("warning: {}: {}", issue.path.display(), issue.reason);
        }
        self.print_failures();
        println!(
            "{} found, {} analysed, {} skipped (unchanged), {} failed in {:.1}s ({:.1} photos/s; {} workers, batches of {}, peak reserved {}) -> {}",
            stats.found,
            summary.analysed,
            stats.skipped,
            summary.failures.len(),
            secs,
            self.analysed() as f64 / secs.max(1e-9),
            self.workers,
            stats.batch_rows,
            bytesize(stats.peak_reserved),
            self.store_dir.display()
        );
        if self.moves > 0 || !self.missing.marked.is_empty() || !self.missing.cleared.is_empty() {
            println!(
                "{} moved (kept, not analysed), {} missing (facet prune removes them), {} found again",
                self.moves,
                self.missing.marked.len(),
                self.missing.cleared.len()
            );
        }
        if let Some(p) = stats.passes.as_ref().filter(|p| !p.names.is_empty()) {
            let passes: Vec<String> = p
                .names
                .iter()
                .map(|n| format!("[{}]", n.join(", ")))
                .collect();
            if p.single {
                println!("models: single-pass {} ({})", passes.join(" "), p.why);
            } else {
                println!(
                    "models: multi-pass, {} passes {} ({}); {} model loads over chunks of {}",
                    p.names.len(),
                    passes.join(" -> "),
                    p.why,
                    stats.model_loads,
                    stats.batch_rows
                );
            }
        }
        println!(
            "{} photos scored ({} already current) in {:.2}s; {} burst(s), {} duplicate group(s), {} similarity group(s) in {:.2}s ({} photo(s) looked up)",
            rescore.scored,
            rescore.kept,
            rescore.seconds,
            groups.bursts,
            groups.duplicate_groups,
            groups.similar_groups,
            groups.seconds,
            groups.looked_up
        );
        if let Some(why) = &rescore.full {
            println!("scores: every photo read ({why})");
        }
        match &groups.why_full {
            Some(why) => println!("groups: every photo read ({why})"),
            None => println!("groups: {} photo(s) read", groups.read),
        }
        if let Some(c) = &self.people {
            println!("{}", c.summary());
        }
        if self.queued > 0 {
            println!("plugins: {} event delivery(ies) queued", self.queued);
        }
    }
}

fn bytesize(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// One `facet-progress` line.
fn progress_line(p: &Progress) -> String {
    format!(
        "facet-progress found={} skipped={} queued={} done={} scanning={}",
        p.found.load(Ordering::Relaxed),
        p.skipped.load(Ordering::Relaxed),
        p.queued.load(Ordering::Relaxed),
        p.done.load(Ordering::Relaxed),
        u8::from(p.scan_done.load(Ordering::Relaxed) == 0),
    )
}

/// `--progress-lines`: a line every 500 ms and one at the end.
fn spawn_progress_lines(
    p: Arc<Progress>,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            eprintln!("{}", progress_line(&p));
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("{}", progress_line(&p));
    });
    (stop, handle)
}

fn spawn_progress(
    p: Arc<Progress>,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} photos  {per_sec}  ETA {eta}  {msg}")
                .expect("valid template"),
        );
        while !stop2.load(Ordering::Relaxed) {
            let queued = p.queued.load(Ordering::Relaxed);
            bar.set_length(queued);
            bar.set_position(p.done.load(Ordering::Relaxed));
            let scanning = p.scan_done.load(Ordering::Relaxed) == 0;
            bar.set_message(format!(
                "{}{} skipped",
                if scanning {
                    format!("scanning… {} found, ", p.found.load(Ordering::Relaxed))
                } else {
                    String::new()
                },
                p.skipped.load(Ordering::Relaxed)
            ));
            std::thread::sleep(Duration::from_millis(200));
        }
        bar.finish_and_clear();
    });
    (stop, handle)
}

#[cfg(test)]
mod tests {
    use super::workers_for;

    #[test]
    fn a_pass_over_a_few_files_starts_no_more_workers_than_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"y").unwrap();
        assert_eq!(workers_for(4, std::slice::from_ref(&a)), 1);
        assert_eq!(workers_for(4, &[a.clone(), b.clone()]), 2);
        assert_eq!(workers_for(1, &[a.clone(), b]), 1);
        // A folder may hold any number of photos.
        assert_eq!(workers_for(4, &[a, dir.path().to_path_buf()]), 4);
        assert_eq!(workers_for(4, &[]), 4);
    }
}
