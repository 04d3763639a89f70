//! Capsules of the metadata's dimensions: the eligible photos grouped by
//! one value (a year, a camera, a focal range…), each group of at least
//! [`MIN_PHOTOS`] photos a capsule; and the reference's cross-dimensional
//! combinations camera × year, focal range × category and category × year.
//!
//! Focal ranges (35 mm-equivalent when recorded): ultra wide under 24 mm,
//! wide 24–35, standard 36–70, portrait 71–135, telephoto 136–300, super
//! telephoto above 300. Times of day: see [`crate::time::time_of_day`].
//! Star ratings are the session's own.

use std::collections::BTreeMap;

use crate::kinds::humanize;
use crate::time::{MONTHS, WEEKDAYS, time_of_day};
use crate::{Context, Draft, Kind, Order, PhotoFacts};

/// Fewest photos of a dimension capsule (the reference sets none; the
/// smallest of its capsule types' minimums).
pub const MIN_PHOTOS: usize = 8;

/// The focal range of a focal length.
pub fn focal_range(mm: f64) -> Option<&'static str> {
    if !(mm.is_finite() && mm > 0.0) {
        return None;
    }
    // Recorded lengths are whole millimetres, or close.
    let mm = mm.round();
    Some(if mm < 24.0 {
        "Ultra Wide"
    } else if mm <= 35.0 {
        "Wide"
    } else if mm <= 70.0 {
        "Standard"
    } else if mm <= 135.0 {
        "Portrait Lens"
    } else if mm <= 300.0 {
        "Telephoto"
    } else {
        "Super Telephoto"
    })
}

/// A dimension: its kind, whether its capsules play in time order, and
/// each photo's (sort key, title) values.
struct Dimension {
    kind: Kind,
    order: Order,
    values: fn(&PhotoFacts) -> Vec<(String, String)>,
}

fn one(key: String, title: String) -> Vec<(String, String)> {
    vec![(key, title)]
}

fn year(p: &PhotoFacts) -> Vec<(String, String)> {
    p.taken
        .map(|t| one(format!("{:04}", t.year), t.year.to_string()))
        .unwrap_or_default()
}

fn month(p: &PhotoFacts) -> Vec<(String, String)> {
    p.taken
        .map(|t| {
            one(
                format!("{:04}-{:02}", t.year, t.month),
                format!("{} {}", MONTHS[t.month as usize - 1], t.year),
            )
        })
        .unwrap_or_default()
}

fn week(p: &PhotoFacts) -> Vec<(String, String)> {
    p.taken
        .map(|t| {
            let (y, w) = t.iso_week();
            one(format!("{y:04}-W{w:02}"), format!("Week {w}, {y}"))
        })
        .unwrap_or_default()
}

fn camera(p: &PhotoFacts) -> Vec<(String, String)> {
    p.camera
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| (c.clone(), format!("Shot on {c}")))
        .collect()
}

fn lens(p: &PhotoFacts) -> Vec<(String, String)> {
    p.lens
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| (c.clone(), format!("Through the {c}")))
        .collect()
}

fn tag(p: &PhotoFacts) -> Vec<(String, String)> {
    p.tags
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| (t.clone(), humanize(t)))
        .collect()
}

fn day_of_week(p: &PhotoFacts) -> Vec<(String, String)> {
    p.taken
        .map(|t| {
            let d = t.weekday() as usize;
            one(d.to_string(), format!("{}s", WEEKDAYS[d]))
        })
        .unwrap_or_default()
}

fn composition(p: &PhotoFacts) -> Vec<(String, String)> {
    p.composition
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| (c.clone(), humanize(c)))
        .collect()
}

fn focal(p: &PhotoFacts) -> Vec<(String, String)> {
    p.focal_mm
        .and_then(focal_range)
        .map(|r| one(r.to_string(), r.to_string()))
        .unwrap_or_default()
}

fn category(p: &PhotoFacts) -> Vec<(String, String)> {
    p.category
        .iter()
        .filter(|c| !c.trim().is_empty() && c.as_str() != "default")
        .map(|c| (c.clone(), humanize(c)))
        .collect()
}

fn time_of_day_bin(p: &PhotoFacts) -> Vec<(String, String)> {
    // A midnight time is most often a date without a time.
    p.taken
        .filter(|t| (t.hour, t.minute, t.second) != (0, 0, 0))
        .map(|t| {
            let b = time_of_day(t.hour);
            one(b.to_string(), b.to_string())
        })
        .unwrap_or_default()
}

