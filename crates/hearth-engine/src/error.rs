use std::path::PathBuf;

/// Why a generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error(
        "the prompt has {n_prompt} tokens but the context holds {n_ctx}; \
         at least one more is needed for the answer"
    )]
    PromptTooLong { n_prompt: usize, n_ctx: usize },
    #[error("every KV-cache slot is in use")]
    NoFreeSlot,
    #[error("cannot read model file `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: hearth_gguf::GgufError,
    },
    #[error(transparent)]
    Metadata(#[from] hearth_gguf::GgufError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Constraint(#[from] crate::ConstraintError),
    #[error(transparent)]
    Failed(hearth_protocol::BackendError),
    #[error(transparent)]
    Model(#[from] hearth_models::ModelError),
}
