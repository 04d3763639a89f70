//! `facet compare suggest|apply CATEGORY`: the weights comparison mode's
//! choices suggest (a Bradley–Terry fit, see the gallery's comparison mode);
//! `apply` writes them into the configuration file's category and re-scores
//! the library (only the photos of that category change).

use std::path::Path;

use anyhow::{Context, Result, bail};
use facet_config::FacetConfig;
use serde_json::Value;

pub fn compare(
    store_dir: &Path,
    config_path: &Path,
    config: &FacetConfig,
    category: &str,
    apply: bool,
) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let store = crate::open_store(store_dir)?;
    let (weights, report) = rt
        .block_on(facet_viewer::compare::suggested_weights(
            &store, config, category,
        ))
        .map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !apply {
        return Ok(());
    }
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut json: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", config_path.display()))?;
    // The category in the file, or a copy of the effective one (defaults) to edit.
    let effective = config.effective_json();
    let root = json
        .as_object_mut()
        .context("the configuration is not a JSON object")?;
    let categories = root
        .entry("categories")
        .or_insert_with(|| effective["categories"].clone());
    let Some(entry) = categories
        .as_array_mut()
        .and_then(|a| a.iter_mut().find(|c| c["name"] == category))
    else {
        bail!("no category `{category}` in {}", config_path.display());
    };
    let w = entry
        .as_object_mut()
        .context("a category is not an object")?
        .entry("weights")
        .or_insert_with(|| Value::Object(Default::default()));
    let w = w.as_object_mut().context("weights is not an object")?;
    w.clear();
    for (k, v) in &weights {
        if *v > 0.0 {
            w.insert(k.clone(), serde_json::json!(*v as i64));
        }
    }
    let tmp = config_path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&json)? + "\n")?;
    std::fs::rename(&tmp, config_path)?;
    // Re-score with the file as it is now (validated as at any start).
    let config = FacetConfig::load(config_path)?.config;
    let r = facet_library::derive::scores::recompute(&rt, &store, &config)?;
    println!(
        "weights of `{category}` written to {}; {} photos re-scored, {} unchanged",
        config_path.display(),
        r.scored,
        r.kept
    );
    Ok(())
}
