//! The arithmetic of one attention task: llama.cpp's, bit for bit (flash attention
//! off, f16 cache).
//!
//! Queries and attention weights are rounded to f16 like the cache they meet; every
//! dot product is accumulated in 16 fused lanes and reduced in `_mm512_reduce_add_ps`
//! order; the softmax is ggml's. Matching it keeps greedy decoding token-exact.
//!
//! llama.cpp runs the weighted sum of values over its whole cache view, padded to 256
//! cells, with zero weights past the visible keys. Those products are ±0 and add
//! nothing: an accumulator that starts at +0 never becomes −0, and `x + ±0 = x` for
//! any other `x`. So the sum here stops at the visible keys rounded up to the 64-cell
//! step of `vec_dot_f16`, with the same result (the cached values being finite).

use super::f16c::{round_through_f16, widen};
use super::{Heads, Params, Seq};
use crate::kv_cache::CELL_GROUP;
use crate::{cpu, ggml_math};

/// Buffers one thread reuses from task to task.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Keys of one head as f32, `(visible, head_dim)`.
    keys: Vec<f32>,
    /// Values of one head as f32, transposed: `(head_dim, stride)`.
    values_t: Vec<f32>,
    /// Scores, then attention weights, of one query row.
    probs: Vec<f32>,
}

/// Attention of the query heads sharing key/value head `kv`, for the rows
/// `first..first + q_rows / width` of `seq`'s chunk; `q_rows` is token-major,
/// `(rows, n_heads · head_dim)`. Returns `(group, rows, head_dim)`, `group` being the
/// query heads per key/value head.
pub(crate) fn kv_head_rows(
    scratch: &mut Scratch,
    seq: &Seq,
    kv: usize,
    first: usize,
    q_rows: &[f32],
    p: Params,
) -> Vec<f32> {
    let Heads {
        n_heads,
        n_kv_heads,
        head_dim,
    } = p.heads;
    let group = n_heads / n_kv_heads;
    let n_rows = q_rows.len() / (n_heads * head_dim);
    let cells = seq.view.cells;
    // The last row sees this many keys; the value sums read whole groups of 64.
    let visible = seq.start + first + n_rows;
    let stride = visible.div_ceil(CELL_GROUP) * CELL_GROUP;
    scratch.keys.resize(visible * head_dim, 0.0);
    let keys = &seq.view.keys[kv * cells * head_dim..][..visible * head_dim];
    widen(keys, &mut scratch.keys);
    scratch.values_t.resize(head_dim * stride, 0.0);
    for (c, dst) in scratch.values_t.chunks_exact_mut(stride).enumerate() {
        widen(
            &seq.view.values_t[(kv * head_dim + c) * cells..][..stride],
            dst,
        );
    }
    scratch.probs.resize(stride, 0.0);
    let mut out = vec![0f32; group * n_rows * head_dim];
    for (g, out) in out.chunks_exact_mut(n_rows * head_dim).enumerate() {
        let rows = Rows {
            keys: &scratch.keys,
            values_t: &scratch.values_t,
            stride,
            q: q_rows,
            q_offset: (kv * group + g) * head_dim,
            q_width: n_heads * head_dim,
            head_dim,
            position: seq.start + first,
            single: seq.n == 1,
            scale: p.scale,
            window: p.window,
        };
        rows_of_head(&rows, &mut scratch.probs, out);
    }
    out
}

/// Inputs of [`rows_of_head`].
pub(crate) struct Rows<'a> {
    pub keys: &'a [f32],
    pub values_t: &'a [f32],
    /// Row length of `values_t`, a multiple of 64 covering every visible key.
    pub stride: usize,
    pub q: &'a [f32],
    /// Where this head's query starts in each row of `q`, and the row length.
    pub q_offset: usize,
    pub q_width: usize,
    pub head_dim: usize,
    /// Position of the first row.
    pub position: usize,
    /// The chunk is a single decoding row (llama.cpp then uses its vector dot
    /// product for `q·k`; prompt chunks go through its 16-lane matrix kernel).
    pub single: bool,
    pub scale: f32,
    pub window: usize,
}

