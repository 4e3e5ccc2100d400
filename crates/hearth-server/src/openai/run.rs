//! Running the `n` backend requests of one API request, collected into whole choices
//! or streamed as SSE chunks.
//!
//! The event streams are owned by the future (non-streamed) or by the SSE body
//! (streamed) and by nothing else: when a client goes away, axum drops the one or the
//! other, which drops the streams and so cancels the requests in the backend.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::try_join_all;
use futures_util::stream::{self, SelectAll, StreamExt};
use hearth_protocol::{
    EventStream, FinishReason, GenerateEvent, GenerateRequest, TokenEvent, TokenLogprobs, Usage,
};
use serde::Serialize;
use tokio::time::Sleep;

use crate::{ApiError, AppState, Metrics};

/// One finished choice.
#[derive(Debug)]
pub(crate) struct ChoiceOutput {
    pub text: String,
    /// One entry per generated token, when log-probabilities were asked for.
    pub logprobs: Vec<TokenLogprobs>,
    pub finish_reason: FinishReason,
}

/// Queues every request at once, within the request timeout; if any is refused, the
/// others are dropped, which cancels them.
pub(crate) async fn start(
    state: &AppState,
    requests: Vec<GenerateRequest>,
) -> Result<Vec<EventStream>, ApiError> {
    let backend = state.backend.as_ref();
    let timeout = state.config.request_timeout;
    let queued = try_join_all(requests.into_iter().map(|r| backend.generate(r)));
    let streams = tokio::time::timeout(timeout, queued)
        .await
        .map_err(|_| ApiError::Timeout(timeout))??;
    Ok(streams)
}

/// Runs every request to its end, within the request timeout. Usage counts the prompt
/// once and the completions of all choices.
pub(crate) async fn collect_all(
    state: &AppState,
    requests: Vec<GenerateRequest>,
    started: Instant,
) -> Result<(Vec<ChoiceOutput>, Usage), ApiError> {
    let timeout = state.config.request_timeout;
    let work = async {
        let streams = start(state, requests).await?;
        let metrics = state.metrics.as_ref();
        try_join_all(streams.into_iter().map(|s| collect(s, metrics, started))).await
    };
    let results = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ApiError::Timeout(timeout))??;
    let mut usage = Usage::default();
    let mut choices = Vec::with_capacity(results.len());
    for (i, (choice, choice_usage)) in results.into_iter().enumerate() {
        if i == 0 {
            usage.prompt_tokens = choice_usage.prompt_tokens;
            usage.cached_tokens = choice_usage.cached_tokens;
        }
        usage.completion_tokens += choice_usage.completion_tokens;
        choices.push(choice);
    }
    state
        .metrics
        .record_tokens(usage.prompt_tokens, usage.completion_tokens);
    Ok((choices, usage))
}

async fn collect(
    mut stream: EventStream,
    metrics: &Metrics,
    started: Instant,
) -> Result<(ChoiceOutput, Usage), ApiError> {
    let mut timing = Timing::new(started);
    let mut text = String::new();
    let mut logprobs = Vec::new();
    loop {
        match stream.next().await {
            Some(GenerateEvent::Token(token)) => {
                timing.token(metrics);
                text.push_str(&token.text);
                logprobs.extend(token.logprobs);
            }
            Some(GenerateEvent::Done(done)) => {
                timing.done(metrics, done.usage.completion_tokens);
                let choice = ChoiceOutput {
                    text,
                    logprobs,
                    finish_reason: done.finish_reason,
                };
                return Ok((choice, done.usage));
            }
            Some(GenerateEvent::Error(err)) => return Err(err.into()),
            None => return Err(ended_early()),
        }
    }
}

pub(crate) fn ended_early() -> ApiError {
    ApiError::Internal("the backend closed the event stream without a result".to_owned())
}

/// Time to first token and time per output token of one sequence.
pub(crate) struct Timing {
    started: Instant,
    first_token: Option<Instant>,
}

impl Timing {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            first_token: None,
        }
    }

    pub(crate) fn token(&mut self, metrics: &Metrics) {
        if self.first_token.is_none() {
            let now = Instant::now();
            metrics.observe_time_to_first_token(now - self.started);
            self.first_token = Some(now);
        }
    }

    /// When the first token arrived, if one has.
    pub(crate) fn first_token(&self) -> Option<Instant> {
        self.first_token
    }

    pub(crate) fn done(&self, metrics: &Metrics, completion_tokens: usize) {
        if let (Some(first), Ok(later)) = (self.first_token, u32::try_from(completion_tokens))
            && later > 1
        {
            metrics.observe_time_per_output_token(first.elapsed() / (later - 1));
        }
    }
}

/// How one endpoint renders stream chunks.
pub(crate) trait ChunkFormat: Send + 'static {
    /// The chunk that opens choice `index`, if the endpoint sends one.
    fn opening(&mut self, index: u32) -> Option<String>;
    /// A chunk for a token event with text or log-probabilities.
    fn token(&mut self, index: u32, token: TokenEvent) -> String;
    /// The chunk that closes choice `index`.
    fn finish(&mut self, index: u32, reason: FinishReason) -> String;
    /// The extra chunk with empty choices and the request's usage.
    fn usage(&mut self, usage: Usage) -> String;
}

