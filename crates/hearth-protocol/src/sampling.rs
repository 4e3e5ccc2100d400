use serde::{Deserialize, Serialize};

/// How the next token is chosen from the model's logits.
///
/// Defaults are llama.cpp's, so the same flags give the same behaviour in both tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Softmax temperature; `0` (or below) means greedy: always the most likely token.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `0` keeps all.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability adds up to `top_p`; `1` keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; `0` keeps all.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recently seen tokens; `1` is off.
    pub repeat_penalty: f32,
    /// How many of the most recent tokens the penalties look at.
    pub repeat_last_n: usize,
    /// Subtracted once from the logit of every recently seen token; `0` is off.
    pub presence_penalty: f32,
    /// Subtracted per occurrence from the logit of recently seen tokens; `0` is off.
    pub frequency_penalty: f32,
    /// Seed of the random draw; the same seed and input give the same output.
    /// `None` draws a fresh seed.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Parameters that always pick the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Whether these parameters pick the most likely token without a random draw.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// When a generation ends, besides the model's own end-of-generation tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopConditions {
    /// At most this many generated tokens; `None` runs to the end of the context.
    pub max_tokens: Option<usize>,
    /// Stop as soon as the generated text contains one of these; the stop string
    /// itself is not part of the output.
    pub stop: Vec<String>,
}

/// Why a generation ended, in OpenAI's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the end of the context.
    Length,
}

/// Token counts of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose KV cache an earlier request left behind, so they were not
    /// computed again (OpenAI's `prompt_tokens_details.cached_tokens`).
    #[serde(default)]
    pub cached_tokens: usize,
}

impl Usage {
    pub fn total_tokens(&self) -> usize {
        self.prompt_tokens + self.completion_tokens
    }
}
