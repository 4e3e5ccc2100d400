//! Register-tiled x86 kernels for the 32-value formats (Q4_1, Q5_0, Q8_0): a tile of
//! up to four weight rows times up to four activation rows is computed together, so
//! each weight block is unpacked once per tile and each activation block loaded once,
//! and the sixteen accumulators are independent chains the CPU can overlap.
//!
//! Every output still gets exactly the arithmetic of [`super::dot`]: the same exact
//! integer lane sums per block, one fused multiply-add per block into eight float lanes
//! in block order, and the same final reduction. Only the way the integers are formed
//! differs, and integer sums are exact:
//!
//! - weights are made unsigned, since `maddubs`/`dpbusd` take unsigned × signed bytes:
//!   Q5_0's `q − 16` is used as `q` (0‥31) and, with VNNI, Q8_0's `q` as `q + 128`;
//!   the excess, `16·Σy` or `128·Σy` per lane, is subtracted through a per-block offset
//!   computed once per activation row ([`lane_offsets`]). Plain AVX2 moves Q8_0's signs
//!   onto the activations instead (`|x| · sign(y, x)`), since `maddubs` would saturate;
//! - with AVX-512 VNNI, `dpbusd` forms the four-product lane sums in one instruction;
//!   plain AVX2 uses `maddubs` + `madd`. (512-bit registers holding two outputs each
//!   measured no faster than these 256-bit kernels.)

use std::arch::x86_64::*;

use super::act::ActBlock;
use super::dot::{Q4_1Block, Q5_0Block, Q8_0Block};
use super::kquant_avx2::{hsum8, prefetch_ahead};
use crate::pool::Buf;

/// Weight rows per tile.
pub(crate) const TILE_ROWS: usize = 4;
/// Activation rows per tile of the 256-bit kernels, which have registers for sixteen
/// accumulators.
pub(crate) const TILE_ACTS: usize = 4;
/// Activation rows any tile kernel accepts.
pub(crate) const MAX_ACTS: usize = 8;

/// Activation rows per group of [`group_sums`]: the rows a pair tile takes, since
/// their tiles start at multiples of it.
pub(crate) const GROUP: usize = super::tile_pairs::PAIR_ACTS;

/// Q4_1's min term needs each activation block's sum `s`; for each group of
/// [`GROUP`] rows and each block, the rows' sums side by side (zero past the last
/// row), so that a pair tile loads them in one instruction.
pub(crate) fn group_sums(acts: &[ActBlock], k: usize) -> Buf<[f32; GROUP]> {
    let rows = acts.len().checked_div(k).unwrap_or(0);
    let mut sums = Buf::filled(rows.div_ceil(GROUP) * k, [0f32; GROUP]);
    for (row, blocks) in acts.chunks_exact(k.max(1)).enumerate() {
        let group = &mut sums[row / GROUP * k..][..k];
        for (s, a) in group.iter_mut().zip(blocks) {
            s[row % GROUP] = a.s;
        }
    }
    sums
}

/// Per-lane integer offsets of one activation block: `−scale · (y[4l] + … + y[4l + 3])`.
pub(crate) type Offsets = [i32; 8];

/// The offsets of `acts` for a weight format whose unsigned quants exceed the true
/// ones by `excess` (16 for Q5_0, 128 for Q8_0).
pub(crate) fn lane_offsets(acts: &[ActBlock], excess: i32) -> Buf<Offsets> {
    Buf::collect(
        acts.len(),
        acts.iter().map(|a| {
            std::array::from_fn(|l| {
                -excess
                    * a.qs[4 * l..4 * l + 4]
                        .iter()
                        .map(|&q| q as i32)
                        .sum::<i32>()
            })
        }),
    )
}

#[target_feature(enable = "avx2,fma")]
fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: `qs` holds 16 bytes; unaligned load.
    let raw = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    _mm256_and_si256(
        _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
        _mm256_set1_epi8(0x0F),
    )
}

#[target_feature(enable = "avx2,fma")]
fn load32(bytes: &[i8; 32]) -> __m256i {
    // SAFETY: 32 bytes; unaligned load.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Q5_0's 5-bit quants `q` (0‥31): the nibbles with bit `j` of `qh` as bit 4 of byte `j`.
#[target_feature(enable = "avx2,fma")]
fn q5_quants(b: &Q5_0Block) -> __m256i {
    // Byte j of the spread holds byte j / 8 of `qh`; `bit` clears all but bit j % 8.
    let shuffle = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bit = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
    let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(b.qh as i32), shuffle);
    let set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, bit), _mm256_set1_epi64x(-1));
    _mm256_or_si256(
        nibbles(&b.qs),
        _mm256_and_si256(set, _mm256_set1_epi8(0x10)),
    )
}

