//! The JSON routes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use datafusion::prelude::*;
use facet_store::PHOTOS_STORED;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{AllOfBuilder, RefOr};

use crate::AppState;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::json::{filename, rows};
use crate::listing::Facet;
use crate::query::{
    FilterParams, Filters, Hiding, Page, PageParams, Params, PathParam, has_column,
};

/// The columns of a photo in `/api/photos` (never the thumbnail).
pub const LIST_COLUMNS: &[&str] = &[
    "path",
    "category",
    "aggregate",
    "aesthetic",
    "top_picks_score",
    "is_top_pick",
    "date_taken",
    "camera_make",
    "camera_model",
    "lens",
    "width",
    "height",
    "format",
    "tags",
    "rating",
    "favorite",
    "rejected",
    "sharpness",
    "is_blink",
    "is_burst_lead",
    "burst_size",
    "is_duplicate_lead",
    "duplicate_size",
    "is_similar_lead",
    "similar_size",
];

/// Columns never sent: file locations outside the library.
const HIDDEN: &[&str] = &["thumbnail_path"];

/// The query string, or a 400.
pub(crate) fn params(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Params> {
    match q {
        Ok(Query(m)) => Ok(Params(m)),
        Err(e) => Err(ApiError::bad("query", e.body_text())),
    }
}

/// A photo as the API shows it: its row of the `photos` view (the columns
/// depend on the store: a map, not a struct), made by [`photo_json`].
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Photo(pub Map<String, Value>);

/// A schema of `t`, or of `t` or null.
fn typed(t: Type, nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(t)
    }
}

impl utoipa::PartialSchema for Photo {
    fn schema() -> RefOr<Schema> {
        let mut o = ObjectBuilder::new().description(Some(
            "A photo: the columns of the `photos` view (see `facet schema`) except binary \
             ones, with `filename`; the user state defaults to 0 stars, not favourite, not \
             rejected. Some routes add a key: `hidden_by` (/api/photos), `is_lead` \
             (/api/groups), `years_ago` (/api/memories), `similarity` (/api/similar, \
             /api/search).",
        ));
        let columns = [
            ("path", Type::String, false),
            ("filename", Type::String, false),
            ("category", Type::String, true),
            ("aggregate", Type::Number, true),
            ("aesthetic", Type::Number, true),
            ("top_picks_score", Type::Number, true),
            ("is_top_pick", Type::Boolean, true),
            ("date_taken", Type::String, true),
            ("camera_make", Type::String, true),
            ("camera_model", Type::String, true),
            ("lens", Type::String, true),
            ("width", Type::Integer, true),
            ("height", Type::Integer, true),
            ("format", Type::String, true),
            ("rating", Type::Integer, false),
            ("favorite", Type::Boolean, false),
            ("rejected", Type::Boolean, false),
        ];
        for (name, t, nullable) in columns {
            o = o.property(name, typed(t, nullable));
            if !nullable {
                o = o.required(name);
            }
        }
        let strings = |nullable: bool| {
            let a = ArrayBuilder::new().items(typed(Type::String, false));
            if nullable {
                a.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            } else {
                a
            }
        };
        o.property("tags", strings(true))
            .property(
                "hidden_by",
                strings(false).description(Some(
                    "/api/photos: why the defaults would hide it (rejected, burst, \
                     duplicate, blink), when shown on request.",
                )),
            )
            .property(
                "is_lead",
                typed(Type::Boolean, false).description(Some("/api/groups: its group's lead.")),
            )
            .property(
                "years_ago",
                typed(Type::Integer, false)
                    .description(Some("/api/memories: how many years before the date.")),
            )
            .property(
                "similarity",
                typed(Type::Number, false)
                    .description(Some("/api/similar, /api/search: the cosine similarity.")),
            )
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ))
            .into()
    }
}

impl ToSchema for Photo {}

