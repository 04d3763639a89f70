use super::*;
use facet_config::SimilarityGroups;

fn photo(path: &str, phash: u64, taken: Option<&str>) -> Photo {
    Photo {
        path: path.to_string(),
        phash: Some(phash),
        taken: taken.and_then(parse_taken),
        camera: Some("Canon X".into()),
        width: Some(4000),
        height: Some(3000),
        format: Some("jpeg".into()),
        ..Default::default()
    }
}

const BASE: u64 = 0xA5A5_F0F0_1234_5678;

#[test]
fn parses_capture_times() {
    let a = parse_taken("2015-04-10T20:12:23.016").unwrap();
    let b = parse_taken("2015-04-10T20:12:23.550+02:00").unwrap();
    assert!((b - a - 0.534).abs() < 1e-6);
    assert_eq!(
        parse_taken("2008-10-22T16:28:39Z"),
        parse_taken("2008-10-22T16:28:39")
    );
    assert_eq!(parse_taken("not a date"), None);
}

#[test]
fn bursts_follow_time_and_similarity() {
    let d = BurstDetection::default();
    let photos = vec![
        // A burst: 10 s apart, similar (3 bits).
        photo("/a1.jpg", BASE, Some("2020-01-01T10:00:00")),
        photo("/a2.jpg", BASE ^ 0b111, Some("2020-01-01T10:00:10")),
        // 40 s later but a different scene: a new (single) photo.
        photo("/b.jpg", !BASE, Some("2020-01-01T10:00:50")),
        // 0.3 s after b, different hash: rapid burst joins anyway.
        photo(
            "/c.jpg",
            BASE ^ 0xFFFF_0000,
            Some("2020-01-01T10:00:50.300"),
        ),
        // Another camera at the same moment never joins.
        Photo {
            camera: Some("Nikon".into()),
            ..photo("/other.jpg", BASE, Some("2020-01-01T10:00:05"))
        },
        // No time: no burst.
        photo("/notime.jpg", BASE, None),
    ];
    let g = bursts(&photos, &d, &BurstScoring::default(), &Decisions::new());
    let sets: Vec<Vec<&str>> = g
        .iter()
        .map(|g| g.members.iter().map(|&m| photos[m].path.as_str()).collect())
        .collect();
    assert_eq!(
        sets,
        vec![vec!["/a1.jpg", "/a2.jpg"], vec!["/b.jpg", "/c.jpg"]]
    );
    assert!(
        g.iter()
            .all(|g| g.leads.len() == 1 && g.id.starts_with("b-"))
    );
}

#[test]
fn the_burst_lead_is_the_best_frame_and_a_user_choice_sticks() {
    let mut photos = vec![
        photo("/1.jpg", BASE, Some("2020-01-01T10:00:00")),
        photo("/2.jpg", BASE, Some("2020-01-01T10:00:00.200")),
        photo("/3.jpg", BASE, Some("2020-01-01T10:00:00.400")),
    ];
    photos[0].aggregate = Some(6.0);
    photos[1].aggregate = Some(6.0);
    photos[1].blink = Some(true);
    photos[2].aggregate = Some(6.5);
    photos[2].sharpness = Some(50.0);
    photos[0].sharpness = Some(400.0);
    let s = BurstScoring::default();
    let g = bursts(&photos, &BurstDetection::default(), &s, &Decisions::new());
    // /1 is far sharper; /3 has a slightly better aggregate; /2 blinks.
    assert_eq!(photos[g[0].leads[0]].path, "/1.jpg", "{:?}", g[0]);
    assert!(g[0].reason.contains("burst score"));
    let mut decisions = Decisions::new();
    decisions.insert((Kind::Burst, "/3.jpg".into()), Decision::Lead);
    let g = bursts(&photos, &BurstDetection::default(), &s, &decisions);
    assert_eq!(photos[g[0].leads[0]].path, "/3.jpg");
    assert_eq!(g[0].reason, "chosen by the user");
    decisions.insert((Kind::Burst, "/2.jpg".into()), Decision::KeepAll);
    let g = bursts(&photos, &BurstDetection::default(), &s, &decisions);
    assert_eq!(g[0].leads.len(), 3);
}

