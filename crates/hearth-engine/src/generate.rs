//! Running one sequence from prompt to finish: the loop behind `hearth run`.

use std::time::{Duration, Instant};

use hearth_models::{KvCache, Model, SeqChunk};
use hearth_protocol::{FinishReason, SamplingParams, StopConditions, Usage};

use crate::error::EngineError;
use crate::{Constraint, Sampler, StopMatcher, Utf8Stream};

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
    mut constraint: Option<Constraint>,
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
    let mut sampler = Sampler::new(params);
    prompt.iter().for_each(|&t| sampler.accept(t));
    let mut logits = prefill(model, prompt, &mut cache)?;
    let prompt_time = started.elapsed();

    let room = n_ctx - prompt.len();
    let limit = stop.max_tokens.map_or(room, |m| m.min(room));
    let mut stops = StopMatcher::new(&stop.stop);
    let mut utf8 = Utf8Stream::new();
    let mut tokens = Vec::new();
    let tokenizer = model.tokenizer();
    let finish_reason = loop {
        if tokens.len() >= limit {
            break FinishReason::Length;
        }
        if let Some(constraint) = constraint.as_mut() {
            constraint.mask_logits(&mut logits)?;
        }
        let token = sampler.sample(&logits);
        if tokenizer.is_end_of_generation(token) {
            break FinishReason::Stop;
        }
        if let Some(constraint) = constraint.as_mut() {
            constraint.commit(token)?;
        }
        sampler.accept(token);
        tokens.push(token);
        let out = stops.push(&utf8.push(tokenizer.token_bytes(token)));
        on_text(&out.text);
        if out.stopped || constraint.as_ref().is_some_and(Constraint::is_finished) {
            break FinishReason::Stop;
        }
        if tokens.len() >= limit {
            break FinishReason::Length;
        }
        let chunk = SeqChunk {
            tokens: std::slice::from_ref(&token),
            start: cache.len(),
        };
        logits = model.forward(&[chunk], &mut [&mut cache])?.row(0).to_vec();
    };
    if !stops.is_stopped() {
        let tail = utf8.finish();
        let mut out = stops.push(&tail).text;
        if !stops.is_stopped() {
            out.push_str(&stops.finish());
        }
        on_text(&out);
    }
    Ok(Outcome {
        usage: Usage {
            prompt_tokens: prompt.len(),
            completion_tokens: tokens.len(),
            cached_tokens: 0,
        },
        tokens,
        finish_reason,
        prompt_time,
        generation_time: started.elapsed() - prompt_time,
    })
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
