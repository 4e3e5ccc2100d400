//! [`HearthHome`]: where Hearth keeps blobs, manifests, locks and its database.

use std::path::{Path, PathBuf};

use crate::error::HubError;

/// The root of Hearth's data: `HEARTH_HOME`, or `<platform data dir>/hearth`.
///
/// Layout: `blobs/sha256-<hex>` (verified content), `blobs/sha256-<hex>.partial`
/// (a download in progress, kept for resume), `manifests/<owner>/<repo>/<tag>.json`,
/// `locks/<key>.lock`, `hearth.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HearthHome {
    root: PathBuf,
}

impl HearthHome {
    /// A home at an explicit directory (created lazily, when something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HearthHome { root: root.into() }
    }

    /// `HEARTH_HOME` if set and non-empty, else the platform data dir + `hearth`.
    pub fn from_env() -> Result<Self, HubError> {
        match std::env::var_os("HEARTH_HOME") {
            Some(dir) if !dir.is_empty() => Ok(Self::new(dir)),
            _ => dirs::data_dir()
                .map(|d| Self::new(d.join("hearth")))
                .ok_or(HubError::NoHome),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// `blobs/sha256-<hex>`: a verified blob.
    pub fn blob_path(&self, sha256_hex: &str) -> PathBuf {
        self.blobs_dir().join(format!("sha256-{sha256_hex}"))
    }

    /// `blobs/<key>.partial`: a download in progress. `key` is `sha256-<hex>` when the
    /// hub gave the sha256, else a name derived from the git object id.
    pub fn partial_path(&self, key: &str) -> PathBuf {
        self.blobs_dir().join(format!("{key}.partial"))
    }

    /// `manifests/`.
    pub fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    /// `manifests/<owner>/<repo>/<tag>.json` for the lower-case name parts.
    pub fn manifest_path(&self, owner: &str, repo: &str, tag: &str) -> PathBuf {
        self.manifests_dir()
            .join(owner)
            .join(repo)
            .join(format!("{tag}.json"))
    }

    /// `locks/`.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// `locks/<key>.lock`: held while a blob is downloaded or deleted.
    pub fn lock_path(&self, key: &str) -> PathBuf {
        self.locks_dir().join(format!("{key}.lock"))
    }

    /// `hearth.db`: the SQLite database (owned by `hearth-store`).
    pub fn db_path(&self) -> PathBuf {
        self.root.join("hearth.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_design() {
        let home = HearthHome::new("/h");
        assert_eq!(home.blob_path("ab"), Path::new("/h/blobs/sha256-ab"));
        assert_eq!(
            home.partial_path("sha256-ab"),
            Path::new("/h/blobs/sha256-ab.partial")
        );
        assert_eq!(
            home.manifest_path("o", "r", "q4_k_m"),
            Path::new("/h/manifests/o/r/q4_k_m.json")
        );
        assert_eq!(
            home.lock_path("sha256-ab"),
            Path::new("/h/locks/sha256-ab.lock")
        );
        assert_eq!(home.db_path(), Path::new("/h/hearth.db"));
    }
}
