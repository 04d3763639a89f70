//! Albums (`viewer.features.show_albums`): manual albums hold the photos a
//! user added (`album_photos`); smart albums are a saved filter of
//! `/api/photos` (its query string), evaluated on every visit. An album
//! belongs to its maker: a member in the multi-user mode (only they see
//! it, and only photos of their folders), everyone in single-user mode.
//!
//! Sharing: `POST /api/album/share` gives a link `/?share=TOKEN`, the
//! album's id and a fresh nonce signed with `share_secret`. Whoever holds
//! it sees that album's photos and nothing else ([`Who::Guest`]): its list
//! (`/api/shared`) and their thumbnails and images. Sharing a shared album
//! gives the same link again (and `GET /api/album` shows it), so the link
//! already sent keeps working; `{"new": true}` replaces the nonce and `POST
//! /api/album/unshare` removes it: older links stop working at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use datafusion::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Photo, body, params, photo_json};
use crate::auth::{Guest, Who};
use crate::error::{ApiError, ApiResult};
use crate::query::{Filters, Page, PageParams, Params};

/// Longest album name.
const MAX_NAME: usize = 200;
/// Most photos one request adds or removes.
const MAX_CHANGE: usize = 1000;

/// One row of `albums`.
#[derive(Debug, Clone)]
pub struct Album {
    pub id: String,
    pub owner: Option<String>,
    pub name: String,
    /// A smart album's saved query string; `None` for a manual album.
    pub query: Option<String>,
    pub share_nonce: Option<String>,
    pub created_at: i64,
}

/// An album as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Album)]
pub struct AlbumJson {
    /// Its photos (those the session sees).
    count: usize,
    id: String,
    /// `manual` or `smart`.
    kind: &'static str,
    name: String,
    /// A smart album's saved /api/photos query string.
    query: Option<String>,
    /// Whether a share link works.
    shared: bool,
}

impl Album {
    fn json(&self, count: usize) -> AlbumJson {
        AlbumJson {
            count,
            id: self.id.clone(),
            kind: if self.query.is_some() {
                "smart"
            } else {
                "manual"
            },
            name: self.name.clone(),
            query: self.query.clone(),
            shared: self.share_nonce.is_some(),
        }
    }
}

/// `GET /api/albums`' answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Albums {
    albums: Vec<AlbumJson>,
}

/// `GET /api/album`'s answer: a page of the album's photos, as /api/photos
/// shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlbumPage {
    album: AlbumJson,
    page: usize,
    per_page: usize,
    photos: Vec<Photo>,
    /// The share link, when shared.
    share_url: Option<String>,
    total: usize,
}

/// `GET /api/shared`'s answer: a page of a shared album's photos.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedPage {
    album: SharedAlbum,
    page: usize,
    per_page: usize,
    photos: Vec<Photo>,
    total: usize,
}

/// What a share link's holder sees of the album.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedAlbum {
    count: usize,
    name: String,
}

/// The body of the album changes: the album's `id`.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`id_of`), for 400s naming the field
pub struct IdBody {
    /// The album's id.
    id: String,
}

/// `POST /api/albums`' body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct CreateBody {
    #[schema(max_length = 200)]
    name: String,
    /// A saved /api/photos query string: a smart album.
    query: Option<String>,
}

/// `POST /api/album/update`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct UpdateBody {
    id: String,
    #[schema(max_length = 200)]
    name: Option<String>,
    /// A smart album's new query string.
    query: Option<String>,
}

/// `POST /api/album/photos`' body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct PhotosBody {
    id: String,
    /// Paths to add (at most 1000).
    add: Option<Vec<String>>,
    /// Paths to remove (at most 1000).
    remove: Option<Vec<String>>,
}

/// `POST /api/album/share`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct ShareBody {
    id: String,
    /// A new link: the older ones stop working.
    new: Option<bool>,
}

/// `POST /api/album/delete`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// The album's id.
    deleted: String,
}

/// `POST /api/album/share`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Shared {
    id: String,
    token: String,
    /// `/?share=TOKEN`.
    url: String,
}

/// `POST /api/album/unshare`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unshared {
    id: String,
    /// false.
    shared: bool,
}

/// `/api/album`'s `id`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct AlbumParam {
    /// The album's id.
    id: String,
}

