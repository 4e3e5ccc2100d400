//! Ordered GGUF metadata with typed accessors.

use std::collections::HashMap;

use crate::error::GgufError;
use crate::value::Value;

/// GGUF metadata: key → [`Value`], in file (or insertion) order.
///
/// The typed accessors come in pairs: `u32(key)` fails with [`GgufError::MissingKey`]
/// when the key is absent, `opt_u32(key)` returns `Ok(None)`. Both fail with
/// [`GgufError::WrongType`] or [`GgufError::OutOfRange`] naming the key when the value
/// is present but unusable. Integer accessors accept any integer type whose value fits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, keeping the key's original position if it was already set.
    /// Returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        if let Some(&i) = self.index.get(&key)
            && let Some(entry) = self.entries.get_mut(i)
        {
            return Some(std::mem::replace(&mut entry.1, value));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        None
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let &i = self.index.get(key)?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A required string.
    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        required(key, self.opt_str(key)?)
    }

    /// An optional string.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| wrong_type(key, "string", v)))
            .transpose()
    }

    /// A required integer that fits in `u32`.
    pub fn u32(&self, key: &str) -> Result<u32, GgufError> {
        required(key, self.opt_u32(key)?)
    }

    /// An optional integer that fits in `u32`.
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>, GgufError> {
        self.get(key).map(|v| int_as(key, v, "u32")).transpose()
    }

    /// A required integer that fits in `u64`.
    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        required(key, self.opt_u64(key)?)
    }

    /// An optional integer that fits in `u64`.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.get(key).map(|v| int_as(key, v, "u64")).transpose()
    }

    /// A required `f32` (an `f64` value is narrowed).
    pub fn f32(&self, key: &str) -> Result<f32, GgufError> {
        required(key, self.opt_f32(key)?)
    }

    /// An optional `f32` (an `f64` value is narrowed).
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.get(key).map(|v| float_as_f32(key, v)).transpose()
    }

    /// A required bool.
    pub fn bool(&self, key: &str) -> Result<bool, GgufError> {
        required(key, self.opt_bool(key)?)
    }

    /// An optional bool.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| wrong_type(key, "bool", v)))
            .transpose()
    }

    /// A required array of strings (e.g. `tokenizer.ggml.tokens`).
    pub fn str_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        required(key, self.opt_str_array(key)?)
    }

    /// An optional array of strings.
    pub fn opt_str_array(&self, key: &str) -> Result<Option<Vec<&str>>, GgufError> {
        const EXPECTED: &str = "array of string";
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let items = array(key, value, EXPECTED)?;
        items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| wrong_type(key, EXPECTED, value)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A required array of integers that each fit in `i32` (e.g. `tokenizer.ggml.token_type`).
    pub fn i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        const EXPECTED: &str = "array of i32";
        let value = self.require(key)?;
        let items = array(key, value, EXPECTED)?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_i128() {
                Some(wide) => i32::try_from(wide).map_err(|_| GgufError::OutOfRange {
                    key: format!("{key}[{i}]"),
                    value: wide.to_string(),
                    expected: "i32",
                }),
                None => Err(wrong_type(key, EXPECTED, value)),
            })
            .collect()
    }

    /// A required array of floats as `f32` (e.g. `tokenizer.ggml.scores`).
    pub fn f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        const EXPECTED: &str = "array of f32";
        let value = self.require(key)?;
        let items = array(key, value, EXPECTED)?;
        items
            .iter()
            .map(|v| float_as_f32(key, v).map_err(|_| wrong_type(key, EXPECTED, value)))
            .collect()
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| missing(key))
    }
}

fn required<T>(key: &str, value: Option<T>) -> Result<T, GgufError> {
    value.ok_or_else(|| missing(key))
}

fn missing(key: &str) -> GgufError {
    GgufError::MissingKey {
        key: key.to_owned(),
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.describe(),
    }
}

fn int_as<T: TryFrom<i128>>(key: &str, v: &Value, expected: &'static str) -> Result<T, GgufError> {
    let wide = v.as_i128().ok_or_else(|| wrong_type(key, expected, v))?;
    T::try_from(wide).map_err(|_| GgufError::OutOfRange {
        key: key.to_owned(),
        value: wide.to_string(),
        expected,
    })
}

fn float_as_f32(key: &str, v: &Value) -> Result<f32, GgufError> {
    match *v {
        Value::F32(x) => Ok(x),
        // Narrowing is the point: callers asked for f32.
        #[allow(clippy::cast_possible_truncation)]
        Value::F64(x) => Ok(x as f32),
        _ => Err(wrong_type(key, "f32", v)),
    }
}

/// An array's elements; an empty array matches any element type.
fn array<'a>(key: &str, v: &'a Value, expected: &'static str) -> Result<&'a [Value], GgufError> {
    v.as_array().ok_or_else(|| wrong_type(key, expected, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut m = Metadata::new();
        assert_eq!(m.insert("a", Value::U8(1)), None);
        m.insert("b", Value::U8(2));
        assert_eq!(m.insert("a", Value::U8(3)), Some(Value::U8(1)));
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.get("a"), Some(&Value::U8(3)));
        assert_eq!(m.len(), 2);
    }
}
