//! `hearth cmd`: a request in words → one shell command, judged, and run only with the
//! user's consent.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hearth_engine::{EngineConfig, EnginePool, SchedulerConfig};
use hearth_shell::backend::{Chain, CommandBackend, InProcess, Ollama, OpenAiCompatible};
use hearth_shell::prompt::Environment;
use hearth_shell::{
    AssistError, Assistant, BackendConfig, BackendKind, Config, Decision, GenerationOptions, Mode,
    Suggestion, Validator, Verdict,
};

use crate::catalog;
use crate::cli::Hinted;

/// Exit status of a blocked command.
const BLOCKED: u8 = 3;
/// Exit status when the user aborts.
const ABORTED: u8 = 4;
/// The in-process model used when none is configured: the Qwen test model in the cache.
const DEFAULT_MODEL_FILE: &str = "qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf";

/// Flags shared by `hearth cmd` and `hearth eval`: where answers come from and how
/// strict to be.
#[derive(Debug, Args)]
pub struct AssistantArgs {
    /// Model: a path to a `.gguf` file for the in-process backend, or the model's name
    /// on the server backends (default: the configured one; in process, the cached
    /// Qwen2.5-Coder-0.5B-Instruct test model; on a server, its first listed model).
    #[arg(short, long, value_name = "NAME|PATH")]
    pub model: Option<String>,
    /// Backend to ask, repeatable to form a fallback chain: `local`, `hearth[=URL]`,
    /// `openai=URL`, `ollama[=URL]`, or the name of a backend in the config file.
    #[arg(short, long = "backend", value_name = "BACKEND")]
    pub backends: Vec<String>,
    /// Safety mode: `strict` blocks high and critical risks, `moderate` blocks critical
    /// ones, `permissive` blocks nothing (default: the config file's, else moderate).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<Mode>,
    /// Threads for an in-process model (default: all cores).
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    /// Compute the whole prompt in process instead of reusing the KV cache kept on
    /// disk (also `prompt_cache = false` in the config file, `HEARTH_PROMPT_CACHE=off`).
    #[arg(long)]
    pub no_prompt_cache: bool,
}

#[derive(Debug, Args)]
pub struct CmdArgs {
    /// What the command should do, in words (quote it).
    #[arg(required_unless_present = "show_config")]
    pub request: Option<String>,
    #[command(flatten)]
    pub assistant: AssistantArgs,
    /// Print `{"command","risk","blocked","reasons","backend","latency_ms"}` on stdout
    /// and never run anything.
    #[arg(long)]
    pub json: bool,
    /// Run the command without asking, unless it is blocked (needed to run without a
    /// terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Also print the model's explanation and every reason in full.
    #[arg(long)]
    pub explain: bool,
    /// Print the effective configuration (file, environment and flags) and exit.
    #[arg(long)]
    pub show_config: bool,
    /// Log on stderr how long an in-process answer took: model load, prompt (with the
    /// tokens reused from the prompt cache) and decoding.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Reads `name` from the environment; empty counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The configuration file, then the environment, then the flags.
pub fn load_config(args: &AssistantArgs) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let path = Config::path(&env_var);
    let mut config = match &path {
        Some(path) => Config::load(path).map_err(|e| {
            Hinted::error(
                format!("{:#}", anyhow::Error::new(e)),
                "fix the file, or point `HEARTH_CONFIG` at another one",
            )
        })?,
        None => Config::default(),
    };
    if let Some(mode) = args.mode {
        config.mode = mode;
    }
    if let Some(value) = env_var("HEARTH_PROMPT_CACHE") {
        config.prompt_cache = switch(&value).ok_or_else(|| {
            Hinted::error(
                format!("`HEARTH_PROMPT_CACHE` is `{value}`"),
                "set it to `on` or `off`",
            )
        })?;
    }
    if args.no_prompt_cache {
        config.prompt_cache = false;
    }
    config.select_backends(&args.backends)?;
    if let Some(model) = &args.model {
        // A path goes to the in-process backends, a name to the servers; when the
        // chain has only one sort, it goes to all (and a bad value is reported there).
        let is_path = model.ends_with(".gguf") || std::path::Path::new(model).is_file();
        let chain = config.chain(&env_var);
        let mixed = chain.iter().any(|b| b.kind == BackendKind::Local)
            && chain.iter().any(|b| b.kind != BackendKind::Local);
        config.backends = chain
            .into_iter()
            .map(|b| {
                let fits = !mixed || (b.kind == BackendKind::Local) == is_path;
                BackendConfig {
                    model: if fits {
                        Some(model.clone())
                    } else {
                        b.model.clone()
                    },
                    ..b
                }
            })
            .collect();
    }
    Ok((config, path))
}

