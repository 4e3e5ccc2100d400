//! Where answers come from: the in-process engine, a Hearth server, any
//! OpenAI-compatible server, Ollama, and a [`Chain`] that falls back between them.

mod chain;
mod http;
mod local;
mod ollama;
mod openai;

use std::time::Duration;

use hearth_protocol::{BoxFuture, ChatMessage};
use serde_json::Value;

pub use chain::{Answered, Chain, ChainError};
pub use local::InProcess;
pub use ollama::Ollama;
pub use openai::OpenAiCompatible;

/// One chat completion to ask a backend for.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<ChatMessage>,
    /// Constrain the answer to this JSON schema where the backend can.
    pub schema: Option<Value>,
    /// Generate at most this many tokens.
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Stop as soon as a whole non-empty `command` field has been generated, where the
    /// backend streams (the in-process one): what follows it, the explanation, is
    /// then missing from the answer.
    pub stop_after_command: bool,
}

/// Why one backend gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendFailure {
    /// The server could not be reached or the connection broke.
    #[error("cannot reach `{url}`")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("`{url}` answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// The server's answer is not the JSON it should be.
    #[error("unexpected answer from `{url}`: {message}")]
    BadResponse { url: String, message: String },
    /// The in-process engine refused or failed.
    #[error(transparent)]
    Engine(#[from] hearth_protocol::BackendError),
    /// No answer within the time allowed.
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
}

impl BackendFailure {
    /// Whether trying the same backend again may help: broken connections, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            BackendFailure::Unreachable { source, .. } => !source.is_connect(),
            BackendFailure::Status { status, .. } => *status == 429 || *status >= 500,
            BackendFailure::Engine(hearth_protocol::BackendError::QueueFull { .. }) => true,
            _ => false,
        }
    }
}

/// Something that answers chat completions for the command assistant.
pub trait CommandBackend: Send + Sync {
    /// A short name saying which backend answered, e.g. `local:qwen2.5-coder` or
    /// `ollama:http://127.0.0.1:11434`.
    fn name(&self) -> &str;

    /// A cheap check that the backend is there (the server answers; a local model
    /// exists). The [`Chain`] skips a backend whose check fails.
    fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>>;

    /// The text of the model's answer.
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<String, BackendFailure>>;
}
