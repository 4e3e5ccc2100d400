//! Token-exact agreement with llama.cpp (fixtures/parity/*.json).

use hearth_gguf::GgufFile;
use hearth_models::Tokenizer;
use hearth_test_support::{RealModel, parity, real_model};

use crate::support::{agreement, greedy, model, user_turn};

const RAW_TOKENS: usize = 32;
const CHAT_TOKENS: usize = 48;
const REQUIRED_AGREEMENT: f64 = 0.9;

fn tokenizer_matches(which: RealModel, fixture: &str) {
    let Some(model) = model(which) else { return };
    let fixture = parity::load(fixture);
    assert!(fixture.tokenize.len() >= 40);
    for case in &fixture.tokenize {
        let ids = model.tokenizer().encode(&case.text, false, false).unwrap();
        assert_eq!(ids, case.ids, "tokenizing {:?}", case.text);
    }
}

fn raw_greedy_matches(which: RealModel, fixture: &str) {
    let Some(model) = model(which) else { return };
    let fixture = parity::load(fixture);
    assert!(fixture.raw.len() >= 30);
    let pairs: Vec<_> = fixture
        .raw
        .iter()
        .map(|case| {
            let ids = model.tokenizer().encode(&case.prompt, true, false).unwrap();
            assert_eq!(ids, case.prompt_ids, "prompt {:?}", case.prompt);
            (
                case.prompt.clone(),
                greedy(&model, &ids, RAW_TOKENS),
                case.ids.clone(),
            )
        })
        .collect();
    assert!(agreement("raw", &pairs) >= REQUIRED_AGREEMENT);
}

fn chat_greedy_matches(which: RealModel, fixture: &str) {
    let Some(model) = model(which) else { return };
    let fixture = parity::load(fixture);
    assert!(fixture.chat.len() >= 20);
    let pairs: Vec<_> = fixture
        .chat
        .iter()
        .map(|case| {
            let text = model
                .chat_template()
                .render(&user_turn(&case.question), true)
                .unwrap();
            assert_eq!(text, case.prompt, "rendering {:?}", case.question);
            let ids = model.tokenizer().encode(&text, true, true).unwrap();
            assert_eq!(
                ids, case.prompt_ids,
                "tokenizing the chat prompt of {:?}",
                case.question
            );
            (
                case.question.clone(),
                greedy(&model, &ids, CHAT_TOKENS),
                case.ids.clone(),
            )
        })
        .collect();
    assert!(agreement("chat", &pairs) >= REQUIRED_AGREEMENT);
}

#[test]
fn smollm2_tokenizer_matches_llama_cpp() {
    tokenizer_matches(RealModel::SmolLm2, "smollm2");
}

#[test]
fn smollm2_raw_greedy_matches_llama_cpp() {
    raw_greedy_matches(RealModel::SmolLm2, "smollm2");
}

#[test]
fn smollm2_chat_greedy_matches_llama_cpp() {
    chat_greedy_matches(RealModel::SmolLm2, "smollm2");
}

#[test]
#[ignore = "full tier: scripts/test-full.sh"]
fn qwen2_tokenizer_matches_llama_cpp() {
    tokenizer_matches(RealModel::Qwen2, "qwen2");
}

#[test]
#[ignore = "full tier: scripts/test-full.sh"]
fn qwen2_raw_greedy_matches_llama_cpp() {
    raw_greedy_matches(RealModel::Qwen2, "qwen2");
}

#[test]
#[ignore = "full tier: scripts/test-full.sh"]
fn qwen2_chat_greedy_matches_llama_cpp() {
    chat_greedy_matches(RealModel::Qwen2, "qwen2");
}

/// Gemma 3's SentencePiece tokenizer, checked on the file alone (CI tier).
#[test]
fn gemma3_tokenizer_matches_llama_cpp() {
    let Some(path) = real_model(RealModel::Gemma3) else {
        return;
    };
    let file = GgufFile::open(&path).unwrap();
    let tokenizer = Tokenizer::from_metadata(file.metadata()).unwrap();
    let fixture = parity::load("gemma3");
    assert!(fixture.tokenize.len() >= 40);
    for case in &fixture.tokenize {
        let ids = tokenizer.encode(&case.text, false, false).unwrap();
        assert_eq!(ids, case.ids, "tokenizing {:?}", case.text);
        assert_eq!(
            tokenizer.decode(&ids),
            case.text,
            "decoding {:?}",
            case.text
        );
    }
    for case in &fixture.raw {
        let ids = tokenizer.encode(&case.prompt, true, false).unwrap();
        assert_eq!(ids, case.prompt_ids, "prompt {:?}", case.prompt);
    }
}

/// A short Gemma 3 generation in the CI tier: the first 8 greedy tokens of the first
/// 8 raw prompts.
#[test]
fn gemma3_short_greedy_matches_llama_cpp() {
    let Some(model) = model(RealModel::Gemma3) else {
        return;
    };
    let fixture = parity::load("gemma3");
    let pairs: Vec<_> = fixture.raw[..8]
        .iter()
        .map(|case| {
            let reference: Vec<u32> = case.ids.iter().copied().take(8).collect();
            (
                case.prompt.clone(),
                greedy(&model, &case.prompt_ids, 8),
                reference,
            )
        })
        .collect();
    assert!(agreement("gemma3 short", &pairs) >= 0.75);
}

#[test]
#[ignore = "full tier: scripts/test-full.sh"]
fn gemma3_raw_greedy_matches_llama_cpp() {
    raw_greedy_matches(RealModel::Gemma3, "gemma3");
}
