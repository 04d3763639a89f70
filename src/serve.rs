//! `facet serve`: the gallery over a store (see `viewer/`).

use std::io::Write;
use std::path::{Path, PathBuf};
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
    /// The pipeline scans started from the gallery run (default: the
    /// embedded one); scans need viewer.features.show_scan_button.
    #[arg(long)]
    pipeline: Option<PathBuf>,
}

/// Scans from the gallery: `facet run` of this binary, as a child process.
struct RunScanner {
    exe: PathBuf,
    config: Option<PathBuf>,
    pipeline: Option<PathBuf>,
    store: PathBuf,
}

impl facet_viewer::scan::Scanner for RunScanner {
    fn command(&self, directories: &[String]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.exe);
        if let Some(config) = &self.config {
            c.arg("--config").arg(config);
        }
        c.arg("run");
        if let Some(p) = &self.pipeline {
            c.arg(p);
        }
        c.args(directories)
            .arg("--store")
            .arg(&self.store)
            .arg("--progress-lines");
        c
    }
}

/// `share_secret` from the configuration; when absent, one is made on this
/// first run and written into the configuration file (other keys kept), or,
/// without a configuration file, kept in the store (`share_secret`, owner
/// read-only), so that sessions and share links outlive the process.
fn share_secret(config_path: Option<&Path>, store: &Path) -> Result<String> {
    let kept = store.join("share_secret");
    if let Some(path) = config_path.filter(|p| p.exists()) {
        let text = std::fs::read_to_string(path)?;
        let mut v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let secret = facet_viewer::auth::new_secret().map_err(anyhow::Error::msg)?;
        v.as_object_mut()
            .context("the configuration is not a JSON object")?
            .insert("share_secret".into(), serde_json::json!(secret));
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&v)? + "\n")?;
        std::fs::rename(&tmp, path)?;
        eprintln!(
            "facet serve: share_secret generated into {}",
            path.display()
        );
        return Ok(secret);
    }
    if let Ok(s) = std::fs::read_to_string(&kept) {
        return Ok(s.trim().to_string());
    }
    let secret = facet_viewer::auth::new_secret().map_err(anyhow::Error::msg)?;
    std::fs::write(&kept, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

pub fn serve(
    args: ServeArgs,
    mut config: FacetConfig,
    config_path: Option<PathBuf>,
) -> Result<ExitCode> {
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
    let config_path =
        config_path.or_else(|| Some(PathBuf::from("scoring_config.json")).filter(|p| p.exists()));
    if config.share_secret.as_deref().is_none_or(str::is_empty) {
        config.share_secret = Some(share_secret(config_path.as_deref(), &dir)?);
    }
    let store = facet_store::Store::open(&dir)?;
    let scanner = RunScanner {
        exe: std::env::current_exe().context("where is this facet binary?")?,
        config: config_path,
        pipeline: args.pipeline.clone(),
        store: store.dir().to_path_buf(),
    };
    let state =
        facet_viewer::AppState::with_scanner(store, &config, Some(std::sync::Arc::new(scanner)));
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(facet_viewer::serve(&args.bind, state, |addr| {
        // One line on stdout, flushed: scripts (and the tests) read the address.
        println!("Facet gallery on http://{addr}/ (Ctrl-C stops)");
        let _ = std::io::stdout().flush();
    }))
    .with_context(|| format!("cannot serve on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}
