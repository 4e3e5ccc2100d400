//! The crate's error type.

/// What can go wrong building a [`Validator`](crate::Validator) or checking a command.
///
/// A command that is dangerous or cannot be parsed is *not* an error: it is a
/// [`Verdict`](crate::Verdict) with findings. Errors are reserved for input that cannot
/// be judged at all and for bad configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// The command is empty or only whitespace.
    #[error("the command is empty")]
    Empty,

    /// A user allow or deny pattern is not a valid regular expression.
    #[error("invalid {list} pattern `{pattern}`")]
    InvalidPattern {
        /// Which list the pattern came from: `allow` or `deny`.
        list: &'static str,
        /// The pattern as the user wrote it.
        pattern: String,
        /// Why the regex crate rejected it.
        #[source]
        source: regex::Error,
    },

    /// A safety mode name is not one of `strict`, `moderate` or `permissive`.
    #[error("unknown safety mode `{0}`, expected `strict`, `moderate` or `permissive`")]
    UnknownMode(String),

    /// A risk level name is not one of `safe`, `moderate`, `high` or `critical`.
    #[error("unknown risk level `{0}`, expected `safe`, `moderate`, `high` or `critical`")]
    UnknownRisk(String),
}