#[test]
fn duplicates_are_copies_of_one_exposure() {
    let d = DuplicateDetection::default();
    let t = Some("2020-01-01T10:00:00");
    let mut photos = vec![
        photo("/orig.jpg", BASE, t),
        // A resized copy: fewer pixels, 2 bits off.
        Photo {
            width: Some(1000),
            height: Some(750),
            ..photo("/small.jpg", BASE ^ 0b11, t)
        },
        // A re-encoded copy without EXIF (no time): 5 bits off.
        photo("/noexif.jpg", BASE ^ 0b11111, None),
        // The next burst frame: 1 bit off but another exposure.
        photo("/frame2.jpg", BASE ^ 1, Some("2020-01-01T10:00:00.200")),
        // Unrelated.
        photo("/other.jpg", !BASE, t),
        // 7 bits off, away from the others' differences: beyond the 90 % radius (6).
        photo("/far.jpg", BASE ^ (0b111_1111 << 20), t),
    ];
    photos[0].format = Some("jpeg".into());
    let g = duplicates(&photos, &d, &Decisions::new());
    assert_eq!(g.len(), 1, "{g:?}");
    let members: Vec<&str> = g[0]
        .members
        .iter()
        .map(|&m| photos[m].path.as_str())
        .collect();
    assert_eq!(members, vec!["/noexif.jpg", "/orig.jpg", "/small.jpg"]);
    // The lead is the full-resolution copy, whatever the file sizes.
    assert_eq!(photos[g[0].leads[0]].path, "/orig.jpg");
    assert_eq!(g[0].reason, "the copy that kept its capture metadata");
}

#[test]
fn the_duplicate_lead_prefers_resolution_then_format_then_score() {
    let t = Some("2020-01-01T10:00:00");
    let mut photos = vec![
        Photo {
            width: Some(1000),
            height: Some(750),
            aggregate: Some(9.0),
            ..photo("/small_but_scored.jpg", BASE, t)
        },
        Photo {
            format: Some("png".into()),
            ..photo("/big.png", BASE, t)
        },
        photo("/big.jpg", BASE, t),
    ];
    let d = DuplicateDetection::default();
    let g = duplicates(&photos, &d, &Decisions::new());
    assert_eq!(photos[g[0].leads[0]].path, "/big.png");
    assert!(g[0].reason.contains("format"), "{}", g[0].reason);
    // Among equal copies, the better aggregate.
    photos[1].format = Some("jpeg".into());
    photos[2].aggregate = Some(7.0);
    let g = duplicates(&photos, &d, &Decisions::new());
    assert_eq!(photos[g[0].leads[0]].path, "/big.jpg");
    assert!(g[0].reason.contains("aggregate"), "{}", g[0].reason);
}

#[test]
fn embeddings_must_agree_when_present() {
    let t = Some("2020-01-01T10:00:00");
    let photos = vec![
        Photo {
            embedding: Some(vec![1.0, 0.0]),
            ..photo("/a.jpg", BASE, t)
        },
        Photo {
            embedding: Some(vec![0.0, 1.0]),
            ..photo("/b.jpg", BASE, t)
        },
    ];
    assert!(duplicates(&photos, &DuplicateDetection::default(), &Decisions::new()).is_empty());
}

#[test]
fn rows_have_one_line_per_grouped_photo() {
    let t = Some("2020-01-01T10:00:00");
    let photos = vec![
        photo("/a.jpg", BASE, t),
        photo("/b.jpg", BASE, t),
        photo("/alone.jpg", !BASE, Some("2021-01-01T00:00:00")),
    ];
    let mut g = duplicates(&photos, &DuplicateDetection::default(), &Decisions::new());
    g.extend(bursts(
        &photos,
        &BurstDetection::default(),
        &BurstScoring::default(),
        &Decisions::new(),
    ));
    let b = table::rows(&photos, &g).unwrap();
    // One row per photo; the lone photo's group columns are null.
    assert_eq!(b.num_rows(), 3);
    let round: Vec<Photo> = table::photos_of(&b).unwrap();
    assert_eq!(round[0].path, "/a.jpg");
    let stored = table::stored_groups(&b);
    assert_eq!(
        stored,
        vec![
            (
                Kind::Burst,
                vec!["/a.jpg".to_string(), "/b.jpg".to_string()]
            ),
            (
                Kind::Duplicate,
                vec!["/a.jpg".to_string(), "/b.jpg".to_string()]
            ),
        ]
    );
}

/// A unit vector in `dim` dimensions near axis `axis`, tilted by `tilt`
/// towards axis `axis + 1` (cosine between two of them: cos(t1 − t2)).
fn unit(dim: usize, axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[axis] = tilt.cos();
    v[(axis + 1) % dim] = tilt.sin();
    v
}

fn with_embedding(path: &str, e: Vec<f32>, aggregate: f64) -> Photo {
    Photo {
        path: path.to_string(),
        embedding: Some(e),
        aggregate: Some(aggregate),
        ..Default::default()
    }
}

fn sets(photos: &[Photo], groups: &[Group], kind: Kind) -> Vec<Vec<String>> {
    let mut s: Vec<Vec<String>> = groups
        .iter()
        .filter(|g| g.kind == kind)
        .map(|g| g.members.iter().map(|&m| photos[m].path.clone()).collect())
        .collect();
    s.sort();
    s
}

