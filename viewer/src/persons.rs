//! People (`persons`, found by `facet faces cluster`): `GET /api/persons`
//! lists them with their face and photo counts, `GET /api/persons/thumbnail`
//! serves a person's representative face crop (the `faces` table's
//! `thumbnail`), and three edits change them: rename, hide (or show) and
//! merge. A person's photos are `/api/photos?person=ID` (see
//! [`person_rows`]).
//!
//! Edits rewrite the small `persons` table whole (as `facet faces` does); a
//! merge also moves the merged person's faces (`faces.person_id`) and records
//! them as manual assignments (`face_assignments`), so that the next
//! clustering keeps them together.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{Float32Type, Int64Type, Schema};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::params;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::listing::Listing;
use crate::query::{Params, has_column};

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// A row of `persons`.
#[derive(Debug, Clone)]
struct Person {
    person_id: i64,
    name: Option<String>,
    representative_face: Option<String>,
    face_count: i64,
    centroid: Option<Vec<f32>>,
    hidden: bool,
    updated_at: Option<i64>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

async fn read_persons(ctx: &SessionContext) -> ApiResult<Vec<Person>> {
    let batches = ctx.table("persons").await?.collect().await?;
    let mut out = Vec::new();
    for b in &batches {
        let text = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>().clone());
        let (Some(ids), Some(names), Some(reps)) = (
            b.column_by_name("person_id")
                .and_then(|c| c.as_primitive_opt::<Int64Type>()),
            text("name"),
            text("representative_face"),
        ) else {
            continue;
        };
        let counts = b
            .column_by_name("face_count")
            .and_then(|c| c.as_primitive_opt::<Int64Type>());
        let hidden = b.column_by_name("hidden").and_then(|c| c.as_boolean_opt());
        let centroid = b
            .column_by_name("centroid")
            .and_then(|c| c.as_list_opt::<i32>());
        let updated = b.column_by_name("updated_at").map(|c| {
            c.as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                .clone()
        });
        for i in 0..b.num_rows() {
            if ids.is_null(i) {
                continue;
            }
            let opt = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
            out.push(Person {
                person_id: ids.value(i),
                name: opt(&names),
                representative_face: opt(&reps),
                face_count: counts.filter(|c| c.is_valid(i)).map_or(0, |c| c.value(i)),
                centroid: centroid.filter(|c| c.is_valid(i)).and_then(|c| {
                    c.value(i)
                        .as_primitive_opt::<Float32Type>()
                        .map(|v| v.values().to_vec())
                }),
                hidden: hidden.is_some_and(|h| h.is_valid(i) && h.value(i)),
                updated_at: updated
                    .as_ref()
                    .filter(|u| u.is_valid(i))
                    .map(|u| u.value(i)),
            });
        }
    }
    out.sort_by_key(|p| p.person_id);
    Ok(out)
}

/// The named people the gallery shows (not hidden): id and name, by id.
pub(crate) async fn named(ctx: &SessionContext) -> ApiResult<Vec<(i64, String)>> {
    Ok(read_persons(ctx)
        .await?
        .into_iter()
        .filter(|p| !p.hidden)
        .filter_map(|p| Some((p.person_id, p.name?)))
        .filter(|(_, n)| !n.trim().is_empty())
        .collect())
}

async fn write_persons(state: &AppState, persons: &[Person]) -> ApiResult<()> {
    let t = facet_schemas::persons();
    let mut centroid = ListBuilder::new(arrow::array::Float32Builder::new());
    for p in persons {
        match &p.centroid {
            Some(c) => {
                centroid.values().append_slice(c);
                centroid.append(true);
            }
            None => centroid.append(false),
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            persons.iter().map(|p| p.person_id),
        )),
        Arc::new(StringArray::from_iter(
            persons.iter().map(|p| p.name.clone()),
        )),
        Arc::new(StringArray::from_iter(
            persons.iter().map(|p| p.representative_face.clone()),
        )),
        Arc::new(Int64Array::from_iter_values(
            persons.iter().map(|p| p.face_count),
        )),
        Arc::new(centroid.finish()),
        Arc::new(BooleanArray::from_iter(
            persons.iter().map(|p| Some(p.hidden)),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter(persons.iter().map(|p| p.updated_at))
                .with_timezone("UTC"),
        ),
    ];
    // The declared schema, with the list item field the builder makes.
    let fields: Vec<_> = t
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(ApiError::internal)?;
    state.store().replace(&t, batch).await?;
    Ok(())
}

