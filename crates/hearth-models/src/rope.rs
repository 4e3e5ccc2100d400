//! Rotary position embeddings, computed the way llama.cpp computes them.

use std::sync::OnceLock;

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

/// Positions per piece of the tables, computed the first time a position in it is used:
/// a model's trained context (32k positions and more) would otherwise cost tens of
/// megabytes and a noticeable part of the load time, for positions most runs never
/// reach.
const SPAN: usize = 256;

/// Cosine and sine tables, `(n_positions, rotary_dims / 2)`, filled in pieces on demand.
#[derive(Debug, Clone)]
pub struct Rope {
    spans: Vec<OnceLock<Span>>,
    n_positions: usize,
    half: usize,
    theta_scale: f32,
    style: RopeStyle,
}

/// The tables of positions `SPAN · i..SPAN · (i + 1)`, `(SPAN, half)`.
#[derive(Debug, Clone)]
struct Span {
    cos: Vec<f32>,
    sin: Vec<f32>,
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
        let _ = device;
        Ok(Self {
            spans: (0..n_positions.div_ceil(SPAN))
                .map(|_| OnceLock::new())
                .collect(),
            n_positions,
            half: rotary_dims / 2,
            theta_scale: freq_base.powf(-2.0 / rotary_dims as f32),
            style,
        })
    }

    pub fn n_positions(&self) -> usize {
        self.n_positions
    }

    fn span(&self, index: usize) -> &Span {
        self.spans[index].get_or_init(|| {
            let mut cos = Vec::with_capacity(SPAN * self.half);
            let mut sin = Vec::with_capacity(SPAN * self.half);
            for pos in SPAN * index..SPAN * (index + 1) {
                let mut theta = pos as f32;
                for _ in 0..self.half {
                    cos.push(theta.cos());
                    sin.push(theta.sin());
                    theta *= self.theta_scale;
                }
            }
            Span { cos, sin }
        })
    }

    /// Rotates `data`, token-major `(n, heads, head_dim)`, in place, for positions
    /// `start..start + n`.
    ///
    /// Each pair is rotated as `x0·cos − x1·sin`, `x0·sin + x1·cos` with the first
    /// product fused into the addition, which is what llama.cpp's compiled rotation
    /// does on x86 with FMA.
    pub(crate) fn apply(&self, data: &mut [f32], heads: usize, head_dim: usize, start: usize) {
        let width = heads * head_dim;
        let mut pos = start;
        let mut rest = data;
        while !rest.is_empty() {
            let span = self.span(pos / SPAN);
            let offset = pos % SPAN;
            let n = (SPAN - offset).min(rest.len() / width);
            let (now, later) = rest.split_at_mut(n * width);
            let table = Table {
                cos: &span.cos[offset * self.half..],
                sin: &span.sin[offset * self.half..],
                half: self.half,
                style: self.style,
            };
            rotate(&table, now, heads, head_dim);
            rest = later;
            pos += n;
        }
    }
}

/// The tables from the first position to rotate on.
struct Table<'a> {
    cos: &'a [f32],
    sin: &'a [f32],
    half: usize,
    style: RopeStyle,
}

cpu::fma_dispatch!(fn rotate(t: &Table, data: &mut [f32], heads: usize, head_dim: usize) -> () = rotate_generic);

#[inline(always)]
fn rotate_generic(t: &Table, data: &mut [f32], heads: usize, head_dim: usize) {
    for (i, token) in data.chunks_exact_mut(heads * head_dim).enumerate() {
        let cos = &t.cos[i * t.half..(i + 1) * t.half];
        let sin = &t.sin[i * t.half..(i + 1) * t.half];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotation of one token at `pos` with angles computed from scratch.
    fn reference(row: &[f32], pos: usize, freq_base: f32, style: RopeStyle) -> Vec<f32> {
        let half = row.len() / 2;
        let scale = freq_base.powf(-2.0 / row.len() as f32);
        let mut out = row.to_vec();
        let mut theta = pos as f32;
        for p in 0..half {
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * p, 2 * p + 1),
                RopeStyle::Halves => (p, p + half),
            };
            let (c, s) = (theta.cos(), theta.sin());
            out[a] = row[a].mul_add(c, -(row[b] * s));
            out[b] = row[a].mul_add(s, row[b] * c);
            theta *= scale;
        }
        out
    }

    #[test]
    fn rotation_across_table_pieces_matches_angles_from_scratch() {
        for style in [RopeStyle::Interleaved, RopeStyle::Halves] {
            let (head_dim, heads, start, n) = (8, 2, SPAN - 3, SPAN + 10);
            let rope = Rope::new(head_dim, 10_000.0, 4 * SPAN, style, &Device::Cpu).unwrap();
            let data: Vec<f32> = (0..n * heads * head_dim)
                .map(|i| (i % 13) as f32 * 0.1 - 0.6)
                .collect();
            let mut rotated = data.clone();
            rope.apply(&mut rotated, heads, head_dim, start);
            for (i, (got, row)) in rotated
                .chunks_exact(head_dim)
                .zip(data.chunks_exact(head_dim))
                .enumerate()
            {
                let want = reference(row, start + i / heads, 10_000.0, style);
                assert_eq!(got, want, "{style:?} row {i}");
            }
        }
    }

    #[test]
    fn tables_are_only_filled_where_used() {
        let rope = Rope::new(8, 10_000.0, 32 * SPAN, RopeStyle::Halves, &Device::Cpu).unwrap();
        let mut one = vec![0.5f32; 8];
        rope.apply(&mut one, 1, 8, 5 * SPAN + 1);
        let filled: Vec<usize> = (0..rope.spans.len())
            .filter(|&i| rope.spans[i].get().is_some())
            .collect();
        assert_eq!(filled, [5]);
        assert_eq!(rope.n_positions(), 32 * SPAN);
    }
}
