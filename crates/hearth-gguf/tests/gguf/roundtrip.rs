//! Writer → reader round trips, from memory and from disk.

use hearth_gguf::{GgmlType, GgufError, GgufFile, GgufWriter, Value};

use crate::support::{Raw, TestResult, sample_metadata, sample_writer};

#[test]
fn round_trip_preserves_every_value_type_in_order() -> TestResult {
    let file = GgufFile::from_bytes(sample_writer()?.try_to_bytes()?)?;
    assert_eq!(file.version(), 3);
    let read: Vec<(&str, &Value)> = file.metadata().iter().collect();
    let expected = sample_metadata();
    assert_eq!(read.len(), expected.len());
    for ((key, value), (want_key, want_value)) in read.iter().zip(&expected) {
        assert_eq!(key, want_key);
        assert_eq!(*value, want_value, "value of {key}");
    }
    assert_eq!(file.architecture()?, "llama");
    Ok(())
}

#[test]
fn round_trip_preserves_tensor_order_shapes_types_and_bytes() -> TestResult {
    let writer = sample_writer()?;
    let bytes = writer.to_bytes();
    let file = GgufFile::from_bytes(bytes.clone())?;
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "token_embd.weight",
            "blk.0.attn_q.weight",
            "blk.0.ffn_up.weight",
            "scalar"
        ]
    );
    let q = file.tensor("blk.0.attn_q.weight").ok_or("missing tensor")?;
    assert_eq!(
        (q.dims.as_slice(), q.ggml_type),
        ([32u64, 2].as_slice(), GgmlType::Q8_0)
    );
    assert_eq!((q.n_elements(), q.n_bytes()), (64, 68));
    let k = file.tensor("blk.0.ffn_up.weight").ok_or("missing tensor")?;
    assert_eq!(
        (k.dims.as_slice(), k.n_bytes()),
        ([256u64, 1, 1].as_slice(), 144)
    );
    let scalar = file.tensor("scalar").ok_or("missing tensor")?;
    assert_eq!(file.tensor_data(scalar), 1.5f32.to_le_bytes());
    for t in file.tensors() {
        assert_eq!(t.offset % 32, 0, "{} offset", t.name);
        assert_eq!(file.tensor_data(t).len() as u64, t.n_bytes());
    }
    assert!(file.tensor("absent").is_none());
    // ggml reads the data section as whole padded tensors, the last one included.
    assert_eq!(bytes.len() % 32, 0);
    assert_eq!(file.data_offset() % 32, 0);
    Ok(())
}

#[test]
fn open_maps_a_file_written_to_disk() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.gguf");
    let writer = sample_writer()?;
    writer.write(&path)?;
    let file = GgufFile::open(&path)?;
    let in_memory = GgufFile::from_bytes(writer.to_bytes())?;
    assert_eq!(file.path(), Some(path.as_path()));
    assert_eq!(in_memory.path(), None);
    assert_eq!(file.file_size(), std::fs::metadata(&path)?.len());
    assert_eq!(file.metadata(), in_memory.metadata());
    for (a, b) in file.tensors().iter().zip(in_memory.tensors()) {
        assert_eq!(a, b);
        assert_eq!(file.tensor_data(a), in_memory.tensor_data(b));
    }
    Ok(())
}

#[test]
fn general_alignment_sets_tensor_and_data_alignment() -> TestResult {
    let mut w = GgufWriter::new();
    // Stored as the u32 ggml insists on, whatever integer type it was given.
    w.metadata("general.alignment", Value::U64(64));
    w.tensor("a", &[3], GgmlType::F32, vec![1; 12])?;
    w.tensor("b", &[5], GgmlType::F16, vec![2; 10])?;
    let bytes = w.try_to_bytes()?;
    assert_eq!(bytes.len() % 64, 0);
    let file = GgufFile::from_bytes(bytes)?;
    assert_eq!(file.alignment(), 64);
    assert_eq!(
        file.metadata().get("general.alignment"),
        Some(&Value::U32(64))
    );
    assert_eq!(file.data_offset() % 64, 0);
    let offsets: Vec<u64> = file.tensors().iter().map(|t| t.offset).collect();
    assert_eq!(offsets, [0, 64]);
    let b = file.tensor("b").ok_or("missing tensor")?;
    assert_eq!(file.tensor_data(b), [2; 10]);
    Ok(())
}

#[test]
fn file_without_tensors_or_metadata_is_valid() -> TestResult {
    let file = GgufFile::from_bytes(GgufWriter::new().to_bytes())?;
    assert!(file.metadata().is_empty() && file.tensors().is_empty());
    assert!(matches!(
        file.architecture(),
        Err(GgufError::MissingKey { .. })
    ));
    Ok(())
}

