//! Hearth's inference engine.
//!
//! [`EnginePool`] serves named models through the [`hearth_protocol::Backend`] and
//! [`hearth_protocol::ModelPool`] traits: each model, loaded on first use, runs on its
//! own thread, where a continuous-batching scheduler combines running decodes with
//! chunks of waiting prompts in every step, and reuses the KV cache of a prompt prefix
//! an earlier request left behind — in memory, or, with
//! [`EngineConfig::prompt_cache`], in a file per model that outlives the process.
//!
//! [`generate`] runs one sequence from prompt to finish, for one-shot use. Both are
//! built from the same parts: [`Sampler`] picks tokens with llama.cpp's sampler chain,
//! [`Utf8Stream`] turns token bytes into whole characters, [`StopMatcher`] holds
//! back text that may turn out to be a stop string, and a [`Constraint`] (made by a
//! model's [`ConstraintFactory`]) keeps the output to a requested JSON format.

mod constraint;
mod engine;
mod error;
mod generate;
mod pool;
mod prompt;
mod prompt_cache;
mod sampler;
mod scheduler;
mod sequence;
mod slots;
mod stop;
mod utf8;

pub use constraint::{Constraint, ConstraintError, ConstraintFactory};
pub use error::EngineError;
pub use generate::{Outcome, generate};
pub use pool::{EngineConfig, EnginePool, ResidencyConfig};
pub use sampler::{Sampler, logprobs};
pub use scheduler::SchedulerConfig;
pub use stop::{StopMatcher, StopOutput};
pub use utf8::Utf8Stream;
