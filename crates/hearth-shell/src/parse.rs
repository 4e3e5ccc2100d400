//! From shell source to a flat list of invocations.
//!
//! brush-parser turns the source into an AST; the [`Collector`] walks every simple
//! command in it — pipelines, and/or lists, subshells, brace groups, functions,
//! `if`/`while`/`for`/`case` bodies, command and process substitutions — resolves its
//! words (see [`crate::word`]) and records an [`Invocation`]. Wrappers such as `sudo`,
//! `xargs` or `sh -c` are unwrapped in [`crate::unwrap`], which records the wrapped
//! command as one more invocation.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use brush_parser::ast::{
    self, AndOr, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList,
    ExtendedTestExpr, Pipeline, SeparatorOperator,
};
use brush_parser::{Parser, ParserOptions, SourceInfo};

use crate::invocation::{Ctx, Invocation, PipePos, Redirect, literal_output};
use crate::word::{Word, process_subst_word};
use crate::{Finding, Risk};

/// How deep wrappers, `sh -c`, `eval` and substitutions may nest before we stop
/// looking (`sudo env nice sh -c 'eval …'` is five levels).
pub(crate) const MAX_DEPTH: usize = 12;
/// Most invocations collected from one command; more is not a command a person reads.
const MAX_INVOCATIONS: usize = 1000;
/// How deeply brackets and compound commands may nest in one source text. The parser
/// recurses on nesting and would overflow a small thread stack far beyond this.
const MAX_NESTING: usize = 64;
/// How deeply command lists may nest across a source and the texts it runs
/// (`sh -c`, substitutions); bounds the walk's own recursion.
const MAX_WALK_DEPTH: usize = 128;
/// Longest source text we parse, in bytes.
const MAX_SOURCE_LEN: usize = 64 * 1024;

/// Everything found in a command: its invocations and findings about its syntax.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub invocations: Vec<Invocation>,
    pub findings: Vec<Finding>,
}

/// Parses `source` and collects every invocation in it.
pub(crate) fn analyze(source: &str) -> Analysis {
    let mut collector = Collector::default();
    collector.walk_source(source, &Ctx::default());
    Analysis {
        invocations: collector.invocations,
        findings: collector.findings,
    }
}

/// Walks ASTs and records invocations.
pub(crate) struct Collector {
    pub(crate) invocations: Vec<Invocation>,
    pub(crate) findings: Vec<Finding>,
    /// Variables assigned a literal value earlier in the command.
    pub(crate) vars: HashMap<String, String>,
    /// The working directory after the last `cd`, when known.
    pub(crate) cwd: Option<String>,
    pub(crate) options: ParserOptions,
    next_pipe: usize,
    /// How many command lists enclose the one being walked.
    walk_depth: usize,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            invocations: Vec::new(),
            findings: Vec::new(),
            vars: HashMap::new(),
            cwd: None,
            options: ParserOptions {
                enable_extended_globbing: false,
                posix_mode: false,
                sh_mode: false,
                tilde_expansion: true,
            },
            next_pipe: 0,
            walk_depth: 0,
        }
    }
}

impl Collector {
    /// Records that (part of) the command could not be parsed.
    pub(crate) fn unparseable(&mut self, why: &str) {
        tracing::debug!(why, "unparseable shell source");
        self.findings.push(Finding::new(
            "unparseable",
            Risk::High,
            format!("the command cannot be parsed as POSIX shell, so it cannot be checked: {why}"),
        ));
    }

    /// Records that commands nest too deeply to be followed further.
    pub(crate) fn too_deep(&mut self) {
        self.findings.push(Finding::new(
            "nesting-too-deep",
            Risk::High,
            format!(
                "commands nested more than {MAX_DEPTH} levels deep (wrappers, `sh -c`, `eval`, substitutions) are not checked"
            ),
        ));
    }

