//! `facet models list|fetch|export PIPELINE`: the model files a pipeline
//! loads — where they are, where they come from, their checksum and status —
//! downloading the missing ones from the URLs the pipeline gives (checked by
//! SHA-256), and exporting the others from their published PyTorch weights
//! with the recipes in `tools/export` (see [`export`]).
//!
//! Each models folder keeps a lock file, [`LOCK_FILE`]: for every file an
//! export or a fetch wrote, its SHA-256, size, source and (for exports) the
//! PyTorch-vs-ONNX difference measured when it was made. `list` compares
//! each file with it, so a file changed since is reported, and `export`
//! never replaces a file without `--force`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use facet_engine::Plan;
use facet_engine::stage::ModelFile;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
/// Reads and compiles a pipeline file; relative model paths resolve against its folder.
pub fn compile_file(path: &Path, config: &facet_config::FacetConfig) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read pipeline {}", path.display()))?;
    facet_engine::compile_at(&text, path.parent(), &facet_stages::registry(), config).map_err(
        |diags| {
            anyhow::anyhow!(
                "{}: {} problem(s):\n{}",
                path.display(),
                diags.len(),
                diags
                    .iter()
                    .map(|d| format!("  {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    )
}

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The lock file of a models folder.
pub const LOCK_FILE: &str = "facet-models.lock.json";

/// What a models folder's lock file says of its files, by file name.
#[derive(Debug, Default)]
pub struct Lock {
    path: PathBuf,
    files: BTreeMap<String, Value>,
}

impl Lock {
    /// The lock of the folder `dir` (empty when it has none).
    pub fn load(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK_FILE);
        let files = match std::fs::read(&path) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: not a Facet model lock file", path.display()))?;
                v.get("files")
                    .and_then(Value::as_object)
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Lock { path, files })
    }

    /// The recorded entry of `file` (a path in the lock's folder).
    pub fn entry(&self, file: &Path) -> Option<&Value> {
        self.files.get(file.file_name()?.to_str()?)
    }

    fn sha256(&self, file: &Path) -> Option<&str> {
        self.entry(file)?.get("sha256")?.as_str()
    }

    fn record(&mut self, file: &Path, entry: Value) {
        if let Some(name) = file.file_name().and_then(|n| n.to_str()) {
            self.files.insert(name.to_string(), entry);
        }
    }

    /// Writes the lock through a temporary file (a killed export leaves the
    /// old lock or the new one, never half of one).
    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&json!({
            "about": "Written by `facet models export|fetch`: the SHA-256 and source of each model file.",
            "files": self.files,
        }))?;
        let tmp = self.path.with_extension("json.part");
        std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Where a model file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Missing,
    /// On disk; nothing to check it against.
    Present,
    /// Matches the pipeline's `sha256` or the lock.
    Verified,
    /// Differs from what the lock recorded when it was exported or fetched.
    Changed,
    /// Differs from the pipeline's `sha256`.
    BadHash,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Missing => "missing",
            Status::Present => "present",
            Status::Verified => "verified",
            Status::Changed => "CHANGED",
            Status::BadHash => "BAD HASH",
        }
    }
}

/// The status of `m`, with its SHA-256 when it is on disk.
pub fn status(m: &ModelFile, lock: &Lock) -> Result<(Status, Option<String>)> {
    if !m.path.is_file() {
        return Ok((Status::Missing, None));
    }
    let got = sha256_file(&m.path)?;
    let status = match (&m.sha256, lock.sha256(&m.path)) {
        (Some(want), _) if !want.eq_ignore_ascii_case(&got) => Status::BadHash,
        (Some(_), _) => Status::Verified,
        (None, Some(locked)) if locked != got => Status::Changed,
        (None, Some(_)) => Status::Verified,
        (None, None) => Status::Present,
    };
    Ok((status, Some(got)))
}

/// The lock of the folder that holds `file`, loaded once.
fn lock_of<'a>(locks: &'a mut BTreeMap<PathBuf, Lock>, file: &Path) -> Result<&'a mut Lock> {
    lock_in(locks, file.parent().unwrap_or(Path::new(".")))
}

/// The lock of the folder `dir`, loaded once.
fn lock_in<'a>(locks: &'a mut BTreeMap<PathBuf, Lock>, dir: &Path) -> Result<&'a mut Lock> {
    if !locks.contains_key(dir) {
        let lock = Lock::load(dir)?;
        locks.insert(dir.to_path_buf(), lock);
    }
    Ok(locks.get_mut(dir).expect("inserted"))
}

