//! What the validator says about a command: findings and the overall verdict.

use serde::{Deserialize, Serialize};

use crate::Risk;

/// One reason a command is risky.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable kebab-case rule id, e.g. `rm-recursive-root`.
    pub rule: String,
    /// How dangerous this particular pattern is.
    pub risk: Risk,
    /// A human explanation, with values in backticks.
    pub message: String,
}

impl Finding {
    /// A finding for `rule` at `risk`.
    pub fn new(rule: impl Into<String>, risk: Risk, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            risk,
            message: message.into(),
        }
    }
}

/// The validator's judgement of one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The command as it was given.
    pub command: String,
    /// The highest risk among `findings`, or [`Risk::Safe`] when there are none.
    pub risk: Risk,
    /// Every reason found, highest risk first; no duplicates.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// A verdict whose risk is the maximum of `findings`; duplicates are removed and the
    /// findings sorted from the highest risk down (ties keep their order).
    pub fn new(command: impl Into<String>, findings: Vec<Finding>) -> Self {
        let mut unique: Vec<Finding> = Vec::with_capacity(findings.len());
        for finding in findings {
            if !unique.contains(&finding) {
                unique.push(finding);
            }
        }
        unique.sort_by_key(|f| std::cmp::Reverse(f.risk));
        let risk = unique.iter().map(|f| f.risk).max().unwrap_or(Risk::Safe);
        Self {
            command: command.into(),
            risk,
            findings: unique,
        }
    }

    /// Whether any finding has this rule id.
    pub fn has_rule(&self, rule: &str) -> bool {
        self.findings.iter().any(|f| f.rule == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_risk_is_the_highest_finding_and_duplicates_are_dropped() {
        let verdict = Verdict::new(
            "x",
            vec![
                Finding::new("a", Risk::Moderate, "m"),
                Finding::new("b", Risk::Critical, "c"),
                Finding::new("a", Risk::Moderate, "m"),
            ],
        );
        assert_eq!(verdict.risk, Risk::Critical);
        assert_eq!(verdict.findings.len(), 2);
        assert_eq!(verdict.findings[0].rule, "b");
        assert!(verdict.has_rule("a"));
    }

    #[test]
    fn verdict_without_findings_is_safe() {
        let verdict = Verdict::new("ls", Vec::new());
        assert_eq!(verdict.risk, Risk::Safe);
        assert!(verdict.findings.is_empty());
    }
}
