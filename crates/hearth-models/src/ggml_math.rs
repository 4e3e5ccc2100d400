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
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    gelu_table()[half::f16::from_f32(x).to_bits() as usize]
}

/// GELU of every f16 (indexed by its bits), rounded to f16.
fn gelu_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let v = half::f16::from_bits(bits).to_f32();
                half::f16::from_f32(gelu_exact(v)).to_f32()
            })
            .collect()
    })
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
pub(crate) fn softmax(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx512f() {
        // SAFETY: the CPU was just found to support AVX-512 F, AVX2 and FMA.
        return unsafe { avx512::softmax(row) };
    }
    softmax_portable(row)
}

#[inline(always)]
pub(crate) fn softmax_portable(row: &mut [f32]) {
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

/// Sixteen lanes at a time, with the same bits as the scalar functions above.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::expf`] of sixteen values: the same polynomial and rounding, and
    /// `_mm512_scalef_ps`, which [`super::scalef`] copies.
    #[target_feature(enable = "avx512f")]
    fn expf(x: __m512) -> __m512 {
        let c = |bits: u32| _mm512_set1_ps(f32::from_bits(bits));
        let r = c(0x4B40_0000);
        let z = _mm512_fmadd_ps(x, c(0x3FB8_AA3B), r);
        let n = _mm512_sub_ps(z, r);
        let minus_n = _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(n),
            _mm512_set1_epi32(i32::MIN),
        ));
        let b = _mm512_fmadd_ps(
            minus_n,
            c(0x35BF_BE8E),
            _mm512_fmadd_ps(minus_n, c(0x3F31_7200), x),
        );
        let u = _mm512_mul_ps(b, b);
        let p_hi = _mm512_fmadd_ps(c(0x3C07_2010), b, c(0x3D2B_9F17));
        let p_lo = _mm512_fmadd_ps(c(0x3E2A_AF33), b, c(0x3EFF_FEDB));
        let p_one = _mm512_fmadd_ps(c(0x3F7F_FFF6), b, _mm512_set1_ps(1.0));
        let j = _mm512_fmadd_ps(_mm512_fmadd_ps(p_hi, u, p_lo), u, p_one);
        // Out of range (or NaN): infinity above zero, zero otherwise.
        let in_range = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
        let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, _mm512_setzero_ps());
        let beyond = _mm512_maskz_mov_ps(positive, _mm512_set1_ps(f32::INFINITY));
        _mm512_mask_blend_ps(in_range, beyond, _mm512_scalef_ps(j, n))
    }

    /// Lanes `0..len` set.
    #[target_feature(enable = "avx512f")]
    fn first(len: usize) -> __mmask16 {
        _cvtu32_mask16((1u32 << len.min(16)) - 1)
    }

    /// `out[i] = op(g[i]) · u[i]`, sixteen at a time.
    #[target_feature(enable = "avx512f")]
    fn gated(g: &[f32], u: &[f32], out: &mut [f32], op: impl Fn(__m512) -> __m512) {
        let n = out.len().min(g.len()).min(u.len());
        for i in (0..n).step_by(16) {
            let m = first(n - i);
            // SAFETY: the mask covers values below `n`, within all three slices.
            unsafe {
                let x = _mm512_maskz_loadu_ps(m, g.as_ptr().add(i));
                let y = _mm512_maskz_loadu_ps(m, u.as_ptr().add(i));
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(i), m, _mm512_mul_ps(op(x), y));
            }
        }
    }

    /// `out[i] = silu(g[i]) · u[i]` with [`super::silu`]'s bits.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn silu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
        gated(g, u, out, |x| {
            let e = expf(_mm512_sub_ps(_mm512_setzero_ps(), x));
            _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
        })
    }

    /// `out[i] = gelu(g[i]) · u[i]` with [`super::gelu`]'s bits: the table looked up
    /// sixteen lanes at a time.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn gelu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
        let table = super::gelu_table();
        gated(g, u, out, |x| {
            let bits = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
            let index = _mm512_cvtepu16_epi32(bits);
            // SAFETY: every 16-bit index lies in the 65,536-entry table.
            let looked_up = unsafe { _mm512_i32gather_ps::<4>(index, table.as_ptr().cast()) };
            let low = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, _mm512_set1_ps(-10.0));
            let high = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(10.0));
            let v = _mm512_mask_blend_ps(high, looked_up, x);
            _mm512_mask_blend_ps(low, v, _mm512_setzero_ps())
        })
    }

    /// [`super::softmax_portable`], sixteen exponentials per instruction and sixteen
    /// group sums per reduction.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn softmax(row: &mut [f32]) {
        let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
        for chunk in row.chunks(16) {
            // SAFETY: the mask covers `chunk`'s values only.
            let x = unsafe { _mm512_mask_loadu_ps(max, first(chunk.len()), chunk.as_ptr()) };
            // NaN in `x` keeps the running maximum, as `f32::max` does.
            max = _mm512_max_ps(x, max);
        }
        let mut lanes = [0f32; 16];
        // SAFETY: sixteen floats.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), max) };
        let max = _mm512_set1_ps(lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let mut sum = 0f64;
        for group in row.chunks_mut(16 * 16) {
            let mut sums = [_mm512_setzero_ps(); 16];
            let chunks = group.len().div_ceil(16);
            for (chunk, s) in group.chunks_mut(16).zip(&mut sums) {
                let m = first(chunk.len());
                // SAFETY: the mask covers `chunk`'s values only.
                unsafe {
                    let e = expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, chunk.as_ptr()), max));
                    _mm512_mask_storeu_ps(chunk.as_mut_ptr(), m, e);
                    // A short last group adds zeros, as llama.cpp's padded row does.
                    *s = _mm512_maskz_mov_ps(m, e);
                }
            }
            // SAFETY: sixteen floats.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), reduce_each(sums)) };
            for &s in &lanes[..chunks] {
                sum += s as f64;
            }
        }
        let scale = (1.0 / sum) as f32;
        row.iter_mut().for_each(|x| *x *= scale);
    }

    /// Lane `j` of the result is `v[j]` reduced as `_mm512_reduce_add_ps` reduces it:
    /// halves added (lanes `l` and `l + 8`), then quarters (`l`, `l + 4`), then
    /// `(t0 + t2) + (t1 + t3)`. Each level adds the same pairs for two registers at
    /// once, gathered by shuffles.
    #[target_feature(enable = "avx512f")]
    pub(crate) fn reduce_each(v: [__m512; 16]) -> __m512 {
        // Register p: v[2p]'s eight half sums, then v[2p + 1]'s.
        let halves: [__m512; 8] = std::array::from_fn(|p| {
            let (x, y) = (v[2 * p], v[2 * p + 1]);
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x44>(x, y),
                _mm512_shuffle_f32x4::<0xEE>(x, y),
            )
        });
        // Register q, 128-bit lane k: v[4q + k]'s four quarter sums.
        let quarters: [__m512; 4] = std::array::from_fn(|q| {
            let (x, y) = (halves[2 * q], halves[2 * q + 1]);
            _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(x, y),
                _mm512_shuffle_f32x4::<0xDD>(x, y),
            )
        });
        // Register r, lane k: (t0 + t2, t1 + t3) of v[8r + k], then of v[8r + 4 + k].
        let pairs: [__m512; 2] = std::array::from_fn(|r| {
            let (x, y) = (quarters[2 * r], quarters[2 * r + 1]);
            _mm512_add_ps(
                _mm512_shuffle_ps::<0x44>(x, y),
                _mm512_shuffle_ps::<0xEE>(x, y),
            )
        });
        // Lane 4k + e: the sum of v[4e + k].
        let (x, y) = (pairs[0], pairs[1]);
        let sums = _mm512_add_ps(
            _mm512_shuffle_ps::<0x88>(x, y),
            _mm512_shuffle_ps::<0xDD>(x, y),
        );
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm512_permutexvar_ps(order, sums)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_softmax_equals_the_scalar_one_bit_for_bit() {
        if !crate::cpu::has_avx512f() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for len in [1, 5, 16, 17, 100, 255, 256, 257, 600] {
            // Wide spreads reach subnormal exponentials, then the cut-off to zero.
            for spread in [1.0, 30.0, 120.0, 500.0] {
                let mut row: Vec<f32> = (0..len)
                    .map(|_| rng.random_range(-0.5..0.5) * spread)
                    .collect();
                row[len / 3] = f32::NEG_INFINITY;
                let mut want = row.clone();
                softmax_portable(&mut want);
                // SAFETY: AVX-512 F was just detected (with the AVX2 and FMA it implies here).
                unsafe { avx512::softmax(&mut row) };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&row), bits(&want), "{len} {spread}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_sixteen_way_reduction_adds_as_reduce_16_does() {
        if !crate::cpu::has_avx512f() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        // Magnitudes far apart, so that any other order of additions rounds differently.
        let v: [[f32; 16]; 16] = std::array::from_fn(|_| {
            std::array::from_fn(|_| {
                rng.random_range(-1.0..1.0) * 10f32.powi(rng.random_range(-6..7))
            })
        });
        // SAFETY: AVX-512 F was just detected; each row holds sixteen floats.
        let got: [f32; 16] = unsafe {
            use std::arch::x86_64::*;
            let regs = v.map(|row| _mm512_loadu_ps(row.as_ptr()));
            let mut out = [0f32; 16];
            _mm512_storeu_ps(out.as_mut_ptr(), avx512::reduce_each(regs));
            out
        };
        for (j, row) in v.iter().enumerate() {
            assert_eq!(got[j].to_bits(), reduce_16(row).to_bits(), "row {j}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_silu_and_gelu_equal_the_scalar_ones_bit_for_bit() {
        if !crate::cpu::has_avx512f() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        for n in [1, 15, 16, 17, 100, 1000] {
            let g: Vec<f32> = (0..n)
                .map(|i| match i % 7 {
                    0 => rng.random_range(-200.0..200.0),
                    1 => [-10.0, 10.0, -9.999, 9.999, 0.0, -0.0, 88.7][i % 7],
                    _ => rng.random_range(-12.0..12.0),
                })
                .collect();
            let u: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut got = vec![0f32; n];
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // SAFETY: AVX-512 F was just detected.
            unsafe { avx512::silu_mul(&g, &u, &mut got) };
            let want: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
            assert_eq!(bits(&got), bits(&want), "silu {n}");
            // SAFETY: as above.
            unsafe { avx512::gelu_mul(&g, &u, &mut got) };
            let want: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| gelu(g) * u).collect();
            assert_eq!(bits(&got), bits(&want), "gelu {n}");
        }
    }
}
