//! AVX-512 K-quant tiles: two weight rows unpacked side by side in 512-bit registers,
//! so each `maddubs`/`madd` forms the scaled sums of both rows against one activation
//! row (broadcast into both halves by a load).
//!
//! Only the integer sums are formed differently; they are exact, and every float step
//! per output is [`super::kquant_avx2`]'s, so results are bit-identical to it.

use std::arch::x86_64::*;

use super::kquant::{KActBlock, Path, Q4KBlock, Q6KBlock};
use super::kquant_avx2::{hsum_i32, hsum8, prefetch_ahead, transpose4};

/// One pair of `Q4_K` super-blocks unpacked: low and high nibbles of the first row in
/// the low halves, of the second in the high halves, and each sub-block's scale pair.
struct Unpacked {
    lo: [__m512i; 4],
    hi: [__m512i; 4],
    scales: [__m512i; 8],
}

#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn unpack(w0: &Q4KBlock, w1: &Q4KBlock) -> Unpacked {
    let low = _mm512_set1_epi8(0x0F);
    let raw: [__m512i; 4] = std::array::from_fn(|c| {
        // SAFETY: `qs` holds 128 bytes, read in four 32-byte loads each.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(w0.qs.as_ptr().add(32 * c).cast()),
                _mm256_loadu_si256(w1.qs.as_ptr().add(32 * c).cast()),
            )
        };
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
    });
    Unpacked {
        lo: raw.map(|r| _mm512_and_si512(r, low)),
        hi: raw.map(|r| _mm512_and_si512(_mm512_srli_epi16::<4>(r), low)),
        scales: std::array::from_fn(|j| {
            let first = _mm512_set1_epi16(w0.scales[j] as i16);
            _mm512_mask_set1_epi16(first, 0xFFFF_0000, w1.scales[j] as i16)
        }),
    }
}

/// For each pair `c` of 32-value sub-blocks, the total of `Σ scale · x · y` of both
/// weight rows against activation block `ab`: lane `c` of the first value for the
/// first row, of the second for the second row (integer sums, so the order of the
/// additions does not matter).
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn scaled_pair_sums(u: &Unpacked, ab: &KActBlock) -> (__m128i, __m128i) {
    let both: [__m512i; 4] = std::array::from_fn(|c| {
        // SAFETY: `ab.qs` holds 256 bytes; 32-byte loads in bounds.
        let (y_lo, y_hi) = unsafe {
            (
                _mm512_broadcast_i64x4(_mm256_loadu_si256(ab.qs.as_ptr().add(64 * c).cast())),
                _mm512_broadcast_i64x4(_mm256_loadu_si256(ab.qs.as_ptr().add(64 * c + 32).cast())),
            )
        };
        let p_lo = _mm512_madd_epi16(_mm512_maddubs_epi16(u.lo[c], y_lo), u.scales[2 * c]);
        let p_hi = _mm512_madd_epi16(_mm512_maddubs_epi16(u.hi[c], y_hi), u.scales[2 * c + 1]);
        _mm512_add_epi32(p_lo, p_hi)
    });
    // In each 128-bit lane: [Σ p0, Σ p1, Σ p2, Σ p3] over that lane's four values.
    let fold = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
    };
    let (a, b) = (fold(both[0], both[1]), fold(both[2], both[3]));
    let quads = _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    // Lanes 0 and 1 hold the first row, 2 and 3 the second.
    let rows = _mm512_add_epi32(quads, _mm512_shuffle_i64x2::<0b10_11_00_01>(quads, quads));
    (
        _mm512_castsi512_si128(rows),
        _mm512_extracti32x4_epi32::<2>(rows),
    )
}

/// A super-block's eight mins as i16: `madd` with the activation's sub-block sums then
/// gives, in lane `c`, `mins[2c] · sum[2c] + mins[2c + 1] · sum[2c + 1]` as
/// `q4_k_pairs` forms it.
#[target_feature(enable = "avx2")]
fn widen_mins(mins: &[u8; 8]) -> __m128i {
    // SAFETY: `mins` holds 8 bytes.
    _mm_cvtepu8_epi16(unsafe { _mm_loadl_epi64(mins.as_ptr().cast()) })
}

