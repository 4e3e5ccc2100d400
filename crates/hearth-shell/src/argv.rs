//! Reading command lines: which words are options, which option takes a value, where
//! the wrapped command of `sudo`/`timeout`/`xargs` starts, what a shell runs.

use crate::word::Word;

/// Shells whose `-c` string and standard input are scripts.
pub(crate) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "rbash", "csh", "tcsh",
];

/// A command that runs the rest of its arguments as another command.
pub(crate) struct Wrapper {
    /// The wrapper's program name.
    pub name: &'static str,
    /// Short options followed by a value.
    pub short_values: &'static str,
    /// Long options followed by a value (when not written `--opt=value`).
    pub long_values: &'static [&'static str],
    /// Operands before the command (`timeout DURATION cmd`, `taskset MASK cmd`).
    pub operands: usize,
    /// Runs the command with elevated privileges.
    pub elevates: bool,
}

const fn wrapper(
    name: &'static str,
    short_values: &'static str,
    long_values: &'static [&'static str],
    operands: usize,
) -> Wrapper {
    Wrapper {
        name,
        short_values,
        long_values,
        operands,
        elevates: false,
    }
}

const fn elevating(
    name: &'static str,
    short_values: &'static str,
    long_values: &'static [&'static str],
) -> Wrapper {
    Wrapper {
        name,
        short_values,
        long_values,
        operands: 0,
        elevates: true,
    }
}

const SUDO_LONG: &[&str] = &[
    "--user",
    "--group",
    "--chdir",
    "--close-from",
    "--prompt",
    "--role",
    "--type",
    "--host",
    "--other-user",
    "--command-timeout",
    "--chroot",
];
const XARGS_LONG: &[&str] = &[
    "--arg-file",
    "--delimiter",
    "--max-args",
    "--max-procs",
    "--max-chars",
    "--process-slot-var",
];

/// The wrappers we see through.
pub(crate) const WRAPPERS: &[Wrapper] = &[
    elevating("sudo", "CDgpRrTtUu", SUDO_LONG),
    elevating("doas", "Cu", &[]),
    elevating("run0", "uDg", &["--user", "--chdir"]),
    elevating("pkexec", "", &["--user"]),
    wrapper("builtin", "", &[], 0),
    wrapper("exec", "a", &[], 0),
    wrapper("nohup", "", &[], 0),
    wrapper("nice", "n", &["--adjustment"], 0),
    wrapper("time", "fo", &["--format", "--output"], 0),
    wrapper("timeout", "sk", &["--signal", "--kill-after"], 1),
    wrapper("stdbuf", "ioe", &["--input", "--output", "--error"], 0),
    wrapper("ionice", "cnp", &["--class", "--classdata"], 0),
    wrapper("setsid", "", &[], 0),
    wrapper("taskset", "", &[], 1),
    wrapper("chrt", "T", &[], 1),
    wrapper("unbuffer", "", &[], 0),
    wrapper("busybox", "", &[], 0),
    wrapper("caffeinate", "tw", &[], 0),
    wrapper("xargs", "aEdILnPs", XARGS_LONG, 0),
];

/// Index of the first operand in `args`, skipping options (`--` ends them).
pub(crate) fn first_operand(args: &[Word], short_values: &str, long_values: &[&str]) -> usize {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "--" {
            return i + 1;
        }
        if let Some(long) = text.strip_prefix("--") {
            let takes_value = !long.contains('=') && long_values.contains(&text);
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) {
            // In `-un` the `u` takes `n` as its value; in `-nu` it takes the next word.
            let value_next = cluster
                .char_indices()
                .find(|(_, c)| short_values.contains(*c))
                .is_some_and(|(at, c)| at + c.len_utf8() == cluster.len());
            i += if value_next { 2 } else { 1 };
            continue;
        }
        return i;
    }
    i
}

/// How a shell (`sh`, `bash`, …) is invoked.
#[derive(Debug, Default)]
pub(crate) struct ShellCall<'a> {
    /// The `-c` string.
    pub script: Option<&'a Word>,
    /// The script file operand (may be a process substitution `<(…)`).
    pub file: Option<&'a Word>,
    /// The shell reads its script from standard input.
    pub reads_stdin: bool,
}

