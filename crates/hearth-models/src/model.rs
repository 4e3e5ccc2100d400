//! A model ready to run: weights, tokenizer and chat template from one GGUF file.

use std::path::Path;

use candle_core::Device;
use hearth_gguf::GgufFile;

use crate::batch::{Logits, SeqChunk};
use crate::error::{ModelError, Result};
use crate::gemma3::{Gemma3, Gemma3Config};
use crate::kv_cache::KvCache;
use crate::llama::{Llama, LlamaConfig};
use crate::template::{CHATML_TEMPLATE, ChatTemplate, GEMMA_TEMPLATE};
use crate::tokenizer::Tokenizer;
use crate::weights::Weights;

enum Arch {
    Llama(Llama),
    Gemma3(Gemma3),
}

/// Architectures Hearth can run.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "gemma3"];

/// A loaded model: call [`Model::forward`] with chunks of sequences and their caches.
pub struct Model {
    arch: Arch,
    arch_name: String,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    template_is_fallback: bool,
    device: Device,
}

impl Model {
    /// Loads the GGUF file at `path` onto the CPU.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = GgufFile::open(path).map_err(|source| ModelError::Gguf {
            path: path.to_owned(),
            source,
        })?;
        Self::from_gguf(&file)
    }

    /// Builds the model from an open GGUF file; the weights are copied out, so the
    /// file can be dropped afterwards.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let device = Device::Cpu;
        let md = file.metadata();
        let arch_name = file.architecture()?.to_owned();
        if !SUPPORTED_ARCHITECTURES.contains(&arch_name.as_str()) {
            return Err(ModelError::UnsupportedArchitecture(arch_name));
        }
        let tokenizer = Tokenizer::from_metadata(md)?;
        let weights = Weights::new(file, &device);
        let n_vocab = tokenizer.vocab().len();
        let arch = if arch_name == "gemma3" {
            let cfg = Gemma3Config::from_metadata(md, n_vocab)?;
            Arch::Gemma3(Gemma3::load(&weights, cfg, &device)?)
        } else {
            let cfg = LlamaConfig::from_metadata(md, &arch_name, n_vocab)?;
            Arch::Llama(Llama::load(&weights, cfg, &device)?)
        };
        let file_template = md.opt_str("tokenizer.chat_template")?;
        let text = |id: Option<u32>| id.and_then(|id| tokenizer.vocab().text(id)).unwrap_or("");
        let template = ChatTemplate::new(
            file_template.unwrap_or(fallback_template(&arch_name)),
            text(tokenizer.vocab().bos()),
            text(tokenizer.vocab().eos()),
        )?;
        Ok(Self {
            arch,
            arch_name,
            tokenizer,
            template,
            template_is_fallback: file_template.is_none(),
            device,
        })
    }

    pub fn architecture(&self) -> &str {
        &self.arch_name
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template: the file's own, or ChatML when it carries none (see
    /// [`Model::chat_template_is_fallback`]).
    pub fn chat_template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Whether the file carries no chat template and the architecture's turn format
    /// (Gemma's) or ChatML stands in for it.
    pub fn chat_template_is_fallback(&self) -> bool {
        self.template_is_fallback
    }

    /// The context length the model was trained with.
    pub fn n_ctx_train(&self) -> usize {
        match &self.arch {
            Arch::Llama(m) => m.config().n_ctx_train,
            Arch::Gemma3(m) => m.config().n_ctx_train,
        }
    }

    pub fn n_vocab(&self) -> usize {
        match &self.arch {
            Arch::Llama(m) => m.config().n_vocab,
            Arch::Gemma3(m) => m.config().n_vocab,
        }
    }

    /// An empty cache for one sequence of up to `n_ctx` tokens (at most the trained context).
    pub fn new_cache(&self, n_ctx: usize) -> Result<KvCache> {
        let n_ctx = n_ctx.min(self.n_ctx_train());
        match &self.arch {
            Arch::Llama(m) => KvCache::new(m.cache_shape(), n_ctx, &self.device),
            Arch::Gemma3(m) => KvCache::new(m.cache_shape(), n_ctx, &self.device),
        }
    }

    /// Runs `chunks` (each appended to its own cache in `caches`) and returns the
    /// logits after each chunk's last token.
    ///
    /// The pass runs as a [`team`](crate::team) of the compute pool's threads: its
    /// hundreds of short parallel loops then find the other threads spinning, ready,
    /// instead of asleep.
    pub fn forward(&self, chunks: &[SeqChunk], caches: &mut [&mut KvCache]) -> Result<Logits> {
        let logits = crate::team::run(|| match &self.arch {
            Arch::Llama(m) => m.forward(chunks, caches),
            Arch::Gemma3(m) => m.forward(chunks, caches),
        })?;
        Ok(Logits::new(logits.into_buf(), self.n_vocab()))
    }
}

impl Drop for Model {
    /// Frees the forward pass's shelved buffers with the weights.
    fn drop(&mut self) {
        crate::pool::release_all();
    }
}

/// The turn format to use when a file has no template: the architecture's own where
/// one is well known, ChatML otherwise.
fn fallback_template(arch: &str) -> &'static str {
    if arch.starts_with("gemma") {
        GEMMA_TEMPLATE
    } else {
        CHATML_TEMPLATE
    }
}
