use hearth_gguf::{GgmlType, quant};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// `n` random values (from `seed`) quantized to `ty` by hearth-gguf's reference code.
fn quantized(ty: GgmlType, n: usize, seed: u64) -> Vec<u8> {
    let mut data = Vec::new();
    quant::quantize(ty, &random(n, seed), &mut data).unwrap();
    data
}

/// Plain f32 reference: dequantize the weights with hearth-gguf's reference code and
/// multiply in f64.
fn reference(ty: GgmlType, data: &[u8], rows: usize, cols: usize, x: &[f32], m: usize) -> Vec<f32> {
    let mut w = vec![0f32; rows * cols];
    quant::dequantize(ty, data, &mut w).unwrap();
    let mut y = vec![0f32; m * rows];
    for i in 0..m {
        for r in 0..rows {
            let dot: f64 = (0..cols)
                .map(|c| w[r * cols + c] as f64 * x[i * cols + c] as f64)
                .sum();
            y[i * rows + r] = dot as f32;
        }
    }
    y
}

fn check_against_reference(ty: GgmlType) {
    let cols = if ty.block_len() == BLOCK {
        96
    } else {
        2 * QK_K
    };
    let (rows, m) = (70, 3);
    let data = quantized(ty, rows * cols, 1);
    let x = random(m * cols, 2);
    let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
    let got = w.matmul(&x, &[m]);
    let want = reference(ty, &data, rows, cols, &x, m);
    for (g, r) in got.iter().zip(&want) {
        // Only the 8-bit activation rounding separates the two: ~0.4% of each term,
        // adding up like a random walk over the columns.
        let tol = 0.005 * (cols as f32).sqrt();
        assert!((g - r).abs() < tol + r.abs() * 0.01, "{g} vs {r}");
    }
}

#[test]
fn q4_1_matmul_matches_f32_reference() {
    check_against_reference(GgmlType::Q4_1);
}

#[test]
fn q5_0_matmul_matches_f32_reference() {
    check_against_reference(GgmlType::Q5_0);
}

#[test]
fn q8_0_matmul_matches_f32_reference() {
    check_against_reference(GgmlType::Q8_0);
}

#[test]
fn q4_k_matmul_matches_f32_reference() {
    check_against_reference(GgmlType::Q4K);
}

#[test]
fn q6_k_matmul_matches_f32_reference() {
    check_against_reference(GgmlType::Q6K);
}

const OWN: [GgmlType; 5] = [
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q6K,
];

#[test]
fn every_available_kernel_agrees_with_the_portable_one_bit_for_bit() {
    let kernels = available_kernels();
    let names: Vec<_> = kernels.iter().map(|(name, _)| *name).collect();
    eprintln!("kernels on this CPU: {names:?}");
    for ty in OWN {
        // 41 weight rows leave a partial tile; 2 blocks per row.
        let (rows, cols) = (41, 2 * ty.block_len());
        let mut data = Vec::new();
        // Wide weights and activations with outliers, so sums reach the ranges where
        // float rounding order shows.
        let mut w = random(rows * cols, 3);
        w.iter_mut().step_by(37).for_each(|v| *v *= 40.0);
        quant::quantize(ty, &w, &mut data).unwrap();
        let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
        // Chunks of 1 and 9 rows cover both paths of both K-quants; 1 to 11, 16 and 21
        // rows in all cover every activation tile shape of every kernel.
        let shapes = [
            &[1][..],
            &[2],
            &[3],
            &[4],
            &[1, 4],
            &[3, 3],
            &[7],
            &[8],
            &[1, 9],
        ];
        for groups in shapes.into_iter().chain([&[1, 9, 1][..], &[16], &[5, 16]]) {
            let m: usize = groups.iter().sum();
            let mut x = random(m * cols, 4);
            x.iter_mut().step_by(53).for_each(|v| *v *= 1000.0);
            let acts = Acts::quantize(&w.blocks, &x, cols, groups);
            let mut portable = vec![0f32; rows * m];
            rows_portable(&w, acts.view(), 0, &mut portable, m);
            for (name, kernel) in &kernels {
                let mut got = vec![0f32; rows * m];
                kernel.run(&w, acts.view(), 0, &mut got, m);
                assert_eq!(portable, got, "{ty} {name} {groups:?}");
                // A task covering only some weight rows sees the same values.
                let mut part = vec![0f32; 6 * m];
                kernel.run(&w, acts.view(), 35, &mut part, m);
                let expected: Vec<f32> = portable
                    .chunks_exact(rows)
                    .flat_map(|row| &row[35..])
                    .copied()
                    .collect();
                assert_eq!(expected, part, "{ty} {name} {groups:?} rows 35..");
            }
        }
    }
}

