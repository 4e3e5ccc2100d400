//! Stop strings over streamed text.
//!
//! Generated text arrives piece by piece, and a stop string may straddle pieces, so
//! [`StopMatcher`] holds back any tail that could still grow into a stop string and
//! only releases text once it is certain not to be part of one.

/// What one [`StopMatcher::push`] lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopOutput {
    /// Text that is safe to send to the client now (may be empty).
    pub text: String,
    /// Whether a stop string was found; `text` then ends right before it, and the
    /// generation should end.
    pub stopped: bool,
}

/// Finds the first occurrence of any stop string in a stream of text pieces.
///
/// Everything before the earliest stop string is emitted, the stop string and
/// everything after it never are. Held-back text is always cut at `char` boundaries.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not yet emitted: a suffix that may begin a stop string.
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for `stops`; empty strings are ignored, and with none left every
    /// push passes straight through.
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string has been found; later pushes emit nothing.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next piece of generated text and returns what may be emitted now.
    pub fn push(&mut self, text: &str) -> StopOutput {
        if self.stopped {
            return StopOutput {
                text: String::new(),
                stopped: true,
            };
        }
        if self.stops.is_empty() {
            return StopOutput {
                text: text.to_owned(),
                stopped: false,
            };
        }
        self.held.push_str(text);

        if let Some(at) = self.earliest_stop() {
            self.held.truncate(at);
            self.stopped = true;
            return StopOutput {
                text: std::mem::take(&mut self.held),
                stopped: true,
            };
        }

        let keep_from = self.partial_stop_start();
        let rest = self.held.split_off(keep_from);
        StopOutput {
            text: std::mem::replace(&mut self.held, rest),
            stopped: false,
        }
    }

    /// Releases the held-back text at the end of generation; empty after a stop.
    pub fn finish(&mut self) -> String {
        if self.stopped {
            self.held.clear();
            return String::new();
        }
        std::mem::take(&mut self.held)
    }

    /// Byte offset of the earliest complete stop string in `held`.
    fn earliest_stop(&self) -> Option<usize> {
        self.stops.iter().filter_map(|s| self.held.find(s)).min()
    }

    /// Byte offset where the longest suffix of `held` that is a proper prefix of some
    /// stop string begins; `held.len()` if there is none. Always a `char` boundary.
    ///
    /// Called only when no stop string occurs in `held`, so any matching suffix is
    /// shorter than its stop string.
    fn partial_stop_start(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let earliest = self.held.len().saturating_sub(longest.saturating_sub(1));
        self.held
            .char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i >= earliest)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(stops: &[&str]) -> StopMatcher {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        StopMatcher::new(&stops)
    }

    fn emitted(text: &str) -> StopOutput {
        StopOutput {
            text: text.to_owned(),
            stopped: false,
        }
    }

    fn stopped(text: &str) -> StopOutput {
        StopOutput {
            text: text.to_owned(),
            stopped: true,
        }
    }

    /// Pushes every piece, then finishes; returns all emitted text and whether it stopped.
    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = matcher(stops);
        let mut out = String::new();
        for piece in pieces {
            out.push_str(&m.push(piece).text);
        }
        out.push_str(&m.finish());
        (out, m.is_stopped())
    }

    #[test]
    fn holds_back_a_possible_start_then_releases_it() {
        let mut m = matcher(&["###"]);
        assert_eq!(m.push("ab#"), emitted("ab"));
        assert_eq!(m.push("#x"), emitted("##x"));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn stops_when_the_held_start_completes() {
        let mut m = matcher(&["###"]);
        assert_eq!(m.push("ab#"), emitted("ab"));
        assert_eq!(m.push("##"), stopped(""));
        assert_eq!(m.push("more"), stopped(""));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn a_stop_string_split_over_many_pieces_is_found() {
        let mut m = matcher(&["<|end|>"]);
        let outputs: Vec<StopOutput> = ["Hi", " <", "|", "en", "d", "|", ">", "!"]
            .iter()
            .map(|p| m.push(p))
            .collect();
        assert_eq!(outputs[0], emitted("Hi"));
        assert_eq!(outputs[1], emitted(" "));
        assert!(outputs[2..6].iter().all(|o| *o == emitted("")));
        assert_eq!(outputs[6], stopped(""));
        assert_eq!(outputs[7], stopped(""));
    }

    #[test]
    fn text_after_the_stop_in_the_same_piece_is_dropped() {
        let mut m = matcher(&["STOP"]);
        assert_eq!(m.push("ST"), emitted(""));
        assert_eq!(m.push("OP and more"), stopped(""));
        let mut m = matcher(&["STOP"]);
        assert_eq!(m.push("before STOP after"), stopped("before "));
    }

    #[test]
    fn overlapping_prefix_is_matched_at_the_right_place() {
        assert_eq!(run(&["aab"], &["aaab"]), ("a".to_owned(), true));
        assert_eq!(run(&["aab"], &["a", "a", "a", "b"]), ("a".to_owned(), true));
        assert_eq!(
            run(&["aab"], &["a", "a", "a", "c"]),
            ("aaac".to_owned(), false)
        );
    }

    #[test]
    fn held_suffix_keeps_only_what_can_still_match() {
        let mut m = matcher(&["aab"]);
        assert_eq!(m.push("aa"), emitted(""));
        // "aaa": only the last "aa" can still start "aab".
        assert_eq!(m.push("a"), emitted("a"));
        assert_eq!(m.finish(), "aa");
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        assert_eq!(
            run(&["world", "lo w"], &["hello world"]),
            ("hel".to_owned(), true)
        );
        assert_eq!(run(&["xyz", "b"], &["a", "bxyz"]), ("a".to_owned(), true));
    }

    #[test]
    fn a_piece_can_end_one_candidate_and_start_another() {
        // "##" is held for "###"; "!" breaks that but completes "#!" one char later.
        assert_eq!(run(&["###", "#!"], &["##", "!"]), ("#".to_owned(), true));
        assert_eq!(
            run(&["###", "#!"], &["##", "x#", "!"]),
            ("##x".to_owned(), true)
        );
    }

    #[test]
    fn finish_flushes_unresolved_text() {
        let mut m = matcher(&["###"]);
        assert_eq!(m.push("end ##"), emitted("end "));
        assert_eq!(m.finish(), "##");
        assert!(!m.is_stopped());
    }

    #[test]
    fn empty_stop_strings_are_ignored() {
        let mut m = matcher(&["", ""]);
        assert_eq!(m.push("anything #"), emitted("anything #"));
        assert_eq!(run(&["", "x"], &["abxcd"]), ("ab".to_owned(), true));
    }

    #[test]
    fn multibyte_text_is_never_split_inside_a_char() {
        let mut m = matcher(&["é!"]);
        assert_eq!(m.push("café"), emitted("caf"));
        assert_eq!(m.push("é"), emitted("é"));
        assert_eq!(m.push("!"), stopped(""));
        assert_eq!(
            run(&["🙂🙃"], &["a🙂", "b🙂", "🙃c"]),
            ("a🙂b".to_owned(), true)
        );
    }

    #[test]
    fn stop_at_the_very_start_emits_nothing() {
        assert_eq!(run(&["<"], &["<tag>"]), (String::new(), true));
    }
}
