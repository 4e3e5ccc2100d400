//! Where a path points: the root, a home directory, a system directory, a device, …

use crate::Risk;
use crate::word::{Leading, Word};

/// Top-level directories that belong to the operating system.
const SYSTEM_DIRS: &[&str] = &[
    "etc",
    "usr",
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "boot",
    "var",
    "opt",
    "root",
    "home",
    "sys",
    "proc",
    "dev",
    "srv",
    "System",
    "Library",
    "Applications",
    "Users",
    "private",
];

/// System directories whose content is never user data: writing or deleting anywhere
/// below them breaks the system.
const PROTECTED_DIRS: &[&str] = &[
    "etc", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "boot", "sys", "proc", "dev",
    "System",
];

/// Second-level directories as vital as the top-level ones (`/usr/bin`, `/var/lib`).
const VITAL_SUBDIRS: &[&str] = &[
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib32",
    "usr/lib64",
    "usr/libexec",
    "usr/share",
    "usr/include",
    "var/lib",
    "var/log",
    "etc/ssh",
    "etc/pam.d",
    "etc/systemd",
];

/// Where a path points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// `/` itself or everything in it (`/*`, `/..`, `/e*`).
    Root,
    /// A home directory itself or all of it (`~`, `~/`, `~/*`, `$HOME`, `/home/alice`).
    Home,
    /// A path under a top-level system directory, as normalised components.
    System(Vec<String>),
    /// A block device (`/dev/sda`, `/dev/nvme0n1`, `/dev/disk2`).
    Device,
    /// The working directory or everything in it (`.`, `*`, `./*`).
    Cwd,
    /// The parent directory or everything in it (`..`, `../*`).
    Parent,
    /// Starts with a variable or substitution whose value is unknown.
    Variable {
        /// The value cannot be empty (`${DIR:?}`, `$USER`, a substitution).
        guarded: bool,
        /// Nothing follows but `/`, `/*` or an absolute system path, or nothing at
        /// all: with an empty value the command hits `/` (`rm -rf "$DIR"/`).
        empty_is_risky: bool,
    },
    /// Anything else.
    Other,
}

impl Place {
    /// Where `word` points, given the working directory when it is known.
    pub(crate) fn of(word: &Word, cwd: Option<&str>) -> Place {
        let guarded = match word.leading {
            Some(Leading::Var) => false,
            Some(Leading::GuardedVar | Leading::Substitution) => true,
            None => return Place::of_text(&word.text, cwd),
        };
        let rest = after_leading_expansion(&word.text);
        let empty_is_risky = rest.is_empty()
            || (rest.starts_with('/') && tree_risk(&Place::of_text(rest, None)).is_some());
        Place::Variable {
            guarded,
            empty_is_risky,
        }
    }

    fn of_text(text: &str, cwd: Option<&str>) -> Place {
        if let Some(rest) = text.strip_prefix('~') {
            let rest = rest.find('/').map_or("", |at| &rest[at..]);
            let comps = components(rest);
            return if comps.is_empty() {
                Place::Home
            } else {
                Place::Other
            };
        }
        if !text.starts_with('/') {
            return match cwd {
                Some(cwd) if cwd.starts_with('/') || cwd.starts_with('~') => {
                    Place::of_text(&format!("{}/{text}", cwd.trim_end_matches('/')), None)
                }
                _ => relative(text),
            };
        }
        let comps = components(text);
        let Some(top) = comps.first() else {
            return Place::Root;
        };
        if top.contains(['*', '?', '[']) {
            // `/*`-like patterns at the top level: as bad as `/` when they can match a
            // system directory (`/e*`, `/?sr`), nothing special otherwise (`/app-*`).
            let hits_system = SYSTEM_DIRS.iter().any(|dir| glob_matches(top, dir));
            return if hits_system {
                Place::Root
            } else {
                Place::Other
            };
        }
        if is_block_device(text) {
            return Place::Device;
        }
        let is_home =
            comps == ["root"] || (comps.len() == 2 && matches!(top.as_str(), "home" | "Users"));
        if is_home {
            Place::Home
        } else if SYSTEM_DIRS.contains(&top.as_str()) {
            Place::System(comps)
        } else {
            Place::Other
        }
    }
}

