//! The engine.

mod sampler;
mod stop;
mod utf8;

pub use sampler::{Sampler, logprobs};
pub use stop::{StopMatcher, StopOutput};
pub use utf8::Utf8Stream;