/// Per person, among the photos a session may see: its distinct photos and
/// (for a member) its faces. Counts are always computed within the
/// session's scope: a member never learns how many faces or photos of a
/// person lie in another member's folders.
#[derive(Debug, Default)]
struct Counts {
    photos: HashMap<i64, i64>,
    /// `None`: every photo is visible, the stored `face_count` stands.
    faces: Option<HashMap<i64, i64>>,
}

impl Counts {
    fn photos(&self, id: i64) -> i64 {
        self.photos.get(&id).copied().unwrap_or(0)
    }

    fn faces(&self, p: &Person) -> i64 {
        match &self.faces {
            Some(f) => f.get(&p.person_id).copied().unwrap_or(0),
            None => p.face_count,
        }
    }
}

/// The [`Counts`] of the faces with a `person_id` among the photos `who`
/// may see.
async fn counts(ctx: &SessionContext, who: &Who) -> ApiResult<Counts> {
    let faces = ctx.table("faces").await?;
    if who.scope().is_some() {
        // A member: their folders' photos only.
        let batches = faces
            .filter(col("person_id").is_not_null())?
            .select_columns(&["person_id", "path"])?
            .collect()
            .await?;
        let mut seen = std::collections::HashSet::new();
        let mut photos = HashMap::new();
        let mut faces = HashMap::new();
        for b in &batches {
            let ids = b.column(0).as_primitive::<Int64Type>();
            let paths = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                if !paths.is_valid(i) || !who.allows(paths.value(i)) {
                    continue;
                }
                *faces.entry(ids.value(i)).or_insert(0) += 1;
                if seen.insert((ids.value(i), paths.value(i).to_string())) {
                    *photos.entry(ids.value(i)).or_insert(0) += 1;
                }
            }
        }
        return Ok(Counts {
            photos,
            faces: Some(faces),
        });
    }
    let batches = faces
        .filter(col("person_id").is_not_null())?
        .aggregate(
            vec![col("person_id")],
            vec![count_distinct(col("path")).alias("photos")],
        )?
        .collect()
        .await?;
    let mut photos = HashMap::new();
    for b in &batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            photos.insert(ids.value(i), n.value(i));
        }
    }
    Ok(Counts {
        photos,
        faces: None,
    })
}

/// A person as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Person)]
pub struct PersonJson {
    face_count: i64,
    /// Merges only: its faces that moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    faces_moved: Option<usize>,
    hidden: bool,
    /// Merges only: the id removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    merged: Option<i64>,
    name: Option<String>,
    person_id: i64,
    photo_count: i64,
    representative_face: Option<String>,
    /// The URL of the face crop.
    thumbnail: String,
}

fn person_json(p: &Person, counts: &Counts) -> PersonJson {
    PersonJson {
        face_count: counts.faces(p),
        faces_moved: None,
        hidden: p.hidden,
        merged: None,
        name: p.name.clone(),
        person_id: p.person_id,
        photo_count: counts.photos(p.person_id),
        representative_face: p.representative_face.clone(),
        thumbnail: format!("/api/persons/thumbnail?person_id={}", p.person_id),
    }
}

/// `GET /api/persons`' answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Persons {
    /// Hidden people (all, within the member's folders).
    hidden: usize,
    persons: Vec<PersonJson>,
    /// How many match (before `limit`).
    total: usize,
}

/// `/api/persons`' query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct PersonsParams {
    /// Also the hidden people (default false).
    include_hidden: Option<bool>,
    /// Only people in at least this many photos.
    min_photos: Option<u32>,
    /// Most people returned.
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<u32>,
}

