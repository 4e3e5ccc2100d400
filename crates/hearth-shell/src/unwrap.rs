//! Wrappers: commands that run another command.
//!
//! `sudo rm -rf /` is recorded twice: once as `sudo …` and once as `rm -rf /` with the
//! `sudo` flag set, so every rule sees the program that really runs. The same goes
//! for `env`, `command`, `exec`, `nohup`, `nice`, `time`, `timeout`, `xargs`, `find
//! -exec`, …; `sh -c '…'`, `eval …`, `su -c '…'`, `watch '…'` and `ssh host '…'` have
//! their string parsed as a nested script, and text piped from a literal `echo` into
//! a shell or `xargs` is fed to it.

use crate::argv::{
    WRAPPERS, Wrapper, find_exec_commands, first_operand, is_shell, is_short_flag, join,
    shell_call, split_assignment, su_script,
};
use crate::invocation::{Ctx, Invocation, Redirect, RedirectKind, literal_output};
use crate::parse::{Collector, MAX_DEPTH};
use crate::word::Word;

impl Collector {
    /// Records a command and, when it is a wrapper, the command it runs.
    pub(crate) fn push_command(
        &mut self,
        argv: Vec<Word>,
        assignments: Vec<(String, Word)>,
        redirects: Vec<Redirect>,
        ctx: &Ctx,
    ) {
        if !self.record(argv, assignments, redirects, ctx) {
            return;
        }
        let Some(inv) = self.invocations.last().cloned() else {
            return;
        };
        self.track_state(&inv);
        if ctx.depth > MAX_DEPTH {
            self.too_deep();
            return;
        }
        let Some(program) = inv.program() else { return };
        let args = inv.args();
        if let Some(wrapper) = WRAPPERS.iter().find(|w| w.name == program) {
            self.unwrap_simple(&inv, wrapper, ctx);
            return;
        }
        match program {
            "env" => self.unwrap_env(&inv, ctx),
            "command" => {
                let start = first_operand(args, "", &[]);
                let lookup = args
                    .get(..start)
                    .unwrap_or(args)
                    .iter()
                    .any(|a| a.text.starts_with('-') && a.text.contains(['v', 'V']));
                if !lookup {
                    self.push_rest(&inv, start, Vec::new(), ctx);
                }
            }
            "sudoedit" => {}
            "su" => {
                if let Some(script) = su_script(args) {
                    let inner = Ctx {
                        sudo: true,
                        ..ctx.nested()
                    };
                    self.walk_script_word(&script, &inner);
                }
            }
            "eval" => {
                let joined = join(args);
                self.walk_script_word(&joined, &ctx.nested());
            }
            "watch" => {
                let start = first_operand(args, "nd", &["--interval", "--differences"]);
                let joined = join(args.get(start..).unwrap_or(&[]));
                self.walk_script_word(&joined, &ctx.nested());
            }
            "ssh" => {
                let start = first_operand(args, "BbcDEeFIiJLlmOopQRSWw", &[]);
                if let Some(remote) = args.get(start + 1..).filter(|r| !r.is_empty()) {
                    self.walk_script_word(&join(remote), &ctx.nested());
                }
            }
            "find" => self.unwrap_find(&inv, ctx),
            p if is_shell(p) => self.unwrap_shell(&inv, ctx),
            _ => {}
        }
    }

    fn unwrap_simple(&mut self, inv: &Invocation, wrapper: &Wrapper, ctx: &Ctx) {
        let args = inv.args();
        let mut start = first_operand(args, wrapper.short_values, wrapper.long_values);
        start += wrapper.operands;
        let mut ctx = ctx.clone();
        ctx.sudo |= wrapper.elevates;
        let mut extra = Vec::new();
        if wrapper.elevates {
            // `sudo -e FILE` edits FILE as root, like `sudoedit FILE`.
            let options = args.get(..start).unwrap_or(&[]);
            if options.iter().any(|a| is_short_flag(a, 'e')) {
                let mut argv = vec![Word::literal("sudoedit")];
                argv.extend(args.get(start..).unwrap_or(&[]).iter().cloned());
                self.push_command(argv, Vec::new(), inv.redirects.clone(), &ctx.nested());
                return;
            }
            // `sudo VAR=value cmd`
            while let Some((name, value)) = args.get(start).and_then(split_assignment) {
                extra.push((name, value));
                start += 1;
            }
        }
        self.push_rest(inv, start, extra, &ctx);
    }

