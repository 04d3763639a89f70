//! Semantic text search (`GET /api/search?q=`): the query is embedded with
//! the text tower of the pipeline's dual encoder (the `zero_shot_tags`
//! stage's `text_model` and `tokenizer`, found by `facet serve --pipeline
//! FILE`), and the photos ranked by cosine similarity of that embedding to
//! their stored image embedding (the stage's `embedding` column) through the
//! store's vector search. Without a text encoder the route answers 404 saying
//! so, and `/api/config` tells the UI to hide the search box.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::DataType;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use facet_stages::onnx::text::TextEncoder;
use facet_store::PHOTOS_STORED;
use serde::Serialize;
use serde_json::json;

use crate::AppState;
use crate::api::{Photo, params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::query::{FilterParams, Filters};
use crate::settings::MAX_PER_PAGE;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// IVF partitions probed (as `/api/similar`).
const NPROBES: usize = 20;
/// Longest query, in characters.
const MAX_QUERY: usize = 500;

/// The text side of the pipeline's dual encoder.
pub struct TextSearch {
    encoder: Mutex<TextEncoder>,
    /// The image-embedding column the text embedding is compared with.
    column: String,
    /// The stage's prompt template (`{}` stands for the query).
    prompt: Option<String>,
    /// Where it came from (pipeline file and stage), for `/api/config`.
    source: String,
}

impl TextSearch {
    pub fn new(
        encoder: TextEncoder,
        column: impl Into<String>,
        prompt: Option<String>,
        source: impl Into<String>,
    ) -> TextSearch {
        TextSearch {
            encoder: Mutex::new(encoder),
            column: column.into(),
            prompt,
            source: source.into(),
        }
    }

    /// The unit embedding of `text` (in the prompt, when the stage has one).
    fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        let text = match &self.prompt {
            Some(p) => p.replace("{}", text),
            None => text.to_string(),
        };
        let mut encoder = self.encoder.lock().unwrap_or_else(|e| e.into_inner());
        encoder
            .embed(&[text])?
            .into_iter()
            .next()
            .ok_or_else(|| "the text model gave no embedding".to_string())
    }
}

impl AppState {
    /// Gives the server a text encoder: `/api/search` answers from then on.
    pub fn with_text_search(self, search: TextSearch) -> AppState {
        let _ = self.inner.text.set(Arc::new(search));
        self
    }

    pub(crate) fn text_search(&self) -> Option<Arc<TextSearch>> {
        self.inner.text.get().cloned()
    }
}

/// What `/api/config` says of search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SearchConfig)]
pub struct SearchConfig {
    /// A text encoder is there and viewer.features.show_semantic_search is on.
    available: bool,
    /// The image-embedding column searched.
    column: Option<String>,
    /// Where the text encoder came from (pipeline file and stage).
    source: Option<String>,
}

/// What `/api/config` says of search.
pub(crate) fn config(state: &AppState) -> SearchConfig {
    let t = state.text_search();
    SearchConfig {
        available: t.is_some() && state.settings().features.show_semantic_search,
        column: t.as_ref().map(|t| t.column.clone()),
        source: t.as_ref().map(|t| t.source.clone()),
    }
}

/// `GET /api/search`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    /// The photos, most similar first, each with `similarity`.
    photos: Vec<Photo>,
    /// The query.
    q: String,
}

/// `/api/search`'s own query parameters (the filters of `/api/photos` too).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct SearchParams {
    /// What to look for, in words.
    #[param(max_length = 500)]
    q: String,
    /// Most photos returned (default viewer.pagination.default_per_page).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// `GET /api/search?q=&limit=` (and the filters of `/api/photos`): the
/// photos nearest to the text by cosine similarity, most similar first, each
/// with its `similarity`. The filters apply to the nearest `4 × limit`.
///
/// The query is embedded by the pipeline's text encoder (`facet serve
/// --pipeline`; the zero_shot_tags stage's text model); 404 when the server
/// has none. Off with viewer.features.show_semantic_search.
#[utoipa::path(get, path = "/api/search", params(SearchParams, FilterParams), responses(
    (status = 200, description = "The photos, each with `similarity` (the cosine).", body = SearchAnswer),
    (status = 409, description = "The library has no image embeddings from the same encoder.", body = ErrorBody),
))]
pub async fn search(
    State(state): State<AppState>,
    who: Who,
    q: Q,
) -> ApiResult<Json<SearchAnswer>> {
    let p = params(q)?;
    let s = state.settings();
    let text = p
        .str("q")
        .ok_or_else(|| ApiError::bad("q", "required: what to look for, in words"))?
        .to_string();
    if text.chars().count() > MAX_QUERY {
        return Err(ApiError::bad(
            "q",
            format!("at most {MAX_QUERY} characters"),
        ));
    }
    let limit = p
        .uint_in("limit", 1, MAX_PER_PAGE as u64)?
        .map_or(s.default_per_page, |v| v as usize);
    let mut filters = Filters::parse(&p, s)?;
    let Some(ts) = state.text_search() else {
        return Err(ApiError::NotFound(
            "semantic search needs a text encoder: start `facet serve --pipeline FILE` with the \
             pipeline whose zero_shot_tags stage names the text model and tokenizer"
                .into(),
        ));
    };
    let ctx = state.session().await?;
    let stored = ctx.table(PHOTOS_STORED).await?;
    let dim = match stored.schema().field_with_unqualified_name(&ts.column) {
        Ok(f) => match f.data_type() {
            DataType::FixedSizeList(_, n) => Some(*n as usize),
            _ => None,
        },
        Err(_) => {
            return Err(ApiError::Unavailable(format!(
                "the library has no `{}` column: run the pipeline on the photos first",
                ts.column
            )));
        }
    };
    let encoder = ts.clone();
    let query = text.clone();
    let vector = tokio::task::spawn_blocking(move || encoder.embed(&query))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if let Some(n) = dim
        && n != vector.len()
    {
        return Err(ApiError::Unavailable(format!(
            "the text model gives {}-d embeddings, the `{}` column holds {n}-d ones: not the same encoder",
            vector.len(),
            ts.column
        )));
    }
    let (listing, user) = state.listing(&who).await?;
    crate::persons::restrict(&state, &who, &listing, &mut filters).await?;
    let mut keep = vec![false; listing.len()];
    for i in listing.matching(&filters, &user) {
        keep[i as usize] = true;
    }
    // A member sees their folders' photos only: look further.
    let spread = if who.scope().is_some() { 16 } else { 4 };
    let k = limit.saturating_mul(spread).min(spread * MAX_PER_PAGE);
    let found = state
        .store()
        .nearest("photos", &ts.column, &[&vector], k, 2.0, NPROBES)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let (rows, similarity): (Vec<u32>, Vec<f32>) = found
        .into_iter()
        .filter_map(|(p, d)| Some((listing.find(&p).ok()? as u32, 1.0 - d)))
        .filter(|(i, _)| keep[*i as usize])
        .take(limit)
        .unzip();
    let photos: Vec<Photo> = listing
        .rows(&rows, &user)?
        .into_iter()
        .zip(similarity)
        .map(|(r, s)| {
            let mut r = photo_json(r);
            r.insert("similarity".into(), json!(s));
            Photo(r)
        })
        .collect();
    Ok(Json(SearchAnswer { photos, q: text }))
}
