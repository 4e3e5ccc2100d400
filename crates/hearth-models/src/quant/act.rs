//! Activations quantized to 8 bits per 32-value block, once per matmul, exactly as
//! llama.cpp's x86 code does it (`quantize_row_q8_0` / `quantize_row_q8_1`).

use half::f16;

pub(crate) const BLOCK: usize = 32;

/// 32 activations as `d · qs[i]`; `s = d · Σ qs` feeds the min term of Q4_1/Q5_1 dots.
/// `d` and `s` hold the values llama.cpp stores as f16, already rounded through f16.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActBlock {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; BLOCK],
}

impl Default for ActBlock {
    fn default() -> Self {
        Self {
            d: 0.0,
            s: 0.0,
            qs: [0; BLOCK],
        }
    }
}

fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Quantizes `x` (a multiple of 32 long) into `out`, one block per 32 values.
///
/// The scale is `amax / 127`, values are `round_ties_even(x · 127 / amax)` (what
/// `_mm256_round_ps` does), and `s` is rounded once from the f32 product, as llama.cpp
/// does: computing it in f16 arithmetic instead shifts every Q4_1 dot product by up to
/// an f16 ulp, enough to change greedy outputs.
///
/// With AVX2 eight values are quantized at a time (same results).
pub(crate) fn quantize_row(x: &[f32], out: &mut [ActBlock]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::quantize_row(x, out) };
    }
    quantize_row_portable(x, out)
}

fn quantize_row_portable(x: &[f32], out: &mut [ActBlock]) {
    for (block, xs) in out.iter_mut().zip(x.chunks_exact(BLOCK)) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in block.qs.iter_mut().zip(xs) {
            let r = (v * id).round_ties_even() as i32;
            *q = r as i8;
            sum += r;
        }
        block.d = round_f16(d);
        block.s = round_f16(d * sum as f32);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ActBlock, BLOCK, round_f16};

    /// [`super::quantize_row`] with AVX2: `round_ps` to nearest rounds ties to even,
    /// the packs cannot saturate (values are within ±127), and the integer sum is exact.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_row(x: &[f32], out: &mut [ActBlock]) {
        let abs_mask = _mm256_set1_ps(-0.0);
        for (block, xs) in out.iter_mut().zip(x.chunks_exact(BLOCK)) {
            // SAFETY: `xs` holds 32 floats; unaligned loads.
            let v: [__m256; 4] =
                std::array::from_fn(|i| unsafe { _mm256_loadu_ps(xs.as_ptr().add(8 * i)) });
            let mut m = _mm256_andnot_ps(abs_mask, v[0]);
            for &vi in &v[1..] {
                m = _mm256_max_ps(m, _mm256_andnot_ps(abs_mask, vi));
            }
            let m = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
            let q: [__m256i; 4] = std::array::from_fn(|i| {
                let r = _mm256_round_ps(
                    _mm256_mul_ps(v[i], id),
                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
                );
                _mm256_cvtps_epi32(r)
            });
            let sums = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            let s = _mm_add_epi32(
                _mm256_castsi256_si128(sums),
                _mm256_extracti128_si256(sums, 1),
            );
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
            let sum = _mm_cvtsi128_si32(s);
            // The packs interleave 128-bit halves; the permutation puts values in order.
            let packed = _mm256_packs_epi16(
                _mm256_packs_epi32(q[0], q[1]),
                _mm256_packs_epi32(q[2], q[3]),
            );
            let ordered =
                _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            // SAFETY: 32 bytes into the 32-byte `qs`.
            unsafe { _mm256_storeu_si256(block.qs.as_mut_ptr().cast(), ordered) };
            block.d = round_f16(d);
            block.s = round_f16(d * sum as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_portable_quantization_agree() {
        let mut x: Vec<f32> = (0..32 * 40)
            .map(|i| ((i * 7919 % 1013) as f32 / 506.0 - 1.0) * (1 + i % 5) as f32)
            .collect();
        // Exact ties and an all-zero block.
        x[5] = 127.0;
        x[6] = 2.5;
        x[32..64].fill(0.0);
        let mut want = vec![ActBlock::default(); 40];
        quantize_row_portable(&x, &mut want);
        let mut got = vec![ActBlock::default(); 40];
        quantize_row(&x, &mut got);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.d, g.s, g.qs), (w.d, w.s, w.qs));
        }
    }

    #[test]
    fn quantized_block_reconstructs_within_half_a_step() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) * 0.37).collect();
        let mut blocks = [ActBlock::default()];
        quantize_row(&x, &mut blocks);
        let b = &blocks[0];
        let step = 15.5 * 0.37 / 127.0;
        for (q, v) in b.qs.iter().zip(&x) {
            assert!((*q as f32 * b.d - v).abs() <= step * 0.51 + 1e-3, "{q} {v}");
        }
        let sum: i32 = b.qs.iter().map(|&q| q as i32).sum();
        assert!((b.s - b.d * sum as f32).abs() <= b.s.abs() * 1e-3 + 1e-6);
    }

    #[test]
    fn ties_round_to_even() {
        // amax 127 makes id exactly 1, so 2.5 sits on a tie.
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        let mut blocks = [ActBlock::default()];
        quantize_row(&x, &mut blocks);
        assert_eq!(&blocks[0].qs[..3], &[127, 2, -4]);
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut blocks = [ActBlock::default()];
        quantize_row(&[0.0; 32], &mut blocks);
        assert_eq!(blocks[0].d, 0.0);
        assert!(blocks[0].qs.iter().all(|&q| q == 0));
    }
}
