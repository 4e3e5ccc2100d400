//! Getting the command out of whatever a model wrote.
//!
//! In order of trust: the whole answer as the JSON object of
//! [`answer_schema`](crate::prompt::answer_schema); a JSON object inside a code fence or
//! surrounded by prose; a `"command": "…"` field of JSON cut off before its end; the
//! lines of a fenced code block; the first line that looks like a command. Shell
//! prompts (`$ `, `% `) and surrounding backticks are stripped.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// A command and its explanation as the model gave them. An empty `command` means the
/// model declined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub command: String,
    pub explanation: String,
}

impl Answer {
    /// Whether the model declined to give a command.
    pub fn is_refusal(&self) -> bool {
        self.command.trim().is_empty()
    }
}

/// Why no command could be read from a model's answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The model wrote nothing.
    #[error("the answer is empty")]
    Empty,
    /// The answer has text but nothing that looks like a command.
    #[error("the answer holds no command")]
    NoCommand,
}

static FENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)```[A-Za-z0-9_+-]*[ \t]*\r?\n(.*?)(?:```|\z)").expect("the regex is valid")
});
static COMMAND_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?:command|cmd)"\s*:\s*"((?:[^"\\]|\\.)*)""#).expect("the regex is valid")
});
static EXPLANATION_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""explanation"\s*:\s*"((?:[^"\\]|\\.)*)"#).expect("the regex is valid")
});

/// Reads the command out of a model's answer.
///
/// # Errors
///
/// [`ExtractError::Empty`] for an empty answer, [`ExtractError::NoCommand`] when
/// nothing in it looks like a command.
pub fn extract(text: &str) -> Result<Answer, ExtractError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ExtractError::Empty);
    }
    if let Some(answer) = from_json(text) {
        return Ok(answer);
    }
    for caps in FENCE.captures_iter(text) {
        let body = caps.get(1).map_or("", |m| m.as_str());
        if let Some(answer) = from_json(body.trim()) {
            return Ok(answer);
        }
    }
    if let Some(answer) = embedded_json(text) {
        return Ok(answer);
    }
    if let Some(caps) = COMMAND_FIELD.captures(text) {
        let command = unescape(caps.get(1).map_or("", |m| m.as_str()));
        let explanation = EXPLANATION_FIELD
            .captures(text)
            .map(|c| unescape(c.get(1).map_or("", |m| m.as_str())))
            .unwrap_or_default();
        return Ok(answer(&command, explanation));
    }
    if let Some(caps) = FENCE.captures(text) {
        let lines = command_lines(caps.get(1).map_or("", |m| m.as_str()));
        if !lines.is_empty() {
            return Ok(answer(&lines.join(" && "), String::new()));
        }
    }
    text.lines()
        .map(clean_line)
        .find(|line| looks_like_command(line))
        .map(|line| answer(&line, String::new()))
        .ok_or(ExtractError::NoCommand)
}

/// Whether `text` already holds a whole, non-empty `"command": "…"` field (the
/// answer may go on after it).
pub fn has_command(text: &str) -> bool {
    COMMAND_FIELD
        .captures(text)
        .and_then(|c| c.get(1))
        .is_some_and(|m| !m.as_str().trim().is_empty())
}

fn answer(command: &str, explanation: String) -> Answer {
    Answer {
        command: clean_line(&join_continuations(command)),
        explanation: explanation.trim().to_owned(),
    }
}

/// The answer when `text` is one JSON object with a string `command`.
fn from_json(text: &str) -> Option<Answer> {
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    let command = object
        .get("command")
        .or_else(|| object.get("cmd"))?
        .as_str()?;
    let explanation = object
        .get("explanation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(answer(command, explanation.to_owned()))
}

/// Joins a line that starts with `|`, `&&`, `||` or `;` to the line before: models
/// sometimes break a pipeline there, which the shell would not accept.
fn join_continuations(command: &str) -> String {
    let mut joined = String::with_capacity(command.len());
    for line in command.lines() {
        let trimmed = line.trim();
        if joined.is_empty() {
            joined.push_str(trimmed);
        } else if trimmed.starts_with(['|', '&', ';']) {
            joined.push(' ');
            joined.push_str(trimmed);
        } else {
            joined.push('\n');
            joined.push_str(trimmed);
        }
    }
    joined
}

/// The first parseable `{…}` inside prose.
fn embedded_json(text: &str) -> Option<Answer> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start)
        .then(|| from_json(&text[start..=end]))
        .flatten()
}

