//! Helpers shared by Hearth's tests (a dev-dependency only).
//!
//! [`real_model`] finds the real test models fetched by `scripts/fetch-test-models.sh`;
//! [`tiny_llama`] writes a tiny random-weight llama GGUF; [`parity`] reads the
//! llama.cpp reference fixtures.

#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

pub mod parity;
mod real;
mod tiny;

pub use real::{RealModel, real_model, repo_root};
pub use tiny::{TINY_SPECIAL_TOKENS, TinyLlama, tiny_llama};
