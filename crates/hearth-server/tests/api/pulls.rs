//! Pull jobs over HTTP (`/v1/pulls`, Ollama's `/api/pull` and `/api/delete`) with a
//! scripted model source, a real SQLite store and a pool that records what it is given.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hearth_protocol::{
    BackendError, BoxFuture, KeepAlive, LoadedModel, ModelInfo, ModelPool, PoolStats,
};
use hearth_server::pulls::{
    Deleted, ModelSource, PullManager, PullPhase, PullProgress, SourceError,
};
use hearth_server::{AppState, ServerConfig};
use hearth_store::Store;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{FakeBackend, Script, TestResult, error_of, get, post_json, send};

/// Pulls that report progress, then wait for the test to let them finish.
struct ScriptedSource {
    gate: Semaphore,
    pulls: AtomicUsize,
    fail_with: Option<String>,
}

impl ScriptedSource {
    fn new(fail_with: Option<&str>) -> Arc<Self> {
        Arc::new(Self {
            gate: Semaphore::new(0),
            pulls: AtomicUsize::new(0),
            fail_with: fail_with.map(str::to_owned),
        })
    }

    fn finish_one(&self) {
        self.gate.add_permits(1);
    }
}

impl ModelSource for ScriptedSource {
    fn canonical_name(&self, reference: &str) -> Result<String, SourceError> {
        let reference = reference.trim_start_matches("hf.co/");
        if !reference.contains('/') {
            return Err(SourceError::BadReference(format!(
                "`{reference}` is not OWNER/REPO[:QUANT]"
            )));
        }
        let name = reference.to_lowercase();
        Ok(if name.contains(':') {
            name
        } else {
            format!("{name}:q4_k_m")
        })
    }

    fn pull<'a>(
        &'a self,
        _reference: &'a str,
        mut progress: Box<dyn FnMut(PullProgress) + Send + 'a>,
    ) -> BoxFuture<'a, Result<PathBuf, SourceError>> {
        Box::pin(async move {
            self.pulls.fetch_add(1, Ordering::SeqCst);
            let step = |phase, completed| PullProgress {
                phase,
                file: Some("model-Q4_K_M.gguf".into()),
                digest: Some(format!("sha256:{}", "ab".repeat(32))),
                completed,
                total: Some(100),
            };
            progress(step(PullPhase::Resolving, 0));
            progress(step(PullPhase::Downloading, 50));
            let permit = self.gate.acquire().await;
            drop(permit);
            progress(step(PullPhase::Downloading, 100));
            match &self.fail_with {
                Some(message) => Err(SourceError::Failed(message.clone())),
                None => Ok(PathBuf::from("/models/pulled.gguf")),
            }
        })
    }

    fn delete(&self, name: &str) -> Result<Deleted, SourceError> {
        Ok(if name.starts_with("owner/") {
            Deleted::Removed
        } else {
            Deleted::NotFound
        })
    }
}

/// A pool whose models are whatever it was given.
#[derive(Default)]
struct RecordingPool {
    models: Mutex<Vec<ModelInfo>>,
}

impl RecordingPool {
    fn names(&self) -> Vec<String> {
        self.models
            .lock()
            .expect("pool lock")
            .iter()
            .map(|m| m.name.clone())
            .collect()
    }
}

impl ModelPool for RecordingPool {
    fn models(&self) -> Vec<ModelInfo> {
        self.models.lock().expect("pool lock").clone()
    }

    fn load(&self, _: &str, _: Option<KeepAlive>) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async { Ok(()) })
    }

    fn unload(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }

    fn add(&self, name: &str, path: PathBuf) -> Result<ModelInfo, BackendError> {
        let info = ModelInfo {
            name: name.to_owned(),
            path,
            architecture: "llama".into(),
            n_ctx: 2048,
            size_bytes: 100,
            created: 0,
        };
        self.models.lock().expect("pool lock").push(info.clone());
        Ok(info)
    }

    fn remove(&self, name: &str) -> Result<(), BackendError> {
        let mut models = self.models.lock().expect("pool lock");
        let before = models.len();
        models.retain(|m| m.name != name);
        if models.len() == before {
            return Err(BackendError::ModelNotFound(name.to_owned()));
        }
        Ok(())
    }

    fn loaded(&self) -> Vec<LoadedModel> {
        Vec::new()
    }

    fn stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

