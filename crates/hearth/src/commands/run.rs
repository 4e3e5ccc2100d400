//! `hearth run`: generate text with a model, one-shot or as a terminal chat.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use hearth_engine::{Outcome, generate};
use hearth_models::{ChatMessage, Model};
use hearth_protocol::{SamplingParams, StopConditions};

use crate::cli::{RunArgs, SamplingArgs};
use crate::model_ref;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let prompt = match &args.prompt {
        Some(p) => Some(p.clone()),
        None if io::stdin().is_terminal() => None,
        None => Some(read_stdin()?),
    };
    let started = Instant::now();
    let model = model_ref::load(&args.model)?;
    let load_time = started.elapsed();
    if args.verbose {
        stats(&format!(
            "loaded in {:.0} ms",
            load_time.as_secs_f64() * 1e3
        ));
    }
    if !args.raw && model.chat_template_is_fallback() {
        let format = if model.architecture().starts_with("gemma") {
            "Gemma's turn format"
        } else {
            "ChatML"
        };
        tracing::warn!(
            "the model carries no chat template; using {format} (use --raw to avoid it)"
        );
    }
    let session = Session {
        model: &model,
        args: &args,
    };
    match prompt {
        Some(prompt) => session.one_shot(&prompt),
        None => session.chat(),
    }
}

struct Session<'a> {
    model: &'a Model,
    args: &'a RunArgs,
}

impl Session<'_> {
    fn one_shot(&self, prompt: &str) -> anyhow::Result<ExitCode> {
        let ids = if self.args.raw {
            self.model.tokenizer().encode(prompt, true, false)?
        } else {
            let mut messages = self.system_message();
            messages.push(ChatMessage::new("user", prompt));
            self.chat_ids(&messages)?
        };
        let mut out = Output::new();
        let outcome = self.generate(&ids, &mut out)?;
        out.finish();
        self.report(&outcome);
        Ok(ExitCode::SUCCESS)
    }

    fn chat(&self) -> anyhow::Result<ExitCode> {
        let mut messages = self.system_message();
        let stdin = io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            eprint_prompt();
            let Some(line) = lines.next() else { break };
            let line = line.context("cannot read stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            messages.push(ChatMessage::new("user", line));
            let ids = self.chat_ids(&messages)?;
            let mut out = Output::new();
            let outcome = self.generate(&ids, &mut out)?;
            out.end_line();
            self.report(&outcome);
            messages.push(ChatMessage::new("assistant", out.text));
            if out.closed {
                break;
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn system_message(&self) -> Vec<ChatMessage> {
        self.args
            .system
            .iter()
            .map(|s| ChatMessage::new("system", s.clone()))
            .collect()
    }

    fn chat_ids(&self, messages: &[ChatMessage]) -> anyhow::Result<Vec<u32>> {
        let text = self.model.chat_template().render(messages, true)?;
        Ok(self.model.tokenizer().encode(&text, true, true)?)
    }

    fn generate(&self, ids: &[u32], out: &mut Output) -> anyhow::Result<Outcome> {
        let stop = StopConditions {
            max_tokens: self.args.max_tokens,
            stop: self.args.stop.clone(),
        };
        let params = sampling_params(&self.args.sampling);
        Ok(generate(
            self.model,
            ids,
            &params,
            &stop,
            self.args.ctx_size,
            None,
            |text| out.write(text),
        )?)
    }

    fn report(&self, outcome: &Outcome) {
        if !self.args.verbose {
            return;
        }
        let rate = |n: usize, t: std::time::Duration| n as f64 / t.as_secs_f64().max(1e-9);
        stats(&format!(
            "prompt: {} tokens in {:.0} ms ({:.1} tokens/s); generated: {} tokens in {:.0} ms ({:.1} tokens/s); finish: {:?}",
            outcome.usage.prompt_tokens,
            outcome.prompt_time.as_secs_f64() * 1e3,
            rate(outcome.usage.prompt_tokens, outcome.prompt_time),
            outcome.usage.completion_tokens,
            outcome.generation_time.as_secs_f64() * 1e3,
            rate(outcome.usage.completion_tokens, outcome.generation_time),
            outcome.finish_reason,
        ));
    }
}

fn sampling_params(args: &SamplingArgs) -> SamplingParams {
    SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        presence_penalty: args.presence_penalty,
        frequency_penalty: args.frequency_penalty,
        seed: args.seed,
        ..SamplingParams::default()
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the prompt from stdin")?;
    Ok(text)
}

#[allow(clippy::print_stderr)]
fn stats(line: &str) {
    eprintln!("{line}");
}

#[allow(clippy::print_stderr)]
fn eprint_prompt() {
    eprint!("> ");
}

/// Generated text going to stdout as it forms. A closed pipe (`| head`) is not an
/// error: the rest of the text is simply not printed.
struct Output {
    stdout: io::Stdout,
    text: String,
    closed: bool,
}

impl Output {
    fn new() -> Self {
        Self {
            stdout: io::stdout(),
            text: String::new(),
            closed: false,
        }
    }

    fn write(&mut self, piece: &str) {
        self.text.push_str(piece);
        if self.closed || piece.is_empty() {
            return;
        }
        let mut lock = self.stdout.lock();
        if lock
            .write_all(piece.as_bytes())
            .and_then(|()| lock.flush())
            .is_err()
        {
            self.closed = true;
        }
    }

    /// A final newline for a person reading a terminal; none for a pipe, so the output
    /// is exactly the generated text.
    fn finish(&mut self) {
        if self.stdout.is_terminal() {
            self.end_line();
        }
    }

    fn end_line(&mut self) {
        if !self.closed && self.stdout.lock().write_all(b"\n").is_err() {
            self.closed = true;
        }
    }
}
