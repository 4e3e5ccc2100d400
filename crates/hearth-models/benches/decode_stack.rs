//! One decoding step's matmuls through a whole model's worth of weights: SmolLM2-135M's
//! 30 layers of Q4_1 projections and its 49152-row Q8_0 output, one activation row.
//!
//! Unlike the single-matrix benchmarks, the weights (about 110 MB) do not stay in the
//! core's caches from one step to the next, so this measures how well the kernels
//! stream weights from memory, which is what bounds decoding.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_gguf::GgmlType;
use hearth_models::bench_support::{MatmulCase, timed_on_team};

/// Per layer: q, k, v, o, gate, up, down as (rows, cols).
const LAYER: [(usize, usize); 7] = [
    (576, 576),
    (192, 576),
    (192, 576),
    (576, 576),
    (1536, 576),
    (1536, 576),
    (576, 1536),
];

fn decode_stack(c: &mut Criterion) {
    let mut stack: Vec<MatmulCase> = (0..30)
        .flat_map(|_| LAYER)
        .map(|(rows, cols)| MatmulCase::new(GgmlType::Q4_1, rows, cols, 1).expect("Q4_1"))
        .collect();
    stack.push(MatmulCase::new(GgmlType::Q8_0, 49152, 576, 1).expect("Q8_0"));
    let mut group = c.benchmark_group("decode stack");
    group.sample_size(20);
    group.bench_function("SmolLM2-135M shapes, 1 row", |b| {
        b.iter_custom(|iters| {
            timed_on_team(iters, || {
                stack.iter().for_each(|m| drop(black_box(m.run())))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, decode_stack);
criterion_main!(benches);
