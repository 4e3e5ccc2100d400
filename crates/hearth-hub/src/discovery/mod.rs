//! Zero-config discovery of GGUF models already on disk, referenced where they are
//! (never copied), classified from GGUF metadata alone.
//!
//! - [`DiscoveryRoots`]: where to look, one list of folders per source;
//!   [`DiscoveryRoots::from_env`] fills it from the environment, tests build it by hand.
//! - [`discover`]: scans every source and returns a [`Discovery`]: chat/completion
//!   [`DiscoveredModel`]s, LoRA [`DiscoveredAdapter`]s, and the [`Skipped`] files with
//!   the reason each was left out.
//! - [`Candidate`] and [`Discovery::from_candidates`]: the seam for another source
//!   (e.g. Hearth's own store): a source only has to find files and propose names;
//!   opening, classifying, de-duplicating and naming are shared.
//!
//! Sources: the Hugging Face cache (`models--OWNER--REPO/snapshots/REV/**.gguf`),
//! Ollama (`manifests/REGISTRY/NAMESPACE/MODEL/TAG` → `blobs/sha256-HEX`), LM Studio
//! (`PUBLISHER/REPO/*.gguf`), and local folders (`./models`, `HEARTH_MODELS`).
//!
//! Names: a file is named by its stem in lower case (a split model without its
//! `-0000N-of-0000M` suffix), an Ollama model by its manifest (`model:tag`). When
//! several files want the same name, each is prefixed with its source label
//! (`ollama/`, `huggingface/`, `lmstudio/`, `local/`); any name still taken after that
//! gets `-2`, `-3`, … in path order. The same file reached twice (two snapshots
//! sharing a blob, two Ollama tags, a local folder pointing into the Hugging Face
//! cache) is listed once; its other names become [`DiscoveredModel::aliases`].
//!
//! Classification reads metadata only: LoRA adapters (`adapter.type = lora`) are
//! listed apart with their base model; vision projectors (`clip`, `general.type =
//! mmproj`, `mmproj` in the file name), speech models ([`SPEECH_ARCHITECTURES`]),
//! embedding models ([`EMBEDDING_ARCHITECTURES`], or `{arch}.pooling_type` with
//! `{arch}.attention.causal = false`), vocabulary-only files (no tensors), other
//! adapters, incomplete split models and unreadable files are [`Skipped`] with a
//! [`SkipKind`] and a reason. Everything else with a `general.architecture` is a model.
//!
//! Everything here is blocking file I/O; async callers use `spawn_blocking`.

mod classify;
mod huggingface;
mod ollama;
mod resolve;
mod roots;
mod split;
mod store;
mod walk;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use classify::{EMBEDDING_ARCHITECTURES, SPEECH_ARCHITECTURES};
pub use roots::{DEFAULT_MAX_DEPTH, DiscoveryRoots};
pub use store::{forget, forgotten};

/// Where a discovered file came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// Pulled by Hearth into its own store.
    Hearth {
        /// `owner/repo` on the hub it came from.
        repo: String,
        /// The commit it was pulled at.
        revision: String,
    },
    /// The Hugging Face hub cache.
    #[serde(rename = "huggingface")]
    HuggingFace {
        /// `owner/repo` (or just `repo` for the few repositories without an owner).
        repo: String,
        /// The snapshot (commit hash) the file was found in.
        revision: String,
    },
    /// Ollama's model store.
    Ollama {
        /// The name Ollama shows, e.g. `llama3.2:latest` or `hf.co/owner/repo:q4_k_m`.
        model: String,
    },
    /// LM Studio's models folder.
    #[serde(rename = "lmstudio")]
    LmStudio {
        /// `publisher/repo` when the file sits at the usual depth.
        repo: Option<String>,
    },
    /// `./models` or a folder of `HEARTH_MODELS`.
    Local {
        /// The folder that was scanned.
        root: PathBuf,
    },
}

impl Source {
    /// The label used in prefixes and logs: `huggingface`, `ollama`, `lmstudio`, `local`.
    pub fn label(&self) -> &'static str {
        match self {
            Source::Hearth { .. } => "hearth",
            Source::HuggingFace { .. } => "huggingface",
            Source::Ollama { .. } => "ollama",
            Source::LmStudio { .. } => "lmstudio",
            Source::Local { .. } => "local",
        }
    }

    /// Which source wins when the same file is reached from several: the one whose
    /// names carry the most information first. Lower is preferred.
    fn rank(&self) -> u8 {
        match self {
            Source::Hearth { .. } => 0,
            Source::Ollama { .. } => 1,
            Source::HuggingFace { .. } => 2,
            Source::LmStudio { .. } => 3,
            Source::Local { .. } => 4,
        }
    }
}

