//! [`HubClient`]: the few calls of the Hugging Face hub API a pull needs.
//!
//! `GET {endpoint}/api/models/{repo}/tree/{rev}?recursive=true` lists files (with the
//! LFS sha256), `GET {endpoint}/api/models/{repo}/revision/{rev}` gives the commit sha,
//! and `GET {endpoint}/{repo}/resolve/{rev}/{file}` downloads (usually a redirect to a
//! CDN, which reqwest follows; it drops the token on cross-host redirects).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, LINK, RANGE};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

use crate::error::HubError;

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How a pull talks to the hub.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of a Hugging Face compatible hub, without a trailing slash.
    pub endpoint: String,
    /// Bearer token for private or gated repositories.
    pub token: Option<String>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// A download that receives no bytes for this long is abandoned and retried.
    pub stall_timeout: Duration,
    /// Limit on establishing a TCP/TLS connection.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    /// The public hub, no token, default retries and a 30 s stall timeout.
    fn default() -> Self {
        ClientConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token: None,
            retry: RetryPolicy::default(),
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

impl ClientConfig {
    /// The defaults, with `HF_ENDPOINT` from the environment and the token the
    /// Hugging Face tools use (see [`token_from`]).
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let mut config = ClientConfig::default();
        if let Some(endpoint) = var("HF_ENDPOINT") {
            config.endpoint = endpoint.trim().trim_end_matches('/').to_string();
        }
        config.token = token_from(var, |path| std::fs::read_to_string(path).ok());
        config
    }
}

/// The access token as `huggingface_hub` finds it: `HF_TOKEN`, else the file at
/// `HF_TOKEN_PATH`, else `token` in `HF_HOME` (by default `$XDG_CACHE_HOME/huggingface`
/// or `~/.cache/huggingface`), where `huggingface-cli login` saves it. `var` reads a
/// non-empty environment variable, `read` a file.
pub fn token_from(
    var: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> Option<String>,
) -> Option<String> {
    let non_empty = |t: String| Some(t.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(token) = var("HF_TOKEN") {
        return non_empty(token);
    }
    let path = match var("HF_TOKEN_PATH") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = var("HF_HOME").map(PathBuf::from).or_else(|| {
                let cache = var("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))?;
                Some(cache.join("huggingface"))
            })?;
            home.join("token")
        }
    };
    read(&path).and_then(non_empty)
}

/// Exponential backoff for transient failures (5xx, resets, timeouts, stalls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in a row without progress before giving up (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Upper bound on one wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, waiting 0.5 s, 1 s, 2 s, … up to 8 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// One file of a repository listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repository, `/`-separated.
    pub path: String,
    /// Size in bytes (of the LFS object when there is one).
    pub size: u64,
    /// Lower-case hex sha256 of the content, known for LFS files.
    pub sha256: Option<String>,
    /// The git object id (sha1 of the git blob); names partial downloads of
    /// files without a sha256.
    pub git_oid: String,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    lfs: Option<LfsInfo>,
}

#[derive(Deserialize)]
struct LfsInfo {
    oid: String,
    size: u64,
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: String,
}

/// An HTTP client for one hub endpoint.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    config: ClientConfig,
}

