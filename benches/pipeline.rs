//! Throughput of the default CPU pipeline on 20+ MP JPEGs, as a ratio to plain
//! full-size decoding of the same files, measured in the same run.
//!
//!   cargo bench --bench pipeline
//!
//! Baselines, single-threaded: `decode_full/libjpeg-turbo` and
//! `decode_full/image-crate` (zune-jpeg), plus libjpeg-turbo's DCT-scaled
//! decodes at 1/4 and 1/8. The pipeline (`pipeline/cpu-*`) runs the whole
//! default pipeline on the timely runtime, one worker (compare per core with
//! the decoders) and two. `heic/*`: libheif's full decode of the HEIC/HEIF
//! files of `../shared/photos` against the pipeline over them.
//!
//! With and without libjpeg-turbo's SIMD (one build cannot hold both):
//! `benches/pipeline-simd.sh` runs this benchmark built each way and prints
//! both tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use facet_config::FacetConfig;
use facet_engine::runtime::{Progress, RunOptions};
use facet_stages::decode::heif::Codec;

const FILES: u32 = 4;
const WIDTH: u32 = 6000;
const HEIGHT: u32 = 4000;

/// 24 MP test photos. Real content when `../shared/photos` is there (its
/// largest JPEGs upscaled to 6000×4000 with a little sensor-like grain, so the
/// entropy is that of a camera file); otherwise synthetic gradients and edges.
fn photos() -> Vec<Vec<u8>> {
    photos_n(FILES)
}

/// `n` such photos: the sources in turn, each with its own grain.
fn photos_n(n: u32) -> Vec<Vec<u8>> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/photos/cameras/jpg");
    let mut sources: Vec<PathBuf> = [
        "tests/42_IndexError.jpg",
        "tests/Xiaomi_Mi_9T_KeyError.jpg",
        "gps/DSCN0010.jpg",
        "hdr/canon_hdr_YES.jpg",
    ]
    .iter()
    .map(|p| shared.join(p))
    .filter(|p| p.exists())
    .collect();
    if sources.is_empty() {
        eprintln!("../shared/photos is absent: benchmarking synthetic 24 MP photos");
    }
    sources.truncate(FILES as usize);
    (0..n)
        .map(|i| {
            let img = match sources.get((i % FILES) as usize) {
                Some(p) => {
                    let src = image::open(p).unwrap().to_rgb8();
                    let mut big = image::imageops::resize(
                        &src,
                        WIDTH,
                        HEIGHT,
                        image::imageops::FilterType::CatmullRom,
                    );
                    let mut state = 0x9E37_79B9u32.wrapping_add(i);
                    for px in big.pixels_mut() {
                        for c in px.0.iter_mut() {
                            state ^= state << 13;
                            state ^= state >> 17;
                            state ^= state << 5;
                            *c = c.saturating_add((state % 5) as u8).saturating_sub(2);
                        }
                    }
                    big
                }
                None => image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
                    let v = ((x / 7 + y / 5 + i) % 256) as u8;
                    image::Rgb([v, (((x ^ y) >> 3) % 256) as u8, ((x * y) >> 12) as u8])
                }),
            };
            let mut out = std::io::Cursor::new(Vec::new());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
                .encode_image(&img)
                .unwrap();
            out.into_inner()
        })
        .collect()
}

fn library() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let files = photos()
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let p = dir.path().join(format!("p{i}.jpg"));
            std::fs::write(&p, bytes).unwrap();
            p
        })
        .collect();
    (dir, files)
}

/// The HEIC/HEIF files of `../shared/photos` (phones' photos, grids and
/// thumbnails included), copied into a folder of their own; `None` without
/// them or without libheif.
fn heic_library() -> Option<(tempfile::TempDir, Vec<(PathBuf, Codec)>)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/photos/cameras/heic");
    if let Err(e) = facet_stages::decode::heif::library() {
        eprintln!("libheif cannot be loaded ({e}): no HEIC rows");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(PathBuf, Codec)> = walkdir::WalkDir::new(&shared)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .enumerate()
        .map(|(i, e)| {
            let to = dir.path().join(format!("h{i}.heic"));
            std::fs::copy(e.path(), &to).unwrap();
            (to, Codec::Hevc)
        })
        .collect();
    if files.is_empty() {
        eprintln!("{} is absent: no HEIC rows", shared.display());
        return None;
    }
    Some((dir, files))
}

