//! Hearth's own quantized matrix multiplication for the block formats it has kernels
//! for (Q4_1, Q5_0, Q8_0 against 32-value `Q8_0`/`Q8_1` activation blocks; Q4_K, Q6_K
//! against 256-value `Q8_K` blocks), arithmetically identical to llama.cpp's.
//!
//! Weights are repacked at load time into blocks with f32 scales (no f16 conversion
//! in the inner loop, K-quant scales unpacked); activations are quantized once per
//! matmul. Kernels are compiled
//! twice — for AVX2+FMA and portable — and picked at run time; both give bit-identical
//! results, since `mul_add` is exactly fused either way.

mod act;
mod dot;
mod kquant;
#[cfg(target_arch = "x86_64")]
mod kquant_avx2;
#[cfg(target_arch = "x86_64")]
mod kquant_pairs;
#[cfg(target_arch = "x86_64")]
mod tile;
#[cfg(target_arch = "x86_64")]
mod tile_pairs;

use std::ops::Range;

use half::f16;
use hearth_gguf::GgmlType;

use crate::pool::{Buf, Pooled, pooled};
use crate::team::{collect_chunks, collect_column_blocks, collect_written};
use act::{ActBlock, BLOCK, quantize_row};
use dot::{Q4_1Block, Q5_0Block, Q8_0Block};
use kquant::{KActBlock, Path, Q4KBlock, Q6KBlock, QK_K, quantize_row_k};

#[derive(Debug, Clone)]
enum Blocks {
    Q4_1(Vec<Q4_1Block>),
    Q5_0(Vec<Q5_0Block>),
    Q8_0(Vec<Q8_0Block>),
    Q4K(Vec<Q4KBlock>),
    Q6K(Vec<Q6KBlock>),
}

impl Blocks {
    /// Values per block, which is also the activation block length.
    fn len(&self) -> usize {
        match self {
            Self::Q4_1(_) | Self::Q5_0(_) | Self::Q8_0(_) => BLOCK,
            Self::Q4K(_) | Self::Q6K(_) => QK_K,
        }
    }
}

pooled!(ActBlock, KActBlock, Path, [i32; 8], [f32; 8]);

/// Frees the shelved activation buffers ([`crate::pool::release_all`]).
pub(crate) fn clear_shelves() {
    ActBlock::clear_shelf();
    KActBlock::clear_shelf();
    Path::clear_shelf();
    <[i32; 8]>::clear_shelf();
    <[f32; 8]>::clear_shelf();
}

/// One matmul's activations, quantized for the weight's format: `m` rows of
/// `cols / block` blocks, and for K-quants the path each row takes.
enum Acts {
    /// The blocks; for Q5_0 and Q8_0 weights their lane offsets
    /// (`tile::lane_offsets`), for Q4_1 the sums of each group of rows
    /// (`tile::group_sums`).
    Q8 {
        blocks: Buf<ActBlock>,
        offsets: Buf<[i32; 8]>,
        sums: Buf<[f32; 8]>,
    },
    Q8K(Buf<KActBlock>, Buf<Path>),
}

impl Acts {
    /// `groups` are the row counts of the sequence chunks in `x`, in order.
    fn quantize(blocks: &Blocks, x: &[f32], cols: usize, groups: &[usize]) -> Self {
        let m = groups.iter().sum::<usize>();
        let k = cols / blocks.len();
        match blocks {
            Blocks::Q4_1(_) | Blocks::Q5_0(_) | Blocks::Q8_0(_) => {
                let per_task = act_rows_per_task(m);
                let acts = collect_chunks(m * k, k * per_task, |task, out| {
                    let rows = &x[task * per_task * cols..];
                    for (row, out) in rows.chunks_exact(cols).zip(out.chunks_exact_mut(k)) {
                        quantize_row(row, out);
                    }
                });
                let (offsets, sums) = match blocks {
                    #[cfg(target_arch = "x86_64")]
                    Blocks::Q5_0(_) => (tile::lane_offsets(&acts, 16), Buf::new()),
                    #[cfg(target_arch = "x86_64")]
                    Blocks::Q8_0(_) => (tile::lane_offsets(&acts, 128), Buf::new()),
                    #[cfg(target_arch = "x86_64")]
                    Blocks::Q4_1(_) => (Buf::new(), tile::group_sums(&acts, k)),
                    _ => (Buf::new(), Buf::new()),
                };
                Self::Q8 {
                    blocks: acts,
                    offsets,
                    sums,
                }
            }
            Blocks::Q4K(_) | Blocks::Q6K(_) => {
                let q4k = matches!(blocks, Blocks::Q4K(_));
                let paths = k_paths(q4k, groups);
                let per_task = act_rows_per_task(m);
                let acts = collect_chunks(m * k, k * per_task, |task, out| {
                    let first = task * per_task;
                    let rows = x[first * cols..].chunks_exact(cols);
                    for ((row, out), &path) in
                        rows.zip(out.chunks_exact_mut(k)).zip(&paths[first..])
                    {
                        quantize_row_k(row, out, q4k && path == Path::Batched);
                    }
                });
                Self::Q8K(acts, paths)
            }
        }
    }
}

