//! Activations quantized to 8 bits per 32-value block, once per matmul, exactly as
//! llama.cpp's x86 code does it (`quantize_row_q8_0` / `quantize_row_q8_1`).

use half::f16;

pub(crate) const BLOCK: usize = 32;

/// 32 activations as `d · qs[i]`; `s = d · Σ qs` feeds the min term of Q4_1/Q5_1 dots.
/// `d` and `s` hold the values llama.cpp stores as f16, already rounded through f16.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActBlock {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; BLOCK],
}

impl Default for ActBlock {
    fn default() -> Self {
        Self {
            d: 0.0,
            s: 0.0,
            qs: [0; BLOCK],
        }
    }
}

fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Quantizes `x` (a multiple of 32 long) into `out`, one block per 32 values.
///
/// The scale is `amax / 127`, values are `round_ties_even(x · 127 / amax)` (what
/// `_mm256_round_ps` does), and `s` is rounded once from the f32 product, as llama.cpp
/// does: computing it in f16 arithmetic instead shifts every Q4_1 dot product by up to
/// an f16 ulp, enough to change greedy outputs.
pub(crate) fn quantize_row(x: &[f32], out: &mut [ActBlock]) {
    for (block, xs) in out.iter_mut().zip(x.chunks_exact(BLOCK)) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in block.qs.iter_mut().zip(xs) {
            let r = (v * id).round_ties_even() as i32;
            *q = r as i8;
            sum += r;
        }
        block.d = round_f16(d);
        block.s = round_f16(d * sum as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_block_reconstructs_within_half_a_step() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) * 0.37).collect();
        let mut blocks = [ActBlock::default()];
        quantize_row(&x, &mut blocks);
        let b = &blocks[0];
        let step = 15.5 * 0.37 / 127.0;
        for (q, v) in b.qs.iter().zip(&x) {
            assert!((*q as f32 * b.d - v).abs() <= step * 0.51 + 1e-3, "{q} {v}");
        }
        let sum: i32 = b.qs.iter().map(|&q| q as i32).sum();
        assert!((b.s - b.d * sum as f32).abs() <= b.s.abs() * 1e-3 + 1e-6);
    }

    #[test]
    fn ties_round_to_even() {
        // amax 127 makes id exactly 1, so 2.5 sits on a tie.
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        let mut blocks = [ActBlock::default()];
        quantize_row(&x, &mut blocks);
        assert_eq!(&blocks[0].qs[..3], &[127, 2, -4]);
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut blocks = [ActBlock::default()];
        quantize_row(&[0.0; 32], &mut blocks);
        assert_eq!(blocks[0].d, 0.0);
        assert!(blocks[0].qs.iter().all(|&q| q == 0));
    }
}
