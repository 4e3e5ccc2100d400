//! The models a server offers, loaded on first use, each served by its own [`Engine`]:
//! Hearth's implementation of [`Backend`] and [`ModelPool`].
//!
//! A background reaper unloads models whose keep-alive has run out; loading a model
//! first evicts idle ones, least recently used first, when the memory budget or the
//! cap on loaded models would be exceeded.

mod info;
mod residency;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hearth_models::Model;
use hearth_protocol::{
    Backend, BackendError, BoxFuture, EventStream, GenerateRequest, KeepAlive, LoadedModel,
    ModelInfo, ModelPool, PoolStats, ResponseFormat,
};
use tokio::sync::{Mutex, OnceCell};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::prompt::tokenize_prompt;
use crate::prompt_cache::PromptCache;
use crate::scheduler::SchedulerConfig;
use crate::sequence::NewSequence;
use crate::{Constraint, ConstraintError, ConstraintFactory};
use info::{FileInfo, model_info};
pub use residency::ResidencyConfig;
use residency::{Activity, NoRoom, Resident, victims};

/// How often the reaper looks for models to unload; also the least time a model
/// must be seen idle before a keep-alive of zero unloads it.
const REAPER_TICK: Duration = Duration::from_millis(250);

/// How long loading a model waits for busy models to finish before it gives up.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// How every engine of a pool runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Context positions per sequence (capped by each model's trained context).
    pub n_ctx: usize,
    pub scheduler: SchedulerConfig,
    /// Requests that may wait for a slot per model before new ones are refused.
    pub max_queue: usize,
    pub residency: ResidencyConfig,
    /// A folder keeping one prompt-cache file per model: the KV cache of the last
    /// prompt prefilled, so a fresh process reuses its shared prefix instead of
    /// computing it again. `None` keeps prefixes in memory only.
    pub prompt_cache: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            n_ctx: 4096,
            scheduler: SchedulerConfig::default(),
            max_queue: 64,
            residency: ResidencyConfig::default(),
            prompt_cache: None,
        }
    }
}

struct Entry {
    file: FileInfo,
    /// `None` while unloaded; the lock also keeps two requests from loading it twice.
    engine: Mutex<Option<Loaded>>,
}

impl Entry {
    fn name(&self) -> &str {
        &self.file.info.name
    }
}

struct Loaded {
    model: Arc<Model>,
    engine: Arc<Engine>,
    /// Built on the first request that asks for a JSON format: it takes a while on
    /// large vocabularies, and most requests never need it.
    constraints: Arc<OnceCell<ConstraintFactory>>,
    activity: Activity,
}

impl Loaded {
    /// Work queued or running, or a request between taking the engine and handing
    /// its sequence over.
    fn busy(&self) -> bool {
        let s = &self.engine.stats;
        s.queued.load(Ordering::Relaxed) > 0
            || s.running.load(Ordering::Relaxed) > 0
            || Arc::strong_count(&self.engine) > 1
    }

    fn memory_bytes(&self, file: &FileInfo) -> u64 {
        file.info.size_bytes + self.engine.stats.kv_bytes.load(Ordering::Relaxed) as u64
    }
}

/// Models by name, each loaded when first asked for and unloaded when idle long
/// enough or evicted for another.
pub struct EnginePool {
    entries: RwLock<Vec<Arc<Entry>>>,
    config: EngineConfig,
    /// One load at a time, so eviction decisions see every loaded model.
    loading: Mutex<()>,
}

impl std::fmt::Debug for EnginePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .entries()
            .iter()
            .map(|e| e.name().to_string())
            .collect();
        f.debug_struct("EnginePool")
            .field("models", &names)
            .finish()
    }
}

impl EnginePool {
    /// A pool serving each `(name, path)`; reads only the files' metadata, and refuses
    /// a file that is not a GGUF model of a supported architecture. A reaper thread
    /// unloads idle models for as long as the pool lives.
    pub fn new(
        models: Vec<(String, PathBuf)>,
        config: EngineConfig,
    ) -> Result<Arc<Self>, EngineError> {
        let mut entries: Vec<Arc<Entry>> = models
            .into_iter()
            .map(|(name, path)| Ok(new_entry(model_info(name, path, config.n_ctx)?)))
            .collect::<Result<_, EngineError>>()?;
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        let pool = Arc::new(Self {
            entries: RwLock::new(entries),
            config,
            loading: Mutex::new(()),
        });
        let weak = Arc::downgrade(&pool);
        std::thread::Builder::new()
            .name("hearth-reaper".into())
            .spawn(move || reap_while_alive(&weak))
            .map_err(EngineError::Io)?;
        Ok(pool)
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>, BackendError> {
        self.entries()
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| BackendError::ModelNotFound(name.to_string()))
    }

