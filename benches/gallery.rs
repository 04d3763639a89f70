//! Gallery request latency on a large generated store, through
//! `app(state).oneshot(request)` (no sockets).
//!
//!   cargo bench --bench gallery     (rows: FACET_GALLERY_ROWS, default 1,000,000)
//!
//! The store: N photo rows (path, size, mtime, format, camera, lens, date), a
//! `scores` row for each (category, aggregate, aesthetic, Top Picks), bursts of
//! 4 on every 20th photo and duplicate pairs on every 50th (`photo_groups`),
//! and ~20 KB thumbnail blobs on the first 10,000 rows only (null elsewhere:
//! 1M × 20 KB would be 20 GB). `FACET_GALLERY_STORE=DIR` keeps the generated
//! store in DIR and reuses it when it already has N rows.
//!
//! Printed: p50 / p95 / max over `FACET_GALLERY_REQUESTS` (200) requests of
//! each kind, first request (cold cache) apart; criterion then reports means.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{Field, Schema};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampNanosecondArray,
};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use facet_config::FacetConfig;
use facet_store::Store;
use facet_viewer::{AppState, app};
use tower::ServiceExt;

const CAMERAS: &[&str] = &[
    "Canon EOS R5",
    "Canon EOS 5D Mark IV",
    "Nikon Z 6",
    "Nikon D850",
    "Sony ILCE-7M3",
    "Fujifilm X-T4",
    "iPhone 13 Pro",
    "Pixel 7",
];
const CATEGORIES: &[&str] = &[
    "default",
    "portrait",
    "landscape",
    "night",
    "macro",
    "street",
];
const THUMBNAILS: usize = 10_000;
const CHUNK: usize = 100_000;

fn rows() -> usize {
    // `cargo test --all-targets` runs benches once without `--bench`: keep that quick.
    let default = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    std::env::var("FACET_GALLERY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn requests() -> usize {
    let default = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        5
    };
    std::env::var("FACET_GALLERY_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random number in [0, 1).
fn rnd(i: usize, salt: u64) -> f64 {
    ((i as u64)
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33) as f64
        / (1u64 << 31) as f64
}

fn path(i: usize) -> String {
    format!(
        "/library/{:04}/{:02}/IMG_{i:07}.jpg",
        2000 + i % 25,
        i % 12 + 1
    )
}

fn batch(table: &facet_schemas::Table, columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, _)| table.column(n).unwrap().field())
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn photos(range: std::ops::Range<usize>) -> RecordBatch {
    let t = facet_schemas::photos();
    let idx: Vec<usize> = range.collect();
    let s = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(idx.iter().map(|&i| f(i))))
    };
    // A JPEG-sized blob per thumbnail; its bytes vary per photo.
    let thumbs: ArrayRef = Arc::new(BinaryArray::from_iter(idx.iter().map(|&i| {
        (i < THUMBNAILS).then(|| {
            let mut v = vec![0u8; 20_000];
            v[..2].copy_from_slice(b"\xFF\xD8");
            for (k, b) in v.iter_mut().enumerate().skip(2) {
                *b = (k.wrapping_mul(31) ^ i) as u8;
            }
            v
        })
    })));
    batch(
        &t,
        vec![
            ("path", s(&path)),
            (
                "file_size",
                Arc::new(Int64Array::from_iter_values(
                    idx.iter().map(|&i| 2_000_000 + (rnd(i, 1) * 8e6) as i64),
                )),
            ),
            (
                "file_mtime",
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(
                        idx.iter()
                            .map(|&i| 1_600_000_000_000_000_000 + i as i64 * 1_000_000_000),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            ("format", s(&|_| "jpeg".to_string())),
            (
                "width",
                Arc::new(Int32Array::from_iter_values(idx.iter().map(|_| 6000))),
            ),
            (
                "height",
                Arc::new(Int32Array::from_iter_values(idx.iter().map(|_| 4000))),
            ),
            (
                "camera_make",
                s(&|i| {
                    CAMERAS[i % CAMERAS.len()]
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_string()
                }),
            ),
            (
                "camera_model",
                s(&|i| CAMERAS[i % CAMERAS.len()].to_string()),
            ),
            ("lens", s(&|i| format!("Lens {}", i % 40))),
            (
                "date_taken",
                s(&|i| {
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:00",
                        2000 + i % 25,
                        i % 12 + 1,
                        i % 28 + 1,
                        i % 24,
                        i % 60
                    )
                }),
            ),
            (
                "aesthetic",
                Arc::new(Float64Array::from_iter_values(
                    idx.iter().map(|&i| rnd(i, 5) * 10.0),
                )),
            ),
            // GPS on 60 % of the photos, anywhere between 60°S and 70°N.
            (
                "gps_lat",
                Arc::new(Float64Array::from_iter(
                    idx.iter()
                        .map(|&i| (rnd(i, 6) < 0.6).then(|| -60.0 + rnd(i, 7) * 130.0)),
                )),
            ),
            (
                "gps_lon",
                Arc::new(Float64Array::from_iter(
                    idx.iter()
                        .map(|&i| (rnd(i, 6) < 0.6).then(|| -180.0 + rnd(i, 8) * 360.0)),
                )),
            ),
            ("thumbnail", thumbs),
        ],
    )
}

