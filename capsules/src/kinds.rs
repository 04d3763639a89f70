//! The themed capsule types of the reference. Each function proposes the
//! drafts of one type (see [`crate::build`] for what happens next).
//!
//! - **journey**: home is the densest 0.1° cell of the geotagged photos
//!   (the mean position of its photos). The dated, geotagged photos in
//!   time order are cut into trips: a run of photos at least
//!   `journey.min_distance_km` from home, ended by a photo near home or a
//!   gap longer than `journey.time_gap_hours`. A trip with at least
//!   `journey.min_photos` photos at or above `min_aggregate` is a capsule,
//!   titled by its most frequent place name (and the second when it holds a
//!   quarter of the trip) and its months: "Lisbon, May 2023",
//!   "Lisbon & Porto, May–June 2023".
//! - **faces_of**: each named person with `faces_of.min_photos` photos.
//! - **person_pair**: two named people with more than
//!   `rare_pair.max_shared_photos` photos together (the reference gives
//!   pairs no threshold of their own), at least `faces_of.min_photos`:
//!   "Alice & Bob".
//! - **rare_pair**: two people with at most `rare_pair.max_shared_photos`
//!   photos together (among all the session's photos), of which at least
//!   `rare_pair.min_photos` score `rare_pair.min_score` or more.
//! - **this_week**: the photos taken within ±3 days of today's date in
//!   earlier years; a year counts with `this_week_years_ago
//!   .min_photos_per_year` photos.
//! - **golden**: the photos at or above the `golden.percentile` of the
//!   scores (ties included), at most `golden.max_photos`.
//! - **seasonal**: each season of each year (the photo's hemisphere by its
//!   latitude; northern when unknown) with `seasonal.min_photos` photos.
//! - **favorites**: the session's favourites per season and year, with
//!   `favorites.min_photos`.
//! - **location**: the photos grouped by place name (by 1° cell with
//!   coordinates when geocoding is off), each place with
//!   `journey.min_photos` photos.
//! - **progress**: the mean score of every period of `progress
//!   .period_months` months with `progress.min_photos` scored photos; when
//!   the latest such period beats the first by `min_improvement_pct`
//!   percent, the best photos of each period, in time order.
//! - **color_story**: leader clustering of the embeddings: the eligible
//!   photos, best first (at most [`COLOR_STORY_POOL`]), each joins the first
//!   group whose leader it resembles by `color_story.embedding_threshold`
//!   (cosine), or leads a new one; the `max_groups` largest groups of
//!   `min_group_size` photos, titled by their most common tag.
//! - **color_palette**: "colour of the month": per month, the photos'
//!   profile (black & white when monochrome, vivid at a mean saturation of
//!   [`VIVID`] or more, muted at [`MUTED`] or less); the month's most common
//!   profile with `color_palette.min_photos` photos.
//! - **seeded**: `seeded.num_seeds` photos drawn at random for each seed
//!   slot (`seed_lifetime_minutes`), each with a way to gather others in
//!   turn — by time (`time_window_days` around it), similarity
//!   (`embedding_threshold`), person, tag, location (`location_radius_km`)
//!   or mood (the same colour profile and time of day) — falling to the
//!   next way when the seed lacks what one needs; those gathering
//!   `seeded.min_photos` photos.

use std::collections::{BTreeMap, HashMap};

use crate::geo::{self, Place};
use crate::select::{self, SplitMix};
use crate::time::{self, MONTHS, Season};
use crate::{Context, Draft, Kind, Order};

/// Colour stories cluster at most this many photos (the best).
pub const COLOR_STORY_POOL: usize = 5000;
/// A mean saturation at which a photo is vivid.
pub const VIVID: f64 = 0.45;
/// A mean saturation at which a photo is muted.
pub const MUTED: f64 = 0.2;

/// The place of a photo: its name, or its coordinates (1° cells).
fn place_of(cx: &Context, lat: f64, lon: f64) -> (String, Option<Place>) {
    match cx.places.place(lat, lon) {
        Some(p) => (format!("{}\u{1f}{}", p.name, p.country), Some(p)),
        None => {
            let (a, b) = (lat.floor(), lon.floor());
            (format!("{a},{b}"), None)
        }
    }
}

