//! The dot products of attention, with llama.cpp's lane layouts and addition trees.
//!
//! Both kinds are taken between a few vectors and many rows: a row's query heads
//! against every key they see, its attention weights against every value dimension.
//! With AVX-512, each row is loaded once for up to four vectors, every pair keeps
//! its own 16-lane accumulators, and sixteen 16-lane reductions run as one tree of
//! shuffles and adds across registers that pairs the same numbers as
//! `_mm512_reduce_add_ps` (`ggml_math::avx512::reduce_each`). Without AVX-512 the
//! pairs go one (or four) at a time through AVX2 or portable code. Every path gives
//! the same bits.

use half::f16;

use crate::{cpu, ggml_math};

/// Rows of a matrix: row `j` is `data[j · stride..][..len]`, for `j < count`.
pub(crate) struct Mat<'a, T = f32> {
    pub data: &'a [T],
    pub stride: usize,
    pub count: usize,
    pub len: usize,
}

impl<T> Clone for Mat<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Mat<'_, T> {}

impl<'a, T> Mat<'a, T> {
    pub(crate) fn row(&self, j: usize) -> &'a [T] {
        &self.data[j * self.stride..][..self.len]
    }

    /// Whether every row lies in `data`.
    fn fits(&self) -> bool {
        self.count == 0 || self.data.len() >= (self.count - 1) * self.stride + self.len
    }
}

/// `out[r · out_stride + j] = dot16(a.row(j), b.row(r))` for every row `j` of `a` and
/// `r` of `b`.
pub(crate) fn dot16_each(a: Mat, b: Mat, out: &mut [f32], out_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512f() && a.len.is_multiple_of(16) && fit(a, b, out, out_stride) {
        // SAFETY: the CPU was just found to support AVX-512 F; every row of `a` and
        // `b` lies in its slice and holds a multiple of 16 values, every output in
        // `out`.
        return unsafe { avx512::dot16_each(a, b, out, out_stride) };
    }
    for r in 0..b.count {
        let out = &mut out[r * out_stride..][..a.count];
        let quads = a.count / 4 * 4;
        for (q, four) in out[..quads].chunks_exact_mut(4).enumerate() {
            four.copy_from_slice(&dot16_x4(
                std::array::from_fn(|j| a.row(4 * q + j)),
                b.row(r),
            ));
        }
        for (j, o) in out.iter_mut().enumerate().skip(quads) {
            *o = dot16(a.row(j), b.row(r));
        }
    }
}

/// `out[r · out_stride + j] = vec_dot_f16(a.row(j), b.row(r))` for every row `j` of
/// `a` and `r` of `b`; `a` may be f16, as the cache holds keys and values, and is
/// then widened (exactly) as it is read.
pub(crate) fn vec_dot_f16_each<T: Value>(a: Mat<T>, b: Mat, out: &mut [f32], out_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512f()
        && cpu::has_f16c()
        && a.len.is_multiple_of(64)
        && fit(a, b, out, out_stride)
    {
        // SAFETY: as in `dot16_each`, with a multiple of 64 values per row; the
        // kernel is compiled for F16C as well, which the CPU has.
        return unsafe { avx512::vec_dot_f16_each(a, b, out, out_stride) };
    }
    let mut buf = Vec::new();
    for j in 0..a.count {
        let row = T::widened(a.row(j), &mut buf);
        for r in 0..b.count {
            out[r * out_stride + j] = vec_dot_f16(row, b.row(r));
        }
    }
}

/// Values the rows of `vec_dot_f16_each`'s `a` may hold.
pub(crate) trait Value: Copy {
    /// `row` as f32: itself, or widened into `buf`.
    fn widened<'a>(row: &'a [Self], buf: &'a mut Vec<f32>) -> &'a [f32];

    /// Sixteen values at `p` as one register of f32.
    ///
    /// # Safety
    /// Sixteen values are readable at `p`; the CPU supports AVX-512 F and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
}

