//! The candidate list that each step of the sampler chain narrows down.
//!
//! Ordering everywhere is "higher logit first, then lower id", a total order, so
//! unstable sorts and partial selection still give one reproducible answer.

use std::cmp::Ordering;

use rand::Rng;

use super::Penalties;

/// One token still in the running, with its current (possibly transformed) logit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Candidate {
    pub(super) id: u32,
    pub(super) logit: f32,
}

/// The tokens still in the running; reused between calls to avoid reallocating.
#[derive(Debug, Clone, Default)]
pub(super) struct Candidates {
    items: Vec<Candidate>,
    /// Whether `items` is in [`by_rank`] order (top-k and top-p leave it so).
    sorted: bool,
    /// The softmax weights of `items` during a draw, kept to reuse the allocation.
    weights: Vec<f64>,
}

impl Candidates {
    /// Resets the list to every token of `logits`, in id order, NaN read as `-inf`.
    pub(super) fn fill(&mut self, logits: &[f32]) {
        self.items.clear();
        self.items
            .extend((0u32..).zip(logits).map(|(id, &logit)| Candidate {
                id,
                logit: sanitize(logit),
            }));
        self.sorted = false;
    }

    #[cfg(test)]
    pub(super) fn items(&self) -> &[Candidate] {
        &self.items
    }

    #[cfg(test)]
    pub(super) fn ids(&self) -> Vec<u32> {
        self.items.iter().map(|c| c.id).collect()
    }

    /// Applies `penalties` to `token`, seen `count` times. Only valid right after
    /// [`Candidates::fill`], while position equals id; ids outside the vocab are ignored.
    pub(super) fn penalize(&mut self, token: u32, count: u32, penalties: &Penalties) {
        let slot = usize::try_from(token)
            .ok()
            .and_then(|i| self.items.get_mut(i));
        if let Some(cand) = slot {
            cand.logit = sanitize(penalties.apply(cand.logit, count));
        }
    }

    /// The id with the highest logit, the lowest id among equals; `0` when empty.
    pub(super) fn argmax(&self) -> u32 {
        // The list is in id order or in rank order, so among equal logits the first
        // seen has the lowest id; a plain `>` is enough as logits are never NaN.
        let Some((first, rest)) = self.items.split_first() else {
            return 0;
        };
        let mut best = *first;
        for &cand in rest {
            if cand.logit > best.logit {
                best = cand;
            }
        }
        best.id
    }

    /// Keeps the `k` highest-ranked tokens (all when `k` is 0 or at least the size).
    ///
    /// Uses partial selection, O(n + k log k), instead of sorting a 256k vocabulary.
    pub(super) fn top_k(&mut self, k: usize) {
        if k == 0 {
            return;
        }
        if k < self.items.len() {
            self.items.select_nth_unstable_by(k - 1, by_rank);
            self.items.truncate(k);
        }
        self.items.sort_unstable_by(by_rank);
        self.sorted = true;
    }

    /// Keeps the shortest most-likely-first prefix whose probability (softmax of the
    /// current logits, over the current candidates) adds up to at least `p`; always at
    /// least one token. `p >= 1` keeps everything.
    pub(super) fn top_p(&mut self, p: f32) {
        let Some(max) = self.max_logit() else {
            return;
        };
        if p >= 1.0 {
            return;
        }
        let total: f64 = self.items.iter().map(|c| weight(c.logit, max)).sum();
        let target = f64::from(p) * total;
        let len = self.items.len();
        // Real distributions are peaked: the kept prefix is usually short, so rank the
        // list in growing chunks instead of sorting the whole vocabulary up front.
        let mut ranked = if self.sorted { len } else { 0 };
        let mut cumulative = 0.0;
        let mut keep = 0;
        while keep < len {
            if keep == ranked {
                let next = (ranked * 4).max(FIRST_TOP_P_CHUNK).min(len);
                self.rank_prefix(ranked, next);
                ranked = next;
            }
            cumulative += weight(self.items[keep].logit, max);
            keep += 1;
            if cumulative >= target {
                break;
            }
        }
        self.items.truncate(keep);
        self.sorted = true;
    }

