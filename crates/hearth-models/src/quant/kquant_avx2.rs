//! The K-quant dot products of [`super::kquant`] with AVX2 intrinsics.
//!
//! `maddubs` forms the products of unsigned weight quants (at most 63) and signed
//! activation quants (at most 127 in magnitude) in pairs, which cannot saturate; `madd`
//! with the sub-block scales widens them to i32. Integer sums are exact, and the float
//! steps are the portable code's, so results are bit-identical to it.

use std::arch::x86_64::*;

use super::kquant::{KActBlock, Path, Q4KBlock, Q6KBlock};

#[target_feature(enable = "avx2,fma")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

#[target_feature(enable = "avx2,fma")]
fn hsum8(acc: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn q4_k(w: &[Q4KBlock], a: &[KActBlock], path: Path) -> f32 {
    let low = _mm256_set1_epi8(0x0F);
    let (mut acc, mut acc_min) = (0f32, 0f32);
    for (wb, ab) in w.iter().zip(a) {
        let (d, dmin) = (wb.d * ab.d, wb.dmin * ab.d);
        // SAFETY: `bsums` holds 16 i16 and `mins` 8 bytes; unaligned loads in bounds.
        let (bsums, mins) = unsafe {
            (
                _mm256_loadu_si256(ab.bsums.as_ptr().cast()),
                _mm_loadl_epi64(wb.mins.as_ptr().cast()),
            )
        };
        // Sums of a over the eight 32-value sub-blocks, then lane c of `min_pairs` is
        // mins[2c] · sum[2c] + mins[2c + 1] · sum[2c + 1]: the min term of pair c.
        let sub_sums = _mm_hadd_epi16(
            _mm256_castsi256_si128(bsums),
            _mm256_extracti128_si256(bsums, 1),
        );
        let min_pairs = _mm_madd_epi16(_mm_cvtepu8_epi16(mins), sub_sums);
        let mut sums = _mm256_setzero_si256();
        let mut pairs = [_mm256_setzero_si256(); 4];
        for (c, pair) in pairs.iter_mut().enumerate() {
            // SAFETY: `qs` holds 128 bytes and `ab.qs` 256; unaligned loads in bounds.
            let (raw, y_lo, y_hi) = unsafe {
                (
                    _mm256_loadu_si256(wb.qs.as_ptr().add(32 * c).cast()),
                    _mm256_loadu_si256(ab.qs.as_ptr().add(64 * c).cast()),
                    _mm256_loadu_si256(ab.qs.as_ptr().add(64 * c + 32).cast()),
                )
            };
            let x_lo = _mm256_and_si256(raw, low);
            let x_hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
            let p_lo = _mm256_madd_epi16(
                _mm256_maddubs_epi16(x_lo, y_lo),
                _mm256_set1_epi16(wb.scales[2 * c] as i16),
            );
            let p_hi = _mm256_madd_epi16(
                _mm256_maddubs_epi16(x_hi, y_hi),
                _mm256_set1_epi16(wb.scales[2 * c + 1] as i16),
            );
            *pair = _mm256_add_epi32(p_lo, p_hi);
            sums = _mm256_add_epi32(sums, *pair);
        }
        if path == Path::Batched {
            let mut min_lanes = [0i32; 4];
            // SAFETY: 16 bytes into a 16-byte array.
            unsafe { _mm_storeu_si128(min_lanes.as_mut_ptr().cast(), min_pairs) };
            for (pair, min) in pairs.into_iter().zip(min_lanes) {
                acc = (hsum_i32(pair) as f32).mul_add(d, acc);
                acc_min = (min as f32).mul_add(dmin, acc_min);
            }
        } else {
            // [Σ sums, Σ min_pairs] in lanes 0 and 1.
            let s4 = _mm_add_epi32(
                _mm256_castsi256_si128(sums),
                _mm256_extracti128_si256(sums, 1),
            );
            let both = _mm_hadd_epi32(_mm_hadd_epi32(s4, min_pairs), _mm_setzero_si128());
            let sum = _mm_cvtsi128_si32(both);
            let min = _mm_extract_epi32(both, 1);
            acc = (sum as f32).mul_add(d, acc);
            acc_min = (min as f32).mul_add(dmin, acc_min);
        }
    }
    acc - acc_min
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn q6_k(w: &[Q6KBlock], a: &[KActBlock], path: Path) -> f32 {
    let m2 = _mm256_set1_epi8(3);
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut total = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        let d = ab.d * wb.d;
        // SAFETY: `bsums` holds 16 i16 and `scales` 16 i8; unaligned loads in bounds.
        let (bsums, scales) = unsafe {
            (
                _mm256_loadu_si256(ab.bsums.as_ptr().cast()),
                _mm_loadu_si128(wb.scales.as_ptr().cast()),
            )
        };
        // Lane l: 32 · (bsums[2l] · scales[2l] + bsums[2l + 1] · scales[2l + 1]).
        let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales)), 5);
        let mut sums = _mm256_setzero_si256();
        for h in 0..2 {
            // SAFETY: `ql` holds 128 bytes, `qh` 64; unaligned loads in bounds.
            let (ql0, ql1, qh) = unsafe {
                (
                    _mm256_loadu_si256(wb.ql.as_ptr().add(64 * h).cast()),
                    _mm256_loadu_si256(wb.ql.as_ptr().add(64 * h + 32).cast()),
                    _mm256_loadu_si256(wb.qh.as_ptr().add(32 * h).cast()),
                )
            };
            // Group s of this half: its low nibbles, ORed with bits 2s..2s+2 of qh at 4..6.
            let groups = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(12)), 2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                    _mm256_and_si256(qh, _mm256_set1_epi8(48)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                    _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(-64)), 2),
                ),
            ];
            let mut p = [_mm256_setzero_si256(); 4];
            for (s, (x, p)) in groups.into_iter().zip(&mut p).enumerate() {
                let g = 4 * h + s;
                // SAFETY: `ab.qs` holds 256 bytes; the load ends at 32(g + 1) ≤ 256.
                let y = unsafe { _mm256_loadu_si256(ab.qs.as_ptr().add(32 * g).cast()) };
                // The first 16 values of the group use sub-block 2g's scale, the rest 2g+1's.
                let scale = _mm256_set_m128i(
                    _mm_set1_epi16(wb.scales[2 * g + 1] as i16),
                    _mm_set1_epi16(wb.scales[2 * g] as i16),
                );
                *p = _mm256_madd_epi16(scale, _mm256_maddubs_epi16(x, y));
            }
            sums = _mm256_add_epi32(sums, _mm256_add_epi32(p[0], p[1]));
            sums = _mm256_add_epi32(sums, _mm256_add_epi32(p[2], p[3]));
        }
        let sums = _mm256_sub_epi32(sums, offset);
        if path == Path::Batched {
            total = (hsum_i32(sums) as f32 * wb.d).mul_add(ab.d, total);
        } else {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums), acc);
        }
    }
    match path {
        Path::Single => hsum8(acc),
        Path::Batched => total,
    }
}
