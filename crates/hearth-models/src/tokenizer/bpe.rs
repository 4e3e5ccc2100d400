//! Byte-level BPE (`tokenizer.ggml.model = gpt2`) with llama.cpp's pre-tokenizers.

use hearth_gguf::Metadata;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use super::vocab::Vocab;
use crate::error::{ModelError, Result};

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The splitting regexes llama.cpp applies, in order, for a `tokenizer.ggml.pre` value.
/// Each regex splits the pieces the previous one produced, keeping matches and gaps.
fn pre_tokenizer_regexes(pre: &str) -> Option<&'static [&'static str]> {
    Some(match pre {
        "default" => &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
        "gpt2" | "mpt" | "olmo" | "jais" | "trillion" => &[GPT2],
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            &[r"\p{N}", GPT2]
        }
        "qwen2" | "stablelm2" | "deepseek-r1-qwen" | "megrez" => &[QWEN2],
        "llama3" | "llama-bpe" | "llama-v3" | "falcon3" | "pixtral" | "smaug-bpe" => &[LLAMA3],
        _ => return None,
    })
}

/// Byte-level BPE over one text fragment (no special tokens inside).
#[derive(Debug, Clone)]
pub(crate) struct Bpe {
    inner: Tokenizer,
}

impl Bpe {
    pub(crate) fn from_metadata(md: &Metadata, vocab: &Vocab) -> Result<Self> {
        let pre = md.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
        let regexes = pre_tokenizer_regexes(pre).ok_or_else(|| {
            ModelError::Vocab(format!(
                "unsupported pre-tokenizer `tokenizer.ggml.pre = {pre}`"
            ))
        })?;
        let merges = md
            .str_array("tokenizer.ggml.merges")?
            .into_iter()
            .map(parse_merge)
            .collect::<Result<Vec<_>>>()?;
        let model = BPE::builder()
            .vocab_and_merges(
                vocab
                    .ids_by_text()
                    .into_iter()
                    .collect::<tokenizers::models::bpe::Vocab>(),
                merges,
            )
            .build()
            .map_err(|e| ModelError::Vocab(format!("cannot build BPE model: {e}")))?;
        let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
        for regex in regexes {
            let split = Split::new(
                SplitPattern::Regex((*regex).to_owned()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| ModelError::Vocab(format!("invalid pre-tokenizer regex: {e}")))?;
            steps.push(split.into());
        }
        // Bytes to the GPT-2 alphabet only; the splitting was done above.
        steps.push(ByteLevel::new(false, false, false).into());
        let mut inner = Tokenizer::new(model);
        inner.with_pre_tokenizer(Some(Sequence::new(steps)));
        Ok(Self { inner })
    }

    pub(crate) fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }
}

/// `"a b"` → `("a", "b")`; the split is at the first space after the first character,
/// as llama.cpp does, so a merge whose left side is a space still parses.
fn parse_merge(merge: &str) -> Result<(String, String)> {
    let first_len = merge.chars().next().map_or(0, char::len_utf8);
    merge[first_len..]
        .find(' ')
        .map(|at| {
            let at = at + first_len;
            (merge[..at].to_owned(), merge[at + 1..].to_owned())
        })
        .ok_or_else(|| ModelError::Vocab(format!("invalid merge `{merge}`")))
}

/// The GPT-2 byte-to-character table, inverted: which byte each character stands for.
pub(crate) fn byte_of_char() -> std::collections::HashMap<char, u8> {
    let mut map = std::collections::HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            char::from(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        map.insert(c, b);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_splits_at_first_space_after_first_char() {
        assert_eq!(parse_merge("Ġ t").unwrap(), ("Ġ".into(), "t".into()));
        assert_eq!(parse_merge("a b").unwrap(), ("a".into(), "b".into()));
        assert!(parse_merge("ab").is_err());
    }

    #[test]
    fn byte_table_covers_every_byte_once() {
        let map = byte_of_char();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'A'], b'A');
    }

    #[test]
    fn unknown_pre_tokenizer_is_refused() {
        assert!(pre_tokenizer_regexes("no-such-pre").is_none());
        assert!(pre_tokenizer_regexes("smollm").is_some());
    }
}
