//! Plain scalar reference code for ggml's block formats.
//!
//! These functions are the "plain f32 reference" that faster kernels elsewhere are tested
//! against, so they are written to be obviously correct, not fast: one block at a time,
//! byte layouts spelled out as in ggml's `ggml-common.h`, arithmetic in the same order
//! as ggml's `ggml-quants.c`.
//!
//! - [`dequantize`]: `F32`, `F16`, `BF16`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q8_1`,
//!   `Q2_K`, `Q3_K`, `Q4_K`, `Q5_K`, `Q6_K`, `Q8_K`.
//! - [`quantize`]: `F32`, `F16`, `BF16` and `Q4_0`..`Q8_1` exactly as ggml's
//!   `quantize_row_*_ref`; `Q8_K` exactly as `quantize_row_q8_K_ref`. `Q2_K`..`Q6_K` use
//!   a simple quantizer: ggml's block structure and scale packing, but plain min/max (or
//!   absolute max) sub-block scales instead of ggml's iterative error-minimising search
//!   (`make_qkx2_quants`, `make_qx_quants`, `make_q3_quants`). Their output is valid and
//!   decodes to within about one quantization step, but is not byte-identical to
//!   llama.cpp's and is somewhat less accurate.

mod kquantize;
mod kquants;
mod legacy;

use half::f16;

use crate::error::GgufError;
use crate::types::GgmlType;

/// Decodes `out.len()` elements of type `ty` from `data`.
///
/// `out.len()` must be a multiple of `ty.block_len()` and `data` exactly
/// `out.len() / block_len * block_bytes` bytes.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<(), GgufError> {
    let n_blocks = check_len(ty, out.len())?;
    let expected = n_blocks * ty.block_bytes();
    if data.len() != expected {
        return Err(GgufError::DataSize {
            what: format!("dequantizing `{}` values", out.len()),
            ty,
            expected: expected as u64,
            actual: data.len() as u64,
        });
    }
    match ty {
        GgmlType::F32 => blocks(data, out, |b: &[u8; 4], y: &mut [f32; 1]| {
            y[0] = f32::from_le_bytes(*b);
        }),
        GgmlType::F16 => blocks(data, out, |b: &[u8; 2], y: &mut [f32; 1]| {
            y[0] = f16::from_le_bytes(*b).to_f32();
        }),
        GgmlType::BF16 => blocks(data, out, |b: &[u8; 2], y: &mut [f32; 1]| {
            y[0] = bf16_to_f32(u16::from_le_bytes(*b));
        }),
        GgmlType::Q4_0 => blocks(data, out, legacy::dequantize_q4_0),
        GgmlType::Q4_1 => blocks(data, out, legacy::dequantize_q4_1),
        GgmlType::Q5_0 => blocks(data, out, legacy::dequantize_q5_0),
        GgmlType::Q5_1 => blocks(data, out, legacy::dequantize_q5_1),
        GgmlType::Q8_0 => blocks(data, out, legacy::dequantize_q8_0),
        GgmlType::Q8_1 => blocks(data, out, legacy::dequantize_q8_1),
        GgmlType::Q2K => blocks(data, out, kquants::dequantize_q2_k),
        GgmlType::Q3K => blocks(data, out, kquants::dequantize_q3_k),
        GgmlType::Q4K => blocks(data, out, kquants::dequantize_q4_k),
        GgmlType::Q5K => blocks(data, out, kquants::dequantize_q5_k),
        GgmlType::Q6K => blocks(data, out, kquants::dequantize_q6_k),
        GgmlType::Q8K => blocks(data, out, kquants::dequantize_q8_k),
        _ => {
            return Err(GgufError::Unsupported {
                operation: "dequantization",
                ty,
            });
        }
    }
    Ok(())
}

