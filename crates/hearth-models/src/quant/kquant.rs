//! K-quant weights (`Q4_K`, `Q6_K`) against activations quantized to `Q8_K`, in the
//! arithmetic llama.cpp's x86 build uses for them.
//!
//! llama.cpp quantizes each activation row to `Q8_K` (256 values per block, one f32
//! scale, sums of every 16 quants). The integer parts of every kernel below are exact,
//! so only which integers meet in which float matters, and that depends on the batch:
//!
//! - `Q4_K` matrices are repacked eight rows at a time on AVX2 machines. Activation rows
//!   in whole groups of four go through `ggml_gemm_q4_K_8x8_q8_K` (quantized by
//!   `ggml_quantize_mat_q8_K_4x8`), the rest through `ggml_gemv_q4_K_8x8_q8_K`
//!   (`quantize_row_q8_K_ref`). Both keep the min term in a second accumulator that is
//!   subtracted at the end; the gemv adds one fused multiply-add per super-block, the
//!   gemm one per pair of 32-value sub-blocks.
//! - `Q6_K` batches of 8 rows or more go through ggml's tiled K-quant matmul (one exact
//!   integer per super-block, scaled by the weight scale, then fused-multiply-added with
//!   the activation scale: GCC contracts the kernel's separate multiply and add); smaller ones through `ggml_vec_dot_q6_K_q8_K`, which keeps eight
//!   integer lanes per super-block and reduces eight float lanes in `hsum_float_8`'s
//!   order.
//!
//! [`Path`] names the two cases; which rows take which is decided per sequence chunk
//! (llama.cpp's batch for one sequence), so a row never depends on other sequences.

// Index arithmetic mirrors ggml's block layouts; iterator chains would hide them.
#![allow(clippy::needless_range_loop)]

use half::f16;

use super::dot::reduce;

/// Values per super-block.
pub(crate) const QK_K: usize = 256;

/// 256 activations as `d · qs[i]`; `bsums[j]` is the sum of `qs[16j..16j + 16]`.
/// `d` is negative when the value of largest magnitude is positive (llama.cpp's sign
/// convention, kept because it decides how ties round).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KActBlock {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; 16],
}

impl Default for KActBlock {
    fn default() -> Self {
        Self {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; 16],
        }
    }
}

/// Which of llama.cpp's two arithmetic paths a K-quant output takes (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// `Q4_K`: gemv, rows outside a whole group of four. `Q6_K`: `vec_dot`, chunks of
    /// fewer than 8 rows. Always the path of a single decoding row.
    Single,
    /// `Q4_K`: gemm, rows in a whole group of four. `Q6_K`: tiled, chunks of 8 or more.
    Batched,
}

/// Quantizes `x` (a multiple of 256 long) into `out` as `quantize_row_q8_K_ref` does:
/// the value of largest magnitude, `max`, sets `iscale = −127 / max`; each value
/// becomes `round_ties_even(iscale · x)` (the product rounded to f32 first, as
/// `nearest_int` sees it) capped at 127, and `d = 1 / iscale`.
///
/// When `+amax` and `−amax` both occur, `quantize_row_q8_K_ref` takes the sign of the
/// first; `ggml_quantize_mat_q8_K_4x8` takes `+amax` (`prefer_positive`).
pub(crate) fn quantize_row_k(x: &[f32], out: &mut [KActBlock], prefer_positive: bool) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx512f() {
        // SAFETY: the CPU was just found to support AVX-512 F.
        return unsafe { avx512::quantize_row_k(x, out, prefer_positive) };
    }
    quantize_row_k_dispatched(x, out, prefer_positive)
}

