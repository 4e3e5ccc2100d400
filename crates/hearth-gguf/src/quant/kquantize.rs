//! Encoding the 256-element k-quant super-blocks.
//!
//! `Q8_K` is ggml's `quantize_row_q8_K_ref` exactly. `Q2_K`..`Q6_K` follow the shape of
//! ggml's `quantize_row_*_ref` (sub-block scales, then a super-block scale for the
//! scales, then re-quantizing every value against the rounded scales) but pick each
//! sub-block's scale from its plain min/max or signed absolute max rather than ggml's
//! iterative error-minimising search. The bytes are valid blocks; they are not the
//! bytes llama.cpp would write.

// Index arithmetic mirrors ggml's layouts; iterator chains would hide them.
#![allow(clippy::needless_range_loop)]

use super::kquants::{scale_min_k4, scale_q3_k};
use super::{f16_at, field, nearest_int, put_f16};

/// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zeros.
const GROUP_MAX_EPS: f32 = 1e-15;

/// The value with the largest magnitude (sign kept) in `x`, and that magnitude.
fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// Asymmetric sub-block scale for `nmax + 1` levels: `(scale, min)` with
/// `x ≈ scale * q - min`, `min >= 0` (ggml keeps the offset non-positive).
fn min_max_scale(x: &[f32], nmax: f32) -> (f32, f32) {
    let max = x.iter().copied().fold(f32::MIN, f32::max);
    let min = x.iter().copied().fold(0.0f32, f32::min);
    if max <= min {
        return (0.0, -min);
    }
    ((max - min) / nmax, -min)
}

/// Quantizes `v` (0..=max_v) to `levels` steps of `max_v / levels`; 0 when `max_v` is 0.
fn to_levels(v: f32, max_v: f32, levels: f32) -> u8 {
    if max_v > 0.0 {
        nearest_int(v * (levels / max_v)).clamp(0, levels as i32) as u8
    } else {
        0
    }
}

/// `{u8 scales[16], u8 qs[64], f16 d, f16 dmin}`; 16 sub-blocks of 16, 4 levels.
pub(super) fn quantize_q2_k(x: &[f32; 256], b: &mut [u8; 84]) {
    let subs: [(f32, f32); 16] = std::array::from_fn(|j| min_max_scale(&x[16 * j..][..16], 3.0));
    let max_scale = subs.iter().fold(0.0f32, |m, s| m.max(s.0));
    let max_min = subs.iter().fold(0.0f32, |m, s| m.max(s.1));
    for (j, &(scale, min)) in subs.iter().enumerate() {
        b[j] = to_levels(scale, max_scale, 15.0) | (to_levels(min, max_min, 15.0) << 4);
    }
    let d = put_f16(b, 80, max_scale / 15.0);
    let dmin = put_f16(b, 82, max_min / 15.0);

    let mut levels = [0u8; 256];
    for i in 0..256 {
        let dl = d * f32::from(b[i / 16] & 0x0F);
        if dl != 0.0 {
            let ml = dmin * f32::from(b[i / 16] >> 4);
            levels[i] = nearest_int((x[i] + ml) / dl).clamp(0, 3) as u8;
        }
    }
    pack_2bit(&levels, &mut b[16..80]);
}

/// Bits `2s..2s+2` of byte `h*32 + l` hold element `h*128 + 32*s + l`.
fn pack_2bit(levels: &[u8; 256], qs: &mut [u8]) {
    for i in 0..256 {
        let (half, s, l) = (i / 128, (i % 128) / 32, i % 32);
        qs[half * 32 + l] |= (levels[i] & 3) << (2 * s);
    }
}

/// `{u8 hmask[32], u8 qs[64], u8 scales[12], f16 d}`; 16 sub-blocks of 16, q in -4..=3.
pub(super) fn quantize_q3_k(x: &[f32; 256], b: &mut [u8; 110]) {
    // Sub-block scale maps its signed extreme to -4, as ggml's `make_q3_quants` starts.
    let subs: [f32; 16] = std::array::from_fn(|j| {
        let (amax, max) = signed_absmax(&x[16 * j..][..16]);
        if amax < GROUP_MAX_EPS {
            0.0
        } else {
            max / -4.0
        }
    });
    let (_, max_scale) = signed_absmax(&subs);
    if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &scale) in subs.iter().enumerate() {
            let l = (nearest_int(iscale * scale).clamp(-32, 31) + 32) as u8;
            if j < 8 {
                b[96 + j] |= l & 0x0F;
            } else {
                b[96 + j - 8] |= (l & 0x0F) << 4;
            }
            b[104 + j % 4] |= (l >> 4) << (2 * (j / 4));
        }
        put_f16(b, 108, 1.0 / iscale);
    }
    let d = f16_at(b, 108);
    let scales = *field::<110, 12>(b, 96);

    let mut levels = [4u8; 256];
    for i in 0..256 {
        let dl = d * scale_q3_k(i / 16, &scales) as f32;
        if dl != 0.0 {
            levels[i] = (nearest_int(x[i] / dl).clamp(-4, 3) + 4) as u8;
        }
    }
    for i in 0..256 {
        if levels[i] > 3 {
            b[i % 32] |= 1 << (i / 32);
        }
    }
    pack_2bit(&levels, &mut b[32..96]);
}