#[test]
fn similar_photos_group_by_cosine_and_the_best_aggregate_leads() {
    let cfg = SimilarityGroups::default(); // 0.85
    let photos = vec![
        // Cluster on axis 0: 0.1 rad apart (cosine 0.995).
        with_embedding("/a1.jpg", unit(8, 0, 0.0), 5.0),
        with_embedding("/a2.jpg", unit(8, 0, 0.1), 7.0),
        with_embedding("/a3.jpg", unit(8, 0, 0.2), 6.0),
        // Cluster on axis 4.
        with_embedding("/b1.jpg", unit(8, 4, 0.0), 4.0),
        with_embedding("/b2.jpg", unit(8, 4, 0.3), 3.0),
        // 0.6 rad from a1 (cosine 0.825 < 0.85) and from a3 by 0.4 (0.92):
        // joins through a3.
        with_embedding("/a4.jpg", unit(8, 0, 0.6), 1.0),
        // Alone: orthogonal to everything.
        with_embedding("/c.jpg", unit(8, 2, 0.0), 9.0),
        // No embedding: never grouped.
        Photo {
            path: "/none.jpg".into(),
            ..Default::default()
        },
    ];
    let g = similar::similar(&photos, &cfg, &Decisions::new(), &mut similar::Flat).unwrap();
    assert_eq!(
        sets(&photos, &g, Kind::Similar),
        vec![
            vec!["/a1.jpg", "/a2.jpg", "/a3.jpg", "/a4.jpg"],
            vec!["/b1.jpg", "/b2.jpg"]
        ]
    );
    let a = g.iter().find(|g| g.members.len() == 4).unwrap();
    assert_eq!(photos[a.leads[0]].path, "/a2.jpg");
    assert!(a.reason.contains("best aggregate (7.00)"), "{}", a.reason);
    assert!(a.id.starts_with("s-"));
    // A stricter threshold keeps only the tightest pairs.
    let strict = SimilarityGroups {
        default_threshold: 0.99,
        ..cfg.clone()
    };
    let g = similar::similar(&photos, &strict, &Decisions::new(), &mut similar::Flat).unwrap();
    assert_eq!(
        sets(&photos, &g, Kind::Similar),
        vec![vec!["/a1.jpg", "/a2.jpg", "/a3.jpg"]]
    );
    // min_group_size drops the pair.
    let three = SimilarityGroups {
        min_group_size: 3,
        ..cfg
    };
    let g = similar::similar(&photos, &three, &Decisions::new(), &mut similar::Flat).unwrap();
    assert_eq!(sets(&photos, &g, Kind::Similar).len(), 1);
}

#[test]
fn an_oversized_similarity_group_splits_along_its_weakest_links() {
    // A chain of 10 photos, tight pairs (0.05 rad) joined by looser links
    // (0.3 rad): (p0 p1) ~ (p2 p3) ~ … Everything is one component at 0.85.
    let mut t = 0.0f32;
    let mut photos = Vec::new();
    for i in 0..10 {
        photos.push(with_embedding(
            &format!("/p{i}.jpg"),
            unit(4, 0, t),
            i as f64,
        ));
        t += if i % 2 == 0 { 0.05 } else { 0.3 };
    }
    let cfg = SimilarityGroups {
        max_group_size: 4,
        ..Default::default()
    };
    let g = similar::similar(&photos, &cfg, &Decisions::new(), &mut similar::Flat).unwrap();
    let s = sets(&photos, &g, Kind::Similar);
    assert!(s.iter().all(|m| m.len() <= 4), "{s:?}");
    // Every tight pair stays together: only the looser links are cut.
    for i in (0..10).step_by(2) {
        let (a, b) = (format!("/p{i}.jpg"), format!("/p{}.jpg", i + 1));
        assert!(
            s.iter().any(|m| m.contains(&a) && m.contains(&b)),
            "{a} and {b} split: {s:?}"
        );
    }
    // Uncapped, it is one group.
    let one = similar::similar(
        &photos,
        &SimilarityGroups::default(),
        &Decisions::new(),
        &mut similar::Flat,
    )
    .unwrap();
    assert_eq!(sets(&photos, &one, Kind::Similar).len(), 1);
}

