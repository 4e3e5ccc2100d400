//! ggml tensor element types and their block geometry.

use std::fmt;

/// A ggml tensor element type, with ggml's numeric id (`enum ggml_type` in `ggml.h`).
///
/// Quantized types store elements in fixed-size blocks: [`GgmlType::block_len`] elements
/// take [`GgmlType::block_bytes`] bytes. Plain types have a block length of 1. Ids that
/// ggml has retired (4, 5, 31–33, 36–38) are unknown here, like any id past the end.
#[allow(non_camel_case_types)]
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgmlType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// 4-bit symmetric, blocks of 32: `{f16 d, u8 qs[16]}`.
    Q4_0,
    /// 4-bit with minimum, blocks of 32: `{f16 d, f16 m, u8 qs[16]}`.
    Q4_1,
    /// 5-bit symmetric, blocks of 32: `{f16 d, u8 qh[4], u8 qs[16]}`.
    Q5_0,
    /// 5-bit with minimum, blocks of 32: `{f16 d, f16 m, u8 qh[4], u8 qs[16]}`.
    Q5_1,
    /// 8-bit symmetric, blocks of 32: `{f16 d, i8 qs[32]}`.
    Q8_0,
    /// 8-bit with block sum, blocks of 32: `{f16 d, f16 s, i8 qs[32]}`.
    Q8_1,
    /// 2-bit k-quant, super-blocks of 256.
    Q2K,
    /// 3-bit k-quant, super-blocks of 256.
    Q3K,
    /// 4-bit k-quant, super-blocks of 256.
    Q4K,
    /// 5-bit k-quant, super-blocks of 256.
    Q5K,
    /// 6-bit k-quant, super-blocks of 256.
    Q6K,
    /// 8-bit k-quant (ggml's dot-product intermediate), super-blocks of 256.
    Q8K,
    /// i-quant, 2.06 bits per weight.
    IQ2XXS,
    /// i-quant, 2.31 bits per weight.
    IQ2XS,
    /// i-quant, 3.06 bits per weight.
    IQ3XXS,
    /// i-quant, 1.56 bits per weight.
    IQ1S,
    /// non-linear 4-bit, blocks of 32.
    IQ4NL,
    /// i-quant, 3.44 bits per weight.
    IQ3S,
    /// i-quant, 2.56 bits per weight.
    IQ2S,
    /// non-linear 4-bit, super-blocks of 256.
    IQ4XS,
    /// 8-bit signed integer.
    I8,
    /// 16-bit signed integer.
    I16,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
    /// 64-bit IEEE float.
    F64,
    /// i-quant, 1.75 bits per weight.
    IQ1M,
    /// bfloat16.
    BF16,
    /// ternary, 1.69 bits per weight.
    TQ1_0,
    /// ternary, 2.06 bits per weight.
    TQ2_0,
    /// microscaling fp4, blocks of 32: `{u8 e, u8 qs[16]}`.
    MXFP4,
    /// NVIDIA fp4, blocks of 64.
    NVFP4,
    /// 1-bit, blocks of 128.
    Q1_0,
}

/// Elements per k-quant super-block (`QK_K`).
pub(crate) const QK_K: usize = 256;

impl GgmlType {
    /// Every type this crate knows, in id order.
    pub const ALL: [GgmlType; 34] = [
        Self::F32,
        Self::F16,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q8_0,
        Self::Q8_1,
        Self::Q2K,
        Self::Q3K,
        Self::Q4K,
        Self::Q5K,
        Self::Q6K,
        Self::Q8K,
        Self::IQ2XXS,
        Self::IQ2XS,
        Self::IQ3XXS,
        Self::IQ1S,
        Self::IQ4NL,
        Self::IQ3S,
        Self::IQ2S,
        Self::IQ4XS,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::F64,
        Self::IQ1M,
        Self::BF16,
        Self::TQ1_0,
        Self::TQ2_0,
        Self::MXFP4,
        Self::NVFP4,
        Self::Q1_0,
    ];

