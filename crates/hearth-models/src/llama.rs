//! The llama architecture (also qwen2, which adds Q/K/V biases and neox RoPE).
//!
//! Per layer: `x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))`, then
//! `x += Wdown·(silu(Wgate·n(x)) ⊙ Wup·n(x))`, with RMS norms `n`. Linear layers run
//! over every token of every sequence in the batch at once; attention runs per
//! sequence against that sequence's own cache.

use std::sync::Arc;

use candle_core::Device;
use hearth_gguf::Metadata;

use crate::attention::{Heads, attend_chunks};
use crate::batch::SeqChunk;
use crate::error::{ModelError, Result};
use crate::kv_cache::{CacheShape, KvCache};
use crate::mat::Mat;
use crate::norm::rms_norm;
use crate::pool::Buf;
use crate::rope::{Rope, RopeStyle};
use crate::team;
use crate::weights::{Linear, Weights};
use crate::{cpu, ggml_math};

/// Hyper-parameters read from `{arch}.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_embd: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_dims: usize,
    pub rope_style: RopeStyle,
    /// Context the model was trained with.
    pub n_ctx_train: usize,
    /// Q, K and V projections carry biases (qwen2).
    pub qkv_bias: bool,
}

impl LlamaConfig {
    pub fn from_metadata(md: &Metadata, arch: &str, n_vocab: usize) -> Result<Self> {
        let key = |k: &str| format!("{arch}.{k}");
        let n_embd = md.u32(&key("embedding_length"))? as usize;
        let n_heads = md.u32(&key("attention.head_count"))? as usize;
        let n_kv_heads = md
            .opt_u32(&key("attention.head_count_kv"))?
            .map_or(n_heads, |n| n as usize);
        if n_heads == 0 || n_kv_heads == 0 || !n_heads.is_multiple_of(n_kv_heads) {
            return Err(ModelError::Config(format!(
                "{n_heads} attention heads cannot share {n_kv_heads} key/value heads"
            )));
        }
        let head_dim = md
            .opt_u32(&key("attention.key_length"))?
            .map_or(n_embd / n_heads, |n| n as usize);
        let (rope_style, qkv_bias) = match arch {
            "qwen2" => (RopeStyle::Halves, true),
            _ => (RopeStyle::Interleaved, false),
        };
        Ok(Self {
            n_embd,
            n_layers: md.u32(&key("block_count"))? as usize,
            n_heads,
            n_kv_heads,
            head_dim,
            n_ff: md.u32(&key("feed_forward_length"))? as usize,
            n_vocab,
            rms_eps: md.f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_base: md.opt_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_dims: md
                .opt_u32(&key("rope.dimension_count"))?
                .map_or(head_dim, |n| n as usize),
            rope_style,
            n_ctx_train: md.opt_u32(&key("context_length"))?.unwrap_or(4096) as usize,
            qkv_bias,
        })
    }
}

struct Projection {
    weight: Linear,
    bias: Option<Vec<f32>>,
}

impl Projection {
    fn load(w: &Weights, name: &str, rows: usize, cols: usize, bias: bool) -> Result<Self> {
        let bias = if bias {
            Some(w.f32(&format!("{name}.bias"), &[rows])?)
        } else {
            None
        };
        Ok(Self {
            weight: w.linear(&format!("{name}.weight"), rows, cols)?,
            bias,
        })
    }

