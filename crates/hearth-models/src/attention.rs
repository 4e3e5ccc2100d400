//! Causal attention of one sequence's chunk over its cached keys and values.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::{cpu, ggml_math};

/// Head layout of one attention layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// Attention of every chunk of a batch against its own cache, for layer `layer`.
///
/// `q` is `(tokens, n_heads · head_dim)`, `k` and `v` are `(tokens, n_kv_heads ·
/// head_dim)`, rows in chunk order; queries and keys are rotated by `rope`, keys and
/// values appended to each chunk's cache. Returns `(tokens, n_heads · head_dim)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_chunks(
    layer: usize,
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    heads: Heads,
    rope: &crate::rope::Rope,
    chunks: &[crate::batch::SeqChunk],
    caches: &[&mut crate::kv_cache::KvCache],
    scale: f64,
    window: Option<usize>,
) -> Result<Tensor> {
    let mut outputs = Vec::with_capacity(chunks.len());
    let mut row = 0;
    for (chunk, cache) in chunks.iter().zip(caches) {
        let n = chunk.tokens.len();
        let split = |t: &Tensor, n_heads: usize| -> Result<Tensor> {
            Ok(t.narrow(0, row, n)?
                .reshape((n, n_heads, heads.head_dim))?
                .transpose(0, 1)?
                .contiguous()?)
        };
        let q = rope.apply(&split(q, heads.n_heads)?, chunk.start)?;
        let k = rope.apply(&split(k, heads.n_kv_heads)?, chunk.start)?;
        let v = split(v, heads.n_kv_heads)?;
        let (k_all, v_all) = cache.append(layer, chunk.start, &k, &v)?;
        outputs.push(windowed_attention(
            &q,
            &k_all,
            &v_all,
            chunk.start,
            scale,
            window,
        )?);
        row += n;
    }
    Ok(Tensor::cat(&outputs, 0)?)
}

/// llama.cpp pads its cache view to this many cells; the weights of the padding are
/// zero, but the padding decides how the weighted sum of values is grouped.
const KV_PAD: usize = 256;

/// `softmax(q·kᵀ·scale + causal mask)·v` for one sequence.
///
/// `q` is `(n_heads, n, head_dim)` for positions `start..start + n`; `k`, `v` are
/// `(n_kv_heads, start + n, head_dim)`; query head `h` reads key/value head
/// `h / (n_heads / n_kv_heads)`. Returns `(n, n_heads · head_dim)`.
///
/// The arithmetic is llama.cpp's (flash attention off): queries and attention weights
/// rounded to f16 like its f16 cache, every dot product accumulated in 16 fused lanes
/// then reduced in `_mm512_reduce_add_ps` order, and its softmax. Matching it keeps
/// greedy decoding token-exact.
///
/// With `window` set, a query at position `p` sees only keys at positions
/// `p - window + 1 ..= p` (sliding-window layers).
pub(crate) fn windowed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    start: usize,
    scale: f64,
    window: Option<usize>,
) -> Result<Tensor> {
    let (n_heads, n, head_dim) = q.dims3()?;
    let (n_kv_heads, total, _) = k.dims3()?;
    let shape = Shape {
        n_heads,
        n_kv_heads,
        n,
        total,
        head_dim,
        start,
        window: window.unwrap_or(usize::MAX),
    };
    let q = round_f16(q.flatten_all()?.to_vec1()?);
    let k: Vec<f32> = k.flatten_all()?.to_vec1()?;
    let v: Vec<f32> = v.flatten_all()?.to_vec1()?;
    let out = attend(&shape, &q, &k, &v, scale as f32);
    Ok(Tensor::from_vec(
        out,
        (n, n_heads * head_dim),
        &Device::Cpu,
    )?)
}

#[derive(Clone, Copy)]
struct Shape {
    n_heads: usize,
    n_kv_heads: usize,
    n: usize,
    total: usize,
    head_dim: usize,
    start: usize,
    window: usize,
}

