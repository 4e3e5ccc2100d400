//! Every way a file can be rejected at open, with the message a user would see.

use hearth_gguf::{GgufError, GgufFile};

use crate::support::{Raw, TestResult, sample_writer};

fn open_err(bytes: Vec<u8>) -> Result<GgufError, String> {
    match GgufFile::from_bytes(bytes) {
        Ok(file) => Err(format!("expected an error, opened {file:?}")),
        Err(err) => Ok(err),
    }
}

#[test]
fn short_file_is_too_small() -> TestResult {
    for bytes in [vec![], b"GG".to_vec(), b"GGUF\x03\0\0\0".to_vec()] {
        let err = open_err(bytes)?;
        assert!(
            matches!(err, GgufError::FileTooSmall { min: 24, .. }),
            "{err}"
        );
    }
    Ok(())
}

#[test]
fn bad_magic_shows_the_bytes() -> TestResult {
    let mut bytes = b"\x7fELF".to_vec();
    bytes.resize(64, 0);
    let err = open_err(bytes)?;
    assert!(matches!(err, GgufError::BadMagic { found } if found == *b"\x7fELF"));
    assert_eq!(
        err.to_string(),
        "not a gguf file: the first 4 bytes are `7f 45 4c 46` (`\\x7fELF`), \
         expected `47 47 55 46` (`GGUF`)"
    );
    Ok(())
}

#[test]
fn big_endian_file_gets_a_clear_error() -> TestResult {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_be_bytes());
    bytes.extend_from_slice(&0u64.to_be_bytes());
    bytes.extend_from_slice(&0u64.to_be_bytes());
    let err = open_err(bytes)?;
    assert!(
        matches!(err, GgufError::BigEndian { swapped: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("big-endian"), "{err}");
    Ok(())
}

#[test]
fn versions_other_than_2_and_3_are_unsupported() -> TestResult {
    for version in [0, 1, 4, 99] {
        let err = open_err(Raw::header(version, 0, 0).finish())?;
        assert!(
            matches!(err, GgufError::UnsupportedVersion { version: v } if v == version),
            "{err}"
        );
    }
    Ok(())
}

#[test]
fn truncated_key_reports_field_offset_and_file_length() -> TestResult {
    let mut raw = Raw::header(3, 0, 1);
    raw.u64(30).bytes(b"general.architectu");
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "file truncated while reading key of metadata entry `0` at byte offset `32`: \
         need `30` bytes but the file is `50` bytes long"
    );
    Ok(())
}

#[test]
fn counts_larger_than_the_file_are_rejected_before_allocating() -> TestResult {
    let err = open_err(Raw::header(3, u64::MAX, 0).finish())?;
    assert!(
        matches!(err, GgufError::CountTooLarge { offset: 8, .. }),
        "{err}"
    );
    let err = open_err(Raw::header(3, 0, 1 << 60).finish())?;
    assert!(
        matches!(err, GgufError::CountTooLarge { offset: 16, .. }),
        "{err}"
    );
    let mut raw = Raw::header(3, 0, 1);
    raw.str("tokens").u32(9).u32(8).u64(u64::MAX / 2);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "array length of metadata key `tokens` `9223372036854775807` at byte offset `46` \
         cannot fit in the `0` bytes left in the file"
    );
    Ok(())
}

