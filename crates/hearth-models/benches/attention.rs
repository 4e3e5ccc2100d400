//! One layer's attention with SmolLM2-135M's heads (9 query heads, 3 key/value heads
//! of 64): decoding one row at contexts 512 and 2048, for one and eight sequences,
//! and a prompt chunk of 128 rows on top of 384 cached positions.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_models::bench_support::AttentionCase;

const HEADS: (usize, usize, usize) = (9, 3, 64);

fn attention(c: &mut Criterion) {
    let cases = [
        ("decode ctx 512", 1, 1, 512),
        ("decode ctx 2048", 1, 1, 2048),
        ("decode ctx 512 x8 sequences", 8, 1, 512),
        ("prefill chunk 128 at 512", 1, 128, 512),
    ];
    for (name, n_seqs, n, total) in cases {
        let case = AttentionCase::new(HEADS, n_seqs, n, total).expect("the case fits in memory");
        c.bench_function(&format!("attention {name}"), |b| {
            b.iter(|| black_box(case.run()))
        });
    }
}

criterion_group!(benches, attention);
criterion_main!(benches);
