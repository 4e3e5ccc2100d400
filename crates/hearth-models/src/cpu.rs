//! Run-time CPU feature detection for the elementwise code paths and conversions.
//!
//! Those paths use `f32::mul_add`, which is a single instruction with FMA and a slow
//! library call without it; both give the same bits. Each hot function is compiled
//! twice and [`has_fma`] picks the copy to run.

/// Whether this CPU has AVX2 and FMA.
pub(crate) fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has F16C (with the AVX it needs): eight f16 ↔ f32 conversions
/// per instruction, with the scalar conversions' bits.
pub(crate) fn has_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("f16c")
                && std::arch::is_x86_feature_detected!("avx")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX-512 F (with the AVX2 and FMA its code paths also use).
pub(crate) fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| has_fma() && std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `$name` running `$generic` (an `#[inline(always)]` function) compiled
/// with AVX2+FMA when the CPU has them, portably otherwise.
macro_rules! fma_dispatch {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $generic:ident) => {
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn with_fma($($arg: $ty),*) -> $ret {
                    $generic($($arg),*)
                }
                if $crate::cpu::has_fma() {
                    // SAFETY: the CPU was just found to support AVX2 and FMA.
                    return unsafe { with_fma($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}
pub(crate) use fma_dispatch;
