//! Integration tests for `hearth-gguf`: one binary, one module per concern.

mod errors;
mod interop;
mod metadata;
mod quant_blocks;
mod quant_roundtrip;
mod robustness;
mod roundtrip;
mod support;
