//! One loaded model served on its own OS thread: requests arrive over a channel, the
//! [`Scheduler`] forms each step's batch, one batched forward pass runs it, and every
//! sequence samples from its row of logits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use hearth_models::{Model, SeqChunk};
use hearth_protocol::BackendError;
use rayon::prelude::*;

use crate::prompt_cache::PromptCache;
use crate::scheduler::{Scheduler, SchedulerConfig, SeqId, Work, WorkKind};
use crate::sequence::{NewSequence, Next, Sequence};
use crate::slots::Slots;

/// What the engine thread is asked to do.
pub(crate) enum Command {
    Submit(Box<NewSequence>),
    Shutdown,
}

/// Counters the engine thread publishes for metrics and admission control.
#[derive(Debug, Default)]
pub(crate) struct EngineStats {
    pub queued: AtomicUsize,
    pub running: AtomicUsize,
    pub kv_used: AtomicUsize,
    pub kv_capacity: AtomicUsize,
    pub kv_bytes: AtomicUsize,
}

/// The handle to a running engine thread. Dropping it stops the thread after the
/// current step; requests still running end with an error event.
#[derive(Debug)]
pub(crate) struct Engine {
    commands: mpsc::Sender<Command>,
    pub stats: Arc<EngineStats>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread for `model` with sequences of up to `n_ctx` positions,
    /// reusing and updating `prompt_cache` when there is one.
    pub(crate) fn start(
        model: Arc<Model>,
        n_ctx: usize,
        config: SchedulerConfig,
        prompt_cache: Option<PromptCache>,
    ) -> std::io::Result<Self> {
        let (commands, inbox) = mpsc::channel();
        let stats = Arc::new(EngineStats::default());
        let state = Loop {
            slots: Slots::new(config.max_running, n_ctx),
            scheduler: Scheduler::new(config),
            prompt_cache,
            sequences: HashMap::new(),
            next_id: 0,
            stats: Arc::clone(&stats),
            n_ctx,
            model,
        };
        let thread = std::thread::Builder::new()
            .name("hearth-engine".into())
            .spawn(move || state.run(&inbox))?;
        Ok(Self {
            commands,
            stats,
            thread: Some(thread),
        })
    }

    /// Hands a sequence to the engine thread.
    pub(crate) fn submit(&self, new: NewSequence) -> Result<(), BackendError> {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.commands
            .send(Command::Submit(Box::new(new)))
            .map_err(|_| BackendError::Unavailable("the model's engine has stopped".into()))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the engine thread panicked");
        }
    }
}

/// A running sequence and the slot holding its cache.
struct Active {
    seq: Sequence,
    slot: Option<usize>,
    /// The token to feed in the next decode step.
    next: u32,
}

/// The engine thread's state.
struct Loop {
    model: Arc<Model>,
    n_ctx: usize,
    scheduler: Scheduler,
    slots: Slots,
    /// The model's prompt cache on disk, when the pool keeps one.
    prompt_cache: Option<PromptCache>,
    sequences: HashMap<SeqId, Active>,
    next_id: u64,
    stats: Arc<EngineStats>,
}

