//! A model's prompt cache on disk: the KV cache of a prompt kept in a file, so that a
//! new process answering a prompt that starts the same way (the fixed instructions of
//! `hearth cmd`) computes only the rest, as llama.cpp's `--prompt-cache` does.
//!
//! One file per model in the cache directory. The engine asks [`PromptCache::usable`]
//! when a request takes a KV slot, [`PromptCache::restore`]s the file into the slot when
//! it offers more than the slots in memory, and [`PromptCache::save`]s a prompt once it
//! is prefilled if the file held less of it. A file that cannot be used (another model,
//! another format, truncated, garbage) is ignored with a warning and replaced by the
//! next save; writing goes to a temporary file renamed over the old one, so readers
//! never see half a file. Errors never fail a request.

mod file;

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hearth_models::KvCache;
use hearth_protocol::error_chain;

use crate::slots::{common_prefix, reusable_prefix};
use file::{CacheFileError, ModelIdentity};

/// The prompt-cache file of one model, and what this process knows it holds.
#[derive(Debug)]
pub(crate) struct PromptCache {
    path: PathBuf,
    identity: ModelIdentity,
    n_ctx: usize,
    /// The token ids the file holds; `None` until first looked at. Empty when there is
    /// no usable file.
    held: Option<Vec<u32>>,
}

impl PromptCache {
    /// The cache of the model file at `model_path` inside `dir` (neither is created
    /// until the first save), for sequences of up to `n_ctx` positions.
    pub(crate) fn new(dir: &Path, model_path: &Path, n_ctx: usize) -> std::io::Result<Self> {
        let identity = ModelIdentity::of(model_path)?;
        Ok(Self {
            path: dir.join(file_name(&identity.path)),
            identity,
            n_ctx,
            held: None,
        })
    }

    /// How many of `prompt`'s tokens the file can provide, leaving at least one to
    /// compute. Reads the file's header the first time.
    pub(crate) fn usable(&mut self, prompt: &[u32]) -> usize {
        let held = self.held.get_or_insert_with(|| {
            match read_tokens(&self.path, &self.identity, self.n_ctx) {
                Ok(tokens) => tokens,
                Err(CacheFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Vec::new()
                }
                Err(e) => {
                    warn_unusable(&self.path, &e);
                    Vec::new()
                }
            }
        });
        reusable_prefix(held, prompt)
    }

    /// Reads the file into `cache` and keeps the part shared with `prompt` (leaving at
    /// least one prompt token to compute); returns how many positions were kept, or
    /// `None` with a warning when the file cannot be used (then `cache` is empty).
    pub(crate) fn restore(&mut self, prompt: &[u32], cache: &mut KvCache) -> Option<usize> {
        let start = Instant::now();
        let read = fs_err::File::open(&self.path)
            .map_err(CacheFileError::from)
            .and_then(|f| file::read(&mut BufReader::new(f), &self.identity, cache));
        match read {
            Ok(tokens) => {
                let keep = reusable_prefix(&tokens, prompt);
                cache.truncate(keep);
                tracing::info!(
                    cached_tokens = keep,
                    file_tokens = tokens.len(),
                    ms = start.elapsed().as_millis() as u64,
                    "prompt prefix restored from the prompt cache"
                );
                self.held = Some(tokens);
                Some(keep)
            }
            Err(e) => {
                warn_unusable(&self.path, &e);
                cache.truncate(0);
                self.held = Some(Vec::new());
                None
            }
        }
    }

    /// Saves `tokens`, whose KV the first `tokens.len()` positions of `cache` hold,
    /// unless the file already holds all of them.
    pub(crate) fn save(&mut self, tokens: &[u32], cache: &KvCache) {
        if let Some(held) = &self.held
            && common_prefix(held, tokens) >= tokens.len()
        {
            return;
        }
        let start = Instant::now();
        match self.write(tokens, cache) {
            Ok(()) => {
                tracing::debug!(
                    tokens = tokens.len(),
                    ms = start.elapsed().as_millis() as u64,
                    path = %self.path.display(),
                    "prompt cache saved"
                );
                self.held = Some(tokens.to_vec());
            }
            Err(e) => tracing::warn!(
                "cannot save the prompt cache `{}`: {}",
                self.path.display(),
                error_chain(&e)
            ),
        }
    }

    /// Writes a temporary file beside the cache file and renames it over it.
    fn write(&self, tokens: &[u32], cache: &KvCache) -> Result<(), CacheFileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir)?;
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let written = self.write_to(&tmp, tokens, cache);
        if written.is_err() {
            let _ = fs_err::remove_file(&tmp);
        }
        written
    }

    fn write_to(&self, tmp: &Path, tokens: &[u32], cache: &KvCache) -> Result<(), CacheFileError> {
        let mut out = BufWriter::new(fs_err::File::create(tmp)?);
        file::write(&mut out, &self.identity, tokens, cache)?;
        out.flush()?;
        drop(out);
        fs_err::rename(tmp, &self.path)?;
        Ok(())
    }
}