/// [`quantize_row_k`] sixteen values at a time, with the same results.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{KActBlock, QK_K};

    /// # Safety
    /// The CPU must support AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_row_k(x: &[f32], out: &mut [KActBlock], prefer_positive: bool) {
        for (block, xs) in out.iter_mut().zip(x.chunks_exact(QK_K)) {
            // SAFETY: sixteen loads of sixteen floats cover the block's 256.
            let v: [__m512; QK_K / 16] =
                std::array::from_fn(|i| unsafe { _mm512_loadu_ps(xs.as_ptr().add(16 * i)) });
            // NaN never wins: `max` returns its second operand when either is NaN.
            let lanes = v.iter().fold(_mm512_setzero_ps(), |m, &v| {
                _mm512_max_ps(_mm512_abs_ps(v), m)
            });
            let mut l = [0f32; 16];
            // SAFETY: sixteen floats.
            unsafe { _mm512_storeu_ps(l.as_mut_ptr(), lanes) };
            let amax = l.into_iter().fold(0f32, |m, a| if a > m { a } else { m });
            if amax == 0.0 {
                *block = KActBlock::default();
                continue;
            }
            let target = _mm512_set1_ps(amax);
            let positive = || {
                v.iter()
                    .any(|&v| _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, target) != 0)
            };
            let max = if prefer_positive && positive() {
                amax
            } else {
                // The first value of magnitude `amax`: one exists.
                v.iter()
                    .enumerate()
                    .find_map(|(i, &v)| {
                        let hit = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(_mm512_abs_ps(v), target);
                        (hit != 0).then(|| xs[16 * i + hit.trailing_zeros() as usize])
                    })
                    .unwrap_or(amax)
            };
            let iscale = -127.0 / max;
            let scale = _mm512_set1_ps(iscale);
            for (i, &v) in v.iter().enumerate() {
                let p = _mm512_mul_ps(scale, v);
                let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    p,
                );
                // NaN converts to 0, as `as i32` does; the rest is clamped to i8.
                let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(p, p);
                let q = _mm512_mask_mov_epi32(q, nan, _mm512_setzero_si512());
                let q = _mm512_min_epi32(
                    _mm512_max_epi32(q, _mm512_set1_epi32(-128)),
                    _mm512_set1_epi32(127),
                );
                // SAFETY: sixteen bytes at `16 · i` of the 256.
                unsafe {
                    _mm_storeu_si128(
                        block.qs.as_mut_ptr().add(16 * i).cast(),
                        _mm512_cvtepi32_epi8(q),
                    )
                };
                block.bsums[i] = _mm512_reduce_add_epi32(q) as i16;
            }
            block.d = 1.0 / iscale;
        }
    }
}

// With AVX2 the rounding is one instruction instead of a call into libm.
crate::cpu::fma_dispatch!(fn quantize_row_k_dispatched(x: &[f32], out: &mut [KActBlock], prefer_positive: bool) -> () = quantize_row_k_generic);

#[inline(always)]
fn quantize_row_k_generic(x: &[f32], out: &mut [KActBlock], prefer_positive: bool) {
    for (block, xs) in out.iter_mut().zip(x.chunks_exact(QK_K)) {
        // The largest magnitude in eight lanes (NaN never wins a comparison), then the
        // first value that has it: a search the compiler can vectorize, with the same
        // answer as one pass that keeps the first strictly larger magnitude.
        let mut lanes = [0f32; 8];
        for chunk in xs.chunks(8) {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                let a = v.abs();
                *lane = if a > *lane { a } else { *lane };
            }
        }
        let amax = lanes
            .into_iter()
            .fold(0f32, |m, a| if a > m { a } else { m });
        if amax == 0.0 {
            *block = KActBlock::default();
            continue;
        }
        let max = if prefer_positive && xs.contains(&amax) {
            amax
        } else {
            // `amax` is the magnitude of some value of `xs`, so the search finds one.
            xs.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax)
        };
        let iscale = -127.0 / max;
        for (q, &v) in block.qs.iter_mut().zip(xs) {
            *q = ((iscale * v).round_ties_even() as i32).clamp(-128, 127) as i8;
        }
        for (sum, qs) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
            *sum = qs.iter().map(|&q| q as i16).sum();
        }
        block.d = 1.0 / iscale;
    }
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// A `Q4_K` super-block after repacking: `x = d · scales[j] · q − dmin · mins[j]` for
/// sub-block `j` of 32, with the 6-bit scales and mins unpacked once at load. In chunk
/// `c` of 64 values, `qs[32c + l]` holds value `64c + l` in its low nibble and
/// `64c + 32 + l` in its high nibble (the GGUF order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q4KBlock {
    pub d: f32,
    pub dmin: f32,
    pub scales: [u8; 8],
    pub mins: [u8; 8],
    pub qs: [u8; 128],
}

