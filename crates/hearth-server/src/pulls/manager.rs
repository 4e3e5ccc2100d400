//! The pull jobs of a running server: started, joined, watched, cancelled, resumed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hearth_protocol::ModelPool;
use hearth_store::{PullJob, PullStatus, Store};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::{ModelSource, PullPhase, PullProgress, SourceError};
use crate::ApiError;

/// How often a running job's progress is written to the database.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// A job and, while it runs, its latest progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobUpdate {
    #[serde(flatten)]
    pub job: PullJob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<PullProgress>,
}

/// A progress report and the byte counts of the pull so far.
#[derive(Clone)]
struct Reported {
    progress: PullProgress,
    bytes: (u64, Option<u64>),
}

struct Live {
    updates: watch::Sender<JobUpdate>,
    task: AbortHandle,
}

/// Runs pull jobs in the background and offers each pulled model to the pool.
pub struct PullManager {
    store: Store,
    source: Arc<dyn ModelSource>,
    pool: Arc<dyn ModelPool>,
    live: Mutex<HashMap<String, Live>>,
}

impl std::fmt::Debug for PullManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullManager").finish_non_exhaustive()
    }
}

impl PullManager {
    pub fn new(store: Store, source: Arc<dyn ModelSource>, pool: Arc<dyn ModelPool>) -> Arc<Self> {
        Arc::new(Self {
            store,
            source,
            pool,
            live: Mutex::new(HashMap::new()),
        })
    }

    pub fn source(&self) -> &dyn ModelSource {
        self.source.as_ref()
    }

    /// Starts pulling `reference`, or joins the unfinished job for the same model.
    pub async fn start(self: &Arc<Self>, reference: &str) -> Result<PullJob, ApiError> {
        let name = self
            .source
            .canonical_name(reference)
            .map_err(|e| ApiError::invalid("model", e.to_string()))?;
        if let Some(job) = self
            .store
            .pulls()
            .active_for(&name)
            .await
            .map_err(internal)?
            && self.is_live(&job.id)
        {
            return Ok(job);
        }
        let job = self
            .store
            .pulls()
            .create(reference, &name)
            .await
            .map_err(internal)?;
        self.spawn(job.clone());
        Ok(job)
    }

