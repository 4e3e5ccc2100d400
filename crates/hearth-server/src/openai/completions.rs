//! `POST /v1/completions`: the legacy text completion endpoint.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hearth_protocol::{FinishReason, TokenEvent, Usage};

use super::response::{
    Completion, CompletionChoice, CompletionLogprobs, Meta, WireUsage, finish_reason,
};
use super::run::{self, ChunkFormat, to_json};
use super::wire::CompletionRequest;
use crate::json::Json;
use crate::{ApiError, AppState};

/// Handles one text completion, streamed or not.
pub(crate) async fn completions(
    State(state): State<AppState>,
    body: Result<Json<CompletionRequest>, ApiError>,
) -> Response {
    let started = Instant::now();
    let model = body.as_ref().ok().and_then(|Json(b)| b.model.clone());
    let result = handle(&state, body, started).await;
    super::finish(&state, model.as_deref(), result)
}

async fn handle(
    state: &AppState,
    body: Result<Json<CompletionRequest>, ApiError>,
    started: Instant,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let validated = body.validate()?;
    super::log_request(state, &validated);
    let meta = Meta::new("cmpl", &validated.model);
    let want_logprobs = validated.requests.iter().any(|r| r.logprobs.is_some());
    if validated.stream {
        let streams = run::start(state, validated.requests).await?;
        let format = CompletionFormat {
            offsets: vec![0; streams.len()],
            meta,
        };
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
        .map(|(index, output)| CompletionChoice {
            index,
            logprobs: want_logprobs.then(|| CompletionLogprobs::new(&output.logprobs, &mut 0)),
            text: output.text,
            finish_reason: Some(finish_reason(output.finish_reason)),
        })
        .collect();
    let body = Completion::new(&meta, choices, Some(usage.into()));
    Ok(axum::Json(body).into_response())
}

/// Completion stream chunks: text deltas, then a finish chunk per choice.
struct CompletionFormat {
    meta: Meta,
    /// Bytes generated so far by each choice, for `text_offset`.
    offsets: Vec<usize>,
}

impl CompletionFormat {
    fn chunk(&self, choice: CompletionChoice) -> String {
        to_json(&Completion::new(&self.meta, vec![choice], None))
    }
}

impl ChunkFormat for CompletionFormat {
    fn opening(&mut self, _index: u32) -> Option<String> {
        None
    }

    fn token(&mut self, index: u32, token: TokenEvent) -> String {
        let logprobs = match (token.logprobs, self.offsets.get_mut(index as usize)) {
            (Some(lp), Some(offset)) => {
                Some(CompletionLogprobs::new(std::slice::from_ref(&lp), offset))
            }
            _ => None,
        };
        self.chunk(CompletionChoice {
            index,
            text: token.text,
            logprobs,
            finish_reason: None,
        })
    }

    fn finish(&mut self, index: u32, reason: FinishReason) -> String {
        self.chunk(CompletionChoice {
            index,
            text: String::new(),
            logprobs: None,
            finish_reason: Some(finish_reason(reason)),
        })
    }

    fn usage(&mut self, usage: Usage) -> String {
        to_json(&Completion::new(
            &self.meta,
            Vec::new(),
            Some(WireUsage::from(usage)),
        ))
    }
}
