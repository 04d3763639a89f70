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
    let (session, roots) = match Session::open(&args.run, config)? {
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
