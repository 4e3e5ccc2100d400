//! The Ollama-compatible API under `/api/`, with Ollama's field names and semantics, so
//! existing Ollama clients work against Hearth.
//!
//! - `POST /api/generate` and `POST /api/chat` ([`generate`], [`chat`]): streamed as
//!   NDJSON (`application/x-ndjson`) unless `"stream": false`; [`wire`] turns their
//!   bodies into [`GenerateRequest`](hearth_protocol::GenerateRequest)s and `run`
//!   drives the backend. An empty prompt (or no messages) only loads the model, or
//!   unloads it with `keep_alive: 0`, as Ollama does.
//! - `GET /api/tags`, `POST /api/show`, `GET /api/ps`, `GET /api/version`
//!   ([`models`]), with GGUF facts read by `facts`.
//!
//! Errors are Ollama's `{"error": "…"}` with the status an [`ApiError`] maps to; an
//! unknown model is `model "x" not found, try pulling it first` (404). Pulling and
//! deleting models are not here yet.

pub(crate) mod chat;
mod facts;
pub(crate) mod generate;
pub(crate) mod models;
mod run;
pub mod wire;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hearth_protocol::ModelInfo;
use serde_json::json;

use crate::{ApiError, AppState};
use run::{Kind, Line};
use wire::{Action, Validated};

/// An [`ApiError`] rendered as Ollama's error body, `{"error": "…"}`.
#[derive(Debug)]
pub(crate) struct OllamaError(pub ApiError);

impl From<ApiError> for OllamaError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl OllamaError {
    /// The message Ollama clients see; server errors keep their detail to the log.
    pub(crate) fn message(&self) -> String {
        match &self.0 {
            ApiError::ModelNotFound(name) => {
                format!("model \"{name}\" not found, try pulling it first")
            }
            other => other.body().error.message,
        }
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        self.0.log();
        let body = json!({ "error": self.message() });
        let mut response = (self.0.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.0.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Answers a validated `/api/generate` or `/api/chat` request.
pub(crate) async fn answer(
    state: &AppState,
    kind: Kind,
    validated: Validated,
    started: Instant,
) -> Result<Response, ApiError> {
    let info = resolve(state, &validated.model)?;
    let model = validated.model.as_str();
    tracing::Span::current().record("model", info.name.as_str());
    let lifecycle = |reason| axum::Json(Line::lifecycle(kind, model, reason)).into_response();
    match validated.action {
        Action::Load(keep_alive) => {
            state.pool.load(&info.name, keep_alive).await?;
            Ok(lifecycle("load"))
        }
        Action::Unload => {
            state.pool.unload(&info.name)?;
            Ok(lifecycle("unload"))
        }
        Action::Generate(mut request) => {
            request.model = info.name;
            if state.config.log_prompts {
                tracing::debug!(prompt = ?request.prompt, "prompt");
            }
            tracing::debug!(model, stream = validated.stream, "generation request");
            if validated.stream {
                run::stream(state, kind, model, *request, started).await
            } else {
                run::collect(state, kind, model, *request, started).await
            }
        }
    }
}

/// Renders the request's outcome the Ollama way and counts it in the metrics.
fn finish(state: &AppState, model: Option<&str>, result: Result<Response, ApiError>) -> Response {
    let response = result.unwrap_or_else(|err| OllamaError(err).into_response());
    let served = model.and_then(|m| resolve(state, m).ok());
    crate::openai::count_request(state, served.as_ref().map(|i| i.name.as_str()), &response);
    response
}

/// The served model `name` names. Ollama clients often add the default tag, so
/// `name:latest` finds `name` when no model is called `name:latest`; and the name a
/// model was pulled as (`hf.co/Owner/Repo:Q4_K_M`) finds it under its canonical name
/// (`owner/repo:q4_k_m`).
pub(crate) fn resolve(state: &AppState, name: &str) -> Result<ModelInfo, ApiError> {
    state
        .pool
        .model(name)
        .or_else(|| {
            name.strip_suffix(":latest")
                .and_then(|n| state.pool.model(n))
        })
        .or_else(|| {
            let canonical = state.pulls.as_ref()?.source().canonical_name(name).ok()?;
            state.pool.model(&canonical)
        })
        .ok_or_else(|| ApiError::ModelNotFound(name.to_owned()))
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The time now as RFC 3339 in UTC with nanoseconds, like Ollama's `created_at`.
pub(crate) fn now_rfc3339() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (date, time) = civil(secs);
    format!("{date}T{time}.{:09}Z", now.subsec_nanos())
}

/// Unix seconds as RFC 3339 in UTC, e.g. `2023-11-14T22:13:20Z`.
pub(crate) fn rfc3339(unix_secs: u64) -> String {
    let (date, time) = civil(unix_secs);
    format!("{date}T{time}Z")
}

/// `(YYYY-MM-DD, hh:mm:ss)` of Unix seconds in UTC (Howard Hinnant's days-to-civil).
fn civil(unix_secs: u64) -> (String, String) {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn unknown_model_reads_like_ollama() {
        let err = OllamaError(ApiError::ModelNotFound("x".into()));
        assert_eq!(err.message(), "model \"x\" not found, try pulling it first");
    }
}