/// Lane sums with AVX2: `maddubs` pairs, `madd` with ones to four-product lanes.
#[target_feature(enable = "avx2,fma")]
fn lanes_avx2(x: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
}

#[target_feature(enable = "avx2,fma")]
fn load_offsets(o: &Offsets) -> __m256i {
    // SAFETY: eight i32; unaligned load.
    unsafe { _mm256_loadu_si256(o.as_ptr().cast()) }
}

/// One tile's inputs: `RM` weight rows and `RN` activation rows of `k` blocks each, and
/// for formats that need them the activation rows' offsets, or for Q4_1 the
/// [`group_sums`] of the group holding the first activation row (which only the pair
/// tiles read: theirs start a group).
pub(crate) struct Tile<'a, W, const RM: usize, const RN: usize> {
    pub w: [&'a [W]; RM],
    pub a: [&'a [ActBlock]; RN],
    pub off: [&'a [Offsets]; RN],
    pub sums: &'a [[f32; GROUP]],
}

/// Expands to a tile kernel `$name::<RM, RN>(tile) -> [[f32; RN]; RM]` for one weight
/// format and instruction set: `$x` computes the unsigned weight quants of block `$b`,
/// `$lanes` the exact lane sums of `$xv` against activation quants `$yv` with offsets
/// `$ov`, and `$min` says whether the format has Q4_1's min term.
macro_rules! tile_kernel {
    ($name:ident, $feature:literal, $block:ty, $min:literal,
     |$b:ident| $x:expr, |$xv:ident, $yv:ident, $ov:ident| $lanes:expr) => {
        /// # Safety
        /// The CPU must support the enabled features; every slice of `t` holds the same
        /// number of blocks, and `t.off` rows are as long when the kernel reads offsets.
        #[target_feature(enable = $feature)]
        pub(crate) unsafe fn $name<const RM: usize, const RN: usize>(
            t: &Tile<'_, $block, RM, RN>,
        ) -> [[f32; RN]; RM] {
            let k = t.w[0].len();
            let mut acc = [[_mm256_setzero_ps(); RN]; RM];
            let mut mins = [_mm256_setzero_ps(); RM];
            for blk in 0..k {
                // SAFETY: `blk < k`, and every row holds `k` blocks (the caller's promise).
                let a: [&ActBlock; RN] =
                    std::array::from_fn(|n| unsafe { t.a[n].get_unchecked(blk) });
                let ys: [__m256i; RN] = std::array::from_fn(|n| load32(&a[n].qs));
                let das: [__m256; RN] = std::array::from_fn(|n| _mm256_set1_ps(a[n].d));
                #[allow(unused_variables)]
                let offs: [__m256i; RN] = std::array::from_fn(|n| {
                    if t.off[n].is_empty() {
                        _mm256_setzero_si256()
                    } else {
                        // SAFETY: offset rows, when present, hold `k` entries.
                        load_offsets(unsafe { t.off[n].get_unchecked(blk) })
                    }
                });
                let mut sums = [0f32; MAX_ACTS];
                if $min {
                    for n in 0..RN {
                        sums[n] = a[n].s;
                    }
                }
                // SAFETY: eight f32 in `sums`.
                let s8 = unsafe { _mm256_loadu_ps(sums.as_ptr()) };
                for r in 0..RM {
                    // SAFETY: as above.
                    let $b = unsafe { t.w[r].get_unchecked(blk) };
                    prefetch_ahead($b);
                    let xv = $x;
                    let dw = _mm256_set1_ps($b.d);
                    for n in 0..RN {
                        let ($xv, $yv, $ov) = (xv, ys[n], offs[n]);
                        let lanes = $lanes;
                        let d = _mm256_mul_ps(dw, das[n]);
                        acc[r][n] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc[r][n]);
                    }
                    if $min {
                        mins[r] = _mm256_fmadd_ps(_mm256_set1_ps(min_of($b)), s8, mins[r]);
                    }
                }
            }
            let mut out = [[0f32; RN]; RM];
            for r in 0..RM {
                let mut m = [0f32; MAX_ACTS];
                // SAFETY: eight f32 into `m`.
                unsafe { _mm256_storeu_ps(m.as_mut_ptr(), mins[r]) };
                for n in 0..RN {
                    out[r][n] = if $min {
                        hsum8(acc[r][n]) + m[n]
                    } else {
                        hsum8(acc[r][n])
                    };
                }
            }
            out
        }
    };
}

/// The min of a block that has one (only Q4_1's is ever asked for).
pub(crate) trait BlockMin {
    fn min(&self) -> f32;
}

impl BlockMin for Q4_1Block {
    fn min(&self) -> f32 {
        self.m
    }
}

impl BlockMin for Q5_0Block {
    fn min(&self) -> f32 {
        0.0
    }
}

impl BlockMin for Q8_0Block {
    fn min(&self) -> f32 {
        0.0
    }
}

#[inline(always)]
pub(crate) fn min_of(b: &impl BlockMin) -> f32 {
    b.min()
}

tile_kernel!(
    q4_1_avx2,
    "avx2,fma",
    Q4_1Block,
    true,
    |b| nibbles(&b.qs),
    |x, y, _o| lanes_avx2(x, y)
);
tile_kernel!(
    q5_0_avx2,
    "avx2,fma",
    Q5_0Block,
    false,
    |b| q5_quants(b),
    |x, y, o| _mm256_add_epi32(lanes_avx2(x, y), o)
);
tile_kernel!(
    q8_0_avx2,
    "avx2,fma",
    Q8_0Block,
    false,
    |b| load32(&b.qs),
    |x, y, _o| lanes_avx2(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
);

tile_kernel!(
    q4_1_vnni,
    "avx2,fma,avx512f,avx512vl,avx512vnni",
    Q4_1Block,
    true,
    |b| nibbles(&b.qs),
    |x, y, _o| _mm256_dpbusd_epi32(_mm256_setzero_si256(), x, y)
);
tile_kernel!(
    q5_0_vnni,
    "avx2,fma,avx512f,avx512vl,avx512vnni",
    Q5_0Block,
    false,
    |b| q5_quants(b),
    |x, y, o| _mm256_dpbusd_epi32(o, x, y)
);
tile_kernel!(
    q8_0_vnni,
    "avx2,fma,avx512f,avx512vl,avx512vnni",
    Q8_0Block,
    false,
    |b| q8_unsigned(b),
    |x, y, o| _mm256_dpbusd_epi32(o, x, y)
);

/// Q8_0's quants plus 128, as unsigned bytes.
#[target_feature(enable = "avx2,fma")]
fn q8_unsigned(b: &Q8_0Block) -> __m256i {
    _mm256_xor_si256(load32(&b.qs), _mm256_set1_epi8(-128))
}

/// A tile kernel for weight blocks `W`, callable with any tile shape up to
/// [`MAX_ACTS`] activation rows.
pub(crate) trait TileKernel<W> {
    /// The activation rows the kernel takes at a time when there are enough.
    const ACTS: usize;

    /// # Safety
    /// As for the kernels of `tile_kernel!`.
    unsafe fn run<const RM: usize, const RN: usize>(t: &Tile<'_, W, RM, RN>) -> [[f32; RN]; RM];
}

macro_rules! tile_kernels {
    ($($kernel:ident: $block:ty = $func:ident;)*) => {$(
        pub(crate) struct $kernel;

        impl TileKernel<$block> for $kernel {
            const ACTS: usize = TILE_ACTS;

            unsafe fn run<const RM: usize, const RN: usize>(
                t: &Tile<'_, $block, RM, RN>,
            ) -> [[f32; RN]; RM] {
                // SAFETY: passed on from the caller.
                unsafe { $func(t) }
            }
        }
    )*};
}

tile_kernels! {
    Q4_1Avx2: Q4_1Block = q4_1_avx2;
    Q5_0Avx2: Q5_0Block = q5_0_avx2;
    Q8_0Avx2: Q8_0Block = q8_0_avx2;
}

/// The AVX-512 VNNI kernels: weight rows in pairs through 512-bit registers
/// ([`super::tile_pairs`]) where a tile has pairs and more than one activation row,
/// the 256-bit kernels for single weight rows and single activation rows (decoding
/// one sequence is bound by memory, not arithmetic).
macro_rules! vnni_kernels {
    ($($kernel:ident: $block:ty = $pairs:ident, $single:ident;)*) => {$(
        pub(crate) struct $kernel;

        impl TileKernel<$block> for $kernel {
            const ACTS: usize = super::tile_pairs::PAIR_ACTS;

            unsafe fn run<const RM: usize, const RN: usize>(
                t: &Tile<'_, $block, RM, RN>,
            ) -> [[f32; RN]; RM] {
                // SAFETY (both): passed on from the caller, who detected AVX-512 BW too.
                if RM % 2 == 0 && RN > 1 {
                    unsafe { super::tile_pairs::$pairs(t) }
                } else {
                    unsafe { $single(t) }
                }
            }
        }
    )*};
}

vnni_kernels! {
    Q4_1Vnni: Q4_1Block = q4_1_pairs, q4_1_vnni;
    Q5_0Vnni: Q5_0Block = q5_0_pairs, q5_0_vnni;
    Q8_0Vnni: Q8_0Block = q8_0_pairs, q8_0_vnni;
}

/// One weight matrix's blocks and one matmul's activations as the tiles read them:
/// `k` blocks per row; `offsets` empty or one entry per activation block, `sums` empty
/// or the activations' [`group_sums`].
pub(crate) struct Operands<'a, W> {
    pub w: &'a [W],
    pub acts: &'a [ActBlock],
    pub offsets: &'a [Offsets],
    pub sums: &'a [[f32; GROUP]],
    pub k: usize,
}

/// Sets `out[i · n + j]` to weight row `first + j` times activation row `i`, for the
/// `n` weight rows `out` covers, tile by tile.
///
/// # Safety
/// The CPU must support `K`'s features; `ops` must hold the rows `out` covers and `m`
/// activation rows of `k` blocks (and offsets for them when `K` reads offsets, their
/// group sums when it reads Q4_1).
pub(crate) unsafe fn rows<W, K: TileKernel<W>>(
    ops: &Operands<'_, W>,
    first: usize,
    out: &mut [f32],
    m: usize,
) {
    for i0 in (0..m).step_by(K::ACTS) {
        // SAFETY (each arm): passed on from the caller.
        unsafe {
            match (m - i0).min(K::ACTS) {
                1 => act_tile::<W, K, 1>(ops, first, out, m, i0),
                2 => act_tile::<W, K, 2>(ops, first, out, m, i0),
                3 => act_tile::<W, K, 3>(ops, first, out, m, i0),
                4 => act_tile::<W, K, 4>(ops, first, out, m, i0),
                5 => act_tile::<W, K, 5>(ops, first, out, m, i0),
                6 => act_tile::<W, K, 6>(ops, first, out, m, i0),
                7 => act_tile::<W, K, 7>(ops, first, out, m, i0),
                _ => act_tile::<W, K, MAX_ACTS>(ops, first, out, m, i0),
            }
        }
    }
}

/// Activation rows `i0..i0 + RN` against all weight rows of `out`.
unsafe fn act_tile<W, K: TileKernel<W>, const RN: usize>(
    ops: &Operands<'_, W>,
    first: usize,
    out: &mut [f32],
    m: usize,
    i0: usize,
) {
    let k = ops.k;
    let a = std::array::from_fn(|n| &ops.acts[(i0 + n) * k..][..k]);
    let off = std::array::from_fn(|n| match ops.offsets.is_empty() {
        true => &[][..],
        false => &ops.offsets[(i0 + n) * k..][..k],
    });
    let sums = match ops.sums.is_empty() {
        true => &[][..],
        false => &ops.sums[i0 / GROUP * k..][..k],
    };
    let n_rows = out.len() / m;
    let mut j = 0;
    while j < n_rows {
        let w_row = |r: usize| &ops.w[(first + j + r) * k..][..k];
        let written = if j + TILE_ROWS <= n_rows {
            let tile = Tile::<W, TILE_ROWS, RN> {
                w: std::array::from_fn(w_row),
                a,
                off,
                sums,
            };
            // SAFETY: all rows hold `k` blocks; features as the caller promised.
            let y = unsafe { K::run(&tile) };
            store(out, m, j, i0, &y);
            TILE_ROWS
        } else {
            let tile = Tile::<W, 1, RN> {
                w: [w_row(0)],
                a,
                off,
                sums,
            };
            // SAFETY: as above.
            let y = unsafe { K::run(&tile) };
            store(out, m, j, i0, &y);
            1
        };
        j += written;
    }
}

fn store<const RM: usize, const RN: usize>(
    out: &mut [f32],
    m: usize,
    j: usize,
    i0: usize,
    y: &[[f32; RN]; RM],
) {
    for (r, row) in y.iter().enumerate() {
        super::put_column(out, m, j + r, i0, row);
    }
}
