//! A tiny random-weight llama model in GGUF, written at test time.

use std::path::Path;

use hearth_gguf::{GgmlType, GgufWriter, Value, quant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape and storage of a tiny llama model. Dimensions are multiples of 32 so every
/// block format fits.
#[derive(Debug, Clone)]
pub struct TinyLlama {
    pub n_embd: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub n_ff: usize,
    pub context_length: usize,
    /// Type of the layer weight matrices.
    pub weight_type: GgmlType,
    /// Type of the embedding table (also the tied output projection).
    pub embedding_type: GgmlType,
    pub chat_template: Option<String>,
    pub seed: u64,
    /// `general.architecture`; other values test the refusal of unknown architectures.
    pub architecture: String,
    /// Layers the metadata claims, when it should disagree with the tensors written.
    pub claimed_layers: Option<usize>,
}

/// The default tiny model: 2 layers, 64-wide, Q4_1 layers and Q8_0 embeddings like SmolLM2.
pub fn tiny_llama() -> TinyLlama {
    TinyLlama {
        n_embd: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        n_ff: 128,
        context_length: 256,
        weight_type: GgmlType::Q4_1,
        embedding_type: GgmlType::Q8_0,
        chat_template: None,
        seed: 7,
        architecture: "llama".to_owned(),
        claimed_layers: None,
    }
}

/// Control tokens after the 256 byte tokens and the merged ones.
pub const TINY_SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

impl TinyLlama {
    /// The vocabulary: the 256 byte-level characters, a few merges, then control tokens.
    pub fn vocab() -> (Vec<String>, Vec<i32>, Vec<String>) {
        let mut tokens: Vec<String> = byte_chars().iter().map(|c| c.to_string()).collect();
        let merges = ["Ġ t", "h e", "Ġt he", "l l", "he ll"];
        for m in merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![1; tokens.len()];
        for s in TINY_SPECIAL_TOKENS {
            tokens.push(s.to_owned());
            types.push(3);
        }
        (
            tokens,
            types,
            merges.iter().map(|m| (*m).to_owned()).collect(),
        )
    }

    /// Writes the model to `path`.
    pub fn write(&self, path: &Path) {
        let (tokens, types, merges) = Self::vocab();
        let n_vocab = tokens.len();
        let eos = (n_vocab - 1) as u32; // <|im_end|>
        let mut w = GgufWriter::new();
        let arch = self.architecture.as_str();
        let key = |k: &str| format!("{arch}.{k}");
        let layers = self.claimed_layers.unwrap_or(self.n_layers) as u32;
        w.metadata("general.architecture", Value::from(arch))
            .metadata("general.name", Value::from("tiny-llama"))
            .metadata(
                key("context_length"),
                Value::U32(self.context_length as u32),
            )
            .metadata(key("embedding_length"), Value::U32(self.n_embd as u32))
            .metadata(key("block_count"), Value::U32(layers))
            .metadata(key("feed_forward_length"), Value::U32(self.n_ff as u32))
            .metadata(key("attention.head_count"), Value::U32(self.n_heads as u32))
            .metadata(
                key("attention.head_count_kv"),
                Value::U32(self.n_kv_heads as u32),
            )
            .metadata(key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5))
            .metadata(key("rope.freq_base"), Value::F32(10_000.0))
            .metadata("tokenizer.ggml.model", Value::from("gpt2"))
            .metadata("tokenizer.ggml.pre", Value::from("smollm"))
            .metadata("tokenizer.ggml.tokens", Value::from(tokens))
            .metadata("tokenizer.ggml.token_type", Value::from(types))
            .metadata("tokenizer.ggml.merges", Value::from(merges))
            .metadata("tokenizer.ggml.bos_token_id", Value::U32(eos - 1))
            .metadata("tokenizer.ggml.eos_token_id", Value::U32(eos))
            .metadata("tokenizer.ggml.add_bos_token", Value::Bool(false));
        if let Some(t) = &self.chat_template {
            w.metadata("tokenizer.chat_template", Value::from(t.as_str()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let (e, hd) = (self.n_embd, self.n_embd / self.n_heads);
        let mut tensor = |name: &str, rows: usize, cols: usize, ty: GgmlType, scale: f32| {
            let values: Vec<f32> = (0..rows * cols)
                .map(|_| rng.random_range(-scale..scale))
                .collect();
            let dims: Vec<u64> = if rows == 1 {
                vec![cols as u64]
            } else {
                vec![cols as u64, rows as u64]
            };
            let mut data = Vec::new();
            quant::quantize(ty, &values, &mut data).expect("tiny tensors fit every block size");
            w.tensor(name, &dims, ty, data)
                .expect("tensor data matches its shape");
        };
        tensor("token_embd.weight", n_vocab, e, self.embedding_type, 1.0);
        for i in 0..self.n_layers {
            let p = |n: &str| format!("blk.{i}.{n}");
            let ty = self.weight_type;
            tensor(&p("attn_norm.weight"), 1, e, GgmlType::F32, 1.0);
            tensor(&p("attn_q.weight"), self.n_heads * hd, e, ty, 0.3);
            tensor(&p("attn_k.weight"), self.n_kv_heads * hd, e, ty, 0.3);
            tensor(&p("attn_v.weight"), self.n_kv_heads * hd, e, ty, 0.3);
            tensor(&p("attn_output.weight"), e, self.n_heads * hd, ty, 0.3);
            tensor(&p("ffn_norm.weight"), 1, e, GgmlType::F32, 1.0);
            tensor(&p("ffn_gate.weight"), self.n_ff, e, ty, 0.3);
            tensor(&p("ffn_up.weight"), self.n_ff, e, ty, 0.3);
            tensor(&p("ffn_down.weight"), e, self.n_ff, ty, 0.3);
        }
        tensor("output_norm.weight", 1, e, GgmlType::F32, 1.0);
        w.write(path)
            .expect("the test can write its temporary model");
    }
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest
/// are shifted past 255.
fn byte_chars() -> Vec<char> {
    let mut extra = 0;
    (0..=255u8)
        .map(|b| {
            if matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF) {
                char::from(b)
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap_or('?')
            }
        })
        .collect()
}
