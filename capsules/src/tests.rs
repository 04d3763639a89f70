//! Generated libraries with known trips, seasons, people and scores, and
//! the capsules they must give.

use std::collections::BTreeSet;

use facet_config::Capsules;

use crate::*;

const PARIS: (f64, f64) = (48.8566, 2.3522);
const LISBON: (f64, f64) = (38.7167, -9.1333);
const TOKYO: (f64, f64) = (35.6895, 139.6917);
const ROME: (f64, f64) = (41.8919, 12.5113);
const SYDNEY: (f64, f64) = (-33.8678, 151.2073);
const LONDON: (f64, f64) = (51.5085, -0.1257);

/// A small deterministic jitter (≈ 1 km) so that photos of a place differ.
fn near(p: (f64, f64), i: usize) -> (f64, f64) {
    let j = (i % 7) as f64 * 0.001;
    (p.0 + j, p.1 - j)
}

fn photo(path: String, score: f64, when: &str, gps: Option<(f64, f64)>) -> PhotoFacts {
    PhotoFacts {
        path,
        aggregate: Some(score),
        taken: Some(Taken::parse(when).expect("a date")),
        gps,
        ..PhotoFacts::default()
    }
}

struct Gen {
    photos: Vec<PhotoFacts>,
}

impl Gen {
    /// `n` photos at `place` from `day` (YYYY-MM-DD) on, one every
    /// `step_h` hours from 09:00.
    fn series(
        &mut self,
        name: &str,
        place: (f64, f64),
        day: &str,
        n: usize,
        step_h: u32,
    ) -> Vec<usize> {
        let start = Taken::parse(day).unwrap().days();
        let mut out = Vec::new();
        for i in 0..n {
            let h = 9 + i as u32 * step_h;
            let (y, m, d) = time::civil_from_days(start + i64::from(h / 24));
            let when = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:00", h % 24, i % 60);
            let score = 6.0 + (self.photos.len() % 20) as f64 * 0.1;
            out.push(self.photos.len());
            self.photos.push(photo(
                format!("/lib/{name}/{:05}.jpg", self.photos.len()),
                score,
                &when,
                Some(near(place, i)),
            ));
        }
        out
    }
}

/// The travelling family's library: home in Paris; trips to Lisbon (May
/// 2023), Tokyo (October 2022), Sydney (January 2022), Rome (twice in
/// September 2021: a gap of three days between), a short one to London;
/// home photos in three seasons; Alice, Bob, Carol and Dan; the best 1 %
/// scored 9 and more.
fn family() -> (Library, Expected) {
    let mut g = Gen { photos: Vec::new() };
    // Home: summer 2021 (12 + 5 below min_aggregate), winter 2021–22 (12),
    // spring 2022 (14).
    let summer = g.series("home", PARIS, "2021-07-01", 12, 30);
    let low = g.series("home", PARIS, "2021-07-20", 5, 5);
    for &i in &low {
        g.photos[i].aggregate = Some(4.0);
    }
    let winter = g.series("home", PARIS, "2021-12-20", 12, 24);
    let spring = g.series("home", PARIS, "2022-04-02", 14, 20);
    let lisbon = g.series("lisbon", LISBON, "2023-05-10", 12, 8);
    let tokyo = g.series("tokyo", TOKYO, "2022-10-03", 10, 5);
    let sydney = g.series("sydney", SYDNEY, "2022-01-05", 12, 6);
    let rome1 = g.series("rome", ROME, "2021-09-01", 9, 1);
    let rome2 = g.series("rome", ROME, "2021-09-05", 9, 1);
    let london = g.series("london", LONDON, "2023-02-01", 3, 2);
    // Home again between trips (ends them).
    g.series("home", PARIS, "2021-09-03", 2, 1);
    // A burst in Lisbon: three frames, the second leads.
    for (k, &i) in lisbon[2..5].iter().enumerate() {
        g.photos[i].burst = Some(Group {
            id: "b-lisbon".into(),
            lead: k == 1,
        });
    }
    // People: Alice (1), Bob (2), Carol (3), Dan (4); 5 is unnamed.
    let home: Vec<usize> = [summer.clone(), winter.clone(), spring.clone()].concat();
    let with = |g: &mut Gen, rows: &[usize], ids: &[i64]| {
        for &i in rows {
            g.photos[i].persons.extend_from_slice(ids);
        }
    };
    with(&mut g, &home[0..10], &[1, 2]);
    with(&mut g, &home[10..15], &[1]);
    with(&mut g, &home[15..17], &[2]);
    with(&mut g, &home[17..25], &[3]);
    with(&mut g, &home[25..28], &[1, 3]);
    for &i in &home[25..28] {
        g.photos[i].aggregate = Some(7.5);
    }
    with(&mut g, &home[28..33], &[4]);
    with(&mut g, &home[0..12], &[5]);
    // The best 1 %: distinct top scores.
    let n = g.photos.len();
    let k = n.div_ceil(100);
    let golden: Vec<usize> = (0..k).map(|j| spring[j]).collect();
    for (j, &i) in golden.iter().enumerate() {
        g.photos[i].aggregate = Some(9.9 - j as f64 * 0.1);
    }
    let persons = vec![
        Person {
            id: 1,
            name: "Alice".into(),
        },
        Person {
            id: 2,
            name: "Bob".into(),
        },
        Person {
            id: 3,
            name: "Carol".into(),
        },
        Person {
            id: 4,
            name: "Dan".into(),
        },
    ];
    let paths = |rows: &[usize]| -> BTreeSet<String> {
        rows.iter().map(|&i| g.photos[i].path.clone()).collect()
    };
    let expected = Expected {
        golden: paths(&golden),
        lisbon: paths(&lisbon),
        burst_non_leads: paths(&[lisbon[2], lisbon[4]]),
        tokyo: paths(&tokyo),
        sydney: paths(&sydney),
        rome: [paths(&rome1), paths(&rome2)],
        london: paths(&london),
        low: paths(&low),
    };
    (Library::new(g.photos, persons), expected)
}

