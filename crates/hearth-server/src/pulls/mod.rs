//! Pulling models while serving: background jobs persisted in SQLite.
//!
//! `POST /v1/pulls` starts a job (or joins the unfinished one for the same model),
//! `GET /v1/pulls` and `GET /v1/pulls/{id}` report on them, `GET /v1/pulls/{id}/events`
//! streams progress as server-sent events, and `DELETE /v1/pulls/{id}` cancels one;
//! Ollama's `POST /api/pull` and `DELETE /api/delete` speak the same jobs in Ollama's
//! shapes. Jobs survive a restart: [`PullManager::resume`] restarts unfinished ones,
//! which continue from their partial files. The download itself is a
//! [`ModelSource`]'s business (the hub client in the binary), so these tests need no
//! hub.

mod manager;
pub(crate) mod ollama;
pub(crate) mod routes;

use std::path::PathBuf;

use hearth_protocol::BoxFuture;
use serde::Serialize;

pub use manager::{JobUpdate, PullManager};

/// Where pulled models come from.
pub trait ModelSource: Send + Sync {
    /// The canonical model name a reference pulls to (`owner/repo:quant`).
    fn canonical_name(&self, reference: &str) -> Result<String, SourceError>;
    /// Downloads and verifies the model, reporting progress as it goes; the result is
    /// the model file to serve. Dropping the future stops the download, leaving what
    /// arrived for the next attempt to resume from.
    fn pull<'a>(
        &'a self,
        reference: &'a str,
        progress: Box<dyn FnMut(PullProgress) + Send + 'a>,
    ) -> BoxFuture<'a, Result<PathBuf, SourceError>>;
    /// Forgets a model: deletes its files when the source owns them.
    fn delete(&self, name: &str) -> Result<Deleted, SourceError>;
}

/// What deleting a model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Its files were deleted.
    Removed,
    /// It was found on disk outside the store: no longer offered, file left alone.
    Forgotten,
    NotFound,
}

/// Why a pull or delete failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The reference cannot be parsed or names no file.
    #[error("{0}")]
    BadReference(String),
    /// The hub has no such repository or file.
    #[error("{0}")]
    NotFound(String),
    /// Network, disk or checksum failure after retries.
    #[error("{0}")]
    Failed(String),
}

/// How far a pull has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    pub phase: PullPhase,
    /// The file being downloaded or verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `sha256:<hex>` of that file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes of the whole pull that have arrived, and the total when known.
    pub completed: u64,
    pub total: Option<u64>,
}

/// The steps of a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPhase {
    Resolving,
    Downloading,
    Verifying,
    Done,
}
