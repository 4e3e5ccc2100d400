//! [`DiscoveryRoots`]: the folders each source is read from.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How many folders deep the recursive scans (LM Studio, local folders, Hugging Face
/// snapshots) go below their root.
pub const DEFAULT_MAX_DEPTH: usize = 4;

/// The folders to scan, per source. Folders that do not exist are skipped quietly, so
/// a root may be listed whether or not it exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryRoots {
    /// Hearth homes whose pulled models are listed (and whose forgotten list applies).
    pub hearth: Vec<PathBuf>,
    /// Hugging Face hub caches (folders holding `models--OWNER--REPO`).
    pub huggingface: Vec<PathBuf>,
    /// Ollama model stores (folders holding `manifests/` and `blobs/`).
    pub ollama: Vec<PathBuf>,
    /// LM Studio models folders (holding `PUBLISHER/REPO/*.gguf`).
    pub lmstudio: Vec<PathBuf>,
    /// Plain folders scanned recursively for `*.gguf`.
    pub local: Vec<PathBuf>,
    /// Depth limit of the recursive scans, in folders below the root.
    pub max_depth: usize,
}

impl DiscoveryRoots {
    /// No roots at all, with the default depth; fill in the fields you need.
    pub fn empty() -> DiscoveryRoots {
        DiscoveryRoots {
            max_depth: DEFAULT_MAX_DEPTH,
            ..DiscoveryRoots::default()
        }
    }

    /// The usual places, from the process environment:
    ///
    /// - Hugging Face: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    ///   `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    /// - Ollama: `$OLLAMA_MODELS`, else `~/.ollama/models` and
    ///   `/usr/share/ollama/.ollama/models` (the Linux service's store).
    /// - LM Studio: `~/.lmstudio/models` and the older `~/.cache/lm-studio/models`.
    /// - Local: `./models` and each folder of `HEARTH_MODELS` (colon-separated).
    pub fn from_env() -> DiscoveryRoots {
        DiscoveryRoots::from_vars(
            |key| std::env::var_os(key),
            dirs::home_dir().as_deref(),
            std::env::current_dir().ok().as_deref(),
        )
    }

    /// [`DiscoveryRoots::from_env`] with the environment, home and current folder
    /// given explicitly. Empty variables count as unset.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        home: Option<&Path>,
        current_dir: Option<&Path>,
    ) -> DiscoveryRoots {
        let var = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let in_home = |rel: &str| home.map(|h| h.join(rel));

        let hearth = var("HEARTH_HOME")
            .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("hearth")))
            .or_else(|| in_home(".local/share/hearth"));

        let huggingface = var("HF_HUB_CACHE")
            .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
            .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
            .or_else(|| in_home(".cache/huggingface/hub"));

        let ollama = match var("OLLAMA_MODELS") {
            Some(dir) => vec![dir],
            None => in_home(".ollama/models")
                .into_iter()
                .chain([PathBuf::from("/usr/share/ollama/.ollama/models")])
                .collect(),
        };

        let lmstudio = [".lmstudio/models", ".cache/lm-studio/models"]
            .into_iter()
            .filter_map(in_home)
            .collect();

        let mut local: Vec<PathBuf> = current_dir.map(|d| d.join("models")).into_iter().collect();
        if let Some(list) = var("HEARTH_MODELS") {
            local.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
        }

        DiscoveryRoots {
            hearth: hearth.into_iter().collect(),
            huggingface: huggingface.into_iter().collect(),
            ollama,
            lmstudio,
            local,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn roots(vars: &[(&str, &str)]) -> DiscoveryRoots {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        DiscoveryRoots::from_vars(
            |k| vars.get(k).cloned(),
            Some(Path::new("/home/u")),
            Some(Path::new("/work")),
        )
    }

    #[test]
    fn defaults_live_under_home_and_current_dir() {
        let r = roots(&[]);
        assert_eq!(
            r.huggingface,
            [PathBuf::from("/home/u/.cache/huggingface/hub")]
        );
        assert_eq!(
            r.ollama,
            [
                PathBuf::from("/home/u/.ollama/models"),
                PathBuf::from("/usr/share/ollama/.ollama/models")
            ]
        );
        assert_eq!(
            r.lmstudio,
            [
                PathBuf::from("/home/u/.lmstudio/models"),
                PathBuf::from("/home/u/.cache/lm-studio/models")
            ]
        );
        assert_eq!(r.local, [PathBuf::from("/work/models")]);
        assert_eq!(r.max_depth, DEFAULT_MAX_DEPTH);
    }

    #[test]
    fn variables_override_defaults_in_priority_order() {
        let r = roots(&[("HF_HOME", "/hf"), ("XDG_CACHE_HOME", "/xdg")]);
        assert_eq!(r.huggingface, [PathBuf::from("/hf/hub")]);
        let r = roots(&[("HF_HUB_CACHE", "/cache"), ("HF_HOME", "/hf")]);
        assert_eq!(r.huggingface, [PathBuf::from("/cache")]);
        let r = roots(&[("XDG_CACHE_HOME", "/xdg"), ("HF_HOME", "")]);
        assert_eq!(r.huggingface, [PathBuf::from("/xdg/huggingface/hub")]);
        let r = roots(&[("OLLAMA_MODELS", "/srv/ollama")]);
        assert_eq!(r.ollama, [PathBuf::from("/srv/ollama")]);
    }

    #[test]
    fn hearth_models_is_a_colon_separated_list() {
        let r = roots(&[("HEARTH_MODELS", "/a::/b/c")]);
        assert_eq!(
            r.local,
            [
                PathBuf::from("/work/models"),
                PathBuf::from("/a"),
                PathBuf::from("/b/c")
            ]
        );
    }
}
