//! Ollama's `POST /api/pull` (NDJSON progress) and `DELETE /api/delete`, over the
//! same pull jobs as `/v1/pulls`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use serde_json::{Value, json};

use super::routes::manager;
use super::{Deleted, JobUpdate, PullManager, PullPhase};
use crate::{ApiError, AppState, Json};

#[derive(Debug, Deserialize)]
pub(crate) struct PullRequest {
    model: Option<String>,
    /// Ollama's older name for `model`.
    name: Option<String>,
    stream: Option<bool>,
    /// Accepted for compatibility; downloads always use TLS where the hub does.
    #[serde(default)]
    #[allow(dead_code)]
    insecure: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteRequest {
    model: Option<String>,
    name: Option<String>,
}

fn model_field(model: Option<String>, name: Option<String>) -> Option<String> {
    model.or(name).filter(|m| !m.trim().is_empty())
}

fn model_required() -> Response {
    error(StatusCode::BAD_REQUEST, "model is required")
}

/// Ollama's error body: `{"error": "…"}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn api_error(e: &ApiError) -> Response {
    error(e.status(), &e.body().error.message)
}

/// `POST /api/pull`: progress lines as Ollama prints them, ending in
/// `{"status":"success"}` or `{"error":…}`; with `stream: false`, only the last.
pub(crate) async fn pull(
    State(state): State<AppState>,
    Json(request): Json<PullRequest>,
) -> Response {
    let Some(reference) = model_field(request.model, request.name) else {
        return model_required();
    };
    let manager = match manager(&state) {
        Ok(m) => Arc::clone(m),
        Err(e) => return api_error(&e),
    };
    let updates = match start_and_watch(&manager, &reference).await {
        Ok(updates) => updates,
        Err(e) => return api_error(&e),
    };
    if request.stream == Some(false) {
        return finish(updates).await;
    }
    let lines = stream::unfold(Some((updates, None::<String>)), |state| async move {
        let (mut updates, last) = state?;
        loop {
            let update = updates.borrow_and_update().clone();
            let lines = progress_lines(&update);
            let text = lines_text(&lines);
            let finished = update.job.status.is_finished();
            if finished {
                return Some((Ok::<_, std::convert::Infallible>(text), None));
            }
            if last.as_deref() != Some(text.as_str()) {
                let next = if updates.changed().await.is_err() {
                    None
                } else {
                    Some((updates, Some(text.clone())))
                };
                return Some((Ok(text), next));
            }
            if updates.changed().await.is_err() {
                return None;
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn start_and_watch(
    manager: &Arc<PullManager>,
    reference: &str,
) -> Result<tokio::sync::watch::Receiver<JobUpdate>, ApiError> {
    let job = manager.start(reference).await?;
    manager.watch(&job.id).await
}

/// Waits for the job to end and answers with its outcome alone.
async fn finish(mut updates: tokio::sync::watch::Receiver<JobUpdate>) -> Response {
    loop {
        let update = updates.borrow_and_update().clone();
        if update.job.status.is_finished() {
            return match update.job.error {
                Some(message) => error(StatusCode::INTERNAL_SERVER_ERROR, &message),
                None if update.job.status == hearth_store::PullStatus::Cancelled => {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "the pull was cancelled")
                }
                None => axum::Json(json!({"status": "success"})).into_response(),
            };
        }
        if updates.changed().await.is_err() {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the pull stopped");
        }
    }
}

/// The lines Ollama prints for a job's state.
fn progress_lines(update: &JobUpdate) -> Vec<Value> {
    let job = &update.job;
    if let Some(message) = &job.error {
        return vec![json!({ "error": message })];
    }
    match job.status {
        hearth_store::PullStatus::Cancelled => {
            return vec![json!({"error": "the pull was cancelled"})];
        }
        hearth_store::PullStatus::Done => {
            // The watch may have skipped the last download report; a client's progress
            // bar should still end full.
            return vec![
                json!({
                    "status": "pulling model",
                    "total": job.total_bytes.unwrap_or(job.completed_bytes),
                    "completed": job.completed_bytes,
                }),
                json!({"status": "verifying sha256 digest"}),
                json!({"status": "writing manifest"}),
                json!({"status": "success"}),
            ];
        }
        _ => {}
    }
    let Some(progress) = &update.progress else {
        return vec![json!({"status": "pulling manifest"})];
    };
    match progress.phase {
        PullPhase::Resolving => vec![json!({"status": "pulling manifest"})],
        PullPhase::Downloading => {
            let digest = progress.digest.clone().unwrap_or_default();
            let short: String = digest
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect();
            vec![json!({
                "status": format!("pulling {short}"),
                "digest": digest,
                "total": progress.total.unwrap_or(0),
                "completed": progress.completed,
            })]
        }
        PullPhase::Verifying | PullPhase::Done => {
            vec![json!({"status": "verifying sha256 digest"})]
        }
    }
}

fn lines_text(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `DELETE /api/delete`: deletes a pulled model's files, or forgets a model found on
/// disk elsewhere (its file is left alone); 404 when there is no such model.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Json(request): Json<DeleteRequest>,
) -> Response {
    let Some(name) = model_field(request.model, request.name) else {
        return model_required();
    };
    let manager = state.pulls.clone();
    let canonical = manager
        .as_ref()
        .and_then(|m| m.source().canonical_name(&name).ok());
    let served = [Some(name.clone()), canonical.clone()]
        .into_iter()
        .flatten()
        .find(|n| state.pool.model(n).is_some());
    let deleted = match &manager {
        Some(m) => m
            .source()
            .delete(served.as_deref().or(canonical.as_deref()).unwrap_or(&name))
            .unwrap_or(Deleted::NotFound),
        None => Deleted::NotFound,
    };
    let removed = served
        .as_deref()
        .is_some_and(|n| state.pool.remove(n).is_ok());
    if deleted == Deleted::NotFound && !removed {
        return error(StatusCode::NOT_FOUND, &format!("model '{name}' not found"));
    }
    StatusCode::OK.into_response()
}
