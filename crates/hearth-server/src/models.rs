//! `GET /v1/models` and `GET /v1/models/{id}`: the servable models, OpenAI-shaped.
//!
//! Model ids may hold slashes and colons (`owner/repo:q4_k_m`), so the single-model
//! route is a wildcard.

use axum::Json;
use axum::extract::{Path, State};
use hearth_protocol::ModelInfo;
use serde::Serialize;

use crate::{ApiError, AppState};

/// One model as OpenAI's `model` object.
#[derive(Debug, Serialize)]
pub(crate) struct ModelObject {
    id: String,
    object: &'static str,
    /// Unix seconds.
    created: u64,
    owned_by: &'static str,
}

impl From<ModelInfo> for ModelObject {
    fn from(info: ModelInfo) -> Self {
        Self {
            id: info.name,
            object: "model",
            created: info.created,
            owned_by: "hearth",
        }
    }
}

/// OpenAI's list of models.
#[derive(Debug, Serialize)]
pub(crate) struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}

/// `GET /v1/models`.
pub(crate) async fn list(State(state): State<AppState>) -> Json<ModelList> {
    let data = state
        .pool
        .models()
        .into_iter()
        .map(ModelObject::from)
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
}

/// `GET /v1/models/{*id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    // The wildcard keeps a leading slash on some routers; be lenient either way.
    let id = id.strip_prefix('/').unwrap_or(&id);
    state
        .pool
        .model(id)
        .map(|info| Json(ModelObject::from(info)))
        .ok_or_else(|| ApiError::ModelNotFound(id.to_owned()))
}