/// Some rows of an [`Acts`], as the kernels read them.
#[derive(Clone, Copy)]
enum ActsView<'a> {
    Q8(Q8Rows<'a>),
    Q8K(&'a [KActBlock], &'a [Path]),
}

/// Activation rows for the 32-value formats: their blocks and, where the format needs
/// them, their lane offsets or group sums (empty otherwise).
#[derive(Clone, Copy)]
struct Q8Rows<'a> {
    blocks: &'a [ActBlock],
    offsets: &'a [[i32; 8]],
    sums: &'a [[f32; 8]],
}

impl<'a> Q8Rows<'a> {
    /// The tile kernels' operands for weights `w` of `k` blocks per row.
    #[cfg(target_arch = "x86_64")]
    fn operands<W>(self, w: &'a [W], k: usize) -> tile::Operands<'a, W> {
        tile::Operands {
            w,
            acts: self.blocks,
            offsets: self.offsets,
            sums: self.sums,
            k,
        }
    }
}

impl Acts {
    fn view(&self) -> ActsView<'_> {
        match self {
            Self::Q8 {
                blocks,
                offsets,
                sums,
            } => ActsView::Q8(Q8Rows {
                blocks,
                offsets,
                sums,
            }),
            Self::Q8K(a, p) => ActsView::Q8K(a, p),
        }
    }
}

/// The part of per-row data `v` (`per_row` entries per row) that rows `rows` own;
/// empty stays empty.
fn rows_of<'a, T>(v: &'a [T], rows: &Range<usize>, per_row: usize) -> &'a [T] {
    match v.is_empty() {
        true => v,
        false => &v[rows.start * per_row..rows.end * per_row],
    }
}

impl<'a> ActsView<'a> {
    /// Activation rows `rows` of this view, with `k` blocks per row. Q4_1's group sums
    /// go with the rows, so `rows` must start at a group boundary.
    fn rows(self, rows: Range<usize>, k: usize) -> Self {
        match self {
            Self::Q8(a) => {
                #[cfg(target_arch = "x86_64")]
                let groups = {
                    debug_assert!(rows.start.is_multiple_of(tile::GROUP));
                    rows.start / tile::GROUP..rows.end.div_ceil(tile::GROUP)
                };
                #[cfg(not(target_arch = "x86_64"))]
                let groups = 0..0;
                Self::Q8(Q8Rows {
                    blocks: rows_of(a.blocks, &rows, k),
                    offsets: rows_of(a.offsets, &rows, k),
                    sums: rows_of(a.sums, &groups, k),
                })
            }
            Self::Q8K(a, p) => Self::Q8K(&a[rows.start * k..rows.end * k], &p[rows]),
        }
    }
}

