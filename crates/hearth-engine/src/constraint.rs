//! Constrained decoding for OpenAI's `response_format`: JSON objects and JSON Schema.
//!
//! [`ConstraintFactory`] is built once per loaded model from its tokenizer; it
//! compiles each request's format into a [`Constraint`], one per sequence. Each step,
//! [`Constraint::mask_logits`] sets every token the format does not allow next to
//! `-inf` (the end-of-generation tokens are allowed exactly when the JSON value is
//! complete), the sampler picks among the rest, and [`Constraint::commit`] advances
//! the constraint by the chosen token. [`Constraint::is_finished`] says when nothing
//! but end-of-generation may follow, so the sequence can stop there.
//!
//! The grammar engine is llguidance (what llama.cpp uses for the same job): it
//! compiles a schema to an Earley grammar and computes the mask by walking a trie of
//! the vocabulary.
//!
//! Whitespace between JSON tokens is bounded, as in llama.cpp's own JSON grammars:
//! at most 20 spaces or tabs, or one or two line breaks followed by at most 20 spaces
//! or tabs of indentation. llguidance's default allows any amount, and small models
//! are known to fall into emitting newlines until `max_tokens`; with the bound they
//! must write the next JSON token instead. The value must start right away with its
//! first character (`{` for an object), again as in llama.cpp.

mod vocabulary;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use hearth_models::Tokenizer;
use hearth_protocol::ResponseFormat;
use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};
use toktrie::SimpleVob;

use vocabulary::TokenTable;

/// Whitespace allowed between two JSON tokens (llguidance's `whitespace_pattern`),
/// mirroring llama.cpp's `space ::= | " " | "\n"{1,2} [ \t]{0,20}`.
const WHITESPACE_PATTERN: &str = r"[ \t]{1,20}|(?:\r?\n){1,2}[ \t]{0,20}";

/// Why a response format cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The model's vocabulary cannot back a constraint.
    #[error("the model's vocabulary cannot be used for constrained decoding: {0}")]
    Vocabulary(String),
    /// The request's JSON schema is invalid or uses something not supported; this is
    /// the client's mistake (an HTTP 400).
    #[error("the `response_format` JSON schema cannot be used: {0}")]
    Schema(String),
    /// A token was committed that the format does not allow at that point.
    #[error("token {token} does not fit the response format: {reason}")]
    TokenRejected { token: u32, reason: String },
    /// The constraint broke down while computing the allowed tokens.
    #[error("the response format constraint failed: {0}")]
    Failed(String),
}

/// Compiles response formats for one model; cheap to clone and share between threads.
#[derive(Clone)]
pub struct ConstraintFactory {
    inner: Arc<FactoryInner>,
}

struct FactoryInner {
    parsers: ParserFactory,
    n_vocab: usize,
    end_of_generation: Vec<u32>,
}

impl fmt::Debug for ConstraintFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConstraintFactory")
            .field("n_vocab", &self.inner.n_vocab)
            .field("end_of_generation", &self.inner.end_of_generation)
            .finish_non_exhaustive()
    }
}

impl ConstraintFactory {
    /// Builds the factory for `tokenizer`'s vocabulary: a trie of every token's bytes,
    /// control tokens excluded from text, end-of-generation tokens as the end of a
    /// value. This is the expensive step (about 0.2 s for a 49k vocabulary and several
    /// seconds for a 262k one in a debug build): do it once per model, off the request path.
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, ConstraintError> {
        Self::from_table(&TokenTable::from_tokenizer(tokenizer))
    }

    fn from_table(table: &TokenTable) -> Result<Self, ConstraintError> {
        let env = table.tok_env()?;
        let mut parsers = ParserFactory::new_simple(&env)
            .map_err(|e| ConstraintError::Vocabulary(format!("{e:#}")))?;
        // llguidance logs to stderr by default; errors come back as values instead.
        parsers.quiet();
        // Errors reach HTTP clients: keep them to the point, without parser dumps.
        parsers.limits_mut().verbose_errors = false;
        Ok(Self {
            inner: Arc::new(FactoryInner {
                parsers,
                n_vocab: table.tokens.len(),
                end_of_generation: env.tok_trie().eos_tokens().to_vec(),
            }),
        })
    }

    /// The constraint for one sequence under `format`: `None` for free text.
    ///
    /// `JsonObject` allows any JSON object; `JsonSchema` compiles the schema, and a
    /// schema that is invalid or uses unsupported features gives
    /// [`ConstraintError::Schema`] saying what is wrong.
    pub fn constraint(
        &self,
        format: &ResponseFormat,
    ) -> Result<Option<Constraint>, ConstraintError> {
        let schema = match format {
            ResponseFormat::Text => return Ok(None),
            ResponseFormat::JsonObject => json!({ "type": "object" }),
            ResponseFormat::JsonSchema(schema) => schema.clone(),
        };
        self.json_schema(schema).map(Some)
    }