fn unescape(raw: &str) -> String {
    serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned())
}

/// The lines of a code block that are commands: no blanks, no comments, no prompts.
fn command_lines(body: &str) -> Vec<String> {
    body.lines()
        .map(clean_line)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// One line without surrounding space, backticks or a shell prompt.
fn clean_line(line: &str) -> String {
    let mut line = line.trim();
    if line.len() >= 2 && line.starts_with('`') && line.ends_with('`') {
        line = line.trim_matches('`').trim();
    }
    for prompt in ["$ ", "% "] {
        if let Some(rest) = line.strip_prefix(prompt) {
            line = rest.trim_start();
            break;
        }
    }
    line.to_owned()
}

/// A bare line is taken as a command unless it reads like prose.
fn looks_like_command(line: &str) -> bool {
    if line.is_empty() || line.starts_with("```") || line.starts_with('#') {
        return false;
    }
    let ends_like_prose = line.ends_with('.') || line.ends_with(':');
    let first = line.split_whitespace().next().unwrap_or_default();
    let capitalised_word = first.chars().next().is_some_and(char::is_uppercase)
        && first
            .chars()
            .all(|c| c.is_alphabetic() || c == ',' || c == '\'');
    let prose = capitalised_word && (ends_like_prose || line.split_whitespace().count() > 4);
    !prose
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> String {
        extract(text).map(|a| a.command).unwrap_or_default()
    }

    #[test]
    fn plain_json_gives_command_and_explanation() -> Result<(), ExtractError> {
        let a = extract(r#"{"command": "ls -la", "explanation": "Lists files."}"#)?;
        assert_eq!(a.command, "ls -la");
        assert_eq!(a.explanation, "Lists files.");
        assert!(!a.is_refusal());
        Ok(())
    }

    #[test]
    fn json_in_a_fence_or_in_prose_is_found() {
        assert_eq!(
            command("```json\n{\"command\": \"du -sh *\", \"explanation\": \"x\"}\n```"),
            "du -sh *"
        );
        assert_eq!(
            command("Sure! Here it is: {\"command\": \"pwd\"} Hope it helps."),
            "pwd"
        );
    }

    #[test]
    fn a_command_is_whole_once_its_closing_quote_is_there() {
        assert!(!has_command(r#"{"command": "ls -"#));
        assert!(!has_command(r#"{"command": "echo \"#));
        assert!(!has_command(r#"{"command": "echo \"hi"#));
        assert!(!has_command(r#"{"command": "", "explanation": "no"#));
        assert!(has_command(r#"{"command": "echo \"hi\"""#));
        assert!(has_command(r#"{"command": "ls -la", "expl"#));
    }

    #[test]
    fn truncated_json_still_yields_the_command() {
        assert_eq!(
            command(r#"{"command": "grep -r \"TODO\" .", "explanation": "Searches rec"#),
            r#"grep -r "TODO" ."#
        );
    }

    #[test]
    fn fenced_code_is_used_without_prompts_or_comments() {
        assert_eq!(
            command("Use this:\n```bash\n# list\n$ ls -la\n```\nDone."),
            "ls -la"
        );
        assert_eq!(command("```sh\ncd build\nmake\n```"), "cd build && make");
    }

    #[test]
    fn a_bare_line_is_taken_and_prose_skipped() {
        assert_eq!(command("$ find . -name '*.rs'"), "find . -name '*.rs'");
        assert_eq!(command("`git status`"), "git status");
        assert_eq!(command("Here is the command you need:\ndf -h"), "df -h");
    }

    #[test]
    fn a_pipeline_broken_over_lines_is_joined() {
        assert_eq!(
            command("{\"command\": \"du -ah . \\n | sort -rh\\n| head -5\"}"),
            "du -ah . | sort -rh | head -5"
        );
        assert_eq!(command("{\"command\": \"cd a\\nmake\"}"), "cd a\nmake");
    }

    #[test]
    fn empty_command_is_a_refusal() -> Result<(), ExtractError> {
        let a = extract(r#"{"command": "", "explanation": "That would wipe the disk."}"#)?;
        assert!(a.is_refusal());
        assert_eq!(a.explanation, "That would wipe the disk.");
        Ok(())
    }

    #[test]
    fn empty_or_prose_only_answers_are_errors() {
        assert_eq!(extract("  \n"), Err(ExtractError::Empty));
        assert_eq!(
            extract("I am sorry, I cannot help with that request today."),
            Err(ExtractError::NoCommand)
        );
    }
}