/// The one command that produces a missing model file.
pub fn remedy(pipeline: &Path, m: &ModelFile) -> String {
    match (&m.export, &m.url) {
        (Some(recipe), _) => format!(
            "`facet models export {} --only {recipe}` exports it from its PyTorch weights",
            pipeline.display()
        ),
        (None, Some(_)) => format!("`facet models fetch {}` downloads it", pipeline.display()),
        (None, None) => {
            "the pipeline gives neither a url nor an export recipe: put the file there by hand"
                .into()
        }
    }
}

/// Model files of `plan` that are not on disk, as `stage.field: path is
/// missing: <the command that produces it>` lines.
pub fn missing(pipeline: &Path, plan: &Plan) -> Vec<String> {
    plan.models()
        .into_iter()
        .filter(|(_, m)| !m.path.is_file())
        .map(|(stage, m)| {
            format!(
                "stages.{stage}.{}: {} is missing; {}",
                m.field,
                m.path.display(),
                remedy(pipeline, m)
            )
        })
        .collect()
}

/// Where a model comes from, for `list`.
fn source(m: &ModelFile, lock: &Lock) -> String {
    let exported = lock.entry(&m.path).and_then(|e| {
        let weights = e.get("weights")?.as_str()?;
        Some(format!(
            "{} ({weights} weights)",
            e.get("recipe")?.as_str()?
        ))
    });
    match (exported, &m.export, &m.url) {
        (Some(e), _, _) => format!("export {e}"),
        (None, Some(r), _) => format!("export {r}"),
        (None, None, Some(_)) => "url".into(),
        (None, None, None) => "-".into(),
    }
}

