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
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::{Photo, body, body_path, lookup, params, photo_json};
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::json::rows;
use crate::query::PathParam;
use facet_store::PHOTOS_STORED;

/// `GET /api/groups`' answer: the photo's groups, `null` where in none.
#[derive(Debug, Serialize, ToSchema)]
pub struct Groups {
    burst: Option<Group>,
    duplicate: Option<Group>,
    path: String,
    similar: Option<Group>,
}

/// A burst, duplicate or similar group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    /// The user's decision: `lead`, `keep_all` or null.
    decision: Option<String>,
    group_id: String,
    /// `burst`, `duplicate` or `similar`.
    kind: String,
    /// The lead's path.
    lead: Option<String>,
    /// Every member the session may see (with `is_lead`), leads first, then
    /// by score.
    members: Vec<Photo>,
    /// Why the lead leads, as stored.
    reason: Option<String>,
    size: usize,
    /// Why the lead leads, in English words.
    why: Option<String>,
    /// Why the lead leads, as codes the page words in its language:
    /// sharpest, eyes_open, best_score, most_pleasing, largest.
    why_codes: Option<Vec<&'static str>>,
}

/// `GET /api/groups?path=`: the photo's burst, duplicate and similar groups
/// (`null` when in none), each with its lead, why in words (`why`, from
/// comparing the lead with the others), as codes the page words in its
/// language (`why_codes`) and as stored (`reason`), the user's
/// decision (`"lead"`, `"keep_all"` or `null`), and every member the
/// session may see as a photo of `/api/photos` plus `is_lead`: the leads
/// first, then by score.
#[utoipa::path(get, path = "/api/groups", operation_id = "groups", params(PathParam), responses(
    (status = 200, description = "The groups.", body = Groups),
))]
pub async fn list(
    State(state): State<AppState>,
    who: Who,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Groups>> {
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
    let mut out: HashMap<String, Group> = HashMap::new();
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
        let group = Group {
            decision,
            group_id: id.to_string(),
            kind: kind.to_string(),
            lead: lead.and_then(|m| m["path"].as_str()).map(str::to_string),
            reason,
            size: photos.len(),
            why: lead.map(|l| why_codes(l, &photos).join(", ").replace('_', " ")),
            why_codes: lead.map(|l| why_codes(l, &photos)),
            members: photos.into_iter().map(Photo).collect(),
        };
        out.insert(kind.to_string(), group);
    }
    Ok(Json(Groups {
        burst: out.remove("burst"),
        duplicate: out.remove("duplicate"),
        path: path.to_string(),
        similar: out.remove("similar"),
    }))
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

/// `POST /api/groups/decide`'s body.
#[derive(ToSchema)]
#[allow(dead_code)] // read by hand (`body`), for 400s naming the field
pub struct DecideBody {
    path: String,
    #[schema(inline)]
    kind: GroupKind,
    /// `lead` makes the photo its group's lead, `keep_all` keeps every
    /// member, `reset` hands the group back to the automatic choice.
    #[schema(inline)]
    decision: DecisionName,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // read by hand: [`Kind::parse`]
pub enum GroupKind {
    Burst,
    Duplicate,
    Similar,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // read by hand (`decide`)
pub enum DecisionName {
    Lead,
    KeepAll,
    Reset,
}

/// `POST /api/groups/decide {"path", "kind": "burst"|"duplicate"|"similar",
/// "decision": "lead"|"keep_all"|"reset"}`: `lead` makes the photo its
/// group's lead, `keep_all` keeps every member of its group, `reset` hands
/// the group back to automatic choice. The groups are detected again before
/// the answer (incrementally), which is `GET /api/groups` of the photo.
/// Admins only in multi-user mode.
#[utoipa::path(post, path = "/api/groups/decide", request_body = DecideBody, responses(
    (status = 200, description = "The photo's groups after the decision.", body = Groups),
))]
pub async fn decide(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Groups>> {
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