/// The path of each row of a K-quant matmul whose rows come in sequence chunks of
/// `groups` rows, as llama.cpp picks it for a batch of one chunk: `Q4_K` rows in whole
/// groups of four take the gemm, `Q6_K` chunks of 8 rows or more the tiled matmul.
fn k_paths(q4k: bool, groups: &[usize]) -> Buf<Path> {
    let mut buf = Buf::with_capacity(groups.iter().sum());
    let paths = buf.vec_mut();
    for &n in groups {
        if q4k {
            paths.extend((0..n).map(|p| {
                if p < n - n % 4 {
                    Path::Batched
                } else {
                    Path::Single
                }
            }));
        } else {
            let path = if n >= 8 { Path::Batched } else { Path::Single };
            paths.extend(std::iter::repeat_n(path, n));
        }
    }
    buf
}

/// A `rows × cols` weight matrix in a block format, used as `y = x · Wᵀ`.
#[derive(Debug, Clone)]
pub(crate) struct QMatrix {
    rows: usize,
    cols: usize,
    blocks: Blocks,
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

impl QMatrix {
    /// Repacks GGUF block data; `None` for formats without a kernel here or data of
    /// the wrong size.
    pub(crate) fn from_gguf(ty: GgmlType, data: &[u8], rows: usize, cols: usize) -> Option<Self> {
        Self::from_gguf_releasing(ty, data, rows, cols, |_| {})
    }

