//! Capsules: curated slideshows made from a library — trips, people,
//! seasons, the best photos, look-alike sets, "this week, years ago",
//! places, pairs of people, random discoveries, progress, colours,
//! favourites, and every dimension of the metadata (year, month, week,
//! camera, lens, tag, weekday, composition, focal range, category, time of
//! day, stars) with a few cross-dimensional combinations.
//!
//! This crate holds the algorithms only, over plain rows ([`PhotoFacts`]):
//! the gallery gathers the rows a session may see (its scope already
//! applied: a capsule built here can only show those photos, and a person
//! pair only people seen in them) and serves the result.
//!
//! [`build`] makes every capsule in three steps:
//!
//! 1. Each type's generator ([`kinds`], [`dimensions`]) proposes drafts: a
//!    title, a pool of candidate photos (those at or above
//!    `min_aggregate`), the order of the slideshow (by time for what
//!    happened in time, by choice otherwise) and a size limit
//!    (`max_photos_per_capsule`, `golden.max_photos`).
//! 2. Each draft's pool keeps one photo per burst and duplicate group
//!    ([`select::one_per_group`]), then MMR picks its photos
//!    ([`select::mmr`]); drafts left with fewer photos than their type's
//!    minimum are dropped.
//! 3. Capsules sharing more than `max_photo_overlap` of their photos with a
//!    capsule of higher priority (the order of [`Kind::ALL`]) are dropped
//!    ([`select::dedup`]); each survivor gets its cover for the freshness
//!    slot ([`select::cover`]).
//!
//! Ids are stable across builds (the type and a hash of what defines the
//! capsule: the trip's first photo, the year, the person…), except those of
//! seeded capsules, which change with each draw of seeds.

pub mod dimensions;
pub mod geo;
pub mod kinds;
pub mod select;
pub mod time;

use std::sync::Arc;

use facet_config::Capsules;
use serde::Serialize;

pub use geo::{Coordinates, GeoNames, Place, Places};
pub use time::Taken;

/// A burst or duplicate group a photo belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    /// The group's lead (its best frame or copy, or the user's choice).
    pub lead: bool,
}

/// What the capsules know of one photo.
#[derive(Debug, Clone, Default)]
pub struct PhotoFacts {
    pub path: String,
    /// The aggregate score (0–10); `None` when unscored.
    pub aggregate: Option<f64>,
    pub taken: Option<Taken>,
    /// (latitude, longitude) in degrees.
    pub gps: Option<(f64, f64)>,
    pub camera: Option<String>,
    pub lens: Option<String>,
    /// Focal length in mm (35 mm-equivalent when recorded).
    pub focal_mm: Option<f64>,
    pub category: Option<String>,
    /// The composition pattern (rule_of_thirds, center, …).
    pub composition: Option<String>,
    pub tags: Vec<String>,
    /// The named, shown people in the photo (ids of [`Person`]s).
    pub persons: Vec<i64>,
    /// The session's favourite and stars (0: none).
    pub favorite: bool,
    pub rating: u8,
    pub burst: Option<Group>,
    pub duplicate: Option<Group>,
    /// The image embedding (normalised by [`Library::new`]; shared: a
    /// session's library is a view of the gallery's facts, not a copy).
    pub embedding: Option<Arc<[f32]>>,
    /// Mean HSV saturation, 0–1.
    pub saturation: Option<f64>,
    pub monochrome: Option<bool>,
}

/// A named person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub name: String,
}

/// The photos (and people) one session may see.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub photos: Vec<PhotoFacts>,
    pub persons: Vec<Person>,
}

impl Library {
    /// With each embedding normalised to unit length (a zero vector: none;
    /// one of unit length already is kept, not copied).
    pub fn new(mut photos: Vec<PhotoFacts>, persons: Vec<Person>) -> Library {
        for p in &mut photos {
            p.embedding = p.embedding.take().and_then(normalized);
        }
        Library { photos, persons }
    }

    pub fn person_name(&self, id: i64) -> Option<&str> {
        self.persons
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.as_str())
    }
}

/// `e` at unit length, `None` for a zero or non-finite vector.
pub fn normalized(e: Arc<[f32]>) -> Option<Arc<[f32]>> {
    let n = e.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !(n > 0.0 && n.is_finite()) {
        return None;
    }
    if (n - 1.0).abs() < 1e-5 {
        return Some(e);
    }
    Some(e.iter().map(|v| v / n).collect())
}

