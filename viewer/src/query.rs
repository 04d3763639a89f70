//! Query parameters → the listing's filters, sort and page, each checked
//! with a message naming the parameter. Sort keys come from a fixed list.

use std::collections::HashMap;

use datafusion::prelude::*;

use crate::error::{ApiError, ApiResult};
use crate::settings::{MAX_PER_PAGE, Settings};

/// The sort keys of `/api/photos` and the column each orders by.
pub const SORTS: &[(&str, &str)] = &[
    ("aggregate", "aggregate"),
    ("aesthetic", "aesthetic"),
    ("date", "date_taken"),
    ("sharpness", "sharpness"),
    ("exposure", "exposure_score"),
    ("color", "color_score"),
    ("top_picks", "top_picks_score"),
    ("rating", "rating"),
    ("filename", "path"),
];

/// The column a sort key orders by, if it is one.
pub fn sort_column(key: &str) -> Option<&'static str> {
    SORTS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

/// The sort key `key` as the listing keeps it, if it is one.
pub fn sort_key(key: &str) -> Option<&'static str> {
    SORTS.iter().find(|(k, _)| *k == key).map(|(k, _)| *k)
}

/// A request's query parameters, read with messages naming the parameter.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// The trimmed value, `None` when absent or empty.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The `path` parameter (not trimmed: it is compared with the store as is).
    pub fn path(&self) -> ApiResult<&str> {
        match self.0.get("path") {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(ApiError::bad("path", "required (the photo's path)")),
        }
    }

    pub fn f64_in(&self, key: &str, lo: f64, hi: f64) -> ApiResult<Option<f64>> {
        let Some(s) = self.str(key) else {
            return Ok(None);
        };
        match s.parse::<f64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad(
                key,
                format!("expected a number from {lo} to {hi}, got {s:?}"),
            )),
        }
    }

    pub fn uint_in(&self, key: &str, lo: u64, hi: u64) -> ApiResult<Option<u64>> {
        let Some(s) = self.str(key) else {
            return Ok(None);
        };
        match s.parse::<u64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad(
                key,
                format!("expected a whole number from {lo} to {hi}, got {s:?}"),
            )),
        }
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        let Some(s) = self.str(key) else {
            return Ok(None);
        };
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(ApiError::bad(
                key,
                format!("expected true or false, got {s:?}"),
            )),
        }
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&self, key: &str) -> ApiResult<Option<String>> {
        let Some(s) = self.str(key) else {
            return Ok(None);
        };
        let b = s.as_bytes();
        let ok = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            })
            && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0));
        if ok {
            Ok(Some(s.to_string()))
        } else {
            Err(ApiError::bad(
                key,
                format!("expected a date YYYY-MM-DD, got {s:?}"),
            ))
        }
    }
}

/// The `bbox` parameter: west, south, east, north in degrees (Leaflet's
/// `toBBoxString()`); longitudes may run past ±180 when the map wraps.
#[derive(Debug, Clone, Copy)]
pub struct BBox {
    west: f64,
    south: f64,
    /// East minus west, in [0, 360]; 360 takes every longitude.
    span: f64,
    north: f64,
}

impl BBox {
    /// The request's box, the whole world without one.
    pub fn parse(p: &Params) -> ApiResult<BBox> {
        Ok(BBox::parse_opt(p)?.unwrap_or(BBox {
            west: -180.0,
            south: -90.0,
            span: 360.0,
            north: 90.0,
        }))
    }

    /// The request's box, if it names one.
    pub fn parse_opt(p: &Params) -> ApiResult<Option<BBox>> {
        let Some(s) = p.str("bbox") else {
            return Ok(None);
        };
        let bad = || {
            ApiError::bad(
                "bbox",
                format!(
                    "expected west,south,east,north in degrees (south ≤ north within ±90, west ≤ east), got {s:?}"
                ),
            )
        };
        let v: Vec<f64> = s
            .split(',')
            .map(|x| x.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [west, south, east, north] = v[..] else {
            return Err(bad());
        };
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err(bad());
        }
        if south > north || west > east {
            return Err(bad());
        }
        Ok(Some(BBox {
            west,
            south,
            span: (east - west).min(360.0),
            north,
        }))
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat)
            && (self.span >= 360.0 || (lon - self.west).rem_euclid(360.0) <= self.span)
    }
}

/// What the gallery hides unless asked: rejected photos, the non-leads of
/// bursts and of duplicate sets, blinks (`viewer.*` defaults, or the
/// request's `hide_*`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Hiding {
    pub(crate) rejected: bool,
    pub(crate) bursts: bool,
    pub(crate) duplicates: bool,
    pub(crate) blinks: bool,
}