/// `on`/`off` and their usual spellings.
fn switch(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// The assistant the configuration describes.
/// `explanation`: whether the model's explanation will be shown (generation can stop
/// after the command otherwise).
pub fn build_assistant(config: &Config, explanation: bool) -> anyhow::Result<Assistant> {
    let chain_config = config.chain(&env_var);
    let mut backends: Vec<Box<dyn CommandBackend>> = Vec::new();
    let alone = chain_config.len() == 1;
    for backend in &chain_config {
        match build_backend(backend, config) {
            Ok(b) => backends.push(b),
            Err(err) if !alone => {
                tracing::warn!("skipping the `{}` backend: {err:#}", backend.kind.as_str());
            }
            Err(err) => return Err(err),
        }
    }
    if backends.is_empty() {
        return Err(Hinted::error(
            "no usable backend",
            "check `hearth cmd --show-config`",
        ));
    }
    let mut chain = Chain::new(backends);
    chain.timeout = Duration::from_secs(config.timeout_secs.max(1));
    let validator = Validator::new(config.policy()).context("invalid allow or deny list")?;
    let options = GenerationOptions {
        max_tokens: config.max_tokens.max(16),
        constrained: config.constrained,
        explanation,
        ..GenerationOptions::default()
    };
    Ok(Assistant::new(
        chain,
        validator,
        Environment::detect(),
        options,
    ))
}

fn build_backend(
    backend: &BackendConfig,
    config: &Config,
) -> anyhow::Result<Box<dyn CommandBackend>> {
    let url = backend.effective_url(&env_var);
    let key = backend.effective_api_key(&env_var);
    let model = backend.model.clone();
    Ok(match backend.kind {
        BackendKind::Local => {
            let prompt_cache = config.prompt_cache.then(prompt_cache_dir).flatten();
            local_backend(model.as_deref(), prompt_cache)?
        }
        BackendKind::Hearth => Box::new(OpenAiCompatible::hearth(
            url.as_deref().unwrap_or("127.0.0.1:8434"),
            model,
            key,
        )),
        BackendKind::Openai => {
            let url = url.ok_or_else(|| {
                Hinted::error(
                    "the `openai` backend has no URL",
                    "use `--backend openai=URL`, set `url` in the config file, or set `OPENAI_BASE_URL`",
                )
            })?;
            Box::new(OpenAiCompatible::new(&url, model, key))
        }
        BackendKind::Ollama => {
            let model = model.ok_or_else(|| {
                Hinted::error(
                    "the `ollama` backend needs a model name",
                    "pass `--model NAME` or set `model` for it in the config file",
                )
            })?;
            Box::new(Ollama::new(
                url.as_deref().unwrap_or("127.0.0.1:11434"),
                model,
            ))
        }
    })
}

/// Where the fetched test models are cached (`scripts/fetch-test-models.sh`).
fn default_model() -> Option<PathBuf> {
    let dir = env_var("HEARTH_TEST_MODELS")
        .map(PathBuf::from)
        .or_else(|| dirs_cache().map(|c| c.join("hearth").join("test-models")))?;
    Some(dir.join(DEFAULT_MODEL_FILE))
}

fn dirs_cache() -> Option<PathBuf> {
    env_var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env_var("HOME").map(|h| PathBuf::from(h).join(".cache")))
}

/// Where in-process models keep their prompt caches.
fn prompt_cache_dir() -> Option<PathBuf> {
    dirs_cache().map(|c| c.join("hearth").join("prompt-cache"))
}

