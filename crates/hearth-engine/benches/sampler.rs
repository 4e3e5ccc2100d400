//! Picking one token from SmolLM2-sized logits (49,152 entries): greedy, llama.cpp's
//! default chain (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8), and a draw over
//! the whole vocabulary as OpenAI requests ask by default (temperature only).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_engine::Sampler;
use hearth_protocol::SamplingParams;

const N_VOCAB: usize = 49_152;

fn sampler(c: &mut Criterion) {
    let logits: Vec<f32> = (0..N_VOCAB)
        .map(|i| ((i * 7919 % 10_007) as f32 / 1000.0) - 5.0)
        .collect();
    let greedy = SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let default_chain = SamplingParams {
        seed: Some(1),
        ..SamplingParams::default()
    };
    let whole_vocabulary = SamplingParams {
        seed: Some(1),
        temperature: 0.7,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        ..SamplingParams::default()
    };
    for (name, params) in [
        ("greedy", greedy),
        ("default chain", default_chain),
        ("whole vocabulary", whole_vocabulary),
    ] {
        let mut s = Sampler::new(&params);
        for t in 0..64 {
            s.accept(t);
        }
        c.bench_function(&format!("sample {name}"), |b| {
            b.iter(|| black_box(s.sample(black_box(&logits))))
        });
    }
}

criterion_group!(benches, sampler);
criterion_main!(benches);
