//! One layer's attention with SmolLM2-135M's heads (9 query heads, 3 key/value heads
//! of 64): decoding one row at contexts 512 and 2048, for one and eight sequences,
//! and a prompt chunk of 128 rows on top of 384 cached positions; and with Gemma 3's
//! heads (4 query heads, 1 key/value head of 256) a whole 512-token prompt and one
//! decoding row at context 2048.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_models::bench_support::AttentionCase;

const SMOLLM2: (usize, usize, usize) = (9, 3, 64);
const GEMMA3: (usize, usize, usize) = (4, 1, 256);

fn attention(c: &mut Criterion) {
    let cases = [
        ("decode ctx 512", SMOLLM2, 1, 1, 512),
        ("decode ctx 2048", SMOLLM2, 1, 1, 2048),
        ("decode ctx 512 x8 sequences", SMOLLM2, 8, 1, 512),
        ("prefill chunk 128 at 512", SMOLLM2, 1, 128, 512),
        ("gemma3 prompt 512", GEMMA3, 1, 512, 512),
        ("gemma3 decode ctx 2048", GEMMA3, 1, 1, 2048),
    ];
    for (name, heads, n_seqs, n, total) in cases {
        let case = AttentionCase::new(heads, n_seqs, n, total).expect("the case fits in memory");
        c.bench_function(&format!("attention {name}"), |b| {
            b.iter(|| black_box(case.run()))
        });
    }
}

criterion_group!(benches, attention);
criterion_main!(benches);
