use std::path::PathBuf;

/// The real models the test suite runs, as fetched by `scripts/fetch-test-models.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealModel {
    SmolLm2,
    Gemma3,
    Qwen2,
}

impl RealModel {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::SmolLm2 => "SmolLM2-135M-Instruct.Q4_1.gguf",
            Self::Gemma3 => "gemma-3-270m-Q4_K_M.gguf",
            Self::Qwen2 => "qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf",
        }
    }

    /// The name `scripts/fetch-test-models.sh` takes.
    pub fn script_name(self) -> &'static str {
        match self {
            Self::SmolLm2 => "smollm2",
            Self::Gemma3 => "gemma3",
            Self::Qwen2 => "qwen2",
        }
    }
}

/// Path of a real test model, or `None` (with a note on stderr) when it is not fetched.
///
/// With `HEARTH_REQUIRE_TEST_MODELS=1` (set by the test script and CI) a missing model
/// panics instead, so a suite that was meant to run real models cannot pass without them.
pub fn real_model(model: RealModel) -> Option<PathBuf> {
    let dir = std::env::var_os("HEARTH_TEST_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("hearth").join("test-models"))
        })?;
    let path = dir.join(model.file_name());
    if path.is_file() {
        return Some(path);
    }
    let required = std::env::var("HEARTH_REQUIRE_TEST_MODELS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "test model `{}` is missing; run `scripts/fetch-test-models.sh {}`",
        path.display(),
        model.script_name()
    );
    eprintln!(
        "skipping: test model `{}` not fetched (scripts/fetch-test-models.sh {})",
        path.display(),
        model.script_name()
    );
    None
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the test-support crate lives two levels below the repository root")
}
