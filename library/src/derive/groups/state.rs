//! `group_state`: what the last detection knew — its settings, the last
//! fragment of `photos` it read, the version of `scores` its leads were
//! chosen with and the users' decisions it applied — so that the next one
//! looks up only what changed since ([`super::region`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use facet_store::Store;

use crate::{Error, Result};

/// Decisions as `kind:path` → `lead` | `keep_all` (the table's own words).
pub(crate) type DecisionWords = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupState {
    pub fingerprint: String,
    /// The last fragment of `photos` read (`None`: the table was empty).
    pub fragment: Option<u64>,
    /// The version of `scores` the leads were chosen with.
    pub scores_version: Option<u64>,
    pub decisions: DecisionWords,
    pub totals: Totals,
}

/// Groups and members per kind (burst, duplicate, similar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Totals {
    pub groups: [u64; 3],
    pub members: [u64; 3],
}

const RUN: &str = "run";

impl GroupState {
    /// The stored state; `None` when there is none or it cannot be read
    /// (a store of an older Facet): the next detection is then a full one.
    pub fn load(rt: &tokio::runtime::Runtime, store: &Store) -> Result<Option<GroupState>> {
        let Some(ds) = rt.block_on(store.dataset("group_state"))? else {
            return Ok(None);
        };
        let columns = [
            "key",
            "fingerprint",
            "fragment",
            "scores_version",
            "decisions",
            "totals",
        ];
        if columns.iter().any(|c| ds.schema().field(c).is_none()) {
            return Ok(None);
        }
        let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
        while let Some(b) = rt.block_on(scan.next())? {
            let key = b.column(0).as_string::<i32>();
            let fp = b.column(1).as_string::<i32>();
            let fragment = b.column(2).as_primitive::<Int64Type>();
            let version = b.column(3).as_primitive::<Int64Type>();
            let decisions = b.column(4).as_string::<i32>();
            let totals = b.column(5).as_string::<i32>();
            for i in 0..b.num_rows() {
                if key.value(i) != RUN || fp.is_null(i) || decisions.is_null(i) {
                    continue;
                }
                let (Ok(decisions), Some(Ok(totals))) = (
                    serde_json::from_str(decisions.value(i)),
                    (!totals.is_null(i)).then(|| serde_json::from_str(totals.value(i))),
                ) else {
                    return Ok(None);
                };
                let int = |a: &Int64Array| (!a.is_null(i)).then(|| a.value(i) as u64);
                return Ok(Some(GroupState {
                    fingerprint: fp.value(i).to_string(),
                    fragment: int(fragment),
                    scores_version: int(version),
                    decisions,
                    totals,
                }));
            }
        }
        Ok(None)
    }

    /// Replaces the stored state with this one (one commit).
    pub fn save(&self, rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
        let t = facet_schemas::group_state();
        let decisions = serde_json::to_string(&self.decisions)
            .map_err(|e| Error::Internal(format!("group_state decisions: {e}")))?;
        let totals = serde_json::to_string(&self.totals)
            .map_err(|e| Error::Internal(format!("group_state totals: {e}")))?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![RUN])),
            Arc::new(StringArray::from(vec![self.fingerprint.as_str()])),
            Arc::new(Int64Array::from(vec![self.fragment.map(|f| f as i64)])),
            Arc::new(Int64Array::from(vec![
                self.scores_version.map(|v| v as i64),
            ])),
            Arc::new(StringArray::from(vec![decisions])),
            Arc::new(StringArray::from(vec![totals])),
        ];
        let batch = RecordBatch::try_new(t.schema(), columns)
            .map_err(|e| Error::Internal(format!("group_state batch: {e}")))?;
        rt.block_on(store.replace(&t, batch))?;
        Ok(())
    }
}