/// A chat/completion model found on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredModel {
    /// Unique within the [`Discovery`] (models and adapters share one namespace).
    pub name: String,
    /// The file as found (a Hugging Face snapshot path, not its blob); for a split
    /// model, the first part.
    pub path: PathBuf,
    /// Every part of a split model in order; empty for a single file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PathBuf>,
    pub source: Source,
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// Total size on disk in bytes, all parts of a split model included.
    pub size_bytes: u64,
    /// `general.name`, when the file has one.
    pub display_name: Option<String>,
    /// The quantization from `general.file_type`, e.g. `Q4_K_M`.
    pub file_type: Option<String>,
    /// `{architecture}.context_length`: the trained context in tokens.
    pub context_length: Option<u64>,
    /// Whether the file carries `tokenizer.chat_template`.
    pub has_chat_template: bool,
    /// A vision projector to go with the model (from an Ollama manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projector: Option<PathBuf>,
    /// Other names the same file was found under (other Ollama tags, other folders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A LoRA adapter found on disk, with what the file says about its base model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredAdapter {
    /// Unique within the [`Discovery`] (models and adapters share one namespace).
    pub name: String,
    pub path: PathBuf,
    pub source: Source,
    /// `general.architecture`: the architecture of the base model the adapter fits.
    pub architecture: String,
    /// The base model's name: `general.base_model.0.name`, or the Ollama model whose
    /// manifest holds the adapter.
    pub base_model: Option<String>,
    /// `general.base_model.0.repo_url`.
    pub base_model_repo_url: Option<String>,
    /// `adapter.lora.alpha`.
    pub lora_alpha: Option<f32>,
    pub size_bytes: u64,
}

/// Why a file was not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// An embedding-only model (BERT-like architecture, or non-causal with pooling).
    Embedding,
    /// A vision projector (`clip`, `general.type = mmproj`, `mmproj` in the name).
    VisionProjector,
    /// A speech model (whisper and the like).
    Speech,
    /// A vocabulary-only file: metadata but no tensors.
    VocabOnly,
    /// An adapter that is not a LoRA (e.g. a control vector).
    UnsupportedAdapter,
    /// A split model with parts missing.
    IncompleteSplit,
    /// Not readable as GGUF: missing blob, broken link, truncated or corrupt file,
    /// unreadable manifest.
    Unreadable,
}

/// A file (or manifest) that was found but not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub source: Source,
    pub kind: SkipKind,
    /// What was wrong, for people: names the architecture, key or error.
    pub reason: String,
}

/// The result of a discovery: every list sorted (models and adapters by name, skipped
/// files by path).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub models: Vec<DiscoveredModel>,
    pub adapters: Vec<DiscoveredAdapter>,
    pub skipped: Vec<Skipped>,
}

impl Discovery {
    /// The model named `name`, if any (aliases are not consulted).
    pub fn model(&self, name: &str) -> Option<&DiscoveredModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The adapter named `name`, if any.
    pub fn adapter(&self, name: &str) -> Option<&DiscoveredAdapter> {
        self.adapters.iter().find(|a| a.name == name)
    }

    /// Opens, classifies, de-duplicates and names candidate files from any sources.
    /// `skipped` holds what the sources already rejected while scanning.
    pub fn from_candidates(candidates: Vec<Candidate>, skipped: Vec<Skipped>) -> Discovery {
        resolve::resolve(candidates, skipped)
    }
}

/// A GGUF file a source found, before it is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The file as found (symlinks are resolved only to recognise duplicates).
    pub path: PathBuf,
    pub source: Source,
    /// The proposed name; `None` takes the file stem in lower case.
    pub name: Option<String>,
    /// A vision projector that goes with this model.
    pub projector: Option<PathBuf>,
    /// For an adapter, the base model the source knows it belongs to.
    pub base_model: Option<String>,
}

impl Candidate {
    /// A candidate named after its file stem.
    pub fn file(path: PathBuf, source: Source) -> Candidate {
        Candidate {
            path,
            source,
            name: None,
            projector: None,
            base_model: None,
        }
    }
}

/// What scanning one source produced.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub candidates: Vec<Candidate>,
    pub skipped: Vec<Skipped>,
}

/// Scans every source in `roots` and classifies what it finds. Folders that do not
/// exist are simply empty; nothing here fails as a whole.
pub fn discover(roots: &DiscoveryRoots) -> Discovery {
    let mut scan = Scan::default();
    for home in &roots.hearth {
        store::scan(&crate::HearthHome::new(home), &mut scan);
    }
    for root in &roots.huggingface {
        huggingface::scan(root, roots.max_depth, &mut scan);
    }
    for root in &roots.ollama {
        ollama::scan(root, &mut scan);
    }
    for root in &roots.lmstudio {
        walk::scan_folder(root, roots.max_depth, &mut scan, |rel| Source::LmStudio {
            repo: walk::publisher_repo(rel),
        });
    }
    for root in &roots.local {
        walk::scan_folder(root, roots.max_depth, &mut scan, |_| Source::Local {
            root: root.clone(),
        });
    }
    let forgotten: std::collections::BTreeSet<PathBuf> = roots
        .hearth
        .iter()
        .flat_map(|home| store::forgotten(&crate::HearthHome::new(home)))
        .collect();
    scan.candidates
        .retain(|c| !store::is_forgotten(&forgotten, &c.path));
    Discovery::from_candidates(scan.candidates, scan.skipped)
}
