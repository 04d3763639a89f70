//! Throughput of the default CPU pipeline on 20+ MP JPEGs, as a ratio to plain
//! full-size decoding of the same files, measured in the same run.
//!
//!   cargo bench --bench pipeline
//!
//! Baselines: `decode_full/libjpeg-turbo` (the fastest full decode here) and
//! `decode_full/image-crate` (what a naive implementation would do). The
//! pipeline (`pipeline/cpu`) runs scan → decode (DCT-scaled) → exif →
//! thumbnail → phash on the timely runtime and writes a real Lance store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facet_config::FacetConfig;
use facet_engine::runtime::{Progress, RunOptions};

const FILES: u32 = 4;
const WIDTH: u32 = 6000;
const HEIGHT: u32 = 4000;

fn photo(seed: u32) -> Vec<u8> {
    // Detailed content (gradients, edges, texture) so entropy decoding is realistic.
    let img = image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed.wrapping_mul(97)) >> 24;
        let v = ((x / 7 + y / 5 + seed) % 256) as u8;
        image::Rgb([v, (n as u8).wrapping_add(v / 2), ((x * y) >> 8) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out.into_inner()
}

fn library() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let files = (0..FILES)
        .map(|i| {
            let p = dir.path().join(format!("p{i}.jpg"));
            std::fs::write(&p, photo(i)).unwrap();
            p
        })
        .collect();
    (dir, files)
}

fn run_pipeline(dir: &Path) {
    let store = tempfile::tempdir().unwrap();
    let config = FacetConfig::default();
    let plan = facet_engine::compile(
        include_str!("../pipelines/cpu.yaml"),
        &facet_stages::registry(),
        &config,
    )
    .unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let opts = RunOptions {
        workers: 2,
        store_dir: store.path().into(),
        config: Arc::new(config),
        budget: facet_engine::Budget::new(2 << 30),
        batch_rows: Some(1),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = facet_store::Store::open(store.path()).unwrap();
    let writer = std::thread::spawn(move || rx.into_iter().collect::<Vec<_>>());
    let stats = facet_engine::runtime::run(
        &plan,
        &[dir.to_path_buf()],
        opts,
        &|_| false,
        tx,
        Arc::new(Progress::default()),
    )
    .unwrap();
    assert_eq!(stats.queued, FILES as u64);
    for out in writer.join().unwrap() {
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        rt.block_on(s.upsert(&facet_schemas::photos(), out.photos))
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let (dir, files) = library();
    let mut g = c.benchmark_group("24mp");
    g.throughput(Throughput::Elements(FILES as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("decode_full/libjpeg-turbo", |b| {
        b.iter(|| {
            for f in &files {
                let bytes = std::fs::read(f).unwrap();
                let img = facet_stages::decode::jpeg::decode_scaled(&bytes, 8).unwrap();
                assert_eq!(img.width, WIDTH);
            }
        })
    });
    g.bench_function("decode_full/image-crate", |b| {
        b.iter(|| {
            for f in &files {
                let img = image::open(f).unwrap();
                assert_eq!(img.width(), WIDTH);
            }
        })
    });
    g.bench_function("pipeline/cpu", |b| b.iter(|| run_pipeline(dir.path())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