/// Two `Q4_K` weight rows against up to four activation rows that all take the batched
/// path; returns the first row's outputs, then the second's.
///
/// # Safety
/// The CPU must support AVX2, FMA and AVX-512 F and BW; `w0`, `w1` and every activation
/// row hold the same number of blocks; `RN ≤ 4`.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
pub(crate) unsafe fn q4_k_pair_tile_batched<const RN: usize>(
    w0: &[Q4KBlock],
    w1: &[Q4KBlock],
    a: [&[KActBlock]; RN],
) -> [[f32; RN]; 2] {
    let (mut acc, mut acc_min) = ([_mm_setzero_ps(); 2], [_mm_setzero_ps(); 2]);
    for (blk, (wb0, wb1)) in w0.iter().zip(w1).enumerate() {
        prefetch_ahead(wb0);
        prefetch_ahead(wb1);
        let u = unpack(wb0, wb1);
        let row_mins = [widen_mins(&wb0.mins), widen_mins(&wb1.mins)];
        let (mut sums, mut mins) = ([[_mm_setzero_ps(); 4]; 2], [[_mm_setzero_ps(); 4]; 2]);
        let mut act_d = [0f32; 4];
        for n in 0..RN {
            // SAFETY: the caller's promise.
            let ab = unsafe { a[n].get_unchecked(blk) };
            // SAFETY: `bsums` holds 16 i16.
            let bsums = unsafe { _mm256_loadu_si256(ab.bsums.as_ptr().cast()) };
            let sub_sums = _mm_hadd_epi16(
                _mm256_castsi256_si128(bsums),
                _mm256_extracti128_si256(bsums, 1),
            );
            let (p0, p1) = scaled_pair_sums(&u, ab);
            sums[0][n] = _mm_cvtepi32_ps(p0);
            sums[1][n] = _mm_cvtepi32_ps(p1);
            mins[0][n] = _mm_cvtepi32_ps(_mm_madd_epi16(row_mins[0], sub_sums));
            mins[1][n] = _mm_cvtepi32_ps(_mm_madd_epi16(row_mins[1], sub_sums));
            act_d[n] = ab.d;
        }
        // SAFETY: four f32.
        let act_d = unsafe { _mm_loadu_ps(act_d.as_ptr()) };
        for (r, wb) in [wb0, wb1].into_iter().enumerate() {
            let d = _mm_mul_ps(_mm_set1_ps(wb.d), act_d);
            let dmin = _mm_mul_ps(_mm_set1_ps(wb.dmin), act_d);
            let (s, m) = (transpose4(sums[r]), transpose4(mins[r]));
            for c in 0..4 {
                acc[r] = _mm_fmadd_ps(s[c], d, acc[r]);
                acc_min[r] = _mm_fmadd_ps(m[c], dmin, acc_min[r]);
            }
        }
    }
    std::array::from_fn(|r| {
        let mut out = [0f32; 4];
        // SAFETY: four f32 into `out`.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), _mm_sub_ps(acc[r], acc_min[r])) };
        std::array::from_fn(|n| out[n])
    })
}

/// The six-bit quants of two `Q6_K` super-blocks in eight groups of 32, the first
/// row's in the low halves: [`super::kquant_avx2`]'s `q6_groups` on both at once.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn q6_groups(w0: &Q6KBlock, w1: &Q6KBlock) -> [__m512i; 8] {
    let join = |a: &[u8], b: &[u8]| {
        // SAFETY: both slices hold at least 32 bytes.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().cast()),
                _mm256_loadu_si256(b.as_ptr().cast()),
            )
        };
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
    };
    let m2 = _mm512_set1_epi8(3);
    let m4 = _mm512_set1_epi8(0x0F);
    let mut out = [_mm512_setzero_si512(); 8];
    for h in 0..2 {
        let ql0 = join(&w0.ql[64 * h..], &w1.ql[64 * h..]);
        let ql1 = join(&w0.ql[64 * h + 32..], &w1.ql[64 * h + 32..]);
        let qh = join(&w0.qh[32 * h..], &w1.qh[32 * h..]);
        out[4 * h] = _mm512_or_si512(
            _mm512_and_si512(ql0, m4),
            _mm512_slli_epi16::<4>(_mm512_and_si512(qh, m2)),
        );
        out[4 * h + 1] = _mm512_or_si512(
            _mm512_and_si512(ql1, m4),
            _mm512_slli_epi16::<2>(_mm512_and_si512(qh, _mm512_set1_epi8(12))),
        );
        out[4 * h + 2] = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql0), m4),
            _mm512_and_si512(qh, _mm512_set1_epi8(48)),
        );
        out[4 * h + 3] = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql1), m4),
            _mm512_srli_epi16::<2>(_mm512_and_si512(qh, _mm512_set1_epi8(-64))),
        );
    }
    out
}

