//! Parsing and validating the GGUF header, metadata and tensor-info table.
//!
//! Every count read from the file is checked against the bytes left, and memory is only
//! reserved up front for a bounded number of items, so a corrupt count fails fast instead
//! of attempting a huge allocation. Memory then grows with the items actually parsed (a
//! [`Value`] takes up to 32 bytes for a 1-byte array element).

use std::collections::HashSet;

use crate::error::GgufError;
use crate::metadata::Metadata;
use crate::tensor::{MAX_DIMS, TensorInfo, check_shape};
use crate::types::GgmlType;
use crate::value::{MAX_ARRAY_DEPTH, Value};

/// `GGUF` as bytes.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";
/// Magic, version, tensor count, metadata count.
pub(crate) const HEADER_LEN: u64 = 24;
/// Alignment of the data section and of every tensor when `general.alignment` is unset.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Most items reserved ahead of parsing them; vectors grow past this as items arrive.
const MAX_PREALLOC: u64 = 4096;

/// Smallest possible metadata entry: empty key, type id, one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest possible tensor info: empty name, `n_dims == 0`, type id, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// The validated header, metadata and tensor table of a GGUF file.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    pub data_offset: u64,
}

/// Parses and validates everything but the tensor bytes themselves, whose bounds and
/// overlaps are checked too.
pub(crate) fn parse(buf: &[u8]) -> Result<Parsed, GgufError> {
    let file_len = buf.len() as u64;
    if let Some(found) = buf.first_chunk::<4>()
        && *found != MAGIC
    {
        return Err(GgufError::BadMagic { found: *found });
    }
    if file_len < HEADER_LEN {
        return Err(GgufError::FileTooSmall {
            len: file_len,
            min: HEADER_LEN,
        });
    }
    let mut cur = Cursor { buf, pos: 4 };
    let version = cur.u32(&|| "version".into())?;
    check_version(version)?;

    let tensor_count = cur.count("tensor count", MIN_TENSOR_INFO_BYTES)?;
    let kv_count = cur.count("metadata entry count", MIN_KV_BYTES)?;

    let mut metadata = Metadata::new();
    for i in 0..kv_count {
        let key = cur.string(&|| format!("key of metadata entry `{i}`"))?;
        if metadata.contains_key(&key) {
            return Err(GgufError::DuplicateKey { key });
        }
        let type_offset = cur.offset();
        let type_id = cur.u32(&|| format!("value type of metadata key `{key}`"))?;
        let value = read_value(&mut cur, type_id, type_offset, &key, 0)?;
        metadata.insert(key, value);
    }

    let alignment = metadata
        .opt_u32(ALIGNMENT_KEY)?
        .map_or(DEFAULT_ALIGNMENT, u64::from);
    if !alignment.is_power_of_two() {
        return Err(GgufError::BadAlignment { alignment });
    }

    let mut tensors = Vec::with_capacity(prealloc(tensor_count));
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        let info = read_tensor_info(&mut cur, i, alignment)?;
        if !names.insert(info.name.clone()) {
            return Err(GgufError::DuplicateTensor { name: info.name });
        }
        tensors.push(info);
    }

    let data_offset = cur
        .offset()
        .checked_next_multiple_of(alignment)
        .unwrap_or(u64::MAX);
    check_tensor_data(&tensors, data_offset, file_len)?;

    Ok(Parsed {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

fn prealloc(count: u64) -> usize {
    count.min(MAX_PREALLOC) as usize
}

fn check_version(version: u32) -> Result<(), GgufError> {
    // A big-endian file's small version number reads as `n << 24` little-endian
    // (ggml's check: the low 16 bits are zero).
    if version != 0 && version & 0xFFFF == 0 {
        return Err(GgufError::BigEndian {
            raw: version,
            swapped: version.swap_bytes(),
        });
    }
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion { version });
    }
    Ok(())
}

fn read_value(
    cur: &mut Cursor<'_>,
    type_id: u32,
    type_offset: u64,
    key: &str,
    depth: usize,
) -> Result<Value, GgufError> {
    let what = || format!("value of metadata key `{key}`");
    Ok(match type_id {
        0 => Value::U8(cur.u8(&what)?),
        1 => Value::I8(i8::from_le_bytes(cur.bytes(&what)?)),
        2 => Value::U16(u16::from_le_bytes(cur.bytes(&what)?)),
        3 => Value::I16(i16::from_le_bytes(cur.bytes(&what)?)),
        4 => Value::U32(cur.u32(&what)?),
        5 => Value::I32(i32::from_le_bytes(cur.bytes(&what)?)),
        6 => Value::F32(f32::from_le_bytes(cur.bytes(&what)?)),
        7 => {
            let offset = cur.offset();
            match cur.u8(&what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                value => {
                    return Err(GgufError::InvalidBool {
                        key: key.to_owned(),
                        value,
                        offset,
                    });
                }
            }
        }
        8 => Value::String(cur.string(&what)?),
        9 => read_array(cur, key, depth)?,
        10 => Value::U64(cur.u64(&what)?),
        11 => Value::I64(i64::from_le_bytes(cur.bytes(&what)?)),
        12 => Value::F64(f64::from_le_bytes(cur.bytes(&what)?)),
        _ => {
            return Err(GgufError::UnknownValueType {
                key: key.to_owned(),
                type_id,
                offset: type_offset,
            });
        }
    })
}

