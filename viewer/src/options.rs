//! `GET /api/filter_options`: the dropdowns' values. Without `field`, the
//! most frequent of each (`viewer.dropdowns` limits); with `field`, every
//! value of one dropdown that contains `q` (case-insensitive), so that the
//! page's searchable filters reach the values past those limits.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;

use crate::AppState;
use crate::api::{Dropdowns, ValueCount, params};
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

/// `/api/filter_options`' query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (`Params`), for 400s naming the parameter
pub struct OptionsParams {
    /// Search one dropdown's values (400 naming `field` for another).
    #[param(schema_with = field_schema, required = false)]
    field: Option<String>,
    /// What the values contain, in any case (needs `field`).
    q: Option<String>,
    /// Most values returned (default: the dropdown's viewer.dropdowns limit
    /// without `q`, 200 with it).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn field_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(FIELDS))
        .build()
}

/// `GET /api/filter_options`' answer: the dropdowns, or with `field` the
/// values of one that match `q`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FilterOptions {
    Dropdowns(Dropdowns),
    Matches(Matches),
}

/// The values of one dropdown containing `q`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Matches {
    field: String,
    q: String,
    /// How many values match.
    total: usize,
    /// The first `limit`, most frequent first.
    values: Vec<ValueCount>,
}

/// `GET /api/filter_options[?field=camera|lens|tag|category[&q=][&limit=]]`:
/// the dropdowns' values with counts, most frequent first
/// (viewer.dropdowns limits);
/// with `field`, `{field, q, total, values}`: the values containing `q`
/// (all when empty) with their counts, most frequent first, at most
/// `limit` (without it, the dropdown's own limit when `q` is empty, else
/// 200), and `total`, how many match. Kept for `viewer.cache_ttl_seconds`.
#[utoipa::path(get, path = "/api/filter_options", params(OptionsParams), responses(
    (status = 200, description = "The options, or with `field` the matching values.", body = FilterOptions),
))]
pub async fn filter_options(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<FilterOptions>> {
    let p = params(q)?;
    let Some(field) = p.str("field") else {
        if p.str("q").is_some() {
            return Err(ApiError::bad(
                "q",
                format!("needs field: one of {}", FIELDS.join(", ")),
            ));
        }
        let d = crate::api::filter_options(State(state), who).await?;
        return Ok(Json(FilterOptions::Dropdowns(d)));
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
        Ok(Matches {
            field,
            q: asked,
            total: matches.len(),
            values: matches
                .into_iter()
                .take(limit)
                .map(ValueCount::of)
                .collect(),
        })
    })
    .await?;
    Ok(Json(FilterOptions::Matches(v)))
}
