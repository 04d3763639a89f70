//! `facet watch`: live mode. One pass over the folders as `facet run` makes
//! it, then every batch of changes the watcher gathers (new, edited, moved
//! and deleted photos; `facet_library::watch`) goes through the same
//! incremental pass in this process, with the pipeline compiled and the
//! store open once: new photos are analysed, moved ones keep their rows,
//! deleted ones are marked missing, and the scores, groups and people are
//! brought up to date. A `facet serve` on the same store shows each batch
//! on its next request.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use facet_config::FacetConfig;
use facet_library::watch::{Mode, Watcher};

use crate::run::{Bar, RunArgs, Session};

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Compare the folders every SECS seconds instead of listening to the
    /// system's notifications (for network shares, where changes made by
    /// other machines send none).
    #[arg(long, value_name = "SECS")]
    poll: Option<f64>,
    /// Milliseconds the folders must stay quiet before a batch is analysed
    /// (a copy in progress keeps writing).
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
}

pub fn watch(args: WatchArgs, config: FacetConfig) -> Result<ExitCode> {
    let (mut session, roots) = match Session::open(&args.run, config)? {
        Ok(opened) => opened,
        Err(code) => return Ok(code),
    };
    let roots: Vec<PathBuf> = roots
        .iter()
        .map(|r| std::path::absolute(r).unwrap_or_else(|_| r.clone()))
        .collect();
    let mode = match args.poll {
        Some(secs) if secs > 0.0 => Mode::Poll(Duration::from_secs_f64(secs)),
        Some(secs) => anyhow::bail!("--poll {secs}: the interval must be positive"),
        None => Mode::Native,
    };
    session.go_live();
    // Watching starts before the first pass: nothing written meanwhile is missed.
    let store_dir = std::path::absolute(session.store_dir())?;
    let watcher = Watcher::new(
        &roots,
        mode,
        session.config().scanning.skip_hidden_directories,
        &[store_dir],
    )?;
    let first = session.pass(&roots, &[], args.run.force, Bar::from_args(&args.run))?;
    first.print();
    // Webhooks, actions and plugins are delivered beside the batches, so a
    // slow receiver never holds back the analysis; a failed delivery is
    // retried from the outbox with backoff.
    let _delivery = spawn_delivery(&session)?;
    println!(
        "watching {} with {} ({}); Ctrl-C stops",
        roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        session.pipeline_name(),
        match mode {
            Mode::Native => "notifications".to_string(),
            Mode::Poll(d) => format!("compared every {:.1}s", d.as_secs_f64()),
        }
    );
    let stop = AtomicBool::new(false);
    let settle = Duration::from_millis(args.settle_ms);
    while let Some(batch) = watcher.next_batch(settle, settle * 10, &stop)? {
        let started = Instant::now();
        if !batch.root_lost.is_empty() {
            // An unmounted share: its photos are not deleted.
            eprintln!(
                "watch: {} gone (unmounted?): nothing is marked missing until it is back",
                batch
                    .root_lost
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let (present, gone) = if batch.rescan {
            eprintln!("watch: events were lost; looking at every folder again");
            let here: Vec<PathBuf> = roots.iter().filter(|r| r.is_dir()).cloned().collect();
            (here, Vec::new())
        } else if batch.root_lost.is_empty() {
            (batch.present, batch.gone)
        } else {
            (batch.present, Vec::new())
        };
        if present.is_empty() && gone.is_empty() {
            continue;
        }
        let report = session.pass(&present, &gone, false, Bar::None)?;
        report.print_failures();
        if report.changed() {
            println!(
                "watch: {} path(s) changed, {} gone: {} (batch {:.2}s)",
                present.len(),
                gone.len(),
                report.line(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A thread that delivers the outbox's due events every two seconds until
/// dropped (stopped then, between two deliveries).
struct Delivery {
    stop: std::sync::Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn spawn_delivery(session: &Session) -> Result<Option<Delivery>> {
    let (store, plugins) = session.outbox();
    if !plugins.enabled() {
        return Ok(None);
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("facet-delivery".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Runtime::new() else {
                    eprintln!("plugins: cannot start the delivery thread's runtime");
                    return;
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Err(e) =
                        crate::events::deliver(&rt, &store, &plugins, Duration::from_secs(5))
                    {
                        eprintln!("plugins: delivery: {e:#}");
                    }
                    for _ in 0..20 {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })?
    };
    Ok(Some(Delivery {
        stop,
        handle: Some(handle),
    }))
}
