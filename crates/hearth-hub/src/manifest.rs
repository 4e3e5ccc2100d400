//! [`Manifest`]: a pulled model's name, where it came from, and its blobs.
//!
//! Manifests live at `manifests/<owner>/<repo>/<tag>.json`; blobs are shared between
//! manifests by content, so removing a model deletes only the blobs nothing else uses.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::HubError;
use crate::home::HearthHome;
use crate::lock::BlobLock;
use crate::reference::ModelRef;

/// A pulled model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Canonical name, `owner/repo:tag` in lower case.
    pub name: String,
    /// Where the files came from.
    pub source: Source,
    /// The model's files in load order (several for a split GGUF; the first is loaded).
    pub blobs: Vec<BlobRef>,
    /// When the pull finished, in seconds since the Unix epoch.
    pub pulled_at: u64,
}

/// The origin of a pulled model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The hub endpoint, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// The repository as typed, `Owner/Repo` (case kept).
    pub repo: String,
    /// The commit sha when the hub reported it, else the requested revision.
    pub revision: String,
    /// The repository paths of the pulled files, in order.
    pub files: Vec<String>,
}

/// One content-addressed file of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// The repository path it was downloaded from.
    pub file: String,
    /// `sha256:<lower-case hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl BlobRef {
    /// The hex part of the digest.
    pub fn sha256_hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

impl Manifest {
    /// Writes the manifest atomically (a temporary file renamed over the old one), so a
    /// reader never sees half a manifest. Returns its path.
    pub fn write(&self, home: &HearthHome) -> Result<PathBuf, HubError> {
        let path = manifest_path(home, &self.name)?;
        let dir = path.parent().unwrap_or(home.root());
        std::fs::create_dir_all(dir).map_err(|e| HubError::io("create", dir, e))?;
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|source| HubError::CorruptManifest {
            path: path.clone(),
            source,
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()
        };
        write().map_err(|e| HubError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| HubError::io("rename", &tmp, e))?;
        Ok(path)
    }

    /// Reads the manifest of `name` (any spelling [`ModelRef::parse`] accepts);
    /// `Ok(None)` if there is none.
    pub fn read(home: &HearthHome, name: &str) -> Result<Option<Manifest>, HubError> {
        read_path(&manifest_path(home, name)?)
    }

    /// The path of the first blob, the one a loader opens (llama.cpp loads a split
    /// GGUF from its first part).
    pub fn first_blob_path(&self, home: &HearthHome) -> Option<PathBuf> {
        self.blobs.first().map(|b| home.blob_path(b.sha256_hex()))
    }
}

/// All manifests under `home` that can be read, sorted by name. Each one that cannot
/// (corrupt, or unreadable) is left out with a warning in the log: one damaged file
/// must not hide every other model.
pub fn list(home: &HearthHome) -> Result<Vec<Manifest>, HubError> {
    let (manifests, unreadable) = list_checked(home)?;
    for e in unreadable {
        tracing::warn!(error = %e, "skipping a manifest that cannot be read");
    }
    Ok(manifests)
}

