//! Covering tracks: clearing or disabling shell history.

use super::{Findings, has_flag, split_args};
use crate::Risk;
use crate::argv::split_assignment;
use crate::invocation::Invocation;
use crate::word::Word;

/// Whether `word` names a shell or REPL history file.
fn is_history_file(word: &Word) -> bool {
    let text = word.text.as_str();
    if text.contains("HISTFILE") {
        return true;
    }
    let name = text.rsplit('/').next().unwrap_or(text);
    (name.starts_with('.') && name.ends_with("history"))
        || name.ends_with("_history")
        || matches!(name, ".histfile" | ".lesshst" | "fish_history" | ".viminfo")
}

fn report(out: &mut Findings, what: &str) {
    out.add(
        "history-tampering",
        Risk::High,
        format!("{what}: hiding what was run is a common step of an attack"),
    );
}

/// Whether an assignment disables history (`HISTFILE=/dev/null`, `HISTSIZE=0`).
fn disables_history(name: &str, value: &Word) -> bool {
    match name {
        "HISTFILE" => value.text.is_empty() || value.text == "/dev/null",
        "HISTSIZE" | "HISTFILESIZE" | "SAVEHIST" => value.text == "0",
        _ => false,
    }
}

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    for (name, value) in &inv.assignments {
        if disables_history(name, value) {
            report(
                out,
                &format!("`{name}={}` turns off shell history", value.text),
            );
        }
    }
    for redirect in inv.redirects.iter().filter(|r| r.writes()) {
        if is_history_file(&redirect.target)
            && redirect.kind != crate::invocation::RedirectKind::Append
        {
            report(
                out,
                &format!("overwrites the history file `{}`", redirect.target.text),
            );
        }
    }
    let Some(program) = inv.program() else { return };
    let args = inv.args();
    let split = split_args(args);
    match program {
        "history" if has_flag(&split.options, "cdw", &[]) => {
            report(out, "`history -c` clears the shell history");
        }
        "rm" | "shred" | "truncate" | "unlink" | "srm" | "wipe" => {
            if let Some(file) = split.operands.iter().find(|w| is_history_file(w)) {
                report(
                    out,
                    &format!("`{program}` destroys the history file `{}`", file.text),
                );
            }
        }
        "ln" | "cp" | "mv" => {
            if let Some(dest) = split.operands.last().filter(|w| is_history_file(w)) {
                report(
                    out,
                    &format!("`{program}` replaces the history file `{}`", dest.text),
                );
            }
        }
        "unset" if args.iter().any(|a| a.text == "HISTFILE") => {
            report(out, "`unset HISTFILE` stops the shell from saving history");
        }
        "set"
            if args
                .windows(2)
                .any(|w| w[0].text == "+o" && w[1].text == "history") =>
        {
            report(out, "`set +o history` turns off shell history");
        }
        "export" | "declare" | "typeset" | "local" | "readonly" => {
            for (name, value) in args.iter().filter_map(split_assignment) {
                if disables_history(&name, &value) {
                    report(
                        out,
                        &format!("`{name}={}` turns off shell history", value.text),
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::parse::analyze;
    use crate::rules::run;

    fn flagged(source: &str) -> bool {
        run(&analyze(source).invocations)
            .iter()
            .any(|f| f.rule == "history-tampering" && f.risk == Risk::High)
    }

    #[test]
    fn clearing_or_disabling_history_is_high() {
        for source in [
            "history -c",
            "> ~/.bash_history",
            "cat /dev/null > ~/.zsh_history",
            "rm ~/.bash_history",
            "rm -f ~/.*history",
            "unset HISTFILE",
            "export HISTFILE=/dev/null",
            "HISTSIZE=0",
            "shred -u ~/.bash_history",
            "ln -sf /dev/null ~/.bash_history",
            "set +o history",
        ] {
            assert!(flagged(source), "{source}");
        }
    }

    #[test]
    fn reading_history_is_fine() {
        for source in [
            "history",
            "history | grep ssh",
            "cat ~/.bash_history",
            "echo $HISTSIZE",
        ] {
            assert!(!flagged(source), "{source}");
        }
    }
}
