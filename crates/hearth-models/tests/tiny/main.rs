//! Tests on tiny random-weight models written by the test itself.

#![allow(clippy::unwrap_used)]

mod forward;
mod loading;
mod tokenizer;

use std::path::PathBuf;

use hearth_test_support::TinyLlama;

/// Writes `model` into a fresh temporary folder; keep the guard alive while using the path.
pub fn write(model: &TinyLlama) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    model.write(&path);
    (dir, path)
}
