//! `facet serve`: the gallery over a store (see `viewer/`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use facet_config::FacetConfig;

#[derive(Args)]
pub struct ServeArgs {
    /// The store to browse (default ./facet-data).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:5000")]
    bind: String,
}

pub fn serve(args: ServeArgs, config: FacetConfig) -> Result<ExitCode> {
    let dir = args
        .store
        .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_STORE));
    if !dir.is_dir() {
        bail!(
            "no store at {}: `facet run <photos>` creates it (or pass --store DIR)",
            dir.display()
        );
    }
    if config.users.enabled() {
        let no_folders: Vec<&String> = config
            .users
            .users
            .iter()
            .filter(|(_, u)| u.directories.is_empty())
            .map(|(n, _)| n)
            .collect();
        if !no_folders.is_empty() && config.users.shared_directories.is_empty() {
            eprintln!(
                "facet serve: users {no_folders:?} have no directories and there are no shared_directories: they will see no photos"
            );
        }
        eprintln!(
            "facet serve: multi-user mode ({} users); viewer.password and viewer.edition_password are ignored",
            config.users.users.len()
        );
    }
    let store = facet_store::Store::open(&dir)?;
    let state = facet_viewer::AppState::new(store, &config);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(facet_viewer::serve(&args.bind, state, |addr| {
        // One line on stdout, flushed: scripts (and the tests) read the address.
        println!("Facet gallery on http://{addr}/ (Ctrl-C stops)");
        let _ = std::io::stdout().flush();
    }))
    .with_context(|| format!("cannot serve on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}
