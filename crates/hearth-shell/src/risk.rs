//! Risk levels, safety modes and the decision a mode takes for a risk.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ShellError;

/// How dangerous a command is. Ordered: `Safe < Moderate < High < Critical`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Nothing worth mentioning.
    #[default]
    Safe,
    /// Changes state in a way that is usually intended but hard to undo
    /// (`git reset --hard`, `sudo …`, `chmod -R 777 dir`).
    Moderate,
    /// Likely to do serious damage or hand control to someone else
    /// (`curl … | sh`, `shutdown`, `rm -rf "$DIR"/`).
    High,
    /// Destroys the system, the user's data or its security
    /// (`rm -rf /`, `dd of=/dev/sda`, fork bombs, reverse shells).
    Critical,
}

impl Risk {
    /// The lowercase name, as used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Safe => "safe",
            Risk::Moderate => "moderate",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = ShellError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "safe" => Ok(Risk::Safe),
            "moderate" => Ok(Risk::Moderate),
            "high" => Ok(Risk::High),
            "critical" => Ok(Risk::Critical),
            _ => Err(ShellError::UnknownRisk(s.to_owned())),
        }
    }
}

/// How much risk the user accepts before being asked or stopped.
///
/// | risk      | strict  | moderate (default) | permissive |
/// |-----------|---------|--------------------|------------|
/// | safe      | allow   | allow              | allow      |
/// | moderate  | confirm | allow              | allow      |
/// | high      | block   | confirm            | allow      |
/// | critical  | block   | block              | confirm    |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Block high and critical commands, confirm moderate ones.
    Strict,
    /// Block critical commands, confirm high ones.
    #[default]
    Moderate,
    /// Never block; confirm critical commands.
    Permissive,
}

impl Mode {
    /// What this mode does with a command of the given risk.
    pub fn decide(self, risk: Risk) -> Decision {
        match (self, risk) {
            (_, Risk::Safe) => Decision::Allow,
            (Mode::Strict, Risk::Moderate) => Decision::Confirm,
            (Mode::Strict, Risk::High | Risk::Critical) => Decision::Block,
            (Mode::Moderate, Risk::Moderate) => Decision::Allow,
            (Mode::Moderate, Risk::High) => Decision::Confirm,
            (Mode::Moderate, Risk::Critical) => Decision::Block,
            (Mode::Permissive, Risk::Moderate | Risk::High) => Decision::Allow,
            (Mode::Permissive, Risk::Critical) => Decision::Confirm,
        }
    }

    /// The lowercase name, as used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Moderate => "moderate",
            Mode::Permissive => "permissive",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ShellError;

    /// Parses `strict`, `moderate` or `permissive`, ignoring case and surrounding space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(Mode::Strict),
            "moderate" => Ok(Mode::Moderate),
            "permissive" => Ok(Mode::Permissive),
            _ => Err(ShellError::UnknownMode(s.to_owned())),
        }
    }
}

/// What to do with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Run it.
    Allow,
    /// Show the reasons and ask the user first.
    Confirm,
    /// Refuse to run it.
    Block,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risks_are_ordered_from_safe_to_critical() {
        assert!(Risk::Safe < Risk::Moderate);
        assert!(Risk::Moderate < Risk::High);
        assert!(Risk::High < Risk::Critical);
    }

    #[test]
    fn default_mode_blocks_critical_and_confirms_high() {
        let mode = Mode::default();
        assert_eq!(mode, Mode::Moderate);
        assert_eq!(mode.decide(Risk::Safe), Decision::Allow);
        assert_eq!(mode.decide(Risk::Moderate), Decision::Allow);
        assert_eq!(mode.decide(Risk::High), Decision::Confirm);
        assert_eq!(mode.decide(Risk::Critical), Decision::Block);
    }

    #[test]
    fn strict_mode_blocks_high_and_confirms_moderate() {
        assert_eq!(Mode::Strict.decide(Risk::Safe), Decision::Allow);
        assert_eq!(Mode::Strict.decide(Risk::Moderate), Decision::Confirm);
        assert_eq!(Mode::Strict.decide(Risk::High), Decision::Block);
        assert_eq!(Mode::Strict.decide(Risk::Critical), Decision::Block);
    }

    #[test]
    fn permissive_mode_never_blocks_and_confirms_critical() {
        assert_eq!(Mode::Permissive.decide(Risk::High), Decision::Allow);
        assert_eq!(Mode::Permissive.decide(Risk::Critical), Decision::Confirm);
    }

    #[test]
    fn modes_round_trip_through_their_names() -> Result<(), ShellError> {
        for mode in [Mode::Strict, Mode::Moderate, Mode::Permissive] {
            assert_eq!(mode.to_string().parse::<Mode>()?, mode);
        }
        assert_eq!(" STRICT ".parse::<Mode>()?, Mode::Strict);
        assert!(matches!(
            "lenient".parse::<Mode>(),
            Err(ShellError::UnknownMode(name)) if name == "lenient"
        ));
        Ok(())
    }

    #[test]
    fn risks_serialize_as_lowercase_names() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&Risk::Critical)?, "\"critical\"");
        assert_eq!(serde_json::from_str::<Risk>("\"high\"")?, Risk::High);
        assert_eq!(serde_json::to_string(&Mode::Permissive)?, "\"permissive\"");
        Ok(())
    }
}
