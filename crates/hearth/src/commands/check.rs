//! `hearth check`: the safety validator on a given command.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use hearth_shell::{CheckReport, Decision, Policy, Validator};

use crate::cli::CheckArgs;

/// Exit status of a command the mode blocks.
const BLOCKED: u8 = 3;

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let validator = Validator::new(Policy {
        mode: args.mode,
        ..Policy::default()
    })?;
    let verdict = validator.check(&args.command)?;
    let decision = validator.decide(&verdict);
    let report = CheckReport::new(&verdict, decision);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write_human(&mut out, &report, decision, &args)?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(if report.blocked {
        ExitCode::from(BLOCKED)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_human(
    out: &mut impl Write,
    report: &CheckReport,
    decision: Decision,
    args: &CheckArgs,
) -> std::io::Result<()> {
    let outcome = match decision {
        Decision::Allow => "allowed",
        Decision::Confirm => "needs confirmation",
        Decision::Block => "blocked",
    };
    writeln!(out, "command: {}", report.command)?;
    writeln!(
        out,
        "risk:    {} ({outcome} in {} mode)",
        report.risk, args.mode
    )?;
    for reason in &report.reasons {
        writeln!(
            out,
            "  - {} ({}): {}",
            reason.rule, reason.risk, reason.message
        )?;
    }
    Ok(())
}
