//! The models this machine has: pulled into Hearth's store or found on disk, by name.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hearth_hub::discovery::{DiscoveredModel, Discovery, DiscoveryRoots};
use hearth_hub::{HearthHome, HubError, manifest};

use crate::cli::Hinted;

/// Hearth's home (`HEARTH_HOME`, else the platform data dir).
pub fn home() -> anyhow::Result<HearthHome> {
    HearthHome::from_env().context("cannot find a home directory for Hearth's data")
}

/// Every model on this machine, from the usual places.
pub fn discover() -> Discovery {
    hearth_hub::discovery::discover(&DiscoveryRoots::from_env())
}

/// A model named on the command line.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub path: PathBuf,
}

/// A MODEL argument: a path to a `.gguf` file (named after its stem), or the name of
/// a pulled or discovered model.
pub fn resolve(arg: &str) -> anyhow::Result<Resolved> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(Resolved {
            name: file_name(path),
            path: path.to_path_buf(),
        });
    }
    let discovery = discover();
    find(&discovery, arg)
        .map(|m| Resolved {
            name: m.name.clone(),
            path: m.path.clone(),
        })
        .ok_or_else(|| not_found(arg))
}

/// A discovered model by its name, an alias, or its canonical pulled name.
pub fn find<'a>(discovery: &'a Discovery, name: &str) -> Option<&'a DiscoveredModel> {
    let wanted = name.to_lowercase();
    let canonical = hearth_hub::ModelRef::parse(name).ok().map(|r| r.name());
    discovery.models.iter().find(|m| {
        m.name == wanted
            || m.aliases.contains(&wanted)
            || canonical.as_deref() == Some(m.name.as_str())
    })
}

/// What removing a model did.
#[derive(Debug)]
pub enum Removal {
    /// A pulled model: its manifest and unshared blobs are deleted.
    Deleted {
        name: String,
    },
    /// A model found on disk: no longer offered; its file stays.
    Forgotten {
        name: String,
        path: PathBuf,
    },
    NotFound,
}

/// Removes `name`: deletes it when Hearth pulled it, otherwise forgets the found
/// file of that name.
pub fn remove(home: &HearthHome, name: &str) -> Result<Removal, HubError> {
    match manifest::remove(home, name) {
        Ok(removed) => return Ok(Removal::Deleted { name: removed.name }),
        Err(HubError::ModelNotFound { .. } | HubError::InvalidReference { .. }) => {}
        Err(e) => return Err(e),
    }
    let discovery = discover();
    let Some(found) = find(&discovery, name) else {
        return Ok(Removal::NotFound);
    };
    hearth_hub::discovery::forget(home, &found.path)?;
    Ok(Removal::Forgotten {
        name: found.name.clone(),
        path: found.path.clone(),
    })
}

fn not_found(arg: &str) -> anyhow::Error {
    let hint = if arg.ends_with(".gguf") {
        "check the path, or use a model name from `hearth list`"
    } else {
        "see `hearth list` for the models on this machine, or `hearth pull OWNER/REPO` to get one"
    };
    Hinted::error(format!("model `{arg}` not found"), hint)
}

/// A file's model name: its stem in lower case.
pub fn file_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "model".into())
}
