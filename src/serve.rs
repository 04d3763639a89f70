//! `facet serve`: the gallery over a store (see `viewer/`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use facet_config::FacetConfig;
use facet_viewer::search::TextSearch;

#[derive(Args)]
pub struct ServeArgs {
    /// The store to browse (default ./facet-data).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:5000")]
    bind: String,
    /// The pipeline the store was analysed with: scans started from the
    /// gallery (viewer.features.show_scan_button) run it (default: the
    /// embedded one), and its `zero_shot_tags` stage's text model and
    /// tokenizer give semantic text search (`/api/search`; without it, none).
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Live mode beside the gallery: `facet watch` (with `--pipeline`, else
    /// the embedded one) on these folders, as a child process, so that new,
    /// moved and deleted photos show within seconds.
    #[arg(long, value_name = "FOLDER", num_args = 1..)]
    watch: Vec<PathBuf>,
}

/// The text tower of `pipeline`'s `zero_shot_tags` stage (the first), with
/// its model files resolved as `facet run` resolves them; `None` (and a
/// note on stderr) when the pipeline has no such stage.
fn text_search(pipeline: &Path, config: &FacetConfig) -> Result<Option<TextSearch>> {
    use facet_stages::zero_shot::ZeroShotConfig;
    let text = std::fs::read_to_string(pipeline)
        .with_context(|| format!("cannot read pipeline {}", pipeline.display()))?;
    let registry = facet_stages::registry();
    let plan = match facet_engine::compile_at(&text, pipeline.parent(), &registry, config) {
        Ok(p) => p,
        Err(diags) => {
            let all: Vec<String> = diags
                .iter()
                .map(|d| format!("  {}:{d}", pipeline.display()))
                .collect();
            bail!(
                "{}: {} problem(s)\n{}",
                pipeline.display(),
                diags.len(),
                all.join("\n")
            );
        }
    };
    let Some(stage) = plan.stages.iter().find(|s| s.uses == "zero_shot_tags") else {
        eprintln!(
            "{}: no zero_shot_tags stage, so no text encoder: semantic search is off",
            pipeline.display()
        );
        return Ok(None);
    };
    let spec: facet_engine::spec::PipelineSpec =
        serde_yaml::from_str(&text).with_context(|| format!("{}", pipeline.display()))?;
    let with = spec
        .stages
        .get(&stage.name)
        .and_then(|s| s.get("with"))
        .cloned()
        .unwrap_or_default();
    let cfg: ZeroShotConfig = serde_yaml::from_value(with)
        .with_context(|| format!("{}: stages.{}.with", pipeline.display(), stage.name))?;
    let file = |field: &str| -> Result<PathBuf> {
        let m = stage
            .configured
            .plan()
            .models
            .iter()
            .find(|m| m.field == field)
            .with_context(|| format!("stages.{}: no {field}", stage.name))?;
        if !m.path.is_file() {
            bail!(
                "{}: stages.{}.{field}: file not found: {}",
                pipeline.display(),
                stage.name,
                m.path.display()
            );
        }
        Ok(m.path.clone())
    };
    let (model, tokenizer) = (file("with.text_model")?, file("with.tokenizer")?);
    facet_stages::onnx::runtime::environment().map_err(|e| {
        anyhow::anyhow!(
            "semantic search runs the text model on ONNX Runtime, which cannot be loaded: {e}"
        )
    })?;
    let encoder = facet_stages::onnx::text::TextEncoder::open(
        &model,
        &tokenizer,
        &cfg.text_inputs(),
        cfg.provider,
        1,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
    Ok(Some(TextSearch::new(
        encoder,
        cfg.embedding.clone(),
        cfg.prompt.clone(),
        format!("{} (stage {})", pipeline.display(), stage.name),
    )))
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

/// `facet watch` as a child of the gallery; killed when dropped.
struct Watching(std::process::Child);

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_watch(
    folders: &[PathBuf],
    pipeline: Option<&Path>,
    config: Option<&Path>,
    store: &Path,
) -> Result<Watching> {
    crate::run::check_roots(folders)?;
    let mut c =
        std::process::Command::new(std::env::current_exe().context("where is this facet binary?")?);
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c.arg("watch");
    if let Some(p) = pipeline {
        c.arg(p);
    }
    c.args(folders).arg("--store").arg(store).arg("--quiet");
    // Its lines go to the gallery's stderr (stdout carries the address line).
    c.stdout(std::process::Stdio::from(std::io::stderr()));
    // It ends with the gallery, however the gallery ends (a SIGKILL too).
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = c.spawn().context("cannot start facet watch")?;
    eprintln!(
        "facet serve: watching {} (facet watch, pid {})",
        folders
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        child.id()
    );
    Ok(Watching(child))
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
    let store = crate::open_store(&dir)?;
    // Killed with the gallery (dropped at the end of this function).
    let _watcher = if args.watch.is_empty() {
        None
    } else {
        Some(spawn_watch(
            &args.watch,
            args.pipeline.as_deref(),
            config_path.as_deref(),
            store.dir(),
        )?)
    };
    let scanner = RunScanner {
        exe: std::env::current_exe().context("where is this facet binary?")?,
        config: config_path.clone(),
        pipeline: args.pipeline.clone(),
        store: store.dir().to_path_buf(),
    };
    let mut state =
        facet_viewer::AppState::with_scanner(store, &config, Some(std::sync::Arc::new(scanner)));
    if let Some(path) = config_path {
        // Password changes from the gallery are written into it.
        state = state.with_config_file(path);
    }
    if let Some(p) = &args.pipeline
        && let Some(search) = text_search(p, &config)?
    {
        state = state.with_text_search(search);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(facet_viewer::serve(&args.bind, state, |addr| {
        // One line on stdout, flushed: scripts (and the tests) read the address.
        println!("Facet gallery on http://{addr}/ (Ctrl-C stops)");
        let _ = std::io::stdout().flush();
    }))
    .with_context(|| format!("cannot serve on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}
