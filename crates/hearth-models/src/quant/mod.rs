//! Hearth's own quantized matrix multiplication for the block formats it has kernels
//! for (Q4_1, Q5_0, Q8_0), arithmetically identical to llama.cpp's.
//!
//! Weights are repacked at load time into blocks with f32 scales (no f16 conversion
//! in the inner loop); activations are quantized once per matmul. Kernels are compiled
//! twice — for AVX2+FMA and portable — and picked at run time; both give bit-identical
//! results, since `mul_add` is exactly fused either way.

mod act;
mod dot;

use half::f16;
use hearth_gguf::GgmlType;
use rayon::prelude::*;

use act::{ActBlock, BLOCK, quantize_row};
use dot::{Q4_1Block, Q5_0Block, Q8_0Block};

#[derive(Debug, Clone)]
enum Blocks {
    Q4_1(Vec<Q4_1Block>),
    Q5_0(Vec<Q5_0Block>),
    Q8_0(Vec<Q8_0Block>),
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
        if !cols.is_multiple_of(BLOCK) || data.len() != rows * cols / BLOCK * ty.block_bytes() {
            return None;
        }
        let raw = data.chunks_exact(ty.block_bytes());
        let blocks = match ty {
            GgmlType::Q4_1 => Blocks::Q4_1(
                raw.map(|b| Q4_1Block {
                    d: f16_at(b, 0),
                    m: f16_at(b, 2),
                    qs: std::array::from_fn(|i| b[4 + i]),
                })
                .collect(),
            ),
            GgmlType::Q5_0 => Blocks::Q5_0(
                raw.map(|b| Q5_0Block {
                    d: f16_at(b, 0),
                    qh: u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
                    qs: std::array::from_fn(|i| b[6 + i]),
                })
                .collect(),
            ),
            GgmlType::Q8_0 => Blocks::Q8_0(
                raw.map(|b| Q8_0Block {
                    d: f16_at(b, 0),
                    qs: std::array::from_fn(|i| b[2 + i] as i8),
                })
                .collect(),
            ),
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

    /// Row `r` as f32 (an embedding lookup); `None` when `r` is out of range.
    pub(crate) fn row(&self, r: usize) -> Option<Vec<f32>> {
        if r >= self.rows {
            return None;
        }
        let k = self.cols / BLOCK;
        let mut out = Vec::with_capacity(self.cols);
        match &self.blocks {
            Blocks::Q4_1(b) => {
                for blk in &b[r * k..(r + 1) * k] {
                    let lo = blk.qs.iter().map(|&q| blk.d * (q & 0x0F) as f32 + blk.m);
                    let hi = blk.qs.iter().map(|&q| blk.d * (q >> 4) as f32 + blk.m);
                    out.extend(lo.collect::<Vec<_>>());
                    out.extend(hi.collect::<Vec<_>>());
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
        }
        Some(out)
    }

    /// `x · Wᵀ` for `x` of `m × cols` (row-major); returns `m × rows`.
    pub(crate) fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        let k_blocks = self.cols / BLOCK;
        let mut acts = vec![ActBlock::default(); m * k_blocks];
        for (row, out) in x
            .chunks_exact(self.cols)
            .zip(acts.chunks_exact_mut(k_blocks))
        {
            quantize_row(row, out);
        }
        // Weight-row major, so each task writes one contiguous slice.
        let mut by_weight_row = vec![0f32; self.rows * m];
        let rows_per_task = (self.rows / (rayon::current_num_threads() * 8)).max(16);
        by_weight_row
            .par_chunks_mut(rows_per_task * m)
            .enumerate()
            .for_each(|(task, out)| {
                let first = task * rows_per_task;
                kernels().run(self, &acts, k_blocks, first, out, m);
            });
        if m == 1 {
            return by_weight_row;
        }
        let mut y = vec![0f32; m * self.rows];
        for (r, col) in by_weight_row.chunks_exact(m).enumerate() {
            for (i, &v) in col.iter().enumerate() {
                y[i * self.rows + r] = v;
            }
        }
        y
    }
}

/// One compiled copy of the kernels.
#[derive(Clone, Copy)]
struct Kernels {
    run: fn(&QMatrix, &[ActBlock], usize, usize, &mut [f32], usize),
}

impl Kernels {
    fn run(
        self,
        w: &QMatrix,
        acts: &[ActBlock],
        k: usize,
        first: usize,
        out: &mut [f32],
        m: usize,
    ) {
        (self.run)(w, acts, k, first, out, m)
    }
}

fn kernels() -> Kernels {
    static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Kernels { run: rows_avx2 };
        }
        Kernels { run: rows_portable }
    })
}

/// Computes `out[(r - first) · m + i] = W[r] · act[i]` for the weight rows `out` covers.
#[inline(always)]
fn rows_generic(w: &QMatrix, acts: &[ActBlock], k: usize, first: usize, out: &mut [f32], m: usize) {
    for (j, col) in out.chunks_exact_mut(m).enumerate() {
        let r = first + j;
        for (i, y) in col.iter_mut().enumerate() {
            let a = &acts[i * k..(i + 1) * k];
            *y = match &w.blocks {
                Blocks::Q4_1(b) => dot::q4_1(&b[r * k..(r + 1) * k], a),
                Blocks::Q5_0(b) => dot::q5_0(&b[r * k..(r + 1) * k], a),
                Blocks::Q8_0(b) => dot::q8_0(&b[r * k..(r + 1) * k], a),
            };
        }
    }
}

fn rows_portable(
    w: &QMatrix,
    acts: &[ActBlock],
    k: usize,
    first: usize,
    out: &mut [f32],
    m: usize,
) {
    rows_generic(w, acts, k, first, out, m)
}

#[cfg(target_arch = "x86_64")]
fn rows_avx2(w: &QMatrix, acts: &[ActBlock], k: usize, first: usize, out: &mut [f32], m: usize) {
    for (j, col) in out.chunks_exact_mut(m).enumerate() {
        let r = first + j;
        for (i, y) in col.iter_mut().enumerate() {
            let a = &acts[i * k..(i + 1) * k];
            // SAFETY: only chosen by `kernels()` after detecting AVX2 and FMA.
            *y = unsafe {
                match &w.blocks {
                    Blocks::Q4_1(b) => dot::avx2::q4_1(&b[r * k..(r + 1) * k], a),
                    Blocks::Q5_0(b) => dot::avx2::q5_0(&b[r * k..(r + 1) * k], a),
                    Blocks::Q8_0(b) => dot::avx2::q8_0(&b[r * k..(r + 1) * k], a),
                }
            };
        }
    }
}

#[cfg(test)]
mod tests;
