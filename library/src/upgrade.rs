//! The store's format version, and the migrations that bring a store an
//! earlier Facet wrote up to it.
//!
//! `<store>/facet-store.json` records the format (`{"format": 2}`). Opening
//! a store through [`open`] (every command and the gallery do) compares it
//! with [`FORMAT`]:
//!
//! * the same: nothing to do;
//! * older (a store without the file but with tables is format 1, from
//!   before the version was recorded): each migration past the store's
//!   format runs in order, and the file is rewritten after each one, so a
//!   run killed mid-upgrade redoes at most one step (every step is
//!   idempotent). Then each table is given the columns the current schemas
//!   declare that it lacks, as nulls, so that no reader meets a table
//!   without a column it expects;
//! * newer: an error that says so, and nothing is written.
//!
//! A change to a table's schema bumps [`FORMAT`] and adds its step to
//! [`MIGRATIONS`]; `tests/fixtures/store-v1` is a store of format 1 that
//! the tests upgrade and serve.

use std::path::Path;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
use facet_store::Store;

use crate::{Error, Result};

/// The format this Facet writes.
pub const FORMAT: u32 = 2;

/// The file that records a store's format.
pub const FORMAT_FILE: &str = "facet-store.json";

/// One step: brings a store of format `to - 1` to format `to`.
pub struct Migration {
    pub to: u32,
    /// What it changes, for the log.
    pub what: &'static str,
    run: for<'a> fn(&'a Store) -> StepFuture<'a>,
}

/// The future a migration step returns.
type StepFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    to: 2,
    what: "photos.taken_local: the capture time as a typed local timestamp, from date_taken",
    run: |store| Box::pin(taken_local(store)),
}];

/// What [`upgrade`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    pub from: u32,
    pub to: u32,
    /// The steps run, in order ([`Migration::what`]).
    pub steps: Vec<&'static str>,
}

impl std::fmt::Display for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "store upgraded from format {} to {}: {}",
            self.from,
            self.to,
            self.steps.join("; ")
        )
    }
}

/// The store's recorded format: `None` for a new (empty) store.
pub fn format_of(dir: &Path) -> Result<Option<u32>> {
    let file = dir.join(FORMAT_FILE);
    match std::fs::read(&file) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Io {
                path: file.clone(),
                reason: format!("not a Facet store format file: {e}"),
            })?;
            let n = v
                .get("format")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| Error::Io {
                    path: file.clone(),
                    reason: "has no `format` number".into(),
                })?;
            Ok(Some(n as u32))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_tables = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().ends_with(".lance"))
                })
                .unwrap_or(false);
            Ok(has_tables.then_some(1))
        }
        Err(e) => Err(Error::Io {
            path: file,
            reason: e.to_string(),
        }),
    }
}

/// Records `format` in the store (through a temporary file and a rename).
fn write_format(dir: &Path, format: u32) -> Result<()> {
    let file = dir.join(FORMAT_FILE);
    let tmp = dir.join(format!("{FORMAT_FILE}.part"));
    let io = |e: std::io::Error| Error::Io {
        path: file.clone(),
        reason: e.to_string(),
    };
    let text = serde_json::json!({
        "format": format,
        "written_by": concat!("facet ", env!("CARGO_PKG_VERSION")),
    });
    std::fs::write(&tmp, format!("{text:#}\n")).map_err(io)?;
    std::fs::rename(&tmp, &file).map_err(io)
}

/// Brings `store` to [`FORMAT`] (see the module's doc); `None` when it
/// already was (or is new, and is now marked as of this format).
pub async fn upgrade(store: &Store) -> Result<Option<Upgraded>> {
    let dir = store.dir();
    let from = match format_of(dir)? {
        None => {
            write_format(dir, FORMAT)?;
            return Ok(None);
        }
        Some(f) if f == FORMAT => return Ok(None),
        Some(f) if f > FORMAT => {
            return Err(Error::Config(format!(
                "store {} was written by a newer Facet (format {f}; this one reads formats up to {FORMAT}): upgrade Facet",
                dir.display()
            )));
        }
        Some(f) => f,
    };
    let mut steps = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.to > from) {
        (m.run)(store).await?;
        write_format(dir, m.to)?;
        steps.push(m.what);
    }
    for table in facet_schemas::tables() {
        store.add_missing_columns(&table).await?;
    }
    Ok(Some(Upgraded {
        from,
        to: FORMAT,
        steps,
    }))
}

/// Opens the store at `dir` and upgrades it ([`upgrade`]), for callers
/// without a runtime of their own.
pub fn open(dir: &Path) -> Result<(Store, Option<Upgraded>)> {
    let store = Store::open(dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("tokio: {e}")))?;
    let upgraded = rt.block_on(upgrade(&store))?;
    Ok((store, upgraded))
}

/// Format 2: `photos.taken_local` from each stored row's `date_taken`
/// (the exif stage writes both from then on). Lance writes the new column
/// alone: the photos' other columns are not rewritten.
async fn taken_local(store: &Store) -> Result<()> {
    let table = facet_schemas::photos();
    let Some(ds) = store.dataset(table.name).await? else {
        return Ok(());
    };
    if ds.schema().field("date_taken").is_none() {
        // Nothing to derive it from: the column comes as nulls.
        return Ok(());
    }
    let field = table.column("taken_local").expect("declared").field();
    store
        .add_computed_column(&table, field, &["date_taken"], |b| {
            let dates = b
                .column_by_name("date_taken")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| {
                    arrow::error::ArrowError::SchemaError("photos.date_taken is not text".into())
                })?;
            let taken: TimestampNanosecondArray = dates
                .iter()
                .map(|d| d.and_then(facet_stages::exif::local_time_ns))
                .collect();
            Ok(Arc::new(taken) as ArrayRef)
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_marked_current_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, up) = open(&dir.path().join("s")).unwrap();
        assert_eq!(up, None);
        assert_eq!(format_of(store.dir()).unwrap(), Some(FORMAT));
        write_format(store.dir(), FORMAT + 1).unwrap();
        let e = open(&dir.path().join("s")).err().unwrap().to_string();
        assert!(e.contains("newer Facet"), "{e}");
        assert_eq!(format_of(store.dir()).unwrap(), Some(FORMAT + 1));
    }

    #[test]
    fn migrations_are_in_order_and_end_at_the_format() {
        let tos: Vec<u32> = MIGRATIONS.iter().map(|m| m.to).collect();
        assert_eq!(tos, (2..=FORMAT).collect::<Vec<_>>());
    }
}
