//! Choosing the GGUF file(s) of a repository that a [`Selector`] asks for.

use std::collections::BTreeSet;

use crate::client::RepoFile;
use crate::error::HubError;
use crate::reference::Selector;

/// Picks the files to pull from a repository listing, in download order.
///
/// A quant picks the GGUF whose name carries that quant token (case-insensitive;
/// an exact `-`/`.`-separated token wins over a looser match); a split GGUF
/// (`name-00001-of-00003.gguf`) yields all its parts in order. `:FILE.gguf` picks that
/// file (and the other parts if it is one part of a split). Multimodal projector
/// files (`mmproj`) are never picked by quant.
pub fn select_files<'a>(
    repo: &str,
    files: &'a [RepoFile],
    selector: &Selector,
) -> Result<Vec<&'a RepoFile>, HubError> {
    let ggufs: Vec<&RepoFile> = files.iter().filter(|f| is_gguf(&f.path)).collect();
    let first = match selector {
        Selector::File(wanted) => ggufs
            .iter()
            .find(|f| f.path == *wanted)
            .or_else(|| ggufs.iter().find(|f| f.path.eq_ignore_ascii_case(wanted)))
            .copied()
            .ok_or_else(|| HubError::FileNotFound {
                repo: repo.to_string(),
                file: wanted.clone(),
                available: ggufs.iter().map(|f| f.path.clone()).collect(),
            })?,
        Selector::Quant(quant) => {
            let candidates = ggufs.iter().filter(|f| !is_mmproj(&f.path));
            let best = candidates
                .filter_map(|f| match_rank(&f.path, quant).map(|rank| (rank, *f)))
                .min_by(|(ra, a), (rb, b)| {
                    let key = |f: &RepoFile| (f.path.matches('/').count(), f.path.len());
                    ra.cmp(rb)
                        .then(key(a).cmp(&key(b)))
                        .then(a.path.cmp(&b.path))
                });
            match best {
                Some((_, f)) => f,
                None => {
                    return Err(HubError::QuantNotFound {
                        repo: repo.to_string(),
                        quant: quant.to_ascii_uppercase(),
                        available: available_quants(files),
                    });
                }
            }
        }
    };
    split_group(repo, &ggufs, first)
}

/// The quants found in a repository's GGUF file names (upper case, sorted, unique).
pub fn available_quants(files: &[RepoFile]) -> Vec<String> {
    let set: BTreeSet<String> = files
        .iter()
        .filter(|f| is_gguf(&f.path) && !is_mmproj(&f.path))
        .filter_map(|f| quant_of(&f.path))
        .map(|q| q.to_ascii_uppercase())
        .collect();
    set.into_iter().collect()
}

/// The quant token of a GGUF file name, as written (e.g. `Q4_K_M` in
/// `Model-Q4_K_M.gguf`, `q8_0` in `dir/model.q8_0.gguf`), if there is one.
pub fn quant_of(path: &str) -> Option<String> {
    quant_tokens(path).pop()
}

/// If `path` is one part of a llama.cpp split GGUF (`prefix-00002-of-00003.gguf`):
/// the prefix (with its directory), the 1-based part and the count.
pub fn split_part(path: &str) -> Option<(&str, u32, u32)> {
    let stem = strip_gguf(path)?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, part) = rest.rsplit_once('-')?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let (part, count) = (number(part)?, number(count)?);
    (part >= 1 && part <= count).then_some((prefix, part, count))
}

/// Expands `first` into all parts of its split group, in order; a plain file stays alone.
fn split_group<'a>(
    repo: &str,
    ggufs: &[&'a RepoFile],
    first: &'a RepoFile,
) -> Result<Vec<&'a RepoFile>, HubError> {
    let Some((prefix, _, count)) = split_part(&first.path) else {
        return Ok(vec![first]);
    };
    let mut parts = Vec::with_capacity(count as usize);
    for part in 1..=count {
        let found = ggufs
            .iter()
            .find(|f| split_part(&f.path) == Some((prefix, part, count)))
            .ok_or_else(|| HubError::IncompleteSplit {
                repo: repo.to_string(),
                file: first.path.clone(),
                part,
                count,
            })?;
        parts.push(*found);
    }
    Ok(parts)
}

