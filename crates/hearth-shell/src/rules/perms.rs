//! Permissions and ownership: `chmod`/`chown`/`chgrp` of the root, system paths or a
//! home directory, world-writable and setuid modes.

use super::Findings;
use crate::Risk;
use crate::invocation::Invocation;
use crate::paths::{Place, is_protected, tree_risk};
use crate::word::Word;

/// The parts of a `chmod`/`chown`/`chgrp` command line.
struct PermsCall<'a> {
    recursive: bool,
    /// The mode (`chmod`) or owner (`chown`, `chgrp`), unless `--reference` is used.
    spec: Option<&'a Word>,
    files: Vec<&'a Word>,
}

fn parse_call<'a>(program: &str, args: &'a [Word]) -> PermsCall<'a> {
    let mut call = PermsCall {
        recursive: false,
        spec: None,
        files: Vec::new(),
    };
    let mut has_reference = false;
    let mut ended = false;
    for arg in args {
        let text = arg.text.as_str();
        let is_chmod_mode =
            program == "chmod" && text.len() > 1 && text[1..].chars().all(|c| "rwxXst".contains(c));
        if !ended && text == "--" {
            ended = true;
        } else if !ended && text.starts_with("--") {
            call.recursive |= text == "--recursive";
            has_reference |= text.starts_with("--reference");
        } else if !ended && text.starts_with('-') && text.len() > 1 && !is_chmod_mode {
            call.recursive |= text.contains('R');
        } else if call.spec.is_none() && !has_reference {
            call.spec = Some(arg);
        } else {
            call.files.push(arg);
        }
    }
    call
}

/// Whether a `chmod` mode makes files writable by everyone or setuid/setgid.
fn is_dangerous_mode(mode: &str) -> bool {
    is_world_writable(mode) || is_setid(mode)
}

fn is_octal(mode: &str) -> bool {
    mode.len() >= 3 && mode.chars().all(|c| c.is_digit(8))
}

/// Splits symbolic clauses (`u+x,go-w`) into who and what.
fn clauses(mode: &str) -> impl Iterator<Item = (&str, &str)> {
    mode.split(',')
        .map(|clause| clause.split_at(clause.find(['+', '=']).unwrap_or(clause.len())))
}

/// Whether a mode is world-writable (`777`, `666`, `a+w`, `o+w`).
fn is_world_writable(mode: &str) -> bool {
    if is_octal(mode) {
        return mode
            .chars()
            .last()
            .and_then(|c| c.to_digit(8))
            .is_some_and(|d| d & 2 != 0);
    }
    clauses(mode).any(|(who, perms)| who.contains(['a', 'o']) && perms.contains('w'))
}

/// Whether a mode sets the setuid or setgid bit (`4755`, `u+s`).
fn is_setid(mode: &str) -> bool {
    if is_octal(mode) {
        let special = if mode.len() == 4 {
            mode.chars().next().and_then(|c| c.to_digit(8))
        } else {
            None
        };
        return special.is_some_and(|d| d & 6 != 0);
    }
    clauses(mode).any(|(_, perms)| perms.contains('s'))
}

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    let Some(program) = inv.program() else { return };
    if !matches!(program, "chmod" | "chown" | "chgrp") {
        return;
    }
    let call = parse_call(program, inv.args());
    let rule_recursive = if program == "chmod" {
        "chmod-recursive-system"
    } else {
        "chown-recursive-system"
    };
    let mode = call
        .spec
        .filter(|_| program == "chmod")
        .map(|w| w.text.as_str());
    if call.recursive && mode.is_some_and(is_world_writable) {
        out.add(
            "chmod-recursive-world-writable",
            Risk::Moderate,
            "`chmod -R` with a world-writable mode lets every user change every file",
        );
    }
    for file in &call.files {
        let place = Place::of(file, inv.cwd.as_deref());
        if call.recursive {
            let graded = match (&place, program) {
                (Place::Home, "chmod") => Some((Risk::High, "a home directory".to_owned())),
                (Place::Home, _) => Some((Risk::Moderate, "a home directory".to_owned())),
                _ => tree_risk(&place).filter(|(risk, _)| *risk >= Risk::High),
            };
            if let Some((risk, what)) = graded {
                out.add(
                    rule_recursive,
                    risk,
                    format!(
                        "`{program} -R` changes every file under {what}: `{}`",
                        file.text
                    ),
                );
            }
        } else if place == Place::Root {
            out.add(
                "perms-root",
                Risk::Critical,
                format!("`{program}` changes the root directory `/` itself"),
            );
        } else if is_protected(&place) {
            let risk = match mode {
                Some(mode) if is_dangerous_mode(mode) => Risk::High,
                Some(_) => Risk::Moderate,
                None => Risk::High,
            };
            out.add(
                "perms-system-file",
                risk,
                format!("`{program}` changes the system file `{}`", file.text),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_risk as risk;

    #[test]
    fn recursive_permission_changes_on_system_paths_are_critical() {
        for source in [
            "chmod -R 777 /",
            "chown -R nobody /etc",
            "chgrp -R users /usr",
            "chmod --recursive 000 /bin",
            "chmod 777 /",
        ] {
            assert_eq!(risk(source), Risk::Critical, "{source}");
        }
    }

    #[test]
    fn recursive_world_writable_modes_are_moderate_anywhere() {
        assert_eq!(risk("chmod -R 777 project"), Risk::Moderate);
        assert_eq!(risk("chmod -R a+w project"), Risk::Moderate);
    }

    #[test]
    fn everyday_permission_changes_are_safe() {
        for source in [
            "chmod +x script.sh",
            "chmod -x script.sh",
            "chmod 644 file",
            "chown -R me:me project",
            "chmod -R 755 .",
        ] {
            assert_eq!(risk(source), Risk::Safe, "{source}");
        }
    }

    #[test]
    fn setuid_and_world_writable_system_files_are_high() {
        assert_eq!(risk("chmod u+s /bin/bash"), Risk::High);
        assert_eq!(risk("chmod 4755 /usr/bin/vim"), Risk::High);
        assert_eq!(risk("chmod 666 /etc/shadow"), Risk::High);
        assert!(is_dangerous_mode("o+w"));
        assert!(!is_dangerous_mode("u+x"));
    }
}