impl Value for f32 {
    fn widened<'a>(row: &'a [f32], _: &'a mut Vec<f32>) -> &'a [f32] {
        row
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(p: *const f32) -> std::arch::x86_64::__m512 {
        // SAFETY: passed on.
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
}

impl Value for f16 {
    fn widened<'a>(row: &'a [f16], buf: &'a mut Vec<f32>) -> &'a [f32] {
        buf.resize(row.len(), 0.0);
        super::f16c::widen(row, buf);
        buf
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx512f,f16c")]
    unsafe fn load16(p: *const f16) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::{_mm256_loadu_si256, _mm512_cvtph_ps};
        // SAFETY: passed on; every f16 widens to f32 exactly.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}

/// Whether `a` and `b` have rows of one length within their slices, and `out` has
/// room for `b.count` rows of `a.count` results, `out_stride` apart.
fn fit<T>(a: Mat<T>, b: Mat, out: &[f32], out_stride: usize) -> bool {
    let room = b.count == 0 || out.len() >= (b.count - 1) * out_stride + a.count;
    a.len == b.len && a.fits() && b.fits() && room
}

/// `Σ aᵢ·bᵢ` accumulated in 16 lanes with fused multiply-adds (lane `l` takes
/// elements `l, l + 16, …`), then reduced as `_mm512_reduce_add_ps` does; a length
/// that is not a multiple of 16 is padded with zeros.
#[inline(always)]
fn dot16(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::dot16(a, b) };
    }
    dot16_portable(a, b)
}

/// [`dot16`] of four vectors `a[j]` with the same `b`, each bit for bit as alone.
#[inline(always)]
fn dot16_x4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::dot16_x4(a, b) };
    }
    a.map(|a| dot16_portable(a, b))
}

#[inline(always)]
pub(crate) fn dot16_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            lanes[l] = x[l].mul_add(y[l], lanes[l]);
        }
    }
    for (l, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        lanes[l] = x.mul_add(y, lanes[l]);
    }
    ggml_math::reduce_16(&lanes)
}

/// `Σ aᵢ·bᵢ` as `ggml_vec_dot_f16` computes it with AVX-512: four accumulators of 16
/// fused lanes over steps of 64, summed pairwise, reduced, then the remainder added
/// in f64.
#[inline(always)]
fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_fma() {
        // SAFETY: the CPU was just found to support AVX2 and FMA.
        return unsafe { avx2::vec_dot_f16(a, b) };
    }
    vec_dot_f16_portable(a, b)
}

#[inline(always)]
pub(crate) fn vec_dot_f16_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let np = n & !63;
    let mut acc = [[0f32; 16]; 4];
    for (ca, cb) in a[..np].chunks_exact(64).zip(b[..np].chunks_exact(64)) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let k = 16 * j + l;
                *lane = ca[k].mul_add(cb[k], *lane);
            }
        }
    }
    let x02: [f32; 16] = std::array::from_fn(|l| acc[0][l] + acc[2][l]);
    let x13: [f32; 16] = std::array::from_fn(|l| acc[1][l] + acc[3][l]);
    let x: [f32; 16] = std::array::from_fn(|l| x02[l] + x13[l]);
    let mut sum = ggml_math::reduce_16(&x) as f64;
    for k in np..n {
        sum += (a[k] * b[k]) as f64;
    }
    sum as f32
}

