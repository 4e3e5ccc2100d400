//! Causal attention of each sequence's chunk over its cached keys and values.
//!
//! Per layer, [`attend_chunks`] rotates each chunk's queries and keys and writes keys and
//! values into each sequence's f16 cache (a sequence per task of the compute team),
//! then splits the attention into tasks — the query heads sharing one key/value head
//! (or half of them, for a lone decoding row with a long history), of one sequence,
//! over a block of its rows — and runs them on the compute team (`crate::team`). Each
//! task runs [`kernel`]'s llama.cpp arithmetic on the cells it reads, widened from f16
//! to f32 exactly (every f16 is an f32): a decoding row widens them in registers as it
//! loads them (with AVX-512), other rows into scratch once per task.

mod dots;
mod f16c;
mod kernel;

use smallvec::{SmallVec, smallvec};

use crate::batch::SeqChunk;
use crate::error::Result;
use crate::kv_cache::{KvCache, LayerView};
use crate::mat::Mat;
use crate::pool::{Buf, Pooled, pooled};
use crate::rope::Rope;
use crate::team;

pub(crate) use f16c::narrow;
pub(crate) use kernel::Scratch;

/// Head layout of one attention layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

thread_local! {
    /// Each thread's buffers for the tasks it runs, kept from one layer to the next.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

pooled!(Task, Buf<f32>);

/// Frees the shelved task and result lists ([`crate::pool::release_all`]).
pub(crate) fn clear_shelves() {
    Task::clear_shelf();
    Buf::<f32>::clear_shelf();
}

/// Query rows per task when a chunk has many (prompt processing).
const ROWS_PER_TASK: usize = 32;
/// Below this many multiply-adds in a layer's attention, tasks run on the calling
/// thread: waking the pool costs more than it saves.
const PARALLEL_WORK: usize = 1 << 16;

/// Attention of every chunk of a batch against its own cache, for layer `layer`.
///
/// `q` is `(tokens, n_heads · head_dim)`, `k` and `v` are `(tokens, n_kv_heads ·
/// head_dim)`, rows in chunk order; queries and keys are rotated by `rope` in place,
/// keys and values written into each chunk's cache. Returns `(tokens, n_heads ·
/// head_dim)`. With `window` set, a query at position `p` sees only keys at positions
/// `p - window + 1 ..= p` (sliding-window layers).
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_chunks(
    layer: usize,
    (mut q, mut k, v): (Mat, Mat, &Mat),
    heads: Heads,
    rope: &Rope,
    chunks: &[SeqChunk],
    caches: &mut [&mut KvCache],
    scale: f64,
    window: Option<usize>,
) -> Result<Mat> {
    let (hd, q_width, kv_width) = (
        heads.head_dim,
        heads.n_heads * heads.head_dim,
        heads.n_kv_heads * heads.head_dim,
    );
    let mut prepared = SmallVec::<[NewRows; BATCH_INLINE]>::with_capacity(chunks.len());
    let (mut q_rest, mut k_rest, mut v_rest) = (&mut q[..], &mut k[..], &v[..]);
    for (chunk, cache) in chunks.iter().zip(caches.iter_mut()) {
        let n = chunk.tokens.len();
        let q;
        let k;
        let v;
        (q, q_rest) = std::mem::take(&mut q_rest).split_at_mut(n * q_width);
        (k, k_rest) = std::mem::take(&mut k_rest).split_at_mut(n * kv_width);
        (v, v_rest) = v_rest.split_at(n * kv_width);
        prepared.push(NewRows {
            q,
            k,
            v,
            cache,
            start: chunk.start,
        });
    }
    // A sequence per task: the cache's transposed values make the write a scattered
    // store per value, which a batch of decoding sequences should not leave to one
    // thread.
    team::for_each_chunk_mut(&mut prepared, 1, |_, seq| {
        let seq = &mut seq[0];
        rope.apply(seq.q, heads.n_heads, hd, seq.start);
        // Queries meet the f16 cache in llama.cpp's kernels as f16.
        f16c::round_through_f16(seq.q);
        rope.apply(seq.k, heads.n_kv_heads, hd, seq.start);
        seq.cache.write(layer, seq.start, seq.k, seq.v);
    });
    drop(prepared);
    let seqs: SmallVec<[Seq; BATCH_INLINE]> = chunks
        .iter()
        .zip(caches.iter())
        .scan(0, |row, (chunk, cache)| {
            let seq = Seq {
                view: cache.layer(layer),
                first_row: *row,
                n: chunk.tokens.len(),
                start: chunk.start,
            };
            *row += seq.n;
            Some(seq)
        })
        .collect();
    let params = Params {
        heads,
        scale: scale as f32,
        window: window.unwrap_or(usize::MAX),
    };
    Ok(Mat::new(attend(&seqs, &q, params), q_width))
}

/// Sequences of a batch whose per-sequence lists stay on the stack.
const BATCH_INLINE: usize = 16;

/// One sequence's new rows of the batch's queries, keys and values, and its cache.
struct NewRows<'a> {
    q: &'a mut [f32],
    k: &'a mut [f32],
    v: &'a [f32],
    cache: &'a mut KvCache,
    /// The position of its first row.
    start: usize,
}

