//! Quantize → dequantize round trips on random data, with per-type error bounds, and
//! the (de)quantizers' argument errors.

use hearth_gguf::{GgmlType, GgufError, quant};

use crate::support::{Rng, TestResult};

/// Error bounds for one type: the worst error in a block relative to that block's
/// largest magnitude, and the RMS error relative to the data's RMS.
struct Bound {
    ty: GgmlType,
    max_rel: f32,
    rms_rel: f32,
}

/// Bounds from each format's step size with some headroom: e.g. `Q8_0` may be off by
/// half a step of `amax / 127` plus the f16 rounding of its scale, `Q4_0` by a whole
/// step of `amax / 8` (ggml clips the extreme opposite the one that sets the scale).
/// The simple k-quantizers get about a step, as their scales are quantized too; the
/// RMS bounds are measured on roughly normal data.
const BOUNDS: [Bound; 15] = [
    bound(GgmlType::F32, 0.0, 0.0),
    bound(GgmlType::F16, 1.0 / 2048.0, 0.0004),
    bound(GgmlType::BF16, 1.0 / 256.0, 0.003),
    bound(GgmlType::Q4_0, 1.1 / 8.0, 0.11),
    bound(GgmlType::Q4_1, 1.25 / 15.0, 0.095),
    bound(GgmlType::Q5_0, 1.1 / 16.0, 0.05),
    bound(GgmlType::Q5_1, 1.25 / 31.0, 0.047),
    bound(GgmlType::Q8_0, 0.6 / 127.0, 0.0065),
    bound(GgmlType::Q8_1, 0.6 / 127.0, 0.0065),
    bound(GgmlType::Q2K, 0.4, 0.4),
    bound(GgmlType::Q3K, 0.3, 0.19),
    bound(GgmlType::Q4K, 0.085, 0.095),
    bound(GgmlType::Q5K, 0.045, 0.047),
    bound(GgmlType::Q6K, 0.035, 0.024),
    bound(GgmlType::Q8K, 0.51 / 127.0, 0.008),
];

const fn bound(ty: GgmlType, max_rel: f32, rms_rel: f32) -> Bound {
    Bound {
        ty,
        max_rel,
        rms_rel,
    }
}

/// Awkward blocks: all zero, constant, one outlier, all negative.
fn awkward_data(block_len: usize, rng: &mut Rng) -> Vec<f32> {
    let mut x = vec![0.0; block_len];
    x.extend(std::iter::repeat_n(0.7, block_len));
    let mut outlier = rng.values(block_len);
    outlier[block_len / 3] = 25.0;
    x.extend(outlier);
    x.extend(rng.values(block_len).iter().map(|v| -v.abs() - 0.5));
    x
}

fn measure(ty: GgmlType, x: &[f32]) -> Result<(f32, f32), GgufError> {
    let mut bytes = Vec::new();
    quant::quantize(ty, x, &mut bytes)?;
    let block_len = ty.block_len();
    assert_eq!(bytes.len(), x.len() / block_len * ty.block_bytes(), "{ty}");
    let mut y = vec![f32::NAN; x.len()];
    quant::dequantize(ty, &bytes, &mut y)?;
    let mut max_rel = 0.0f32;
    for (xb, yb) in x.chunks(block_len.max(32)).zip(y.chunks(block_len.max(32))) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = xb
            .iter()
            .zip(yb)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        if amax > 0.0 {
            max_rel = max_rel.max(err / amax);
        } else {
            assert_eq!(err, 0.0, "{ty}: an all-zero block must decode to zeros");
        }
    }
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (sum, n) = v.fold((0.0f64, 0usize), |(s, n), e| (s + f64::from(e * e), n + 1));
        (sum / n as f64).sqrt() as f32
    };
    let rms_rel = rms(&mut x.iter().zip(&y).map(|(a, b)| a - b)) / rms(&mut x.iter().copied());
    Ok((max_rel, rms_rel))
}

