//! The models a server offers, loaded on first use, each served by its own [`Engine`]:
//! Hearth's implementation of [`Backend`] and [`ModelPool`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use hearth_gguf::GgufFile;
use hearth_models::Model;
use hearth_protocol::{
    Backend, BackendError, BoxFuture, EventStream, GenerateRequest, LoadedModel, ModelInfo,
    ModelPool, PoolStats, ResponseFormat,
};
use tokio::sync::{Mutex, OnceCell};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::prompt::tokenize_prompt;
use crate::scheduler::SchedulerConfig;
use crate::sequence::NewSequence;
use crate::{Constraint, ConstraintError, ConstraintFactory};

/// How every engine of a pool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Context positions per sequence (capped by each model's trained context).
    pub n_ctx: usize,
    pub scheduler: SchedulerConfig,
    /// Requests that may wait for a slot per model before new ones are refused.
    pub max_queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            n_ctx: 4096,
            scheduler: SchedulerConfig::default(),
            max_queue: 64,
        }
    }
}

struct Entry {
    info: ModelInfo,
    /// `None` until first use; the lock also keeps two requests from loading it twice.
    engine: Mutex<Option<Loaded>>,
}

struct Loaded {
    model: Arc<Model>,
    engine: Arc<Engine>,
    /// Built on the first request that asks for a JSON format: it takes a while on
    /// large vocabularies, and most requests never need it.
    constraints: Arc<OnceCell<ConstraintFactory>>,
}

/// Models by name, each loaded when first asked for.
pub struct EnginePool {
    entries: Vec<Entry>,
    config: EngineConfig,
}

impl std::fmt::Debug for EnginePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.info.name.as_str()).collect();
        f.debug_struct("EnginePool")
            .field("models", &names)
            .finish()
    }
}

impl EnginePool {
    /// A pool serving each `(name, path)`; reads only the files' metadata, and refuses
    /// a file that is not a GGUF model of a supported architecture.
    pub fn new(models: Vec<(String, PathBuf)>, config: EngineConfig) -> Result<Self, EngineError> {
        let mut entries: Vec<Entry> = models
            .into_iter()
            .map(|(name, path)| {
                Ok(Entry {
                    info: model_info(name, path, config.n_ctx)?,
                    engine: Mutex::new(None),
                })
            })
            .collect::<Result<_, EngineError>>()?;
        entries.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        Ok(Self { entries, config })
    }

    fn entry(&self, name: &str) -> Result<&Entry, BackendError> {
        self.entries
            .iter()
            .find(|e| e.info.name == name)
            .ok_or_else(|| BackendError::ModelNotFound(name.to_string()))
    }

    /// The loaded model and its engine, loading them first if needed.
    async fn engine(&self, entry: &Entry) -> Result<Handles, BackendError> {
        let mut slot = entry.engine.lock().await;
        if let Some(loaded) = slot.as_ref() {
            return Ok(Handles::of(loaded));
        }
        let path = entry.info.path.clone();
        let (done, wait) = tokio::sync::oneshot::channel();
        // Loading maps the file and repacks weights: seconds of blocking work that
        // must not stall the caller's async runtime.
        std::thread::spawn(move || {
            let _ = done.send(Model::load(&path));
        });
        let model = wait
            .await
            .map_err(|_| BackendError::Internal("the model loader stopped".into()))?
            .map_err(|e| {
                BackendError::Unavailable(format!("cannot load model `{}`: {e}", entry.info.name))
            })?;
        let model = Arc::new(model);
        let engine = Engine::start(Arc::clone(&model), entry.info.n_ctx, self.config.scheduler)
            .map_err(|e| BackendError::Internal(format!("cannot start the engine thread: {e}")))?;
        let engine = Arc::new(engine);
        tracing::info!(model = %entry.info.name, "model loaded");
        let loaded = Loaded {
            model,
            engine,
            constraints: Arc::default(),
        };
        let handles = Handles::of(&loaded);
        *slot = Some(loaded);
        Ok(handles)
    }

    async fn enqueue(&self, request: GenerateRequest) -> Result<EventStream, BackendError> {
        let entry = self.entry(&request.model)?;
        let Handles {
            model,
            engine,
            constraints,
        } = self.engine(entry).await?;
        let prompt = tokenize_prompt(&model, &request.prompt)?;
        let n_ctx = entry.info.n_ctx;
        if prompt.len() >= n_ctx {
            return Err(BackendError::ContextLengthExceeded {
                n_prompt: prompt.len(),
                n_ctx,
            });
        }
        if engine.stats.queued.load(Ordering::Relaxed) >= self.config.max_queue {
            return Err(BackendError::QueueFull {
                retry_after_secs: 1,
            });
        }
        let constraint = constraint(&model, &constraints, &request.format).await?;
        let (events, stream) = EventStream::channel();
        engine.submit(NewSequence {
            prompt,
            sampling: request.sampling,
            stop: request.stop,
            logprobs: request.logprobs,
            constraint,
            events,
        })?;
        Ok(stream)
    }
}

