//! Capsules on a generated library.
//!
//!   cargo bench --bench capsules     (photos: FACET_CAPSULES_ROWS, default 100,000)
//!
//! 1. Every capsule of a generated library built by `facet-capsules` alone
//!    (trips away from a home, five people, four years of dates, six
//!    cameras, tags, focal lengths, favourites, 64-d embeddings): the time
//!    and the process's peak RSS (VmHWM) after it, geocoder included.
//! 2. The same kind of library in a store behind the gallery: the first
//!    `GET /api/capsules` (facts read, capsules built) and then the kept
//!    answer, p50 / max over FACET_CAPSULES_REQUESTS (20) requests.
//!
//! Without `--bench` (`cargo test --all-targets`), 2,000 photos.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    ListBuilder, RecordBatch, StringArray, StringBuilder, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use facet_capsules::{Clock, Context, GeoNames, Library, Person, PhotoFacts, Taken};
use facet_config::FacetConfig;
use facet_store::Store;
use facet_viewer::{AppState, app};
use tower::ServiceExt;

const DIM: usize = 64;
const CAMERAS: &[&str] = &[
    "Canon EOS R5",
    "Nikon Z 6",
    "Sony ILCE-7M3",
    "Fujifilm X-T4",
    "iPhone 13 Pro",
    "Pixel 7",
];
const TAGS: &[&str] = &["beach", "city", "mountain", "food", "sunset", "family"];
const CATEGORIES: &[&str] = &["portrait", "landscape", "street", "night", "macro"];
/// Home, then trip destinations.
const PLACES: &[(f64, f64)] = &[
    (48.8566, 2.3522),
    (38.7167, -9.1333),
    (35.6895, 139.6917),
    (41.8919, 12.5113),
    (-33.8678, 151.2073),
    (40.4165, -3.7026),
];

fn rows() -> usize {
    let default = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        2_000
    };
    std::env::var("FACET_CAPSULES_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn requests() -> usize {
    std::env::var("FACET_CAPSULES_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
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

/// Photo `i`: a date in 2020–2023 in time order, at home except a trip
/// of a few days every ~300 photos.
fn when_where(i: usize, n: usize) -> (String, (f64, f64)) {
    let day0 = facet_capsules::time::days_from_civil(2020, 1, 1);
    let span = 4 * 365;
    let t = day0 as f64 + span as f64 * i as f64 / n as f64;
    let (y, m, d) = facet_capsules::time::civil_from_days(t as i64);
    let h = (rnd(i, 1) * 14.0) as u32 + 7;
    let trip = (i / 150) % 2 == 1 && (i / 300).is_multiple_of(3);
    let place = if trip {
        PLACES[1 + (i / 300) % (PLACES.len() - 1)]
    } else {
        PLACES[0]
    };
    let jitter = rnd(i, 2) * 0.05;
    (
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{:02}:00", i % 60),
        (place.0 + jitter, place.1 + jitter),
    )
}

fn embedding(i: usize) -> Vec<f32> {
    // Eight visual themes, each a direction plus noise.
    let theme = i % 8;
    (0..DIM)
        .map(|k| {
            let base = if k % 8 == theme { 1.0 } else { 0.0 };
            base + (rnd(i * DIM + k, 3) as f32 - 0.5) * 0.2
        })
        .collect()
}

fn facts(n: usize) -> Library {
    let photos = (0..n)
        .map(|i| {
            let (when, gps) = when_where(i, n);
            let persons = match i % 40 {
                0..=3 => vec![1, 2],
                4..=6 => vec![1],
                7..=8 => vec![3],
                9 => vec![3, 4],
                _ => vec![],
            };
            PhotoFacts {
                path: format!("/library/{i:07}.jpg"),
                aggregate: Some(4.0 + rnd(i, 4) * 5.5),
                taken: Taken::parse(&when),
                gps: (i % 5 != 0).then_some(gps),
                camera: Some(CAMERAS[i % CAMERAS.len()].into()),
                lens: Some(format!("Lens {}", i % 4)),
                focal_mm: Some([14.0, 28.0, 50.0, 85.0, 200.0, 400.0][i % 6]),
                category: Some(CATEGORIES[i % CATEGORIES.len()].into()),
                composition: Some(["rule_of_thirds", "center", "symmetric"][i % 3].into()),
                tags: vec![TAGS[i % TAGS.len()].into()],
                persons,
                favorite: i % 17 == 0,
                rating: (i % 11).min(5) as u8,
                burst: (i % 20 < 4).then(|| facet_capsules::Group {
                    id: format!("b-{}", i / 20),
                    lead: i % 20 == 0,
                }),
                duplicate: None,
                embedding: Some(embedding(i).into()),
                saturation: Some(rnd(i, 5)),
                monochrome: Some(i % 23 == 0),
            }
        })
        .collect();
    let persons = ["Alice", "Bob", "Carol", "Dan"]
        .iter()
        .enumerate()
        .map(|(k, name)| Person {
            id: k as i64 + 1,
            name: name.to_string(),
        })
        .collect();
    Library::new(photos, persons)
}

/// The process's peak resident set (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// A store holding the generated library's photos and scores.
async fn store(dir: &std::path::Path, lib: &Library) -> Store {
    let n = lib.photos.len();
    let p = &lib.photos;
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let field = Field::new(
        "embedding",
        DataType::FixedSizeList(item.clone(), DIM as i32),
        true,
    );
    let vectors: Vec<f32> = (0..n).flat_map(embedding).collect();
    let emb = FixedSizeListArray::try_new(
        item,
        DIM as i32,
        Arc::new(Float32Array::from(vectors)),
        None,
    )
    .unwrap();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for x in p {
        for t in &x.tags {
            tags.values().append_value(t);
        }
        tags.append(true);
    }
    let s = |f: &dyn Fn(&PhotoFacts) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(p.iter().map(f)))
    };
    let fl = |f: &dyn Fn(&PhotoFacts) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(p.iter().map(f)))
    };
    let paths = s(&|x| Some(x.path.clone()));
    let photos = batch(vec![
        ("path", paths.clone()),
        ("file_size", Arc::new(Int64Array::from(vec![10; n]))),
        (
            "file_mtime",
            Arc::new(TimestampNanosecondArray::from(vec![1; n]).with_timezone("UTC")),
        ),
        ("format", Arc::new(StringArray::from(vec!["jpeg"; n]))),
        ("camera_model", s(&|x| x.camera.clone())),
        ("lens", s(&|x| x.lens.clone())),
        ("focal_length", fl(&|x| x.focal_mm)),
        (
            "date_taken",
            s(&|x| {
                x.taken.map(|t| {
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                        t.year, t.month, t.day, t.hour, t.minute, t.second
                    )
                })
            }),
        ),
        ("gps_lat", fl(&|x| x.gps.map(|g| g.0))),
        ("gps_lon", fl(&|x| x.gps.map(|g| g.1))),
        ("mean_saturation", fl(&|x| x.saturation)),
        (
            "is_monochrome",
            Arc::new(BooleanArray::from_iter(p.iter().map(|x| x.monochrome))),
        ),
        ("composition_pattern", s(&|x| x.composition.clone())),
        ("tags", Arc::new(tags.finish())),
        ("embedding", Arc::new(emb)),
    ]);
    let table =
        facet_schemas::photos().with_extra([facet_schemas::Column::extra(&field, "bench vectors")]);
    let store = Store::open(dir).unwrap();
    store.upsert(&table, photos).await.unwrap();
    let scores = batch(vec![
        ("path", paths),
        ("category", s(&|x| x.category.clone())),
        ("aggregate", fl(&|x| x.aggregate)),
        (
            "score_breakdown",
            Arc::new(StringArray::from(vec!["[]"; n])),
        ),
        ("top_picks_score", fl(&|x| x.aggregate)),
        ("is_top_pick", Arc::new(BooleanArray::from(vec![false; n]))),
    ]);
    store
        .replace(&facet_schemas::scores(), scores)
        .await
        .unwrap();
    store
}

