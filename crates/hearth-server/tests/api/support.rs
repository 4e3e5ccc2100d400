//! A scripted fake backend and pool, and helpers to call the app without a socket.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use hearth_protocol::{
    Backend, BackendError, BoxFuture, Done, EventStream, FinishReason, GenerateEvent,
    GenerateRequest, KeepAlive, LoadedModel, ModelInfo, ModelPool, PoolStats, TokenEvent,
    TokenLogprob, TokenLogprobs, Usage,
};
use hearth_server::{AppState, ServerConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The model every fake pool serves.
pub const MODEL: &str = "owner/repo:q4_k_m";
/// Prompt length every scripted generation reports.
pub const PROMPT_TOKENS: usize = 7;

/// What the fake backend does with the next requests.
#[derive(Debug, Clone)]
pub enum Script {
    /// Sends these tokens (cut at `max_tokens`, then finish `length`), then `Done`.
    Tokens(Vec<&'static str>),
    /// Like `Tokens`, but one token per `delay`.
    Slow(Vec<&'static str>, Duration),
    /// Refuses the request at once.
    Refuse(BackendError),
    /// Sends these tokens, then an error event.
    FailMidStream(Vec<&'static str>, BackendError),
    /// Sends a token every 10 ms until the stream is dropped, then records the drop.
    Hold,
}

/// A backend that plays a [`Script`] and remembers what it was asked.
pub struct FakeBackend {
    script: Mutex<Script>,
    requests: Mutex<Vec<GenerateRequest>>,
    dropped: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl FakeBackend {
    pub fn new(script: Script) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script),
            requests: Mutex::default(),
            dropped: Arc::new((AtomicBool::new(false), tokio::sync::Notify::new())),
        })
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<GenerateRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until a held stream has been dropped by the server, or `timeout`.
    pub async fn wait_for_drop(&self, timeout: Duration) -> bool {
        let (flag, notify) = &*self.dropped;
        let waited = tokio::time::timeout(timeout, async {
            while !flag.load(Ordering::SeqCst) {
                notify.notified().await;
            }
        })
        .await;
        waited.is_ok()
    }
}

fn token_event(text: &str, logprobs: Option<usize>) -> GenerateEvent {
    let logprob = |text: &str, logprob: f32| TokenLogprob {
        text: text.to_owned(),
        bytes: text.as_bytes().to_vec(),
        logprob,
    };
    GenerateEvent::Token(TokenEvent {
        text: text.to_owned(),
        token: 1,
        logprobs: logprobs.map(|k| TokenLogprobs {
            chosen: logprob(text, -0.5),
            top: (0..k)
                .map(|i| logprob(&format!("alt{i}"), -1.0 - i as f32))
                .collect(),
        }),
    })
}

fn done(finish_reason: FinishReason, completion_tokens: usize) -> GenerateEvent {
    GenerateEvent::Done(Done {
        finish_reason,
        usage: Usage {
            prompt_tokens: PROMPT_TOKENS,
            completion_tokens,
            cached_tokens: 0,
        },
    })
}

/// The events of a scripted generation of `tokens` under `request`'s limits.
fn events(tokens: &[&str], request: &GenerateRequest) -> Vec<GenerateEvent> {
    let limit = request.stop.max_tokens.unwrap_or(usize::MAX);
    let used = tokens.len().min(limit);
    let mut out: Vec<_> = tokens[..used]
        .iter()
        .map(|t| token_event(t, request.logprobs))
        .collect();
    let reason = if used < tokens.len() {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    out.push(done(reason, used));
    out
}

impl Backend for FakeBackend {
    fn generate(
        &self,
        request: GenerateRequest,
    ) -> BoxFuture<'_, Result<EventStream, BackendError>> {
        Box::pin(async move {
            if let Ok(mut requests) = self.requests.lock() {
                requests.push(request.clone());
            }
            let script = self
                .script
                .lock()
                .map(|s| s.clone())
                .map_err(|e| BackendError::Internal(e.to_string()))?;
            let (sender, stream) = EventStream::channel();
            match script {
                Script::Tokens(tokens) => {
                    for event in events(&tokens, &request) {
                        let _ = sender.send(event);
                    }
                }
                Script::Slow(tokens, delay) => {
                    tokio::spawn(async move {
                        for event in events(&tokens, &request) {
                            tokio::time::sleep(delay).await;
                            let _ = sender.send(event);
                        }
                    });
                }
                Script::Refuse(err) => return Err(err),
                Script::FailMidStream(tokens, err) => {
                    for token in tokens {
                        let _ = sender.send(token_event(token, None));
                    }
                    let _ = sender.send(GenerateEvent::Error(err));
                }
                Script::Hold => {
                    let dropped = Arc::clone(&self.dropped);
                    tokio::spawn(async move {
                        while sender.send(token_event("tick ", None)).is_ok() {
                            tokio::select! {
                                () = sender.closed() => break,
                                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                            }
                        }
                        dropped.0.store(true, Ordering::SeqCst);
                        dropped.1.notify_waiters();
                        dropped.1.notify_one();
                    });
                }
            }
            Ok(stream)
        })
    }
}

/// Memory every model loaded by the fake pool reports, in bytes.
pub const LOADED_BYTES: u64 = 123_456_789;

/// What the fake pool was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolCall {
    Load(String, Option<KeepAlive>),
    Unload(String),
}

/// A pool with a fixed list of models and fixed stats, which remembers what it loads.
pub struct FakePool {
    pub models: Vec<ModelInfo>,
    loaded: Mutex<Vec<LoadedModel>>,
    calls: Mutex<Vec<PoolCall>>,
}

impl FakePool {
    pub fn with_models(names: &[&str]) -> Arc<Self> {
        let models = names
            .iter()
            .map(|name| ModelInfo {
                name: (*name).to_owned(),
                path: PathBuf::from(format!("/models/{name}.gguf")),
                architecture: "llama".to_owned(),
                n_ctx: 2048,
                size_bytes: 1,
                created: 1_700_000_000,
            })
            .collect();
        Self::with_infos(models)
    }

    pub fn with_infos(models: Vec<ModelInfo>) -> Arc<Self> {
        Arc::new(Self {
            models,
            loaded: Mutex::default(),
            calls: Mutex::default(),
        })
    }

    /// Every load and unload asked for so far.
    pub fn calls(&self) -> Vec<PoolCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, name: &str, call: PoolCall) -> Result<(), BackendError> {
        if !self.models.iter().any(|m| m.name == name) {
            return Err(BackendError::ModelNotFound(name.to_owned()));
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        Ok(())
    }
}

impl ModelPool for FakePool {
    fn models(&self) -> Vec<ModelInfo> {
        self.models.clone()
    }

    fn load(
        &self,
        name: &str,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        let name = name.to_owned();
        Box::pin(async move {
            self.record(&name, PoolCall::Load(name.clone(), keep_alive))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let expires_at = match keep_alive.unwrap_or_default() {
                KeepAlive::Forever => None,
                KeepAlive::For(d) => Some(now + d.as_secs()),
            };
            if let Ok(mut loaded) = self.loaded.lock() {
                loaded.retain(|m| m.name != name);
                loaded.push(LoadedModel {
                    name,
                    memory_bytes: LOADED_BYTES,
                    expires_at,
                });
            }
            Ok(())
        })
    }

    fn unload(&self, name: &str) -> Result<(), BackendError> {
        self.record(name, PoolCall::Unload(name.to_owned()))?;
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.retain(|m| m.name != name);
        }
        Ok(())
    }

    fn add(&self, name: &str, _path: PathBuf) -> Result<ModelInfo, BackendError> {
        Err(BackendError::Unavailable(format!("cannot add `{name}`")))
    }

    fn remove(&self, name: &str) -> Result<(), BackendError> {
        Err(BackendError::ModelNotFound(name.to_owned()))
    }

    fn loaded(&self) -> Vec<LoadedModel> {
        self.loaded.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            queued: 2,
            running: 3,
            kv_cache_usage: 0.25,
        }
    }
}

