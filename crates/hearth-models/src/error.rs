use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file `{path}`")]
    Gguf {
        path: PathBuf,
        #[source]
        source: hearth_gguf::GgufError,
    },
    #[error(transparent)]
    Metadata(#[from] hearth_gguf::GgufError),
    #[error("unsupported architecture `{0}`")]
    UnsupportedArchitecture(String),
    #[error("unsupported tensor type `{ty}` for tensor `{tensor}`")]
    UnsupportedTensorType { tensor: String, ty: String },
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("unsupported tokenizer model `{0}`")]
    UnsupportedTokenizer(String),
    #[error("invalid vocabulary: {0}")]
    Vocab(String),
    #[error("tokenizer failed: {0}")]
    Tokenize(String),
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("chat template error: {0}")]
    Template(String),
    #[error("batch is invalid: {0}")]
    Batch(String),
    #[error("context is full: position {needed} exceeds the context of {n_ctx} tokens")]
    ContextFull { needed: usize, n_ctx: usize },
    #[error("cannot read or write KV cache data")]
    KvIo(#[source] std::io::Error),
    #[error("invalid KV cache data: {0}")]
    KvData(String),
    #[error("tensor computation failed")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