/// "May 2023", "May–June 2023", "December 2022 – January 2023".
fn months_title(first: time::Taken, last: time::Taken) -> String {
    let m = |t: time::Taken| MONTHS[t.month as usize - 1];
    if (first.year, first.month) == (last.year, last.month) {
        format!("{} {}", m(first), first.year)
    } else if first.year == last.year {
        format!("{}–{} {}", m(first), m(last), first.year)
    } else {
        format!("{} {} – {} {}", m(first), first.year, m(last), last.year)
    }
}

/// The name of a place group: its most frequent place, and the second when
/// it holds a quarter of the photos; coordinates of the mean position when
/// none is named.
fn places_title(cx: &Context, rows: &[u32]) -> String {
    let mut counts: HashMap<String, (usize, Option<Place>)> = HashMap::new();
    let (mut lat, mut lon, mut n) = (0.0, 0.0, 0.0);
    for &i in rows {
        let Some((a, b)) = cx.lib.photos[i as usize].gps else {
            continue;
        };
        lat += a;
        lon += b;
        n += 1.0;
        let (key, place) = place_of(cx, a, b);
        counts.entry(key).or_insert((0, place)).0 += 1;
    }
    let mut named: Vec<(usize, String)> = counts
        .into_iter()
        .filter_map(|(k, (c, p))| p.map(|p| (c, format!("{}\u{0}{}", p.name, k))))
        .collect();
    named.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let name = |s: &str| s.split('\u{0}').next().unwrap_or_default().to_string();
    match named.as_slice() {
        [] if n > 0.0 => geo::coordinates(lat / n, lon / n),
        [] => String::from("Somewhere"),
        [(_, a)] => name(a),
        [(_, a), (c, b), ..] => {
            let (a, b) = (name(a), name(b));
            if *c as f64 >= 0.25 * rows.len() as f64 && a != b {
                format!("{a} & {b}")
            } else {
                a
            }
        }
    }
}

/// Home: the mean position of the densest 0.1° cell's photos.
pub fn home(cx: &Context) -> Option<(f64, f64)> {
    let mut cells: HashMap<(i32, i32), (usize, f64, f64)> = HashMap::new();
    for p in &cx.lib.photos {
        if let Some((a, b)) = p.gps {
            let c = cells.entry(geo::cell(a, b)).or_default();
            c.0 += 1;
            c.1 += a;
            c.2 += b;
        }
    }
    let (_, (n, a, b)) = cells
        .into_iter()
        .max_by(|x, y| x.1.0.cmp(&y.1.0).then_with(|| y.0.cmp(&x.0)))?;
    Some((a / n as f64, b / n as f64))
}

/// The trips: runs of photos away from home (see the module), each as its
/// photos in time order (every one, eligible or not).
pub fn trips(cx: &Context) -> Vec<Vec<u32>> {
    let Some(home) = home(cx) else {
        return Vec::new();
    };
    let j = &cx.cfg.journey;
    let gap = (j.time_gap_hours * 3600.0) as i64;
    let mut dated: Vec<(i64, u32, bool)> = cx
        .lib
        .photos
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let (t, g) = (p.taken?, p.gps?);
            Some((
                t.seconds(),
                i as u32,
                geo::distance_km(home, g) >= j.min_distance_km,
            ))
        })
        .collect();
    dated.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            cx.lib.photos[a.1 as usize]
                .path
                .cmp(&cx.lib.photos[b.1 as usize].path)
        })
    });
    let mut trips = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut last = i64::MIN;
    for (t, i, away) in dated {
        if !current.is_empty() && (!away || t - last > gap) {
            trips.push(std::mem::take(&mut current));
        }
        if away {
            current.push(i);
            last = t;
        }
    }
    if !current.is_empty() {
        trips.push(current);
    }
    trips
}

