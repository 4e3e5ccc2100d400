//! One request inside the engine: turns each step's logits into a token and events.

use std::time::Instant;

use hearth_models::Tokenizer;
use hearth_protocol::{
    Done, FinishReason, GenerateEvent, SamplingParams, StopConditions, TokenEvent, TokenLogprob,
    TokenLogprobs, Usage,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::{Constraint, Sampler, StopMatcher, Utf8Stream, logprobs};

/// What a sequence needs next after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Feed this token through the model.
    Feed(u32),
    /// The sequence has ended and sent its `Done` event.
    Finished,
}

/// Generation state of one request: sampling, stop strings, text assembly, limits.
///
/// It owns the sending half of the request's event channel; a closed channel means the
/// client has gone and the request should be dropped.
#[derive(Debug)]
pub(crate) struct Sequence {
    prompt: Vec<u32>,
    sampler: Sampler,
    stops: StopMatcher,
    utf8: Utf8Stream,
    generated: usize,
    /// Prompt tokens found in the KV cache when the sequence started.
    cached: usize,
    /// When it took a KV slot, and when its first token was sampled (prefill done).
    admitted: Option<Instant>,
    prefilled: Option<Instant>,
    /// Most tokens this sequence may generate (its `max_tokens` clamped to the context).
    limit: usize,
    logprobs: Option<usize>,
    /// Keeps the output to a JSON format; `masked` is its scratch copy of the logits.
    constraint: Option<Constraint>,
    masked: Vec<f32>,
    events: UnboundedSender<GenerateEvent>,
}

/// Everything the engine needs to start a sequence.
#[derive(Debug)]
pub(crate) struct NewSequence {
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    pub stop: StopConditions,
    pub logprobs: Option<usize>,
    pub constraint: Option<Constraint>,
    pub events: UnboundedSender<GenerateEvent>,
}

impl Sequence {
    /// A sequence that may fill a context of `n_ctx` positions.
    pub(crate) fn new(new: NewSequence, n_ctx: usize) -> Self {
        let room = n_ctx.saturating_sub(new.prompt.len());
        let mut sampler = Sampler::new(&new.sampling);
        new.prompt.iter().for_each(|&t| sampler.accept(t));
        Self {
            limit: new.stop.max_tokens.map_or(room, |m| m.min(room)),
            stops: StopMatcher::new(&new.stop.stop),
            utf8: Utf8Stream::new(),
            generated: 0,
            cached: 0,
            admitted: None,
            prefilled: None,
            logprobs: new.logprobs,
            constraint: new.constraint,
            masked: Vec::new(),
            events: new.events,
            sampler,
            prompt: new.prompt,
        }
    }

    pub(crate) fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// Records when the sequence took its KV slot and how many prompt tokens it found
    /// there, reused from an earlier request or the prompt cache.
    pub(crate) fn admit(&mut self, cached: usize, at: Instant) {
        self.cached = cached;
        self.admitted = Some(at);
    }