    /// Keeps tokens at least `p` times as likely as the most likely one, i.e. with
    /// `logit >= max_logit + ln(p)`; the most likely token always stays.
    pub(super) fn min_p(&mut self, p: f32) {
        let Some(max) = self.max_logit() else {
            return;
        };
        if p.is_nan() || p <= 0.0 {
            return;
        }
        // Clamped so that `p > 1` still keeps the best token, like llama.cpp's min_keep.
        let threshold = (max + p.ln()).min(max);
        if self.sorted {
            let keep = self.items.partition_point(|c| c.logit >= threshold);
            self.items.truncate(keep);
        } else {
            self.items.retain(|c| c.logit >= threshold);
        }
    }

    /// Divides every logit by `temperature` (> 0); order is unchanged.
    pub(super) fn temperature(&mut self, temperature: f32) {
        for cand in &mut self.items {
            cand.logit = sanitize(cand.logit / temperature);
        }
    }

    /// Draws one id with probability softmax(logit); `0` when empty.
    pub(super) fn draw<R: Rng>(&mut self, rng: &mut R) -> u32 {
        let Some(max) = self.max_logit() else {
            return 0;
        };
        // Each weight is computed once: the walk reads back what the sum used (an `exp`
        // per candidate is most of the cost of a draw over a whole vocabulary).
        let mut weights = std::mem::take(&mut self.weights);
        weights.clear();
        weights.extend(self.items.iter().map(|c| weight(c.logit, max)));
        let total: f64 = weights.iter().sum();
        let mut target = rng.random::<f64>() * total;
        let mut last_possible = None;
        let mut chosen = None;
        for (cand, &w) in self.items.iter().zip(&weights) {
            if w > 0.0 {
                if target < w {
                    chosen = Some(cand.id);
                    break;
                }
                last_possible = Some(cand.id);
            }
            target -= w;
        }
        self.weights = weights;
        // `last_possible` is only reached through rounding in the running subtraction.
        chosen.or(last_possible).unwrap_or_else(|| self.argmax())
    }

    fn max_logit(&self) -> Option<f32> {
        if self.sorted {
            return self.items.first().map(|c| c.logit);
        }
        self.items.iter().map(|c| c.logit).reduce(f32::max)
    }

    /// Extends a ranked prefix: given `items[..from]` are the `from` best in order,
    /// makes `items[..to]` the `to` best in order (`from < to <= len`).
    fn rank_prefix(&mut self, from: usize, to: usize) {
        let rest = &mut self.items[from..];
        let wanted = to - from;
        if wanted < rest.len() {
            rest.select_nth_unstable_by(wanted - 1, by_rank);
        }
        rest[..wanted].sort_unstable_by(by_rank);
    }
}

/// How many candidates top-p ranks first; each further round ranks four times as many.
const FIRST_TOP_P_CHUNK: usize = 64;

/// Higher logit first, then lower id: a total order (logits are never NaN here).
pub(super) fn by_rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// NaN becomes `-inf`, so a broken logit can never be chosen or poison a sum.
pub(super) fn sanitize(logit: f32) -> f32 {
    if logit.is_nan() {
        f32::NEG_INFINITY
    } else {
        logit
    }
}

/// `ln` of the unnormalised softmax weight of `logit` when the largest logit is `max`.
///
/// With a finite `max` this is `logit - max`. An infinite `max` has no finite
/// reference: `+inf` logits then share all the mass, and if every logit is `-inf` they
/// all share it equally.
pub(super) fn ln_weight(logit: f32, max: f32) -> f64 {
    if max.is_finite() {
        f64::from(logit) - f64::from(max)
    } else if logit == max {
        0.0
    } else {
        f64::NEG_INFINITY
    }
}

