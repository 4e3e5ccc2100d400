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

use super::dots::{Mat, dot16_each, vec_dot_f16_each};
use super::f16c::{round_through_f16, widen};
use super::{Heads, Params, Seq};
use crate::kv_cache::CELL_GROUP;
use crate::pool::Buf;
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

/// Attention of query heads `heads` (counted within the group) of those sharing
/// key/value head `kv`, for the rows `first..first + q_rows / width` of `seq`'s chunk;
/// `q_rows` is token-major, `(rows, n_heads · head_dim)`. Returns `(group, rows,
/// head_dim)`, `group` being the number of heads in `heads`.
pub(crate) fn kv_head_rows(
    scratch: &mut Scratch,
    seq: &Seq,
    kv: usize,
    heads: (usize, usize),
    first: usize,
    q_rows: &[f32],
    p: Params,
) -> Buf<f32> {
    let Heads {
        n_heads,
        n_kv_heads,
        head_dim,
    } = p.heads;
    // Where this task's first query head starts in a row of `q_rows`.
    let q_offset = (kv * (n_heads / n_kv_heads) + heads.0) * head_dim;
    let group = heads.1 - heads.0;
    let n_rows = q_rows.len() / (n_heads * head_dim);
    if seq.n == 1 && n_rows == 1 && reads_half(head_dim) {
        return decode_row(scratch, seq, kv, &q_rows[q_offset..][..group * head_dim], p);
    }
    let cells = seq.view.cells;
    // The last row sees this many keys; the value sums read whole groups of 64.
    let visible = seq.start + first + n_rows;
    let stride = value_len(visible);
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
    scratch
        .probs
        .resize(ROW_BLOCK.min(n_rows) * group * stride, 0.0);
    let mut out = Buf::filled(group * n_rows * head_dim, 0.0);
    let rows = Rows {
        keys: &scratch.keys,
        values_t: &scratch.values_t,
        stride,
        q: q_rows,
        q_offset,
        q_width: n_heads * head_dim,
        group,
        head_dim,
        position: seq.start + first,
        single: seq.n == 1,
        scale: p.scale,
        window: p.window,
    };
    rows_of_heads(&rows, &mut scratch.probs, &mut out);
    out
}

/// Whether [`decode_row`] reads the cache's f16 directly with vector code here, for
/// heads of `head_dim` values.
fn reads_half(head_dim: usize) -> bool {
    cpu::has_avx512f() && cpu::has_f16c() && head_dim.is_multiple_of(64)
}

/// [`kv_head_rows`] for one decoding row and its query heads `q_heads` (side by side),
/// with the keys and values read from the f16 cache as the dot products load them
/// rather than widened into scratch first: a long history is then read once, in half
/// the bytes. The arithmetic is that of [`rows_of_heads`] for a single row (every f16
/// widens to f32 exactly).
fn decode_row(scratch: &mut Scratch, seq: &Seq, kv: usize, q_heads: &[f32], p: Params) -> Buf<f32> {
    let hd = p.heads.head_dim;
    let group = q_heads.len() / hd;
    let cells = seq.view.cells;
    let visible = seq.start + 1;
    let first_visible = (visible - 1).saturating_sub(p.window - 1);
    let stride = value_len(visible);
    let probs = &mut scratch.probs;
    probs.clear();
    probs.resize(group * stride, 0.0);
    let keys = Mat {
        data: &seq.view.keys[(kv * cells + first_visible) * hd..],
        stride: hd,
        count: visible - first_visible,
        len: hd,
    };
    let q = Mat {
        data: q_heads,
        stride: hd,
        count: group,
        len: hd,
    };
    vec_dot_f16_each(keys, q, &mut probs[first_visible..], stride);
    for weights in probs.chunks_exact_mut(stride) {
        to_weights(p.scale, first_visible, visible, weights);
    }
    let values = Mat {
        data: &seq.view.values_t[kv * hd * cells..],
        stride: cells,
        count: hd,
        len: stride,
    };
    let weights = Mat {
        data: probs,
        stride,
        count: group,
        len: stride,
    };
    let mut out = Buf::filled(group * hd, 0.0);
    vec_dot_f16_each(values, weights, &mut out, hd);
    out
}

/// Inputs of [`rows_of_heads`].
pub(crate) struct Rows<'a> {
    pub keys: &'a [f32],
    pub values_t: &'a [f32],
    /// Row length of `values_t`, a multiple of 64 covering every visible key.
    pub stride: usize,
    pub q: &'a [f32],
    /// Where the first head's query starts in each row of `q`, and the row length.
    pub q_offset: usize,
    pub q_width: usize,
    /// Query heads, side by side in each row of `q`, sharing the keys and values.
    pub group: usize,
    pub head_dim: usize,
    /// Position of the first row.
    pub position: usize,
    /// The chunk is a single decoding row (llama.cpp then uses its vector dot
    /// product for `q·k`; prompt chunks go through its 16-lane matrix kernel).
    pub single: bool,
    pub scale: f32,
    pub window: usize,
}

