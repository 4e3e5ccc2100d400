//! Splitting special tokens out of text before the subword model sees it.

use super::vocab::{TokenKind, Vocab};

/// A piece of text to tokenize, or a special token already recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Special tokens in matching order, with their texts.
#[derive(Debug, Clone)]
pub(crate) struct SpecialTokens {
    tokens: Vec<(u32, String, TokenKind)>,
}

impl SpecialTokens {
    pub(crate) fn new(vocab: &Vocab) -> Self {
        let tokens = vocab
            .special_tokens()
            .into_iter()
            .map(|(id, kind)| (id, vocab.texts[id as usize].clone(), kind))
            .collect();
        Self { tokens }
    }

    /// Splits `text` at special tokens as llama.cpp does: each special token, longest
    /// first, is cut out of whatever text is still unclaimed. Control and unknown tokens
    /// are only recognised when `parse_special`; user-defined ones always are.
    pub(crate) fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut fragments = vec![Fragment::Text(text)];
        for (id, special, kind) in &self.tokens {
            if !parse_special && *kind != TokenKind::UserDefined {
                continue;
            }
            if !fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(special.as_str())))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                match fragment {
                    Fragment::Text(t) => split_at_token(t, special, *id, &mut next),
                    token => next.push(token),
                }
            }
            fragments = next;
        }
        fragments
    }
}

fn split_at_token<'a>(mut text: &'a str, special: &str, id: u32, out: &mut Vec<Fragment<'a>>) {
    while let Some(at) = text.find(special) {
        if at > 0 {
            out.push(Fragment::Text(&text[..at]));
        }
        out.push(Fragment::Token(id));
        text = &text[at + special.len()..];
    }
    if !text.is_empty() {
        out.push(Fragment::Text(text));
    }
}