/// The unnormalised softmax weight of `logit`, in `[0, 1]`, `1` for the maximum.
pub(super) fn weight(logit: f32, max: f32) -> f64 {
    ln_weight(logit, max).exp()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Probabilities 0.15, 0.5, 0.05, 0.3 for ids 0..4: ranked 1, 3, 0, 2.
    fn shuffled_quarter_logits() -> Vec<f32> {
        [0.15f32, 0.5, 0.05, 0.3].iter().map(|p| p.ln()).collect()
    }

    fn filled(logits: &[f32]) -> Candidates {
        let mut cands = Candidates::default();
        cands.fill(logits);
        cands
    }

    #[test]
    fn fill_reads_nan_as_negative_infinity() {
        let cands = filled(&[f32::NAN, 1.0]);
        assert_eq!(
            cands.items(),
            &[
                Candidate {
                    id: 0,
                    logit: f32::NEG_INFINITY
                },
                Candidate { id: 1, logit: 1.0 },
            ]
        );
    }

    #[test]
    fn argmax_prefers_lowest_id_among_equal_logits() {
        assert_eq!(filled(&[0.5, 2.0, -1.0, 2.0]).argmax(), 1);
        assert_eq!(filled(&[f32::NEG_INFINITY; 3]).argmax(), 0);
        assert_eq!(filled(&[]).argmax(), 0);
    }

    #[test]
    fn top_k_keeps_the_k_highest_ranked_in_order() {
        let mut cands = filled(&[0.1, 3.0, 2.0, -1.0, 2.0]);
        cands.top_k(3);
        assert_eq!(cands.ids(), vec![1, 2, 4]);
    }

    #[test]
    fn top_k_zero_or_larger_than_vocab_keeps_everything() {
        let mut off = filled(&[0.1, 3.0, 2.0]);
        off.top_k(0);
        assert_eq!(off.ids(), vec![0, 1, 2]);
        let mut large = filled(&[0.1, 3.0, 2.0]);
        large.top_k(10);
        assert_eq!(large.ids(), vec![1, 2, 0]);
    }

    #[test]
    fn top_k_partial_selection_matches_a_full_sort_on_a_large_vocab() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Coarse values so that many logits tie and the id tie-break matters.
        let logits: Vec<f32> = (0..65_536)
            .map(|_| f32::from(rng.random_range(0u8..=200)) / 10.0)
            .collect();
        let mut expected = filled(&logits).items().to_vec();
        expected.sort_by(by_rank);
        expected.truncate(40);

        let mut cands = filled(&logits);
        cands.top_k(40);
        assert_eq!(cands.items(), expected.as_slice());
    }

    #[test]
    fn top_p_keeps_the_shortest_prefix_reaching_p() {
        let logits = shuffled_quarter_logits();
        for (p, expected) in [
            (0.0, vec![1]),
            (0.45, vec![1]),
            (0.7, vec![1, 3]),
            (0.85, vec![1, 3, 0]),
            (0.9, vec![1, 3, 0]),
            (0.97, vec![1, 3, 0, 2]),
        ] {
            let mut cands = filled(&logits);
            cands.top_p(p);
            assert_eq!(cands.ids(), expected, "top_p {p}");
        }
    }

    #[test]
    fn top_p_ranking_in_chunks_matches_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        // A flat distribution needs thousands of tokens (several chunks); a peaked one
        // stops inside the first chunk.
        for spread in [1.0f32, 30.0] {
            let logits: Vec<f32> = (0..20_000).map(|_| rng.random_range(0.0..spread)).collect();
            for p in [0.3f32, 0.9] {
                let mut reference = filled(&logits).items().to_vec();
                reference.sort_by(by_rank);
                let max = reference[0].logit;
                let weights: Vec<f64> = reference.iter().map(|c| weight(c.logit, max)).collect();
                let target = f64::from(p) * weights.iter().sum::<f64>();
                let mut cumulative = 0.0;
                let keep = 1 + weights
                    .iter()
                    .position(|w| {
                        cumulative += w;
                        cumulative >= target
                    })
                    .unwrap_or(reference.len() - 1);
                reference.truncate(keep);

                let mut cands = filled(&logits);
                cands.top_p(p);
                assert_eq!(
                    cands.items(),
                    reference.as_slice(),
                    "spread {spread}, p {p}"
                );
            }
        }
    }

    #[test]
    fn top_p_of_one_keeps_everything_unsorted() {
        let mut cands = filled(&shuffled_quarter_logits());
        cands.top_p(1.0);
        assert_eq!(cands.ids(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn top_p_renormalises_over_what_top_k_kept() {
        let logits: Vec<f32> = [0.4f32, 0.3, 0.2, 0.1].iter().map(|p| p.ln()).collect();
        // Alone, 0.4 < 0.5 so top-p needs two tokens ...
        let mut alone = filled(&logits);
        alone.top_p(0.5);
        assert_eq!(alone.ids(), vec![0, 1]);
        // ... but after top-k 2 the first token holds 0.4 / 0.7 ≈ 0.57 of the mass.
        let mut after_top_k = filled(&logits);
        after_top_k.top_k(2);
        after_top_k.top_p(0.5);
        assert_eq!(after_top_k.ids(), vec![0]);
    }

    #[test]
    fn min_p_keeps_tokens_at_least_p_times_the_best() {
        let logits = shuffled_quarter_logits();
        for (p, expected) in [
            (0.2, vec![0, 1, 3]), // threshold 0.1
            (0.5, vec![1, 3]),    // threshold 0.25
            (0.7, vec![1]),       // threshold 0.35
            (2.0, vec![1]),       // above the best: the best still stays
        ] {
            let mut cands = filled(&logits);
            cands.min_p(p);
            assert_eq!(cands.ids(), expected, "min_p {p}");
        }
    }

    #[test]
    fn min_p_on_a_sorted_list_cuts_the_tail() {
        let mut cands = filled(&shuffled_quarter_logits());
        cands.top_k(4);
        cands.min_p(0.2);
        assert_eq!(cands.ids(), vec![1, 3, 0]);
    }

    #[test]
    fn min_p_of_zero_keeps_everything() {
        let mut cands = filled(&shuffled_quarter_logits());
        cands.min_p(0.0);
        assert_eq!(cands.ids(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn temperature_divides_logits() {
        let mut cands = filled(&[1.0, -2.0, f32::NEG_INFINITY]);
        cands.temperature(0.5);
        let logits: Vec<f32> = cands.items().iter().map(|c| c.logit).collect();
        assert_eq!(logits, vec![2.0, -4.0, f32::NEG_INFINITY]);
    }

    #[test]
    fn draw_follows_the_softmax_distribution() {
        let logits = [1.0f32, 2.0, 0.0, -1.0];
        let expected = softmax(&logits);
        let mut cands = filled(&logits);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let draws = 40_000;
        let mut counts = [0usize; 4];
        for _ in 0..draws {
            counts[cands.draw(&mut rng) as usize] += 1;
        }
        for (id, (&count, &p)) in counts.iter().zip(&expected).enumerate() {
            let freq = count as f64 / f64::from(draws);
            assert!((freq - p).abs() < 0.01, "token {id}: {freq} vs {p}");
        }
    }

    #[test]
    fn draw_never_picks_an_impossible_token() {
        let mut cands = filled(&[f32::NEG_INFINITY, 0.0, f32::NAN, 0.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..1000 {
            let id = cands.draw(&mut rng);
            assert!(id == 1 || id == 3, "drew {id}");
        }
    }

    #[test]
    fn draw_gives_infinite_logits_all_the_mass() {
        let mut cands = filled(&[5.0, f32::INFINITY, 7.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert!((0..200).all(|_| cands.draw(&mut rng) == 1));
    }

    #[test]
    fn draw_is_uniform_when_every_logit_is_negative_infinity() {
        let mut cands = filled(&[f32::NEG_INFINITY; 2]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let ones = (0..2000).filter(|_| cands.draw(&mut rng) == 1).count();
        assert!((800..1200).contains(&ones), "{ones} of 2000");
    }

    #[test]
    fn draw_from_nothing_is_token_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert_eq!(filled(&[]).draw(&mut rng), 0);
    }

    fn softmax(logits: &[f32]) -> Vec<f64> {
        let exps: Vec<f64> = logits.iter().map(|&l| f64::from(l).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| e / sum).collect()
    }
}