cpu::fma_dispatch!(pub(crate) fn rows_of_heads(r: &Rows, probs: &mut [f32], out: &mut [f32]) -> () = rows_generic);

/// Rows whose attention weights are computed together, so that each piece of the keys
/// and values is brought into the core's cache once for all of them.
const ROW_BLOCK: usize = 8;
/// Floats of keys or values worked on at a time by a block of rows: two thirds of a
/// 48 KB L1 data cache.
const CACHED_FLOATS: usize = 8 * 1024;

/// Every head of every row: `probs` holds [`ROW_BLOCK`] rows of `group` rows of
/// `stride` weights, `out` is `(group, rows, head_dim)`. The heads of a row see the
/// same keys, so each key and value is read once for all of them; a block of rows
/// walks the keys, then the values, a cache-sized piece at a time.
#[inline(always)]
fn rows_generic(r: &Rows, probs: &mut [f32], out: &mut [f32]) {
    let hd = r.head_dim;
    let n_rows = out.len() / (r.group * hd);
    let per_row = r.group * r.stride;
    // A single row reads each key and value once anyway.
    let cached = if n_rows == 1 {
        usize::MAX
    } else {
        CACHED_FLOATS
    };
    let key_chunk = (cached / hd).max(16) / 16 * 16;
    for i0 in (0..n_rows).step_by(ROW_BLOCK) {
        let block = i0..n_rows.min(i0 + ROW_BLOCK);
        let visible = |i: usize| r.position + i + 1;
        let first_visible = |i: usize| (visible(i) - 1).saturating_sub(r.window - 1);
        let weights_of = |i: usize| (i - i0) * per_row..(i - i0 + 1) * per_row;
        for k0 in (0..visible(block.end - 1)).step_by(key_chunk) {
            for i in block.clone() {
                let (lo, hi) = (first_visible(i).max(k0), visible(i).min(k0 + key_chunk));
                if lo < hi {
                    scores(r, i, lo..hi, &mut probs[weights_of(i)][lo..]);
                }
            }
        }
        for i in block.clone() {
            for weights in probs[weights_of(i)].chunks_exact_mut(r.stride) {
                to_weights(r.scale, first_visible(i), visible(i), weights);
            }
        }
        let longest = value_len(visible(block.end - 1));
        let dim_chunk = (cached / longest).clamp(4, hd.max(4)) / 4 * 4;
        for c0 in (0..hd).step_by(dim_chunk) {
            for i in block.clone() {
                let len = value_len(visible(i));
                let values = Mat {
                    data: &r.values_t[c0 * r.stride..],
                    stride: r.stride,
                    count: dim_chunk.min(hd - c0),
                    len,
                };
                let weights = Mat {
                    data: &probs[weights_of(i)],
                    stride: r.stride,
                    count: r.group,
                    len,
                };
                vec_dot_f16_each(values, weights, &mut out[i * hd + c0..], n_rows * hd);
            }
        }
    }
}

/// Row `i`'s scores of every head for the keys `keys`, into `out` (`group` rows of
/// `stride`, starting at the first key).
#[inline(always)]
fn scores(r: &Rows, i: usize, keys: std::ops::Range<usize>, out: &mut [f32]) {
    let hd = r.head_dim;
    let k = Mat {
        data: &r.keys[keys.start * hd..],
        stride: hd,
        count: keys.len(),
        len: hd,
    };
    let q = Mat {
        data: &r.q[i * r.q_width + r.q_offset..],
        stride: hd,
        count: r.group,
        len: hd,
    };
    // llama.cpp takes a single decoding row through its vector dot product, and
    // prompt chunks through its 16-lane matrix kernel.
    if r.single {
        vec_dot_f16_each(k, q, out, r.stride);
    } else {
        dot16_each(k, q, out, r.stride);
    }
}

/// Turns one head's scores of keys `first_visible..visible` into attention weights,
/// zero up to the next 64 keys.
#[inline(always)]
fn to_weights(scale: f32, first_visible: usize, visible: usize, weights: &mut [f32]) {
    weights[..first_visible].fill(f32::NEG_INFINITY);
    let scores = &mut weights[..visible];
    scores[first_visible..].iter_mut().for_each(|s| *s *= scale);
    ggml_math::softmax(scores);
    // Attention weights meet the f16 values as f16.
    round_through_f16(scores);
    weights[visible..value_len(visible)].fill(0.0);
}

/// Values the weighted sum of a row that sees `visible` keys reads: whole groups of
/// 64 cells, the step of `vec_dot_f16`.
fn value_len(visible: usize) -> usize {
    visible.div_ceil(CELL_GROUP) * CELL_GROUP
}