struct Setup {
    app: Router,
    source: Arc<ScriptedSource>,
    pool: Arc<RecordingPool>,
    manager: Arc<PullManager>,
    _dir: tempfile::TempDir,
}

async fn setup(fail_with: Option<&str>) -> TestResult<Setup> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("hearth.db")).await?;
    let source = ScriptedSource::new(fail_with);
    let pool = Arc::new(RecordingPool::default());
    let manager = PullManager::new(store, source.clone(), pool.clone());
    let state = AppState::new(
        FakeBackend::new(Script::Tokens(vec![])),
        pool.clone(),
        ServerConfig::default(),
    )
    .with_pulls(manager.clone());
    Ok(Setup {
        app: hearth_server::app(state),
        source,
        pool,
        manager,
        _dir: dir,
    })
}

/// The `progress` events of a job's event stream, read to its end.
async fn events(app: Router, id: &str) -> TestResult<Vec<Value>> {
    let reply = send(app, get(&format!("/v1/pulls/{id}/events"))?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    reply.sse_json()
}

fn ndjson(text: &str) -> TestResult<Vec<Value>> {
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn a_pull_job_runs_in_the_background_and_offers_the_model() -> TestResult {
    let s = setup(None).await?;
    let first = post_json(s.app.clone(), "/v1/pulls", &json!({"model": "Owner/Repo"})).await?;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    let job = first.json()?;
    assert_eq!(job["name"], "owner/repo:q4_k_m");
    assert_eq!(job["reference"], "Owner/Repo");
    let id = job["id"].as_str().ok_or("no id")?.to_owned();

    // A second pull of the same model joins the running job.
    let second = post_json(s.app.clone(), "/v1/pulls", &json!({"model": "owner/repo"})).await?;
    assert_eq!(second.json()?["id"], id.as_str());

    s.source.finish_one();
    let events = events(s.app.clone(), &id).await?;
    let last = events.last().ok_or("no events")?;
    assert_eq!(last["status"], "done", "{events:?}");
    assert_eq!(last["completed_bytes"], 100, "{events:?}");
    assert_eq!(s.source.pulls.load(Ordering::SeqCst), 1);
    assert_eq!(s.pool.names(), ["owner/repo:q4_k_m"]);

    let job = send(s.app.clone(), get(&format!("/v1/pulls/{id}"))?)
        .await?
        .json()?;
    assert_eq!(job["status"], "done");
    let list = send(s.app.clone(), get("/v1/pulls")?).await?.json()?;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_failed_pull_says_why_and_offers_nothing() -> TestResult {
    let s = setup(Some("sha256 mismatch for model-Q4_K_M.gguf")).await?;
    let job = post_json(
        s.app.clone(),
        "/v1/pulls",
        &json!({"model": "owner/repo:q8_0"}),
    )
    .await?
    .json()?;
    s.source.finish_one();
    let id = job["id"].as_str().ok_or("no id")?;
    let events = events(s.app.clone(), id).await?;
    let last = events.last().ok_or("no events")?;
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"].as_str().is_some_and(|e| e.contains("sha256")),
        "{last}"
    );
    assert!(s.pool.names().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_cancelled_pull_ends_its_event_stream() -> TestResult {
    let s = setup(None).await?;
    let job = post_json(s.app.clone(), "/v1/pulls", &json!({"model": "owner/repo"}))
        .await?
        .json()?;
    let id = job["id"].as_str().ok_or("no id")?;
    let request = Request::delete(format!("/v1/pulls/{id}")).body(Body::empty())?;
    let cancelled = send(s.app.clone(), request).await?;
    assert_eq!(cancelled.json()?["status"], "cancelled");
    let events = events(s.app.clone(), id).await?;
    assert_eq!(events.last().ok_or("no events")?["status"], "cancelled");
    assert!(s.pool.names().is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_references_unknown_jobs_and_servers_without_pulls_are_errors() -> TestResult {
    let s = setup(None).await?;
    let bad = post_json(s.app.clone(), "/v1/pulls", &json!({"model": "no-slash"})).await?;
    assert_eq!(error_of(&bad, StatusCode::BAD_REQUEST)?["param"], "model");
    let wrong_type = post_json(s.app.clone(), "/v1/pulls", &json!({"model": 7})).await?;
    error_of(&wrong_type, StatusCode::BAD_REQUEST)?;
    let unknown = send(s.app.clone(), get("/v1/pulls/nope")?).await?;
    error_of(&unknown, StatusCode::NOT_FOUND)?;

    let plain = crate::support::hello_app().0;
    let reply = post_json(plain, "/v1/pulls", &json!({"model": "owner/repo"})).await?;
    error_of(&reply, StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(())
}

#[tokio::test]
async fn unfinished_jobs_resume_when_the_server_starts_again() -> TestResult {
    let s = setup(None).await?;
    // What a server stopped mid-download leaves behind: a job still marked running.
    let store = Store::open(&s._dir.path().join("hearth.db")).await?;
    let job = store
        .pulls()
        .create("owner/repo", "owner/repo:q4_k_m")
        .await?;
    store
        .pulls()
        .set_status(&job.id, hearth_store::PullStatus::Running, None)
        .await?;
    assert_eq!(s.manager.resume().await?, 1);
    s.source.finish_one();
    let events = events(s.app.clone(), &job.id).await?;
    assert_eq!(events.last().ok_or("no events")?["status"], "done");
    assert_eq!(s.pool.names(), ["owner/repo:q4_k_m"]);
    Ok(())
}

#[tokio::test]
async fn ollama_pull_streams_progress_lines_and_ends_in_success() -> TestResult {
    let s = setup(None).await?;
    s.source.finish_one();
    let reply = post_json(
        s.app.clone(),
        "/api/pull",
        &json!({"model": "hf.co/owner/repo:Q4_K_M"}),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/x-ndjson");
    let lines = ndjson(&reply.text())?;
    assert_eq!(
        lines.last().ok_or("no lines")?,
        &json!({"status": "success"})
    );
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");

    s.source.finish_one();
    let quiet = post_json(
        s.app.clone(),
        "/api/pull",
        &json!({"name": "owner/other", "stream": false}),
    )
    .await?;
    assert_eq!(quiet.json()?, json!({"status": "success"}));
    Ok(())
}

#[tokio::test]
async fn ollama_pull_reports_a_failure_as_an_error_line() -> TestResult {
    let s = setup(Some("connection reset")).await?;
    s.source.finish_one();
    let reply = post_json(s.app.clone(), "/api/pull", &json!({"model": "owner/repo"})).await?;
    let lines = ndjson(&reply.text())?;
    assert_eq!(
        lines.last().ok_or("no lines")?,
        &json!({"error": "connection reset"})
    );
    let missing = post_json(s.app.clone(), "/api/pull", &json!({})).await?;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.json()?["error"].is_string());
    Ok(())
}

#[tokio::test]
async fn ollama_delete_removes_a_model_and_404s_an_unknown_one() -> TestResult {
    let s = setup(None).await?;
    s.pool.add("owner/repo:q4_k_m", PathBuf::from("/m.gguf"))?;
    let delete = |body: Value| {
        Request::delete("/api/delete")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
    };
    let reply = send(
        s.app.clone(),
        delete(json!({"model": "owner/repo:q4_k_m"}))?,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(s.pool.names().is_empty());
    let unknown = send(s.app.clone(), delete(json!({"model": "nothing"}))?).await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown.json()?["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing"))
    );
    Ok(())
}
