//! SentencePiece-style vocabularies (`tokenizer.ggml.model = llama`), tokenized the way
//! llama.cpp does it: characters merged pairwise by the score of the token they form,
//! highest first, and whatever never forms a token falls back to `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use hearth_gguf::Metadata;

use super::vocab::Vocab;
use crate::error::{ModelError, Result};

/// The character SentencePiece uses for a space.
pub(crate) const SPACE: char = '\u{2581}';

#[derive(Debug, Clone)]
pub(crate) struct Spm {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    bytes: Box<[Option<u32>; 256]>,
    pub(crate) add_space_prefix: bool,
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of two adjacent symbols; the heap pops the highest score, and on
/// equal scores the leftmost pair (llama.cpp's order).
#[derive(Debug, PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Spm {
    pub(crate) fn from_metadata(md: &Metadata, vocab: &Vocab) -> Result<Self> {
        let scores = md.f32_array("tokenizer.ggml.scores")?;
        if scores.len() != vocab.len() {
            return Err(ModelError::Vocab(format!(
                "`tokenizer.ggml.scores` has {} entries for {} tokens",
                scores.len(),
                vocab.len()
            )));
        }
        let ids = vocab.ids_by_text();
        let bytes = Box::new(std::array::from_fn(|b| {
            ids.get(&format!("<0x{b:02X}>")).copied()
        }));
        Ok(Self {
            ids,
            scores,
            bytes,
            add_space_prefix: md
                .opt_bool("tokenizer.ggml.add_space_prefix")?
                .unwrap_or(true),
        })
    }

    /// Appends the ids of `text` (spaces already replaced by [`SPACE`]).
    pub(crate) fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            let len = c.len_utf8();
            symbols.push(Symbol {
                start,
                len,
                prev: i.checked_sub(1),
                next: (start + len < text.len()).then_some(i + 1),
            });
        }
        let mut queue = BinaryHeap::new();
        let mut merged_from: HashMap<&str, (usize, usize)> = HashMap::new();
        for i in 1..symbols.len() {
            self.push_bigram(
                text,
                &symbols,
                Some(i - 1),
                Some(i),
                &mut queue,
                &mut merged_from,
            );
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.len {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(b.left);
            }
            let (prev, next) = (symbols[b.left].prev, symbols[b.left].next);
            self.push_bigram(
                text,
                &symbols,
                prev,
                Some(b.left),
                &mut queue,
                &mut merged_from,
            );
            self.push_bigram(
                text,
                &symbols,
                Some(b.left),
                next,
                &mut queue,
                &mut merged_from,
            );
        }
        let mut i = (!symbols.is_empty()).then_some(0);
        while let Some(s) = i {
            self.resegment(text, &symbols, s, &merged_from, out);
            i = symbols[s].next;
        }
    }

    fn push_bigram<'t>(
        &self,
        text: &'t str,
        symbols: &[Symbol],
        left: Option<usize>,
        right: Option<usize>,
        queue: &mut BinaryHeap<Bigram>,
        merged_from: &mut HashMap<&'t str, (usize, usize)>,
    ) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        let piece = &text[start..start + len];
        let Some(&id) = self.ids.get(piece) else {
            return;
        };
        queue.push(Bigram {
            score: self.scores[id as usize],
            left,
            right,
            len,
        });
        merged_from.insert(piece, (left, right));
    }

    fn resegment(
        &self,
        text: &str,
        symbols: &[Symbol],
        i: usize,
        merged_from: &HashMap<&str, (usize, usize)>,
        out: &mut Vec<u32>,
    ) {
        let s = symbols[i];
        let piece = &text[s.start..s.start + s.len];
        if let Some(&id) = self.ids.get(piece) {
            out.push(id);
            return;
        }
        match merged_from.get(piece) {
            // Every merge forms a token, so a merged piece was found above; the guard
            // only keeps a malformed vocabulary from recursing forever.
            Some(&(l, r)) if l != i && r != i => {
                self.resegment(text, symbols, l, merged_from, out);
                self.resegment(text, symbols, r, merged_from, out);
            }
            _ => out.extend(piece.bytes().filter_map(|b| self.bytes[b as usize])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of `(text, score)` pairs; byte tokens exist for `x` and `y` only.
    fn spm(entries: &[(&str, f32)]) -> Spm {
        let ids: HashMap<String, u32> = entries
            .iter()
            .enumerate()
            .map(|(i, (t, _))| ((*t).to_owned(), i as u32))
            .collect();
        let bytes = Box::new(std::array::from_fn(|b| {
            ids.get(&format!("<0x{b:02X}>")).copied()
        }));
        Spm {
            ids,
            scores: entries.iter().map(|(_, s)| *s).collect(),
            bytes,
            add_space_prefix: false,
        }
    }

    fn encode(spm: &Spm, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        spm.encode(text, &mut out);
        out
    }

    #[test]
    fn highest_scoring_merge_wins() {
        // "abc": "ab" (score 1) and "bc" (score 2) compete; "bc" wins, then "a" + "bc".
        let v = spm(&[
            ("a", 0.0),
            ("b", 0.0),
            ("c", 0.0),
            ("ab", 1.0),
            ("bc", 2.0),
            ("abc", -5.0),
        ]);
        assert_eq!(encode(&v, "abc"), vec![5]);
        let v = spm(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("ab", 1.0), ("bc", 2.0)]);
        assert_eq!(encode(&v, "abc"), vec![0, 4]);
    }

    #[test]
    fn equal_scores_merge_leftmost_first() {
        let v = spm(&[("a", 0.0), ("aa", 1.0)]);
        assert_eq!(encode(&v, "aaa"), vec![1, 0]);
    }

    #[test]
    fn unknown_characters_fall_back_to_byte_tokens() {
        let v = spm(&[
            ("a", 0.0),
            ("<0x78>", 0.0),
            ("<0xC3>", 0.0),
            ("<0xA9>", 0.0),
        ]);
        assert_eq!(encode(&v, "axé"), vec![0, 1, 2, 3]);
    }

    #[test]
    fn empty_text_gives_no_tokens() {
        let v = spm(&[("a", 0.0)]);
        assert!(encode(&v, "").is_empty());
    }
}
