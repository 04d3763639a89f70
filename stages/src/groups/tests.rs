use super::*;

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
    assert_eq!(b.num_rows(), 2);
    let round: Vec<Photo> = table::photos_of(&b).unwrap();
    assert_eq!(round[0].path, "/a.jpg");
}