/// A photo's row as the API shows it: `filename` added, the user state
/// defaulted (0 stars, not favourite, not rejected).
pub(crate) fn photo_json(mut row: Map<String, Value>) -> Map<String, Value> {
    if let Some(p) = row.get("path").and_then(Value::as_str) {
        let name = filename(p).to_string();
        row.insert("filename".into(), Value::from(name));
    }
    for (k, default) in [
        ("rating", json!(0)),
        ("favorite", json!(false)),
        ("rejected", json!(false)),
    ] {
        if row.get(k).is_none_or(Value::is_null) {
            row.insert(k.into(), default);
        }
    }
    for k in HIDDEN {
        row.remove(*k);
    }
    row
}

/// `GET /api/config`'s answer: the viewer settings the UI uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct Config {
    comparison: ComparisonConfig,
    defaults: DefaultsConfig,
    display: DisplayConfig,
    dropdowns: DropdownsConfig,
    features: crate::settings::Features,
    gallery_mode: String,
    map: MapConfig,
    pagination: PaginationConfig,
    /// Metric → the value from which it counts as good.
    quality_thresholds: std::collections::BTreeMap<String, f64>,
    search: crate::search::SearchConfig,
    /// The sort keys of /api/photos.
    sort_options: Vec<&'static str>,
    timeline: TimelineConfig,
    top_picks_min_score: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComparisonConfig {
    /// The configuration's categories.
    categories: Vec<String>,
    min_comparisons_for_optimization: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefaultsConfig {
    hide_rejected: bool,
    sort: String,
    sort_direction: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayConfig {
    thumbnail_slider: crate::settings::Slider,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DropdownsConfig {
    max_persons: usize,
    min_photos_for_person: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MapConfig {
    cluster_zoom_threshold: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaginationConfig {
    default_per_page: usize,
    max_per_page: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineConfig {
    photos_per_group: usize,
}

/// `GET /api/config`: what the UI needs from the viewer settings.
#[utoipa::path(get, path = "/api/config", responses(
    (status = 200, description = "The settings.", body = Config),
))]
pub async fn config(State(state): State<AppState>) -> Json<Config> {
    let s = state.settings();
    Json(Config {
        comparison: ComparisonConfig {
            categories: state
                .config()
                .categories
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            min_comparisons_for_optimization: crate::compare::ComparisonSettings::from_config(
                state.config(),
            )
            .min_comparisons_for_optimization,
        },
        defaults: DefaultsConfig {
            hide_rejected: s.hide_rejected,
            sort: s.default_sort.clone(),
            sort_direction: s.default_dir.clone(),
        },
        display: DisplayConfig {
            thumbnail_slider: s.thumbnail_slider.clone(),
        },
        dropdowns: DropdownsConfig {
            max_persons: s.max_persons,
            min_photos_for_person: s.min_photos_for_person,
        },
        features: s.features.clone(),
        gallery_mode: s.gallery_mode.clone(),
        map: MapConfig {
            cluster_zoom_threshold: s.map_cluster_zoom_threshold,
        },
        pagination: PaginationConfig {
            default_per_page: s.default_per_page,
            max_per_page: crate::settings::MAX_PER_PAGE,
        },
        quality_thresholds: s.quality_thresholds.clone(),
        search: crate::search::config(&state),
        sort_options: crate::query::SORTS.iter().map(|(k, _)| *k).collect(),
        timeline: TimelineConfig {
            photos_per_group: s.timeline_photos_per_group,
        },
        top_picks_min_score: s.top_picks_min_score,
    })
}

/// `GET /api/photos`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoPage {
    #[schema(schema_with = crate::query::direction_schema)]
    dir: &'static str,
    has_more: bool,
    /// Page 1 only: how many photos matching the filters the gallery hides by
    /// default (`total`, and per reason: rejected, burst, duplicate, blink).
    /// Each such photo, when shown (hide_*=false), lists its reasons in
    /// `hidden_by`.
    hidden: Option<std::collections::BTreeMap<String, u64>>,
    page: usize,
    per_page: usize,
    photos: Vec<Photo>,
    sort: &'static str,
    total: usize,
}

/// `GET /api/photos`: one page of photos, filtered and sorted.
#[utoipa::path(get, path = "/api/photos", params(FilterParams, PageParams), responses(
    (status = 200, description = "The page.", body = PhotoPage),
))]
pub async fn photos(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<PhotoPage>> {
    let p = params(q)?;
    let mut filters = Filters::parse(&p, state.settings())?;
    let page = Page::parse(&p, state.settings())?;
    let (listing, user) = state.listing(&who).await?;
    crate::persons::restrict(&state, &who, &listing, &mut filters).await?;
    let (rows, total) = listing.page(&filters, &page, &user);
    let offset = (page.page - 1).saturating_mul(page.per_page);
    // Each photo the defaults would hide says why (when shown on request),
    // and the first page counts what they hide from these filters.
    let defaults = Hiding::of_settings(state.settings());
    let photos: Vec<Photo> = listing
        .rows(&rows, &user)?
        .into_iter()
        .zip(&rows)
        .map(|(r, &i)| {
            let mut r = photo_json(r);
            let why = listing.hidden_by(i, &user, &defaults);
            if !why.is_empty() {
                r.insert("hidden_by".into(), json!(why));
            }
            Photo(r)
        })
        .collect();
    let hidden = (page.page == 1).then(|| {
        let (total, per) = listing.hidden_counts(&filters, &page, &user, &defaults);
        let mut counts: std::collections::BTreeMap<String, u64> = crate::listing::HIDDEN_REASONS
            .iter()
            .zip(per)
            .filter(|(_, n)| *n > 0)
            .map(|(w, n)| (w.to_string(), n))
            .collect();
        counts.insert("total".into(), total);
        counts
    });
    Ok(Json(PhotoPage {
        dir: if page.asc { "asc" } else { "desc" },
        has_more: offset + photos.len() < total,
        hidden,
        photos,
        total,
        page: page.page,
        per_page: page.per_page,
        sort: page.sort,
    }))
}

/// The row of `path` in `table` (the `photos` view, or `photos_stored`
/// when the scores are not needed: no join), with `columns` (those the store
/// has; all with `None`), or 404. The path is compared as a value: no file is
/// touched and nothing about the filesystem is revealed.
pub async fn lookup(
    state: &AppState,
    table: &str,
    path: &str,
    columns: Option<&[&str]>,
) -> ApiResult<RecordBatch> {
    let ctx = state.session().await?;
    let mut df = ctx
        .table(table)
        .await?
        .filter(col("path").eq(lit(path.to_string())))?;
    if let Some(columns) = columns {
        let have: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| has_column(&df, c))
            .collect();
        df = df.select_columns(&have)?;
    }
    let batches = df.limit(0, Some(1))?.collect().await?;
    match batches.into_iter().find(|b| b.num_rows() > 0) {
        Some(b) => Ok(b.slice(0, 1)),
        None => Err(ApiError::NotFound("no such photo".into())),
    }
}

