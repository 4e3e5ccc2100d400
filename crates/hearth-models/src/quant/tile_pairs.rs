//! AVX-512 tiles for the 32-value formats: each 512-bit register holds two outputs,
//! weight rows `2p` and `2p + 1` against one activation row, eight float lanes each.
//!
//! The 256-bit VNNI tiles spend four vector instructions per block product (`dpbusd`,
//! the scale product, the conversion to float, the fused add), and on these cores
//! 256-bit vector arithmetic issues on two ports only. A 512-bit instruction does the
//! work of two on the same ports, so a register of two outputs halves that cost; the
//! activation rows are broadcast into both halves by loads, which need no arithmetic
//! port, and a weight pair is unpacked once for up to eight activation rows.
//!
//! Each output keeps exactly the arithmetic of [`super::tile`]'s kernels and of
//! [`super::dot`]: the same exact integer lane sums, one fused multiply-add per block
//! into eight float lanes in block order, the same final reduction.

use std::arch::x86_64::*;

use super::act::ActBlock;
use super::dot::{Q4_1Block, Q5_0Block, Q8_0Block};
use super::kquant_avx2::{hsum8, prefetch_ahead};
use super::tile::{Offsets, Tile, min_of};

/// Activation rows a pair tile takes at most.
pub(crate) const PAIR_ACTS: usize = 8;

/// `lo` in the low half, `hi` in the high half.
#[target_feature(enable = "avx512f")]
fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// Eight lanes of `lo`, then eight of `hi`.
#[target_feature(enable = "avx512f")]
fn pair_ps(lo: f32, hi: f32) -> __m512 {
    let lo = _mm512_castps_pd(_mm512_set1_ps(lo));
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(
        lo,
        _mm256_castps_pd(_mm256_set1_ps(hi)),
    ))
}

/// 32 bytes in both halves.
#[target_feature(enable = "avx512f")]
fn both_halves(bytes: &[i8; 32]) -> __m512i {
    // SAFETY: 32 bytes; unaligned load.
    _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) })
}

#[target_feature(enable = "avx512f")]
fn offsets_both_halves(o: &Offsets) -> __m512i {
    // SAFETY: eight i32; unaligned load.
    _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(o.as_ptr().cast()) })
}

/// The 4-bit quants of two blocks: `a`'s 32 values in the low half, `b`'s in the high,
/// each as the low nibbles of its 16 bytes followed by the high nibbles.
#[target_feature(enable = "avx2,avx512f")]
fn nibble_pair(a: &[u8; 16], b: &[u8; 16]) -> __m512i {
    // SAFETY: 16 bytes each; unaligned loads.
    let (a, b) = unsafe {
        (
            _mm256_broadcastsi128_si256(_mm_loadu_si128(a.as_ptr().cast())),
            _mm256_broadcastsi128_si256(_mm_loadu_si128(b.as_ptr().cast())),
        )
    };
    // The second copy of each block's bytes is shifted down to its high nibbles.
    let shifted = _mm512_srlv_epi64(join(a, b), _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// Q5_0's 5-bit quants `q` (0‥31) of two blocks: bit `j` of `qh` becomes bit 4 of
/// byte `j` through a byte mask.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn q5_pair(a: &Q5_0Block, b: &Q5_0Block) -> __m512i {
    let nibbles = nibble_pair(&a.qs, &b.qs);
    let high = _cvtu64_mask64(a.qh as u64 | (b.qh as u64) << 32);
    _mm512_mask_add_epi8(nibbles, high, nibbles, _mm512_set1_epi8(0x10))
}

/// Q8_0's quants plus 128, as unsigned bytes, of two blocks.
#[target_feature(enable = "avx2,avx512f")]
fn q8_pair(a: &Q8_0Block, b: &Q8_0Block) -> __m512i {
    // SAFETY: 32 bytes each; unaligned loads.
    let (a, b) = unsafe {
        (
            _mm256_loadu_si256(a.qs.as_ptr().cast()),
            _mm256_loadu_si256(b.qs.as_ptr().cast()),
        )
    };
    _mm512_xor_si512(join(a, b), _mm512_set1_epi8(-128))
}

/// A group's activation sums `s` (Q4_1's min term) in lanes `n` and `8 + n`.
#[target_feature(enable = "avx2,avx512f")]
fn act_sums(s: &[f32; PAIR_ACTS]) -> __m512 {
    // SAFETY: eight f32 in `s`.
    let s = unsafe { _mm256_loadu_ps(s.as_ptr()) };
    _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(s)))
}

