//! Burst, duplicate and similarity groups over the store (`facet
//! detect-duplicates`, and at the end of every `facet run`), and users'
//! decisions about groups (`facet groups lead|keep-all|reset`).
//!
//! A detection is incremental (`groups::maintain`): `photo_groups` has a
//! row per photo with the time its groups were detected, so the photos
//! analysed since (and the groups of the photos removed since) are the ones
//! looked up — pHashes in a multi-index hash, embeddings in the Lance vector
//! index of `photos.embedding` ([`Store::index_vectors`]). Other settings
//! than the stored rows' (`grouped_with`), or `--full`, detect everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use arrow::util::display::array_value_to_string;
use facet_config::FacetConfig;
use facet_stages::groups::maintain::{Settings, Since};
use facet_stages::groups::similar::Neighbours;
use facet_stages::groups::table::{INPUT_COLUMNS, photos_of, rows, stored_groups};
use facet_stages::groups::{Decision, Decisions, Kind, Photo, maintain};
use facet_store::Store;
use sha2::{Digest, Sha256};

use crate::failpoint::point;
use crate::{Error, Result, now_ns};

/// What a detection found.
#[derive(Debug, Default)]
pub struct Detected {
    pub photos: usize,
    pub bursts: usize,
    pub in_bursts: usize,
    pub duplicate_groups: usize,
    pub duplicates: usize,
    pub similar_groups: usize,
    pub similar: usize,
    /// Photos looked up in an index, and whether it was a full detection.
    pub looked_up: usize,
    pub full: bool,
    /// `photo_groups` rows written (new or changed) and removed.
    pub written: usize,
    pub removed: usize,
    pub seconds: f64,
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

/// Embedding neighbours from the store's vector index on `photos.embedding`.
struct Indexed<'a> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a Store,
    /// Neighbours asked per photo (the group size cap, and a few more).
    k: usize,
    index_of: HashMap<String, usize>,
}

/// Partitions of the IVF index probed per query.
const NPROBES: usize = 20;
/// Query vectors per Lance query.
const QUERY_BATCH: usize = 256;

impl Neighbours for Indexed<'_> {
    fn similar(
        &mut self,
        photos: &[Photo],
        of: &[usize],
        threshold: f32,
    ) -> Result<Vec<Vec<(usize, f32)>>, String> {
        if self.index_of.is_empty() {
            self.index_of = photos
                .iter()
                .enumerate()
                .map(|(i, p)| (p.path.clone(), i))
                .collect();
        }
        let mut out = vec![Vec::new(); of.len()];
        let asked: Vec<(usize, &[f32])> = of
            .iter()
            .enumerate()
            .filter_map(|(slot, &i)| Some((slot, photos[i].embedding.as_deref()?)))
            .collect();
        for chunk in asked.chunks(QUERY_BATCH) {
            let queries: Vec<&[f32]> = chunk.iter().map(|(_, q)| *q).collect();
            let found = self
                .rt
                .block_on(self.store.nearest(
                    "photos",
                    "embedding",
                    &queries,
                    self.k,
                    1.0 - threshold,
                    NPROBES,
                ))
                .map_err(|e| format!("embedding neighbours: {e}"))?;
            for ((slot, _), ns) in chunk.iter().zip(found) {
                let me = of[*slot];
                out[*slot] = ns
                    .into_iter()
                    .filter_map(|(path, d)| {
                        let j = *self.index_of.get(&path)?;
                        (j != me).then_some((j, 1.0 - d))
                    })
                    .collect();
            }
        }
        Ok(out)
    }
}

/// Every scored photo's `aggregate`, by path.
fn aggregates(rt: &tokio::runtime::Runtime, store: &Store) -> Result<HashMap<String, f64>> {
    let mut by_path = HashMap::new();
    let Some(ds) = rt.block_on(store.dataset("scores"))? else {
        return Ok(by_path);
    };
    let mut scan = rt.block_on(facet_store::scan(&ds, &["path", "aggregate"], None))?;
    while let Some(b) = rt.block_on(scan.next())? {
        let (p, a) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_primitive::<arrow::datatypes::Float64Type>(),
        );
        for i in 0..b.num_rows() {
            if !a.is_null(i) {
                by_path.insert(p.value(i).to_string(), a.value(i));
            }
        }
    }
    Ok(by_path)
}

