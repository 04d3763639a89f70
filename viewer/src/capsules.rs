//! Capsules, curated slideshows (`facet-capsules` builds them):
//! `GET /api/capsules` lists them (id, type, title, cover, count,
//! transition), `GET /api/capsule?id=` gives one's photos in slideshow
//! order, as `/api/photos` lists photos. Off with
//! `viewer.features.show_capsules`.
//!
//! What a session sees: the photos of its listing rows ([`Listing`]) that
//! the session may see (a member's folders and the shared ones), without
//! the photos the gallery hides by default (rejected, non-lead burst frames
//! and duplicates, blinks, missing files); its own favourites and stars;
//! and the named, shown people of those photos only — a member never meets
//! another member's photo, nor a pair of people of whom one appears only
//! in another member's folders.
//!
//! Facts not in the listing (focal length, composition, saturation,
//! embeddings, faces' people) are read from the store once per version of
//! the tables they come from ([`Base`]). The capsules themselves are built
//! off the runtime's workers, per session owner, and kept until a table
//! changes or the `capsules.freshness_hours` slot ends (covers and seeded
//! capsules rotate with the slots).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Int64Type};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use datafusion::prelude::col;
use facet_capsules::{Capsule, Clock, Context, GeoNames, Group, Library, PhotoFacts, Places};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Photo, params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::listing::{Listing, UserCols, bools, floats, strings};
use crate::query::{Filters, Params, has_column};

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The tables the library-wide facts are read from.
const BASE_TABLES: [&str; 5] = ["photos", "scores", "photo_groups", "faces", "persons"];

/// The library-wide facts, per version of [`BASE_TABLES`].
struct Base {
    versions: Vec<Option<u64>>,
    /// Path order, the user state left out.
    photos: Vec<PhotoFacts>,
    /// Named, shown people.
    persons: Vec<facet_capsules::Person>,
}

/// One session owner's capsules.
struct Built {
    /// Every table's version when built, and the freshness slot.
    versions: Vec<Option<u64>>,
    slot: u64,
    listing: Arc<Listing>,
    user: Arc<UserCols>,
    capsules: Vec<Capsule>,
    /// Library index → listing row.
    rows: Vec<u32>,
    fresh_until: i64,
}

/// The capsules kept (see the module).
#[derive(Default)]
pub(crate) struct Cache {
    base: tokio::sync::Mutex<Option<Arc<Base>>>,
    /// Per owner; the lock also makes concurrent requests wait for one
    /// build rather than build again.
    built: tokio::sync::Mutex<HashMap<String, Arc<Built>>>,
}

/// Every photo's facts but the user state, from the store.
async fn read_base(state: &AppState, versions: Vec<Option<u64>>) -> ApiResult<Base> {
    let snap = {
        let mut cache = state.inner.cache.lock().await;
        state.fresh(&mut cache).await?
    };
    let view = snap.ctx.table("photos").await?;
    let wanted = [
        "path",
        "aggregate",
        "date_taken",
        "gps_lat",
        "gps_lon",
        "camera_model",
        "lens",
        "focal_length",
        "focal_length_35mm",
        "category",
        "composition_pattern",
        "tags",
        "burst_group_id",
        "is_burst_lead",
        "duplicate_group_id",
        "is_duplicate_lead",
        "mean_saturation",
        "is_monochrome",
        "embedding",
    ];
    let cols: Vec<&str> = wanted
        .into_iter()
        .filter(|c| has_column(&view, c))
        .collect();
    let b = snap.view_all(&cols).await?;
    let mut photos = facts(&b);
    // The people in each photo.
    let ctx = &snap.ctx;
    let persons: Vec<facet_capsules::Person> = crate::persons::named(ctx)
        .await?
        .into_iter()
        .map(|(id, name)| facet_capsules::Person { id, name })
        .collect();
    if let Ok(faces) = ctx.table("faces").await
        && has_column(&faces, "person_id")
        && !persons.is_empty()
    {
        let named: std::collections::HashSet<i64> = persons.iter().map(|p| p.id).collect();
        let batches = faces
            .filter(col("person_id").is_not_null())?
            .select_columns(&["path", "person_id"])?
            .collect()
            .await?;
        for fb in &batches {
            let (Some(paths), Some(ids)) = (
                strings(fb, "path"),
                fb.column(1).as_primitive_opt::<Int64Type>(),
            ) else {
                continue;
            };
            for k in 0..fb.num_rows() {
                if paths.is_null(k) || !named.contains(&ids.value(k)) {
                    continue;
                }
                if let Ok(i) = photos.binary_search_by(|p| p.path.as_str().cmp(paths.value(k))) {
                    let ps = &mut photos[i].persons;
                    if !ps.contains(&ids.value(k)) {
                        ps.push(ids.value(k));
                    }
                }
            }
        }
    }
    Ok(Base {
        versions,
        photos,
        persons,
    })
}

