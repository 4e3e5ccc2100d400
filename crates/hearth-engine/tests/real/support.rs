use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hearth_engine::generate;
use hearth_models::{ChatMessage, Model};
use hearth_protocol::{SamplingParams, StopConditions};
use hearth_test_support::{RealModel, real_model};

/// Each real model is loaded once per test binary and shared by its tests.
pub fn model(which: RealModel) -> Option<Arc<Model>> {
    static MODELS: OnceLock<Mutex<HashMap<&'static str, Arc<Model>>>> = OnceLock::new();
    let path = real_model(which)?;
    let mut models = MODELS.get_or_init(Default::default).lock().unwrap();
    let model = models
        .entry(which.file_name())
        .or_insert_with(|| Arc::new(Model::load(&path).unwrap()));
    Some(model.clone())
}

/// Greedy continuation of `prompt`, at most `n` tokens, stopping at end-of-generation.
pub fn greedy(model: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let stop = StopConditions {
        max_tokens: Some(n),
        stop: Vec::new(),
    };
    generate(
        model,
        prompt,
        &SamplingParams::greedy(),
        &stop,
        1024,
        None,
        |_| {},
    )
    .unwrap()
    .tokens
}

pub fn user_turn(question: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::new("user", question)]
}

/// Fraction of cases where `ours` equals `reference`, printing the ones that differ.
pub fn agreement(label: &str, pairs: &[(String, Vec<u32>, Vec<u32>)]) -> f64 {
    let mut equal = 0;
    for (name, ours, reference) in pairs {
        if ours == reference {
            equal += 1;
        } else {
            let diverge = ours
                .iter()
                .zip(reference)
                .take_while(|(a, b)| a == b)
                .count();
            eprintln!(
                "{label}: {name:?} differs at token {diverge}: ours {ours:?}, llama.cpp {reference:?}"
            );
        }
    }
    let rate = equal as f64 / pairs.len() as f64;
    eprintln!(
        "{label}: {equal}/{} equal ({:.0}%)",
        pairs.len(),
        rate * 100.0
    );
    rate
}
