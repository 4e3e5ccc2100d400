//! Hearth's model store: pulling GGUF files from a Hugging Face compatible hub into
//! content-addressed blobs, name manifests, and discovery of models already on disk.
pub mod discovery;