/// All manifests under `home` that can be read, sorted by name, and an error for each
/// manifest file that cannot. An error of the whole is a directory that cannot be
/// listed.
pub fn list_checked(home: &HearthHome) -> Result<(Vec<Manifest>, Vec<HubError>), HubError> {
    let (mut out, mut unreadable) = (Vec::new(), Vec::new());
    for owner in subdirs(&home.manifests_dir())? {
        for repo in subdirs(&owner)? {
            let entries = std::fs::read_dir(&repo).map_err(|e| HubError::io("read", &repo, e))?;
            for entry in entries {
                let path = entry.map_err(|e| HubError::io("read", &repo, e))?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    match read_path(&path) {
                        Ok(manifest) => out.extend(manifest),
                        Err(e) => unreadable.push(e),
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, unreadable))
}

/// Deletes the manifest of `name` and every blob of it that no other manifest
/// references. Returns the removed manifest.
pub fn remove(home: &HearthHome, name: &str) -> Result<Manifest, HubError> {
    let path = manifest_path(home, name)?;
    let manifest = read_path(&path)?.ok_or_else(|| HubError::ModelNotFound {
        name: canonical(name),
    })?;
    std::fs::remove_file(&path).map_err(|e| HubError::io("remove", &path, e))?;
    let (others, unreadable) = list_checked(home)?;
    if !unreadable.is_empty() {
        // A manifest that cannot be read may share these blobs: keep them rather than
        // delete a model file that is still wanted.
        for e in unreadable {
            tracing::warn!(error = %e, model = %manifest.name, "kept the model's files: another manifest cannot be read");
        }
        return Ok(manifest);
    }
    let in_use: HashSet<String> = others
        .into_iter()
        .flat_map(|m| m.blobs.into_iter().map(|b| b.digest))
        .collect();
    for blob in &manifest.blobs {
        if in_use.contains(&blob.digest) {
            continue;
        }
        let hex = blob.sha256_hex();
        // Holding the blob's lock keeps us from deleting it under a pull that is
        // just finishing it.
        let _lock = BlobLock::acquire_blocking(home, &format!("sha256-{hex}"))?;
        let blob_path = home.blob_path(hex);
        match std::fs::remove_file(&blob_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(HubError::io("remove", &blob_path, e)),
        }
    }
    // Tidy empty directories; failure (not empty) is expected and harmless.
    if let Some(repo_dir) = path.parent() {
        let _ = std::fs::remove_dir(repo_dir);
        if let Some(owner_dir) = repo_dir.parent() {
            let _ = std::fs::remove_dir(owner_dir);
        }
    }
    Ok(manifest)
}

/// The file to load for `name`: its first blob. `Ok(None)` if no such model was
/// pulled; an error if the manifest is corrupt or its blob is gone.
pub fn resolve(home: &HearthHome, name: &str) -> Result<Option<PathBuf>, HubError> {
    let Some(manifest) = Manifest::read(home, name)? else {
        return Ok(None);
    };
    for blob in &manifest.blobs {
        if !home.blob_path(blob.sha256_hex()).is_file() {
            return Err(HubError::MissingBlob {
                name: manifest.name.clone(),
                digest: blob.digest.clone(),
            });
        }
    }
    Ok(manifest.first_blob_path(home))
}

fn manifest_path(home: &HearthHome, name: &str) -> Result<PathBuf, HubError> {
    let (owner, repo, tag) = ModelRef::parse(name)?.name_parts();
    Ok(home.manifest_path(&owner, &repo, &tag))
}

fn canonical(name: &str) -> String {
    ModelRef::parse(name).map_or_else(|_| name.to_string(), |r| r.name())
}

fn read_path(path: &Path) -> Result<Option<Manifest>, HubError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HubError::io("read", path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| HubError::CorruptManifest {
            path: path.to_path_buf(),
            source,
        })
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, HubError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HubError::io("read", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| HubError::io("read", dir, e))?.path();
        if path.is_dir() {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, digests: &[&str]) -> Manifest {
        Manifest {
            name: name.into(),
            source: Source {
                endpoint: "http://hub".into(),
                repo: "O/R".into(),
                revision: "abc".into(),
                files: digests.iter().map(|d| format!("{d}.gguf")).collect(),
            },
            blobs: digests
                .iter()
                .map(|d| BlobRef {
                    file: format!("{d}.gguf"),
                    digest: format!("sha256:{d}"),
                    size: 1,
                })
                .collect(),
            pulled_at: 1,
        }
    }

    fn touch_blobs(home: &HearthHome, digests: &[&str]) -> std::io::Result<()> {
        std::fs::create_dir_all(home.blobs_dir())?;
        for d in digests {
            std::fs::write(home.blob_path(d), b"x")?;
        }
        Ok(())
    }

    #[test]
    fn write_read_list_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let home = HearthHome::new(dir.path());
        let a = manifest("o/r:q8_0", &["aa"]);
        let b = manifest("o/r:q4_k_m", &["bb", "cc"]);
        a.write(&home)?;
        b.write(&home)?;
        assert_eq!(Manifest::read(&home, "O/R:Q8_0")?, Some(a.clone()));
        assert_eq!(Manifest::read(&home, "o/r:f16")?, None);
        assert_eq!(list(&home)?, vec![b, a]);
        Ok(())
    }

    #[test]
    fn remove_keeps_blobs_other_manifests_use() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let home = HearthHome::new(dir.path());
        touch_blobs(&home, &["aa", "bb", "cc"])?;
        manifest("o/r:q8_0", &["aa", "bb"]).write(&home)?;
        manifest("o/r2:q8_0", &["bb", "cc"]).write(&home)?;
        remove(&home, "o/r:q8_0")?;
        assert!(!home.blob_path("aa").exists());
        assert!(home.blob_path("bb").exists());
        remove(&home, "o/r2:q8_0")?;
        assert!(!home.blob_path("bb").exists() && !home.blob_path("cc").exists());
        assert!(list(&home)?.is_empty());
        assert!(matches!(
            remove(&home, "o/r2:q8_0"),
            Err(HubError::ModelNotFound { .. })
        ));
        Ok(())
    }

    #[test]
    fn resolve_gives_the_first_part_and_notices_missing_blobs()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let home = HearthHome::new(dir.path());
        manifest("o/r:q8_0", &["p1", "p2"]).write(&home)?;
        assert!(matches!(
            resolve(&home, "o/r:q8_0"),
            Err(HubError::MissingBlob { .. })
        ));
        touch_blobs(&home, &["p1", "p2"])?;
        assert_eq!(resolve(&home, "o/r:q8_0")?, Some(home.blob_path("p1")));
        assert_eq!(resolve(&home, "o/other")?, None);
        Ok(())
    }
}