/// The same dot products with explicit AVX2 vectors: each 16-lane accumulator is two
/// 8-lane registers, every lane sees the same fused multiply-adds in the same order,
/// and the reductions are the portable ones, so the bits are the same.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::ggml_math;

    #[target_feature(enable = "avx2,fma")]
    fn store16(lo: __m256, hi: __m256) -> [f32; 16] {
        let mut out = [0f32; 16];
        let (first, second) = out.split_at_mut(8);
        // SAFETY: each half holds exactly 8 floats.
        unsafe {
            _mm256_storeu_ps(first.as_mut_ptr(), lo);
            _mm256_storeu_ps(second.as_mut_ptr(), hi);
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot16(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let full = n & !15;
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..full).step_by(16) {
            // SAFETY: `i + 16 <= full <= n`, within both slices.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                lo = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), lo);
                hi = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(8)), _mm256_loadu_ps(pb.add(8)), hi);
            }
        }
        let mut lanes = store16(lo, hi);
        for (l, k) in (full..n).enumerate() {
            lanes[l] = a[k].mul_add(b[k], lanes[l]);
        }
        ggml_math::reduce_16(&lanes)
    }

    /// [`dot16`] for four `a` of `b`'s length at once: eight independent chains.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot16_x4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        let n = a.iter().map(|a| a.len()).fold(b.len(), usize::min);
        let full = n & !15;
        let (mut lo, mut hi) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
        for i in (0..full).step_by(16) {
            // SAFETY: `i + 16 <= full <= n`, within every slice.
            unsafe {
                let pb = b.as_ptr().add(i);
                let (b_lo, b_hi) = (_mm256_loadu_ps(pb), _mm256_loadu_ps(pb.add(8)));
                for j in 0..4 {
                    let pa = a[j].as_ptr().add(i);
                    lo[j] = _mm256_fmadd_ps(_mm256_loadu_ps(pa), b_lo, lo[j]);
                    hi[j] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(8)), b_hi, hi[j]);
                }
            }
        }
        std::array::from_fn(|j| {
            let mut lanes = store16(lo[j], hi[j]);
            for (l, k) in (full..n).enumerate() {
                lanes[l] = a[j][k].mul_add(b[k], lanes[l]);
            }
            ggml_math::reduce_16(&lanes)
        })
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn vec_dot_f16(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let np = n & !63;
        let mut acc = [_mm256_setzero_ps(); 8];
        for i in (0..np).step_by(64) {
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + 64 <= np <= n`, within both slices.
                unsafe {
                    let (pa, pb) = (a.as_ptr().add(i + 8 * r), b.as_ptr().add(i + 8 * r));
                    *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), *acc);
                }
            }
        }
        // Registers 2j and 2j+1 are the low and high halves of accumulator j.
        let x02 = (_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[1], acc[5]));
        let x13 = (_mm256_add_ps(acc[2], acc[6]), _mm256_add_ps(acc[3], acc[7]));
        let x = store16(_mm256_add_ps(x02.0, x13.0), _mm256_add_ps(x02.1, x13.1));
        let mut sum = ggml_math::reduce_16(&x) as f64;
        for k in np..n {
            sum += (a[k] * b[k]) as f64;
        }
        sum as f32
    }
}

/// Sixteen dot products at a time with 512-bit registers.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Mat, Value};
    use crate::ggml_math::avx512::reduce_each;

    /// Accumulators reduced together: one register of results.
    const LANES: usize = 16;

    /// Row `j` of `a`, or row `first` in place of rows past the end (whose results
    /// are dropped).
    fn row_ptr<T>(a: Mat<T>, first: usize, j: usize) -> *const T {
        let row = if j < a.count { j } else { first };
        a.data[row * a.stride..].as_ptr()
    }

    #[target_feature(enable = "avx512f")]
    fn lanes(v: __m512) -> [f32; LANES] {
        let mut lanes = [0f32; LANES];
        // SAFETY: sixteen floats.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes
    }

    /// See [`super::dot16_each`]: up to four rows of `b` at a time, against four rows
    /// of `a` at a time, or eight when a row of `b` is alone (at least eight
    /// dependency chains either way).
    ///
    /// # Safety
    /// The CPU must support AVX-512 F; the operands are as `super::fit` checks, with
    /// rows of a multiple of 16 values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot16_each(a: Mat, b: Mat, out: &mut [f32], out_stride: usize) {
        for r0 in (0..b.count).step_by(4) {
            let out = &mut out[r0 * out_stride..];
            // SAFETY (each arm): passed on.
            unsafe {
                match (b.count - r0).min(4) {
                    1 => dot16_block::<1, 8>(a, b, r0, out, out_stride),
                    2 => dot16_block::<2, 4>(a, b, r0, out, out_stride),
                    3 => dot16_block::<3, 4>(a, b, r0, out, out_stride),
                    _ => dot16_block::<4, 4>(a, b, r0, out, out_stride),
                }
            }
        }
    }

    /// `dot16` of rows `r0..r0 + R` of `b` with the rows of `a`, `S` rows of `a` at a
    /// time: `R · S` accumulators, each row of `a` loaded once for all `R`.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot16_block<const R: usize, const S: usize>(
        a: Mat,
        b: Mat,
        r0: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        // Rows of `a` per reduction: R · per lanes used.
        let per = LANES / R / S * S;
        let vs: [*const f32; R] = std::array::from_fn(|r| b.row(r0 + r).as_ptr());
        for j0 in (0..a.count).step_by(per) {
            let mut sums = [_mm512_setzero_ps(); LANES];
            for q in (0..per).step_by(S) {
                let rows: [*const f32; S] = std::array::from_fn(|k| row_ptr(a, j0, j0 + q + k));
                let mut acc = [[_mm512_setzero_ps(); S]; R];
                for i in (0..a.len).step_by(16) {
                    // SAFETY: `i + 16 <= len`, within every row of `a` and `b`.
                    unsafe {
                        let rv: [__m512; S] =
                            std::array::from_fn(|k| _mm512_loadu_ps(rows[k].add(i)));
                        for (acc, v) in acc.iter_mut().zip(vs) {
                            let vv = _mm512_loadu_ps(v.add(i));
                            for (acc, rv) in acc.iter_mut().zip(rv) {
                                *acc = _mm512_fmadd_ps(rv, vv, *acc);
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    sums[r * per + q..][..S].copy_from_slice(acc);
                }
            }
            scatter::<R>(
                reduce_each(sums),
                per,
                a.count - j0,
                &mut out[j0..],
                out_stride,
            );
        }
    }

    /// See [`super::vec_dot_f16_each`]: as [`dot16_each`], one row of `a` at a time
    /// against up to four rows of `b`, or four rows of `a` against one.
    ///
    /// # Safety
    /// As [`dot16_each`], with rows of a multiple of 64 values; for f16 rows the CPU
    /// must support F16C.
    #[target_feature(enable = "avx512f,f16c")]
    pub(super) unsafe fn vec_dot_f16_each<T: Value>(
        a: Mat<T>,
        b: Mat,
        out: &mut [f32],
        out_stride: usize,
    ) {
        for r0 in (0..b.count).step_by(4) {
            let out = &mut out[r0 * out_stride..];
            // SAFETY (each arm): passed on.
            unsafe {
                match (b.count - r0).min(4) {
                    1 => vec_dot_f16_block::<T, 1, 4>(a, b, r0, out, out_stride),
                    2 => vec_dot_f16_block::<T, 2, 2>(a, b, r0, out, out_stride),
                    3 => vec_dot_f16_block::<T, 3, 2>(a, b, r0, out, out_stride),
                    _ => vec_dot_f16_block::<T, 4, 1>(a, b, r0, out, out_stride),
                }
            }
        }
    }

    /// `vec_dot_f16` of rows `r0..r0 + R` of `b` with the rows of `a`, `S` rows of `a`
    /// at a time: `4 · R · S` accumulators, each row of `a` loaded once for all `R`.
    #[target_feature(enable = "avx512f,f16c")]
    unsafe fn vec_dot_f16_block<T: Value, const R: usize, const S: usize>(
        a: Mat<T>,
        b: Mat,
        r0: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        // Rows of `a` per reduction: a multiple of four, so that pieces of rows cut
        // at multiples of four fill whole reductions.
        let per = LANES / R / 4 * 4;
        let vs: [*const f32; R] = std::array::from_fn(|r| b.row(r0 + r).as_ptr());
        for j0 in (0..a.count).step_by(per) {
            let mut sums = [_mm512_setzero_ps(); LANES];
            for q in (0..per).step_by(S) {
                let rows: [*const T; S] = std::array::from_fn(|k| row_ptr(a, j0, j0 + q + k));
                let mut acc = [[[_mm512_setzero_ps(); 4]; S]; R];
                for i in (0..a.len).step_by(64) {
                    // SAFETY: `i + 64 <= len`, within every row of `a` and `b`.
                    unsafe {
                        let rv: [[__m512; 4]; S] = std::array::from_fn(|k| {
                            std::array::from_fn(|t| T::load16(rows[k].add(i + 16 * t)))
                        });
                        for (acc, v) in acc.iter_mut().zip(vs) {
                            for t in 0..4 {
                                let vv = _mm512_loadu_ps(v.add(i + 16 * t));
                                for (acc, rv) in acc.iter_mut().zip(&rv) {
                                    acc[t] = _mm512_fmadd_ps(rv[t], vv, acc[t]);
                                }
                            }
                        }
                    }
                }
                // The four accumulators summed as `vec_dot_f16` sums them.
                for (r, acc) in acc.iter().enumerate() {
                    for (k, acc) in acc.iter().enumerate() {
                        let x02 = _mm512_add_ps(acc[0], acc[2]);
                        let x13 = _mm512_add_ps(acc[1], acc[3]);
                        sums[r * per + q + k] = _mm512_add_ps(x02, x13);
                    }
                }
            }
            scatter::<R>(
                reduce_each(sums),
                per,
                a.count - j0,
                &mut out[j0..],
                out_stride,
            );
        }
    }

    /// Writes lane `r · per + j` of `sums` to `out[r · out_stride + j]` for `j` below
    /// `per` and `left`.
    #[target_feature(enable = "avx512f")]
    fn scatter<const R: usize>(
        sums: __m512,
        per: usize,
        left: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let lanes = lanes(sums);
        let n = per.min(left);
        for r in 0..R {
            out[r * out_stride..][..n].copy_from_slice(&lanes[r * per..][..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn vector_dot_products_equal_the_portable_ones_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for n in [1, 15, 16, 17, 63, 64, 65, 80, 128, 200, 256, 513] {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            assert_eq!(
                dot16(&a, &b).to_bits(),
                dot16_portable(&a, &b).to_bits(),
                "{n}"
            );
            assert_eq!(
                vec_dot_f16(&a, &b).to_bits(),
                vec_dot_f16_portable(&a, &b).to_bits(),
                "{n}"
            );
            let others: Vec<Vec<f32>> = (0..3)
                .map(|_| (0..n).map(|_| rng.random_range(-3.0..3.0)).collect())
                .collect();
            let four = [&a[..], &others[0], &others[1], &others[2]];
            let together = dot16_x4(four, &b).map(f32::to_bits);
            assert_eq!(
                together,
                four.map(|a| dot16_portable(a, &b).to_bits()),
                "{n}"
            );
        }
    }

    fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-3.0..3.0)).collect()
    }

    #[test]
    fn many_rows_at_once_equal_each_pair_alone_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for a_count in [0, 1, 3, 4, 5, 8, 15, 16, 17, 33] {
            for b_count in 1..=9 {
                for (len, stride) in [
                    (16, 16),
                    (64, 64),
                    (64, 80),
                    (80, 96),
                    (256, 256),
                    (128, 200),
                    (40, 40),
                ] {
                    let a_data = random(&mut rng, a_count.max(1) * stride);
                    let b_data = random(&mut rng, b_count * stride);
                    let a = Mat {
                        data: &a_data,
                        stride,
                        count: a_count,
                        len,
                    };
                    let b = Mat {
                        data: &b_data,
                        stride,
                        count: b_count,
                        len,
                    };
                    let out_stride = a_count + 3;
                    let mut got = vec![f32::NAN; b_count * out_stride];
                    let case = format!("{a_count} x {b_count} of {len}");
                    // Every output of `got` equals `dot` of its pair alone.
                    let check = |got: &[f32], a: Mat, dot: fn(&[f32], &[f32]) -> f32, what| {
                        for r in 0..b_count {
                            for j in 0..a_count {
                                let want = dot(a.row(j), b.row(r));
                                assert_eq!(
                                    got[r * out_stride + j].to_bits(),
                                    want.to_bits(),
                                    "{what} {case}"
                                );
                            }
                        }
                    };
                    dot16_each(a, b, &mut got, out_stride);
                    check(&got, a, dot16_portable, "dot16");
                    vec_dot_f16_each(a, b, &mut got, out_stride);
                    check(&got, a, vec_dot_f16_portable, "f16");
                    // The same with `a` held in f16, as the cache holds keys and values.
                    let a_half: Vec<f16> = a_data.iter().map(|&x| f16::from_f32(x)).collect();
                    let a_wide: Vec<f32> = a_half.iter().map(|x| x.to_f32()).collect();
                    let half_rows = Mat {
                        data: &a_half[..],
                        stride,
                        count: a_count,
                        len,
                    };
                    vec_dot_f16_each(half_rows, b, &mut got, out_stride);
                    let a_wide = Mat { data: &a_wide, ..a };
                    check(&got, a_wide, vec_dot_f16_portable, "f16 rows");
                }
            }
        }
    }
}
