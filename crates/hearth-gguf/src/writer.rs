//! [`GgufWriter`]: builds GGUF v3 files.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::error::GgufError;
use crate::metadata::Metadata;
use crate::parse::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::tensor::check_shape;
use crate::types::GgmlType;
use crate::value::Value;

/// Builds a GGUF v3 file: metadata in insertion order, then tensors in insertion order,
/// each tensor's data aligned to 32 bytes (or `general.alignment` when set) and padded
/// with zeros, as llama.cpp writes them.
///
/// ```
/// # fn main() -> Result<(), hearth_gguf::GgufError> {
/// use hearth_gguf::{GgmlType, GgufFile, GgufWriter, Value};
///
/// let mut w = GgufWriter::new();
/// w.metadata("general.architecture", Value::from("llama"));
/// w.tensor("w", &[2, 3], GgmlType::F32, vec![0; 24])?;
/// let file = GgufFile::from_bytes(w.try_to_bytes()?)?;
/// assert_eq!(file.tensor("w").map(|t| t.n_elements()), Some(6));
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct GgufWriter {
    metadata: Metadata,
    tensors: Vec<PendingTensor>,
    names: HashSet<String>,
    /// The first metadata value that could not be encoded; reported by `try_to_bytes`.
    rejected: Option<Rejected>,
}

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

impl GgufWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets metadata `key` to `value` (replacing an earlier value for the same key).
    ///
    /// A value GGUF cannot encode (an array mixing element types, arrays nested deeper
    /// than [`crate::MAX_ARRAY_DEPTH`], a `general.alignment` that is not a power-of-two
    /// `u32`) is not stored; [`GgufWriter::write`] and [`GgufWriter::try_to_bytes`]
    /// report it. `general.alignment` is stored as a `u32`, the only type ggml accepts.
    pub fn metadata(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        let key = key.into();
        match check_metadata(&key, value) {
            Ok(value) => {
                self.metadata.insert(key, value);
            }
            Err(rejected) => {
                self.rejected.get_or_insert(rejected);
            }
        }
        self
    }

    /// Adds a tensor. `dims` are in ggml order (`dims[0]` is the row length) and `data`
    /// must be exactly the ggml encoding of that shape and type.
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let name = name.into();
        let expected = check_shape(&name, dims, ty)?;
        if data.len() as u64 != expected {
            return Err(GgufError::DataSize {
                what: format!("tensor `{name}` with dimensions `{dims:?}`"),
                ty,
                expected,
                actual: data.len() as u64,
            });
        }
        if !self.names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { name });
        }
        self.tensors.push(PendingTensor {
            name,
            dims: dims.to_vec(),
            ty,
            data,
        });
        Ok(self)
    }

    /// The file's bytes. Metadata values rejected by [`GgufWriter::metadata`] are left
    /// out; use [`GgufWriter::try_to_bytes`] to be told about them instead.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment();
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        put_u32(&mut out, 3);
        put_u64(&mut out, self.tensors.len() as u64);
        put_u64(&mut out, self.metadata.len() as u64);
        for (key, value) in self.metadata.iter() {
            put_str(&mut out, key);
            put_u32(&mut out, value.type_id());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.dims.len() as u32);
            t.dims.iter().for_each(|&d| put_u64(&mut out, d));
            put_u32(&mut out, t.ty.id());
            put_u64(&mut out, offset);
            offset = (offset + t.data.len() as u64).next_multiple_of(alignment);
        }
        pad(&mut out, alignment);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            // ggml reads the data section as whole padded tensors, the last one included.
            pad(&mut out, alignment);
        }
        out
    }

    /// The file's bytes, or the first metadata value that could not be encoded.
    pub fn try_to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        match &self.rejected {
            Some(rejected) => Err(rejected.to_error()),
            None => Ok(self.to_bytes()),
        }
    }

    /// Writes the file to `path`, failing on metadata that could not be encoded.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let path = path.as_ref();
        let bytes = self.try_to_bytes()?;
        fs_err::write(path, bytes).map_err(|source| GgufError::Write {
            path: path.to_owned(),
            source,
        })
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .get(ALIGNMENT_KEY)
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT)
    }
}

impl fmt::Debug for GgufWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufWriter")
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// A metadata value the writer refused. `GgufError` is not `Clone` (it can hold an
/// `io::Error`), so the refusal is kept as data and turned into an error on demand.
#[derive(Debug, Clone)]
enum Rejected {
    BadAlignment(u64),
    Invalid { key: String, reason: String },
}

impl Rejected {
    fn to_error(&self) -> GgufError {
        match self {
            Rejected::BadAlignment(alignment) => GgufError::BadAlignment {
                alignment: *alignment,
            },
            Rejected::Invalid { key, reason } => GgufError::InvalidValue {
                key: key.clone(),
                reason: reason.clone(),
            },
        }
    }
}

/// The value to store for `key`, or why it cannot be written.
fn check_metadata(key: &str, value: Value) -> Result<Value, Rejected> {
    let invalid = |reason: String| Rejected::Invalid {
        key: key.to_owned(),
        reason,
    };
    value.check_encodable(0).map_err(invalid)?;
    if key == ALIGNMENT_KEY {
        match value.as_u64().map(|a| (a, u32::try_from(a))) {
            Some((_, Ok(a))) if a.is_power_of_two() => return Ok(Value::U32(a)),
            Some((a, _)) if a.is_power_of_two() => {
                let reason = format!("alignment `{a}` does not fit in a `u32`");
                return Err(invalid(reason));
            }
            Some((a, _)) => return Err(Rejected::BadAlignment(a)),
            None => {
                let found = value.describe();
                return Err(invalid(format!(
                    "expected a power-of-two `u32`, got `{found}`"
                )));
            }
        }
    }
    Ok(value)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn pad(out: &mut Vec<u8>, alignment: u64) {
    let len = out.len() as u64;
    let padded = len.next_multiple_of(alignment);
    out.resize(out.len() + (padded - len) as usize, 0);
}

/// The value's payload, without its type id.
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            // An empty array has no element to take the type from; u8 is as good as any.
            let elem_type = items.first().map_or(0, Value::type_id);
            put_u32(out, elem_type);
            put_u64(out, items.len() as u64);
            items.iter().for_each(|item| put_value(out, item));
        }
    }
}
