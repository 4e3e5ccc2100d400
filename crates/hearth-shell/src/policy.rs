//! User policy (mode, allow and deny patterns) and the [`Validator`] that applies it.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{Decision, Finding, Mode, Risk, ShellError, Verdict};

/// What the user configured: a safety mode and allow/deny regex lists.
///
/// Precedence, highest first:
///
/// 1. **deny**: a command in which any deny pattern matches (anywhere — patterns are
///    searched, not anchored) gets a `user-deny` finding at [`Risk::Critical`], on
///    top of the built-in findings. It is blocked in strict and moderate mode and
///    needs confirmation in permissive mode.
/// 2. **allow**: otherwise, a command that an allow pattern matches *entirely*
///    (patterns are anchored as `^(?:…)$`) is judged [`Risk::Safe`], with one
///    `user-allow` finding saying which pattern allowed it. Anchoring keeps
///    `ls` from allowing `ls; rm -rf ~`; write `git push .*` to allow a family, and
///    mind that `.*` also matches `;` and `&&`.
/// 3. otherwise the built-in rules decide.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// How much risk is accepted before asking or blocking.
    pub mode: Mode,
    /// Regexes for commands the user trusts; each must match the whole command.
    pub allow: Vec<String>,
    /// Regexes for commands the user forbids; matched anywhere in the command.
    pub deny: Vec<String>,
}

/// Judges shell commands under a [`Policy`]. Cheap to share: checking takes `&self`.
#[derive(Clone, Debug, Default)]
pub struct Validator {
    mode: Mode,
    allow: Vec<(String, Regex)>,
    deny: Vec<(String, Regex)>,
}

impl Validator {
    /// Compiles the policy's patterns.
    ///
    /// # Errors
    ///
    /// [`ShellError::InvalidPattern`] naming the first allow or deny pattern that is not
    /// a valid regex.
    pub fn new(policy: Policy) -> Result<Self, ShellError> {
        let compile = |list: &'static str, patterns: Vec<String>, anchored: bool| {
            patterns
                .into_iter()
                .map(|pattern| {
                    let source = if anchored {
                        format!("^(?:{pattern})$")
                    } else {
                        pattern.clone()
                    };
                    match Regex::new(&source) {
                        Ok(regex) => Ok((pattern, regex)),
                        Err(source) => Err(ShellError::InvalidPattern {
                            list,
                            pattern,
                            source,
                        }),
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            mode: policy.mode,
            allow: compile("allow", policy.allow, true)?,
            deny: compile("deny", policy.deny, false)?,
        })
    }

    /// The safety mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Judges one command. A command that cannot be parsed is not an error: it gets an
    /// `unparseable` finding at [`Risk::High`].
    ///
    /// # Errors
    ///
    /// [`ShellError::Empty`] when the command is empty or only whitespace.
    pub fn check(&self, command: &str) -> Result<Verdict, ShellError> {
        let trimmed = command.trim();
        if trimmed.is_empty() {
            return Err(ShellError::Empty);
        }
        let denied: Vec<&str> = self
            .deny
            .iter()
            .filter(|(_, regex)| regex.is_match(command))
            .map(|(pattern, _)| pattern.as_str())
            .collect();
        let allowed = self.allow.iter().find(|(_, r)| r.is_match(trimmed));
        if let (true, Some((pattern, _))) = (denied.is_empty(), allowed) {
            let finding = Finding::new(
                "user-allow",
                Risk::Safe,
                format!("allowed by the user pattern `{pattern}`"),
            );
            return Ok(Verdict::new(command, vec![finding]));
        }
        let analysis = crate::parse::analyze(command);
        let mut findings = analysis.findings;
        findings.extend(crate::rules::run(&analysis.invocations));
        for pattern in denied {
            findings.push(Finding::new(
                "user-deny",
                Risk::Critical,
                format!("denied by the user pattern `{pattern}`"),
            ));
        }
        Ok(Verdict::new(command, findings))
    }

    /// What the mode in force does with this verdict.
    pub fn decide(&self, verdict: &Verdict) -> Decision {
        self.mode.decide(verdict.risk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: Mode, allow: &[&str], deny: &[&str]) -> Policy {
        Policy {
            mode,
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn empty_commands_are_an_error() {
        let validator = Validator::default();
        assert!(matches!(validator.check(""), Err(ShellError::Empty)));
        assert!(matches!(validator.check(" \n\t "), Err(ShellError::Empty)));
    }

    #[test]
    fn invalid_patterns_are_reported_with_their_list() {
        let err = Validator::new(policy(Mode::Moderate, &[], &["(unclosed"]));
        assert!(matches!(
            err,
            Err(ShellError::InvalidPattern { list: "deny", ref pattern, .. }) if pattern == "(unclosed"
        ));
    }

    #[test]
    fn deny_patterns_make_a_command_critical() -> Result<(), ShellError> {
        let validator = Validator::new(policy(
            Mode::Moderate,
            &[".*"],
            &["docker\\s+system\\s+prune"],
        ))?;
        let verdict = validator.check("docker system prune -af")?;
        assert_eq!(verdict.risk, Risk::Critical);
        assert!(verdict.has_rule("user-deny"));
        assert_eq!(validator.decide(&verdict), Decision::Block);
        let permissive = Validator::new(policy(Mode::Permissive, &[], &["docker"]))?;
        let verdict = permissive.check("docker ps")?;
        assert_eq!(permissive.decide(&verdict), Decision::Confirm);
        Ok(())
    }

    #[test]
    fn allow_patterns_must_match_the_whole_command() -> Result<(), ShellError> {
        let validator = Validator::new(policy(Mode::Strict, &["sudo apt (update|upgrade)"], &[]))?;
        let allowed = validator.check("sudo apt update")?;
        assert_eq!(allowed.risk, Risk::Safe);
        assert!(allowed.has_rule("user-allow"));
        let chained = validator.check("sudo apt update; rm -rf /")?;
        assert_eq!(chained.risk, Risk::Critical);
        Ok(())
    }

    #[test]
    fn unparseable_commands_are_high() -> Result<(), ShellError> {
        let verdict = Validator::default().check("echo 'unterminated")?;
        assert_eq!(verdict.risk, Risk::High);
        assert!(verdict.has_rule("unparseable"));
        Ok(())
    }
}