pub fn journeys(cx: &Context) -> Vec<Draft> {
    let mut out = Vec::new();
    for trip in trips(cx) {
        let pool: Vec<u32> = trip.iter().copied().filter(|&i| cx.eligible(i)).collect();
        if pool.len() < cx.cfg.journey.min_photos as usize {
            continue;
        }
        let taken = |i: u32| cx.lib.photos[i as usize].taken.expect("dated");
        let (first, last) = (taken(trip[0]), taken(*trip.last().expect("a photo")));
        let title = format!("{}, {}", places_title(cx, &trip), months_title(first, last));
        let mut d = cx.draft(Kind::Journey, &cx.lib.photos[trip[0] as usize].path, title);
        let days = last.days() - first.days() + 1;
        d.subtitle = Some(format!(
            "{} day{}, {} photos",
            days,
            if days == 1 { "" } else { "s" },
            trip.len()
        ));
        d.pool = pool;
        d.order = Order::Time;
        d.min = cx.cfg.journey.min_photos as usize;
        out.push(d);
    }
    // Latest first.
    out.reverse();
    out
}

/// The eligible photos of each named person.
fn person_rows(cx: &Context) -> BTreeMap<i64, Vec<u32>> {
    let mut by: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for i in cx.eligible_rows() {
        for &p in &cx.lib.photos[i as usize].persons {
            if cx.lib.person_name(p).is_some() {
                by.entry(p).or_default().push(i);
            }
        }
    }
    by
}

pub fn faces_of(cx: &Context) -> Vec<Draft> {
    let min = cx.cfg.faces_of.min_photos as usize;
    let mut out: Vec<Draft> = person_rows(cx)
        .into_iter()
        .filter(|(_, rows)| rows.len() >= min)
        .map(|(id, rows)| {
            let name = cx.lib.person_name(id).unwrap_or_default().to_string();
            let mut d = cx.draft(Kind::FacesOf, format!("person:{id}"), name);
            d.pool = rows;
            d.min = min;
            d
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.pool.len()));
    out
}

/// Per pair of named people (lower id first): the photos of both among
/// `rows`.
pub fn pairs(cx: &Context, rows: impl Iterator<Item = u32>) -> BTreeMap<(i64, i64), Vec<u32>> {
    let mut out: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
    for i in rows {
        let mut ps: Vec<i64> = cx.lib.photos[i as usize]
            .persons
            .iter()
            .copied()
            .filter(|&p| cx.lib.person_name(p).is_some())
            .collect();
        ps.sort_unstable();
        ps.dedup();
        for (x, &a) in ps.iter().enumerate() {
            for &b in &ps[x + 1..] {
                out.entry((a, b)).or_default().push(i);
            }
        }
    }
    out
}

/// "Alice & Bob", the names in alphabetical order.
fn pair_title(cx: &Context, a: i64, b: i64) -> String {
    let mut names = [
        cx.lib.person_name(a).unwrap_or_default(),
        cx.lib.person_name(b).unwrap_or_default(),
    ];
    names.sort();
    format!("{} & {}", names[0], names[1])
}

pub fn person_pairs(cx: &Context) -> Vec<Draft> {
    let min =
        (cx.cfg.rare_pair.max_shared_photos as usize + 1).max(cx.cfg.faces_of.min_photos as usize);
    let mut out: Vec<Draft> = pairs(cx, cx.eligible_rows().into_iter())
        .into_iter()
        .filter(|(_, rows)| rows.len() >= min)
        .map(|((a, b), rows)| {
            let mut d = cx.draft(
                Kind::PersonPair,
                format!("pair:{a}:{b}"),
                pair_title(cx, a, b),
            );
            d.pool = rows;
            d.min = min;
            d
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.pool.len()));
    out
}