/// The tables the `photos` view joins on `path`, the stored photo first.
const VIEW_TABLES: [&str; 4] = [PHOTOS_STORED, "scores", "user_state", "photo_groups"];

/// The `photos` view's row of `path` (binary columns left out), or 404,
/// without the view's join: the join reads every row of `scores`,
/// `user_state` and `photo_groups` to match them with the one photo (2.8 s at
/// a million photos), where a keyed lookup in each table (the BTree index on
/// `path`) reads one row. The rows are merged in the view's column order; a
/// table without a row for the photo gives nulls, as the view's LEFT JOIN.
pub async fn view_row(state: &AppState, path: &str) -> ApiResult<Map<String, Value>> {
    let ctx = state.session().await?;
    let one = |table: &'static str| {
        let ctx = ctx.clone();
        let path = path.to_string();
        async move {
            let batches = ctx
                .table(table)
                .await?
                .filter(col("path").eq(lit(path)))?
                .limit(0, Some(1))?
                .collect()
                .await?;
            Ok::<_, ApiError>(rows(&batches).into_iter().next())
        }
    };
    let (photo, scores, user, groups) = tokio::try_join!(
        one(VIEW_TABLES[0]),
        one(VIEW_TABLES[1]),
        one(VIEW_TABLES[2]),
        one(VIEW_TABLES[3]),
    )?;
    let Some(photo) = photo else {
        return Err(ApiError::NotFound("no such photo".into()));
    };
    let found = [Some(photo), scores, user, groups];
    let view = ctx.table("photos").await?;
    let mut row = Map::new();
    for f in view.schema().fields() {
        if crate::json::is_blob(f.data_type()) {
            continue;
        }
        let name = f.name();
        let v = found
            .iter()
            .flatten()
            .find_map(|r| r.get(name))
            .cloned()
            .unwrap_or(Value::Null);
        row.insert(name.clone(), v);
    }
    Ok(row)
}

