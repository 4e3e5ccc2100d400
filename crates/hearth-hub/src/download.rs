//! Downloading one file into a verified, content-addressed blob.
//!
//! Bytes go to `blobs/<key>.partial` and are hashed as they are written, so a
//! dropped connection, a stall or a cancelled pull loses nothing: the next attempt
//! asks for `Range: bytes=<partial length>-`. Only a file whose size and sha256
//! match what the hub announced is renamed to `blobs/sha256-<hex>`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::client::{HubClient, RepoFile};
use crate::error::HubError;
use crate::home::HearthHome;
use crate::lock::BlobLock;
use crate::manifest::BlobRef;
use crate::pull::Progress;

/// At most this many `Downloading` events per second.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// One file to fetch.
pub(crate) struct Fetch<'a> {
    pub client: &'a HubClient,
    pub home: &'a HearthHome,
    pub repo: &'a str,
    pub revision: &'a str,
    pub file: &'a RepoFile,
}

impl Fetch<'_> {
    /// Makes sure the file is a verified blob, downloading (or resuming) it if needed.
    pub(crate) async fn run(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BlobRef, HubError> {
        let expected = self.expected_sha256()?;
        if let Some(blob) = self.existing(expected) {
            self.report(blob.size, progress);
            return Ok(blob);
        }
        let key = self.key(expected);
        // Another pull (this process or another) may hold the blob; once it lets go
        // the blob is usually done and we skip the download.
        let _lock = BlobLock::acquire(self.home, &key).await?;
        if let Some(blob) = self.existing(expected) {
            self.report(blob.size, progress);
            return Ok(blob);
        }
        let dir = self.home.blobs_dir();
        std::fs::create_dir_all(&dir).map_err(|e| HubError::io("create", &dir, e))?;
        let partial = self.home.partial_path(&key);
        let mut round = 1;
        loop {
            match self.download_verified(&partial, expected, progress).await {
                Ok(hex) => {
                    let blob = self.home.blob_path(&hex);
                    std::fs::rename(&partial, &blob)
                        .map_err(|e| HubError::io("rename", &partial, e))?;
                    return Ok(self.blob_ref(&hex));
                }
                Err(e @ (HubError::Checksum { .. } | HubError::SizeMismatch { .. })) => {
                    // Never keep corrupt bytes: a resume would only extend them.
                    remove_if_exists(&partial)?;
                    if round == 2 {
                        return Err(e);
                    }
                    tracing::warn!(file = %self.file.path, error = %e, "corrupt download, starting over");
                    round += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Downloads into `partial` until it holds the whole file, retrying transient
    /// failures; returns the sha256 hex of the content after checking it.
    async fn download_verified(
        &self,
        partial: &Path,
        expected: Option<&str>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<String, HubError> {
        let size = self.file.size;
        let mut part = Partial::open(partial, size).await?;
        let policy = self.client.config().retry;
        let mut failures = 0;
        while part.len < size {
            let before = part.len;
            let err = match self.transfer(&mut part, progress).await {
                Ok(()) if part.len == size => break,
                Ok(()) => HubError::Incomplete {
                    file: self.file.path.clone(),
                    received: part.len,
                    expected: size,
                },
                Err(e) => e,
            };
            if !err.is_transient() {
                return Err(err);
            }
            // Attempts count only while no bytes arrive: a slow, flaky connection
            // that keeps making progress is never given up on.
            if part.len > before {
                failures = 0;
            }
            failures += 1;
            if failures >= policy.max_attempts.max(1) {
                return Err(err);
            }
            let wait = policy.backoff(failures);
            tracing::warn!(file = %self.file.path, error = %err, attempt = failures, ?wait, "download failed, retrying");
            tokio::time::sleep(wait).await;
        }
        progress(Progress::Verifying {
            file: self.file.path.clone(),
        });
        let actual = part.finish()?;
        match expected {
            Some(expected) if expected != actual => Err(HubError::Checksum {
                file: self.file.path.clone(),
                expected: expected.to_string(),
                actual,
            }),
            _ => Ok(actual),
        }
    }

    /// One HTTP request: appends what arrives to `part` until the body ends.
    async fn transfer(
        &self,
        part: &mut Partial,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), HubError> {
        let (resp, start) = self
            .client
            .open_download(self.repo, self.revision, &self.file.path, part.len)
            .await?;
        if start == 0 && part.len > 0 {
            tracing::info!(file = %self.file.path, "server ignored the range, starting over");
            part.reset()?;
        }
        let url = resp.url().to_string();
        let stall = self.client.config().stall_timeout;
        let mut body = resp.bytes_stream();
        self.report(part.len, progress);
        let mut throttle = Throttle {
            last: Some(Instant::now()),
        };
        loop {
            let next = tokio::time::timeout(stall, body.next())
                .await
                .map_err(|_| HubError::Stalled {
                    file: self.file.path.clone(),
                    timeout: stall,
                })?;
            let chunk = match next {
                None => return Ok(()),
                Some(Err(source)) => return Err(HubError::Network { url, source }),
                Some(Ok(chunk)) => chunk,
            };
            let received = part.len + chunk.len() as u64;
            if received > self.file.size {
                return Err(HubError::SizeMismatch {
                    file: self.file.path.clone(),
                    expected: self.file.size,
                    actual: received,
                });
            }
            part.append(&chunk)?;
            if throttle.ready() || part.len == self.file.size {
                self.report(part.len, progress);
            }
        }
    }

    fn report(&self, completed: u64, progress: &mut dyn FnMut(Progress)) {
        progress(Progress::Downloading {
            file: self.file.path.clone(),
            completed,
            total: self.file.size,
        });
    }

    /// The hub's sha256 for the file, checked to be 64 hex digits (it becomes part of
    /// a path, so a hostile server must not smuggle `../` in).
    fn expected_sha256(&self) -> Result<Option<&str>, HubError> {
        match self.file.sha256.as_deref() {
            Some(hex) if is_hex(hex, 64) => Ok(Some(hex)),
            Some(hex) => Err(HubError::BadResponse {
                url: self.client.config().endpoint.clone(),
                reason: format!("`{hex}` is not a sha256 for `{}`", self.file.path),
            }),
            None => Ok(None),
        }
    }

    /// The name of the partial file and lock: the sha256 when known, else the git
    /// object id (files stored outside LFS are small and rare for GGUF).
    fn key(&self, expected: Option<&str>) -> String {
        match expected {
            Some(hex) => format!("sha256-{hex}"),
            None if is_hex(&self.file.git_oid, self.file.git_oid.len().max(1)) => {
                format!("git-{}", self.file.git_oid)
            }
            None => {
                let id = Sha256::digest(format!("{}/{}", self.repo, self.file.path));
                format!("path-{}", hex(&id))
            }
        }
    }

    /// A verified blob already on disk, if any (same sha256 and size).
    fn existing(&self, expected: Option<&str>) -> Option<BlobRef> {
        let hex = expected?;
        let meta = std::fs::metadata(self.home.blob_path(hex)).ok()?;
        (meta.len() == self.file.size).then(|| self.blob_ref(hex))
    }

    fn blob_ref(&self, hex: &str) -> BlobRef {
        BlobRef {
            file: self.file.path.clone(),
            digest: format!("sha256:{hex}"),
            size: self.file.size,
        }
    }
}

/// A partial download: the open file, its length and the hash of its bytes so far.
struct Partial {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
}

impl Partial {
    /// Opens (or creates) the partial file and hashes the bytes already in it, on a
    /// blocking thread since that may be gigabytes. A file longer than `size` cannot
    /// be a prefix of the right content and is emptied.
    async fn open(path: &Path, size: u64) -> Result<Self, HubError> {
        let path = path.to_path_buf();
        let task_path = path.clone();
        tokio::task::spawn_blocking(move || {
            let path = task_path;
            let open = || -> std::io::Result<Partial> {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)?;
                if file.metadata()?.len() > size {
                    file.set_len(0)?;
                }
                let mut hasher = Sha256::new();
                let mut len = 0u64;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    len += n as u64;
                }
                Ok(Partial {
                    path: path.clone(),
                    file,
                    hasher,
                    len,
                })
            };
            open().map_err(|e| HubError::io("open", &path, e))
        })
        .await
        .map_err(|e| HubError::io("open", path, std::io::Error::other(e)))?
    }

    /// Appends bytes. A plain blocking write: chunks are small and land in the page
    /// cache, and it keeps the file consistent if the future is dropped mid-way.
    fn append(&mut self, bytes: &[u8]) -> Result<(), HubError> {
        self.file
            .write_all(bytes)
            .map_err(|e| HubError::io("write", &self.path, e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn reset(&mut self) -> Result<(), HubError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| HubError::io("truncate", &self.path, e))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// Flushes to disk and returns the sha256 hex of the content.
    fn finish(self) -> Result<String, HubError> {
        self.file
            .sync_all()
            .map_err(|e| HubError::io("sync", &self.path, e))?;
        Ok(hex(&self.hasher.finalize()))
    }
}

/// Lets through at most one event per [`PROGRESS_INTERVAL`].
struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    fn ready(&mut self) -> bool {
        let now = Instant::now();
        let ready = self
            .last
            .is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL);
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

fn remove_if_exists(path: &Path) -> Result<(), HubError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HubError::io("remove", path, e)),
        _ => Ok(()),
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