cpu::fma_dispatch!(pub(crate) fn rows_of_head(r: &Rows, probs: &mut [f32], out: &mut [f32]) -> () = rows_generic);

#[inline(always)]
fn rows_generic(r: &Rows, probs: &mut [f32], out: &mut [f32]) {
    let hd = r.head_dim;
    for (i, o) in out.chunks_exact_mut(hd).enumerate() {
        let qi = &r.q[i * r.q_width + r.q_offset..][..hd];
        let visible = r.position + i + 1;
        let first_visible = (visible - 1).saturating_sub(r.window - 1);
        let scores = &mut probs[..visible];
        scores[..first_visible].fill(f32::NEG_INFINITY);
        let keys = &r.keys[first_visible * hd..visible * hd];
        let scores_seen = &mut scores[first_visible..];
        if r.single {
            for (s, kj) in scores_seen.iter_mut().zip(keys.chunks_exact(hd)) {
                *s = vec_dot_f16(kj, qi) * r.scale;
            }
        } else {
            // Four keys at a time: one key's sixteen lanes are only two dependency
            // chains, which would leave the core waiting on each multiply-add.
            let mut quads = scores_seen.chunks_exact_mut(4);
            let mut key_quads = keys.chunks_exact(4 * hd);
            for (s, k4) in (&mut quads).zip(&mut key_quads) {
                let k4: [&[f32]; 4] = std::array::from_fn(|j| &k4[j * hd..][..hd]);
                for (s, dot) in s.iter_mut().zip(dot16_x4(k4, qi)) {
                    *s = dot * r.scale;
                }
            }
            let rest = key_quads.remainder().chunks_exact(hd);
            for (s, kj) in quads.into_remainder().iter_mut().zip(rest) {
                *s = dot16(kj, qi) * r.scale;
            }
        }
        ggml_math::softmax(scores);
        // Attention weights meet the f16 values as f16.
        round_through_f16(scores);
        let len = visible.div_ceil(CELL_GROUP) * CELL_GROUP;
        probs[visible..len].fill(0.0);
        for (c, o) in o.iter_mut().enumerate() {
            *o = vec_dot_f16(&r.values_t[c * r.stride..][..len], &probs[..len]);
        }
    }
}

/// `Σ aᵢ·bᵢ` accumulated in 16 lanes with fused multiply-adds (lane `l` takes
/// elements `l, l + 16, …`), then reduced as `_mm512_reduce_add_ps` does; a length
/// that is not a multiple of 16 is padded with zeros.
#[inline(always)]
pub(crate) fn dot16(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::dot16(a, b) };
    }
    dot16_portable(a, b)
}

/// [`dot16`] of four vectors `a[j]` with the same `b`, each bit for bit as alone.
#[inline(always)]
pub(crate) fn dot16_x4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::dot16_x4(a, b) };
    }
    a.map(|a| dot16_portable(a, b))
}

#[inline(always)]
pub(crate) fn dot16_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    for (l, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        lanes[l] = x.mul_add(y, lanes[l]);
    }
    ggml_math::reduce_16(&lanes)
}

/// `Σ aᵢ·bᵢ` as `ggml_vec_dot_f16` computes it with AVX-512: four accumulators of 16
/// fused lanes over steps of 64, summed pairwise, reduced, then the remainder added
/// in f64.
#[inline(always)]
pub(crate) fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::vec_dot_f16(a, b) };
    }
    vec_dot_f16_portable(a, b)
}

#[inline(always)]
pub(crate) fn vec_dot_f16_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let np = n & !63;
    let mut acc = [[0f32; 16]; 4];
    for (ca, cb) in a[..np].chunks_exact(64).zip(b[..np].chunks_exact(64)) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let k = 16 * j + l;
                *lane = ca[k].mul_add(cb[k], *lane);
            }
        }
    }
    let x02: [f32; 16] = std::array::from_fn(|l| acc[0][l] + acc[2][l]);
    let x13: [f32; 16] = std::array::from_fn(|l| acc[1][l] + acc[3][l]);
    let x: [f32; 16] = std::array::from_fn(|l| x02[l] + x13[l]);
    let mut sum = ggml_math::reduce_16(&x) as f64;
    for k in np..n {
        sum += (a[k] * b[k]) as f64;
    }
    sum as f32
}

