//! Decoding the 256-element k-quant super-blocks `Q2_K`..`Q8_K`.
//!
//! Each function documents its block layout (as in ggml's `ggml-common.h`) and which
//! element each quant bit lands in. Arithmetic follows ggml's `dequantize_row_*`.

// Index arithmetic mirrors ggml's layouts; iterator chains would hide them.
#![allow(clippy::needless_range_loop)]

use super::{f16_at, field};

/// Unpacks the 6-bit scale and min of sub-block `j` (0..8) from a `Q4_K`/`Q5_K`
/// 12-byte `scales` field (ggml's `get_scale_min_k4`): sub-blocks 0..4 keep scale and
/// min in the low 6 bits of bytes `j` and `j + 4`; sub-blocks 4..8 keep their low 4 bits
/// in the nibbles of byte `j + 4` and their top 2 bits in the top bits of bytes `j - 4`
/// (scale) and `j` (min).
pub(super) fn scale_min_k4(j: usize, scales: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
        let min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (scale, min)
    }
}

/// `{u8 scales[16], u8 qs[64], f16 d, f16 dmin}`.
///
/// 16 sub-blocks of 16; `scales[i]` holds sub-block `i`'s 4-bit scale (low nibble) and
/// 4-bit min (high nibble): `x = d * scale * q - dmin * min`. In each 128-element half
/// `h`, element `h*128 + 32*s + l` is bits `2s..2s+2` of `qs[h*32 + l]`.
pub(super) fn dequantize_q2_k(b: &[u8; 84], y: &mut [f32; 256]) {
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for i in 0..256 {
        let (half, s, l) = (i / 128, (i % 128) / 32, i % 32);
        let q = (b[16 + half * 32 + l] >> (2 * s)) & 3;
        let sc = b[i / 16];
        let dl = d * f32::from(sc & 0x0F);
        let ml = dmin * f32::from(sc >> 4);
        y[i] = dl * f32::from(q) - ml;
    }
}

/// Sub-block `i`'s (0..16) 6-bit `Q3_K` scale, biased by 32: low 4 bits in a nibble of
/// `scales[i % 8]` (low nibble for `i < 8`), top 2 bits in bits `2*(i/4)..` of
/// `scales[8 + i % 4]`.
pub(super) fn scale_q3_k(i: usize, scales: &[u8; 12]) -> i32 {
    let low = if i < 8 {
        scales[i] & 0x0F
    } else {
        scales[i - 8] >> 4
    };
    let high = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    i32::from(low | (high << 4)) - 32
}

/// `{u8 hmask[32], u8 qs[64], u8 scales[12], f16 d}`.
///
/// 16 sub-blocks of 16 with signed 6-bit scales: `x = d * scale * (q - 4)`, where the
/// low 2 bits of `q` are packed as in `Q2_K` and the third bit of element `i` is bit
/// `i / 32` of `hmask[i % 32]`; ggml subtracts 4 when that bit is *clear*.
pub(super) fn dequantize_q3_k(b: &[u8; 110], y: &mut [f32; 256]) {
    let d = f16_at(b, 108);
    let scales = field::<110, 12>(b, 96);
    for i in 0..256 {
        let (half, s, l) = (i / 128, (i % 128) / 32, i % 32);
        let low = i32::from((b[32 + half * 32 + l] >> (2 * s)) & 3);
        let high_set = b[i % 32] & (1 << (i / 32)) != 0;
        let q = if high_set { low } else { low - 4 };
        let dl = d * scale_q3_k(i / 16, scales) as f32;
        y[i] = dl * q as f32;
    }
}

/// `{f16 d, f16 dmin, u8 scales[12], u8 qs[128]}`.
///
/// 8 sub-blocks of 32 with 6-bit scales and mins ([`scale_min_k4`]):
/// `x = d * scale * q - dmin * min`. In each 64-element chunk `c`, elements
/// `c*64 + l` are the low nibbles and `c*64 + 32 + l` the high nibbles of `qs[c*32 + l]`.
pub(super) fn dequantize_q4_k(b: &[u8; 144], y: &mut [f32; 256]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = field::<144, 12>(b, 4);
    for i in 0..256 {
        let (chunk, hi, l) = (i / 64, (i % 64) / 32, i % 32);
        let byte = b[16 + chunk * 32 + l];
        let q = if hi == 0 { byte & 0x0F } else { byte >> 4 };
        let (sc, m) = scale_min_k4(i / 32, scales);
        y[i] = d * f32::from(sc) * f32::from(q) - dmin * f32::from(m);
    }
}

/// `{f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]}`.
///
/// As `Q4_K` with a fifth bit: element `i`'s is bit `i / 32` of `qh[i % 32]`.
pub(super) fn dequantize_q5_k(b: &[u8; 176], y: &mut [f32; 256]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = field::<176, 12>(b, 4);
    for i in 0..256 {
        let (chunk, hi, l) = (i / 64, (i % 64) / 32, i % 32);
        let byte = b[48 + chunk * 32 + l];
        let low = if hi == 0 { byte & 0x0F } else { byte >> 4 };
        let high = (b[16 + l] >> (i / 32)) & 1;
        let q = low | (high << 4);
        let (sc, m) = scale_min_k4(i / 32, scales);
        y[i] = d * f32::from(sc) * f32::from(q) - dmin * f32::from(m);
    }
}

/// `{u8 ql[128], u8 qh[64], i8 scales[16], f16 d}`.
///
/// 16 sub-blocks of 16 with signed 8-bit scales: `x = d * scale * (q - 32)`. In each
/// 128-element half `h`, element `h*128 + 32*s + l` (s in 0..4) takes its low 4 bits
/// from `ql[h*64 + l + 32*(s%2)]` (low nibble for s < 2) and its top 2 bits from bits
/// `2s..2s+2` of `qh[h*32 + l]`.
pub(super) fn dequantize_q6_k(b: &[u8; 210], y: &mut [f32; 256]) {
    let d = f16_at(b, 208);
    for i in 0..256 {
        let (half, s, l) = (i / 128, (i % 128) / 32, i % 32);
        let ql = b[half * 64 + l + 32 * (s % 2)];
        let low = if s < 2 { ql & 0x0F } else { ql >> 4 };
        let high = (b[128 + half * 32 + l] >> (2 * s)) & 3;
        let q = i32::from(low | (high << 4)) - 32;
        let scale = b[192 + i / 16] as i8;
        y[i] = d * f32::from(scale) * q as f32;
    }
}

/// `{f32 d, i8 qs[256], i16 bsums[16]}`: `x = d * q` (`bsums` are sums of 16 quants, a
/// dot-product helper).
pub(super) fn dequantize_q8_k(b: &[u8; 292], y: &mut [f32; 256]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for i in 0..256 {
        y[i] = d * f32::from(b[4 + i] as i8);
    }
}
