//! Shell words after quote removal: the text a command really receives.
//!
//! `r''m`, `\rm`, `"rm"` and `$'\x72m'` all become `rm`. Expansions whose value is
//! unknown are kept as `${NAME}` / `$(…)` and mark the word as dynamic, so rules can
//! tell `rm -rf "$DIR"/` (a possibly empty variable in front of `/`) from `rm -rf dir/`.

use brush_parser::ast::{IoFileRedirectKind, IoFileRedirectTarget, IoRedirect};
use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource};

use crate::invocation::{Ctx, Redirect, RedirectKind};
use crate::parse::Collector;

/// Variables that are set in every login session and are never empty.
const ALWAYS_SET: &[&str] = &[
    "USER", "LOGNAME", "SHELL", "PATH", "HOSTNAME", "UID", "EUID",
];

/// Most words a brace expansion may produce before the rest is dropped.
const MAX_BRACE_WORDS: usize = 64;

/// What an unknown value at the very start of a word is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leading {
    /// A variable that may be unset or empty (`$DIR/…`).
    Var,
    /// A variable that cannot be empty (`${DIR:?}/…`, `${DIR:-x}`, `$USER`).
    GuardedVar,
    /// A command substitution (`$(…)/…`).
    Substitution,
}

/// One resolved shell word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text after quote removal; unknown expansions are rendered as `${NAME}` or
    /// `$(…)`, `$HOME` as `~`.
    pub text: String,
    /// The word contains an expansion whose value is not known statically.
    pub dynamic: bool,
    /// What unknown value the word starts with, if any.
    pub leading: Option<Leading>,
    /// The word contains unquoted glob characters (`*`, `?`, `[`).
    pub glob: bool,
    /// Programs run by command or process substitutions inside the word.
    pub subst_programs: Vec<String>,
    /// The word is a process substitution `<(…)` or `>(…)`.
    pub process_subst: bool,
}

impl Word {
    /// A word with known text and no expansions.
    pub(crate) fn literal(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Whether the word is exactly this literal text.
    pub(crate) fn is(&self, text: &str) -> bool {
        !self.dynamic && self.text == text
    }
}

/// A word under construction.
#[derive(Default)]
struct Builder {
    word: Word,
    /// An unquoted text piece contains a brace expression candidate.
    braces: bool,
    /// The word is one unquoted command substitution whose output is known: its
    /// output is split into several words.
    split: bool,
    pieces: usize,
}

impl Builder {
    fn mark_unknown(&mut self, leading: Leading) {
        if self.word.text.is_empty() && self.word.leading.is_none() {
            self.word.leading = Some(leading);
        }
        self.word.dynamic = true;
    }
}

impl Collector {
    /// Resolves one raw word into the words the shell would pass (several when brace
    /// expansion or splitting of a known substitution applies).
    pub(crate) fn resolve_word(&mut self, raw: &str, ctx: &Ctx) -> Vec<Word> {
        let pieces = match brush_parser::word::parse(raw, &self.options) {
            Ok(pieces) => pieces,
            Err(err) => {
                self.unparseable(&format!("cannot parse the word `{raw}`: {err}"));
                return vec![Word {
                    text: raw.to_owned(),
                    dynamic: true,
                    ..Word::default()
                }];
            }
        };
        let mut builder = Builder::default();
        self.append_pieces(&mut builder, &pieces, false, ctx);
        let split = builder.split && builder.pieces == 1;
        let Builder { word, braces, .. } = builder;
        if split {
            return word
                .text
                .split_whitespace()
                .map(|part| Word {
                    text: part.to_owned(),
                    ..word.clone()
                })
                .collect();
        }
        if braces {
            let expanded = expand_braces(&word.text);
            if expanded.len() > 1 {
                return expanded
                    .into_iter()
                    .map(|text| Word {
                        text,
                        ..word.clone()
                    })
                    .collect();
            }
        }
        vec![word]
    }