    fn json_schema(&self, mut schema: Value) -> Result<Constraint, ConstraintError> {
        let Some(object) = schema.as_object_mut() else {
            return Err(ConstraintError::Schema(format!(
                "a schema must be a JSON object, not `{schema}`"
            )));
        };
        // Our settings replace any the client sent: llguidance reads them from the
        // schema, and a client must not lift the whitespace bound.
        object.insert(
            "x-guidance".to_owned(),
            json!({ "whitespace_pattern": WHITESPACE_PATTERN }),
        );
        let grammar = TopLevelGrammar::from_json_schema(schema);
        let parsers = &self.inner.parsers;
        let parser = llguidance::panic_utils::catch_unwind(AssertUnwindSafe(|| {
            parsers.create_parser(grammar)
        }))
        .map_err(|e| ConstraintError::Schema(format!("{e:#}")))?;
        let mut matcher = Matcher::new(Ok(parser));
        if let Some(error) = matcher.get_error() {
            return Err(ConstraintError::Schema(error));
        }
        for warning in matcher.grammar_warnings() {
            tracing::debug!(%warning, "response format schema");
        }
        Ok(Constraint {
            matcher,
            factory: self.inner.clone(),
        })
    }
}

/// One sequence's progress through its response format.
///
/// Each step: [`Constraint::mask_logits`] on the model's logits, sample, then
/// [`Constraint::commit`] the sampled token (end-of-generation included, or simply
/// stop there). Stop with finish reason `stop` once [`Constraint::is_finished`].
/// A clone continues independently from the same point (for several choices).
#[derive(Clone)]
pub struct Constraint {
    matcher: Matcher,
    factory: Arc<FactoryInner>,
}

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Constraint")
            .field("finished", &self.is_finished())
            .field("error", &self.matcher.get_error())
            .finish_non_exhaustive()
    }
}

impl Constraint {
    /// Sets the logit of every token not allowed next to `-inf`; `logits` holds one
    /// score per vocabulary id (entries beyond the vocabulary are disallowed too).
    ///
    /// End-of-generation tokens stay allowed exactly when the value is complete. On an
    /// error only they stay allowed, so a caller that samples anyway ends the sequence.
    pub fn mask_logits(&mut self, logits: &mut [f32]) -> Result<(), ConstraintError> {
        match self.matcher.compute_mask_or_eos() {
            Ok(mask) => {
                let n_vocab = self.factory.n_vocab.min(logits.len());
                let (vocab, beyond) = logits.split_at_mut(n_vocab);
                apply_mask(&mask, vocab);
                beyond.fill(f32::NEG_INFINITY);
                Ok(())
            }
            Err(e) => {
                self.allow_only_end_of_generation(logits);
                Err(ConstraintError::Failed(format!("{e:#}")))
            }
        }
    }

    /// Advances past `token`, the one sampled from masked logits.
    ///
    /// A token the mask did not allow is rejected, and the constraint stays failed.
    pub fn commit(&mut self, token: u32) -> Result<(), ConstraintError> {
        // A finished value has already ended the parse; its end-of-generation token
        // is what the mask allowed, and there is nothing left to advance.
        if self.is_finished() && self.factory.end_of_generation.contains(&token) {
            return Ok(());
        }
        self.matcher
            .consume_token(token)
            .map_err(|e| ConstraintError::TokenRejected {
                token,
                reason: format!("{e:#}"),
            })
    }

    /// Whether the value is complete and nothing but end-of-generation may follow.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped() && !self.matcher.is_error()
    }

    /// Ids allowed next, in order (end-of-generation included when allowed).
    pub fn allowed_tokens(&mut self) -> Result<Vec<u32>, ConstraintError> {
        self.matcher
            .compute_mask_or_eos()
            .map(|mask| mask.to_list())
            .map_err(|e| ConstraintError::Failed(format!("{e:#}")))
    }

    fn allow_only_end_of_generation(&self, logits: &mut [f32]) {
        let eog = &self.factory.end_of_generation;
        for (id, logit) in (0u32..).zip(logits.iter_mut()) {
            if !eog.contains(&id) {
                *logit = f32::NEG_INFINITY;
            }
        }
    }
}

/// Sets `logits[id]` to `-inf` for every id not in `mask`, a word of 32 ids at a time.
fn apply_mask(mask: &SimpleVob, logits: &mut [f32]) {
    const BITS: usize = u32::BITS as usize;
    let words = mask.as_slice();
    let mut chunks = logits.chunks_mut(BITS);
    for (chunk, &word) in chunks.by_ref().zip(words) {
        match word {
            u32::MAX => {}
            0 => chunk.fill(f32::NEG_INFINITY),
            _ => {
                for (bit, logit) in chunk.iter_mut().enumerate() {
                    if word & (1 << bit) == 0 {
                        *logit = f32::NEG_INFINITY;
                    }
                }
            }
        }
    }
    for chunk in chunks {
        chunk.fill(f32::NEG_INFINITY);
    }
}

#[cfg(test)]
mod tests;