/// The facts of the view's rows (in path order).
fn facts(b: &RecordBatch) -> Vec<PhotoFacts> {
    let n = b.num_rows();
    let text = |name: &str| -> Vec<Option<String>> {
        match strings(b, name) {
            Some(a) => a.iter().map(|v| v.map(str::to_string)).collect(),
            None => vec![None; n],
        }
    };
    let num = |name: &str| -> Vec<Option<f64>> {
        floats(b, name)
            .into_iter()
            .map(|v| (!v.is_nan()).then_some(v))
            .collect()
    };
    let (paths, dates, cameras, lenses) = (
        text("path"),
        text("date_taken"),
        text("camera_model"),
        text("lens"),
    );
    let (categories, patterns, bursts, dups) = (
        text("category"),
        text("composition_pattern"),
        text("burst_group_id"),
        text("duplicate_group_id"),
    );
    let (agg, lat, lon, focal, focal35, sat) = (
        num("aggregate"),
        num("gps_lat"),
        num("gps_lon"),
        num("focal_length"),
        num("focal_length_35mm"),
        num("mean_saturation"),
    );
    let (burst_lead, dup_lead, mono) = (
        bools(b, "is_burst_lead"),
        bools(b, "is_duplicate_lead"),
        bools(b, "is_monochrome"),
    );
    let tags = b
        .column_by_name("tags")
        .and_then(|c| c.as_list_opt::<i32>());
    let emb = b.column_by_name("embedding");
    (0..n)
        .map(|i| {
            let group = |id: &Option<String>, lead: Option<bool>| {
                id.clone().map(|id| Group {
                    id,
                    lead: lead.unwrap_or(false),
                })
            };
            PhotoFacts {
                path: paths[i].clone().unwrap_or_default(),
                aggregate: agg[i],
                taken: dates[i].as_deref().and_then(facet_capsules::Taken::parse),
                gps: lat[i].zip(lon[i]),
                camera: cameras[i].clone(),
                lens: lenses[i].clone(),
                focal_mm: focal35[i].or(focal[i]),
                category: categories[i].clone(),
                composition: patterns[i].clone(),
                tags: tags
                    .filter(|t| t.is_valid(i))
                    .map(|t| {
                        let v = t.value(i);
                        let v = v.as_string::<i32>();
                        v.iter().flatten().map(str::to_string).collect()
                    })
                    .unwrap_or_default(),
                burst: group(&bursts[i], burst_lead[i]),
                duplicate: group(&dups[i], dup_lead[i]),
                embedding: emb
                    .and_then(|c| vector(c.as_ref(), i))
                    .and_then(|v| facet_capsules::normalized(v.into())),
                saturation: sat[i],
                monochrome: mono[i],
                ..PhotoFacts::default()
            }
        })
        .collect()
}

/// Row `i` of an embedding column (fixed-size or variable list), as f32.
fn vector(c: &dyn Array, i: usize) -> Option<Vec<f32>> {
    if c.is_null(i) {
        return None;
    }
    let values = match c.data_type() {
        DataType::FixedSizeList(..) => c.as_fixed_size_list().value(i),
        DataType::List(_) => c.as_list::<i32>().value(i),
        _ => return None,
    };
    let v = arrow::compute::cast(&values, &DataType::Float32).ok()?;
    Some(v.as_primitive::<Float32Type>().values().to_vec())
}

