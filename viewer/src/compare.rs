//! Comparison mode (`viewer.comparison_mode`): `GET /api/comparison/pair`
//! picks two photos of a category to compare (`pair_selection_strategy`),
//! `POST /api/comparison` records the choice in the `comparisons` table, and
//! `GET /api/comparison/suggestion` fits the category's weights to the choices
//! (Bradley–Terry, see `facet_stages::score::compare`) once there are
//! `min_comparisons_for_optimization` of them, beside the current weights.
//! `facet compare apply CATEGORY` writes suggested weights into the
//! configuration and re-scores.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::Float64Type;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use datafusion::prelude::*;
use facet_config::FacetConfig;
use facet_stages::score::compare::{self, Candidate, Choice, Strategy};
use facet_store::Store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::json::filename;

/// `viewer.comparison_mode`, with the reference's defaults.
#[derive(Debug, Clone)]
pub struct ComparisonSettings {
    pub min_comparisons_for_optimization: usize,
    pub strategy: Strategy,
    pub show_current_scores: bool,
}

impl ComparisonSettings {
    pub fn from_config(config: &FacetConfig) -> ComparisonSettings {
        let c = config.viewer.other.get("comparison_mode");
        let get = |k: &str| c.and_then(|c| c.get(k));
        ComparisonSettings {
            min_comparisons_for_optimization: get("min_comparisons_for_optimization")
                .and_then(Value::as_u64)
                .unwrap_or(50) as usize,
            strategy: get("pair_selection_strategy")
                .and_then(Value::as_str)
                .and_then(Strategy::parse)
                .unwrap_or(Strategy::Uncertainty),
            show_current_scores: get("show_current_scores")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        }
    }
}

/// A category's photos with their critique's metric values.
async fn candidates(ctx: &SessionContext, category: &str) -> ApiResult<Vec<Candidate>> {
    let batches = ctx
        .table("scores")
        .await?
        .filter(col("category").eq(lit(category.to_string())))?
        .select_columns(&["path", "aggregate", "score_breakdown"])?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let paths = b.column(0).as_string::<i32>();
        let aggregate = b.column(1).as_primitive::<Float64Type>();
        let breakdown = b.column(2).as_string::<i32>();
        for r in 0..b.num_rows() {
            let mut metrics = BTreeMap::new();
            if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(breakdown.value(r)) {
                for i in items {
                    if let (Some(m), Some(v)) = (
                        i.get("metric").and_then(Value::as_str),
                        i.get("normalized").and_then(Value::as_f64),
                    ) {
                        metrics.insert(m.to_string(), v);
                    }
                }
            }
            out.push(Candidate {
                path: paths.value(r).to_string(),
                category: category.to_string(),
                aggregate: aggregate.value(r),
                metrics,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The choices made in `category`: by `user` only when given (a member of
/// the multi-user mode), else everyone's.
async fn choices(
    ctx: &SessionContext,
    category: &str,
    user: Option<&str>,
) -> ApiResult<Vec<Choice>> {
    let mut df = ctx
        .table("comparisons")
        .await?
        .filter(col("category").eq(lit(category.to_string())))?;
    if let Some(user) = user {
        if !crate::query::has_column(&df, "user") {
            return Ok(Vec::new());
        }
        df = df.filter(col("user").eq(lit(user.to_string())))?;
    }
    let batches = df
        .select_columns(&["winner", "loser", "tie"])?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let (w, l, t) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_boolean(),
        );
        for r in 0..b.num_rows() {
            out.push(Choice {
                winner: w.value(r).to_string(),
                loser: l.value(r).to_string(),
                tie: t.is_valid(r) && t.value(r),
            });
        }
    }
    Ok(out)
}

fn category_param(q: &HashMap<String, String>, config: &FacetConfig) -> ApiResult<String> {
    let c = q
        .get("category")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad("category", "required: the category to compare in"))?;
    if !config.categories.iter().any(|k| k.name == *c) {
        return Err(ApiError::bad("category", format!("no category `{c}`")));
    }
    Ok(c.clone())
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<HashMap<String, String>> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad("query", e.body_text()))
}

fn strategy_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(Strategy::NAMES.iter().copied()))
        .build()
}

/// `/api/comparison/pair`'s query parameters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand, for 400s naming the parameter
pub struct PairParams {
    /// The category to compare in.
    category: String,
    /// How the pair is picked (default: pair_selection_strategy).
    #[param(schema_with = strategy_schema, required = false)]
    strategy: Option<String>,
}

/// The `category` query parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand, for 400s naming the parameter
pub struct CategoryParam {
    /// The category.
    category: String,
}

/// `GET /api/comparison/pair`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pair {
    a: Compared,
    b: Compared,
    category: String,
    /// The comparisons made in the category.
    comparisons: usize,
    min_comparisons_for_optimization: usize,
    strategy: &'static str,
}

