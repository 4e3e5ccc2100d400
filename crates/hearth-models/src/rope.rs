//! Rotary position embeddings, computed the way llama.cpp computes them.

use candle_core::{Device, Tensor};

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
    cos: Tensor,
    sin: Tensor,
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
        Ok(Self {
            cos: Tensor::from_vec(cos, (n_positions, half), device)?,
            sin: Tensor::from_vec(sin, (n_positions, half), device)?,
            style,
        })
    }

    pub fn n_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// Rotates `x` of shape `(heads, n, head_dim)` for positions `start..start + n`.
    pub fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let n = x.dim(1)?;
        let cos = self.cos.narrow(0, start, n)?;
        let sin = self.sin.narrow(0, start, n)?;
        let x = x.unsqueeze(0)?.contiguous()?;
        let out = match self.style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?,
            RopeStyle::Halves => candle_nn::rotary_emb::rope(&x, &cos, &sin)?,
        };
        Ok(out.squeeze(0)?)
    }
}