struct Expected {
    golden: BTreeSet<String>,
    lisbon: BTreeSet<String>,
    burst_non_leads: BTreeSet<String>,
    tokyo: BTreeSet<String>,
    sydney: BTreeSet<String>,
    rome: [BTreeSet<String>; 2],
    london: BTreeSet<String>,
    low: BTreeSet<String>,
}

fn clock(day: &str) -> Clock {
    Clock {
        unix: Taken::parse(day).unwrap().seconds() + 12 * 3600,
    }
}

fn cx<'a>(lib: &'a Library, cfg: &'a Capsules, at: Clock) -> Context<'a> {
    Context {
        lib,
        cfg,
        clock: at,
        places: GeoNames::shared(),
    }
}

fn paths(lib: &Library, rows: &[u32]) -> BTreeSet<String> {
    rows.iter()
        .map(|&i| lib.photos[i as usize].path.clone())
        .collect()
}

/// The name the geocoder gives the 0.1° cell of a position (GeoNames'
/// nearest city to the cell's centre: a suburb, in a large city).
fn named(p: (f64, f64), country: &str) -> String {
    let place = GeoNames::shared().place(p.0, p.1).expect("a place");
    assert_eq!(place.country, country, "{place:?}");
    place.name
}

fn finished(cx: &Context, drafts: Vec<Draft>) -> Vec<Capsule> {
    drafts.into_iter().filter_map(|d| finish(cx, d)).collect()
}

#[test]
fn journeys_are_the_trips_away_from_home_with_their_place_names() {
    let (lib, e) = family();
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-03-01"));
    let home = kinds::home(&cx).unwrap();
    assert!(geo::distance_km(home, PARIS) < 2.0, "{home:?}");
    let caps = finished(&cx, kinds::journeys(&cx));
    let got: Vec<(String, BTreeSet<String>)> = caps
        .iter()
        .map(|c| (c.title.clone(), paths(&lib, &c.photos)))
        .collect();
    let lisbon: BTreeSet<String> = e.lisbon.difference(&e.burst_non_leads).cloned().collect();
    let want = vec![
        ("Lisbon, May 2023".to_string(), lisbon),
        ("Tokyo, October 2022".to_string(), e.tokyo.clone()),
        (
            format!("{}, January 2022", named(SYDNEY, "AU")),
            e.sydney.clone(),
        ),
        ("Rome, September 2021".to_string(), e.rome[1].clone()),
        ("Rome, September 2021".to_string(), e.rome[0].clone()),
    ];
    assert_eq!(got, want);
    // London's three photos make no journey.
    assert!(
        caps.iter()
            .all(|c| paths(&lib, &c.photos).is_disjoint(&e.london))
    );
    for c in &caps {
        assert_eq!(c.transition(), Transition::Slide);
        // In time order.
        let times: Vec<_> = c
            .photos
            .iter()
            .map(|&i| lib.photos[i as usize].taken)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }
    // Without geocoding: coordinates.
    let off = Capsules {
        reverse_geocoding: false,
        ..Capsules::default()
    };
    let cx2 = Context {
        places: &Coordinates,
        ..self::cx(&lib, &off, clock("2024-03-01"))
    };
    let titles: Vec<String> = kinds::journeys(&cx2).into_iter().map(|d| d.title).collect();
    assert_eq!(titles[0], "38.7°N 9.1°W, May 2023", "{titles:?}");
}