fn scores(n: usize) -> RecordBatch {
    let t = facet_schemas::scores();
    let agg: Vec<f64> = (0..n)
        .map(|i| (rnd(i, 2) * 1000.0).round() / 100.0)
        .collect();
    let top: Vec<f64> = (0..n).map(|i| agg[i] * 0.7 + rnd(i, 3) * 3.0).collect();
    batch(
        &t,
        vec![
            (
                "path",
                Arc::new(StringArray::from_iter_values((0..n).map(path))),
            ),
            (
                "category",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                    CATEGORIES[(rnd(i, 4) * CATEGORIES.len() as f64) as usize]
                }))),
            ),
            ("aggregate", Arc::new(Float64Array::from(agg))),
            ("top_picks_score", Arc::new(Float64Array::from(top.clone()))),
            (
                "is_top_pick",
                Arc::new(BooleanArray::from(
                    top.iter().map(|&v| v >= 7.0).collect::<Vec<_>>(),
                )),
            ),
        ],
    )
}

/// Bursts of 4 on every 20th photo, duplicate pairs on every 50th.
fn groups(n: usize) -> RecordBatch {
    let t = facet_schemas::photo_groups();
    let mut p = Vec::new();
    let (mut bid, mut blead, mut breason, mut bsize) = (vec![], vec![], vec![], vec![]);
    let (mut did, mut dlead, mut dreason, mut dsize) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        let burst = i % 20 < 4;
        let dup = i % 50 < 2;
        if !burst && !dup {
            continue;
        }
        p.push(path(i));
        let b0 = i - i % 20;
        bid.push(burst.then(|| format!("b-{b0}")));
        blead.push(burst.then_some(i == b0));
        breason.push(burst.then(|| "sharpest frame".to_string()));
        bsize.push(burst.then_some(4));
        let d0 = i - i % 50;
        did.push(dup.then(|| format!("d-{d0}")));
        dlead.push(dup.then_some(i == d0));
        dreason.push(dup.then(|| "highest resolution".to_string()));
        dsize.push(dup.then_some(2));
    }
    batch(
        &t,
        vec![
            ("path", Arc::new(StringArray::from(p))),
            ("burst_group_id", Arc::new(StringArray::from(bid))),
            ("is_burst_lead", Arc::new(BooleanArray::from(blead))),
            ("burst_lead_reason", Arc::new(StringArray::from(breason))),
            ("burst_size", Arc::new(Int32Array::from(bsize))),
            ("duplicate_group_id", Arc::new(StringArray::from(did))),
            ("is_duplicate_lead", Arc::new(BooleanArray::from(dlead))),
            (
                "duplicate_lead_reason",
                Arc::new(StringArray::from(dreason)),
            ),
            ("duplicate_size", Arc::new(Int32Array::from(dsize))),
        ],
    )
}

async fn stored_rows(store: &Store) -> usize {
    match store.dataset("photos").await.unwrap() {
        Some(ds) => ds.count_rows(None).await.unwrap(),
        None => 0,
    }
}

