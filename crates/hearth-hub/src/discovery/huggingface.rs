//! The Hugging Face hub cache: `models--OWNER--REPO/snapshots/REV/**/*.gguf`, each a
//! symlink into `../../blobs/`.
//!
//! Within a repository a file is listed once: the snapshot `refs/main` points at comes
//! first, then the others in name order; a path already seen in an earlier snapshot,
//! or a blob already seen under another path, is not listed again (an older revision
//! of a file that `main` also has is an outdated copy, not another model).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::walk::{Found, broken, gguf_files};
use super::{Candidate, Scan, Source};

/// Scans one hub cache folder.
pub(crate) fn scan(root: &Path, max_depth: usize, scan: &mut Scan) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut repos: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((repo_id(&name)?, e.path()))
        })
        .collect();
    repos.sort();
    for (repo, dir) in repos {
        scan_repo(&repo, &dir, max_depth, scan);
    }
}

/// `owner/repo` from a cache folder name `models--owner--repo`; `None` for datasets,
/// spaces and anything else.
pub(crate) fn repo_id(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix("models--")?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.split_once("--") {
        Some((owner, repo)) => format!("{owner}/{repo}"),
        None => rest.to_owned(),
    })
}

fn scan_repo(repo: &str, dir: &Path, max_depth: usize, scan: &mut Scan) {
    let main = fs::read_to_string(dir.join("refs").join("main"))
        .ok()
        .map(|s| s.trim().to_owned());
    let Ok(entries) = fs::read_dir(dir.join("snapshots")) else {
        return;
    };
    let mut revisions: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    // `main` first, then the rest in name order.
    revisions.sort_by_key(|rev| (Some(rev) != main.as_ref(), rev.clone()));

    let mut seen_paths: HashSet<PathBuf> = HashSet::new();
    let mut seen_blobs: HashSet<PathBuf> = HashSet::new();
    for revision in revisions {
        let snapshot = dir.join("snapshots").join(&revision);
        let source = || Source::HuggingFace {
            repo: repo.to_owned(),
            revision: revision.clone(),
        };
        for found in gguf_files(&snapshot, max_depth) {
            let path = match found {
                Found::File(path) => path,
                Found::Broken(path, error) => {
                    let rel = path.strip_prefix(&snapshot).unwrap_or(&path).to_owned();
                    if seen_paths.insert(rel) {
                        scan.skipped.push(broken(path, source(), &error));
                    }
                    continue;
                }
            };
            let rel = path.strip_prefix(&snapshot).unwrap_or(&path).to_owned();
            let blob = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let new_path = seen_paths.insert(rel);
            let new_blob = seen_blobs.insert(blob);
            if new_path && new_blob {
                scan.candidates.push(Candidate::file(path, source()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_come_from_model_folders_only() {
        assert_eq!(
            repo_id("models--Qwen--Qwen2.5-0.5B-GGUF").as_deref(),
            Some("Qwen/Qwen2.5-0.5B-GGUF")
        );
        assert_eq!(repo_id("models--gpt2").as_deref(), Some("gpt2"));
        assert_eq!(repo_id("datasets--a--b"), None);
        assert_eq!(repo_id("models--"), None);
        assert_eq!(repo_id(".locks"), None);
    }
}