/// `GET /api/persons[?include_hidden=&min_photos=&limit=]`: the people found
/// by face clustering, most photographed first (then by id), each with its
/// name, face and photo counts, whether hidden, and its thumbnail's URL.
/// Hidden people are left out unless `include_hidden`. Their photos:
/// /api/photos?person=ID.
#[utoipa::path(get, path = "/api/persons", operation_id = "persons", params(PersonsParams), responses(
    (status = 200, description = "The people.", body = Persons),
))]
pub async fn list(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<Persons>> {
    let p = params(q)?;
    let include_hidden = p.bool("include_hidden")?.unwrap_or(false);
    let min_photos = p.uint_in("min_photos", 0, u32::MAX as u64)?.unwrap_or(0) as i64;
    let limit = p.uint_in("limit", 1, 100_000)?.map(|v| v as usize);
    let key = format!(
        "{}:persons?{include_hidden}&{min_photos}&{limit:?}",
        crate::cache::owner(&who)
    );
    let v = crate::cache::cached(&state, key, || async {
        let ctx = state.session().await?;
        let (persons, counts) = tokio::try_join!(read_persons(&ctx), counts(&ctx, &who))?;
        // A member sees the people of their folders' photos only.
        let member = who.scope().is_some();
        let mut shown: Vec<(&Person, i64)> = persons
            .iter()
            .filter(|p| include_hidden || !p.hidden)
            .map(|p| (p, counts.photos(p.person_id)))
            .filter(|(_, n)| *n >= min_photos && (!member || *n > 0))
            .collect();
        shown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.person_id.cmp(&b.0.person_id)));
        let total = shown.len();
        if let Some(l) = limit {
            shown.truncate(l);
        }
        Ok(Persons {
            // Within the member's folders, as the list.
            hidden: persons
                .iter()
                .filter(|p| p.hidden && (!member || counts.photos(p.person_id) > 0))
                .count(),
            persons: shown.iter().map(|(p, _)| person_json(p, &counts)).collect(),
            total,
        })
    })
    .await?;
    Ok(Json(v))
}

/// The `person_id` query parameter.
fn person_param(p: &Params) -> ApiResult<i64> {
    match p.str("person_id") {
        None => Err(ApiError::bad("person_id", "required (a person's id)")),
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad("person_id", format!("expected a whole number, got {s:?}"))),
    }
}

/// The one answer for a person that does not exist and for one `who` may
/// not see (an id's existence is not told to those who cannot see it).
fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no person {id}"))
}

/// A member (a session with a scope) sees a person when one of its faces is
/// in a photo of their folders; else the person is [`not_found`] for them —
/// whether they read it or, as an admin, change it.
async fn check_visible(ctx: &SessionContext, who: &Who, ids: &[i64]) -> ApiResult<()> {
    if who.scope().is_none() {
        return Ok(());
    }
    let counts = counts(ctx, who).await?;
    match ids.iter().find(|&&id| counts.photos(id) == 0) {
        Some(&id) => Err(not_found(id)),
        None => Ok(()),
    }
}

/// The `person_id` query parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`person_param`), for 400s naming it
pub struct PersonParam {
    /// The person's id (`persons.person_id`).
    person_id: i64,
}

/// `GET /api/persons/thumbnail?person_id=`: the JPEG crop of the person's
/// representative face (faces.thumbnail), else of its most confident face
/// with a crop.
#[utoipa::path(get, path = "/api/persons/thumbnail", operation_id = "person_thumbnail", params(PersonParam), responses(
    (status = 200, description = "The face crop.", content_type = "image/jpeg", body = crate::files::Binary),
))]
pub async fn thumbnail(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Response> {
    let p = params(q)?;
    let id = person_param(&p)?;
    let ctx = state.session().await?;
    let persons = read_persons(&ctx).await?;
    let person = persons
        .iter()
        .find(|x| x.person_id == id)
        .ok_or_else(|| not_found(id))?;
    let faces = ctx.table("faces").await?;
    // The first face of `batches` in a photo this session may see.
    let pick = |batches: &[RecordBatch]| -> ApiResult<Option<(String, Vec<u8>)>> {
        for b in batches {
            let ids = b.column(0).as_string::<i32>();
            let paths = b.column(1).as_string::<i32>();
            let thumbs = b
                .column(2)
                .as_binary_opt::<i32>()
                .ok_or_else(|| ApiError::internal("faces.thumbnail is not binary"))?;
            for i in 0..b.num_rows() {
                if paths.is_valid(i) && who.allows(paths.value(i)) {
                    return Ok(Some((ids.value(i).to_string(), thumbs.value(i).to_vec())));
                }
            }
        }
        Ok(None)
    };
    let columns = ["face_id", "path", "thumbnail"];
    let rep = match &person.representative_face {
        Some(f) => {
            let b = faces
                .clone()
                .filter(col("face_id").eq(lit(f.clone())))?
                .filter(col("thumbnail").is_not_null())?
                .select_columns(&columns)?
                .limit(0, Some(1))?
                .collect()
                .await?;
            pick(&b)?
        }
        None => None,
    };
    let found = match rep {
        Some(r) => Some(r),
        None => {
            let mut df = faces
                .filter(col("person_id").eq(lit(id)))?
                .filter(col("thumbnail").is_not_null())?
                .sort(vec![
                    col("confidence").sort(false, false),
                    col("face_id").sort(true, false),
                ])?
                .select_columns(&columns)?;
            if who.scope().is_none() {
                df = df.limit(0, Some(1))?;
            }
            pick(&df.collect().await?)?
        }
    };
    let Some((face, bytes)) = found else {
        // The same answer as for no person: a person whose faces are all in
        // photos this session may not see does not exist for it, and one
        // without a crop must not tell otherwise.
        return Err(not_found(id));
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"face-{}\"", hex_id(&face))) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

/// A short stable tag of a face id (ETag-safe characters only).
fn hex_id(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A JSON body, or a 400.
fn body(b: Result<Json<Value>, JsonRejection>) -> ApiResult<Map<String, Value>> {
    match b {
        Ok(Json(Value::Object(m))) => Ok(m),
        Ok(_) => Err(ApiError::bad("body", "expected a JSON object")),
        Err(e) => Err(ApiError::bad("body", e.body_text())),
    }
}

fn body_id(b: &Map<String, Value>, key: &str) -> ApiResult<i64> {
    b.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad(key, "required: a person's id (a whole number)"))
}

/// Reads the persons, applies `edit` to them (under the edit lock), writes
/// them back; answers the edited person.
async fn edit(
    state: &AppState,
    who: &Who,
    id: i64,
    edit: impl FnOnce(&mut Person) -> ApiResult<()>,
) -> ApiResult<Json<PersonJson>> {
    let _guard = state.inner.user_state_lock.lock().await;
    let ctx = state.session().await?;
    let mut persons = read_persons(&ctx).await?;
    let person = persons
        .iter_mut()
        .find(|p| p.person_id == id)
        .ok_or_else(|| not_found(id))?;
    check_visible(&ctx, who, &[id]).await?;
    edit(person)?;
    person.updated_at = Some(now_ns());
    let edited = person.clone();
    write_persons(state, &persons).await?;
    let counts = counts(&state.session().await?, who).await?;
    Ok(Json(person_json(&edited, &counts)))
}

/// `POST /api/persons/rename`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct RenameBody {
    person_id: i64,
    /// The name; empty or null removes it.
    #[schema(max_length = 200)]
    name: Option<String>,
}

