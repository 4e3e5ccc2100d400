//! llama.cpp reference outputs, made by `scripts/make-parity-fixtures.py`.

use serde::Deserialize;

use crate::repo_root;

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub generator: String,
    pub model: String,
    pub tokenize: Vec<TokenizeCase>,
    pub raw: Vec<GreedyCase>,
    pub chat: Vec<ChatCase>,
}

#[derive(Debug, Deserialize)]
pub struct TokenizeCase {
    pub text: String,
    pub ids: Vec<u32>,
}

#[derive(Debug, Deserialize)]
pub struct GreedyCase {
    pub prompt: String,
    pub prompt_ids: Vec<u32>,
    /// Greedy continuation, stopped at end-of-generation.
    pub ids: Vec<u32>,
}

#[derive(Debug, Deserialize)]
pub struct ChatCase {
    pub question: String,
    /// The prompt rendered with the model's chat template.
    pub prompt: String,
    pub prompt_ids: Vec<u32>,
    pub ids: Vec<u32>,
}

/// Reads `fixtures/parity/NAME.json`.
pub fn load(name: &str) -> Fixture {
    let path = repo_root()
        .join("fixtures/parity")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad fixture `{}`: {e}", path.display()))
}