/// Reads a shell's options and operands.
pub(crate) fn shell_call(args: &[Word]) -> ShellCall<'_> {
    let mut call = ShellCall::default();
    let mut has_c = false;
    let mut forced_stdin = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if text == "--" || text == "-" {
            i += 1;
            break;
        }
        if matches!(text, "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") {
            i += 2;
            continue;
        }
        if text.starts_with("--") {
            i += 1;
            continue;
        }
        if let Some(cluster) = text.strip_prefix('-').or_else(|| text.strip_prefix('+')) {
            has_c |= text.starts_with('-') && cluster.contains('c');
            forced_stdin |= text.starts_with('-') && cluster.contains('s');
            i += 1;
            continue;
        }
        break;
    }
    let operand = args.get(i);
    if has_c {
        call.script = operand;
    } else if forced_stdin {
        call.reads_stdin = true;
    } else {
        call.file = operand;
        call.reads_stdin = operand.is_none_or(|w| w.is("/dev/stdin"));
    }
    call
}

/// Whether `program` is a shell.
pub(crate) fn is_shell(program: &str) -> bool {
    SHELLS.contains(&program)
}

/// The commands `find … -exec CMD … ;` / `-execdir` / `-ok` / `-okdir` runs.
pub(crate) fn find_exec_commands(args: &[Word]) -> Vec<&[Word]> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if matches!(
            args[i].text.as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let begin = i + 1;
            let end = args[begin..]
                .iter()
                .position(|a| a.text == ";" || a.text == "+")
                .map_or(args.len(), |p| begin + p);
            if end > begin {
                groups.push(&args[begin..end]);
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    groups
}

/// `NAME=value` split into its parts, when `word` is an assignment.
pub(crate) fn split_assignment(word: &Word) -> Option<(String, Word)> {
    let (name, value) = word.text.split_once('=')?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| {
        (
            name.to_owned(),
            Word {
                text: value.to_owned(),
                leading: None,
                ..word.clone()
            },
        )
    })
}

/// Whether `word` is a short-option cluster (`-rf`) containing `flag`.
pub(crate) fn is_short_flag(word: &Word, flag: char) -> bool {
    word.text.len() > 1
        && word.text.starts_with('-')
        && !word.text.starts_with("--")
        && word.text[1..].contains(flag)
}

/// The words joined with spaces into one word, as `eval` does.
pub(crate) fn join(words: &[Word]) -> Word {
    Word {
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        dynamic: words.iter().any(|w| w.dynamic),
        leading: words.first().and_then(|w| w.leading),
        subst_programs: words
            .iter()
            .flat_map(|w| w.subst_programs.iter().cloned())
            .collect(),
        ..Word::default()
    }
}

/// The `-c` string of `su [options] [-] [user] -c 'cmd'`.
pub(crate) fn su_script(args: &[Word]) -> Option<Word> {
    for (i, arg) in args.iter().enumerate() {
        if arg.is("-c") || arg.is("--command") {
            return args.get(i + 1).cloned();
        }
        if let Some(inline) = arg.text.strip_prefix("--command=") {
            return Some(Word {
                text: inline.to_owned(),
                ..arg.clone()
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        text.split_whitespace().map(Word::literal).collect()
    }

    #[test]
    fn options_with_values_are_skipped() {
        assert_eq!(first_operand(&words("-u root -E rm -rf /"), "u", &[]), 3);
        assert_eq!(first_operand(&words("-uroot rm"), "u", &[]), 1);
        assert_eq!(first_operand(&words("--user root rm"), "", &["--user"]), 2);
        assert_eq!(first_operand(&words("--user=root rm"), "", &["--user"]), 1);
        assert_eq!(first_operand(&words("-- -rm"), "", &[]), 1);
    }

    #[test]
    fn shell_calls_tell_scripts_files_and_stdin_apart() {
        let c = words("-e -c x");
        assert!(shell_call(&c).script.is_some_and(|w| w.text == "x"));
        assert!(shell_call(&words("")).reads_stdin);
        assert!(shell_call(&words("-s -- a")).reads_stdin);
        assert!(!shell_call(&words("script.sh")).reads_stdin);
    }
}