/// `POST /api/persons/hide`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct HideBody {
    person_id: i64,
    hidden: bool,
}

/// `POST /api/persons/merge`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct MergeBody {
    /// The person kept.
    into: i64,
    /// The person merged into `into`, then removed.
    from: i64,
}

/// `POST /api/persons/rename {"person_id", "name"}`: names a person (an
/// empty name or null removes the name).
#[utoipa::path(post, path = "/api/persons/rename", request_body = RenameBody, responses(
    (status = 200, description = "The person after the change.", body = PersonJson),
))]
pub async fn rename(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<PersonJson>> {
    let b = body(b)?;
    let id = body_id(&b, "person_id")?;
    let name = match b.get("name") {
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > 200 {
                return Err(ApiError::bad("name", "at most 200 characters"));
            }
            (!s.is_empty()).then(|| s.to_string())
        }
        Some(Value::Null) => None,
        _ => return Err(ApiError::bad("name", "required: a string (empty: no name)")),
    };
    edit(&state, &who, id, |p| {
        p.name = name;
        Ok(())
    })
    .await
}

/// `POST /api/persons/hide {"person_id", "hidden"}`: hides (or shows) a person.
#[utoipa::path(post, path = "/api/persons/hide", request_body = HideBody, responses(
    (status = 200, description = "The person after the change.", body = PersonJson),
))]
pub async fn hide(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<PersonJson>> {
    let b = body(b)?;
    let id = body_id(&b, "person_id")?;
    let Some(hidden) = b.get("hidden").and_then(Value::as_bool) else {
        return Err(ApiError::bad("hidden", "required: true or false"));
    };
    edit(&state, &who, id, |p| {
        p.hidden = hidden;
        Ok(())
    })
    .await
}

/// `POST /api/persons/merge {"into", "from"}`: the faces of person `from`
/// become `into`'s (and stay so: manual assignments), `from` is removed;
/// `into` keeps its name (else takes `from`'s), its face count is the sum and
/// its centroid the faces' mean.
#[utoipa::path(post, path = "/api/persons/merge", request_body = MergeBody, responses(
    (status = 200, description = "The merged person, with `merged` (the id removed) and `faces_moved`.", body = PersonJson),
))]
pub async fn merge(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<PersonJson>> {
    let b = body(b)?;
    let into = body_id(&b, "into")?;
    let from = body_id(&b, "from")?;
    if into == from {
        return Err(ApiError::bad("from", "a person is not merged with itself"));
    }
    let _guard = state.inner.user_state_lock.lock().await;
    let ctx = state.session().await?;
    let mut persons = read_persons(&ctx).await?;
    let a = persons
        .iter()
        .position(|p| p.person_id == into)
        .ok_or_else(|| not_found(into))?;
    let f = persons
        .iter()
        .position(|p| p.person_id == from)
        .ok_or_else(|| not_found(from))?;
    check_visible(&ctx, &who, &[into, from]).await?;
    // The faces of `from`, moved and pinned.
    let moved = ctx
        .table("faces")
        .await?
        .filter(col("person_id").eq(lit(from)))?
        .select_columns(&["face_id"])?
        .collect()
        .await?;
    let ids: Vec<String> = moved
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    if !ids.is_empty() {
        let faces_t = facet_schemas::faces();
        let schema = Arc::new(Schema::new(vec![
            faces_t.column("face_id").expect("declared").field(),
            faces_t.column("person_id").expect("declared").field(),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.clone())),
                Arc::new(Int64Array::from(vec![into; ids.len()])),
            ],
        )
        .map_err(ApiError::internal)?;
        state.store().update_columns(&faces_t, batch).await?;
        let t = facet_schemas::face_assignments();
        let now = now_ns();
        let batch = RecordBatch::try_new(
            t.schema(),
            vec![
                Arc::new(StringArray::from(ids.clone())),
                Arc::new(Int64Array::from(vec![into; ids.len()])),
                Arc::new(TimestampNanosecondArray::from(vec![now; ids.len()]).with_timezone("UTC")),
            ],
        )
        .map_err(ApiError::internal)?;
        state.store().upsert(&t, batch).await?;
    }
    let gone = persons[f].clone();
    let kept = &mut persons[a];
    let (wa, wb) = (kept.face_count.max(0) as f32, gone.face_count.max(0) as f32);
    kept.centroid = match (kept.centroid.take(), &gone.centroid) {
        (Some(x), Some(y)) if x.len() == y.len() && wa + wb > 0.0 => {
            let mut m: Vec<f32> = x.iter().zip(y).map(|(x, y)| x * wa + y * wb).collect();
            let norm = m.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                m.iter_mut().for_each(|v| *v /= norm);
            }
            Some(m)
        }
        (x, y) => x.or_else(|| y.clone()),
    };
    kept.face_count += gone.face_count.max(0);
    if kept.name.is_none() {
        kept.name = gone.name.clone();
    }
    if kept.representative_face.is_none() {
        kept.representative_face = gone.representative_face.clone();
    }
    kept.updated_at = Some(now_ns());
    let merged = kept.clone();
    persons.remove(f);
    write_persons(&state, &persons).await?;
    let counts = counts(&state.session().await?, &who).await?;
    let mut out = person_json(&merged, &counts);
    out.merged = Some(from);
    out.faces_moved = Some(ids.len());
    Ok(Json(out))
}

