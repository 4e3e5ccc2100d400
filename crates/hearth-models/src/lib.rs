//! Model architectures, tokenizers and chat templates for Hearth, over candle.
//!
//! [`Model::load`] reads a GGUF file into a runnable model: its [`Tokenizer`] turns
//! text into token ids exactly as llama.cpp does, its [`ChatTemplate`] renders
//! conversations, and [`Model::forward`] runs a batch of [`SeqChunk`]s — chunks of
//! several sequences, each with its own [`KvCache`] — in one pass.

mod attention;
mod batch;
#[doc(hidden)]
pub mod bench_support;
mod cpu;
mod error;
mod gemma3;
mod ggml_math;
mod kv_cache;
mod llama;
mod mat;
mod model;
mod norm;
mod pool;
mod quant;
mod rope;
mod team;
mod template;
pub mod tokenizer;
mod weights;

pub use batch::{Logits, SeqChunk};
pub use error::{ModelError, Result};
pub use gemma3::Gemma3Config;
pub use kv_cache::{CacheShape, KvCache};
pub use llama::LlamaConfig;
pub use model::{Model, SUPPORTED_ARCHITECTURES};
pub use rope::RopeStyle;
pub use template::{CHATML_TEMPLATE, ChatMessage, ChatTemplate, GEMMA_TEMPLATE};
pub use tokenizer::Tokenizer;
