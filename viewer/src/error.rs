//! API errors: a bad parameter is a 400 naming it, an unknown photo a 404,
//! a library lacking what the request needs a 409, anything else a 500 whose details go to the log, never to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer (the OpenAPI document's `Error`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong (for a 400, `param: why`).
    pub error: String,
    /// The bad parameter (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            param: None,
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: `param` is missing or invalid; `message` says why.
    BadParam { param: String, message: String },
    /// 403: the session may not do this (its role, or the edition password).
    Forbidden(String),
    /// 404: no such photo (or route, or file).
    NotFound(String),
    /// 413: the request body is over the limit.
    TooLarge,
    /// 409: the request is sound but the library cannot answer it (no
    /// embeddings); the message says why.
    Unavailable(String),
    /// 500: logged with its detail; the client sees only "internal error".
    Internal(String),
}

impl ApiError {
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadParam {
            param: param.into(),
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<facet_store::StoreError> for ApiError {
    fn from(e: facet_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<datafusion::error::DataFusionError> for ApiError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadParam { param, message } => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    error: format!("{param}: {message}"),
                    param: Some(param),
                },
            ),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, ErrorBody::new(why)),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, ErrorBody::new(what)),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new("the request body is too large"),
            ),
            ApiError::Unavailable(why) => (StatusCode::CONFLICT, ErrorBody::new(why)),
            ApiError::Internal(detail) => {
                eprintln!("facet serve: internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody::new("internal error (see the server's log)"),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
