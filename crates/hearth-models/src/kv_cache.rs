//! Per-sequence key/value caches, preallocated for the whole context.

use candle_core::{DType, Device, Tensor};

use crate::error::{ModelError, Result};

/// Shape of the cache a model needs, per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub n_layers: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// Keys and values of one sequence for every layer, `(n_kv_heads, n_ctx, head_dim)` each.
///
/// Stored as f16, as llama.cpp does by default: half the memory, and the same rounding
/// of keys and values, which keeps greedy outputs aligned with it. Allocated once;
/// appending writes in place.
#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    n_ctx: usize,
    len: usize,
}

impl KvCache {
    pub fn new(shape: CacheShape, n_ctx: usize, device: &Device) -> Result<Self> {
        let dims = (shape.n_kv_heads, n_ctx, shape.head_dim);
        let alloc = || -> Result<Vec<Tensor>> {
            (0..shape.n_layers)
                .map(|_| Ok(Tensor::zeros(dims, DType::F16, device)?))
                .collect()
        };
        Ok(Self {
            keys: alloc()?,
            values: alloc()?,
            n_ctx,
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
            .chain(&self.values)
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
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

    /// Writes `k`, `v` (`(n_kv_heads, n, head_dim)`, f32) at `start` in `layer` and
    /// returns all keys and values up to `start + n`, as f32.
    pub(crate) fn append(
        &self,
        layer: usize,
        start: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let n = k.dim(1)?;
        let (keys, values) = (&self.keys[layer], &self.values[layer]);
        keys.slice_set(&k.to_dtype(DType::F16)?, 1, start)?;
        values.slice_set(&v.to_dtype(DType::F16)?, 1, start)?;
        let total = start + n;
        Ok((
            keys.narrow(1, 0, total)?.to_dtype(DType::F32)?,
            values.narrow(1, 0, total)?.to_dtype(DType::F32)?,
        ))
    }

    /// Marks `n` more positions as filled, after every layer has appended them.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}
