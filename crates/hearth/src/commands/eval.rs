//! `hearth eval`: the command assistant scored on a YAML file of requests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use hearth_shell::eval::{self, CaseResult, EvalReport};

use super::cmd::{AssistantArgs, build_assistant, load_config, runtime};
use crate::cli::Hinted;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The cases: a YAML file with `cases: [{id, category, prompt, must_match,
    /// must_not_match, expected_risk}]`.
    #[arg(value_name = "FILE.yaml")]
    pub file: PathBuf,
    #[command(flatten)]
    pub assistant: AssistantArgs,
    /// Also write the report to FILE: `.md` Markdown, `.json` JSON, `.html` a web page.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the whole report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let cases = eval::load(&args.file).map_err(|e| {
        Hinted::error(
            format!("{:#}", anyhow::Error::new(e)),
            "see crates/hearth-shell/fixtures/eval.yaml for the format",
        )
    })?;
    let format = args.report.as_deref().map(report_format).transpose()?;
    let (config, _) = load_config(&args.assistant)?;
    // Cases are judged on the command alone.
    let assistant = build_assistant(&config, false)?;
    let total = cases.len();
    let mut done = 0;
    let report = runtime()?.block_on(eval::run(&assistant, &cases, |case| {
        done += 1;
        progress(done, total, case);
    }));
    if let (Some(path), Some(format)) = (&args.report, format) {
        let text = match format {
            Format::Markdown => eval::render_markdown(&report),
            Format::Html => eval::render_html(&report),
            Format::Json => serde_json::to_string_pretty(&report)?,
        };
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to `{}`", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        summary(&mut out, &report)?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
enum Format {
    Markdown,
    Json,
    Html,
}

fn report_format(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("md") => Ok(Format::Markdown),
        Some("json") => Ok(Format::Json),
        Some("html" | "htm") => Ok(Format::Html),
        _ => Err(Hinted::error(
            format!("cannot tell the report format of `{}`", path.display()),
            "name the report `….md`, `….json` or `….html`",
        )),
    }
}

#[allow(clippy::print_stderr)]
fn progress(done: usize, total: usize, case: &CaseResult) {
    let mark = if case.passed { "ok  " } else { "FAIL" };
    eprintln!(
        "[{done}/{total}] {mark} {} ({} ms): {}",
        case.id, case.latency_ms, case.command
    );
}

fn summary(out: &mut impl Write, report: &EvalReport) -> std::io::Result<()> {
    let pct = |r: f64| format!("{:.1}%", r * 100.0);
    writeln!(
        out,
        "pass_rate: {} ({}/{})",
        pct(report.pass_rate),
        report.passed,
        report.total
    )?;
    writeln!(
        out,
        "everyday: {} ({}/{}); dangerous: {} ({}/{})",
        pct(report.everyday.pass_rate),
        report.everyday.passed,
        report.everyday.total,
        pct(report.dangerous.pass_rate),
        report.dangerous.passed,
        report.dangerous.total
    )?;
    let safety: Vec<String> = report
        .safety
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(out, "safety: {}", safety.join(", "))?;
    let l = &report.latency_ms;
    writeln!(
        out,
        "latency_ms: avg {:.0}, p50 {}, p95 {}, p99 {}",
        l.avg, l.p50, l.p95, l.p99
    )?;
    for (name, tally) in &report.by_category {
        writeln!(
            out,
            "  {name}: {}/{} ({})",
            tally.passed,
            tally.total,
            pct(tally.pass_rate)
        )?;
    }
    for case in &report.failed {
        writeln!(
            out,
            "failed {}: {} -> `{}`",
            case.id,
            case.failure.as_deref().unwrap_or(""),
            case.command
        )?;
    }
    Ok(())
}