/// A photo to compare.
#[derive(Debug, Serialize, ToSchema)]
pub struct Compared {
    /// When viewer.comparison_mode.show_current_scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate: Option<f64>,
    filename: String,
    path: String,
}

/// `GET /api/comparison/pair?category=&strategy=`: comparison mode: two
/// photos of a category not compared yet (viewer.comparison_mode).
#[utoipa::path(get, path = "/api/comparison/pair", params(PairParams), responses(
    (status = 200, description = "The pair; 404 when every pair has been compared.", body = Pair),
))]
pub async fn pair(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Pair>> {
    let q = query(q)?;
    let config = state.config();
    let settings = ComparisonSettings::from_config(config);
    let category = category_param(&q, config)?;
    let strategy = match q.get("strategy") {
        None => settings.strategy,
        Some(s) => Strategy::parse(s).ok_or_else(|| {
            ApiError::bad(
                "strategy",
                format!("`{s}`: expected one of {}", Strategy::NAMES.join(", ")),
            )
        })?,
    };
    let ctx = state.session().await?;
    let mut photos = candidates(&ctx, &category).await?;
    photos.retain(|c| who.allows(&c.path));
    let done = choices(&ctx, &category, who.user()).await?;
    let seed = done.len() as u64 ^ 0x5eed;
    let Some((a, b)) = compare::next_pair(
        &photos,
        &done,
        strategy,
        config.viewer.photo_types.top_picks_min_score,
        seed,
    ) else {
        return Err(ApiError::NotFound(format!(
            "no pair left to compare in `{category}` ({} photos, {} comparisons)",
            photos.len(),
            done.len()
        )));
    };
    let show = |c: &Candidate| Compared {
        aggregate: settings.show_current_scores.then_some(c.aggregate),
        filename: filename(&c.path).to_string(),
        path: c.path.clone(),
    };
    Ok(Json(Pair {
        a: show(a),
        b: show(b),
        category,
        comparisons: done.len(),
        min_comparisons_for_optimization: settings.min_comparisons_for_optimization,
        strategy: strategy.name(),
    }))
}

/// `POST /api/comparison`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand, for 400s naming the field
pub struct ChoiceBody {
    /// The better photo's path.
    winner: String,
    /// The other photo's path (same category).
    loser: String,
    /// Neither is better.
    tie: Option<bool>,
    /// The strategy that picked the pair (default uncertainty).
    #[schema(schema_with = strategy_schema, required = false)]
    strategy: Option<String>,
}

/// `POST /api/comparison`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    category: String,
    /// The comparisons made in the category.
    comparisons: usize,
}

