//! Fork bombs: `:(){ :|:& };:` and its named variants, `perl -e 'fork while fork'`.

use super::Findings;
use super::network::interp_call;
use crate::Risk;
use crate::invocation::Invocation;

pub(super) fn check(all: &[Invocation], out: &mut Findings) {
    for inv in all {
        let (Some(function), Some(program)) = (inv.function.as_deref(), inv.program()) else {
            continue;
        };
        if function == program && (inv.background || !inv.pipes.is_empty()) {
            out.add(
                "fork-bomb",
                Risk::Critical,
                format!("the function `{function}` calls itself in a pipeline or in the background: a fork bomb that exhausts the process table"),
            );
        }
    }
    for inv in all {
        let Some(program) = inv.program() else {
            continue;
        };
        let code = interp_call(program, inv.args()).and_then(|call| call.code);
        if code.is_some_and(|code| is_fork_loop(&code.text)) {
            out.add(
                "fork-bomb",
                Risk::Critical,
                format!("the `{program}` one-liner forks in an endless loop"),
            );
        }
    }
}

/// Code that forks inside a loop.
fn is_fork_loop(code: &str) -> bool {
    code.contains("fork")
        && ["while", "loop", "for(;;)", "for (;;)", "until"]
            .iter()
            .any(|l| code.contains(l))
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::parse::analyze;
    use crate::rules::run;

    fn is_bomb(source: &str) -> bool {
        run(&analyze(source).invocations)
            .iter()
            .any(|f| f.rule == "fork-bomb" && f.risk == Risk::Critical)
    }

    #[test]
    fn classic_and_named_fork_bombs_are_critical() {
        for source in [
            ":(){ :|:& };:",
            ":() { : | : & }; :",
            "bomb() { bomb | bomb & }; bomb",
            "f(){ f & f; }; f",
            "function boom { boom | boom & }; boom",
            "perl -e 'fork while fork'",
            "python3 -c 'import os\nwhile True: os.fork()'",
        ] {
            assert!(is_bomb(source), "{source}");
        }
    }

    #[test]
    fn recursive_functions_without_fan_out_are_not_bombs() {
        assert!(!is_bomb("f() { echo hi; }; f"));
        assert!(!is_bomb("walk() { for d in *; do walk \"$d\"; done; }"));
    }
}
