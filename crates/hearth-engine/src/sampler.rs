//! Picking the next token from the model's logits.
//!
//! [`Sampler`] runs llama.cpp's default chain, in llama.cpp's order:
//! penalties → top-k → top-p → min-p → temperature → softmax → random draw.
//! The truncations therefore see temperature-1 probabilities, renormalised over what
//! the previous step kept; temperature only reshapes the survivors.
//!
//! The truncation steps live in [`candidates`]; this file holds the penalty history,
//! the random generator and the chain itself.

mod candidates;

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_protocol::SamplingParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use candidates::{Candidates, ln_weight, sanitize, weight};

/// Chooses tokens from logits under one request's [`SamplingParams`].
///
/// One sampler belongs to one sequence: it keeps that sequence's penalty history
/// (fed by [`Sampler::accept`]) and its own random generator. The generator is
/// ChaCha8 seeded with `seed_from_u64`, whose output `rand_chacha` keeps stable across
/// versions, so the same seed, history and logits always give the same tokens.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    seed: u64,
    rng: ChaCha8Rng,
    history: PenaltyHistory,
    /// Reused between calls so the hot path does not allocate a vocab-sized list.
    candidates: Candidates,
}

impl Sampler {
    /// A sampler for `params`; a `None` seed is replaced by a fresh one (see [`Sampler::seed`]).
    pub fn new(params: &SamplingParams) -> Self {
        let seed = params.seed.unwrap_or_else(fresh_seed);
        Self {
            params: params.clone(),
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            history: PenaltyHistory::new(params.repeat_last_n),
            candidates: Candidates::default(),
        }
    }

    /// The seed actually in use, drawn fresh when the parameters gave none; logging it
    /// lets a run be reproduced.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Records `token` in the penalty window (the last `repeat_last_n` tokens).
    ///
    /// Call it for every prompt token and for every generated token, in order.
    pub fn accept(&mut self, token: u32) {
        self.history.push(token);
    }

    /// Chooses the next token id from `logits` (one raw score per vocabulary entry).
    ///
    /// NaN logits count as `-inf`. When every candidate is `-inf` the draw is uniform
    /// (greedy takes the lowest id). An empty slice yields token `0`: there is no valid
    /// answer, and the caller's vocabulary is never empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if logits.is_empty() {
            return 0;
        }
        let cands = &mut self.candidates;
        cands.fill(logits);
        let penalties = Penalties::from_params(&self.params);
        if !penalties.is_neutral() {
            for (&token, &count) in &self.history.counts {
                cands.penalize(token, count, &penalties);
            }
        }

        // NaN temperature counts as greedy too: no division can make sense of it.
        let temperature = self.params.temperature;
        if temperature.is_nan() || temperature <= 0.0 {
            return cands.argmax();
        }
        if self.params.top_k > 0 {
            cands.top_k(self.params.top_k);
        }
        if self.params.top_p < 1.0 {
            cands.top_p(self.params.top_p);
        }
        if self.params.min_p > 0.0 {
            cands.min_p(self.params.min_p);
        }
        cands.temperature(temperature);
        cands.draw(&mut self.rng)
    }
}

/// Log-probability of `token` and the `top_n` most likely tokens, from raw `logits`.
///
/// This is the log-softmax of the model's own distribution, before penalties,
/// truncation or temperature, which is what OpenAI's `logprobs` reports. The list is
/// sorted most likely first (ties: lowest id first) and has `min(top_n, logits.len())`
/// entries. NaN logits count as `-inf`; a `token` outside the vocabulary gets `-inf`.
pub fn logprobs(logits: &[f32], token: u32, top_n: usize) -> (f32, Vec<(u32, f32)>) {
    let max = logits
        .iter()
        .map(|&l| sanitize(l))
        .fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| weight(sanitize(l), max)).sum();
    let ln_total = total.ln();
    // Narrowing to f32 is the point: logprobs are reported as f32.
    let log_prob = |logit: f32| (ln_weight(logit, max) - ln_total) as f32;

    let chosen = usize::try_from(token)
        .ok()
        .and_then(|i| logits.get(i))
        .map_or(f32::NEG_INFINITY, |&l| log_prob(sanitize(l)));

    let top_n = top_n.min(logits.len());
    if top_n == 0 {
        return (chosen, Vec::new());
    }
    let mut top: Vec<(u32, f32)> = (0u32..)
        .zip(logits)
        .map(|(id, &l)| (id, sanitize(l)))
        .collect();
    let by_rank = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if top_n < top.len() {
        top.select_nth_unstable_by(top_n - 1, by_rank);
        top.truncate(top_n);
    }
    top.sort_unstable_by(by_rank);
    let top = top.into_iter().map(|(id, l)| (id, log_prob(l))).collect();
    (chosen, top)
}