/// What a request needs from a loaded model, cloned out of the pool's lock.
struct Handles {
    model: Arc<Model>,
    engine: Arc<Engine>,
    constraints: Arc<OnceCell<ConstraintFactory>>,
}

impl Handles {
    fn of(loaded: &Loaded) -> Self {
        Self {
            model: Arc::clone(&loaded.model),
            engine: Arc::clone(&loaded.engine),
            constraints: Arc::clone(&loaded.constraints),
        }
    }
}

/// The constraint for `format`, building the model's factory on first need.
async fn constraint(
    model: &Arc<Model>,
    factory: &OnceCell<ConstraintFactory>,
    format: &ResponseFormat,
) -> Result<Option<Constraint>, BackendError> {
    if *format == ResponseFormat::Text {
        return Ok(None);
    }
    let factory = factory
        .get_or_try_init(|| async {
            let model = Arc::clone(model);
            let (done, wait) = tokio::sync::oneshot::channel();
            // Seconds of work on a large vocabulary: off the async runtime.
            std::thread::spawn(move || {
                let _ = done.send(ConstraintFactory::new(model.tokenizer()));
            });
            wait.await
                .map_err(|_| BackendError::Internal("the constraint builder stopped".into()))?
                .map_err(constraint_error)
        })
        .await?;
    factory.constraint(format).map_err(constraint_error)
}

fn constraint_error(e: ConstraintError) -> BackendError {
    match e {
        ConstraintError::Schema(_) => BackendError::InvalidRequest {
            param: Some("response_format".into()),
            message: e.to_string(),
        },
        ConstraintError::Vocabulary(_) => BackendError::InvalidRequest {
            param: Some("response_format".into()),
            message: format!("this model cannot produce constrained output: {e}"),
        },
        other => BackendError::Internal(other.to_string()),
    }
}

impl Backend for EnginePool {
    fn generate(
        &self,
        request: GenerateRequest,
    ) -> BoxFuture<'_, Result<EventStream, BackendError>> {
        Box::pin(self.enqueue(request))
    }
}

impl ModelPool for EnginePool {
    fn models(&self) -> Vec<ModelInfo> {
        self.entries.iter().map(|e| e.info.clone()).collect()
    }

    fn load(&self, name: &str) -> BoxFuture<'_, Result<(), BackendError>> {
        let name = name.to_string();
        Box::pin(async move {
            let entry = self.entry(&name)?;
            self.engine(entry).await.map(|_| ())
        })
    }

    fn unload(&self, name: &str) -> Result<(), BackendError> {
        let entry = self.entry(name)?;
        let mut slot = entry
            .engine
            .try_lock()
            .map_err(|_| BackendError::Unavailable(format!("model `{name}` is loading")))?;
        // Dropping the last handle stops the engine thread; requests holding a clone
        // of it finish their enqueueing first.
        *slot = None;
        Ok(())
    }

    fn loaded(&self) -> Vec<LoadedModel> {
        self.entries
            .iter()
            .filter_map(|e| {
                let slot = e.engine.try_lock().ok()?;
                let loaded = slot.as_ref()?;
                let kv = loaded.engine.stats.kv_bytes.load(Ordering::Relaxed) as u64;
                Some(LoadedModel {
                    name: e.info.name.clone(),
                    memory_bytes: e.info.size_bytes + kv,
                    expires_at: None,
                })
            })
            .collect()
    }

    fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        let (mut used, mut capacity) = (0, 0);
        for e in &self.entries {
            let Ok(slot) = e.engine.try_lock() else {
                continue;
            };
            if let Some(loaded) = slot.as_ref() {
                let s = &loaded.engine.stats;
                stats.queued += s.queued.load(Ordering::Relaxed);
                stats.running += s.running.load(Ordering::Relaxed);
                used += s.kv_used.load(Ordering::Relaxed);
                capacity += s.kv_capacity.load(Ordering::Relaxed);
            }
        }
        if capacity > 0 {
            stats.kv_cache_usage = used as f64 / capacity as f64;
        }
        stats
    }
}

/// What a model file says about itself, read without loading its weights.
fn model_info(name: String, path: PathBuf, n_ctx: usize) -> Result<ModelInfo, EngineError> {
    let file = GgufFile::open(&path).map_err(|source| EngineError::Open {
        path: path.clone(),
        source,
    })?;
    let md = file.metadata();
    let architecture = md.str("general.architecture")?.to_string();
    if !hearth_models::SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
        return Err(hearth_models::ModelError::UnsupportedArchitecture(architecture).into());
    }
    let trained = md.opt_u32(&format!("{architecture}.context_length"))?;
    let n_ctx = trained.map_or(n_ctx, |t| n_ctx.min(t as usize));
    let meta = fs_err::metadata(&path)?;
    let created = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(ModelInfo {
        name,
        size_bytes: meta.len(),
        created,
        architecture,
        n_ctx,
        path,
    })
}
