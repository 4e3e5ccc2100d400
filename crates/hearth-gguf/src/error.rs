//! The crate's error type.

use std::path::PathBuf;

use crate::types::GgmlType;

/// Everything that can go wrong reading, validating, writing or (de)quantizing GGUF data.
///
/// Messages are lowercase, put values in backticks and say where the problem is (a byte
/// offset, a metadata key or a tensor name) so that a user can act on a broken model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// Opening, mapping or reading a file failed.
    #[error("failed to read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Creating or writing a file failed.
    #[error("failed to write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file is shorter than a GGUF header.
    #[error("file is too small to be a gguf file: `{len}` bytes, a gguf header needs `{min}`")]
    FileTooSmall {
        /// File length in bytes.
        len: u64,
        /// Minimum length of a GGUF header in bytes.
        min: u64,
    },

    /// The first four bytes are not `GGUF`.
    #[error(
        "not a gguf file: the first 4 bytes are `{}` (`{}`), expected `47 47 55 46` (`GGUF`)",
        hex(found),
        found.escape_ascii()
    )]
    BadMagic {
        /// The first four bytes of the file.
        found: [u8; 4],
    },

    /// The version field only makes sense byte-swapped: a big-endian file.
    #[error(
        "gguf file looks big-endian: its version reads as `{raw}`, or `{swapped}` byte-swapped; \
         only little-endian gguf files are supported"
    )]
    BigEndian {
        /// The version as read little-endian.
        raw: u32,
        /// The version byte-swapped.
        swapped: u32,
    },

    /// A GGUF version other than 2 or 3.
    #[error("unsupported gguf version `{version}`: only versions 2 and 3 are supported")]
    UnsupportedVersion {
        /// The version in the file.
        version: u32,
    },

    /// The file ended in the middle of a field.
    #[error(
        "file truncated while reading {what} at byte offset `{offset}`: \
         need `{needed}` bytes but the file is `{file_len}` bytes long"
    )]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset of the field.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// File length in bytes.
        file_len: u64,
    },

    /// A count in the file is larger than the rest of the file could possibly hold.
    #[error(
        "{what} `{count}` at byte offset `{offset}` cannot fit in the `{remaining}` bytes \
         left in the file"
    )]
    CountTooLarge {
        /// Which count.
        what: String,
        /// The count in the file.
        count: u64,
        /// Byte offset of the count.
        offset: u64,
        /// Bytes left in the file after the count.
        remaining: u64,
    },

    /// A key, string value or tensor name is not UTF-8.
    #[error("{what} at byte offset `{offset}` is not valid utf-8")]
    InvalidUtf8 {
        /// Which string.
        what: String,
        /// Byte offset of the string's bytes.
        offset: u64,
        /// The decoding error.
        #[source]
        source: std::str::Utf8Error,
    },

    /// A metadata value (or array element) type id that GGUF does not define.
    #[error("metadata key `{key}` has unknown value type `{type_id}` at byte offset `{offset}`")]
    UnknownValueType {
        /// The metadata key.
        key: String,
        /// The type id in the file.
        type_id: u32,
        /// Byte offset of the type id.
        offset: u64,
    },

    /// A bool value that is neither 0 nor 1.
    #[error(
        "metadata key `{key}` has bool byte `{value}` at byte offset `{offset}`, expected 0 or 1"
    )]
    InvalidBool {
        /// The metadata key.
        key: String,
        /// The byte in the file.
        value: u8,
        /// Byte offset of the byte.
        offset: u64,
    },

    /// Arrays nested deeper than [`crate::MAX_ARRAY_DEPTH`].
    #[error("metadata key `{key}` nests arrays deeper than `{limit}` levels")]
    NestingTooDeep {
        /// The metadata key.
        key: String,
        /// The nesting limit.
        limit: usize,
    },

    /// The same metadata key twice.
    #[error("duplicate metadata key `{key}`")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },

    /// The same tensor name twice.
    #[error("duplicate tensor name `{name}`")]
    DuplicateTensor {
        /// The repeated name.
        name: String,
    },

    /// More dimensions than ggml supports.
    #[error("tensor `{name}` has `{n_dims}` dimensions, ggml allows at most `{max}`")]
    TooManyDims {
        /// The tensor.
        name: String,
        /// Its dimension count.
        n_dims: u64,
        /// The maximum.
        max: u32,
    },

    /// The element count does not fit in an `i64` (as ggml counts), or the byte size in a `u64`.
    #[error("tensor `{name}` with dimensions `{dims:?}` is too large: its size overflows 64 bits")]
    ElementCountOverflow {
        /// The tensor.
        name: String,
        /// Its dimensions, innermost first.
        dims: Vec<u64>,
    },

    /// The row length is not a whole number of quantization blocks.
    #[error(
        "tensor `{name}` of type `{ty}` has rows of `{row_len}` elements, \
         not a multiple of the block length `{block_len}`"
    )]
    RowNotBlockAligned {
        /// The tensor.
        name: String,
        /// Its type.
        ty: GgmlType,
        /// Elements per row (`dims[0]`).
        row_len: u64,
        /// Elements per block of `ty`.
        block_len: u64,
    },

    /// A tensor type id that this crate does not know.
    #[error("tensor `{name}` has unknown ggml type id `{type_id}`")]
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// The type id in the file.
        type_id: u32,
    },

    /// `general.alignment` is zero or not a power of two.
    #[error("alignment `{alignment}` (from `general.alignment`) is not a power of two")]
    BadAlignment {
        /// The alignment in the file.
        alignment: u64,
    },

    /// A tensor offset is not a multiple of the alignment.
    #[error(
        "tensor `{name}` has data offset `{offset}`, not a multiple of the alignment `{alignment}`"
    )]
    MisalignedTensor {
        /// The tensor.
        name: String,
        /// Its offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A tensor's data runs past the end of the file.
    #[error(
        "tensor `{name}` needs `{needed}` bytes at byte offset `{start}` but the file is \
         `{file_len}` bytes long (is the file truncated?)"
    )]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Absolute byte offset where its data starts.
        start: u64,
        /// Bytes of data it needs.
        needed: u64,
        /// File length in bytes.
        file_len: u64,
    },

    /// Two tensors share bytes of the data section.
    #[error("tensors `{first}` and `{second}` overlap in the data section")]
    TensorOverlap {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },

    /// A required metadata key is absent.
    #[error("missing required metadata key `{key}`")]
    MissingKey {
        /// The key.
        key: String,
    },

    /// A metadata value has a type the caller cannot use.
    #[error("metadata key `{key}` has type `{found}`, expected `{expected}`")]
    WrongType {
        /// The key.
        key: String,
        /// The type the caller wanted.
        expected: &'static str,
        /// The type in the file.
        found: String,
    },

    /// An integer metadata value does not fit the requested type.
    #[error("metadata key `{key}` has value `{value}`, which does not fit in `{expected}`")]
    OutOfRange {
        /// The key (with `[index]` for an array element).
        key: String,
        /// The value.
        value: String,
        /// The type the caller wanted.
        expected: &'static str,
    },

    /// A metadata value the writer cannot encode.
    #[error("metadata key `{key}` cannot be written: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },

    /// (De)quantization of a type this crate has no reference code for.
    #[error("{operation} of `{ty}` is not supported")]
    Unsupported {
        /// `"quantization"` or `"dequantization"`.
        operation: &'static str,
        /// The type.
        ty: GgmlType,
    },

    /// A value count that is not a whole number of blocks.
    #[error("`{len}` values is not a multiple of the `{ty}` block length `{block_len}`")]
    NotBlockMultiple {
        /// The type.
        ty: GgmlType,
        /// The number of values given.
        len: usize,
        /// Elements per block of `ty`.
        block_len: usize,
    },

    /// A byte buffer of the wrong size for its type and shape.
    #[error("{what}: expected `{expected}` bytes of `{ty}` data, got `{actual}`")]
    DataSize {
        /// Which buffer.
        what: String,
        /// The type.
        ty: GgmlType,
        /// Bytes expected.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