/// Capsule types, in priority order (see [`select::dedup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Journey,
    FacesOf,
    PersonPair,
    RarePair,
    ThisWeek,
    Golden,
    Seasonal,
    Favorites,
    Location,
    Progress,
    ColorStory,
    ColorPalette,
    Seeded,
    Year,
    Month,
    Week,
    Camera,
    Lens,
    Tag,
    DayOfWeek,
    Composition,
    FocalRange,
    Category,
    TimeOfDay,
    StarRating,
    CameraYear,
    FocalRangeCategory,
    CategoryYear,
}

impl Kind {
    pub const ALL: [Kind; 28] = [
        Kind::Journey,
        Kind::FacesOf,
        Kind::PersonPair,
        Kind::RarePair,
        Kind::ThisWeek,
        Kind::Golden,
        Kind::Seasonal,
        Kind::Favorites,
        Kind::Location,
        Kind::Progress,
        Kind::ColorStory,
        Kind::ColorPalette,
        Kind::Seeded,
        Kind::Year,
        Kind::Month,
        Kind::Week,
        Kind::Camera,
        Kind::Lens,
        Kind::Tag,
        Kind::DayOfWeek,
        Kind::Composition,
        Kind::FocalRange,
        Kind::Category,
        Kind::TimeOfDay,
        Kind::StarRating,
        Kind::CameraYear,
        Kind::FocalRangeCategory,
        Kind::CategoryYear,
    ];

    /// Its name in the API (`journey`, `faces_of`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Journey => "journey",
            Kind::FacesOf => "faces_of",
            Kind::PersonPair => "person_pair",
            Kind::RarePair => "rare_pair",
            Kind::ThisWeek => "this_week",
            Kind::Golden => "golden",
            Kind::Seasonal => "seasonal",
            Kind::Favorites => "favorites",
            Kind::Location => "location",
            Kind::Progress => "progress",
            Kind::ColorStory => "color_story",
            Kind::ColorPalette => "color_palette",
            Kind::Seeded => "seeded",
            Kind::Year => "year",
            Kind::Month => "month",
            Kind::Week => "week",
            Kind::Camera => "camera",
            Kind::Lens => "lens",
            Kind::Tag => "tag",
            Kind::DayOfWeek => "day_of_week",
            Kind::Composition => "composition",
            Kind::FocalRange => "focal_range",
            Kind::Category => "category",
            Kind::TimeOfDay => "time_of_day",
            Kind::StarRating => "star_rating",
            Kind::CameraYear => "camera_year",
            Kind::FocalRangeCategory => "focal_range_category",
            Kind::CategoryYear => "category_year",
        }
    }

    /// The slide transition of the reference's table: slide for journeys,
    /// locations and this week; zoom for faces and colour stories; Ken
    /// Burns for golden, seasons, stars and favourites; crossfade
    /// otherwise.
    pub fn transition(self) -> Transition {
        match self {
            Kind::Journey | Kind::Location | Kind::ThisWeek => Transition::Slide,
            Kind::FacesOf | Kind::ColorStory => Transition::Zoom,
            Kind::Golden | Kind::Seasonal | Kind::StarRating | Kind::Favorites => {
                Transition::Kenburns
            }
            _ => Transition::Crossfade,
        }
    }
}

/// How the slideshow moves from one photo to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// 300 ms opacity swap.
    Crossfade,
    /// Slide in from the right (500 ms).
    Slide,
    /// Scale 1.05 → 1.0 with a fade (400 ms).
    Zoom,
    /// Slow zoom 1.0 → 1.08 over the slide's duration.
    Kenburns,
}

/// The slideshow's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By capture time.
    Time,
    /// As chosen: MMR's order (best and most different first).
    Chosen,
}

/// A proposed capsule, before its photos are chosen.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    /// What defines it (hashed into its id).
    pub key: String,
    pub title: String,
    pub subtitle: Option<String>,
    /// Candidate photos (indices of [`Library::photos`]).
    pub pool: Vec<u32>,
    pub order: Order,
    /// Most photos.
    pub limit: usize,
    /// Fewest photos, after one per group.
    pub min: usize,
}

/// A capsule.
#[derive(Debug, Clone, PartialEq)]
pub struct Capsule {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    pub subtitle: Option<String>,
    /// Its photos (indices of [`Library::photos`]), in slideshow order.
    pub photos: Vec<u32>,
    pub cover: u32,
}

impl Capsule {
    pub fn transition(&self) -> Transition {
        self.kind.transition()
    }
}

/// When the capsules are built: the date of "this week" and the rotation
/// slots.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Seconds since 1970-01-01 UTC.
    pub unix: i64,
}

impl Clock {
    pub fn now() -> Clock {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Clock { unix }
    }