/// The library-wide facts for the store as it is now.
async fn base(state: &AppState) -> ApiResult<Arc<Base>> {
    let versions = {
        let mut cache = state.inner.cache.lock().await;
        let snap = state.fresh(&mut cache).await?;
        BASE_TABLES
            .iter()
            .map(|t| snap.version(t))
            .collect::<Vec<_>>()
    };
    let mut kept = state.inner.capsules.base.lock().await;
    if let Some(b) = kept.as_ref().filter(|b| b.versions == versions) {
        return Ok(b.clone());
    }
    // The previous facts go first (a million photos' embeddings).
    *kept = None;
    let b = Arc::new(read_base(state, versions).await?);
    *kept = Some(b.clone());
    Ok(b)
}

/// `who`'s capsules: kept, or built.
async fn built(state: &AppState, who: &Who) -> ApiResult<Arc<Built>> {
    let cfg = state.config().capsules.clone();
    let clock = Clock::now();
    let slot = clock.freshness_slot(&cfg);
    let versions = state.versions().await?;
    let owner = crate::cache::owner(who);
    let mut kept = state.inner.capsules.built.lock().await;
    if let Some(b) = kept
        .get(&owner)
        .filter(|b| b.versions == versions && b.slot == slot)
    {
        return Ok(b.clone());
    }
    kept.retain(|_, b| b.versions == versions && b.slot == slot);
    let base = base(state).await?;
    let (listing, user) = state.listing(who).await?;
    // The gallery's default hiding, rejected photos always.
    let mut filters = Filters::parse(&Params(HashMap::new()), state.settings())?;
    filters.hide_rejected = true;
    let shown = listing.matching(&filters, &user);
    let mut photos = Vec::with_capacity(shown.len());
    let mut rows = Vec::with_capacity(shown.len());
    for r in shown {
        let Ok(k) = base
            .photos
            .binary_search_by(|p| p.path.as_str().cmp(listing.path(r)))
        else {
            continue;
        };
        let mut p = base.photos[k].clone();
        for (name, v) in listing.user_values(&user, r as usize) {
            match name {
                "favorite" => p.favorite = v.as_bool().unwrap_or(false),
                "rating" => p.rating = v.as_u64().unwrap_or(0).min(5) as u8,
                _ => {}
            }
        }
        photos.push(p);
        rows.push(r);
    }
    // Only the people seen in these photos.
    let seen: std::collections::HashSet<i64> = photos
        .iter()
        .flat_map(|p| p.persons.iter().copied())
        .collect();
    let persons = base
        .persons
        .iter()
        .filter(|p| seen.contains(&p.id))
        .cloned()
        .collect();
    drop(base);
    let geocode = cfg.reverse_geocoding;
    let (capsules, fresh_until) = tokio::task::spawn_blocking(move || {
        let lib = Library::new(photos, persons);
        let places: &dyn Places = if geocode {
            GeoNames::shared()
        } else {
            &facet_capsules::Coordinates
        };
        let cx = Context {
            lib: &lib,
            cfg: &cfg,
            clock,
            places,
        };
        (facet_capsules::build(&cx), clock.fresh_until(&cfg))
    })
    .await
    .map_err(ApiError::internal)?;
    let b = Arc::new(Built {
        versions,
        slot,
        listing,
        user,
        capsules,
        rows,
        fresh_until,
    });
    kept.insert(owner, b.clone());
    Ok(b)
}

impl Built {
    /// The listing rows of library indices.
    fn listing_rows(&self, photos: &[u32]) -> Vec<u32> {
        photos.iter().map(|&i| self.rows[i as usize]).collect()
    }

    fn photos(&self, photos: &[u32]) -> ApiResult<Vec<Photo>> {
        Ok(self
            .listing
            .rows(&self.listing_rows(photos), &self.user)?
            .into_iter()
            .map(|r| Photo(photo_json(r)))
            .collect())
    }
}

