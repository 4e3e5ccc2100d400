//! What comes back from a backend while a request runs.

use serde::{Deserialize, Serialize};

use crate::{FinishReason, Usage};

/// One step of a running generation, in order: any number of `Token`s, then one
/// `Done` or one `Error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerateEvent {
    Token(TokenEvent),
    Done(Done),
    Error(BackendError),
}

/// A generated token and the text it released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEvent {
    /// Text that is now final: whole UTF-8 characters, with anything that may still
    /// become a stop string held back. Often empty, sometimes several tokens' worth.
    pub text: String,
    /// The token's id in the model's vocabulary.
    pub token: u32,
    /// Present when the request asked for log-probabilities.
    pub logprobs: Option<TokenLogprobs>,
}

/// The log-probability of a chosen token and of the most likely alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprobs {
    pub chosen: TokenLogprob,
    /// Most likely first.
    pub top: Vec<TokenLogprob>,
}

/// One token with its natural-log probability under the model (before sampling filters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text, lossily decoded when its bytes are not whole UTF-8.
    pub text: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// Why a backend could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum BackendError {
    #[error("model '{0}' not found")]
    ModelNotFound(String),
    #[error(
        "the prompt has {n_prompt} tokens but the model's context holds {n_ctx}; \
         shorten the prompt or raise the context size"
    )]
    ContextLengthExceeded { n_prompt: usize, n_ctx: usize },
    /// Too many requests are waiting; try again after about this many seconds.
    #[error("too many requests are waiting; retry in {retry_after_secs} s")]
    QueueFull { retry_after_secs: u64 },
    /// The request cannot be served as given; `param` names the field at fault.
    #[error("{message}")]
    InvalidRequest {
        param: Option<String>,
        message: String,
    },
    /// The model could not be loaded or the backend cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure inside the backend.
    #[error("internal error: {0}")]
    Internal(String),
}

/// An error and its causes on one line, `error: cause: cause…`, for messages and logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
