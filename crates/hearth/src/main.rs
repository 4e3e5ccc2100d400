//! `hearth`: run large language models on your own machine.
//!
//! `main` only parses the command line, sets up logging and threads, and turns the
//! command's result into an exit code: 0 on success, 1 on error (printed as
//! `error: …` with its causes, and a `hint: …` where one helps), 2 on usage errors.

mod catalog;
mod cli;
mod commands;
mod hub_source;
mod model_ref;
mod threads;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    threads::configure(cli.threads());
    let verbose = matches!(&cli.command, Command::Cmd(args) if args.verbose);
    init_logging(if verbose {
        "warn,hearth_engine=info"
    } else {
        "warn"
    });
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::List(args) => commands::list::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Rm(args) => commands::rm::run(args),
        Command::Ps(args) => commands::ps::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Cmd(args) => commands::cmd::run(args),
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr, filtered by `RUST_LOG`, else by `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

#[allow(clippy::print_stderr)]
fn report(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
    if let Some(hinted) = err.chain().find_map(|e| e.downcast_ref::<cli::Hinted>()) {
        eprintln!("hint: {}", hinted.hint);
    }
}