/// For group `g` of 32 values, the 16-bit scale of each lane: in each row's half, the
/// first 16 values take sub-block `2g`'s scale and the rest `2g + 1`'s. `scales` holds
/// the first row's sixteen scales, then the second's.
#[target_feature(enable = "avx512f,avx512bw")]
fn group_scales(scales: __m512i) -> [__m512i; 8] {
    std::array::from_fn(|g| {
        let index: [i16; 32] = std::array::from_fn(|l| (l / 16 * 16 + 2 * g + l % 16 / 8) as i16);
        // SAFETY: 32 i16.
        let index = unsafe { _mm512_loadu_si512(index.as_ptr().cast()) };
        _mm512_permutexvar_epi16(index, scales)
    })
}

/// Two `Q6_K` weight rows against up to four activation rows, each with its path;
/// returns the first row's outputs, then the second's, as
/// [`super::kquant_avx2::q6_k_tile`] computes each.
///
/// # Safety
/// The CPU must support AVX2, FMA and AVX-512 F and BW; `w0`, `w1` and every activation
/// row hold the same number of blocks.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw")]
pub(crate) unsafe fn q6_k_pair_tile<const RN: usize>(
    w0: &[Q6KBlock],
    w1: &[Q6KBlock],
    a: [&[KActBlock]; RN],
    paths: [Path; RN],
) -> [[f32; RN]; 2] {
    let mut acc = [[_mm256_setzero_ps(); RN]; 2];
    let mut total = [[0f32; RN]; 2];
    for (blk, (wb0, wb1)) in w0.iter().zip(w1).enumerate() {
        prefetch_ahead(wb0);
        prefetch_ahead(wb1);
        let x = q6_groups(wb0, wb1);
        // SAFETY: `scales` holds 16 i8 in each block.
        let scales = unsafe {
            _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(
                    wb0.scales.as_ptr().cast(),
                ))),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wb1.scales.as_ptr().cast())),
            )
        };
        let group_scales = group_scales(scales);
        for n in 0..RN {
            // SAFETY: the caller's promise.
            let ab = unsafe { a[n].get_unchecked(blk) };
            // SAFETY: `bsums` holds 16 i16.
            let bsums =
                _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(ab.bsums.as_ptr().cast()) });
            // Lane l of each half: 32 · (bsums[2l] · scales[2l] + bsums[2l + 1] · scales[2l + 1]).
            let offset = _mm512_slli_epi32::<5>(_mm512_madd_epi16(bsums, scales));
            let mut sums = _mm512_setzero_si512();
            for h in 0..2 {
                let p: [__m512i; 4] = std::array::from_fn(|s| {
                    let g = 4 * h + s;
                    // SAFETY: `ab.qs` holds 256 bytes; the load ends at 32(g + 1) ≤ 256.
                    let y = _mm512_broadcast_i64x4(unsafe {
                        _mm256_loadu_si256(ab.qs.as_ptr().add(32 * g).cast())
                    });
                    _mm512_madd_epi16(group_scales[g], _mm512_maddubs_epi16(x[g], y))
                });
                sums = _mm512_add_epi32(sums, _mm512_add_epi32(p[0], p[1]));
                sums = _mm512_add_epi32(sums, _mm512_add_epi32(p[2], p[3]));
            }
            let sums = _mm512_sub_epi32(sums, offset);
            let halves = [
                _mm512_castsi512_si256(sums),
                _mm512_extracti64x4_epi64::<1>(sums),
            ];
            for (r, (sums, wb)) in halves.into_iter().zip([wb0, wb1]).enumerate() {
                if paths[n] == Path::Batched {
                    total[r][n] = (hsum_i32(sums) as f32 * wb.d).mul_add(ab.d, total[r][n]);
                } else {
                    let d = ab.d * wb.d;
                    acc[r][n] =
                        _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums), acc[r][n]);
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|n| match paths[n] {
            Path::Single => hsum8(acc[r][n]),
            Path::Batched => total[r][n],
        })
    })
}