/// Shared by `Q4_K` and `Q5_K`: writes `d`, `dmin` and the packed 6-bit `scales` of
/// 8 sub-blocks of 32, and returns each element's level in `0..=nmax`.
fn quantize_scale_min_k4<const B: usize>(x: &[f32; 256], nmax: f32, b: &mut [u8; B]) -> [u8; 256] {
    let subs: [(f32, f32); 8] = std::array::from_fn(|j| min_max_scale(&x[32 * j..][..32], nmax));
    let max_scale = subs.iter().fold(0.0f32, |m, s| m.max(s.0));
    let max_min = subs.iter().fold(0.0f32, |m, s| m.max(s.1));
    for (j, &(scale, min)) in subs.iter().enumerate() {
        let ls = to_levels(scale, max_scale, 63.0);
        let lm = to_levels(min, max_min, 63.0);
        if j < 4 {
            b[4 + j] = ls;
            b[4 + j + 4] = lm;
        } else {
            b[4 + j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            b[4 + j - 4] |= (ls >> 4) << 6;
            b[4 + j] |= (lm >> 4) << 6;
        }
    }
    let d = put_f16(b, 0, max_scale / 63.0);
    let dmin = put_f16(b, 2, max_min / 63.0);
    let scales = *field::<B, 12>(b, 4);

    let mut levels = [0u8; 256];
    for i in 0..256 {
        let (sc, m) = scale_min_k4(i / 32, &scales);
        let dl = d * f32::from(sc);
        if dl != 0.0 {
            let ml = dmin * f32::from(m);
            levels[i] = nearest_int((x[i] + ml) / dl).clamp(0, nmax as i32) as u8;
        }
    }
    levels
}

/// `{f16 d, f16 dmin, u8 scales[12], u8 qs[128]}`; 8 sub-blocks of 32, 16 levels.
pub(super) fn quantize_q4_k(x: &[f32; 256], b: &mut [u8; 144]) {
    let levels = quantize_scale_min_k4(x, 15.0, b);
    for i in 0..256 {
        let (chunk, hi, l) = (i / 64, (i % 64) / 32, i % 32);
        b[16 + chunk * 32 + l] |= levels[i] << (4 * hi);
    }
}

/// `{f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]}`; 8 sub-blocks of 32,
/// 32 levels.
pub(super) fn quantize_q5_k(x: &[f32; 256], b: &mut [u8; 176]) {
    let levels = quantize_scale_min_k4(x, 31.0, b);
    for i in 0..256 {
        let (chunk, hi, l) = (i / 64, (i % 64) / 32, i % 32);
        b[48 + chunk * 32 + l] |= (levels[i] & 0x0F) << (4 * hi);
        b[16 + l] |= (levels[i] >> 4) << (i / 32);
    }
}

/// `{u8 ql[128], u8 qh[64], i8 scales[16], f16 d}`; 16 sub-blocks of 16, q in -32..=31.
pub(super) fn quantize_q6_k(x: &[f32; 256], b: &mut [u8; 210]) {
    // Sub-block scale maps its signed extreme to -32, as ggml's `make_qx_quants` starts.
    let subs: [f32; 16] = std::array::from_fn(|j| {
        let (amax, max) = signed_absmax(&x[16 * j..][..16]);
        if amax < GROUP_MAX_EPS {
            0.0
        } else {
            max / -32.0
        }
    });
    let (max_abs_scale, max_scale) = signed_absmax(&subs);
    if max_abs_scale < GROUP_MAX_EPS {
        return; // an all-zero block
    }
    let iscale = -128.0 / max_scale;
    let d = put_f16(b, 208, 1.0 / iscale);
    for (j, &scale) in subs.iter().enumerate() {
        b[192 + j] = nearest_int(iscale * scale).min(127) as i8 as u8;
    }
    for i in 0..256 {
        let dl = d * f32::from(b[192 + i / 16] as i8);
        let level = if dl != 0.0 {
            (nearest_int(x[i] / dl).clamp(-32, 31) + 32) as u8
        } else {
            32
        };
        let (half, s, l) = (i / 128, (i % 128) / 32, i % 32);
        b[half * 64 + l + 32 * (s % 2)] |= (level & 0x0F) << (4 * (s / 2));
        b[128 + half * 32 + l] |= (level >> 4) << (2 * s);
    }
}

/// ggml's `quantize_row_q8_K_ref`: `d = max / -127` for the signed value of largest
/// magnitude, `q = min(127, nearest(x / d))`, plus the 16-element sums `bsums`.
pub(super) fn quantize_q8_k(x: &[f32; 256], b: &mut [u8; 292]) {
    let (amax, max) = signed_absmax(x);
    if amax == 0.0 {
        return; // d = 0 and all quants 0
    }
    let iscale = -127.0 / max;
    let mut qs = [0i8; 256];
    for i in 0..256 {
        qs[i] = nearest_int(iscale * x[i]).min(127) as i8;
        b[4 + i] = qs[i] as u8;
    }
    for j in 0..16 {
        let sum: i32 = qs[16 * j..][..16].iter().map(|&q| i32::from(q)).sum();
        b[260 + 2 * j..][..2].copy_from_slice(&(sum as i16).to_le_bytes());
    }
    b[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}
