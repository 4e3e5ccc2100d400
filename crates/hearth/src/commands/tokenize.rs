//! `hearth tokenize`: the token ids of a text, as llama.cpp would produce them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::TokenizeArgs;
use crate::model_ref;

pub fn run(args: TokenizeArgs) -> anyhow::Result<ExitCode> {
    let tokenizer = model_ref::load_tokenizer(&args.model)?;
    let ids = tokenizer.encode(&args.text, args.add_special, false)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &ids)?;
    writeln!(out).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