pub fn list(plan: &Plan) -> Result<()> {
    println!(
        "{:<14} {:<24} {:>10}  {:<9} {:<46} {:<12}  path",
        "stage", "field", "size", "status", "source", "sha256"
    );
    let mut locks = BTreeMap::new();
    let active = plan.models().into_iter().map(|(s, m)| (s.to_string(), m));
    let alternatives = plan
        .alternatives
        .iter()
        .flat_map(|a| a.models.iter().map(move |m| (format!("({})", a.name), m)));
    for (stage, m) in active.chain(alternatives) {
        let lock = lock_of(&mut locks, &m.path)?;
        let (status, sha) = status(m, lock)?;
        let size = std::fs::metadata(&m.path)
            .map(|md| format!("{:.1} MiB", md.len() as f64 / (1 << 20) as f64))
            .unwrap_or_else(|_| "-".into());
        println!(
            "{stage:<14} {:<24} {size:>10}  {:<9} {:<46} {:<12}  {}",
            m.field,
            status.label(),
            source(m, lock),
            sha.as_deref().map(|s| &s[..12]).unwrap_or("-"),
            m.path.display()
        );
    }
    if !plan.alternatives.is_empty() {
        println!(
            "(stage): not chosen by the configuration ({})",
            plan.alternatives
                .iter()
                .map(|a| a.choice.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Downloads one file to `dest` through a temporary file, checking its
/// hash; returns the file's SHA-256.
fn download(url: &str, dest: &Path, sha256: Option<&str>) -> Result<String> {
    let resp = ureq::get(url)
        .call()
        .with_context(|| format!("downloading {url}"))?;
    let mut reader = resp.into_body().into_reader();
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = dest.with_extension("part");
    let mut out =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("downloading {url}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    let got = hex::encode(h.finalize());
    if let Some(want) = sha256
        && !got.eq_ignore_ascii_case(want)
    {
        let _ = std::fs::remove_file(&tmp);
        bail!("{url}: SHA-256 is {got}, but the pipeline expects {want}; the file was not kept");
    }
    std::fs::rename(&tmp, dest).with_context(|| format!("moving into {}", dest.display()))?;
    Ok(got)
}

/// Fetches every missing model file that has a URL. Returns how many failed.
pub fn fetch(plan: &Plan) -> usize {
    let mut failed = 0;
    let mut seen: Vec<PathBuf> = Vec::new();
    for (stage, m) in plan.models() {
        let ModelFile {
            path,
            url,
            sha256,
            field,
            ..
        } = m;
        if seen.contains(path) {
            continue;
        }
        seen.push(path.clone());
        if path.is_file() {
            println!("stages.{stage}.{field}: {} present", path.display());
            continue;
        }
        let Some(url) = url else {
            eprintln!(
                "stages.{stage}.{field}: {} is missing and the pipeline gives no url",
                path.display()
            );
            failed += 1;
            continue;
        };
        let fetched = download(url, path, sha256.as_deref()).and_then(|sha| {
            let mut lock = Lock::load(path.parent().unwrap_or(Path::new(".")))?;
            lock.record(
                path,
                json!({
                    "sha256": sha,
                    "bytes": std::fs::metadata(path)?.len(),
                    "source": url,
                    "fetched_at": unix_now(),
                }),
            );
            lock.save()
        });
        match fetched {
            Ok(()) => println!("stages.{stage}.{field}: fetched {}", path.display()),
            Err(e) => {
                eprintln!("stages.{stage}.{field}: {e:#}");
                failed += 1;
            }
        }
    }
    failed
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `facet models export` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExportOptions {
    /// Only these recipes, stages or file names (repeatable).
    #[arg(long)]
    pub only: Vec<String>,
    /// Also the models of the stages the configuration did not choose
    /// (the other `quality.model` alternatives, say).
    #[arg(long)]
    pub alternatives: bool,
    /// The real architectures with random weights: no download (tests,
    /// machines without internet). Such files score nothing meaningful.
    #[arg(long)]
    pub random_weights: bool,
    /// The smallest configuration of each architecture (CI-sized).
    #[arg(long)]
    pub small: bool,
    /// Replace files that are already there.
    #[arg(long)]
    pub force: bool,
    /// The Python that creates the exporters' environment.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Where that environment lives ([`ExportOptions::located`]).
    #[arg(skip)]
    pub venv: PathBuf,
    /// The exporters (`tools/export` of Facet's source).
    #[arg(skip)]
    pub scripts: PathBuf,
}

impl ExportOptions {
    /// With the environment `$FACET_EXPORT_VENV`, else
    /// `$FACET_TOOLS_DIR/export-venv`, else `~/.cache/facet/export-venv`
    /// (as `benches/export-models.sh`), and the exporters of this source
    /// tree (or `$FACET_EXPORT_SCRIPTS`).
    pub fn located(mut self) -> ExportOptions {
        let tools = std::env::var_os("FACET_TOOLS_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/facet")))
            .unwrap_or_else(|| PathBuf::from(".tools"));
        self.venv = std::env::var_os("FACET_EXPORT_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| tools.join("export-venv"));
        self.scripts = std::env::var_os("FACET_EXPORT_SCRIPTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/export"));
        self
    }
}

/// The exporters' virtual environment, created (or brought up to date with
/// `requirements.txt`) when needed; returns its Python.
fn venv_python(opts: &ExportOptions) -> Result<PathBuf> {
    let requirements = opts.scripts.join("requirements.txt");
    let want = sha256_file(&requirements).with_context(|| {
        format!(
            "the exporters are not at {} (set FACET_EXPORT_SCRIPTS to Facet's tools/export)",
            opts.scripts.display()
        )
    })?;
    let python = opts.venv.join("bin/python");
    let stamp = opts.venv.join(".facet-requirements.sha256");
    if python.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(python);
    }
    eprintln!(
        "creating the exporters' Python environment in {} (PyTorch and the model packages from PyPI; once)",
        opts.venv.display()
    );
    if !python.is_file() {
        run(Command::new(&opts.python)
            .args(["-m", "venv"])
            .arg(&opts.venv))
        .with_context(|| format!("{} -m venv (is Python 3 with venv installed?)", opts.python))?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))
    .context("installing the exporters' requirements")?;
    std::fs::write(&stamp, &want)?;
    Ok(python)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}

/// A recipe and the model files of the pipeline it produces.
struct Recipe<'p> {
    name: String,
    files: Vec<(String, &'p ModelFile)>,
}

/// The recipes `opts` selects, each with the files the pipeline names.
fn recipes<'p>(plan: &'p Plan, opts: &ExportOptions) -> Vec<Recipe<'p>> {
    let active = plan.models().into_iter().map(|(s, m)| (s.to_string(), m));
    let alternatives = plan
        .alternatives
        .iter()
        .filter(|_| opts.alternatives)
        .flat_map(|a| a.models.iter().map(move |m| (a.name.clone(), m)));
    let mut out: Vec<Recipe> = Vec::new();
    for (stage, m) in active.chain(alternatives) {
        let Some(name) = &m.export else { continue };
        let file = m.path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if !opts.only.is_empty()
            && !opts
                .only
                .iter()
                .any(|o| o == name || *o == stage || o == file)
        {
            continue;
        }
        match out.iter_mut().find(|r| &r.name == name) {
            Some(r) if r.files.iter().any(|(_, f)| f.path == m.path) => {}
            Some(r) => r.files.push((stage, m)),
            None => out.push(Recipe {
                name: name.clone(),
                files: vec![(stage, m)],
            }),
        }
    }
    out
}