/// `GET /api/photo`'s answer: every stored column of the photo except
/// binary ones (a map, as [`Photo`]), with the parsed score breakdown.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct PhotoDetail(Map<String, Value>);

impl utoipa::PartialSchema for PhotoDetail {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("Photo"))
            .item(
                ObjectBuilder::new().property(
                    "score_breakdown",
                    ArrayBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                        .description(Some(
                            "The critique (viewer.features.show_critique): items of kind \
                             `metric` (metric, raw, normalized, weight_percent, points, \
                             neutral) and `adjustment` (name, points, reason).",
                        )),
                ),
            )
            .into()
    }
}

impl ToSchema for PhotoDetail {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            Photo::name().into(),
            <Photo as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// `GET /api/photo?path=`: every column of a photo except binary ones, EXIF,
/// metrics, the parsed score breakdown, the user state.
#[utoipa::path(get, path = "/api/photo", params(PathParam), responses(
    (status = 200, description = "The photo.", body = PhotoDetail),
))]
pub async fn photo(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<PhotoDetail>> {
    let p = params(q)?;
    let path = p.path()?;
    who.check(path)?;
    let mut row = photo_json(view_row(&state, path).await?);
    let (listing, user) = state.listing(&who).await?;
    if let Ok(i) = listing.find(path) {
        // The gallery's Top Picks (relative to the library too).
        row.insert("is_top_pick".into(), listing.is_top_pick(i as u32).into());
        if who.user().is_some() {
            // A member's own rating, favourite and reject.
            for (k, v) in listing.user_values(&user, i) {
                row.insert(k.into(), v);
            }
        }
    }
    if !state.settings().features.show_critique {
        row.remove("score_breakdown");
    } else if let Some(Value::String(s)) = row.get("score_breakdown") {
        let parsed = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        row.insert("score_breakdown".into(), parsed);
    }
    Ok(Json(PhotoDetail(row)))
}

/// A value of a dropdown and how many photos have it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValueCount {
    pub count: i64,
    pub value: String,
}

impl ValueCount {
    pub(crate) fn of((value, count): (String, i64)) -> ValueCount {
        ValueCount { count, value }
    }
}

/// `GET /api/filter_options`'s answer without `field`: the dropdowns'
/// values, most frequent first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dropdowns {
    cameras: Vec<ValueCount>,
    categories: Vec<ValueCount>,
    lenses: Vec<ValueCount>,
    tags: Vec<ValueCount>,
}

/// `GET /api/filter_options` without `field`: the dropdowns' values with
/// their counts, over the photos this session may see.
pub async fn filter_options(State(state): State<AppState>, who: Who) -> ApiResult<Dropdowns> {
    let key = format!("filter_options:{}", crate::cache::owner(&who));
    crate::cache::cached(&state, key, || filter_options_uncached(&state, &who)).await
}

async fn filter_options_uncached(state: &AppState, who: &Who) -> ApiResult<Dropdowns> {
    let s = state.settings();
    let (listing, user) = state.listing(who).await?;
    let rows = listing.matching(&Filters::default(), &user);
    let list = |facet: Facet, limit: usize| -> Vec<ValueCount> {
        listing
            .value_counts(&rows, facet, Some(limit))
            .into_iter()
            .map(ValueCount::of)
            .collect()
    };
    Ok(Dropdowns {
        cameras: list(Facet::Camera, s.max_cameras),
        categories: list(Facet::Category, s.max_categories),
        lenses: list(Facet::Lens, s.max_lenses),
        tags: list(Facet::Tag, s.max_tags),
    })
}

