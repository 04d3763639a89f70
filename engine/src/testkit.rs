//! Small stage kinds for the engine's own tests: a directory source, a stage
//! that writes a working column, and one that reads it (and fails or panics on
//! request). No images involved.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder};
use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use serde::Deserialize;

use crate::stage::{Found, register};
use crate::{
    BuildCx, Built, Diagnostic, DynStageKind, FileEntry, PlanCx, Source, Stage, StageCx,
    StageError, StageKind, StagePlan,
};

pub struct Files;
pub struct Load;
pub struct Measure;
/// Stands for a model stage: declares a model file, counts its builds.
pub struct Model;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub column: String,
    pub model: String,
    /// Photos whose path ends with this fail here.
    #[serde(default)]
    pub fail: Option<String>,
    /// On its first batch (the first loaded), waits (at most 20 s) until a
    /// `load` stage counting as this tag has loaded a second, and records in
    /// [`OVERLAPPED`] whether it did: the proof that the worker went on
    /// while this stage held a batch.
    #[serde(default)]
    pub await_load: Option<String>,
}

/// Batches each counting `load` stage processed, by tag.
pub static LOADS: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
/// Per `await_load` tag: whether another batch was loaded meanwhile.
pub static OVERLAPPED: std::sync::Mutex<Vec<(String, bool)>> = std::sync::Mutex::new(Vec::new());

fn loads(tag: &str) -> usize {
    LOADS
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| t == tag)
        .map_or(0, |(_, n)| *n)
}

/// Builds of each `model` stage, by column (tests read it).
pub static MODEL_BUILDS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl StageKind for Model {
    const NAME: &'static str = "model";
    const DOC: &'static str = "test: a stage with a model file; writes 2 × the file size";
    type Config = ModelConfig;
    fn plan(&self, cfg: &ModelConfig, cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            reads: vec![Field::new("file_size", DataType::Int64, false)],
            writes: vec![Field::new(&cfg.column, DataType::Int64, true)],
            models: vec![crate::ModelFile {
                field: "with.model".into(),
                path: cx.model_path(&cfg.model),
                ..Default::default()
            }],
            ..Default::default()
        })
    }
    fn build(&self, cfg: &ModelConfig, _: &BuildCx) -> Result<Built, StageError> {
        MODEL_BUILDS.lock().unwrap().push(cfg.column.clone());
        Ok(Built::Transform(Box::new(ModelStage {
            column: cfg.column.clone(),
            fail: cfg.fail.clone(),
            await_load: cfg.await_load.clone(),
        })))
    }
}

struct ModelStage {
    column: String,
    fail: Option<String>,
    await_load: Option<String>,
}
impl Stage for ModelStage {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        if let Some(tag) = self.await_load.take() {
            // (Its own batch was the first loaded: a second one may have
            // been loaded before this thread got here, or while it waits.)
            let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while loads(&tag) < 2 && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let overlapped = loads(&tag) >= 2;
            OVERLAPPED.lock().unwrap().push((tag, overlapped));
        }
        if let Some(suffix) = &self.fail {
            for (row, p) in paths(&batch).iter().enumerate() {
                if p.unwrap().ends_with(suffix.as_str()) {
                    cx.fail(row, "the model refused it");
                }
            }
        }
        let sizes = batch
            .column_by_name("file_size")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        let mut b = Int64Builder::new();
        for i in 0..sizes.len() {
            b.append_value(2 * sizes.value(i));
        }
        append(
            batch,
            Field::new(&self.column, DataType::Int64, true),
            Arc::new(b.finish()),
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Bytes per photo.
    pub bytes: u64,
    /// Counts its batches in [`LOADS`] under this tag.
    #[serde(default)]
    pub count_as: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MeasureConfig {
    #[serde(default)]
    pub side: Option<u32>,
}

fn file_fields() -> Vec<Field> {
    crate::runtime::file_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect()
}

impl StageKind for Files {
    const NAME: &'static str = "files";
    const DOC: &'static str = "test source";
    type Config = NoConfig;
    fn plan(&self, _: &NoConfig, _: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            writes: file_fields(),
            source: true,
            ..Default::default()
        })
    }
    fn build(&self, _: &NoConfig, _: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Source(Box::new(DirSource)))
    }
}