impl Hiding {
    pub fn of_settings(s: &Settings) -> Hiding {
        Hiding {
            rejected: s.hide_rejected,
            bursts: s.hide_bursts,
            duplicates: s.hide_duplicates,
            blinks: s.hide_blinks,
        }
    }
}

/// The photo filters of `/api/photos` (and of the counts).
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub(crate) category: Option<String>,
    pub(crate) camera: Option<String>,
    pub(crate) lens: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) date_from: Option<String>,
    pub(crate) date_to: Option<String>,
    pub(crate) min_score: Option<f64>,
    pub(crate) max_score: Option<f64>,
    pub(crate) min_aesthetic: Option<f64>,
    pub(crate) top_picks: bool,
    pub(crate) rating_min: Option<u64>,
    pub(crate) favorites: bool,
    pub(crate) hide_rejected: bool,
    /// Only burst leads (and photos in no burst).
    pub(crate) hide_bursts: bool,
    /// Only duplicate leads (and photos in no duplicate group).
    pub(crate) hide_duplicates: bool,
    /// No photo with a blink (`is_blink`; unjudged photos stay).
    pub(crate) hide_blinks: bool,
    /// Also the photos whose file is gone (`photos.missing_since`, set by a
    /// run over their folder): hidden unless asked (`show_missing`).
    pub(crate) show_missing: bool,
    /// Only the photos taken in this box (`bbox`, as `/api/map` takes it:
    /// a map place's "all photos").
    pub(crate) bbox: Option<BBox>,
    /// Only the photos of this person (`persons.person_id`).
    pub(crate) person: Option<i64>,
    /// The listing rows of `person`, ascending (set by
    /// [`crate::persons::restrict`] before the listing is filtered).
    pub(crate) only: Option<Vec<u32>>,
}

impl Filters {
    pub fn parse(p: &Params, settings: &Settings) -> ApiResult<Filters> {
        let owned = |k: &str| p.str(k).map(str::to_string);
        let f = Filters {
            category: owned("category"),
            camera: owned("camera"),
            lens: owned("lens"),
            tag: owned("tag"),
            date_from: p.date("date_from")?,
            date_to: p.date("date_to")?,
            min_score: p.f64_in("min_score", 0.0, 10.0)?,
            max_score: p.f64_in("max_score", 0.0, 10.0)?,
            min_aesthetic: p.f64_in("min_aesthetic", 0.0, 10.0)?,
            top_picks: p.bool("top_picks")?.unwrap_or(false),
            rating_min: p.uint_in("rating_min", 0, 5)?,
            favorites: p.bool("favorites")?.unwrap_or(false),
            hide_rejected: p.bool("hide_rejected")?.unwrap_or(settings.hide_rejected),
            hide_bursts: p.bool("hide_bursts")?.unwrap_or(settings.hide_bursts),
            hide_duplicates: p
                .bool("hide_duplicates")?
                .unwrap_or(settings.hide_duplicates),
            person: match p.str("person") {
                None => None,
                Some(s) => Some(s.parse::<i64>().map_err(|_| {
                    ApiError::bad("person", format!("expected a person's id, got {s:?}"))
                })?),
            },
            only: None,
            bbox: BBox::parse_opt(p)?,
            hide_blinks: p.bool("hide_blinks")?.unwrap_or(settings.hide_blinks),
            show_missing: p.bool("show_missing")?.unwrap_or(false),
        };
        if let (Some(a), Some(b)) = (&f.date_from, &f.date_to)
            && a > b
        {
            return Err(ApiError::bad("date_to", "is before date_from"));
        }
        if let (Some(a), Some(b)) = (f.min_score, f.max_score)
            && a > b
        {
            return Err(ApiError::bad("max_score", "is below min_score"));
        }
        Ok(f)
    }

    /// The same filters, hiding nothing.
    pub fn showing_all(&self) -> Filters {
        Filters {
            hide_rejected: false,
            hide_bursts: false,
            hide_duplicates: false,
            hide_blinks: false,
            ..self.clone()
        }
    }

    /// Only the rejected flag: the filters of the type counts.
    pub fn counts(p: &Params, settings: &Settings) -> ApiResult<Filters> {
        Ok(Filters {
            hide_rejected: p.bool("hide_rejected")?.unwrap_or(settings.hide_rejected),
            ..Filters::default()
        })
    }
}

pub fn has_column(df: &DataFrame, name: &str) -> bool {
    df.schema().fields().iter().any(|f| f.name() == name)
}

