//! Running one generation for `/api/generate` or `/api/chat`: collected into one
//! object, or streamed as NDJSON, one object per line, ending with `"done": true`
//! and Ollama's counters.
//!
//! Durations are nanoseconds measured by the server: `load_duration` from the
//! request's arrival until the backend accepted it (loading the model and queueing),
//! `prompt_eval_duration` from then to the first token, `eval_duration` from the first
//! token to the end, `total_duration` the whole. The event stream belongs to the
//! future or to the response body, so a client that goes away cancels the request.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use hearth_protocol::{
    EventStream, FinishReason, GenerateEvent, GenerateRequest, TokenLogprob, TokenLogprobs, Usage,
};
use serde::Serialize;
use tokio::time::Sleep;

use super::{OllamaError, now_rfc3339};
use crate::openai::run::{Timing, ended_early, start};
use crate::{ApiError, AppState, Metrics};

/// Which endpoint the lines are for: they differ only in where the text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/api/generate`: `"response": "…"`.
    Generate,
    /// `/api/chat`: `"message": {"role": "assistant", "content": "…"}`.
    Chat,
}

/// One NDJSON line, or the whole non-streamed answer.
#[derive(Debug, Serialize)]
pub(crate) struct Line {
    model: String,
    created_at: String,
    #[serde(flatten)]
    text: Text,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    counters: Option<Counters>,
    /// Only when asked for: one entry per token of this line (or of the whole answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Vec<Logprob>>,
}

/// Ollama's log-probability of one token, with its most likely alternatives.
#[derive(Debug, Serialize)]
struct Logprob {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<Vec<Logprob>>,
}

impl Logprob {
    fn one(lp: &TokenLogprob) -> Self {
        Self {
            token: lp.text.clone(),
            logprob: lp.logprob,
            bytes: lp.bytes.clone(),
            top_logprobs: None,
        }
    }

