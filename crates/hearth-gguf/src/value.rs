//! GGUF metadata values.

/// How deeply arrays may nest inside a metadata value: an array of arrays is depth 2.
///
/// ggml itself reads no nested arrays at all; the limit keeps a hostile file from
/// recursing the reader into a stack overflow.
pub const MAX_ARRAY_DEPTH: usize = 4;

/// One GGUF metadata value.
///
/// GGUF arrays are homogeneous: every element has the same type. The reader only
/// produces such arrays and [`crate::GgufWriter`] refuses others.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// GGUF type 0.
    U8(u8),
    /// GGUF type 1.
    I8(i8),
    /// GGUF type 2.
    U16(u16),
    /// GGUF type 3.
    I16(i16),
    /// GGUF type 4.
    U32(u32),
    /// GGUF type 5.
    I32(i32),
    /// GGUF type 10.
    U64(u64),
    /// GGUF type 11.
    I64(i64),
    /// GGUF type 6.
    F32(f32),
    /// GGUF type 12.
    F64(f64),
    /// GGUF type 7, stored as one byte 0 or 1.
    Bool(bool),
    /// GGUF type 8: u64 byte length, then UTF-8 bytes.
    String(String),
    /// GGUF type 9: u32 element type, u64 count, then the elements.
    Array(Vec<Value>),
}

impl Value {
    /// The GGUF type name: `"u8"`, `"i32"`, `"f32"`, `"bool"`, `"string"`, `"array"`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// The GGUF value type id written before the value.
    pub fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// Any integer value that is non-negative, widened to `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// Any integer value that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// A `F32` or `F64` value as `f64`. Integers are not converted.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(f64::from(v)),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// A `String` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A `Bool` value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// An `Array` value's elements.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Any integer value, exactly.
    pub(crate) fn as_i128(&self) -> Option<i128> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::I8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U64(v) => Some(v.into()),
            Value::I64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// The type for error messages: `"u32"`, or `"array of string"` for arrays.
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Array(items) => match items.first() {
                Some(first) => format!("array of {}", first.describe()),
                None => "empty array".to_owned(),
            },
            other => other.type_name().to_owned(),
        }
    }

    /// Checks that arrays are homogeneous and nest at most [`MAX_ARRAY_DEPTH`] deep, so
    /// the value can be written as GGUF. Returns the reason when it cannot.
    pub(crate) fn check_encodable(&self, depth: usize) -> Result<(), String> {
        let Value::Array(items) = self else {
            return Ok(());
        };
        if depth >= MAX_ARRAY_DEPTH {
            return Err(format!(
                "arrays nest deeper than `{MAX_ARRAY_DEPTH}` levels"
            ));
        }
        if let Some(first) = items.first()
            && let Some((i, odd)) = items
                .iter()
                .enumerate()
                .find(|(_, v)| v.type_id() != first.type_id())
        {
            return Err(format!(
                "gguf arrays hold one type, but element `0` is `{}` and element `{i}` is `{}`",
                first.type_name(),
                odd.type_name()
            ));
        }
        items.iter().try_for_each(|v| v.check_encodable(depth + 1))
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::$variant(v)
            }
        })*
    };
}

value_from!(
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64, bool => Bool, String => String,
);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_between_widths_when_they_fit() {
        assert_eq!(Value::I8(-1).as_u64(), None);
        assert_eq!(Value::I8(-1).as_i64(), Some(-1));
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::U16(7).as_u64(), Some(7));
        assert_eq!(Value::F32(1.0).as_u64(), None);
        assert_eq!(Value::U32(1).as_f64(), None);
        assert_eq!(Value::F32(0.5).as_f64(), Some(0.5));
    }

    #[test]
    fn describe_names_array_element_type() {
        assert_eq!(Value::from(vec!["a"]).describe(), "array of string");
        assert_eq!(Value::Array(vec![]).describe(), "empty array");
        assert_eq!(
            Value::from(vec![vec![1u8]]).describe(),
            "array of array of u8"
        );
        assert_eq!(Value::Bool(true).describe(), "bool");
    }

    #[test]
    fn mixed_arrays_are_not_encodable() {
        let mixed = Value::Array(vec![Value::U32(1), Value::I32(2)]);
        let err = mixed.check_encodable(0).err().unwrap_or_default();
        assert!(err.contains("element `1` is `i32`"), "{err}");
        assert!(Value::from(vec![1u32, 2]).check_encodable(0).is_ok());
    }

    #[test]
    fn deep_nesting_is_not_encodable() {
        let mut v = Value::U8(0);
        for _ in 0..MAX_ARRAY_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert!(v.check_encodable(0).is_ok());
        let deeper = Value::Array(vec![v]);
        assert!(deeper.check_encodable(0).is_err());
    }
}