impl Q4KBlock {
    /// Decodes one 144-byte GGUF block `{f16 d, f16 dmin, u8 scales[12], u8 qs[128]}`.
    pub(crate) fn from_gguf(b: &[u8]) -> Self {
        let s = &b[4..16];
        let mut scales = [0u8; 8];
        let mut mins = [0u8; 8];
        for j in 0..8 {
            // Sub-blocks 0..4 keep both in the low 6 bits of bytes j and j + 4; 4..8 keep
            // their low 4 bits in the nibbles of byte j + 4 and their top 2 bits in the
            // top bits of bytes j − 4 (scale) and j (min).
            (scales[j], mins[j]) = if j < 4 {
                (s[j] & 63, s[j + 4] & 63)
            } else {
                (
                    (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
                    (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
                )
            };
        }
        Self {
            d: f16_at(b, 0),
            dmin: f16_at(b, 2),
            scales,
            mins,
            qs: std::array::from_fn(|i| b[16 + i]),
        }
    }

    /// The 256 values, as ggml's `dequantize_row_q4_K` computes them.
    pub(crate) fn dequantize(&self, out: &mut Vec<f32>) {
        for c in 0..4 {
            for (half, shift) in [(0, 0), (1, 4)] {
                let j = 2 * c + half;
                let d = self.d * self.scales[j] as f32;
                let m = self.dmin * self.mins[j] as f32;
                let qs = &self.qs[32 * c..32 * c + 32];
                out.extend(qs.iter().map(|&q| d * ((q >> shift) & 0x0F) as f32 - m));
            }
        }
    }
}

/// A `Q6_K` super-block as stored, with `d` widened to f32: `x = d · scales[i / 16] ·
/// (q − 32)`. In half `h` of 128 values, value `128h + 32s + l` takes its low 4 bits
/// from `ql[64h + 32(s % 2) + l]` (low nibble for `s < 2`) and its top 2 bits from bits
/// `2s..2s + 2` of `qh[32h + l]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q6KBlock {
    pub d: f32,
    pub scales: [i8; 16],
    pub ql: [u8; 128],
    pub qh: [u8; 64],
}

impl Q6KBlock {
    /// Decodes one 210-byte GGUF block `{u8 ql[128], u8 qh[64], i8 scales[16], f16 d}`.
    pub(crate) fn from_gguf(b: &[u8]) -> Self {
        Self {
            d: f16_at(b, 208),
            scales: std::array::from_fn(|i| b[192 + i] as i8),
            ql: std::array::from_fn(|i| b[i]),
            qh: std::array::from_fn(|i| b[128 + i]),
        }
    }

    /// The unsigned 6-bit quant (0..64, 32 meaning zero) of value `i`.
    #[inline(always)]
    fn quant(&self, i: usize) -> i32 {
        let (h, s, l) = (i / 128, (i % 128) / 32, i % 32);
        let ql = self.ql[64 * h + 32 * (s % 2) + l];
        let low = if s < 2 { ql & 0x0F } else { ql >> 4 };
        let high = (self.qh[32 * h + l] >> (2 * s)) & 3;
        (low | (high << 4)) as i32
    }

