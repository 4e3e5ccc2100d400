//! Deleting files: `rm -r` of the root, a home or a system directory, `find -delete`,
//! removing `~/.ssh`, moving things onto `/dev/null`.

use super::{Findings, has_flag, split_args};
use crate::Risk;
use crate::argv::{find_exec_commands, is_shell, shell_call};
use crate::invocation::Invocation;
use crate::paths::{Place, is_protected, tree_risk};
use crate::word::Word;

/// Programs that delete the files they are given.
const DELETERS: &[&str] = &["rm", "unlink", "shred", "srm", "rmdir"];

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    match inv.program() {
        Some("rm") => rm(inv, out),
        Some("unlink") => unlink(inv, out),
        Some("find") => find(inv, out),
        Some("mv") => mv(inv, out),
        _ => {}
    }
}

fn rm(inv: &Invocation, out: &mut Findings) {
    let split = split_args(inv.args());
    let recursive = has_flag(&split.options, "rR", &["--recursive"]);
    if split.options.iter().any(|o| o.text == "--no-preserve-root") {
        out.add(
            "rm-no-preserve-root",
            Risk::Critical,
            "`--no-preserve-root` disables the only guard against deleting `/`",
        );
    }
    for operand in &split.operands {
        let place = Place::of(operand, inv.cwd.as_deref());
        if is_ssh_dir(operand) {
            out.add(
                "ssh-keys-removed",
                Risk::High,
                format!("deletes SSH keys or configuration: `{}`", operand.text),
            );
        }
        if recursive {
            recursive_delete(operand, &place, out);
        } else if is_protected(&place) && !matches!(place, Place::Device) {
            out.add(
                "rm-system-file",
                Risk::High,
                format!("deletes the system file `{}`", operand.text),
            );
        }
    }
}

fn recursive_delete(operand: &Word, place: &Place, out: &mut Findings) {
    let Some((risk, what)) = tree_risk(place) else {
        return;
    };
    let rule = match place {
        Place::Root => "rm-recursive-root",
        Place::Home => "rm-recursive-home",
        Place::Variable { .. } => "rm-recursive-variable",
        Place::Cwd | Place::Parent => "rm-recursive-cwd",
        _ => "rm-recursive-system",
    };
    out.add(
        rule,
        risk,
        format!("recursively deletes {what}: `{}`", operand.text),
    );
}

fn unlink(inv: &Invocation, out: &mut Findings) {
    for operand in inv.args() {
        let place = Place::of(operand, inv.cwd.as_deref());
        if is_protected(&place) {
            out.add(
                "rm-system-file",
                Risk::High,
                format!("deletes the system file `{}`", operand.text),
            );
        }
    }
}

/// `find PATH… -delete` or `find PATH… -exec rm …`.
fn find(inv: &Invocation, out: &mut Findings) {
    let args = inv.args();
    let deletes = args.iter().any(|a| a.is("-delete"))
        || find_exec_commands(args).iter().any(|cmd| exec_deletes(cmd));
    if !deletes {
        return;
    }
    let start = args
        .iter()
        .take_while(|a| matches!(a.text.as_str(), "-H" | "-L" | "-P") || a.text.starts_with("-O"))
        .count();
    let paths: Vec<&Word> = args[start..]
        .iter()
        .take_while(|a| !a.text.starts_with('-') && !matches!(a.text.as_str(), "(" | "!" | ")"))
        .collect();
    let dot = Word::literal(".");
    let paths = if paths.is_empty() { vec![&dot] } else { paths };
    for path in paths {
        let place = Place::of(path, inv.cwd.as_deref());
        let protected = is_protected(&place);
        let (risk, what) = match tree_risk(&place) {
            // `find` reaches every file below, so any protected tree is as bad as its top.
            Some((_, what)) if protected => (Risk::Critical, what),
            // Below `/var`, `/opt`, `/srv`: usually a clean-up of logs or caches.
            Some((_, what)) if matches!(&place, Place::System(c) if c.len() >= 2) => {
                (Risk::High, what)
            }
            Some(found) => found,
            None => (Risk::Moderate, String::new()),
        };
        let message = if risk >= Risk::High {
            format!(
                "`find {}` deletes the files it matches in {what}",
                path.text
            )
        } else {
            format!("`find {}` deletes the files it matches", path.text)
        };
        out.add("find-delete", risk, message);
    }
}

/// Whether a `find -exec` command deletes: `rm {}`, or `sh -c 'rm …' _ {}`.
fn exec_deletes(cmd: &[Word]) -> bool {
    let base = |text: &str| text.rsplit('/').next().unwrap_or(text).to_owned();
    let Some(program) = cmd.first().map(|p| base(&p.text)) else {
        return false;
    };
    if DELETERS.contains(&program.as_str()) {
        return true;
    }
    is_shell(&program)
        && shell_call(&cmd[1..]).script.is_some_and(|script| {
            script
                .text
                .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
                .any(|token| DELETERS.contains(&base(token).as_str()))
        })
}

