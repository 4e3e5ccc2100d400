//! Reading tensors out of a GGUF file into candle.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Tensor};
use hearth_gguf::{GgmlType, GgufFile};

use crate::error::{ModelError, Result};

/// Tensors of one GGUF file, by name, with shapes checked on the way out.
pub(crate) struct Weights<'a> {
    file: &'a GgufFile,
    device: Device,
}

impl<'a> Weights<'a> {
    pub(crate) fn new(file: &'a GgufFile, device: &Device) -> Self {
        Self {
            file,
            device: device.clone(),
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    /// The tensor `name` in its stored type; `shape` is row-major (outermost first).
    pub(crate) fn qtensor(&self, name: &str, shape: &[usize]) -> Result<Arc<QTensor>> {
        let info = self
            .file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_owned()))?;
        // GGUF lists dims innermost first; candle wants them outermost first.
        let found: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
        let found_trimmed = trim_leading_ones(&found);
        if found_trimmed != trim_leading_ones(shape) {
            return Err(ModelError::TensorShape {
                name: name.to_owned(),
                expected: shape.to_vec(),
                found,
            });
        }
        let dtype = candle_dtype(info.ggml_type).ok_or_else(|| ModelError::UnsupportedTensorType {
            tensor: name.to_owned(),
            ty: info.ggml_type.name().to_owned(),
        })?;
        let data = self.file.tensor_data(info);
        let storage = QStorage::from_data(Cow::Borrowed(data), &self.device, dtype)?;
        Ok(Arc::new(QTensor::new(storage, shape)?))
    }

    /// A quantized weight matrix of `rows × cols`, used as `x · Wᵀ`.
    pub(crate) fn matmul(&self, name: &str, rows: usize, cols: usize) -> Result<QMatMul> {
        Ok(QMatMul::from_arc(self.qtensor(name, &[rows, cols])?)?)
    }

    /// A small tensor (norm weights, biases) dequantized to f32.
    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        Ok(self.qtensor(name, shape)?.dequantize(&self.device)?)
    }
}

fn trim_leading_ones(shape: &[usize]) -> &[usize] {
    let first = shape.iter().position(|&d| d != 1).unwrap_or(shape.len());
    &shape[first..]
}

/// The candle type for a GGUF tensor type, when candle can compute with it.
pub(crate) fn candle_dtype(ty: GgmlType) -> Option<GgmlDType> {
    Some(match ty {
        GgmlType::F32 => GgmlDType::F32,
        GgmlType::F16 => GgmlDType::F16,
        GgmlType::BF16 => GgmlDType::BF16,
        GgmlType::Q4_0 => GgmlDType::Q4_0,
        GgmlType::Q4_1 => GgmlDType::Q4_1,
        GgmlType::Q5_0 => GgmlDType::Q5_0,
        GgmlType::Q5_1 => GgmlDType::Q5_1,
        GgmlType::Q8_0 => GgmlDType::Q8_0,
        GgmlType::Q8_1 => GgmlDType::Q8_1,
        GgmlType::Q2K => GgmlDType::Q2K,
        GgmlType::Q3K => GgmlDType::Q3K,
        GgmlType::Q4K => GgmlDType::Q4K,
        GgmlType::Q5K => GgmlDType::Q5K,
        GgmlType::Q6K => GgmlDType::Q6K,
        GgmlType::Q8K => GgmlDType::Q8K,
        _ => return None,
    })
}

/// `x · Wᵀ` for a quantized weight.
pub(crate) fn linear(w: &QMatMul, x: &Tensor) -> Result<Tensor> {
    Ok(w.forward(x)?)
}
