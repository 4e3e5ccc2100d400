//! OpenAI response bodies and stream chunks, and their construction from backend
//! events.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_protocol::{FinishReason, TokenLogprob, TokenLogprobs, Usage};
use serde::Serialize;

/// What every response and chunk of one request shares.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// `chatcmpl-…` or `cmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
}

impl Meta {
    pub fn new(prefix: &str, model: &str) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            id: format!("{prefix}-{}", uuid::Uuid::new_v4().simple()),
            created,
            model: model.to_owned(),
        }
    }
}

/// OpenAI's `usage` object.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct WireUsage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
    pub prompt_tokens_details: PromptTokensDetails,
}

/// How many prompt tokens came from the cache a previous request left behind.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PromptTokensDetails {
    pub cached_tokens: usize,
}

impl From<Usage> for WireUsage {
    fn from(usage: Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens(),
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: usage.cached_tokens,
            },
        }
    }
}

pub(crate) fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// `chat.completion`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: WireUsage,
}

#[derive(Debug, Serialize)]
pub(crate) struct ChatChoice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<ChatLogprobs>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AssistantMessage {
    pub role: &'static str,
    pub content: String,
}

/// `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

impl<'a> ChatChunk<'a> {
    pub fn new(meta: &'a Meta, choices: Vec<ChunkChoice>, usage: Option<WireUsage>) -> Self {
        Self {
            id: &meta.id,
            object: "chat.completion.chunk",
            created: meta.created,
            model: &meta.model,
            choices,
            usage,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Chat log-probabilities: `{"content": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatLogprobs {
    pub content: Vec<ChatTokenLogprob>,
}

impl ChatLogprobs {
    pub fn new(tokens: &[TokenLogprobs]) -> Self {
        Self {
            content: tokens.iter().map(ChatTokenLogprob::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ChatTokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

impl From<&TokenLogprobs> for ChatTokenLogprob {
    fn from(lp: &TokenLogprobs) -> Self {
        Self {
            token: lp.chosen.text.clone(),
            logprob: lp.chosen.logprob,
            bytes: lp.chosen.bytes.clone(),
            top_logprobs: lp.top.iter().map(TopLogprob::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

impl From<&TokenLogprob> for TopLogprob {
    fn from(lp: &TokenLogprob) -> Self {
        Self {
            token: lp.text.clone(),
            logprob: lp.logprob,
            bytes: lp.bytes.clone(),
        }
    }
}

/// `text_completion`, both the whole response and each stream chunk.
#[derive(Debug, Serialize)]
pub(crate) struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

impl<'a> Completion<'a> {
    pub fn new(meta: &'a Meta, choices: Vec<CompletionChoice>, usage: Option<WireUsage>) -> Self {
        Self {
            id: &meta.id,
            object: "text_completion",
            created: meta.created,
            model: &meta.model,
            choices,
            usage,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct CompletionChoice {
    pub index: u32,
    pub text: String,
    pub logprobs: Option<CompletionLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// Legacy completions log-probabilities: parallel lists, one entry per token.
#[derive(Debug, Default, Serialize)]
pub(crate) struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<f32>,
    /// The most likely alternatives of each token, as `{token: logprob}`.
    pub top_logprobs: Vec<BTreeMap<String, f32>>,
    /// Where each token starts in the generated text, in bytes.
    pub text_offset: Vec<usize>,
}

impl CompletionLogprobs {
    /// The entries of `tokens`, the first starting `offset` bytes into the text;
    /// advances `offset` past them.
    pub fn new(tokens: &[TokenLogprobs], offset: &mut usize) -> Self {
        let mut out = Self::default();
        for lp in tokens {
            out.tokens.push(lp.chosen.text.clone());
            out.token_logprobs.push(lp.chosen.logprob);
            out.top_logprobs
                .push(lp.top.iter().map(|t| (t.text.clone(), t.logprob)).collect());
            out.text_offset.push(*offset);
            *offset += lp.chosen.bytes.len();
        }
        out
    }
}