    /// Parses and walks a (nested) script.
    pub(crate) fn walk_source(&mut self, source: &str, ctx: &Ctx) {
        if ctx.depth > MAX_DEPTH {
            self.too_deep();
            return;
        }
        if source.len() > MAX_SOURCE_LEN {
            self.unparseable(&format!("it is longer than {MAX_SOURCE_LEN} bytes"));
            return;
        }
        if nesting_depth(source) > MAX_NESTING {
            self.unparseable(&format!("it nests more than {MAX_NESTING} levels deep"));
            return;
        }
        if has_overflowing_fd(source) {
            self.unparseable("a redirection names a file descriptor number that is too large");
            return;
        }
        // brush-parser has a few `unwrap`s on odd input (e.g. the fd number above); a
        // panic there must not take the caller down.
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            let mut parser = Parser::new(source.as_bytes(), &self.options, &SourceInfo::default());
            parser.parse_program()
        }));
        match parsed {
            Ok(Ok(program)) => {
                for list in &program.complete_commands {
                    self.walk_list(list, ctx);
                }
            }
            Ok(Err(err)) => self.unparseable(&err.to_string()),
            Err(_) => self.unparseable("the parser failed on it"),
        }
    }

    /// Walks a process substitution's body; returns the programs it runs.
    pub(crate) fn walk_nested_list(&mut self, list: &CompoundList, ctx: &Ctx) -> Vec<String> {
        let start = self.invocations.len();
        let inner = Ctx {
            pipes: Vec::new(),
            background: false,
            sudo: false,
            ..ctx.nested()
        };
        self.walk_list(list, &inner);
        self.programs_since(start)
    }

    /// Runs a command substitution's source: returns its output when it is a plain
    /// `echo`/`printf` of literal text, and the programs it runs.
    pub(crate) fn run_substitution(
        &mut self,
        source: &str,
        ctx: &Ctx,
    ) -> (Option<String>, Vec<String>) {
        let start = self.invocations.len();
        let inner = Ctx {
            pipes: Vec::new(),
            background: false,
            sudo: false,
            ..ctx.nested()
        };
        self.walk_source(source, &inner);
        let output = match self.invocations.get(start..) {
            Some([only]) => literal_output(only),
            _ => None,
        };
        (output, self.programs_since(start))
    }

    fn programs_since(&self, start: usize) -> Vec<String> {
        self.invocations
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .filter_map(|inv| inv.program().map(str::to_owned))
            .collect()
    }

    fn walk_list(&mut self, list: &CompoundList, ctx: &Ctx) {
        if self.walk_depth >= MAX_WALK_DEPTH {
            self.unparseable(&format!(
                "commands nest more than {MAX_WALK_DEPTH} levels deep"
            ));
            return;
        }
        self.walk_depth += 1;
        self.walk_list_items(list, ctx);
        self.walk_depth -= 1;
    }

    fn walk_list_items(&mut self, list: &CompoundList, ctx: &Ctx) {
        for ast::CompoundListItem(and_or, separator) in &list.0 {
            let ctx = Ctx {
                background: ctx.background || matches!(separator, SeparatorOperator::Async),
                ..ctx.clone()
            };
            self.walk_pipeline(&and_or.first, &ctx);
            for next in &and_or.additional {
                let (AndOr::And(pipeline) | AndOr::Or(pipeline)) = next;
                self.walk_pipeline(pipeline, &ctx);
            }
        }
    }

    fn walk_pipeline(&mut self, pipeline: &Pipeline, ctx: &Ctx) {
        if pipeline.seq.len() < 2 {
            for command in &pipeline.seq {
                self.walk_command(command, ctx);
            }
            return;
        }
        let id = self.next_pipe;
        self.next_pipe += 1;
        let start = self.invocations.len();
        for (stage, command) in pipeline.seq.iter().enumerate() {
            let mut inner = ctx.clone();
            inner.pipes.push(PipePos { id, stage });
            self.walk_command(command, &inner);
        }
        self.feed_pipeline(start, id, ctx);
    }

    fn walk_command(&mut self, command: &Command, ctx: &Ctx) {
        match command {
            Command::Simple(simple) => self.walk_simple(simple, ctx),
            Command::Compound(compound, redirects) => {
                self.walk_compound(compound, ctx);
                self.walk_redirect_list(redirects.as_ref(), ctx);
            }
            Command::Function(def) => {
                let name = self.resolve_single(&def.fname.value, ctx).text;
                let inner = Ctx {
                    function: Some(name),
                    ..ctx.clone()
                };
                self.walk_compound(&def.body.0, &inner);
                self.walk_redirect_list(def.body.1.as_ref(), &inner);
            }
            Command::ExtendedTest(test) => self.walk_test(&test.expr, ctx),
        }
    }

    fn walk_redirect_list(&mut self, redirects: Option<&ast::RedirectList>, ctx: &Ctx) {
        let Some(list) = redirects else { return };
        let redirects: Vec<Redirect> = list
            .0
            .iter()
            .map(|r| self.resolve_redirect(r, ctx))
            .collect();
        if !redirects.is_empty() {
            self.record(Vec::new(), Vec::new(), redirects, ctx);
        }
    }

    fn walk_test(&mut self, expr: &ExtendedTestExpr, ctx: &Ctx) {
        match expr {
            ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
                self.walk_test(a, ctx);
                self.walk_test(b, ctx);
            }
            ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => self.walk_test(a, ctx),
            ExtendedTestExpr::UnaryTest(_, word) => {
                self.resolve_word(&word.value, ctx);
            }
            ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.resolve_word(&a.value, ctx);
                self.resolve_word(&b.value, ctx);
            }
        }
    }

    fn walk_compound(&mut self, compound: &CompoundCommand, ctx: &Ctx) {
        match compound {
            CompoundCommand::Arithmetic(arith) => self.walk_arithmetic(&arith.expr.value, ctx),
            CompoundCommand::ArithmeticForClause(clause) => self.walk_list(&clause.body.list, ctx),
            CompoundCommand::BraceGroup(group) => self.walk_list(&group.list, ctx),
            CompoundCommand::Subshell(sub) => self.walk_list(&sub.list, ctx),
            CompoundCommand::ForClause(clause) => {
                for value in clause.values.iter().flatten() {
                    self.resolve_word(&value.value, ctx);
                }
                self.vars.remove(&clause.variable_name);
                self.walk_list(&clause.body.list, ctx);
            }
            CompoundCommand::CaseClause(clause) => {
                self.resolve_word(&clause.value.value, ctx);
                for item in &clause.cases {
                    if let Some(list) = &item.cmd {
                        self.walk_list(list, ctx);
                    }
                }
            }
            CompoundCommand::IfClause(clause) => {
                self.walk_list(&clause.condition, ctx);
                self.walk_list(&clause.then, ctx);
                for branch in clause.elses.iter().flatten() {
                    if let Some(condition) = &branch.condition {
                        self.walk_list(condition, ctx);
                    }
                    self.walk_list(&branch.body, ctx);
                }
            }
            CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                self.walk_list(&clause.0, ctx);
                self.walk_list(&clause.1.list, ctx);
            }
        }
    }

    /// `((cmd))` is arithmetic in bash but two nested subshells in POSIX sh (dash runs
    /// `((rm -rf /))`, and brush-parser reads `( ( cmd ) )` as arithmetic too), so the
    /// text is walked as commands as well; when it does not parse as commands it
    /// really is arithmetic, and that is not a finding. The text is part of the same
    /// source, so this is no deeper nesting (the walk depth still bounds it).
    fn walk_arithmetic(&mut self, text: &str, ctx: &Ctx) {
        let before = self.findings.len();
        self.walk_source(text, ctx);
        let added: Vec<Finding> = self
            .findings
            .drain(before..)
            .filter(|f| f.rule != "unparseable")
            .collect();
        self.findings.extend(added);
    }

    fn walk_simple(&mut self, simple: &ast::SimpleCommand, ctx: &Ctx) {
        let mut argv = Vec::new();
        let mut assignments = Vec::new();
        let mut redirects = Vec::new();
        let prefix = simple.prefix.iter().flat_map(|p| p.0.iter());
        for item in prefix {
            match item {
                CommandPrefixOrSuffixItem::AssignmentWord(assignment, _) => {
                    let value = match &assignment.value {
                        ast::AssignmentValue::Scalar(word) => self.resolve_single(&word.value, ctx),
                        ast::AssignmentValue::Array(_) => Word {
                            text: "(…)".to_owned(),
                            dynamic: true,
                            ..Word::default()
                        },
                    };
                    let name = match &assignment.name {
                        ast::AssignmentName::VariableName(name)
                        | ast::AssignmentName::ArrayElementName(name, _) => name.clone(),
                    };
                    assignments.push((name, value));
                }
                other => self.push_item(other, &mut argv, &mut redirects, ctx),
            }
        }
        if let Some(word) = &simple.word_or_name {
            argv.extend(self.resolve_word(&word.value, ctx));
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.push_item(item, &mut argv, &mut redirects, ctx);
        }
        if argv.is_empty() {
            for (name, value) in &assignments {
                self.set_var(name, value);
            }
            self.record(argv, assignments, redirects, ctx);
        } else {
            self.push_command(argv, assignments, redirects, ctx);
        }
    }

    fn push_item(
        &mut self,
        item: &CommandPrefixOrSuffixItem,
        argv: &mut Vec<Word>,
        redirects: &mut Vec<Redirect>,
        ctx: &Ctx,
    ) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(redirect) => {
                redirects.push(self.resolve_redirect(redirect, ctx));
            }
            CommandPrefixOrSuffixItem::Word(word)
            | CommandPrefixOrSuffixItem::AssignmentWord(_, word) => {
                argv.extend(self.resolve_word(&word.value, ctx));
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                let programs = self.walk_nested_list(&sub.list, ctx);
                argv.push(process_subst_word(programs));
            }
        }
    }

    /// Records one invocation in the current context; `false` when the limit on
    /// invocations is reached and it was dropped.
    pub(crate) fn record(
        &mut self,
        argv: Vec<Word>,
        assignments: Vec<(String, Word)>,
        redirects: Vec<Redirect>,
        ctx: &Ctx,
    ) -> bool {
        if self.invocations.len() >= MAX_INVOCATIONS {
            if !self.findings.iter().any(|f| f.rule == "too-complex") {
                self.findings.push(Finding::new(
                    "too-complex",
                    Risk::High,
                    format!("the command runs more than {MAX_INVOCATIONS} commands; the rest are not checked"),
                ));
            }
            return false;
        }
        self.invocations.push(Invocation {
            argv,
            assignments,
            redirects,
            pipes: ctx.pipes.clone(),
            background: ctx.background,
            function: ctx.function.clone(),
            sudo: ctx.sudo,
            cwd: self.cwd.clone(),
        });
        true
    }

    /// Remembers a variable assigned a literal value, forgets one assigned anything else.
    pub(crate) fn set_var(&mut self, name: &str, value: &Word) {
        if value.dynamic {
            self.vars.remove(name);
        } else {
            self.vars.insert(name.to_owned(), value.text.clone());
        }
    }
}