    /// [`QMatrix::from_gguf`], calling `copied(range)` for each successive range of
    /// `data` (a few megabytes) once it has been copied, so that the caller can let
    /// the file's pages go while a large tensor is still being repacked.
    pub(crate) fn from_gguf_releasing(
        ty: GgmlType,
        data: &[u8],
        rows: usize,
        cols: usize,
        copied: impl FnMut(Range<usize>),
    ) -> Option<Self> {
        let block = ty.block_len();
        if block == 0
            || !cols.is_multiple_of(block)
            || data.len() != rows * cols / block * ty.block_bytes()
        {
            return None;
        }
        let bytes = ty.block_bytes();
        let blocks = match ty {
            GgmlType::Q4_1 => Blocks::Q4_1(convert(data, bytes, copied, |b| Q4_1Block {
                d: f16_at(b, 0),
                m: f16_at(b, 2),
                qs: std::array::from_fn(|i| b[4 + i]),
            })),
            GgmlType::Q5_0 => Blocks::Q5_0(convert(data, bytes, copied, |b| Q5_0Block {
                d: f16_at(b, 0),
                qh: u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
                qs: std::array::from_fn(|i| b[6 + i]),
            })),
            GgmlType::Q8_0 => Blocks::Q8_0(convert(data, bytes, copied, |b| Q8_0Block {
                d: f16_at(b, 0),
                qs: std::array::from_fn(|i| b[2 + i] as i8),
            })),
            GgmlType::Q4K => Blocks::Q4K(convert(data, bytes, copied, Q4KBlock::from_gguf)),
            GgmlType::Q6K => Blocks::Q6K(convert(data, bytes, copied, Q6KBlock::from_gguf)),
            _ => return None,
        };
        Some(Self { rows, cols, blocks })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Row `r` as f32; `None` when `r` is out of range.
    #[cfg(test)]
    pub(crate) fn row(&self, r: usize) -> Option<Vec<f32>> {
        let mut out = Vec::with_capacity(self.cols);
        self.row_into(r, &mut out).then_some(out)
    }

    /// Appends row `r` as f32 to `out` (an embedding lookup); `false` when `r` is out
    /// of range.
    pub(crate) fn row_into(&self, r: usize, out: &mut Vec<f32>) -> bool {
        if r >= self.rows {
            return false;
        }
        let k = self.cols / self.blocks.len();
        match &self.blocks {
            Blocks::Q4_1(b) => {
                for blk in &b[r * k..(r + 1) * k] {
                    let lo = blk.qs.iter().map(|&q| blk.d * (q & 0x0F) as f32 + blk.m);
                    let hi = blk.qs.iter().map(|&q| blk.d * (q >> 4) as f32 + blk.m);
                    out.extend(lo);
                    out.extend(hi);
                }
            }
            Blocks::Q5_0(b) => {
                for blk in &b[r * k..(r + 1) * k] {
                    out.extend((0..32).map(|j| {
                        let nibble = if j < 16 {
                            blk.qs[j] & 0x0F
                        } else {
                            blk.qs[j - 16] >> 4
                        };
                        let q = (nibble as u32 | ((blk.qh >> j) & 1) << 4) as i32 - 16;
                        blk.d * q as f32
                    }));
                }
            }
            Blocks::Q8_0(b) => {
                for blk in &b[r * k..(r + 1) * k] {
                    out.extend(blk.qs.iter().map(|&q| blk.d * q as f32));
                }
            }
            Blocks::Q4K(b) => b[r * k..(r + 1) * k]
                .iter()
                .for_each(|blk| blk.dequantize(out)),
            Blocks::Q6K(b) => b[r * k..(r + 1) * k]
                .iter()
                .for_each(|blk| blk.dequantize(out)),
        }
        true
    }

    /// `x · Wᵀ` for `x` of `m × cols` (row-major), whose rows come from sequence chunks
    /// of `groups` rows (summing to `m`); returns `m × rows`. A row's value depends only
    /// on its own chunk's length and its place in it (K-quants follow llama.cpp there).
    pub(crate) fn matmul(&self, x: &[f32], groups: &[usize]) -> Buf<f32> {
        let m = groups.iter().sum::<usize>();
        let acts = Acts::quantize(&self.blocks, x, self.cols, groups);
        if m >= ACT_CHUNK * 2 {
            self.matmul_by_act_rows(acts.view(), m)
        } else {
            self.matmul_by_weight_rows(acts.view(), m)
        }
    }

    /// Few activation rows (decoding): tasks split the weight rows, so each weight is
    /// read once, and each copies its small result into `y` while it is hot.
    fn matmul_by_weight_rows(&self, acts: ActsView<'_>, m: usize) -> Buf<f32> {
        let rows_per_task = (self.rows / (rayon::current_num_threads() * 8)).max(16);
        if m == 1 {
            // Cleared by each task, not by the leader alone first: the output layer's
            // is megabytes.
            return collect_chunks(self.rows, rows_per_task, |task, out| {
                kernels().run(self, acts, task * rows_per_task, out, 1);
            });
        }
        // Each task's weight rows are columns of `y`, copied into place while they are
        // in its cache.
        collect_column_blocks(m, self.rows, rows_per_task, |task, part| {
            kernels().run(self, acts, task * rows_per_task, part, m);
        })
    }

    /// Many activation rows (a prompt): tasks split the activation rows, and each walks
    /// the weights in cache-sized groups of rows, copying its small result into its own
    /// rows of `y`.
    fn matmul_by_act_rows(&self, acts: ActsView<'_>, m: usize) -> Buf<f32> {
        let k = self.cols / self.blocks.len();
        // Left unset: the tasks write every element, in parallel, instead of the leader
        // zeroing megabytes alone first.
        let fill = |task: usize, y: &mut [std::mem::MaybeUninit<f32>]| {
            let n = y.len() / self.rows;
            let acts = acts.rows(task * ACT_CHUNK..task * ACT_CHUNK + n, k);
            let mut part = [0f32; WEIGHT_GROUP * ACT_CHUNK];
            for first in (0..self.rows).step_by(WEIGHT_GROUP) {
                let group = WEIGHT_GROUP.min(self.rows - first);
                let part = &mut part[..group * n];
                kernels().run(self, acts, first, part, n);
                for (y, part) in y.chunks_exact_mut(self.rows).zip(part.chunks_exact(group)) {
                    for (v, &x) in y[first..first + group].iter_mut().zip(part) {
                        v.write(x);
                    }
                }
            }
        };
        // SAFETY: each task writes all its rows, across every group of weight rows.
        unsafe { collect_written(m * self.rows, ACT_CHUNK * self.rows, fill) }
    }
}

/// Bytes of a tensor repacked between two calls of `from_gguf_releasing`'s callback.
const RELEASE_STEP: usize = 8 << 20;

/// `data`'s blocks of `bytes` bytes each through `block`, in one allocation, reporting
/// each copied range of about [`RELEASE_STEP`] bytes to `copied`.
fn convert<B>(
    data: &[u8],
    bytes: usize,
    mut copied: impl FnMut(Range<usize>),
    block: impl Fn(&[u8]) -> B,
) -> Vec<B> {
    let mut out = Vec::with_capacity(data.len() / bytes);
    let mut done = 0;
    for chunk in data.chunks((RELEASE_STEP / bytes).max(1) * bytes) {
        out.extend(chunk.chunks_exact(bytes).map(&block));
        copied(done..done + chunk.len());
        done += chunk.len();
    }
    out
}

/// Rows per task when quantizing `m` activation rows: up to eight, but a batch of a
/// few decoding rows is still shared out rather than left to one thread.
fn act_rows_per_task(m: usize) -> usize {
    (m / 8).clamp(1, 8)
}
/// Activation rows per task of a prompt's matmul.
const ACT_CHUNK: usize = 16;
/// Weight rows a prompt task takes at a time: with the task's activations, they stay in
/// the core's cache while every activation row meets them.
const WEIGHT_GROUP: usize = 64;

/// One compiled copy of the kernels. `run(w, acts, first, out, m)` sets
/// `out[i · n + j]` to weight row `first + j` times activation row `i`, for the `n`
/// weight rows `out` covers and the `m` activation rows of `acts`.
#[derive(Clone, Copy)]
struct Kernels {
    run: fn(&QMatrix, ActsView<'_>, usize, &mut [f32], usize),
}

impl Kernels {
    fn run(self, w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
        (self.run)(w, acts, first, out, m)
    }
}

fn kernels() -> Kernels {
    static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| available_kernels()[0].1)
}

/// The kernels this CPU can run, best first, named; the portable ones come last.
fn available_kernels() -> Vec<(&'static str, Kernels)> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            if has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512vnni") {
                found.push(("avx512-vnni", Kernels { run: rows_vnni }));
            }
            found.push(("avx2", Kernels { run: rows_avx2 }));
        }
    }
    found.push(("portable", Kernels { run: rows_portable }));
    found
}

