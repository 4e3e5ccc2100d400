//! [`HubError`]: everything that can go wrong while resolving, pulling or managing models.

use std::path::PathBuf;
use std::time::Duration;

/// An error from the model store. Messages are meant for users; [`HubError::hint`]
/// adds a next step where one helps.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The model reference could not be parsed.
    #[error("invalid model reference `{input}`: {reason}")]
    InvalidReference {
        /// What the user typed.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No GGUF file in the repository matches the requested quantization.
    #[error(
        "no GGUF file for quant `{quant}` in `{repo}`{}",
        list_suffix("available quants", available)
    )]
    QuantNotFound {
        /// The repository, as `owner/repo`.
        repo: String,
        /// The requested quantization.
        quant: String,
        /// Quantizations found in the repository's file names.
        available: Vec<String>,
    },
    /// The requested `:FILE.gguf` is not in the repository.
    #[error(
        "file `{file}` not found in `{repo}`{}",
        list_suffix("GGUF files", available)
    )]
    FileNotFound {
        /// The repository, as `owner/repo`.
        repo: String,
        /// The requested file.
        file: String,
        /// GGUF files that do exist.
        available: Vec<String>,
    },
    /// A split GGUF is missing one of its parts.
    #[error("split GGUF `{file}` in `{repo}` is missing part {part} of {count}")]
    IncompleteSplit {
        /// The repository, as `owner/repo`.
        repo: String,
        /// The first file of the split.
        file: String,
        /// The missing part number (1-based).
        part: u32,
        /// How many parts the file names announce.
        count: u32,
    },
    /// The hub answered 404 for a repository, revision or file.
    #[error("`{what}` not found on `{endpoint}`")]
    NotFound {
        /// The repository, revision or file that was asked for.
        what: String,
        /// The hub endpoint.
        endpoint: String,
    },
    /// The hub refused access (401/403): a private or gated repository.
    #[error("access to `{repo}` denied by `{endpoint}` (HTTP {status})")]
    Unauthorized {
        /// The repository, as `owner/repo`.
        repo: String,
        /// The hub endpoint.
        endpoint: String,
        /// 401 or 403.
        status: u16,
    },
    /// Any other unexpected HTTP status.
    #[error("HTTP {status} from `{url}`")]
    Http {
        /// The requested URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection failed, was reset or timed out.
    #[error("network error talking to `{url}`")]
    Network {
        /// The requested URL.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The server sent no bytes for longer than the stall timeout.
    #[error("download of `{file}` stalled: no data for {timeout:?}")]
    Stalled {
        /// The file being downloaded.
        file: String,
        /// The configured stall timeout.
        timeout: Duration,
    },
    /// The server closed the body before the whole file arrived.
    #[error("download of `{file}` ended early at {received} of {expected} bytes")]
    Incomplete {
        /// The file being downloaded.
        file: String,
        /// Bytes on disk so far.
        received: u64,
        /// The size the hub announced.
        expected: u64,
    },
    /// The downloaded bytes do not match the hub's sha256.
    #[error("checksum mismatch for `{file}`: expected sha256 `{expected}`, got `{actual}`")]
    Checksum {
        /// The file being downloaded.
        file: String,
        /// The LFS sha256 announced by the hub.
        expected: String,
        /// The sha256 of what arrived.
        actual: String,
    },
    /// More bytes arrived than the hub announced.
    #[error("size mismatch for `{file}`: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The file being downloaded.
        file: String,
        /// The size announced by the hub.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// `HF_ENDPOINT` is not a usable base URL.
    #[error("invalid hub endpoint `{endpoint}`")]
    InvalidEndpoint {
        /// The configured endpoint.
        endpoint: String,
    },
    /// The hub's answer could not be understood.
    #[error("unexpected response from `{url}`: {reason}")]
    BadResponse {
        /// The requested URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A local file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest on disk is not valid JSON of the expected shape.
    #[error("manifest `{path}` is corrupt")]
    CorruptManifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// No manifest exists under this name.
    #[error("model `{name}` not found")]
    ModelNotFound {
        /// The canonical model name.
        name: String,
    },
    /// A manifest names a blob that is not on disk.
    #[error("blob `{digest}` of model `{name}` is missing")]
    MissingBlob {
        /// The canonical model name.
        name: String,
        /// The missing blob's digest, `sha256:<hex>`.
        digest: String,
    },
    /// Neither `HEARTH_HOME` nor a platform data directory is available.
    #[error("cannot find a data directory for Hearth")]
    NoHome,
}

fn list_suffix(label: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("; {label}: {}", items.join(", "))
    }
}

impl HubError {
    /// The message followed by its causes, `error: cause: cause…`, as `{:#}` prints an
    /// `anyhow` chain: for places that keep only a string.
    pub fn with_causes(&self) -> String {
        error_chain(self)
    }

    /// A next step for the user, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            HubError::InvalidReference { .. } => Some(
                "use `owner/repo`, `owner/repo:QUANT` (e.g. `:Q4_K_M`) or `owner/repo:FILE.gguf`"
                    .into(),
            ),
            HubError::QuantNotFound {
                repo, available, ..
            } => available
                .first()
                .map(|q| format!("pick one of the available quants, e.g. `{repo}:{q}`")),
            // The hub also answers 401 for repositories that do not exist, so that
            // private names do not leak: the hint covers both.
            HubError::Unauthorized { .. } => Some(
                "check the repository name; if it is private or gated, accept its terms \
                 on the hub and set `HF_TOKEN` to an access token"
                    .into(),
            ),
            HubError::InvalidEndpoint { .. } => {
                Some("set `HF_ENDPOINT` to a URL like `https://huggingface.co`".into())
            }
            HubError::NotFound { .. } => {
                Some("check the spelling of the repository, revision and file".into())
            }
            HubError::Network { .. } | HubError::Stalled { .. } | HubError::Incomplete { .. } => {
                Some("check the network connection and run the pull again: it resumes".into())
            }
            HubError::Checksum { .. } | HubError::SizeMismatch { .. } => Some(
                "the download was corrupted twice and has been discarded; try again later".into(),
            ),
            HubError::MissingBlob { .. } => Some("pull the model again".into()),
            HubError::NoHome => Some("set `HEARTH_HOME` to a writable directory".into()),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed (5xx, 429, network trouble,
    /// stalls, a body cut short).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            HubError::Http { status, .. } => *status >= 500 || *status == 429,
            // A bad URL or a redirect loop will not fix itself.
            HubError::Network { source, .. } => !source.is_builder() && !source.is_redirect(),
            HubError::Stalled { .. } | HubError::Incomplete { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        HubError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// `error: cause: cause…` for any error.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