/// The two outputs of a register, low half first, each reduced as `hsum8` does.
#[target_feature(enable = "avx2,avx512f")]
fn hsum_halves(v: __m512) -> (f32, f32) {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    (hsum8(_mm512_castps512_ps256(v)), hsum8(hi))
}

/// Expands to a pair kernel `$name::<RM, RN>(tile)` for one weight format: `$x`
/// unpacks the unsigned quants of blocks `$b0` and `$b1` into the two halves of a
/// register; `$offsets` says whether the format subtracts per-lane offsets, `$min`
/// whether it has Q4_1's min term.
macro_rules! pair_kernel {
    ($name:ident, $block:ty, $offsets:literal, $min:literal, |$b0:ident, $b1:ident| $x:expr) => {
        /// Weight rows in pairs (`RM` even) against `RN` ≤ [`PAIR_ACTS`] activation
        /// rows.
        ///
        /// # Safety
        /// The CPU must support AVX2, FMA, AVX-512 F, VL, BW and VNNI; every slice of `t`
        /// holds the same number of blocks, `t.off` rows as many when `$offsets`, and
        /// `t.sums` as many, for the tile's rows, when `$min`.
        #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni,avx512bw")]
        pub(crate) unsafe fn $name<const RM: usize, const RN: usize>(
            t: &Tile<'_, $block, RM, RN>,
        ) -> [[f32; RN]; RM] {
            debug_assert!(RM % 2 == 0 && RN <= PAIR_ACTS);
            let k = t.w[0].len();
            // Only the first RM / 2 entries are used: one register per pair.
            let mut acc = [[_mm512_setzero_ps(); RN]; RM];
            let mut mins = [_mm512_setzero_ps(); RM];
            for blk in 0..k {
                // SAFETY: `blk < k`, and every row holds `k` blocks (the caller's promise).
                let a: [&ActBlock; RN] =
                    std::array::from_fn(|n| unsafe { t.a[n].get_unchecked(blk) });
                // Both weight pairs first, then one activation row at a time against
                // them: sixteen accumulators, the pairs and one row's operands fit in
                // the 32 registers.
                let mut xs = [_mm512_setzero_si512(); RM];
                let mut dws = [_mm512_setzero_ps(); RM];
                let sums = if $min {
                    // SAFETY: Q4_1 tiles carry `k` group sums (the caller's promise).
                    act_sums(unsafe { t.sums.get_unchecked(blk) })
                } else {
                    _mm512_setzero_ps()
                };
                for p in 0..RM / 2 {
                    // SAFETY: as above.
                    let ($b0, $b1) = unsafe {
                        (
                            t.w[2 * p].get_unchecked(blk),
                            t.w[2 * p + 1].get_unchecked(blk),
                        )
                    };
                    prefetch_ahead($b0);
                    prefetch_ahead($b1);
                    xs[p] = $x;
                    dws[p] = pair_ps($b0.d, $b1.d);
                    if $min {
                        mins[p] = _mm512_fmadd_ps(pair_ps(min_of($b0), min_of($b1)), sums, mins[p]);
                    }
                }
                for n in 0..RN {
                    let y = both_halves(&a[n].qs);
                    let da = _mm512_set1_ps(a[n].d);
                    let off = if $offsets {
                        // SAFETY: offset rows hold `k` entries for this format.
                        offsets_both_halves(unsafe { t.off[n].get_unchecked(blk) })
                    } else {
                        _mm512_setzero_si512()
                    };
                    for p in 0..RM / 2 {
                        let lanes = _mm512_dpbusd_epi32(off, xs[p], y);
                        let d = _mm512_mul_ps(dws[p], da);
                        acc[p][n] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(lanes), acc[p][n]);
                    }
                }
            }
            let mut out = [[0f32; RN]; RM];
            for p in 0..RM / 2 {
                let mut m = [0f32; 2 * PAIR_ACTS];
                // SAFETY: sixteen f32 into `m`.
                unsafe { _mm512_storeu_ps(m.as_mut_ptr(), mins[p]) };
                for n in 0..RN {
                    let (lo, hi) = hsum_halves(acc[p][n]);
                    (out[2 * p][n], out[2 * p + 1][n]) = if $min {
                        (lo + m[n], hi + m[PAIR_ACTS + n])
                    } else {
                        (lo, hi)
                    };
                }
            }
            out
        }
    };
}

pair_kernel!(q4_1_pairs, Q4_1Block, false, true, |b0, b1| nibble_pair(
    &b0.qs, &b1.qs
));
pair_kernel!(q5_0_pairs, Q5_0Block, true, false, |b0, b1| q5_pair(b0, b1));
pair_kernel!(q8_0_pairs, Q8_0Block, true, false, |b0, b1| q8_pair(b0, b1));
