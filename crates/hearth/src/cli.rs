//! The command line: every flag's doc comment is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about = "Run large language models on your own machine."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            Command::Run(args) => args.threads,
            Command::Bench(args) => Some(args.threads),
            Command::Serve(args) => args.threads,
            Command::Tokenize(_)
            | Command::Check(_)
            | Command::List(_)
            | Command::Show(_)
            | Command::Rm(_)
            | Command::Ps(_)
            | Command::Pull(_) => None,
            Command::Cmd(args) => args.assistant.threads,
            Command::Eval(args) => args.assistant.threads,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate text with a model: a one-shot answer, or a chat on a terminal.
    Run(RunArgs),
    /// Serve models over an OpenAI-compatible HTTP API.
    Serve(ServeArgs),
    /// Print the token ids of a text as a JSON array.
    Tokenize(TokenizeArgs),
    /// Measure prompt-processing and generation speed, with llama-bench's flags.
    Bench(BenchArgs),
    /// Judge how risky a shell command is, without running it.
    ///
    /// Exit status: 0 when the command is allowed (perhaps after confirmation),
    /// 3 when the mode blocks it.
    Check(CheckArgs),
    /// List the models on this machine: pulled by Hearth, or found in the Hugging Face
    /// cache, Ollama's and LM Studio's stores, ./models and HEARTH_MODELS.
    List(ListArgs),
    /// Show what a model is: architecture, parameters, quantization, context, chat
    /// template, file and source.
    Show(ShowArgs),
    /// Remove models: deletes what Hearth pulled; a model found elsewhere is only
    /// forgotten (its file stays).
    Rm(RmArgs),
    /// List the models loaded in the running server, with memory and expiry.
    Ps(PsArgs),
    /// Download a model from the Hugging Face hub (resumable, sha256-checked) into
    /// `HEARTH_HOME`; prints its name.
    ///
    /// `HF_TOKEN` authenticates for private or gated repositories; `HF_ENDPOINT`
    /// points at another hub.
    Pull(PullArgs),
    /// Turn a request in words into one shell command, judge it, and run it if you agree.
    ///
    /// Exit status: 0 when the command is allowed (and not run), 3 when it is blocked,
    /// 4 when you abort; when it runs, the command's own status.
    Cmd(crate::commands::cmd::CmdArgs),
    /// Score the command assistant on a YAML file of requests.
    Eval(crate::commands::eval::EvalArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the models as a JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A model name from `hearth list`, or a path to a `.gguf` file.
    pub model: String,
    /// Print the details as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print only the chat template.
    #[arg(long, conflicts_with = "json")]
    pub template: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Model names from `hearth list`.
    #[arg(required = true)]
    pub models: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// The server, as `host:port` or a URL (default: HEARTH_HOST, else 127.0.0.1:8434).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The server's API key.
    #[arg(
        long,
        value_name = "KEY",
        env = "HEARTH_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Print the server's answer as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The model: `owner/repo[:QUANT]` (default quant `Q4_K_M`), `owner/repo:FILE.gguf`,
    /// optionally `owner/repo@REVISION:…`; Ollama's `hf.co/owner/repo:QUANT` works too.
    #[arg(value_name = "MODEL")]
    pub model: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The command to judge, as one argument (quote it).
    pub command: String,
    /// How strict to be: `strict` blocks high and critical risks, `moderate` blocks
    /// critical ones, `permissive` blocks nothing.
    #[arg(long, value_name = "MODE", default_value = "moderate")]
    pub mode: hearth_shell::Mode,
    /// Print the verdict as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model to run: a path to a `.gguf` file, or a name from `hearth list`.
    #[arg(short, long, value_name = "MODEL")]
    pub model: PathBuf,
    /// The prompt. Without it, piped stdin is the prompt and a terminal starts a chat.
    #[arg(short, long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// System message for the chat template.
    #[arg(long, value_name = "TEXT", conflicts_with = "raw")]
    pub system: Option<String>,
    /// Feed the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// Generate at most N tokens (default: until the model stops or the context is full).
    #[arg(short = 'n', long = "max-tokens", value_name = "N")]
    pub max_tokens: Option<usize>,
    /// Stop when the output contains TEXT (repeatable); TEXT itself is not printed.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Context size in tokens (at most the model's own).
    #[arg(
        short = 'c',
        long = "ctx-size",
        value_name = "N",
        default_value_t = 4096
    )]
    pub ctx_size: usize,
    /// Threads for the computation (default: all cores).
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print timings and token counts on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Sampling flags, with llama.cpp's names and defaults.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Randomness; 0 always picks the most likely token.
    #[arg(long, value_name = "T", default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample among the K most likely tokens (0 = all).
    #[arg(long, value_name = "K", default_value_t = 40)]
    pub top_k: usize,
    /// Sample among the most likely tokens covering probability P (1 = all).
    #[arg(long, value_name = "P", default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than P times the most likely one (0 = off).
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalise repeating the last 64 tokens (1 = off).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Penalise tokens already present (0 = off).
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Penalise tokens by how often they appeared (0 = off).
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Seed for reproducible sampling (default: random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: the host of `HEARTH_HOST`, else 127.0.0.1).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to listen on (default: the port of `HEARTH_HOST`, else 8434).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// A model to serve: a path to a `.gguf` file (named after the file), a model
    /// name from `hearth list`, or `NAME=MODEL` to name it; repeatable. Without it,
    /// every model on this machine is served, each loaded on first use.
    #[arg(short, long = "model", value_name = "[NAME=]MODEL")]
    pub models: Vec<String>,
    /// Require `Authorization: Bearer KEY` on every endpoint but `/health`.
    #[arg(
        long,
        value_name = "KEY",
        env = "HEARTH_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Requests that may wait per model before new ones get 429 Too Many Requests.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_queue: usize,
    /// Sequences a model decodes together; each holds a KV cache of --ctx tokens.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_batch: usize,
    /// Context size per sequence in tokens (at most the model's own).
    #[arg(short = 'c', long = "ctx", value_name = "N", default_value_t = 4096)]
    pub ctx: usize,
    /// Threads for the computation (default: all cores).
    #[arg(short, long, value_name = "N")]
    pub threads: Option<usize>,
    /// Seconds one request may take before it is ended.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    /// Also allow these browser origins (CORS; default: localhost origins only).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Log prompts and answers at debug level (off: they may be private).
    #[arg(long)]
    pub log_prompts: bool,
    /// How long an idle model stays loaded: `5m`, `1h`, `30s`; `0` unloads it at once,
    /// a negative value keeps it forever. Requests may set their own.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = hearth_protocol::KeepAlive::parse, allow_hyphen_values = true)]
    pub keep_alive: hearth_protocol::KeepAlive,
    /// Most models loaded at once; loading one more unloads the least recently used
    /// idle one (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_loaded: usize,
    /// Megabytes the loaded models may use together (weights plus KV caches); loading
    /// one more unloads idle ones, least recently used first (default: no limit).
    #[arg(long, value_name = "MB")]
    pub memory_budget: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to measure: a path to a `.gguf` file, or a name from `hearth list`.
    #[arg(short, long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Prompt tokens processed in the prompt test (0 skips it).
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_name = "N",
        default_value_t = 512
    )]
    pub n_prompt: usize,
    /// Tokens generated in the generation tests (0 skips them).
    #[arg(short = 'n', long = "n-gen", value_name = "N", default_value_t = 128)]
    pub n_gen: usize,
    /// Threads for the computation.
    #[arg(short, long, value_name = "N", default_value_t = default_threads())]
    pub threads: usize,
    /// Also measure BATCH sequences generating together (aggregate tokens/s).
    #[arg(short, long, value_name = "BATCH", default_value_t = 1)]
    pub batch: usize,
    /// Repetitions of each test; figures are mean ± standard deviation.
    #[arg(short, long = "repetitions", value_name = "N", default_value_t = 5)]
    pub repetitions: usize,
    /// Print one JSON object per test (JSON Lines) instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Model whose tokenizer to use: a path to a `.gguf` file, or a name from `hearth list`.
    #[arg(short, long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Add BOS/EOS as the model asks for them.
    #[arg(long)]
    pub add_special: bool,
    /// Text to tokenize; special-token text in it is tokenized as plain text.
    pub text: String,
}

/// An error with a `hint:` line telling the user what to do about it.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl Hinted {
    pub fn error(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self {
            message: message.into(),
            hint: hint.into(),
        })
    }
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}
