//! How long a model stays in memory after its last request.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a model stays loaded once it has nothing to do.
///
/// The timer starts when the model goes idle, so a long generation does not count
/// against it. `For(Duration::ZERO)` unloads the model as soon as it is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepAlive {
    For(Duration),
    Forever,
}

impl KeepAlive {
    /// Ollama's default: five minutes.
    pub const DEFAULT: KeepAlive = KeepAlive::For(Duration::from_secs(300));

    /// Ollama's reading of a number of seconds: negative keeps the model forever.
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs < 0.0 || !secs.is_finite() {
            KeepAlive::Forever
        } else {
            KeepAlive::For(Duration::from_secs_f64(secs))
        }
    }

    /// Reads Ollama's forms: a number of seconds (`300`, `-1`) or a Go duration
    /// (`5m`, `1h30m`, `500ms`, `-1s`); anything negative keeps the model forever.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<f64>() {
            return Ok(Self::from_secs_f64(secs));
        }
        let (negative, mut rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let invalid = || format!("`{text}` is not a duration (try `5m`, `1h`, `30s`, `0` or `-1`)");
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut secs = 0.0;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            let value: f64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "us" | "µs" => 1e-6,
                "ns" => 1e-9,
                _ => return Err(invalid()),
            };
            secs += value * scale;
            rest = &rest[unit_len..];
        }
        Ok(Self::from_secs_f64(if negative { -secs } else { secs }))
    }

    /// True for a keep-alive of zero: unload as soon as idle.
    pub fn is_zero(&self) -> bool {
        *self == KeepAlive::For(Duration::ZERO)
    }
}

impl Default for KeepAlive {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_seconds_keep_forever() {
        assert_eq!(KeepAlive::from_secs_f64(-1.0), KeepAlive::Forever);
        assert_eq!(
            KeepAlive::from_secs_f64(2.5),
            KeepAlive::For(Duration::from_millis(2500))
        );
        assert!(KeepAlive::from_secs_f64(0.0).is_zero());
    }

    #[test]
    fn parses_ollama_durations() {
        let secs = |s| KeepAlive::For(Duration::from_secs(s));
        assert_eq!(KeepAlive::parse("5m"), Ok(secs(300)));
        assert_eq!(KeepAlive::parse("1h30m"), Ok(secs(5400)));
        assert_eq!(KeepAlive::parse("300"), Ok(secs(300)));
        assert_eq!(
            KeepAlive::parse("500ms"),
            Ok(KeepAlive::For(Duration::from_millis(500)))
        );
        assert!(KeepAlive::parse("0").is_ok_and(|k| k.is_zero()));
        assert!(KeepAlive::parse("0s").is_ok_and(|k| k.is_zero()));
        assert_eq!(KeepAlive::parse("-1"), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::parse("-1m"), Ok(KeepAlive::Forever));
        for bad in ["", "m", "5x", "five minutes", "-"] {
            assert!(KeepAlive::parse(bad).is_err(), "{bad}");
        }
    }
}
