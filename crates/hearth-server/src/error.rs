//! One error type for every endpoint, rendered as OpenAI's error body.
//!
//! Every failure a client can see is an [`ApiError`]; its single status mapping lives in
//! [`ApiError::status`]. The body is always
//! `{"error":{"message": …, "type": …, "param": …, "code": …}}`. Server-side failures
//! (500) are logged in full and answered with a generic message, so internal details
//! never leak to clients.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_protocol::BackendError;
use serde::Serialize;

/// Everything that can go wrong while answering a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A field is missing, has the wrong type or is out of range; `param` names it.
    #[error("{message}")]
    InvalidRequest {
        param: Option<String>,
        message: String,
    },
    /// The request body is larger than the server accepts.
    #[error("the request body is larger than the {0} bytes this server accepts")]
    PayloadTooLarge(usize),
    /// The prompt alone does not fit the model's context.
    #[error(
        "this model's maximum context length is {n_ctx} tokens, but the prompt has \
         {n_prompt} tokens; shorten the prompt"
    )]
    ContextLengthExceeded { n_prompt: usize, n_ctx: usize },
    /// The `Authorization: Bearer` header is missing or does not hold the server's key.
    #[error("incorrect or missing API key; send it as `Authorization: Bearer <key>`")]
    InvalidApiKey,
    /// No served model has this name.
    #[error("the model `{0}` does not exist")]
    ModelNotFound(String),
    /// No route matches the path.
    #[error("unknown path `{0}`")]
    NotFound(String),
    /// Too many requests are waiting.
    #[error("too many requests are waiting; retry in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// The model cannot be loaded or the backend cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The request ran longer than the server's request timeout.
    #[error("the request did not finish within {0:?}")]
    Timeout(Duration),
    /// A bug or unexpected failure; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming the field at fault.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::ContextLengthExceeded { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI-shaped body, for a JSON response or an SSE `data:` line.
    pub fn body(&self) -> ErrorBody {
        let (kind, param, code) = match self {
            Self::InvalidRequest { param, .. } => ("invalid_request_error", param.clone(), None),
            Self::ContextLengthExceeded { .. } => (
                "invalid_request_error",
                None,
                Some("context_length_exceeded"),
            ),
            Self::PayloadTooLarge(_) => ("invalid_request_error", None, Some("request_too_large")),
            Self::InvalidApiKey => ("invalid_request_error", None, Some("invalid_api_key")),
            Self::ModelNotFound(_) => (
                "invalid_request_error",
                Some("model".to_owned()),
                Some("model_not_found"),
            ),
            Self::NotFound(_) => ("invalid_request_error", None, Some("not_found")),
            Self::RateLimited { .. } => ("rate_limit_exceeded", None, Some("rate_limit_exceeded")),
            Self::Unavailable(_) => ("server_error", None, Some("service_unavailable")),
            Self::Timeout(_) => ("timeout_error", None, Some("timeout")),
            Self::Internal(_) => ("server_error", None, None),
        };
        let message = match self {
            Self::Internal(_) => "the server had an internal error; see its log".to_owned(),
            other => other.to_string(),
        };
        ErrorBody {
            error: ErrorDetail {
                message,
                kind,
                param,
                code,
            },
        }
    }
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// OpenAI's error object.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> Self {
        match err {
            BackendError::ModelNotFound(name) => Self::ModelNotFound(name),
            BackendError::ContextLengthExceeded { n_prompt, n_ctx } => {
                Self::ContextLengthExceeded { n_prompt, n_ctx }
            }
            BackendError::QueueFull { retry_after_secs } => Self::RateLimited {
                retry_after: Duration::from_secs(retry_after_secs.max(1)),
            },
            BackendError::InvalidRequest { param, message } => {
                Self::InvalidRequest { param, message }
            }
            BackendError::Unavailable(message) => Self::Unavailable(message),
            BackendError::Internal(message) => Self::Internal(message),
        }
    }
}

impl ApiError {
    /// Logs the failure: in full for server errors, only the status and the parameter
    /// for client errors.
    pub(crate) fn log(&self) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        } else {
            // The message may quote request content (a prompt sent with the wrong
            // type), so only the status and the parameter are logged.
            let body = self.body();
            tracing::debug!(
                status = status.as_u16(),
                code = body.error.code,
                param = body.error.param,
                "request rejected"
            );
        }
    }

    /// The `Retry-After` value in seconds, for errors that carry one.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } => Some(retry_after.as_secs()),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_detail() -> Result<(), serde_json::Error> {
        let body = serde_json::to_value(ApiError::Internal("secret path".into()).body())?;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("secret"), "{message}");
        assert_eq!(body["error"]["type"], "server_error");
        Ok(())
    }

    #[test]
    fn queue_full_becomes_rate_limited_with_at_least_one_second() {
        let err = ApiError::from(BackendError::QueueFull {
            retry_after_secs: 0,
        });
        assert_eq!(
            err,
            ApiError::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