pub fn rare_pairs(cx: &Context) -> Vec<Draft> {
    let r = &cx.cfg.rare_pair;
    let all = pairs(cx, 0..cx.lib.photos.len() as u32);
    all.into_iter()
        .filter(|(_, rows)| rows.len() <= r.max_shared_photos as usize)
        .filter_map(|((a, b), rows)| {
            let good: Vec<u32> = rows
                .into_iter()
                .filter(|&i| {
                    cx.eligible(i)
                        && cx.lib.photos[i as usize]
                            .aggregate
                            .is_some_and(|s| s >= r.min_score)
                })
                .collect();
            (good.len() >= r.min_photos as usize).then(|| {
                let mut d = cx.draft(
                    Kind::RarePair,
                    format!("rare:{a}:{b}"),
                    pair_title(cx, a, b),
                );
                d.subtitle = Some("Rarely together".into());
                d.pool = good;
                d.order = Order::Time;
                d.min = r.min_photos as usize;
                d
            })
        })
        .collect()
}

/// The days between a photo's date and today's month and day in the
/// nearest year, with that year.
fn from_this_week(t: time::Taken, today: (i32, u32, u32)) -> (i64, i32) {
    let (_, m, d) = today;
    let anchor = |y: i32| {
        let d = d.min(time::days_in_month(y, m));
        time::days_from_civil(y, m, d)
    };
    [t.year - 1, t.year, t.year + 1]
        .into_iter()
        .map(|y| ((t.days() - anchor(y)).abs(), y))
        .min()
        .expect("three years")
}

pub fn this_week(cx: &Context) -> Vec<Draft> {
    let today = cx.clock.today();
    let mut by_year: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for i in cx.eligible_rows() {
        let Some(t) = cx.lib.photos[i as usize].taken else {
            continue;
        };
        let (days, year) = from_this_week(t, today);
        if days <= 3 && year < today.0 {
            by_year.entry(year).or_default().push(i);
        }
    }
    let min = cx.cfg.this_week_years_ago.min_photos_per_year as usize;
    by_year.retain(|_, rows| rows.len() >= min.max(1));
    if by_year.is_empty() {
        return Vec::new();
    }
    let years: Vec<String> = by_year.keys().rev().map(|y| y.to_string()).collect();
    let mut d = cx.draft(
        Kind::ThisWeek,
        format!("this_week:{:04}-{:02}-{:02}", today.0, today.1, today.2),
        "This Week, Years Ago",
    );
    d.subtitle = Some(years.join(", "));
    d.pool = by_year.into_values().flatten().collect();
    d.order = Order::Time;
    vec![d]
}

/// The photos at or above the `percentile` of the scores among `rows`
/// (ties included; at least one photo when any is scored).
pub fn top_percentile(cx: &Context, percentile: f64) -> Vec<u32> {
    let mut scores: Vec<f64> = cx.lib.photos.iter().filter_map(|p| p.aggregate).collect();
    if scores.is_empty() {
        return Vec::new();
    }
    let k = ((scores.len() as f64 * (100.0 - percentile) / 100.0).ceil() as usize)
        .clamp(1, scores.len());
    scores.sort_by(|a, b| b.total_cmp(a));
    let threshold = scores[k - 1];
    (0..cx.lib.photos.len() as u32)
        .filter(|&i| {
            cx.lib.photos[i as usize]
                .aggregate
                .is_some_and(|a| a >= threshold)
        })
        .collect()
}

pub fn golden(cx: &Context) -> Vec<Draft> {
    let g = &cx.cfg.golden;
    let pool: Vec<u32> = top_percentile(cx, g.percentile)
        .into_iter()
        .filter(|&i| cx.eligible(i))
        .collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let top = (100.0 - g.percentile).max(0.0);
    let mut d = cx.draft(Kind::Golden, "golden", format!("The Top {top}%"));
    d.subtitle = Some("Your best photos".into());
    d.pool = pool;
    d.limit = g.max_photos as usize;
    vec![d]
}

/// The season key of a photo: (season, its year, southern hemisphere).
fn season_of(p: &crate::PhotoFacts) -> Option<(Season, i32, bool)> {
    let t = p.taken?;
    let lat = p.gps.map(|g| g.0);
    let (s, y) = time::season(t.year, t.month, lat);
    Some((s, y, lat.is_some_and(|l| l < 0.0)))
}

