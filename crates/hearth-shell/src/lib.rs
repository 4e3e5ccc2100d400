//! Hearth's command assistant and its safety validator.
//!
//! `hearth cmd "…"` turns a request into one POSIX shell command; before it runs,
//! [`Validator::check`] judges it. The command is parsed with `brush-parser`, every
//! simple command in it is found — in pipelines, lists, subshells, functions, loops,
//! command and process substitutions, `sh -c` strings, `eval`, `find -exec`, behind
//! `sudo`, `env`, `xargs`, `timeout`… — quoting is resolved (`r''m` is `rm`), and a
//! set of rules reports [`Finding`]s: a rule id, a [`Risk`] and a reason. The
//! [`Verdict`] carries the highest risk; a [`Mode`] turns that into a [`Decision`]
//! (allow, confirm, block); [`CheckReport`] is the JSON `hearth check --json` prints.
//!
//! ```
//! use hearth_shell::{Decision, Risk, Validator, Policy};
//!
//! let validator = Validator::new(Policy::default())?;
//! let verdict = validator.check("sudo sh -c 'rm -rf /'")?;
//! assert_eq!(verdict.risk, Risk::Critical);
//! assert_eq!(validator.decide(&verdict), Decision::Block);
//! assert_eq!(hearth_shell::check("ls -la")?.risk, Risk::Safe);
//! # Ok::<(), hearth_shell::ShellError>(())
//! ```
//!
//! Generation: [`Assistant::suggest`] builds the prompt ([`prompt`]), asks a
//! [`backend::Chain`] of backends (in-process engine, Hearth server, OpenAI-compatible
//! server, Ollama) that falls back from one to the next, reads the command out of the
//! answer ([`extract`]), asks once more when it cannot, and judges the command with the
//! [`Validator`]. [`Config`] holds the user's settings; [`eval`] scores an assistant
//! against a YAML set of requests.
//!
//! The validator is a safety net, not a sandbox: it judges what the text of a command
//! says, and cannot know what a script file, an alias or a variable set elsewhere does.

mod argv;
mod assistant;
pub mod backend;
mod config;
mod error;
pub mod eval;
pub mod extract;
mod invocation;
mod parse;
mod paths;
mod policy;
pub mod prompt;
mod report;
mod risk;
mod rules;
mod unwrap;
mod verdict;
mod word;

pub use assistant::{AssistError, Assistant, CmdReport, GenerationOptions, Suggestion};
pub use config::{BackendConfig, BackendKind, Config, ConfigError};
pub use error::ShellError;
pub use policy::{Policy, Validator};
pub use report::CheckReport;
pub use risk::{Decision, Mode, Risk};
pub use verdict::{Finding, Verdict};

/// Checks `command` with the default [`Policy`] (moderate mode, no allow or deny
/// patterns).
///
/// # Errors
///
/// [`ShellError::Empty`] when the command is empty or only whitespace.
pub fn check(command: &str) -> Result<Verdict, ShellError> {
    Validator::default().check(command)
}
