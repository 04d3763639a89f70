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
        // Per-user folders must scope every route before a family's gallery
        // goes on a network; until then, refuse rather than show everyone
        // everything.
        bail!(
            "the configuration has `users` (multi-user mode), which this version of `facet serve` does not support yet: remove `users` and use viewer.password / viewer.edition_password"
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
