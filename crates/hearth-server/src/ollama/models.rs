//! `GET /api/tags`, `POST /api/show`, `GET /api/ps` and `GET /api/version`: what
//! models there are and which are loaded, Ollama-shaped.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hearth_protocol::ModelInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::facts::{self, Details};
use super::{OllamaError, resolve, rfc3339, unix_now};
use crate::json::Json;
use crate::{ApiError, AppState};

/// A model kept loaded forever expires, for Ollama clients, this far ahead: Go's
/// largest duration, which is what Ollama reports.
const FOREVER_SECS: u64 = 9_223_372_036;

/// `GET /api/version`: Hearth's version.
pub(crate) async fn version() -> axum::Json<Value> {
    axum::Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

/// One entry of `/api/tags`.
#[derive(Debug, Serialize)]
struct Tag {
    name: String,
    model: String,
    /// RFC 3339.
    modified_at: String,
    size: u64,
    digest: String,
    details: Details,
}

/// `GET /api/tags`: every servable model.
pub(crate) async fn tags(State(state): State<AppState>) -> axum::Json<Value> {
    let models: Vec<Tag> = state
        .pool
        .models()
        .into_iter()
        .map(|info| Tag {
            name: info.name.clone(),
            model: info.name.clone(),
            modified_at: rfc3339(info.created),
            size: info.size_bytes,
            digest: facts::digest(&info),
            details: facts::details(&info),
        })
        .collect();
    axum::Json(json!({ "models": models }))
}

/// `POST /api/show` body; `name` is Ollama's older spelling of `model`.
#[derive(Debug, Deserialize)]
pub(crate) struct ShowBody {
    model: Option<String>,
    name: Option<String>,
    verbose: Option<bool>,
}

/// `/api/show` answer.
#[derive(Debug, Serialize)]
struct Show {
    modelfile: String,
    parameters: String,
    template: String,
    details: Details,
    model_info: Map<String, Value>,
    capabilities: [&'static str; 1],
    modified_at: String,
}

/// `POST /api/show`: one model's details, metadata and chat template.
pub(crate) async fn show(
    State(state): State<AppState>,
    body: Result<Json<ShowBody>, ApiError>,
) -> Response {
    let result = body.and_then(|Json(body)| {
        let name = body
            .model
            .or(body.name)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("model", "`model` is required"))?;
        let info = resolve(&state, &name)?;
        Ok(describe(&info, body.verbose.unwrap_or(false)))
    });
    match result {
        Ok(show) => axum::Json(show).into_response(),
        Err(err) => OllamaError(err).into_response(),
    }
}

fn describe(info: &ModelInfo, verbose: bool) -> Show {
    let facts = facts::read(info, verbose);
    // The defaults `/api/generate` and `/api/chat` apply, in Modelfile form.
    let parameters = format!(
        "num_ctx {}\ntemperature 0.8\ntop_k 40\ntop_p 0.9\nrepeat_penalty 1.1",
        info.n_ctx
    );
    let mut modelfile = format!("FROM {}\n", info.path.display());
    if !facts.template.is_empty() {
        modelfile.push_str(&format!("TEMPLATE \"\"\"{}\"\"\"\n", facts.template));
    }
    for line in parameters.lines() {
        modelfile.push_str(&format!("PARAMETER {line}\n"));
    }
    Show {
        modelfile,
        parameters,
        template: facts.template,
        details: facts.details,
        model_info: facts.model_info,
        capabilities: ["completion"],
        modified_at: rfc3339(info.created),
    }
}

/// One entry of `/api/ps`.
#[derive(Debug, Serialize)]
struct Running {
    name: String,
    model: String,
    /// Bytes in memory: weights and KV caches.
    size: u64,
    digest: String,
    details: Details,
    /// RFC 3339.
    expires_at: String,
    size_vram: u64,
    context_length: usize,
}

/// `GET /api/ps`: the models in memory now.
pub(crate) async fn ps(State(state): State<AppState>) -> axum::Json<Value> {
    let models: Vec<Running> = state
        .pool
        .loaded()
        .into_iter()
        .filter_map(|loaded| {
            let info = state.pool.model(&loaded.name)?;
            let expires_at = loaded
                .expires_at
                .unwrap_or_else(|| unix_now().saturating_add(FOREVER_SECS));
            Some(Running {
                name: loaded.name.clone(),
                model: loaded.name,
                size: loaded.memory_bytes,
                digest: facts::digest(&info),
                details: facts::details(&info),
                expires_at: rfc3339(expires_at),
                size_vram: 0,
                context_length: info.n_ctx,
            })
        })
        .collect();
    axum::Json(json!({ "models": models }))
}
