//! Hearth's HTTP server: an OpenAI- and Ollama-compatible API over local models.
//!
//! [`app`] builds the axum [`Router`](axum::Router) over an [`AppState`] (the engines as
//! `Arc<dyn Backend>` and `Arc<dyn ModelPool>`, a [`ServerConfig`] and [`Metrics`]);
//! [`serve`] runs it on a listener with graceful shutdown. Every failure a client sees
//! is an [`ApiError`], rendered as OpenAI's error body (or Ollama's under `/api/`).
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (both streamed with
//! server-sent events when asked), `GET /v1/models`, `GET /v1/models/{id}`,
//! `POST /v1/models/{id}/load` and `/unload`, Ollama's `/api/generate`, `/api/chat`,
//! `/api/tags`, `/api/show`, `/api/ps` and `/api/version` (see [`ollama`]),
//! `GET /health`, `GET /ready`, `GET /metrics` (Prometheus text) and
//! `GET /openapi.json`. See [`openai::wire`] for how request fields map onto a
//! [`GenerateRequest`](hearth_protocol::GenerateRequest) and which defaults apply.

mod auth;
mod error;
mod health;
mod json;
mod metrics;
mod models;
pub mod ollama;
pub mod openai;
mod openapi;
pub mod pulls;
mod server;
mod state;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use json::Json;
pub use metrics::Metrics;
pub use server::{app, serve};
pub use state::{AppState, ServerConfig};
