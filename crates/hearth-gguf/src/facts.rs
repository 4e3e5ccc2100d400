//! Facts about a model that tools show: its quantization's name and its size in
//! parameters, the way llama.cpp and Ollama write them.

use crate::{GgufFile, Value};

/// llama.cpp's `general.file_type` (`enum llama_ftype`) as a quantization name.
pub fn file_type_name(file_type: u64) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        _ => return None,
    })
}

/// The file's quantization name from `general.file_type`.
pub fn quantization(file: &GgufFile) -> Option<&'static str> {
    file.metadata()
        .get("general.file_type")
        .and_then(Value::as_u64)
        .and_then(file_type_name)
}

/// Parameters in the model: `general.parameter_count` when the file says, else the
/// elements of its tensors counted; `None` for a file without tensors.
pub fn parameter_count(file: &GgufFile) -> Option<u64> {
    let said = file
        .metadata()
        .get("general.parameter_count")
        .and_then(Value::as_u64);
    let counted: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    said.or((counted > 0).then_some(counted))
}

/// A parameter count the way Ollama writes it: `134.52M`, `8.0B`.
pub fn parameter_size(n: u64) -> String {
    let n_f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.1}B", n_f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.2}M", n_f / 1e6)
    } else if n >= 1_000 {
        format!("{:.2}K", n_f / 1e3)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_ollamas() {
        assert_eq!(parameter_size(134_515_008), "134.52M");
        assert_eq!(parameter_size(8_030_261_248), "8.0B");
        assert_eq!(parameter_size(4_096), "4.10K");
        assert_eq!(parameter_size(12), "12");
    }

    #[test]
    fn file_types_name_llama_cpp_quantizations() {
        assert_eq!(file_type_name(3), Some("Q4_1"));
        assert_eq!(file_type_name(7), Some("Q8_0"));
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(999), None);
    }
}
