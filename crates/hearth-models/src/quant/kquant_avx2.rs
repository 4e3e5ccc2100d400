//! The K-quant dot products of [`super::kquant`] with AVX2 intrinsics.
//!
//! `maddubs` forms the products of unsigned weight quants (at most 63) and signed
//! activation quants (at most 127 in magnitude) in pairs, which cannot saturate; `madd`
//! with the sub-block scales widens them to i32. Integer sums are exact, and the float
//! steps are the portable code's, so results are bit-identical to it.

use std::arch::x86_64::*;

use super::kquant::{KActBlock, Path, Q4KBlock, Q6KBlock};

#[target_feature(enable = "avx2,fma")]
pub(super) fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// Lane `i` is the sum of the eight lanes of `v[i]` (integer sums, so the order of
/// the additions does not matter).
#[target_feature(enable = "avx2,fma")]
fn hsum4_i32(v: [__m256i; 4]) -> __m128i {
    let quads = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    _mm_add_epi32(
        _mm256_castsi256_si128(quads),
        _mm256_extracti128_si256(quads, 1),
    )
}

/// The sum of the eight lanes in `hsum_float_8`'s order (the tile kernels share it).
#[target_feature(enable = "avx2,fma")]
pub(super) fn hsum8(acc: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// How far ahead of the block it reads a kernel asks the cache for the weights.
///
/// The tiles read four rows of a few hundred bytes side by side and then jump to the
/// next four: left to the hardware prefetcher, every jump waits on memory, and
/// decoding, which reads each weight once per step, ran at half the speed the memory
/// allows (`benches/decode_stack.rs`). 4 KB ahead measured best among 1 to 8 KB.
const PREFETCH_BYTES: usize = 4096;

/// Asks for the bytes [`PREFETCH_BYTES`] past the start of block `b`, as many cache
/// lines as a block spans. A prefetch past the end of the data is harmless.
#[target_feature(enable = "avx2,fma")]
pub(super) fn prefetch_ahead<T>(b: &T) {
    let ahead = (b as *const T).cast::<i8>().wrapping_add(PREFETCH_BYTES);
    for line in (0..size_of::<T>()).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line));
    }
}

/// One `Q4_K` super-block unpacked: its eight 6-bit mins widened to i16, and its
/// low and high nibbles in four registers each.
struct Q4KUnpacked {
    mins: __m128i,
    lo: [__m256i; 4],
    hi: [__m256i; 4],
}

#[target_feature(enable = "avx2,fma")]
fn unpack_q4_k(wb: &Q4KBlock) -> Q4KUnpacked {
    let low = _mm256_set1_epi8(0x0F);
    // SAFETY: `mins` holds 8 bytes; `qs` 128, read in four 32-byte loads.
    let mins = _mm_cvtepu8_epi16(unsafe { _mm_loadl_epi64(wb.mins.as_ptr().cast()) });
    let raw: [__m256i; 4] =
        std::array::from_fn(|c| unsafe { _mm256_loadu_si256(wb.qs.as_ptr().add(32 * c).cast()) });
    Q4KUnpacked {
        mins,
        lo: raw.map(|r| _mm256_and_si256(r, low)),
        hi: raw.map(|r| _mm256_and_si256(_mm256_srli_epi16(r, 4), low)),
    }
}

/// The scaled integer sums of one weight super-block against one activation block:
/// for each pair `c` of 32-value sub-blocks, the lanes of `Σ scale · x · y`, and in
/// lane `c` of the second value `mins[2c] · sum[2c] + mins[2c + 1] · sum[2c + 1]`,
/// the pair's min term.
#[target_feature(enable = "avx2,fma")]
fn q4_k_pairs(u: &Q4KUnpacked, wb: &Q4KBlock, ab: &KActBlock) -> ([__m256i; 4], __m128i) {
    // SAFETY: `bsums` holds 16 i16; unaligned load in bounds.
    let bsums = unsafe { _mm256_loadu_si256(ab.bsums.as_ptr().cast()) };
    // Sums of a over the eight 32-value sub-blocks.
    let sub_sums = _mm_hadd_epi16(
        _mm256_castsi256_si128(bsums),
        _mm256_extracti128_si256(bsums, 1),
    );
    let min_pairs = _mm_madd_epi16(u.mins, sub_sums);
    let pairs = std::array::from_fn(|c| {
        // SAFETY: `ab.qs` holds 256 bytes; unaligned loads in bounds.
        let (y_lo, y_hi) = unsafe {
            (
                _mm256_loadu_si256(ab.qs.as_ptr().add(64 * c).cast()),
                _mm256_loadu_si256(ab.qs.as_ptr().add(64 * c + 32).cast()),
            )
        };
        let p_lo = _mm256_madd_epi16(
            _mm256_maddubs_epi16(u.lo[c], y_lo),
            _mm256_set1_epi16(wb.scales[2 * c] as i16),
        );
        let p_hi = _mm256_madd_epi16(
            _mm256_maddubs_epi16(u.hi[c], y_hi),
            _mm256_set1_epi16(wb.scales[2 * c + 1] as i16),
        );
        _mm256_add_epi32(p_lo, p_hi)
    });
    (pairs, min_pairs)
}

