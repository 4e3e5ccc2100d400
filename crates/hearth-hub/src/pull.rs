//! [`Puller`]: resolve a [`ModelRef`], download its files, write its manifest.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::client::{ClientConfig, HubClient, RetryPolicy};
use crate::download::Fetch;
use crate::error::HubError;
use crate::home::HearthHome;
use crate::manifest::{Manifest, Source};
use crate::reference::ModelRef;
use crate::select::select_files;

/// What a pull is doing, for progress bars and for streaming to API clients (it
/// serializes as `{"status":"downloading","file":…,"completed":…,"total":…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Progress {
    /// Listing the repository and choosing files.
    Resolving {
        /// The canonical model name.
        name: String,
    },
    /// Bytes of one file on disk so far (at most ~10 events a second per file;
    /// the last one has `completed == total`).
    Downloading {
        /// The repository path of the file.
        file: String,
        /// Bytes on disk, counting a resumed partial download.
        completed: u64,
        /// The file's size in bytes.
        total: u64,
    },
    /// The whole file arrived; its sha256 is being checked.
    Verifying {
        /// The repository path of the file.
        file: String,
    },
    /// The manifest is written; the model can be used under `name`.
    Done {
        /// The canonical model name.
        name: String,
    },
}

/// Pulls models from one hub into one [`HearthHome`].
#[derive(Debug, Clone)]
pub struct Puller {
    home: HearthHome,
    client: HubClient,
}

impl Puller {
    /// A puller for `home` talking to the hub described by `config`.
    pub fn new(home: HearthHome, config: ClientConfig) -> Result<Self, HubError> {
        Ok(Puller {
            home,
            client: HubClient::new(config)?,
        })
    }

    /// The home models are pulled into.
    pub fn home(&self) -> &HearthHome {
        &self.home
    }

    /// Pulls `model`: lists the repository, picks the GGUF file(s), downloads each
    /// into a verified blob (skipping blobs already present, resuming partial ones)
    /// and writes the manifest.
    ///
    /// Cancel by dropping the future: partial downloads stay on disk and the next
    /// pull resumes them.
    pub async fn pull(
        &self,
        model: &ModelRef,
        mut progress: impl FnMut(Progress),
    ) -> Result<Manifest, HubError> {
        let name = model.name();
        progress(Progress::Resolving { name: name.clone() });
        let repo = model.repo_id();
        let requested = model.revision_or_default();
        let policy = self.client.config().retry;
        let (files, sha) = tokio::join!(
            retry(policy, || self.client.list_files(&repo, requested)),
            self.client.commit_sha(&repo, requested),
        );
        let files = files?;
        let picked = select_files(&repo, &files, model.selector())?;
        // Download by commit sha when we have it, so all parts of a split model come
        // from the same commit even if the branch moves meanwhile.
        let revision = sha.unwrap_or_else(|| requested.to_string());
        let mut blobs = Vec::with_capacity(picked.len());
        for file in &picked {
            let fetch = Fetch {
                client: &self.client,
                home: &self.home,
                repo: &repo,
                revision: &revision,
                file,
            };
            blobs.push(fetch.run(&mut progress).await?);
        }
        let manifest = Manifest {
            name: name.clone(),
            source: Source {
                endpoint: self.client.config().endpoint.clone(),
                repo,
                revision,
                files: picked.iter().map(|f| f.path.clone()).collect(),
            },
            blobs,
            pulled_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        manifest.write(&self.home)?;
        tracing::info!(name, "pulled");
        progress(Progress::Done { name });
        Ok(manifest)
    }
}

/// Runs `op` until it succeeds, fails for good, or runs out of attempts.
async fn retry<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, HubError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HubError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                let wait = policy.backoff(attempt);
                tracing::warn!(error = %e, attempt, ?wait, "hub request failed, retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_serializes_with_a_status_tag() -> Result<(), serde_json::Error> {
        let p = Progress::Downloading {
            file: "m.gguf".into(),
            completed: 1,
            total: 2,
        };
        assert_eq!(
            serde_json::to_string(&p)?,
            r#"{"status":"downloading","file":"m.gguf","completed":1,"total":2}"#
        );
        Ok(())
    }
}
