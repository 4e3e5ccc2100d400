//! Hearth's inference engine.
//!
//! [`generate`] runs one sequence from prompt to finish. Its parts are reusable by the
//! batching scheduler: [`Sampler`] picks tokens with llama.cpp's sampler chain,
//! [`Utf8Stream`] turns token bytes into whole characters, [`StopMatcher`] holds
//! back text that may turn out to be a stop string, and a [`Constraint`] (made by a
//! model's [`ConstraintFactory`]) keeps the output to a requested JSON format.

mod constraint;
mod error;
mod generate;
mod sampler;
mod stop;
mod utf8;

pub use constraint::{Constraint, ConstraintError, ConstraintFactory};
pub use error::EngineError;
pub use generate::{Outcome, generate};
pub use sampler::{Sampler, logprobs};
pub use stop::{StopMatcher, StopOutput};
pub use utf8::Utf8Stream;
