//! `facet user add`, `facet user remove` and `facet user migrate-preferences`:
//! the family NAS mode's users are created and removed from the command
//! line only (no registration UI or API); a member changes their own
//! password in the gallery (`POST /api/auth/password`). Resetting a user's
//! password here, or removing the user, ends their gallery sessions in the
//! store (`--store`). The password is read without echo
//! from the terminal (or one line of standard input when it is not a
//! terminal), hashed with PBKDF2-HMAC-SHA256 and written as `salt_hex:dk_hex`
//! into the configuration file's `users` section; the password itself is
//! never printed, logged or stored.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Adds (or replaces) user `name` in the JSON configuration at `path`
/// (created when missing). Other keys are kept as they are. Whether the
/// user was there already (their password was reset).
pub fn add(path: &Path, name: &str, role: &str, display_name: Option<&str>) -> Result<bool> {
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
    let existed = users.contains_key(name);
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
    write_config(path, &config)?;
    println!(
        "user `{name}` ({role}) written to {}; list their folders in users.{name}.directories",
        path.display()
    );
    Ok(existed)
}

/// Written whole to a temporary file, then renamed: never half a config.
fn write_config(path: &Path, config: &Value) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(config)? + "\n")
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// `facet user remove NAME`: drops the user from the JSON configuration at
/// `path` (other keys kept).
pub fn remove(path: &Path, name: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let removed = config
        .get_mut("users")
        .and_then(Value::as_object_mut)
        .filter(|_| name != "shared_directories")
        .and_then(|u| u.remove(name));
    if removed.is_none() {
        bail!("no user `{name}` in {}", path.display());
    }
    write_config(path, &config)?;
    println!("user `{name}` removed from {}", path.display());
    Ok(())
}

/// Ends every gallery session of `name` in the store at `store` (a running
/// `facet serve` on it notices within a second); nothing to end when there
/// is no store there.
pub fn end_sessions(store: &Path, config: &facet_config::FacetConfig, name: &str) -> Result<()> {
    if !store.is_dir() {
        println!(
            "no store at {}: no gallery sessions ended (pass --store)",
            store.display()
        );
        return Ok(());
    }
    let store = crate::open_store(store)?;
    let rt = tokio::runtime::Runtime::new()?;
    let n = rt.block_on(facet_viewer::sessions::revoke_member(&store, config, name))?;
    println!("{n} gallery session(s) of `{name}` ended");
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
    let store = crate::open_store(store)?;
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
