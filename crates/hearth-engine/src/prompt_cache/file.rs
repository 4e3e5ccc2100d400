//! The prompt-cache file of one model: which model file it belongs to, the token ids
//! of the cached prompt, then their KV cache.
//!
//! Layout, little-endian: the magic `HEARTHPC`, the format version (`u32`), the
//! version of Hearth that wrote it and the model file's path (each a `u32` length +
//! UTF-8), the model file's size and modification time (nanoseconds since the Unix
//! epoch), both `u64`; the number of tokens (`u32`) and the token ids (`u32` each);
//! then [`KvCache::write_prefix`]'s data for exactly those tokens, whose own header
//! names the cache shape. Another Hearth version may compute slightly different keys
//! and values, so its files are not reused either.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use hearth_models::{KvCache, ModelError};

const MAGIC: &[u8; 8] = b"HEARTHPC";
/// Bumped whenever the layout changes; a file of another version is replaced.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Longest string a file may hold, so garbage cannot ask for a huge allocation.
const MAX_STRING_BYTES: usize = 1 << 16;

/// Why a prompt-cache file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheFileError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("not a Hearth prompt cache")]
    NotACache,
    #[error("format version {found} where {FORMAT_VERSION} is expected")]
    Version { found: u32 },
    #[error("made for another model file (or an older copy of it)")]
    Foreign,
    #[error("holds {n} tokens, more than the context of {n_ctx}")]
    TooLong { n: usize, n_ctx: usize },
    #[error("its KV cache")]
    Kv(#[from] ModelError),
    #[error("holds {tokens} token ids but {positions} KV positions")]
    Mismatch { tokens: usize, positions: usize },
}

/// What a cache file must match to be used: the Hearth version, and the GGUF file's
/// path, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelIdentity {
    pub hearth: String,
    pub path: String,
    pub size: u64,
    pub modified_ns: u64,
}

impl ModelIdentity {
    /// The identity of the model file at `path` as it is now.
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        let meta = fs_err::metadata(path)?;
        let modified_ns = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Self {
            hearth: env!("CARGO_PKG_VERSION").to_owned(),
            path: path.to_string_lossy().into_owned(),
            size: meta.len(),
            modified_ns,
        })
    }
}

/// Writes the whole file: header, `tokens`, and the cache's first `tokens.len()`
/// positions.
pub(crate) fn write(
    out: &mut impl Write,
    identity: &ModelIdentity,
    tokens: &[u32],
    cache: &KvCache,
) -> Result<(), CacheFileError> {
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    for text in [&identity.hearth, &identity.path] {
        head.extend_from_slice(&len_u32(text.len())?.to_le_bytes());
        head.extend_from_slice(text.as_bytes());
    }
    head.extend_from_slice(&identity.size.to_le_bytes());
    head.extend_from_slice(&identity.modified_ns.to_le_bytes());
    head.extend_from_slice(&len_u32(tokens.len())?.to_le_bytes());
    head.extend(tokens.iter().flat_map(|t| t.to_le_bytes()));
    out.write_all(&head)?;
    cache.write_prefix(tokens.len(), out)?;
    Ok(())
}