    /// Today (UTC) as (year, month, day).
    pub fn today(&self) -> (i32, u32, u32) {
        time::civil_from_days(self.unix.div_euclid(86_400))
    }

    /// The freshness slot: covers rotate, and cached capsules expire, when
    /// it changes.
    pub fn freshness_slot(&self, cfg: &Capsules) -> u64 {
        let period = (cfg.freshness_hours * 3600.0).max(1.0);
        (self.unix.max(0) as f64 / period) as u64
    }

    /// The seed slot: seeded capsules are drawn anew when it changes.
    pub fn seed_slot(&self, cfg: &Capsules) -> u64 {
        self.unix.max(0) as u64 / (cfg.seeded.seed_lifetime_minutes.max(1) * 60)
    }

    /// When the current freshness slot ends (seconds since the epoch).
    pub fn fresh_until(&self, cfg: &Capsules) -> i64 {
        let period = (cfg.freshness_hours * 3600.0).max(1.0);
        ((self.freshness_slot(cfg) + 1) as f64 * period) as i64
    }
}

/// What building needs.
pub struct Context<'a> {
    pub lib: &'a Library,
    pub cfg: &'a Capsules,
    pub clock: Clock,
    pub places: &'a dyn Places,
}

impl Context<'_> {
    /// Whether photo `i` may be shown in capsules (`min_aggregate`).
    pub fn eligible(&self, i: u32) -> bool {
        self.lib.photos[i as usize]
            .aggregate
            .is_some_and(|a| a >= self.cfg.min_aggregate)
    }

    /// The eligible photos.
    pub fn eligible_rows(&self) -> Vec<u32> {
        (0..self.lib.photos.len() as u32)
            .filter(|&i| self.eligible(i))
            .collect()
    }

    pub fn max_photos(&self) -> usize {
        self.cfg.max_photos_per_capsule as usize
    }

    /// A draft with the usual limit.
    pub fn draft(&self, kind: Kind, key: impl Into<String>, title: impl Into<String>) -> Draft {
        Draft {
            kind,
            key: key.into(),
            title: title.into(),
            subtitle: None,
            pool: Vec::new(),
            order: Order::Chosen,
            limit: self.max_photos(),
            min: 1,
        }
    }
}

/// The id of a capsule of `kind` defined by `key`.
pub fn capsule_id(kind: Kind, key: &str) -> String {
    format!("{}-{:016x}", kind.name(), select::hash(key))
}

/// A draft made a capsule: its photos chosen, ordered and covered; `None`
/// when fewer than its minimum remain.
pub fn finish(cx: &Context, d: Draft) -> Option<Capsule> {
    let pool = select::one_per_group(cx.lib, &d.pool);
    if pool.len() < d.min.max(1) {
        return None;
    }
    let mut photos = select::mmr(cx.lib, &pool, d.limit, cx.cfg.mmr_lambda);
    if d.order == Order::Time {
        photos.sort_by(|&a, &b| select::by_time(cx.lib, a, b));
    }
    let id = capsule_id(d.kind, &d.key);
    let cover = select::cover(cx.lib, &id, &photos, cx.clock.freshness_slot(cx.cfg))?;
    Some(Capsule {
        id,
        kind: d.kind,
        title: d.title,
        subtitle: d.subtitle,
        photos,
        cover,
    })
}

/// Every draft of every type, in priority order.
pub fn drafts(cx: &Context) -> Vec<Draft> {
    let mut out = Vec::new();
    out.extend(kinds::journeys(cx));
    out.extend(kinds::faces_of(cx));
    out.extend(kinds::person_pairs(cx));
    out.extend(kinds::rare_pairs(cx));
    out.extend(kinds::this_week(cx));
    out.extend(kinds::golden(cx));
    out.extend(kinds::seasonal(cx));
    out.extend(kinds::favorites(cx));
    out.extend(kinds::locations(cx));
    out.extend(kinds::progress(cx));
    out.extend(kinds::color_stories(cx));
    out.extend(kinds::color_palettes(cx));
    out.extend(kinds::seeded(cx));
    out.extend(dimensions::all(cx));
    out.sort_by_key(|d| d.kind);
    out
}

/// Every capsule of the library, overlaps removed, in priority order.
pub fn build(cx: &Context) -> Vec<Capsule> {
    let built: Vec<Capsule> = drafts(cx)
        .into_iter()
        .filter_map(|d| finish(cx, d))
        .collect();
    select::dedup(built, |c| &c.photos, cx.cfg.max_photo_overlap)
}

#[cfg(test)]
mod tests;