/// `photos` rows with their `aggregate` from `scores` (null when unscored),
/// as the `photos` view joins them.
fn with_aggregates(photos: RecordBatch, by_path: &HashMap<String, f64>) -> Result<RecordBatch> {
    let paths = photos
        .column_by_name("path")
        .ok_or_else(|| Error::Internal("photos has no path".into()))?
        .as_string::<i32>();
    let aggregate: ArrayRef = Arc::new(
        paths
            .iter()
            .map(|p| p.and_then(|p| by_path.get(p).copied()))
            .collect::<arrow::array::Float64Array>(),
    );
    let field = facet_schemas::scores()
        .column("aggregate")
        .expect("declared")
        .field();
    Ok(facet_engine::with_columns(
        photos,
        vec![field],
        vec![aggregate],
    )?)
}

/// The fingerprint of the settings groups depend on.
fn fingerprint(config: &FacetConfig) -> String {
    let s = serde_json::to_string(&(
        &config.burst_detection,
        &config.burst_scoring,
        &config.duplicate_detection,
        &config.similarity_groups,
    ))
    .expect("settings serialize");
    hex::encode(&Sha256::digest(format!("groups/1:{s}"))[..8])
}

/// Detects the groups (incrementally unless `full`) and brings
/// `photo_groups` up to date.
pub fn detect(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    config: &FacetConfig,
    full: bool,
) -> Result<Detected> {
    let started = Instant::now();
    let trace = crate::Trace::new("groups");
    // The stored photo rows, straight from Lance (not through the `photos`
    // view, whose joins cost more than the read), and their aggregates.
    let mut columns: Vec<&str> = INPUT_COLUMNS
        .iter()
        .copied()
        .filter(|c| *c != "aggregate")
        .collect();
    columns.push("analyzed_at");
    let aggregates = aggregates(rt, store)?;
    let mut photos: Vec<Photo> = Vec::new();
    // Per photo, when it was analysed.
    let mut analyzed: Vec<Option<i64>> = Vec::new();
    if let Some(ds) = rt.block_on(store.dataset("photos"))? {
        // Batch by batch: never the library's rows and its photos at once.
        let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None))?;
        while let Some(batch) = rt.block_on(scan.next())? {
            let batch = with_aggregates(batch, &aggregates)?;
            photos.extend(photos_of(&batch).map_err(Error::Internal)?);
            match batch.column_by_name("analyzed_at") {
                Some(c) => analyzed.extend(c.as_primitive::<TimestampNanosecondType>().iter()),
                None => analyzed.extend(std::iter::repeat_n(None, batch.num_rows())),
            }
        }
    }
    drop(aggregates);
    trace.at("photos read");
    let decided = decisions(rt, store)?;

    // The previous detection.
    let fp = fingerprint(config);
    let session = rt.block_on(store.session())?;
    let g = rt.block_on(session.table("photo_groups"))?;
    let gschema: arrow::datatypes::SchemaRef = Arc::new(g.schema().as_arrow().clone());
    let prev = arrow::compute::concat_batches(&gschema, &rt.block_on(g.collect())?)?;
    let prev_paths = prev
        .column_by_name("path")
        .expect("declared")
        .as_string::<i32>()
        .clone();
    let prev_at = prev
        .column_by_name("grouped_at")
        .expect("declared")
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    let prev_with = prev
        .column_by_name("grouped_with")
        .expect("declared")
        .as_string::<i32>()
        .clone();
    let same_settings = prev.num_rows() > 0
        && (0..prev.num_rows()).all(|i| !prev_with.is_null(i) && prev_with.value(i) == fp);
    let since = (!full && same_settings).then(|| {
        let at: HashMap<&str, i64> = (0..prev.num_rows())
            .filter(|&i| !prev_at.is_null(i))
            .map(|i| (prev_paths.value(i), prev_at.value(i)))
            .collect();
        let changed = (0..photos.len())
            .filter(|&i| match (at.get(photos[i].path.as_str()), analyzed[i]) {
                (None, _) => true,
                (Some(&t), Some(a)) => a > t,
                (Some(_), None) => false,
            })
            .collect();
        Since {
            groups: stored_groups(&prev),
            changed,
        }
    });

    trace.at("previous groups read");
    let settings = Settings::of(config);
    if columns.contains(&"embedding") {
        rt.block_on(store.index_vectors("photos", "embedding"))?;
    }
    let mut neighbours = Indexed {
        rt,
        store,
        k: config.similarity_groups.max_group_size as usize + 8,
        index_of: HashMap::new(),
    };
    let found = maintain::detect(&photos, settings, &decided, since.as_ref(), &mut neighbours)
        .map_err(Error::Config)?;
    trace.at("detected");
    let batch = rows(&photos, &found.groups).map_err(Error::Internal)?;

    // Rows to write: every row after a full detection, else the changed
    // photos' and those whose groups changed; rows of removed photos go.
    let table = facet_schemas::photo_groups();
    let compared: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let render = |b: &RecordBatch, i: usize| -> String {
        compared
            .iter()
            .map(|c| {
                b.column_by_name(c)
                    .map(|a| {
                        if a.is_null(i) {
                            "∅".to_string()
                        } else {
                            array_value_to_string(a, i).unwrap_or_default()
                        }
                    })
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    };
    // Only rows in a group now or before can differ from their stored row
    // (every other row is all nulls both times): the others are not compared.
    let grouped = |b: &RecordBatch, i: usize| {
        Kind::ALL.iter().any(|k| {
            b.column_by_name(&format!("{}_group_id", k.as_str()))
                .is_some_and(|c| !c.is_null(i))
        })
    };
    let before: HashMap<&str, String> = (0..prev.num_rows())
        .filter(|&i| grouped(&prev, i))
        .map(|i| (prev_paths.value(i), render(&prev, i)))
        .collect();
    let write: Vec<bool> = match &since {
        None => vec![true; batch.num_rows()],
        Some(s) => {
            let mut w: Vec<bool> = (0..batch.num_rows())
                .map(|i| {
                    let was = before.get(photos[i].path.as_str());
                    match (was, grouped(&batch, i)) {
                        (None, false) => false,
                        (Some(r), true) => *r != render(&batch, i),
                        _ => true,
                    }
                })
                .collect();
            for &i in &s.changed {
                w[i] = true;
            }
            w
        }
    };
    let batch =
        arrow::compute::filter_record_batch(&batch, &arrow::array::BooleanArray::from(write))?;
    let now = now_ns();
    let at: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..batch.num_rows()).map(|_| now))
            .with_timezone("UTC"),
    );
    let with: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..batch.num_rows()).map(|_| fp.as_str()),
    ));
    let batch = facet_engine::with_columns(
        batch,
        vec![
            table.column("grouped_at").expect("declared").field(),
            table.column("grouped_with").expect("declared").field(),
        ],
        vec![at, with],
    )?;
    let written = batch.num_rows();
    let mut removed = 0;
    if since.is_none() {
        rt.block_on(store.replace(&table, batch))?;
    } else {
        let here: std::collections::HashSet<&str> =
            photos.iter().map(|p| p.path.as_str()).collect();
        let gone: Vec<String> = (0..prev.num_rows())
            .map(|i| prev_paths.value(i))
            .filter(|p| !here.contains(p))
            .map(str::to_string)
            .collect();
        removed = gone.len();
        if !gone.is_empty() {
            rt.block_on(store.delete_keys(&table, &gone))?;
        }
        if batch.num_rows() > 0 {
            rt.block_on(store.upsert(&table, batch))?;
        }
    }
    trace.at("written");
    point!("groups::written");
    let count = |k: Kind| {
        let g: Vec<_> = found.groups.iter().filter(|g| g.kind == k).collect();
        (g.len(), g.iter().map(|g| g.members.len()).sum())
    };
    let ((bursts, in_bursts), (duplicate_groups, duplicates), (similar_groups, similar)) = (
        count(Kind::Burst),
        count(Kind::Duplicate),
        count(Kind::Similar),
    );
    Ok(Detected {
        photos: photos.len(),
        bursts,
        in_bursts,
        duplicate_groups,
        duplicates,
        similar_groups,
        similar,
        looked_up: found.looked_up,
        full: since.is_none(),
        written,
        removed,
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
        return Err(Error::NotFound(format!(
            "{path}: not a photo of this store"
        )));
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
                let gid = format!("{}_group_id", kind.as_str());
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
