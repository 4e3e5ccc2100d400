//! What the parser produces: invocations (one command the shell would run, with its
//! words resolved) and their context (pipelines, background, function, `sudo`).

use crate::word::Word;

/// A position in a pipeline: which pipeline and which stage (0 is the first command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PipePos {
    pub id: usize,
    pub stage: usize,
}

/// What a redirection does with its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `<`
    Read,
    /// `>`, `>|`, `&>`, `>&file`
    Write,
    /// `>>`, `&>>`
    Append,
    /// `<>`
    ReadWrite,
    /// `<<EOF` (the target is the document) or `<<<word`.
    Here,
    /// `>&2`, `<&0`: a file descriptor, not a file.
    Duplicate,
}

/// One redirection of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redirect {
    pub kind: RedirectKind,
    pub target: Word,
}

impl Redirect {
    /// Whether the redirection writes to its target.
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self.kind,
            RedirectKind::Write | RedirectKind::Append | RedirectKind::ReadWrite
        )
    }
}

/// One command the shell would run, with its context.
#[derive(Clone, Debug, Default)]
pub(crate) struct Invocation {
    /// Program and arguments; empty for a bare assignment or a redirect-only command.
    pub argv: Vec<Word>,
    /// `NAME=value` assignments in front of the command (or alone).
    pub assignments: Vec<(String, Word)>,
    pub redirects: Vec<Redirect>,
    /// The pipelines this command is part of, outermost first.
    pub pipes: Vec<PipePos>,
    /// Runs in the background (`&`).
    pub background: bool,
    /// The innermost function whose body contains this command.
    pub function: Option<String>,
    /// Runs with elevated privileges (`sudo`, `doas`, `su -c`, …).
    pub sudo: bool,
    /// The working directory, when an earlier `cd` makes it known.
    pub cwd: Option<String>,
}

impl Invocation {
    /// The program's base name (`/bin/rm` → `rm`), or `None` when it is not known
    /// statically (`$(echo rm)`, `$CMD`) or there is no command.
    pub(crate) fn program(&self) -> Option<&str> {
        let first = self.argv.first()?;
        if first.dynamic {
            return None;
        }
        Some(first.text.rsplit('/').next().unwrap_or(&first.text))
    }

    /// The arguments after the program.
    pub(crate) fn args(&self) -> &[Word] {
        self.argv.get(1..).unwrap_or(&[])
    }

    /// Whether the command is stage `stage` or later of pipeline `id`.
    pub(crate) fn in_pipe_after(&self, id: usize, stage: usize) -> bool {
        self.pipes.iter().any(|p| p.id == id && p.stage > stage)
    }
}

/// The context a command is walked in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ctx {
    pub pipes: Vec<PipePos>,
    pub background: bool,
    pub function: Option<String>,
    pub sudo: bool,
    /// How many wrappers and nested scripts enclose this one.
    pub depth: usize,
}

impl Ctx {
    /// The context of a nested script (`sh -c`, `eval`, a substitution).
    pub(crate) fn nested(&self) -> Self {
        Self {
            depth: self.depth + 1,
            ..self.clone()
        }
    }
}

/// The output of `echo`/`printf` with literal arguments and no redirections.
pub(crate) fn literal_output(inv: &Invocation) -> Option<String> {
    if !inv.redirects.is_empty() || inv.argv.iter().any(|w| w.dynamic) {
        return None;
    }
    let args = inv.args();
    match inv.program()? {
        "echo" => {
            let skip = args
                .iter()
                .take_while(|a| matches!(a.text.as_str(), "-n" | "-e" | "-E" | "-ne" | "-en"))
                .count();
            let words: Vec<&str> = args[skip..].iter().map(|a| a.text.as_str()).collect();
            Some(words.join(" "))
        }
        "printf" => match args {
            [format] if !format.text.contains('%') => {
                Some(format.text.replace("\\n", "\n").trim_end().to_owned())
            }
            _ => None,
        },
        _ => None,
    }
}
