//! JSON under `response_format` with a real model.

use std::time::{Duration, Instant};

use hearth_engine::{Constraint, ConstraintFactory, Sampler, generate};
use hearth_models::{Model, SeqChunk};
use hearth_protocol::{FinishReason, ResponseFormat, SamplingParams, StopConditions};
use hearth_test_support::RealModel;
use serde_json::{Value, json};

use crate::support::{model, user_turn};

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string" },
            "age": { "type": "integer" }
        },
        "required": ["name", "age"]
    })
}

fn person_prompt(model: &Model) -> Vec<u32> {
    let question = "Invent a person and reply with JSON holding their name and age.";
    let text = model
        .chat_template()
        .render(&user_turn(question), true)
        .unwrap();
    model.tokenizer().encode(&text, true, true).unwrap()
}

#[test]
fn smollm2_writes_a_person_that_fits_the_schema() {
    let Some(model) = model(RealModel::SmolLm2) else {
        return;
    };
    let factory = ConstraintFactory::new(model.tokenizer()).unwrap();
    let constraint = factory
        .constraint(&ResponseFormat::JsonSchema(person_schema()))
        .unwrap();
    let stop = StopConditions {
        max_tokens: Some(64),
        stop: Vec::new(),
    };
    let mut text = String::new();
    let outcome = generate(
        &model,
        &person_prompt(&model),
        &SamplingParams::greedy(),
        &stop,
        1024,
        constraint,
        |t| text.push_str(t),
    )
    .unwrap();
    eprintln!("constrained output: {text}");
    assert_eq!(outcome.finish_reason, FinishReason::Stop, "{text}");
    let person: Value = serde_json::from_str(&text).unwrap();
    assert!(person["name"].is_string(), "{text}");
    assert!(person["age"].is_i64(), "{text}");
}

/// Prints what computing the mask costs per token on SmolLM2's 49k vocabulary:
/// `cargo test -p hearth-engine --test real mask_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn smollm2_mask_cost_per_token() {
    print_mask_cost(RealModel::SmolLm2);
}

/// The same on Gemma 3's 262k vocabulary.
#[test]
#[ignore = "a measurement, not a check"]
fn gemma3_mask_cost_per_token() {
    print_mask_cost(RealModel::Gemma3);
}

fn print_mask_cost(which: RealModel) {
    let Some(model) = model(which) else {
        return;
    };
    let started = Instant::now();
    let factory = ConstraintFactory::new(model.tokenizer()).unwrap();
    eprintln!(
        "{} tokens; factory built in {:?}",
        model.n_vocab(),
        started.elapsed()
    );
    for (label, format) in [
        ("json_object", ResponseFormat::JsonObject),
        ("person schema", ResponseFormat::JsonSchema(person_schema())),
    ] {
        let started = Instant::now();
        let constraint = factory.constraint(&format).unwrap().unwrap();
        let compile = started.elapsed();
        let (masks, commits, text) = timed_generation(&model, constraint);
        let n = masks.len().max(1) as u32;
        eprintln!(
            "{label}: compiled in {compile:?}; {} masks: mean {:?}, median {:?}, max {:?}; \
             commit mean {:?}; output {text:?}",
            masks.len(),
            masks.iter().sum::<Duration>() / n,
            masks[masks.len() / 2],
            masks[masks.len() - 1],
            commits / n,
        );
    }
}

/// Greedy generation of up to 64 tokens timing each mask (sorted) and the commits.
fn timed_generation(
    model: &Model,
    mut constraint: Constraint,
) -> (Vec<Duration>, Duration, String) {
    let prompt = person_prompt(model);
    let mut cache = model.new_cache(1024).unwrap();
    let chunk = SeqChunk {
        tokens: &prompt,
        start: 0,
    };
    let mut logits = model
        .forward(&[chunk], &mut [&mut cache])
        .unwrap()
        .row(0)
        .to_vec();
    let mut sampler = Sampler::new(&SamplingParams::greedy());
    let (mut masks, mut commits, mut tokens) = (Vec::new(), Duration::ZERO, Vec::new());
    for _ in 0..64 {
        let started = Instant::now();
        constraint.mask_logits(&mut logits).unwrap();
        masks.push(started.elapsed());
        let token = sampler.sample(&logits);
        if model.tokenizer().is_end_of_generation(token) {
            break;
        }
        let started = Instant::now();
        constraint.commit(token).unwrap();
        commits += started.elapsed();
        tokens.push(token);
        if constraint.is_finished() {
            break;
        }
        let chunk = SeqChunk {
            tokens: std::slice::from_ref(&token),
            start: cache.len(),
        };
        logits = model
            .forward(&[chunk], &mut [&mut cache])
            .unwrap()
            .row(0)
            .to_vec();
    }
    masks.sort();
    (masks, commits, model.tokenizer().decode(&tokens))
}
