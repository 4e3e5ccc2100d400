//! Bounded recursive search for `*.gguf` files, and the plain-folder sources (LM Studio
//! and local folders) built on it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Candidate, Scan, SkipKind, Skipped, Source};

/// Whether `path` names a GGUF file (`.gguf`, any case).
pub(crate) fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
}

/// A `.gguf` path found by [`gguf_files`]: either a readable file or a link to nothing.
pub(crate) enum Found {
    File(PathBuf),
    Broken(PathBuf, std::io::Error),
}

/// The `*.gguf` files under `root`, at most `max_depth` folders down, in a
/// deterministic order (sorted by name at each level). Hidden entries are ignored.
/// Symlinked folders are followed, but each real folder is visited once, so links
/// cannot loop. A missing or unreadable `root` yields nothing.
pub(crate) fn gguf_files(root: &Path, max_depth: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    visit(root, max_depth, &mut visited, &mut found);
    found
}

fn visit(dir: &Path, depth_left: usize, visited: &mut HashSet<PathBuf>, out: &mut Vec<Found>) {
    let Ok(real) = fs::canonicalize(dir) else {
        return;
    };
    if !visited.insert(real) {
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::debug!(dir = %dir.display(), %error, "discovery: cannot read folder");
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        // `fs::metadata` follows links: a snapshot symlink reports its blob.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                if depth_left > 0 {
                    visit(&path, depth_left - 1, visited, out);
                }
            }
            Ok(meta) if meta.is_file() && is_gguf(&path) => out.push(Found::File(path)),
            Ok(_) => {}
            Err(error) if is_gguf(&path) => out.push(Found::Broken(path, error)),
            Err(_) => {}
        }
    }
}

/// Scans a plain folder: every `*.gguf` below it is a candidate named after its stem.
/// `source` builds the source from the path relative to `root`.
pub(crate) fn scan_folder(
    root: &Path,
    max_depth: usize,
    scan: &mut Scan,
    source: impl Fn(&Path) -> Source,
) {
    for found in gguf_files(root, max_depth) {
        match found {
            Found::File(path) => {
                let src = source(path.strip_prefix(root).unwrap_or(&path));
                scan.candidates.push(Candidate::file(path, src));
            }
            Found::Broken(path, error) => {
                let src = source(path.strip_prefix(root).unwrap_or(&path));
                scan.skipped.push(broken(path, src, &error));
            }
        }
    }
}

/// The skip entry for a `.gguf` path that cannot be followed (e.g. a dangling link).
pub(crate) fn broken(path: PathBuf, source: Source, error: &std::io::Error) -> Skipped {
    Skipped {
        reason: format!("cannot read `{}`: {error}", path.display()),
        path,
        source,
        kind: SkipKind::Unreadable,
    }
}

/// `publisher/repo` for LM Studio's `PUBLISHER/REPO/FILE.gguf` layout (relative path).
pub(crate) fn publisher_repo(rel: &Path) -> Option<String> {
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    match parts.as_slice() {
        [publisher, repo, _, ..] => Some(format!("{publisher}/{repo}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_extension_is_case_insensitive() {
        assert!(is_gguf(Path::new("a/b.GGUF")));
        assert!(is_gguf(Path::new("b.gguf")));
        assert!(!is_gguf(Path::new("b.gguf.part")));
        assert!(!is_gguf(Path::new("gguf")));
    }

    #[test]
    fn publisher_repo_needs_two_folders() {
        assert_eq!(
            publisher_repo(Path::new("lmstudio-community/Qwen-GGUF/q.gguf")).as_deref(),
            Some("lmstudio-community/Qwen-GGUF")
        );
        assert_eq!(publisher_repo(Path::new("loose/q.gguf")), None);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folder_loops_are_visited_once() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = dir.path().join("a");
        fs::create_dir(&a)?;
        fs::write(a.join("m.gguf"), b"x")?;
        std::os::unix::fs::symlink(dir.path(), a.join("loop"))?;
        let files: Vec<PathBuf> = gguf_files(dir.path(), 10)
            .into_iter()
            .filter_map(|f| match f {
                Found::File(p) => Some(p),
                Found::Broken(..) => None,
            })
            .collect();
        assert_eq!(files, [a.join("m.gguf")]);
        Ok(())
    }

    #[test]
    fn depth_limit_is_respected() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let deep = dir.path().join("1/2/3");
        fs::create_dir_all(&deep)?;
        fs::write(deep.join("m.gguf"), b"x")?;
        assert_eq!(gguf_files(dir.path(), 2).len(), 0);
        assert_eq!(gguf_files(dir.path(), 3).len(), 1);
        Ok(())
    }
}