#[test]
fn version_2_files_are_read() -> TestResult {
    let mut raw = Raw::header(2, 1, 1);
    raw.kv_u32("general.quantization_version", 2)
        .tensor("t", &[2], 0, 0)
        .data(32, 8);
    let file = GgufFile::from_bytes(raw.finish())?;
    assert_eq!(file.version(), 2);
    assert_eq!(file.metadata().u32("general.quantization_version")?, 2);
    let t = file.tensor("t").ok_or("missing tensor")?;
    assert_eq!(file.tensor_data(t), [0x5A; 8]);
    Ok(())
}

#[test]
fn tensor_data_of_a_foreign_info_is_empty_not_a_panic() -> TestResult {
    let file = GgufFile::from_bytes(sample_writer()?.to_bytes())?;
    let mut foreign = file.tensors()[0].clone();
    foreign.offset = u64::MAX - 3;
    assert!(file.tensor_data(&foreign).is_empty());
    Ok(())
}

#[test]
fn writer_rejects_data_of_the_wrong_length() -> TestResult {
    let err = GgufWriter::new()
        .tensor("w", &[32, 2], GgmlType::Q4_0, vec![0; 35])
        .err()
        .ok_or("35 bytes accepted for 2 Q4_0 blocks")?;
    assert!(
        matches!(
            err,
            GgufError::DataSize {
                expected: 36,
                actual: 35,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tensor `w`"), "{err}");
    Ok(())
}

#[test]
fn writer_rejects_duplicate_tensor_names_and_bad_shapes() -> TestResult {
    let mut w = GgufWriter::new();
    w.tensor("w", &[1], GgmlType::F32, vec![0; 4])?;
    let dup = w.tensor("w", &[1], GgmlType::F32, vec![0; 4]).err();
    assert!(matches!(dup, Some(GgufError::DuplicateTensor { name }) if name == "w"));
    let partial = w.tensor("q", &[16], GgmlType::Q8_0, vec![0; 17]).err();
    assert!(matches!(
        partial,
        Some(GgufError::RowNotBlockAligned { .. })
    ));
    let five = w
        .tensor("v", &[1, 1, 1, 1, 1], GgmlType::F32, vec![0; 4])
        .err();
    assert!(matches!(
        five,
        Some(GgufError::TooManyDims { n_dims: 5, .. })
    ));
    Ok(())
}

#[test]
fn writer_reports_mixed_arrays_instead_of_writing_them() -> TestResult {
    let mut w = GgufWriter::new();
    w.metadata("kept", Value::U8(1));
    w.metadata("mixed", Value::Array(vec![Value::U32(1), Value::from("x")]));
    let err = w.try_to_bytes().err().ok_or("mixed array accepted")?;
    assert!(matches!(&err, GgufError::InvalidValue { key, .. } if key == "mixed"));
    assert!(err.to_string().contains("element `1` is `string`"), "{err}");
    let dir = tempfile::tempdir()?;
    assert!(w.write(dir.path().join("x.gguf")).is_err());
    // to_bytes leaves the bad entry out and keeps the rest.
    let file = GgufFile::from_bytes(w.to_bytes())?;
    assert_eq!(file.metadata().len(), 1);
    assert!(file.metadata().get("mixed").is_none());
    Ok(())
}

#[test]
fn writer_rejects_an_alignment_that_is_not_a_power_of_two() {
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", Value::U32(48));
    assert!(matches!(
        w.try_to_bytes(),
        Err(GgufError::BadAlignment { alignment: 48 })
    ));
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", Value::from("32"));
    assert!(matches!(
        w.try_to_bytes(),
        Err(GgufError::InvalidValue { .. })
    ));
}

#[test]
fn writing_into_a_missing_directory_names_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("no/such/dir/model.gguf");
    let err = GgufWriter::new()
        .write(&path)
        .err()
        .ok_or("write succeeded")?;
    assert!(matches!(err, GgufError::Write { .. }));
    assert!(err.to_string().contains("model.gguf"), "{err}");
    Ok(())
}

#[test]
fn released_tensor_pages_read_back_the_same_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.gguf");
    // 1 MiB of F32, so that the tensor spans many whole 64 KiB pages.
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let mut writer = GgufWriter::new();
    writer.tensor("big", &[512, 512], GgmlType::F32, data.clone())?;
    writer.write(&path)?;
    let file = GgufFile::open(&path)?;
    let info = file.tensor("big").ok_or("missing tensor")?;
    assert_eq!(file.tensor_data(info), data);
    file.release_tensor_range(info, 100_000..700_000);
    file.release_tensor_range(info, 900_000..u64::MAX);
    assert_eq!(file.tensor_data(info), data);
    file.release_tensor_pages(info);
    assert_eq!(file.tensor_data(info), data);
    Ok(())
}
