//! The model's vocabulary as llguidance sees it: one byte string per token id.
//!
//! Text tokens are their bytes. Control tokens (markup such as `<|im_start|>`, and
//! the end-of-generation tokens) get llguidance's special-token form, the byte `0xFF`
//! followed by their name: `0xFF` never occurs in UTF-8, so no JSON grammar can
//! match them as text, and llguidance treats the end-of-generation ids apart, as the
//! tokens that end a complete value.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use hearth_models::Tokenizer;
use hearth_models::tokenizer::TokenKind;
use toktrie::{ApproximateTokEnv, INVALID_TOKEN, TokEnv, TokRxInfo, TokTrie};

use super::ConstraintError;

/// The first byte of llguidance's special tokens.
const SPECIAL_MARKER: u8 = TokTrie::SPECIAL_TOKEN_MARKER;

/// What the constraint needs to know about a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenTable {
    /// Bytes of each token id, in llguidance's form (see the module doc).
    pub(crate) tokens: Vec<Vec<u8>>,
    /// Ids that end generation; allowed exactly when the value is complete.
    pub(crate) end_of_generation: Vec<u32>,
}

impl TokenTable {
    /// The table of a model's tokenizer.
    pub(crate) fn from_tokenizer(tokenizer: &Tokenizer) -> Self {
        let vocab = tokenizer.vocab();
        let tokens = (0..vocab.len())
            .map(|i| {
                // The vocabulary holds fewer than `u32::MAX` tokens: ids are `u32`.
                let id = i as u32;
                match vocab.kind(id) {
                    Some(TokenKind::Normal | TokenKind::Byte | TokenKind::UserDefined) => {
                        text_token(tokenizer.token_bytes(id))
                    }
                    _ => special_token(vocab.text(id).unwrap_or_default()),
                }
            })
            .collect();
        Self {
            tokens,
            end_of_generation: vocab.end_of_generation().to_vec(),
        }
    }

    /// A table from raw parts: text tokens as given, `control` ids and the
    /// end-of-generation ids as special tokens named by their id.
    #[cfg(test)]
    pub(crate) fn from_parts(tokens: &[&[u8]], control: &[u32], end_of_generation: &[u32]) -> Self {
        let tokens = (0u32..)
            .zip(tokens)
            .map(|(id, bytes)| {
                if control.contains(&id) || end_of_generation.contains(&id) {
                    special_token(&format!("<|special_{id}|>"))
                } else {
                    text_token(bytes)
                }
            })
            .collect();
        Self {
            tokens,
            end_of_generation: end_of_generation.to_vec(),
        }
    }

    /// llguidance's tokenizer environment for this table.
    ///
    /// Forcing is left off: the environment tokenizes greedily, which is not how the
    /// model tokenizes, so llguidance only masks and never picks tokens itself.
    pub(crate) fn tok_env(&self) -> Result<TokEnv, ConstraintError> {
        let vocab_size = u32::try_from(self.tokens.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                ConstraintError::Vocabulary(format!(
                    "a vocabulary of {} tokens cannot be constrained",
                    self.tokens.len()
                ))
            })?;
        let eog: Vec<u32> = self
            .end_of_generation
            .iter()
            .copied()
            .filter(|&id| id < vocab_size)
            .collect();
        // Without any end-of-generation token, a constrained sequence ends only when
        // its value is complete (`Constraint::is_finished`).
        let info = TokRxInfo::new(vocab_size, eog.first().copied().unwrap_or(INVALID_TOKEN));
        // The trie asserts its own invariants; a vocabulary that breaks them is a bad
        // model file, which must give an error and not bring the process down.
        let trie = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let trie = TokTrie::from(&info, &self.tokens);
            if eog.is_empty() {
                trie
            } else {
                trie.with_eos_tokens(&eog)
            }
        }))
        .map_err(|_| {
            ConstraintError::Vocabulary("the token trie rejected the vocabulary".to_owned())
        })?;
        Ok(Arc::new(ApproximateTokEnv::new(trie)))
    }
}

