//! Hearth's own store as a discovery source: every pulled model under its manifest
//! name, and the list of found files the user asked Hearth to forget.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Candidate, Scan, SkipKind, Skipped, Source};
use crate::error::{HubError, error_chain};
use crate::home::HearthHome;
use crate::manifest;

/// Proposes each pulled model, named by its manifest.
pub(crate) fn scan(home: &HearthHome, scan: &mut Scan) {
    let (manifests, unreadable) = match manifest::list_checked(home) {
        Ok(listing) => listing,
        Err(e) => {
            tracing::warn!(home = %home.root().display(), error = %e, "cannot list pulled models");
            return;
        }
    };
    for e in unreadable {
        scan.skipped.push(unreadable_manifest(e));
    }
    for m in manifests {
        let source = Source::Hearth {
            repo: m.source.repo.clone(),
            revision: m.source.revision.clone(),
        };
        let Some(path) = m.first_blob_path(home) else {
            continue;
        };
        if !path.is_file() {
            scan.skipped.push(Skipped {
                path,
                source,
                kind: SkipKind::Unreadable,
                reason: format!("the blob of `{}` is missing; pull it again", m.name),
            });
            continue;
        }
        scan.candidates.push(Candidate {
            name: Some(m.name.clone()),
            ..Candidate::file(path, source)
        });
    }
}

const FORGOTTEN: &str = "forgotten.json";

/// Files found on disk that the user removed from Hearth's list; they stay where
/// they are, Hearth just no longer offers them.
pub fn forgotten(home: &HearthHome) -> BTreeSet<PathBuf> {
    let path = home.root().join(FORGOTTEN);
    std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Adds `file` to the forgotten list (written atomically).
pub fn forget(home: &HearthHome, file: &Path) -> Result<(), HubError> {
    let mut set = forgotten(home);
    set.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()));
    std::fs::create_dir_all(home.root()).map_err(|e| HubError::io("create", home.root(), e))?;
    let path = home.root().join(FORGOTTEN);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(&set).unwrap_or_default();
    std::fs::write(&tmp, bytes).map_err(|e| HubError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| HubError::io("rename", &tmp, e))
}

/// Whether `file` (or what it links to) is on the forgotten list.
pub(crate) fn is_forgotten(set: &BTreeSet<PathBuf>, file: &Path) -> bool {
    !set.is_empty()
        && (set.contains(file) || std::fs::canonicalize(file).is_ok_and(|real| set.contains(&real)))
}

/// A manifest that cannot be read, as a skipped entry naming the repository its
/// directories give and how to recover.
fn unreadable_manifest(e: HubError) -> Skipped {
    let path = match &e {
        HubError::CorruptManifest { path, .. } | HubError::Io { path, .. } => path.clone(),
        _ => PathBuf::new(),
    };
    let dir_name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let repo_dir = path.parent();
    let repo = format!(
        "{}/{}",
        dir_name(repo_dir.and_then(Path::parent)),
        dir_name(repo_dir)
    );
    let reason = format!("{}; pull the model again to rewrite it", error_chain(&e));
    Skipped {
        path,
        source: Source::Hearth {
            repo,
            revision: String::new(),
        },
        kind: SkipKind::Unreadable,
        reason,
    }
}
