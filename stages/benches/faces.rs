//! Faces per second through the `faces` stage, and people clustering of
//! 100,000 generated embeddings, in one run:
//!
//!   cargo bench -p facet-stages --bench faces --profile dev
//!
//! * `faces/stage`: the stage's `process` on one group photo of
//!   `../shared/photos/faces` (sample6, 1920×1537, four faces): detection on
//!   the frame and its 2×2 and 3×3 tiles, mesh, eye contours, embedding,
//!   sharpness and thumbnails. Throughput is in faces.
//! * `faces/stage_mtcnn`: the same with the MTCNN cascade for a detector.
//! * `people/cluster/N`: `people::cluster` of N 1024-d unit embeddings
//!   (N/50 identities × 50 faces, cosine ≈ 0.9 to their identity), nobody
//!   assigned yet: HDBSCAN on 48 principal components in chunks of at most
//!   `face_clustering.chunk_size` nearby faces, merged by centroid, new
//!   persons.
//!   N = 2,000 and 10,000; each size also prints how the clusters match the
//!   generated identities. `FACET_BENCH_100K=1` also clusters 100,000
//!   faces once (minutes in the dev profile), printing the time and the
//!   match.
//! * `people/clusters_full_dimension/2000` vs `people/clusters_reduced/2000`:
//!   HDBSCAN on the 1024-d embeddings (the earlier way) against the
//!   projection, in the same run; `FACET_BENCH_FULL_10K=1` also times both
//!   once on 10,000 faces (minutes in 1024 dimensions).
//!
//! ONNX Runtime comes from `ORT_DYLIB_PATH`, else `tools/onnxruntime`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use facet_engine::{Budget, BuildCx, Built, StageCx, StageKind};
use facet_stages::faces::people::{
    FaceIn, HDBSCAN_DIMENSIONS, cluster, clusters, clusters_in, synthetic,
};
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
        facet_stages::fixtures::absent(
            "faces/stage bench",
            &format!("{} is absent", shared().display()),
        );
        return;
    }
    ensure_ort();
    let blazeface = format!(
        "{{ model: {m}/blazeface_full_range.onnx, size: 192, strides: [4], anchors_per_layer: 1 }}",
        m = models.display()
    );
    let mtcnn = format!(
        "{{ decoder: mtcnn, model: {m}/mtcnn_pnet.onnx, rnet: {{ model: {m}/mtcnn_rnet.onnx }}, onet: {{ model: {m}/mtcnn_onet.onnx }} }}",
        m = models.display()
    );
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
    for (name, detector) in [("stage", blazeface), ("stage_mtcnn", mtcnn)] {
        let mut stage = build(&models, &detector);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut scx = StageCx::default();
                let out = stage.process(rb.clone(), &mut scx).unwrap();
                assert!(scx.take_failed().is_empty());
                assert_eq!(out.num_rows(), 1);
                out.num_rows()
            })
        });
    }
    g.finish();
}

