//! Rotary position embeddings, computed the way llama.cpp computes them.

use candle_core::Device;

use crate::cpu;
use crate::error::Result;

/// Which dimensions rotate together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(x0, x1), (x2, x3)…`: llama.cpp's "normal" mode, used by the
    /// llama architecture (its GGUF converter permutes Q/K weights for it). Using the
    /// other style silently garbles every attention score.
    Interleaved,
    /// First half with second half `(x0, x_{d/2})…`: "neox" mode (qwen2, gemma3).
    Halves,
}

/// Cosine and sine tables, `(n_positions, rotary_dims / 2)`.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
    style: RopeStyle,
}

impl Rope {
    /// Tables for positions `0..n_positions`. Angles are accumulated in f32 exactly as
    /// ggml does (`theta *= theta_scale`), not with `powf` per element: the rounding
    /// differs slightly and greedy parity with llama.cpp depends on such details.
    pub fn new(
        rotary_dims: usize,
        freq_base: f32,
        n_positions: usize,
        style: RopeStyle,
        device: &Device,
    ) -> Result<Self> {
        let half = rotary_dims / 2;
        let theta_scale = freq_base.powf(-2.0 / rotary_dims as f32);
        let mut cos = Vec::with_capacity(n_positions * half);
        let mut sin = Vec::with_capacity(n_positions * half);
        for pos in 0..n_positions {
            let mut theta = pos as f32;
            for _ in 0..half {
                cos.push(theta.cos());
                sin.push(theta.sin());
                theta *= theta_scale;
            }
        }
        let _ = device;
        Ok(Self {
            cos,
            sin,
            half,
            style,
        })
    }

    pub fn n_positions(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }

    /// Rotates `data`, token-major `(n, heads, head_dim)`, in place, for positions
    /// `start..start + n`.
    ///
    /// Each pair is rotated as `x0·cos − x1·sin`, `x0·sin + x1·cos` with the first
    /// product fused into the addition, which is what llama.cpp's compiled rotation
    /// does on x86 with FMA.
    pub(crate) fn apply(&self, data: &mut [f32], heads: usize, head_dim: usize, start: usize) {
        let table = Table {
            cos: &self.cos,
            sin: &self.sin,
            half: self.half,
            style: self.style,
        };
        rotate(&table, data, heads, head_dim, start);
    }
}

struct Table<'a> {
    cos: &'a [f32],
    sin: &'a [f32],
    half: usize,
    style: RopeStyle,
}

cpu::fma_dispatch!(fn rotate(t: &Table, data: &mut [f32], heads: usize, head_dim: usize, start: usize) -> () = rotate_generic);

#[inline(always)]
fn rotate_generic(t: &Table, data: &mut [f32], heads: usize, head_dim: usize, start: usize) {
    for (i, token) in data.chunks_exact_mut(heads * head_dim).enumerate() {
        let pos = start + i;
        let cos = &t.cos[pos * t.half..(pos + 1) * t.half];
        let sin = &t.sin[pos * t.half..(pos + 1) * t.half];
        for row in token.chunks_exact_mut(head_dim) {
            for p in 0..t.half {
                let (a, b) = match t.style {
                    RopeStyle::Interleaved => (2 * p, 2 * p + 1),
                    RopeStyle::Halves => (p, p + t.half),
                };
                let (x0, x1) = (row[a], row[b]);
                row[a] = x0.mul_add(cos[p], -(x1 * sin[p]));
                row[b] = x0.mul_add(sin[p], x1 * cos[p]);
            }
        }
    }
}