/// Sort and page of `/api/photos`.
pub struct Page {
    pub sort: &'static str,
    pub asc: bool,
    pub page: usize,
    pub per_page: usize,
}

impl Page {
    pub fn parse(p: &Params, settings: &Settings) -> ApiResult<Page> {
        let sort = p.str("sort").unwrap_or(&settings.default_sort);
        let Some(&(sort, _)) = SORTS.iter().find(|(k, _)| *k == sort) else {
            let keys: Vec<&str> = SORTS.iter().map(|(k, _)| *k).collect();
            return Err(ApiError::bad(
                "sort",
                format!("expected one of {}, got {sort:?}", keys.join(", ")),
            ));
        };
        let asc = match p
            .str("dir")
            .unwrap_or(&settings.default_dir)
            .to_ascii_lowercase()
            .as_str()
        {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(ApiError::bad(
                    "dir",
                    format!("expected asc or desc, got {other:?}"),
                ));
            }
        };
        let page = p.uint_in("page", 1, u32::MAX as u64)?.unwrap_or(1) as usize;
        let per_page = match p.str("per_page") {
            None => settings.default_per_page,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if n >= 1 => (n as usize).min(MAX_PER_PAGE),
                _ => {
                    return Err(ApiError::bad(
                        "per_page",
                        format!(
                            "expected a whole number from 1 (at most {MAX_PER_PAGE} are returned), got {s:?}"
                        ),
                    ));
                }
            },
        };
        Ok(Page {
            sort,
            asc,
            page,
            per_page,
        })
    }
}

/// The query parameters [`Filters::parse`] reads, as the API document
/// describes them (`/api/photos` and the routes that take its filters).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct FilterParams {
    /// Scoring category.
    category: Option<String>,
    /// EXIF camera model (`camera_model`).
    camera: Option<String>,
    /// EXIF lens model.
    lens: Option<String>,
    /// Photos having this tag.
    tag: Option<String>,
    /// Taken on or after (YYYY-MM-DD, local time).
    #[param(format = Date)]
    date_from: Option<String>,
    /// Taken on or before (YYYY-MM-DD, local time).
    #[param(format = Date)]
    date_to: Option<String>,
    /// Aggregate at least.
    #[param(minimum = 0, maximum = 10)]
    min_score: Option<f64>,
    /// Aggregate at most.
    #[param(minimum = 0, maximum = 10)]
    max_score: Option<f64>,
    /// Aesthetic at least.
    #[param(minimum = 0, maximum = 10)]
    min_aesthetic: Option<f64>,
    /// Top Picks only.
    top_picks: Option<bool>,
    /// Rated at least this many stars.
    #[param(minimum = 0, maximum = 5)]
    rating_min: Option<u8>,
    /// Favourites only.
    favorites: Option<bool>,
    /// Hide rejected photos (default viewer.defaults.hide_rejected).
    hide_rejected: Option<bool>,
    /// Only burst leads (default viewer.defaults.hide_bursts).
    hide_bursts: Option<bool>,
    /// Only duplicate leads (default viewer.defaults.hide_duplicates).
    hide_duplicates: Option<bool>,
    /// Hide photos whose judged faces blink (`is_blink`, from a faces
    /// stage); default viewer.defaults.hide_blinks.
    hide_blinks: Option<bool>,
    /// Also the photos whose file is gone (`missing_since`, offline);
    /// hidden by default.
    show_missing: Option<bool>,
    /// Only the photos taken in this box: west,south,east,north in degrees
    /// (as `/api/map` takes it).
    bbox: Option<String>,
    /// Only the photos of this person (/api/persons); 404 for an unknown
    /// person.
    person: Option<i64>,
}

/// The sort keys, as the document lists them.
fn sort_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(SORTS.iter().map(|(k, _)| *k)))
        .build()
}

/// `asc` or `desc`.
pub(crate) fn direction_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["asc", "desc"]))
        .build()
}

/// The query parameters [`Page::parse`] reads.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct PageParams {
    /// Page, from 1.
    #[param(minimum = 1, default = 1)]
    page: Option<u32>,
    /// Photos per page (default viewer.pagination.default_per_page; larger
    /// values than 500 are capped).
    #[param(minimum = 1)]
    per_page: Option<u32>,
    /// Sort key (default viewer.defaults.sort).
    #[param(schema_with = sort_schema, required = false)]
    sort: Option<String>,
    /// Direction (default viewer.defaults.sort_direction).
    #[param(schema_with = direction_schema, required = false)]
    dir: Option<String>,
}

/// The `path` query parameter ([`Params::path`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct PathParam {
    /// The photo's path as stored (URL-encoded); only stored photos are
    /// served.
    path: String,
}
