//! Turning a MODEL argument into a loaded model.

use std::path::Path;

use anyhow::Context;
use hearth_gguf::GgufFile;
use hearth_models::{Model, Tokenizer};

use crate::cli::Hinted;

/// Loads the model a MODEL argument names (for now, a path to a `.gguf` file).
pub fn load(model: &Path) -> anyhow::Result<Model> {
    check_exists(model)?;
    Model::load(model).with_context(|| format!("cannot load model `{}`", model.display()))
}

/// Reads only the tokenizer of the model a MODEL argument names: no weights.
pub fn load_tokenizer(model: &Path) -> anyhow::Result<Tokenizer> {
    check_exists(model)?;
    let file = GgufFile::open(model)
        .with_context(|| format!("cannot read model file `{}`", model.display()))?;
    Tokenizer::from_metadata(file.metadata())
        .with_context(|| format!("cannot build the tokenizer of `{}`", model.display()))
}

fn check_exists(model: &Path) -> anyhow::Result<()> {
    if model.is_file() {
        return Ok(());
    }
    Err(Hinted::error(
        format!("model `{}` not found", model.display()),
        "pass the path to a `.gguf` file, e.g. `-m ~/models/model.gguf`",
    ))
}