#[test]
fn a_longer_gap_or_a_shorter_distance_changes_the_trips() {
    let (lib, _) = family();
    // A 4-day gap joins the two Rome runs (the photos at home between them
    // still end a trip: they are in Paris on the 3rd).
    let mut cfg = Capsules::default();
    cfg.journey.time_gap_hours = 24.0 * 4.0;
    let cx1 = cx(&lib, &cfg, clock("2024-03-01"));
    let rome = kinds::journeys(&cx1)
        .into_iter()
        .filter(|d| d.title.starts_with("Rome"))
        .count();
    assert_eq!(rome, 2);
    // London is 340 km away: at 400 km it is home.
    cfg.journey.min_distance_km = 400.0;
    cfg.journey.min_photos = 3;
    let cx2 = cx(&lib, &cfg, clock("2024-03-01"));
    assert!(
        kinds::journeys(&cx2)
            .iter()
            .all(|d| !d.title.starts_with("London"))
    );
    cfg.journey.min_distance_km = 50.0;
    let cx3 = cx(&lib, &cfg, clock("2024-03-01"));
    let london = format!("{}, February 2023", named(LONDON, "GB"));
    assert!(
        kinds::journeys(&cx3).iter().any(|d| d.title == london),
        "{london}"
    );
}

#[test]
fn seasons_are_per_hemisphere_and_year() {
    let (lib, e) = family();
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-03-01"));
    let caps = finished(&cx, kinds::seasonal(&cx));
    let titles: BTreeSet<String> = caps.iter().map(|c| c.title.clone()).collect();
    let want: BTreeSet<String> = [
        "Spring 2023",    // Lisbon
        "Autumn 2022",    // Tokyo
        "Spring 2022",    // home
        "Summer 2021–22", // Sydney, southern
        "Winter 2021–22", // home
        "Autumn 2021",    // Rome
        "Summer 2021",    // home
    ]
    .map(String::from)
    .into_iter()
    .collect();
    assert_eq!(titles, want);
    let sydney = caps.iter().find(|c| c.title == "Summer 2021–22").unwrap();
    assert_eq!(paths(&lib, &sydney.photos), e.sydney);
    let summer = caps.iter().find(|c| c.title == "Summer 2021").unwrap();
    assert!(
        paths(&lib, &summer.photos).is_disjoint(&e.low),
        "below min_aggregate"
    );
    assert_eq!(summer.photos.len(), 12);
    assert_eq!(summer.transition(), Transition::Kenburns);
}

#[test]
fn golden_is_the_top_percentile() {
    let (lib, e) = family();
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-03-01"));
    let caps = finished(&cx, kinds::golden(&cx));
    assert_eq!(caps.len(), 1);
    assert_eq!(paths(&lib, &caps[0].photos), e.golden);
    // The top 10 %: more photos, capped at golden.max_photos.
    let mut cfg = Capsules::default();
    cfg.golden.percentile = 90.0;
    cfg.golden.max_photos = 7;
    let cx = self::cx(&lib, &cfg, clock("2024-03-01"));
    let caps = finished(&cx, kinds::golden(&cx));
    assert_eq!(caps[0].photos.len(), 7);
    assert!(e.golden.is_subset(&paths(&lib, &caps[0].photos)));
}

