//! Turning a MODEL argument into a loaded model.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hearth_gguf::GgufFile;
use hearth_models::{Model, Tokenizer};

use crate::catalog;

/// Loads the model a MODEL argument names: a path to a `.gguf` file, or the name of
/// a pulled or discovered model.
pub fn load(model: &Path) -> anyhow::Result<Model> {
    let model = &locate(model)?;
    Model::load(model).with_context(|| format!("cannot load model `{}`", model.display()))
}

/// Reads only the tokenizer of the model a MODEL argument names: no weights.
pub fn load_tokenizer(model: &Path) -> anyhow::Result<Tokenizer> {
    let model = &locate(model)?;
    let file = GgufFile::open(model)
        .with_context(|| format!("cannot read model file `{}`", model.display()))?;
    Tokenizer::from_metadata(file.metadata())
        .with_context(|| format!("cannot build the tokenizer of `{}`", model.display()))
}

/// The file a MODEL argument names.
pub fn locate(model: &Path) -> anyhow::Result<PathBuf> {
    if model.is_file() {
        return Ok(model.to_path_buf());
    }
    Ok(catalog::resolve(&model.to_string_lossy())?.path)
}