    /// Resolves a word that must stay one word (assignment values, redirect targets).
    pub(crate) fn resolve_single(&mut self, raw: &str, ctx: &Ctx) -> Word {
        let mut words = self.resolve_word(raw, ctx);
        if words.len() == 1 {
            return words.pop().unwrap_or_default();
        }
        let mut joined = words.first().cloned().unwrap_or_default();
        joined.text = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        joined
    }

    /// Resolves a redirection's target; process substitutions in it are walked.
    pub(crate) fn resolve_redirect(&mut self, redirect: &IoRedirect, ctx: &Ctx) -> Redirect {
        let (kind, target) = match redirect {
            IoRedirect::File(_, kind, target) => {
                let target = match target {
                    IoFileRedirectTarget::Filename(word) => self.resolve_single(&word.value, ctx),
                    IoFileRedirectTarget::Duplicate(word) => {
                        let word = self.resolve_single(&word.value, ctx);
                        if word.text == "-" || word.text.chars().all(|c| c.is_ascii_digit()) {
                            return Redirect {
                                kind: RedirectKind::Duplicate,
                                target: word,
                            };
                        }
                        word
                    }
                    IoFileRedirectTarget::Fd(fd) => Word::literal(fd.to_string()),
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        let programs = self.walk_nested_list(&sub.list, ctx);
                        process_subst_word(programs)
                    }
                };
                let kind = match kind {
                    IoFileRedirectKind::Read => RedirectKind::Read,
                    IoFileRedirectKind::Write | IoFileRedirectKind::Clobber => RedirectKind::Write,
                    IoFileRedirectKind::Append => RedirectKind::Append,
                    IoFileRedirectKind::ReadAndWrite => RedirectKind::ReadWrite,
                    IoFileRedirectKind::DuplicateInput => RedirectKind::Read,
                    IoFileRedirectKind::DuplicateOutput => RedirectKind::Write,
                };
                (kind, target)
            }
            IoRedirect::HereDocument(_, doc) => {
                let target = if doc.requires_expansion {
                    self.resolve_heredoc(&doc.doc.value, ctx)
                } else {
                    Word::literal(doc.doc.value.clone())
                };
                (RedirectKind::Here, target)
            }
            IoRedirect::HereString(_, word) => {
                (RedirectKind::Here, self.resolve_single(&word.value, ctx))
            }
            IoRedirect::OutputAndError(word, append) => {
                let kind = if *append {
                    RedirectKind::Append
                } else {
                    RedirectKind::Write
                };
                (kind, self.resolve_single(&word.value, ctx))
            }
        };
        Redirect { kind, target }
    }

    /// A here-document with expansions: substitutions in it run, so walk them; quotes
    /// in a here-document are literal, so keep the text as written when the word
    /// parser disagrees with it.
    fn resolve_heredoc(&mut self, body: &str, ctx: &Ctx) -> Word {
        if !body.contains('$') && !body.contains('`') {
            return Word::literal(body);
        }
        match brush_parser::word::parse(body, &self.options) {
            Ok(_) => {
                let mut word = self.resolve_single(body, ctx);
                word.glob = false;
                word
            }
            Err(_) => Word {
                text: body.to_owned(),
                dynamic: true,
                ..Word::default()
            },
        }
    }

