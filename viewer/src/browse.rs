//! Browsing by time, place and likeness: `/api/timeline`, `/api/memories`
//! and `/api/map` aggregate the in-memory listing (no Lance scan per
//! request: one pass over the rows the filters keep, with the capture day and
//! the Web-Mercator position precomputed per row); `/api/similar` asks the
//! store's vector search for the nearest embeddings.
//!
//! All three aggregates take `/api/photos`'s filters, so that rejected photos
//! and non-lead burst frames and duplicates stay hidden as in the grid.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use facet_store::PHOTOS_STORED;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Photo, lookup, params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::listing::{Listing, UserCols};
use crate::query::{BBox, FilterParams, Filters, Params, PathParam};
use crate::settings::MAX_PER_PAGE;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Grid cells per map tile side when clustering (a 256-px tile: 64-px cells).
const CELLS_PER_TILE: f64 = 4.0;
/// Most markers one `/api/map` answer carries (the best clusters or photos).
const MAX_MARKERS: usize = 2000;
/// The store's vector-search breadth (IVF partitions probed).
const NPROBES: usize = 20;

/// The listed photos of `rows`, in that order, as the API shows them.
fn photos(listing: &Listing, user: &UserCols, rows: &[u32]) -> ApiResult<Vec<Photo>> {
    Ok(listing
        .rows(rows, user)?
        .into_iter()
        .map(|r| Photo(photo_json(r)))
        .collect())
}

/// The `n` best of `rows` (aggregate descending, unscored last), best first.
fn best(listing: &Listing, mut rows: Vec<u32>, n: usize) -> Vec<u32> {
    let cmp = |a: &u32, b: &u32| listing.by_score(*a, *b);
    if n < rows.len() {
        rows.select_nth_unstable_by(n, cmp);
        rows.truncate(n);
    }
    rows.sort_unstable_by(cmp);
    rows
}

fn direction(p: &Params) -> ApiResult<bool> {
    match p.str("dir").map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => Ok(false),
        Some("asc") => Ok(true),
        Some(other) => Err(ApiError::bad(
            "dir",
            format!("expected asc or desc, got {other:?}"),
        )),
    }
}

/// `/api/timeline`'s own query parameters (the filters of `/api/photos`
/// too).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct TimelineParams {
    /// Drill down to this year's months.
    #[param(minimum = 1, maximum = 9999)]
    year: Option<u32>,
    /// With `year`: drill down to this month's days.
    #[param(minimum = 1, maximum = 12)]
    month: Option<u32>,
    /// Photos per group (default timeline.photos_per_group).
    #[param(minimum = 1, maximum = 500)]
    per_group: Option<u32>,
    /// Group order: newest first (desc, default) or oldest first (asc).
    #[param(schema_with = crate::query::direction_schema, required = false)]
    dir: Option<String>,
}

/// `GET /api/timeline`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeline {
    groups: Vec<TimelineGroup>,
    /// `year`, `month` or `day`.
    level: &'static str,
    month: Option<u32>,
    per_group: usize,
    total: usize,
    /// Photos without a capture date (year level only).
    undated: Option<usize>,
    year: Option<u32>,
}

/// A year, month or day of the timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineGroup {
    count: usize,
    day: Option<u32>,
    /// YYYY, YYYY-MM or YYYY-MM-DD.
    key: String,
    month: Option<u32>,
    /// Its best photos, in capture order.
    photos: Vec<Photo>,
    year: u32,
}