    /// The type with ggml id `id`, or `None` for an unknown or retired id.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        Self::ALL.into_iter().find(|ty| ty.id() == id)
    }

    /// ggml's numeric id, as stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.geometry().0
    }

    /// ggml's name for the type, upper-cased: `"F32"`, `"Q4_1"`, `"Q4_K"`, `"IQ2_XXS"`.
    pub fn name(self) -> &'static str {
        self.geometry().1
    }

    /// Elements per block: 1 for plain types, 32 for `Q4_0`..`Q8_1`, 256 for k-quants.
    pub fn block_len(self) -> usize {
        self.geometry().2
    }

    /// Bytes per block, matching `sizeof(block_*)` in ggml's `ggml-common.h`.
    pub fn block_bytes(self) -> usize {
        self.geometry().3
    }

    /// Bytes taken by `n_elements` elements, or `None` when `n_elements` is not a whole
    /// number of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let block_len = self.block_len() as u64;
        if !n_elements.is_multiple_of(block_len) {
            return None;
        }
        (n_elements / block_len).checked_mul(self.block_bytes() as u64)
    }

    /// `(id, name, block_len, block_bytes)`.
    fn geometry(self) -> (u32, &'static str, usize, usize) {
        match self {
            Self::F32 => (0, "F32", 1, 4),
            Self::F16 => (1, "F16", 1, 2),
            Self::Q4_0 => (2, "Q4_0", 32, 18),
            Self::Q4_1 => (3, "Q4_1", 32, 20),
            Self::Q5_0 => (6, "Q5_0", 32, 22),
            Self::Q5_1 => (7, "Q5_1", 32, 24),
            Self::Q8_0 => (8, "Q8_0", 32, 34),
            Self::Q8_1 => (9, "Q8_1", 32, 36),
            Self::Q2K => (10, "Q2_K", QK_K, 84),
            Self::Q3K => (11, "Q3_K", QK_K, 110),
            Self::Q4K => (12, "Q4_K", QK_K, 144),
            Self::Q5K => (13, "Q5_K", QK_K, 176),
            Self::Q6K => (14, "Q6_K", QK_K, 210),
            Self::Q8K => (15, "Q8_K", QK_K, 292),
            Self::IQ2XXS => (16, "IQ2_XXS", QK_K, 66),
            Self::IQ2XS => (17, "IQ2_XS", QK_K, 74),
            Self::IQ3XXS => (18, "IQ3_XXS", QK_K, 98),
            Self::IQ1S => (19, "IQ1_S", QK_K, 50),
            Self::IQ4NL => (20, "IQ4_NL", 32, 18),
            Self::IQ3S => (21, "IQ3_S", QK_K, 110),
            Self::IQ2S => (22, "IQ2_S", QK_K, 82),
            Self::IQ4XS => (23, "IQ4_XS", QK_K, 136),
            Self::I8 => (24, "I8", 1, 1),
            Self::I16 => (25, "I16", 1, 2),
            Self::I32 => (26, "I32", 1, 4),
            Self::I64 => (27, "I64", 1, 8),
            Self::F64 => (28, "F64", 1, 8),
            Self::IQ1M => (29, "IQ1_M", QK_K, 56),
            Self::BF16 => (30, "BF16", 1, 2),
            Self::TQ1_0 => (34, "TQ1_0", QK_K, 54),
            Self::TQ2_0 => (35, "TQ2_0", QK_K, 66),
            Self::MXFP4 => (39, "MXFP4", 32, 17),
            Self::NVFP4 => (40, "NVFP4", 64, 36),
            Self::Q1_0 => (41, "Q1_0", 128, 18),
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_in_order() {
        for (i, ty) in GgmlType::ALL.iter().enumerate() {
            assert_eq!(GgmlType::from_id(ty.id()), Some(*ty));
            if i > 0 {
                assert!(GgmlType::ALL[i - 1].id() < ty.id(), "{ty} out of order");
            }
        }
    }

    #[test]
    fn retired_and_unknown_ids_are_none() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 42, 1000, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
    }

    #[test]
    fn well_known_ids_and_geometry_match_ggml() {
        let expected = [
            (GgmlType::F32, 0, 1, 4),
            (GgmlType::F16, 1, 1, 2),
            (GgmlType::Q4_0, 2, 32, 18),
            (GgmlType::Q4_1, 3, 32, 20),
            (GgmlType::Q5_0, 6, 32, 22),
            (GgmlType::Q5_1, 7, 32, 24),
            (GgmlType::Q8_0, 8, 32, 34),
            (GgmlType::Q8_1, 9, 32, 36),
            (GgmlType::Q2K, 10, 256, 84),
            (GgmlType::Q3K, 11, 256, 110),
            (GgmlType::Q4K, 12, 256, 144),
            (GgmlType::Q5K, 13, 256, 176),
            (GgmlType::Q6K, 14, 256, 210),
            (GgmlType::Q8K, 15, 256, 292),
            (GgmlType::BF16, 30, 1, 2),
            (GgmlType::MXFP4, 39, 32, 17),
        ];
        for (ty, id, len, bytes) in expected {
            assert_eq!(
                (ty.id(), ty.block_len(), ty.block_bytes()),
                (id, len, bytes),
                "{ty}"
            );
        }
        assert_eq!(GgmlType::Q4K.name(), "Q4_K");
        assert_eq!(GgmlType::IQ2XXS.to_string(), "IQ2_XXS");
    }

    #[test]
    fn bytes_for_rejects_partial_blocks() {
        assert_eq!(GgmlType::Q4_0.bytes_for(64), Some(36));
        assert_eq!(GgmlType::Q4_0.bytes_for(33), None);
        assert_eq!(GgmlType::F32.bytes_for(3), Some(12));
        assert_eq!(GgmlType::F64.bytes_for(u64::MAX), None);
    }
}
