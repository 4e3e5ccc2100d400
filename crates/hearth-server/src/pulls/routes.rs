//! `/v1/pulls`: pull jobs as JSON, progress as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;

use super::{JobUpdate, PullManager};
use crate::{ApiError, AppState, Json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PullRequest {
    /// `owner/repo[:quant|:file.gguf]` or `hf.co/owner/repo:quant`.
    model: String,
}

pub(crate) fn manager(state: &AppState) -> Result<&Arc<PullManager>, ApiError> {
    state
        .pulls
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this server does not pull models".into()))
}

/// `POST /v1/pulls`: 202 with the job (a new one, or the running one for the same
/// model).
pub(crate) async fn create(
    State(state): State<AppState>,
    Json(request): Json<PullRequest>,
) -> Result<Response, ApiError> {
    let job = manager(&state)?.start(&request.model).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job)).into_response())
}

/// `GET /v1/pulls`: every job, newest first.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jobs = manager(&state)?.list().await?;
    Ok(axum::Json(serde_json::json!({"object": "list", "data": jobs})).into_response())
}

/// `GET /v1/pulls/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = manager(&state)?.get(&id).await?;
    Ok(axum::Json(job).into_response())
}

/// `DELETE /v1/pulls/{id}`: cancels the job; the partial download stays for a
/// later pull to resume.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = manager(&state)?.cancel(&id).await?;
    Ok(axum::Json(job).into_response())
}

/// `GET /v1/pulls/{id}/events`: a `progress` event per change, ending after the
/// job's final state.
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let updates = manager(&state)?.watch(&id).await?;
    let events = stream::unfold(Some(updates), |updates| async move {
        let mut updates = updates?;
        let update: JobUpdate = updates.borrow_and_update().clone();
        let finished = update.job.status.is_finished();
        let event = Event::default()
            .event("progress")
            .json_data(&update)
            .unwrap_or_else(|_| Event::default().event("progress"));
        // After the final state, or when the job's sender is gone, the stream ends.
        let next = if finished || updates.changed().await.is_err() {
            None
        } else {
            Some(updates)
        };
        Some((Ok::<_, Infallible>(event), next))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
