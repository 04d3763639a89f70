//! Faces per second through the `faces` stage, and people clustering of
//! 100,000 generated embeddings, in one run:
//!
//!   cargo bench -p facet-stages --bench faces --profile dev
//!
//! * `faces/stage`: the stage's `process` on one group photo of
//!   `../shared/photos/faces` (sample6, 1920×1537, four faces): detection on
//!   the frame and its 2×2 and 3×3 tiles, mesh, eye contours, embedding,
//!   sharpness and thumbnails. Throughput is in faces.
//! * `people/cluster/N`: `people::cluster` of N 1024-d unit embeddings
//!   (N/50 identities × 50 faces, cosine ≈ 0.9 to their identity), nobody
//!   assigned yet: HDBSCAN in chunks of `face_clustering.chunk_size`, merged
//!   by centroid, new persons. N = 2,000 and 10,000; 100,000 with
//!   `FACET_BENCH_100K=1` (minutes per clustering in the dev profile).
//!
//! ONNX Runtime comes from `ORT_DYLIB_PATH`, else `tools/onnxruntime`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use facet_engine::{Budget, BuildCx, Built, StageCx, StageKind};
use facet_stages::faces::people::{FaceIn, cluster, synthetic};
use facet_stages::faces::{Faces, FacesConfig};
use facet_stages::working::{self, Rgb};

mod common;
use common::{ensure_ort, shared};

fn photo_batch(img: &Rgb) -> RecordBatch {
    let mut b = working::Builder::default();
    b.push(Some(img));
    let mut fields = vec![Field::new("path", DataType::Utf8, false)];
    fields.extend(working::fields());
    let mut columns: Vec<arrow_array::ArrayRef> = vec![Arc::new(StringArray::from(vec!["/a.jpg"]))];
    columns.extend(b.finish());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn stage_bench(c: &mut Criterion) {
    let models = shared().join("models");
    let photo = shared().join("photos/faces/sample6.jpg");
    if !models.join("blazeface_full_range.onnx").exists() || !photo.exists() {
        eprintln!("SKIPPED faces/stage: {} is absent", shared().display());
        return;
    }
    ensure_ort();
    let cfg: FacesConfig = serde_yaml::from_str(&format!(
        r#"
detector: {{ model: {m}/blazeface_full_range.onnx, size: 192, strides: [4], anchors_per_layer: 1 }}
landmarks: {{ model: {m}/face_landmark_468.onnx }}
eyes: {{ model: {m}/iris_landmark.onnx }}
embedding: {{ model: {m}/faceres_1024.onnx, input: "input_1:0", output: "global_pooling/Mean", layout: nhwc, range: byte }}
threads: 2
"#,
        m = models.display()
    ))
    .unwrap();
    let cx = BuildCx {
        config: Arc::new(Default::default()),
        store_dir: PathBuf::from("."),
        image_side: Some(cfg.side),
        budget: Budget::new(1 << 30),
        worker: 0,
        models_dir: None,
        pipeline_dir: None,
        gpu_batch: Arc::new(std::sync::atomic::AtomicUsize::new(8)),
    };
    let Built::Transform(mut stage) = Faces.build(&cfg, &cx).expect("the stage builds") else {
        unreachable!("faces is a transform")
    };
    let img = image::open(&photo).unwrap().to_rgb8();
    let img = Rgb {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    };
    let rb = photo_batch(&img);
    let faces = 4;
    let mut g = c.benchmark_group("faces");
    g.sample_size(10);
    g.throughput(Throughput::Elements(faces));
    g.bench_function("stage", |b| {
        b.iter(|| {
            let mut scx = StageCx::default();
            let out = stage.process(rb.clone(), &mut scx).unwrap();
            assert!(scx.take_failed().is_empty());
            out.num_rows()
        })
    });
    g.finish();
}

fn cluster_bench(c: &mut Criterion) {
    // 100,000 faces take minutes per clustering in the dev profile: only
    // with FACET_BENCH_100K=1.
    // `cargo test` runs benches once as a smoke test: the small size only.
    let measuring = std::env::args().any(|a| a == "--bench");
    let mut sizes = vec![2_000];
    if measuring {
        sizes.push(10_000);
    }
    if std::env::var_os("FACET_BENCH_100K").is_some() {
        sizes.push(100_000);
    }
    let cfg = facet_config::FaceClustering::default();
    let mut g = c.benchmark_group("people");
    g.sample_size(10);
    for n in sizes {
        // Identities of 50 faces each, cosine ≈ 0.9 to their identity.
        let faces: Vec<FaceIn> = synthetic(n / 50, 50, 1024, 0.9, 42)
            .into_iter()
            .enumerate()
            .map(|(i, (_, e))| FaceIn {
                face_id: format!("/p{i}.jpg#0"),
                embedding: e,
                person_id: None,
                confidence: 0.9,
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("cluster", n), &faces, |b, faces| {
            b.iter(|| cluster(faces, &[], &HashMap::new(), &cfg).persons.len())
        });
    }
    g.finish();
}

criterion_group!(benches, stage_bench, cluster_bench);
criterion_main!(benches);
