//! [`GgufFile`]: an opened, validated GGUF file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::GgufError;
use crate::metadata::Metadata;
use crate::parse::{HEADER_LEN, parse};
use crate::tensor::TensorInfo;

/// An immutable, validated GGUF file, memory-mapped (or held in memory).
///
/// Everything is checked when the file is opened: header, metadata, tensor shapes and
/// types, alignment, and that every tensor's bytes lie inside the file without overlap.
/// After that, [`GgufFile::tensor_data`] is a cheap slice of the mapping.
///
/// As with any memory-mapped loader, the file must not be modified or truncated while
/// a `GgufFile` maps it.
pub struct GgufFile {
    storage: Storage,
    path: Option<PathBuf>,
    version: u32,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
}

enum Storage {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(map) => map,
            Storage::Owned(bytes) => bytes,
        }
    }
}

impl GgufFile {
    /// Memory-maps, parses and validates the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let read_err = |source| GgufError::Read {
            path: path.to_owned(),
            source,
        };
        let file = fs_err::File::open(path).map_err(read_err)?;
        let len = file.metadata().map_err(read_err)?.len();
        let storage = if len < HEADER_LEN {
            // Too small to map usefully (and zero-length maps are not portable): read it
            // so the usual checks report what is wrong.
            Storage::Owned(fs_err::read(path).map_err(read_err)?)
        } else {
            // SAFETY: the map is read-only and private to this value. Like every
            // memory-mapped model loader we rely on nobody modifying or truncating the
            // file while it is mapped; that is documented on `GgufFile`.
            Storage::Mmap(unsafe { memmap2::Mmap::map(file.file()) }.map_err(read_err)?)
        };
        Self::from_storage(storage, Some(path.to_owned()))
    }

    /// Parses and validates a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::from_storage(Storage::Owned(bytes), None)
    }

    fn from_storage(storage: Storage, path: Option<PathBuf>) -> Result<GgufFile, GgufError> {
        let parsed = parse(storage.bytes())?;
        let by_name = parsed
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(GgufFile {
            storage,
            path,
            version: parsed.version,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
            by_name,
            alignment: parsed.alignment,
            data_offset: parsed.data_offset,
        })
    }

    /// The GGUF version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, in file order.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(*self.by_name.get(name)?)
    }

    /// The raw bytes of a tensor: exactly `info.n_bytes()` bytes, in ggml block layout.
    ///
    /// `info` should come from this file's [`GgufFile::tensors`]; for those the bounds
    /// were validated at open. An info whose bytes do not lie inside this file gets an
    /// empty slice.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let range = self
            .data_offset
            .checked_add(info.offset)
            .and_then(|start| Some((start, start.checked_add(info.n_bytes())?)))
            .and_then(|(start, end)| {
                Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
            });
        range
            .and_then(|range| self.storage.bytes().get(range))
            .unwrap_or(&[])
    }

    /// Tells the OS that `info`'s bytes will not be read again soon, so that a loader
    /// which has copied a tensor out does not keep the file's pages resident as well:
    /// without it, a model is briefly in memory twice while it loads. Reading the
    /// tensor again still works (the pages are read back from the file). Best effort:
    /// does nothing for files held in memory or on failure.
    pub fn release_tensor_pages(&self, info: &TensorInfo) {
        self.release_tensor_range(info, 0..info.n_bytes());
    }

    /// [`GgufFile::release_tensor_pages`] for bytes `range` of `info`'s data only: a
    /// loader copying a large tensor piece by piece can let each piece go as it goes.
    pub fn release_tensor_range(&self, info: &TensorInfo, range: std::ops::Range<u64>) {
        // Whole 64 KiB spans inside the range: valid for any page size up to that.
        const SPAN: u64 = 64 * 1024;
        #[cfg(unix)]
        if let Storage::Mmap(map) = &self.storage {
            let Some(base) = self.data_offset.checked_add(info.offset) else {
                return;
            };
            let len = info.n_bytes();
            let start = base.saturating_add(range.start.min(len));
            let end = base
                .saturating_add(range.end.min(len))
                .min(map.len() as u64);
            let (first, last) = (start.div_ceil(SPAN) * SPAN, end / SPAN * SPAN);
            if last > first {
                // SAFETY: MADV_DONTNEED on this private, read-only file mapping only
                // drops resident pages; the next read faults the same bytes back in
                // from the file, so no reference ever sees different contents.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        first as usize,
                        (last - first) as usize,
                    )
                };
            }
        }
        #[cfg(not(unix))]
        let _ = (info, range);
    }

    /// `general.architecture`, e.g. `"llama"` or `"qwen2"`.
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.metadata.str("general.architecture")
    }

    /// The path this file was opened from; `None` for [`GgufFile::from_bytes`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// File size in bytes.
    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Alignment of the data section and tensors in bytes (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute byte offset where the data section starts; tensor offsets are relative to it.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}
