//! Split GGUF file names: `STEM-00001-of-00003.gguf` (llama.cpp's `gguf-split`).

use std::path::Path;

/// A split part's place: `stem` without the suffix, its 1-based `part` and `count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitName {
    pub stem: String,
    pub part: u32,
    pub count: u32,
}

/// The split suffix of `path`'s file name, if it has one (five digits each, as
/// `gguf-split` writes them; `count` at least 2 and `part` within it).
pub(crate) fn split_name(path: &Path) -> Option<SplitName> {
    let stem = path.file_stem()?.to_str()?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (stem, part) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(part) || !digits(count) || stem.is_empty() {
        return None;
    }
    let (part, count) = (part.parse().ok()?, count.parse().ok()?);
    (count >= 2 && (1..=count).contains(&part)).then(|| SplitName {
        stem: stem.to_owned(),
        part,
        count,
    })
}

/// The name a file proposes: its stem in lower case, without a split suffix.
pub(crate) fn stem_name(path: &Path) -> String {
    match split_name(path) {
        Some(split) => split.stem.to_lowercase(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_suffixes_are_recognised() {
        assert_eq!(
            split_name(Path::new("d/Big-Q4_K_M-00002-of-00003.gguf")),
            Some(SplitName {
                stem: "Big-Q4_K_M".to_owned(),
                part: 2,
                count: 3
            })
        );
        assert_eq!(split_name(Path::new("model-1-of-3.gguf")), None);
        assert_eq!(split_name(Path::new("model-00004-of-00003.gguf")), None);
        assert_eq!(split_name(Path::new("model-00001-of-00001.gguf")), None);
        assert_eq!(split_name(Path::new("model.gguf")), None);
    }

    #[test]
    fn names_are_lower_case_stems_without_split_suffix() {
        assert_eq!(
            stem_name(Path::new("a/Qwen2.5-0.5B-Q4_K_M.gguf")),
            "qwen2.5-0.5b-q4_k_m"
        );
        assert_eq!(stem_name(Path::new("Big-00001-of-00002.gguf")), "big");
    }
}