fn local_backend(
    model: Option<&str>,
    prompt_cache: Option<PathBuf>,
) -> anyhow::Result<Box<dyn CommandBackend>> {
    let (name, path) = match model {
        Some(m) => {
            let found = catalog::resolve(m)?;
            (found.name, found.path)
        }
        None => {
            let path = default_model().filter(|p| p.is_file()).ok_or_else(|| {
                Hinted::error(
                    "no model for the in-process backend",
                    "pass `--model NAME|PATH.gguf`, fetch the default with \
                     `scripts/fetch-test-models.sh qwen2`, or use a server with `--backend hearth`",
                )
            })?;
            (catalog::file_name(&path), path)
        }
    };
    let config = EngineConfig {
        n_ctx: 2048,
        scheduler: SchedulerConfig {
            max_running: 1,
            ..SchedulerConfig::default()
        },
        max_queue: 4,
        prompt_cache,
        ..EngineConfig::default()
    };
    let pool = EnginePool::new(vec![(name.clone(), path.clone())], config)
        .with_context(|| format!("cannot use model `{}`", path.display()))?;
    Ok(Box::new(InProcess::new(pool, name)))
}

/// The async runtime for one command: one thread is plenty, the engine has its own.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(args: CmdArgs) -> anyhow::Result<ExitCode> {
    let (config, path) = load_config(&args.assistant)?;
    if args.show_config {
        return show_config(&config, path);
    }
    let request = args.request.clone().unwrap_or_default();
    // `--json` prints no explanation; the terminal menu can (Describe).
    let assistant = build_assistant(&config, !args.json || args.explain)?;
    let suggestion = runtime()?
        .block_on(assistant.suggest(&request))
        .map_err(assist_error)?;
    if args.json {
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, &suggestion.report())?;
        writeln!(out)?;
        out.flush().context("cannot write to stdout")?;
        return Ok(exit_for(suggestion.decision));
    }
    interact(assistant.validator(), &suggestion, &args, config.mode)
}

/// The error with a hint fitting what failed.
fn assist_error(error: AssistError) -> anyhow::Error {
    let hint = match &error {
        AssistError::Backends(_) => {
            "start a server (`hearth serve`), check the backends with \
             `hearth cmd --show-config`, or ask the in-process model with `--backend local`"
        }
        _ => "rephrase the request, or try a larger model with `--model`",
    };
    Hinted::error(format!("{:#}", anyhow::Error::new(error)), hint)
}

fn exit_for(decision: Decision) -> ExitCode {
    if decision == Decision::Block {
        ExitCode::from(BLOCKED)
    } else {
        ExitCode::SUCCESS
    }
}

fn show_config(config: &Config, path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match path {
        Some(p) if p.is_file() => writeln!(out, "# config file: {}", p.display())?,
        Some(p) => writeln!(out, "# config file: {} (not found; defaults)", p.display())?,
        None => writeln!(out, "# config file: none (no config directory)")?,
    }
    write!(out, "{}", config.effective(&env_var).to_toml())?;
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The command under consideration; an edit replaces it and its verdict.
struct Pending {
    command: String,
    verdict: Verdict,
    decision: Decision,
}

fn interact(
    validator: &Validator,
    suggestion: &Suggestion,
    args: &CmdArgs,
    mode: Mode,
) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    if suggestion.answer.is_refusal() {
        writeln!(out, "no command: {}", suggestion.answer.explanation)?;
        return Ok(ExitCode::from(BLOCKED));
    }
    let mut pending = Pending {
        command: suggestion.answer.command.clone(),
        verdict: suggestion.verdict.clone(),
        decision: suggestion.decision,
    };
    show(&mut out, &pending, mode)?;
    writeln!(
        out,
        "  ({}, {} ms)",
        suggestion.backend,
        suggestion.latency.as_millis()
    )?;
    if args.explain {
        describe(&mut out, suggestion, &pending)?;
    }
    out.flush()?;
    if pending.decision == Decision::Block {
        note(&format!("blocked in {mode} mode: hearth will not run it"));
        return Ok(ExitCode::from(BLOCKED));
    }
    let terminal = io::stdin().is_terminal() && io::stderr().is_terminal();
    if args.yes {
        return execute(&pending.command);
    }
    if !terminal {
        note("not run: there is no terminal to ask on (pass `--yes` to run it)");
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        prompt("[x] execute  [e] edit  [d] describe  [c] copy  [A] abort > ");
        let Some(choice) = read_line()? else {
            return Ok(ExitCode::from(ABORTED));
        };
        match choice.to_ascii_lowercase().as_str() {
            "x" | "execute" => {
                if pending.decision == Decision::Block {
                    note(&format!("blocked in {mode} mode: hearth will not run it"));
                    continue;
                }
                if pending.decision == Decision::Confirm && !confirmed(&pending)? {
                    continue;
                }
                return execute(&pending.command);
            }
            "e" | "edit" => {
                prompt("new command (empty keeps it) > ");
                let Some(edited) = read_line()?.filter(|l| !l.is_empty()) else {
                    continue;
                };
                let verdict = validator.check(&edited)?;
                pending = Pending {
                    decision: validator.decide(&verdict),
                    command: edited,
                    verdict,
                };
                show(&mut out, &pending, mode)?;
                out.flush()?;
            }
            "d" | "describe" => {
                describe(&mut out, suggestion, &pending)?;
                out.flush()?;
            }
            "c" | "copy" => {
                copy(&pending.command);
                return Ok(ExitCode::SUCCESS);
            }
            "" | "a" | "abort" => return Ok(ExitCode::from(ABORTED)),
            other => note(&format!("unknown choice `{other}`")),
        }
    }
}

