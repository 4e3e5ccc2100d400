//! The fixture corpus in `fixtures/validator.yaml`: dangerous commands reach their
//! minimum risk, everyday commands stay at or under theirs and are never blocked.

use std::collections::BTreeSet;

use hearth_shell::{Decision, Risk, Validator};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    dangerous: Vec<Dangerous>,
    everyday: Vec<Everyday>,
}

#[derive(Deserialize)]
struct Dangerous {
    category: String,
    min: Risk,
    commands: String,
}

#[derive(Deserialize)]
struct Everyday {
    max: Risk,
    commands: String,
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn load() -> Result<Fixtures, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/validator.yaml");
    let text = std::fs::read_to_string(path)?;
    Ok(serde_yaml_ng::from_str(&text)?)
}

fn lines(block: &str) -> impl Iterator<Item = &str> {
    block.lines().filter(|line| !line.trim().is_empty())
}

#[test]
fn fixture_corpus_is_large_and_varied() -> TestResult {
    let fixtures = load()?;
    let dangerous: usize = fixtures
        .dangerous
        .iter()
        .map(|g| lines(&g.commands).count())
        .sum();
    let everyday: usize = fixtures
        .everyday
        .iter()
        .map(|g| lines(&g.commands).count())
        .sum();
    let safe: usize = fixtures
        .everyday
        .iter()
        .filter(|g| g.max == Risk::Safe)
        .map(|g| lines(&g.commands).count())
        .sum();
    let categories: BTreeSet<&str> = fixtures
        .dangerous
        .iter()
        .map(|g| g.category.as_str())
        .collect();
    assert!(dangerous >= 110, "only {dangerous} dangerous commands");
    assert!(
        everyday >= 60 && safe >= 60,
        "only {everyday} everyday commands, {safe} safe"
    );
    assert!(
        categories.len() >= 10,
        "only {} categories",
        categories.len()
    );
    Ok(())
}

#[test]
fn every_dangerous_command_reaches_its_minimum_risk() -> TestResult {
    let validator = Validator::default();
    let mut misses = Vec::new();
    for group in load()?.dangerous {
        for command in lines(&group.commands) {
            let verdict = validator.check(command)?;
            if verdict.risk < group.min {
                misses.push(format!(
                    "[{}] `{command}`: {} < {} ({:?})",
                    group.category, verdict.risk, group.min, verdict.findings
                ));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
    Ok(())
}

#[test]
fn critical_fixtures_are_blocked_in_the_default_mode() -> TestResult {
    let validator = Validator::default();
    for group in load()?.dangerous.iter().filter(|g| g.min == Risk::Critical) {
        for command in lines(&group.commands) {
            let verdict = validator.check(command)?;
            assert_eq!(validator.decide(&verdict), Decision::Block, "`{command}`");
        }
    }
    Ok(())
}

#[test]
fn everyday_commands_stay_at_their_level_and_are_never_blocked() -> TestResult {
    let validator = Validator::default();
    let mut flagged = Vec::new();
    for group in load()?.everyday {
        for command in lines(&group.commands) {
            let verdict = validator.check(command)?;
            if verdict.risk > group.max || validator.decide(&verdict) == Decision::Block {
                flagged.push(format!(
                    "`{command}`: {} ({:?})",
                    verdict.risk, verdict.findings
                ));
            }
        }
    }
    assert!(
        flagged.is_empty(),
        "{} flagged:\n{}",
        flagged.len(),
        flagged.join("\n")
    );
    Ok(())
}
