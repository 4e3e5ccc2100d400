//! Tokenizers built from GGUF metadata, matching llama.cpp token for token.
//!
//! [`Tokenizer::encode`] splits special tokens out of the text ([`special`]), then
//! runs the subword model on each remaining piece; [`Tokenizer::token_bytes`] gives
//! the raw bytes a token stands for, so a stream decoder can assemble UTF-8.

mod bpe;
mod special;
mod spm;
mod vocab;

use hearth_gguf::Metadata;

use crate::error::{ModelError, Result};
use bpe::Bpe;
use special::{Fragment, SpecialTokens};
use spm::Spm;
pub use vocab::{TokenKind, Vocab};

#[derive(Debug, Clone)]
enum Model {
    Bpe(Box<Bpe>),
    Spm(Spm),
}

/// A model's tokenizer: text ↔ token ids.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    special: SpecialTokens,
    model: Model,
    /// Bytes each token decodes to; empty for control tokens, which are never text.
    pieces: Vec<Vec<u8>>,
}

impl Tokenizer {
    /// Builds the tokenizer that `tokenizer.ggml.*` describes.
    pub fn from_metadata(md: &Metadata) -> Result<Self> {
        // BPE vocabularies add BOS only when the file says so; SentencePiece ones by default.
        let (vocab, model, pieces) = match md.str("tokenizer.ggml.model")? {
            "gpt2" => {
                let vocab = Vocab::from_metadata(md, false)?;
                let model = Model::Bpe(Box::new(Bpe::from_metadata(md, &vocab)?));
                let pieces = byte_level_pieces(&vocab);
                (vocab, model, pieces)
            }
            "llama" => {
                let vocab = Vocab::from_metadata(md, true)?;
                let model = Model::Spm(Spm::from_metadata(md, &vocab)?);
                let pieces = sentencepiece_pieces(&vocab);
                (vocab, model, pieces)
            }
            other => return Err(ModelError::UnsupportedTokenizer(other.to_owned())),
        };
        Ok(Self {
            special: SpecialTokens::new(&vocab),
            vocab,
            model,
            pieces,
        })
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Token ids for `text`.
    ///
    /// `add_special` adds BOS/EOS where the model asks for them; `parse_special`
    /// recognises control-token text such as `<|im_start|>` (wanted for rendered chat
    /// templates, not for user text).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.vocab.add_bos {
            ids.extend(self.vocab.bos);
        }
        // SentencePiece prefixes a space to text that starts the input or follows a
        // special token, when the vocabulary asks for it.
        let mut after_special = true;
        for fragment in self.special.partition(text, parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    ids.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match &self.model {
                        Model::Bpe(bpe) => bpe.encode(t, &mut ids)?,
                        Model::Spm(spm) => {
                            let prefix = if spm.add_space_prefix && after_special {
                                " "
                            } else {
                                ""
                            };
                            let escaped =
                                format!("{prefix}{t}").replace(' ', &spm::SPACE.to_string());
                            spm.encode(&escaped, &mut ids);
                        }
                    }
                    after_special = false;
                }
            }
        }
        if add_special && self.vocab.add_eos {
            ids.extend(self.vocab.eos);
        }
        Ok(ids)
    }

    /// The bytes `id` stands for in generated text: empty for control tokens and ids
    /// outside the vocabulary. A multi-byte character may span several tokens.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// Text of a whole token sequence, without control tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| self.token_bytes(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.vocab.is_end_of_generation(id)
    }
}

/// Bytes each token prints as: nothing for markup, user-defined tokens as written,
/// the rest decoded by `text_bytes`.
fn pieces(vocab: &Vocab, text_bytes: impl Fn(&str, TokenKind) -> Vec<u8>) -> Vec<Vec<u8>> {
    vocab
        .texts
        .iter()
        .zip(&vocab.kinds)
        .map(|(text, &kind)| match kind {
            TokenKind::Control | TokenKind::Unknown | TokenKind::Unused => Vec::new(),
            TokenKind::UserDefined => text.as_bytes().to_vec(),
            TokenKind::Normal | TokenKind::Byte => text_bytes(text, kind),
        })
        .collect()
}

fn byte_level_pieces(vocab: &Vocab) -> Vec<Vec<u8>> {
    let byte_of = bpe::byte_of_char();
    pieces(vocab, |text, _| {
        let mut bytes = Vec::with_capacity(text.len());
        for c in text.chars() {
            match byte_of.get(&c) {
                Some(&b) => bytes.push(b),
                // Not from the byte alphabet: llama.cpp prints such text as is.
                None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        bytes
    })
}

fn sentencepiece_pieces(vocab: &Vocab) -> Vec<Vec<u8>> {
    pieces(vocab, |text, kind| match kind {
        TokenKind::Byte => byte_token_value(text).map_or_else(Vec::new, |b| vec![b]),
        _ => text.replace(spm::SPACE, " ").into_bytes(),
    })
}

/// `<0x0A>` → `0x0A`.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}