/// One `Q4_K` weight row against `RN` activation rows (each with its path): each weight
/// super-block is unpacked once for all of them.
///
/// # Safety
/// The CPU must support AVX2 and FMA; every activation row is as long as `w`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn q4_k_tile<const RN: usize>(
    w: &[Q4KBlock],
    a: [&[KActBlock]; RN],
    paths: [Path; RN],
) -> [f32; RN] {
    if RN <= 4 && paths.iter().all(|&p| p == Path::Batched) {
        // SAFETY: passed on from the caller.
        return unsafe { q4_k_tile_batched(w, a) };
    }
    let mut acc = [0f32; RN];
    let mut acc_min = [0f32; RN];
    for (blk, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        let u = unpack_q4_k(wb);
        for n in 0..RN {
            // SAFETY: the caller's promise.
            let ab = unsafe { a[n].get_unchecked(blk) };
            let (d, dmin) = (wb.d * ab.d, wb.dmin * ab.d);
            let (pairs, min_pairs) = q4_k_pairs(&u, wb, ab);
            if paths[n] == Path::Batched {
                let (mut pair_sums, mut mins) = ([0f32; 4], [0f32; 4]);
                // SAFETY: four f32 into each array.
                unsafe {
                    _mm_storeu_ps(pair_sums.as_mut_ptr(), _mm_cvtepi32_ps(hsum4_i32(pairs)));
                    _mm_storeu_ps(mins.as_mut_ptr(), _mm_cvtepi32_ps(min_pairs));
                }
                for (sum, min) in pair_sums.into_iter().zip(mins) {
                    acc[n] = sum.mul_add(d, acc[n]);
                    acc_min[n] = min.mul_add(dmin, acc_min[n]);
                }
            } else {
                let sums = pairs
                    .into_iter()
                    .fold(_mm256_setzero_si256(), |s, p| _mm256_add_epi32(s, p));
                // [Σ sums, Σ min_pairs] in lanes 0 and 1.
                let s4 = _mm_add_epi32(
                    _mm256_castsi256_si128(sums),
                    _mm256_extracti128_si256(sums, 1),
                );
                let both = _mm_hadd_epi32(_mm_hadd_epi32(s4, min_pairs), _mm_setzero_si128());
                let sum = _mm_cvtsi128_si32(both);
                let min = _mm_extract_epi32(both, 1);
                acc[n] = (sum as f32).mul_add(d, acc[n]);
                acc_min[n] = (min as f32).mul_add(dmin, acc_min[n]);
            }
        }
    }
    std::array::from_fn(|n| acc[n] - acc_min[n])
}

/// [`q4_k_tile`] for up to four activation rows that all take the batched path: lane
/// `n` of two vector accumulators carries row `n`'s sum and min term through exactly
/// the scalar steps (four fused multiply-adds per super-block, pair by pair), so the
/// rows' dependency chains run side by side in registers.
///
/// # Safety
/// As for [`q4_k_tile`]; `RN ≤ 4`.
#[target_feature(enable = "avx2,fma")]
unsafe fn q4_k_tile_batched<const RN: usize>(w: &[Q4KBlock], a: [&[KActBlock]; RN]) -> [f32; RN] {
    let (mut acc, mut acc_min) = (_mm_setzero_ps(), _mm_setzero_ps());
    for (blk, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        let u = unpack_q4_k(wb);
        let (mut sums, mut mins) = ([_mm_setzero_ps(); 4], [_mm_setzero_ps(); 4]);
        let mut act_d = [0f32; 4];
        for n in 0..RN {
            // SAFETY: the caller's promise.
            let ab = unsafe { a[n].get_unchecked(blk) };
            let (pairs, min_pairs) = q4_k_pairs(&u, wb, ab);
            sums[n] = _mm_cvtepi32_ps(hsum4_i32(pairs));
            mins[n] = _mm_cvtepi32_ps(min_pairs);
            act_d[n] = ab.d;
        }
        // SAFETY: four f32.
        let act_d = unsafe { _mm_loadu_ps(act_d.as_ptr()) };
        let d = _mm_mul_ps(_mm_set1_ps(wb.d), act_d);
        let dmin = _mm_mul_ps(_mm_set1_ps(wb.dmin), act_d);
        let (sums, mins) = (transpose4(sums), transpose4(mins));
        for c in 0..4 {
            acc = _mm_fmadd_ps(sums[c], d, acc);
            acc_min = _mm_fmadd_ps(mins[c], dmin, acc_min);
        }
    }
    let mut out = [0f32; 4];
    // SAFETY: four f32 into `out`.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), _mm_sub_ps(acc, acc_min)) };
    std::array::from_fn(|n| out[n])
}

