//! The OpenAI-compatible generation endpoints: `/v1/chat/completions` and
//! `/v1/completions`.
//!
//! [`wire`] parses request bodies into validated requests, `run` drives the backend,
//! `response` holds the response shapes; `chat` and `completions` are the handlers.

pub(crate) mod chat;
pub(crate) mod completions;
mod response;
pub(crate) mod run;
pub mod wire;

use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};
use wire::Validated;

/// Renders the request's outcome and counts it in the metrics.
fn finish(state: &AppState, model: Option<&str>, result: Result<Response, ApiError>) -> Response {
    let response = result.unwrap_or_else(IntoResponse::into_response);
    count_request(state, model, &response);
    response
}

/// Counts one answered generation request in the metrics, under its model's name when
/// that model is served and under `unknown` otherwise, so clients cannot grow the
/// label set at will.
pub(crate) fn count_request(state: &AppState, model: Option<&str>, response: &Response) {
    let label = model
        .filter(|m| state.pool.model(m).is_some())
        .unwrap_or("unknown");
    state
        .metrics
        .record_request(label, response.status().as_u16());
}

/// Adds the model to the request's span, and the prompt when the configuration
/// allows logging prompts.
fn log_request(state: &AppState, validated: &Validated) {
    tracing::Span::current().record("model", validated.model.as_str());
    if state.config.log_prompts
        && let Some(request) = validated.requests.first()
    {
        tracing::debug!(prompt = ?request.prompt, "prompt");
    }
    tracing::debug!(
        model = %validated.model,
        n = validated.requests.len(),
        stream = validated.stream,
        "generation request"
    );
}

/// Adds the token counts of a finished non-streamed request to its span and log.
pub(crate) fn log_usage(usage: hearth_protocol::Usage) {
    let span = tracing::Span::current();
    span.record("prompt_tokens", usage.prompt_tokens);
    span.record("completion_tokens", usage.completion_tokens);
}
