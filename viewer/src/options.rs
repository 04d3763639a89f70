//! `GET /api/filter_options`: the dropdowns' values. Without `field`, the
//! most frequent of each (`viewer.dropdowns` limits); with `field`, every
//! value of one dropdown that contains `q` (case-insensitive), so that the
//! page's searchable filters reach the values past those limits.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::params;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::listing::Facet;
use crate::query::Filters;

/// Most values one search answers (`limit`'s upper bound).
pub(crate) const MAX_MATCHES: u64 = 1000;
/// Values a search answers without `limit` when `q` is given.
const DEFAULT_MATCHES: usize = 200;

/// The searchable fields, as `field=` names them.
pub(crate) const FIELDS: [&str; 4] = ["camera", "lens", "tag", "category"];

/// `GET /api/filter_options[?field=camera|lens|tag|category[&q=][&limit=]]`:
/// with `field`, `{field, q, total, values}`: the values containing `q`
/// (all when empty) with their counts, most frequent first, at most
/// `limit` (without it, the dropdown's own limit when `q` is empty, else
/// 200), and `total`, how many match. Kept for `viewer.cache_ttl_seconds`.
pub async fn filter_options(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let Some(field) = p.str("field") else {
        if p.str("q").is_some() {
            return Err(ApiError::bad(
                "q",
                format!("needs field: one of {}", FIELDS.join(", ")),
            ));
        }
        return crate::api::filter_options(State(state), who).await;
    };
    let s = state.settings();
    let (facet, cap) = match field {
        "camera" => (Facet::Camera, s.max_cameras),
        "lens" => (Facet::Lens, s.max_lenses),
        "tag" => (Facet::Tag, s.max_tags),
        "category" => (Facet::Category, s.max_categories),
        other => {
            return Err(ApiError::bad(
                "field",
                format!("expected one of {}, got {other:?}", FIELDS.join(", ")),
            ));
        }
    };
    let asked = p.str("q").unwrap_or("").to_string();
    let needle = asked.to_lowercase();
    let default = if needle.is_empty() {
        cap
    } else {
        DEFAULT_MATCHES
    };
    let limit = p
        .uint_in("limit", 1, MAX_MATCHES)?
        .map_or(default, |v| v as usize);
    let key = format!(
        "{}:filter_options?{field}&{limit}&{needle}",
        crate::cache::owner(&who)
    );
    let field = field.to_string();
    let v = crate::cache::cached(&state, key, || async {
        let (listing, user) = state.listing(&who).await?;
        let rows = listing.matching(&Filters::default(), &user);
        let matches: Vec<(String, i64)> = listing
            .value_counts(&rows, facet, None)
            .into_iter()
            .filter(|(v, _)| v.to_lowercase().contains(&needle))
            .collect();
        Ok(json!({
            "field": field,
            "q": asked,
            "total": matches.len(),
            "values": matches
                .iter()
                .take(limit)
                .map(|(value, count)| json!({"value": value, "count": count}))
                .collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(v))
}
