//! Reads, validates and writes GGUF model files (llama.cpp's format), with no tensor
//! library attached.
//!
//! - [`GgufFile`]: a memory-mapped, fully validated file: [`Metadata`] (ordered key →
//!   [`Value`]) and a table of [`TensorInfo`] whose bytes [`GgufFile::tensor_data`]
//!   hands out. A malformed file is a [`GgufError`] naming the problem and where it is,
//!   never a panic.
//! - [`GgufWriter`]: builds GGUF v3 files, for tests and tools.
//! - [`GgmlType`]: ggml's element types with their ids and block geometry.
//! - [`quant`]: plain scalar reference (de)quantization of ggml's block formats, the
//!   reference that fast kernels elsewhere are tested against.
//!
//! Shapes are in ggml order throughout: `dims[0]` is the innermost (row) dimension.

mod error;
pub mod facts;
mod metadata;
mod parse;
pub mod quant;
mod reader;
mod tensor;
mod types;
mod value;
mod writer;

pub use error::GgufError;
pub use metadata::Metadata;
pub use parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
pub use reader::GgufFile;
pub use tensor::{MAX_DIMS, TensorInfo};
pub use types::GgmlType;
pub use value::{MAX_ARRAY_DEPTH, Value};
pub use writer::GgufWriter;
