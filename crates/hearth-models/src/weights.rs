//! Reading tensors out of a GGUF file into candle.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Tensor};
use hearth_gguf::{GgmlType, GgufFile, TensorInfo};

use crate::error::{ModelError, Result};
use crate::mat::Mat;
use crate::pool::Buf;
use crate::quant::QMatrix;

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

    /// The index entry of `name`, checked to have `shape` (row-major, outermost first).
    fn info(&self, name: &str, shape: &[usize]) -> Result<&'a TensorInfo> {
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
        Ok(info)
    }

    /// The tensor `name` in its stored type, copied into candle.
    pub(crate) fn qtensor(&self, name: &str, shape: &[usize]) -> Result<Arc<QTensor>> {
        let info = self.info(name, shape)?;
        let dtype =
            candle_dtype(info.ggml_type).ok_or_else(|| ModelError::UnsupportedTensorType {
                tensor: name.to_owned(),
                ty: info.ggml_type.name().to_owned(),
            })?;
        let data = self.file.tensor_data(info);
        let storage = QStorage::from_data(Cow::Borrowed(data), &self.device, dtype)?;
        Ok(Arc::new(QTensor::new(storage, shape)?))
    }

    /// A weight matrix of `rows × cols`, used as `x · Wᵀ`: Hearth's own kernels where
    /// it has them for the format, candle's otherwise.
    pub(crate) fn linear(&self, name: &str, rows: usize, cols: usize) -> Result<Linear> {
        let info = self.info(name, &[rows, cols])?;
        let data = self.file.tensor_data(info);
        let release = |r: std::ops::Range<usize>| {
            self.file
                .release_tensor_range(info, r.start as u64..r.end as u64)
        };
        let linear = match QMatrix::from_gguf_releasing(info.ggml_type, data, rows, cols, release) {
            Some(own) => Linear::Own(own),
            None => Linear::Candle(QMatMul::from_arc(self.qtensor(name, &[rows, cols])?)?),
        };
        // Both paths copied the weights out; the file's copy need not stay resident.
        self.file.release_tensor_pages(info);
        Ok(linear)
    }

    /// A small tensor (norm weights, biases) dequantized to f32.
    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self.qtensor(name, shape)?.dequantize(&self.device)?;
        Ok(t.flatten_all()?.to_vec1()?)
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

/// A weight matrix applied as `x · Wᵀ`.
pub(crate) enum Linear {
    Own(QMatrix),
    Candle(QMatMul),
}

impl Linear {
    /// Looks up rows `ids` (an embedding table), `(ids.len(), cols)`.
    pub(crate) fn rows(&self, ids: &[u32], device: &Device) -> Result<Mat> {
        match self {
            Self::Candle(w) => {
                let ids = Tensor::from_slice(ids, ids.len(), device)?;
                Mat::from_tensor(&w.embedding(&ids)?)
            }
            Self::Own(w) => {
                let mut data = Buf::with_capacity(ids.len() * w.cols());
                for &id in ids {
                    let in_vocab = w.row_into(id as usize, data.vec_mut());
                    if !in_vocab {
                        return Err(ModelError::Batch(format!(
                            "token id {id} is outside the vocabulary"
                        )));
                    }
                }
                Ok(Mat::new(data, w.cols()))
            }
        }
    }

    /// `x` is `(m, cols)`, its rows coming from sequence chunks of `groups` rows in
    /// order (llama.cpp's arithmetic for some formats depends on the chunk); returns
    /// `(m, rows)`.
    pub(crate) fn forward(&self, x: &Mat, groups: &[usize]) -> Result<Mat> {
        match self {
            Self::Candle(w) => Mat::from_tensor(&w.forward(&x.to_tensor()?)?),
            Self::Own(w) => {
                let (m, cols) = (x.rows(), x.cols());
                if cols != w.cols() {
                    return Err(ModelError::Batch(format!(
                        "input has {cols} columns, the weight expects {}",
                        w.cols()
                    )));
                }
                if groups.iter().sum::<usize>() != m {
                    return Err(ModelError::Batch(format!(
                        "row groups {groups:?} do not add up to the {m} input rows"
                    )));
                }
                Ok(Mat::new(w.matmul(x, groups), w.rows()))
            }
        }
    }
}

/// Runs `f` on the values of `t` in row-major order: borrowed when `t` is a contiguous
/// f32 tensor on the CPU (no copy of a prompt's large activations), copied otherwise.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(cpu), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
            && let Ok(all) = cpu.as_slice::<f32>()
        {
            return Ok(f(&all[start..end]));
        }
    }
    let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Ok(f(&data))
}

#[cfg(test)]
mod tests {
    use hearth_gguf::quant;

    use super::*;

    /// Formats without a Hearth kernel run through candle's; each must agree with the
    /// plain f32 product of hearth-gguf's reference dequantization.
    #[test]
    fn candle_kernels_match_the_f32_reference() -> Result<()> {
        let (rows, cols, m) = (8, 512, 3);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let x: Vec<f32> = (0..m * cols)
            .map(|i| ((i * 104_729 % 997) as f32 / 498.0) - 1.0)
            .collect();
        for ty in [GgmlType::Q4_0, GgmlType::Q5_1, GgmlType::Q5K] {
            let mut data = Vec::new();
            quant::quantize(ty, &w, &mut data).unwrap();
            let mut deq = vec![0f32; rows * cols];
            quant::dequantize(ty, &data, &mut deq).unwrap();
            let dtype = candle_dtype(ty).unwrap();
            let storage = QStorage::from_data(Cow::Borrowed(&data), &Device::Cpu, dtype)?;
            let linear =
                Linear::Candle(QMatMul::from_qtensor(QTensor::new(storage, (rows, cols))?)?);
            let x = Mat::new(Buf::collect(x.len(), x.iter().copied()), cols);
            let y = linear.forward(&x, &[m])?;
            for i in 0..m {
                for r in 0..rows {
                    let want: f32 = (0..cols).map(|c| deq[r * cols + c] * x[i * cols + c]).sum();
                    let got = y[i * rows + r];
                    assert!(
                        (got - want).abs() < 0.05 * (1.0 + want.abs()),
                        "{ty}: {got} vs {want}"
                    );
                }
            }
        }
        Ok(())
    }
}