#[test]
fn people_and_pairs() {
    let (lib, _) = family();
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-03-01"));
    let faces: BTreeSet<String> = kinds::faces_of(&cx).into_iter().map(|d| d.title).collect();
    assert_eq!(faces, ["Alice", "Bob", "Carol"].map(String::from).into());
    let pairs: Vec<(String, usize)> = finished(&cx, kinds::person_pairs(&cx))
        .into_iter()
        .map(|c| (c.title, c.photos.len()))
        .collect();
    assert_eq!(pairs, vec![("Alice & Bob".to_string(), 10)]);
    let rare: Vec<(String, usize)> = finished(&cx, kinds::rare_pairs(&cx))
        .into_iter()
        .map(|c| (c.title, c.photos.len()))
        .collect();
    assert_eq!(rare, vec![("Alice & Carol".to_string(), 3)]);
    // Without Bob among the session's people (hidden, or not visible):
    // no pair with him.
    let mut fewer = lib.clone();
    fewer.persons.retain(|p| p.name != "Bob");
    let cx = self::cx(&fewer, &cfg, clock("2024-03-01"));
    assert!(kinds::person_pairs(&cx).is_empty());
}

#[test]
fn this_week_takes_three_days_either_side_in_earlier_years() {
    let mut photos = Vec::new();
    let mut add = |day: &str, n: usize| {
        for k in 0..n {
            let i = photos.len();
            photos.push(photo(
                format!("/w/{day}-{k}.jpg"),
                7.0,
                &format!("{day}T10:00:{k:02}"),
                None,
            ));
            let _ = i;
        }
    };
    add("2021-07-12", 3); // 2 days before: counts
    add("2022-07-17", 3); // 3 days after: counts
    add("2023-07-20", 4); // 6 days: no
    add("2020-07-14", 2); // too few that year
    add("2024-07-13", 5); // this year
    let lib = Library::new(photos, Vec::new());
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-07-14"));
    let caps = finished(&cx, kinds::this_week(&cx));
    assert_eq!(caps.len(), 1);
    let got = paths(&lib, &caps[0].photos);
    assert_eq!(got.len(), 6);
    assert!(
        got.iter()
            .all(|p| p.contains("2021-07-12") || p.contains("2022-07-17"))
    );
    assert_eq!(caps[0].subtitle.as_deref(), Some("2022, 2021"));
    // Across the new year: 31 December is two days before 2 January.
    let lib = Library::new(
        (0..3)
            .map(|k| photo(format!("/n/{k}.jpg"), 7.0, "2022-12-31T10:00:00", None))
            .collect(),
        Vec::new(),
    );
    let cx = self::cx(&lib, &cfg, clock("2024-01-02"));
    assert_eq!(finished(&cx, kinds::this_week(&cx)).len(), 1);
}

#[test]
fn progress_needs_a_rising_quarterly_mean() {
    let mk = |means: [f64; 3]| {
        let mut photos = Vec::new();
        for (q, m) in means.iter().enumerate() {
            for k in 0..10 {
                let month = q * 3 + 1;
                photos.push(photo(
                    format!("/p/{q}-{k}.jpg"),
                    m + (k as f64 - 4.5) * 0.02,
                    &format!("2020-{month:02}-{:02}T10:00:00", k + 1),
                    None,
                ));
            }
        }
        Library::new(photos, Vec::new())
    };
    let cfg = Capsules::default();
    let rising = mk([6.0, 6.5, 7.0]);
    let cx1 = cx(&rising, &cfg, clock("2024-03-01"));
    let caps = finished(&cx1, kinds::progress(&cx1));
    assert_eq!(caps.len(), 1);
    assert_eq!(
        caps[0].subtitle.as_deref(),
        Some("+17% from Q1 2020 to Q3 2020")
    );
    let flat = mk([7.0, 7.1, 7.2]);
    let cx2 = cx(&flat, &cfg, clock("2024-03-01"));
    assert!(kinds::progress(&cx2).is_empty(), "+2.9 % is under 5 %");
}

/// Three clusters of embeddings; the best scores all in the first.
fn clustered() -> Library {
    let mut photos = Vec::new();
    for c in 0..3 {
        for k in 0..10 {
            let mut e = vec![0.0f32; 3];
            e[c] = 1.0;
            e[(c + 1) % 3] = 0.05 * k as f32;
            let score = if c == 0 {
                9.0 + k as f64 * 0.05
            } else {
                7.0 + k as f64 * 0.05
            };
            let mut p = photo(
                format!("/c/{c}-{k}.jpg"),
                score,
                "2020-01-01T10:00:00",
                None,
            );
            p.embedding = Some(e.into());
            photos.push(p);
        }
    }
    Library::new(photos, Vec::new())
}

