//! The 32-element block formats `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`, `Q8_1`.
//!
//! In the 4- and 5-bit formats byte `j` of `qs` holds element `j` in its low nibble and
//! element `j + 16` in its high nibble. The 5-bit formats keep each element's fifth bit
//! in the little-endian u32 `qh`: bit `j` for element `j`.
//!
//! Quantizers follow ggml's `quantize_row_*_ref` step for step, including its C casts:
//! `(int8_t)f` truncates toward zero, which Rust's `as i8` also does.

use super::{f16_at, put_f16};

/// `{f16 d, u8 qs[16]}`: `x = (q - 8) * d`.
pub(super) fn dequantize_q4_0(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = (i32::from(q & 0x0F) - 8) as f32 * d;
        y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

/// `{f16 d, f16 m, u8 qs[16]}`: `x = q * d + m`.
pub(super) fn dequantize_q4_1(b: &[u8; 20], y: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = f32::from(q & 0x0F) * d + m;
        y[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// `{f16 d, u8 qh[4], u8 qs[16]}`: `x = (q - 16) * d`.
pub(super) fn dequantize_q5_0(b: &[u8; 22], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..16 {
        let (lo, hi) = five_bit_pair(b[6 + j], qh, j);
        y[j] = (i32::from(lo) - 16) as f32 * d;
        y[j + 16] = (i32::from(hi) - 16) as f32 * d;
    }
}

/// `{f16 d, f16 m, u8 qh[4], u8 qs[16]}`: `x = q * d + m`.
pub(super) fn dequantize_q5_1(b: &[u8; 24], y: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..16 {
        let (lo, hi) = five_bit_pair(b[8 + j], qh, j);
        y[j] = f32::from(lo) * d + m;
        y[j + 16] = f32::from(hi) * d + m;
    }
}

/// Elements `j` and `j + 16` of a 5-bit block, each 0..=31.
fn five_bit_pair(qs: u8, qh: u32, j: usize) -> (u8, u8) {
    let bit = |i: usize| ((qh >> i) & 1) as u8;
    ((qs & 0x0F) | (bit(j) << 4), (qs >> 4) | (bit(j + 16) << 4))
}

/// `{f16 d, i8 qs[32]}`: `x = q * d`.
pub(super) fn dequantize_q8_0(b: &[u8; 34], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = f32::from(b[2 + j] as i8) * d;
    }
}

/// `{f16 d, f16 s, i8 qs[32]}`: `x = q * d` (`s = d * sum(q)` is a dot-product helper).
pub(super) fn dequantize_q8_1(b: &[u8; 36], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = f32::from(b[4 + j] as i8) * d;
    }
}

/// The value with the largest magnitude, sign kept (the first one on ties), and that
/// magnitude; as ggml's `amax`/`max` loop (NaNs never win).
fn signed_absmax(x: &[f32; 32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// Smallest and largest value, as ggml's `min`/`max` loop.
fn min_max(x: &[f32; 32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// ggml's `quantize_row_q4_0_ref`: `d = max / -8` where `max` is the signed value of
/// largest magnitude, so that value maps to `q = 0`.
pub(super) fn quantize_q4_0(x: &[f32; 32], b: &mut [u8; 18]) {
    let (_, max) = signed_absmax(x);
    let d = max / -8.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    for j in 0..16 {
        let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
        let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
        b[2 + j] = q0 | (q1 << 4);
    }
}

/// ggml's `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`.
pub(super) fn quantize_q4_1(x: &[f32; 32], b: &mut [u8; 20]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    put_f16(b, 2, min);
    for j in 0..16 {
        let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
        let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
        b[4 + j] = q0 | (q1 << 4);
    }
}

/// ggml's `quantize_row_q5_0_ref`: `d = max / -16`.
pub(super) fn quantize_q5_0(x: &[f32; 32], b: &mut [u8; 22]) {
    let (_, max) = signed_absmax(x);
    let d = max / -16.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    let mut qh = 0u32;
    for j in 0..16 {
        let q0 = ((x[j] * id + 16.5) as i8).min(31) as u8;
        let q1 = ((x[j + 16] * id + 16.5) as i8).min(31) as u8;
        b[6 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= u32::from(q0 >> 4) << j;
        qh |= u32::from(q1 >> 4) << (j + 16);
    }
    b[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// ggml's `quantize_row_q5_1_ref`: `d = (max - min) / 31`, `m = min`.
pub(super) fn quantize_q5_1(x: &[f32; 32], b: &mut [u8; 24]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    put_f16(b, 2, min);
    let mut qh = 0u32;
    for j in 0..16 {
        // ggml casts straight to uint8_t here, without the MIN(31, ..) of Q5_0.
        let q0 = ((x[j] - min) * id + 0.5) as u8;
        let q1 = ((x[j + 16] - min) * id + 0.5) as u8;
        b[8 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= u32::from((q0 & 0x10) >> 4) << j;
        qh |= u32::from((q1 & 0x10) >> 4) << (j + 16);
    }
    b[4..8].copy_from_slice(&qh.to_le_bytes());
}

/// `amax` as ggml's `MAX(amax, fabsf(v))` loop computes it.
fn absmax(x: &[f32; 32]) -> f32 {
    x.iter().fold(
        0.0f32,
        |amax, &v| if amax > v.abs() { amax } else { v.abs() },
    )
}

/// ggml's `quantize_row_q8_0_ref`: `d = amax / 127`, `q = round(x / d)` (half away from
/// zero, as C's `roundf`).
pub(super) fn quantize_q8_0(x: &[f32; 32], b: &mut [u8; 34]) {
    let d = absmax(x) / 127.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    for j in 0..32 {
        b[2 + j] = ((x[j] * id).round() as i8) as u8;
    }
}

/// ggml's `quantize_row_q8_1_ref`: as `Q8_0`, plus `s = d * sum(q)`.
pub(super) fn quantize_q8_1(x: &[f32; 32], b: &mut [u8; 36]) {
    let d = absmax(x) / 127.0;
    let id = inverse(d);
    put_f16(b, 0, d);
    let mut sum = 0i32;
    for j in 0..32 {
        let q = (x[j] * id).round() as i8;
        sum += i32::from(q);
        b[4 + j] = q as u8;
    }
    put_f16(b, 2, sum as f32 * d);
}