/// Runs the 32-value formats through `tile::rows` with the tile kernels named, and
/// K-quants through `$kquants`.
#[cfg(target_arch = "x86_64")]
macro_rules! tiled {
    ($w:expr, $acts:expr, $first:expr, $out:expr, $m:expr,
     $q4_1:path, $q5_0:path, $q8_0:path, $kquants:path) => {{
        let k = $w.cols / $w.blocks.len();
        // SAFETY (each arm): `kernels()` only picks this path after detecting the
        // kernels' features; `Acts::quantize` made `m` rows of `k` blocks (and the
        // offsets Q5_0 and Q8_0 need, the group sums Q4_1 needs), and the weight rows
        // `out` covers exist.
        match (&$w.blocks, $acts) {
            (Blocks::Q4_1(b), ActsView::Q8(a)) => unsafe {
                tile::rows::<_, $q4_1>(&a.operands(b, k), $first, $out, $m)
            },
            (Blocks::Q5_0(b), ActsView::Q8(a)) => unsafe {
                tile::rows::<_, $q5_0>(&a.operands(b, k), $first, $out, $m)
            },
            (Blocks::Q8_0(b), ActsView::Q8(a)) => unsafe {
                tile::rows::<_, $q8_0>(&a.operands(b, k), $first, $out, $m)
            },
            _ => $kquants($w, $acts, $first, $out, $m),
        }
    }};
}

#[cfg(target_arch = "x86_64")]
fn rows_vnni(w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
    use tile::{Q4_1Vnni, Q5_0Vnni, Q8_0Vnni};
    tiled!(
        w,
        acts,
        first,
        out,
        m,
        Q4_1Vnni,
        Q5_0Vnni,
        Q8_0Vnni,
        rows_kquants_avx512
    )
}

#[cfg(target_arch = "x86_64")]
fn rows_avx2(w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
    use tile::{Q4_1Avx2, Q5_0Avx2, Q8_0Avx2};
    tiled!(
        w,
        acts,
        first,
        out,
        m,
        Q4_1Avx2,
        Q5_0Avx2,
        Q8_0Avx2,
        rows_kquants_avx2
    )
}

/// Activation rows taken together against each weight row, so that they stay in cache
/// while the task's weight rows stream past (a long prompt's activations do not fit).
const ACT_TILE: usize = 8;

