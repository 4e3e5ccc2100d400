//! Causal attention of one sequence's chunk over its cached keys and values.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// `softmax(q·kᵀ·scale + causal mask)·v` for one sequence.
///
/// `q` is `(n_heads, n, head_dim)` for positions `start..start + n`; `k`, `v` are
/// `(n_kv_heads, start + n, head_dim)`. Query heads that share a key/value head are
/// folded into the row dimension, so grouped-query attention needs no copy of the
/// keys. Returns `(n, n_heads · head_dim)`.
pub(crate) fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    start: usize,
    scale: f64,
) -> Result<Tensor> {
    let (n_heads, n, head_dim) = q.dims3()?;
    let (n_kv_heads, total, _) = k.dims3()?;
    let group = n_heads / n_kv_heads;
    // llama.cpp multiplies queries and attention weights against its f16 cache after
    // rounding them to f16; doing the same keeps greedy outputs token-exact with it.
    let q = round_to_f16(q)?.reshape((n_kv_heads, group * n, head_dim))?;
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let scores = if n > 1 {
        let mask = causal_mask(n, start, total, q.device())?;
        scores
            .reshape((n_kv_heads, group, n, total))?
            .broadcast_add(&mask)?
            .reshape((n_kv_heads, group * n, total))?
    } else {
        scores
    };
    let probs = round_to_f16(&candle_nn::ops::softmax_last_dim(&scores)?)?;
    let out = probs.matmul(&v.contiguous()?)?; // (n_kv_heads, group·n, head_dim)
    Ok(out
        .reshape((n_heads, n, head_dim))?
        .transpose(0, 1)?
        .reshape((n, n_heads * head_dim))?)
}

fn round_to_f16(x: &Tensor) -> Result<Tensor> {
    Ok(x.to_dtype(DType::F16)?.to_dtype(DType::F32)?)
}

/// `(n, total)`: 0 where query `i` (at position `start + i`) may see key `j`, −∞ after.
fn causal_mask(n: usize, start: usize, total: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..total).map(move |j| if j > start + i { f32::NEG_INFINITY } else { 0.0 })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (n, total), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops: one head at a time, each query row over its visible keys.
    fn reference(q: &[f32], k: &[f32], v: &[f32], dims: (usize, usize, usize, usize, usize)) -> Vec<f32> {
        let (n_heads, n_kv, n, total, d) = dims;
        let start = total - n;
        let mut out = vec![0f32; n * n_heads * d];
        for h in 0..n_heads {
            let kh = h / (n_heads / n_kv);
            for i in 0..n {
                let visible = start + i + 1;
                let qi = &q[(h * n + i) * d..][..d];
                let scores: Vec<f32> = (0..visible)
                    .map(|j| {
                        let kj = &k[(kh * total + j) * d..][..d];
                        qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                for (j, e) in exp.iter().enumerate() {
                    for c in 0..d {
                        out[i * n_heads * d + h * d + c] += e / sum * v[(kh * total + j) * d + c];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn grouped_causal_attention_matches_plain_loops() -> Result<()> {
        let (n_heads, n_kv, n, total, d) = (6, 2, 3, 5, 8);
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1., (n_heads, n, d), &dev)?;
        let k = Tensor::randn(0f32, 1., (n_kv, total, d), &dev)?;
        let v = Tensor::randn(0f32, 1., (n_kv, total, d), &dev)?;
        let got = causal_attention(&q, &k, &v, total - n, 1.0 / (d as f64).sqrt())?;
        let want = reference(
            &q.flatten_all()?.to_vec1()?,
            &k.flatten_all()?.to_vec1()?,
            &v.flatten_all()?.to_vec1()?,
            (n_heads, n_kv, n, total, d),
        );
        let got: Vec<f32> = got.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-2, "{g} vs {w}");
        }
        Ok(())
    }
}