/// The store with `n` generated rows, reused when `FACET_GALLERY_STORE` names
/// one that already has them.
async fn generate(dir: &Path, n: usize) -> Store {
    let store = Store::open(dir).unwrap();
    if stored_rows(&store).await == n && store.dataset("scores").await.unwrap().is_some() {
        eprintln!(
            "gallery bench: reusing the {n}-row store in {}",
            dir.display()
        );
        return store;
    }
    let t0 = Instant::now();
    for start in (0..n).step_by(CHUNK) {
        store
            .append(
                &facet_schemas::photos(),
                photos(start..(start + CHUNK).min(n)),
            )
            .await
            .unwrap();
    }
    store
        .replace(&facet_schemas::scores(), scores(n))
        .await
        .unwrap();
    store
        .replace(&facet_schemas::photo_groups(), groups(n))
        .await
        .unwrap();
    eprintln!(
        "gallery bench: generated {n} rows in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    store
}

async fn get(app: &Router, uri: &str) -> Vec<u8> {
    let r = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// p50, p95 and max of `count` requests built by `uri(i)`, after one cold request.
fn percentiles(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    what: &str,
    count: usize,
    uri: impl Fn(usize) -> String,
) {
    let cold = Instant::now();
    rt.block_on(get(app, &uri(0)));
    let cold = cold.elapsed();
    let mut times: Vec<Duration> = (1..=count)
        .map(|i| {
            let t = Instant::now();
            rt.block_on(get(app, &uri(i)));
            t.elapsed()
        })
        .collect();
    report(what, count, &mut times, cold);
}

/// p50, p95 and max of `count` runs of `f(i)`, after one cold run.
fn timed(what: &str, count: usize, f: impl Fn(usize)) {
    let cold = Instant::now();
    f(0);
    let cold = cold.elapsed();
    let mut times: Vec<Duration> = (1..=count)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    report(what, count, &mut times, cold);
}

fn report(what: &str, count: usize, times: &mut [Duration], cold: Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "gallery {what}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {count} requests (first {:.1} ms)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(*times.last().unwrap()),
        ms(cold)
    );
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let count = requests();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = std::env::var_os("FACET_GALLERY_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("store"));
    let store = rt.block_on(generate(&dir, n));
    let mut config = FacetConfig::default();
    config
        .viewer
        .other
        .insert("features".into(), serde_json::json!({"show_map": true}));
    let app = app(AppState::new(store, &config));
    let camera = enc(CAMERAS[3]);
    let first = format!("/api/photos?camera={camera}&sort=aggregate&dir=desc&page=1");
    // A deep page: about the middle of this camera's photos (64 a page).
    let deep_page = (n / CAMERAS.len() / 64 / 2).max(1);
    let deep = format!("/api/photos?camera={camera}&sort=aggregate&dir=desc&page={deep_page}");
    let thumb = |i: usize| {
        format!(
            "/thumbnail?path={}",
            enc(&path((i * 7919) % THUMBNAILS.min(n)))
        )
    };
    println!("gallery bench: {n} rows, {count} requests each");
    percentiles(&rt, &app, "photos page 1", count, |_| first.clone());
    percentiles(
        &rt,
        &app,
        &format!("photos page {deep_page}"),
        count,
        |_| deep.clone(),
    );
    percentiles(&rt, &app, "thumbnail", count, thumb);
    percentiles(&rt, &app, "photo detail", count, |i| {
        format!("/api/photo?path={}", enc(&path((i * 104_729) % n)))
    });
    // The former `/api/photo`: the same row through the `photos` view, whose
    // joins read every row of `scores`, `user_state` and `photo_groups`.
    let viewed = Store::open(&dir).unwrap();
    timed(
        "photo detail through the view's join (before)",
        count.min(30),
        |i| {
            let q = format!(
                "SELECT * FROM photos WHERE path = '{}'",
                path((i * 104_729) % n)
            );
            let (_, b) = rt.block_on(viewed.sql(&q)).unwrap();
            assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        },
    );
    percentiles(&rt, &app, "timeline years", count, |_| {
        "/api/timeline".into()
    });
    percentiles(&rt, &app, "filter options (cached)", count, |_| {
        "/api/filter_options".into()
    });
    percentiles(&rt, &app, "type counts (cached)", count, |_| {
        "/api/type_counts".into()
    });
    percentiles(&rt, &app, "timeline a month's days", count, |i| {
        format!("/api/timeline?year={}&month={}", 2000 + i % 25, i % 12 + 1)
    });
    percentiles(&rt, &app, "memories", count, |i| {
        format!(
            "/api/memories?date=2025-{:02}-{:02}",
            i % 12 + 1,
            i % 28 + 1
        )
    });
    percentiles(&rt, &app, "map world zoom 3", count, |_| {
        "/api/map?zoom=3".into()
    });
    percentiles(&rt, &app, "map zoom 12 box", count, |i| {
        let (lat, lon) = (-50.0 + (i % 100) as f64, -170.0 + (i * 3 % 340) as f64);
        format!(
            "/api/map?zoom=12&bbox={lon},{lat},{},{}",
            lon + 0.2,
            lat + 0.1
        )
    });

    let mut g = c.benchmark_group(format!("gallery_{n}"));
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("photos_page_1", |b| {
        b.iter(|| rt.block_on(get(&app, &first)))
    });
    g.bench_function("photos_deep_page", |b| {
        b.iter(|| rt.block_on(get(&app, &deep)))
    });
    let mut i = 0;
    g.bench_function("thumbnail", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(get(&app, &thumb(i)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
