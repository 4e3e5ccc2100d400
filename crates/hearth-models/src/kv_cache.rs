//! Per-sequence key/value caches, preallocated for the whole context.

use candle_core::Device;
use half::f16;

use crate::attention::narrow;
use crate::error::{ModelError, Result};

mod persist;

/// Shape of the cache a model needs, per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub n_layers: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// Cells are allocated in multiples of this, so attention can read whole groups of
/// 64 cells (the step of `vec_dot_f16`) without running off the end.
pub(crate) const CELL_GROUP: usize = 64;

/// Keys and values of one sequence for every layer.
///
/// Stored as f16, as llama.cpp does by default: half the memory, and the same rounding
/// of keys and values, which keeps greedy outputs aligned with it. Keys are
/// `(n_kv_heads, cells, head_dim)`; values are stored transposed,
/// `(n_kv_heads, head_dim, cells)`, as llama.cpp stores them without flash attention,
/// because the weighted sum of values runs along positions. `cells` is the context
/// rounded up to [`CELL_GROUP`]. Allocated once; appending writes in place.
#[derive(Debug)]
pub struct KvCache {
    shape: CacheShape,
    keys: Vec<Vec<f16>>,
    values_t: Vec<Vec<f16>>,
    n_ctx: usize,
    cells: usize,
    len: usize,
}

/// One layer of a cache, read-only, as attention sees it.
#[derive(Clone, Copy)]
pub(crate) struct LayerView<'a> {
    /// `(n_kv_heads, cells, head_dim)`.
    pub keys: &'a [f16],
    /// `(n_kv_heads, head_dim, cells)`.
    pub values_t: &'a [f16],
    pub cells: usize,
}

impl KvCache {
    pub fn new(shape: CacheShape, n_ctx: usize, device: &Device) -> Result<Self> {
        let _ = device; // the cache lives in host memory, beside the CPU kernels
        let cells = n_ctx.div_ceil(CELL_GROUP) * CELL_GROUP;
        let per_layer = shape.n_kv_heads * cells * shape.head_dim;
        let alloc = || vec![vec![f16::ZERO; per_layer]; shape.n_layers];
        Ok(Self {
            shape,
            keys: alloc(),
            values_t: alloc(),
            n_ctx,
            cells,
            len: 0,
        })
    }

    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Forgets everything from position `len` on (to reuse a shared prefix).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Bytes held by the cache.
    pub fn size_in_bytes(&self) -> usize {
        self.keys
            .iter()
            .chain(&self.values_t)
            .map(|t| t.len() * size_of::<f16>())
            .sum()
    }

    pub(crate) fn check_room(&self, start: usize, n: usize) -> Result<()> {
        if start != self.len {
            return Err(ModelError::Batch(format!(
                "chunk starts at position {start} but the cache holds {} positions",
                self.len
            )));
        }
        if start + n > self.n_ctx {
            return Err(ModelError::ContextFull {
                needed: start + n,
                n_ctx: self.n_ctx,
            });
        }
        Ok(())
    }

    /// Writes keys `k` and values `v` of `n` tokens at positions `start..start + n` of
    /// `layer`, rounded to f16. Both are token-major, `(n, n_kv_heads · head_dim)`.
    /// The caller has checked the room with [`KvCache::check_room`].
    pub(crate) fn write(&mut self, layer: usize, start: usize, k: &[f32], v: &[f32]) {
        let CacheShape {
            n_kv_heads,
            head_dim,
            ..
        } = self.shape;
        let width = n_kv_heads * head_dim;
        let cells = self.cells;
        let (keys, values_t) = (&mut self.keys[layer], &mut self.values_t[layer]);
        // Values are narrowed a piece at a time on the stack, then scattered.
        let mut v_half = [f16::ZERO; 256];
        for (i, (k_row, v_row)) in k.chunks_exact(width).zip(v.chunks_exact(width)).enumerate() {
            let pos = start + i;
            for h in 0..n_kv_heads {
                let src = &k_row[h * head_dim..(h + 1) * head_dim];
                narrow(src, &mut keys[(h * cells + pos) * head_dim..][..head_dim]);
            }
            for (p, piece) in v_row.chunks(v_half.len()).enumerate() {
                let first = p * v_half.len();
                let half = &mut v_half[..piece.len()];
                narrow(piece, half);
                for (j, &s) in half.iter().enumerate() {
                    values_t[(first + j) * cells + pos] = s;
                }
            }
        }
    }

    /// Layer `layer` as attention reads it.
    pub(crate) fn layer(&self, layer: usize) -> LayerView<'_> {
        LayerView {
            keys: &self.keys[layer],
            values_t: &self.values_t[layer],
            cells: self.cells,
        }
    }

    /// Marks `n` more positions as filled, after every layer has appended them.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows wider than the stack buffer the values are narrowed through (2 × 192
    /// values) land, keys per head and values transposed, where attention reads them.
    #[test]
    fn wide_rows_are_written_where_attention_reads_them() -> Result<()> {
        let shape = CacheShape {
            n_layers: 1,
            n_kv_heads: 2,
            head_dim: 192,
        };
        let (width, start, n) = (2 * 192, 3, 2);
        let mut cache = KvCache::new(shape, 16, &Device::Cpu)?;
        let k: Vec<f32> = (0..n * width).map(|i| i as f32).collect();
        let v: Vec<f32> = (0..n * width).map(|i| -(i as f32) - 0.5).collect();
        cache.write(0, start, &k, &v);
        let view = cache.layer(0);
        for t in 0..n {
            for h in 0..shape.n_kv_heads {
                for c in 0..shape.head_dim {
                    let at = t * width + h * shape.head_dim + c;
                    let key = view.keys[(h * view.cells + start + t) * shape.head_dim + c];
                    let value = view.values_t[(h * shape.head_dim + c) * view.cells + start + t];
                    assert_eq!(key, f16::from_f32(k[at]));
                    assert_eq!(value, f16::from_f32(v[at]));
                }
            }
        }
        Ok(())
    }
}