/// `GET /api/timeline[?year=[&month=]]`: photos by capture date
/// (`date_taken`): the years (or a year's months, or a month's days) with
/// their counts and up to `timeline.photos_per_group` photos each: the
/// group's best, in capture order. Takes the filters of /api/photos.
/// Kept for `viewer.cache_ttl_seconds` while the store is unchanged. Off with
/// viewer.features.show_timeline.
#[utoipa::path(get, path = "/api/timeline", params(TimelineParams, FilterParams), responses(
    (status = 200, description = "The groups.", body = Timeline),
))]
pub async fn timeline(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<Timeline>> {
    let p = params(q)?;
    let key = format!(
        "{}:{}",
        crate::cache::owner(&who),
        crate::cache::key("timeline", &p.0)
    );
    let v = crate::cache::cached(&state, key, || timeline_uncached(&state, &who, p)).await?;
    Ok(Json(v))
}

async fn timeline_uncached(state: &AppState, who: &Who, p: Params) -> ApiResult<Timeline> {
    let s = state.settings();
    let year = p.uint_in("year", 1, 9999)?.map(|v| v as u32);
    let month = p.uint_in("month", 1, 12)?.map(|v| v as u32);
    if month.is_some() && year.is_none() {
        return Err(ApiError::bad("month", "needs a year"));
    }
    let per_group = p
        .uint_in("per_group", 1, MAX_PER_PAGE as u64)?
        .map_or(s.timeline_photos_per_group, |v| v as usize);
    let asc = direction(&p)?;
    let mut filters = Filters::parse(&p, s)?;
    let (listing, user) = state.listing(who).await?;
    crate::persons::restrict(state, who, &listing, &mut filters).await?;
    // The slot of a day (`yyyymmdd`) at this level (the year, the month or
    // the day: a dense index, no map look-up per row), `None` when outside
    // it; and a slot's group key.
    type Slot = Box<dyn Fn(u32) -> Option<usize>>;
    type Key = Box<dyn Fn(usize) -> u32>;
    let (level, slots, slot, key): (&str, usize, Slot, Key) = match (year, month) {
        (None, _) => (
            "year",
            10_000,
            Box::new(|d| Some((d / 10_000) as usize)),
            Box::new(|i| i as u32),
        ),
        (Some(y), None) => (
            "month",
            13,
            Box::new(move |d| (d / 10_000 == y).then_some((d / 100 % 100) as usize)),
            Box::new(move |i| y * 100 + i as u32),
        ),
        (Some(y), Some(m)) => (
            "day",
            32,
            Box::new(move |d| (d / 100 == y * 100 + m).then_some((d % 100) as usize)),
            Box::new(move |i| (y * 100 + m) * 100 + i as u32),
        ),
    };
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); slots];
    let mut undated = 0usize;
    for i in listing.matching(&filters, &user) {
        let d = listing.day(i);
        if d == 0 {
            undated += 1;
        } else if let Some(k) = slot(d) {
            groups[k].push(i);
        }
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut ordered: Vec<(u32, Vec<u32>)> = groups
        .into_iter()
        .enumerate()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(i, rows)| (key(i), rows))
        .collect();
    if !asc {
        ordered.reverse();
    }
    let mut out = Vec::with_capacity(ordered.len());
    for (g, rows) in ordered {
        let count = rows.len();
        let mut shown = best(&listing, rows, per_group);
        shown.sort_unstable_by(|&a, &b| listing.by_time(a, b));
        let (key, y, m, d) = match level {
            "year" => (format!("{g:04}"), g, None, None),
            "month" => (
                format!("{:04}-{:02}", g / 100, g % 100),
                g / 100,
                Some(g % 100),
                None,
            ),
            _ => (
                format!("{:04}-{:02}-{:02}", g / 10_000, g / 100 % 100, g % 100),
                g / 10_000,
                Some(g / 100 % 100),
                Some(g % 100),
            ),
        };
        out.push(TimelineGroup {
            count,
            day: d,
            key,
            month: m,
            photos: photos(&listing, &user, &shown)?,
            year: y,
        });
    }
    Ok(Timeline {
        groups: out,
        level,
        month,
        per_group,
        total,
        undated: (level == "year").then_some(undated),
        year,
    })
}

/// Today (UTC) as `yyyymmdd`.
fn today() -> u32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = facet_capsules::time::civil_from_days(days);
    (y as u32) * 10_000 + m * 100 + d
}

/// `/api/memories`' own query parameters (the filters of `/api/photos`
/// too).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct MemoriesParams {
    /// The day (YYYY-MM-DD; default today, UTC).
    #[param(format = Date)]
    date: Option<String>,
    /// Most photos returned (default viewer.pagination.default_per_page).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// `GET /api/memories`' answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Memories {
    /// The day, YYYY-MM-DD.
    date: String,
    /// The photos, best first, each with `years_ago`.
    photos: Vec<Photo>,
    total: usize,
    /// The earlier years with photos of the day, latest first.
    years: Vec<YearCount>,
}

/// A year and its photos of the day.
#[derive(Debug, Serialize, ToSchema)]
pub struct YearCount {
    count: usize,
    year: u32,
}

