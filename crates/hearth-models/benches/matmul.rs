//! Hearth's quantized matmul per weight format on a Qwen2.5-0.5B feed-forward shape
//! (4864 × 896): one activation row (decoding), eight (a batch of decodes) and a prompt chunk of 64
//! rows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_gguf::GgmlType;
use hearth_models::bench_support::MatmulCase;

fn matmul(c: &mut Criterion) {
    for ty in [
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q6K,
    ] {
        for m in [1, 8, 64] {
            let case = MatmulCase::new(ty, 4864, 896, m).expect("a supported format");
            c.bench_function(&format!("matmul {ty} 4864x896 rows {m}"), |b| {
                b.iter(|| black_box(case.run()))
            });
        }
    }
}

criterion_group!(benches, matmul);
criterion_main!(benches);
