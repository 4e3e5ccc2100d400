//! Real-model tests: llama.cpp parity on the models fetched by
//! `scripts/fetch-test-models.sh`.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod parity;
mod pool;
mod support;
