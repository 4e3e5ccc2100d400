//! What every handler shares: the engines, the configuration and the metrics.

use std::sync::Arc;
use std::time::Duration;

use hearth_protocol::{Backend, ModelPool};

use crate::Metrics;
use crate::pulls::PullManager;

/// The server's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Runs generations.
    pub backend: Arc<dyn Backend>,
    /// Lists and loads models.
    pub pool: Arc<dyn ModelPool>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// Pulls models in the background; `None` on a server that does not pull.
    pub pulls: Option<Arc<PullManager>>,
}

impl AppState {
    /// State over `backend` and `pool` with `config` and fresh metrics.
    pub fn new(backend: Arc<dyn Backend>, pool: Arc<dyn ModelPool>, config: ServerConfig) -> Self {
        Self {
            backend,
            pool,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            pulls: None,
        }
    }

    /// The same state, pulling models through `pulls`.
    pub fn with_pulls(mut self, pulls: Arc<PullManager>) -> Self {
        self.pulls = Some(pulls);
        self
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How the server behaves; [`ServerConfig::default`] suits a local server.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// When set, every endpoint but `/health` needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// How long one generation request may run, streamed or not (default 600 s).
    /// A non-streamed request that runs out is answered with 504; a stream ends
    /// with an error event.
    pub request_timeout: Duration,
    /// Browser origins allowed by CORS, e.g. `https://app.example.com`. Empty allows
    /// `http://localhost`, `http://127.0.0.1` and `http://[::1]` on any port.
    pub cors_origins: Vec<String>,
    /// Log prompts (at debug level). Off by default: prompts may hold private data.
    pub log_prompts: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            request_timeout: Duration::from_secs(600),
            cors_origins: Vec::new(),
            log_prompts: false,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("cors_origins", &self.cors_origins)
            .field("log_prompts", &self.log_prompts)
            .finish()
    }
}