/// The stage with `detector` and the mesh, eye and embedding models.
fn build(models: &std::path::Path, detector: &str) -> Box<dyn facet_engine::Stage> {
    let cfg: FacesConfig = serde_yaml::from_str(&format!(
        r#"
detector: {detector}
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
    let Built::Transform(stage) = Faces.build(&cfg, &cx).expect("the stage builds") else {
        unreachable!("faces is a transform")
    };
    stage
}

/// N faces of N/50 identities × 50 (cosine ≈ 0.9 to their identity), and
/// each face's identity.
fn generated(n: usize) -> (Vec<FaceIn>, Vec<usize>) {
    let points = synthetic(n / 50, 50, 1024, 0.9, 42);
    let truth = points.iter().map(|(t, _)| *t).collect();
    let faces = points
        .into_iter()
        .enumerate()
        .map(|(i, (_, e))| FaceIn {
            face_id: format!("/p{i}.jpg#0"),
            embedding: e,
            person_id: None,
            confidence: 0.9,
        })
        .collect();
    (faces, truth)
}

/// How well clusters match the identities: (persons, share of faces in a
/// person whose majority identity is theirs, identities split over more
/// than one person).
fn quality(truth: &[usize], clusters: &[Vec<usize>]) -> (usize, f64, usize) {
    let mut pure = 0;
    let mut persons_of: HashMap<usize, usize> = HashMap::new();
    for c in clusters {
        let mut votes: HashMap<usize, usize> = HashMap::new();
        c.iter()
            .for_each(|&i| *votes.entry(truth[i]).or_default() += 1);
        let (major, count) = votes.into_iter().max_by_key(|&(t, n)| (n, t)).unwrap();
        pure += count;
        *persons_of.entry(major).or_default() += 1;
    }
    let split = persons_of.values().filter(|&&n| n > 1).count();
    (clusters.len(), pure as f64 / truth.len() as f64, split)
}

fn cluster_bench(c: &mut Criterion) {
    // `cargo test` runs benches once as a smoke test: the small size only.
    let measuring = std::env::args().any(|a| a == "--bench");
    let mut sizes = vec![2_000];
    if measuring {
        sizes.push(10_000);
    }
    let cfg = facet_config::FaceClustering::default();
    let mut g = c.benchmark_group("people");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    for &n in &sizes {
        let (faces, truth) = generated(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("cluster", n), &faces, |b, faces| {
            b.iter(|| cluster(faces, &[], &HashMap::new(), &cfg).persons.len())
        });
        // What HDBSCAN found (before the noise is placed), against the truth.
        let refs: Vec<&[f32]> = faces.iter().map(|f| f.embedding.as_slice()).collect();
        let (persons, purity, split) = quality(&truth, &clusters(&refs, &cfg));
        eprintln!(
            "people/cluster/{n}: {persons} persons for {} identities, purity {:.4}, {split} identities split (HDBSCAN in {HDBSCAN_DIMENSIONS} principal components)",
            n / 50,
            purity
        );
    }
    // The baseline: HDBSCAN on the 1024-d embeddings themselves (seconds at
    // 2,000 faces, minutes per chunk of 10,000), in the same run.
    if measuring {
        let (faces, truth) = generated(2_000);
        let refs: Vec<&[f32]> = faces.iter().map(|f| f.embedding.as_slice()).collect();
        g.throughput(Throughput::Elements(2_000));
        g.bench_with_input(
            BenchmarkId::new("clusters_full_dimension", 2_000),
            &refs,
            |b, refs| b.iter(|| clusters_in(refs, &cfg, None).len()),
        );
        g.bench_with_input(
            BenchmarkId::new("clusters_reduced", 2_000),
            &refs,
            |b, refs| b.iter(|| clusters(refs, &cfg).len()),
        );
        let (persons, purity, split) = quality(&truth, &clusters_in(&refs, &cfg, None));
        eprintln!(
            "people/clusters_full_dimension/2000: {persons} persons for 40 identities, purity {purity:.4}, {split} identities split"
        );
    }
    g.finish();
    // 100,000 faces (2,000 identities): minutes per clustering in the dev
    // profile, so timed once, on demand.
    if std::env::var_os("FACET_BENCH_100K").is_some() {
        let (faces, truth) = generated(100_000);
        let t = std::time::Instant::now();
        let out = cluster(&faces, &[], &HashMap::new(), &cfg);
        let secs = t.elapsed().as_secs_f64();
        let mut members: HashMap<i64, Vec<usize>> = HashMap::new();
        for (i, p) in out.assignments.iter().enumerate() {
            if let Some(p) = p {
                members.entry(*p).or_default().push(i);
            }
        }
        let unassigned = out.assignments.iter().filter(|a| a.is_none()).count();
        let persons: Vec<Vec<usize>> = members.into_values().collect();
        let (n, purity, split) = quality(&truth, &persons);
        eprintln!(
            "people/cluster/100000 once: {secs:.1} s ({:.0} faces/s); {n} persons for 2000 identities, purity {purity:.4}, {split} identities split, {unassigned} faces unassigned",
            100_000.0 / secs
        );
    }
    // 10,000 faces in 1024 dimensions take minutes: timed once, on demand.
    if std::env::var_os("FACET_BENCH_FULL_10K").is_some() {
        let (faces, truth) = generated(10_000);
        let refs: Vec<&[f32]> = faces.iter().map(|f| f.embedding.as_slice()).collect();
        let t = std::time::Instant::now();
        let full = clusters_in(&refs, &cfg, None);
        let full_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let reduced = clusters(&refs, &cfg);
        let reduced_s = t.elapsed().as_secs_f64();
        eprintln!(
            "people/10000 once: HDBSCAN in 1024 dimensions {full_s:.1} s {:?}, in {HDBSCAN_DIMENSIONS} {reduced_s:.1} s {:?}: {:.0}× faster",
            quality(&truth, &full),
            quality(&truth, &reduced),
            full_s / reduced_s
        );
    }
}

criterion_group!(benches, stage_bench, cluster_bench);
criterion_main!(benches);