fn stars(p: &PhotoFacts) -> Vec<(String, String)> {
    match p.rating {
        0 => Vec::new(),
        1 => one("1".into(), "1 Star".into()),
        n => one(n.to_string(), format!("{n} Stars")),
    }
}

/// Pairs of two dimensions' values.
fn cross(
    a: &[(String, String)],
    b: &[(String, String)],
    title: impl Fn(&str, &str) -> String,
) -> Vec<(String, String)> {
    a.iter()
        .flat_map(|(ka, ta)| {
            b.iter()
                .map(|(kb, tb)| (format!("{ka}\u{1f}{kb}"), title(ta, tb)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn camera_year(p: &PhotoFacts) -> Vec<(String, String)> {
    let cams: Vec<(String, String)> = p.camera.iter().map(|c| (c.clone(), c.clone())).collect();
    cross(&cams, &year(p), |c, y| format!("{c} in {y}"))
}

fn focal_category(p: &PhotoFacts) -> Vec<(String, String)> {
    cross(&focal(p), &category(p), |f, c| format!("{c} at {f}"))
}

fn category_year(p: &PhotoFacts) -> Vec<(String, String)> {
    cross(&category(p), &year(p), |c, y| format!("{c}, {y}"))
}

const DIMENSIONS: [Dimension; 15] = [
    Dimension {
        kind: Kind::Year,
        order: Order::Time,
        values: year,
    },
    Dimension {
        kind: Kind::Month,
        order: Order::Time,
        values: month,
    },
    Dimension {
        kind: Kind::Week,
        order: Order::Time,
        values: week,
    },
    Dimension {
        kind: Kind::Camera,
        order: Order::Chosen,
        values: camera,
    },
    Dimension {
        kind: Kind::Lens,
        order: Order::Chosen,
        values: lens,
    },
    Dimension {
        kind: Kind::Tag,
        order: Order::Chosen,
        values: tag,
    },
    Dimension {
        kind: Kind::DayOfWeek,
        order: Order::Chosen,
        values: day_of_week,
    },
    Dimension {
        kind: Kind::Composition,
        order: Order::Chosen,
        values: composition,
    },
    Dimension {
        kind: Kind::FocalRange,
        order: Order::Chosen,
        values: focal,
    },
    Dimension {
        kind: Kind::Category,
        order: Order::Chosen,
        values: category,
    },
    Dimension {
        kind: Kind::TimeOfDay,
        order: Order::Chosen,
        values: time_of_day_bin,
    },
    Dimension {
        kind: Kind::StarRating,
        order: Order::Chosen,
        values: stars,
    },
    Dimension {
        kind: Kind::CameraYear,
        order: Order::Chosen,
        values: camera_year,
    },
    Dimension {
        kind: Kind::FocalRangeCategory,
        order: Order::Chosen,
        values: focal_category,
    },
    Dimension {
        kind: Kind::CategoryYear,
        order: Order::Chosen,
        values: category_year,
    },
];

/// The drafts of every dimension: within one, time dimensions latest
/// first, the others largest first.
pub fn all(cx: &Context) -> Vec<Draft> {
    let rows = cx.eligible_rows();
    let mut out = Vec::new();
    for dim in &DIMENSIONS {
        let mut groups: BTreeMap<String, (String, Vec<u32>)> = BTreeMap::new();
        for &i in &rows {
            for (key, title) in (dim.values)(&cx.lib.photos[i as usize]) {
                groups
                    .entry(key)
                    .or_insert_with(|| (title, Vec::new()))
                    .1
                    .push(i);
            }
        }
        let mut drafts: Vec<Draft> = groups
            .into_iter()
            .filter(|(_, (_, rows))| rows.len() >= MIN_PHOTOS)
            .map(|(key, (title, rows))| {
                let mut d = cx.draft(dim.kind, key, title);
                d.pool = rows;
                d.order = dim.order;
                d.min = MIN_PHOTOS;
                d
            })
            .collect();
        if dim.order == Order::Time {
            drafts.reverse();
        } else {
            drafts.sort_by(|a, b| {
                b.pool
                    .len()
                    .cmp(&a.pool.len())
                    .then_with(|| a.key.cmp(&b.key))
            });
        }
        out.extend(drafts);
    }
    out
}
