//! From a request in words to one judged command: prompt, generate, extract, retry
//! once, validate.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{Chain, ChainError, CompletionRequest};
use crate::extract::{Answer, ExtractError, extract};
use crate::prompt::{Environment, answer_schema, messages, retry_message};
use crate::{CheckReport, Decision, Finding, Risk, Validator, Verdict};

/// How to ask the model.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationOptions {
    /// Generate at most this many tokens per attempt.
    pub max_tokens: usize,
    /// 0 (the default) is greedy.
    pub temperature: f32,
    /// Ask the backend to constrain the answer to the JSON schema.
    pub constrained: bool,
    /// Generate the explanation too. Without it, a backend that streams stops once
    /// the command is complete (a refusal still gets its explanation): the command
    /// comes first in the answer, so it is the same either way, only sooner.
    pub explanation: bool,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        Self {
            max_tokens: 160,
            temperature: 0.0,
            constrained: true,
            explanation: true,
        }
    }
}

/// What went wrong turning a request into a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssistError {
    /// The request is empty.
    #[error("the request is empty")]
    EmptyRequest,
    /// No backend answered.
    #[error(transparent)]
    Backends(#[from] ChainError),
    /// Even the retry gave nothing that looks like a command.
    #[error("cannot read a command from the model's answer ({error}); it said: {text:?}")]
    NoCommand {
        error: ExtractError,
        text: String,
        backend: String,
    },
}

/// A judged command, ready to show.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// The extracted command (empty when the model declined) and its explanation.
    pub answer: Answer,
    /// The validator's judgement; for a refusal, one `model-refused` finding.
    pub verdict: Verdict,
    /// What the mode in force does with it; a refusal is [`Decision::Block`].
    pub decision: Decision,
    /// Which backend answered.
    pub backend: String,
    /// From the request to the verdict, retries and fallbacks included.
    pub latency: Duration,
    /// Whether the first answer had to be asked for again.
    pub retried: bool,
    /// The model's raw text (the last attempt).
    pub raw: String,
}

/// The JSON object `hearth cmd --json` prints: [`CheckReport`] plus `backend` and
/// `latency_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CmdReport {
    #[serde(flatten)]
    pub check: CheckReport,
    pub backend: String,
    pub latency_ms: u64,
}

