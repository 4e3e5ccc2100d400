//! Ollama's store: manifests at `manifests/REGISTRY/NAMESPACE/MODEL/TAG` (JSON with
//! `layers[]` of `mediaType` and `digest`), blobs at `blobs/sha256-HEX`.
//!
//! The model layer is the GGUF; a projector layer is attached to the model; an adapter
//! layer becomes a candidate adapter named `NAME-adapter` whose base is the manifest's
//! model. Names follow `ollama list`: `model:tag` for the default registry's `library`
//! namespace, `namespace/model:tag` for other namespaces there, and
//! `registry/namespace/model:tag` for other registries (e.g. `hf.co/owner/repo:q4_k_m`),
//! in lower case.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Candidate, Scan, SkipKind, Skipped, Source};

const DEFAULT_REGISTRY: &str = "registry.ollama.ai";
const MODEL: &str = "application/vnd.ollama.image.model";
const PROJECTOR: &str = "application/vnd.ollama.image.projector";
const ADAPTER: &str = "application/vnd.ollama.image.adapter";

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Debug, Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

/// Scans one Ollama models folder.
pub(crate) fn scan(root: &Path, scan: &mut Scan) {
    let manifests = root.join("manifests");
    for registry in sorted_children(&manifests) {
        for namespace in sorted_children(&registry) {
            for model in sorted_children(&namespace) {
                for tag in sorted_children(&model) {
                    if !tag.is_file() {
                        continue;
                    }
                    let Some(name) = model_name(&tag) else {
                        continue;
                    };
                    read_manifest(root, &tag, name, scan);
                }
            }
        }
    }
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
}

/// The name Ollama shows for the manifest at `.../REGISTRY/NAMESPACE/MODEL/TAG`.
fn model_name(manifest: &Path) -> Option<String> {
    let mut parts = manifest.iter().rev().map(|c| c.to_str());
    let tag = parts.next()??;
    let model = parts.next()??;
    let namespace = parts.next()??;
    let registry = parts.next()??;
    Some(display_name(registry, namespace, model, tag))
}

pub(crate) fn display_name(registry: &str, namespace: &str, model: &str, tag: &str) -> String {
    let name = if registry != DEFAULT_REGISTRY {
        format!("{registry}/{namespace}/{model}:{tag}")
    } else if namespace == "library" {
        format!("{model}:{tag}")
    } else {
        format!("{namespace}/{model}:{tag}")
    };
    name.to_lowercase()
}

/// `blobs/sha256-HEX` for a digest `sha256:HEX`; `None` for anything else (which also
/// keeps a hostile digest from naming a path outside `blobs/`).
pub(crate) fn blob_path(root: &Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| root.join("blobs").join(format!("sha256-{hex}")))
}

fn read_manifest(root: &Path, manifest_path: &Path, name: String, scan: &mut Scan) {
    let source = Source::Ollama {
        model: name.clone(),
    };
    let unreadable = |reason: String| Skipped {
        path: manifest_path.to_owned(),
        source: source.clone(),
        kind: SkipKind::Unreadable,
        reason,
    };
    let manifest = match fs::read(manifest_path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).map_err(|e| e.to_string()))
    {
        Ok(manifest) => manifest,
        Err(error) => {
            let path = manifest_path.display();
            scan.skipped.push(unreadable(format!(
                "cannot read manifest `{path}`: {error}"
            )));
            return;
        }
    };
    // The blob a layer of this type points at; a layer whose blob is missing is
    // reported and treated as absent.
    let layer = |media_type: &str, scan: &mut Scan| -> Option<PathBuf> {
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == media_type)?;
        let Some(blob) = blob_path(root, &layer.digest) else {
            let digest = &layer.digest;
            scan.skipped.push(unreadable(format!(
                "layer `{media_type}` has an invalid digest `{digest}`"
            )));
            return None;
        };
        if !blob.is_file() {
            scan.skipped.push(unreadable(format!(
                "blob `{}` of layer `{media_type}` is missing",
                blob.display()
            )));
            return None;
        }
        Some(blob)
    };
    let model = layer(MODEL, scan);
    let projector = layer(PROJECTOR, scan);
    let adapter = layer(ADAPTER, scan);
    if let Some(adapter) = adapter {
        scan.candidates.push(Candidate {
            path: adapter,
            source: source.clone(),
            name: Some(format!("{name}-adapter")),
            projector: None,
            base_model: Some(name.clone()),
        });
    }
    if let Some(model) = model {
        scan.candidates.push(Candidate {
            path: model,
            source,
            name: Some(name),
            projector,
            base_model: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ollama_list() {
        assert_eq!(
            display_name(DEFAULT_REGISTRY, "library", "llama3.2", "latest"),
            "llama3.2:latest"
        );
        assert_eq!(
            display_name(DEFAULT_REGISTRY, "someone", "tiny", "1b"),
            "someone/tiny:1b"
        );
        assert_eq!(
            display_name("hf.co", "Owner", "Repo-GGUF", "Q4_K_M"),
            "hf.co/owner/repo-gguf:q4_k_m"
        );
        assert_eq!(
            model_name(Path::new(
                "/m/manifests/registry.ollama.ai/library/qwen3/8b"
            ))
            .as_deref(),
            Some("qwen3:8b")
        );
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        let hex = "ab".repeat(32);
        assert_eq!(
            blob_path(Path::new("/m"), &format!("sha256:{hex}")),
            Some(PathBuf::from(format!("/m/blobs/sha256-{hex}")))
        );
        assert_eq!(blob_path(Path::new("/m"), "sha256:../../etc/passwd"), None);
        assert_eq!(blob_path(Path::new("/m"), &format!("md5:{hex}")), None);
    }
}
