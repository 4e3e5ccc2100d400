use candle_core::Device;
use half::f16;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dots::{dot16_portable as dot16, vec_dot_f16_portable as vec_dot_f16};
use super::*;
use crate::ggml_math;
use crate::kv_cache::CacheShape;

/// llama.cpp's cache view padding, which the plain version below sums over in full.
const KV_PAD: usize = 256;

/// One sequence's inputs: queries `(n_heads, n, d)` (rounded to f16), keys and values
/// `(n_kv, total, d)` (rounded to f16), for positions `total - n..total`.
struct Case {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    n: usize,
    total: usize,
}

fn random_case(rng: &mut ChaCha8Rng, h: Heads, n: usize, total: usize) -> Case {
    let mut f16s = |len: usize, amp: f32| -> Vec<f32> {
        (0..len)
            .map(|_| f16::from_f32(rng.random_range(-amp..amp)).to_f32())
            .collect()
    };
    Case {
        q: f16s(h.n_heads * n * h.head_dim, 2.0),
        k: f16s(h.n_kv_heads * total * h.head_dim, 2.0),
        v: f16s(h.n_kv_heads * total * h.head_dim, 1.0),
        n,
        total,
    }
}

/// The straightforward version: per query head and row, scores over the visible keys,
/// then the weighted sum of values over the whole padded view, values transposed into
/// a zeroed buffer.
fn plain(c: &Case, h: Heads, scale: f32, window: usize) -> Vec<f32> {
    let (d, total, n) = (h.head_dim, c.total, c.n);
    let start = total - n;
    let group = h.n_heads / h.n_kv_heads;
    let padded = total.div_ceil(KV_PAD) * KV_PAD;
    let mut out = vec![0f32; n * h.n_heads * d];
    for head in 0..h.n_heads {
        let kv = head / group;
        let keys = &c.k[kv * total * d..(kv + 1) * total * d];
        let mut v_t = vec![0f32; d * padded];
        for j in 0..total {
            for ch in 0..d {
                v_t[ch * padded + j] = c.v[(kv * total + j) * d + ch];
            }
        }
        for i in 0..n {
            let qi = &c.q[(head * n + i) * d..][..d];
            let visible = start + i + 1;
            let mut probs = vec![0f32; padded];
            for j in 0..visible {
                let kj = &keys[j * d..(j + 1) * d];
                let dot = if n == 1 {
                    vec_dot_f16(kj, qi)
                } else {
                    dot16(kj, qi)
                };
                probs[j] = dot * scale;
            }
            let first_visible = (visible - 1).saturating_sub(window - 1);
            probs[..first_visible].fill(f32::NEG_INFINITY);
            ggml_math::softmax_portable(&mut probs[..visible]);
            for p in &mut probs[..visible] {
                *p = f16::from_f32(*p).to_f32();
            }
            for ch in 0..d {
                out[(i * h.n_heads + head) * d + ch] =
                    vec_dot_f16(&v_t[ch * padded..(ch + 1) * padded], &probs);
            }
        }
    }
    out
}

/// Runs `cases` as one batch through the cache and [`attend`].
fn batched(cases: &[Case], h: Heads, scale: f32, window: usize) -> Result<Vec<f32>> {
    let d = h.head_dim;
    let shape = CacheShape {
        n_layers: 1,
        n_kv_heads: h.n_kv_heads,
        head_dim: d,
    };
    let mut caches = Vec::new();
    for c in cases {
        let mut cache = KvCache::new(shape, c.total + 7, &Device::Cpu)?;
        // Token-major rows, as the layer's projections produce them.
        let token_major = |x: &[f32]| -> Vec<f32> {
            (0..c.total)
                .flat_map(|j| (0..h.n_kv_heads).flat_map(move |kv| (0..d).map(move |e| (kv, j, e))))
                .map(|(kv, j, e)| x[(kv * c.total + j) * d + e])
                .collect()
        };
        cache.write(0, 0, &token_major(&c.k), &token_major(&c.v));
        caches.push(cache);
    }
    let mut q = Vec::new();
    let mut seqs = Vec::new();
    let mut row = 0;
    for (c, cache) in cases.iter().zip(&caches) {
        for i in 0..c.n {
            for head in 0..h.n_heads {
                q.extend_from_slice(&c.q[(head * c.n + i) * d..][..d]);
            }
        }
        seqs.push(Seq {
            view: cache.layer(0),
            first_row: row,
            n: c.n,
            start: c.total - c.n,
        });
        row += c.n;
    }
    Ok(attend(
        &seqs,
        &q,
        Params {
            heads: h,
            scale,
            window,
        },
    )
    .into_vec())
}

