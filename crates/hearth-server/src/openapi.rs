//! `GET /openapi.json`: a small hand-written OpenAPI 3.1 description of the endpoints.
//!
//! It lists paths, methods and the error shape; request and response bodies follow
//! OpenAI's published schema and are not repeated here.

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
            "description": "OpenAI-compatible API over local GGUF models."
        },
        "paths": {
            "/v1/chat/completions": { "post": op("Create a chat completion; `stream: true` answers with server-sent events", "openai") },
            "/v1/completions": { "post": op("Create a text completion; `stream: true` answers with server-sent events", "openai") },
            "/v1/models": { "get": op("List the servable models", "openai") },
            "/v1/models/{model}": {
                "get": op("One model; its id may hold slashes and colons", "openai"),
                "parameters": [{ "name": "model", "in": "path", "required": true, "schema": { "type": "string" } }]
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