/// Encodes `src` as type `ty`, appending the blocks to `out`.
///
/// `src.len()` must be a multiple of `ty.block_len()`. See the module docs for which
/// types match ggml byte for byte.
pub fn quantize(ty: GgmlType, src: &[f32], out: &mut Vec<u8>) -> Result<(), GgufError> {
    let n_blocks = check_len(ty, src.len())?;
    out.reserve(n_blocks * ty.block_bytes());
    match ty {
        GgmlType::F32 => encode(src, out, |x: &[f32; 1], b: &mut [u8; 4]| {
            *b = x[0].to_le_bytes();
        }),
        GgmlType::F16 => encode(src, out, |x: &[f32; 1], b: &mut [u8; 2]| {
            *b = f16::from_f32(x[0]).to_le_bytes();
        }),
        GgmlType::BF16 => encode(src, out, |x: &[f32; 1], b: &mut [u8; 2]| {
            *b = f32_to_bf16(x[0]).to_le_bytes();
        }),
        GgmlType::Q4_0 => encode(src, out, legacy::quantize_q4_0),
        GgmlType::Q4_1 => encode(src, out, legacy::quantize_q4_1),
        GgmlType::Q5_0 => encode(src, out, legacy::quantize_q5_0),
        GgmlType::Q5_1 => encode(src, out, legacy::quantize_q5_1),
        GgmlType::Q8_0 => encode(src, out, legacy::quantize_q8_0),
        GgmlType::Q8_1 => encode(src, out, legacy::quantize_q8_1),
        GgmlType::Q2K => encode(src, out, kquantize::quantize_q2_k),
        GgmlType::Q3K => encode(src, out, kquantize::quantize_q3_k),
        GgmlType::Q4K => encode(src, out, kquantize::quantize_q4_k),
        GgmlType::Q5K => encode(src, out, kquantize::quantize_q5_k),
        GgmlType::Q6K => encode(src, out, kquantize::quantize_q6_k),
        GgmlType::Q8K => encode(src, out, kquantize::quantize_q8_k),
        _ => {
            return Err(GgufError::Unsupported {
                operation: "quantization",
                ty,
            });
        }
    }
    Ok(())
}

/// Number of whole blocks in `len` elements, or an error for a partial block.
fn check_len(ty: GgmlType, len: usize) -> Result<usize, GgufError> {
    let block_len = ty.block_len();
    if !len.is_multiple_of(block_len) {
        return Err(GgufError::NotBlockMultiple { ty, len, block_len });
    }
    Ok(len / block_len)
}

/// Runs `f` on each `B`-byte block and its `L` output values. The caller has checked
/// that both slices hold the same number of whole blocks.
fn blocks<const B: usize, const L: usize>(
    data: &[u8],
    out: &mut [f32],
    f: impl Fn(&[u8; B], &mut [f32; L]),
) {
    let (blocks, _) = data.as_chunks::<B>();
    let (outs, _) = out.as_chunks_mut::<L>();
    for (block, y) in blocks.iter().zip(outs) {
        f(block, y);
    }
}

/// Runs `f` on each `L`-value chunk of `src`, appending each `B`-byte block to `out`.
fn encode<const B: usize, const L: usize>(
    src: &[f32],
    out: &mut Vec<u8>,
    f: impl Fn(&[f32; L], &mut [u8; B]),
) {
    let (chunks, _) = src.as_chunks::<L>();
    for x in chunks {
        let mut block = [0u8; B];
        f(x, &mut block);
        out.extend_from_slice(&block);
    }
}

/// The `N`-byte field at byte `at` of a block.
fn field<const B: usize, const N: usize>(block: &[u8; B], at: usize) -> &[u8; N] {
    block[at..at + N]
        .try_into()
        .expect("a field of N bytes sliced as N bytes")
}

/// Reads the little-endian f16 at `at` as f32.
fn f16_at<const B: usize>(block: &[u8; B], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// Writes `v` rounded to f16 (nearest, ties to even, like ggml's `GGML_FP32_TO_FP16`) at
/// `at`, returning the rounded value.
fn put_f16<const B: usize>(block: &mut [u8; B], at: usize, v: f32) -> f32 {
    let h = f16::from_f32(v);
    block[at..at + 2].copy_from_slice(&h.to_le_bytes());
    h.to_f32()
}

/// ggml's `nearest_int`: round to nearest, ties to even (valid for |v| < 2^22, which
/// every caller guarantees by clamping or by construction).
fn nearest_int(v: f32) -> i32 {
    v.round_ties_even() as i32
}

/// bfloat16 bits to f32: the top half of the f32 bits.
pub(crate) fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// f32 to bfloat16 bits as ggml's `ggml_compute_fp32_to_bf16`: NaNs are quieted, the
/// rest round to nearest, ties to even.
pub(crate) fn f32_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        return ((bits >> 16) | 64) as u16;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nans() {
        // 1 + 2^-8 is exactly halfway between two bf16 values; ties go to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // Just above halfway rounds up.
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0 + 1.0 / 65536.0), 0x3f81);
        assert_eq!(bf16_to_f32(f32_to_bf16(-2.5)), -2.5);
        let nan = f32::from_bits(0x7f80_0001);
        assert_eq!(f32_to_bf16(nan), 0x7fc0);
        assert_eq!(f32_to_bf16(f32::INFINITY), 0x7f80);
    }

    #[test]
    fn nearest_int_ties_to_even() {
        assert_eq!(
            [0.5, 1.5, 2.5, -0.5, -1.5, 2.4].map(nearest_int),
            [0, 2, 2, 0, -2, 2]
        );
    }
}