impl Loop {
    fn run(mut self, inbox: &mpsc::Receiver<Command>) {
        loop {
            let command = if self.scheduler.is_idle() {
                match inbox.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                }
            } else {
                inbox.try_recv().ok()
            };
            match command {
                Some(Command::Shutdown) => break,
                Some(Command::Submit(new)) => {
                    self.add(*new);
                    // Take every request that is already here before the next step.
                    continue;
                }
                None => {}
            }
            self.drop_cancelled();
            self.admit();
            self.step();
            self.publish();
        }
        for active in self.sequences.values() {
            active
                .seq
                .fail(BackendError::Unavailable("the model was unloaded".into()));
        }
    }

    fn add(&mut self, new: NewSequence) {
        let id = SeqId(self.next_id);
        self.next_id += 1;
        let seq = Sequence::new(new, self.n_ctx);
        self.scheduler.push(id, seq.prompt().len());
        let active = Active {
            seq,
            slot: None,
            next: 0,
        };
        self.sequences.insert(id, active);
    }

    fn drop_cancelled(&mut self) {
        let gone: Vec<SeqId> = self
            .sequences
            .iter()
            .filter(|(_, a)| a.seq.is_cancelled())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            tracing::debug!(seq = id.0, "request cancelled by the client");
            self.remove(id);
        }
    }

    fn remove(&mut self, id: SeqId) {
        if let Some(active) = self.sequences.remove(&id)
            && let Some(slot) = active.slot
        {
            self.slots.release(slot);
        }
        self.scheduler.remove(id);
    }

    fn admit(&mut self) {
        for id in self.scheduler.admit() {
            let Some(active) = self.sequences.get_mut(&id) else {
                continue;
            };
            let admitted = Instant::now();
            match self.slots.acquire(active.seq.prompt(), &self.model) {
                Ok((slot, cached)) => {
                    let prompt = active.seq.prompt();
                    let cached = restore_prefix(
                        self.prompt_cache.as_mut(),
                        &mut self.slots,
                        slot,
                        prompt,
                        cached,
                    );
                    active.slot = Some(slot);
                    self.scheduler.set_prefilled(id, cached);
                    active.seq.admit(cached, admitted);
                    if cached > 0 {
                        tracing::debug!(seq = id.0, cached, "reusing a cached prompt prefix");
                    }
                }
                Err(e) => {
                    active.seq.fail(BackendError::Unavailable(format!(
                        "no room for the request's KV cache: {e}"
                    )));
                    self.remove(id);
                }
            }
        }
    }

    /// Runs one batch and lets each sequence in it sample.
    fn step(&mut self) {
        let work = self.scheduler.plan();
        if work.is_empty() {
            return;
        }
        let logits = match self.forward(&work) {
            Ok(logits) => logits,
            Err(e) => {
                tracing::error!(error = %e, "forward pass failed");
                for w in &work {
                    if let Some(a) = self.sequences.get(&w.id) {
                        a.seq.fail(BackendError::Internal(e.to_string()));
                    }
                    self.remove(w.id);
                }
                return;
            }
        };
        self.scheduler.complete(&work);
        self.save_prompts(&work);
        let rows: HashMap<SeqId, usize> = work
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                matches!(
                    w.kind,
                    WorkKind::Decode | WorkKind::Prefill { last: true, .. }
                )
            })
            .map(|(row, w)| (w.id, row))
            .collect();
        let tokenizer = self.model.tokenizer();
        let sample = |(id, active): (&SeqId, &mut Active)| {
            let row = *rows.get(id)?;
            Some((*id, active.seq.step(logits.row(row), tokenizer)))
        };
        // Sampling a vocabulary-sized row takes 0.1 ms (top-k 40) to over 0.5 ms (no
        // top-k, as OpenAI requests default to) on one core; with several sequences
        // the pool's threads, idle between passes, share the rows.
        let outcomes: Vec<(SeqId, Next)> = if rows.len() > 1 {
            self.sequences.par_iter_mut().filter_map(sample).collect()
        } else {
            self.sequences.iter_mut().filter_map(sample).collect()
        };
        for (id, next) in outcomes {
            match next {
                Next::Feed(token) => {
                    if let Some(active) = self.sequences.get_mut(&id) {
                        active.next = token;
                    }
                }
                Next::Finished => self.remove(id),
            }
        }
    }

    /// Keeps each prompt that has just been prefilled in the prompt cache.
    fn save_prompts(&mut self, work: &[Work]) {
        let Some(file) = self.prompt_cache.as_mut() else {
            return;
        };
        for w in work {
            if let WorkKind::Prefill { last: true, .. } = w.kind
                && let Some(index) = self.sequences.get(&w.id).and_then(|a| a.slot)
            {
                let slot = self.slots.get(index);
                file.save(&slot.tokens, &slot.cache);
            }
        }
    }

    fn forward(
        &mut self,
        work: &[Work],
    ) -> Result<hearth_models::Logits, hearth_models::ModelError> {
        let inputs: Vec<(usize, Vec<u32>)> = work
            .iter()
            .map(|w| {
                let active = &self.sequences[&w.id];
                let slot = active.slot.expect("running sequences hold a slot");
                let tokens = match w.kind {
                    WorkKind::Prefill { from, len, .. } => {
                        active.seq.prompt()[from..from + len].to_vec()
                    }
                    WorkKind::Decode => vec![active.next],
                };
                (slot, tokens)
            })
            .collect();
        let indices: Vec<usize> = inputs.iter().map(|(slot, _)| *slot).collect();
        let mut slots = self.slots.many_mut(&indices);
        let chunks: Vec<SeqChunk> = inputs
            .iter()
            .zip(&slots)
            .map(|((_, tokens), slot)| SeqChunk {
                tokens,
                start: slot.cache.len(),
            })
            .collect();
        let mut caches: Vec<_> = slots.iter_mut().map(|s| &mut s.cache).collect();
        let logits = self.model.forward(&chunks, &mut caches)?;
        for (slot, (_, tokens)) in slots.iter_mut().zip(&inputs) {
            slot.extend(tokens);
        }
        Ok(logits)
    }

    fn publish(&self) {
        let s = &self.stats;
        let queued = self.scheduler.n_waiting();
        s.queued.store(queued, Ordering::Relaxed);
        s.running
            .store(self.scheduler.n_running(), Ordering::Relaxed);
        let (used, capacity) = self.slots.usage();
        s.kv_used.store(used, Ordering::Relaxed);
        s.kv_capacity.store(capacity, Ordering::Relaxed);
        s.kv_bytes
            .store(self.slots.size_in_bytes(), Ordering::Relaxed);
    }
}

/// Fills slot `index` from the prompt cache when the file holds more of `prompt` than
/// the slot's `cached` positions; returns the positions of `prompt` the slot now holds.
fn restore_prefix(
    file: Option<&mut PromptCache>,
    slots: &mut Slots,
    index: usize,
    prompt: &[u32],
    cached: usize,
) -> usize {
    let Some(file) = file else {
        return cached;
    };
    if file.usable(prompt) <= cached {
        return cached;
    }
    let slot = slots.get_mut(index);
    let kept = file.restore(prompt, &mut slot.cache).unwrap_or(0);
    slot.tokens.clear();
    slot.tokens.extend_from_slice(&prompt[..kept]);
    kept
}
