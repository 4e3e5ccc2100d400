//! `POST /api/generate`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use super::run::Kind;
use super::wire::GenerateBody;
use crate::json::Json;
use crate::{ApiError, AppState};

/// Handles one Ollama generation, streamed (the default) or not.
pub(crate) async fn generate(
    State(state): State<AppState>,
    body: Result<Json<GenerateBody>, ApiError>,
) -> Response {
    let started = Instant::now();
    let model = body.as_ref().ok().and_then(|Json(b)| b.model.clone());
    let result = match body.and_then(|Json(body)| body.validate()) {
        Ok(validated) => super::answer(&state, Kind::Generate, validated, started).await,
        Err(err) => Err(err),
    };
    super::finish(&state, model.as_deref(), result)
}