/// Drafts of the photos of each season, latest first.
fn by_season(
    cx: &Context,
    rows: Vec<u32>,
    kind: Kind,
    min: usize,
    title: impl Fn(String) -> String,
) -> Vec<Draft> {
    let mut groups: BTreeMap<(i32, Season, bool), Vec<u32>> = BTreeMap::new();
    for i in rows {
        if let Some((s, y, south)) = season_of(&cx.lib.photos[i as usize]) {
            groups.entry((y, s, south)).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .rev()
        .filter(|(_, rows)| rows.len() >= min)
        .map(|((y, s, south), rows)| {
            let name = time::season_title(s, y, south);
            let mut d = cx.draft(kind, format!("{}:{y}:{south}", s.name()), title(name));
            d.pool = rows;
            d.order = Order::Time;
            d.min = min;
            d
        })
        .collect()
}

pub fn seasonal(cx: &Context) -> Vec<Draft> {
    let min = cx.cfg.seasonal.min_photos as usize;
    by_season(cx, cx.eligible_rows(), Kind::Seasonal, min, |t| t)
}

pub fn favorites(cx: &Context) -> Vec<Draft> {
    let rows: Vec<u32> = cx
        .eligible_rows()
        .into_iter()
        .filter(|&i| cx.lib.photos[i as usize].favorite)
        .collect();
    let min = cx.cfg.favorites.min_photos as usize;
    by_season(cx, rows, Kind::Favorites, min, |t| {
        format!("Favorites, {t}")
    })
}

pub fn locations(cx: &Context) -> Vec<Draft> {
    let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
    for i in cx.eligible_rows() {
        if let Some((a, b)) = cx.lib.photos[i as usize].gps {
            groups.entry(place_of(cx, a, b).0).or_default().push(i);
        }
    }
    let min = cx.cfg.journey.min_photos as usize;
    let mut out: Vec<Draft> = groups
        .into_iter()
        .filter(|(_, rows)| rows.len() >= min)
        .map(|(key, rows)| {
            let mut d = cx.draft(Kind::Location, key, places_title(cx, &rows));
            d.pool = rows;
            d.order = Order::Time;
            d.min = min;
            d
        })
        .collect();
    out.sort_by(|a, b| {
        b.pool
            .len()
            .cmp(&a.pool.len())
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

/// "Q1 2020" for quarters, else the period's first month: "March 2020".
fn period_title(period: i64, months: u64) -> String {
    let first = period * months as i64;
    let (y, m) = (first.div_euclid(12) as i32, first.rem_euclid(12) as usize);
    if months == 3 {
        format!("Q{} {y}", m / 3 + 1)
    } else {
        format!("{} {y}", MONTHS[m])
    }
}

pub fn progress(cx: &Context) -> Vec<Draft> {
    let p = &cx.cfg.progress;
    let months = p.period_months.max(1);
    // Period → (scored photos' sum, count, eligible photos).
    let mut periods: BTreeMap<i64, (f64, usize, Vec<u32>)> = BTreeMap::new();
    for (i, photo) in cx.lib.photos.iter().enumerate() {
        let (Some(t), Some(a)) = (photo.taken, photo.aggregate) else {
            continue;
        };
        let k = (i64::from(t.year) * 12 + i64::from(t.month) - 1).div_euclid(months as i64);
        let e = periods.entry(k).or_default();
        e.0 += a;
        e.1 += 1;
        if cx.eligible(i as u32) {
            e.2.push(i as u32);
        }
    }
    periods.retain(|_, (_, n, _)| *n >= p.min_photos as usize);
    let (Some((&k0, first)), Some((&k1, last))) =
        (periods.iter().next(), periods.iter().next_back())
    else {
        return Vec::new();
    };
    if k0 == k1 {
        return Vec::new();
    }
    let (m0, m1) = (first.0 / first.1 as f64, last.0 / last.1 as f64);
    if m0 <= 0.0 {
        return Vec::new();
    }
    let gain = (m1 - m0) / m0 * 100.0;
    if gain < p.min_improvement_pct {
        return Vec::new();
    }
    let per = cx.max_photos().div_ceil(periods.len()).max(1);
    let pool: Vec<u32> = periods
        .values()
        .flat_map(|(_, _, rows)| select::top(cx.lib, &select::one_per_group(cx.lib, rows), per))
        .collect();
    let mut d = cx.draft(Kind::Progress, "progress", "Your Photography is Improving");
    d.subtitle = Some(format!(
        "+{gain:.0}% from {} to {}",
        period_title(k0, months),
        period_title(k1, months)
    ));
    d.pool = pool;
    d.order = Order::Time;
    d.limit = d.pool.len().max(1);
    vec![d]
}

/// A tag as a title: "golden_hour" → "Golden hour".
pub fn humanize(s: &str) -> String {
    let s = s.replace(['_', '-'], " ");
    let mut c = s.trim().chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The most common tag of `rows`.
fn common_tag(cx: &Context, rows: &[u32]) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &i in rows {
        for t in &cx.lib.photos[i as usize].tags {
            *counts.entry(t.as_str()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(t, _)| t.to_string())
}

pub fn color_stories(cx: &Context) -> Vec<Draft> {
    let c = &cx.cfg.color_story;
    let rows: Vec<u32> = cx
        .eligible_rows()
        .into_iter()
        .filter(|&i| cx.lib.photos[i as usize].embedding.is_some())
        .collect();
    let rows = select::top(cx.lib, &rows, COLOR_STORY_POOL);
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for i in rows {
        match groups
            .iter_mut()
            .find(|(leader, _)| select::cosine(cx.lib, *leader, i) >= c.embedding_threshold)
        {
            Some((_, members)) => members.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    groups.retain(|(_, m)| m.len() >= c.min_group_size as usize);
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    groups.truncate(c.max_groups as usize);
    groups
        .into_iter()
        .enumerate()
        .map(|(n, (leader, members))| {
            let title = match common_tag(cx, &members) {
                Some(t) => format!("Visual Story: {}", humanize(&t)),
                None => format!("Visual Story {}", n + 1),
            };
            let mut d = cx.draft(
                Kind::ColorStory,
                &cx.lib.photos[leader as usize].path,
                title,
            );
            d.subtitle = Some(format!("{} look-alike photos", members.len()));
            d.pool = members;
            d.min = c.min_group_size as usize;
            d
        })
        .collect()
}

/// A photo's colour profile, if a marked one.
pub fn profile(p: &crate::PhotoFacts) -> Option<&'static str> {
    if p.monochrome == Some(true) {
        return Some("Black & White");
    }
    match p.saturation? {
        s if s >= VIVID => Some("Vivid Colours"),
        s if s <= MUTED => Some("Muted Tones"),
        _ => None,
    }
}

pub fn color_palettes(cx: &Context) -> Vec<Draft> {
    let mut months: BTreeMap<(i32, u32), HashMap<&'static str, Vec<u32>>> = BTreeMap::new();
    for i in cx.eligible_rows() {
        let p = &cx.lib.photos[i as usize];
        if let (Some(t), Some(pr)) = (p.taken, profile(p)) {
            months
                .entry((t.year, t.month))
                .or_default()
                .entry(pr)
                .or_default()
                .push(i);
        }
    }
    let min = cx.cfg.color_palette.min_photos as usize;
    months
        .into_iter()
        .rev()
        .filter_map(|((y, m), profiles)| {
            let (name, rows) = profiles
                .into_iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))?;
            (rows.len() >= min).then(|| {
                let mut d = cx.draft(
                    Kind::ColorPalette,
                    format!("palette:{y}-{m}"),
                    format!("{name}, {} {y}", MONTHS[m as usize - 1]),
                );
                d.subtitle = Some("Colour of the Month".into());
                d.pool = rows;
                d.min = min;
                d
            })
        })
        .collect()
}

/// The ways a seed gathers photos, tried in turn.
const SEED_WAYS: [&str; 6] = ["time", "similarity", "person", "tag", "location", "mood"];

pub fn seeded(cx: &Context) -> Vec<Draft> {
    let s = &cx.cfg.seeded;
    let eligible = cx.eligible_rows();
    if eligible.is_empty() {
        return Vec::new();
    }
    let slot = cx.clock.seed_slot(cx.cfg);
    let mut rng = SplitMix(slot ^ 0x5EED_CA95_u64.wrapping_mul(0x9E37_79B9));
    // Seeds without repetition (a partial Fisher–Yates shuffle).
    let mut order = eligible.clone();
    let n = (s.num_seeds as usize).min(order.len());
    for k in 0..n {
        let j = k + rng.below(order.len() - k);
        order.swap(k, j);
    }
    let lib = cx.lib;
    let mut out = Vec::new();
    for (k, &seed) in order[..n].iter().enumerate() {
        let sp = &lib.photos[seed as usize];
        for w in 0..SEED_WAYS.len() {
            let way = SEED_WAYS[(k + w) % SEED_WAYS.len()];
            let gathered: Option<(String, Vec<u32>)> = match way {
                "time" => sp.taken.map(|t| {
                    let days = s.time_window_days;
                    let rows = eligible
                        .iter()
                        .copied()
                        .filter(|&i| {
                            lib.photos[i as usize].taken.is_some_and(|u| {
                                ((u.seconds() - t.seconds()) as f64).abs() <= days * 86_400.0
                            })
                        })
                        .collect();
                    (
                        format!(
                            "Around {} {} {}",
                            t.day,
                            MONTHS[t.month as usize - 1],
                            t.year
                        ),
                        rows,
                    )
                }),
                "similarity" => sp.embedding.as_ref().map(|_| {
                    let rows = eligible
                        .iter()
                        .copied()
                        .filter(|&i| {
                            i == seed || select::cosine(lib, seed, i) >= s.embedding_threshold
                        })
                        .collect();
                    ("More Like This".to_string(), rows)
                }),
                "person" => sp
                    .persons
                    .iter()
                    .find_map(|&p| lib.person_name(p).map(|n| (p, n)))
                    .map(|(p, name)| {
                        let rows = eligible
                            .iter()
                            .copied()
                            .filter(|&i| lib.photos[i as usize].persons.contains(&p))
                            .collect();
                        (format!("More of {name}"), rows)
                    }),
                "tag" => sp.tags.first().map(|t| {
                    let rows = eligible
                        .iter()
                        .copied()
                        .filter(|&i| lib.photos[i as usize].tags.contains(t))
                        .collect();
                    (format!("More {}", humanize(t)), rows)
                }),
                "location" => sp.gps.map(|g| {
                    let rows: Vec<u32> = eligible
                        .iter()
                        .copied()
                        .filter(|&i| {
                            lib.photos[i as usize]
                                .gps
                                .is_some_and(|h| geo::distance_km(g, h) <= s.location_radius_km)
                        })
                        .collect();
                    (format!("Around {}", places_title(cx, &[seed])), rows)
                }),
                _ => match (profile(sp), sp.taken) {
                    (Some(pr), Some(t)) => {
                        let bin = time::time_of_day(t.hour);
                        let rows = eligible
                            .iter()
                            .copied()
                            .filter(|&i| {
                                let p = &lib.photos[i as usize];
                                profile(p) == Some(pr)
                                    && p.taken.is_some_and(|u| time::time_of_day(u.hour) == bin)
                            })
                            .collect();
                        Some((format!("{pr}, {bin}"), rows))
                    }
                    _ => None,
                },
            };
            let Some((title, rows)) = gathered else {
                continue;
            };
            if rows.len() < s.min_photos as usize {
                continue;
            }
            let mut d = cx.draft(
                Kind::Seeded,
                format!("seed:{slot}:{}:{way}", sp.path),
                title,
            );
            d.subtitle = Some(format!("Discovered by {way}"));
            d.pool = rows;
            d.min = s.min_photos as usize;
            out.push(d);
            break;
        }
    }
    out
}
