//! Culling by groups: a photo's burst, duplicate and similar groups with
//! every member's scores (`GET /api/groups`), and the user's choice of
//! another lead, keep-all or back to automatic (`POST /api/groups/decide`).
//!
//! A decision is stored in `group_decisions` (never rewritten by detection)
//! and applied at once: the groups are detected again, incrementally (only
//! the decided group's region is looked at), so the next listing already
//! shows the new lead and hides the others.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use datafusion::prelude::{col, lit};
use facet_stages::groups::{Decision, Kind};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::api::{body, body_path, lookup, params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::json::rows;
use facet_store::PHOTOS_STORED;

/// `GET /api/groups?path=`: the photo's burst, duplicate and similar groups
/// (`null` when in none), each with its lead, why in words (`why`, from
/// comparing the lead with the others), as codes the page words in its
/// language (`why_codes`) and as stored (`reason`), the user's
/// decision (`"lead"`, `"keep_all"` or `null`), and every member the
/// session may see as a photo of `/api/photos` plus `is_lead`: the leads
/// first, then by score.
pub async fn list(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let path = p.path()?;
    who.check(path)?;
    lookup(&state, PHOTOS_STORED, path, Some(&["path"])).await?;
    let ctx = state.session().await?;
    let groups = ctx.table("groups").await?;
    let mine = groups
        .clone()
        .filter(col("path").eq(lit(path.to_string())))?
        .select_columns(&["kind", "group_id"])?
        .collect()
        .await?;
    let (listing, user) = state.listing(&who).await?;
    let mut out = Map::new();
    for row in rows(&mine) {
        let (Some(kind), Some(id)) = (row["kind"].as_str(), row["group_id"].as_str()) else {
            continue;
        };
        let members = groups
            .clone()
            .filter(
                col("kind")
                    .eq(lit(kind.to_string()))
                    .and(col("group_id").eq(lit(id.to_string()))),
            )?
            .select_columns(&["path", "is_lead", "reason"])?
            .collect()
            .await?;
        let decided = decisions(&state, kind).await?;
        // Only the members this session may see, with their listed columns.
        let mut seen: Vec<(u32, bool, Option<String>)> = Vec::new();
        for m in rows(&members) {
            let Some(p) = m["path"].as_str().filter(|p| who.allows(p)) else {
                continue;
            };
            let Ok(i) = listing.find(p) else { continue };
            let reason = m["reason"].as_str().map(str::to_string);
            seen.push((i as u32, m["is_lead"] == Value::Bool(true), reason));
        }
        let idx: Vec<u32> = seen.iter().map(|s| s.0).collect();
        let mut photos: Vec<Map<String, Value>> = listing
            .rows(&idx, &user)?
            .into_iter()
            .zip(&seen)
            .map(|(r, (_, lead, _))| {
                let mut r = photo_json(r);
                r.insert("is_lead".into(), Value::Bool(*lead));
                r
            })
            .collect();
        let score = |m: &Map<String, Value>| m["aggregate"].as_f64().unwrap_or(f64::NEG_INFINITY);
        photos.sort_by(|a, b| {
            (b["is_lead"] == Value::Bool(true))
                .cmp(&(a["is_lead"] == Value::Bool(true)))
                .then(score(b).total_cmp(&score(a)))
        });
        let lead = photos.iter().find(|m| m["is_lead"] == Value::Bool(true));
        let reason = seen.iter().find(|s| s.1).and_then(|s| s.2.clone());
        let decision = photos
            .iter()
            .filter_map(|m| decided.get(m["path"].as_str()?))
            .max_by_key(|d| d.as_str() == "keep_all")
            .cloned();
        out.insert(
            kind.to_string(),
            json!({
                "kind": kind,
                "group_id": id,
                "size": photos.len(),
                "lead": lead.map(|m| m["path"].clone()),
                "why": lead.map(|l| why_codes(l, &photos).join(", ").replace('_', " ")),
                "why_codes": lead.map(|l| why_codes(l, &photos)),
                "reason": reason,
                "decision": decision,
                "members": photos,
            }),
        );
    }
    Ok(Json(json!({
        "path": path,
        "burst": out.remove("burst").unwrap_or(Value::Null),
        "duplicate": out.remove("duplicate").unwrap_or(Value::Null),
        "similar": out.remove("similar").unwrap_or(Value::Null),
    })))
}

/// The decisions of `kind`, by path.
async fn decisions(state: &AppState, kind: &str) -> ApiResult<HashMap<String, String>> {
    let ctx = state.session().await?;
    let Ok(df) = ctx.table("group_decisions").await else {
        return Ok(HashMap::new());
    };
    let found = df
        .filter(col("kind").eq(lit(kind.to_string())))?
        .select_columns(&["path", "decision"])?
        .collect()
        .await?;
    Ok(rows(&found)
        .into_iter()
        .filter_map(|r| {
            Some((
                r["path"].as_str()?.to_string(),
                r["decision"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Why the lead leads: where it beats every other member, as codes
/// (`sharpest`, `eyes_open`, `best_score`, `most_pleasing`, `largest`; in
/// English, the code with spaces).
pub(crate) fn why_codes(
    lead: &Map<String, Value>,
    members: &[Map<String, Value>],
) -> Vec<&'static str> {
    let others: Vec<&Map<String, Value>> = members
        .iter()
        .filter(|m| m["path"] != lead["path"])
        .collect();
    if others.is_empty() {
        return Vec::new();
    }
    let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
    let beats = |k: &str| {
        num(lead, k).is_some_and(|v| {
            others
                .iter()
                .all(|o| num(o, k).is_none_or(|w| v > w + 1e-9))
        })
    };
    let blinks = |m: &Map<String, Value>| m.get("is_blink").and_then(Value::as_bool);
    let pixels = |m: &Map<String, Value>| Some(num(m, "width")? * num(m, "height")?);
    [
        ("sharpest", beats("sharpness")),
        (
            "eyes_open",
            blinks(lead) == Some(false) && others.iter().any(|o| blinks(o) == Some(true)),
        ),
        ("best_score", beats("aggregate")),
        ("most_pleasing", beats("aesthetic")),
        (
            "largest",
            pixels(lead).is_some_and(|v| others.iter().all(|o| pixels(o).is_none_or(|w| v > w))),
        ),
    ]
    .into_iter()
    .filter_map(|(code, yes)| yes.then_some(code))
    .collect()
}

/// `POST /api/groups/decide {"path", "kind": "burst"|"duplicate"|"similar",
/// "decision": "lead"|"keep_all"|"reset"}`: `lead` makes the photo its
/// group's lead, `keep_all` keeps every member of its group, `reset` hands
/// the group back to automatic choice. The groups are detected again before
/// the answer (incrementally), which is `GET /api/groups` of the photo.
pub async fn decide(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let b = body(b)?;
    let path = body_path(&b)?;
    who.check(&path)?;
    let kind = b
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| ApiError::bad("kind", "required: burst, duplicate or similar"))?;
    let decision = match b.get("decision").and_then(Value::as_str) {
        Some("lead") => Some(Decision::Lead),
        Some("keep_all") => Some(Decision::KeepAll),
        Some("reset") => None,
        _ => {
            return Err(ApiError::bad(
                "decision",
                "required: lead, keep_all or reset",
            ));
        }
    };
    let in_group = {
        let ctx = state.session().await?;
        ctx.table("groups")
            .await?
            .filter(
                col("path")
                    .eq(lit(path.clone()))
                    .and(col("kind").eq(lit(kind.as_str()))),
            )?
            .count()
            .await?
    };
    if in_group == 0 {
        lookup(&state, PHOTOS_STORED, &path, Some(&["path"])).await?;
        return Err(ApiError::bad(
            "path",
            format!("the photo is in no {} group", kind.as_str()),
        ));
    }
    let guard = state.inner.group_lock.lock().await;
    let (s, p) = (state.clone(), path.clone());
    tokio::task::spawn_blocking(move || -> Result<(), facet_library::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| facet_library::Error::Internal(e.to_string()))?;
        let store = s.store();
        facet_library::derive::groups::decide(&rt, store, kind, &p, decision)?;
        facet_library::derive::groups::detect(&rt, store, s.config(), false)?;
        Ok(())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        facet_library::Error::NotFound(m) => ApiError::NotFound(m),
        e => ApiError::internal(e),
    })?;
    drop(guard);
    let mut q = HashMap::new();
    q.insert("path".to_string(), path);
    list(State(state), who, Ok(Query(q))).await
}
