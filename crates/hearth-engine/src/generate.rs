//! Running one sequence from prompt to finish, alone: the loop behind `hearth run`.
//! The same [`Sequence`] state the batching engine uses turns logits into text.

use std::time::{Duration, Instant};

use hearth_models::{KvCache, Model, SeqChunk};
use hearth_protocol::{
    BackendError, FinishReason, GenerateEvent, SamplingParams, StopConditions, Usage,
};

use crate::Constraint;
use crate::error::EngineError;
use crate::sequence::{NewSequence, Next, Sequence};

/// Prompt tokens per forward pass while prefilling: bounds the activations' memory.
const PREFILL_CHUNK: usize = 512;

/// How a finished generation went.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Generated token ids, without an end-of-generation token.
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// Time spent on the prompt (prefill).
    pub prompt_time: Duration,
    /// Time spent generating after the prompt.
    pub generation_time: Duration,
}

/// Generates from `prompt` until an end-of-generation token, a stop string, `max_tokens`
/// or the end of a context of `n_ctx` tokens; `on_text` receives the text as it forms
/// (whole UTF-8 characters, never any part of a stop string).
///
/// With a `constraint`, each step samples only among the tokens it allows, and the
/// generation stops (finish reason `stop`) as soon as the constrained value is complete.
pub fn generate(
    model: &Model,
    prompt: &[u32],
    params: &SamplingParams,
    stop: &StopConditions,
    n_ctx: usize,
    constraint: Option<Constraint>,
    mut on_text: impl FnMut(&str),
) -> Result<Outcome, EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let mut cache = model.new_cache(n_ctx)?;
    let n_ctx = cache.n_ctx();
    if prompt.len() >= n_ctx {
        return Err(EngineError::PromptTooLong {
            n_prompt: prompt.len(),
            n_ctx,
        });
    }
    let started = Instant::now();
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let new = NewSequence {
        prompt: prompt.to_vec(),
        sampling: params.clone(),
        stop: stop.clone(),
        logprobs: None,
        constraint,
        events,
    };
    let mut sequence = Sequence::new(new, n_ctx);
    let mut logits = prefill(model, prompt, &mut cache)?;
    let prompt_time = started.elapsed();

    let tokenizer = model.tokenizer();
    let mut tokens = Vec::new();
    loop {
        let next = sequence.step(&logits, tokenizer);
        while let Ok(event) = received.try_recv() {
            match event {
                GenerateEvent::Token(t) => {
                    // The end-of-generation token only carries held-back text.
                    if !tokenizer.is_end_of_generation(t.token) {
                        tokens.push(t.token);
                    }
                    on_text(&t.text);
                }
                GenerateEvent::Done(done) => {
                    return Ok(Outcome {
                        usage: done.usage,
                        tokens,
                        finish_reason: done.finish_reason,
                        prompt_time,
                        generation_time: started.elapsed() - prompt_time,
                    });
                }
                GenerateEvent::Error(e) => return Err(EngineError::Failed(e)),
            }
        }
        let Next::Feed(token) = next else {
            return Err(EngineError::Failed(BackendError::Internal(
                "the sequence ended without a result".into(),
            )));
        };
        let chunk = SeqChunk {
            tokens: std::slice::from_ref(&token),
            start: cache.len(),
        };
        logits = model.forward(&[chunk], &mut [&mut cache])?.row(0).to_vec();
    }
}

/// Feeds the prompt through the model in chunks; returns the logits after its last token.
fn prefill(model: &Model, prompt: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, EngineError> {
    let mut logits = Vec::new();
    for part in prompt.chunks(PREFILL_CHUNK) {
        let chunk = SeqChunk {
            tokens: part,
            start: cache.len(),
        };
        logits = model.forward(&[chunk], &mut [&mut *cache])?.row(0).to_vec();
    }
    Ok(logits)
}