/// Whether the shell pattern `pattern` (`*`, `?`, `[…]`) matches `name`. A bracket
/// expression stands for any one character. Backtracks only to the last `*`, so the
/// time is linear in the lengths and a long pattern cannot blow up.
fn glob_matches(pattern: &str, name: &str) -> bool {
    // `None` is `*`, `Some(None)` any one character, `Some(Some(c))` the character c.
    let mut tokens: Vec<Option<Option<char>>> = Vec::new();
    let mut in_bracket = false;
    for c in pattern.chars() {
        match (in_bracket, c) {
            (true, ']') => in_bracket = false,
            (true, _) => {}
            (false, '[') => {
                in_bracket = true;
                tokens.push(Some(None));
            }
            (false, '*') => tokens.push(None),
            (false, '?') => tokens.push(Some(None)),
            (false, c) => tokens.push(Some(Some(c))),
        }
    }
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Some(expected)) if expected.is_none_or(|c| c == name[n]) => {
                t += 1;
                n += 1;
            }
            Some(None) => {
                last_star = Some((t, n));
                t += 1;
            }
            _ => match last_star {
                Some((star, at)) => {
                    last_star = Some((star, at + 1));
                    t = star + 1;
                    n = at + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(Option::is_none)
}

/// The text after the expansion a word starts with (`${DIR}/x` → `/x`).
fn after_leading_expansion(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("$(…)") {
        return rest;
    }
    if text.starts_with("${") {
        return text.find('}').map_or("", |end| &text[end + 1..]);
    }
    ""
}

/// `.`, `*`, `..` and friends when the working directory is unknown.
fn relative(text: &str) -> Place {
    let mut rest = text;
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped.trim_start_matches('/');
    }
    let rest = rest.trim_end_matches('/');
    if matches!(rest, "" | "." | "*" | ".*" | "*.*") {
        return Place::Cwd;
    }
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let ups = parts.iter().take_while(|p| **p == "..").count();
    let tail = &parts[ups..];
    if ups > 0 && (tail.is_empty() || matches!(tail, ["*"] | [".*"] | ["."])) {
        return Place::Parent;
    }
    Place::Other
}

/// Normalised components of an absolute path: `.` and empty parts dropped, `..`
/// applied, and trailing globs over a whole directory (`*`, `.*`) dropped.
fn components(path: &str) -> Vec<String> {
    let mut comps: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            other => comps.push(other.to_owned()),
        }
    }
    while comps
        .last()
        .is_some_and(|last| matches!(last.as_str(), "*" | ".*" | "*.*" | "{*,.*}" | ".[!.]*"))
    {
        comps.pop();
    }
    comps
}

/// Whether `path` names a whole disk or partition.
pub(crate) fn is_block_device(path: &str) -> bool {
    let Some(dev) = path.strip_prefix("/dev/") else {
        return false;
    };
    const PREFIXES: &[&str] = &[
        "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "rdisk", "md", "dm-", "mapper/", "nbd",
    ];
    PREFIXES.iter().any(|p| dev.starts_with(p))
}

/// Device files that are fine to write to (`> /dev/null`).
pub(crate) fn is_harmless_device(path: &str) -> bool {
    matches!(
        path,
        "/dev/null"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/zero"
            | "/dev/random"
            | "/dev/urandom"
            | "/dev/full"
    ) || path.starts_with("/dev/fd/")
        || path.starts_with("/dev/pts/")
        || path.starts_with("/proc/self/fd/")
}

/// How bad it is to destroy the directory tree at `place` (`rm -r`, `find -delete`),
/// with a description of the place; `None` when it is nothing special.
pub(crate) fn tree_risk(place: &Place) -> Option<(Risk, String)> {
    let found = match place {
        Place::Root => (Risk::Critical, "the root directory `/`".to_owned()),
        Place::Home => (Risk::Critical, "a home directory".to_owned()),
        Place::Device => (Risk::Critical, "a disk device".to_owned()),
        Place::System(comps) => {
            let path = format!("/{}", comps.join("/"));
            let second = comps.iter().take(2).cloned().collect::<Vec<_>>().join("/");
            let top = comps.first().map_or("", String::as_str);
            let vital = comps.len() == 2 && VITAL_SUBDIRS.contains(&second.as_str());
            let risk = if comps.len() == 1 || vital {
                Risk::Critical
            } else if second == "usr/local" || second == "usr/src" {
                Risk::Moderate
            } else if PROTECTED_DIRS.contains(&top) || comps.len() == 2 && top == "var" {
                Risk::High
            } else if matches!(top, "home" | "Users") {
                return None;
            } else {
                Risk::Moderate
            };
            (risk, format!("the system path `{path}`"))
        }
        Place::Variable {
            guarded: false,
            empty_is_risky: true,
        } => (
            Risk::High,
            "a path starting with a variable that may be empty, which would make it `/…`"
                .to_owned(),
        ),
        Place::Variable { .. } => (Risk::Moderate, "a path computed at run time".to_owned()),
        Place::Cwd => (
            Risk::Moderate,
            "everything in the current directory".to_owned(),
        ),
        Place::Parent => (Risk::Moderate, "the parent directory".to_owned()),
        Place::Other => return None,
    };
    Some(found)
}

