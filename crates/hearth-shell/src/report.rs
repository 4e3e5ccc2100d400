//! The JSON shape `hearth check --json` prints.

use serde::{Deserialize, Serialize};

use crate::{Decision, Finding, Risk, Verdict};

/// The JSON object `hearth check --json` prints:
/// `{"command","risk","blocked","reasons":[{"rule","risk","message"}]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The command that was checked.
    pub command: String,
    /// The overall risk.
    pub risk: Risk,
    /// Whether the active mode refuses to run it.
    pub blocked: bool,
    /// Every finding, highest risk first.
    pub reasons: Vec<Finding>,
}

impl CheckReport {
    /// The report for `verdict` under the given decision.
    pub fn new(verdict: &Verdict, decision: Decision) -> Self {
        Self {
            command: verdict.command.clone(),
            risk: verdict.risk,
            blocked: decision == Decision::Block,
            reasons: verdict.findings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_serializes_to_the_documented_shape() -> Result<(), serde_json::Error> {
        let verdict = Verdict::new(
            "rm -rf /",
            vec![Finding::new(
                "rm-recursive-root",
                Risk::Critical,
                "deletes everything",
            )],
        );
        let json = serde_json::to_value(CheckReport::new(&verdict, Decision::Block))?;
        assert_eq!(
            json,
            serde_json::json!({
                "command": "rm -rf /",
                "risk": "critical",
                "blocked": true,
                "reasons": [{
                    "rule": "rm-recursive-root",
                    "risk": "critical",
                    "message": "deletes everything",
                }],
            })
        );
        Ok(())
    }

    #[test]
    fn confirmed_commands_are_not_reported_as_blocked() {
        let verdict = Verdict::new("shutdown now", Vec::new());
        assert!(!CheckReport::new(&verdict, Decision::Confirm).blocked);
    }
}
