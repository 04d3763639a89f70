//! Duplicate detection at library scale, in one run:
//!
//!   cargo bench -p facet-stages --bench groups     (FACET_GROUPS_ROWS, default 1,000,000)
//!
//! * `full`: `groups::duplicates` over every photo — multi-index hash build,
//!   a radius-6 query per photo, transitive grouping, leads.
//! * `add_100`: 100 new photos against the index of the library: insert and
//!   query only them (what an incremental detection does per new photo).
//!
//! * `maintain`: a library of 100,000 photos (FACET_MAINTAIN_ROWS) with
//!   capture times and cameras — bursts and duplicates — detected in full
//!   (`groups::maintain::detect` without a previous detection) and after 100
//!   new photos arrive (with the previous groups: only the new photos and
//!   what they reach are looked up); the ratio of the two is printed.
//!   (Similarity look-ups go through Lance's vector index in `facet`; here
//!   photos carry no embeddings.)
//!
//! Hashes are generated: clusters of near-copies (a few bits flipped) among
//! unrelated photos, about 1 % of them in duplicate groups.

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use facet_config::DuplicateDetection;
use facet_stages::groups::hamming::HammingIndex;
use facet_stages::groups::maintain::{Settings, Since, detect};
use facet_stages::groups::similar::Flat;
use facet_stages::groups::{Decisions, Photo, duplicates};

fn rows() -> usize {
    let default = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    };
    std::env::var("FACET_GROUPS_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// Photo `i`: every 200th starts a cluster of 3 near-copies.
fn hash(i: u64) -> u64 {
    let cluster = i % 200 < 3;
    if cluster {
        mix(i / 200) ^ (1 << (i % 200)) ^ (1 << (20 + i % 7))
    } else {
        mix(i + 1_000_000_007)
    }
}

fn photos(n: usize, offset: usize) -> Vec<Photo> {
    (0..n)
        .map(|i| {
            let i = (i + offset) as u64;
            Photo {
                path: format!("/lib/{i:08}.jpg"),
                phash: Some(hash(i)),
                width: Some(4000),
                height: Some(3000),
                ..Default::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let library = photos(n, 0);
    let cfg = DuplicateDetection::default();
    let groups = duplicates(&library, &cfg, &Decisions::new());
    eprintln!("{n} photos: {} duplicate groups", groups.len());

    let mut g = c.benchmark_group("duplicates");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.bench_function(format!("full/{n}"), |b| {
        b.iter(|| duplicates(&library, &cfg, &Decisions::new()).len())
    });
    let new = photos(100, n);
    g.bench_function("add_100", |b| {
        b.iter_batched(
            || index_clone(&library),
            |mut idx| {
                let mut found = 0;
                for p in &new {
                    found += idx.within(p.phash.unwrap(), 6).len();
                    idx.insert(p.phash.unwrap());
                }
                // Returned, so that dropping the index is not timed.
                (found, idx)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
    maintain(c);
}

/// `photos(n, offset)` with capture times: every 50th photo starts a burst
/// of 4 frames 0.2 s apart; the others are minutes apart.
fn timed(n: usize, offset: usize) -> Vec<Photo> {
    photos(n, offset)
        .into_iter()
        .enumerate()
        .map(|(k, p)| {
            let i = k + offset;
            let taken = if i % 50 < 4 {
                (i - i % 50) as f64 * 100.0 + (i % 50) as f64 * 0.2
            } else {
                i as f64 * 100.0
            };
            Photo {
                taken: Some(taken),
                camera: Some(format!("cam{}", (k + offset) / 50 % 3)),
                ..p
            }
        })
        .collect()
}

fn maintain(c: &mut Criterion) {
    let n: usize = std::env::var("FACET_MAINTAIN_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let config = facet_config::FacetConfig::default();
    let settings = Settings::of(&config);
    let decisions = Decisions::new();
    let library = timed(n, 0);
    let before = detect(&library, settings, &decisions, None, &mut Flat).unwrap();
    let since = Since {
        groups: before
            .groups
            .iter()
            .map(|g| {
                (
                    g.kind,
                    g.members.iter().map(|&m| library[m].path.clone()).collect(),
                )
            })
            .collect(),
        changed: (n..n + 100).collect(),
    };
    let mut grown = library.clone();
    grown.extend(timed(100, n));
    let full = || detect(&grown, settings, &decisions, None, &mut Flat).unwrap();
    let absorb = || detect(&grown, settings, &decisions, Some(&since), &mut Flat).unwrap();
    // The two agree (the groups, by id and members).
    let key = |d: &facet_stages::groups::maintain::Detection| {
        let mut v: Vec<(String, Vec<usize>)> = d
            .groups
            .iter()
            .map(|g| (g.id.clone(), g.members.clone()))
            .collect();
        v.sort();
        v
    };
    let (f, a) = (full(), absorb());
    assert_eq!(key(&f), key(&a), "incremental and full detections differ");
    let time = |run: &dyn Fn() -> usize| {
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(run());
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    let tf = time(&|| full().groups.len());
    let ta = time(&|| absorb().groups.len());
    eprintln!(
        "maintain: {n} photos, {} groups; full detection {:.1} ms ({} looked up), \
         100 new photos absorbed in {:.1} ms ({} looked up): full/incremental = {:.0}x",
        f.groups.len(),
        tf * 1e3,
        f.looked_up,
        ta * 1e3,
        a.looked_up,
        tf / ta
    );
    let mut g = c.benchmark_group("maintain");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    g.bench_function(format!("full/{n}"), |b| b.iter(|| full().groups.len()));
    g.bench_function(format!("absorb_100/{n}"), |b| {
        b.iter(|| absorb().groups.len())
    });
    g.finish();
}

/// The library's index, built outside the measured part of `add_100`.
fn index_clone(library: &[Photo]) -> HammingIndex {
    let mut idx = HammingIndex::new();
    for p in library {
        idx.insert(p.phash.unwrap());
    }
    idx
}

criterion_group!(benches, bench);
criterion_main!(benches);
