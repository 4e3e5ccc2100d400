//! Real-model tests: llama.cpp parity and constrained JSON on the models fetched by
//! `scripts/fetch-test-models.sh`.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod constraint;
mod parity;
mod pool;
mod prompt_cache;
mod residency;
mod support;