#[test]
fn every_quantizer_round_trips_within_its_error_bound() -> TestResult {
    let mut rng = Rng::new(1234);
    for bound in &BOUNDS {
        let block_len = bound.ty.block_len().max(32);
        let (max_rel, rms_rel) = measure(bound.ty, &rng.values(block_len * 16))?;
        let (awkward_max_rel, _) = measure(bound.ty, &awkward_data(block_len, &mut rng))?;
        let ty = bound.ty;
        assert!(
            max_rel <= bound.max_rel,
            "{ty}: max error {max_rel} of block amax"
        );
        assert!(
            rms_rel <= bound.rms_rel,
            "{ty}: rms error {rms_rel} of data rms"
        );
        assert!(
            awkward_max_rel <= bound.max_rel,
            "{ty}: max error {awkward_max_rel} of block amax on awkward blocks"
        );
    }
    Ok(())
}

#[test]
fn bounds_cover_every_type_that_quantizes() {
    let covered: Vec<GgmlType> = BOUNDS.iter().map(|b| b.ty).collect();
    for ty in GgmlType::ALL {
        let mut out = Vec::new();
        let zeros = vec![0.0; ty.block_len()];
        let quantizes = quant::quantize(ty, &zeros, &mut out).is_ok();
        assert_eq!(quantizes, covered.contains(&ty), "{ty}");
    }
}

#[test]
fn quantize_appends_to_the_output() -> TestResult {
    let mut out = vec![0xAB];
    quant::quantize(GgmlType::Q8_0, &[1.0; 64], &mut out)?;
    assert_eq!(out.len(), 1 + 2 * 34);
    assert_eq!(out[0], 0xAB);
    Ok(())
}

#[test]
fn q8_k_stores_block_sums_of_16_quants() -> TestResult {
    let mut rng = Rng::new(5);
    let mut out = Vec::new();
    quant::quantize(GgmlType::Q8K, &rng.values(256), &mut out)?;
    for j in 0..16 {
        let sum: i32 = out[4 + 16 * j..][..16]
            .iter()
            .map(|&q| i32::from(q as i8))
            .sum();
        let stored = i16::from_le_bytes([out[260 + 2 * j], out[261 + 2 * j]]);
        assert_eq!(i32::from(stored), sum, "bsums[{j}]");
    }
    Ok(())
}

#[test]
fn unsupported_types_are_errors() -> TestResult {
    let mut out = Vec::new();
    let err = quant::quantize(GgmlType::IQ4NL, &[0.0; 32], &mut out).err();
    assert!(matches!(
        err,
        Some(GgufError::Unsupported {
            operation: "quantization",
            ..
        })
    ));
    let mut y = [0.0; 256];
    let err = quant::dequantize(GgmlType::IQ2XXS, &[0; 66], &mut y)
        .err()
        .ok_or("IQ2_XXS dequantized")?;
    assert_eq!(
        err.to_string(),
        "dequantization of `IQ2_XXS` is not supported"
    );
    Ok(())
}

#[test]
fn partial_blocks_and_wrong_byte_counts_are_errors() {
    let mut out = Vec::new();
    let err = quant::quantize(GgmlType::Q4K, &[0.0; 100], &mut out).err();
    assert!(matches!(
        err,
        Some(GgufError::NotBlockMultiple {
            len: 100,
            block_len: 256,
            ..
        })
    ));
    assert!(out.is_empty());
    let mut y = [0.0; 64];
    let err = quant::dequantize(GgmlType::Q8_0, &[0; 67], &mut y).err();
    assert!(matches!(
        err,
        Some(GgufError::DataSize {
            expected: 68,
            actual: 67,
            ..
        })
    ));
    let mut y = [0.0; 33];
    let err = quant::dequantize(GgmlType::Q8_0, &[0; 68], &mut y).err();
    assert!(matches!(err, Some(GgufError::NotBlockMultiple { .. })));
}
