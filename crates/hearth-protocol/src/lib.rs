//! The internal contract of Hearth: what a caller asks an engine for and what comes back.
//!
//! No tensors and no HTTP live here. [`SamplingParams`] says how to pick each token,
//! [`StopConditions`] when to end, and [`FinishReason`] with [`Usage`] report how a
//! generation ended.

mod sampling;

pub use sampling::{FinishReason, SamplingParams, StopConditions, Usage};
