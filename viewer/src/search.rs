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
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::query::Filters;
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
pub(crate) fn config(state: &AppState) -> Value {
    let t = state.text_search();
    json!({
        "available": t.is_some() && state.settings().features.show_semantic_search,
        "column": t.as_ref().map(|t| t.column.clone()),
        "source": t.as_ref().map(|t| t.source.clone()),
    })
}

/// `GET /api/search?q=&limit=` (and the filters of `/api/photos`): the
/// photos nearest to the text by cosine similarity, most similar first, each
/// with its `similarity`. The filters apply to the nearest `4 × limit`.
pub async fn search(State(state): State<AppState>, who: Who, q: Q) -> ApiResult<Json<Value>> {
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
    crate::persons::restrict(&state, &listing, &mut filters).await?;
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
    let mut photos: Vec<Value> = listing
        .rows(&rows, &user)?
        .into_iter()
        .map(|r| Value::Object(photo_json(r)))
        .collect();
    for (photo, s) in photos.iter_mut().zip(similarity) {
        photo["similarity"] = json!(s);
    }
    Ok(Json(json!({"q": text, "photos": photos})))
}