    fn unwrap_env(&mut self, inv: &Invocation, ctx: &Ctx) {
        let args = inv.args();
        // `env -S 'cmd args'` splits one string into a command line.
        if let Some(at) = args
            .iter()
            .position(|a| a.is("-S") || a.is("--split-string"))
        {
            let rest = join(args.get(at + 1..).unwrap_or(&[]));
            self.walk_script_word(&rest, &ctx.nested());
            return;
        }
        let mut start = first_operand(args, "uCS", &["--unset", "--chdir"]);
        let mut extra = Vec::new();
        while let Some((name, value)) = args.get(start).and_then(split_assignment) {
            extra.push((name, value));
            start += 1;
        }
        if start >= args.len() && !extra.is_empty() {
            // `env HISTFILE=/dev/null` alone prints the environment; record the
            // assignments anyway so the history rule sees them.
            self.record(Vec::new(), extra, Vec::new(), ctx);
            return;
        }
        self.push_rest(inv, start, extra, ctx);
    }

    fn unwrap_shell(&mut self, inv: &Invocation, ctx: &Ctx) {
        let call = shell_call(inv.args());
        if let Some(script) = call.script {
            self.walk_script_word(script, &ctx.nested());
            return;
        }
        if call.reads_stdin {
            let docs: Vec<Word> = inv
                .redirects
                .iter()
                .filter(|r| r.kind == RedirectKind::Here)
                .map(|r| r.target.clone())
                .collect();
            for doc in docs {
                self.walk_script_word(&doc, &ctx.nested());
            }
        }
    }

    fn unwrap_find(&mut self, inv: &Invocation, ctx: &Ctx) {
        for group in find_exec_commands(inv.args()) {
            self.push_command(group.to_vec(), Vec::new(), Vec::new(), &ctx.nested());
        }
    }

    /// Records `inv.args()[start..]` as the command `inv` runs.
    fn push_rest(&mut self, inv: &Invocation, start: usize, extra: Vec<(String, Word)>, ctx: &Ctx) {
        let Some(rest) = inv.args().get(start..).filter(|r| !r.is_empty()) else {
            return;
        };
        let mut assignments = inv.assignments.clone();
        assignments.extend(extra);
        self.push_command(
            rest.to_vec(),
            assignments,
            inv.redirects.clone(),
            &ctx.nested(),
        );
    }

    /// Parses a word as a script. A word whose value is entirely unknown (`"$CMD"`,
    /// `"$(curl …)"`) is left to the rules.
    fn walk_script_word(&mut self, word: &Word, ctx: &Ctx) {
        let opaque = word.text == "$(…)"
            || (word.text.starts_with("${")
                && word.text.ends_with('}')
                && !word.text.contains(' '));
        if !(word.dynamic && opaque) {
            self.walk_source(&word.text, ctx);
        }
    }

    /// Keeps the working directory and literal variables up to date.
    fn track_state(&mut self, inv: &Invocation) {
        let args = inv.args();
        match inv.program() {
            Some("cd" | "pushd") => {
                let target = args
                    .iter()
                    .find(|a| !a.text.starts_with('-') || a.text == "-");
                self.cwd = match target {
                    None => Some("~".to_owned()),
                    Some(t) if t.dynamic || t.text == "-" => None,
                    Some(t) if t.text.starts_with('/') || t.text.starts_with('~') => {
                        Some(t.text.clone())
                    }
                    Some(t) => self
                        .cwd
                        .as_ref()
                        .map(|cwd| format!("{}/{}", cwd.trim_end_matches('/'), t.text)),
                };
            }
            Some("export" | "declare" | "typeset" | "local" | "readonly") => {
                for (name, value) in args.iter().filter_map(split_assignment) {
                    self.set_var(&name, &value);
                }
            }
            Some("unset" | "read") => {
                for arg in args.iter().filter(|a| !a.text.starts_with('-')) {
                    self.vars.remove(&arg.text);
                }
            }
            _ => {}
        }
    }