cpu::fma_dispatch!(fn attend(shape: &Shape, q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> = attend_generic);

#[inline(always)]
fn attend_generic(shape: &Shape, q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
    let Shape {
        n_heads,
        n_kv_heads,
        n,
        total,
        head_dim,
        start,
        window,
    } = *shape;
    let group = n_heads / n_kv_heads;
    // Keys' positions padded to lanes of 16, as llama.cpp's cache view is.
    let padded = total.div_ceil(KV_PAD) * KV_PAD;
    let mut out = vec![0f32; n * n_heads * head_dim];
    let mut v_t = vec![0f32; head_dim * padded];
    let mut probs = vec![0f32; padded];
    for kv in 0..n_kv_heads {
        let keys = &k[kv * total * head_dim..(kv + 1) * total * head_dim];
        let values = &v[kv * total * head_dim..(kv + 1) * total * head_dim];
        for (j, row) in values.chunks_exact(head_dim).enumerate() {
            for (c, &x) in row.iter().enumerate() {
                v_t[c * padded + j] = x;
            }
        }
        for h in kv * group..(kv + 1) * group {
            for i in 0..n {
                let qi = &q[(h * n + i) * head_dim..(h * n + i + 1) * head_dim];
                let visible = start + i + 1;
                let scores = &mut probs[..visible];
                for (j, s) in scores.iter_mut().enumerate() {
                    let kj = &keys[j * head_dim..(j + 1) * head_dim];
                    // llama.cpp's matrix kernel (16 lanes) serves prompt chunks; a
                    // single decoding row goes through its vector dot product.
                    *s = if n == 1 {
                        vec_dot_f16(kj, qi)
                    } else {
                        dot16(kj, qi)
                    } * scale;
                }
                let first_visible = (visible - 1).saturating_sub(window - 1);
                scores[..first_visible].fill(f32::NEG_INFINITY);
                ggml_math::softmax(scores);
                for p in scores.iter_mut() {
                    *p = half::f16::from_f32(*p).to_f32();
                }
                probs[visible..].fill(0.0);
                let o = &mut out[(i * n_heads + h) * head_dim..(i * n_heads + h + 1) * head_dim];
                for (c, o) in o.iter_mut().enumerate() {
                    *o = vec_dot_f16(&v_t[c * padded..(c + 1) * padded], &probs);
                }
            }
        }
    }
    out
}

fn round_f16(mut x: Vec<f32>) -> Vec<f32> {
    x.iter_mut()
        .for_each(|v| *v = half::f16::from_f32(*v).to_f32());
    x
}

/// `Σ aᵢ·bᵢ` accumulated in 16 lanes with fused multiply-adds (lane `l` takes
/// elements `l, l + 16, …`), then reduced as `_mm512_reduce_add_ps` does; a length
/// that is not a multiple of 16 is padded with zeros.
#[inline(always)]
fn dot16(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    for (ca, cb) in a.chunks(16).zip(b.chunks(16)) {
        for (l, (&x, &y)) in ca.iter().zip(cb).enumerate() {
            lanes[l] = x.mul_add(y, lanes[l]);
        }
    }
    ggml_math::reduce_16(&lanes)
}

/// `Σ aᵢ·bᵢ` as `ggml_vec_dot_f16` computes it with AVX-512: four accumulators of 16
/// fused lanes over steps of 64, summed pairwise, reduced, then the remainder added
/// in f64.
#[inline(always)]
fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let np = n & !63;
    let mut acc = [[0f32; 16]; 4];
    for i in (0..np).step_by(64) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let k = i + 16 * j + l;
                *lane = a[k].mul_add(b[k], *lane);
            }
        }
    }
    let x02: [f32; 16] = std::array::from_fn(|l| acc[0][l] + acc[2][l]);
    let x13: [f32; 16] = std::array::from_fn(|l| acc[1][l] + acc[3][l]);
    let x: [f32; 16] = std::array::from_fn(|l| x02[l] + x13[l]);
    let mut sum = ggml_math::reduce_16(&x) as f64;
    for k in np..n {
        sum += (a[k] * b[k]) as f64;
    }
    sum as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops: one head at a time, each query row over its visible keys.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        dims: (usize, usize, usize, usize, usize),
    ) -> Vec<f32> {
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
        let got = windowed_attention(&q, &k, &v, total - n, 1.0 / (d as f64).sqrt(), None)?;
        let want = reference(
            &q.flatten_all()?.to_vec1()?,
            &k.flatten_all()?.to_vec1()?,
            &v.flatten_all()?.to_vec1()?,
            (n_heads, n_kv, n, total, d),
        );
        let got: Vec<f32> = got.flatten_all()?.to_vec1()?;
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-2, "{g} vs {w}");
        }
        Ok(())
    }
}
