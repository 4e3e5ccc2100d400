//! Which models stay in memory: keep-alive timers, and least-recently-used eviction
//! under a memory budget and a cap on loaded models. Plain state and functions, so
//! the rules are tested without loading anything.

use std::time::{Duration, Instant};

use hearth_protocol::KeepAlive;

/// Limits on what a pool keeps loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidencyConfig {
    /// How long an idle model stays loaded when its requests do not say.
    pub keep_alive: KeepAlive,
    /// Most models loaded at once; 0 is no limit.
    pub max_loaded: usize,
    /// Bytes the loaded models (weights plus KV caches) may use together; `None` is
    /// no limit.
    pub memory_budget: Option<u64>,
}

impl Default for ResidencyConfig {
    fn default() -> Self {
        Self {
            keep_alive: KeepAlive::DEFAULT,
            max_loaded: 3,
            memory_budget: None,
        }
    }
}

/// How a loaded model has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Activity {
    pub keep_alive: KeepAlive,
    /// Last time a request arrived, for least-recently-used eviction.
    pub last_used: Instant,
    /// Last time the model was seen with work; its keep-alive counts from here.
    pub last_busy: Instant,
}

impl Activity {
    pub fn new(keep_alive: KeepAlive, now: Instant) -> Self {
        Self {
            keep_alive,
            last_used: now,
            last_busy: now,
        }
    }

    /// A request arrived; its keep-alive (or the default) replaces the model's, as in
    /// Ollama.
    pub fn touch(&mut self, keep_alive: KeepAlive, now: Instant) {
        self.keep_alive = keep_alive;
        self.last_used = now;
        self.last_busy = now;
    }

    /// When the model will be unloaded if nothing else arrives; `None` never.
    pub fn expires(&self, busy: bool, now: Instant) -> Option<Instant> {
        let KeepAlive::For(keep) = self.keep_alive else {
            return None;
        };
        let from = if busy { now } else { self.last_busy };
        Some(from + keep)
    }

    /// Whether an idle model has outstayed its keep-alive. A model must have been
    /// seen idle for at least `grace` (one reaper tick), so a request that was handed
    /// over but not yet counted by the engine is never cut off.
    pub fn expired(&self, now: Instant, grace: Duration) -> bool {
        match self.expires(false, now) {
            Some(at) => now >= at.max(self.last_busy + grace),
            None => false,
        }
    }
}

/// A loaded model as eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resident {
    pub name: String,
    pub memory_bytes: u64,
    pub last_used: Instant,
    /// Running or queued requests, or someone holding its engine: not evictable.
    pub busy: bool,
}

/// Why a model cannot be loaded now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The model alone is larger than the budget.
    TooLarge { need: u64, budget: u64 },
    /// The other models are busy and cannot be evicted.
    Busy { need: u64, free: u64 },
}

/// The models to unload, least recently used first, so that one needing
/// `need` bytes fits; idle models only.
pub(crate) fn victims(
    config: &ResidencyConfig,
    resident: &[Resident],
    need: u64,
) -> Result<Vec<String>, NoRoom> {
    let budget = config.memory_budget.unwrap_or(u64::MAX);
    if need > budget {
        return Err(NoRoom::TooLarge { need, budget });
    }
    let mut used: u64 = resident.iter().map(|r| r.memory_bytes).sum();
    let mut count = resident.len();
    let fits = |used: u64, count: usize| {
        used.saturating_add(need) <= budget && (config.max_loaded == 0 || count < config.max_loaded)
    };
    let mut idle: Vec<&Resident> = resident.iter().filter(|r| !r.busy).collect();
    idle.sort_by_key(|r| r.last_used);
    let mut chosen = Vec::new();
    for r in idle {
        if fits(used, count) {
            break;
        }
        chosen.push(r.name.clone());
        used -= r.memory_bytes;
        count -= 1;
    }
    if fits(used, count) {
        Ok(chosen)
    } else {
        Err(NoRoom::Busy {
            need,
            free: budget.saturating_sub(used),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn resident(name: &str, mb: u64, age_secs: u64, busy: bool, now: Instant) -> Resident {
        Resident {
            name: name.into(),
            memory_bytes: mb << 20,
            last_used: now - SEC * age_secs as u32,
            busy,
        }
    }

    fn config(max_loaded: usize, budget_mb: Option<u64>) -> ResidencyConfig {
        ResidencyConfig {
            max_loaded,
            memory_budget: budget_mb.map(|mb| mb << 20),
            ..ResidencyConfig::default()
        }
    }

    #[test]
    fn keep_alive_counts_from_the_last_busy_moment() {
        let start = Instant::now();
        let mut a = Activity::new(KeepAlive::For(10 * SEC), start);
        a.last_busy = start + 5 * SEC;
        assert_eq!(a.expires(false, start + 6 * SEC), Some(start + 15 * SEC));
        assert_eq!(a.expires(true, start + 20 * SEC), Some(start + 30 * SEC));
        assert!(!a.expired(start + 14 * SEC, SEC));
        assert!(a.expired(start + 15 * SEC, SEC));
    }

    #[test]
    fn zero_keep_alive_waits_one_grace_period_and_forever_never_expires() {
        let start = Instant::now();
        let mut a = Activity::new(KeepAlive::For(Duration::ZERO), start);
        assert!(!a.expired(start, SEC));
        assert!(a.expired(start + SEC, SEC));
        a.touch(KeepAlive::Forever, start + 2 * SEC);
        assert!(!a.expired(start + 1000 * SEC, SEC));
        assert_eq!(a.expires(false, start), None);
    }

    #[test]
    fn evicts_least_recently_used_idle_models_until_the_new_one_fits() {
        let now = Instant::now();
        let resident = [
            resident("old", 300, 30, false, now),
            resident("busy", 300, 60, true, now),
            resident("recent", 300, 10, false, now),
        ];
        let budget = config(0, Some(1000));
        assert_eq!(victims(&budget, &resident, 100 << 20), Ok(vec![]));
        assert_eq!(
            victims(&budget, &resident, 300 << 20),
            Ok(vec!["old".into()])
        );
        assert_eq!(
            victims(&budget, &resident, 700 << 20),
            Ok(vec!["old".into(), "recent".into()])
        );
        assert_eq!(
            victims(&budget, &resident, 800 << 20),
            Err(NoRoom::Busy {
                need: 800 << 20,
                free: 700 << 20
            })
        );
        assert_eq!(
            victims(&budget, &resident, 2000 << 20),
            Err(NoRoom::TooLarge {
                need: 2000 << 20,
                budget: 1000 << 20
            })
        );
    }

    #[test]
    fn the_loaded_model_cap_evicts_too() {
        let now = Instant::now();
        let resident = [
            resident("a", 1, 5, false, now),
            resident("b", 1, 50, false, now),
        ];
        assert_eq!(
            victims(&config(2, None), &resident, 1),
            Ok(vec!["b".into()])
        );
        assert_eq!(victims(&config(3, None), &resident, 1), Ok(vec![]));
        assert_eq!(victims(&config(0, None), &resident, 1), Ok(vec![]));
    }
}