/// `GET /api/memories[?date=YYYY-MM-DD]`: "on this day": photos taken on the
/// date's month and day in earlier years, best first. Takes the filters of
/// /api/photos. Off with viewer.features.show_memories.
#[utoipa::path(get, path = "/api/memories", params(MemoriesParams, FilterParams), responses(
    (status = 200, description = "The memories.", body = Memories),
))]
pub async fn memories(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<Memories>> {
    let p = params(q)?;
    let s = state.settings();
    let date = match p.date("date")? {
        Some(d) => {
            d[..4].parse::<u32>().unwrap_or(0) * 10_000
                + d[5..7].parse::<u32>().unwrap_or(0) * 100
                + d[8..10].parse::<u32>().unwrap_or(0)
        }
        None => today(),
    };
    let limit = p
        .uint_in("limit", 1, MAX_PER_PAGE as u64)?
        .map_or(s.default_per_page, |v| v as usize);
    let mut filters = Filters::parse(&p, s)?;
    let (listing, user) = state.listing(&who).await?;
    crate::persons::restrict(&state, &who, &listing, &mut filters).await?;
    let (year, month_day) = (date / 10_000, date % 10_000);
    let mut years: BTreeMap<u32, usize> = BTreeMap::new();
    let rows: Vec<u32> = listing
        .matching(&filters, &user)
        .into_iter()
        .filter(|&i| {
            let d = listing.day(i);
            let hit = d != 0 && d % 10_000 == month_day && d / 10_000 < year;
            if hit {
                *years.entry(d / 10_000).or_default() += 1;
            }
            hit
        })
        .collect();
    let total = rows.len();
    let shown = best(&listing, rows, limit);
    let mut out = photos(&listing, &user, &shown)?;
    for (photo, &i) in out.iter_mut().zip(&shown) {
        photo
            .0
            .insert("years_ago".into(), json!(year - listing.day(i) / 10_000));
    }
    Ok(Json(Memories {
        date: format!("{:04}-{:02}-{:02}", year, month_day / 100, month_day % 100),
        photos: out,
        total,
        years: years
            .iter()
            .rev()
            .map(|(&year, &count)| YearCount { count, year })
            .collect(),
    }))
}

/// `/api/map`'s own query parameters (the filters of `/api/photos` too).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct MapParams {
    /// Map zoom level (default 2).
    #[param(minimum = 0, maximum = 22)]
    zoom: Option<u32>,
    /// west,south,east,north in degrees (Leaflet's toBBoxString);
    /// longitudes may run past ±180. Default: the world.
    bbox: Option<String>,
}

/// `GET /api/map`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Map)]
pub struct MapAnswer {
    cluster_zoom_threshold: u32,
    clustered: bool,
    /// Most populous first, at most 2000.
    markers: Vec<Marker>,
    /// Geotagged photos in the box.
    total: usize,
    /// More markers than those sent.
    truncated: bool,
    zoom: i32,
}

/// A cluster of photos (or one photo) on the map.
#[derive(Debug, Serialize, ToSchema)]
pub struct Marker {
    /// west,south,east,north of its photos.
    bbox: String,
    count: usize,
    /// The centre: the mean of its photos' positions.
    lat: f64,
    lon: f64,
    /// Its best photo.
    photo: Photo,
}

/// `GET /api/map?zoom=&bbox=`: the geotagged photos (`gps_lat`, `gps_lon`)
/// in the box, clustered on a grid of Web-Mercator tile cells at this zoom
/// (each cluster: count, centre, best photo), one by one at or above
/// `map.cluster_zoom_threshold`; most populous first, at most 2000 markers.
/// Takes the filters of /api/photos. Off unless viewer.features.show_map.
#[utoipa::path(get, path = "/api/map", params(MapParams, FilterParams), responses(
    (status = 200, description = "The markers.", body = MapAnswer),
))]
pub async fn map(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<MapAnswer>> {
    let p = params(q)?;
    let s = state.settings();
    let zoom = p.uint_in("zoom", 0, 22)?.unwrap_or(2) as i32;
    let bbox = BBox::parse(&p)?;
    let mut filters = Filters::parse(&p, s)?;
    let clustered = (zoom as u32) < s.map_cluster_zoom_threshold;
    let (listing, user) = state.listing(&who).await?;
    crate::persons::restrict(&state, &who, &listing, &mut filters).await?;
    let (lats, lons) = (listing.num("gps_lat"), listing.num("gps_lon"));
    let cells = 2f64.powi(zoom) * CELLS_PER_TILE;
    struct Cluster {
        count: usize,
        lat: f64,
        lon: f64,
        best: u32,
        /// west, south, east, north of its photos.
        bounds: [f64; 4],
    }
    let mut clusters: HashMap<u64, Cluster> = HashMap::new();
    let mut total = 0usize;
    for i in listing.matching(&filters, &user) {
        let Some([x, y]) = listing.mercator(i) else {
            continue;
        };
        let (lat, lon) = (lats[i as usize], lons[i as usize]);
        if !bbox.contains(lat, lon) {
            continue;
        }
        total += 1;
        let key = if clustered {
            let cx = (f64::from(x) * cells).min(cells - 1.0) as u64;
            let cy = (f64::from(y) * cells).min(cells - 1.0) as u64;
            cx << 32 | cy
        } else {
            u64::from(i)
        };
        let c = clusters.entry(key).or_insert(Cluster {
            count: 0,
            lat: 0.0,
            lon: 0.0,
            best: i,
            bounds: [lon, lat, lon, lat],
        });
        c.bounds = [
            c.bounds[0].min(lon),
            c.bounds[1].min(lat),
            c.bounds[2].max(lon),
            c.bounds[3].max(lat),
        ];
        c.count += 1;
        c.lat += lat;
        c.lon += lon;
        if listing.by_score(i, c.best).is_lt() {
            c.best = i;
        }
    }
    let mut list: Vec<Cluster> = clusters.into_values().collect();
    list.sort_unstable_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| listing.by_score(a.best, b.best))
    });
    let truncated = list.len() > MAX_MARKERS;
    list.truncate(MAX_MARKERS);
    let reps: Vec<u32> = list.iter().map(|c| c.best).collect();
    let markers: Vec<Marker> = list
        .iter()
        .zip(photos(&listing, &user, &reps)?)
        .map(|(c, photo)| {
            let n = c.count as f64;
            let [w, s, e, n_] = c.bounds;
            Marker {
                bbox: format!("{w},{s},{e},{n_}"),
                count: c.count,
                lat: c.lat / n,
                lon: c.lon / n,
                photo,
            }
        })
        .collect();
    Ok(Json(MapAnswer {
        cluster_zoom_threshold: s.map_cluster_zoom_threshold,
        clustered,
        markers,
        total,
        truncated,
        zoom,
    }))
}