/// The listing rows of the photos showing person `id` (ascending), or 404
/// when there is no such person: `/api/photos?person=`.
pub(crate) async fn person_rows(
    state: &AppState,
    listing: &Listing,
    id: i64,
) -> ApiResult<Vec<u32>> {
    let ctx = state.session().await?;
    let persons = ctx.table("persons").await?;
    let known = persons
        .filter(col("person_id").eq(lit(id)))?
        .aggregate(vec![], vec![count(lit(1)).alias("n")])?
        .collect()
        .await?;
    let n = known
        .first()
        .filter(|b| b.num_rows() > 0)
        .map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0));
    if n == 0 {
        return Err(not_found(id));
    }
    let faces = ctx.table("faces").await?;
    if !has_column(&faces, "person_id") {
        return Ok(Vec::new());
    }
    let batches = faces
        .filter(col("person_id").eq(lit(id)))?
        .select_columns(&["path"])?
        .collect()
        .await?;
    let mut rows: Vec<u32> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .filter_map(|i| listing.find(a.value(i)).ok().map(|r| r as u32))
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

/// Restricts `filters` to the photos of their `person` (404 for an unknown
/// person, and the same 404 for a person `who` may not see); nothing when
/// no person is asked for.
pub(crate) async fn restrict(
    state: &AppState,
    who: &Who,
    listing: &Listing,
    filters: &mut crate::query::Filters,
) -> ApiResult<()> {
    if let Some(id) = filters.person {
        check_visible(&state.session().await?, who, &[id]).await?;
        filters.only = Some(person_rows(state, listing, id).await?);
    }
    Ok(())
}
