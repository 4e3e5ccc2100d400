//! Saving the filled start of a [`KvCache`] to a byte stream and reading it back, so a
//! prompt prefix computed once can be reused by a later process.
//!
//! Layout, little-endian: the magic `HKVC`, the format version (`u32`), the shape
//! (`n_layers`, `n_kv_heads`, `head_dim`, each `u32`) and the number of positions `n`
//! (`u32`); then, layer after layer, the keys `(n_kv_heads, n, head_dim)` and the
//! transposed values `(n_kv_heads, head_dim, n)`, as f16. Only the `n` filled cells are
//! written, never the rest of the preallocated context.

use std::io::{Read, Write};

use half::f16;

use super::{CacheShape, KvCache};
use crate::error::{ModelError, Result};

const MAGIC: &[u8; 4] = b"HKVC";
/// Bumped whenever the layout above changes.
const VERSION: u32 = 1;

impl KvCache {
    /// Writes positions `0..n` of every layer, after a header naming the shape and `n`.
    pub fn write_prefix(&self, n: usize, out: &mut impl Write) -> Result<()> {
        if n > self.len {
            return Err(ModelError::KvData(format!(
                "asked to save {n} positions but the cache holds {}",
                self.len
            )));
        }
        let CacheShape {
            n_layers,
            n_kv_heads,
            head_dim,
        } = self.shape;
        let mut header = MAGIC.to_vec();
        for field in [VERSION as usize, n_layers, n_kv_heads, head_dim, n] {
            header.extend_from_slice(&to_u32(field)?.to_le_bytes());
        }
        out.write_all(&header).map_err(ModelError::KvIo)?;
        let mut bytes = Vec::with_capacity(2 * n_kv_heads * head_dim * n * size_of::<f16>());
        for (keys, values_t) in self.keys.iter().zip(&self.values_t) {
            bytes.clear();
            for row in self.key_rows(keys, n).chain(self.value_rows(values_t, n)) {
                bytes.extend(row.iter().flat_map(|x| x.to_le_bytes()));
            }
            out.write_all(&bytes).map_err(ModelError::KvIo)?;
        }
        Ok(())
    }

    /// Replaces the cache's contents with what [`KvCache::write_prefix`] wrote and
    /// returns the number of positions read. The shape must be this cache's and the
    /// positions must fit its context; a mismatch or a short read is an error, after
    /// which the cache is empty.
    pub fn read_prefix(&mut self, input: &mut impl Read) -> Result<usize> {
        self.len = 0;
        let n = self.read_header(input)?;
        let CacheShape {
            n_kv_heads,
            head_dim,
            ..
        } = self.shape;
        let (cells, len) = (self.cells, n * head_dim);
        let mut bytes = vec![0u8; len * size_of::<f16>()];
        for layer in 0..self.shape.n_layers {
            for h in 0..n_kv_heads {
                input.read_exact(&mut bytes).map_err(ModelError::KvIo)?;
                fill(&mut self.keys[layer][h * cells * head_dim..][..len], &bytes);
            }
            for row in 0..n_kv_heads * head_dim {
                let bytes = &mut bytes[..n * size_of::<f16>()];
                input.read_exact(bytes).map_err(ModelError::KvIo)?;
                fill(&mut self.values_t[layer][row * cells..][..n], bytes);
            }
        }
        self.len = n;
        Ok(n)
    }

    /// Checks the header against this cache and returns the number of positions.
    fn read_header(&self, input: &mut impl Read) -> Result<usize> {
        let mut header = [0u8; 24];
        input.read_exact(&mut header).map_err(ModelError::KvIo)?;
        if &header[..4] != MAGIC {
            return Err(ModelError::KvData("not a Hearth KV cache".into()));
        }
        let field = |i: usize| {
            let bytes: [u8; 4] = header[4 + 4 * i..8 + 4 * i]
                .try_into()
                .expect("the header holds six 4-byte fields");
            u32::from_le_bytes(bytes) as usize
        };
        if field(0) != VERSION as usize {
            return Err(ModelError::KvData(format!(
                "format version {} where {VERSION} is expected",
                field(0)
            )));
        }
        let shape = CacheShape {
            n_layers: field(1),
            n_kv_heads: field(2),
            head_dim: field(3),
        };
        if shape != self.shape {
            return Err(ModelError::KvData(format!(
                "shape {shape:?} where the model needs {:?}",
                self.shape
            )));
        }
        let n = field(4);
        if n > self.n_ctx {
            return Err(ModelError::KvData(format!(
                "{n} positions do not fit a context of {}",
                self.n_ctx
            )));
        }
        Ok(n)
    }

