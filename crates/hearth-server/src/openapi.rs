//! `GET /openapi.json`: a small hand-written OpenAPI 3.1 description of the endpoints.
//!
//! It lists paths, methods and the error shape; request and response bodies follow
//! OpenAI's and Ollama's published APIs and are not repeated here. Ollama's endpoints
//! answer errors as `{"error": "…"}` rather than the OpenAI shape.

use axum::Json;
use serde_json::{Value, json};

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<Value> {
    Json(document())
}

fn op(summary: &str, tag: &str) -> Value {
    json!({
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": { "description": "success" },
            "default": {
                "description": "an OpenAI-shaped error",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }
        }
    })
}

/// The whole document.
pub(crate) fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hearth",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OpenAI- and Ollama-compatible API over local GGUF models."
        },
        "paths": {
            "/v1/chat/completions": { "post": op("Create a chat completion; `stream: true` answers with server-sent events", "openai") },
            "/v1/completions": { "post": op("Create a text completion; `stream: true` answers with server-sent events", "openai") },
            "/v1/models": { "get": op("List the servable models", "openai") },
            "/v1/models/{model}": {
                "get": op("One model; its id may hold slashes and colons", "openai"),
                "parameters": [{ "name": "model", "in": "path", "required": true, "schema": { "type": "string" } }]
            },
            "/v1/models/{model}/load": {
                "post": op("Load a model now; optional body `{\"keep_alive\": \"10m\"}`", "models"),
                "parameters": [{ "name": "model", "in": "path", "required": true, "schema": { "type": "string" } }]
            },
            "/v1/models/{model}/unload": {
                "post": op("Unload a model now", "models"),
                "parameters": [{ "name": "model", "in": "path", "required": true, "schema": { "type": "string" } }]
            },
            "/api/generate": { "post": op("Ollama: generate from a prompt; NDJSON-streamed unless `stream: false`; errors are `{\"error\": …}`", "ollama") },
            "/api/chat": { "post": op("Ollama: chat; NDJSON-streamed unless `stream: false`", "ollama") },
            "/api/tags": { "get": op("Ollama: the servable models", "ollama") },
            "/api/show": { "post": op("Ollama: one model's details, GGUF metadata and template", "ollama") },
            "/api/ps": { "get": op("Ollama: the loaded models", "ollama") },
            "/api/version": { "get": op("Ollama: the server's version", "ollama") },
            "/api/pull": { "post": op("Ollama: pull a model; NDJSON progress ending in `{\"status\": \"success\"}`", "ollama") },
            "/api/delete": { "delete": op("Ollama: delete a pulled model, or forget one found on disk", "ollama") },
            "/v1/pulls": {
                "post": op("Start pulling `{\"model\": REF}` in the background (202 with the job)", "pulls"),
                "get": op("Every pull job, newest first", "pulls")
            },
            "/v1/pulls/{id}": {
                "get": op("One pull job", "pulls"),
                "delete": op("Cancel a pull job; what arrived stays for a resume", "pulls"),
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]
            },
            "/v1/pulls/{id}/events": {
                "get": op("A pull job's progress as server-sent events", "pulls"),
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]
            },
            "/health": { "get": op("Liveness: 200 while the server answers; needs no API key", "operations") },
            "/ready": { "get": op("Readiness: 200 when a model can be served, 503 otherwise", "operations") },
            "/metrics": { "get": op("Prometheus metrics", "operations") },
            "/openapi.json": { "get": op("This document", "operations") }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type", "param", "code"],
                            "properties": {
                                "message": { "type": "string" },
                                "type": { "type": "string" },
                                "param": { "type": ["string", "null"] },
                                "code": { "type": ["string", "null"] }
                            }
                        }
                    }
                }
            }
        },
        "security": [{ "bearer": [] }]
    })
}
