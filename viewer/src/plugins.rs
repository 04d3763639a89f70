//! `GET /api/plugins` and `POST /api/plugins/test-webhook` (superadmins in
//! the multi-user mode): the plugins, webhooks and actions of the
//! configuration's `plugins` section (`facet_events`), and a test delivery
//! to a webhook URL — checked against private addresses like every
//! delivery, signed with the configured secret.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use facet_config::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// The configuration's plugin system, or why it cannot be used.
fn plugins(state: &AppState) -> ApiResult<facet_events::Plugins> {
    facet_events::Plugins::load(state.config()).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// What `GET /api/plugins` answers: the plugin files, the webhooks (their
/// host only: never a path, query or secret), the actions and the outbox's
/// counts per state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginList {
    /// `plugins.enabled`.
    pub enabled: bool,
    /// The description, as `facet_events::Plugins::describe` gives it.
    #[schema(value_type = Object)]
    pub plugins: Value,
    /// Configuration warnings (a webhook without a signing secret, a
    /// plugins folder that does not exist).
    pub warnings: Vec<String>,
}

#[utoipa::path(get, path = "/api/plugins", operation_id = "list_plugins", responses(
    (status = 200, description = "The plugins, webhooks and actions.", body = PluginList),
    (status = 409, description = "The `plugins` section of the configuration is invalid (the message names the setting).", body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>, who: Who) -> ApiResult<Json<PluginList>> {
    who.require(Role::Superadmin)?;
    let p = plugins(&state)?;
    let described = p
        .describe(state.store())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(PluginList {
        enabled: p.enabled(),
        plugins: described,
        warnings: p.warnings(),
    }))
}

/// `POST /api/plugins/test-webhook`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // Parsed by hand (to name the bad field); documents the body.
pub struct TestWebhookBody {
    /// The webhook URL (http or https).
    pub url: String,
}

/// What a test delivery got back.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestWebhookAnswer {
    /// The receiver's HTTP status.
    pub status: u16,
}

#[utoipa::path(post, path = "/api/plugins/test-webhook", operation_id = "test_webhook",
    request_body(content = TestWebhookBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The test payload was delivered; the receiver's status.", body = TestWebhookAnswer),
        (status = 409, description = "The receiver could not be reached, or the configuration is invalid.", body = ErrorBody),
    ),
)]
pub async fn test_webhook(
    State(state): State<AppState>,
    who: Who,
    b: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<TestWebhookAnswer>> {
    who.require(Role::Superadmin)?;
    let url = match b {
        Ok(Json(v)) => v
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::bad("url", "expected the webhook's URL"))?,
        Err(e) => return Err(ApiError::bad("body", e.body_text())),
    };
    let p = plugins(&state)?;
    match p.test_webhook(&url).await {
        Ok(status) => Ok(Json(TestWebhookAnswer { status })),
        Err(e @ (facet_events::Error::Blocked { .. } | facet_events::Error::Config { .. })) => {
            Err(ApiError::bad("url", e.to_string()))
        }
        Err(facet_events::Error::Unreachable(e)) => Err(ApiError::Unavailable(e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}