/// One sequence of the batch, as the attention tasks see it.
#[derive(Clone, Copy)]
pub(crate) struct Seq<'a> {
    pub view: LayerView<'a>,
    /// Its first row in the batch's queries.
    pub first_row: usize,
    /// Its rows (tokens of the chunk), at positions `start..start + n`.
    pub n: usize,
    pub start: usize,
}

#[derive(Clone, Copy)]
pub(crate) struct Params {
    pub heads: Heads,
    pub scale: f32,
    /// Keys visible to a query, counting its own; `usize::MAX` for none.
    pub window: usize,
}

/// Query heads `heads` (counted within the group) of key/value head `kv` of sequence
/// `seq`, rows `rows`.
#[derive(Clone, Copy)]
struct Task {
    seq: usize,
    kv: usize,
    heads: (usize, usize),
    rows: (usize, usize),
}

/// `softmax(q·kᵀ·scale + mask)·v` for every sequence of a batch; `q` holds the rotated
/// queries, rounded to f16, `(tokens, n_heads · head_dim)`. Returns the same shape.
pub(crate) fn attend(seqs: &[Seq], q: &[f32], p: Params) -> Buf<f32> {
    let Heads {
        n_heads,
        n_kv_heads,
        head_dim,
    } = p.heads;
    let group = n_heads / n_kv_heads;
    let head_sets = head_sets(seqs, p.heads);
    let row_blocks: usize = seqs.iter().map(|s| s.n.div_ceil(ROWS_PER_TASK)).sum();
    let mut tasks = Buf::<Task>::with_capacity(row_blocks * n_kv_heads * head_sets.len());
    let mut work = 0;
    for (s, seq) in seqs.iter().enumerate() {
        for kv in 0..n_kv_heads {
            for first in (0..seq.n).step_by(ROWS_PER_TASK) {
                let rows = (first, (first + ROWS_PER_TASK).min(seq.n));
                work += group * (rows.1 - rows.0) * (seq.start + rows.1) * head_dim * 2;
                for &heads in &head_sets {
                    tasks.vec_mut().push(Task {
                        seq: s,
                        kv,
                        heads,
                        rows,
                    });
                }
            }
        }
    }
    let run = |scratch: &mut Scratch, t: &Task| {
        let seq = &seqs[t.seq];
        let width = n_heads * head_dim;
        let q_rows = &q[(seq.first_row + t.rows.0) * width..(seq.first_row + t.rows.1) * width];
        kernel::kv_head_rows(scratch, seq, t.kv, t.heads, t.rows.0, q_rows, p)
    };
    let results: Buf<Buf<f32>> = if work >= PARALLEL_WORK && tasks.len() > 1 {
        let mut results = Buf::collect(tasks.len(), tasks.iter().map(|_| Buf::new()));
        team::for_each_chunk_mut(&mut results, 1, |i, result| {
            result[0] = SCRATCH.with_borrow_mut(|scratch| run(scratch, &tasks[i]));
        });
        results
    } else {
        SCRATCH.with_borrow_mut(|scratch| {
            Buf::collect(tasks.len(), tasks.iter().map(|t| run(scratch, t)))
        })
    };
    let tokens: usize = seqs.iter().map(|s| s.n).sum();
    let width = n_heads * head_dim;
    // Assembled in pieces of rows over the team: each piece takes, from every task,
    // the rows it covers.
    let rows_per_piece = (ASSEMBLY_PIECE / width.max(1)).max(1);
    team::collect_chunks(tokens * width, rows_per_piece * width, |piece, out| {
        let lo = piece * rows_per_piece;
        let hi = lo + out.len() / width;
        for (t, result) in tasks.iter().zip(results.iter()) {
            let first = seqs[t.seq].first_row + t.rows.0;
            let n_rows = t.rows.1 - t.rows.0;
            let (from, to) = (first.max(lo), (first + n_rows).min(hi));
            for (g, rows) in result.chunks_exact(n_rows * head_dim).enumerate() {
                let col = (t.kv * group + t.heads.0 + g) * head_dim;
                for i in from..to {
                    out[(i - lo) * width + col..][..head_dim]
                        .copy_from_slice(&rows[(i - first) * head_dim..][..head_dim]);
                }
            }
        }
    })
}

/// How the query heads of each key/value head are shared out: all in one task, or,
/// for a lone decoding sequence with fewer key/value heads than twice the threads
/// (Gemma 3 has one) and a history of at least [`SPLIT_HISTORY`] positions, in two
/// halves, so that both threads work on it. Each half reads the keys and values
/// again; every head's arithmetic stays the same.
fn head_sets(seqs: &[Seq], heads: Heads) -> SmallVec<[(usize, usize); 2]> {
    let group = heads.n_heads / heads.n_kv_heads;
    let lone_row = seqs.len() == 1 && seqs[0].n == 1 && seqs[0].start >= SPLIT_HISTORY;
    if lone_row && group > 1 && heads.n_kv_heads < 2 * rayon::current_num_threads() {
        let half = group.div_ceil(2);
        smallvec![(0, half), (half, group)]
    } else {
        smallvec![(0, group)]
    }
}

/// Cached positions from which a lone decoding row's heads are split: below it, the
/// extra tasks and the second read of the keys cost more than the second thread
/// saves.
const SPLIT_HISTORY: usize = 256;

/// Values of the attention output assembled per task (64 KB): a decoding step's few
/// rows stay on one thread.
const ASSEMBLY_PIECE: usize = 16 * 1024;

#[cfg(test)]
mod tests;