    fn new(lp: TokenLogprobs) -> Self {
        Self {
            top_logprobs: Some(lp.top.iter().map(Self::one).collect()),
            ..Self::one(&lp.chosen)
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Text {
    Response { response: String },
    Message { message: Message },
}

#[derive(Debug, Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

/// Ollama's token counts and durations (nanoseconds) on the final object.
#[derive(Debug, Clone, Copy, Serialize)]
struct Counters {
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: usize,
    prompt_eval_duration: u64,
    eval_count: usize,
    eval_duration: u64,
}

impl Line {
    fn new(kind: Kind, model: &str, text: String) -> Self {
        let text = match kind {
            Kind::Generate => Text::Response { response: text },
            Kind::Chat => Text::Message {
                message: Message {
                    role: "assistant",
                    content: text,
                },
            },
        };
        Self {
            model: model.to_owned(),
            created_at: now_rfc3339(),
            text,
            done: false,
            done_reason: None,
            counters: None,
            logprobs: None,
        }
    }

    /// The answer to a request that only loaded (`"load"`) or unloaded (`"unload"`)
    /// its model.
    pub(crate) fn lifecycle(kind: Kind, model: &str, reason: &'static str) -> Self {
        let mut line = Self::new(kind, model, String::new());
        line.done = true;
        line.done_reason = Some(reason);
        line
    }
}

/// The clock of one request, and the metrics it feeds.
struct Clock {
    started: Instant,
    accepted: Instant,
    timing: Timing,
}

impl Clock {
    fn token(&mut self, metrics: &Metrics) {
        self.timing.token(metrics);
    }

    fn counters(&self, usage: Usage, metrics: &Metrics) -> Counters {
        self.timing.done(metrics, usage.completion_tokens);
        metrics.record_tokens(usage.prompt_tokens, usage.completion_tokens);
        let now = Instant::now();
        let first = self.timing.first_token().unwrap_or(now);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Counters {
            total_duration: nanos(now - self.started),
            load_duration: nanos(self.accepted - self.started),
            prompt_eval_count: usage.prompt_tokens,
            prompt_eval_duration: nanos(first.saturating_duration_since(self.accepted)),
            eval_count: usage.completion_tokens,
            eval_duration: nanos(now.saturating_duration_since(first)),
        }
    }
}

fn done_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// Starts `request` within the request timeout.
async fn begin(
    state: &AppState,
    request: GenerateRequest,
    started: Instant,
) -> Result<(EventStream, Clock), ApiError> {
    let stream = start(state, vec![request])
        .await?
        .pop()
        .ok_or_else(ended_early)?;
    let clock = Clock {
        started,
        accepted: Instant::now(),
        timing: Timing::new(started),
    };
    Ok((stream, clock))
}

/// Runs `request` to its end and answers with one JSON object.
pub(crate) async fn collect(
    state: &AppState,
    kind: Kind,
    model: &str,
    request: GenerateRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let timeout = state.config.request_timeout;
    let metrics = state.metrics.as_ref();
    let want_logprobs = request.logprobs.is_some();
    let work = async {
        let (mut stream, mut clock) = begin(state, request, started).await?;
        let mut text = String::new();
        let mut logprobs = Vec::new();
        loop {
            match stream.next().await {
                Some(GenerateEvent::Token(token)) => {
                    clock.token(metrics);
                    text.push_str(&token.text);
                    logprobs.extend(token.logprobs.map(Logprob::new));
                }
                Some(GenerateEvent::Done(done)) => {
                    let mut line = Line::new(kind, model, text);
                    line.logprobs = want_logprobs.then_some(logprobs);
                    line.done = true;
                    line.done_reason = Some(done_reason(done.finish_reason));
                    line.counters = Some(clock.counters(done.usage, metrics));
                    crate::openai::log_usage(done.usage);
                    return Ok(line);
                }
                Some(GenerateEvent::Error(err)) => return Err(ApiError::from(err)),
                None => return Err(ended_early()),
            }
        }
    };
    let line = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ApiError::Timeout(timeout))??;
    Ok(axum::Json(line).into_response())
}

/// Starts `request` and answers with its NDJSON stream. A refusal before the first
/// line is an ordinary error response; an error later is a last `{"error": …}` line.
pub(crate) async fn stream(
    state: &AppState,
    kind: Kind,
    model: &str,
    request: GenerateRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let (events, clock) = begin(state, request, started).await?;
    let ndjson = Ndjson {
        events,
        clock,
        kind,
        model: model.to_owned(),
        metrics: Arc::clone(&state.metrics),
        deadline: Box::pin(tokio::time::sleep_until(
            (started + state.config.request_timeout).into(),
        )),
        timeout: state.config.request_timeout,
        finished: false,
    };
    let body = stream::unfold(ndjson, |mut s| async move {
        let line = s.next_line().await?;
        Some((Ok::<_, Infallible>(line), s))
    });
    Ok(ndjson_response(Body::from_stream(body)))
}

/// A response with Ollama's streaming content type.
pub(crate) fn ndjson_response(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// One serialized line with its newline.
pub(crate) fn line_bytes<T: Serialize>(value: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|err| {
        tracing::error!(%err, "could not serialize a stream line");
        error_line(&ApiError::Internal(err.to_string()))
    });
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn error_line(err: &ApiError) -> Vec<u8> {
    let message = OllamaError(err.clone()).message();
    serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec())
}

/// The state of one NDJSON response.
struct Ndjson {
    events: EventStream,
    clock: Clock,
    kind: Kind,
    model: String,
    metrics: Arc<Metrics>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    finished: bool,
}

impl Ndjson {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                return None;
            }
            let event = tokio::select! {
                event = self.events.next() => event,
                () = &mut self.deadline => return Some(self.fail(&ApiError::Timeout(self.timeout))),
            };
            match event {
                Some(GenerateEvent::Token(token)) => {
                    self.clock.token(&self.metrics);
                    if !token.text.is_empty() || token.logprobs.is_some() {
                        let mut line = Line::new(self.kind, &self.model, token.text);
                        line.logprobs = token.logprobs.map(|lp| vec![Logprob::new(lp)]);
                        return Some(line_bytes(&line));
                    }
                }
                Some(GenerateEvent::Done(done)) => {
                    self.finished = true;
                    let mut line = Line::new(self.kind, &self.model, String::new());
                    line.done = true;
                    line.done_reason = Some(done_reason(done.finish_reason));
                    line.counters = Some(self.clock.counters(done.usage, &self.metrics));
                    tracing::info!(
                        model = %self.model,
                        prompt_tokens = done.usage.prompt_tokens,
                        completion_tokens = done.usage.completion_tokens,
                        "stream finished"
                    );
                    return Some(line_bytes(&line));
                }
                Some(GenerateEvent::Error(err)) => return Some(self.fail(&err.into())),
                None => return Some(self.fail(&ended_early())),
            }
        }
    }

    fn fail(&mut self, err: &ApiError) -> Bytes {
        if err.status().is_server_error() {
            tracing::error!(error = %err, "stream failed");
        } else {
            tracing::warn!(error = %err, "stream failed");
        }
        self.finished = true;
        let mut bytes = error_line(err);
        bytes.push(b'\n');
        Bytes::from(bytes)
    }
}
