//! RMS normalisation as llama.cpp computes it.

use crate::mat::Mat;
use crate::team;

/// `x / rms(x) · weight` for each row of `x`, whose width is `weight`'s length.
///
/// The sum of squares is accumulated in f64 and the row multiplied by
/// `1 / sqrt(mean + eps)`, as ggml does; dividing by the root instead rounds
/// differently and nudges greedy outputs away from llama.cpp's.
pub(crate) fn rms_norm(x: &Mat, w: &[f32], eps: f32) -> Mat {
    let n = x.cols();
    debug_assert_eq!(n, w.len());
    // Rows in tasks of about 4096 values over the compute team, read in place.
    let rows_per_task = (4096 / n).max(1);
    let data = team::collect_chunks(x.len(), rows_per_task * n, |task, out| {
        let src = &x[task * rows_per_task * n..];
        for (row, x) in out.chunks_exact_mut(n).zip(src.chunks_exact(n)) {
            let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
            let mean = (sum / n as f64) as f32;
            let scale = 1.0 / (mean + eps).sqrt();
            for ((v, &x), w) in row.iter_mut().zip(x).zip(w) {
                *v = (x * scale) * w;
            }
        }
    });
    Mat::new(data, n)
}
