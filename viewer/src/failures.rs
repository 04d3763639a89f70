//! `GET /api/failures`: the files a run could not analyse (corrupt,
//! truncated, unsupported), with the stage and the reason, so that the
//! gallery can say which photos are missing from it and why.

use axum::Json;
use axum::extract::State;
use datafusion::prelude::col;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Who;
use crate::error::ApiResult;
use crate::json::{filename, rows};

/// The most failures listed (the total counts them all).
const LISTED: usize = 500;

/// `{total, failures: [{path, filename, stage, reason, failed_at}]}`, the
/// files of this session's folders, by path.
pub async fn list(State(state): State<AppState>, who: Who) -> ApiResult<Json<Value>> {
    let ctx = state.session().await?;
    let Ok(df) = ctx.table("failures").await else {
        return Ok(Json(json!({"total": 0, "failures": []})));
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
    let failures: Vec<Value> = mine
        .into_iter()
        .take(LISTED)
        .map(|mut r| {
            let name = filename(r["path"].as_str().unwrap_or("")).to_string();
            r.insert("filename".into(), Value::from(name));
            Value::Object(r)
        })
        .collect();
    Ok(Json(json!({"total": total, "failures": failures})))
}
