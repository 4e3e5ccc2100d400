//! The gemma3 architecture (Gemma 3 text models).
//!
//! Per layer: `h = x + n(Wo·attn(rope(n_q(Wq·n(x))), rope(n_k(Wk·n(x))), Wv·n(x)))`,
//! then `x' = h + n(Wdown·(gelu(Wgate·n(h)) ⊙ Wup·n(h)))`: RMS norms before and after
//! both blocks, per-head RMS norms on queries and keys, embeddings scaled by √n_embd.
//! Five layers in six attend within a sliding window with their own RoPE base; every
//! sixth attends globally. GGUF norm weights already include Gemma's `+1`.

use candle_core::Device;
use hearth_gguf::Metadata;

use crate::attention::{Heads, attend_chunks};
use crate::batch::SeqChunk;
use crate::error::{ModelError, Result};
use crate::kv_cache::{CacheShape, KvCache};
use crate::llama::{Stack, add, gated};
use crate::mat::Mat;
use crate::norm::rms_norm;
use crate::pool::Buf;
use crate::rope::{Rope, RopeStyle};
use crate::weights::{Linear, Weights};
use crate::{cpu, ggml_math};

/// Every `SWA_PATTERN`-th layer (the last of each group) attends globally.
const SWA_PATTERN: usize = 6;
/// RoPE base of the sliding-window layers, fixed by the architecture.
const LOCAL_ROPE_BASE: f32 = 10_000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Gemma3Config {
    pub n_embd: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub sliding_window: usize,
    pub n_ctx_train: usize,
}

impl Gemma3Config {
    pub fn from_metadata(md: &Metadata, n_vocab: usize) -> Result<Self> {
        let key = |k: &str| format!("gemma3.{k}");
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
        Ok(Self {
            n_embd,
            n_layers: md.u32(&key("block_count"))? as usize,
            n_heads,
            n_kv_heads,
            head_dim: md.u32(&key("attention.key_length"))? as usize,
            n_ff: md.u32(&key("feed_forward_length"))? as usize,
            n_vocab,
            rms_eps: md.f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_base: md.opt_f32(&key("rope.freq_base"))?.unwrap_or(1_000_000.0),
            sliding_window: md.opt_u32(&key("attention.sliding_window"))?.unwrap_or(512) as usize,
            n_ctx_train: md.opt_u32(&key("context_length"))?.unwrap_or(32_768) as usize,
        })
    }