fn assert_same_bits(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "element {i}: {g} vs {w}");
    }
}

#[test]
fn batched_attention_equals_the_plain_version_bit_for_bit() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let h = Heads {
        n_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
    };
    let scale = 1.0 / 8.0;
    // Prompt chunks (several row blocks, one on top of a history), decoding rows at
    // short and long contexts, and a head size with a remainder.
    for window in [usize::MAX, 37] {
        let shapes = [(70, 70), (40, 300), (1, 1), (1, 129), (1, 600), (3, 64)];
        let cases: Vec<Case> = shapes
            .iter()
            .map(|&(n, total)| random_case(&mut rng, h, n, total))
            .collect();
        let got = batched(&cases, h, scale, window)?;
        let mut want = Vec::new();
        for c in &cases {
            want.extend(plain(c, h, scale, window));
        }
        assert_same_bits(&got, &want);
    }
    // Groups of four and seven query heads per key/value head (Gemma 3's, Qwen2.5's),
    // one of them with Gemma 3's head size.
    for (h, window) in [
        (
            Heads {
                n_heads: 4,
                n_kv_heads: 1,
                head_dim: 256,
            },
            50,
        ),
        (
            Heads {
                n_heads: 14,
                n_kv_heads: 2,
                head_dim: 64,
            },
            usize::MAX,
        ),
    ] {
        let cases: Vec<Case> = [(21, 200), (1, 150)]
            .iter()
            .map(|&(n, total)| random_case(&mut rng, h, n, total))
            .collect();
        let got = batched(&cases, h, 0.0625, window)?;
        let want: Vec<f32> = cases
            .iter()
            .flat_map(|c| plain(c, h, 0.0625, window))
            .collect();
        assert_same_bits(&got, &want);
    }
    // A lone decoding row with a long history: its query heads are shared out over
    // two tasks.
    for (h, total) in [
        (
            Heads {
                n_heads: 9,
                n_kv_heads: 3,
                head_dim: 64,
            },
            700,
        ),
        (
            Heads {
                n_heads: 4,
                n_kv_heads: 1,
                head_dim: 256,
            },
            300,
        ),
        // A head size the f16 reads do not take.
        (
            Heads {
                n_heads: 2,
                n_kv_heads: 1,
                head_dim: 80,
            },
            290,
        ),
    ] {
        let case = [random_case(&mut rng, h, 1, total)];
        let got = batched(&case, h, 0.125, 100)?;
        assert_same_bits(&got, &plain(&case[0], h, 0.125, 100));
    }
    let odd = Heads {
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 80,
    };
    let cases = [
        random_case(&mut rng, odd, 1, 90),
        random_case(&mut rng, odd, 5, 20),
    ];
    let got = batched(&cases, odd, 0.3, usize::MAX)?;
    let want: Vec<f32> = cases
        .iter()
        .flat_map(|c| plain(c, odd, 0.3, usize::MAX))
        .collect();
    assert_same_bits(&got, &want);
    Ok(())
}

#[test]
fn grouped_causal_attention_is_close_to_exact_softmax() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let h = Heads {
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 8,
    };
    let c = random_case(&mut rng, h, 3, 5);
    let got = batched(std::slice::from_ref(&c), h, 1.0 / 8f32.sqrt(), usize::MAX)?;
    let (d, start) = (h.head_dim, c.total - c.n);
    for head in 0..h.n_heads {
        let kv = head / 3;
        for i in 0..c.n {
            let qi = &c.q[(head * c.n + i) * d..][..d];
            let scores: Vec<f32> = (0..start + i + 1)
                .map(|j| {
                    let kj = &c.k[(kv * c.total + j) * d..][..d];
                    qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt()
                })
                .collect();
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            for ch in 0..d {
                let want: f32 = exp
                    .iter()
                    .enumerate()
                    .map(|(j, e)| e / sum * c.v[(kv * c.total + j) * d + ch])
                    .sum();
                let g = got[(i * h.n_heads + head) * d + ch];
                assert!((g - want).abs() < 1e-2, "{g} vs {want}");
            }
        }
    }
    Ok(())
}
