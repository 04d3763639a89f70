//! `GET /api/failures`: the files a run could not analyse (corrupt,
//! truncated, unsupported), with the stage and the reason, so that the
//! gallery can say which photos are missing from it and why.

use axum::Json;
use axum::extract::State;
use datafusion::prelude::col;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::AppState;
use crate::auth::Who;
use crate::error::ApiResult;
use crate::json::{filename, rows};

/// The most failures listed (the total counts them all).
const LISTED: usize = 500;

/// `GET /api/failures`' answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Failures {
    /// The first 500, by path.
    failures: Vec<Failure>,
    /// How many there are.
    total: usize,
}

/// A file a run could not analyse: a row of `failures` with `filename`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = FailureRow)]
pub struct Failure(Map<String, Value>);

/// How a [`Failure`] looks.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the schema of `Failure`, a row as read
pub struct FailureRow {
    path: String,
    filename: String,
    /// The stage that failed.
    stage: Option<String>,
    reason: Option<String>,
    /// When (RFC 3339).
    failed_at: Option<String>,
}

/// `GET /api/failures`: the files a run could not analyse (corrupt,
/// truncated, unsupported), of this session's folders, by path: `total`, and
/// the first 500 with `path`, `filename`, `stage`, `reason`, `failed_at`.
#[utoipa::path(get, path = "/api/failures", operation_id = "failures", responses(
    (status = 200, description = "The failures.", body = Failures),
))]
pub async fn list(State(state): State<AppState>, who: Who) -> ApiResult<Json<Failures>> {
    let ctx = state.session().await?;
    let Ok(df) = ctx.table("failures").await else {
        return Ok(Json(Failures {
            failures: Vec::new(),
            total: 0,
        }));
    };
    let found = df
        .select_columns(&["path", "stage", "reason", "failed_at"])?
        .sort(vec![col("path").sort(true, false)])?
        .collect()
        .await?;
    let mine: Vec<_> = rows(&found)
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| who.allows(p)))
        .collect();
    let total = mine.len();
    let failures: Vec<Failure> = mine
        .into_iter()
        .take(LISTED)
        .map(|mut r| {
            let name = filename(r["path"].as_str().unwrap_or("")).to_string();
            r.insert("filename".into(), Value::from(name));
            Failure(r)
        })
        .collect();
    Ok(Json(Failures { failures, total }))
}
