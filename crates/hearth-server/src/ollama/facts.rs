//! What Ollama says about a model, read from its GGUF metadata: `details`
//! (family, parameter size, quantization), `model_info`, the chat template, and a
//! digest.
//!
//! A file that cannot be read (moved, truncated) still gets an answer built from the
//! [`ModelInfo`] alone, with a warning in the log: listing models must not fail
//! because of one of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use hearth_gguf::{GgufError, GgufFile, Value as GgufValue, facts};
use hearth_protocol::ModelInfo;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Arrays longer than this (the vocabulary, merges, token types) are left out of
/// `model_info` unless a verbose answer is asked for, as Ollama does.
const MAX_ARRAY: usize = 64;

/// Ollama's `details` object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Details {
    pub parent_model: String,
    pub format: &'static str,
    pub family: String,
    pub families: Vec<String>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// Everything `/api/show` reports that comes from the file.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub details: Details,
    /// GGUF metadata as JSON, plus `general.parameter_count`.
    pub model_info: Map<String, Value>,
    /// `tokenizer.chat_template`, or empty.
    pub template: String,
}

/// `details` of `info`'s file, parsed once per version of the file (its length and
/// modification time): clients poll `/api/tags`, and parsing a GGUF's metadata, with
/// its vocabulary, takes tens of milliseconds per model.
pub(crate) fn details(info: &ModelInfo) -> Details {
    type Key = (PathBuf, u64, SystemTime);
    static READ: OnceLock<Mutex<HashMap<Key, Details>>> = OnceLock::new();
    let cache = READ.get_or_init(Default::default);
    let key = std::fs::metadata(&info.path)
        .and_then(|m| Ok((info.path.clone(), m.len(), m.modified()?)))
        .ok();
    if let Some(found) = key.as_ref().and_then(|k| lock(cache).get(k).cloned()) {
        return found;
    }
    let file = match GgufFile::open(&info.path) {
        Ok(file) => file,
        // Not remembered: the warning is logged again, and a repaired file is read.
        Err(err) => return unreadable(info, &err).details,
    };
    let found = from_file(info, &file, false).details;
    if let Some(key) = key {
        lock(cache).insert(key, found.clone());
    }
    found
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the facts of `info`'s file; `verbose` keeps long arrays in `model_info`.
pub(crate) fn read(info: &ModelInfo, verbose: bool) -> Facts {
    match GgufFile::open(&info.path) {
        Ok(file) => from_file(info, &file, verbose),
        Err(err) => unreadable(info, &err),
    }
}

/// The facts of a model whose file cannot be read: what `info` knows, with a warning.
fn unreadable(info: &ModelInfo, err: &GgufError) -> Facts {
    tracing::warn!(model = %info.name, path = %info.path.display(), %err, "cannot read the model's GGUF metadata");
    Facts {
        details: details_of(&info.architecture, String::new(), "unknown".to_owned()),
        model_info: Map::new(),
        template: String::new(),
    }
}

fn from_file(info: &ModelInfo, file: &GgufFile, verbose: bool) -> Facts {
    let metadata = file.metadata();
    let architecture = metadata
        .get("general.architecture")
        .and_then(GgufValue::as_str)
        .unwrap_or(&info.architecture);
    let parameter_count = facts::parameter_count(file);
    let parameter_size = match parameter_count {
        Some(n) => facts::parameter_size(n),
        None => metadata
            .get("general.size_label")
            .and_then(GgufValue::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let quantization_level = facts::quantization(file).unwrap_or("unknown").to_owned();
    let mut model_info: Map<String, Value> = metadata
        .iter()
        .map(|(key, value)| (key.to_owned(), to_json(value, verbose)))
        .collect();
    if let Some(n) = parameter_count {
        model_info.insert("general.parameter_count".to_owned(), Value::from(n));
    }
    let template = metadata
        .get("tokenizer.chat_template")
        .and_then(GgufValue::as_str)
        .unwrap_or_default()
        .to_owned();
    Facts {
        details: details_of(architecture, parameter_size, quantization_level),
        model_info,
        template,
    }
}

fn details_of(family: &str, parameter_size: String, quantization_level: String) -> Details {
    Details {
        parent_model: String::new(),
        format: "gguf",
        family: family.to_owned(),
        families: vec![family.to_owned()],
        parameter_size,
        quantization_level,
    }
}

/// A hex sha256 naming the model's file. A file in Hearth's blob store is named by
/// the sha256 of its content (`sha256-<hex>`) and that is used; for any other file,
/// hashing gigabytes on every listing is too slow, so the digest is the sha256 of its
/// path and size: stable while the file stays put, but not a content hash.
pub(crate) fn digest(info: &ModelInfo) -> String {
    if let Some(hex) = blob_digest(&info.path) {
        return hex.to_owned();
    }
    let mut hasher = Sha256::new();
    hasher.update(info.path.to_string_lossy().as_bytes());
    hasher.update([0]);
    hasher.update(info.size_bytes.to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob_digest(path: &Path) -> Option<&str> {
    let hex = path.file_name()?.to_str()?.strip_prefix("sha256-")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn to_json(value: &GgufValue, verbose: bool) -> Value {
    match value {
        GgufValue::U8(v) => Value::from(*v),
        GgufValue::I8(v) => Value::from(*v),
        GgufValue::U16(v) => Value::from(*v),
        GgufValue::I16(v) => Value::from(*v),
        GgufValue::U32(v) => Value::from(*v),
        GgufValue::I32(v) => Value::from(*v),
        GgufValue::U64(v) => Value::from(*v),
        GgufValue::I64(v) => Value::from(*v),
        GgufValue::F32(v) => Value::from(f64::from(*v)),
        GgufValue::F64(v) => Value::from(*v),
        GgufValue::Bool(v) => Value::from(*v),
        GgufValue::String(v) => Value::from(v.as_str()),
        GgufValue::Array(items) if !verbose && items.len() > MAX_ARRAY => Value::Null,
        GgufValue::Array(items) => items.iter().map(|v| to_json(v, verbose)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn blob_files_keep_their_content_digest() {
        let hex = "ab".repeat(32);
        let blob = ModelInfo {
            name: "m".into(),
            path: PathBuf::from(format!("/store/blobs/sha256-{hex}")),
            architecture: "llama".into(),
            n_ctx: 1,
            size_bytes: 1,
            created: 0,
        };
        assert_eq!(digest(&blob), hex);
        let other = ModelInfo {
            path: PathBuf::from("/models/m.gguf"),
            ..blob
        };
        let d = digest(&other);
        assert_eq!(d.len(), 64);
        assert_ne!(d, hex);
        assert_eq!(d, digest(&other), "stable");
    }
}