struct DirSource;
impl Source for DirSource {
    fn scan<'a>(&'a mut self, roots: &'a [PathBuf]) -> Box<dyn Iterator<Item = Found> + 'a> {
        let mut files: Vec<PathBuf> = roots
            .iter()
            .flat_map(|r| std::fs::read_dir(r).unwrap().map(|e| e.unwrap().path()))
            .collect();
        files.sort();
        Box::new(files.into_iter().map(|path| {
            let size = std::fs::metadata(&path).unwrap().len();
            Found::File(FileEntry {
                path,
                size,
                mtime_ns: 1,
            })
        }))
    }
}

impl StageKind for Load {
    const NAME: &'static str = "load";
    const DOC: &'static str = "test: writes _blob";
    type Config = LoadConfig;
    fn plan(&self, cfg: &LoadConfig, _: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        if cfg.bytes == 0 {
            return Err(vec![Diagnostic::new("bytes", "must be positive")]);
        }
        Ok(StagePlan {
            reads: vec![Field::new("path", DataType::Utf8, false)],
            writes: vec![Field::new("_blob", DataType::Binary, true)],
            bytes_per_photo: cfg.bytes,
            ..Default::default()
        })
    }
    fn build(&self, cfg: &LoadConfig, _: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Transform(Box::new(LoadStage(
            cfg.bytes as usize,
            cfg.count_as.clone(),
        ))))
    }
}

struct LoadStage(usize, Option<String>);
impl Stage for LoadStage {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        if let Some(tag) = &self.1 {
            let mut loads = LOADS.lock().unwrap();
            match loads.iter_mut().find(|(t, _)| t == tag) {
                Some((_, n)) => *n += 1,
                None => loads.push((tag.clone(), 1)),
            }
        }
        let paths = paths(&batch);
        let mut b = BinaryBuilder::new();
        for (row, p) in paths.iter().enumerate() {
            let p = p.unwrap();
            if p.ends_with("bad") {
                cx.fail(row, "bad input");
                b.append_null();
            } else {
                b.append_value(vec![7u8; self.0]);
            }
        }
        append(
            batch,
            Field::new("_blob", DataType::Binary, true),
            Arc::new(b.finish()),
        )
    }
}

impl StageKind for Measure {
    const NAME: &'static str = "measure";
    const DOC: &'static str = "test: reads _blob, writes size";
    type Config = MeasureConfig;
    fn plan(&self, cfg: &MeasureConfig, _: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            reads: vec![Field::new("_blob", DataType::Binary, true)],
            writes: vec![Field::new("size", DataType::Int64, true)],
            image_side: cfg.side,
            ..Default::default()
        })
    }
    fn build(&self, _: &MeasureConfig, _: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Transform(Box::new(MeasureStage)))
    }
}

struct MeasureStage;
impl Stage for MeasureStage {
    fn process(&mut self, batch: RecordBatch, _: &mut StageCx) -> Result<RecordBatch, StageError> {
        if paths(&batch).iter().any(|p| p.unwrap().ends_with("panic")) {
            panic!("boom");
        }
        let blobs = batch
            .column_by_name("_blob")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::BinaryArray>()
            .unwrap();
        let mut b = Int64Builder::new();
        for i in 0..blobs.len() {
            b.append_value(blobs.value(i).len() as i64);
        }
        append(
            batch,
            Field::new("size", DataType::Int64, true),
            Arc::new(b.finish()),
        )
    }
}

fn paths(batch: &RecordBatch) -> StringArray {
    batch
        .column_by_name("path")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone()
}

fn append(
    batch: RecordBatch,
    field: Field,
    col: arrow_array::ArrayRef,
) -> Result<RecordBatch, StageError> {
    crate::with_columns(batch, vec![field], vec![col])
        .map_err(|e| StageError::Internal(e.to_string()))
}

pub fn registry() -> Vec<Box<dyn DynStageKind>> {
    vec![
        register(Files),
        register(Load),
        register(Measure),
        register(Model),
    ]
}
