//! The prompt that asks a model for one shell command, and the JSON schema its answer
//! must follow.
//!
//! The system message starts with [`INSTRUCTIONS`], text that never changes, so a
//! backend that caches prompt prefixes processes it once; the [`Environment`] follows,
//! what changes least first (OS, shell, home, tools on `PATH`) and the working
//! directory last, then the user's request.

use std::path::{Path, PathBuf};

use hearth_protocol::ChatMessage;
use serde_json::{Value, json};

/// The fixed start of the system message: identical for every request, so it can be
/// prefix-cached.
pub const INSTRUCTIONS: &str = "\
You turn a request into exactly one POSIX shell command that does what was asked.
Rules:
- Answer with one JSON object and nothing else: {\"command\": \"...\", \"explanation\": \"...\"}.
- `command` is a single line a user can paste into the shell; join steps with pipes, && or ;.
- Prefer standard tools and safe options; never add sudo unless the request needs it.
- Use the paths the request names exactly: `/` is the root, `~` the home directory. Refer to the working directory as `.` and to files in it by relative paths; do not invent file names.
- If the request would destroy the system or data it does not name, or is not a shell task, set `command` to \"\" and say why in `explanation`.
- `explanation` is one short sentence.";

/// Tools whose presence on `PATH` is worth telling the model about.
pub const COMMON_TOOLS: &[&str] = &[
    "git",
    "rg",
    "fd",
    "fzf",
    "jq",
    "yq",
    "curl",
    "wget",
    "docker",
    "podman",
    "kubectl",
    "python3",
    "node",
    "npm",
    "cargo",
    "go",
    "make",
    "tar",
    "zip",
    "unzip",
    "rsync",
    "ssh",
    "ffmpeg",
    "convert",
    "sqlite3",
    "psql",
    "systemctl",
    "brew",
    "apt",
    "dnf",
    "pacman",
    "gzip",
    "xz",
    "du",
    "find",
    "awk",
    "sed",
];

/// Where the command will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Operating system, e.g. `linux` or `macos`.
    pub os: String,
    /// The user's shell, e.g. `bash` (from `$SHELL`).
    pub shell: String,
    /// The working directory.
    pub cwd: PathBuf,
    /// The user's home directory, when known.
    pub home: Option<PathBuf>,
    /// The [`COMMON_TOOLS`] found on `PATH`, in that order.
    pub tools: Vec<String>,
}

impl Environment {
    /// The environment of this process: `std::env::consts::OS`, `$SHELL`, the current
    /// directory and a scan of `PATH` for [`COMMON_TOOLS`].
    pub fn detect() -> Self {
        let shell = std::env::var("SHELL")
            .ok()
            .and_then(|s| {
                Path::new(&s)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "sh".to_owned());
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let tools = COMMON_TOOLS
            .iter()
            .filter(|tool| dirs.iter().any(|d| d.join(tool).is_file()))
            .map(|t| (*t).to_owned())
            .collect();
        Self {
            os: std::env::consts::OS.to_owned(),
            shell,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: std::env::var_os("HOME").map(PathBuf::from),
            tools,
        }
    }

    /// The variable part of the system message, the working directory last.
    pub fn describe(&self) -> String {
        let tools = if self.tools.is_empty() {
            "none of the common ones".to_owned()
        } else {
            self.tools.join(", ")
        };
        let home = self
            .home
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |h| h.display().to_string());
        // The working directory changes from one request to the next, the rest hardly
        // ever: it comes last, so a cached prompt prefix covers everything before it.
        format!(
            "Environment:\n- OS: {}\n- shell: {}\n- home directory (~): {}\n- tools on PATH: {}\n- working directory: {}",
            self.os,
            self.shell,
            home,
            tools,
            self.cwd.display(),
        )
    }
}

/// The JSON schema of an answer: `{"command": string, "explanation": string}`.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "explanation": {"type": "string"}
        },
        "required": ["command", "explanation"],
        "additionalProperties": false
    })
}

/// The conversation for `request`: the system message (fixed instructions first,
/// then the environment) and the request as the user's message.
pub fn messages(env: &Environment, request: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", format!("{INSTRUCTIONS}\n\n{}", env.describe())),
        ChatMessage::new("user", request.trim()),
    ]
}

/// The message that asks again after an answer could not be read.
pub fn retry_message(error: &str) -> ChatMessage {
    ChatMessage::new(
        "user",
        format!(
            "Your answer could not be used: {error}. Answer again with only the JSON object \
             {{\"command\": \"...\", \"explanation\": \"...\"}}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            os: "linux".into(),
            shell: "bash".into(),
            cwd: PathBuf::from("/home/u/project"),
            home: Some(PathBuf::from("/home/u")),
            tools: vec!["git".into(), "jq".into()],
        }
    }

    #[test]
    fn system_message_starts_with_the_fixed_instructions() {
        let msgs = messages(&env(), "  list files \n");
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].content.starts_with(INSTRUCTIONS));
        assert!(
            msgs[0]
                .content
                .contains("working directory: /home/u/project")
        );
        assert!(msgs[0].content.contains("tools on PATH: git, jq"));
        assert!(msgs[0].content.contains("home directory (~): /home/u"));
        assert_eq!(msgs[1].role, "user");
        assert_eq!(msgs[1].content, "list files");
    }

    #[test]
    fn prompts_in_two_folders_share_everything_before_the_working_directory() {
        let here = messages(&env(), "list files")[0].content.clone();
        let there_env = Environment {
            cwd: PathBuf::from("/tmp"),
            ..env()
        };
        let there = messages(&there_env, "count lines")[0].content.clone();
        let at = here.find("\n- working directory:").map_or(0, |at| at + 1);
        assert!(at > INSTRUCTIONS.len(), "{here}");
        assert_eq!(here[..at], there[..at]);
        assert_eq!(&here[at..], "- working directory: /home/u/project");
        assert_eq!(&there[at..], "- working directory: /tmp");
    }

    #[test]
    fn schema_requires_command_and_explanation() {
        let schema = answer_schema();
        assert_eq!(schema["required"], json!(["command", "explanation"]));
    }

    #[test]
    fn detect_reports_this_os() {
        assert_eq!(Environment::detect().os, std::env::consts::OS);
    }
}