/// A capsule in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapsuleSummary {
    /// Stable across rebuilds (seeded capsules: until the next draw).
    id: String,
    /// journey, faces_of, person_pair, rare_pair, this_week, golden,
    /// seasonal, favorites, location, progress, color_story,
    /// color_palette, seeded, or a dimension: year, month, week, camera,
    /// lens, tag, day_of_week, composition, focal_range, category,
    /// time_of_day, star_rating, camera_year, focal_range_category,
    /// category_year.
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    subtitle: Option<String>,
    /// Its cover photo (rotates every capsules.freshness_hours).
    cover: Photo,
    /// Its photos.
    count: usize,
    /// crossfade, slide, zoom or kenburns.
    transition: &'static str,
}

/// `GET /api/capsules`' answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapsuleList {
    /// In priority order (journeys and people first, dimensions last).
    capsules: Vec<CapsuleSummary>,
    total: usize,
    /// When covers and seeded capsules next rotate (seconds since the
    /// epoch).
    fresh_until: i64,
}

/// `GET /api/capsule`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapsuleShow {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    subtitle: Option<String>,
    transition: &'static str,
    count: usize,
    /// The cover's path.
    cover: String,
    /// In slideshow order.
    photos: Vec<Photo>,
}

fn transition(c: &Capsule) -> &'static str {
    match c.transition() {
        facet_capsules::Transition::Crossfade => "crossfade",
        facet_capsules::Transition::Slide => "slide",
        facet_capsules::Transition::Zoom => "zoom",
        facet_capsules::Transition::Kenburns => "kenburns",
    }
}

/// `GET /api/capsules`: every capsule of the photos the session may see
/// (see the module), each with its cover photo and slide transition.
/// Kept until the store changes or `capsules.freshness_hours` pass. Off
/// with viewer.features.show_capsules.
#[utoipa::path(get, path = "/api/capsules", operation_id = "capsules", responses(
    (status = 200, description = "The capsules.", body = CapsuleList),
))]
pub async fn list(State(state): State<AppState>, who: Who) -> ApiResult<Json<CapsuleList>> {
    let b = built(&state, &who).await?;
    let covers: Vec<u32> = b.capsules.iter().map(|c| c.cover).collect();
    let capsules = b
        .capsules
        .iter()
        .zip(b.photos(&covers)?)
        .map(|(c, cover)| CapsuleSummary {
            id: c.id.clone(),
            kind: c.kind.name(),
            title: c.title.clone(),
            subtitle: c.subtitle.clone(),
            cover,
            count: c.photos.len(),
            transition: transition(c),
        })
        .collect::<Vec<_>>();
    Ok(Json(CapsuleList {
        total: capsules.len(),
        capsules,
        fresh_until: b.fresh_until,
    }))
}

/// `/api/capsule`'s `id`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct CapsuleParam {
    /// A capsule's id, from /api/capsules.
    id: String,
}

/// `GET /api/capsule?id=`: one capsule's photos in slideshow order (time
/// order for journeys, seasons and other moments; best and most varied
/// first otherwise), as /api/photos lists photos. 404 for an id the
/// session's capsules lack. Off with viewer.features.show_capsules.
#[utoipa::path(get, path = "/api/capsule", operation_id = "capsule", params(CapsuleParam), responses(
    (status = 200, description = "The capsule and its photos.", body = CapsuleShow),
))]
pub async fn show(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<CapsuleShow>> {
    let p = params(q)?;
    let Some(id) = p.str("id") else {
        return Err(ApiError::bad("id", "required (a capsule's id)"));
    };
    let b = built(&state, &who).await?;
    let Some(c) = b.capsules.iter().find(|c| c.id == id) else {
        return Err(ApiError::NotFound(format!("no capsule {id}")));
    };
    Ok(Json(CapsuleShow {
        id: c.id.clone(),
        kind: c.kind.name(),
        title: c.title.clone(),
        subtitle: c.subtitle.clone(),
        transition: transition(c),
        count: c.photos.len(),
        cover: b.listing.path(b.rows[c.cover as usize]).to_string(),
        photos: b.photos(&c.photos)?,
    }))
}

#[cfg(test)]
mod tests;