    /// Feeds literal `echo` output in a pipeline to the shells and `xargs` after it:
    /// `echo 'rm -rf /' | sh`, `echo / | xargs rm -rf`.
    pub(crate) fn feed_pipeline(&mut self, start: usize, id: usize, ctx: &Ctx) {
        let stage_of = |inv: &Invocation| inv.pipes.iter().find(|p| p.id == id).map(|p| p.stage);
        let snapshot: Vec<Invocation> = self.invocations.get(start..).unwrap_or(&[]).to_vec();
        for producer in &snapshot {
            let (Some(stage), Some(output)) = (stage_of(producer), literal_output(producer)) else {
                continue;
            };
            for consumer in snapshot.iter().filter(|c| stage_of(c) == Some(stage + 1)) {
                let inner = Ctx {
                    pipes: consumer.pipes.clone(),
                    sudo: consumer.sudo,
                    ..ctx.nested()
                };
                match consumer.program() {
                    Some(p) if is_shell(p) && shell_call(consumer.args()).reads_stdin => {
                        self.walk_source(&output, &inner);
                    }
                    Some("xargs") => {
                        let args = consumer.args();
                        let wrapper = WRAPPERS.iter().find(|w| w.name == "xargs");
                        let at = wrapper
                            .map_or(0, |w| first_operand(args, w.short_values, w.long_values));
                        let mut argv: Vec<Word> = args.get(at..).unwrap_or(&[]).to_vec();
                        if argv.is_empty() {
                            argv.push(Word::literal("echo"));
                        }
                        argv.extend(output.split_whitespace().map(Word::literal));
                        self.push_command(argv, Vec::new(), Vec::new(), &inner);
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::analyze;

    fn unwrapped(source: &str) -> Vec<String> {
        analyze(source)
            .invocations
            .iter()
            .map(|inv| {
                inv.argv
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn wrappers_record_the_command_they_run() {
        for (source, expected) in [
            ("sudo -u root rm -rf /", "rm -rf /"),
            ("doas rm x", "rm x"),
            ("env -i A=1 rm x", "rm x"),
            ("command rm x", "rm x"),
            ("nice -n 10 rm x", "rm x"),
            ("timeout -s KILL 10 rm x", "rm x"),
            ("xargs -0 -n 1 rm x", "rm x"),
            ("nohup rm x", "rm x"),
            ("find . -exec rm {} ;", "rm {}"),
            ("sh -c 'rm x'", "rm x"),
            ("bash -lc 'rm x'", "rm x"),
            ("eval 'rm' x", "rm x"),
            ("su -c 'rm x' root", "rm x"),
            ("ssh -p 22 host rm x", "rm x"),
            ("echo x | xargs rm", "rm x"),
            ("echo 'rm x' | sh", "rm x"),
            ("bash <<< 'rm x'", "rm x"),
        ] {
            let found = unwrapped(source);
            assert!(
                found.iter().any(|c| c == expected),
                "`{source}` gave {found:?}"
            );
        }
    }

    #[test]
    fn command_lookups_run_nothing() {
        assert_eq!(unwrapped("command -v rm"), vec!["command -v rm"]);
    }

    #[test]
    fn sudo_marks_the_wrapped_command_as_elevated() {
        let analysis = analyze("sudo sh -c 'rm x'");
        let rm = analysis
            .invocations
            .iter()
            .find(|inv| inv.program() == Some("rm"));
        assert!(rm.is_some_and(|inv| inv.sudo));
    }

    #[test]
    fn cd_sets_the_working_directory_for_later_commands() {
        let analysis = analyze("cd / && rm -rf *");
        assert_eq!(analysis.invocations[1].cwd.as_deref(), Some("/"));
    }
}