/// Sets `out[i · n + j] = dot(first + j, i)`: weight row `first + j` times activation
/// row `i`, for the `n` weight rows `out` covers (the kernels' layout, act-major).
#[inline(always)]
fn fill(out: &mut [f32], m: usize, first: usize, dot: impl Fn(usize, usize) -> f32) {
    let n = out.len() / m;
    for i0 in (0..m).step_by(ACT_TILE) {
        for j in 0..n {
            for i in i0..(i0 + ACT_TILE).min(m) {
                out[i * n + j] = dot(first + j, i);
            }
        }
    }
}

/// Puts the outputs of weight row `j` (of those `out` covers) for activation rows
/// `i0..i0 + values.len()` into `out`, laid out as [`fill`] says.
#[inline(always)]
fn put_column(out: &mut [f32], m: usize, j: usize, i0: usize, values: &[f32]) {
    let n = out.len() / m;
    for (i, &v) in values.iter().enumerate() {
        out[(i0 + i) * n + j] = v;
    }
}

/// Expands to one `fill` per weight format, calling `$q4_1(weights, acts)` and so on
/// with row `r` of the weights and row `i` of the activations. `Acts::quantize` always
/// pairs a format with its activation kind, so the last arm is never taken.
macro_rules! dispatch {
    ($w:expr, $acts:expr, $first:expr, $out:expr, $m:expr,
     $q4_1:path, $q5_0:path, $q8_0:path, $q4_k:path, $q6_k:path) => {{
        let k = $w.cols / $w.blocks.len();
        let (w, a) = (&$w.blocks, $acts);
        let rows = |r: usize| r * k..(r + 1) * k;
        match (w, a) {
            (Blocks::Q4_1(b), ActsView::Q8(Q8Rows { blocks: a, .. })) => {
                fill($out, $m, $first, |r, i| $q4_1(&b[rows(r)], &a[rows(i)]))
            }
            (Blocks::Q5_0(b), ActsView::Q8(Q8Rows { blocks: a, .. })) => {
                fill($out, $m, $first, |r, i| $q5_0(&b[rows(r)], &a[rows(i)]))
            }
            (Blocks::Q8_0(b), ActsView::Q8(Q8Rows { blocks: a, .. })) => {
                fill($out, $m, $first, |r, i| $q8_0(&b[rows(r)], &a[rows(i)]))
            }
            (Blocks::Q4K(b), ActsView::Q8K(a, p)) => fill($out, $m, $first, |r, i| {
                $q4_k(&b[rows(r)], &a[rows(i)], p[i])
            }),
            (Blocks::Q6K(b), ActsView::Q8K(a, p)) => fill($out, $m, $first, |r, i| {
                $q6_k(&b[rows(r)], &a[rows(i)], p[i])
            }),
            _ => $out.fill(f32::NAN),
        }
    }};
}

fn rows_portable(w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
    dispatch!(
        w,
        acts,
        first,
        out,
        m,
        dot::q4_1,
        dot::q5_0,
        dot::q8_0,
        kquant::q4_k,
        kquant::q6_k
    )
}

/// K-quant weight rows against up to four activation rows at a time, each weight
/// super-block unpacked once for them.
#[cfg(target_arch = "x86_64")]
fn rows_kquants_avx2(w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
    // SAFETY: only reached from kernels `kernels()` picks after detecting AVX2 and FMA.
    unsafe { rows_kquants_avx2_inner(w, acts, first, out, m) }
}

