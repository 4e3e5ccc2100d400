//! KV-cache slots: one cache per running sequence, kept after it ends so a later
//! request that starts the same way (the earlier turns of a chat, a shared system
//! prompt) reuses the cached prefix instead of recomputing it.

use hearth_models::{KvCache, Model};

use crate::error::EngineError;

/// A cache and the tokens it holds, in order.
#[derive(Debug)]
pub(crate) struct Slot {
    pub cache: KvCache,
    pub tokens: Vec<u32>,
    busy: bool,
    /// Step counter when it was last released, for least-recently-used choice.
    released_at: u64,
}

impl Slot {
    /// Records tokens just appended to the cache.
    pub(crate) fn extend(&mut self, tokens: &[u32]) {
        self.tokens.extend_from_slice(tokens);
    }
}

/// At most `capacity` caches of `n_ctx` positions each, allocated on first need.
#[derive(Debug)]
pub(crate) struct Slots {
    slots: Vec<Slot>,
    capacity: usize,
    n_ctx: usize,
    clock: u64,
}

impl Slots {
    pub(crate) fn new(capacity: usize, n_ctx: usize) -> Self {
        Self {
            slots: Vec::new(),
            capacity: capacity.max(1),
            n_ctx,
            clock: 0,
        }
    }

    /// Takes a free slot for `prompt`: the one sharing the longest prefix with it, else
    /// a new one while under capacity, else the least recently used. Returns the slot's
    /// index and how many prompt tokens it already holds.
    pub(crate) fn acquire(
        &mut self,
        prompt: &[u32],
        model: &Model,
    ) -> Result<(usize, usize), EngineError> {
        let free = self.slots.iter().enumerate().filter(|(_, s)| !s.busy);
        let best = free
            .map(|(i, s)| (i, common_prefix(&s.tokens, prompt), s.released_at))
            .max_by_key(|&(_, common, released_at)| (common, released_at));
        let index = match best {
            Some((i, common, _)) if common > 0 || self.slots.len() >= self.capacity => i,
            _ if self.slots.len() < self.capacity => {
                self.slots.push(Slot {
                    cache: model.new_cache(self.n_ctx)?,
                    tokens: Vec::new(),
                    busy: false,
                    released_at: 0,
                });
                self.slots.len() - 1
            }
            _ => return Err(EngineError::NoFreeSlot),
        };
        let slot = &mut self.slots[index];
        let keep = reusable_prefix(&slot.tokens, prompt);
        slot.cache.truncate(keep);
        slot.tokens.truncate(keep);
        slot.busy = true;
        Ok((index, keep))
    }

    /// Mutable access to several distinct slots at once, in the order of `indices`.
    pub(crate) fn many_mut(&mut self, indices: &[usize]) -> Vec<&mut Slot> {
        let mut by_index: Vec<Option<&mut Slot>> = self.slots.iter_mut().map(Some).collect();
        indices
            .iter()
            .map(|&i| {
                by_index[i]
                    .take()
                    .expect("the scheduler never runs a slot twice in a step")
            })
            .collect()
    }

    pub(crate) fn get(&self, index: usize) -> &Slot {
        &self.slots[index]
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> &mut Slot {
        &mut self.slots[index]
    }

    /// Gives a slot back; its cache stays for prefix reuse.
    pub(crate) fn release(&mut self, index: usize) {
        self.clock += 1;
        let slot = &mut self.slots[index];
        slot.busy = false;
        slot.released_at = self.clock;
    }

    /// Positions filled in busy slots, and the capacity of all slots together.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let used = self
            .slots
            .iter()
            .filter(|s| s.busy)
            .map(|s| s.cache.len())
            .sum();
        (used, self.capacity * self.n_ctx)
    }

    /// Bytes held by allocated caches.
    pub(crate) fn size_in_bytes(&self) -> usize {
        self.slots.iter().map(|s| s.cache.size_in_bytes()).sum()
    }
}

/// How many leading tokens of `prompt` a cache holding the KV of `held` can provide:
/// their common prefix, but never the whole prompt, since the last prompt token must
/// be computed to produce the logits of the first generated one.
pub(crate) fn reusable_prefix(held: &[u32], prompt: &[u32]) -> usize {
    common_prefix(held, prompt).min(prompt.len().saturating_sub(1))
}

pub(crate) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reusable_prefix_leaves_the_last_prompt_token_to_compute() {
        assert_eq!(reusable_prefix(&[1, 2, 3], &[1, 2, 3]), 2);
        assert_eq!(reusable_prefix(&[1, 2, 3, 4], &[1, 2]), 1);
        assert_eq!(reusable_prefix(&[1, 9], &[1, 2, 3]), 1);
        assert_eq!(reusable_prefix(&[1], &[]), 0);
    }

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
    }
}
