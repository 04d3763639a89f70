//! `facet user migrate-preferences`: a member starts with the ratings,
//! favourites and rejects of the single-user mode (`user_state`) for the
//! photos in their folders, copied into their rows of `user_preferences`.
//! Rows the member already has are kept (their own choices win), so the
//! command can be run again.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::prelude::*;
use facet_config::FacetConfig;
use facet_store::Store;

use crate::scope::Scope;

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub copied: usize,
    /// Already set by the member: kept.
    pub kept: usize,
    /// Outside the member's folders: not copied.
    pub outside: usize,
}

/// Copies `user_state` into `user`'s `user_preferences` rows.
pub async fn migrate(store: &Store, config: &FacetConfig, user: &str) -> Result<Migrated, String> {
    let Some(u) = config.users.users.get(user) else {
        let known: Vec<&String> = config.users.users.keys().collect();
        return Err(format!(
            "no user `{user}` in the configuration's `users` (known: {known:?})"
        ));
    };
    let dirs: Vec<String> = u
        .directories
        .iter()
        .chain(&config.users.shared_directories)
        .cloned()
        .collect();
    let scope = Scope::new(&dirs);
    let e = |e: datafusion::error::DataFusionError| e.to_string();
    let ctx = store.session().await.map_err(|e| e.to_string())?;
    let mine: HashSet<String> = ctx
        .table("user_preferences")
        .await
        .map_err(e)?
        .filter(col("user").eq(lit(user.to_string())))
        .map_err(e)?
        .select_columns(&["path"])
        .map_err(e)?
        .collect()
        .await
        .map_err(e)?
        .iter()
        .flat_map(|b| {
            let p = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .filter(|&i| p.is_valid(i))
                .map(|i| p.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let single = ctx
        .table("user_state")
        .await
        .map_err(e)?
        .select_columns(&["path", "rating", "favorite", "rejected", "updated_at"])
        .map_err(e)?
        .collect()
        .await
        .map_err(e)?;
    let mut out = Migrated {
        copied: 0,
        kept: 0,
        outside: 0,
    };
    let table = facet_schemas::user_preferences();
    for b in single {
        let paths = b.column(0).as_string::<i32>();
        let take: Vec<u32> = (0..b.num_rows())
            .filter(|&i| {
                if paths.is_null(i) {
                    return false;
                }
                let p = paths.value(i);
                if !scope.allows(p) {
                    out.outside += 1;
                    false
                } else if mine.contains(p) {
                    out.kept += 1;
                    false
                } else {
                    true
                }
            })
            .map(|i| i as u32)
            .collect();
        if take.is_empty() {
            continue;
        }
        let b = arrow::compute::take_record_batch(&b, &arrow::array::UInt32Array::from(take))
            .map_err(|e| e.to_string())?;
        let paths = b.column(0).as_string::<i32>();
        let keys: StringArray = paths
            .iter()
            .map(|p| p.map(|p| format!("{user}:{p}")))
            .collect();
        let users = StringArray::from(vec![user.to_string(); b.num_rows()]);
        let mut columns: Vec<arrow::array::ArrayRef> = vec![Arc::new(keys), Arc::new(users)];
        columns.extend(b.columns().iter().cloned());
        let batch = RecordBatch::try_new(table.schema(), columns).map_err(|e| e.to_string())?;
        out.copied += batch.num_rows();
        store
            .upsert(&table, batch)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}
