//! Conversions between the f16 cache and f32 working copies, eight values per
//! instruction with F16C. The `half` crate's slice conversions call a function per
//! eight values, which made widening the cache a tenth of a batched decoding step.
//! Both directions give the bits of the scalar conversions: widening is exact, and
//! narrowing rounds to nearest, ties to even, as `f16::from_f32` does.

use half::f16;

/// `dst[i] = src[i]` as f32, over the shorter of the two.
pub(crate) fn widen(src: &[f16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_f16c() {
        // SAFETY: the CPU was just found to support F16C and AVX.
        return unsafe { x86::widen(src, dst) };
    }
    widen_portable(src, dst)
}

fn widen_portable(src: &[f16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

/// `dst[i] = src[i]` rounded to the nearest f16, over the shorter of the two.
pub(crate) fn narrow(src: &[f32], dst: &mut [f16]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_f16c() {
        // SAFETY: the CPU was just found to support F16C and AVX.
        return unsafe { x86::narrow(src, dst) };
    }
    narrow_portable(src, dst)
}

fn narrow_portable(src: &[f32], dst: &mut [f16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s);
    }
}

/// Rounds every value of `x` to the nearest f16 and back.
pub(crate) fn round_through_f16(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_f16c() {
        // SAFETY: the CPU was just found to support F16C and AVX.
        return unsafe { x86::round_through_f16(x) };
    }
    round_through_f16_portable(x)
}

fn round_through_f16_portable(x: &mut [f32]) {
    for v in x {
        *v = f16::from_f32(*v).to_f32();
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use half::f16;

    #[target_feature(enable = "avx,f16c")]
    pub(super) fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let full = n & !7;
        for i in (0..full).step_by(8) {
            // SAFETY: `i + 8 <= full <= n`, within both slices; unaligned access.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        super::widen_portable(&src[full..n], &mut dst[full..n]);
    }

    #[target_feature(enable = "avx,f16c")]
    pub(super) fn narrow(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let full = n & !7;
        for i in (0..full).step_by(8) {
            // SAFETY: `i + 8 <= full <= n`, within both slices; unaligned access.
            unsafe {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(
                    src.as_ptr().add(i),
                ));
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), h);
            }
        }
        super::narrow_portable(&src[full..n], &mut dst[full..n]);
    }

    #[target_feature(enable = "avx,f16c")]
    pub(super) fn round_through_f16(x: &mut [f32]) {
        let full = x.len() & !7;
        for i in (0..full).step_by(8) {
            // SAFETY: `i + 8 <= full`, within `x`; unaligned access.
            unsafe {
                let p = x.as_mut_ptr().add(i);
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(p));
                _mm256_storeu_ps(p, _mm256_cvtph_ps(h));
            }
        }
        super::round_through_f16_portable(&mut x[full..]);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn widening_matches_the_scalar_conversion_for_every_f16() {
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut fast = vec![0f32; all.len() + 3];
        let mut plain = vec![0f32; all.len() + 3];
        // An odd start and length, so that the remainder path runs too.
        widen(&all[1..], &mut fast[..all.len() - 1]);
        widen_portable(&all[1..], &mut plain[..all.len() - 1]);
        for (f, p) in fast.iter().zip(&plain) {
            assert!(f.to_bits() == p.to_bits() || (f.is_nan() && p.is_nan()));
        }
    }

    #[test]
    fn rounding_matches_the_scalar_conversion() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut values: Vec<f32> = (0..10_003)
            .map(|i| match i % 4 {
                0 => rng.random_range(-1.0..1.0),
                1 => rng.random_range(-70_000.0..70_000.0),
                2 => rng.random_range(-1e-6..1e-6),
                _ => f32::from_bits(rng.random()),
            })
            .collect();
        values.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            65_519.0,
            65_520.0,
        ]);
        let mut narrow_fast = vec![f16::ZERO; values.len()];
        let mut narrow_plain = vec![f16::ZERO; values.len()];
        narrow(&values, &mut narrow_fast);
        narrow_portable(&values, &mut narrow_plain);
        for (f, p) in narrow_fast.iter().zip(&narrow_plain) {
            assert!(f.to_bits() == p.to_bits() || (f.is_nan() && p.is_nan()));
        }
        let mut fast = values.clone();
        let mut plain = values;
        round_through_f16(&mut fast);
        round_through_f16_portable(&mut plain);
        for (f, p) in fast.iter().zip(&plain) {
            assert!(
                f.to_bits() == p.to_bits() || (f.is_nan() && p.is_nan()),
                "{f} {p}"
            );
        }
    }
}
