//! Hand-built blocks whose decoded values are worked out by hand, and the legacy
//! quantizers checked against llama.cpp's reference semantics.

use half::f16;
use hearth_gguf::{GgmlType, quant};

use crate::support::TestResult;

fn h(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_le_bytes()
}

fn decode(ty: GgmlType, block: &[u8]) -> Result<Vec<f32>, hearth_gguf::GgufError> {
    let mut out = vec![f32::NAN; ty.block_len()];
    quant::dequantize(ty, block, &mut out)?;
    Ok(out)
}

/// `qs[j]` holds `j` in its low nibble and `15 - j` in its high nibble.
fn nibble_ramp() -> Vec<u8> {
    (0..16u8).map(|j| j | ((15 - j) << 4)).collect()
}

#[test]
fn q4_0_block_decodes_low_nibbles_first() -> TestResult {
    let block = [h(0.5).as_slice(), &nibble_ramp()].concat();
    let y = decode(GgmlType::Q4_0, &block)?;
    // Element j = (j - 8) * 0.5, element 16 + j = (15 - j - 8) * 0.5.
    assert_eq!(y[..4], [-4.0, -3.5, -3.0, -2.5]);
    assert_eq!(y[15], 3.5);
    assert_eq!(y[16..20], [3.5, 3.0, 2.5, 2.0]);
    assert_eq!(y[31], -4.0);
    Ok(())
}

#[test]
fn q4_1_block_decodes_scale_and_min() -> TestResult {
    let block = [h(0.5).as_slice(), &h(-1.0), &nibble_ramp()].concat();
    let y = decode(GgmlType::Q4_1, &block)?;
    // Element j = j * 0.5 - 1, element 16 + j = (15 - j) * 0.5 - 1.
    assert_eq!(y[..3], [-1.0, -0.5, 0.0]);
    assert_eq!(y[15], 6.5);
    assert_eq!(y[16..18], [6.5, 6.0]);
    assert_eq!(y[31], -1.0);
    Ok(())
}