/// `/api/shared`'s query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the guard and `Params`
pub struct SharedParams {
    /// The link's token.
    share: String,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn random_hex(bytes: usize) -> ApiResult<String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(hex::encode(b))
}

/// Every album (a small table).
async fn all(state: &AppState) -> ApiResult<Vec<Album>> {
    let ctx = state.session().await?;
    let batches = ctx
        .table("albums")
        .await?
        .select_columns(&[
            "album_id",
            "owner",
            "name",
            "query",
            "share_nonce",
            "created_at",
        ])?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let s = |i: usize| b.column(i).as_string::<i32>();
        let (id, owner, name, query, nonce) = (s(0), s(1), s(2), s(3), s(4));
        let created = b.column(5).as_primitive::<TimestampNanosecondType>();
        let opt = |a: &StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
        for r in 0..b.num_rows() {
            out.push(Album {
                id: id.value(r).to_string(),
                owner: opt(owner, r),
                name: name.value(r).to_string(),
                query: opt(query, r),
                share_nonce: opt(nonce, r),
                created_at: if created.is_valid(r) {
                    created.value(r)
                } else {
                    0
                },
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// The album `id` if `who` owns it, else 404.
async fn owned(state: &AppState, who: &Who, id: &str) -> ApiResult<Album> {
    all(state)
        .await?
        .into_iter()
        .find(|a| a.id == id && a.owner.as_deref() == who.user())
        .ok_or_else(|| ApiError::NotFound("no such album".into()))
}

/// A manual album's photo paths.
async fn manual_paths(state: &AppState, id: &str) -> ApiResult<Vec<String>> {
    let ctx = state.session().await?;
    let batches = ctx
        .table("album_photos")
        .await?
        .filter(col("album_id").eq(lit(id.to_string())))?
        .select_columns(&["path"])?
        .collect()
        .await?;
    Ok(batches
        .iter()
        .flat_map(|b| {
            let p = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .filter(|&i| p.is_valid(i))
                .map(|i| p.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect())
}

/// A smart album's saved filter.
fn saved_filters(state: &AppState, query: &str) -> ApiResult<Filters> {
    let map: HashMap<String, String> = Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad("query", "not a query string"))?,
    )
    .map_err(|e| ApiError::bad("query", e.body_text()))?
    .0;
    Filters::parse(&Params(map), state.settings())
}

/// The listing rows of `album` as `owner` sees them (their folders, their
/// ratings for a smart album's rating filters).
async fn rows(state: &AppState, owner: &Who, album: &Album) -> ApiResult<Vec<u32>> {
    let (listing, user) = state.listing(owner).await?;
    Ok(match &album.query {
        Some(q) => listing.matching(&saved_filters(state, q)?, &user),
        None => manual_paths(state, &album.id)
            .await?
            .iter()
            .filter_map(|p| listing.find(p).ok())
            .map(|i| i as u32)
            .filter(|&i| user.visible(i as usize))
            .collect(),
    })
}

/// One page of an album's photos, as `/api/photos` shows them.
async fn page_json(
    state: &AppState,
    owner: &Who,
    album: &Album,
    p: &Params,
) -> ApiResult<AlbumPage> {
    let page = Page::parse(p, state.settings())?;
    let (listing, user) = state.listing(owner).await?;
    let rows = rows(state, owner, album).await?;
    let (rows, total) = listing.sort_page(rows, &page, &user);
    let photos: Vec<Photo> = listing
        .rows(&rows, &user)?
        .into_iter()
        .map(|r| Photo(photo_json(r)))
        .collect();
    // The album's current share link (a guest holds it already).
    let share_url = album
        .share_nonce
        .as_ref()
        .map(|n| format!("/?share={}", state.gate().share_token(&album.id, n)));
    Ok(AlbumPage {
        album: album.json(total),
        page: page.page,
        per_page: page.per_page,
        photos,
        share_url,
        total,
    })
}

fn id_of(b: &Map<String, Value>) -> ApiResult<String> {
    match b.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::bad("id", "required: the album's id")),
    }
}

fn name_of(b: &Map<String, Value>) -> ApiResult<String> {
    match b.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_NAME => {
            Ok(s.trim().to_string())
        }
        _ => Err(ApiError::bad(
            "name",
            format!("required: a name of 1 to {MAX_NAME} characters"),
        )),
    }
}

fn paths_of(b: &Map<String, Value>, key: &str) -> ApiResult<Vec<String>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= MAX_CHANGE => a
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad(key, "expected photo paths (strings)"))
            })
            .collect(),
        _ => Err(ApiError::bad(
            key,
            format!("expected a list of at most {MAX_CHANGE} photo paths"),
        )),
    }
}