/// A generated library: bursts, duplicate copies and similar photos among
/// unrelated ones.
fn library(n: usize, offset: usize) -> Vec<Photo> {
    (offset..offset + n)
        .map(|i| {
            let scene = i / 4;
            let mix = |x: u64| {
                let mut x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
                x ^= x >> 31;
                x.wrapping_mul(0xBF58_476D_1CE4_E5B9)
            };
            // Scenes of 4: frames of a burst a second apart every 3rd scene,
            // copies (same hash, same time) every 5th, else spread in time.
            let burst = scene % 3 == 0;
            let copy = scene % 5 == 0;
            let secs = if burst || copy {
                scene * 3600 + if burst { i % 4 } else { 0 }
            } else {
                i * 3600 + 7
            };
            let h = if copy || burst {
                mix(scene as u64) ^ (i % 2) as u64
            } else {
                mix(1_000_000 + i as u64)
            };
            let taken = chrono::DateTime::from_timestamp(1_500_000_000 + secs as i64, 0)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            Photo {
                embedding: (scene % 2 == 0).then(|| {
                    unit(
                        64,
                        scene % 64,
                        (i % 4) as f32 * 0.05 + (scene / 64) as f32 * 0.7,
                    )
                }),
                aggregate: Some((i % 10) as f64),
                ..photo(&format!("/lib/{i:05}.jpg"), h, Some(&taken))
            }
        })
        .collect()
}

fn ids(
    groups: &[Group],
    photos: &[Photo],
) -> std::collections::BTreeMap<(Kind, String), (Vec<String>, Vec<String>)> {
    groups
        .iter()
        .map(|g| {
            let paths = |v: &[usize]| v.iter().map(|&m| photos[m].path.clone()).collect();
            ((g.kind, g.id.clone()), (paths(&g.members), paths(&g.leads)))
        })
        .collect()
}

#[test]
fn adding_photos_regroups_only_what_they_touch_and_equals_a_full_detection() {
    let config = facet_config::FacetConfig::default();
    let settings = maintain::Settings::of(&config);
    let decisions = Decisions::new();
    let mut photos = library(400, 0);
    let before = maintain::detect(&photos, settings, &decisions, None, &mut similar::Flat).unwrap();
    for kind in Kind::ALL {
        assert!(
            before.groups.iter().any(|g| g.kind == kind),
            "no {kind:?} group"
        );
    }
    let since_groups: Vec<(Kind, Vec<String>)> = before
        .groups
        .iter()
        .map(|g| {
            (
                g.kind,
                g.members.iter().map(|&m| photos[m].path.clone()).collect(),
            )
        })
        .collect();
    // New photos: a copy of one photo and a frame of an existing burst (same
    // scene, a second later), plus unrelated new ones.
    let mut added = library(8, 400);
    let mut frame = photos[1].clone(); // scene 0: burst, copy, similar
    frame.path = "/lib/00001b.jpg".into();
    frame.taken = frame.taken.map(|t| t + 0.5);
    added.push(frame);
    let mut copy = photos[20 * 4 + 1].clone(); // scene 20: copies
    copy.path = "/lib/copy.png".into();
    added.push(copy);
    // One photo removed (from a group).
    let removed = photos.remove(12 * 4);
    let first_new = photos.len();
    photos.extend(added);
    let since = maintain::Since {
        groups: since_groups,
        changed: (first_new..photos.len()).collect(),
    };
    let inc = maintain::detect(
        &photos,
        settings,
        &decisions,
        Some(&since),
        &mut similar::Flat,
    )
    .unwrap();
    let full = maintain::detect(&photos, settings, &decisions, None, &mut similar::Flat).unwrap();
    assert_eq!(ids(&inc.groups, &photos), ids(&full.groups, &photos));
    assert!(
        inc.looked_up * 10 < full.looked_up,
        "looked up {} of {}",
        inc.looked_up,
        full.looked_up
    );
    // Groups away from the new and removed photos kept their ids and members:
    // those sharing no photo with a group of a new photo, nor with the
    // removed photo's groups.
    let old_photos: Vec<Photo> = library(400, 0);
    let after = ids(&inc.groups, &photos);
    let mut affected: HashSet<String> = HashSet::new();
    for (m, _) in after.values() {
        if m.iter()
            .any(|p| photos[first_new..].iter().any(|n| &n.path == p))
        {
            affected.extend(m.iter().cloned());
        }
    }
    for (m, _) in ids(&before.groups, &old_photos).values() {
        if m.contains(&removed.path) {
            affected.extend(m.iter().cloned());
        }
    }
    let untouched: Vec<_> = ids(&before.groups, &old_photos)
        .into_iter()
        .filter(|(_, (m, _))| !m.iter().any(|p| affected.contains(p)))
        .collect();
    assert!(untouched.len() > 50, "{}", untouched.len());
    for (key, members) in untouched {
        assert_eq!(after.get(&key).map(|v| &v.0), Some(&members.0), "{key:?}");
    }
    // The new frame joined its burst, the copy its duplicates.
    let with = |kind: Kind, p: &str| {
        inc.groups
            .iter()
            .any(|g| g.kind == kind && g.members.iter().any(|&m| photos[m].path == p))
    };
    assert!(with(Kind::Burst, "/lib/00001b.jpg"));
    assert!(with(Kind::Duplicate, "/lib/copy.png"));
    assert!(with(Kind::Similar, "/lib/00001b.jpg"));
}
