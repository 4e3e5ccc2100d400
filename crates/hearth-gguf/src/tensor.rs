//! Tensor descriptions from the GGUF tensor-info table.

use crate::error::GgufError;
use crate::types::GgmlType;

/// Most dimensions a ggml tensor can have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;

/// One entry of a GGUF file's tensor-info table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the innermost (row length, contiguous in
    /// memory). A PyTorch-style `[rows, cols]` weight is `dims == [cols, rows]`. Empty
    /// for a scalar (ggml allows `n_dims == 0`, meaning one element).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Byte offset of the data relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements: the product of `dims` (1 for a scalar). Saturates at
    /// `u64::MAX` for an unvalidated, overflowing shape.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Bytes of data: whole blocks of [`GgmlType::block_bytes`]. For tensors from a
    /// [`crate::GgufFile`] this is exact (validated at open); for a hand-built info with
    /// a partial block it rounds down.
    pub fn n_bytes(&self) -> u64 {
        let block_len = self.ggml_type.block_len() as u64;
        (self.n_elements() / block_len).saturating_mul(self.ggml_type.block_bytes() as u64)
    }
}

/// Checks a shape against ggml's rules (at most [`MAX_DIMS`] dims, element count fits in
/// `i64`, rows are whole blocks) and returns the data size in bytes.
pub(crate) fn check_shape(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    if dims.len() > MAX_DIMS as usize {
        return Err(GgufError::TooManyDims {
            name: name.to_owned(),
            n_dims: dims.len() as u64,
            max: MAX_DIMS,
        });
    }
    let overflow = || GgufError::ElementCountOverflow {
        name: name.to_owned(),
        dims: dims.to_vec(),
    };
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| i64::try_from(n).is_ok())
        .ok_or_else(overflow)?;
    let row_len = dims.first().copied().unwrap_or(1);
    let block_len = ty.block_len() as u64;
    if !row_len.is_multiple_of(block_len) {
        return Err(GgufError::RowNotBlockAligned {
            name: name.to_owned(),
            ty,
            row_len,
            block_len,
        });
    }
    ty.bytes_for(n_elements).ok_or_else(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_has_one_element() {
        let info = TensorInfo {
            name: "s".into(),
            dims: vec![],
            ggml_type: GgmlType::F32,
            offset: 0,
        };
        assert_eq!((info.n_elements(), info.n_bytes()), (1, 4));
    }

    #[test]
    fn quantized_size_counts_blocks() -> Result<(), GgufError> {
        assert_eq!(check_shape("w", &[256, 3], GgmlType::Q4K)?, 3 * 144);
        assert_eq!(check_shape("w", &[64, 2], GgmlType::Q8_0)?, 4 * 34);
        Ok(())
    }

    #[test]
    fn check_shape_rejects_bad_shapes() {
        assert!(matches!(
            check_shape("w", &[1, 1, 1, 1, 1], GgmlType::F32),
            Err(GgufError::TooManyDims { n_dims: 5, .. })
        ));
        assert!(matches!(
            check_shape("w", &[1 << 32, 1 << 32], GgmlType::F32),
            Err(GgufError::ElementCountOverflow { .. })
        ));
        assert!(matches!(
            check_shape("w", &[1 << 62, 2], GgmlType::F32),
            Err(GgufError::ElementCountOverflow { .. })
        ));
        assert!(matches!(
            check_shape("w", &[48, 2], GgmlType::Q4_0),
            Err(GgufError::RowNotBlockAligned { row_len: 48, .. })
        ));
    }
}
