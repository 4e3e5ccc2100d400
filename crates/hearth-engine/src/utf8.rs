//! Turning token byte pieces into text.
//!
//! Byte-level tokenizers split characters across tokens (an emoji is often three or
//! four tokens), so a single token's bytes are not always valid UTF-8 on their own.

/// Decodes a stream of byte pieces into UTF-8 text, one piece at a time.
///
/// Complete characters are returned as soon as they arrive; a trailing sequence that
/// may still be completed (at most 3 bytes) is held until the next piece. Bytes that
/// can never form a character become U+FFFD exactly as [`String::from_utf8_lossy`]
/// would replace them, so the concatenated output of all pushes and
/// [`Utf8Stream::finish`] equals `from_utf8_lossy` of the concatenated input.
#[derive(Debug, Clone, Default)]
pub struct Utf8Stream {
    /// Start of a character still waiting for its continuation bytes (≤ 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// A stream with nothing held back.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` and returns every character completed so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        let mut out = String::new();
        if self.pending.is_empty() {
            let used = decode_complete(bytes, &mut out);
            self.pending.extend_from_slice(&bytes[used..]);
        } else {
            self.pending.extend_from_slice(bytes);
            let used = decode_complete(&self.pending, &mut out);
            self.pending.drain(..used);
        }
        out
    }

    /// Ends the stream: a held incomplete sequence becomes one U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Appends the decodable part of `bytes` to `out`, lossily, and returns how many bytes
/// it used; the rest is an incomplete (but so far valid) character at the very end.
fn decode_complete(bytes: &[u8], out: &mut String) -> usize {
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return bytes.len();
            }
            Err(err) => {
                let (valid, after) = rest.split_at(err.valid_up_to());
                // `from_utf8` just vouched for this prefix.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match err.error_len() {
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[bad..];
                    }
                    None => return bytes.len() - after.len(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Feeds `pieces` one by one and finishes, returning each push's output and the
    /// finish output last.
    fn outputs(pieces: &[&[u8]]) -> Vec<String> {
        let mut stream = Utf8Stream::new();
        let mut outs: Vec<String> = pieces.iter().map(|p| stream.push(p)).collect();
        outs.push(stream.finish());
        outs
    }

    #[test]
    fn ascii_passes_straight_through() {
        assert_eq!(outputs(&[b"hello", b" world"]), ["hello", " world", ""]);
    }

    #[test]
    fn zwj_emoji_split_byte_by_byte_comes_out_whole_chars() {
        // Woman, ZWJ, laptop: 4 + 3 + 4 bytes, three chars.
        let emoji = "👩\u{200d}💻";
        let pieces: Vec<&[u8]> = emoji.as_bytes().chunks(1).collect();
        let outs = outputs(&pieces);
        let non_empty: Vec<&str> = outs
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(non_empty, ["👩", "\u{200d}", "💻"]);
        // Each char appears exactly when its last byte arrives.
        assert_eq!(outs[3], "👩");
        assert_eq!(outs[6], "\u{200d}");
        assert_eq!(outs[10], "💻");
    }

    #[test]
    fn cjk_split_across_pieces_is_reassembled() {
        // "你好" is e4 bd a0 e5 a5 bd.
        let bytes = "你好".as_bytes();
        assert_eq!(
            outputs(&[&bytes[..2], &bytes[2..4], &bytes[4..]]),
            ["", "你", "好", ""]
        );
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        // A lone continuation byte, an invalid lead byte, an overlong "/", a surrogate.
        assert_eq!(outputs(&[b"a\x80b"]), ["a\u{fffd}b", ""]);
        assert_eq!(outputs(&[b"\xffx"]), ["\u{fffd}x", ""]);
        assert_eq!(outputs(&[b"\xc0\xaf"]), ["\u{fffd}\u{fffd}", ""]);
        assert_eq!(
            outputs(&[b"\xed\xa0\x80"]),
            ["\u{fffd}\u{fffd}\u{fffd}", ""]
        );
    }

    #[test]
    fn a_held_start_broken_by_the_next_piece_is_replaced() {
        // "€" starts e2 82; "A" cannot continue it.
        assert_eq!(outputs(&[b"\xe2\x82", b"A"]), ["", "\u{fffd}A", ""]);
    }

    #[test]
    fn finish_replaces_an_incomplete_tail_once() {
        assert_eq!(outputs(&[b"ok\xf0\x9f\x98"]), ["ok", "\u{fffd}"]);
        let mut stream = Utf8Stream::new();
        assert_eq!(stream.push(b"\xe4"), "");
        assert_eq!(stream.finish(), "\u{fffd}");
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn random_splits_of_valid_text_reassemble_exactly() {
        let text = "Hearth 🔥 — 你好, мир! 👩\u{200d}💻 café ∑ 𝄞 ok";
        let bytes = text.as_bytes();
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        for _ in 0..500 {
            let mut stream = Utf8Stream::new();
            let mut out = String::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + rng.random_range(0..=5)).min(bytes.len());
                out.push_str(&stream.push(&bytes[at..end]));
                assert!(stream.pending.len() <= 3);
                at = end;
            }
            out.push_str(&stream.finish());
            assert_eq!(out, text);
        }
    }

    #[test]
    fn random_splits_of_random_bytes_match_from_utf8_lossy() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Mostly valid text with random bytes mixed in.
        let alphabet: Vec<u8> = "aé€🙂"
            .bytes()
            .chain([0x80, 0xbf, 0xc0, 0xed, 0xf4, 0xff])
            .collect();
        for _ in 0..500 {
            let len = rng.random_range(0..40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let mut stream = Utf8Stream::new();
            let mut out = String::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + rng.random_range(1..=4)).min(bytes.len());
                out.push_str(&stream.push(&bytes[at..end]));
                at = end;
            }
            out.push_str(&stream.finish());
            assert_eq!(out, String::from_utf8_lossy(&bytes), "{bytes:x?}");
        }
    }
}
