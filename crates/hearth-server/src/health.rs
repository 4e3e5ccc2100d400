//! `GET /health` (the process answers) and `GET /ready` (there is a model to serve).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// `GET /health`: 200 whenever the server answers; never needs the API key.
pub(crate) async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /ready`: 200 when at least one model can be served, 503 otherwise.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    if state.pool.models().is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "no model can be served" })),
        )
            .into_response()
    } else {
        Json(json!({ "status": "ready" })).into_response()
    }
}
