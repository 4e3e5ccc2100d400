//! Writing over system files: redirections, `tee`, `cp`/`mv`/`install`/`ln`/`rsync`
//! destinations, `sed -i`, `truncate`, `sudoedit`.

use super::{Findings, has_flag, split_args};
use crate::Risk;
use crate::invocation::Invocation;
use crate::paths::{Place, is_block_device, is_harmless_device, is_protected, tree_risk};
use crate::word::Word;

/// Files whose corruption locks everyone out or hands out root.
const AUTH_FILES: &[&str] = &["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"];

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    let cwd = inv.cwd.as_deref();
    for redirect in inv.redirects.iter().filter(|r| r.writes()) {
        let append = redirect.kind == crate::invocation::RedirectKind::Append;
        target(
            &redirect.target,
            "a redirection writes to",
            append,
            cwd,
            out,
        );
    }
    let Some(program) = inv.program() else { return };
    let split = split_args(inv.args());
    match program {
        "tee" => {
            let append = has_flag(&split.options, "a", &["--append"]);
            for file in &split.operands {
                target(file, "`tee` writes to", append, cwd, out);
            }
        }
        "cp" | "mv" | "install" | "ln" | "rsync" | "scp" => {
            if let Some(dest) = destination(inv.args(), &split.operands) {
                let how = format!("`{program}` writes into");
                target(dest, &how, false, cwd, out);
                if program == "rsync" {
                    rsync_delete(dest, &split.options, cwd, out);
                }
            }
        }
        "sed" | "perl" if has_flag(&split.options, "i", &["--in-place"]) => {
            let script_given = has_flag(&split.options, "ef", &["--expression", "--file"]);
            let skip = usize::from(!script_given);
            for file in split.operands.iter().skip(skip) {
                target(file, "`sed -i` edits", false, cwd, out);
            }
        }
        "truncate" => {
            for file in &split.operands {
                let place = Place::of(file, cwd);
                if is_protected(&place) {
                    out.add(
                        "truncate-system-file",
                        Risk::High,
                        format!("`truncate` cuts the system file `{}`", file.text),
                    );
                }
            }
        }
        "sudoedit" => {
            for file in &split.operands {
                target(file, "`sudoedit` edits", false, cwd, out);
            }
        }
        "dd" => {
            for arg in inv.args() {
                if let Some(file) = arg.text.strip_prefix("of=") {
                    let word = Word {
                        text: file.to_owned(),
                        ..arg.clone()
                    };
                    target(&word, "`dd` writes to", false, cwd, out);
                }
            }
        }
        _ => {}
    }
}

/// The destination of a copy: `-t DIR`, `--target-directory=DIR` or the last operand.
fn destination<'a>(args: &'a [Word], operands: &[&'a Word]) -> Option<&'a Word> {
    for (i, arg) in args.iter().enumerate() {
        if arg.text == "-t" || arg.text == "--target-directory" {
            return args.get(i + 1);
        }
    }
    if operands.len() >= 2 {
        operands.last().copied()
    } else {
        None
    }
}

/// Judges one file a command writes to.
fn target(file: &Word, how: &str, append: bool, cwd: Option<&str>, out: &mut Findings) {
    let text = file.text.as_str();
    if is_harmless_device(text)
        || is_block_device(text)
        || text.starts_with("/dev/tcp/")
        || text.starts_with("/dev/udp/")
    {
        return;
    }
    if text == "/proc/sysrq-trigger" {
        out.add(
            "sysrq-trigger",
            Risk::Critical,
            "writing to `/proc/sysrq-trigger` can crash, reboot or power off the machine at once",
        );
        return;
    }
    if text == "/etc/sudoers" || text.starts_with("/etc/sudoers.d") {
        out.add(
            "sudoers-write",
            Risk::Critical,
            format!("{how} `{text}`: a mistake there breaks `sudo` or grants root to anyone"),
        );
        return;
    }
    if AUTH_FILES.contains(&text) {
        out.add(
            "auth-file-write",
            Risk::Critical,
            format!("{how} `{text}`, which controls every account's login"),
        );
        return;
    }
    if text.ends_with(".ssh/authorized_keys") {
        let (risk, why) = if append {
            (Risk::Moderate, "adds a key that may log in to this account")
        } else {
            (
                Risk::High,
                "replaces the keys allowed to log in, which can lock you out",
            )
        };
        out.add(
            "authorized-keys-write",
            risk,
            format!("{how} `{text}`: {why}"),
        );
        return;
    }
    let place = Place::of(file, cwd);
    if !is_protected(&place) {
        return;
    }
    match &place {
        Place::System(comps)
            if matches!(comps.first().map(String::as_str), Some("proc" | "sys")) =>
        {
            out.add(
                "kernel-setting-write",
                Risk::Moderate,
                format!("{how} the kernel setting `{text}`"),
            );
        }
        _ => out.add(
            "write-system-path",
            Risk::High,
            format!("{how} the system path `{text}`"),
        ),
    }
}

/// `rsync --delete SRC DEST` deletes everything in DEST that SRC lacks.
fn rsync_delete(dest: &Word, options: &[&Word], cwd: Option<&str>, out: &mut Findings) {
    let deletes = options
        .iter()
        .any(|o| o.text.starts_with("--delete") || o.text == "--remove-source-files");
    if !deletes {
        return;
    }
    let place = Place::of(dest, cwd);
    if let Some((risk, what)) = tree_risk(&place).filter(|(r, _)| *r >= Risk::High) {
        out.add(
            "rsync-delete",
            risk,
            format!("`rsync --delete` removes whatever the source lacks from {what}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::rules::test_risk as risk;

    #[test]
    fn overwriting_system_files_is_high_or_critical() {
        assert_eq!(risk("echo x > /etc/hosts"), Risk::High);
        assert_eq!(risk("echo x >> /etc/profile"), Risk::High);
        assert_eq!(risk("echo x | tee /etc/passwd"), Risk::Critical);
        assert_eq!(
            risk("echo 'me ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers"),
            Risk::Critical
        );
        assert_eq!(risk("cp evil /bin/ls"), Risk::High);
        assert_eq!(risk("mv x /usr/bin/python3"), Risk::High);
        assert_eq!(risk("sed -i 's/a/b/' /etc/fstab"), Risk::High);
        assert_eq!(risk("truncate -s 0 /var/log/syslog"), Risk::Safe);
        assert_eq!(risk("truncate -s 0 /etc/hosts"), Risk::High);
        assert_eq!(risk("echo b > /proc/sysrq-trigger"), Risk::Critical);
    }

    #[test]
    fn harmless_device_files_and_local_files_are_fine() {
        for source in [
            "ls 2>/dev/null",
            "make > /dev/null 2>&1",
            "echo hi > out.txt",
            "cat /etc/hosts",
            "echo x > /dev/stderr",
            "cp a.txt b.txt",
            "sed -i 's/a/b/' file",
            "cp tool /usr/local/bin/",
        ] {
            assert_eq!(risk(source), Risk::Safe, "{source}");
        }
    }

    #[test]
    fn rsync_delete_into_home_is_critical() {
        assert_eq!(risk("rsync -a --delete empty/ ~/"), Risk::Critical);
        assert_eq!(risk("rsync -a --delete src/ backup/"), Risk::Safe);
    }
}
