//! What one forward pass computes: chunks of several sequences at once.

use crate::pool::Buf;

/// Consecutive tokens of one sequence, to be appended to its cache.
///
/// A prompt is one chunk (or several, split under a token budget); a decoding
/// sequence contributes a chunk of one token per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqChunk<'a> {
    pub tokens: &'a [u32],
    /// Position of the first token; must equal the length of the sequence's cache.
    pub start: usize,
}

/// Next-token logits of each chunk in a forward pass, one row of `n_vocab` per chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    data: Buf<f32>,
    n_vocab: usize,
}

impl Logits {
    pub(crate) fn new(data: Buf<f32>, n_vocab: usize) -> Self {
        Self { data, n_vocab }
    }

    /// Number of rows (chunks).
    pub fn len(&self) -> usize {
        self.data.len() / self.n_vocab.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The logits after chunk `i`'s last token; empty when `i` is out of range.
    pub fn row(&self, i: usize) -> &[f32] {
        self.data
            .get(i * self.n_vocab..(i + 1) * self.n_vocab)
            .unwrap_or(&[])
    }
}
