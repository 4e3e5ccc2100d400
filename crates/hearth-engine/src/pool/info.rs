//! What a model file says about itself, read without loading its weights.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use hearth_gguf::GgufFile;
use hearth_protocol::ModelInfo;

use crate::error::EngineError;

/// A servable model and the size of one token of its KV cache.
pub(crate) struct FileInfo {
    pub info: ModelInfo,
    /// Keys and values of every layer for one position, stored as f16.
    pub kv_bytes_per_token: u64,
}

impl FileInfo {
    /// Bytes a freshly loaded model needs: its weights plus one full context of KV
    /// cache (more slots are allocated only as concurrent requests arrive).
    pub fn load_estimate(&self) -> u64 {
        self.info.size_bytes + self.kv_bytes_per_token * self.info.n_ctx as u64
    }
}

/// Reads `path`'s metadata; refuses a file that is not a GGUF model of a supported
/// architecture.
pub(crate) fn model_info(
    name: String,
    path: PathBuf,
    n_ctx: usize,
) -> Result<FileInfo, EngineError> {
    let file = GgufFile::open(&path).map_err(|source| EngineError::Open {
        path: path.clone(),
        source,
    })?;
    let md = file.metadata();
    let architecture = md.str("general.architecture")?.to_string();
    if !hearth_models::SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
        return Err(hearth_models::ModelError::UnsupportedArchitecture(architecture).into());
    }
    let key = |k: &str| format!("{architecture}.{k}");
    let trained = md.opt_u32(&key("context_length"))?;
    let n_ctx = trained.map_or(n_ctx, |t| n_ctx.min(t as usize));
    let n_layers = u64::from(md.opt_u32(&key("block_count"))?.unwrap_or(0));
    let n_heads = md
        .opt_u32(&key("attention.head_count"))?
        .unwrap_or(1)
        .max(1);
    let n_kv_heads = u64::from(
        md.opt_u32(&key("attention.head_count_kv"))?
            .unwrap_or(n_heads),
    );
    let width = md.opt_u32(&key("embedding_length"))?.unwrap_or(0);
    let head_dim = u64::from(
        md.opt_u32(&key("attention.key_length"))?
            .unwrap_or(width / n_heads),
    );
    let meta = fs_err::metadata(&path)?;
    let created = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(FileInfo {
        info: ModelInfo {
            name,
            size_bytes: meta.len(),
            created,
            architecture,
            n_ctx,
            path,
        },
        kv_bytes_per_token: n_layers * n_kv_heads * head_dim * 2 * 2,
    })
}