/// The three penalties on recently seen tokens, applied as llama.cpp does.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Penalties {
    /// Positive logits are divided by it, the others multiplied; `1` is off.
    repeat: f32,
    /// Subtracted once per occurrence in the window.
    frequency: f32,
    /// Subtracted once if the token occurs in the window at all.
    presence: f32,
}

impl Penalties {
    fn from_params(params: &SamplingParams) -> Self {
        // A repeat penalty that is not a positive number would flip or blow up logits;
        // the API layer rejects it, and here it is simply off.
        let repeat = if params.repeat_penalty > 0.0 && params.repeat_penalty.is_finite() {
            params.repeat_penalty
        } else {
            1.0
        };
        Self {
            repeat,
            frequency: params.frequency_penalty,
            presence: params.presence_penalty,
        }
    }

    fn is_neutral(&self) -> bool {
        self.repeat == 1.0 && self.frequency == 0.0 && self.presence == 0.0
    }

    /// The penalised logit of a token seen `count` (≥ 1) times in the window.
    fn apply(&self, logit: f32, count: u32) -> f32 {
        let repeated = if logit <= 0.0 {
            logit * self.repeat
        } else {
            logit / self.repeat
        };
        // Counts are bounded by the window length; f32 is exact far beyond that.
        let count = count as f32;
        let presence = if count > 0.0 { self.presence } else { 0.0 };
        repeated - count * self.frequency - presence
    }
}

/// The last `capacity` accepted tokens and how often each occurs among them.
#[derive(Debug, Clone)]
struct PenaltyHistory {
    capacity: usize,
    window: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl PenaltyHistory {
    fn new(capacity: usize) -> Self {
        // `repeat_last_n` comes from a request: do not trust it as an allocation size.
        let reserve = capacity.min(4096);
        Self {
            capacity,
            window: VecDeque::with_capacity(reserve),
            counts: HashMap::with_capacity(reserve),
        }
    }

    fn push(&mut self, token: u32) {
        if self.capacity == 0 {
            return;
        }
        if self.window.len() >= self.capacity
            && let Some(oldest) = self.window.pop_front()
            && let Some(count) = self.counts.get_mut(&oldest)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&oldest);
            }
        }
        self.window.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }
}