/// 0: the quant is one of the name's tokens; 1: it appears with looser separators.
fn match_rank(path: &str, quant: &str) -> Option<u8> {
    if quant_tokens(path)
        .iter()
        .any(|t| t.eq_ignore_ascii_case(quant))
    {
        return Some(0);
    }
    // Looser: `model_q4_k_m.gguf` style names, but the match must not be the start
    // of a longer quant (`q4_0` must not pick `q4_0_4_4`).
    let stem = base_stem(path).to_ascii_lowercase();
    let quant = quant.to_ascii_lowercase();
    stem.match_indices(&quant)
        .any(|(i, m)| {
            let before = stem[..i].chars().next_back();
            let after = stem[i + m.len()..].chars().next();
            before.is_none_or(|c| matches!(c, '-' | '.' | '_'))
                && after.is_none_or(|c| matches!(c, '-' | '.'))
        })
        .then_some(1)
}

/// Every quant-looking token of the file name, in order.
fn quant_tokens(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in base_stem(path).split(['-', '.']) {
        if is_quant_token(token) {
            out.push(token.to_string());
        } else if let Some(i) = token
            .match_indices('_')
            .map(|(i, _)| i + 1)
            .find(|&i| is_quant_token(&token[i..]))
        {
            out.push(token[i..].to_string());
        }
    }
    out
}

