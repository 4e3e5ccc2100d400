//! Typed metadata accessors and their errors.

use hearth_gguf::{GgufError, Metadata, Value};

use crate::support::TestResult;

fn meta(entries: Vec<(&str, Value)>) -> Metadata {
    let mut m = Metadata::new();
    for (k, v) in entries {
        m.insert(k, v);
    }
    m
}

#[test]
fn integer_accessors_accept_any_integer_type_that_fits() -> TestResult {
    let m = meta(vec![
        ("a", Value::U8(7)),
        ("b", Value::I64(70_000)),
        ("c", Value::U64(u64::from(u32::MAX))),
        ("d", Value::I16(5)),
    ]);
    assert_eq!(m.u32("a")?, 7);
    assert_eq!(m.u32("b")?, 70_000);
    assert_eq!(m.u32("c")?, u32::MAX);
    assert_eq!(m.u64("d")?, 5);
    assert_eq!(m.opt_u64("a")?, Some(7));
    Ok(())
}

#[test]
fn integer_that_does_not_fit_names_key_and_value() -> TestResult {
    let m = meta(vec![("neg", Value::I32(-1)), ("big", Value::U64(1 << 40))]);
    let err = m.u32("neg").err().ok_or("negative accepted as u32")?;
    assert!(matches!(err, GgufError::OutOfRange { .. }));
    assert_eq!(
        err.to_string(),
        "metadata key `neg` has value `-1`, which does not fit in `u32`"
    );
    assert!(matches!(
        m.opt_u32("big"),
        Err(GgufError::OutOfRange { .. })
    ));
    assert!(matches!(m.u64("neg"), Err(GgufError::OutOfRange { .. })));
    Ok(())
}

#[test]
fn missing_key_error_names_the_key() -> TestResult {
    let m = Metadata::new();
    let err = m
        .u32("llama.block_count")
        .err()
        .ok_or("missing key accepted")?;
    assert!(matches!(err, GgufError::MissingKey { .. }));
    assert_eq!(
        err.to_string(),
        "missing required metadata key `llama.block_count`"
    );
    for err in [
        m.str("k").err(),
        m.u64("k").err(),
        m.f32("k").err(),
        m.bool("k").err(),
        m.str_array("k").err(),
        m.i32_array("k").err(),
        m.f32_array("k").err(),
    ] {
        assert!(matches!(err, Some(GgufError::MissingKey { key }) if key == "k"));
    }
    Ok(())
}

#[test]
fn optional_accessors_return_none_when_absent() -> TestResult {
    let m = Metadata::new();
    assert_eq!(m.opt_str("k")?, None);
    assert_eq!(m.opt_u32("k")?, None);
    assert_eq!(m.opt_u64("k")?, None);
    assert_eq!(m.opt_f32("k")?, None);
    assert_eq!(m.opt_bool("k")?, None);
    assert_eq!(m.opt_str_array("k")?, None);
    Ok(())
}

#[test]
fn wrong_type_error_names_key_expected_and_found_types() -> TestResult {
    let m = meta(vec![
        ("name", Value::U32(3)),
        ("eps", Value::from("small")),
        ("tokens", Value::from(vec![1u32, 2])),
    ]);
    let err = m.str("name").err().ok_or("u32 accepted as string")?;
    assert_eq!(
        err.to_string(),
        "metadata key `name` has type `u32`, expected `string`"
    );
    assert!(matches!(m.f32("eps"), Err(GgufError::WrongType { .. })));
    assert!(matches!(m.u32("eps"), Err(GgufError::WrongType { .. })));
    assert!(matches!(m.bool("name"), Err(GgufError::WrongType { .. })));
    let err = m.str_array("tokens").err().ok_or("u32 array accepted")?;
    assert_eq!(
        err.to_string(),
        "metadata key `tokens` has type `array of u32`, expected `array of string`"
    );
    assert!(matches!(
        m.f32_array("tokens"),
        Err(GgufError::WrongType { .. })
    ));
    assert!(matches!(
        m.i32_array("name"),
        Err(GgufError::WrongType { .. })
    ));
    Ok(())
}

#[test]
fn float_accessors_accept_f32_and_f64_but_not_integers() -> TestResult {
    let m = meta(vec![
        ("a", Value::F32(1.5)),
        ("b", Value::F64(1e-6)),
        ("c", Value::U32(1)),
        (
            "scores",
            Value::Array(vec![Value::F64(0.5), Value::F64(-2.0)]),
        ),
    ]);
    assert_eq!(m.f32("a")?, 1.5);
    assert_eq!(m.opt_f32("b")?, Some(1e-6));
    assert!(matches!(m.f32("c"), Err(GgufError::WrongType { .. })));
    assert_eq!(m.f32_array("scores")?, [0.5, -2.0]);
    Ok(())
}

#[test]
fn array_accessors_read_tokenizer_style_arrays() -> TestResult {
    let m = meta(vec![
        ("tokens", Value::from(vec!["<s>", "a"])),
        ("types", Value::from(vec![1u8, 6])),
        ("scores", Value::from(vec![0.0f32, -1.0])),
        ("flag", Value::Bool(true)),
    ]);
    assert_eq!(m.str_array("tokens")?, ["<s>", "a"]);
    assert_eq!(m.opt_str_array("tokens")?, Some(vec!["<s>", "a"]));
    assert_eq!(m.i32_array("types")?, [1, 6]);
    assert_eq!(m.f32_array("scores")?, [0.0, -1.0]);
    assert!(m.bool("flag")?);
    Ok(())
}

#[test]
fn array_element_out_of_range_names_key_and_index() -> TestResult {
    let m = meta(vec![("types", Value::from(vec![1i64, 1 << 40]))]);
    let err = m
        .i32_array("types")
        .err()
        .ok_or("i64 element accepted as i32")?;
    assert_eq!(
        err.to_string(),
        "metadata key `types[1]` has value `1099511627776`, which does not fit in `i32`"
    );
    Ok(())
}

#[test]
fn empty_array_matches_every_array_accessor() -> TestResult {
    let m = meta(vec![("e", Value::Array(vec![]))]);
    assert!(m.str_array("e")?.is_empty());
    assert!(m.i32_array("e")?.is_empty());
    assert!(m.f32_array("e")?.is_empty());
    Ok(())
}