    fn append_pieces(
        &mut self,
        b: &mut Builder,
        pieces: &[WordPieceWithSource],
        quoted: bool,
        ctx: &Ctx,
    ) {
        for piece in pieces {
            b.pieces += 1;
            match &piece.piece {
                WordPiece::Text(text) => {
                    if !quoted {
                        b.word.glob |= text.contains(['*', '?', '[']);
                        b.braces |= text.contains('{') && text.contains('}');
                    }
                    b.word.text.push_str(text);
                }
                WordPiece::SingleQuotedText(text) => b.word.text.push_str(text),
                WordPiece::AnsiCQuotedText(text) => b.word.text.push_str(&ansi_c_unescape(text)),
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    self.append_pieces(b, inner, true, ctx);
                }
                WordPiece::TildePrefix(user) => {
                    b.word.text.push('~');
                    b.word.text.push_str(user);
                }
                WordPiece::ParameterExpansion(expr) => self.append_parameter(b, expr, ctx),
                WordPiece::CommandSubstitution(src) => {
                    self.append_substitution(b, src, quoted, ctx);
                }
                WordPiece::BackquotedCommandSubstitution(src) => {
                    let src = src
                        .replace("\\`", "`")
                        .replace("\\$", "$")
                        .replace("\\\\", "\\");
                    self.append_substitution(b, &src, quoted, ctx);
                }
                WordPiece::EscapeSequence(seq) => {
                    let escaped = seq.strip_prefix('\\').unwrap_or(seq);
                    if escaped != "\n" {
                        b.word.text.push_str(escaped);
                    }
                }
                WordPiece::ArithmeticExpression(expr) => {
                    b.mark_unknown(Leading::GuardedVar);
                    b.word.text.push_str(&format!("$(({}))", expr.value));
                }
            }
        }
    }

    fn append_parameter(&mut self, b: &mut Builder, expr: &ParameterExpr, ctx: &Ctx) {
        let (parameter, fallback, guarded) = match expr {
            ParameterExpr::Parameter { parameter, .. } => (parameter, None, false),
            ParameterExpr::UseDefaultValues {
                parameter,
                default_value,
                ..
            }
            | ParameterExpr::AssignDefaultValues {
                parameter,
                default_value,
                ..
            } => (parameter, default_value.as_deref(), false),
            ParameterExpr::IndicateErrorIfNullOrUnset { parameter, .. } => (parameter, None, true),
            ParameterExpr::VariableNames { .. } | ParameterExpr::MemberKeys { .. } => {
                b.mark_unknown(Leading::GuardedVar);
                b.word.text.push_str("${…}");
                return;
            }
            _ => {
                // Lengths, substrings, case changes and pattern removals of a variable:
                // the value is unknown and may be empty.
                b.mark_unknown(Leading::Var);
                b.word.text.push_str("${…}");
                return;
            }
        };
        let name = match parameter {
            Parameter::Named(name) => name.clone(),
            Parameter::NamedWithIndex { name, .. }
            | Parameter::NamedWithAllIndices { name, .. } => format!("{name}[@]"),
            Parameter::Positional(n) => n.to_string(),
            Parameter::Special(_) => "@".to_owned(),
        };
        if name == "HOME" && !guarded {
            b.word.text.push('~');
            return;
        }
        if name == "PWD" && !guarded {
            b.word.text.push('.');
            return;
        }
        if let Some(value) = self.vars.get(&name) {
            b.word.text.push_str(&value.clone());
            return;
        }
        if let Some(default) = fallback.filter(|d| !d.is_empty()) {
            let default = self.resolve_single(default, ctx);
            b.mark_unknown(Leading::GuardedVar);
            b.word.text.push_str(&default.text);
            return;
        }
        let leading = if guarded || ALWAYS_SET.contains(&name.as_str()) {
            Leading::GuardedVar
        } else {
            Leading::Var
        };
        b.mark_unknown(leading);
        if guarded {
            b.word.text.push_str(&format!("${{{name}:?}}"));
        } else {
            b.word.text.push_str(&format!("${{{name}}}"));
        }
    }

    fn append_substitution(&mut self, b: &mut Builder, src: &str, quoted: bool, ctx: &Ctx) {
        let (output, programs) = self.run_substitution(src, ctx);
        b.word.subst_programs.extend(programs);
        match output {
            Some(text) => {
                b.split = !quoted;
                b.word.text.push_str(&text);
            }
            None => {
                b.mark_unknown(Leading::Substitution);
                b.word.text.push_str("$(…)");
            }
        }
    }
}