    fn is_global(&self, layer: usize) -> bool {
        layer % SWA_PATTERN == SWA_PATTERN - 1
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    wo: Linear,
    attn_post_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    w_gate: Linear,
    w_up: Linear,
    w_down: Linear,
    ffn_post_norm: Vec<f32>,
}

impl Layer {
    fn load(w: &Weights, cfg: &Gemma3Config, i: usize) -> Result<Self> {
        let p = |n: &str| format!("blk.{i}.{n}");
        let (e, hd) = (cfg.n_embd, cfg.head_dim);
        Ok(Self {
            attn_norm: w.f32(&p("attn_norm.weight"), &[e])?,
            wq: w.linear(&p("attn_q.weight"), cfg.n_heads * hd, e)?,
            wk: w.linear(&p("attn_k.weight"), cfg.n_kv_heads * hd, e)?,
            wv: w.linear(&p("attn_v.weight"), cfg.n_kv_heads * hd, e)?,
            q_norm: w.f32(&p("attn_q_norm.weight"), &[hd])?,
            k_norm: w.f32(&p("attn_k_norm.weight"), &[hd])?,
            wo: w.linear(&p("attn_output.weight"), e, cfg.n_heads * hd)?,
            attn_post_norm: w.f32(&p("post_attention_norm.weight"), &[e])?,
            ffn_norm: w.f32(&p("ffn_norm.weight"), &[e])?,
            w_gate: w.linear(&p("ffn_gate.weight"), cfg.n_ff, e)?,
            w_up: w.linear(&p("ffn_up.weight"), cfg.n_ff, e)?,
            w_down: w.linear(&p("ffn_down.weight"), e, cfg.n_ff)?,
            ffn_post_norm: w.f32(&p("post_ffw_norm.weight"), &[e])?,
        })
    }
}

/// A loaded Gemma 3 model; like [`crate::llama::Llama`], caches live outside it.
pub struct Gemma3 {
    cfg: Gemma3Config,
    embedding: Linear,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    global_rope: Rope,
    local_rope: Rope,
    device: Device,
}

impl Gemma3 {
    pub(crate) fn load(w: &Weights, cfg: Gemma3Config, device: &Device) -> Result<Self> {
        let layers = (0..cfg.n_layers)
            .map(|i| Layer::load(w, &cfg, i))
            .collect::<Result<Vec<_>>>()?;
        let rope = |base| {
            Rope::new(
                cfg.head_dim,
                base,
                cfg.n_ctx_train,
                RopeStyle::Halves,
                device,
            )
        };
        Ok(Self {
            embedding: w.linear("token_embd.weight", cfg.n_vocab, cfg.n_embd)?,
            output_norm: w.f32("output_norm.weight", &[cfg.n_embd])?,
            global_rope: rope(cfg.rope_base)?,
            local_rope: rope(LOCAL_ROPE_BASE)?,
            layers,
            cfg,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &Gemma3Config {
        &self.cfg
    }

    pub fn cache_shape(&self) -> CacheShape {
        CacheShape {
            n_layers: self.cfg.n_layers,
            n_kv_heads: self.cfg.n_kv_heads,
            head_dim: self.cfg.head_dim,
        }
    }

    /// Logits after each chunk's last token, `(chunks.len(), n_vocab)`.
    pub(crate) fn forward(&self, chunks: &[SeqChunk], caches: &mut [&mut KvCache]) -> Result<Mat> {
        let stack = Stack {
            n_positions: self.global_rope.n_positions(),
            n_vocab: self.cfg.n_vocab,
            n_layers: self.layers.len(),
        };
        let scale = (self.cfg.n_embd as f32).sqrt();
        let last = stack.run(
            chunks,
            caches,
            |ids| {
                let mut x = self.embedding.rows(ids, &self.device)?;
                // `+ 0.0` as candle's scaling computed it: a -0.0 becomes +0.0.
                x.iter_mut().for_each(|v| *v = *v * scale + 0.0);
                Ok(x)
            },
            |i, x, groups, caches| {
                self.layer_forward(i, &self.layers[i], x, chunks, groups, caches)
            },
        )?;
        let last = rms_norm(&last, &self.output_norm, self.cfg.rms_eps);
        self.embedding.forward(&last, &Buf::filled(chunks.len(), 1))
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
        let (rope, window) = if cfg.is_global(index) {
            (&self.global_rope, None)
        } else {
            (&self.local_rope, Some(cfg.sliding_window))
        };
        let h = rms_norm(x, &layer.attn_norm, cfg.rms_eps);
        let q = head_norm(layer.wq.forward(&h, groups)?, &layer.q_norm, cfg);
        let k = head_norm(layer.wk.forward(&h, groups)?, &layer.k_norm, cfg);
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
            rope,
            chunks,
            caches,
            scale,
            window,
        )?;
        let attn = layer.wo.forward(&attn, groups)?;
        let attn = rms_norm(&attn, &layer.attn_post_norm, cfg.rms_eps);
        let h = add(x, &attn);
        let f = rms_norm(&h, &layer.ffn_norm, cfg.rms_eps);
        let (gate, up) = (
            layer.w_gate.forward(&f, groups)?,
            layer.w_up.forward(&f, groups)?,
        );
        let gu = gated(&gate, &up, gelu_mul);
        let f = rms_norm(
            &layer.w_down.forward(&gu, groups)?,
            &layer.ffn_post_norm,
            cfg.rms_eps,
        );
        Ok(add(&h, &f))
    }
}

/// RMS norm of each head's slice of `x` (`(tokens, heads · head_dim)`).
fn head_norm(x: Mat, weight: &[f32], cfg: &Gemma3Config) -> Mat {
    let width = x.cols();
    rms_norm(&x.reshaped(cfg.head_dim), weight, cfg.rms_eps).reshaped(width)
}

fn gelu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512f() {
        // SAFETY: the CPU was just found to support AVX-512 F.
        return unsafe { ggml_math::avx512::gelu_mul(g, u, out) };
    }
    gelu_mul_scalar(g, u, out)
}

cpu::fma_dispatch!(fn gelu_mul_scalar(g: &[f32], u: &[f32], out: &mut [f32]) -> () = gelu_mul_generic);

#[inline(always)]
fn gelu_mul_generic(g: &[f32], u: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
        *o = ggml_math::gelu(g) * u;
    }
}
