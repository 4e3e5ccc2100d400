//! Hostile input: truncations, byte flips and garbage must give errors, never panics.

use hearth_gguf::{GgufFile, Value};

use crate::support::{Rng, TestResult, sample_writer};

/// Touches everything an opened file offers, so a bad value would surface here.
fn exercise(file: &GgufFile) -> usize {
    let mut touched = 0;
    for (key, value) in file.metadata().iter() {
        touched += key.len() + value.type_name().len();
        if let Value::Array(items) = value {
            touched += items.len();
        }
    }
    for t in file.tensors() {
        touched += file.tensor_data(t).len();
        assert_eq!(file.tensor_data(t).len() as u64, t.n_bytes(), "{}", t.name);
    }
    touched
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error_until_the_data_is_complete() -> TestResult {
    let bytes = sample_writer()?.to_bytes();
    let full = GgufFile::from_bytes(bytes.clone())?;
    let data_end = full
        .tensors()
        .iter()
        .map(|t| full.data_offset() + t.offset + t.n_bytes())
        .max()
        .ok_or("no tensors")?;
    for len in 0..bytes.len() {
        let result = GgufFile::from_bytes(bytes[..len].to_vec());
        if (len as u64) < data_end {
            assert!(result.is_err(), "prefix of {len} bytes opened");
        } else {
            // Only trailing padding is missing: still a complete file.
            exercise(&result?);
        }
    }
    Ok(())
}

#[test]
fn random_byte_flips_never_panic() -> TestResult {
    let bytes = sample_writer()?.to_bytes();
    let header_len = GgufFile::from_bytes(bytes.clone())?.data_offset() as usize;
    let mut rng = Rng::new(42);
    let mut opened = 0;
    for round in 0..3000 {
        let mut corrupt = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            // Mostly hit the header, metadata and tensor table, where parsing happens.
            let at = if round % 4 == 0 {
                rng.below(corrupt.len())
            } else {
                rng.below(header_len)
            };
            corrupt[at] = match rng.below(4) {
                0 => 0,
                1 => 0xFF,
                2 => corrupt[at] ^ (1 << rng.below(8)),
                _ => rng.next_u64() as u8,
            };
        }
        if let Ok(file) = GgufFile::from_bytes(corrupt) {
            exercise(&file);
            opened += 1;
        }
    }
    // Some flips only change values (a float, a data byte); those files still open.
    assert!(opened > 0, "no corrupted file opened at all");
    Ok(())
}

#[test]
fn random_garbage_after_a_valid_header_never_panics() {
    let mut rng = Rng::new(9);
    for _ in 0..2000 {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&(rng.below(4) as u64).to_le_bytes());
        bytes.extend_from_slice(&(rng.below(4) as u64).to_le_bytes());
        let extra = rng.below(200);
        bytes.extend((0..extra).map(|_| match rng.below(3) {
            0 => rng.below(13) as u8,
            _ => rng.next_u64() as u8,
        }));
        if let Ok(file) = GgufFile::from_bytes(bytes) {
            exercise(&file);
        }
    }
}