fn read_tokens(
    path: &Path,
    identity: &ModelIdentity,
    n_ctx: usize,
) -> Result<Vec<u32>, CacheFileError> {
    let mut input = BufReader::new(fs_err::File::open(path)?);
    file::read_tokens(&mut input, identity, n_ctx)
}

fn warn_unusable(path: &Path, e: &CacheFileError) {
    tracing::warn!(
        "ignoring the prompt cache `{}`, it will be replaced: {}",
        path.display(),
        error_chain(e)
    );
}

/// `<model file stem>-<hash of its path>.kv`: readable, and distinct for two files
/// of the same name in different folders.
fn file_name(model_path: &str) -> String {
    let stem = Path::new(model_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}-{:016x}.kv", fnv1a(model_path.as_bytes()))
}

/// FNV-1a: a hash that stays the same across builds, so file names do too.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use hearth_models::{Model, SeqChunk};

    use super::*;

    /// A tiny model written into `dir`, loaded.
    pub(crate) fn tiny_model(dir: &Path) -> Result<(PathBuf, Model), Box<dyn std::error::Error>> {
        let path = dir.join("tiny.gguf");
        hearth_test_support::tiny_llama().write(&path);
        let model = Model::load(&path)?;
        Ok((path, model))
    }

    /// A cache of `n_ctx` positions holding `tokens`.
    pub(crate) fn prefilled(
        model: &Model,
        tokens: &[u32],
        n_ctx: usize,
    ) -> Result<KvCache, Box<dyn std::error::Error>> {
        let mut cache = model.new_cache(n_ctx)?;
        model.forward(&[SeqChunk { tokens, start: 0 }], &mut [&mut cache])?;
        Ok(cache)
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn saved_prompt_is_restored_up_to_the_shared_prefix() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (path, model) = tiny_model(dir.path())?;
        let caches = dir.path().join("caches");
        let mut file = PromptCache::new(&caches, &path, 64)?;
        assert_eq!(file.usable(&[1, 2, 3]), 0, "no file yet");
        let prompt = [10, 11, 12, 13, 14];
        file.save(&prompt, &prefilled(&model, &prompt, 64)?);

        let mut fresh = PromptCache::new(&caches, &path, 64)?;
        let other = [10, 11, 12, 20, 21];
        assert_eq!(fresh.usable(&other), 3);
        assert_eq!(
            fresh.usable(&prompt),
            4,
            "one prompt token is left to compute"
        );
        let mut cache = model.new_cache(64)?;
        assert_eq!(fresh.restore(&other, &mut cache), Some(3));
        assert_eq!(cache.len(), 3);
        Ok(())
    }

    #[test]
    fn garbage_file_is_ignored_and_replaced() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (path, model) = tiny_model(dir.path())?;
        let mut file = PromptCache::new(dir.path(), &path, 64)?;
        fs_err::write(&file.path, b"not a cache at all")?;
        let prompt = [5, 6, 7];
        assert_eq!(file.usable(&prompt), 0);
        let mut cache = model.new_cache(64)?;
        assert_eq!(file.restore(&prompt, &mut cache), None);
        assert!(cache.is_empty());
        file.save(&prompt, &prefilled(&model, &prompt, 64)?);
        assert_eq!(PromptCache::new(dir.path(), &path, 64)?.usable(&prompt), 2);
        Ok(())
    }

    #[test]
    fn a_prompt_the_file_already_holds_is_not_written_again() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (path, model) = tiny_model(dir.path())?;
        let mut file = PromptCache::new(dir.path(), &path, 64)?;
        let long = [1, 2, 3, 4, 5, 6];
        file.save(&long, &prefilled(&model, &long, 64)?);
        let written = fs_err::metadata(&file.path)?.modified()?;
        std::thread::sleep(std::time::Duration::from_millis(20));
        file.save(&long[..4], &prefilled(&model, &long[..4], 64)?);
        assert_eq!(fs_err::metadata(&file.path)?.modified()?, written);
        file.save(&[1, 2, 9], &prefilled(&model, &[1, 2, 9], 64)?);
        assert_ne!(fs_err::metadata(&file.path)?.modified()?, written);
        Ok(())
    }

    #[test]
    fn file_names_differ_by_folder_and_stay_readable() {
        let a = file_name("/models/a/qwen:2.5.gguf");
        let b = file_name("/models/b/qwen:2.5.gguf");
        assert!(a.starts_with("qwen_2.5-") && a.ends_with(".kv"), "{a}");
        assert_ne!(a, b);
    }
}