/// Exports the pipeline's models with their recipes (see [`ExportOptions`]).
/// Returns how many recipes failed; each failure is printed.
pub fn export(plan: &Plan, opts: &ExportOptions) -> Result<usize> {
    let recipes = recipes(plan, opts);
    if recipes.is_empty() {
        bail!(
            "no model of this pipeline has an export recipe{}",
            if opts.only.is_empty() {
                String::new()
            } else {
                format!(" matching {}", opts.only.join(", "))
            }
        );
    }
    let mut locks = BTreeMap::new();
    let mut todo = Vec::new();
    let mut failed = 0;
    for r in &recipes {
        let mut blocked = Vec::new();
        let mut current = true;
        for (stage, m) in &r.files {
            let (status, _) = status(m, lock_of(&mut locks, &m.path)?)?;
            current &= status == Status::Verified;
            if status != Status::Missing {
                blocked.push(format!(
                    "stages.{stage}.{}: {} is {}",
                    m.field,
                    m.path.display(),
                    status.label()
                ));
            }
        }
        if opts.force || blocked.is_empty() {
            todo.push(r);
        } else if current {
            println!("{}: up to date (every file matches its lock)", r.name);
        } else {
            eprintln!(
                "{}: not exported, it would replace files that are there (--force replaces them):\n  {}",
                r.name,
                blocked.join("\n  ")
            );
            failed += 1;
        }
    }
    if todo.is_empty() {
        return Ok(failed);
    }
    let python = venv_python(opts)?;
    for r in todo {
        match export_recipe(&python, r, opts, &mut locks) {
            Ok(report) => println!("{}: {report}", r.name),
            Err(e) => {
                eprintln!("{}: {e:#}", r.name);
                failed += 1;
            }
        }
    }
    Ok(failed)
}

/// Runs one recipe into a staging folder beside its files, checks what it
/// wrote, moves the files into place and records them in the lock.
fn export_recipe(
    python: &Path,
    r: &Recipe,
    opts: &ExportOptions,
    locks: &mut BTreeMap<PathBuf, Lock>,
) -> Result<String> {
    let dir = r.files[0].1.path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = dir.join(format!(".export-{}", r.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let report_path = staging.join("report.json");
    let mut cmd = Command::new(python);
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(opts.scripts.join("facet_export.py"))
        .args(["--recipe", &r.name, "--out-dir"])
        .arg(&staging)
        .arg("--report")
        .arg(&report_path);
    if opts.random_weights {
        cmd.arg("--random-weights");
    }
    if opts.small {
        cmd.arg("--small");
    }
    if let Err(e) = run(&mut cmd) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let report: Value = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("the exporter wrote no {}", report_path.display()))?,
    )
    .context("the exporter's report is not JSON")?;
    let written: Vec<&Value> = report
        .get("files")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for (stage, m) in &r.files {
        let name = m.path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        if !written
            .iter()
            .any(|f| f.get("file").and_then(Value::as_str) == Some(name))
        {
            bail!(
                "the recipe wrote no {name}, which stages.{stage}.{} names",
                m.field
            );
        }
    }
    let mut lines = Vec::new();
    for f in written {
        let name = f
            .get("file")
            .and_then(Value::as_str)
            .context("a file of the report has no name")?;
        let staged = staging.join(name);
        let sha = sha256_file(&staged)?;
        if f.get("sha256").and_then(Value::as_str) != Some(sha.as_str()) {
            bail!(
                "{}: its SHA-256 is not the one the exporter reported",
                staged.display()
            );
        }
        let target = dir.join(name);
        std::fs::rename(&staged, &target)
            .with_context(|| format!("moving {} into place", target.display()))?;
        let mut entry = report.clone();
        if let Some(o) = entry.as_object_mut() {
            o.remove("files");
            o.insert("sha256".into(), json!(sha));
            o.insert(
                "bytes".into(),
                f.get("bytes").cloned().unwrap_or(Value::Null),
            );
            o.insert("exported_at".into(), json!(unix_now()));
        }
        lock_of(locks, &target)?.record(&target, entry);
        lines.push(format!("{name} ({})", &sha[..12]));
    }
    lock_in(locks, dir)?.save()?;
    let _ = std::fs::remove_dir_all(&staging);
    let diff = report
        .get("max_abs_diff")
        .map(|d| d.to_string())
        .unwrap_or_default();
    Ok(format!(
        "exported {} in {:.0} s, {} weights, PyTorch vs ONNX max |diff| {diff}",
        lines.join(", "),
        report.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
        report.get("weights").and_then(Value::as_str).unwrap_or("?"),
    ))
}
