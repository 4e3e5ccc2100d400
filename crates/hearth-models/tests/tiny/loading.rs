use hearth_models::{Model, ModelError};
use hearth_test_support::tiny_llama;

use crate::write;

#[test]
fn tiny_model_loads_with_its_configuration() {
    let (_dir, path) = write(&tiny_llama());
    let model = Model::load(&path).unwrap();
    assert_eq!(model.architecture(), "llama");
    assert_eq!(model.n_ctx_train(), 256);
    assert_eq!(model.n_vocab(), 256 + 5 + 3);
    assert!(model.chat_template_is_fallback());
}

#[test]
fn missing_tensor_is_named() {
    let mut tiny = tiny_llama();
    tiny.claimed_layers = Some(3);
    let (_dir, path) = write(&tiny);
    let err = Model::load(&path).err().unwrap();
    assert!(
        matches!(&err, ModelError::MissingTensor(name) if name == "blk.2.attn_norm.weight"),
        "{err}"
    );
}

#[test]
fn unknown_architecture_is_refused_by_name() {
    let mut tiny = tiny_llama();
    tiny.architecture = "mamba".into();
    let (_dir, path) = write(&tiny);
    let err = Model::load(&path).err().unwrap();
    assert_eq!(err.to_string(), "unsupported architecture `mamba`");
}

#[test]
fn truncated_file_is_an_error_naming_the_file() {
    let (_dir, path) = write(&tiny_llama());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = Model::load(&path).err().unwrap();
    assert!(matches!(err, ModelError::Gguf { .. }), "{err}");
    assert!(err.to_string().contains("tiny.gguf"), "{err}");
}

#[test]
fn file_that_is_not_gguf_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.gguf");
    std::fs::write(&path, b"just some text, not a model at all").unwrap();
    assert!(matches!(Model::load(&path), Err(ModelError::Gguf { .. })));
}

#[test]
fn chat_template_from_the_file_is_used() {
    let mut tiny = tiny_llama();
    tiny.chat_template = Some("{{ messages[0]['content'] }}!".into());
    let (_dir, path) = write(&tiny);
    let model = Model::load(&path).unwrap();
    assert!(!model.chat_template_is_fallback());
    let text = model
        .chat_template()
        .render(&[hearth_models::ChatMessage::new("user", "hi")], true)
        .unwrap();
    assert_eq!(text, "hi!");
}
