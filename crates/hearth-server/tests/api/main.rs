//! The HTTP API against a scripted fake backend: one test binary, one module per area.

mod cancellation;
mod chat;
mod completions;
mod errors;
mod models;
mod ollama;
mod ollama_models;
mod ops;
mod pulls;
mod support;
mod validation;
