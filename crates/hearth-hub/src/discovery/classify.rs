//! What a GGUF file is, from its metadata and file name alone.
//!
//! The rules, in order:
//! 1. Adapters: `general.type = adapter` or an `adapter.type` key. A LoRA
//!    (`adapter.type = lora`) is listed as an adapter; anything else (control vectors,
//!    architecture `controlvector`) is skipped.
//! 2. Vision projectors: architecture `clip`, `general.type = mmproj`, or `mmproj` in
//!    the file name.
//! 3. Speech models: architectures in [`SPEECH_ARCHITECTURES`].
//! 4. Embedding models: architectures in [`EMBEDDING_ARCHITECTURES`], or a
//!    `{arch}.pooling_type` key together with `{arch}.attention.causal = false`.
//!    (Decoder-based embedding models with causal attention cannot be told apart from
//!    chat models by metadata and are listed.)
//! 5. Vocabulary-only files: no tensors (except the first part of a split model, which
//!    `gguf-split --no-tensor-first-split` leaves without tensors).
//! 6. Everything else with a `general.architecture` is a chat/completion model.

use std::path::Path;

use hearth_gguf::{GgufError, GgufFile, Metadata};

use super::SkipKind;

/// Architectures that only embed (llama.cpp's BERT family and encoders).
pub const EMBEDDING_ARCHITECTURES: &[&str] = &[
    "bert",
    "nomic-bert",
    "nomic-bert-moe",
    "jina-bert-v2",
    "jina-bert-v3",
    "neo-bert",
    "modern-bert",
    "t5encoder",
    "gemma-embedding",
];

/// Architectures of speech models (recognition, or audio codecs of TTS pipelines).
pub const SPEECH_ARCHITECTURES: &[&str] = &["whisper", "wav-tokenizer-dec"];