/// The word standing for a process substitution `<(…)`.
pub(crate) fn process_subst_word(programs: Vec<String>) -> Word {
    Word {
        text: "<(…)".to_owned(),
        dynamic: true,
        leading: Some(Leading::Substitution),
        subst_programs: programs,
        process_subst: true,
        ..Word::default()
    }
}

/// Decodes the body of an ANSI-C quoted string `$'…'`.
pub(crate) fn ansi_c_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            out.push('\\');
            break;
        };
        let simple = match next {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'e' | 'E' => Some('\u{1b}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '\\' | '\'' | '"' | '?' => Some(next),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let (radix, max_digits) = match next {
            'x' => (16, 2),
            'u' => (16, 4),
            'U' => (16, 8),
            '0'..='7' => (8, 3),
            _ => {
                out.push('\\');
                out.push(next);
                continue;
            }
        };
        let mut digits = String::new();
        if radix == 8 {
            digits.push(next);
        }
        while digits.len() < max_digits {
            match chars.peek() {
                Some(d) if d.is_digit(radix) => {
                    digits.push(*d);
                    chars.next();
                }
                _ => break,
            }
        }
        match u32::from_str_radix(&digits, radix)
            .ok()
            .and_then(char::from_u32)
        {
            Some(decoded) => out.push(decoded),
            None => {
                out.push('\\');
                out.push(next);
                out.push_str(if radix == 8 { &digits[1..] } else { &digits });
            }
        }
    }
    out
}

/// Expands comma brace lists (`/{etc,usr}` → `/etc`, `/usr`); sequences like `{1..3}`
/// and unbalanced braces are left alone.
pub(crate) fn expand_braces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(text, &mut out);
    out.truncate(MAX_BRACE_WORDS);
    out
}

fn expand_into(text: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_BRACE_WORDS {
        return;
    }
    let Some((open, close, members)) = first_brace_list(text) else {
        out.push(text.to_owned());
        return;
    };
    let (prefix, suffix) = (&text[..open], &text[close + 1..]);
    for member in members {
        expand_into(&format!("{prefix}{member}{suffix}"), out);
    }
}

/// The first `{a,b,…}` group with at least one top-level comma: its byte range and
/// members.
fn first_brace_list(text: &str) -> Option<(usize, usize, Vec<&str>)> {
    let bytes = text.as_bytes();
    for (open, _) in text.match_indices('{') {
        let mut depth = 0usize;
        let mut commas = Vec::new();
        for (offset, &byte) in bytes[open..].iter().enumerate() {
            let at = open + offset;
            match byte {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        if commas.is_empty() {
                            break;
                        }
                        let mut members = Vec::with_capacity(commas.len() + 1);
                        let mut start = open + 1;
                        for &comma in &commas {
                            members.push(&text[start..comma]);
                            start = comma + 1;
                        }
                        members.push(&text[start..at]);
                        return Some((open, at, members));
                    }
                }
                b',' if depth == 1 => commas.push(at),
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c_strings_decode_hex_octal_and_named_escapes() {
        assert_eq!(ansi_c_unescape(r"\x72m"), "rm");
        assert_eq!(ansi_c_unescape(r"\162\155"), "rm");
        assert_eq!(ansi_c_unescape(r"a\tb\n"), "a\tb\n");
        assert_eq!(ansi_c_unescape(r"\u0041"), "A");
        assert_eq!(ansi_c_unescape(r"\q"), r"\q");
    }

    #[test]
    fn brace_lists_expand_and_sequences_do_not() {
        assert_eq!(expand_braces("/{etc,usr}"), vec!["/etc", "/usr"]);
        assert_eq!(expand_braces("a{b,c{d,e}}f"), vec!["abf", "acdf", "acef"]);
        assert_eq!(expand_braces("{1..3}"), vec!["{1..3}"]);
        assert_eq!(expand_braces("x{y}"), vec!["x{y}"]);
    }

    #[test]
    fn brace_expansion_is_bounded() {
        let many = "{a,b}".repeat(10);
        assert_eq!(expand_braces(&many).len(), MAX_BRACE_WORDS);
    }
}