    /// Restarts the jobs a previous run left unfinished; they resume from their
    /// partial files.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, ApiError> {
        let jobs = self.store.pulls().unfinished().await.map_err(internal)?;
        let count = jobs.len();
        for job in jobs {
            tracing::info!(job = %job.id, model = %job.name, "resuming a pull");
            self.spawn(job);
        }
        Ok(count)
    }

    pub async fn get(&self, id: &str) -> Result<PullJob, ApiError> {
        self.store
            .pulls()
            .get(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::NotFound(format!("/v1/pulls/{id}")))
    }

    pub async fn list(&self) -> Result<Vec<PullJob>, ApiError> {
        self.store.pulls().list().await.map_err(internal)
    }

    /// Updates of a job: the current state at once, then every change until it ends.
    /// A finished job yields its final state only.
    pub async fn watch(&self, id: &str) -> Result<watch::Receiver<JobUpdate>, ApiError> {
        if let Some(live) = self.lock().get(id) {
            return Ok(live.updates.subscribe());
        }
        let job = self.get(id).await?;
        Ok(watch::channel(JobUpdate {
            job,
            progress: None,
        })
        .1)
    }

    /// Cancels a job; what has been downloaded stays for a later pull to resume.
    pub async fn cancel(&self, id: &str) -> Result<PullJob, ApiError> {
        let live = self.lock().remove(id);
        if let Some(live) = &live {
            live.task.abort();
        }
        self.store
            .pulls()
            .set_status(id, PullStatus::Cancelled, None)
            .await
            .map_err(internal)?;
        let job = self.get(id).await?;
        if let Some(live) = live {
            live.updates.send_replace(JobUpdate {
                job: job.clone(),
                progress: None,
            });
        }
        Ok(job)
    }

    fn is_live(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(self: &Arc<Self>, job: PullJob) {
        let (updates, _) = watch::channel(JobUpdate {
            job: job.clone(),
            progress: None,
        });
        let mut live = self.lock();
        let manager = Arc::clone(self);
        let sender = updates.clone();
        let task = tokio::spawn(async move { manager.run(job, sender).await });
        live.insert(
            task_id_of(&updates),
            Live {
                updates,
                task: task.abort_handle(),
            },
        );
    }

    async fn run(self: Arc<Self>, mut job: PullJob, updates: watch::Sender<JobUpdate>) {
        let pulls = self.store.pulls();
        if let Err(e) = pulls.set_status(&job.id, PullStatus::Running, None).await {
            tracing::warn!(job = %job.id, error = %e, "cannot record a pull as running");
        }
        job.status = PullStatus::Running;
        let (progress_tx, mut progress_rx) = watch::channel(None::<Reported>);
        let mut bytes = (job.completed_bytes, job.total_bytes);
        let report = Box::new(move |p: PullProgress| {
            // Byte counts come from download reports only; the other steps carry none.
            if p.phase == PullPhase::Downloading {
                bytes = (p.completed, p.total);
            }
            progress_tx.send_replace(Some(Reported { progress: p, bytes }));
        });
        let reference = job.reference.clone();
        let pull = self.source.pull(&reference, report);
        tokio::pin!(pull);
        let mut persist = tokio::time::interval(PERSIST_EVERY);
        let outcome = loop {
            tokio::select! {
                outcome = &mut pull => break outcome,
                Ok(()) = progress_rx.changed() => {
                    let reported = progress_rx.borrow_and_update().clone();
                    let progress = reported.map(|r| {
                        (job.completed_bytes, job.total_bytes) = r.bytes;
                        r.progress
                    });
                    updates.send_replace(JobUpdate { job: job.clone(), progress });
                }
                _ = persist.tick() => {
                    let _ = pulls.progress(&job.id, job.completed_bytes, job.total_bytes).await;
                }
            }
        };
        // The last report may have arrived with the result, unseen by the loop.
        if let Some(r) = progress_rx.borrow().as_ref() {
            (job.completed_bytes, job.total_bytes) = r.bytes;
        }
        let _ = pulls
            .progress(&job.id, job.completed_bytes, job.total_bytes)
            .await;
        let (status, error) = match outcome.map_err(|e| e.to_string()).and_then(|path| {
            self.pool
                .add(&job.name, path)
                .map_err(|e| format!("the pulled file is not a servable model: {e}"))
        }) {
            Ok(_) => (PullStatus::Done, None),
            Err(message) => (PullStatus::Failed, Some(message)),
        };
        match &error {
            None => tracing::info!(job = %job.id, model = %job.name, "pull finished"),
            Some(e) => tracing::warn!(job = %job.id, model = %job.name, error = %e, "pull failed"),
        }
        let _ = pulls.set_status(&job.id, status, error.as_deref()).await;
        let final_job = pulls.get(&job.id).await.ok().flatten().unwrap_or(job);
        self.lock().remove(&final_job.id);
        let progress = (status == PullStatus::Done).then_some(PullProgress {
            phase: PullPhase::Done,
            file: None,
            digest: None,
            completed: final_job.completed_bytes,
            total: final_job.total_bytes,
        });
        updates.send_replace(JobUpdate {
            job: final_job,
            progress,
        });
    }
}

fn task_id_of(updates: &watch::Sender<JobUpdate>) -> String {
    updates.borrow().job.id.clone()
}

fn internal(e: hearth_store::StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::BadReference(m) => ApiError::invalid("model", m),
            SourceError::NotFound(m) => ApiError::ModelNotFound(m),
            SourceError::Failed(m) => ApiError::Unavailable(m),
        }
    }
}
