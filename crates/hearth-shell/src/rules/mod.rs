//! The rules: each family looks at the invocations and reports findings.
//!
//! Rules see one [`Invocation`] at a time (plus the whole list, for rules about
//! pipelines and functions) and never parse anything themselves.

mod delete;
mod disk;
mod forkbomb;
mod git;
mod history;
mod network;
mod perms;
mod system;
mod writes;

use crate::invocation::Invocation;
use crate::word::Word;
use crate::{Finding, Risk};

/// Collects findings.
#[derive(Debug, Default)]
pub(crate) struct Findings(pub(crate) Vec<Finding>);

impl Findings {
    /// Reports `rule` at `risk`.
    pub(crate) fn add(&mut self, rule: &'static str, risk: Risk, message: impl Into<String>) {
        self.0.push(Finding::new(rule, risk, message));
    }
}

/// Runs every rule over every invocation.
pub(crate) fn run(invocations: &[Invocation]) -> Vec<Finding> {
    let mut out = Findings::default();
    for inv in invocations {
        delete::check(inv, &mut out);
        disk::check(inv, &mut out);
        perms::check(inv, &mut out);
        system::check(inv, &mut out);
        writes::check(inv, &mut out);
        history::check(inv, &mut out);
        git::check(inv, &mut out);
        network::check(inv, &mut out);
        dynamic_program(inv, &mut out);
    }
    forkbomb::check(invocations, &mut out);
    network::check_script(invocations, &mut out);
    out.0
}

/// Arguments before `--`, split into option words and operands.
pub(crate) struct Split<'a> {
    pub options: Vec<&'a Word>,
    pub operands: Vec<&'a Word>,
}

/// Splits `args` into options (words starting with `-`, before `--`) and operands.
pub(crate) fn split_args(args: &[Word]) -> Split<'_> {
    let mut split = Split {
        options: Vec::new(),
        operands: Vec::new(),
    };
    let mut ended = false;
    for arg in args {
        if !ended && arg.text == "--" {
            ended = true;
        } else if !ended && arg.text.len() > 1 && arg.text.starts_with('-') {
            split.options.push(arg);
        } else {
            split.operands.push(arg);
        }
    }
    split
}

/// Whether any option is `long` or a short cluster containing one of `shorts`.
pub(crate) fn has_flag(options: &[&Word], shorts: &str, long: &[&str]) -> bool {
    options.iter().any(|o| {
        let text = o.text.as_str();
        if text.starts_with("--") {
            let name = text.split('=').next().unwrap_or(text);
            long.contains(&name)
        } else {
            text[1..].chars().any(|c| shorts.contains(c))
        }
    })
}

/// A program that is not known statically (`$(echo rm) -rf /`, `$CMD /`): judge its
/// arguments as if it could be anything.
fn dynamic_program(inv: &Invocation, out: &mut Findings) {
    let Some(first) = inv.argv.first() else {
        return;
    };
    if !first.dynamic {
        return;
    }
    let args = inv.args();
    let destructive_flag = args.iter().any(|a| {
        matches!(
            a.text.as_str(),
            "--no-preserve-root" | "--recursive" | "--force"
        ) || (a.text.starts_with('-')
            && !a.text.starts_with("--")
            && a.text[1..].contains(['r', 'R', 'f']))
    });
    let risky_target = args.iter().any(|a| {
        let place = crate::paths::Place::of(a, inv.cwd.as_deref());
        crate::paths::tree_risk(&place).is_some_and(|(risk, _)| risk >= Risk::High)
            || a.text.starts_with("of=/dev/")
    });
    if destructive_flag || risky_target {
        out.add(
            "dynamic-command",
            Risk::High,
            format!(
                "the program `{}` is only known at run time and its arguments look destructive",
                first.text
            ),
        );
    } else {
        out.add(
            "dynamic-command",
            Risk::Moderate,
            format!("the program `{}` is only known at run time", first.text),
        );
    }
}

/// The highest risk the rules find in `source` (tests of every rule family use it).
#[cfg(test)]
pub(crate) fn test_risk(source: &str) -> crate::Risk {
    run(&crate::parse::analyze(source).invocations)
        .into_iter()
        .map(|f| f.risk)
        .max()
        .unwrap_or(crate::Risk::Safe)
}
