//! The vocabulary of a GGUF file: token texts, their kinds and the special ids.

use std::collections::HashMap;

use hearth_gguf::Metadata;

use crate::error::{ModelError, Result};

/// What a vocabulary entry is, as `tokenizer.ggml.token_type` says (llama.cpp's ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Normal,
    Unknown,
    /// Markup the model was trained with (`<|im_start|>`); only parsed from text when asked.
    Control,
    /// Added by the model's authors; always parsed from text, printed as its text.
    UserDefined,
    Unused,
    /// One raw byte (`<0x0A>`), for byte fallback.
    Byte,
}

impl TokenKind {
    fn from_id(id: i32) -> Self {
        match id {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }
}

/// Names that end a turn in the chat formats llama.cpp knows; such tokens stop
/// generation even when the file names another end-of-sequence token.
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

/// Token texts, kinds and special ids read from `tokenizer.ggml.*`.
#[derive(Debug, Clone)]
pub struct Vocab {
    pub(crate) texts: Vec<String>,
    pub(crate) kinds: Vec<TokenKind>,
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    end_of_generation: Vec<u32>,
}

impl Vocab {
    /// Reads the vocabulary; `default_add_bos` applies when the file does not say.
    pub fn from_metadata(md: &Metadata, default_add_bos: bool) -> Result<Self> {
        let texts: Vec<String> = md
            .str_array("tokenizer.ggml.tokens")?
            .into_iter()
            .map(str::to_owned)
            .collect();
        if texts.is_empty() {
            return Err(ModelError::Vocab("`tokenizer.ggml.tokens` is empty".into()));
        }
        let kinds = match md.get("tokenizer.ggml.token_type") {
            Some(_) => md
                .i32_array("tokenizer.ggml.token_type")?
                .into_iter()
                .map(TokenKind::from_id)
                .collect(),
            None => vec![TokenKind::Normal; texts.len()],
        };
        if kinds.len() != texts.len() {
            return Err(ModelError::Vocab(format!(
                "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                kinds.len(),
                texts.len()
            )));
        }
        let id = |key: &str| -> Result<Option<u32>> {
            match md.opt_u32(key)? {
                Some(id) if (id as usize) < texts.len() => Ok(Some(id)),
                Some(id) => Err(ModelError::Vocab(format!(
                    "`{key}` is {id}, outside the vocabulary of {} tokens",
                    texts.len()
                ))),
                None => Ok(None),
            }
        };
        let bos = id("tokenizer.ggml.bos_token_id")?;
        let eos = id("tokenizer.ggml.eos_token_id")?;
        let eot = id("tokenizer.ggml.eot_token_id")?;
        let eom = id("tokenizer.ggml.eom_token_id")?;
        let add_bos = md
            .opt_bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(default_add_bos);
        let add_eos = md
            .opt_bool("tokenizer.ggml.add_eos_token")?
            .unwrap_or(false);

        let mut end_of_generation: Vec<u32> = [eos, eot, eom].into_iter().flatten().collect();
        for (id, text) in texts.iter().enumerate() {
            if END_OF_GENERATION_TEXTS.contains(&text.as_str()) {
                end_of_generation.push(id as u32);
            }
        }
        end_of_generation.sort_unstable();
        end_of_generation.dedup();

        let mut vocab = Self {
            texts,
            kinds,
            bos,
            eos,
            add_bos,
            add_eos,
            end_of_generation,
        };
        // llama.cpp treats every end-of-generation token as control markup, even when
        // the file forgot to mark it, so it is never printed as text.
        for &id in &vocab.end_of_generation {
            vocab.kinds[id as usize] = TokenKind::Control;
        }
        Ok(vocab)
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether generation ends at `id` (end of sequence, end of turn, …).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation.binary_search(&id).is_ok()
    }

    pub fn end_of_generation(&self) -> &[u32] {
        &self.end_of_generation
    }

    /// Tokens that are split out of text before the subword model sees it, longest
    /// first (llama.cpp's order, so `<|im_start|>` wins over a shorter prefix).
    pub(crate) fn special_tokens(&self) -> Vec<(u32, TokenKind)> {
        let mut special: Vec<(u32, TokenKind)> = self
            .kinds
            .iter()
            .enumerate()
            .filter(|(id, kind)| {
                matches!(
                    kind,
                    TokenKind::Control | TokenKind::UserDefined | TokenKind::Unknown
                ) && !self.texts[*id].is_empty()
            })
            .map(|(id, kind)| (id as u32, *kind))
            .collect();
        special.sort_by(|a, b| {
            self.texts[b.0 as usize]
                .len()
                .cmp(&self.texts[a.0 as usize].len())
                .then(a.0.cmp(&b.0))
        });
        special
    }

    /// Map from token text to id; on duplicate texts the lowest id wins.
    pub(crate) fn ids_by_text(&self) -> HashMap<String, u32> {
        let mut map = HashMap::with_capacity(self.texts.len());
        for (id, text) in self.texts.iter().enumerate().rev() {
            map.insert(text.clone(), id as u32);
        }
        map
    }
}
