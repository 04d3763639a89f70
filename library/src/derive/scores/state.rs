//! `score_state`: what the last re-score knew — the normalization windows,
//! each category's fingerprint, how many photos it scored, the last
//! fragment of `photos` it read, and which version of `scores` it wrote — read back by the
//! next re-score to do only the work of the photos added since.
//!
//! The state is written after `scores`, in its own commit, and names the
//! version of `scores` it describes: a kill between the two commits leaves
//! a state whose version is not the table's, which the next re-score treats
//! as no state at all (it reads every photo once and writes a new state).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, ListBuilder, RecordBatch,
    StringArray,
};
use arrow::datatypes::{Float64Type, Int64Type};
use facet_stages::score::summary::{Summaries, Window};
use facet_store::Store;

use crate::{Error, Result};

/// The state of the last re-score.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Photos scored (rows of `scores`).
    pub photos: u64,
    /// The last fragment of `photos` read: rows in later ones were written
    /// since (`None`: no photo yet).
    pub fragment: Option<u64>,
    /// The fingerprint of the settings that decide categories and
    /// normalization.
    pub settings: String,
    /// The version of `scores` the state describes.
    pub scores_version: u64,
    /// Category → its scores' fingerprint.
    pub categories: BTreeMap<String, String>,
    pub summaries: Summaries,
}

const RUN: &str = "run";

impl State {
    /// The stored state, `None` when there is none (or it cannot be read,
    /// as after an older Facet).
    pub fn load(rt: &tokio::runtime::Runtime, store: &Store, target: f64) -> Result<Option<State>> {
        let Some(ds) = rt.block_on(store.dataset("score_state"))? else {
            return Ok(None);
        };
        let table = facet_schemas::score_state();
        if table
            .columns
            .iter()
            .any(|c| ds.schema().field(&c.name).is_none())
        {
            return Ok(None);
        }
        let (_, batches) = rt.block_on(store.sql(
            "SELECT key, count, below, window, fingerprint, fragment, scores_version FROM score_state",
        ))?;
        let mut run = None;
        let mut categories = BTreeMap::new();
        let mut summaries = Summaries::default();
        for b in &batches {
            let key = b.column(0).as_string::<i32>();
            let count = b.column(1).as_primitive::<Int64Type>();
            let below = b.column(2).as_primitive::<Int64Type>();
            let window = b.column(3).as_list::<i32>();
            let fp = b.column(4).as_string::<i32>();
            let fragment = b.column(5).as_primitive::<Int64Type>();
            let version = b.column(6).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let k = key.value(i);
                let int = |a: &arrow::array::Int64Array| (!a.is_null(i)).then(|| a.value(i));
                if k == RUN {
                    let (Some(photos), Some(v)) = (int(count), int(version)) else {
                        return Ok(None);
                    };
                    run = Some((
                        photos as u64,
                        int(fragment).map(|f| f as u64),
                        fp.value(i).to_string(),
                        v as u64,
                    ));
                } else if let Some(name) = k.strip_prefix("category/") {
                    categories.insert(name.to_string(), fp.value(i).to_string());
                } else if let Some(rest) = k.strip_prefix("norm/") {
                    let Some((scope, metric)) = rest.rsplit_once('/') else {
                        return Ok(None);
                    };
                    let values = if window.is_null(i) {
                        Vec::new()
                    } else {
                        window
                            .value(i)
                            .as_primitive::<Float64Type>()
                            .values()
                            .to_vec()
                    };
                    summaries.windows.insert(
                        (scope.to_string(), metric.to_string()),
                        Window {
                            target,
                            count: int(count).unwrap_or(0) as u64,
                            below: int(below).unwrap_or(0) as u64,
                            values,
                        },
                    );
                }
            }
        }
        Ok(
            run.map(|(photos, fragment, settings, scores_version)| State {
                photos,
                fragment,
                settings,
                scores_version,
                categories,
                summaries,
            }),
        )
    }

    /// Replaces the stored state with this one (one commit).
    pub fn save(&self, rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
        let t = facet_schemas::score_state();
        let mut keys: Vec<String> = vec![RUN.to_string()];
        let mut count: Vec<Option<i64>> = vec![Some(self.photos as i64)];
        let mut below: Vec<Option<i64>> = vec![None];
        let mut window = ListBuilder::new(Float64Builder::new());
        window.append_null();
        let mut percentile: Vec<Option<f64>> = vec![None];
        let mut fp: Vec<Option<String>> = vec![Some(self.settings.clone())];
        let mut fragment: Vec<Option<i64>> = vec![self.fragment.map(|f| f as i64)];
        let mut version: Vec<Option<i64>> = vec![Some(self.scores_version as i64)];
        for (name, f) in &self.categories {
            keys.push(format!("category/{name}"));
            count.push(None);
            below.push(None);
            window.append_null();
            percentile.push(None);
            fp.push(Some(f.clone()));
            fragment.push(None);
            version.push(None);
        }
        for ((scope, metric), w) in &self.summaries.windows {
            keys.push(format!("norm/{scope}/{metric}"));
            count.push(Some(w.count as i64));
            below.push(Some(w.below as i64));
            window.values().append_slice(&w.values);
            window.append(true);
            percentile.push(w.percentile(1).ok().flatten());
            fp.push(None);
            fragment.push(None);
            version.push(None);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int64Array::from(count)),
            Arc::new(Int64Array::from(below)),
            Arc::new(window.finish()),
            Arc::new(Float64Array::from(percentile)),
            Arc::new(StringArray::from(fp)),
            Arc::new(Int64Array::from(fragment)),
            Arc::new(Int64Array::from(version)),
        ];
        let batch = RecordBatch::try_new(t.schema(), columns)
            .map_err(|e| Error::Internal(format!("score_state batch: {e}")))?;
        rt.block_on(store.replace(&t, batch))?;
        Ok(())
    }
}