#[test]
fn q5_0_block_takes_fifth_bits_from_qh() -> TestResult {
    // Fifth bits set for element 0 (qh bit 0) and element 31 (qh bit 31).
    let qh = 0x8000_0001u32.to_le_bytes();
    let block = [h(1.0).as_slice(), &qh, &nibble_ramp()].concat();
    let y = decode(GgmlType::Q5_0, &block)?;
    #[rustfmt::skip]
    let expected = [
        // Low nibbles j: element 0 has its fifth bit, (0 | 16) - 16; the rest j - 16.
        0.0, -15.0, -14.0, -13.0, -12.0, -11.0, -10.0, -9.0,
        -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0,
        // High nibbles 15 - j: (15 - j) - 16; element 31 has its fifth bit, (0 | 16) - 16.
        -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0,
        -9.0, -10.0, -11.0, -12.0, -13.0, -14.0, -15.0, 0.0,
    ];
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q5_1_block_decodes_all_32_levels() -> TestResult {
    // qs[j] = j | j << 4 and fifth bits set for elements 16..32: element i = i.
    let qs: Vec<u8> = (0..16u8).map(|j| j | (j << 4)).collect();
    let qh = 0xFFFF_0000u32.to_le_bytes();
    let block = [h(0.5).as_slice(), &h(1.0), &qh, &qs].concat();
    let y = decode(GgmlType::Q5_1, &block)?;
    let expected: Vec<f32> = (0..32).map(|i| i as f32 * 0.5 + 1.0).collect();
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q8_0_and_q8_1_blocks_decode_signed_bytes() -> TestResult {
    let mut qs: Vec<u8> = (0..32).map(|j| (j as i8 - 16) as u8).collect();
    qs[0] = (-128i8) as u8;
    qs[31] = 127;
    let y = decode(GgmlType::Q8_0, &[h(0.25).as_slice(), &qs].concat())?;
    assert_eq!(
        (y[0], y[1], y[16], y[30], y[31]),
        (-32.0, -3.75, 0.0, 3.5, 31.75)
    );
    // Q8_1's second f16 is `d * sum(q)`, which decoding ignores.
    let y1 = decode(
        GgmlType::Q8_1,
        &[h(0.25).as_slice(), &h(99.0), &qs].concat(),
    )?;
    assert_eq!(y, y1);
    Ok(())
}

#[test]
fn q2_k_block_decodes_by_hand() -> TestResult {
    let mut b = [0u8; 84];
    b[0] = 3 | (2 << 4); // sub-block 0: scale 3, min 2
    b[9] = 1 | (4 << 4); // sub-block 9: scale 1, min 4
    b[16] = 0b11; // element 0: q = 3 (bits 0..2 of qs[0])
    b[16 + 48] = 0b11; // element 144 (half 1, l = 16): q = 3
    b[80..82].copy_from_slice(&h(1.0)); // d
    b[82..84].copy_from_slice(&h(0.5)); // dmin
    let y = decode(GgmlType::Q2K, &b)?;
    let mut expected = [0.0f32; 256];
    expected[..16].fill(-1.0); // 1 * 3 * 0 - 0.5 * 2
    expected[144..160].fill(-2.0); // 1 * 1 * 0 - 0.5 * 4
    expected[0] = 8.0; // 1 * 3 * 3 - 1
    expected[144] = 1.0; // 1 * 1 * 3 - 2
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q3_k_block_decodes_by_hand() -> TestResult {
    let mut b = [0u8; 110];
    // 6-bit scales biased by 32: every sub-block 32 (scale 0), except sub-block 0 =
    // 34 (scale 2: low nibble 2, top bits 2) and sub-block 9 = 27 (scale -5: low
    // nibble 0xB in the high nibble of byte 1, top bits 1 in bits 4..6 of byte 9).
    b[96] = 0x02;
    b[97] = 0xB0;
    b[104..108].copy_from_slice(&[0xAA, 0x9A, 0xAA, 0xAA]);
    b[108..110].copy_from_slice(&h(0.5)); // d
    b[32] = 3; // element 0: low bits 3
    b[0] = 1; // element 0: high bit set, so q = 3
    b[33] = 1; // element 1: low bits 1, high bit clear, so q = 1 - 4
    b[32 + 54] = 2; // element 150 (half 1, l = 22): low bits 2
    b[22] = 1 << 4; // element 150: high bit (bit 150 / 32 = 4 of hmask[22]), q = 2
    let y = decode(GgmlType::Q3K, &b)?;
    let mut expected = [0.0f32; 256];
    expected[..16].fill(-4.0); // 0.5 * 2 * (0 - 4)
    expected[0] = 3.0; // 0.5 * 2 * 3
    expected[1] = -3.0; // 0.5 * 2 * (1 - 4)
    expected[144..160].fill(10.0); // 0.5 * -5 * (0 - 4)
    expected[150] = -5.0; // 0.5 * -5 * 2
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q4_k_block_decodes_packed_6_bit_scales() -> TestResult {
    let mut b = [0u8; 144];
    b[0..2].copy_from_slice(&h(1.0)); // d
    b[2..4].copy_from_slice(&h(0.5)); // dmin
    let scales = &mut b[4..16];
    scales[0] = 2; // sub-block 0 scale
    scales[4] = 1; // sub-block 0 min
    // Sub-block 5: scale 40 = 0b10_1000, min 33 = 0b10_0001. Low nibbles in byte 9,
    // top two bits in the top bits of byte 1 (scale) and byte 5 (min).
    scales[9] = 0x8 | (0x1 << 4);
    scales[1] |= 2 << 6;
    scales[5] |= 2 << 6;
    b[16] = 3; // element 0: low nibble of qs[0]
    b[16 + 64 + 1] = 15 << 4; // element 161 (chunk 2, high nibble, l = 1)
    let y = decode(GgmlType::Q4K, &b)?;
    let mut expected = [0.0f32; 256];
    expected[..32].fill(-0.5); // 1 * 2 * 0 - 0.5 * 1
    expected[0] = 5.5; // 1 * 2 * 3 - 0.5
    expected[160..192].fill(-16.5); // 1 * 40 * 0 - 0.5 * 33
    expected[161] = 583.5; // 40 * 15 - 16.5
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q5_k_block_decodes_fifth_bits_from_qh() -> TestResult {
    let mut b = [0u8; 176];
    b[0..2].copy_from_slice(&h(0.25)); // d
    b[2..4].copy_from_slice(&h(1.0)); // dmin
    b[4] = 4; // sub-block 0 scale
    b[8] = 2; // sub-block 0 min
    // Sub-block 7: scale 63 = 0b11_1111, min 0: low nibble in byte 11, top bits in byte 3.
    b[4 + 11] = 0x0F;
    b[4 + 3] |= 3 << 6;
    b[48] = 5; // element 0: low nibble 5 ...
    b[16] = 1; // ... and fifth bit (bit 0 of qh[0]): q = 21
    b[48 + 96 + 31] = 15 << 4; // element 255 (chunk 3, high nibble, l = 31) ...
    b[16 + 31] = 1 << 7; // ... and fifth bit (bit 7 of qh[31]): q = 31
    let y = decode(GgmlType::Q5K, &b)?;
    let mut expected = [0.0f32; 256];
    expected[..32].fill(-2.0); // 0.25 * 4 * 0 - 1 * 2
    expected[0] = 19.0; // 0.25 * 4 * 21 - 2
    expected[255] = 488.25; // 0.25 * 63 * 31
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q6_k_block_decodes_by_hand() -> TestResult {
    let mut b = [0u8; 210];
    b[208..210].copy_from_slice(&h(0.5)); // d
    b[192] = 2; // sub-block 0 scale
    b[192 + 2] = (-3i8) as u8; // sub-block 2 (elements 32..48)
    b[192 + 12] = 1; // sub-block 12 (elements 192..208)
    b[0] = 0x0F; // element 0: low 4 bits 15 ...
    b[128] = 0b11; // ... top 2 bits 3 (bits 0..2 of qh[0]): q = 63
    // Element 32 (s = 1) keeps q = 0: low nibble of ql[32], bits 2..4 of qh[0].
    b[64 + 8] = 0x1 << 4; // element 200 (half 1, s = 2, l = 8): high nibble of ql[72] ...
    b[128 + 32 + 8] = 2 << 4; // ... and bits 4..6 of qh[40]: q = 33
    let y = decode(GgmlType::Q6K, &b)?;
    let mut expected = [0.0f32; 256];
    expected[..16].fill(-32.0); // 0.5 * 2 * (0 - 32)
    expected[0] = 31.0; // 0.5 * 2 * (63 - 32)
    expected[32..48].fill(48.0); // 0.5 * -3 * (0 - 32)
    expected[192..208].fill(-16.0); // 0.5 * 1 * (0 - 32)
    expected[200] = 0.5; // 0.5 * 1 * (33 - 32)
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q8_k_block_decodes_f32_scale_times_signed_bytes() -> TestResult {
    let mut b = [0u8; 292];
    b[0..4].copy_from_slice(&0.125f32.to_le_bytes());
    for i in 0..256 {
        b[4 + i] = (i as i32 - 128) as i8 as u8;
    }
    let y = decode(GgmlType::Q8K, &b)?;
    let expected: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) * 0.125).collect();
    assert_eq!(y, expected);
    Ok(())
}

#[test]
fn q8_0_quantizes_as_llama_cpp_amax_over_127_and_round() -> TestResult {
    let x: Vec<f32> = (0..32).map(|j| (j as f32 - 13.3) * 0.37).collect();
    let mut out = Vec::new();
    quant::quantize(GgmlType::Q8_0, &x, &mut out)?;
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    assert_eq!(out[0..2], h(d));
    for j in 0..32 {
        assert_eq!(
            out[2 + j] as i8,
            (x[j] * (1.0 / d)).round() as i8,
            "element {j}"
        );
    }
    // The largest magnitude (the last element, positive) lands on 127.
    assert_eq!(out[2 + 31] as i8, 127);
    Ok(())
}

#[test]
fn q4_1_quantizes_as_llama_cpp_min_and_range_over_15() -> TestResult {
    let x: Vec<f32> = (0..32).map(|j| j as f32).collect();
    let mut out = Vec::new();
    quant::quantize(GgmlType::Q4_1, &x, &mut out)?;
    assert_eq!(out[0..2], h(31.0 / 15.0)); // d = (max - min) / 15
    assert_eq!(out[2..4], h(0.0)); // m = min
    // q = min(15, trunc((x - min) / d + 0.5)); element j in the low nibble of qs[j],
    // element j + 16 in the high nibble.
    let id = 1.0 / (31.0f32 / 15.0);
    let q = |x: f32| ((x * id + 0.5) as u8).min(15);
    for j in 0..16 {
        assert_eq!(
            out[4 + j],
            q(j as f32) | (q(j as f32 + 16.0) << 4),
            "byte {j}"
        );
    }
    assert_eq!((out[4] & 0x0F, out[4 + 15] >> 4), (0, 15));
    Ok(())
}

#[test]
fn q4_0_maps_the_signed_extreme_to_level_zero_and_clips_the_other_side() -> TestResult {
    let mut x = [0.0f32; 32];
    x[5] = -4.0; // d = -4 / -8 = 0.5
    x[20] = 4.0; // same magnitude, opposite sign, later: not the extreme ggml picks
    let mut out = Vec::new();
    quant::quantize(GgmlType::Q4_0, &x, &mut out)?;
    let mut y = [0.0f32; 32];
    quant::dequantize(GgmlType::Q4_0, &out, &mut y)?;
    // ggml picks the first value of largest magnitude (-4), so d = 0.5 and -4 is exact;
    // +4 would need level 16 and is clipped to 15, decoding to 3.5.
    assert_eq!(out[0..2], h(0.5));
    assert_eq!((y[5], y[20], y[0]), (-4.0, 3.5, 0.0));
    Ok(())
}