#[test]
fn mmr_raises_diversity_over_the_top_scores() {
    let lib = clustered();
    let rows: Vec<u32> = (0..lib.photos.len() as u32).collect();
    let best = select::top(&lib, &rows, 10);
    let diverse = select::mmr(&lib, &rows, 10, 0.5);
    assert_eq!(diverse.len(), 10);
    let (d_best, d_mmr) = (
        select::mean_pairwise_distance(&lib, &best),
        select::mean_pairwise_distance(&lib, &diverse),
    );
    assert!(d_mmr > d_best + 0.2, "MMR {d_mmr} vs top scores {d_best}");
    // The best photo still comes first; λ = 1 is the top scores.
    assert_eq!(diverse[0], best[0]);
    let greedy = select::mmr(&lib, &rows, 10, 1.0);
    assert_eq!(
        greedy.iter().collect::<BTreeSet<_>>(),
        best.iter().collect::<BTreeSet<_>>()
    );
    // Five candidates or fewer: by score, no MMR.
    assert_eq!(
        select::mmr(&lib, &rows[..5], 10, 0.0),
        select::top(&lib, &rows[..5], 10)
    );
}

#[test]
fn one_photo_per_burst_and_duplicate_group() {
    let mut photos: Vec<PhotoFacts> = (0..6)
        .map(|k| {
            photo(
                format!("/g/{k}.jpg"),
                7.0 + k as f64 * 0.1,
                "2020-01-01",
                None,
            )
        })
        .collect();
    // 0, 1, 2: a burst led by 0 (the lowest score); 3 and 4 duplicates,
    // the lead (4) outside the candidates; 4 also in a burst with 5.
    for (k, lead) in [(0, true), (1, false), (2, false)] {
        photos[k].burst = Some(Group {
            id: "b".into(),
            lead,
        });
    }
    photos[3].duplicate = Some(Group {
        id: "d".into(),
        lead: false,
    });
    photos[4].duplicate = Some(Group {
        id: "d".into(),
        lead: true,
    });
    let lib = Library::new(photos, Vec::new());
    let kept = select::one_per_group(&lib, &[0, 1, 2, 3, 5]);
    assert_eq!(kept, vec![5, 3, 0]);
    assert_eq!(
        select::one_per_group(&lib, &[0, 1, 2, 3, 4, 5]),
        vec![5, 4, 0]
    );
}

#[test]
fn overlapping_capsules_are_deduplicated_in_priority_order() {
    let a: Vec<u32> = (0..10).collect();
    let b: Vec<u32> = [0, 1, 2].into_iter().chain(11..18).collect(); // 30 %
    let c: Vec<u32> = [0, 1].into_iter().chain(18..26).collect(); // 20 %: kept
    let d: Vec<u32> = vec![30, 31, 0]; // 1 of 3 = 33 %
    let kept = select::dedup(vec![a.clone(), b, c.clone(), d], |v| v.as_slice(), 0.2);
    assert_eq!(kept, vec![a, c]);
    // Whole build: no two capsules overlap by more than the setting.
    let (lib, _) = family();
    let cfg = Capsules::default();
    let cx = cx(&lib, &cfg, clock("2024-03-01"));
    let caps = build(&cx);
    assert!(caps.len() >= 5, "{}", caps.len());
    for (x, p) in caps.iter().enumerate() {
        for q in &caps[x + 1..] {
            assert!(
                select::overlap(&p.photos, &q.photos) <= cfg.max_photo_overlap,
                "{} / {}",
                p.title,
                q.title
            );
        }
    }
    let ids: BTreeSet<&str> = caps.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), caps.len(), "ids are unique");
    // Without the dedup more capsules remain.
    let all = Capsules {
        max_photo_overlap: 1.0,
        ..Capsules::default()
    };
    let cx = self::cx(&lib, &all, clock("2024-03-01"));
    assert!(build(&cx).len() > caps.len());
}

