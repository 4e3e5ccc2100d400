//! `GET /v1/models` and `GET /v1/models/{id}`: the servable models, OpenAI-shaped;
//! `POST /v1/models/{id}/load` and `POST /v1/models/{id}/unload`: load a model now
//! (optionally with a `keep_alive`) or unload it now.
//!
//! Model ids may hold slashes and colons (`owner/repo:q4_k_m`), so the single-model
//! routes are one wildcard, and the action is the id's last segment.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use hearth_protocol::{LoadedModel, ModelInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// `POST /v1/models/{id}/load` body, optional: `keep_alive` as seconds or a duration.
#[derive(Debug, Default, Deserialize)]
struct LoadBody {
    keep_alive: Option<Value>,
}

/// A model and whether it is in memory.
#[derive(Debug, Serialize)]
pub(crate) struct ModelState {
    #[serde(flatten)]
    model: ModelObject,
    loaded: bool,
    /// Weights plus KV caches, when loaded.
    memory_bytes: Option<u64>,
    /// Unix seconds when it will be unloaded if unused; `null` when it stays loaded
    /// or is not loaded.
    expires_at: Option<u64>,
}

impl ModelState {
    fn new(state: &AppState, info: ModelInfo) -> Self {
        let loaded: Option<LoadedModel> = state
            .pool
            .loaded()
            .into_iter()
            .find(|m| m.name == info.name);
        Self {
            model: ModelObject::from(info),
            loaded: loaded.is_some(),
            memory_bytes: loaded.as_ref().map(|m| m.memory_bytes),
            expires_at: loaded.and_then(|m| m.expires_at),
        }
    }
}

/// `POST /v1/models/{*id}/load` and `POST /v1/models/{*id}/unload`.
pub(crate) async fn action(
    State(state): State<AppState>,
    Path(path): Path<String>,
    body: Bytes,
) -> Result<Json<ModelState>, ApiError> {
    let path = path.strip_prefix('/').unwrap_or(&path);
    let (id, action) = match path.rsplit_once('/') {
        Some((id, action @ ("load" | "unload"))) => (id, action),
        _ => return Err(ApiError::NotFound(format!("/v1/models/{path}"))),
    };
    let info = state
        .pool
        .model(id)
        .ok_or_else(|| ApiError::ModelNotFound(id.to_owned()))?;
    if action == "load" {
        let body: LoadBody = if body.iter().all(u8::is_ascii_whitespace) {
            LoadBody::default()
        } else {
            crate::json::parse(&body)?
        };
        let keep_alive = crate::ollama::wire::keep_alive(body.keep_alive.as_ref())?;
        state.pool.load(id, keep_alive).await?;
    } else {
        state.pool.unload(id)?;
    }
    Ok(Json(ModelState::new(&state, info)))
}
