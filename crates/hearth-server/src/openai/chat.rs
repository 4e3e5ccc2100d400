//! `POST /v1/chat/completions`.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hearth_protocol::{FinishReason, TokenEvent, Usage};

use super::response::{
    AssistantMessage, ChatChoice, ChatChunk, ChatCompletion, ChatLogprobs, ChunkChoice, Delta,
    Meta, WireUsage, finish_reason,
};
use super::run::{self, ChunkFormat, to_json};
use super::wire::ChatCompletionRequest;
use crate::json::Json;
use crate::{ApiError, AppState};

/// Handles one chat completion, streamed or not.
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Json<ChatCompletionRequest>, ApiError>,
) -> Response {
    let started = Instant::now();
    let model = body.as_ref().ok().and_then(|Json(b)| b.model.clone());
    let result = handle(&state, body, started).await;
    super::finish(&state, model.as_deref(), result)
}

async fn handle(
    state: &AppState,
    body: Result<Json<ChatCompletionRequest>, ApiError>,
    started: Instant,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let validated = body.validate()?;
    super::log_request(state, &validated);
    let meta = Meta::new("chatcmpl", &validated.model);
    let want_logprobs = validated.requests.iter().any(|r| r.logprobs.is_some());
    if validated.stream {
        let streams = run::start(state, validated.requests).await?;
        let format = ChatFormat { meta };
        let include_usage = validated.include_usage;
        return Ok(run::sse(
            state,
            &validated.model,
            streams,
            format,
            include_usage,
            started,
        ));
    }
    let (outputs, usage) = run::collect_all(state, validated.requests, started).await?;
    super::log_usage(usage);
    let choices = (0u32..)
        .zip(outputs)
        .map(|(index, output)| ChatChoice {
            index,
            message: AssistantMessage {
                role: "assistant",
                content: output.text,
            },
            finish_reason: finish_reason(output.finish_reason),
            logprobs: want_logprobs.then(|| ChatLogprobs::new(&output.logprobs)),
        })
        .collect();
    let body = ChatCompletion {
        id: meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        choices,
        usage: usage.into(),
    };
    Ok(axum::Json(body).into_response())
}

/// Chat stream chunks: a role chunk per choice, content deltas, a finish chunk.
struct ChatFormat {
    meta: Meta,
}

impl ChatFormat {
    fn chunk(&self, choice: ChunkChoice) -> String {
        to_json(&ChatChunk::new(&self.meta, vec![choice], None))
    }
}

impl ChunkFormat for ChatFormat {
    fn opening(&mut self, index: u32) -> Option<String> {
        Some(self.chunk(ChunkChoice {
            index,
            delta: Delta {
                role: Some("assistant"),
                content: Some(String::new()),
            },
            logprobs: None,
            finish_reason: None,
        }))
    }

    fn token(&mut self, index: u32, token: TokenEvent) -> String {
        let logprobs = token
            .logprobs
            .map(|lp| ChatLogprobs::new(std::slice::from_ref(&lp)));
        self.chunk(ChunkChoice {
            index,
            delta: Delta {
                role: None,
                content: Some(token.text),
            },
            logprobs,
            finish_reason: None,
        })
    }

    fn finish(&mut self, index: u32, reason: FinishReason) -> String {
        self.chunk(ChunkChoice {
            index,
            delta: Delta::default(),
            logprobs: None,
            finish_reason: Some(finish_reason(reason)),
        })
    }

    fn usage(&mut self, usage: Usage) -> String {
        to_json(&ChatChunk::new(
            &self.meta,
            Vec::new(),
            Some(WireUsage::from(usage)),
        ))
    }
}