impl Suggestion {
    /// The `--json` report.
    pub fn report(&self) -> CmdReport {
        CmdReport {
            check: CheckReport::new(&self.verdict, self.decision),
            backend: self.backend.clone(),
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The command assistant: a chain of backends and a validator.
#[derive(Debug)]
pub struct Assistant {
    chain: Chain,
    validator: Validator,
    env: Environment,
    options: GenerationOptions,
}

impl Assistant {
    pub fn new(
        chain: Chain,
        validator: Validator,
        env: Environment,
        options: GenerationOptions,
    ) -> Self {
        Self {
            chain,
            validator,
            env,
            options,
        }
    }

    /// The validator in force.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// Asks for one command for `request`; when the answer holds none, asks once more
    /// with the error, on the backend that answered.
    ///
    /// # Errors
    ///
    /// [`AssistError`] when the request is empty, no backend answers, or no command
    /// can be read from the answers.
    pub async fn suggest(&self, request: &str) -> Result<Suggestion, AssistError> {
        if request.trim().is_empty() {
            return Err(AssistError::EmptyRequest);
        }
        let started = Instant::now();
        let mut completion = CompletionRequest {
            messages: messages(&self.env, request),
            schema: self.options.constrained.then(answer_schema),
            max_tokens: self.options.max_tokens,
            temperature: self.options.temperature,
            stop_after_command: !self.options.explanation,
        };
        let first = self.chain.complete(&completion, 0).await?;
        let (answered, answer, retried) = match extract(&first.text) {
            Ok(answer) => (first, answer, false),
            Err(error) => {
                tracing::debug!(%error, text = %first.text, "asking again");
                completion
                    .messages
                    .push(hearth_protocol::ChatMessage::new("assistant", &first.text));
                completion.messages.push(retry_message(&error.to_string()));
                let second = self.chain.complete(&completion, first.index).await?;
                match extract(&second.text) {
                    Ok(answer) => (second, answer, true),
                    Err(error) => {
                        return Err(AssistError::NoCommand {
                            error,
                            text: second.text,
                            backend: second.backend,
                        });
                    }
                }
            }
        };
        let verdict = self.judge(&answer);
        let decision = if answer.is_refusal() {
            Decision::Block
        } else {
            self.validator.decide(&verdict)
        };
        Ok(Suggestion {
            answer,
            verdict,
            decision,
            backend: answered.backend,
            latency: started.elapsed(),
            retried,
            raw: answered.text,
        })
    }

    fn judge(&self, answer: &Answer) -> Verdict {
        if answer.is_refusal() {
            let reason = if answer.explanation.is_empty() {
                "the model gave no command".to_owned()
            } else {
                format!("the model gave no command: {}", answer.explanation)
            };
            return Verdict::new("", vec![Finding::new("model-refused", Risk::Safe, reason)]);
        }
        self.validator.check(&answer.command).unwrap_or_else(|_| {
            Verdict::new(
                &answer.command,
                vec![Finding::new("model-refused", Risk::Safe, "empty command")],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use hearth_protocol::BoxFuture;

    use super::*;
    use crate::backend::{BackendFailure, CommandBackend};
    use crate::{Mode, Policy};

    /// Answers with the scripted texts in order and records the requests.
    struct Scripted {
        answers: Mutex<Vec<String>>,
        seen: std::sync::Arc<Mutex<Vec<CompletionRequest>>>,
    }

    impl CommandBackend for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>> {
            Box::pin(async { Ok(()) })
        }
        fn complete<'a>(
            &'a self,
            request: &'a CompletionRequest,
        ) -> BoxFuture<'a, Result<String, BackendFailure>> {
            Box::pin(async move {
                self.seen.lock().map(|mut s| s.push(request.clone())).ok();
                let mut answers = self.answers.lock().map_err(|_| {
                    BackendFailure::Engine(hearth_protocol::BackendError::Internal("lock".into()))
                })?;
                Ok(if answers.is_empty() {
                    String::new()
                } else {
                    answers.remove(0)
                })
            })
        }
    }

    type Seen = std::sync::Arc<Mutex<Vec<CompletionRequest>>>;

    fn assistant(answers: &[&str], mode: Mode) -> Result<(Assistant, Seen), crate::ShellError> {
        let seen = Seen::default();
        let backend = Scripted {
            answers: Mutex::new(answers.iter().map(|s| (*s).to_owned()).collect()),
            seen: seen.clone(),
        };
        let validator = Validator::new(Policy {
            mode,
            ..Policy::default()
        })?;
        let env = Environment {
            os: "linux".into(),
            shell: "bash".into(),
            cwd: "/tmp".into(),
            home: None,
            tools: Vec::new(),
        };
        let chain = Chain::new(vec![Box::new(backend)]);
        Ok((
            Assistant::new(chain, validator, env, GenerationOptions::default()),
            seen,
        ))
    }

    #[tokio::test]
    async fn a_json_answer_is_validated_greedily() -> Result<(), Box<dyn std::error::Error>> {
        let (assistant, seen) = assistant(
            &[r#"{"command":"ls -la","explanation":"x"}"#],
            Mode::Moderate,
        )?;
        let s = assistant.suggest("list files").await?;
        assert_eq!(s.answer.command, "ls -la");
        assert_eq!(s.verdict.risk, Risk::Safe);
        assert_eq!(s.decision, Decision::Allow);
        assert_eq!(s.backend, "scripted");
        assert!(!s.retried);
        let seen = seen.lock().map_err(|_| "lock")?;
        assert_eq!(seen[0].temperature, 0.0);
        assert!(seen[0].schema.is_some());
        assert!(!seen[0].stop_after_command, "the explanation is asked for");
        Ok(())
    }

    #[tokio::test]
    async fn an_unreadable_answer_is_retried_once_with_the_error()
    -> Result<(), Box<dyn std::error::Error>> {
        let (assistant, seen) = assistant(
            &["", r#"{"command":"rm -rf /","explanation":"x"}"#],
            Mode::Moderate,
        )?;
        let s = assistant.suggest("wipe it").await?;
        assert!(s.retried);
        assert_eq!(s.verdict.risk, Risk::Critical);
        assert_eq!(s.decision, Decision::Block);
        assert!(s.report().check.blocked);
        let seen = seen.lock().map_err(|_| "lock")?;
        assert_eq!(seen.len(), 2);
        assert!(
            seen[1]
                .messages
                .last()
                .is_some_and(|m| m.content.contains("the answer is empty"))
        );
        Ok(())
    }

    #[tokio::test]
    async fn two_unreadable_answers_are_an_error() -> Result<(), crate::ShellError> {
        let (assistant, _) = assistant(&["", "   "], Mode::Moderate)?;
        assert!(matches!(
            assistant.suggest("x").await,
            Err(AssistError::NoCommand { .. })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_refusal_is_blocked_with_its_reason() -> Result<(), Box<dyn std::error::Error>> {
        let (assistant, _) = assistant(
            &[r#"{"command":"","explanation":"Too dangerous."}"#],
            Mode::Permissive,
        )?;
        let s = assistant.suggest("destroy my disk").await?;
        assert!(s.answer.is_refusal());
        assert_eq!(s.decision, Decision::Block);
        let json = serde_json::to_value(s.report())?;
        assert_eq!(json["blocked"], true);
        assert_eq!(json["reasons"][0]["rule"], "model-refused");
        assert_eq!(json["backend"], "scripted");
        assert!(json["latency_ms"].is_u64());
        Ok(())
    }
}