/// The 4 × 4 transpose: lane `n` of output `c` is lane `c` of input `n`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn transpose4(r: [__m128; 4]) -> [__m128; 4] {
    let t0 = _mm_unpacklo_ps(r[0], r[1]);
    let t1 = _mm_unpacklo_ps(r[2], r[3]);
    let t2 = _mm_unpackhi_ps(r[0], r[1]);
    let t3 = _mm_unpackhi_ps(r[2], r[3]);
    [
        _mm_movelh_ps(t0, t1),
        _mm_movehl_ps(t1, t0),
        _mm_movelh_ps(t2, t3),
        _mm_movehl_ps(t3, t2),
    ]
}

/// The six-bit quants of one `Q6_K` super-block in eight groups of 32 (low nibbles
/// from `ql`, bits 4‥6 from `qh`), as unsigned bytes.
#[target_feature(enable = "avx2,fma")]
fn q6_groups(wb: &Q6KBlock) -> [__m256i; 8] {
    let m2 = _mm256_set1_epi8(3);
    let m4 = _mm256_set1_epi8(0x0F);
    let mut out = [_mm256_setzero_si256(); 8];
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
        out[4 * h] = _mm256_or_si256(
            _mm256_and_si256(ql0, m4),
            _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4),
        );
        out[4 * h + 1] = _mm256_or_si256(
            _mm256_and_si256(ql1, m4),
            _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(12)), 2),
        );
        out[4 * h + 2] = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
            _mm256_and_si256(qh, _mm256_set1_epi8(48)),
        );
        out[4 * h + 3] = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
            _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(-64)), 2),
        );
    }
    out
}

/// One `Q6_K` weight row against `RN` activation rows (each with its path): each weight
/// super-block is unpacked once for all of them.
///
/// # Safety
/// The CPU must support AVX2 and FMA; every activation row is as long as `w`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn q6_k_tile<const RN: usize>(
    w: &[Q6KBlock],
    a: [&[KActBlock]; RN],
    paths: [Path; RN],
) -> [f32; RN] {
    let mut acc = [_mm256_setzero_ps(); RN];
    let mut total = [0f32; RN];
    for (blk, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        let x = q6_groups(wb);
        // SAFETY: `scales` holds 16 i8; unaligned load in bounds.
        let scales = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(wb.scales.as_ptr().cast()) });
        // The first 16 values of group g use sub-block 2g's scale, the rest 2g+1's.
        let group_scales: [__m256i; 8] = std::array::from_fn(|g| {
            _mm256_set_m128i(
                _mm_set1_epi16(wb.scales[2 * g + 1] as i16),
                _mm_set1_epi16(wb.scales[2 * g] as i16),
            )
        });
        for n in 0..RN {
            // SAFETY: the caller's promise.
            let ab = unsafe { a[n].get_unchecked(blk) };
            // SAFETY: `bsums` holds 16 i16; unaligned load in bounds.
            let bsums = unsafe { _mm256_loadu_si256(ab.bsums.as_ptr().cast()) };
            // Lane l: 32 · (bsums[2l] · scales[2l] + bsums[2l + 1] · scales[2l + 1]).
            let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales), 5);
            let mut sums = _mm256_setzero_si256();
            for h in 0..2 {
                let mut p = [_mm256_setzero_si256(); 4];
                for (s, p) in p.iter_mut().enumerate() {
                    let g = 4 * h + s;
                    // SAFETY: `ab.qs` holds 256 bytes; the load ends at 32(g + 1) ≤ 256.
                    let y = unsafe { _mm256_loadu_si256(ab.qs.as_ptr().add(32 * g).cast()) };
                    *p = _mm256_madd_epi16(group_scales[g], _mm256_maddubs_epi16(x[g], y));
                }
                sums = _mm256_add_epi32(sums, _mm256_add_epi32(p[0], p[1]));
                sums = _mm256_add_epi32(sums, _mm256_add_epi32(p[2], p[3]));
            }
            let sums = _mm256_sub_epi32(sums, offset);
            if paths[n] == Path::Batched {
                total[n] = (hsum_i32(sums) as f32 * wb.d).mul_add(ab.d, total[n]);
            } else {
                let d = ab.d * wb.d;
                acc[n] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums), acc[n]);
            }
        }
    }
    std::array::from_fn(|n| match paths[n] {
        Path::Single => hsum8(acc[n]),
        Path::Batched => total[n],
    })
}
