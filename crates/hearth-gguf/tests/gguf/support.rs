//! Helpers shared by the test modules: a seeded PRNG, a raw byte builder for crafting
//! files the writer refuses to produce, and a small valid model file.

use hearth_gguf::{GgmlType, GgufWriter, Value, quant};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// SplitMix64: deterministic, dependency-free randomness for tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Roughly normal (sum of uniforms), like trained weights.
    pub fn normalish(&mut self) -> f32 {
        (0..4).map(|_| self.uniform()).sum::<f32>() * 0.5
    }

    pub fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normalish()).collect()
    }
}

/// Little-endian GGUF bytes written field by field.
#[derive(Default)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// Magic, version and the two counts.
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut raw = Raw(b"GGUF".to_vec());
        raw.u32(version).u64(n_tensors).u64(n_kv);
        raw
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }

    /// A `u32` metadata entry.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key).u32(4).u32(v)
    }

    /// A tensor info.
    pub fn tensor(&mut self, name: &str, dims: &[u64], type_id: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        dims.iter().for_each(|&d| {
            self.u64(d);
        });
        self.u32(type_id).u64(offset)
    }

    /// Zero padding up to a multiple of `align`, then `n` data bytes.
    pub fn data(&mut self, align: usize, n: usize) -> &mut Self {
        let padded = self.0.len().next_multiple_of(align);
        self.0.resize(padded + n, 0x5A);
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// A small valid file: every value type, nested and empty arrays, and tensors of
/// several types and shapes.
pub fn sample_writer() -> Result<GgufWriter, Box<dyn std::error::Error>> {
    let mut rng = Rng::new(7);
    let mut w = GgufWriter::new();
    for (key, value) in sample_metadata() {
        w.metadata(key, value);
    }
    let f32_data: Vec<u8> = rng.values(6).iter().flat_map(|v| v.to_le_bytes()).collect();
    w.tensor("token_embd.weight", &[3, 2], GgmlType::F32, f32_data)?;
    let mut q = Vec::new();
    quant::quantize(GgmlType::Q8_0, &rng.values(64), &mut q)?;
    w.tensor("blk.0.attn_q.weight", &[32, 2], GgmlType::Q8_0, q)?;
    let mut k = Vec::new();
    quant::quantize(GgmlType::Q4K, &rng.values(256), &mut k)?;
    w.tensor("blk.0.ffn_up.weight", &[256, 1, 1], GgmlType::Q4K, k)?;
    w.tensor("scalar", &[], GgmlType::F32, 1.5f32.to_le_bytes().to_vec())?;
    Ok(w)
}

pub fn sample_metadata() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::from("llama")),
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-100)),
        ("u16", Value::U16(60_000)),
        ("i16", Value::I16(-30_000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-2_000_000_000)),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f32", Value::F32(0.25)),
        ("f64", Value::F64(-1e300)),
        ("bool", Value::Bool(true)),
        ("string", Value::from("héllo ✓")),
        ("tokens", Value::from(vec!["<s>", "</s>", "a"])),
        ("scores", Value::from(vec![0.0f32, -1.5, 2.0])),
        ("types", Value::from(vec![1i32, 3, 6])),
        ("nested", Value::from(vec![vec![1u8, 2], vec![3]])),
        ("empty", Value::Array(vec![])),
    ]
}