/// `POST /api/comparison {"winner", "loser", "tie"?, "strategy"?}`: records a
/// choice between two scored photos of one category.
#[utoipa::path(post, path = "/api/comparison", request_body = ChoiceBody, responses(
    (status = 200, description = "The category and its number of comparisons.", body = Recorded),
))]
pub async fn record(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Recorded>> {
    let Json(b) = b.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let text = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::bad(k, "required: a photo path"))
    };
    let (winner, loser) = (text("winner")?, text("loser")?);
    who.check(&winner)?;
    who.check(&loser)?;
    if winner == loser {
        return Err(ApiError::bad(
            "loser",
            "a photo is not compared with itself",
        ));
    }
    let tie = match b.get("tie") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(t)) => *t,
        Some(_) => return Err(ApiError::bad("tie", "must be true or false")),
    };
    let strategy = b
        .get("strategy")
        .and_then(Value::as_str)
        .unwrap_or("uncertainty");
    if Strategy::parse(strategy).is_none() {
        return Err(ApiError::bad(
            "strategy",
            format!("expected one of {}", Strategy::NAMES.join(", ")),
        ));
    }
    let ctx = state.session().await?;
    let found = ctx
        .table("scores")
        .await?
        .filter(col("path").in_list(vec![lit(winner.clone()), lit(loser.clone())], false))?
        .select_columns(&["path", "category"])?
        .collect()
        .await?;
    let mut category = HashMap::new();
    for b in &found {
        let (p, c) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            category.insert(p.value(r).to_string(), c.value(r).to_string());
        }
    }
    let (Some(cw), Some(cl)) = (category.get(&winner), category.get(&loser)) else {
        return Err(ApiError::NotFound("no such scored photo".into()));
    };
    if cw != cl {
        return Err(ApiError::bad(
            "loser",
            format!("the photos are in different categories ({cw}, {cl})"),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let table = facet_schemas::comparisons();
    let batch = RecordBatch::try_new(
        table.schema(),
        vec![
            Arc::new(StringArray::from(vec![format!("{now}:{winner}:{loser}")])),
            Arc::new(StringArray::from(vec![winner.clone()])),
            Arc::new(StringArray::from(vec![loser.clone()])),
            Arc::new(BooleanArray::from(vec![tie])),
            Arc::new(StringArray::from(vec![cw.clone()])),
            Arc::new(StringArray::from(vec![strategy.to_string()])),
            Arc::new(TimestampNanosecondArray::from(vec![now]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![who.user().map(str::to_string)])),
        ],
    )
    .map_err(ApiError::internal)?;
    state.store().append(&table, batch).await?;
    let ctx = state.session().await?;
    let n = choices(&ctx, cw, who.user()).await?.len();
    Ok(Json(Recorded {
        category: cw.clone(),
        comparisons: n,
    }))
}

/// `GET /api/comparison/suggestion`'s answer: the current weights and, from
/// `min_comparisons_for_optimization` choices on, the fitted ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestion {
    /// How many choices the current weights predict (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    agreement_current: Option<f64>,
    /// How many choices the suggested weights predict (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    agreement_suggested: Option<f64>,
    category: String,
    comparisons: usize,
    /// The category's weights (metric → percent).
    current: BTreeMap<String, f64>,
    min_comparisons_for_optimization: usize,
    /// Enough choices for a fit.
    ready: bool,
    /// The fitted weights (metric → percent), once ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested: Option<BTreeMap<String, f64>>,
}

/// The fit for `category`: no `suggested` until `min` comparisons exist.
pub async fn suggestion(
    ctx: &SessionContext,
    config: &FacetConfig,
    category: &str,
    min: usize,
    who: &Who,
) -> ApiResult<Suggestion> {
    // Within the session's scope: its own choices between photos it sees,
    // fitted on the photos it sees.
    let done: Vec<Choice> = choices(ctx, category, who.user())
        .await?
        .into_iter()
        .filter(|c| who.allows(&c.winner) && who.allows(&c.loser))
        .collect();
    let weights = config
        .categories
        .iter()
        .find(|c| c.name == category)
        .map(|c| c.weights.clone())
        .unwrap_or_default();
    let current: BTreeMap<String, f64> = weights
        .iter()
        .filter(|(_, w)| **w > 0.0)
        .map(|(k, w)| (k.trim_end_matches("_percent").to_string(), *w))
        .collect();
    let mut out = Suggestion {
        agreement_current: None,
        agreement_suggested: None,
        category: category.to_string(),
        comparisons: done.len(),
        current,
        min_comparisons_for_optimization: min,
        ready: done.len() >= min,
        suggested: None,
    };
    if done.len() < min {
        return Ok(out);
    }
    let photos: HashMap<String, BTreeMap<String, f64>> = candidates(ctx, category)
        .await?
        .into_iter()
        .filter(|c| who.allows(&c.path))
        .map(|c| (c.path, c.metrics))
        .collect();
    if let Some(s) = compare::fit(&out.current, &photos, &done) {
        out.suggested = Some(s.suggested);
        out.agreement_current = Some(s.agreement_current);
        out.agreement_suggested = Some(s.agreement_suggested);
    }
    Ok(out)
}

/// `GET /api/comparison/suggestion?category=`: the category's current
/// weights and, from min_comparisons_for_optimization choices on, the weights
/// a Bradley-Terry fit of the choices suggests, with how many choices each
/// predicts.
#[utoipa::path(get, path = "/api/comparison/suggestion", params(CategoryParam), responses(
    (status = 200, description = "The current and suggested weights.", body = Suggestion),
))]
pub async fn suggest(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Suggestion>> {
    let q = query(q)?;
    let config = state.config();
    let category = category_param(&q, config)?;
    let min = ComparisonSettings::from_config(config).min_comparisons_for_optimization;
    let ctx = state.session().await?;
    Ok(Json(suggestion(&ctx, config, &category, min, &who).await?))
}

/// For `facet compare apply`: the suggested weights of `category` (keys as
/// the configuration writes them, `aesthetic_percent`), with the fit's report.
pub async fn suggested_weights(
    store: &Store,
    config: &FacetConfig,
    category: &str,
) -> Result<(BTreeMap<String, f64>, Value), String> {
    let ctx = store.session().await.map_err(|e| e.to_string())?;
    let min = ComparisonSettings::from_config(config).min_comparisons_for_optimization;
    let everyone = Who::Single(crate::auth::Access::Edit);
    let report = suggestion(&ctx, config, category, min, &everyone)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let report = serde_json::to_value(report).map_err(|e| e.to_string())?;
    let Some(s) = report.get("suggested").and_then(Value::as_object) else {
        return Err(format!(
            "`{category}` has {} comparisons; the fit needs {min} (viewer.comparison_mode.min_comparisons_for_optimization)",
            report["comparisons"]
        ));
    };
    let weights = s
        .iter()
        .map(|(k, v)| (format!("{k}_percent"), v.as_f64().unwrap_or(0.0)))
        .collect();
    Ok((weights, report))
}