    /// The 256 values, as ggml's `dequantize_row_q6_K` computes them.
    pub(crate) fn dequantize(&self, out: &mut Vec<f32>) {
        out.extend(
            (0..QK_K).map(|i| self.d * self.scales[i / 16] as f32 * (self.quant(i) - 32) as f32),
        );
    }
}

/// One weight row of `Q4_K` blocks times one `Q8_K` activation row.
///
/// For each pair `c` of 32-value sub-blocks: `Σ scales[j] · (q · a over sub-block j)`
/// and `Σ mins[j] · (sum of a over sub-block j)` as exact integers. Each
/// goes into its own accumulator with a fused multiply-add by `d · a.d` and
/// `dmin · a.d`: per pair on the batched path, summed over the super-block first on the
/// single one. The result is the difference of the two accumulators.
#[inline(always)]
pub(crate) fn q4_k(w: &[Q4KBlock], a: &[KActBlock], path: Path) -> f32 {
    let (mut acc, mut acc_min) = (0f32, 0f32);
    for (wb, ab) in w.iter().zip(a) {
        let (d, dmin) = (wb.d * ab.d, wb.dmin * ab.d);
        let (mut sum, mut min) = (0i32, 0i32);
        for c in 0..4 {
            let (mut lo, mut hi) = (0i32, 0i32);
            for l in 0..32 {
                let q = wb.qs[32 * c + l];
                lo += (q & 0x0F) as i32 * ab.qs[64 * c + l] as i32;
                hi += (q >> 4) as i32 * ab.qs[64 * c + 32 + l] as i32;
            }
            let pair = wb.scales[2 * c] as i32 * lo + wb.scales[2 * c + 1] as i32 * hi;
            let pair_min = pair_min(wb, ab, c);
            if path == Path::Batched {
                acc = (pair as f32).mul_add(d, acc);
                acc_min = (pair_min as f32).mul_add(dmin, acc_min);
            } else {
                sum += pair;
                min += pair_min;
            }
        }
        if path == Path::Single {
            acc = (sum as f32).mul_add(d, acc);
            acc_min = (min as f32).mul_add(dmin, acc_min);
        }
    }
    acc - acc_min
}

/// `mins[2c] · (sum of a over sub-block 2c) + mins[2c + 1] · (… 2c + 1)`, exact.
#[inline(always)]
fn pair_min(wb: &Q4KBlock, ab: &KActBlock, c: usize) -> i32 {
    let b = &ab.bsums[4 * c..4 * c + 4];
    wb.mins[2 * c] as i32 * (b[0] as i32 + b[1] as i32)
        + wb.mins[2 * c + 1] as i32 * (b[2] as i32 + b[3] as i32)
}

/// One weight row of `Q6_K` blocks times one `Q8_K` activation row.
///
/// Eight integer lanes per super-block, as `ggml_vec_dot_q6_K_q8_K` forms them on AVX2:
/// lane `l` gathers values `32s + 4l .. 32s + 4l + 4` of every 32-value group `s`, each
/// group's products times its 16-value sub-block scale, less
/// `32 · (bsums[2l] · scales[2l] + bsums[2l + 1] · scales[2l + 1])` (the −32 offset,
/// folded in per lane). Each lane is accumulated with `fma(d · a.d, lane, acc)` and the
/// lanes reduced in `hsum_float_8`'s order. On the batched path the lanes are summed
/// to one integer per super-block and `fma(sum · d, a.d, acc)` taken on one accumulator.
#[inline(always)]
pub(crate) fn q6_k(w: &[Q6KBlock], a: &[KActBlock], path: Path) -> f32 {
    let mut acc = [0f32; 8];
    let mut total = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        let d = ab.d * wb.d;
        let mut lanes = [0i32; 8];
        for g in 0..8 {
            for l in 0..8 {
                let scale = wb.scales[2 * g + l / 4] as i32;
                let mut p = 0i32;
                for e in 0..4 {
                    let i = 32 * g + 4 * l + e;
                    p += wb.quant(i) * ab.qs[i] as i32;
                }
                lanes[l] += scale * p;
            }
        }
        for l in 0..8 {
            let offset = ab.bsums[2 * l] as i32 * wb.scales[2 * l] as i32
                + ab.bsums[2 * l + 1] as i32 * wb.scales[2 * l + 1] as i32;
            lanes[l] -= offset << 5;
        }
        if path == Path::Batched {
            total = (lanes.iter().sum::<i32>() as f32 * wb.d).mul_add(ab.d, total);
        } else {
            for l in 0..8 {
                acc[l] = d.mul_add(lanes[l] as f32, acc[l]);
            }
        }
    }
    match path {
        Path::Single => reduce(&acc),
        Path::Batched => total,
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn largest_positive_value_gives_a_negative_scale() {
        let mut x = [0f32; QK_K];
        x[3] = 2.0;
        x[7] = -1.0;
        x[200] = 0.5;
        let mut out = [KActBlock::default()];
        quantize_row_k(&x, &mut out, false);
        let b = &out[0];
        assert!(b.d < 0.0);
        assert_eq!((b.qs[3], b.qs[7], b.qs[200]), (-127, 64, -32));
        assert_eq!(b.bsums[0], -127 + 64);
        assert_eq!(b.bsums[12], -32);
    }

    #[test]
    fn first_of_equal_magnitudes_sets_the_sign() {
        let mut x = [0f32; QK_K];
        x[1] = -3.0;
        x[9] = 3.0;
        let mut out = [KActBlock::default()];
        quantize_row_k(&x, &mut out, false);
        assert!(out[0].d > 0.0);
        assert_eq!((out[0].qs[1], out[0].qs[9]), (-127, 127));
        quantize_row_k(&x, &mut out, true);
        assert!(out[0].d < 0.0);
        assert_eq!((out[0].qs[1], out[0].qs[9]), (127, -127));
    }

    #[test]
    fn zero_block_is_all_zero() {
        let mut out = [KActBlock::default()];
        quantize_row_k(&[0.0; QK_K], &mut out, false);
        assert_eq!(out[0].d, 0.0);
        assert!(out[0].qs.iter().all(|&q| q == 0) && out[0].bsums.iter().all(|&s| s == 0));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_q8_k_quantization_equals_the_scalar_one() {
        if !crate::cpu::has_avx512f() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for case in 0..12 {
            let mut x: Vec<f32> = (0..4 * QK_K)
                .map(|_| rng.random_range(-0.5..0.5) * 10f32.powi(case % 5 - 2))
                .collect();
            // Exact ties after scaling (127 / 2 · k), a repeated largest magnitude of
            // both signs, NaN, infinity and an all-zero block.
            x[5] = 2.0;
            x[6] = 0.5 * 2.0 / 127.0 * 3.0;
            x[300] = -2.0;
            x[301] = 2.0;
            if case % 3 == 0 {
                x[QK_K + 9] = f32::NAN;
            }
            if case % 4 == 1 {
                x[2 * QK_K + 1] = f32::INFINITY;
            }
            x[3 * QK_K..].fill(0.0);
            for prefer_positive in [false, true] {
                let mut want = vec![KActBlock::default(); 4];
                quantize_row_k_dispatched(&x, &mut want, prefer_positive);
                let mut got = vec![KActBlock::default(); 4];
                // SAFETY: AVX-512 F was just detected.
                unsafe { avx512::quantize_row_k(&x, &mut got, prefer_positive) };
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.d.to_bits(), w.d.to_bits(), "case {case}");
                    assert_eq!(g.qs, w.qs, "case {case}");
                    assert_eq!(g.bsums, w.bsums, "case {case}");
                }
            }
        }
    }
}
