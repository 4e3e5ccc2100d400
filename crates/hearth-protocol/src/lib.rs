//! The internal contract of Hearth: what a caller asks an engine for and what comes back.
//!
//! No tensors and no HTTP live here. A [`GenerateRequest`] names a model, a [`Prompt`],
//! [`SamplingParams`] and [`StopConditions`]; a [`Backend`] answers with an
//! [`EventStream`] of [`GenerateEvent`]s. A [`ModelPool`] says which models exist and
//! which are loaded. The HTTP layer and the command assistant see engines only
//! through these two traits.

mod event;
mod keep_alive;
mod request;
mod sampling;
mod traits;

pub use event::{
    BackendError, Done, GenerateEvent, TokenEvent, TokenLogprob, TokenLogprobs, error_chain,
};
pub use keep_alive::KeepAlive;
pub use request::{ChatMessage, GenerateRequest, Prompt, ResponseFormat};
pub use sampling::{FinishReason, SamplingParams, StopConditions, Usage};
pub use traits::{Backend, BoxFuture, EventStream, LoadedModel, ModelInfo, ModelPool, PoolStats};