/// Serializes a chunk; these types always serialize, but a failure still ends up as
/// an error event rather than a panic.
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| {
        tracing::error!(%err, "could not serialize a stream chunk");
        error_json(&ApiError::Internal(err.to_string()))
    })
}

fn error_json(err: &ApiError) -> String {
    serde_json::to_string(&err.body()).unwrap_or_else(|_| {
        r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
            .to_owned()
    })
}

type Indexed =
    stream::Map<EventStream, Box<dyn FnMut(GenerateEvent) -> (u32, GenerateEvent) + Send>>;

/// The state of one SSE response.
struct SseState<F> {
    events: SelectAll<Indexed>,
    format: F,
    pending: VecDeque<Event>,
    deadline: Pin<Box<Sleep>>,
    timings: Vec<Timing>,
    usage: Usage,
    remaining: usize,
    include_usage: bool,
    metrics: Arc<Metrics>,
    model: String,
    timeout: Duration,
    finished: bool,
}

/// The SSE response over started streams: chunks, then `data: [DONE]`. An error
/// event, a stream that ends early, or the request timeout send `data: {"error":…}`
/// and end the stream.
pub(crate) fn sse<F: ChunkFormat>(
    state: &AppState,
    model: &str,
    streams: Vec<EventStream>,
    mut format: F,
    include_usage: bool,
    started: Instant,
) -> Response {
    let mut pending = VecDeque::new();
    let mut events = SelectAll::new();
    for (index, s) in (0u32..).zip(streams) {
        if let Some(chunk) = format.opening(index) {
            pending.push_back(Event::default().data(chunk));
        }
        let tag: Box<dyn FnMut(GenerateEvent) -> (u32, GenerateEvent) + Send> =
            Box::new(move |event| (index, event));
        events.push(s.map(tag));
    }
    let remaining = events.len();
    let sse_state = SseState {
        events,
        format,
        pending,
        deadline: Box::pin(tokio::time::sleep_until(
            (started + state.config.request_timeout).into(),
        )),
        timings: (0..remaining).map(|_| Timing::new(started)).collect(),
        usage: Usage::default(),
        remaining,
        include_usage,
        metrics: Arc::clone(&state.metrics),
        model: model.to_owned(),
        timeout: state.config.request_timeout,
        finished: false,
    };
    let body = stream::unfold(sse_state, |mut s| async move {
        let event = s.next_event().await?;
        Some((Ok::<_, Infallible>(event), s))
    });
    Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response()
}

impl<F: ChunkFormat> SseState<F> {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            let timeout = tokio::select! {
                event = self.events.next() => {
                    self.handle(event);
                    false
                }
                () = &mut self.deadline => true,
            };
            if timeout {
                self.fail(&ApiError::Timeout(self.timeout));
            }
        }
    }

    fn handle(&mut self, event: Option<(u32, GenerateEvent)>) {
        let Some((index, event)) = event else {
            self.fail(&ended_early());
            return;
        };
        let Some(timing) = self.timings.get_mut(index as usize) else {
            return;
        };
        match event {
            GenerateEvent::Token(token) => {
                timing.token(&self.metrics);
                if !token.text.is_empty() || token.logprobs.is_some() {
                    let chunk = self.format.token(index, token);
                    self.pending.push_back(Event::default().data(chunk));
                }
            }
            GenerateEvent::Done(done) => {
                timing.done(&self.metrics, done.usage.completion_tokens);
                if index == 0 {
                    self.usage.prompt_tokens = done.usage.prompt_tokens;
                    self.usage.cached_tokens = done.usage.cached_tokens;
                }
                self.usage.completion_tokens += done.usage.completion_tokens;
                let chunk = self.format.finish(index, done.finish_reason);
                self.pending.push_back(Event::default().data(chunk));
                self.remaining = self.remaining.saturating_sub(1);
                if self.remaining == 0 {
                    self.complete();
                }
            }
            GenerateEvent::Error(err) => self.fail(&err.into()),
        }
    }

    fn complete(&mut self) {
        self.metrics
            .record_tokens(self.usage.prompt_tokens, self.usage.completion_tokens);
        let span = tracing::Span::current();
        span.record("prompt_tokens", self.usage.prompt_tokens);
        span.record("completion_tokens", self.usage.completion_tokens);
        tracing::info!(
            model = %self.model,
            prompt_tokens = self.usage.prompt_tokens,
            completion_tokens = self.usage.completion_tokens,
            "stream finished"
        );
        if self.include_usage {
            let chunk = self.format.usage(self.usage);
            self.pending.push_back(Event::default().data(chunk));
        }
        self.pending.push_back(Event::default().data("[DONE]"));
        self.finished = true;
    }

    fn fail(&mut self, err: &ApiError) {
        if err.status().is_server_error() {
            tracing::error!(error = %err, "stream failed");
        } else {
            tracing::warn!(error = %err, "stream failed");
        }
        // Drop the other choices' streams now, so the backend stops them.
        self.events = SelectAll::new();
        self.pending
            .push_back(Event::default().data(error_json(err)));
        self.finished = true;
    }
}
