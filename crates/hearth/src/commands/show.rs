//! `hearth show NAME`: what a model is, read from its GGUF metadata.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use hearth_gguf::{GgufFile, facts};
use serde::Serialize;

use crate::catalog;
use crate::cli::ShowArgs;
use crate::commands::list::human_size;

#[derive(Debug, Serialize)]
struct Shown {
    name: String,
    architecture: String,
    parameters: Option<String>,
    quantization: Option<String>,
    context_length: Option<u64>,
    chat_template: Option<String>,
    file: String,
    size_bytes: u64,
    source: serde_json::Value,
}

pub fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let shown = describe(&args.model)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &shown)?;
        writeln!(out)?;
    } else if args.template {
        writeln!(out, "{}", shown.chat_template.as_deref().unwrap_or(""))?;
    } else {
        print(&mut out, &shown)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(model: &str) -> anyhow::Result<Shown> {
    let discovery = catalog::discover();
    let (name, path, source) = match catalog::find(&discovery, model) {
        Some(m) => (
            m.name.clone(),
            m.path.clone(),
            serde_json::to_value(&m.source)?,
        ),
        None => {
            let found = catalog::resolve(model)?;
            (found.name, found.path, serde_json::json!({"kind": "file"}))
        }
    };
    let file = GgufFile::open(&path)
        .with_context(|| format!("cannot read model file `{}`", path.display()))?;
    let md = file.metadata();
    let architecture = file.architecture()?.to_string();
    Ok(Shown {
        name,
        parameters: facts::parameter_count(&file).map(facts::parameter_size),
        quantization: facts::quantization(&file).map(str::to_string),
        context_length: md.opt_u64(&format!("{architecture}.context_length"))?,
        chat_template: md.opt_str("tokenizer.chat_template")?.map(str::to_string),
        architecture,
        size_bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
        file: path.display().to_string(),
        source,
    })
}

fn print(out: &mut impl Write, s: &Shown) -> std::io::Result<()> {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let source = s.source["kind"].as_str().unwrap_or("file");
    let origin = s.source["repo"]
        .as_str()
        .or(s.source["model"].as_str())
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let template = match &s.chat_template {
        Some(t) => format!("yes, {} characters (`--template` prints it)", t.len()),
        None => "none: a base model; prompts are continued as text".into(),
    };
    writeln!(out, "  name            {}", s.name)?;
    writeln!(out, "  architecture    {}", s.architecture)?;
    writeln!(out, "  parameters      {}", dash(s.parameters.clone()))?;
    writeln!(out, "  quantization    {}", dash(s.quantization.clone()))?;
    writeln!(
        out,
        "  context length  {}",
        dash(s.context_length.map(|c| c.to_string()))
    )?;
    writeln!(out, "  chat template   {template}")?;
    writeln!(
        out,
        "  file            {} ({})",
        s.file,
        human_size(s.size_bytes)
    )?;
    writeln!(out, "  source          {source}{origin}")
}