fn run_pipeline(dir: &Path, workers: usize) {
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
        vram: None,
        workers,
        store_dir: store.path().into(),
        config: Arc::new(config),
        budget: facet_engine::Budget::new(2 << 30),
        batch_rows: Some(1),
        tuning: None,
        cluster: None,
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
    let files = std::fs::read_dir(dir).unwrap().count() as u64;
    assert_eq!(stats.queued, files);
    // One commit, as `facet run` does for every `--commit-every` photos.
    let outs = writer.join().unwrap();
    assert!(
        outs.iter().all(|o| o.failures.is_empty()),
        "no photo may fail"
    );
    let batches: Vec<_> = outs.into_iter().map(|o| o.photos).collect();
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    rt.block_on(s.upsert(&facet_schemas::photos(), all))
        .unwrap();
}

fn bench(c: &mut Criterion) {
    eprintln!(
        "libjpeg-turbo SIMD: {}",
        if facet_stages::decode::jpeg::simd() {
            "on"
        } else {
            "off (built without the jpeg-simd feature, or without nasm)"
        }
    );
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
    for (name, n) in [
        ("decode_quarter/libjpeg-turbo", 2u8),
        ("decode_eighth/libjpeg-turbo", 1u8),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for f in &files {
                    let bytes = std::fs::read(f).unwrap();
                    let img = facet_stages::decode::jpeg::decode_scaled(&bytes, n).unwrap();
                    assert_eq!(img.width, WIDTH * n as u32 / 8);
                }
            })
        });
    }
    g.bench_function("decode_full/image-crate", |b| {
        b.iter(|| {
            for f in &files {
                let img = image::open(f).unwrap();
                assert_eq!(img.width(), WIDTH);
            }
        })
    });
    g.bench_function("pipeline/cpu-1-worker", |b| {
        b.iter(|| run_pipeline(dir.path(), 1))
    });
    g.bench_function("pipeline/cpu-2-workers", |b| {
        b.iter(|| run_pipeline(dir.path(), 2))
    });
    g.finish();

    // Phones' HEIC: libheif's full decode of the primary image against the
    // whole pipeline (which decodes a covering thumbnail where there is one).
    if let Some((heic_dir, heic)) = heic_library() {
        let mut g = c.benchmark_group("heic");
        g.throughput(Throughput::Elements(heic.len() as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(20));
        g.bench_function("decode_full/libheif", |b| {
            b.iter(|| {
                for (f, codec) in &heic {
                    let bytes = std::fs::read(f).unwrap();
                    let img =
                        facet_stages::decode::heif::decode(&bytes, *codec, u32::MAX, |_, _| Ok(()))
                            .unwrap();
                    assert!(img.width > 0);
                }
            })
        });
        g.bench_function("pipeline/cpu-1-worker", |b| {
            b.iter(|| run_pipeline(heic_dir.path(), 1))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);

/// `FACET_WRITE_24MP=DIR [FACET_24MP_COUNT=N]`: writes N (default 16) of
/// this bench's 24 MP photos into DIR and exits — the 24 MP corpus of
/// `benches/models.sh`. Otherwise criterion's main.
fn main() {
    if let Some(dir) = std::env::var_os("FACET_WRITE_24MP") {
        let dir = PathBuf::from(dir);
        let n: u32 = std::env::var("FACET_24MP_COUNT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, bytes) in photos_n(n).into_iter().enumerate() {
            std::fs::write(dir.join(format!("24mp-{i:02}.jpg")), bytes).unwrap();
        }
        eprintln!(
            "{n} photos of {WIDTH}×{HEIGHT} written to {}",
            dir.display()
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