async fn get(app: &axum::Router, uri: &str) -> Vec<u8> {
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
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    body
}

fn main() {
    let n = rows();
    // 1. The algorithms alone.
    let t = Instant::now();
    let lib = facts(n);
    eprintln!(
        "capsules bench: {n} photos generated in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let cfg = facet_config::Capsules::default();
    let cx = Context {
        lib: &lib,
        cfg: &cfg,
        clock: Clock::now(),
        places: GeoNames::shared(),
    };
    let t = Instant::now();
    let caps = facet_capsules::build(&cx);
    let built = t.elapsed();
    let mut kinds: Vec<&str> = caps.iter().map(|c| c.kind.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    println!(
        "capsules: every capsule of {n} photos: {:.3} s ({} capsules of {} types), peak RSS {:.0} MiB",
        built.as_secs_f64(),
        caps.len(),
        kinds.len(),
        peak_rss_mib()
    );
    let t = Instant::now();
    let again = facet_capsules::build(&cx);
    println!(
        "capsules: again (geocoder cells cached): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(again.len(), caps.len());

    // 2. Through the gallery.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let store = store(dir.path(), &lib).await;
        eprintln!(
            "capsules bench: store written in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        drop(lib);
        let app = app(AppState::new(store, &FacetConfig::default()));
        let t = Instant::now();
        let first = get(&app, "/api/capsules").await;
        let cold = t.elapsed();
        let total = serde_json::from_slice::<serde_json::Value>(&first).unwrap()["total"].clone();
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..requests() {
            let t = Instant::now();
            get(&app, "/api/capsules").await;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "capsules: GET /api/capsules first {:.3} s ({total} capsules); kept: p50 {:.2} ms, max {:.2} ms over {}, peak RSS {:.0} MiB",
            cold.as_secs_f64(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
            times.len(),
            peak_rss_mib()
        );
    });
}