/// Whether a run of more than nine digits is directly followed by `<` or `>`: an fd
/// number brush-parser would fail to fit in an `i32`.
fn has_overflowing_fd(source: &str) -> bool {
    let mut digits = 0usize;
    for c in source.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else {
            if digits > 9 && (c == '<' || c == '>') {
                return true;
            }
            digits = 0;
        }
    }
    false
}

/// A cheap upper bound on how deeply `source` nests brackets and compound commands.
fn nesting_depth(source: &str) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    for token in source.split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|') {
        match token {
            "if" | "case" | "while" | "until" | "for" | "select" => depth += 1,
            "fi" | "esac" | "done" => depth = depth.saturating_sub(1),
            _ => {}
        }
        for c in token.chars() {
            match c {
                '(' | '{' => depth += 1,
                ')' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            max = max.max(depth);
        }
        max = max.max(depth);
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(source: &str) -> Vec<String> {
        analyze(source)
            .invocations
            .iter()
            .filter_map(|inv| inv.program().map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_simple_command_in_compound_syntax_is_collected() {
        let found = programs(
            "a | b && { c; } || (d) ; if e; then f; elif g; then h; else i; fi; \
             for x in 1; do j; done; while k; do l; done; case y in z) m;; esac; \
             fn() { n; }; echo $(o) `p` <(q)",
        );
        for name in [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
        ] {
            assert!(
                found.iter().any(|p| p == name),
                "`{name}` missing from {found:?}"
            );
        }
    }

    #[test]
    fn quoting_and_escaping_are_resolved() {
        for source in [
            "r''m x",
            "\\rm x",
            "\"rm\" x",
            "\"r\"m x",
            "$'\\x72m' x",
            "/bin/rm x",
        ] {
            assert_eq!(programs(source), vec!["rm"], "{source}");
        }
    }

    #[test]
    fn literal_echo_substitutions_are_evaluated() {
        let analysis = analyze("$(echo rm) -rf /");
        let last = analysis.invocations.last().map(|inv| inv.program());
        assert_eq!(last, Some(Some("rm")));
    }

    #[test]
    fn pipelines_record_their_stages() {
        let analysis = analyze("curl x | sudo bash");
        let stages: Vec<usize> = analysis
            .invocations
            .iter()
            .flat_map(|inv| inv.pipes.iter().map(|p| p.stage))
            .collect();
        assert_eq!(stages, vec![0, 1, 1]);
        assert!(analysis.invocations[2].sudo);
    }

    #[test]
    fn background_and_function_context_are_recorded() {
        let analysis = analyze("f() { f | f & }");
        assert!(analysis.invocations.iter().all(|inv| inv.background));
        assert!(
            analysis
                .invocations
                .iter()
                .all(|inv| inv.function.as_deref() == Some("f"))
        );
    }

    #[test]
    fn syntax_errors_become_unparseable_findings() {
        let analysis = analyze("echo 'unterminated");
        assert_eq!(analysis.findings.len(), 1);
        assert_eq!(analysis.findings[0].rule, "unparseable");
    }

    #[test]
    fn parser_panics_and_deep_nesting_are_contained() {
        let overflowing_fd = analyze("echo 99999999999999999999999>x");
        assert_eq!(overflowing_fd.findings[0].rule, "unparseable");
        let deep = format!("{}ls{}", "$(".repeat(500), ")".repeat(500));
        assert_eq!(analyze(&deep).findings[0].rule, "unparseable");
    }

    #[test]
    fn literal_assignments_are_substituted_later() {
        let analysis = analyze("D=/etc; rm -rf $D");
        let rm = analysis.invocations.last().map(|inv| inv.argv[2].clone());
        assert_eq!(
            rm.map(|w| (w.text, w.dynamic)),
            Some(("/etc".to_owned(), false))
        );
    }

    #[test]
    fn unknown_variables_are_marked_as_leading() {
        let analysis = analyze("rm -rf \"$DIR\"/* ${SAFE:?}/x");
        let args = analysis.invocations[0].args();
        assert_eq!(args[1].text, "${DIR}/*");
        assert_eq!(args[1].leading, Some(crate::word::Leading::Var));
        assert_eq!(args[2].leading, Some(crate::word::Leading::GuardedVar));
    }

    #[test]
    fn double_parentheses_are_also_read_as_nested_subshells() {
        assert!(programs("((rm -rf /))").contains(&"rm".to_owned()));
        assert!(programs("( ( rm x ) )").contains(&"rm".to_owned()));
        let arithmetic = analyze("((x++)); (( (a+b)*c > 3 ))");
        assert!(arithmetic.findings.is_empty(), "{:?}", arithmetic.findings);
    }

    #[test]
    fn substitutions_in_here_documents_are_walked() {
        assert!(programs("cat <<EOF\n$(rm -rf /)\nEOF").contains(&"rm".to_owned()));
        assert!(!programs("cat <<'EOF'\n$(rm -rf /)\nEOF").contains(&"rm".to_owned()));
    }
}