/// `GET /api/type_counts`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeCounts {
    all: usize,
    categories: Vec<ValueCount>,
    top_picks: usize,
}

/// The query parameter of `/api/type_counts` ([`Filters::counts`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct CountsParams {
    /// Leave rejected photos out of the counts (default
    /// viewer.defaults.hide_rejected).
    hide_rejected: Option<bool>,
}

/// `GET /api/type_counts`: all photos, Top Picks, and each category.
#[utoipa::path(get, path = "/api/type_counts", params(CountsParams), responses(
    (status = 200, description = "The counts.", body = TypeCounts),
))]
pub async fn type_counts(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<TypeCounts>> {
    let p = params(q)?;
    let filters = Filters::counts(&p, state.settings())?;
    let key = format!(
        "type_counts:{}?{}",
        crate::cache::owner(&who),
        filters.hide_rejected
    );
    let v =
        crate::cache::cached(&state, key, || type_counts_uncached(&state, &who, filters)).await?;
    Ok(Json(v))
}

async fn type_counts_uncached(
    state: &AppState,
    who: &Who,
    filters: Filters,
) -> ApiResult<TypeCounts> {
    let (listing, user) = state.listing(who).await?;
    let rows = listing.matching(&filters, &user);
    let top_picks = rows.iter().filter(|&&i| listing.is_top_pick(i)).count();
    Ok(TypeCounts {
        all: rows.len(),
        categories: listing
            .value_counts(&rows, Facet::Category, None)
            .into_iter()
            .map(ValueCount::of)
            .collect(),
        top_picks,
    })
}

/// A JSON body, or a 400.
pub(crate) fn body(b: Result<Json<Value>, JsonRejection>) -> ApiResult<Map<String, Value>> {
    match b {
        Ok(Json(Value::Object(m))) => Ok(m),
        Ok(_) => Err(ApiError::bad("body", "expected a JSON object")),
        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::TooLarge)
        }
        Err(e) => Err(ApiError::bad("body", e.body_text())),
    }
}

pub(crate) fn body_path(b: &Map<String, Value>) -> ApiResult<String> {
    match b.get("path") {
        Some(Value::String(p)) if !p.is_empty() => Ok(p.clone()),
        _ => Err(ApiError::bad(
            "path",
            "required (the photo's path, a string)",
        )),
    }
}

fn body_bool(b: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    match b.get(key) {
        Some(Value::Bool(v)) => Ok(*v),
        _ => Err(ApiError::bad(key, "required: true or false")),
    }
}

/// A change to a photo's user state.
enum Change {
    Rating(i32),
    Favorite(bool),
    Rejected(bool),
}

/// `POST /api/rating`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct RatingBody {
    path: String,
    /// Stars; 0 clears the rating.
    #[schema(minimum = 0, maximum = 5)]
    rating: u8,
}

/// `POST /api/favorite`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct FavoriteBody {
    path: String,
    favorite: bool,
}

/// `POST /api/reject`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct RejectBody {
    path: String,
    rejected: bool,
}

/// A photo's user state (after a change).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserState {
    favorite: bool,
    path: String,
    rating: i32,
    rejected: bool,
}

