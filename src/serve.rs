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
    /// The pipeline the store was analysed with: its `zero_shot_tags` stage's
    /// text model and tokenizer give the gallery semantic text search
    /// (`/api/search`). Without it, no search.
    #[arg(long)]
    pipeline: Option<PathBuf>,
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
        &facet_stages::onnx::text::TextInputs {
            ids: cfg.text_input.clone(),
            mask: cfg.attention_mask.clone(),
            output: cfg.text_output.clone(),
            max_length: cfg.max_length,
            pad_id: cfg.pad_id,
        },
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
    let mut state = facet_viewer::AppState::new(store, &config);
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