    fn forward(&self, x: &Mat, groups: &[usize]) -> Result<Mat> {
        let y = self.weight.forward(x, groups)?;
        Ok(match &self.bias {
            Some(b) => add_bias(&y, b),
            None => y,
        })
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: Projection,
    wk: Projection,
    wv: Projection,
    wo: Linear,
    ffn_norm: Vec<f32>,
    w_gate: Linear,
    w_up: Linear,
    w_down: Linear,
}

impl Layer {
    fn load(w: &Weights, cfg: &LlamaConfig, i: usize) -> Result<Self> {
        let p = |n: &str| format!("blk.{i}.{n}");
        let (e, q_out, kv_out) = (
            cfg.n_embd,
            cfg.n_heads * cfg.head_dim,
            cfg.n_kv_heads * cfg.head_dim,
        );
        Ok(Self {
            attn_norm: w.f32(&p("attn_norm.weight"), &[e])?,
            wq: Projection::load(w, &p("attn_q"), q_out, e, cfg.qkv_bias)?,
            wk: Projection::load(w, &p("attn_k"), kv_out, e, cfg.qkv_bias)?,
            wv: Projection::load(w, &p("attn_v"), kv_out, e, cfg.qkv_bias)?,
            wo: w.linear(&p("attn_output.weight"), e, q_out)?,
            ffn_norm: w.f32(&p("ffn_norm.weight"), &[e])?,
            w_gate: w.linear(&p("ffn_gate.weight"), cfg.n_ff, e)?,
            w_up: w.linear(&p("ffn_up.weight"), cfg.n_ff, e)?,
            w_down: w.linear(&p("ffn_down.weight"), e, cfg.n_ff)?,
        })
    }
}

/// A loaded llama-family model. Holds weights only: every sequence brings its own
/// [`KvCache`], so one model serves many sequences at once.
pub struct Llama {
    cfg: LlamaConfig,
    embedding: Arc<Linear>,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    output: Arc<Linear>,
    rope: Rope,
    device: Device,
}

impl Llama {
    pub(crate) fn load(w: &Weights, cfg: LlamaConfig, device: &Device) -> Result<Self> {
        let embedding = Arc::new(w.linear("token_embd.weight", cfg.n_vocab, cfg.n_embd)?);
        // Without `output.weight` the embeddings are tied: the output projection is
        // the embedding table.
        let output_name = if w.contains("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let output = if output_name == "output.weight" {
            Arc::new(w.linear(output_name, cfg.n_vocab, cfg.n_embd)?)
        } else {
            embedding.clone()
        };
        let layers = (0..cfg.n_layers)
            .map(|i| Layer::load(w, &cfg, i))
            .collect::<Result<Vec<_>>>()?;
        let rope = Rope::new(
            cfg.rope_dims,
            cfg.rope_base,
            cfg.n_ctx_train,
            cfg.rope_style,
            device,
        )?;
        Ok(Self {
            output_norm: w.f32("output_norm.weight", &[cfg.n_embd])?,
            embedding,
            layers,
            output,
            rope,
            cfg,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    pub fn cache_shape(&self) -> CacheShape {
        CacheShape {
            n_layers: self.cfg.n_layers,
            n_kv_heads: self.cfg.n_kv_heads,
            head_dim: self.cfg.head_dim,
        }
    }

    /// Runs `chunks` (one per sequence, each with its cache in `caches`) and returns the
    /// logits after each chunk's last token, `(chunks.len(), n_vocab)`.
    pub(crate) fn forward(&self, chunks: &[SeqChunk], caches: &mut [&mut KvCache]) -> Result<Mat> {
        let stack = Stack {
            n_positions: self.rope.n_positions(),
            n_vocab: self.cfg.n_vocab,
            n_layers: self.layers.len(),
        };
        let last = stack.run(
            chunks,
            caches,
            |ids| self.embedding.rows(ids, &self.device),
            |i, x, groups, caches| {
                self.layer_forward(i, &self.layers[i], x, chunks, groups, caches)
            },
        )?;
        let last = rms_norm(&last, &self.output_norm, self.cfg.rms_eps);
        self.output.forward(&last, &Buf::filled(chunks.len(), 1))
    }

    fn layer_forward(
        &self,
        index: usize,
        layer: &Layer,
        x: &Mat,
        chunks: &[SeqChunk],
        groups: &[usize],
        caches: &mut [&mut KvCache],
    ) -> Result<Mat> {
        let cfg = &self.cfg;
        let h = rms_norm(x, &layer.attn_norm, cfg.rms_eps);
        let q = layer.wq.forward(&h, groups)?;
        let k = layer.wk.forward(&h, groups)?;
        let v = layer.wv.forward(&h, groups)?;
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
        let heads = Heads {
            n_heads: cfg.n_heads,
            n_kv_heads: cfg.n_kv_heads,
            head_dim: cfg.head_dim,
        };
        let attn = attend_chunks(
            index,
            (q, k, &v),
            heads,
            &self.rope,
            chunks,
            caches,
            scale,
            None,
        )?;
        let x = add(x, &layer.wo.forward(&attn, groups)?);
        let h = rms_norm(&x, &layer.ffn_norm, cfg.rms_eps);
        let gate = layer.w_gate.forward(&h, groups)?;
        let up = layer.w_up.forward(&h, groups)?;
        Ok(add(&x, &layer.w_down.forward(&swiglu(&gate, &up), groups)?))
    }
}

/// The part of a forward pass every decoder-only architecture shares: check the batch,
/// embed all its tokens, run the layers, advance each cache, keep each chunk's last row.
pub(crate) struct Stack {
    pub n_positions: usize,
    pub n_vocab: usize,
    pub n_layers: usize,
}

impl Stack {
    /// Returns the hidden state after each chunk's last token, `(chunks.len(), n_embd)`,
    /// before the final norm. `layer(i, x, groups, caches)` runs layer `i`, `groups`
    /// being the row count of each chunk (the row groups of the linear layers).
    pub(crate) fn run(
        &self,
        chunks: &[SeqChunk],
        caches: &mut [&mut KvCache],
        embed: impl FnOnce(&[u32]) -> Result<Mat>,
        mut layer: impl FnMut(usize, &Mat, &[usize], &mut [&mut KvCache]) -> Result<Mat>,
    ) -> Result<Mat> {
        check_batch(chunks, caches, self.n_positions, self.n_vocab)?;
        let ids = Buf::collect(
            chunks.iter().map(|c| c.tokens.len()).sum(),
            chunks.iter().flat_map(|c| c.tokens.iter().copied()),
        );
        let groups = Buf::collect(chunks.len(), chunks.iter().map(|c| c.tokens.len()));
        let mut x = embed(&ids)?; // (n_tokens, n_embd)
        for i in 0..self.n_layers {
            x = layer(i, &x, &groups, caches)?;
        }
        for (chunk, cache) in chunks.iter().zip(caches.iter_mut()) {
            cache.advance(chunk.tokens.len());
        }
        Ok(last_rows(&x, chunks))
    }
}

/// The rows of `x` (one per token of the batch) that hold each chunk's last token.
fn last_rows(x: &Mat, chunks: &[SeqChunk]) -> Mat {
    let n = x.cols();
    let mut out = Buf::with_capacity(chunks.len() * n);
    let mut end = 0;
    for c in chunks {
        end += c.tokens.len();
        out.vec_mut().extend_from_slice(&x[(end - 1) * n..end * n]);
    }
    Mat::new(out, n)
}

/// `silu(gate) ⊙ up`, elementwise.
fn swiglu(gate: &Mat, up: &Mat) -> Mat {
    gated(gate, up, silu_mul)
}

/// `op(gate, up, out)` over the two tensors' values, in pieces over the compute team,
/// shaped as `gate` (a gated feed-forward activation).
pub(crate) fn gated(gate: &Mat, up: &Mat, op: impl Fn(&[f32], &[f32], &mut [f32]) + Sync) -> Mat {
    zip_on_team(gate, up, ELEMENTWISE_TASK, op)
}

/// `a + b` for two tensors of one shape (a residual connection), over the compute
/// team: candle's own worker pool would otherwise wake a third thread on cores whose
/// team helper is spinning. The same f32 additions, so the same bits.
pub(crate) fn add(a: &Mat, b: &Mat) -> Mat {
    debug_assert_eq!((a.rows(), a.cols()), (b.rows(), b.cols()));
    zip_on_team(a, b, ADD_TASK, |a, b, out| {
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = a + b;
        }
    })
}

/// `op(a, b, out)` over pieces of `task` values of the two tensors, on the compute
/// team; the result is shaped as `a`.
fn zip_on_team(
    a: &Mat,
    b: &Mat,
    task: usize,
    op: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Mat {
    let out = team::collect_chunks(a.len().min(b.len()), task, |i, out| {
        let at = i * task;
        op(&a[at..at + out.len()], &b[at..at + out.len()], out)
    });
    Mat::new(out, a.cols())
}

/// Values per task of an addition: cheaper per value than the activations, so a
/// decoding step's few rows stay on one thread.
const ADD_TASK: usize = 16 * 1024;

/// `y + bias` for each row of `y` (`(rows, n)`, `bias` of `n`), over the compute team.
fn add_bias(y: &Mat, b: &[f32]) -> Mat {
    let n = y.cols();
    debug_assert_eq!(n, b.len());
    let rows_per_task = (ADD_TASK / n).max(1);
    let out = team::collect_chunks(y.len(), rows_per_task * n, |task, out| {
        let y = &y[task * rows_per_task * n..];
        for (o, y) in out.chunks_exact_mut(n).zip(y.chunks_exact(n)) {
            for ((o, &y), &b) in o.iter_mut().zip(y).zip(b) {
                *o = y + b;
            }
        }
    });
    Mat::new(out, n)
}

/// Values per task of an elementwise step.
const ELEMENTWISE_TASK: usize = 4096;

fn silu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512f() {
        // SAFETY: the CPU was just found to support AVX-512 F.
        return unsafe { ggml_math::avx512::silu_mul(g, u, out) };
    }
    silu_mul_scalar(g, u, out)
}

cpu::fma_dispatch!(fn silu_mul_scalar(g: &[f32], u: &[f32], out: &mut [f32]) -> () = silu_mul_generic);

#[inline(always)]
fn silu_mul_generic(g: &[f32], u: &[f32], out: &mut [f32]) {
    // A plain loop, not an iterator closure: the closure would be compiled without
    // the caller's FMA feature and call `fmaf` for every `mul_add`.
    for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
        *o = ggml_math::silu(g) * u;
    }
}

fn check_batch(
    chunks: &[SeqChunk],
    caches: &[&mut KvCache],
    n_positions: usize,
    n_vocab: usize,
) -> Result<()> {
    if chunks.is_empty() || chunks.len() != caches.len() {
        return Err(ModelError::Batch(format!(
            "{} chunks for {} caches",
            chunks.len(),
            caches.len()
        )));
    }
    for (chunk, cache) in chunks.iter().zip(caches) {
        if chunk.tokens.is_empty() {
            return Err(ModelError::Batch("empty chunk".into()));
        }
        if let Some(&bad) = chunk.tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::Batch(format!(
                "token id {bad} is outside the vocabulary of {n_vocab}"
            )));
        }
        cache.check_room(chunk.start, chunk.tokens.len())?;
        if chunk.start + chunk.tokens.len() > n_positions {
            return Err(ModelError::ContextFull {
                needed: chunk.start + chunk.tokens.len(),
                n_ctx: n_positions,
            });
        }
    }
    Ok(())
}
