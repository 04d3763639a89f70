//! `facet user add` and `facet user migrate-preferences`: the family NAS mode's users are created from the command
//! line only (no registration UI or API). The password is read without echo
//! from the terminal (or one line of standard input when it is not a
//! terminal), hashed with PBKDF2-HMAC-SHA256 and written as `salt_hex:dk_hex`
//! into the configuration file's `users` section; the password itself is
//! never printed, logged or stored.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Adds (or replaces) user `name` in the JSON configuration at `path`
/// (created when missing). Other keys are kept as they are.
pub fn add(path: &Path, name: &str, role: &str, display_name: Option<&str>) -> Result<()> {
    if name.is_empty()
        || name == "shared_directories"
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        bail!("user name `{name}`: use letters, digits, `_`, `-` or `.`");
    }
    let mut config: Value = if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?
    } else {
        json!({})
    };
    let password = read_password(name)?;
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    let hash = facet_viewer::auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    let users = config
        .as_object_mut()
        .context("the configuration is not a JSON object")?
        .entry("users")
        .or_insert_with(|| json!({}));
    let users = users.as_object_mut().context("`users` is not an object")?;
    let existing = users.get(name).cloned().unwrap_or_else(|| json!({}));
    let directories = existing
        .get("directories")
        .cloned()
        .unwrap_or_else(|| json!([]));
    users.insert(
        name.to_string(),
        json!({
            "password_hash": hash,
            "display_name": display_name.unwrap_or(name),
            "role": role,
            "directories": directories,
        }),
    );
    // Written whole to a temporary file, then renamed: never half a config.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&config)? + "\n")
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    println!(
        "user `{name}` ({role}) written to {}; list their folders in users.{name}.directories",
        path.display()
    );
    Ok(())
}

fn read_password(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// `facet user migrate-preferences --user NAME`.
pub fn migrate_preferences(
    store: &Path,
    config: &facet_config::FacetConfig,
    user: &str,
) -> Result<()> {
    if !store.is_dir() {
        bail!("no store at {}", store.display());
    }
    let store = facet_store::Store::open(store)?;
    let rt = tokio::runtime::Runtime::new()?;
    let m = rt
        .block_on(facet_viewer::preferences::migrate(&store, config, user))
        .map_err(anyhow::Error::msg)?;
    println!(
        "{user}: {} ratings/favourites/rejects copied, {} already set kept, {} outside their folders left",
        m.copied, m.kept, m.outside
    );
    Ok(())
}