fn is_quant_token(token: &str) -> bool {
    let t = token.to_ascii_uppercase();
    if matches!(t.as_str(), "F16" | "F32" | "BF16" | "FP16" | "FP32" | "F64") || t == "MXFP4" {
        return true;
    }
    let rest = t
        .strip_prefix("IQ")
        .or_else(|| t.strip_prefix("TQ"))
        .or_else(|| t.strip_prefix('Q'));
    match rest {
        Some(rest) => {
            rest.starts_with(|c: char| c.is_ascii_digit())
                && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The file name without directory, `.gguf` and split suffix.
fn base_stem(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = strip_gguf(base).unwrap_or(base);
    match split_part(base) {
        Some((prefix, _, _)) => prefix,
        None => stem,
    }
}

fn strip_gguf(path: &str) -> Option<&str> {
    let cut = path.len().checked_sub(".gguf".len())?;
    let (stem, ext) = (path.get(..cut)?, path.get(cut..)?);
    ext.eq_ignore_ascii_case(".gguf").then_some(stem)
}

fn is_gguf(path: &str) -> bool {
    strip_gguf(path).is_some()
}

fn is_mmproj(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.to_ascii_lowercase().contains("mmproj")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(paths: &[&str]) -> Vec<RepoFile> {
        paths
            .iter()
            .map(|p| RepoFile {
                path: p.to_string(),
                size: 1,
                sha256: None,
                git_oid: String::new(),
            })
            .collect()
    }

    fn pick(paths: &[&str], selector: Selector) -> Result<Vec<String>, HubError> {
        let files = listing(paths);
        let picked = select_files("o/r", &files, &selector)?;
        Ok(picked.into_iter().map(|f| f.path.clone()).collect())
    }

    fn quant(q: &str) -> Selector {
        Selector::Quant(q.to_ascii_lowercase())
    }

    #[test]
    fn quant_matches_dash_and_dot_names_case_insensitively() -> Result<(), HubError> {
        let files = [
            "README.md",
            "model-Q4_K_M.gguf",
            "model-Q8_0.gguf",
            "other.q5_k_s.gguf",
        ];
        assert_eq!(pick(&files, quant("q4_k_m"))?, ["model-Q4_K_M.gguf"]);
        assert_eq!(pick(&files, quant("Q5_K_S"))?, ["other.q5_k_s.gguf"]);
        assert_eq!(
            pick(&["model_q6_k.gguf"], quant("Q6_K"))?,
            ["model_q6_k.gguf"]
        );
        Ok(())
    }

    #[test]
    fn exact_token_wins_over_a_longer_quant() -> Result<(), HubError> {
        let files = ["m-Q4_0_4_4.gguf", "m-Q4_0.gguf"];
        assert_eq!(pick(&files, quant("q4_0"))?, ["m-Q4_0.gguf"]);
        assert!(pick(&["m-Q4_0_4_4.gguf"], quant("q4_0")).is_err());
        Ok(())
    }

    #[test]
    fn mmproj_files_are_skipped() -> Result<(), HubError> {
        let files = ["mmproj-model-F16.gguf", "model-F16.gguf"];
        assert_eq!(pick(&files, quant("f16"))?, ["model-F16.gguf"]);
        Ok(())
    }

    #[test]
    fn no_match_lists_the_available_quants() {
        let files = ["a-Q8_0.gguf", "a-IQ4_XS.gguf", "a-Q8_0-00001-of-00002.gguf"];
        match pick(&files, quant("q4_k_m")) {
            Err(HubError::QuantNotFound {
                quant, available, ..
            }) => {
                assert_eq!(quant, "Q4_K_M");
                assert_eq!(available, ["IQ4_XS", "Q8_0"]);
            }
            other => panic!("expected QuantNotFound, got {other:?}"),
        }
    }

    #[test]
    fn split_gguf_yields_all_parts_in_order() -> Result<(), HubError> {
        let files = [
            "Q8_0/m-Q8_0-00003-of-00003.gguf",
            "Q8_0/m-Q8_0-00001-of-00003.gguf",
            "Q8_0/m-Q8_0-00002-of-00003.gguf",
            "m-Q4_K_M.gguf",
        ];
        let want = [
            "Q8_0/m-Q8_0-00001-of-00003.gguf",
            "Q8_0/m-Q8_0-00002-of-00003.gguf",
            "Q8_0/m-Q8_0-00003-of-00003.gguf",
        ];
        assert_eq!(pick(&files, quant("q8_0"))?, want);
        let by_file = Selector::File("Q8_0/m-Q8_0-00002-of-00003.gguf".into());
        assert_eq!(pick(&files, by_file)?, want);
        Ok(())
    }

    #[test]
    fn split_with_a_missing_part_is_an_error() {
        let files = ["m-Q8_0-00001-of-00002.gguf"];
        assert!(matches!(
            pick(&files, quant("q8_0")),
            Err(HubError::IncompleteSplit {
                part: 2,
                count: 2,
                ..
            })
        ));
    }

    #[test]
    fn file_selector_picks_that_file_or_lists_the_others() -> Result<(), HubError> {
        let files = ["a-Q8_0.gguf", "b.gguf"];
        assert_eq!(pick(&files, Selector::File("B.gguf".into()))?, ["b.gguf"]);
        match pick(&files, Selector::File("c.gguf".into())) {
            Err(HubError::FileNotFound { available, .. }) => {
                assert_eq!(available, ["a-Q8_0.gguf", "b.gguf"]);
            }
            other => panic!("expected FileNotFound, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn quant_of_reads_common_name_styles() {
        assert_eq!(
            quant_of("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf").as_deref(),
            Some("Q4_K_M")
        );
        assert_eq!(
            quant_of("gemma-3-270m-q4_k_m.gguf").as_deref(),
            Some("q4_k_m")
        );
        assert_eq!(
            quant_of("x/m.BF16-00001-of-00002.gguf").as_deref(),
            Some("BF16")
        );
        assert_eq!(quant_of("Qwen-7B.gguf"), None);
        assert_eq!(split_part("a/m-00002-of-00003.gguf"), Some(("a/m", 2, 3)));
        assert_eq!(split_part("m-00004-of-00003.gguf"), None);
    }
}