#[test]
fn covers_and_seeds_rotate_by_slot_and_hold_within_one() {
    let (lib, _) = family();
    let cfg = Capsules::default();
    let day = |d: &str, h: i64| Clock {
        unix: Taken::parse(d).unwrap().seconds() + h * 3600,
    };
    let a = build(&cx(&lib, &cfg, day("2024-03-01", 1)));
    let a2 = build(&cx(&lib, &cfg, day("2024-03-01", 23)));
    assert_eq!(a, a2, "the same slot, the same capsules and covers");
    // Over ten days, every capsule of more than one photo shows another
    // cover at least once, and the seeded capsules change.
    let later: Vec<Vec<Capsule>> = (2..12)
        .map(|d| build(&cx(&lib, &cfg, day(&format!("2024-03-{d:02}"), 1))))
        .collect();
    let all = Capsules {
        max_photo_overlap: 1.0,
        ..Capsules::default()
    };
    let s0 = build(&cx(&lib, &all, day("2024-03-01", 1)));
    let s1: Vec<Vec<Capsule>> = (2..6)
        .map(|d| build(&cx(&lib, &all, day(&format!("2024-03-{d:02}"), 1))))
        .collect();
    let seeded = |caps: &[Capsule]| -> BTreeSet<String> {
        caps.iter()
            .filter(|c| c.kind == Kind::Seeded)
            .map(|c| c.id.clone())
            .collect()
    };
    assert!(!seeded(&s0).is_empty(), "seeded capsules exist");
    assert_eq!(
        seeded(&s0),
        seeded(&build(&cx(&lib, &all, day("2024-03-01", 20))))
    );
    assert!(s1.iter().all(|l| seeded(l) != seeded(&s0)));
    for c in a
        .iter()
        .filter(|c| c.photos.len() > 1 && c.kind != Kind::Seeded)
    {
        let covers: BTreeSet<u32> = later
            .iter()
            .filter_map(|l| l.iter().find(|x| x.id == c.id).map(|x| x.cover))
            .chain([c.cover])
            .collect();
        assert!(covers.len() > 1, "{}: always {:?}", c.title, covers);
        assert!(c.photos.contains(&c.cover));
    }
}

#[test]
fn every_type_is_built_and_each_capsule_respects_the_rules() {
    let (mut lib, _) = family();
    // Metadata for the dimensions, favourites and colours.
    for (i, p) in lib.photos.iter_mut().enumerate() {
        p.camera = Some(["Canon EOS R5", "iPhone 13 Pro"][i % 2].into());
        p.lens = Some("RF 24-105mm".into());
        p.focal_mm = Some([16.0, 28.0, 50.0, 85.0, 200.0, 400.0][i % 6]);
        p.category = Some(["landscape", "portrait", "street"][i % 3].into());
        p.composition = Some("rule_of_thirds".into());
        p.tags = vec![["beach", "city"][i % 2].into()];
        p.favorite = i % 3 == 0;
        p.rating = (i % 6) as u8;
        p.saturation = Some(if i % 4 == 0 { 0.6 } else { 0.3 });
        p.monochrome = Some(i % 9 == 0);
        let mut e = vec![0.1f32; 4];
        e[i % 4] = 1.0;
        p.embedding = Some(e.into());
    }
    let lib = Library::new(lib.photos, lib.persons);
    let mut cfg = Capsules {
        max_photo_overlap: 1.0,
        ..Capsules::default()
    };
    cfg.favorites.min_photos = 3;
    cfg.color_palette.min_photos = 3;
    let cx = cx(&lib, &cfg, clock("2021-07-05"));
    let caps = build(&cx);
    let kinds: BTreeSet<Kind> = caps.iter().map(|c| c.kind).collect();
    let missing: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| !kinds.contains(k) && *k != Kind::Progress && *k != Kind::ThisWeek)
        .collect();
    assert!(missing.is_empty(), "no capsule of {missing:?}");
    for c in &caps {
        assert!(
            !c.photos.is_empty()
                && c.photos.len() <= cfg.max_photos_per_capsule.max(cfg.golden.max_photos) as usize
        );
        assert!(c.photos.iter().all(|&i| cx.eligible(i)), "{}", c.title);
        let bursts: Vec<&str> = c
            .photos
            .iter()
            .filter_map(|&i| lib.photos[i as usize].burst.as_ref().map(|g| g.id.as_str()))
            .collect();
        assert!(bursts.len() <= 1, "{}: {bursts:?}", c.title);
    }
    let titles: BTreeSet<&str> = caps.iter().map(|c| c.title.as_str()).collect();
    for t in [
        "2021",
        "July 2021",
        "Shot on Canon EOS R5",
        "Beach",
        "Super Telephoto",
        "Landscape, 2021",
        "5 Stars",
    ] {
        assert!(titles.contains(t), "no {t:?} in {titles:?}");
    }
}