fn mv(inv: &Invocation, out: &mut Findings) {
    let split = split_args(inv.args());
    let Some((dest, sources)) = split.operands.split_last() else {
        return;
    };
    let into_null = dest.is("/dev/null");
    for source in sources {
        let place = Place::of(source, inv.cwd.as_deref());
        if is_ssh_dir(source) {
            out.add(
                "ssh-keys-removed",
                Risk::High,
                format!("moves SSH keys or configuration away: `{}`", source.text),
            );
        }
        let vital = matches!(place, Place::Root | Place::Home)
            || matches!(&place, Place::System(c) if c.len() == 1);
        if vital {
            out.add(
                "mv-system-path",
                Risk::Critical,
                format!(
                    "moves `{}` away, which breaks the system or the account",
                    source.text
                ),
            );
        } else if is_protected(&place) {
            out.add(
                "mv-system-path",
                Risk::High,
                format!("moves the system file `{}` away", source.text),
            );
        }
        if into_null {
            out.add(
                "mv-to-dev-null",
                Risk::High,
                format!(
                    "moving `{}` onto `/dev/null` destroys it (and `/dev/null` as root)",
                    source.text
                ),
            );
        }
    }
}

/// `~/.ssh` or anything in it.
pub(super) fn is_ssh_dir(word: &Word) -> bool {
    let text = word.text.trim_end_matches('/');
    text.starts_with("~/.ssh")
        || text.contains("/.ssh/")
        || text.ends_with("/.ssh")
        || text == ".ssh"
        || text.starts_with(".ssh/")
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::parse::analyze;
    use crate::rules::run;

    fn risk_of(source: &str, rule: &str) -> Option<Risk> {
        run(&analyze(source).invocations)
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.risk)
            .max()
    }

    #[test]
    fn recursive_delete_of_root_is_critical_however_flags_are_written() {
        for source in [
            "rm -rf /",
            "rm -fr /",
            "rm -r -f /",
            "rm --recursive --force /*",
            "rm -Rf -- /",
        ] {
            assert_eq!(
                risk_of(source, "rm-recursive-root"),
                Some(Risk::Critical),
                "{source}"
            );
        }
    }

    #[test]
    fn recursive_delete_of_home_and_system_paths_is_critical() {
        assert_eq!(
            risk_of("rm -rf ~", "rm-recursive-home"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("rm -rf \"$HOME\"/*", "rm-recursive-home"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("rm -rf /etc", "rm-recursive-system"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("rm -rf /usr/lib/", "rm-recursive-system"),
            Some(Risk::Critical)
        );
    }

    #[test]
    fn possibly_empty_variables_in_front_of_a_path_are_high() {
        assert_eq!(
            risk_of("rm -rf $DIR/", "rm-recursive-variable"),
            Some(Risk::High)
        );
        assert_eq!(
            risk_of("rm -rf \"$DIR\"/*", "rm-recursive-variable"),
            Some(Risk::High)
        );
        assert_eq!(
            risk_of("rm -rf \"${DIR:?}\"/*", "rm-recursive-variable"),
            Some(Risk::Moderate)
        );
        assert_eq!(
            risk_of("rm -rf $PREFIX/etc", "rm-recursive-variable"),
            Some(Risk::High)
        );
        let specific = risk_of("rm -rf \"$TMPDIR\"/app-*", "rm-recursive-variable");
        assert_eq!(specific, Some(Risk::Moderate));
    }

    #[test]
    fn no_preserve_root_is_critical_on_its_own() {
        assert_eq!(
            risk_of("rm -rf --no-preserve-root x", "rm-no-preserve-root"),
            Some(Risk::Critical)
        );
    }

    #[test]
    fn everyday_deletes_are_not_flagged() {
        for source in [
            "rm -rf ./node_modules",
            "rm -rf node_modules build dist",
            "rm /tmp/x.log",
            "rm -f *.o",
        ] {
            assert!(run(&analyze(source).invocations).is_empty(), "{source}");
        }
    }

    #[test]
    fn star_after_cd_to_root_is_critical() {
        assert_eq!(
            risk_of("cd / && rm -rf *", "rm-recursive-root"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("rm -rf *", "rm-recursive-cwd"),
            Some(Risk::Moderate)
        );
    }

    #[test]
    fn find_delete_is_graded_by_where_it_starts() {
        assert_eq!(
            risk_of("find / -name x -delete", "find-delete"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("find ~ -delete", "find-delete"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("find /etc -type f -exec rm {} \\;", "find-delete"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("find . -name '*.pyc' -delete", "find-delete"),
            Some(Risk::Moderate)
        );
        assert_eq!(
            risk_of("find . -name '*.log' -mtime +7", "find-delete"),
            None
        );
    }

    #[test]
    fn removing_ssh_keys_is_high() {
        assert_eq!(
            risk_of("rm -rf ~/.ssh", "ssh-keys-removed"),
            Some(Risk::High)
        );
        assert_eq!(
            risk_of("mv ~/.ssh /tmp/x", "ssh-keys-removed"),
            Some(Risk::High)
        );
    }

    #[test]
    fn moving_onto_dev_null_or_moving_system_dirs_is_flagged() {
        assert_eq!(
            risk_of("mv ~/file /dev/null", "mv-to-dev-null"),
            Some(Risk::High)
        );
        assert_eq!(
            risk_of("mv /etc /etc.bak", "mv-system-path"),
            Some(Risk::Critical)
        );
        assert_eq!(
            risk_of("rm /etc/passwd", "rm-system-file"),
            Some(Risk::High)
        );
    }
}