/// A seed for requests that gave none: not cryptographic, only different every time.
///
/// `rand` is built without its OS-entropy feature, so this hashes the current time and
/// a process-wide counter with std's randomly keyed `RandomState` hasher.
fn fresh_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Every truncation off and temperature 1: draws follow the plain softmax.
    fn plain(temperature: f32, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: Some(seed),
            ..SamplingParams::default()
        }
    }

    fn greedy_with(params: SamplingParams) -> Sampler {
        Sampler::new(&SamplingParams {
            temperature: 0.0,
            ..params
        })
    }

    fn frequencies(sampler: &mut Sampler, logits: &[f32], draws: u32) -> Vec<f64> {
        let mut counts = vec![0u32; logits.len()];
        for _ in 0..draws {
            counts[sampler.sample(logits) as usize] += 1;
        }
        counts
            .iter()
            .map(|&c| f64::from(c) / f64::from(draws))
            .collect()
    }

    fn softmax(logits: &[f32], temperature: f32) -> Vec<f64> {
        let exps: Vec<f64> = logits
            .iter()
            .map(|&l| f64::from(l / temperature).exp())
            .collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| e / sum).collect()
    }

    #[test]
    fn greedy_picks_the_highest_logit() {
        let mut sampler = Sampler::new(&SamplingParams::greedy());
        assert_eq!(sampler.sample(&[0.1, -3.0, 4.5, 4.4]), 2);
    }

    #[test]
    fn greedy_breaks_ties_towards_the_lowest_id() {
        let mut sampler = Sampler::new(&SamplingParams::greedy());
        assert_eq!(sampler.sample(&[1.0, 7.0, 7.0, 7.0]), 1);
    }

    #[test]
    fn greedy_treats_nan_temperature_as_greedy() {
        let mut sampler = Sampler::new(&SamplingParams {
            temperature: f32::NAN,
            ..SamplingParams::default()
        });
        assert!((0..50).all(|_| sampler.sample(&[0.0, 0.5, 0.4]) == 1));
    }

    #[test]
    fn greedy_takes_the_argmax_after_penalties() {
        let mut sampler = greedy_with(SamplingParams {
            repeat_penalty: 1.5,
            ..SamplingParams::default()
        });
        assert_eq!(sampler.sample(&[2.0, 1.9]), 0);
        sampler.accept(0);
        // 2.0 / 1.5 ≈ 1.33 now loses to 1.9.
        assert_eq!(sampler.sample(&[2.0, 1.9]), 1);
    }

    #[test]
    fn penalties_follow_llama_cpp_arithmetic() {
        let penalties = Penalties {
            repeat: 2.0,
            frequency: 0.5,
            presence: 0.25,
        };
        // Positive logits are divided, then frequency (per count) and presence subtracted.
        assert_eq!(penalties.apply(2.0, 2), 2.0 / 2.0 - 2.0 * 0.5 - 0.25);
        // Zero and negative logits are multiplied.
        assert_eq!(penalties.apply(-2.0, 1), -2.0 * 2.0 - 0.5 - 0.25);
        assert_eq!(penalties.apply(0.0, 3), -1.5 - 0.25);
    }

    #[test]
    fn penalties_are_neutral_only_when_all_three_are_off() {
        let neutral = Penalties::from_params(&SamplingParams::default());
        assert!(neutral.is_neutral());
        let presence = Penalties::from_params(&SamplingParams {
            presence_penalty: 0.1,
            ..SamplingParams::default()
        });
        assert!(!presence.is_neutral());
    }

    #[test]
    fn non_positive_repeat_penalty_is_ignored() {
        let penalties = Penalties::from_params(&SamplingParams {
            repeat_penalty: 0.0,
            ..SamplingParams::default()
        });
        assert_eq!(penalties.repeat, 1.0);
    }

    #[test]
    fn frequency_penalty_grows_with_each_occurrence() {
        let mut sampler = greedy_with(SamplingParams {
            frequency_penalty: 0.4,
            ..SamplingParams::default()
        });
        let logits = [3.0, 2.5];
        sampler.accept(0);
        assert_eq!(sampler.sample(&logits), 0); // 3.0 - 0.4 = 2.6 > 2.5
        sampler.accept(0);
        assert_eq!(sampler.sample(&logits), 1); // 3.0 - 0.8 = 2.2 < 2.5
    }

    #[test]
    fn penalty_window_forgets_tokens_older_than_repeat_last_n() {
        let params = SamplingParams {
            repeat_penalty: 1.5,
            repeat_last_n: 2,
            ..SamplingParams::default()
        };
        let logits = [2.0, 1.9, 0.0];
        let mut short = greedy_with(params.clone());
        let mut long = greedy_with(SamplingParams {
            repeat_last_n: 3,
            ..params
        });
        for token in [0, 2, 2] {
            short.accept(token);
            long.accept(token);
        }
        assert_eq!(short.history.counts.get(&0), None);
        assert_eq!(short.history.counts.get(&2), Some(&2));
        assert_eq!(short.sample(&logits), 0);
        assert_eq!(long.sample(&logits), 1);
    }

    #[test]
    fn repeat_last_n_zero_disables_penalties() {
        let mut sampler = greedy_with(SamplingParams {
            repeat_penalty: 10.0,
            repeat_last_n: 0,
            ..SamplingParams::default()
        });
        sampler.accept(0);
        assert!(sampler.history.window.is_empty());
        assert_eq!(sampler.sample(&[2.0, 1.9]), 0);
    }

    #[test]
    fn accepting_tokens_outside_the_vocab_is_harmless() -> Result<(), String> {
        let mut sampler = greedy_with(SamplingParams {
            repeat_penalty: 2.0,
            ..SamplingParams::default()
        });
        sampler.accept(u32::MAX);
        match sampler.sample(&[0.0, 1.0]) {
            1 => Ok(()),
            other => Err(format!("picked {other}")),
        }
    }

    #[test]
    fn sampling_matches_softmax_probabilities() {
        let logits = [1.0, 2.0, 0.0, 0.5];
        for temperature in [0.7, 1.0, 1.5] {
            let mut sampler = Sampler::new(&plain(temperature, 42));
            let freqs = frequencies(&mut sampler, &logits, 20_000);
            for (id, (f, p)) in freqs.iter().zip(softmax(&logits, temperature)).enumerate() {
                assert!(
                    (f - p).abs() < 0.015,
                    "t={temperature} token {id}: {f} vs {p}"
                );
            }
        }
    }

    #[test]
    fn higher_temperature_flattens_the_distribution() {
        let logits = [3.0, 0.0];
        let cold = frequencies(&mut Sampler::new(&plain(0.5, 9)), &logits, 5_000);
        let hot = frequencies(&mut Sampler::new(&plain(3.0, 9)), &logits, 5_000);
        // softmax(l / 0.5)[1] ≈ 0.0025, softmax(l / 3)[1] ≈ 0.27.
        assert!(cold[1] < 0.01, "cold {}", cold[1]);
        assert!(hot[1] > 0.2, "hot {}", hot[1]);
    }

    #[test]
    fn min_p_sees_logits_before_temperature() {
        // Token 1 is e^-2 ≈ 0.135 times as likely as token 0: min_p 0.2 drops it, even
        // though temperature 10 would bring it to e^-0.2 ≈ 0.82 times.
        let logits = [0.0, -2.0];
        let mut with_min_p = Sampler::new(&SamplingParams {
            min_p: 0.2,
            ..plain(10.0, 1)
        });
        assert!((0..500).all(|_| with_min_p.sample(&logits) == 0));
        let without = frequencies(&mut Sampler::new(&plain(10.0, 1)), &logits, 500);
        assert!(without[1] > 0.3, "{}", without[1]);
    }

    #[test]
    fn top_p_runs_after_top_k() {
        let logits: Vec<f32> = [0.4f32, 0.3, 0.2, 0.1].iter().map(|p| p.ln()).collect();
        let mut sampler = Sampler::new(&SamplingParams {
            top_k: 2,
            top_p: 0.5,
            ..plain(1.0, 4)
        });
        assert!((0..500).all(|_| sampler.sample(&logits) == 0));
    }

    #[test]
    fn top_k_one_is_greedy_even_when_hot() {
        let mut sampler = Sampler::new(&SamplingParams {
            top_k: 1,
            ..plain(5.0, 4)
        });
        assert!((0..200).all(|_| sampler.sample(&[0.0, 0.1, 0.05]) == 1));
    }

    #[test]
    fn same_seed_and_logits_give_the_same_tokens() {
        let run = |seed: u64| -> Vec<u32> {
            let mut sampler = Sampler::new(&SamplingParams {
                seed: Some(seed),
                repeat_penalty: 1.1,
                ..SamplingParams::default()
            });
            let mut logits_rng = ChaCha8Rng::seed_from_u64(77);
            (0..100)
                .map(|_| {
                    let logits: Vec<f32> = (0..2_000)
                        .map(|_| logits_rng.random_range(-5.0f32..5.0))
                        .collect();
                    let token = sampler.sample(&logits);
                    sampler.accept(token);
                    token
                })
                .collect()
        };
        assert_eq!(run(1234), run(1234));
        assert_ne!(run(1234), run(4321));
    }

    #[test]
    fn missing_seed_draws_a_fresh_one_each_time() {
        let params = SamplingParams::default();
        assert_ne!(Sampler::new(&params).seed(), Sampler::new(&params).seed());
        let seeded = Sampler::new(&SamplingParams {
            seed: Some(5),
            ..params
        });
        assert_eq!(seeded.seed(), 5);
    }

    #[test]
    fn nan_logits_are_never_chosen() {
        let logits = [f32::NAN, 1.0, f32::NAN, 0.5];
        let mut greedy = Sampler::new(&SamplingParams::greedy());
        assert_eq!(greedy.sample(&logits), 1);
        let mut sampler = Sampler::new(&plain(1.0, 8));
        for _ in 0..1_000 {
            let token = sampler.sample(&logits);
            assert!(token == 1 || token == 3, "picked {token}");
        }
    }

    #[test]
    fn masked_logits_are_never_chosen_by_any_chain() {
        // A constraint leaves a few finite logits among `-inf` ones; penalties on the
        // masked tokens, truncation and temperature must keep them out.
        let mut logits = vec![f32::NEG_INFINITY; 300];
        for (id, logit) in [(7, -3.0), (150, 0.5), (299, 0.4)] {
            logits[id] = logit;
        }
        let chains = [
            SamplingParams::greedy(),
            plain(1.0, 1),
            SamplingParams {
                seed: Some(2),
                repeat_penalty: 1.3,
                frequency_penalty: -0.5,
                presence_penalty: -0.5,
                ..SamplingParams::default()
            },
            SamplingParams {
                top_k: 100,
                top_p: 0.99,
                min_p: 0.01,
                ..plain(2.0, 3)
            },
            SamplingParams {
                top_k: 1,
                ..plain(0.5, 4)
            },
        ];
        for params in chains {
            let mut sampler = Sampler::new(&params);
            for token in [0, 1, 2, 150, 150] {
                sampler.accept(token);
            }
            for _ in 0..500 {
                let token = sampler.sample(&logits);
                assert!(
                    logits[token as usize].is_finite(),
                    "{params:?} picked {token}"
                );
            }
        }
    }

    #[test]
    fn all_nan_logits_still_yield_a_token_in_the_vocab() {
        let logits = [f32::NAN; 5];
        let mut greedy = Sampler::new(&SamplingParams::greedy());
        assert_eq!(greedy.sample(&logits), 0);
        let mut sampler = Sampler::new(&SamplingParams {
            seed: Some(3),
            ..SamplingParams::default()
        });
        assert!((0..100).all(|_| sampler.sample(&logits) < 5));
    }

    #[test]
    fn empty_and_single_token_vocabularies_do_not_panic() {
        let mut sampler = Sampler::new(&SamplingParams {
            seed: Some(3),
            repeat_penalty: 1.3,
            ..SamplingParams::default()
        });
        sampler.accept(0);
        assert_eq!(sampler.sample(&[]), 0);
        assert_eq!(sampler.sample(&[-4.0]), 0);
        assert_eq!(Sampler::new(&SamplingParams::greedy()).sample(&[]), 0);
    }

    #[test]
    fn logprobs_are_the_log_softmax_of_raw_logits() {
        let logits = [1.0f32, 2.0, 0.0, 0.5];
        let expected = softmax(&logits, 1.0);
        let (chosen, top) = logprobs(&logits, 3, 2);
        assert!((f64::from(chosen) - expected[3].ln()).abs() < 1e-6);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 0]);
        for (id, lp) in top {
            assert!((f64::from(lp) - expected[id as usize].ln()).abs() < 1e-6);
        }
    }

    #[test]
    fn logprobs_handle_nan_ties_and_out_of_range_tokens() {
        let logits = [f32::NAN, 0.0, 0.0];
        let (nan_token, top) = logprobs(&logits, 0, 10);
        assert_eq!(nan_token, f32::NEG_INFINITY);
        let half = 0.5f32.ln();
        assert_eq!(top, vec![(1, half), (2, half), (0, f32::NEG_INFINITY)]);
        let (outside, none) = logprobs(&logits, 3, 0);
        assert_eq!(outside, f32::NEG_INFINITY);
        assert!(none.is_empty());
        assert_eq!(logprobs(&[], 0, 5), (f32::NEG_INFINITY, Vec::new()));
    }
}