/// The activation rows `i0..i0 + RN` of `a` (`k` blocks each) and their paths.
fn act_tile<'a, T, const RN: usize>(
    a: &'a [T],
    paths: &[Path],
    i0: usize,
    k: usize,
) -> ([&'a [T]; RN], [Path; RN]) {
    (
        std::array::from_fn(|n| &a[(i0 + n) * k..][..k]),
        std::array::from_fn(|n| paths[i0 + n]),
    )
}

/// Fills `out` (laid out as [`fill`] says) with `$kernel::<RN>` over act tiles.
#[cfg(target_arch = "x86_64")]
macro_rules! k_tiles {
    ($kernel:path, $b:expr, $a:expr, $p:expr, $k:expr, $first:expr, $out:expr, $m:expr) => {{
        let (b, a, p, k, m, out) = ($b, $a, $p, $k, $m, $out);
        for i0 in (0..m).step_by(4) {
            for j in 0..out.len() / m {
                let wr = &b[($first + j) * k..][..k];
                // SAFETY (each arm): every activation row holds `k` blocks, as `wr` does;
                // the caller runs with AVX2 and FMA.
                match m - i0 {
                    1 => {
                        let (rows, paths) = act_tile::<_, 1>(a, p, i0, k);
                        put_column(out, m, j, i0, &unsafe { $kernel(wr, rows, paths) });
                    }
                    2 => {
                        let (rows, paths) = act_tile::<_, 2>(a, p, i0, k);
                        put_column(out, m, j, i0, &unsafe { $kernel(wr, rows, paths) });
                    }
                    3 => {
                        let (rows, paths) = act_tile::<_, 3>(a, p, i0, k);
                        put_column(out, m, j, i0, &unsafe { $kernel(wr, rows, paths) });
                    }
                    _ => {
                        let (rows, paths) = act_tile::<_, 4>(a, p, i0, k);
                        put_column(out, m, j, i0, &unsafe { $kernel(wr, rows, paths) });
                    }
                }
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_kquants_avx2_inner(
    w: &QMatrix,
    acts: ActsView<'_>,
    first: usize,
    out: &mut [f32],
    m: usize,
) {
    let k = w.cols / w.blocks.len();
    match (&w.blocks, acts) {
        (Blocks::Q4K(b), ActsView::Q8K(a, p)) => {
            k_tiles!(kquant_avx2::q4_k_tile, b, a, p, k, first, out, m)
        }
        (Blocks::Q6K(b), ActsView::Q8K(a, p)) => {
            k_tiles!(kquant_avx2::q6_k_tile, b, a, p, k, first, out, m)
        }
        // The 32-value formats have their tile kernels; this arm is never taken.
        _ => rows_portable(w, acts, first, out, m),
    }
}

/// The VNNI kernels' K-quants: weight rows two at a time through the 512-bit pair tiles
/// of [`kquant_pairs`] (for `Q4_K`, where all rows of an activation tile take the
/// batched path), the rest as with AVX2.
#[cfg(target_arch = "x86_64")]
fn rows_kquants_avx512(w: &QMatrix, acts: ActsView<'_>, first: usize, out: &mut [f32], m: usize) {
    let k = w.cols / QK_K;
    // SAFETY (both arms): only reached from the kernels `kernels()` picks after
    // detecting AVX2, FMA and AVX-512 F, BW and VNNI; `Acts::quantize` made `m` rows of
    // `k` blocks, and the weight rows `out` covers exist.
    match (&w.blocks, acts) {
        (Blocks::Q4K(w), ActsView::Q8K(a, paths)) => unsafe {
            k_act_tiles(&KOperands { w, a, paths, k }, first, out, m)
        },
        (Blocks::Q6K(w), ActsView::Q8K(a, paths)) => unsafe {
            k_act_tiles(&KOperands { w, a, paths, k }, first, out, m)
        },
        _ => rows_kquants_avx2(w, acts, first, out, m),
    }
}

/// All activation rows, four at a time, against the weight rows `out` covers.
///
/// # Safety
/// As for [`k_act_tile`].
#[cfg(target_arch = "x86_64")]
unsafe fn k_act_tiles<B: KTiles>(ops: &KOperands<'_, B>, first: usize, out: &mut [f32], m: usize) {
    for i0 in (0..m).step_by(4) {
        // SAFETY (each arm): passed on from the caller.
        unsafe {
            match m - i0 {
                1 => k_act_tile::<_, 1>(ops, first, out, m, i0),
                2 => k_act_tile::<_, 2>(ops, first, out, m, i0),
                3 => k_act_tile::<_, 3>(ops, first, out, m, i0),
                _ => k_act_tile::<_, 4>(ops, first, out, m, i0),
            }
        }
    }
}

/// A K-quant matrix's blocks and one matmul's activations, `k` blocks per row.
#[cfg(target_arch = "x86_64")]
struct KOperands<'a, B> {
    w: &'a [B],
    a: &'a [KActBlock],
    paths: &'a [Path],
    k: usize,
}

/// A K-quant format's tiles: one weight row, or two through 512-bit registers.
#[cfg(target_arch = "x86_64")]
trait KTiles: Sized {
    /// Whether the pair tile computes activation rows with these paths.
    fn pairs_take(paths: &[Path]) -> bool;

    /// # Safety
    /// As for [`kquant_pairs`]'s kernels; only where `pairs_take(&paths)`.
    unsafe fn pair<const RN: usize>(
        w: [&[Self]; 2],
        a: [&[KActBlock]; RN],
        paths: [Path; RN],
    ) -> [[f32; RN]; 2];

    /// # Safety
    /// As for [`kquant_avx2`]'s kernels.
    unsafe fn single<const RN: usize>(
        w: &[Self],
        a: [&[KActBlock]; RN],
        paths: [Path; RN],
    ) -> [f32; RN];
}

#[cfg(target_arch = "x86_64")]
impl KTiles for Q4KBlock {
    fn pairs_take(paths: &[Path]) -> bool {
        paths.len() <= 4 && paths.iter().all(|&p| p == Path::Batched)
    }

    unsafe fn pair<const RN: usize>(
        w: [&[Self]; 2],
        a: [&[KActBlock]; RN],
        _: [Path; RN],
    ) -> [[f32; RN]; 2] {
        // SAFETY: passed on from the caller.
        unsafe { kquant_pairs::q4_k_pair_tile_batched(w[0], w[1], a) }
    }

    unsafe fn single<const RN: usize>(
        w: &[Self],
        a: [&[KActBlock]; RN],
        paths: [Path; RN],
    ) -> [f32; RN] {
        // SAFETY: passed on from the caller.
        unsafe { kquant_avx2::q4_k_tile(w, a, paths) }
    }
}

#[cfg(target_arch = "x86_64")]
impl KTiles for Q6KBlock {
    fn pairs_take(_: &[Path]) -> bool {
        true
    }

    unsafe fn pair<const RN: usize>(
        w: [&[Self]; 2],
        a: [&[KActBlock]; RN],
        paths: [Path; RN],
    ) -> [[f32; RN]; 2] {
        // SAFETY: passed on from the caller.
        unsafe { kquant_pairs::q6_k_pair_tile(w[0], w[1], a, paths) }
    }

    unsafe fn single<const RN: usize>(
        w: &[Self],
        a: [&[KActBlock]; RN],
        paths: [Path; RN],
    ) -> [f32; RN] {
        // SAFETY: passed on from the caller.
        unsafe { kquant_avx2::q6_k_tile(w, a, paths) }
    }
}

/// Activation rows `i0..i0 + RN` against the weight rows `out` covers (laid out as
/// [`fill`] says), two weight rows at a time where the pair tile applies.
///
/// # Safety
/// As for the kernels of [`kquant_pairs`].
#[cfg(target_arch = "x86_64")]
unsafe fn k_act_tile<B: KTiles, const RN: usize>(
    ops: &KOperands<'_, B>,
    first: usize,
    out: &mut [f32],
    m: usize,
    i0: usize,
) {
    let (rows, paths) = act_tile::<_, RN>(ops.a, ops.paths, i0, ops.k);
    let w_row = |j: usize| &ops.w[(first + j) * ops.k..][..ops.k];
    let n_rows = out.len() / m;
    let mut j = 0;
    if B::pairs_take(&paths) {
        while j + 2 <= n_rows {
            // SAFETY: passed on from the caller.
            let y = unsafe { B::pair([w_row(j), w_row(j + 1)], rows, paths) };
            for (r, y) in y.iter().enumerate() {
                put_column(out, m, j + r, i0, y);
            }
            j += 2;
        }
    }
    for j in j..n_rows {
        // SAFETY: as above.
        let y = unsafe { B::single(w_row(j), rows, paths) };
        put_column(out, m, j, i0, &y);
    }
}

#[cfg(test)]
mod tests;
