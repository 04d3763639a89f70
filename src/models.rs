//! `facet models list|fetch PIPELINE`: the model files a pipeline loads —
//! where they are, their size, whether they are present — and downloading
//! the missing ones from the URLs the pipeline gives, checked by SHA-256.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use facet_engine::Plan;
use facet_engine::stage::ModelFile;
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

/// Model files of `plan` that are not on disk, as `stage.field: path` lines.
pub fn missing(plan: &Plan) -> Vec<String> {
    plan.models()
        .into_iter()
        .filter(|(_, m)| !m.path.is_file())
        .map(|(stage, m)| {
            format!(
                "stages.{stage}.{}: {} is missing",
                m.field,
                m.path.display()
            )
        })
        .collect()
}

pub fn list(plan: &Plan) -> Result<()> {
    println!(
        "{:<14} {:<30} {:>10}  {:<8} path",
        "stage", "field", "size", "status"
    );
    for (stage, m) in plan.models() {
        let (size, status) = match std::fs::metadata(&m.path) {
            Ok(md) if md.is_file() => {
                let status = match &m.sha256 {
                    Some(want) if &sha256_file(&m.path)? != want => "BAD HASH",
                    _ => "present",
                };
                (
                    format!("{:.1} MiB", md.len() as f64 / (1 << 20) as f64),
                    status,
                )
            }
            _ => (
                "-".into(),
                if m.url.is_some() {
                    "missing"
                } else {
                    "missing (no url)"
                },
            ),
        };
        println!(
            "{stage:<14} {:<30} {size:>10}  {status:<8} {}",
            m.field,
            m.path.display()
        );
    }
    Ok(())
}

/// Downloads one file to `dest` through a temporary file, checking its hash.
fn download(url: &str, dest: &Path, sha256: Option<&str>) -> Result<()> {
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
    Ok(())
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
        match download(url, path, sha256.as_deref()) {
            Ok(()) => println!("stages.{stage}.{field}: fetched {}", path.display()),
            Err(e) => {
                eprintln!("stages.{stage}.{field}: {e:#}");
                failed += 1;
            }
        }
    }
    failed
}