/// What a file is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Class {
    Model(ModelInfo),
    Adapter(AdapterInfo),
    Skip { kind: SkipKind, reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelInfo {
    pub architecture: String,
    pub display_name: Option<String>,
    pub file_type: Option<String>,
    pub context_length: Option<u64>,
    pub has_chat_template: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AdapterInfo {
    pub architecture: String,
    pub base_model: Option<String>,
    pub base_model_repo_url: Option<String>,
    pub lora_alpha: Option<f32>,
}

/// Classifies an opened file. A metadata value of the wrong type is an error.
pub(crate) fn classify(file: &GgufFile, path: &Path) -> Result<Class, GgufError> {
    let meta = file.metadata();
    let arch = file.architecture()?.to_owned();
    let general_type = meta.opt_str("general.type")?;
    let skip = |kind, reason: String| Ok(Class::Skip { kind, reason });

    let adapter_type = meta.opt_str("adapter.type")?;
    if general_type == Some("adapter") || adapter_type.is_some() || arch == "controlvector" {
        return match adapter_type {
            Some(t) if t.eq_ignore_ascii_case("lora") => Ok(Class::Adapter(AdapterInfo {
                architecture: arch,
                base_model: meta
                    .opt_str("general.base_model.0.name")?
                    .map(str::to_owned),
                base_model_repo_url: meta
                    .opt_str("general.base_model.0.repo_url")?
                    .map(str::to_owned),
                lora_alpha: meta.opt_f32("adapter.lora.alpha")?,
            })),
            other => skip(
                SkipKind::UnsupportedAdapter,
                format!(
                    "adapter of type `{}` (architecture `{arch}`): only LoRA adapters are listed",
                    other.unwrap_or("unknown")
                ),
            ),
        };
    }

    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if arch == "clip" || general_type == Some("mmproj") || file_name.contains("mmproj") {
        return skip(
            SkipKind::VisionProjector,
            format!("vision projector (architecture `{arch}`), not a model on its own"),
        );
    }
    if SPEECH_ARCHITECTURES.contains(&arch.as_str()) {
        return skip(
            SkipKind::Speech,
            format!("speech model (architecture `{arch}`)"),
        );
    }
    if EMBEDDING_ARCHITECTURES.contains(&arch.as_str()) {
        return skip(
            SkipKind::Embedding,
            format!("embedding model (architecture `{arch}`)"),
        );
    }
    let pooling = meta.contains_key(&format!("{arch}.pooling_type"));
    if pooling && meta.opt_bool(&format!("{arch}.attention.causal"))? == Some(false) {
        return skip(
            SkipKind::Embedding,
            format!(
                "embedding model (architecture `{arch}` with `{arch}.pooling_type` and non-causal attention)"
            ),
        );
    }
    let split_count = meta.opt_u32("split.count")?.unwrap_or(1);
    if file.tensors().is_empty() && split_count <= 1 {
        return skip(
            SkipKind::VocabOnly,
            format!("vocabulary only (architecture `{arch}`): the file has no tensors"),
        );
    }
    Ok(Class::Model(ModelInfo {
        display_name: meta.opt_str("general.name")?.map(str::to_owned),
        file_type: meta
            .opt_u32("general.file_type")?
            .and_then(|id| hearth_gguf::facts::file_type_name(u64::from(id)))
            .map(str::to_owned),
        context_length: meta.opt_u64(&format!("{arch}.context_length"))?,
        has_chat_template: has_chat_template(meta),
        architecture: arch,
    }))
}

fn has_chat_template(meta: &Metadata) -> bool {
    meta.contains_key("tokenizer.chat_template")
}

#[cfg(test)]
mod tests {
    use hearth_gguf::{GgmlType, GgufWriter, Value};

    use super::*;

    fn file(meta: &[(&str, Value)], tensors: bool) -> Result<GgufFile, GgufError> {
        let mut w = GgufWriter::new();
        for (k, v) in meta {
            w.metadata(*k, v.clone());
        }
        if tensors {
            w.tensor("t", &[4], GgmlType::F32, vec![0; 16])?;
        }
        GgufFile::from_bytes(w.try_to_bytes()?)
    }

    fn kind(
        meta: &[(&str, Value)],
        tensors: bool,
        name: &str,
    ) -> Result<Option<SkipKind>, GgufError> {
        Ok(match classify(&file(meta, tensors)?, Path::new(name))? {
            Class::Skip { kind, .. } => Some(kind),
            Class::Model(_) | Class::Adapter(_) => None,
        })
    }

    fn arch(a: &str) -> (&'static str, Value) {
        ("general.architecture", Value::from(a))
    }

    #[test]
    fn chat_model_is_listed_with_its_details() -> Result<(), GgufError> {
        let f = file(
            &[
                arch("qwen2"),
                ("general.name", Value::from("Qwen")),
                ("general.file_type", Value::U32(15)),
                ("qwen2.context_length", Value::U32(32768)),
                ("tokenizer.chat_template", Value::from("{{ x }}")),
            ],
            true,
        )?;
        let Class::Model(info) = classify(&f, Path::new("q.gguf"))? else {
            panic!("expected a model");
        };
        assert_eq!(info.architecture, "qwen2");
        assert_eq!(info.display_name.as_deref(), Some("Qwen"));
        assert_eq!(info.file_type.as_deref(), Some("Q4_K_M"));
        assert_eq!(info.context_length, Some(32768));
        assert!(info.has_chat_template);
        Ok(())
    }

    #[test]
    fn non_models_are_skipped_by_kind() -> Result<(), GgufError> {
        assert_eq!(
            kind(&[arch("bert")], true, "e.gguf")?,
            Some(SkipKind::Embedding)
        );
        let pooled = [
            arch("qwen3"),
            ("qwen3.pooling_type", Value::U32(1)),
            ("qwen3.attention.causal", Value::Bool(false)),
        ];
        assert_eq!(kind(&pooled, true, "e.gguf")?, Some(SkipKind::Embedding));
        let causal_pooled = [arch("qwen3"), ("qwen3.pooling_type", Value::U32(3))];
        assert_eq!(kind(&causal_pooled, true, "e.gguf")?, None);
        assert_eq!(
            kind(&[arch("clip")], true, "p.gguf")?,
            Some(SkipKind::VisionProjector)
        );
        assert_eq!(
            kind(
                &[arch("llama"), ("general.type", Value::from("mmproj"))],
                true,
                "p.gguf"
            )?,
            Some(SkipKind::VisionProjector)
        );
        assert_eq!(
            kind(&[arch("llama")], true, "MMPROJ-f16.gguf")?,
            Some(SkipKind::VisionProjector)
        );
        assert_eq!(
            kind(&[arch("whisper")], true, "w.gguf")?,
            Some(SkipKind::Speech)
        );
        assert_eq!(
            kind(&[arch("llama")], false, "v.gguf")?,
            Some(SkipKind::VocabOnly)
        );
        assert_eq!(
            kind(
                &[arch("llama"), ("split.count", Value::U16(2))],
                false,
                "s.gguf"
            )?,
            None
        );
        assert_eq!(
            kind(&[arch("controlvector")], true, "cv.gguf")?,
            Some(SkipKind::UnsupportedAdapter)
        );
        Ok(())
    }

    #[test]
    fn lora_adapter_names_its_base() -> Result<(), GgufError> {
        let f = file(
            &[
                arch("llama"),
                ("general.type", Value::from("adapter")),
                ("adapter.type", Value::from("lora")),
                ("adapter.lora.alpha", Value::F32(16.0)),
                (
                    "general.base_model.0.name",
                    Value::from("SmolLM2 135M Instruct"),
                ),
            ],
            true,
        )?;
        let Class::Adapter(info) = classify(&f, Path::new("a.gguf"))? else {
            panic!("expected an adapter");
        };
        assert_eq!(info.architecture, "llama");
        assert_eq!(info.base_model.as_deref(), Some("SmolLM2 135M Instruct"));
        assert_eq!(info.base_model_repo_url, None);
        assert_eq!(info.lora_alpha, Some(16.0));
        Ok(())
    }

    #[test]
    fn missing_architecture_is_an_error() -> Result<(), GgufError> {
        let f = file(&[], true)?;
        assert!(classify(&f, Path::new("x.gguf")).is_err());
        Ok(())
    }
}