    /// The loaded model and its engine, loading them first if needed.
    async fn engine(
        &self,
        entry: &Entry,
        keep_alive: Option<KeepAlive>,
    ) -> Result<Handles, BackendError> {
        let keep_alive = keep_alive.unwrap_or(self.config.residency.keep_alive);
        let mut slot = entry.engine.lock().await;
        if let Some(loaded) = slot.as_mut() {
            loaded.activity.touch(keep_alive, Instant::now());
            return Ok(Handles::of(loaded));
        }
        let _loading = self.loading.lock().await;
        self.wait_for_room(entry).await?;
        let started = Instant::now();
        let model = load_model(entry).await?;
        let n_ctx = entry.file.info.n_ctx;
        let prompt_cache = self.prompt_cache(entry);
        let engine = Engine::start(
            Arc::clone(&model),
            n_ctx,
            self.config.scheduler,
            prompt_cache,
        )
        .map_err(|e| BackendError::Internal(format!("cannot start the engine thread: {e}")))?;
        tracing::info!(
            model = %entry.name(),
            load_ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        let loaded = Loaded {
            model,
            engine: Arc::new(engine),
            constraints: Arc::default(),
            activity: Activity::new(keep_alive, Instant::now()),
        };
        let handles = Handles::of(&loaded);
        *slot = Some(loaded);
        Ok(handles)
    }

    /// The prompt cache of `entry`'s model, when the pool keeps them; a model file
    /// that cannot be read for its identity goes without, with a warning.
    fn prompt_cache(&self, entry: &Entry) -> Option<PromptCache> {
        let dir = self.config.prompt_cache.as_deref()?;
        let info = &entry.file.info;
        PromptCache::new(dir, &info.path, info.n_ctx)
            .inspect_err(|e| {
                tracing::warn!(model = %entry.name(), "no prompt cache for this model: {e}");
            })
            .ok()
    }

    /// Makes room for `entry`, waiting up to [`ROOM_WAIT`] for busy models to finish
    /// (a request that just ended may still count as running for a step).
    async fn wait_for_room(&self, entry: &Entry) -> Result<(), BackendError> {
        let deadline = Instant::now() + ROOM_WAIT;
        loop {
            match self.make_room(entry) {
                Err(NoRoom::Busy { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(REAPER_TICK / 5).await;
                }
                result => {
                    return result.map_err(|no_room| {
                        BackendError::Unavailable(no_room_message(entry.name(), &no_room))
                    });
                }
            }
        }
    }

    /// Unloads idle models, least recently used first, until `entry` fits.
    fn make_room(&self, entry: &Entry) -> Result<(), NoRoom> {
        let others: Vec<Arc<Entry>> = self
            .entries()
            .into_iter()
            .filter(|e| e.name() != entry.name())
            .collect();
        let resident: Vec<Resident> = others
            .iter()
            .filter_map(|e| match e.engine.try_lock() {
                // Locked: loading or handing out its engine, so in use.
                Err(_) => Some(Resident {
                    name: e.name().to_string(),
                    memory_bytes: e.file.load_estimate(),
                    last_used: Instant::now(),
                    busy: true,
                }),
                Ok(slot) => slot.as_ref().map(|loaded| Resident {
                    name: e.name().to_string(),
                    memory_bytes: loaded.memory_bytes(&e.file),
                    last_used: loaded.activity.last_used,
                    busy: loaded.busy(),
                }),
            })
            .collect();
        let need = entry.file.load_estimate();
        let names = victims(&self.config.residency, &resident, need)?;
        for victim in others
            .iter()
            .filter(|e| names.iter().any(|n| n == e.name()))
        {
            if let Ok(mut slot) = victim.engine.try_lock()
                && slot.as_ref().is_some_and(|l| !l.busy())
            {
                *slot = None;
                release_freed_memory();
                tracing::info!(model = %victim.name(), "model evicted to make room");
            }
        }
        Ok(())
    }

    /// Unloads every idle model whose keep-alive has run out.
    fn reap(&self) {
        let now = Instant::now();
        for entry in self.entries() {
            let Ok(mut slot) = entry.engine.try_lock() else {
                continue;
            };
            let Some(loaded) = slot.as_mut() else {
                continue;
            };
            if loaded.busy() {
                loaded.activity.last_busy = now;
            } else if loaded.activity.expired(now, REAPER_TICK) {
                *slot = None;
                release_freed_memory();
                tracing::info!(model = %entry.name(), "model unloaded after its keep-alive");
            }
        }
    }

    async fn enqueue(&self, request: GenerateRequest) -> Result<EventStream, BackendError> {
        let entry = self.entry(&request.model)?;
        let Handles {
            model,
            engine,
            constraints,
        } = self.engine(&entry, request.keep_alive).await?;
        let prompt = tokenize_prompt(&model, &request.prompt)?;
        let n_ctx = entry.file.info.n_ctx;
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

fn new_entry(file: FileInfo) -> Arc<Entry> {
    Arc::new(Entry {
        file,
        engine: Mutex::new(None),
    })
}

fn reap_while_alive(pool: &Weak<EnginePool>) {
    loop {
        std::thread::sleep(REAPER_TICK);
        match pool.upgrade() {
            Some(pool) => pool.reap(),
            None => return,
        }
    }
}

/// Maps the file and repacks its weights on a thread of its own: seconds of
/// blocking work that must not stall the caller's async runtime.
async fn load_model(entry: &Entry) -> Result<Arc<Model>, BackendError> {
    let path = entry.file.info.path.clone();
    let (done, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(Model::load(&path));
    });
    let model = wait
        .await
        .map_err(|_| BackendError::Internal("the model loader stopped".into()))?
        .map_err(|e| {
            BackendError::Unavailable(format!("cannot load model `{}`: {e}", entry.name()))
        })?;
    Ok(Arc::new(model))
}

fn no_room_message(name: &str, no_room: &NoRoom) -> String {
    const MB: u64 = 1 << 20;
    match no_room {
        NoRoom::TooLarge { need, budget } => format!(
            "model `{name}` needs about {} MB, more than the memory budget of {} MB",
            need / MB,
            budget / MB
        ),
        NoRoom::Busy { need, free } => format!(
            "model `{name}` needs about {} MB and only {} MB are free while the loaded \
             models are busy; retry when they finish",
            need / MB,
            free / MB
        ),
    }
}

/// Hands memory freed by an unloaded model back to the operating system: glibc keeps
/// freed heap pages for reuse, so without this an unload would not shrink the process.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is
    // thread-safe and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Unix seconds for an instant in the future.
fn unix_secs(at: Instant) -> u64 {
    let wall = SystemTime::now() + at.saturating_duration_since(Instant::now());
    wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
            let started = Instant::now();
            // Seconds of work on a large vocabulary: off the async runtime.
            std::thread::spawn(move || {
                let _ = done.send(ConstraintFactory::new(model.tokenizer()));
            });
            let factory = wait
                .await
                .map_err(|_| BackendError::Internal("the constraint builder stopped".into()))?
                .map_err(constraint_error);
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(ms, "JSON constraints ready for the model's vocabulary");
            factory
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
        self.entries().iter().map(|e| e.file.info.clone()).collect()
    }

    fn load(
        &self,
        name: &str,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        let name = name.to_string();
        Box::pin(async move {
            let entry = self.entry(&name)?;
            self.engine(&entry, keep_alive).await.map(|_| ())
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
        if slot.take().is_some() {
            release_freed_memory();
            tracing::info!(model = %name, "model unloaded");
        }
        Ok(())
    }

    fn add(&self, name: &str, path: PathBuf) -> Result<ModelInfo, BackendError> {
        let file = model_info(name.to_string(), path, self.config.n_ctx).map_err(|e| {
            BackendError::InvalidRequest {
                param: Some("model".into()),
                message: e.to_string(),
            }
        })?;
        let info = file.info.clone();
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|e| e.name() != name);
        entries.push(new_entry(file));
        entries.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(info)
    }

    fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.unload(name)?;
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|e| e.name() != name);
        Ok(())
    }

    fn loaded(&self) -> Vec<LoadedModel> {
        let now = Instant::now();
        self.entries()
            .iter()
            .filter_map(|e| {
                let slot = e.engine.try_lock().ok()?;
                let loaded = slot.as_ref()?;
                Some(LoadedModel {
                    name: e.name().to_string(),
                    memory_bytes: loaded.memory_bytes(&e.file),
                    expires_at: loaded.activity.expires(loaded.busy(), now).map(unix_secs),
                })
            })
            .collect()
    }

    fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        let (mut used, mut capacity) = (0, 0);
        for e in self.entries() {
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
