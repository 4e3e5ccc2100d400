//! [`ModelRef`]: what the user asks to pull, e.g. `bartowski/Qwen2.5-0.5B-GGUF:Q4_K_M`.

use std::fmt;

use crate::error::HubError;
use crate::select::quant_of;

/// The quantization pulled when a reference names none (Ollama's default too).
pub const DEFAULT_QUANT: &str = "q4_k_m";

/// The revision pulled when a reference names none.
pub const DEFAULT_REVISION: &str = "main";

/// Which file(s) of a repository a reference asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A quantization tag, stored lower case (matching is case-insensitive).
    Quant(String),
    /// An explicit file path inside the repository, as typed (ends in `.gguf`).
    File(String),
}

/// A parsed model reference: `OWNER/REPO[@REVISION][:QUANT|:FILE.gguf]`, optionally
/// prefixed by `hf.co/` or `huggingface.co/` (with or without `https://`), as Ollama
/// accepts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    owner: String,
    repo: String,
    revision: Option<String>,
    selector: Selector,
}

impl ModelRef {
    /// Parses a reference; bad input is an [`HubError::InvalidReference`].
    pub fn parse(input: &str) -> Result<Self, HubError> {
        let bad = |reason: &str| HubError::InvalidReference {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let mut s = input.trim();
        for scheme in ["https://", "http://"] {
            s = s.strip_prefix(scheme).unwrap_or(s);
        }
        for host in ["hf.co/", "huggingface.co/", "www.huggingface.co/"] {
            s = s.strip_prefix(host).unwrap_or(s);
        }
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        // The selector follows the first `:`; a revision (which may hold `/`, as in
        // `refs/pr/1`) sits between `@` and that `:`.
        let (head, selector) = match s.split_once(':') {
            Some((head, sel)) => (head, Some(sel)),
            None => (s, None),
        };
        let (path, revision) = match head.split_once('@') {
            Some((path, rev)) => (path, Some(rev)),
            None => (head, None),
        };
        let (owner, repo) = path
            .split_once('/')
            .ok_or_else(|| bad("expected `owner/repo`"))?;
        if repo.contains('/') {
            return Err(bad("expected exactly one `/` between owner and repo"));
        }
        for (what, part) in [("owner", owner), ("repo", repo)] {
            if part.is_empty() {
                return Err(bad(&format!("the {what} is empty")));
            }
            if !part.chars().all(is_name_char) || part.starts_with(['.', '-']) {
                return Err(bad(&format!(
                    "the {what} `{part}` may only hold letters, digits, `-`, `_` and `.`"
                )));
            }
        }
        let revision = match revision {
            None => None,
            Some("") => return Err(bad("the revision after `@` is empty")),
            Some(rev)
                if rev.contains("..") || !rev.chars().all(|c| is_name_char(c) || c == '/') =>
            {
                return Err(bad(&format!("the revision `{rev}` is not valid")));
            }
            Some(rev) => Some(rev.to_string()),
        };
        let selector = match selector {
            // Ollama spells "no tag" as `:latest`.
            None => Selector::Quant(DEFAULT_QUANT.to_string()),
            Some(sel) if sel.eq_ignore_ascii_case("latest") => {
                Selector::Quant(DEFAULT_QUANT.to_string())
            }
            Some("") => return Err(bad("nothing after `:`; give a quant like `Q4_K_M`")),
            Some(sel) if sel.to_ascii_lowercase().ends_with(".gguf") => {
                if sel.split('/').any(|seg| seg.is_empty() || seg == "..") {
                    return Err(bad(&format!("the file `{sel}` is not a valid path")));
                }
                Selector::File(sel.to_string())
            }
            Some(sel) if sel.chars().all(is_name_char) && !sel.starts_with(['.', '-']) => {
                Selector::Quant(sel.to_ascii_lowercase())
            }
            Some(sel) => {
                return Err(bad(&format!(
                    "`{sel}` is neither a quant (like `Q4_K_M`) nor a `.gguf` file"
                )));
            }
        };
        Ok(ModelRef {
            owner: owner.to_string(),
            repo: repo.to_string(),
            revision,
            selector,
        })
    }

    /// The repository as typed, `owner/repo` (case kept: the hub is case-insensitive
    /// but reports it this way in the manifest).
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// The requested revision, if any.
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// The requested revision, `main` if none.
    pub fn revision_or_default(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// Which file(s) the reference asks for.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The tag part of the canonical name: the quant in lower case; for a
    /// `:FILE.gguf` reference the quant found in the file name, else its stem.
    pub fn tag(&self) -> String {
        match &self.selector {
            Selector::Quant(q) => q.clone(),
            Selector::File(file) => {
                let base = file.rsplit('/').next().unwrap_or(file);
                let tag = quant_of(base).unwrap_or_else(|| {
                    let stem = base.get(..base.len() - ".gguf".len()).unwrap_or(base);
                    stem.to_string()
                });
                // Keep the tag parseable as part of a name, whatever the file is called.
                tag.chars()
                    .map(|c| {
                        if is_name_char(c) {
                            c.to_ascii_lowercase()
                        } else {
                            '-'
                        }
                    })
                    .collect()
            }
        }
    }

    /// The canonical name of the pulled model: `owner/repo:tag`, all lower case.
    pub fn name(&self) -> String {
        format!(
            "{}/{}:{}",
            self.owner.to_ascii_lowercase(),
            self.repo.to_ascii_lowercase(),
            self.tag()
        )
    }

    /// The pieces of [`ModelRef::name`]: owner, repo and tag, lower case.
    pub fn name_parts(&self) -> (String, String, String) {
        (
            self.owner.to_ascii_lowercase(),
            self.repo.to_ascii_lowercase(),
            self.tag(),
        )
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_repo_defaults_to_q4_k_m_on_main() -> Result<(), HubError> {
        let r = ModelRef::parse("Bartowski/Qwen2.5-0.5B-GGUF")?;
        assert_eq!(r.repo_id(), "Bartowski/Qwen2.5-0.5B-GGUF");
        assert_eq!(r.revision_or_default(), "main");
        assert_eq!(r.selector(), &Selector::Quant("q4_k_m".into()));
        assert_eq!(r.name(), "bartowski/qwen2.5-0.5b-gguf:q4_k_m");
        Ok(())
    }

    #[test]
    fn quant_is_case_insensitive_and_lower_cased_in_the_name() -> Result<(), HubError> {
        let a = ModelRef::parse("o/r:Q8_0")?;
        let b = ModelRef::parse("o/r:q8_0")?;
        assert_eq!(a, b);
        assert_eq!(a.name(), "o/r:q8_0");
        Ok(())
    }

    #[test]
    fn file_selector_keeps_case_and_names_by_its_quant() -> Result<(), HubError> {
        let r = ModelRef::parse("o/r:Model-Q5_K_S.gguf")?;
        assert_eq!(r.selector(), &Selector::File("Model-Q5_K_S.gguf".into()));
        assert_eq!(r.name(), "o/r:q5_k_s");
        let plain = ModelRef::parse("o/r:sub/Weights.GGUF")?;
        assert_eq!(plain.name(), "o/r:weights");
        let odd = ModelRef::parse("o/r:my+model.gguf")?;
        assert_eq!(ModelRef::parse(&odd.name())?.name(), "o/r:my-model");
        Ok(())
    }

    #[test]
    fn revision_comes_before_the_selector() -> Result<(), HubError> {
        let r = ModelRef::parse("o/r@refs/pr/3:IQ4_XS")?;
        assert_eq!(r.revision(), Some("refs/pr/3"));
        assert_eq!(r.name(), "o/r:iq4_xs");
        let r = ModelRef::parse("o/r@abc123")?;
        assert_eq!(r.revision(), Some("abc123"));
        assert_eq!(r.selector(), &Selector::Quant(DEFAULT_QUANT.into()));
        Ok(())
    }

    #[test]
    fn ollama_hf_prefixes_are_accepted() -> Result<(), HubError> {
        for input in [
            "hf.co/Owner/Repo:Q4_K_M",
            "huggingface.co/Owner/Repo:Q4_K_M",
            "https://huggingface.co/Owner/Repo:q4_k_m",
            "hf.co/Owner/Repo:latest",
            "hf.co/Owner/Repo",
        ] {
            let r = ModelRef::parse(input)?;
            assert_eq!(r.repo_id(), "Owner/Repo", "{input}");
            assert_eq!(r.name(), "owner/repo:q4_k_m", "{input}");
        }
        Ok(())
    }

    #[test]
    fn bad_references_are_typed_errors() {
        for input in [
            "",
            "   ",
            "justrepo",
            "/repo",
            "owner/",
            "a/b/c",
            "o/r:",
            "o/r@:Q4_0",
            "o/r:Q4 K",
            "o/r:../x.gguf",
            "o/r@../x",
            "o w/r",
            "-o/r",
        ] {
            match ModelRef::parse(input) {
                Err(HubError::InvalidReference { input: got, .. }) => assert_eq!(got, input),
                other => panic!("`{input}` gave {other:?}"),
            }
        }
    }
}
