//! What a caller asks a backend to generate.

use serde::{Deserialize, Serialize};

use crate::{KeepAlive, SamplingParams, StopConditions};

/// One generation: a prompt for a named model, how to sample and when to stop.
///
/// A request is validated by whoever builds it (the HTTP layer, the command assistant);
/// the backend checks only what needs the model: its name, and the prompt's length
/// against the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// The served model's name.
    pub model: String,
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    pub stop: StopConditions,
    /// Report the chosen token's log-probability, and this many of the most likely
    /// alternatives with theirs; `None` reports nothing.
    pub logprobs: Option<usize>,
    /// Constrain the output to a format.
    pub format: ResponseFormat,
    /// How long the model stays loaded after this request; `None` leaves it to the
    /// pool's default.
    #[serde(default)]
    pub keep_alive: Option<KeepAlive>,
}

impl GenerateRequest {
    /// A request with llama.cpp's default sampling, free text, no limits.
    pub fn new(model: impl Into<String>, prompt: Prompt) -> Self {
        Self {
            model: model.into(),
            prompt,
            sampling: SamplingParams::default(),
            stop: StopConditions::default(),
            logprobs: None,
            format: ResponseFormat::Text,
            keep_alive: None,
        }
    }
}

/// The text the model continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Continued as is, after the model's begin-of-sequence token when it uses one.
    Text(String),
    /// Rendered with the model's chat template, ending with an open assistant turn.
    Chat(Vec<ChatMessage>),
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` (or whatever role the template knows).
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What shape the generated text must have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Anything the model writes.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against this JSON Schema.
    JsonSchema(serde_json::Value),
}
