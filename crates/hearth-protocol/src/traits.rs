//! The two interfaces every engine offers: generating, and managing models.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};

use crate::{BackendError, GenerateEvent, GenerateRequest, KeepAlive};

/// A boxed future, so the traits can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs generations.
pub trait Backend: Send + Sync {
    /// Queues `request`; the returned stream yields its events. Fails at once when the
    /// model is unknown, cannot be loaded, the prompt does not fit its context or the
    /// queue is full. Dropping the stream cancels the request.
    fn generate(
        &self,
        request: GenerateRequest,
    ) -> BoxFuture<'_, Result<EventStream, BackendError>>;
}

/// Knows which models can be served and which are loaded.
pub trait ModelPool: Send + Sync {
    /// Every model that can be served, loaded or not, sorted by name.
    fn models(&self) -> Vec<ModelInfo>;
    /// One model by its served name.
    fn model(&self, name: &str) -> Option<ModelInfo> {
        self.models().into_iter().find(|m| m.name == name)
    }
    /// Loads a model now rather than on first use, and keeps it loaded for
    /// `keep_alive` once idle (`None`: the pool's default).
    fn load(
        &self,
        name: &str,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Unloads a model, finishing nothing: its running requests end with an error.
    fn unload(&self, name: &str) -> Result<(), BackendError>;
    /// Offers one more model file under `name` (a model just pulled); a file that is
    /// not a servable model is refused.
    fn add(&self, name: &str, path: PathBuf) -> Result<ModelInfo, BackendError>;
    /// Unloads a model and stops offering it; its file is left alone.
    fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// The models in memory now.
    fn loaded(&self) -> Vec<LoadedModel>;
    /// Load on the engines right now, for health checks and metrics.
    fn stats(&self) -> PoolStats;
}

/// A servable model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub architecture: String,
    /// Context size requests get.
    pub n_ctx: usize,
    pub size_bytes: u64,
    /// Unix seconds, from the file's modification time.
    pub created: u64,
}

/// A model in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModel {
    pub name: String,
    /// Weights plus KV caches, in bytes.
    pub memory_bytes: u64,
    /// Unix seconds when it will be unloaded if unused; `None` keeps it loaded.
    pub expires_at: Option<u64>,
}

/// What the engines are doing, summed over loaded models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Requests accepted but not yet started.
    pub queued: usize,
    /// Sequences being prefilled or decoded.
    pub running: usize,
    /// Share of the KV-cache capacity in use, 0 to 1.
    pub kv_cache_usage: f64,
}

/// The events of one request. Dropping it tells the engine to stop the request.
pub struct EventStream {
    receiver: tokio::sync::mpsc::UnboundedReceiver<GenerateEvent>,
}

impl EventStream {
    /// A stream fed by `sender`'s side of a channel; the engine sees the stream
    /// dropped through [`tokio::sync::mpsc::UnboundedSender::is_closed`].
    pub fn new(receiver: tokio::sync::mpsc::UnboundedReceiver<GenerateEvent>) -> Self {
        Self { receiver }
    }

    /// A channel whose receiving end is an `EventStream`.
    pub fn channel() -> (tokio::sync::mpsc::UnboundedSender<GenerateEvent>, Self) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (sender, Self::new(receiver))
    }

    /// The next event; `None` once the backend has sent everything.
    pub async fn next(&mut self) -> Option<GenerateEvent> {
        self.receiver.recv().await
    }

    /// The next event without waiting, for callers outside an async runtime.
    pub fn blocking_next(&mut self) -> Option<GenerateEvent> {
        self.receiver.blocking_recv()
    }
}

impl futures_core::Stream for EventStream {
    type Item = GenerateEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}
