//! Continuous batching: which sequences run in the next engine step, and how much of
//! each.
//!
//! Plain synchronous state over sequence ids and token counts; the engine owns the
//! sequences themselves. Every step decodes one token for each running sequence that
//! has finished its prompt, then fills what is left of the token budget with chunks of
//! prompts still being prefilled, oldest first. New requests join between steps when a
//! slot is free; finished and cancelled ones leave between steps.

use std::collections::VecDeque;

/// Identifies a sequence inside one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeqId(pub u64);

/// Limits of one engine's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Sequences decoded together; each holds a KV-cache slot.
    pub max_running: usize,
    /// Tokens (decoded plus prefilled) per step; bounds a step's latency and memory.
    pub token_budget: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_running: 8,
            token_budget: 512,
        }
    }
}

/// The part of one sequence a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    pub id: SeqId,
    pub kind: WorkKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkKind {
    /// Prompt tokens `from..from + len`; `last` when they end the prompt, so the step's
    /// logits give the first generated token.
    Prefill { from: usize, len: usize, last: bool },
    /// The token sampled in the previous step.
    Decode,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    id: SeqId,
    prompt_len: usize,
    /// Prompt tokens already in the KV cache.
    prefilled: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    config: SchedulerConfig,
    waiting: VecDeque<(SeqId, usize)>,
    running: Vec<Running>,
}

impl Scheduler {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        Self {
            config: SchedulerConfig {
                max_running: config.max_running.max(1),
                token_budget: config.token_budget.max(config.max_running).max(1),
            },
            ..Self::default()
        }
    }

    /// Queues a sequence with a prompt of `prompt_len` tokens (at least one).
    pub(crate) fn push(&mut self, id: SeqId, prompt_len: usize) {
        self.waiting.push_back((id, prompt_len.max(1)));
    }

    pub(crate) fn n_waiting(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn n_running(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Moves waiting sequences into free slots, oldest first; returns the admitted ids,
    /// for which the caller assigns a KV cache and reports any reused prefix with
    /// [`Scheduler::set_prefilled`].
    pub(crate) fn admit(&mut self) -> Vec<SeqId> {
        let free = self.config.max_running.saturating_sub(self.running.len());
        let n = free.min(self.waiting.len());
        self.waiting
            .drain(..n)
            .map(|(id, prompt_len)| {
                self.running.push(Running {
                    id,
                    prompt_len,
                    prefilled: 0,
                });
                id
            })
            .collect()
    }

    /// Records that the first `n` prompt tokens of `id` are already cached (a reused
    /// prefix); at least the last prompt token is always run, to get logits.
    pub(crate) fn set_prefilled(&mut self, id: SeqId, n: usize) {
        if let Some(r) = self.running.iter_mut().find(|r| r.id == id) {
            r.prefilled = n.min(r.prompt_len - 1);
        }
    }

    /// The next step: decodes first, then prompt chunks within the token budget.
    pub(crate) fn plan(&self) -> Vec<Work> {
        let decodes = self.running.iter().filter(|r| r.prefilled >= r.prompt_len);
        let mut work: Vec<Work> = decodes
            .map(|r| Work {
                id: r.id,
                kind: WorkKind::Decode,
            })
            .collect();
        let mut budget = self.config.token_budget.saturating_sub(work.len());
        for r in self.running.iter().filter(|r| r.prefilled < r.prompt_len) {
            if budget == 0 {
                break;
            }
            let len = (r.prompt_len - r.prefilled).min(budget);
            budget -= len;
            let last = r.prefilled + len == r.prompt_len;
            work.push(Work {
                id: r.id,
                kind: WorkKind::Prefill {
                    from: r.prefilled,
                    len,
                    last,
                },
            });
        }
        work
    }

    /// Records that `work` ran.
    pub(crate) fn complete(&mut self, work: &[Work]) {
        for w in work {
            if let WorkKind::Prefill { len, .. } = w.kind
                && let Some(r) = self.running.iter_mut().find(|r| r.id == w.id)
            {
                r.prefilled += len;
            }
        }
    }

    /// Forgets a sequence, waiting or running (finished, cancelled or failed).
    pub(crate) fn remove(&mut self, id: SeqId) {
        self.waiting.retain(|&(w, _)| w != id);
        self.running.retain(|r| r.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(max_running: usize, token_budget: usize) -> Scheduler {
        Scheduler::new(SchedulerConfig {
            max_running,
            token_budget,
        })
    }

    fn prefill(from: usize, len: usize, last: bool) -> WorkKind {
        WorkKind::Prefill { from, len, last }
    }

    #[test]
    fn admits_only_as_many_as_there_are_slots() {
        let mut s = scheduler(2, 512);
        (0..3).for_each(|i| s.push(SeqId(i), 10));
        assert_eq!(s.admit(), vec![SeqId(0), SeqId(1)]);
        assert_eq!((s.n_running(), s.n_waiting()), (2, 1));
        assert!(s.admit().is_empty());
        s.remove(SeqId(0));
        assert_eq!(s.admit(), vec![SeqId(2)]);
    }

    #[test]
    fn next_batch_respects_token_budget() {
        let mut s = scheduler(4, 100);
        s.push(SeqId(0), 70);
        s.push(SeqId(1), 70);
        s.admit();
        let plan = s.plan();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].kind, prefill(0, 70, true));
        assert_eq!(plan[1].kind, prefill(0, 30, false));
        s.complete(&plan);
        let plan = s.plan();
        assert_eq!(plan[0].kind, WorkKind::Decode);
        assert_eq!(plan[1].kind, prefill(30, 40, true));
    }

    #[test]
    fn decodes_come_first_and_long_prompts_do_not_starve_them() {
        let mut s = scheduler(4, 16);
        s.push(SeqId(0), 4);
        s.admit();
        s.complete(&s.plan());
        s.push(SeqId(1), 1000);
        s.admit();
        for _ in 0..10 {
            let plan = s.plan();
            assert_eq!(
                plan[0],
                Work {
                    id: SeqId(0),
                    kind: WorkKind::Decode
                }
            );
            let tokens: usize = plan
                .iter()
                .map(|w| match w.kind {
                    WorkKind::Prefill { len, .. } => len,
                    WorkKind::Decode => 1,
                })
                .sum();
            assert!(tokens <= 16, "step of {tokens} tokens");
            s.complete(&plan);
        }
    }

    #[test]
    fn reused_prefix_leaves_at_least_the_last_prompt_token() {
        let mut s = scheduler(1, 512);
        s.push(SeqId(7), 20);
        s.admit();
        s.set_prefilled(SeqId(7), 20);
        assert_eq!(s.plan()[0].kind, prefill(19, 1, true));
        s.complete(&s.plan());
        assert_eq!(s.plan()[0].kind, WorkKind::Decode);
    }

    #[test]
    fn removed_sequences_leave_the_plan() {
        let mut s = scheduler(2, 512);
        s.push(SeqId(0), 5);
        s.push(SeqId(1), 5);
        s.push(SeqId(2), 5);
        s.admit();
        s.remove(SeqId(1));
        s.remove(SeqId(2));
        let ids: Vec<_> = s.plan().iter().map(|w| w.id).collect();
        assert_eq!(ids, vec![SeqId(0)]);
        assert_eq!(s.n_running() + s.n_waiting(), 1);
        s.remove(SeqId(0));
        assert!(s.is_idle());
    }
}
