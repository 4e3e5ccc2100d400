//! Hearth's quantized matmul per weight format: one activation row (decoding), eight (a
//! batch of decodes) and a prompt chunk of 64 rows, on Qwen2.5-0.5B's feed-forward
//! shapes (4864 × 896 for the 32-value formats, the down projection 896 × 4864 for
//! K-quants, whose 256-value blocks do not divide 896).
//!
//! SmolLM2's feed-forward shapes in Q4_1 (1536 × 576 and 576 × 1536), one row and
//! eight, show how the work of a small model's decoding step splits into tasks.
//!
//! Each measurement runs inside one compute team, as a forward pass does, so that
//! one-row timings do not include handing work from the benchmark's thread to the pool.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_gguf::GgmlType;
use hearth_models::bench_support::{MatmulCase, timed_on_team};

fn matmul(c: &mut Criterion) {
    for ty in [
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q6K,
    ] {
        let (rows, cols) = match ty {
            GgmlType::Q4K | GgmlType::Q6K => (896, 4864),
            _ => (4864, 896),
        };
        for m in [1, 8, 64] {
            let case = MatmulCase::new(ty, rows, cols, m).expect("a supported format");
            c.bench_function(&format!("matmul {ty} {rows}x{cols} rows {m}"), |b| {
                b.iter_custom(|iters| timed_on_team(iters, || black_box(case.run())))
            });
        }
    }
}

fn small_model(c: &mut Criterion) {
    for (rows, cols) in [(1536, 576), (576, 1536)] {
        for m in [1, 8] {
            let case = MatmulCase::new(GgmlType::Q4_1, rows, cols, m).expect("Q4_1 is supported");
            c.bench_function(&format!("matmul Q4_1 {rows}x{cols} rows {m}"), |b| {
                b.iter_custom(|iters| timed_on_team(iters, || black_box(case.run())))
            });
        }
    }
}

criterion_group!(benches, matmul, small_model);
criterion_main!(benches);