/// An app over a fake backend playing `script` and a pool serving [`MODEL`].
pub fn app_with(script: Script, config: ServerConfig) -> (Router, Arc<FakeBackend>, AppState) {
    let backend = FakeBackend::new(script);
    let state = AppState::new(backend.clone(), FakePool::with_models(&[MODEL]), config);
    (hearth_server::app(state.clone()), backend, state)
}

/// An app over a fake backend playing `script` and `pool`, both returned for checks.
pub fn app_with_pool(
    script: Script,
    pool: Arc<FakePool>,
    config: ServerConfig,
) -> (Router, Arc<FakeBackend>) {
    let backend = FakeBackend::new(script);
    let state = AppState::new(backend.clone(), pool, config);
    (hearth_server::app(state), backend)
}

/// An app whose backend answers "Hello world" in three tokens.
pub fn hello_app() -> (Router, Arc<FakeBackend>) {
    let (app, backend, _) = app_with(
        Script::Tokens(vec!["Hello", " wor", "ld"]),
        ServerConfig::default(),
    );
    (app, backend)
}

/// A response read to its end.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> TestResult<Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The payloads of the SSE `data:` lines, in order.
    pub fn sse_data(&self) -> Vec<String> {
        sse_data(&self.text())
    }

    /// The SSE payloads before `[DONE]`, parsed as JSON.
    pub fn sse_json(&self) -> TestResult<Vec<Value>> {
        self.sse_data()
            .iter()
            .filter(|d| d.as_str() != "[DONE]")
            .map(|d| Ok(serde_json::from_str(d)?))
            .collect()
    }
}

pub fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Sends `request` through `app` with `oneshot` and reads the whole body.
pub async fn send(app: Router, request: Request<Body>) -> TestResult<Reply> {
    let response = app.oneshot(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub fn post(path: &str, body: impl Into<Body>) -> TestResult<Request<Body>> {
    Ok(Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())?)
}

pub fn get(path: &str) -> TestResult<Request<Body>> {
    Ok(Request::get(path).body(Body::empty())?)
}

/// POSTs `body` as JSON to `path`.
pub async fn post_json(app: Router, path: &str, body: &Value) -> TestResult<Reply> {
    send(app, post(path, body.to_string())?).await
}

/// A minimal valid chat body, with `extra` fields merged in.
pub fn chat_body(extra: Value) -> Value {
    let mut body = serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    merge(&mut body, extra);
    body
}

/// A minimal valid completions body, with `extra` fields merged in.
pub fn completion_body(extra: Value) -> Value {
    let mut body = serde_json::json!({ "model": MODEL, "prompt": "Once upon" });
    merge(&mut body, extra);
    body
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
}

/// Asserts an OpenAI error body and returns its `error` object.
pub fn error_of(reply: &Reply, status: StatusCode) -> TestResult<Value> {
    assert_eq!(reply.status, status, "body: {}", reply.text());
    let body = reply.json()?;
    let error = body.get("error").cloned().ok_or("no `error` object")?;
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "`{key}` missing in {error}");
    }
    Ok(error)
}
