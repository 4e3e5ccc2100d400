//! A file written by gguf-py, llama.cpp's own Python writer (see
//! `tests/fixtures/make_gguf_py_fixture.py`): we must read it, and decode its random
//! blocks exactly as gguf-py does.

use hearth_gguf::{GgmlType, GgufFile, quant};

use crate::support::TestResult;

fn fixture() -> Result<GgufFile, hearth_gguf::GgufError> {
    GgufFile::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gguf_py_tiny.bin"
    ))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn reads_metadata_and_tensors_written_by_gguf_py() -> TestResult {
    let file = fixture()?;
    let m = file.metadata();
    assert_eq!(file.architecture()?, "qwen2");
    assert_eq!(m.u32("qwen2.block_count")?, 2);
    assert_eq!(m.f32("qwen2.rope.freq_base")?, 1e6);
    assert_eq!(m.str_array("tokenizer.ggml.tokens")?, ["a", "b", "ç"]);
    assert_eq!(m.i32_array("tokenizer.ggml.token_type")?, [1, 2, 3]);
    assert!(m.bool("flag")?);
    assert_eq!(m.str("general.name")?, "tiny");

    // numpy shape (3, 4) arrives as ggml dims [4, 3].
    let w = file.tensor("w").ok_or("missing w")?;
    assert_eq!(
        (w.dims.as_slice(), w.ggml_type),
        ([4u64, 3].as_slice(), GgmlType::F32)
    );
    let expected: Vec<f32> = (0..12).map(|i| i as f32).collect();
    assert_eq!(f32s(file.tensor_data(w)), expected);

    let h = file.tensor("h").ok_or("missing h")?;
    let mut y = vec![0.0; 64];
    quant::dequantize(GgmlType::F16, file.tensor_data(h), &mut y)?;
    assert_eq!(y, (0..64).map(|i| i as f32).collect::<Vec<_>>());

    let q = file.tensor("q").ok_or("missing q")?;
    assert_eq!(
        (q.dims.as_slice(), q.ggml_type),
        ([32u64, 2].as_slice(), GgmlType::Q8_0)
    );
    let mut y = vec![0.0; 64];
    quant::dequantize(GgmlType::Q8_0, file.tensor_data(q), &mut y)?;
    for (i, v) in y.iter().enumerate() {
        let x = -1.0 + 2.0 * i as f32 / 63.0;
        assert!((v - x).abs() <= 0.6 / 127.0, "element {i}: {v} vs {x}");
    }
    Ok(())
}

#[test]
fn dequantization_matches_gguf_py_bit_for_bit() -> TestResult {
    let file = fixture()?;
    let types = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];
    for ty in types {
        let name = ty.name().to_lowercase();
        let blocks = file.tensor(&name).ok_or(format!("missing {name}"))?;
        assert_eq!(blocks.ggml_type, ty);
        let reference = file
            .tensor(&format!("{name}.ref"))
            .ok_or("missing reference")?;
        let expected = f32s(file.tensor_data(reference));
        let mut y = vec![f32::NAN; blocks.n_elements() as usize];
        quant::dequantize(ty, file.tensor_data(blocks), &mut y)?;
        assert_eq!(y.len(), expected.len(), "{ty}");
        for (i, (a, b)) in y.iter().zip(&expected).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{ty} element {i}: {a} vs {b}");
        }
    }
    Ok(())
}

#[test]
fn legacy_quantizers_write_the_same_bytes_as_ggml_reference() -> TestResult {
    let file = fixture()?;
    let input = file.tensor("quant_input").ok_or("missing input")?;
    let x = f32s(file.tensor_data(input));
    let types = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::BF16,
        GgmlType::F16,
    ];
    for ty in types {
        let name = format!("quantized.{}", ty.name().to_lowercase());
        let expected = file.tensor(&name).ok_or(format!("missing {name}"))?;
        let mut ours = Vec::new();
        quant::quantize(ty, &x, &mut ours)?;
        assert_eq!(ours, file.tensor_data(expected), "{ty}");
    }
    Ok(())
}