#[test]
fn single_row_and_batched_rows_give_the_same_values() {
    let ty = GgmlType::Q4_1;
    let (rows, cols) = (33, 64);
    let data = quantized(ty, rows * cols, 5);
    let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
    let x = random(4 * cols, 6);
    let batched = w.matmul(&x, &[4]);
    for i in 0..4 {
        let alone = w.matmul(&x[i * cols..(i + 1) * cols], &[1]);
        assert_eq!(&alone[..], &batched[i * rows..(i + 1) * rows]);
    }
}

#[test]
fn k_quant_rows_depend_only_on_their_own_chunk() {
    for ty in [GgmlType::Q4K, GgmlType::Q6K] {
        let (rows, cols) = (24, 2 * QK_K);
        let data = quantized(ty, rows * cols, 7);
        let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
        let x = random(14 * cols, 8);
        let mixed = w.matmul(&x, &[1, 9, 4]);
        let first = w.matmul(&x[..cols], &[1]);
        let second = w.matmul(&x[cols..10 * cols], &[9]);
        let third = w.matmul(&x[10 * cols..], &[4]);
        assert_eq!(&mixed[..rows], &first[..], "{ty}");
        assert_eq!(&mixed[rows..10 * rows], &second[..], "{ty}");
        assert_eq!(&mixed[10 * rows..], &third[..], "{ty}");
    }
}

#[test]
fn unsupported_format_or_wrong_size_is_refused() {
    assert!(QMatrix::from_gguf(GgmlType::Q5K, &[0; 176], 1, 256).is_none());
    assert!(QMatrix::from_gguf(GgmlType::Q4K, &[0; 72], 1, 128).is_none());
    assert!(QMatrix::from_gguf(GgmlType::Q8_0, &[0; 33], 1, 32).is_none());
}

#[test]
fn row_dequantizes_like_the_reference() {
    for ty in OWN {
        let (rows, cols) = (5, 2 * ty.block_len());
        let data = quantized(ty, rows * cols, 9);
        let mut want = vec![0f32; rows * cols];
        quant::dequantize(ty, &data, &mut want).unwrap();
        let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
        for r in 0..rows {
            assert_eq!(w.row(r).unwrap(), &want[r * cols..(r + 1) * cols]);
        }
        assert!(w.row(rows).is_none());
    }
}

#[test]
fn prompt_and_decode_partitions_give_the_same_values() {
    for ty in OWN {
        // 70 weight rows leave a partial weight group; 37 activation rows a partial
        // chunk and a partial tile.
        let (rows, cols, m) = (70, 2 * ty.block_len(), 37);
        let data = quantized(ty, rows * cols, 10);
        let w = QMatrix::from_gguf(ty, &data, rows, cols).unwrap();
        let x = random(m * cols, 11);
        let acts = Acts::quantize(&w.blocks, &x, cols, &[m]);
        let by_acts = w.matmul_by_act_rows(acts.view(), m);
        assert_eq!(by_acts, w.matmul_by_weight_rows(acts.view(), m), "{ty}");
        assert_eq!(by_acts, w.matmul(&x, &[m]), "{ty}");
    }
}

#[test]
fn repacking_reports_every_copied_range_in_order() {
    let ty = GgmlType::Q8_0;
    // More than one release step of data.
    let (rows, cols) = (8200, 1024);
    let data = quantized(ty, rows * cols, 12);
    assert!(data.len() > RELEASE_STEP);
    let mut ranges = Vec::new();
    let w = QMatrix::from_gguf_releasing(ty, &data, rows, cols, |r| ranges.push(r)).unwrap();
    assert!(ranges.len() > 1);
    assert_eq!(ranges[0].start, 0);
    assert!(ranges.windows(2).all(|p| p[0].end == p[1].start));
    assert_eq!(ranges.last().unwrap().end, data.len());
    assert_eq!(
        w.row(7),
        QMatrix::from_gguf(ty, &data, rows, cols).unwrap().row(7)
    );
}
