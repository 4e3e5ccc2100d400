//! Dot products of one weight row with one quantized activation row.
//!
//! The arithmetic follows llama.cpp's AVX2 kernels lane for lane: each block's integer
//! products are summed in eight lanes of four, each lane is accumulated with a fused
//! multiply-add, and the lanes are reduced in the same tree. The result is then the
//! same float llama.cpp computes, which is what keeps greedy decoding token-exact.

use super::act::ActBlock;

/// A Q4_1 block after repacking: `x = d · q + m` with 4-bit `q`; low nibbles hold
/// values 0‥16, high nibbles 16‥32.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q4_1Block {
    pub d: f32,
    pub m: f32,
    pub qs: [u8; 16],
}

/// A Q8_0 block after repacking: `x = d · q`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q8_0Block {
    pub d: f32,
    pub qs: [i8; 32],
}

/// A Q5_0 block after repacking: `x = d · (q − 16)` with 5-bit `q`: the low four bits
/// in nibbles as Q4_1, the fifth bit of value `j` in bit `j` of `qh`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q5_0Block {
    pub d: f32,
    pub qh: u32,
    pub qs: [u8; 16],
}

/// `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`: `hsum_float_8`'s order.
#[inline(always)]
pub(crate) fn reduce(l: &[f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

#[inline(always)]
fn lane_sums(x: &[i32; 32], y: &[i8; 32]) -> [f32; 8] {
    let mut lanes = [0f32; 8];
    for (l, lane) in lanes.iter_mut().enumerate() {
        let mut s = 0i32;
        for j in 4 * l..4 * l + 4 {
            s += x[j] * y[j] as i32;
        }
        *lane = s as f32;
    }
    lanes
}

#[inline(always)]
pub(crate) fn q4_1(w: &[Q4_1Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        summs = wb.m.mul_add(ab.s, summs);
        let mut x = [0i32; 32];
        for (j, &q) in wb.qs.iter().enumerate() {
            x[j] = (q & 0x0F) as i32;
            x[j + 16] = (q >> 4) as i32;
        }
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc) + summs
}

#[inline(always)]
pub(crate) fn q5_0(w: &[Q5_0Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, ab) in w.iter().zip(a) {
        let mut x = [0i32; 32];
        for (j, &q) in wb.qs.iter().enumerate() {
            let hi = |k: usize| (((wb.qh >> k) & 1) << 4) as i32;
            x[j] = (q & 0x0F) as i32 + hi(j) - 16;
            x[j + 16] = (q >> 4) as i32 + hi(j + 16) - 16;
        }
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc)
}

#[inline(always)]
pub(crate) fn q8_0(w: &[Q8_0Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, ab) in w.iter().zip(a) {
        let x: [i32; 32] = std::array::from_fn(|j| wb.qs[j] as i32);
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc)
}

/// The same two dot products with AVX2 intrinsics: one `maddubs` + `madd` gives exactly
/// the eight lane sums of [`lane_sums`] (no saturation is possible with these ranges),
/// so results are bit-identical to the portable code.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use super::{ActBlock, Q4_1Block, Q5_0Block, Q8_0Block};

    #[target_feature(enable = "avx2,fma")]
    fn hsum8(acc: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn q4_1(w: &[Q4_1Block], a: &[ActBlock]) -> f32 {
        let low = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        for (wb, ab) in w.iter().zip(a) {
            summs = wb.m.mul_add(ab.s, summs);
            // SAFETY: `qs` holds 16 bytes and `ab.qs` 32; unaligned loads.
            let (raw, qy) = unsafe {
                (
                    _mm_loadu_si128(wb.qs.as_ptr().cast()),
                    _mm256_loadu_si256(ab.qs.as_ptr().cast()),
                )
            };
            let qx = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
            let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), ones);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
        }
        hsum8(acc) + summs
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn q5_0(w: &[Q5_0Block], a: &[ActBlock]) -> f32 {
        let low = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        // Byte j of the spread selects bit j of `qh`.
        let shuffle = _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        );
        let bit = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
        let mut acc = _mm256_setzero_ps();
        for (wb, ab) in w.iter().zip(a) {
            // SAFETY: `qs` holds 16 bytes and `ab.qs` 32; unaligned loads.
            let (raw, qy) = unsafe {
                (
                    _mm_loadu_si128(wb.qs.as_ptr().cast()),
                    _mm256_loadu_si256(ab.qs.as_ptr().cast()),
                )
            };
            let nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
            let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(wb.qh as i32), shuffle);
            // 0xFF where the fifth bit is set, 0 where not.
            let set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, bit), _mm256_set1_epi64x(-1));
            // q − 16: the nibble, or the nibble with 0xF0 (−16) where the bit is clear.
            let qx = _mm256_or_si256(
                nibbles,
                _mm256_andnot_si256(set, _mm256_set1_epi8(0xF0u8 as i8)),
            );
            let prod = _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
            let sums = _mm256_madd_epi16(prod, ones);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
        }
        hsum8(acc)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn q8_0(w: &[Q8_0Block], a: &[ActBlock]) -> f32 {
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        for (wb, ab) in w.iter().zip(a) {
            // SAFETY: both hold 32 bytes; unaligned loads.
            let (qx, qy) = unsafe {
                (
                    _mm256_loadu_si256(wb.qs.as_ptr().cast()),
                    _mm256_loadu_si256(ab.qs.as_ptr().cast()),
                )
            };
            let prod = _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
            let sums = _mm256_madd_epi16(prod, ones);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
        }
        hsum8(acc)
    }
}
