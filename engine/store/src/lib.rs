//! The columnar store: one Lance dataset per table under the store directory
//! (`<store>/photos.lance`, `<store>/failures.lance`), DataFusion SQL over
//! them, and Parquet export.
//!
//! Writes are merges keyed by the table's key (`path`): re-writing a photo
//! replaces its row, so runs are idempotent, and every commit is atomic (a
//! killed run leaves the last committed version readable, never half a row).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, RecordBatchIterator, StringArray,
    TimestampNanosecondArray, new_null_array,
};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use facet_schemas::Table;
/// A Lance dataset (what [`Store::dataset`] opens).
pub use lance::Dataset;
use lance::dataset::{
    MergeInsertBuilder, NewColumnTransform, WhenMatched, WhenNotMatched, WriteMode, WriteParams,
};
use tokio::sync::Mutex;

pub mod filter;
pub use filter::Filter;

/// Store errors, by whose fault they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The user's query is wrong: DataFusion's own message.
    #[error("{0}")]
    Query(String),
    /// The store directory cannot be used.
    #[error("store {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("lance: {0}")]
    Lance(#[from] lance::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Vectors from which [`Store::index_vectors`] builds an index (IVF needs
/// rows to train its partitions; below this an exact scan is as fast).
pub const MIN_INDEXED_VECTORS: usize = 256;

/// The DataFusion name of the stored `photos` rows (`photos` is the view with scores).
pub const PHOTOS_STORED: &str = "photos_stored";

/// A store directory.
pub struct Store {
    dir: PathBuf,
    // One writer at a time; readers open the latest version.
    write_lock: Mutex<()>,
    /// Lance's caches (index pages, file metadata), shared by every
    /// dataset the store opens and bounded ([`INDEX_CACHE_BYTES`],
    /// [`METADATA_CACHE_BYTES`]).
    session: Arc<lance::session::Session>,
}

/// Bound of the Lance index cache a store's datasets share. Lance's default
/// is 6 GiB, and a fresh cache per `Dataset::open`: a long-running gallery's
/// look-ups could grow it without bound, and each open started cold. Shared
/// and bounded, it keeps the `path` index's pages between look-ups within
/// what the memory budget allows.
pub const INDEX_CACHE_BYTES: usize = 128 << 20;
/// Bound of the Lance file-metadata cache a store's datasets share (Lance's
/// default: 1 GiB).
pub const METADATA_CACHE_BYTES: usize = 64 << 20;

impl Store {
    /// Opens (creating the directory if needed) the store at `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let dir = dir.canonicalize().map_err(|e| StoreError::Io {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Store {
            dir,
            write_lock: Mutex::new(()),
            session: Arc::new(lance::session::Session::new(
                INDEX_CACHE_BYTES,
                METADATA_CACHE_BYTES,
                Default::default(),
            )),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn uri(&self, table: &str) -> String {
        self.dir
            .join(format!("{table}.lance"))
            .to_string_lossy()
            .into_owned()
    }

    /// The table's dataset at its latest version, if it has been written.
    pub async fn dataset(&self, table: &str) -> Result<Option<Dataset>> {
        let uri = self.uri(table);
        if !Path::new(&uri).exists() {
            return Ok(None);
        }
        Ok(Some(
            lance::dataset::builder::DatasetBuilder::from_uri(&uri)
                .with_session(self.session.clone())
                .load()
                .await?,
        ))
    }

    /// The version of `table` now (`None`: not written yet).
    pub async fn table_version(&self, table: &str) -> Result<Option<u64>> {
        Ok(self.dataset(table).await?.map(|d| d.version().version))
    }

    /// Appends rows that are known not to be in the table yet (new photos):
    /// no join with the stored rows, so the cost does not grow with the table.
    /// Columns `batch` lacks are stored as nulls.
    pub async fn append(&self, table: &Table, batch: RecordBatch) -> Result<()> {
        self.write(table, batch, WriteMode::Append).await
    }

    /// Replaces the whole table with `batch` in one atomic commit (derived
    /// tables such as `scores`).
    pub async fn replace(&self, table: &Table, batch: RecordBatch) -> Result<()> {
        self.write(table, batch, WriteMode::Overwrite).await
    }

    async fn write(&self, table: &Table, batch: RecordBatch, mode: WriteMode) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let exists = self.dataset(table.name).await?.is_some();
        let table = if exists && matches!(mode, WriteMode::Append) {
            self.evolve(table).await?.1
        } else {
            table.clone()
        };
        let schema = table.schema();
        let batch = conform(&batch, &schema, true)?;
        let mode = if exists { mode } else { WriteMode::Create };
        let reader = RecordBatchIterator::new(vec![Ok(batch)], schema.clone());
        let params = WriteParams {
            mode,
            session: Some(self.session.clone()),
            ..Default::default()
        };
        let mut ds = Dataset::write(reader, self.uri(table.name).as_str(), Some(params)).await?;
        index_key(&mut ds, &table).await
    }

    /// Brings the stored table and `table` to the same columns: adds (as
    /// nulls, a metadata-only change) the columns `table` declares and the
    /// stored table lacks — a newer Facet, or a pipeline with a new model
    /// output — and returns `table` extended with the stored columns it does
    /// not declare (written by an earlier pipeline), which are kept.
    async fn evolve(&self, table: &Table) -> Result<(Option<Dataset>, Table)> {
        let Some(mut ds) = self.dataset(table.name).await? else {
            return Ok((None, table.clone()));
        };
        let have: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
        let missing: Vec<Field> = table
            .schema()
            .fields()
            .iter()
            .filter(|f| !have.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        if !missing.is_empty() {
            ds.add_columns(
                NewColumnTransform::AllNulls(Arc::new(Schema::new(missing))),
                None,
                None,
            )
            .await?;
        }
        let stored = Schema::from(ds.schema());
        let effective = table.clone().with_extra(
            stored
                .fields()
                .iter()
                .map(|f| facet_schemas::Column::extra(f, "written by an earlier pipeline")),
        );
        Ok((Some(ds), effective))
    }

    /// Removes the versions of `table` older than its last `keep` (their
    /// manifests and the files only they refer to): for tables rewritten
    /// often (the gallery's `sessions`), whose history nobody reads. Returns
    /// how many versions went.
    pub async fn prune_versions(&self, table: &str, keep: usize) -> Result<u64> {
        let Some(ds) = self.dataset(table).await? else {
            return Ok(0);
        };
        let policy = lance::dataset::cleanup::CleanupPolicyBuilder::default()
            .retain_n_versions(&ds, keep.max(1))
            .await?
            .build();
        Ok(ds.cleanup_with_policy(policy).await?.old_versions)
    }

    /// Gives the stored `table` the columns its schema declares and it
    /// lacks, as nulls (a metadata-only change): after an upgrade, readers
    /// find every column they expect.
    pub async fn add_missing_columns(&self, table: &Table) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        self.evolve(table).await?;
        Ok(())
    }

    /// Adds the column `field` to the stored `table`, computed from each
    /// batch of its `reads` columns by `compute` (which returns the new
    /// column for the batch's rows). Only the new column's data is written:
    /// the table's other columns are read (`reads` alone), not rewritten.
    /// Nothing is done when the table is not written yet or already has it.
    pub async fn add_computed_column(
        &self,
        table: &Table,
        field: Field,
        reads: &[&str],
        compute: impl Fn(&RecordBatch) -> std::result::Result<ArrayRef, ArrowError>
        + Send
        + Sync
        + 'static,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let Some(mut ds) = self.dataset(table.name).await? else {
            return Ok(());
        };
        if ds.schema().field(field.name()).is_some() {
            return Ok(());
        }
        let output = Arc::new(Schema::new(vec![field]));
        let schema = output.clone();
        let mapper = move |b: &RecordBatch| -> lance::Result<RecordBatch> {
            let column = compute(b)?;
            Ok(RecordBatch::try_new(schema.clone(), vec![column])?)
        };
        ds.add_columns(
            NewColumnTransform::BatchUDF(lance::dataset::BatchUDF {
                mapper: Box::new(mapper),
                output_schema: output,
                result_checkpoint: None,
            }),
            Some(reads.iter().map(|c| c.to_string()).collect()),
            None,
        )
        .await?;
        Ok(())
    }

    /// Inserts or replaces whole rows by the table's key (columns `batch`
    /// lacks become null). Only the key column of the stored rows is read.
    pub async fn upsert(&self, table: &Table, batch: RecordBatch) -> Result<()> {
        let batch = conform(&batch, &table.schema(), true)?;
        self.merge(table, batch, WhenNotMatched::InsertAll).await
    }

    /// Updates some columns of existing rows by key, keeping the others; keys
    /// not in the table are ignored. Lance reads the other columns of the
    /// stored rows to do this: meant for narrow tables.
    pub async fn update_columns(&self, table: &Table, batch: RecordBatch) -> Result<()> {
        self.merge(table, batch, WhenNotMatched::DoNothing).await
    }

    async fn merge(
        &self,
        table: &Table,
        batch: RecordBatch,
        not_matched: WhenNotMatched,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let (ds, table) = self.evolve(table).await?;
        let schema = table.schema();
        let Some(ds) = ds else {
            if not_matched == WhenNotMatched::DoNothing {
                return Ok(());
            }
            let batch = conform(&batch, &schema, true)?;
            let reader = RecordBatchIterator::new(vec![Ok(batch)], schema.clone());
            let params = WriteParams {
                mode: WriteMode::Create,
                session: Some(self.session.clone()),
                ..Default::default()
            };
            let mut ds =
                Dataset::write(reader, self.uri(table.name).as_str(), Some(params)).await?;
            return index_key(&mut ds, &table).await;
        };
        let batch = conform(&batch, &schema, false)?;
        let source_schema = batch.schema();
        let reader = RecordBatchIterator::new(vec![Ok(batch)], source_schema);
        let mut builder = MergeInsertBuilder::try_new(Arc::new(ds), vec![table.key.to_string()])?;
        builder
            .when_matched(WhenMatched::UpdateAll)
            .when_not_matched(not_matched);
        let (ds, _) = builder.try_build()?.execute_reader(reader).await?;
        let mut ds = Arc::unwrap_or_clone(ds);
        index_key(&mut ds, &table).await
    }

    /// Deletes the rows whose key is in `keys`.
    pub async fn delete_keys(&self, table: &Table, keys: &[String]) -> Result<()> {
        self.delete_in(table, table.key, keys).await
    }

    /// Deletes the rows whose (string) `column` is in `values`: the faces of
    /// some photos, say.
    pub async fn delete_in(&self, table: &Table, column: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let Some(mut ds) = self.dataset(table.name).await? else {
            return Ok(());
        };
        for chunk in keys.chunks(500) {
            ds = delete(ds, filter::one_of(column, chunk.iter().map(String::as_str))).await?;
        }
        Ok(())
    }

    /// Deletes the rows that match `filter` (rows whose key embeds a path,
    /// say).
    pub async fn delete_where(&self, table: &Table, filter: Filter) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let Some(ds) = self.dataset(table.name).await? else {
            return Ok(());
        };
        delete(ds, filter).await?;
        Ok(())
    }

    /// `path -> (file_size, file_mtime ns)` of every row of a file-keyed table.
    pub async fn file_index(&self, table: &Table) -> Result<HashMap<String, (i64, i64)>> {
        self.file_index_under(table, None).await
    }

    /// [`Store::file_index`] of the rows whose path is one of `roots` or lies
    /// under one (every row with `None`): a range look-up in the `path`
    /// index per root, so its cost follows the rows under the roots, not
    /// the table.
    pub async fn file_index_under(
        &self,
        table: &Table,
        roots: Option<&[String]>,
    ) -> Result<HashMap<String, (i64, i64)>> {
        let mut out = HashMap::new();
        let Some(ds) = self.dataset(table.name).await? else {
            return Ok(out);
        };
        let columns = ["path", "file_size", "file_mtime"];
        // Batch by batch: never the rows and the index at once.
        let mut scan = match roots {
            None => scan(&ds, &columns, None).await?,
            Some([]) => return Ok(out),
            Some(roots) => scan_where(&ds, &columns, filter::paths_under(roots)).await?,
        };
        while let Some(b) = scan.next().await? {
            let paths = b
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("path is utf8");
            let sizes = b
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("file_size is int64");
            let mtimes = b
                .column(2)
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .expect("file_mtime is timestamp");
            for i in 0..b.num_rows() {
                out.insert(
                    paths.value(i).to_string(),
                    (sizes.value(i), mtimes.value(i)),
                );
            }
        }
        Ok(out)
    }

    /// Brings a BTree index on `column` of `table` up to date (created, or
    /// given the rows written since): range and `IN` look-ups on it then
    /// read the rows they find. Returns false when the table or column is absent.
    pub async fn index_scalar(&self, table: &str, column: &str) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let Some(mut ds) = self.dataset(table).await? else {
            return Ok(false);
        };
        index_column(&mut ds, column).await
    }

    /// [`Store::index_scalar`] for several columns of `table`, the rows
    /// written since folded into all of their indexes in one commit.
    pub async fn index_scalars(&self, table: &str, columns: &[&str]) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        if let Some(mut ds) = self.dataset(table).await? {
            index_columns(&mut ds, columns).await?;
        }
        Ok(())
    }

    /// Brings the cosine vector index on `column` of `table` up to date:
    /// built (IVF_FLAT, √n partitions) once the column holds
    /// [`MIN_INDEXED_VECTORS`] vectors, and given the rows written since in
    /// later calls (an append to the index, proportional to the new rows).
    /// Below that size there is no index: a query scans every vector, which
    /// is cheaper than training one. Returns whether an index exists.
    pub async fn index_vectors(&self, table: &str, column: &str) -> Result<bool> {
        use lance::index::vector::VectorIndexParams;
        use lance::index::{DatasetIndexExt, DatasetIndexInternalExt};
        let _guard = self.write_lock.lock().await;
        let Some(mut ds) = self.dataset(table).await? else {
            return Ok(false);
        };
        let Some(field) = ds.schema().field(column).map(|f| f.id) else {
            return Ok(false);
        };
        let name = format!("{column}_idx");
        let indices = ds.load_indices().await?;
        if indices.iter().any(|i| i.fields.contains(&field)) {
            if !ds.unindexed_fragments(&name).await?.is_empty() {
                ds.optimize_indices(&lance_index::optimize::OptimizeOptions::append())
                    .await?;
            }
            return Ok(true);
        }
        let vectors = count_where(&ds, filter::not_null(column)).await?;
        if vectors < MIN_INDEXED_VECTORS {
            return Ok(false);
        }
        let partitions = ((vectors as f64).sqrt() as usize).clamp(1, 4096);
        let metric = "cosine".try_into().map_err(StoreError::Arrow)?;
        ds.create_index(
            &[column],
            lance_index::IndexType::Vector,
            Some(name),
            &VectorIndexParams::ivf_flat(partitions, metric),
            true,
        )
        .await?;
        Ok(true)
    }

    /// The nearest rows of `table` to each query vector by cosine distance
    /// (1 − cosine) in `column`: up to `k` `(path, distance)` per query, each
    /// within `max_distance`, nearest first. Through the vector index when
    /// [`Store::index_vectors`] built one (probing `nprobes` partitions, the
    /// rows written since scanned), else an exact scan.
    pub async fn nearest(
        &self,
        table: &str,
        column: &str,
        queries: &[&[f32]],
        k: usize,
        max_distance: f32,
        nprobes: usize,
    ) -> Result<Vec<Vec<(String, f32)>>> {
        let mut out = vec![Vec::new(); queries.len()];
        let (Some(ds), Some(first)) = (self.dataset(table).await?, queries.first()) else {
            return Ok(out);
        };
        let dim = first.len() as i32;
        let values: Vec<f32> = queries.iter().flat_map(|q| q.iter().copied()).collect();
        let q = arrow_array::FixedSizeListArray::try_new(
            Arc::new(Field::new("item", arrow_schema::DataType::Float32, true)),
            dim,
            Arc::new(arrow_array::Float32Array::from(values)),
            None,
        )?;
        let mut scan = ds.scan();
        scan.project(&["path"])?;
        scan.nearest(column, &q, k)?;
        // Cosine also without an index (the exact scan's default is L2).
        scan.distance_metric("cosine".try_into().map_err(StoreError::Arrow)?);
        scan.distance_range(None, Some(max_distance));
        scan.nprobes(nprobes);
        let batches: Vec<RecordBatch> =
            futures::TryStreamExt::try_collect(scan.try_into_stream().await?).await?;
        for b in batches {
            let path = b
                .column_by_name("path")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| StoreError::Query("nearest: no path column".into()))?;
            let dist = b
                .column_by_name(lance_index::vector::DIST_COL)
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::Float32Array>())
                .ok_or_else(|| StoreError::Query("nearest: no distance column".into()))?;
            let query = b
                .column_by_name("query_index")
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::Int32Array>());
            for i in 0..b.num_rows() {
                let qi = query.map_or(0, |q| q.value(i) as usize);
                if let Some(slot) = out.get_mut(qi)
                    && !dist.is_null(i)
                {
                    slot.push((path.value(i).to_string(), dist.value(i)));
                }
            }
        }
        for v in &mut out {
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(out)
    }

    /// A DataFusion session with every table registered by name (empty
    /// until first written, so that queries never depend on what a run met).
    /// `photos` is a view: the stored photo rows (`photos_stored`) with their
    /// `scores` columns and the gallery's `user_state` (rating, favorite,
    /// rejected) joined on `path`.
    pub async fn session(&self) -> Result<SessionContext> {
        Ok(self.snapshot().await?.ctx)
    }

    /// [`Store::session`] with the table versions it reads, so that a
    /// long-lived reader (the gallery) can keep it until a table changes
    /// ([`Store::is_current`]).
    pub async fn snapshot(&self) -> Result<Snapshot> {
        self.snapshot_since(None).await
    }

    /// [`Store::snapshot`] from an earlier one of this store: the tables
    /// written since are brought to their latest versions, the others are
    /// kept as they are (a reader refreshing while a run commits re-reads
    /// the manifests of the tables the run wrote, not of every table).
    pub async fn snapshot_since(&self, previous: Option<&Snapshot>) -> Result<Snapshot> {
        let ctx = SessionContext::new();
        let q = |e: datafusion::error::DataFusionError| StoreError::Query(e.to_string());
        let mut datasets = Vec::new();
        for table in facet_schemas::tables() {
            let ds = match previous.and_then(|p| p.dataset(table.name)) {
                Some(old) => match old.latest_version_id().await {
                    Ok(v) if v == old.version().version => Some(old.clone()),
                    _ => {
                        let mut ds = Dataset::clone(old);
                        match ds.checkout_latest().await {
                            Ok(()) => Some(Arc::new(ds)),
                            // Removed and written anew: opened as such.
                            Err(_) => self.dataset(table.name).await?.map(Arc::new),
                        }
                    }
                },
                None => self.dataset(table.name).await?.map(Arc::new),
            };
            datasets.push((table.name, ds.clone()));
            // A derived table written by an older Facet, without columns
            // this one declares, reads as not written yet until rewritten.
            let ds = ds.filter(|d| {
                table.name != "photo_groups"
                    || table
                        .columns
                        .iter()
                        .all(|c| d.schema().field(&c.name).is_some())
            });
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match ds {
                Some(ds) => Arc::new(lance::datafusion::LanceTableProvider::new(ds, false, false)),
                None => Arc::new(
                    datafusion::datasource::MemTable::try_new(table.schema(), vec![vec![]])
                        .map_err(q)?,
                ),
            };
            let name = if table.name == "photos" {
                PHOTOS_STORED
            } else {
                table.name
            };
            ctx.register_table(name, provider).map_err(q)?;
        }
        ctx.sql(&photos_view()).await.map_err(q)?;
        // One row per member of each group, with the lead and why.
        let per_kind: Vec<String> = ["burst", "duplicate", "similar"]
            .iter()
            .map(|k| {
                format!(
                    "SELECT '{k}' AS kind, {k}_group_id AS group_id, path, is_{k}_lead AS is_lead, \
                     {k}_lead_reason AS reason, {k}_size AS size \
                     FROM photo_groups WHERE {k}_group_id IS NOT NULL"
                )
            })
            .collect();
        ctx.sql(&format!(
            "CREATE VIEW groups AS {}",
            per_kind.join(" UNION ALL ")
        ))
        .await
        .map_err(q)?;
        Ok(Snapshot { ctx, datasets })
    }

    /// Whether no table of `snap` has been written (or created) since: a
    /// directory listing per table, no manifest read.
    pub async fn is_current(&self, snap: &Snapshot) -> Result<bool> {
        for (name, ds) in &snap.datasets {
            match ds {
                Some(ds) => {
                    if ds.latest_version_id().await? != ds.version().version {
                        return Ok(false);
                    }
                }
                None => {
                    if Path::new(&self.uri(name)).exists() {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Runs a SQL query over the store's tables.
    pub async fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        self.sql_with(query, Vec::new()).await
    }

    /// Runs a SQL query whose values are parameters (`$1`, `$2`, …) bound
    /// to `params`: values are never formatted into the query's text.
    pub async fn sql_with(
        &self,
        query: &str,
        params: Vec<datafusion::scalar::ScalarValue>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let ctx = self.session().await?;
        let mut df = ctx
            .sql(query)
            .await
            .map_err(|e| StoreError::Query(e.to_string()))?;
        if !params.is_empty() {
            df = df
                .with_param_values(params)
                .map_err(|e| StoreError::Query(e.to_string()))?;
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .map_err(|e| StoreError::Query(e.to_string()))?;
        Ok((schema, batches))
    }

    /// Writes every table as `<dir>/<table>.parquet`; returns the files written.
    pub async fn export_parquet(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let mut written = Vec::new();
        for table in facet_schemas::tables() {
            let Some(ds) = self.dataset(table.name).await? else {
                continue;
            };
            let path = dir.join(format!("{}.parquet", table.name));
            let file = std::fs::File::create(&path).map_err(|e| StoreError::Io {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let schema: SchemaRef = Arc::new(Schema::from(ds.schema()));
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))?;
            let mut stream = ds.scan().try_into_stream().await?;
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                writer.write(&batch?)?;
            }
            writer.close()?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The `photos` view: the stored photo rows with their `scores`, the
/// gallery's `user_state` (rating, favorite, rejected) and their groups
/// (`photo_groups`), joined on `path`.
fn photos_view() -> String {
    let scores = facet_schemas::scores();
    let score_columns: Vec<String> = scores
        .columns
        .iter()
        .filter(|c| c.name != scores.key)
        .map(|c| format!("s.{}", c.name))
        .collect();
    // The gallery's ratings, favourites and rejects (`user_state`, never
    // rewritten by a run).
    let user_columns = ["rating", "favorite", "rejected"].map(|c| format!("u.{c}"));
    // Burst, duplicate and similarity groups (`photo_groups`, kept up to
    // date by every detection).
    let groups = facet_schemas::photo_groups();
    let group_columns: Vec<String> = groups
        .columns
        .iter()
        .filter(|c| {
            c.name != groups.key
                && c.name != "grouped_at"
                && c.name != "grouped_with"
                && !c.name.starts_with("phash_q")
        })
        .map(|c| format!("g.{}", c.name))
        .collect();
    format!(
        "CREATE VIEW photos AS SELECT p.*, {}, {}, {} FROM {PHOTOS_STORED} p \
         LEFT JOIN scores s ON p.path = s.path \
         LEFT JOIN user_state u ON p.path = u.path \
         LEFT JOIN photo_groups g ON p.path = g.path",
        score_columns.join(", "),
        user_columns.join(", "),
        group_columns.join(", ")
    )
}

/// The tables the `photos` view joins (by their names in the store).
const VIEW_TABLES: [&str; 4] = ["photos", "scores", "user_state", "photo_groups"];

/// Paths of the rows of `ds` in fragments it did not have at `version`:
/// the rows written since (new rows, and the new versions of rows a merge
/// rewrote); every row when `version` is `None` (the table did not exist
/// then). `None` when that version can no longer be opened or the table
/// was rewritten since (a fragment id below an old one, or columns of a
/// kept fragment updated in place).
pub async fn paths_written_since(
    ds: &Dataset,
    version: Option<u64>,
) -> Result<Option<Vec<String>>> {
    let max_old = match version {
        None => None,
        Some(v) if ds.version().version == v => return Ok(Some(Vec::new())),
        Some(v) => {
            let Some(old) = fragment_files_at(ds, v).await else {
                return Ok(None);
            };
            let max_old = old.keys().max().copied();
            // A fragment below the old ones is a rewrite (compaction); a
            // kept fragment with other data files had columns updated in
            // place: neither says which rows changed.
            if ds.fragments().iter().any(|f| match old.get(&f.id) {
                None => max_old.is_some_and(|m| f.id <= m),
                Some(files) => *files != data_files(f),
            }) {
                return Ok(None);
            }
            max_old
        }
    };
    let mut out = Vec::new();
    let mut scan = scan(ds, &["path"], max_old).await?;
    while let Some(b) = scan.next().await? {
        let p = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("path is utf8");
        out.extend(p.iter().flatten().map(str::to_string));
    }
    Ok(Some(out))
}

/// A [`SessionContext`] over the tables at the versions it was made with.
#[derive(Clone)]
pub struct Snapshot {
    pub ctx: SessionContext,
    datasets: Vec<(&'static str, Option<Arc<Dataset>>)>,
}

impl Snapshot {
    /// The dataset of `table` this snapshot reads (`None`: not written yet).
    pub fn dataset(&self, table: &str) -> Option<&Arc<Dataset>> {
        self.datasets
            .iter()
            .find(|(n, _)| *n == table)
            .and_then(|(_, ds)| ds.as_ref())
    }

    /// The `photos` view's `columns` for the photos of `paths` only, at this
    /// snapshot's versions: each joined table's rows of those paths are
    /// looked up by key (the `path` index), then joined as the view joins
    /// them — what `SELECT columns FROM photos WHERE path IN (paths)`
    /// answers, without the view's reading of every row of the joined tables.
    pub async fn view_rows(&self, paths: &[String], columns: &[&str]) -> Result<RecordBatch> {
        let q = |e: datafusion::error::DataFusionError| StoreError::Query(e.to_string());
        let ctx = SessionContext::new();
        for name in VIEW_TABLES {
            let table = facet_schemas::tables()
                .into_iter()
                .find(|t| t.name == name)
                .expect("a declared table");
            // As the snapshot registers them: a `photo_groups` of an older
            // Facet reads as empty.
            let ds = self.dataset(name).filter(|d| {
                name != "photo_groups"
                    || table
                        .columns
                        .iter()
                        .all(|c| d.schema().field(&c.name).is_some())
            });
            let (schema, rows) = match ds {
                Some(ds) => {
                    let schema: SchemaRef = Arc::new(Schema::from(ds.schema()));
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    let mut rows = Vec::new();
                    for chunk in paths.chunks(500) {
                        let filter = filter::one_of("path", chunk.iter().map(String::as_str));
                        let mut scan = scan_where(ds, &names, filter).await?;
                        while let Some(b) = scan.next().await? {
                            rows.push(b);
                        }
                    }
                    (schema, rows)
                }
                None => (table.schema(), Vec::new()),
            };
            let mem = datafusion::datasource::MemTable::try_new(schema, vec![rows]).map_err(q)?;
            let registered = if name == "photos" {
                PHOTOS_STORED
            } else {
                name
            };
            ctx.register_table(registered, Arc::new(mem)).map_err(q)?;
        }
        ctx.sql(&photos_view()).await.map_err(q)?;
        let df = ctx.table("photos").await.map_err(q)?;
        let df = df.select_columns(columns).map_err(q)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(q)?;
        Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
    }

    /// Every photo's `columns` of the `photos` view, in path order, without
    /// the view's join: DataFusion's hash joins hold the stored photos
    /// once per joined table (1.8 GiB at a million photos), where this
    /// reads each table by itself and places its rows by path — memory for
    /// the result and one table's columns. Same schema and values as
    /// `SELECT columns FROM photos ORDER BY path`.
    pub async fn view_all(&self, columns: &[&str]) -> Result<RecordBatch> {
        let q = |e: datafusion::error::DataFusionError| StoreError::Query(e.to_string());
        let view = self.ctx.table("photos").await.map_err(q)?;
        let schema: SchemaRef = Arc::new(
            view.select_columns(columns)
                .map_err(q)?
                .schema()
                .as_arrow()
                .clone(),
        );
        let tables: Vec<(&str, Table)> = VIEW_TABLES
            .into_iter()
            .map(|name| {
                let t = facet_schemas::tables()
                    .into_iter()
                    .find(|t| t.name == name)
                    .expect("a declared table");
                (name, t)
            })
            .collect();
        // Which table gives each column: the stored photo's own columns
        // first, as the view's `p.*`.
        let stored = self.dataset("photos");
        let source = |c: &str| -> usize {
            if stored.is_some_and(|d| d.schema().field(c).is_some()) {
                return 0;
            }
            tables
                .iter()
                .position(|(_, t)| t.columns.iter().any(|x| x.name == c && c != "path"))
                .unwrap_or(0)
        };
        let read = |name: &str, table: &Table| -> Option<Arc<Dataset>> {
            self.dataset(name)
                .filter(|d| {
                    name != "photo_groups"
                        || table
                            .columns
                            .iter()
                            .all(|c| d.schema().field(&c.name).is_some())
                })
                .cloned()
        };
        let mut out: Vec<Option<ArrayRef>> = vec![None; columns.len()];
        // The stored photos, sorted by path.
        let Some(photos) = stored else {
            return Ok(RecordBatch::new_empty(schema));
        };
        let mine: Vec<&str> = std::iter::once("path")
            .chain(
                columns
                    .iter()
                    .copied()
                    .filter(|c| source(c) == 0 && *c != "path"),
            )
            .collect();
        let all = concat_scan(photos, &mine).await?;
        let order = {
            let p = all.column(0).as_string::<i32>();
            let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
            order.sort_unstable_by(|&a, &b| p.value(a as usize).cmp(p.value(b as usize)));
            arrow_array::UInt32Array::from(order)
        };
        let all = arrow_select::take::take_record_batch(&all, &order)?;
        drop(order);
        let paths = all.column(0).as_string::<i32>().clone();
        for (k, c) in columns.iter().enumerate() {
            if let Ok(i) = all.schema().index_of(c) {
                out[k] = Some(all.column(i).clone());
            }
        }
        drop(all);
        let n = paths.len();
        for (t, (name, table)) in tables.iter().enumerate().skip(1) {
            let wanted: Vec<&str> = columns
                .iter()
                .copied()
                .filter(|c| *c != "path" && source(c) == t)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let Some(ds) = read(name, table) else {
                continue;
            };
            let names: Vec<&str> = std::iter::once("path")
                .chain(wanted.iter().copied())
                .collect();
            let rows = concat_scan(&ds, &names).await?;
            // For each photo, its row of this table (null: none, as the
            // view's LEFT JOIN).
            let mut at: Vec<Option<u32>> = vec![None; n];
            let keys = rows.column(0).as_string::<i32>();
            for j in 0..keys.len() {
                if keys.is_null(j) {
                    continue;
                }
                let key = keys.value(j);
                if let Ok(i) = binary_search(&paths, key) {
                    at[i] = Some(j as u32);
                }
            }
            let at = arrow_array::UInt32Array::from(at);
            for (k, c) in columns.iter().enumerate() {
                if out[k].is_none()
                    && source(c) == t
                    && let Ok(i) = rows.schema().index_of(c)
                {
                    out[k] = Some(arrow_select::take::take(rows.column(i), &at, None)?);
                }
            }
        }
        let columns: Vec<ArrayRef> = out
            .into_iter()
            .zip(schema.fields())
            .map(|(c, f)| match c {
                Some(c) if c.data_type() == f.data_type() => Ok(c),
                Some(c) => Err(ArrowError::SchemaError(format!(
                    "{}: stored as {}, the view says {}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                ))),
                None => Ok(new_null_array(f.data_type(), n)),
            })
            .collect::<std::result::Result<_, ArrowError>>()?;
        let nullable = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        Ok(RecordBatch::try_new(nullable, columns)?)
    }

    /// The version of `table` this snapshot reads (`None`: not written yet).
    pub fn version(&self, table: &str) -> Option<u64> {
        self.datasets
            .iter()
            .find(|(n, _)| *n == table)
            .and_then(|(_, ds)| ds.as_ref().map(|d| d.version().version))
    }
}

/// A table's rows batch by batch ([`scan`]): memory for one batch at a time.
pub struct Scan {
    pub schema: SchemaRef,
    /// The highest fragment id of the version scanned (`None`: no rows).
    pub last_fragment: Option<u64>,
    stream: Option<lance::dataset::scanner::DatasetRecordBatchStream>,
}

impl Scan {
    /// The next batch, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        let Some(s) = self.stream.as_mut() else {
            return Ok(None);
        };
        Ok(futures::TryStreamExt::try_next(s).await?)
    }
}

/// Every row of `ds`'s `columns`, as one batch.
async fn concat_scan(ds: &Dataset, columns: &[&str]) -> Result<RecordBatch> {
    let mut scan = scan(ds, columns, None).await?;
    let mut batches = Vec::new();
    while let Some(b) = scan.next().await? {
        batches.push(b);
    }
    Ok(arrow_select::concat::concat_batches(
        &scan.schema,
        &batches,
    )?)
}

/// The index of `key` in the sorted `paths`.
fn binary_search(paths: &StringArray, key: &str) -> std::result::Result<usize, usize> {
    let (mut lo, mut hi) = (0, paths.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match paths.value(mid).cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

/// The `columns` (those the table has) of the rows of `ds` written since
/// fragment `after` (every row with `None`), batch by batch. Every write adds
/// fragments with higher ids (an append its new rows, a merge its new
/// versions of the rows it changes, whose old versions are deleted where
/// they were), so the rows of the fragments after a known id are exactly the
/// rows written since: the cost follows them, not the table. Rows deleted
/// since are not seen (the caller compares counts). Two scans of one `ds`
/// read the same version.
pub async fn scan(ds: &Dataset, columns: &[&str], after: Option<u64>) -> Result<Scan> {
    let have: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| ds.schema().field(c).is_some())
        .collect();
    let all = ds.fragments();
    let last_fragment = all.iter().map(|f| f.id).max();
    let since: Vec<lance::table::format::Fragment> = all
        .iter()
        .filter(|f| after.is_none_or(|a| f.id > a))
        .cloned()
        .collect();
    let mut scanner = ds.scan();
    scanner.project(&have)?;
    let schema: SchemaRef = scanner.schema().await?;
    let stream = if since.is_empty() {
        None
    } else {
        scanner.with_fragments(since);
        Some(scanner.try_into_stream().await?)
    };
    Ok(Scan {
        schema,
        last_fragment,
        stream,
    })
}

/// Deletes the rows of `ds` that match `filter`; returns the new version.
async fn delete(ds: Dataset, filter: Filter) -> Result<Dataset> {
    let done = lance::dataset::DeleteBuilder::from_expr(Arc::new(ds), filter)
        .execute()
        .await?;
    Ok(Arc::unwrap_or_clone(done.new_dataset))
}

/// How many rows of `ds` match `filter`.
pub async fn count_where(ds: &Dataset, filter: Filter) -> Result<usize> {
    let mut scanner = ds.scan();
    scanner.filter_expr(filter);
    Ok(scanner
        .project::<String>(&[])?
        .with_row_id()
        .count_rows()
        .await? as usize)
}

/// The `columns` (those the table has) of the rows of `ds` that match
/// `filter` ([`filter`]'s expressions), batch by batch; Lance answers it
/// from the scalar indexes where the predicate allows
/// ([`Store::index_scalar`]), so a look-up by key or range costs the rows
/// it finds, not the table.
pub async fn scan_where(ds: &Dataset, columns: &[&str], filter: Filter) -> Result<Scan> {
    let have: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| ds.schema().field(c).is_some())
        .collect();
    let mut scanner = ds.scan();
    scanner.project(&have)?;
    scanner.filter_expr(filter);
    let schema: SchemaRef = scanner.schema().await?;
    let stream = Some(scanner.try_into_stream().await?);
    Ok(Scan {
        schema,
        last_fragment: ds.fragments().iter().map(|f| f.id).max(),
        stream,
    })
}

/// The data files of each fragment `ds`'s table had at `version`; `None`
/// when that version can no longer be opened (cleaned up).
async fn fragment_files_at(ds: &Dataset, version: u64) -> Option<HashMap<u64, Vec<String>>> {
    let old = ds.checkout_version(version).await.ok()?;
    Some(
        old.fragments()
            .iter()
            .map(|f| (f.id, data_files(f)))
            .collect(),
    )
}

fn data_files(f: &lance::table::format::Fragment) -> Vec<String> {
    f.files.iter().map(|d| d.path.clone()).collect()
}

/// Delta segments the `path` index may have before a write merges them.
const MAX_KEY_SEGMENTS: usize = 8;

/// Gives a `path`-keyed table a BTree index on `path` when it has none, so
/// that the gallery's lookups by path (thumbnails, details, user state) do
/// not scan the table, and keeps it covering every row: the rows a write
/// adds (an append, the new fragments of an upsert) go into a delta segment
/// (cost: those rows), and at [`MAX_KEY_SEGMENTS`] segments the deltas are
/// merged into one, the first (base) segment kept (cost: the rows written
/// since the base was built, not the table: merging the base too made every
/// eighth 100-photo run at a million photos take 3 to 9 s). Without this, rows appended after the first
/// write were scanned by every lookup (3.9 s for a photo's row of a
/// million-photo library built by appends). A store written by an older
/// Facet catches up at its next write.
async fn index_key(ds: &mut Dataset, table: &Table) -> Result<()> {
    if table.key != "path" {
        return Ok(());
    }
    index_column(ds, "path").await.map(|_| ())
}

/// Gives `column` of `ds` a BTree index when it has none, and folds the
/// rows written since into it (a delta segment; at [`MAX_KEY_SEGMENTS`] the
/// deltas merged). Returns false when `ds` has no such column.
async fn index_column(ds: &mut Dataset, column: &str) -> Result<bool> {
    Ok(index_columns(ds, &[column]).await? == 1)
}

/// [`index_column`] for each of `columns`; the delta segments of all of
/// them in one commit (a commit per index cost a manifest write each: 0.4 s
/// of a 100-photo run at a million photos). Returns how many of `columns`
/// `ds` has.
async fn index_columns(ds: &mut Dataset, columns: &[&str]) -> Result<usize> {
    use lance::index::{DatasetIndexExt, DatasetIndexInternalExt};
    use lance_index::optimize::OptimizeOptions;
    let indices = ds.load_indices().await?;
    let mut found = 0;
    let mut append = Vec::new();
    let mut merge = Vec::new();
    let mut create = Vec::new();
    for &column in columns {
        let Some(field) = ds.schema().field(column).map(|f| f.id) else {
            continue;
        };
        found += 1;
        let segments: Vec<String> = indices
            .iter()
            .filter(|i| i.fields.contains(&field))
            .map(|i| i.name.clone())
            .collect();
        match segments.first() {
            None => create.push(column),
            Some(name) if ds.unindexed_fragments(name).await?.is_empty() => {}
            Some(name) if segments.len() >= MAX_KEY_SEGMENTS => {
                merge.push((name.clone(), segments.len() - 1))
            }
            Some(name) => append.push(name.clone()),
        }
    }
    if !append.is_empty() {
        ds.optimize_indices(&OptimizeOptions::append().index_names(append))
            .await?;
    }
    for (name, segments) in merge {
        ds.optimize_indices(&OptimizeOptions::merge(segments).index_names(vec![name]))
            .await?;
    }
    for column in create {
        ds.create_index(
            &[column],
            lance_index::IndexType::BTree,
            Some(format!("{column}_idx")),
            &lance_index::scalar::ScalarIndexParams::default(),
            true,
        )
        .await?;
    }
    Ok(found)
}

/// Orders `batch`'s columns as `schema` does, checking their types; columns
/// the table does not declare are an error. With `pad`, absent columns are
/// filled with nulls (a full-schema batch); without, they are left out.
fn conform(batch: &RecordBatch, schema: &SchemaRef, pad: bool) -> Result<RecordBatch> {
    for f in batch.schema().fields() {
        if schema.field_with_name(f.name()).is_err() {
            return Err(StoreError::Arrow(ArrowError::SchemaError(format!(
                "column `{}` is not declared in schemas/",
                f.name()
            ))));
        }
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for f in schema.fields() {
        match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
            Some(c) => {
                return Err(StoreError::Arrow(ArrowError::SchemaError(format!(
                    "column `{}` is {} but the table declares {}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                ))));
            }
            None if pad => {
                fields.push(f.as_ref().clone());
                columns.push(new_null_array(f.data_type(), batch.num_rows()));
            }
            None => {}
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photos_batch(paths: &[&str], iso: i64) -> RecordBatch {
        let t = facet_schemas::photos();
        let schema = Arc::new(Schema::new(
            ["path", "file_size", "file_mtime", "iso"]
                .iter()
                .map(|n| t.column(n).unwrap().field())
                .collect::<Vec<_>>(),
        ));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(paths.iter().copied())),
                Arc::new(Int64Array::from_iter_values(paths.iter().map(|_| 10))),
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(paths.iter().map(|_| 5))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(paths.iter().map(|_| iso))),
            ],
        )
        .unwrap()
    }

    /// A snapshot brought up to date from an earlier one re-reads only the
    /// tables written since, and reads what a fresh snapshot reads.
    #[tokio::test]
    async fn a_snapshot_since_an_earlier_one_keeps_the_tables_nobody_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let photos = facet_schemas::photos();
        let scores = facet_schemas::scores();
        let score_rows = |path: &str| {
            let t = scores.schema();
            let columns = t
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "path" => Arc::new(StringArray::from(vec![path])) as ArrayRef,
                    _ => arrow_array::new_null_array(f.data_type(), 1),
                })
                .collect();
            RecordBatch::try_new(t.clone(), columns).unwrap()
        };
        let count = |s: Snapshot| async move {
            let b = s
                .ctx
                .sql("SELECT count(*) AS n FROM photos_stored")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            b[0].column(0)
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(0)
        };
        store
            .append(&photos, photos_batch(&["/a.jpg"], 100))
            .await
            .unwrap();
        let first = store.snapshot().await.unwrap();
        assert!(first.dataset("scores").is_none());

        store.append(&scores, score_rows("/a.jpg")).await.unwrap();
        let second = store.snapshot_since(Some(&first)).await.unwrap();
        assert!(Arc::ptr_eq(
            first.dataset("photos").unwrap(),
            second.dataset("photos").unwrap()
        ));
        assert!(second.dataset("scores").is_some());

        store
            .append(&photos, photos_batch(&["/b.jpg"], 200))
            .await
            .unwrap();
        let third = store.snapshot_since(Some(&second)).await.unwrap();
        assert!(Arc::ptr_eq(
            second.dataset("scores").unwrap(),
            third.dataset("scores").unwrap()
        ));
        assert!(third.version("photos") > second.version("photos"));
        let fresh = store.snapshot().await.unwrap();
        for table in facet_schemas::tables() {
            assert_eq!(
                third.version(table.name),
                fresh.version(table.name),
                "{}",
                table.name
            );
        }
        assert_eq!(count(third).await, 2);
        assert_eq!(count(second).await, 1);
    }

    #[tokio::test]
    async fn upsert_is_idempotent_and_sql_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = facet_schemas::photos();
        store
            .upsert(&t, photos_batch(&["/a.jpg", "/b.jpg"], 100))
            .await
            .unwrap();
        store
            .upsert(&t, photos_batch(&["/b.jpg", "/c.jpg"], 200))
            .await
            .unwrap();
        let (_, batches) = store
            .sql("SELECT path, iso FROM photos ORDER BY path")
            .await
            .unwrap();
        let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        let paths = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let isos = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            paths.iter().flatten().collect::<Vec<_>>(),
            ["/a.jpg", "/b.jpg", "/c.jpg"]
        );
        assert_eq!(isos.values().to_vec(), [100, 200, 200]);
        let index = store.file_index(&t).await.unwrap();
        assert_eq!(index.get("/a.jpg"), Some(&(10, 5)));
        store
            .delete_keys(&t, &["/a.jpg".into(), "/it's.jpg".into()])
            .await
            .unwrap();
        assert_eq!(store.file_index(&t).await.unwrap().len(), 2);
    }

    /// Appends fold into delta segments of the `path` index; at
    /// `MAX_KEY_SEGMENTS` the deltas are merged and the base segment (the
    /// index first built) is kept, and every row is found through the index.
    #[tokio::test]
    async fn the_path_index_merges_its_deltas_and_keeps_its_base() {
        use lance::index::DatasetIndexExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = facet_schemas::photos();
        let segments = |ds: Dataset| async move {
            let field = ds.schema().field("path").unwrap().id;
            ds.load_indices()
                .await
                .unwrap()
                .iter()
                .filter(|i| i.fields.contains(&field))
                .map(|i| i.uuid)
                .collect::<Vec<_>>()
        };
        store
            .append(&t, photos_batch(&["/p00.jpg"], 0))
            .await
            .unwrap();
        let base = segments(store.dataset("photos").await.unwrap().unwrap()).await;
        assert_eq!(base.len(), 1);
        let mut most = 0;
        for i in 1..=2 * MAX_KEY_SEGMENTS {
            let path = format!("/p{i:02}.jpg");
            store
                .append(&t, photos_batch(&[&path], i as i64))
                .await
                .unwrap();
            let now = segments(store.dataset("photos").await.unwrap().unwrap()).await;
            assert_eq!(now[0], base[0], "the base segment is kept");
            most = most.max(now.len());
        }
        assert!(most <= MAX_KEY_SEGMENTS, "{most} segments");
        let ds = store.dataset("photos").await.unwrap().unwrap();
        assert!(segments(ds.clone()).await.len() < MAX_KEY_SEGMENTS);
        let mut scan = scan_where(
            &ds,
            &["path", "iso"],
            filter::one_of("path", ["/p00.jpg", "/p09.jpg", "/p16.jpg"]),
        )
        .await
        .unwrap();
        let mut found = Vec::new();
        while let Some(b) = scan.next().await.unwrap() {
            let p = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            found.extend(p.iter().flatten().map(str::to_string));
        }
        found.sort();
        assert_eq!(found, ["/p00.jpg", "/p09.jpg", "/p16.jpg"]);
    }

    #[tokio::test]
    async fn appends_and_replaced_scores_show_in_the_photos_view() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = facet_schemas::photos();
        store
            .append(&t, photos_batch(&["/a.jpg"], 1))
            .await
            .unwrap();
        store
            .append(&t, photos_batch(&["/b.jpg"], 2))
            .await
            .unwrap();
        let scores = facet_schemas::scores();
        let batch = |agg: f64| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    scores.column("path").unwrap().field(),
                    scores.column("aggregate").unwrap().field(),
                ])),
                vec![
                    Arc::new(StringArray::from(vec!["/a.jpg"])),
                    Arc::new(arrow_array::Float64Array::from(vec![agg])),
                ],
            )
            .unwrap()
        };
        store.replace(&scores, batch(3.0)).await.unwrap();
        store.replace(&scores, batch(7.5)).await.unwrap();
        let (_, batches) = store
            .sql("SELECT path, iso, aggregate FROM photos ORDER BY path")
            .await
            .unwrap();
        let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(b.num_rows(), 2);
        let agg = b
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap();
        assert_eq!(
            agg.value(0),
            7.5,
            "the latest scores replace the earlier ones"
        );
        assert!(agg.is_null(1), "a photo without scores still shows");
        let (_, n) = store.sql("SELECT count(*) FROM scores").await.unwrap();
        assert_eq!(
            n[0].column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            1
        );
    }

    #[tokio::test]
    async fn partial_upserts_keep_the_other_columns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = facet_schemas::photos();
        store
            .upsert(&t, photos_batch(&["/a.jpg", "/b.jpg"], 100))
            .await
            .unwrap();
        // A batch with the key and one other column only.
        let only_make = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                t.column("path").unwrap().field(),
                t.column("camera_make").unwrap().field(),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["/b.jpg", "/zzz.jpg"])),
                Arc::new(StringArray::from(vec!["Nikon", "Sony"])),
            ],
        )
        .unwrap();
        store.update_columns(&t, only_make).await.unwrap();
        let (_, batches) = store
            .sql("SELECT path, iso, camera_make FROM photos ORDER BY path")
            .await
            .unwrap();
        let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(b.num_rows(), 2, "update_columns inserts nothing");
        let isos = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let makes = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(isos.values().to_vec(), [100, 100], "iso kept");
        assert!(makes.is_null(0));
        assert_eq!(makes.value(1), "Nikon");
        // An undeclared column is refused.
        let bad = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                t.column("path").unwrap().field(),
                Field::new("nope", arrow_schema::DataType::Int64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["/a.jpg"])),
                Arc::new(Int64Array::from(vec![1])),
            ],
        )
        .unwrap();
        assert!(
            store
                .upsert(&t, bad)
                .await
                .unwrap_err()
                .to_string()
                .contains("not declared")
        );
    }

    #[tokio::test]
    async fn bad_sql_is_a_query_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = store.sql("SELEC nothing").await.unwrap_err();
        assert!(matches!(e, StoreError::Query(_)), "{e}");
        // Tables not written yet are there, empty.
        let (_, batches) = store
            .sql("SELECT path, reason FROM failures")
            .await
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    }

    #[tokio::test]
    async fn parquet_export_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        store
            .upsert(&facet_schemas::photos(), photos_batch(&["/a.jpg"], 1))
            .await
            .unwrap();
        let files = store.export_parquet(&dir.path().join("out")).await.unwrap();
        assert_eq!(files.len(), 1);
        let f = std::fs::File::open(&files[0]).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 1);
    }
}