#[test]
fn invalid_utf8_key_is_rejected_with_its_offset() -> TestResult {
    let mut raw = Raw::header(3, 0, 1);
    raw.u64(2).bytes(&[0xC3, 0x28]).u32(0).u8(1);
    let err = open_err(raw.finish())?;
    assert!(
        matches!(err, GgufError::InvalidUtf8 { offset: 32, .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn unknown_value_types_name_the_key() -> TestResult {
    let mut raw = Raw::header(3, 0, 1);
    raw.str("k").u32(13).u32(0);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "metadata key `k` has unknown value type `13` at byte offset `33`"
    );
    let mut raw = Raw::header(3, 0, 1);
    raw.str("arr").u32(9).u32(99).u64(0);
    let err = open_err(raw.finish())?;
    assert!(
        matches!(&err, GgufError::UnknownValueType { key, type_id: 99, .. } if key == "arr"),
        "{err}"
    );
    Ok(())
}

#[test]
fn bool_must_be_zero_or_one() -> TestResult {
    let mut raw = Raw::header(3, 0, 1);
    raw.str("flag").u32(7).u8(2);
    let err = open_err(raw.finish())?;
    assert!(
        matches!(err, GgufError::InvalidBool { value: 2, .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn arrays_nested_too_deep_are_rejected() -> TestResult {
    let mut raw = Raw::header(3, 0, 1);
    raw.str("deep").u32(9);
    for _ in 0..hearth_gguf::MAX_ARRAY_DEPTH {
        raw.u32(9).u64(1);
    }
    raw.u32(0).u64(0);
    let err = open_err(raw.finish())?;
    assert!(
        matches!(&err, GgufError::NestingTooDeep { key, .. } if key == "deep"),
        "{err}"
    );
    Ok(())
}

#[test]
fn duplicate_key_is_rejected() -> TestResult {
    let mut raw = Raw::header(3, 0, 2);
    raw.kv_u32("a", 1).kv_u32("a", 2);
    let err = open_err(raw.finish())?;
    assert_eq!(err.to_string(), "duplicate metadata key `a`");
    Ok(())
}

#[test]
fn duplicate_tensor_name_is_rejected() -> TestResult {
    let mut raw = Raw::header(3, 2, 0);
    raw.tensor("w", &[1], 0, 0)
        .tensor("w", &[1], 0, 32)
        .data(32, 64);
    let err = open_err(raw.finish())?;
    assert_eq!(err.to_string(), "duplicate tensor name `w`");
    Ok(())
}

#[test]
fn more_than_four_dims_is_rejected() -> TestResult {
    let mut raw = Raw::header(3, 1, 0);
    raw.tensor("w", &[1, 1, 1, 1, 1], 0, 0).data(32, 4);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "tensor `w` has `5` dimensions, ggml allows at most `4`"
    );
    Ok(())
}

#[test]
fn overflowing_element_count_is_rejected() -> TestResult {
    let mut raw = Raw::header(3, 1, 0);
    raw.tensor("w", &[1 << 32, 1 << 32], 0, 0);
    let err = open_err(raw.finish())?;
    assert!(
        matches!(err, GgufError::ElementCountOverflow { .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn row_length_must_be_whole_blocks() -> TestResult {
    let mut raw = Raw::header(3, 1, 0);
    raw.tensor("w", &[16, 2], 2, 0).data(32, 36);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "tensor `w` of type `Q4_0` has rows of `16` elements, not a multiple of the block \
         length `32`"
    );
    Ok(())
}

#[test]
fn unknown_tensor_type_names_tensor_and_id() -> TestResult {
    let mut raw = Raw::header(3, 1, 0);
    raw.tensor("blk.0.w", &[32], 4, 0).data(32, 32);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "tensor `blk.0.w` has unknown ggml type id `4`"
    );
    Ok(())
}

#[test]
fn alignment_must_be_a_power_of_two_u32() -> TestResult {
    for alignment in [0, 48] {
        let mut raw = Raw::header(3, 0, 1);
        raw.kv_u32("general.alignment", alignment);
        let err = open_err(raw.finish())?;
        assert!(matches!(err, GgufError::BadAlignment { .. }), "{err}");
    }
    let mut raw = Raw::header(3, 0, 1);
    raw.str("general.alignment").u32(8).str("32");
    let err = open_err(raw.finish())?;
    assert!(
        matches!(&err, GgufError::WrongType { key, .. } if key == "general.alignment"),
        "{err}"
    );
    Ok(())
}

#[test]
fn misaligned_tensor_offset_is_rejected() -> TestResult {
    let mut raw = Raw::header(3, 1, 0);
    raw.tensor("w", &[1], 0, 8).data(32, 64);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "tensor `w` has data offset `8`, not a multiple of the alignment `32`"
    );
    Ok(())
}

#[test]
fn truncated_tensor_data_names_tensor_and_sizes() -> TestResult {
    let mut bytes = sample_writer()?.to_bytes();
    let full = GgufFile::from_bytes(bytes.clone())?;
    let last = full
        .tensors()
        .iter()
        .max_by_key(|t| t.offset)
        .ok_or("no tensors")?;
    let end = full.data_offset() + last.offset + last.n_bytes();
    bytes.truncate(end as usize - 1);
    let err = open_err(bytes)?;
    let start = full.data_offset() + last.offset;
    assert_eq!(
        err.to_string(),
        format!(
            "tensor `{}` needs `{}` bytes at byte offset `{start}` but the file is `{}` \
             bytes long (is the file truncated?)",
            last.name,
            last.n_bytes(),
            end - 1
        )
    );
    Ok(())
}

#[test]
fn overlapping_tensors_are_rejected() -> TestResult {
    let mut raw = Raw::header(3, 2, 0);
    raw.tensor("a", &[16], 0, 0)
        .tensor("b", &[4], 0, 32)
        .data(32, 64);
    let err = open_err(raw.finish())?;
    assert_eq!(
        err.to_string(),
        "tensors `a` and `b` overlap in the data section"
    );
    Ok(())
}

#[test]
fn zero_sized_tensors_never_overlap() -> TestResult {
    let mut raw = Raw::header(3, 2, 0);
    raw.tensor("a", &[4], 0, 0)
        .tensor("empty", &[0], 0, 0)
        .data(32, 16);
    let file = GgufFile::from_bytes(raw.finish())?;
    let empty = file.tensor("empty").ok_or("missing tensor")?;
    assert!(file.tensor_data(empty).is_empty());
    Ok(())
}

#[test]
fn opening_a_missing_file_names_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let err = GgufFile::open(dir.path().join("absent.gguf"))
        .err()
        .ok_or("opened a missing file")?;
    assert!(matches!(err, GgufError::Read { .. }));
    assert!(err.to_string().contains("absent.gguf"), "{err}");
    Ok(())
}

#[test]
fn opening_a_tiny_file_reports_it_too_small() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tiny.gguf");
    std::fs::write(&path, b"GGUF")?;
    let err = GgufFile::open(&path).err().ok_or("opened a tiny file")?;
    assert!(
        matches!(err, GgufError::FileTooSmall { len: 4, .. }),
        "{err}"
    );
    Ok(())
}