impl HubClient {
    /// A client; fails only if the TLS backend cannot be set up.
    pub fn new(config: ClientConfig) -> Result<Self, HubError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|source| HubError::Network {
                url: config.endpoint.clone(),
                source,
            })?;
        Ok(HubClient { http, config })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// All files of `repo` (`owner/repo`) at `revision`, following pagination.
    pub async fn list_files(&self, repo: &str, revision: &str) -> Result<Vec<RepoFile>, HubError> {
        let mut url = self.url(&["api", "models"], repo, &["tree", revision], "")?;
        url.set_query(Some("recursive=true"));
        let mut files = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let resp = self.get(url.clone(), None).await?;
            let resp = self.check(resp, repo, &format!("{repo}@{revision}"))?;
            next = next_link(&resp);
            let entries: Vec<TreeEntry> = resp.json().await.map_err(|e| HubError::BadResponse {
                url: url.to_string(),
                reason: format!("the file list is not the expected JSON ({e})"),
            })?;
            files.extend(entries.into_iter().filter(|e| e.kind == "file").map(|e| {
                let (size, sha256) = match e.lfs {
                    Some(lfs) => (lfs.size, Some(lfs.oid.to_ascii_lowercase())),
                    None => (e.size, None),
                };
                RepoFile {
                    path: e.path,
                    size,
                    sha256,
                    git_oid: e.oid,
                }
            }));
        }
        Ok(files)
    }

    /// The commit sha that `revision` points at, or `None` if the hub does not say
    /// (the caller then records the requested revision).
    pub async fn commit_sha(&self, repo: &str, revision: &str) -> Option<String> {
        let url = self
            .url(&["api", "models"], repo, &["revision", revision], "")
            .ok()?;
        let resp = self.get(url, None).await.ok()?;
        if !resp.status().is_success() {
            tracing::debug!(repo, revision, status = %resp.status(), "no commit sha from the hub");
            return None;
        }
        let info: RevisionInfo = resp.json().await.ok()?;
        Some(info.sha).filter(|s| !s.is_empty())
    }

    /// Starts downloading `file` from byte `offset`. Returns the response and the
    /// offset its body starts at: `offset` for a 206, 0 when the server ignored the
    /// range and sent the whole file (200).
    pub(crate) async fn open_download(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        offset: u64,
    ) -> Result<(Response, u64), HubError> {
        let url = self.url(&[], repo, &["resolve", revision], file)?;
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        // The stall timeout also bounds the wait for the response headers.
        let resp = tokio::time::timeout(self.config.stall_timeout, self.get(url.clone(), range))
            .await
            .map_err(|_| HubError::Stalled {
                file: file.to_string(),
                timeout: self.config.stall_timeout,
            })??;
        let resp = self.check(resp, repo, &format!("{repo}/{file}"))?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = content_range_start(&resp);
                if start != Some(offset) {
                    return Err(HubError::BadResponse {
                        url: url.to_string(),
                        reason: format!("asked for bytes from {offset}, got range {start:?}"),
                    });
                }
                Ok((resp, offset))
            }
            _ => Ok((resp, 0)),
        }
    }

    async fn get(&self, url: Url, range: Option<String>) -> Result<Response, HubError> {
        let mut req = self.http.get(url.clone());
        if let Some(token) = &self.config.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(range) = range {
            req = req.header(RANGE, range);
        }
        req.send().await.map_err(|source| HubError::Network {
            url: url.to_string(),
            source,
        })
    }

    /// Maps failure statuses to errors users understand.
    fn check(&self, resp: Response, repo: &str, what: &str) -> Result<Response, HubError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let endpoint = self.config.endpoint.clone();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => HubError::Unauthorized {
                repo: repo.to_string(),
                endpoint,
                status: status.as_u16(),
            },
            StatusCode::NOT_FOUND => HubError::NotFound {
                what: what.to_string(),
                endpoint,
            },
            _ => HubError::Http {
                url: resp.url().to_string(),
                status: status.as_u16(),
            },
        })
    }

    /// `{endpoint}/{prefix..}/{owner}/{repo}/{suffix..}/{file path}`, each piece
    /// percent-encoded as one segment (so a revision like `refs/pr/1` stays one).
    fn url(
        &self,
        prefix: &[&str],
        repo: &str,
        suffix: &[&str],
        file: &str,
    ) -> Result<Url, HubError> {
        let invalid = || HubError::InvalidEndpoint {
            endpoint: self.config.endpoint.clone(),
        };
        let mut url = Url::parse(&self.config.endpoint).map_err(|_| invalid())?;
        {
            let mut segs = url.path_segments_mut().map_err(|_| invalid())?;
            segs.pop_if_empty();
            segs.extend(prefix);
            segs.extend(repo.split('/'));
            segs.extend(suffix);
            segs.extend(file.split('/').filter(|s| !s.is_empty()));
        }
        Ok(url)
    }
}

/// The `rel="next"` URL of a paginated listing, if any.
fn next_link(resp: &Response) -> Option<Url> {
    let link = resp.headers().get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then_some(())?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        resp.url().join(target).ok()
    })
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(resp: &Response) -> Option<u64> {
    let value = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// [`token_from`] over the variables `vars` and the files `files`.
    fn token(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Option<String> {
        let vars: HashMap<_, _> = vars.iter().copied().collect();
        let files: HashMap<_, _> = files.iter().copied().collect();
        token_from(
            |name| vars.get(name).map(|v| v.to_string()),
            |path| files.get(path.to_str()?).map(|t| t.to_string()),
        )
    }

    #[test]
    fn the_token_comes_from_the_variable_then_the_files_the_hub_tools_write() {
        let saved = [("/h/.cache/huggingface/token", "hf_saved\n")];
        assert_eq!(
            token(&[("HF_TOKEN", " hf_env ")], &saved).as_deref(),
            Some("hf_env")
        );
        assert_eq!(
            token(&[("HOME", "/h")], &saved).as_deref(),
            Some("hf_saved")
        );
        let xdg = [("/x/huggingface/token", "hf_xdg")];
        let vars = [("HOME", "/h"), ("XDG_CACHE_HOME", "/x")];
        assert_eq!(token(&vars, &xdg).as_deref(), Some("hf_xdg"));
        let vars = [("HOME", "/h"), ("HF_HOME", "/hf")];
        assert_eq!(
            token(&vars, &[("/hf/token", "hf_home")]).as_deref(),
            Some("hf_home")
        );
        let vars = [("HF_HOME", "/hf"), ("HF_TOKEN_PATH", "/t")];
        let files = [("/hf/token", "hf_home"), ("/t", "hf_path")];
        assert_eq!(token(&vars, &files).as_deref(), Some("hf_path"));
        // No file, an empty one, or no home at all: no token.
        assert_eq!(token(&[("HOME", "/h")], &[]), None);
        assert_eq!(
            token(&[("HOME", "/h")], &[("/h/.cache/huggingface/token", " \n")]),
            None
        );
        assert_eq!(token(&[], &saved), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(5), Duration::from_secs(8));
        assert_eq!(p.backoff(40), Duration::from_secs(8));
    }

    #[test]
    fn urls_encode_revisions_and_files_per_segment() -> Result<(), HubError> {
        let client = HubClient::new(ClientConfig {
            endpoint: "http://h:1/mirror/".into(),
            ..ClientConfig::default()
        })?;
        let url = client.url(&[], "o/r", &["resolve", "refs/pr/1"], "d/a b.gguf")?;
        assert_eq!(
            url.as_str(),
            "http://h:1/mirror/o/r/resolve/refs%2Fpr%2F1/d/a%20b.gguf"
        );
        Ok(())
    }
}