/// A text token's bytes; one that starts with `0xFF` (a lone byte token, never part
/// of valid UTF-8) is given no bytes, so llguidance does not read it as special.
fn text_token(bytes: &[u8]) -> Vec<u8> {
    if bytes.first() == Some(&SPECIAL_MARKER) {
        Vec::new()
    } else {
        bytes.to_vec()
    }
}

fn special_token(name: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.push(SPECIAL_MARKER);
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use hearth_gguf::GgufFile;
    use hearth_test_support::{TINY_SPECIAL_TOKENS, tiny_llama};

    use super::*;

    /// The tiny test model's tokenizer: byte-level BPE with three control tokens.
    fn tiny_tokenizer() -> Result<Tokenizer, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tiny.gguf");
        tiny_llama().write(&path);
        Ok(Tokenizer::from_metadata(GgufFile::open(&path)?.metadata())?)
    }

    #[test]
    fn a_tokenizer_gives_text_bytes_and_special_control_tokens()
    -> Result<(), Box<dyn std::error::Error>> {
        let tokenizer = tiny_tokenizer()?;
        let table = TokenTable::from_tokenizer(&tokenizer);
        assert_eq!(table.tokens.len(), tokenizer.vocab().len());
        let brace = tokenizer.encode("{", false, false)?;
        assert_eq!(table.tokens[brace[0] as usize], b"{");
        let the = tokenizer.encode(" the", false, false)?;
        assert_eq!(table.tokens[the[0] as usize], b" the");
        for name in TINY_SPECIAL_TOKENS {
            let id = tokenizer.encode(name, false, true)?[0];
            assert_eq!(table.tokens[id as usize], special_token(name));
        }
        assert_eq!(
            table.end_of_generation,
            tokenizer.vocab().end_of_generation()
        );
        assert_eq!(table.end_of_generation.len(), 2);
        Ok(())
    }

    #[test]
    fn a_tokenizer_factory_starts_json_with_a_brace_and_never_allows_markup()
    -> Result<(), Box<dyn std::error::Error>> {
        let tokenizer = tiny_tokenizer()?;
        let factory = crate::ConstraintFactory::new(&tokenizer)?;
        let format = hearth_protocol::ResponseFormat::JsonObject;
        let mut constraint = factory.constraint(&format)?.ok_or("no constraint")?;
        let first = constraint.allowed_tokens()?;
        assert!(!first.is_empty());
        assert!(
            first
                .iter()
                .all(|&t| tokenizer.token_bytes(t).starts_with(b"{"))
        );
        constraint.commit(tokenizer.encode("{", false, false)?[0])?;
        let inside = constraint.allowed_tokens()?;
        let markup = TINY_SPECIAL_TOKENS.map(|name| tokenizer.encode(name, false, true));
        for ids in markup {
            assert!(!inside.contains(&ids?[0]));
        }
        Ok(())
    }

    #[test]
    fn control_and_end_of_generation_tokens_become_special() -> Result<(), ConstraintError> {
        let table = TokenTable::from_parts(&[b"a", b"<c>", b"<eos>", b"\xFF"], &[1], &[2]);
        assert_eq!(table.tokens[0], b"a");
        assert_eq!(table.tokens[1], b"\xFF<|special_1|>");
        assert_eq!(table.tokens[2], b"\xFF<|special_2|>");
        assert!(table.tokens[3].is_empty());
        let env = table.tok_env()?;
        let trie = env.tok_trie();
        assert!(trie.is_special_token(1));
        assert!(trie.is_special_token(2));
        assert_eq!(trie.eos_tokens(), &[2]);
        Ok(())
    }

    #[test]
    fn empty_vocabulary_is_an_error() {
        let table = TokenTable::from_parts(&[], &[], &[]);
        assert!(matches!(
            table.tok_env(),
            Err(ConstraintError::Vocabulary(_))
        ));
    }

    #[test]
    fn end_of_generation_ids_outside_the_vocabulary_are_ignored() -> Result<(), ConstraintError> {
        let mut table = TokenTable::from_parts(&[b"a", b"b"], &[], &[1]);
        table.end_of_generation.push(7);
        let env = table.tok_env()?;
        assert_eq!(env.tok_trie().eos_tokens(), &[1]);
        Ok(())
    }
}