    /// The keys of positions `0..n`, one slice per head.
    fn key_rows<'a>(&self, keys: &'a [f16], n: usize) -> impl Iterator<Item = &'a [f16]> {
        let (cells, head_dim) = (self.cells, self.shape.head_dim);
        (0..self.shape.n_kv_heads).map(move |h| &keys[h * cells * head_dim..][..n * head_dim])
    }

    /// The values of positions `0..n`, one slice per head and dimension.
    fn value_rows<'a>(&self, values_t: &'a [f16], n: usize) -> impl Iterator<Item = &'a [f16]> {
        let cells = self.cells;
        let rows = self.shape.n_kv_heads * self.shape.head_dim;
        (0..rows).map(move |row| &values_t[row * cells..][..n])
    }
}

fn to_u32(x: usize) -> Result<u32> {
    u32::try_from(x).map_err(|_| ModelError::KvData(format!("{x} does not fit in 32 bits")))
}

fn fill(dst: &mut [f16], bytes: &[u8]) {
    for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
        *d = f16::from_le_bytes([b[0], b[1]]);
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    const SHAPE: CacheShape = CacheShape {
        n_layers: 2,
        n_kv_heads: 2,
        head_dim: 4,
    };

    /// A cache of `n_ctx` positions with `n` filled, each value distinct.
    fn filled(n_ctx: usize, n: usize) -> Result<KvCache> {
        let mut cache = KvCache::new(SHAPE, n_ctx, &Device::Cpu)?;
        let width = SHAPE.n_kv_heads * SHAPE.head_dim;
        for layer in 0..SHAPE.n_layers {
            let k: Vec<f32> = (0..n * width).map(|i| (layer * 1000 + i) as f32).collect();
            let v: Vec<f32> = k.iter().map(|x| -x - 0.5).collect();
            cache.write(layer, 0, &k, &v);
        }
        cache.advance(n);
        Ok(cache)
    }

    fn saved(cache: &KvCache, n: usize) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        cache.write_prefix(n, &mut bytes)?;
        Ok(bytes)
    }

    #[test]
    fn round_trip_restores_the_filled_positions() -> Result<()> {
        let cache = filled(100, 70)?;
        let bytes = saved(&cache, 65)?;
        // Header, then layers × (keys, values) × heads × head_dim × positions × 2 bytes.
        let expected = 24 + 2 * 2 * 2 * 4 * 65 * 2;
        assert_eq!(
            bytes.len(),
            expected,
            "only the saved positions are written"
        );
        let mut back = KvCache::new(SHAPE, 80, &Device::Cpu)?;
        assert_eq!(back.read_prefix(&mut bytes.as_slice())?, 65);
        assert_eq!(back.len(), 65);
        for layer in 0..SHAPE.n_layers {
            let (a, b) = (cache.layer(layer), back.layer(layer));
            for h in 0..SHAPE.n_kv_heads {
                let row = |view: &LayerViewRef, p: usize| -> Vec<f16> {
                    view.keys[(h * view.cells + p) * 4..][..4].to_vec()
                };
                for p in 0..65 {
                    assert_eq!(row(&a, p), row(&b, p));
                    for c in 0..4 {
                        let at = |v: &LayerViewRef| v.values_t[(h * 4 + c) * v.cells + p];
                        assert_eq!(at(&a), at(&b));
                    }
                }
            }
        }
        Ok(())
    }

    type LayerViewRef<'a> = super::super::LayerView<'a>;

    #[test]
    fn truncated_data_is_an_error_and_leaves_the_cache_empty() -> Result<()> {
        let bytes = saved(&filled(64, 10)?, 10)?;
        let mut back = filled(64, 5)?;
        for cut in [0, 10, 24, bytes.len() - 1] {
            let err = back.read_prefix(&mut &bytes[..cut]).unwrap_err();
            assert!(matches!(err, ModelError::KvIo(_)), "cut at {cut}: {err}");
            assert!(back.is_empty());
        }
        Ok(())
    }

    #[test]
    fn wrong_shape_or_too_long_is_refused() -> Result<()> {
        let bytes = saved(&filled(64, 10)?, 10)?;
        let other = CacheShape {
            head_dim: 8,
            ..SHAPE
        };
        let mut wrong = KvCache::new(other, 64, &Device::Cpu)?;
        let err = wrong.read_prefix(&mut bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
        let mut short = KvCache::new(SHAPE, 8, &Device::Cpu)?;
        let err = short.read_prefix(&mut bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("do not fit"), "{err}");
        let mut garbage = b"GGUF".to_vec();
        garbage.extend_from_slice(&bytes[4..]);
        let err = short.read_prefix(&mut garbage.as_slice()).unwrap_err();
        assert!(err.to_string().contains("not a Hearth"), "{err}");
        Ok(())
    }

    #[test]
    fn saving_more_than_is_filled_is_an_error() -> Result<()> {
        let cache = filled(64, 3)?;
        assert!(cache.write_prefix(4, &mut Vec::new()).is_err());
        Ok(())
    }
}