/// The vector of a one-row batch's `embedding` column: `Err` with a 409 when
/// the library has no such column, `None` when this photo has none.
fn embedding(batch: &RecordBatch) -> ApiResult<Option<Vec<f32>>> {
    let Some(c) = batch.column_by_name("embedding") else {
        return Err(ApiError::Unavailable(
            "the library has no embeddings (run a profile with an embedding stage)".into(),
        ));
    };
    if c.is_null(0) {
        return Ok(None);
    }
    let values = match c.data_type() {
        DataType::FixedSizeList(..) => c.as_fixed_size_list().value(0),
        DataType::List(_) => c.as_list::<i32>().value(0),
        DataType::LargeList(_) => c.as_list::<i64>().value(0),
        other => {
            return Err(ApiError::internal(format!(
                "embedding column of type {other}"
            )));
        }
    };
    let v = arrow::compute::cast(&values, &DataType::Float32).map_err(ApiError::internal)?;
    Ok(Some(v.as_primitive::<Float32Type>().values().to_vec()))
}

/// `/api/similar`'s `limit`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct SimilarParams {
    /// Most photos returned.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
}

/// `GET /api/similar`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Similar)]
pub struct SimilarAnswer {
    /// The photo asked about.
    path: String,
    /// The nearest photos, each with `similarity`.
    photos: Vec<Photo>,
}

/// `GET /api/similar?path=&limit=`: the photos nearest to this one by
/// cosine distance of the `embedding` column (the store's vector index),
/// nearest first, each with its `similarity` (the cosine). Off with
/// viewer.features.show_similar_button.
#[utoipa::path(get, path = "/api/similar", params(PathParam, SimilarParams), responses(
    (status = 200, description = "The nearest photos.", body = SimilarAnswer),
    (status = 409, description = "The library (or this photo) has no embedding.", body = ErrorBody),
))]
pub async fn similar(
    State(state): State<AppState>,
    who: Who,
    q: Q,
) -> ApiResult<Json<SimilarAnswer>> {
    let p = params(q)?;
    let path = p.path()?;
    let limit = p.uint_in("limit", 1, 100)?.unwrap_or(20) as usize;
    who.check(path)?;
    // A member sees only their folders' photos: ask for more neighbours.
    let wanted = if who.scope().is_some() {
        limit * 8 + 1
    } else {
        limit + 1
    };
    let batch = lookup(&state, PHOTOS_STORED, path, Some(&["path", "embedding"])).await?;
    let Some(vector) = embedding(&batch)? else {
        return Err(ApiError::Unavailable("this photo has no embedding".into()));
    };
    let found = state
        .store()
        .nearest("photos", "embedding", &[&vector], wanted, 2.5, NPROBES)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let (listing, user) = state.listing(&who).await?;
    let (rows, similarity): (Vec<u32>, Vec<f32>) = found
        .into_iter()
        .filter(|(p, _)| p != path && who.allows(p))
        .filter_map(|(p, d)| Some((listing.find(&p).ok()? as u32, 1.0 - d)))
        .take(limit)
        .unzip();
    let mut out = photos(&listing, &user, &rows)?;
    for (photo, s) in out.iter_mut().zip(similarity) {
        photo.0.insert("similarity".into(), json!(s));
    }
    Ok(Json(SimilarAnswer {
        path: path.to_string(),
        photos: out,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_date() {
        let d = super::today();
        assert!(d > 20_200_101 && (1..=12).contains(&(d / 100 % 100)), "{d}");
    }
}
