//! Burst and duplicate detection over the store (`facet detect-duplicates`,
//! and at the end of every `facet run`), and users' decisions about groups
//! (`facet groups lead|keep-all|reset`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampNanosecondArray};
use facet_config::FacetConfig;
use facet_stages::groups::table::{INPUT_COLUMNS, photos_of, rows};
use facet_stages::groups::{Decision, Decisions, Kind, bursts, duplicates};
use facet_store::Store;

/// What a detection found.
#[derive(Debug, Default)]
pub struct Detected {
    pub photos: usize,
    pub bursts: usize,
    pub in_bursts: usize,
    pub duplicate_groups: usize,
    pub duplicates: usize,
    pub seconds: f64,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn decisions(rt: &tokio::runtime::Runtime, store: &Store) -> Result<Decisions> {
    let (_, batches) =
        rt.block_on(store.sql("SELECT kind, path, decision FROM group_decisions"))?;
    let mut out = Decisions::new();
    for b in &batches {
        let (k, p, d) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            let kind = Kind::parse(k.value(i));
            let decision = match d.value(i) {
                "lead" => Some(Decision::Lead),
                "keep_all" => Some(Decision::KeepAll),
                _ => None,
            };
            if let (Some(kind), Some(decision)) = (kind, decision) {
                out.insert((kind, p.value(i).to_string()), decision);
            }
        }
    }
    Ok(out)
}

/// Detects every group from the stored photos and replaces `photo_groups`.
pub fn detect(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
) -> Result<Detected> {
    let started = Instant::now();
    let session = rt.block_on(store.session())?;
    let view = rt.block_on(session.table("photos"))?;
    let columns: Vec<&str> = INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| view.schema().field_with_unqualified_name(c).is_ok())
        .collect();
    // The view already opened: no second session for the query.
    let view = view.select_columns(&columns)?;
    let schema: arrow::datatypes::SchemaRef = Arc::new(view.schema().as_arrow().clone());
    let batches = rt.block_on(view.collect())?;
    let all = arrow::compute::concat_batches(&schema, &batches)?;
    let photos = photos_of(&all).map_err(anyhow::Error::msg)?;
    let decided = decisions(rt, store)?;
    let mut groups = bursts(
        &photos,
        &config.burst_detection,
        &config.burst_scoring,
        &decided,
    );
    let n_bursts = groups.len();
    groups.extend(duplicates(&photos, &config.duplicate_detection, &decided));
    let batch = rows(&photos, &groups).map_err(anyhow::Error::msg)?;
    let table = facet_schemas::photo_groups();
    let now = now_ns();
    let at: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..batch.num_rows()).map(|_| now))
            .with_timezone("UTC"),
    );
    let batch = facet_engine::with_columns(
        batch,
        vec![table.column("grouped_at").expect("declared").field()],
        vec![at],
    )?;
    rt.block_on(store.replace(&table, batch))?;
    let (bursts, dups) = groups.split_at(n_bursts);
    Ok(Detected {
        photos: photos.len(),
        bursts: bursts.len(),
        in_bursts: bursts.iter().map(|g| g.members.len()).sum(),
        duplicate_groups: dups.len(),
        duplicates: dups.iter().map(|g| g.members.len()).sum(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Records a decision (`None` removes the photo's decision for that kind).
pub fn decide(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    kind: Kind,
    path: &str,
    decision: Option<Decision>,
) -> Result<()> {
    let (_, found) = rt.block_on(store.sql(&format!(
        "SELECT count(*) FROM {} WHERE path = '{}'",
        facet_store::PHOTOS_STORED,
        path.replace('\'', "''")
    )))?;
    let n = found
        .first()
        .map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0)
        })
        .unwrap_or(0);
    if n == 0 {
        bail!("{path}: not a photo of this store");
    }
    let table = facet_schemas::group_decisions();
    let key = format!("{}:{path}", kind.as_str());
    match decision {
        None => rt.block_on(store.delete_keys(&table, &[key]))?,
        Some(d) => {
            let word = match d {
                Decision::Lead => "lead",
                Decision::KeepAll => "keep_all",
            };
            // A photo leads its group alone: drop other lead choices in it.
            let schema = table.schema();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![key])),
                Arc::new(StringArray::from(vec![kind.as_str()])),
                Arc::new(StringArray::from(vec![path])),
                Arc::new(StringArray::from(vec![word])),
                Arc::new(TimestampNanosecondArray::from(vec![now_ns()]).with_timezone("UTC")),
            ];
            let batch = RecordBatch::try_new(schema, columns)?;
            if d == Decision::Lead {
                let gid = match kind {
                    Kind::Burst => "burst_group_id",
                    Kind::Duplicate => "duplicate_group_id",
                };
                let (_, others) = rt.block_on(store.sql(&format!(
                    "SELECT g2.path FROM photo_groups g1 JOIN photo_groups g2 ON g1.{gid} = g2.{gid} \
                     WHERE g1.path = '{}' AND g2.path <> g1.path",
                    path.replace('\'', "''")
                )))?;
                let keys: Vec<String> = others
                    .iter()
                    .flat_map(|b| {
                        let a = b.column(0).as_string::<i32>();
                        (0..a.len())
                            .map(|i| format!("{}:{}", kind.as_str(), a.value(i)))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                rt.block_on(store.delete_keys(&table, &keys))?;
            }
            rt.block_on(store.upsert(&table, batch))?;
        }
    }
    Ok(())
}
