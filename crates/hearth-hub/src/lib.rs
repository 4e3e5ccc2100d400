//! Hearth's model store: pulling GGUF files from a Hugging Face compatible hub into
//! content-addressed blobs, name manifests, and discovery of models already on disk.
//!
//! - [`ModelRef`] parses what the user types (`owner/repo[@rev][:QUANT|:FILE.gguf]`).
//! - [`Puller`] resolves it with a [`HubClient`], downloads with resume, retries and a
//!   sha256 check, reports [`Progress`], and writes a [`Manifest`].
//! - [`HearthHome`] knows where blobs, manifests and locks live; [`manifest::list`],
//!   [`manifest::remove`] and [`manifest::resolve`] manage what was pulled.
//! - [`discovery`] finds GGUF models already on disk (Hugging Face cache, Ollama,
//!   LM Studio, `./models`, `HEARTH_MODELS`), reading only their metadata.
//! - Every failure is a [`HubError`] with a user-facing message and a hint.

mod client;
pub mod discovery;
mod download;
mod error;
mod home;
mod lock;
pub mod manifest;
mod pull;
mod reference;
mod select;

pub use client::{ClientConfig, DEFAULT_ENDPOINT, HubClient, RepoFile, RetryPolicy};
pub use error::HubError;
pub use home::HearthHome;
pub use manifest::{BlobRef, Manifest, Source};
pub use pull::{Progress, Puller};
pub use reference::{DEFAULT_QUANT, DEFAULT_REVISION, ModelRef, Selector};
pub use select::{available_quants, quant_of, select_files, split_part};
