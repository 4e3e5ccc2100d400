//! Git: force pushes, hard resets and cleans that throw work away.

use super::Findings;
use crate::Risk;
use crate::invocation::Invocation;
use crate::word::Word;

/// Branches whose history others rely on.
const PROTECTED_BRANCHES: &[&str] = &[
    "main",
    "master",
    "trunk",
    "develop",
    "production",
    "release",
];

pub(super) fn check(inv: &Invocation, out: &mut Findings) {
    if inv.program() != Some("git") {
        return;
    }
    let args = inv.args();
    let start = global_options_end(args);
    let Some(sub) = args.get(start) else { return };
    let rest = &args[start + 1..];
    match sub.text.as_str() {
        "push" => push(rest, out),
        "reset" if rest.iter().any(|a| a.text == "--hard") => out.add(
            "git-reset-hard",
            Risk::Moderate,
            "`git reset --hard` throws away uncommitted changes",
        ),
        "clean" => {
            let dry = rest
                .iter()
                .any(|a| a.text == "-n" || a.text == "--dry-run" || a.text.starts_with("-n"));
            let force = rest
                .iter()
                .any(|a| a.text == "--force" || (short(a) && a.text.contains('f')));
            if force && !dry {
                out.add(
                    "git-clean",
                    Risk::Moderate,
                    "`git clean -f` deletes untracked files, which no git command can bring back",
                );
            }
        }
        "checkout" | "restore"
            if rest.iter().any(|a| a.text == ".") && !rest.iter().any(|a| a.text == "--staged") =>
        {
            out.add(
                "git-discard-changes",
                Risk::Moderate,
                format!(
                    "`git {} .` discards every uncommitted change in the tree",
                    sub.text
                ),
            );
        }
        "filter-branch" | "filter-repo" => out.add(
            "git-rewrite-history",
            Risk::Moderate,
            format!("`git {}` rewrites the whole history", sub.text),
        ),
        _ => {}
    }
}

fn short(word: &Word) -> bool {
    word.text.starts_with('-') && !word.text.starts_with("--")
}

/// Skips `git -C dir -c k=v --no-pager …` before the subcommand.
fn global_options_end(args: &[Word]) -> usize {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        match arg.text.as_str() {
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--exec-path" => i += 2,
            t if t.starts_with('-') => i += 1,
            _ => return i,
        }
    }
    i
}

fn push(args: &[Word], out: &mut Findings) {
    let mut force = false;
    let mut delete = false;
    let mut positional = Vec::new();
    let mut value_next = false;
    for arg in args {
        let text = arg.text.as_str();
        if std::mem::take(&mut value_next) {
            continue;
        }
        if text == "--force" || text.starts_with("--force-with-lease") || text == "--mirror" {
            force = true;
        } else if text == "--delete" || (short(arg) && text.contains('d')) {
            delete = true;
            force |= short(arg) && text.contains('f');
        } else if short(arg) && text.contains('f') {
            force = true;
        } else if matches!(
            text,
            "-o" | "--push-option" | "--repo" | "--receive-pack" | "--exec"
        ) {
            value_next = true;
        } else if !text.starts_with('-') {
            positional.push(arg);
        }
    }
    let refspecs = positional.get(1..).unwrap_or(&[]);
    let plus = refspecs.iter().any(|r| r.text.starts_with('+'));
    let destinations: Vec<String> = refspecs
        .iter()
        .map(|r| {
            let text = r.text.trim_start_matches('+');
            let dst = text.rsplit(':').next().unwrap_or(text);
            dst.trim_start_matches("refs/heads/").to_owned()
        })
        .collect();
    let deletes_protected = refspecs
        .iter()
        .any(|r| r.text.starts_with(':') && is_protected_branch(&r.text[1..]))
        || (delete && destinations.iter().any(|d| is_protected_branch(d)));
    if deletes_protected {
        out.add(
            "git-push-delete-main",
            Risk::High,
            "deletes a main branch on the remote",
        );
        return;
    }
    if !(force || plus) {
        return;
    }
    if let Some(branch) = destinations.iter().find(|d| is_protected_branch(d)) {
        out.add(
            "git-force-push-main",
            Risk::High,
            format!("force-pushing to `{branch}` rewrites history others have pulled"),
        );
    } else {
        out.add(
            "git-force-push",
            Risk::Moderate,
            "a force push overwrites the remote branch's history",
        );
    }
}

fn is_protected_branch(name: &str) -> bool {
    let name = name.trim_start_matches("refs/heads/");
    PROTECTED_BRANCHES.contains(&name)
}

#[cfg(test)]
mod tests {
    use crate::Risk;
    use crate::rules::test_risk as risk;

    #[test]
    fn force_pushing_main_is_high() {
        for source in [
            "git push --force origin main",
            "git push -f origin master",
            "git push origin +main",
            "git push --force-with-lease origin HEAD:main",
        ] {
            assert_eq!(risk(source), Risk::High, "{source}");
        }
    }

    #[test]
    fn force_pushing_elsewhere_or_without_refspec_is_moderate() {
        assert_eq!(risk("git push -f origin feature"), Risk::Moderate);
        assert_eq!(risk("git push --force"), Risk::Moderate);
    }

    #[test]
    fn plain_pushes_are_safe() {
        assert_eq!(risk("git push origin feature"), Risk::Safe);
        assert_eq!(risk("git push -u origin main"), Risk::Safe);
        assert_eq!(risk("git -C repo push"), Risk::Safe);
        assert_eq!(risk("git push -f -o ci.skip origin main"), Risk::High);
    }

    #[test]
    fn throwing_work_away_is_moderate() {
        assert_eq!(risk("git reset --hard HEAD~1"), Risk::Moderate);
        assert_eq!(risk("git clean -fdx"), Risk::Moderate);
        assert_eq!(risk("git clean -n"), Risk::Safe);
        assert_eq!(risk("git status"), Risk::Safe);
    }
}
