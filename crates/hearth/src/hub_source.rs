//! The hub client as the server's [`ModelSource`]: pulls into Hearth's store, and
//! deletes pulled models or forgets discovered ones.

use std::path::PathBuf;

use hearth_hub::{HearthHome, HubError, Manifest, ModelRef, Progress, Puller};
use hearth_protocol::BoxFuture;
use hearth_server::pulls::{Deleted, ModelSource, PullPhase, PullProgress, SourceError};

use crate::catalog::{self, Removal};

pub struct HubSource {
    puller: Puller,
}

impl HubSource {
    pub fn new(puller: Puller) -> Self {
        Self { puller }
    }

    fn home(&self) -> &HearthHome {
        self.puller.home()
    }
}

impl ModelSource for HubSource {
    fn canonical_name(&self, reference: &str) -> Result<String, SourceError> {
        ModelRef::parse(reference)
            .map(|r| r.name())
            .map_err(|e| SourceError::BadReference(e.to_string()))
    }

    fn pull<'a>(
        &'a self,
        reference: &'a str,
        mut progress: Box<dyn FnMut(PullProgress) + Send + 'a>,
    ) -> BoxFuture<'a, Result<PathBuf, SourceError>> {
        Box::pin(async move {
            let model =
                ModelRef::parse(reference).map_err(|e| SourceError::BadReference(e.to_string()))?;
            let (updates, mut progress_rx) = tokio::sync::mpsc::unbounded_channel();
            let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
            let mut done = pull_on_own_thread(self.puller.clone(), model, updates, cancelled);
            let manifest = loop {
                tokio::select! {
                    Some(p) = progress_rx.recv() => progress(pull_progress(p)),
                    result = &mut done => {
                        break result
                            .map_err(|_| SourceError::Failed("the download thread stopped".into()))??;
                    }
                }
            };
            drop(cancel);
            manifest
                .first_blob_path(self.home())
                .ok_or_else(|| SourceError::Failed(format!("`{}` has no files", manifest.name)))
        })
    }

    fn delete(&self, name: &str) -> Result<Deleted, SourceError> {
        Ok(
            match catalog::remove(self.home(), name).map_err(source_error)? {
                Removal::Deleted { .. } => Deleted::Removed,
                Removal::Forgotten { .. } => Deleted::Forgotten,
                Removal::NotFound => Deleted::NotFound,
            },
        )
    }
}

/// Runs a pull on a thread with its own runtime: the hub client's progress callback
/// is not `Send`, and the server's jobs run on a multi-threaded runtime. Dropping
/// `cancel`'s sender stops the pull, leaving its partial files for a resume.
fn pull_on_own_thread(
    puller: Puller,
    model: ModelRef,
    updates: tokio::sync::mpsc::UnboundedSender<Progress>,
    cancel: tokio::sync::oneshot::Receiver<()>,
) -> tokio::sync::oneshot::Receiver<Result<Manifest, SourceError>> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let message = format!("cannot start the download runtime: {e}");
                let _ = done.send(Err(SourceError::Failed(message)));
                return;
            }
        };
        runtime.block_on(async move {
            let pull = puller.pull(&model, |p| {
                let _ = updates.send(p);
            });
            tokio::select! {
                result = pull => {
                    let _ = done.send(result.map_err(source_error));
                }
                _ = cancel => {}
            }
        });
    });
    result
}

fn pull_progress(p: Progress) -> PullProgress {
    let (phase, file, completed, total) = match p {
        Progress::Resolving { .. } => (PullPhase::Resolving, None, 0, None),
        Progress::Downloading {
            file,
            completed,
            total,
        } => (PullPhase::Downloading, Some(file), completed, Some(total)),
        Progress::Verifying { file } => (PullPhase::Verifying, Some(file), 0, None),
        Progress::Done { .. } => (PullPhase::Done, None, 0, None),
    };
    PullProgress {
        phase,
        digest: file.clone(),
        file,
        completed,
        total,
    }
}

/// The error and its causes on one line, with the hint where there is one.
fn source_error(e: HubError) -> SourceError {
    let mut message = e.with_causes();
    if let Some(hint) = e.hint() {
        message.push_str(&format!(" ({hint})"));
    }
    match e {
        HubError::InvalidReference { .. } => SourceError::BadReference(message),
        HubError::NotFound { .. }
        | HubError::QuantNotFound { .. }
        | HubError::FileNotFound { .. }
        | HubError::ModelNotFound { .. } => SourceError::NotFound(message),
        _ => SourceError::Failed(message),
    }
}
