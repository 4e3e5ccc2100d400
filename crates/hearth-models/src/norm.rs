//! RMS normalisation as llama.cpp computes it.

use candle_core::Tensor;

use crate::error::Result;
use crate::team;
use crate::weights::with_f32;

/// `x / rms(x) · weight` over the last dimension of `x` (`(rows, n)`).
///
/// The sum of squares is accumulated in f64 and the row multiplied by
/// `1 / sqrt(mean + eps)`, as ggml does; dividing by the root instead rounds
/// differently and nudges greedy outputs away from llama.cpp's.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    let (rows, n) = x.dims2()?;
    let w: Vec<f32> = weight.to_vec1()?;
    // Rows in tasks of about 4096 values over the compute team, read in place.
    let rows_per_task = (4096 / n.max(1)).max(1);
    let data = with_f32(x, |src| {
        team::collect_chunks(src.len(), rows_per_task * n.max(1), |task, out| {
            let src = &src[task * rows_per_task * n..];
            for (row, x) in out.chunks_exact_mut(n).zip(src.chunks_exact(n)) {
                let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
                let mean = (sum / n as f64) as f32;
                let scale = 1.0 / (mean + eps).sqrt();
                for ((v, &x), w) in row.iter_mut().zip(x).zip(&w) {
                    *v = (x * scale) * w;
                }
            }
        })
    })?;
    Ok(Tensor::from_vec(data, (rows, n), x.device())?)
}