/// Reads the header and the token ids, checking that the file belongs to `identity`
/// and holds at most `n_ctx` tokens; the KV data is left unread.
pub(crate) fn read_tokens(
    input: &mut impl Read,
    identity: &ModelIdentity,
    n_ctx: usize,
) -> Result<Vec<u32>, CacheFileError> {
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(CacheFileError::NotACache);
    }
    let found = read_u32(input)?;
    if found != FORMAT_VERSION {
        return Err(CacheFileError::Version { found });
    }
    let hearth = read_string(input)?;
    let path = read_string(input)?;
    let (size, modified_ns) = (read_u64(input)?, read_u64(input)?);
    let same = hearth == identity.hearth.as_bytes()
        && path == identity.path.as_bytes()
        && size == identity.size
        && modified_ns == identity.modified_ns;
    if !same {
        return Err(CacheFileError::Foreign);
    }
    let n = read_u32(input)? as usize;
    if n > n_ctx {
        return Err(CacheFileError::TooLong { n, n_ctx });
    }
    let mut bytes = vec![0u8; n * 4];
    input.read_exact(&mut bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Reads a whole file into `cache`: the token ids, then exactly as many positions.
pub(crate) fn read(
    input: &mut impl Read,
    identity: &ModelIdentity,
    cache: &mut KvCache,
) -> Result<Vec<u32>, CacheFileError> {
    cache.truncate(0);
    let tokens = read_tokens(input, identity, cache.n_ctx())?;
    let positions = cache.read_prefix(input)?;
    if positions != tokens.len() {
        cache.truncate(0);
        return Err(CacheFileError::Mismatch {
            tokens: tokens.len(),
            positions,
        });
    }
    Ok(tokens)
}

fn len_u32(n: usize) -> Result<u32, CacheFileError> {
    u32::try_from(n).map_err(|_| io::Error::other(format!("{n} does not fit in 32 bits")).into())
}

/// A length-prefixed string, as bytes; an absurd length makes the file foreign.
fn read_string(input: &mut impl Read) -> Result<Vec<u8>, CacheFileError> {
    let len = read_u32(input)? as usize;
    if len > MAX_STRING_BYTES {
        return Err(CacheFileError::Foreign);
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    input.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{prefilled, tiny_model};
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn identity() -> ModelIdentity {
        ModelIdentity {
            hearth: "1.2.3".into(),
            path: "/models/tiny.gguf".into(),
            size: 1234,
            modified_ns: 42,
        }
    }

    /// A whole file for `tokens`, and a fresh cache to read it into.
    fn saved(tokens: &[u32]) -> Result<(Vec<u8>, KvCache), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (_, model) = tiny_model(dir.path())?;
        let mut bytes = Vec::new();
        write(
            &mut bytes,
            &identity(),
            tokens,
            &prefilled(&model, tokens, 64)?,
        )?;
        Ok((bytes, model.new_cache(64)?))
    }

    #[test]
    fn round_trip_gives_the_tokens_and_their_positions() -> TestResult {
        let (bytes, mut cache) = saved(&[3, 1, 4, 1, 5])?;
        let tokens = read(&mut bytes.as_slice(), &identity(), &mut cache)?;
        assert_eq!(tokens, vec![3, 1, 4, 1, 5]);
        assert_eq!(cache.len(), 5);
        Ok(())
    }

    #[test]
    fn another_model_file_is_foreign() -> TestResult {
        let (bytes, mut cache) = saved(&[3, 1, 4])?;
        for other in [
            ModelIdentity {
                size: 1235,
                ..identity()
            },
            ModelIdentity {
                modified_ns: 43,
                ..identity()
            },
            ModelIdentity {
                path: "/elsewhere/tiny.gguf".into(),
                ..identity()
            },
            ModelIdentity {
                hearth: "1.2.4".into(),
                ..identity()
            },
        ] {
            let err = read(&mut bytes.as_slice(), &other, &mut cache).unwrap_err();
            assert!(matches!(err, CacheFileError::Foreign), "{err}");
        }
        Ok(())
    }

    #[test]
    fn bad_magic_version_or_length_is_refused() -> TestResult {
        let (bytes, mut cache) = saved(&[3, 1, 4])?;
        let mut garbage = bytes.clone();
        garbage[0] = b'X';
        let err = read(&mut garbage.as_slice(), &identity(), &mut cache).unwrap_err();
        assert!(matches!(err, CacheFileError::NotACache), "{err}");
        let mut old = bytes.clone();
        old[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = read(&mut old.as_slice(), &identity(), &mut cache).unwrap_err();
        assert!(matches!(err, CacheFileError::Version { .. }), "{err}");
        let err = read_tokens(&mut bytes.as_slice(), &identity(), 2).unwrap_err();
        assert!(matches!(err, CacheFileError::TooLong { n: 3, .. }), "{err}");
        Ok(())
    }

    #[test]
    fn truncated_file_is_an_error_and_leaves_the_cache_empty() -> TestResult {
        let (bytes, mut cache) = saved(&[3, 1, 4, 1, 5])?;
        for cut in [0, 7, 12, 40, bytes.len() / 2, bytes.len() - 1] {
            let err = read(&mut &bytes[..cut], &identity(), &mut cache).unwrap_err();
            assert!(
                matches!(err, CacheFileError::Io(_) | CacheFileError::Kv(_)),
                "cut at {cut}: {err}"
            );
            assert!(cache.is_empty(), "cut at {cut}");
        }
        Ok(())
    }

    #[test]
    fn token_count_must_match_the_kv_positions() -> TestResult {
        let (bytes, mut cache) = saved(&[3, 1, 4])?;
        // Claim two tokens where three were saved: the KV header still says three.
        let n_at = 8 + 4 + 4 + identity().hearth.len() + 4 + identity().path.len() + 16;
        let mut lying = bytes[..n_at].to_vec();
        lying.extend_from_slice(&2u32.to_le_bytes());
        lying.extend_from_slice(&bytes[n_at + 4..n_at + 12]);
        lying.extend_from_slice(&bytes[n_at + 16..]);
        let err = read(&mut lying.as_slice(), &identity(), &mut cache).unwrap_err();
        assert!(
            matches!(
                err,
                CacheFileError::Mismatch {
                    tokens: 2,
                    positions: 3
                }
            ),
            "{err}"
        );
        assert!(cache.is_empty());
        Ok(())
    }
}