/// `POST /api/rating {"path", "rating": 0-5}`: rate a photo (0 clears the
/// rating).
#[utoipa::path(post, path = "/api/rating", request_body = RatingBody, responses(
    (status = 200, description = "The photo's user state after the change.", body = UserState),
))]
pub async fn rating(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<UserState>> {
    let b = body(b)?;
    let path = body_path(&b)?;
    let rating = match b.get("rating").and_then(Value::as_i64) {
        Some(r) if (0..=5).contains(&r) => r as i32,
        _ => {
            return Err(ApiError::bad(
                "rating",
                "required: a whole number from 0 to 5",
            ));
        }
    };
    update(&state, &who, &path, Change::Rating(rating)).await
}

/// `POST /api/favorite {"path", "favorite": bool}`: mark or unmark a
/// favourite.
#[utoipa::path(post, path = "/api/favorite", request_body = FavoriteBody, responses(
    (status = 200, description = "The photo's user state after the change.", body = UserState),
))]
pub async fn favorite(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<UserState>> {
    let b = body(b)?;
    let path = body_path(&b)?;
    let v = body_bool(&b, "favorite")?;
    update(&state, &who, &path, Change::Favorite(v)).await
}

/// `POST /api/reject {"path", "rejected": bool}`: reject or un-reject a
/// photo.
#[utoipa::path(post, path = "/api/reject", request_body = RejectBody, responses(
    (status = 200, description = "The photo's user state after the change.", body = UserState),
))]
pub async fn reject(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<UserState>> {
    let b = body(b)?;
    let path = body_path(&b)?;
    let v = body_bool(&b, "rejected")?;
    update(&state, &who, &path, Change::Rejected(v)).await
}

/// Reads the photo's user state, applies `change`, writes the whole row to
/// `user_state` (single-user mode) or the member's row of
/// `user_preferences` (upsert by key). Serialised, so concurrent changes to
/// one photo never lose each other.
async fn update(
    state: &AppState,
    who: &Who,
    path: &str,
    change: Change,
) -> ApiResult<Json<UserState>> {
    who.check(path)?;
    let _guard = state.inner.user_state_lock.lock().await;
    let ctx = state.session().await?;
    let known = ctx
        .table(PHOTOS_STORED)
        .await?
        .filter(col("path").eq(lit(path.to_string())))?
        .count()
        .await?;
    if known == 0 {
        return Err(ApiError::NotFound("no such photo".into()));
    }
    let mut current = ctx
        .table(crate::listing::state_table(who))
        .await?
        .filter(col("path").eq(lit(path.to_string())))?;
    if let Some(user) = who.user() {
        current = current.filter(col("user").eq(lit(user.to_string())))?;
    }
    let current = current
        .select_columns(&["rating", "favorite", "rejected"])?
        .collect()
        .await?;
    let (mut rating, mut favorite, mut rejected) = (0, false, false);
    if let Some(b) = current.iter().find(|b| b.num_rows() > 0) {
        let r = b.column(0).as_primitive::<Int32Type>();
        let f = b.column(1).as_boolean();
        let x = b.column(2).as_boolean();
        rating = if r.is_valid(0) { r.value(0) } else { 0 };
        favorite = f.is_valid(0) && f.value(0);
        rejected = x.is_valid(0) && x.value(0);
    }
    match change {
        Change::Rating(r) => rating = r,
        Change::Favorite(v) => favorite = v,
        Change::Rejected(v) => rejected = v,
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let mut columns: Vec<arrow::array::ArrayRef> = Vec::new();
    let table = match who.user() {
        Some(user) => {
            columns.push(Arc::new(StringArray::from(vec![format!("{user}:{path}")])));
            columns.push(Arc::new(StringArray::from(vec![user.to_string()])));
            facet_schemas::user_preferences()
        }
        None => facet_schemas::user_state(),
    };
    columns.extend([
        Arc::new(StringArray::from(vec![path.to_string()])) as arrow::array::ArrayRef,
        Arc::new(Int32Array::from(vec![rating])),
        Arc::new(BooleanArray::from(vec![favorite])),
        Arc::new(BooleanArray::from(vec![rejected])),
        Arc::new(TimestampNanosecondArray::from(vec![now]).with_timezone("UTC")),
    ]);
    let batch = RecordBatch::try_new(table.schema(), columns).map_err(ApiError::internal)?;
    state.store().upsert(&table, batch).await?;
    Ok(Json(UserState {
        favorite,
        path: path.to_string(),
        rating,
        rejected,
    }))
}