fn read_array(cur: &mut Cursor<'_>, key: &str, depth: usize) -> Result<Value, GgufError> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::NestingTooDeep {
            key: key.to_owned(),
            limit: MAX_ARRAY_DEPTH,
        });
    }
    let elem_offset = cur.offset();
    let elem_type = cur.u32(&|| format!("array element type of metadata key `{key}`"))?;
    let min_bytes = min_value_bytes(elem_type).ok_or_else(|| GgufError::UnknownValueType {
        key: key.to_owned(),
        type_id: elem_type,
        offset: elem_offset,
    })?;
    let count = cur.count(&format!("array length of metadata key `{key}`"), min_bytes)?;
    let mut items = Vec::with_capacity(prealloc(count));
    for _ in 0..count {
        items.push(read_value(cur, elem_type, elem_offset, key, depth + 1)?);
    }
    Ok(Value::Array(items))
}

/// Fewest bytes a value of GGUF type `type_id` can take, or `None` for an unknown type.
fn min_value_bytes(type_id: u32) -> Option<u64> {
    match type_id {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        8 | 10..=12 => Some(8),
        // Element type and count of an inner array.
        9 => Some(12),
        _ => None,
    }
}

fn read_tensor_info(
    cur: &mut Cursor<'_>,
    index: u64,
    alignment: u64,
) -> Result<TensorInfo, GgufError> {
    let name = cur.string(&|| format!("name of tensor `{index}`"))?;
    let n_dims = cur.u32(&|| format!("dimension count of tensor `{name}`"))?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            name,
            n_dims: n_dims.into(),
            max: MAX_DIMS,
        });
    }
    let dims = (0..n_dims)
        .map(|d| cur.u64(&|| format!("dimension `{d}` of tensor `{name}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let type_id = cur.u32(&|| format!("type of tensor `{name}`"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownTensorType { name, type_id });
    };
    check_shape(&name, &dims, ggml_type)?;
    let offset = cur.u64(&|| format!("data offset of tensor `{name}`"))?;
    if !offset.is_multiple_of(alignment) {
        return Err(GgufError::MisalignedTensor {
            name,
            offset,
            alignment,
        });
    }
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
    })
}

/// Every tensor's bytes lie inside the file and no two tensors share bytes.
fn check_tensor_data(
    tensors: &[TensorInfo],
    data_offset: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    let mut spans = Vec::with_capacity(tensors.len());
    for info in tensors {
        let needed = info.n_bytes();
        let start = data_offset.saturating_add(info.offset);
        match start.checked_add(needed) {
            Some(end) if end <= file_len => spans.push((start, end, info)),
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    name: info.name.clone(),
                    start,
                    needed,
                    file_len,
                });
            }
        }
    }
    spans.retain(|&(start, end, _)| end > start);
    spans.sort_by_key(|&(start, end, _)| (start, end));
    let mut furthest: Option<(u64, &TensorInfo)> = None;
    for (start, end, info) in spans {
        if let Some((prev_end, prev)) = furthest
            && start < prev_end
        {
            return Err(GgufError::TensorOverlap {
                first: prev.name.clone(),
                second: info.name.clone(),
            });
        }
        if furthest.is_none_or(|(prev_end, _)| end > prev_end) {
            furthest = Some((end, info));
        }
    }
    Ok(())
}

/// A bounds-checked little-endian reader. `what` closures describe the field for errors
/// and only run when something is wrong.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n));
        match end.and_then(|end| Some((end, self.buf.get(self.pos..end)?))) {
            Some((end, bytes)) => {
                self.pos = end;
                Ok(bytes)
            }
            None => Err(GgufError::Truncated {
                what: what(),
                offset: self.offset(),
                needed: n,
                file_len: self.buf.len() as u64,
            }),
        }
    }

    fn bytes<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, GgufError> {
        self.bytes::<1>(what).map(|[b]| b)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    /// A u64 count of items that each take at least `min_item_bytes`, checked against
    /// the bytes left so that callers may allocate `count` items.
    fn count(&mut self, what: &str, min_item_bytes: u64) -> Result<u64, GgufError> {
        let offset = self.offset();
        let count = self.u64(&|| what.to_owned())?;
        let remaining = self.remaining();
        if count > remaining / min_item_bytes {
            return Err(GgufError::CountTooLarge {
                what: what.to_owned(),
                count,
                offset,
                remaining,
            });
        }
        Ok(count)
    }

    /// A u64 length, then that many UTF-8 bytes.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(&|| format!("length of {}", what()))?;
        let offset = self.offset();
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(source) => Err(GgufError::InvalidUtf8 {
                what: what(),
                offset,
                source,
            }),
        }
    }
}
