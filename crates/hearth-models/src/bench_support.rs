//! Internals exposed for the criterion benchmarks under `benches/`; not a stable API.

use candle_core::Device;

use crate::attention::{Heads, Params, Seq, attend};
use crate::error::Result;
use crate::kv_cache::{CacheShape, KvCache};

/// One layer's attention over a batch of sequences with filled caches.
pub struct AttentionCase {
    heads: Heads,
    caches: Vec<KvCache>,
    q: Vec<f32>,
    n: usize,
    total: usize,
}

impl AttentionCase {
    /// `n_seqs` sequences, each with `n` query rows at the end of `total` cached
    /// positions, filled with deterministic values.
    pub fn new(
        (n_heads, n_kv_heads, head_dim): (usize, usize, usize),
        n_seqs: usize,
        n: usize,
        total: usize,
    ) -> Result<Self> {
        let shape = CacheShape {
            n_layers: 1,
            n_kv_heads,
            head_dim,
        };
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 506.0) - 1.0;
        let kv: Vec<f32> = (0..total * n_kv_heads * head_dim).map(value).collect();
        let mut caches = Vec::new();
        for _ in 0..n_seqs {
            let mut cache = KvCache::new(shape, total, &Device::Cpu)?;
            cache.write(0, 0, &kv, &kv);
            caches.push(cache);
        }
        let q = (0..n_seqs * n * n_heads * head_dim)
            .map(|i| half::f16::from_f32(value(i + 17)).to_f32())
            .collect();
        Ok(Self {
            heads: Heads {
                n_heads,
                n_kv_heads,
                head_dim,
            },
            caches,
            q,
            n,
            total,
        })
    }

    /// Runs the attention once; returns `(tokens, n_heads · head_dim)`.
    pub fn run(&self) -> Vec<f32> {
        let seqs: Vec<Seq> = self
            .caches
            .iter()
            .enumerate()
            .map(|(i, c)| Seq {
                view: c.layer(0),
                first_row: i * self.n,
                n: self.n,
                start: self.total - self.n,
            })
            .collect();
        let params = Params {
            heads: self.heads,
            scale: 1.0 / (self.heads.head_dim as f32).sqrt(),
            window: usize::MAX,
        };
        attend(&seqs, &self.q, params).into_vec()
    }
}

/// A quantized weight matrix and activations for the matmul benchmarks.
pub struct MatmulCase {
    matrix: crate::quant::QMatrix,
    x: Vec<f32>,
    m: usize,
}

impl MatmulCase {
    /// A `rows × cols` matrix of `ty` (deterministic values, quantized with the
    /// reference code) and `m` activation rows.
    pub fn new(ty: hearth_gguf::GgmlType, rows: usize, cols: usize, m: usize) -> Option<Self> {
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 506.0) - 1.0;
        let w: Vec<f32> = (0..rows * cols).map(value).collect();
        let mut data = Vec::new();
        hearth_gguf::quant::quantize(ty, &w, &mut data).ok()?;
        let matrix = crate::quant::QMatrix::from_gguf(ty, &data, rows, cols)?;
        let x = (0..m * cols).map(|i| value(i + 17)).collect();
        Some(Self { matrix, x, m })
    }

    /// `x · Wᵀ` as one prompt chunk of `m` rows.
    pub fn run(&self) -> Vec<f32> {
        self.matrix.matmul(&self.x, &[self.m]).into_vec()
    }
}

/// The time of `iters` calls of `f`, run as a forward pass runs: on the compute
/// pool, with its threads as a team (started before the clock, so that one-row
/// timings do not include handing work from the benchmark's thread to the pool).
pub fn timed_on_team<R>(iters: u64, f: impl Fn() -> R + Sync) -> std::time::Duration {
    crate::team::run(|| {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    })
}
