//! The activations a forward pass hands from one step to the next.

use std::ops::{Deref, DerefMut};

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::pool::Buf;
use crate::weights::with_f32;

/// A row-major f32 matrix, one row per token of the batch, in a shelved buffer: a
/// decoding step's activations reuse the previous step's memory.
pub(crate) struct Mat {
    data: Buf<f32>,
    cols: usize,
}

impl Mat {
    /// `data` holds whole rows of `cols` values.
    pub(crate) fn new(data: Buf<f32>, cols: usize) -> Self {
        debug_assert!(cols > 0 && data.len().is_multiple_of(cols));
        Self { data, cols }
    }

    pub(crate) fn rows(&self) -> usize {
        self.data.len() / self.cols
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// The same values seen as rows of `cols` (which must divide the length).
    pub(crate) fn reshaped(self, cols: usize) -> Self {
        Self::new(self.data, cols)
    }

    pub(crate) fn into_buf(self) -> Buf<f32> {
        self.data
    }

    /// A candle tensor of the same shape, for formats only candle computes with.
    pub(crate) fn to_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (self.rows(), self.cols),
            &Device::Cpu,
        )?)
    }

    /// The values of a 2-D candle tensor.
    pub(crate) fn from_tensor(t: &Tensor) -> Result<Self> {
        let (_, cols) = t.dims2()?;
        let data = with_f32(t, |v| Buf::collect(v.len(), v.iter().copied()))?;
        Ok(Self::new(data, cols.max(1)))
    }
}

impl Deref for Mat {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data
    }
}

impl DerefMut for Mat {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
}