/// Whether `place` is a protected system location that must not be written to:
/// `/etc`, `/boot`, `/bin`, `/sbin`, `/usr` (but not `/usr/local`), `/lib*`, `/sys`,
/// `/proc`, `/dev`.
pub(crate) fn is_protected(place: &Place) -> bool {
    match place {
        Place::Root | Place::Device => true,
        Place::System(comps) => {
            let top = comps.first().map_or("", String::as_str);
            let local = comps.get(1).is_some_and(|c| c == "local") && top == "usr";
            PROTECTED_DIRS.contains(&top) && !local
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(text: &str) -> Place {
        Place::of(&Word::literal(text), None)
    }

    #[test]
    fn root_spellings_are_recognised() {
        for text in [
            "/", "/*", "//", "/.", "/..", "/tmp/../", "/e*", "/./*", "/?sr", "/[eu]*",
        ] {
            assert_eq!(place(text), Place::Root, "{text}");
        }
        assert_eq!(place("/app-*"), Place::Other);
        assert!(glob_matches("*a*b*", "xaxxb"));
        assert!(!glob_matches(&"*a".repeat(500), "applications"));
    }

    #[test]
    fn home_spellings_are_recognised() {
        for text in [
            "~",
            "~/",
            "~/*",
            "~/.*",
            "~alice",
            "/home/alice",
            "/root",
            "/Users/bob/",
        ] {
            assert_eq!(place(text), Place::Home, "{text}");
        }
        assert_eq!(place("~/project/build"), Place::Other);
        assert_eq!(
            place("/home/alice/tmp"),
            Place::System(vec!["home".into(), "alice".into(), "tmp".into()])
        );
    }

    #[test]
    fn relative_places_depend_on_the_working_directory() {
        assert_eq!(place("."), Place::Cwd);
        assert_eq!(place("./*"), Place::Cwd);
        assert_eq!(place("../*"), Place::Parent);
        assert_eq!(place("node_modules"), Place::Other);
        assert_eq!(Place::of(&Word::literal("*"), Some("/")), Place::Root);
        assert_eq!(Place::of(&Word::literal("*"), Some("~")), Place::Home);
        assert_eq!(Place::of(&Word::literal("*"), Some("/tmp/x")), Place::Other);
    }

    #[test]
    fn devices_are_told_from_harmless_device_files() {
        assert_eq!(place("/dev/sda1"), Place::Device);
        assert_eq!(place("/dev/nvme0n1"), Place::Device);
        assert!(is_harmless_device("/dev/null"));
        assert!(!is_block_device("/dev/null"));
    }

    #[test]
    fn tree_risk_grades_system_paths() {
        let risk = |text: &str| tree_risk(&place(text)).map(|(r, _)| r);
        assert_eq!(risk("/etc"), Some(Risk::Critical));
        assert_eq!(risk("/usr/bin"), Some(Risk::Critical));
        assert_eq!(risk("/etc/nginx"), Some(Risk::High));
        assert_eq!(risk("/var/cache/apt"), Some(Risk::Moderate));
        assert_eq!(risk("/var/log"), Some(Risk::Critical));
        assert_eq!(risk("/var/log/myapp"), Some(Risk::Moderate));
        assert_eq!(risk("/usr/bin/tool"), Some(Risk::High));
        assert_eq!(risk("/usr/local/lib/node_modules"), Some(Risk::Moderate));
        assert_eq!(risk("/home/alice/build"), None);
        assert_eq!(risk("/tmp/build"), None);
        assert_eq!(risk("build"), None);
    }
}