async fn write(state: &AppState, album: &Album) -> ApiResult<()> {
    let table = facet_schemas::albums();
    let opt = |v: &Option<String>| StringArray::from(vec![v.clone()]);
    let ts = |v: i64| TimestampNanosecondArray::from(vec![v]).with_timezone("UTC");
    let batch = RecordBatch::try_new(
        table.schema(),
        vec![
            Arc::new(StringArray::from(vec![album.id.clone()])),
            Arc::new(opt(&album.owner)),
            Arc::new(StringArray::from(vec![album.name.clone()])),
            Arc::new(StringArray::from(vec![if album.query.is_some() {
                "smart"
            } else {
                "manual"
            }])),
            Arc::new(opt(&album.query)),
            Arc::new(opt(&album.share_nonce)),
            Arc::new(ts(album.created_at)),
            Arc::new(ts(now_ns())),
        ],
    )
    .map_err(ApiError::internal)?;
    state.store().upsert(&table, batch).await?;
    Ok(())
}

/// `GET /api/albums`: this session's albums (a member's own; everyone's in
/// single-user mode) with their photo counts. Off with
/// viewer.features.show_albums.
#[utoipa::path(get, path = "/api/albums", operation_id = "albums", responses(
    (status = 200, description = "The albums.", body = Albums),
))]
pub async fn list(State(state): State<AppState>, who: Who) -> ApiResult<Json<Albums>> {
    let mut out = Vec::new();
    for a in all(&state).await? {
        if a.owner.as_deref() != who.user() {
            continue;
        }
        let n = rows(&state, &who, &a).await?.len();
        out.push(a.json(n));
    }
    Ok(Json(Albums { albums: out }))
}

/// `POST /api/albums {"name", "query"?}`: a new album, smart when it has a
/// query (checked like `/api/photos`' parameters).
#[utoipa::path(post, path = "/api/albums", operation_id = "create_album", request_body = CreateBody, responses(
    (status = 200, description = "The album.", body = AlbumJson),
))]
pub async fn create(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<AlbumJson>> {
    let b = body(b)?;
    let name = name_of(&b)?;
    let query = match b.get("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) => {
            let q = q.trim_start_matches('?').to_string();
            saved_filters(&state, &q)?;
            Some(q)
        }
        Some(_) => return Err(ApiError::bad("query", "expected a query string")),
    };
    let album = Album {
        id: random_hex(8)?,
        owner: who.user().map(str::to_string),
        name,
        query,
        share_nonce: None,
        created_at: now_ns(),
    };
    write(&state, &album).await?;
    let n = rows(&state, &who, &album).await?.len();
    Ok(Json(album.json(n)))
}