    /// Whether the client stopped listening.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.events.is_closed()
    }

    /// Picks the next token from `logits` (the model's scores after the last fed
    /// token), sends what it releases, and says what to feed next.
    pub(crate) fn step(&mut self, logits: &[f32], tokenizer: &Tokenizer) -> Next {
        if self.prefilled.is_none() {
            self.prefilled = Some(Instant::now());
            self.log_prompt_timing();
        }
        if self.generated >= self.limit {
            return self.finish(FinishReason::Length);
        }
        let token = match self.sample(logits) {
            Ok(token) => token,
            Err(e) => return self.fail_with(e),
        };
        if tokenizer.is_end_of_generation(token) {
            let tail = self.flush();
            if !tail.is_empty() {
                self.send_token(token, tail, None);
            }
            return self.finish(FinishReason::Stop);
        }
        self.sampler.accept(token);
        self.generated += 1;
        let logprobs = self
            .logprobs
            .map(|n| token_logprobs(logits, token, n, tokenizer));
        let out = self
            .stops
            .push(&self.utf8.push(tokenizer.token_bytes(token)));
        if out.stopped {
            self.send_token(token, out.text, logprobs);
            return self.finish(FinishReason::Stop);
        }
        // A complete JSON value leaves nothing but end-of-generation to sample: end
        // now rather than spend a forward pass on it.
        if self
            .constraint
            .as_ref()
            .is_some_and(Constraint::is_finished)
        {
            let text = out.text + &self.flush();
            self.send_token(token, text, logprobs);
            return self.finish(FinishReason::Stop);
        }
        if self.generated >= self.limit {
            let text = out.text + &self.flush();
            self.send_token(token, text, logprobs);
            return self.finish(FinishReason::Length);
        }
        self.send_token(token, out.text, logprobs);
        Next::Feed(token)
    }

    /// Samples from `logits`, among the tokens the constraint allows if there is one;
    /// the constraint then takes the token.
    fn sample(&mut self, logits: &[f32]) -> Result<u32, crate::ConstraintError> {
        let Some(constraint) = self.constraint.as_mut() else {
            return Ok(self.sampler.sample(logits));
        };
        self.masked.clear();
        self.masked.extend_from_slice(logits);
        constraint.mask_logits(&mut self.masked)?;
        let token = self.sampler.sample(&self.masked);
        constraint.commit(token)?;
        Ok(token)
    }

    fn fail_with(&mut self, error: crate::ConstraintError) -> Next {
        tracing::error!(%error, "constrained decoding failed");
        self.fail(hearth_protocol::BackendError::Internal(format!(
            "constrained decoding failed: {error}"
        )));
        Next::Finished
    }

    /// Ends the sequence with an error event (the model was unloaded, a forward failed).
    pub(crate) fn fail(&self, error: hearth_protocol::BackendError) {
        // The client may be gone already; then nobody needs the event.
        let _ = self.events.send(GenerateEvent::Error(error));
    }

    /// Text still held back by the UTF-8 decoder or the stop matcher.
    fn flush(&mut self) -> String {
        let tail = self.utf8.finish();
        let mut out = self.stops.push(&tail).text;
        if !self.stops.is_stopped() {
            out.push_str(&self.stops.finish());
        }
        out
    }

    fn send_token(&self, token: u32, text: String, logprobs: Option<TokenLogprobs>) {
        let event = TokenEvent {
            text,
            token,
            logprobs,
        };
        // A closed channel is noticed by the engine before the next step.
        let _ = self.events.send(GenerateEvent::Token(event));
    }

    fn finish(&mut self, finish_reason: FinishReason) -> Next {
        let done = Done {
            finish_reason,
            usage: Usage {
                prompt_tokens: self.prompt.len(),
                completion_tokens: self.generated,
                cached_tokens: self.cached,
            },
        };
        self.log_timings();
        let _ = self.events.send(GenerateEvent::Done(done));
        Next::Finished
    }

    /// Where the prompt's time went, from taking a slot (restoring a cached prefix
    /// included) to the first token; logged then, since a client that has what it
    /// needs may stop listening before the end.
    fn log_prompt_timing(&self) {
        let (Some(admitted), Some(prefilled)) = (self.admitted, self.prefilled) else {
            return;
        };
        tracing::info!(
            prompt_tokens = self.prompt.len(),
            cached_tokens = self.cached,
            prefill_ms = prefilled.duration_since(admitted).as_millis() as u64,
            "prompt processed"
        );
    }

    /// The decoding after the first token.
    pub(crate) fn log_timings(&self) {
        let Some(prefilled) = self.prefilled else {
            return;
        };
        tracing::info!(
            generated = self.generated,
            decode_ms = prefilled.elapsed().as_millis() as u64,
            "request finished"
        );
    }
}

fn token_logprobs(logits: &[f32], token: u32, top_n: usize, tok: &Tokenizer) -> TokenLogprobs {
    let (chosen, top) = logprobs(logits, token, top_n);
    let entry = |id: u32, logprob: f32| {
        let bytes = tok.token_bytes(id).to_vec();
        TokenLogprob {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            logprob,
        }
    };
    TokenLogprobs {
        chosen: entry(token, chosen),
        top: top.into_iter().map(|(id, lp)| entry(id, lp)).collect(),
    }
}
