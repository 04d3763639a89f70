//! Model throughput at several batch sizes, and the `onnx` stage's overhead
//! against the same ONNX Runtime session called in a bare loop, in one run.
//!
//!   cargo bench -p facet-stages --bench onnx
//!
//! Model: MobileNetV2 from `../shared/models` (embedding + ImageNet logits).
//! * `bare/N`: `session.run` on ready-made input tensors of N images, outputs
//!   read as slices — the floor.
//! * `stage/N`: the stage's `process` on a batch of N working images at the
//!   side `decode` would hand it (448 px): resize and normalise, inference,
//!   output columns (L2-normalised vector, softmax tags).
//!
//! The overhead is `stage/N ÷ bare/N − 1`. ONNX Runtime comes from
//! `ORT_DYLIB_PATH`, else `tools/onnxruntime`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use facet_engine::{Budget, BuildCx, Built, StageCx, StageKind};
use facet_stages::onnx::{Onnx, OnnxConfig, Provider, open_session};
use facet_stages::working::{self, Rgb};
use ort::value::Tensor;

const BATCHES: [usize; 3] = [1, 4, 8];

mod common;
use common::{ensure_ort, shared};

fn images(n: usize) -> Vec<Rgb> {
    let dir = shared().join("photos/objects");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    (0..n)
        .map(|i| {
            let img = image::open(&files[i % files.len()]).unwrap().to_rgb8();
            let f = 448.0 / img.width().max(img.height()) as f64;
            let (w, h) = (
                (img.width() as f64 * f).round() as u32,
                (img.height() as f64 * f).round() as u32,
            );
            let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
            Rgb {
                width: w,
                height: h,
                pixels: img.into_raw(),
            }
        })
        .collect()
}

fn batch(imgs: &[Rgb]) -> RecordBatch {
    let mut b = working::Builder::default();
    for i in imgs {
        b.push(Some(i));
    }
    let mut fields = vec![Field::new("path", DataType::Utf8, false)];
    fields.extend(working::fields());
    let mut columns: Vec<arrow_array::ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        (0..imgs.len()).map(|i| format!("/{i}.png")),
    ))];
    columns.extend(b.finish());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn config(models: &Path) -> OnnxConfig {
    serde_yaml::from_str(&format!(
        r#"
model: {}
size: [224, 224]
resize: crop
crop_fraction: 0.875
mean: [0.485, 0.456, 0.406]
std: [0.229, 0.224, 0.225]
threads: 2
outputs:
  feat: {{ column: embedding, as: vector, dim: 1280 }}
  logits: {{ column: tags, as: tags, activation: softmax, labels: {} }}
"#,
        models.join("mobilenet_v2_imagenet.onnx").display(),
        models.join("imagenet_labels.txt").display()
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let models = shared().join("models");
    if !models.join("mobilenet_v2_imagenet.onnx").exists() {
        facet_stages::fixtures::absent(
            "onnx bench",
            &format!(
                "{} is absent; the model benchmark needs it",
                models.display()
            ),
        );
        return;
    }
    ensure_ort();
    let cfg = config(&models);
    let mut session = open_session(&models.join("mobilenet_v2_imagenet.onnx"), Provider::Cpu, 2)
        .expect("ONNX Runtime and the model load");
    let cx = BuildCx {
        config: Arc::new(Default::default()),
        store_dir: PathBuf::from("."),
        image_side: Some(448),
        budget: Budget::new(1 << 30),
        worker: 0,
        models_dir: None,
        pipeline_dir: None,
        gpu_batch: Arc::new(std::sync::atomic::AtomicUsize::new(8)),
    };
    let Built::Transform(mut stage) = Onnx.build(&cfg, &cx).expect("the stage builds") else {
        unreachable!("onnx is a transform")
    };

    let mut g = c.benchmark_group("onnx");
    g.sample_size(10);
    for n in BATCHES {
        g.throughput(Throughput::Elements(n as u64));
        let input: Vec<f32> = (0..n * 3 * 224 * 224)
            .map(|i| ((i % 255) as f32 / 255.0 - 0.45) / 0.225)
            .collect();
        g.bench_with_input(BenchmarkId::new("bare", n), &n, |b, &n| {
            b.iter(|| {
                let t = Tensor::from_array((vec![n, 3, 224, 224], input.clone())).unwrap();
                let out = session.run(ort::inputs!["input" => t]).unwrap();
                let (_, feat) = out["feat"].try_extract_tensor::<f32>().unwrap();
                let (_, logits) = out["logits"].try_extract_tensor::<f32>().unwrap();
                (feat.len(), logits.len())
            })
        });
        let rb = batch(&images(n));
        g.bench_with_input(BenchmarkId::new("stage", n), &n, |b, _| {
            b.iter(|| {
                let mut scx = StageCx::default();
                let out = stage.process(rb.clone(), &mut scx).unwrap();
                assert!(scx.take_failed().is_empty());
                out.num_rows()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
