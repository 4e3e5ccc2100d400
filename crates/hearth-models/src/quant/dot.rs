//! Dot products of one weight row with one quantized activation row.
//!
//! The arithmetic follows llama.cpp's AVX2 kernels lane for lane: each block's integer
//! products are summed in eight lanes of four, each lane is accumulated with a fused
//! multiply-add, and the lanes are reduced in the same tree. The result is then the
//! same float llama.cpp computes, which is what keeps greedy decoding token-exact.

use super::act::ActBlock;

/// A Q4_1 block after repacking: `x = d · q + m` with 4-bit `q`; low nibbles hold
/// values 0‥16, high nibbles 16‥32.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q4_1Block {
    pub d: f32,
    pub m: f32,
    pub qs: [u8; 16],
}

/// A Q8_0 block after repacking: `x = d · q`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q8_0Block {
    pub d: f32,
    pub qs: [i8; 32],
}

/// A Q5_0 block after repacking: `x = d · (q − 16)` with 5-bit `q`: the low four bits
/// in nibbles as Q4_1, the fifth bit of value `j` in bit `j` of `qh`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Q5_0Block {
    pub d: f32,
    pub qh: u32,
    pub qs: [u8; 16],
}

/// `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`: `hsum_float_8`'s order.
#[inline(always)]
pub(crate) fn reduce(l: &[f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

#[inline(always)]
fn lane_sums(x: &[i32; 32], y: &[i8; 32]) -> [f32; 8] {
    let mut lanes = [0f32; 8];
    for (l, lane) in lanes.iter_mut().enumerate() {
        let mut s = 0i32;
        for j in 4 * l..4 * l + 4 {
            s += x[j] * y[j] as i32;
        }
        *lane = s as f32;
    }
    lanes
}

#[inline(always)]
pub(crate) fn q4_1(w: &[Q4_1Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        summs = wb.m.mul_add(ab.s, summs);
        let mut x = [0i32; 32];
        for (j, &q) in wb.qs.iter().enumerate() {
            x[j] = (q & 0x0F) as i32;
            x[j + 16] = (q >> 4) as i32;
        }
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc) + summs
}

#[inline(always)]
pub(crate) fn q5_0(w: &[Q5_0Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, ab) in w.iter().zip(a) {
        let mut x = [0i32; 32];
        for (j, &q) in wb.qs.iter().enumerate() {
            let hi = |k: usize| (((wb.qh >> k) & 1) << 4) as i32;
            x[j] = (q & 0x0F) as i32 + hi(j) - 16;
            x[j + 16] = (q >> 4) as i32 + hi(j + 16) - 16;
        }
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc)
}

#[inline(always)]
pub(crate) fn q8_0(w: &[Q8_0Block], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, ab) in w.iter().zip(a) {
        let x: [i32; 32] = std::array::from_fn(|j| wb.qs[j] as i32);
        let d = wb.d * ab.d;
        let lanes = lane_sums(&x, &ab.qs);
        for (acc, lane) in acc.iter_mut().zip(lanes) {
            *acc = d.mul_add(lane, *acc);
        }
    }
    reduce(&acc)
}