/// `GET /api/album?id=&page=&per_page=&sort=&dir=`: a page of the album's
/// photos, as /api/photos shows them, with `album` and (when shared)
/// `share_url`. 404 for another member's album.
#[utoipa::path(get, path = "/api/album", operation_id = "album", params(AlbumParam, PageParams), responses(
    (status = 200, description = "The page.", body = AlbumPage),
))]
pub async fn show(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<AlbumPage>> {
    let p = params(q)?;
    let id = p
        .str("id")
        .ok_or_else(|| ApiError::bad("id", "required: the album's id"))?;
    let album = owned(&state, &who, id).await?;
    Ok(Json(page_json(&state, &who, &album, &p).await?))
}

/// `POST /api/album/update {"id", "name"?, "query"?}`: rename an album, or
/// change a smart album's query.
#[utoipa::path(post, path = "/api/album/update", operation_id = "update_album", request_body = UpdateBody, responses(
    (status = 200, description = "The album.", body = AlbumJson),
))]
pub async fn update(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<AlbumJson>> {
    let b = body(b)?;
    let mut album = owned(&state, &who, &id_of(&b)?).await?;
    if b.contains_key("name") {
        album.name = name_of(&b)?;
    }
    if let Some(q) = b.get("query") {
        if album.query.is_none() {
            return Err(ApiError::bad("query", "a manual album has no query"));
        }
        let q = q
            .as_str()
            .ok_or_else(|| ApiError::bad("query", "expected a query string"))?
            .trim_start_matches('?')
            .to_string();
        saved_filters(&state, &q)?;
        album.query = Some(q);
    }
    write(&state, &album).await?;
    let n = rows(&state, &who, &album).await?.len();
    Ok(Json(album.json(n)))
}

/// `POST /api/album/photos {"id", "add"?: [paths], "remove"?: [paths]}`: a
/// manual album's photos (at most 1000 a request); each added photo must be
/// one the session sees.
#[utoipa::path(post, path = "/api/album/photos", operation_id = "album_photos", request_body = PhotosBody, responses(
    (status = 200, description = "The album.", body = AlbumJson),
))]
pub async fn photos(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<AlbumJson>> {
    let b = body(b)?;
    let album = owned(&state, &who, &id_of(&b)?).await?;
    if album.query.is_some() {
        return Err(ApiError::bad(
            "id",
            "a smart album's photos come from its query",
        ));
    }
    let (add, remove) = (paths_of(&b, "add")?, paths_of(&b, "remove")?);
    let (listing, _) = state.listing(&who).await?;
    for p in &add {
        if !who.allows(p) || listing.find(p).is_err() {
            return Err(ApiError::NotFound(format!("no such photo: {p}")));
        }
    }
    let table = facet_schemas::album_photos();
    if !add.is_empty() {
        let n = add.len();
        let now = now_ns();
        let batch = RecordBatch::try_new(
            table.schema(),
            vec![
                Arc::new(StringArray::from(
                    add.iter()
                        .map(|p| format!("{}:{p}", album.id))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec![album.id.clone(); n])),
                Arc::new(StringArray::from(add.clone())),
                Arc::new(TimestampNanosecondArray::from(vec![now; n]).with_timezone("UTC")),
            ],
        )
        .map_err(ApiError::internal)?;
        state.store().upsert(&table, batch).await?;
    }
    let keys: Vec<String> = remove.iter().map(|p| format!("{}:{p}", album.id)).collect();
    state.store().delete_keys(&table, &keys).await?;
    write(&state, &album).await?;
    let n = rows(&state, &who, &album).await?.len();
    Ok(Json(album.json(n)))
}

/// `POST /api/album/delete {"id"}`: the album and its photo list (never
/// the photos).
#[utoipa::path(post, path = "/api/album/delete", operation_id = "delete_album", request_body = IdBody, responses(
    (status = 200, description = "`deleted`: the album's id.", body = Deleted),
))]
pub async fn delete(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Deleted>> {
    let b = body(b)?;
    let album = owned(&state, &who, &id_of(&b)?).await?;
    state
        .store()
        .delete_in(
            &facet_schemas::album_photos(),
            "album_id",
            std::slice::from_ref(&album.id),
        )
        .await?;
    state
        .store()
        .delete_keys(&facet_schemas::albums(), std::slice::from_ref(&album.id))
        .await?;
    Ok(Json(Deleted { deleted: album.id }))
}

/// `POST /api/album/share {"id", "new"?: bool}`: the album's link (the
/// current one when shared; with `new`, a new one and older ones stop working).
#[utoipa::path(post, path = "/api/album/share", operation_id = "share_album", request_body = ShareBody, responses(
    (status = 200, description = "The link.", body = Shared),
))]
pub async fn share(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Shared>> {
    let b = body(b)?;
    let mut album = owned(&state, &who, &id_of(&b)?).await?;
    let fresh = match b.get("new") {
        None => false,
        Some(Value::Bool(v)) => *v,
        Some(_) => return Err(ApiError::bad("new", "true or false")),
    };
    // Sharing a shared album gives its link again; only `new` replaces it
    // (and so stops the links already sent).
    let nonce = match (&album.share_nonce, fresh) {
        (Some(n), false) => n.clone(),
        _ => {
            let nonce = random_hex(8)?;
            album.share_nonce = Some(nonce.clone());
            write(&state, &album).await?;
            nonce
        }
    };
    let token = state.gate().share_token(&album.id, &nonce);
    Ok(Json(Shared {
        id: album.id,
        url: format!("/?share={token}"),
        token,
    }))
}

/// `POST /api/album/unshare {"id"}`: every link of the album stops working.
#[utoipa::path(post, path = "/api/album/unshare", operation_id = "unshare_album", request_body = IdBody, responses(
    (status = 200, description = "`id`, `shared`: false.", body = Unshared),
))]
pub async fn unshare(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Unshared>> {
    let b = body(b)?;
    let mut album = owned(&state, &who, &id_of(&b)?).await?;
    album.share_nonce = None;
    write(&state, &album).await?;
    Ok(Json(Unshared {
        id: album.id,
        shared: false,
    }))
}

/// Share links resolved ([`guest`]): token → the table versions it was
/// resolved at and its guest. Bounded: emptied when full.
#[derive(Default)]
pub struct Guests(std::sync::Mutex<std::collections::HashMap<String, Resolved>>);

/// A resolved share link: the table versions it was resolved at, its guest.
type Resolved = (Vec<Option<u64>>, Who);

/// Share links kept resolved at once.
const GUESTS_KEPT: usize = 256;

impl Guests {
    fn get(&self, token: &str, key: &[Option<u64>]) -> Option<Who> {
        let map = self.0.lock().expect("guests lock");
        map.get(token)
            .filter(|(k, _)| k.as_slice() == key)
            .map(|(_, w)| w.clone())
    }

    fn put(&self, token: &str, key: Vec<Option<u64>>, who: Who) {
        let mut map = self.0.lock().expect("guests lock");
        if map.len() >= GUESTS_KEPT {
            map.clear();
        }
        map.insert(token.to_string(), (key, who));
    }
}

/// The guest a share token admits: the album (still shared with this
/// nonce) and the photos it holds as its owner sees them. `None` for a bad,
/// forged or revoked token, or an owner no longer configured.
///
/// Resolved once per version of the tables (the album, the listing, the
/// owner's user state) and kept, so that the thumbnails of a
/// shared page do not each read the albums and filter the library.
pub async fn guest(state: &AppState, token: &str) -> Option<Who> {
    let (id, nonce) = state.gate().verify_share(token)?;
    let key = state.versions().await.ok()?;
    if let Some(who) = state.guests().get(token, &key) {
        return Some(who);
    }
    let who = resolve_guest(state, id, nonce).await?;
    state.guests().put(token, key, who.clone());
    Some(who)
}

async fn resolve_guest(state: &AppState, id: String, nonce: String) -> Option<Who> {
    let album = all(state)
        .await
        .ok()?
        .into_iter()
        .find(|a| a.id == id && a.share_nonce.as_deref() == Some(nonce.as_str()))?;
    let owner = state.gate().owner(album.owner.as_deref())?;
    let rows = rows(state, &owner, &album).await.ok()?;
    let (listing, _) = state.listing(&owner).await.ok()?;
    let paths: HashSet<String> = rows.iter().map(|&i| listing.path(i).to_string()).collect();
    Some(Who::Guest(Arc::new(Guest {
        album: album.id.clone(),
        owner,
        paths,
    })))
}

/// `GET /api/shared?share=TOKEN&page=`: the shared album's photos (for the
/// holder of a share link only); its thumbnails, images and downloads take
/// the same `share` parameter. 404 for a wrong or revoked link.
#[utoipa::path(get, path = "/api/shared", params(SharedParams, PageParams), responses(
    (status = 200, description = "The page, with `album`: name and count.", body = SharedPage),
))]
pub async fn shared(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<SharedPage>> {
    let p = params(q)?;
    let Who::Guest(g) = &who else {
        return Err(ApiError::NotFound(
            "no such shared album (the link is wrong or was revoked)".into(),
        ));
    };
    let album = all(&state)
        .await?
        .into_iter()
        .find(|a| a.id == g.album)
        .ok_or_else(|| ApiError::NotFound("no such shared album".into()))?;
    let v = page_json(&state, &g.owner, &album, &p).await?;
    // A guest sees the album's name and photos, not how it is made.
    Ok(Json(SharedPage {
        album: SharedAlbum {
            count: v.total,
            name: album.name,
        },
        page: v.page,
        per_page: v.per_page,
        photos: v.photos,
        total: v.total,
    }))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use facet_config::FacetConfig;
    use serde_json::{Value, json};

    use crate::tests::{assert_bad, enc, fixture_with, get, get_json, names, post};

    #[tokio::test]
    async fn manual_and_smart_albums() {
        let f = fixture_with(FacetConfig::default()).await;
        let (a, c) = (f.path("a.jpg"), f.path("c.cr2"));
        let (s, v) = post(&f.app, "/api/albums", json!({"name": "  Trip  "})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            (v["name"].clone(), v["kind"].clone(), v["count"].clone()),
            (json!("Trip"), json!("manual"), json!(0))
        );
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 16);

        // Photos in and out; only photos of the library.
        let (s, v) = post(
            &f.app,
            "/api/album/photos",
            json!({"id": id, "add": [a, c]}),
        )
        .await;
        assert_eq!((s, v["count"].clone()), (StatusCode::OK, json!(2)), "{v}");
        let (s, _) = post(
            &f.app,
            "/api/album/photos",
            json!({"id": id, "add": ["/etc/passwd"]}),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, v) = post(&f.app, "/api/album/photos", json!({"id": id, "add": "x"})).await;
        assert_eq!(
            (s, v["param"].clone()),
            (StatusCode::BAD_REQUEST, json!("add"))
        );
        let (s, v) = get_json(&f.app, &format!("/api/album?id={id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(names(&v), ["a.jpg", "c.cr2"], "best first");
        assert_eq!(v["total"], 2);
        let (_, v) = get_json(
            &f.app,
            &format!("/api/album?id={id}&sort=filename&dir=desc"),
        )
        .await;
        assert_eq!(names(&v), ["c.cr2", "a.jpg"]);
        let (_, v) = post(
            &f.app,
            "/api/album/photos",
            json!({"id": id, "remove": [a]}),
        )
        .await;
        assert_eq!(v["count"], 1);

        // A smart album is a saved filter, checked like /api/photos'.
        let (s, v) = post(
            &f.app,
            "/api/albums",
            json!({"name": "Canon", "query": "camera=Canon%20EOS%20R5"}),
        )
        .await;
        assert_eq!(
            (s, v["kind"].clone(), v["count"].clone()),
            (StatusCode::OK, json!("smart"), json!(2)),
            "{v}"
        );
        let smart = v["id"].as_str().unwrap().to_string();
        let (s, v) = post(
            &f.app,
            "/api/albums",
            json!({"name": "x", "query": "min_score=99"}),
        )
        .await;
        assert_eq!(
            (s, v["param"].clone()),
            (StatusCode::BAD_REQUEST, json!("min_score"))
        );
        let (s, _) = post(
            &f.app,
            "/api/album/photos",
            json!({"id": smart, "add": [a]}),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "a smart album takes no photos by hand"
        );
        let (_, v) = post(&f.app, "/api/album/update", json!({"id": smart, "name": "Canon best", "query": "camera=Canon%20EOS%20R5&min_score=8"})).await;
        assert_eq!(
            (v["name"].clone(), v["count"].clone()),
            (json!("Canon best"), json!(1)),
            "{v}"
        );
        // Ratings feed smart albums.
        let (s, _) = post(
            &f.app,
            "/api/albums",
            json!({"name": "Starred", "query": "rating_min=4"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        post(&f.app, "/api/rating", json!({"path": c, "rating": 5})).await;

        let (s, v) = get_json(&f.app, "/api/albums").await;
        assert_eq!(s, StatusCode::OK);
        let counts: Vec<(String, u64)> = v["albums"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("Canon best".to_string(), 1),
                ("Starred".to_string(), 1),
                ("Trip".to_string(), 1)
            ]
        );

        // Bad requests.
        assert_bad(&f, "/api/album", "id").await;
        let (s, _) = get_json(&f.app, "/api/album?id=0000000000000000").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        for body in [
            json!({}),
            json!({"name": ""}),
            json!({"name": "x".repeat(201)}),
        ] {
            let (s, v) = post(&f.app, "/api/albums", body).await;
            assert_eq!(
                (s, v["param"].clone()),
                (StatusCode::BAD_REQUEST, json!("name"))
            );
        }
        let (s, v) = post(&f.app, "/api/album/delete", json!({})).await;
        assert_eq!(
            (s, v["param"].clone()),
            (StatusCode::BAD_REQUEST, json!("id"))
        );

        // Deleting an album keeps its photos.
        let (s, _) = post(&f.app, "/api/album/delete", json!({"id": id})).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = get_json(&f.app, &format!("/api/album?id={id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = get_json(&f.app, "/api/photos").await;
        assert_eq!(v["total"], 4);
    }

    #[tokio::test]
    async fn share_links_open_one_album_until_revoked() {
        let mut config = FacetConfig::default();
        config
            .viewer
            .other
            .insert("password".into(), json!("family photos"));
        config.share_secret = Some("abc123".into());
        let f = fixture_with(config).await;
        // Behind the password, the owner's own requests need a session.
        let (s, cookie) = crate::tests::login(&f.app, "family photos").await;
        assert_eq!(s, StatusCode::OK);
        let cookie = cookie.unwrap();
        let call = |method: &str, uri: &str, body: Option<Value>| {
            let mut r = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("cookie", &cookie);
            if body.is_some() {
                r = r.header("content-type", "application/json");
            }
            r.body(axum::body::Body::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .unwrap()
        };
        let send = |r| crate::tests::send(&f.app, r);
        let (a, b) = (f.path("a.jpg"), f.path("b.png"));
        let (_, _, v) = send(call(
            "POST",
            "/api/albums",
            Some(json!({"name": "For grandma"})),
        ))
        .await;
        let id = serde_json::from_slice::<Value>(&v).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        send(call(
            "POST",
            "/api/album/photos",
            Some(json!({"id": id, "add": [a]})),
        ))
        .await;
        let (s, _, v) = send(call("POST", "/api/album/share", Some(json!({"id": id})))).await;
        assert_eq!(s, StatusCode::OK);
        let token = serde_json::from_slice::<Value>(&v).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();

        // Without a session, the link shows that album and its photos only.
        let (s, v) = get_json(&f.app, &format!("/api/shared?share={token}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(names(&v), ["a.jpg"]);
        assert_eq!(v["album"], json!({"name": "For grandma", "count": 1}));
        for (route, path, want) in [
            ("/thumbnail", &a, StatusCode::OK),
            ("/image", &a, StatusCode::OK),
            ("/thumbnail", &b, StatusCode::NOT_FOUND),
            ("/image", &b, StatusCode::NOT_FOUND),
        ] {
            let (s, _, _) = get(&f.app, &format!("{route}?path={}&share={token}", enc(path))).await;
            assert_eq!(s, want, "{route} {path}");
        }
        for uri in [
            "/api/photos",
            "/api/albums",
            &format!("/api/album?id={id}"),
            &format!("/api/photo?path={}", enc(&a)),
        ] {
            let (s, _, _) = get(
                &f.app,
                &format!(
                    "{uri}{}share={token}",
                    if uri.contains('?') { "&" } else { "?" }
                ),
            )
            .await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{uri}: a share link opens nothing else"
            );
        }
        // A forged or altered token is nothing.
        let last = if token.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &token[..token.len() - 1]);
        assert_ne!(forged, token);
        let (s, _) = get_json(&f.app, &format!("/api/shared?share={forged}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Sharing again gives the same link, shown with the album too.
        let (_, _, v) = send(call("POST", "/api/album/share", Some(json!({"id": id})))).await;
        let again = serde_json::from_slice::<Value>(&v).unwrap()["token"].clone();
        assert_eq!(again, json!(token));
        let (s, _, v) = send(call("GET", &format!("/api/album?id={id}"), None)).await;
        assert_eq!(s, StatusCode::OK);
        let v: Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(v["share_url"], json!(format!("/?share={token}")));
        let (_, v) = get_json(&f.app, &format!("/api/shared?share={token}")).await;
        assert!(v.get("share_url").is_none(), "{v}");
        let (s, _, v) = send(call(
            "POST",
            "/api/album/share",
            Some(json!({"id": id, "new": 1})),
        ))
        .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&v)
        );
        // A new link replaces it; unsharing ends every link.
        let (_, _, v) = send(call(
            "POST",
            "/api/album/share",
            Some(json!({"id": id, "new": true})),
        ))
        .await;
        let second = serde_json::from_slice::<Value>(&v).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(second, token);
        let (s, _) = get_json(&f.app, &format!("/api/shared?share={token}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "the old link is revoked");
        let (s, _) = get_json(&f.app, &format!("/api/shared?share={second}")).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _, _) = send(call("POST", "/api/album/unshare", Some(json!({"id": id})))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = get_json(&f.app, &format!("/api/shared?share={second}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Guests change nothing.
        let (s, _, _) = send(
            axum::http::Request::post(format!("/api/rating?share={second}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"path": a, "rating": 1}).to_string(),
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}