fn show(out: &mut impl Write, pending: &Pending, mode: Mode) -> io::Result<()> {
    let outcome = match pending.decision {
        Decision::Allow => "allowed",
        Decision::Confirm => "needs confirmation",
        Decision::Block => "blocked",
    };
    writeln!(out, "  {}", pending.command)?;
    writeln!(
        out,
        "risk: {} ({outcome} in {mode} mode)",
        pending.verdict.risk
    )?;
    for reason in &pending.verdict.findings {
        writeln!(
            out,
            "  - {} ({}): {}",
            reason.rule, reason.risk, reason.message
        )?;
    }
    Ok(())
}

fn describe(out: &mut impl Write, suggestion: &Suggestion, pending: &Pending) -> io::Result<()> {
    if pending.command == suggestion.answer.command && !suggestion.answer.explanation.is_empty() {
        writeln!(out, "explanation: {}", suggestion.answer.explanation)?;
    }
    if pending.verdict.findings.is_empty() {
        writeln!(out, "the validator found nothing risky in it")?;
    }
    Ok(())
}

/// A second, explicit yes for a command the mode wants confirmed.
fn confirmed(pending: &Pending) -> anyhow::Result<bool> {
    prompt(&format!(
        "this command is {} risk; type `yes` to run it > ",
        pending.verdict.risk
    ));
    Ok(read_line()?.is_some_and(|l| l == "yes"))
}

/// Runs `command` with `sh -c`, with this terminal, and returns its exit status.
fn execute(command: &str) -> anyhow::Result<ExitCode> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .context("cannot start `sh`")?;
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Puts `command` on the clipboard with the first tool found.
fn copy(command: &str) {
    let tools: [(&str, &[&str]); 4] = [
        ("wl-copy", &[]),
        ("xclip", &["-selection", "clipboard"]),
        ("xsel", &["--clipboard", "--input"]),
        ("pbcopy", &[]),
    ];
    for (tool, args) in tools {
        let child = std::process::Command::new(tool)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(mut child) = child else { continue };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(command.as_bytes());
        }
        if child.wait().is_ok_and(|s| s.success()) {
            note(&format!("copied with `{tool}`"));
            return;
        }
    }
    note("no clipboard tool found (wl-copy, xclip, xsel, pbcopy); the command is printed above");
}

/// One line from stdin, trimmed; `None` at end of input.
fn read_line() -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    let n = io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read stdin")?;
    Ok((n > 0).then(|| line.trim().to_owned()))
}

#[allow(clippy::print_stderr)]
fn prompt(text: &str) {
    eprint!("{text}");
}

#[allow(clippy::print_stderr)]
fn note(text: &str) {
    eprintln!("{text}");
}