/// The same dot products with explicit AVX2 vectors: each 16-lane accumulator is two
/// 8-lane registers, every lane sees the same fused multiply-adds in the same order,
/// and the reductions are the portable ones, so the bits are the same.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::ggml_math;

    #[target_feature(enable = "avx2,fma")]
    fn store16(lo: __m256, hi: __m256) -> [f32; 16] {
        let mut out = [0f32; 16];
        let (first, second) = out.split_at_mut(8);
        // SAFETY: each half holds exactly 8 floats.
        unsafe {
            _mm256_storeu_ps(first.as_mut_ptr(), lo);
            _mm256_storeu_ps(second.as_mut_ptr(), hi);
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot16(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let full = n & !15;
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..full).step_by(16) {
            // SAFETY: `i + 16 <= full <= n`, within both slices.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                lo = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), lo);
                hi = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8)), hi);
            }
        }
        let mut lanes = store16(lo, hi);
        for (l, k) in (full..n).enumerate() {
            lanes[l] = a[k].mul_add(b[k], lanes[l]);
        }
        ggml_math::reduce_16(&lanes)
    }

    /// [`dot16`] for four `a` of `b`'s length at once: eight independent chains.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot16_x4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        let n = a.iter().map(|a| a.len()).fold(b.len(), usize::min);
        let full = n & !15;
        let (mut lo, mut hi) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
        for i in (0..full).step_by(16) {
            // SAFETY: `i + 16 <= full <= n`, within every slice.
            unsafe {
                let pb = b.as_ptr().add(i);
                let (b_lo, b_hi) = (_mm256_loadu_ps(pb), _mm256_loadu_ps(pb.add(8)));
                for j in 0..4 {
                    let pa = a[j].as_ptr().add(i);
                    lo[j] = _mm256_fmadd_ps(_mm256_loadu_ps(pa), b_lo, lo[j]);
                    hi[j] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(8)), b_hi, hi[j]);
                }
            }
        }
        std::array::from_fn(|j| {
            let mut lanes = store16(lo[j], hi[j]);
            for (l, k) in (full..n).enumerate() {
                lanes[l] = a[j][k].mul_add(b[k], lanes[l]);
            }
            ggml_math::reduce_16(&lanes)
        })
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let np = n & !63;
        let mut acc = [_mm256_setzero_ps(); 8];
        for i in (0..np).step_by(64) {
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + 64 <= np <= n`, within both slices.
                unsafe {
                    let (pa, pb) = (a.as_ptr().add(i + 8 * r), b.as_ptr().add(i + 8 * r));
                    *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), *acc);
                }
            }
        }
        // Registers 2j and 2j+1 are the low and high halves of accumulator j.
        let x02 = (_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[1], acc[5]));
        let x13 = (_mm256_add_ps(acc[2], acc[6]), _mm256_add_ps(acc[3], acc[7]));
        let x = store16(_mm256_add_ps(x02.0, x13.0), _mm256_add_ps(x02.1, x13.1));
        let mut sum = ggml_math::reduce_16(&x) as f64;
        for k in np..n {
            sum += (a[k] * b[k]) as f64;
        }
        sum as f32
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn vector_dot_products_equal_the_portable_ones_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for n in [1, 15, 16, 17, 63, 64, 65, 80, 128, 200, 256, 513] {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            assert_eq!(
                dot16(&a, &b).to_bits(),
                dot16_portable(&a, &b).to_bits(),
                "{n}"
            );
            assert_eq!(
                vec_dot_f16(&a, &b).to_bits(),
                vec_dot_f16_portable(&a, &b).to_bits(),
                "{n}"
            );
            let others: Vec<Vec<f32>> = (0..3)
                .map(|_| (0..n).map(|_| rng.random_range(-3.0..3.0)).collect())
                .collect();
            let four = [&a[..], &others[0], &others[1], &others[2]];
            let together = dot16_x4(four, &b).map(f32::to_bits);
            assert_eq!(
                together,
                four.map(|a| dot16_portable(a, &b).to_bits()),
                "{n}"
            );
        }
    }
}
