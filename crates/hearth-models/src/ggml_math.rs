//! Elementwise functions computed bit for bit as llama.cpp's CPU backend computes
//! them on x86 with AVX-512 (its `ggml_v_expf` polynomial, its softmax reduction).
//!
//! SmolLM2-class models have massive activations: a few channels reach thousands,
//! so blocks of 32 get quantized with scales so coarse that a one-ulp difference in
//! an earlier SiLU can flip a quantized value and change the next token. Matching
//! llama.cpp's arithmetic here is what makes greedy outputs token-exact.

/// `eˣ` by ggml's polynomial (max error about 1.5 ulp), with its rounding.
#[inline(always)]
pub(crate) fn expf(x: f32) -> f32 {
    let r = f32::from_bits(0x4B40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3FB8_AA3B), r); // x · log2(e) + r
    let n = z - r;
    if n.abs() > 192.0 || n.is_nan() {
        return if x > 0.0 { f32::INFINITY } else { 0.0 };
    }
    let b = (-n).mul_add(
        f32::from_bits(0x35BF_BE8E),
        (-n).mul_add(f32::from_bits(0x3F31_7200), x),
    );
    let u = b * b;
    let p_hi = f32::from_bits(0x3C07_2010).mul_add(b, f32::from_bits(0x3D2B_9F17));
    let p_lo = f32::from_bits(0x3E2A_AF33).mul_add(b, f32::from_bits(0x3EFF_FEDB));
    let p_one = f32::from_bits(0x3F7F_FFF6).mul_add(b, 1.0);
    let j = p_hi.mul_add(u, p_lo).mul_add(u, p_one);
    scalef(j, n as i32)
}

/// `j · 2ⁿ` with one rounding, like `_mm512_scalef_ps` for integral `n`.
#[inline(always)]
fn scalef(j: f32, n: i32) -> f32 {
    if (-126..=127).contains(&n) {
        j * f32::from_bits(((n + 127) as u32) << 23)
    } else if n > 127 {
        j * f32::from_bits(254 << 23) * f32::from_bits(((n - 127 + 127).min(254) as u32) << 23)
    } else {
        (j as f64 * 2f64.powi(n)) as f32
    }
}

/// `x / (1 + e⁻ˣ)`, as `ggml_v_silu`.
#[inline(always)]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + expf(0.0 - x))
}

/// GELU (tanh form) as ggml computes it on the CPU: looked up in a table of every f16
/// input, holding f16 results; inputs beyond ±10 are cut off.
pub(crate) fn gelu(x: f32) -> f32 {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    let table = TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let v = half::f16::from_bits(bits).to_f32();
                half::f16::from_f32(gelu_exact(v)).to_f32()
            })
            .collect()
    });
    table[half::f16::from_f32(x).to_bits() as usize]
}

fn gelu_exact(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044_715;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + COEF_A * x * x)).tanh())
}

/// In-place softmax of one attention row, as `ggml_compute_forward_soft_max_f32`
/// computes it: exponentials in groups of 16 lanes, each group summed into an f64
/// total, then every value scaled by the f32 reciprocal of the total.
///
/// llama.cpp's rows span its whole padded cache view, a multiple of 16 cells whose
/// tail is masked to zero; so every value here goes through the vector `expf`, and a
/// short last group is summed as if padded with zeros.
#[inline(always)]
pub(crate) fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for chunk in row.chunks_mut(16) {
        let mut v = [0f32; 16];
        for (out, x) in v.iter_mut().zip(chunk.iter_mut()) {
            *x = expf(*x - max);
            *out = *x;
        }
        sum += reduce_16(&v) as f64;
    }
    let scale = (1.0 / sum) as f32;
    row.iter_mut().for_each(|x| *x *= scale);
}

/// The addition tree of `_mm512_reduce_add_ps`.
#[inline(always)]
pub(crate) fn reduce_16(v: &[f32; 16]) -> f32 {
    let t3: [f32; 8] = std::array::from_fn(|i| v[i + 8] + v[i]);
    let t6: [f32; 4] = std::array::from_fn(|i| t3[i + 4] + t3[i]);
    (t6[0] + t6[2]) + (t6[1] + t6[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_is_within_two_ulp_of_libm() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (got, want) = (expf(x), x.exp());
            assert!((got - want).abs() <= want * 3e-7, "{x}: {got} vs {want}");
            x += 0.0137;
        }
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(0.0), 1.0);
    }

    #[test]
    fn silu_matches_its_definition() {
        for x in [-20.0f32, -1.0, 0.0, 0.5, 3.0, 46.0] {
            let want = x / (1.0 + (-x).exp());
            assert!((silu(x) - want).abs() <= want.abs() * 1e-6 + 1e-12, "{x}");
        }
    }

    #[test]
    fn gelu_follows_its_tanh_form_to_f16_precision() {
        for x in [-12.0f32, -3.0, -0.5, 0.0, 0.7, 2.0, 9.9, 11.0] {
            let want = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x
            } else {
                gelu_exact(x)
            };
            assert!((gelu(x) - want).abs() <= want.abs() * 2e-3 + 1e-3, "{x}");
        }
    }

    #[test]
    fn softmax_sums_to_one_and_masks() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).sin()).collect();
        row[5] = f32::NEG_INFINITY;
        softmax(&mut row);
        assert_eq!(row[5], 0.0);
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }
}
