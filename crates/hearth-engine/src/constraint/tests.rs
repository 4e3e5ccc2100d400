//! Constraint tests on a tiny hand-made vocabulary, driven by fake "models".

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::*;

/// End of sequence; a control token; then the texts below, from id 2 on.
const EOS: u32 = 0;
const CONTROL: u32 = 1;
/// Multi-byte tokens first, then every printable ASCII byte, tab and newline.
const MULTI_BYTE: [&str; 9] = [
    "{\"", "\":", "\",", "\"}", "name", "age", "  ", "\n  ", "42",
];

fn vocabulary() -> Vec<Vec<u8>> {
    let mut tokens = vec![b"</s>".to_vec(), b"<|im_start|>".to_vec()];
    tokens.extend(MULTI_BYTE.iter().map(|t| t.as_bytes().to_vec()));
    tokens.extend((0x20u8..0x7F).chain([b'\t', b'\n']).map(|b| vec![b]));
    tokens
}

fn factory() -> Result<ConstraintFactory, ConstraintError> {
    let tokens = vocabulary();
    let refs: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
    ConstraintFactory::from_table(&TokenTable::from_parts(&refs, &[CONTROL], &[EOS]))
}

fn id_of(text: &str) -> u32 {
    let index = vocabulary()
        .iter()
        .position(|t| t == text.as_bytes())
        .unwrap_or_else(|| unreachable!("`{text}` is in the test vocabulary"));
    index as u32
}

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

fn constraint(format: ResponseFormat) -> Result<Constraint, String> {
    factory()
        .map_err(|e| e.to_string())?
        .constraint(&format)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no constraint for a JSON format".to_owned())
}

fn commit_text(c: &mut Constraint, texts: &[&str]) -> Result<(), ConstraintError> {
    texts.iter().try_for_each(|t| c.commit(id_of(t)))
}

/// Runs a fake model that picks among the allowed tokens with `choose` until the
/// constraint finishes or end-of-generation is picked; returns the text.
fn drive(
    c: &mut Constraint,
    mut choose: impl FnMut(&[u32]) -> u32,
    max_steps: usize,
) -> Result<String, String> {
    let vocab = vocabulary();
    let mut text = Vec::new();
    for _ in 0..max_steps {
        let mut logits = vec![0.0f32; vocab.len()];
        c.mask_logits(&mut logits).map_err(|e| e.to_string())?;
        let allowed: Vec<u32> = (0u32..)
            .zip(&logits)
            .filter(|(_, l)| l.is_finite())
            .map(|(id, _)| id)
            .collect();
        if allowed.contains(&CONTROL) {
            return Err("a control token was allowed".to_owned());
        }
        let token = choose(&allowed);
        if token == EOS {
            return String::from_utf8(text).map_err(|e| e.to_string());
        }
        c.commit(token).map_err(|e| e.to_string())?;
        text.extend_from_slice(&vocab[token as usize]);
        if c.is_finished() {
            return String::from_utf8(text).map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "not finished after {max_steps} steps: {}",
        String::from_utf8_lossy(&text)
    ))
}

fn check_person(text: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {text}"))?;
    // serde_json reads integers beyond 64 bits (a random model writes them) as f64.
    let age = &value["age"];
    let integer = age.is_i64() || age.is_u64() || age.as_f64().is_some_and(|f| f.fract() == 0.0);
    if !value["name"].is_string() || !integer {
        return Err(format!("not a person: {text}"));
    }
    Ok(())
}

#[test]
fn text_format_needs_no_constraint() -> Result<(), ConstraintError> {
    assert!(factory()?.constraint(&ResponseFormat::Text)?.is_none());
    Ok(())
}

#[test]
fn json_object_must_start_with_an_opening_brace() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    let allowed = c.allowed_tokens().map_err(|e| e.to_string())?;
    let expected = vec![id_of("{\""), id_of("{")];
    assert_eq!(allowed, expected);
    Ok(())
}

#[test]
fn mask_sets_disallowed_logits_to_negative_infinity() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    let mut logits = vec![1.5f32; vocabulary().len()];
    c.mask_logits(&mut logits).map_err(|e| e.to_string())?;
    for (id, &logit) in (0u32..).zip(&logits) {
        let allowed = id == id_of("{") || id == id_of("{\"");
        assert_eq!(logit, if allowed { 1.5 } else { f32::NEG_INFINITY }, "{id}");
    }
    Ok(())
}

#[test]
fn mask_disallows_logits_beyond_the_vocabulary() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    let mut logits = vec![0.0f32; vocabulary().len() + 40];
    c.mask_logits(&mut logits).map_err(|e| e.to_string())?;
    assert!(
        logits[vocabulary().len()..]
            .iter()
            .all(|l| *l == f32::NEG_INFINITY)
    );
    Ok(())
}

#[test]
fn end_of_generation_is_allowed_only_once_the_object_closes() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonSchema(person_schema()))?;
    let steps = [
        "{\"", "name", "\":", "\"", "B", "o", "b", "\",", "\"", "age", "\":", "4", "2",
    ];
    for text in steps {
        let allowed = c.allowed_tokens().map_err(|e| e.to_string())?;
        assert!(!allowed.contains(&EOS), "EOS allowed before `{text}`");
        assert!(!c.is_finished());
        commit_text(&mut c, &[text]).map_err(|e| e.to_string())?;
    }
    commit_text(&mut c, &["}"]).map_err(|e| e.to_string())?;
    assert!(c.is_finished());
    assert_eq!(c.allowed_tokens().map_err(|e| e.to_string())?, vec![EOS]);
    Ok(())
}

#[test]
fn end_of_generation_can_be_committed_when_complete() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    commit_text(&mut c, &["{", "}"]).map_err(|e| e.to_string())?;
    c.commit(EOS).map_err(|e| e.to_string())?;
    assert!(c.is_finished());
    Ok(())
}

#[test]
fn a_clone_continues_independently() -> Result<(), String> {
    let mut first = constraint(ResponseFormat::JsonObject)?;
    commit_text(&mut first, &["{"]).map_err(|e| e.to_string())?;
    let mut second = first.clone();
    commit_text(&mut first, &["}"]).map_err(|e| e.to_string())?;
    assert!(first.is_finished());
    assert!(!second.is_finished());
    commit_text(&mut second, &["\"", "a", "\":", "1", "}"]).map_err(|e| e.to_string())?;
    assert!(second.is_finished());
    Ok(())
}

#[test]
fn a_token_outside_the_mask_is_rejected() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    match c.commit(id_of("[")) {
        Err(ConstraintError::TokenRejected { token, .. }) if token == id_of("[") => Ok(()),
        other => Err(format!("committing `[` gave {other:?}")),
    }
}

#[test]
fn whitespace_between_tokens_is_bounded() -> Result<(), String> {
    let mut c = constraint(ResponseFormat::JsonObject)?;
    commit_text(&mut c, &["{"]).map_err(|e| e.to_string())?;
    let space = id_of(" ");
    let mut spaces = 0;
    while c
        .allowed_tokens()
        .map_err(|e| e.to_string())?
        .contains(&space)
    {
        c.commit(space).map_err(|e| e.to_string())?;
        spaces += 1;
        if spaces > 100 {
            return Err("more than 100 spaces allowed in a row".to_owned());
        }
    }
    assert_eq!(spaces, 20);
    let mut c = constraint(ResponseFormat::JsonObject)?;
    commit_text(&mut c, &["{", "\n", "\n"]).map_err(|e| e.to_string())?;
    let allowed = c.allowed_tokens().map_err(|e| e.to_string())?;
    assert!(!allowed.contains(&id_of("\n")));
    assert!(allowed.contains(&id_of(" ")));
    assert!(allowed.contains(&id_of("\"")));
    Ok(())
}

#[test]
fn lowest_allowed_token_gives_a_valid_person() -> Result<(), String> {
    // Without `additionalProperties: false` the lowest id would write `"":"",` for ever.
    let mut schema = person_schema();
    schema["additionalProperties"] = json!(false);
    let mut c = constraint(ResponseFormat::JsonSchema(schema))?;
    let lowest_non_eos =
        |allowed: &[u32]| allowed.iter().copied().find(|&t| t != EOS).unwrap_or(EOS);
    let text = drive(&mut c, lowest_non_eos, 200)?;
    check_person(&text)
}

/// A fake model that picks any allowed token, avoiding `e` and `E` unless nothing
/// else is allowed (as in `true`): JSON allows numbers such as `8e992` that
/// serde_json cannot hold, and a number never needs an exponent.
fn random_choice(rng: &mut ChaCha8Rng) -> impl FnMut(&[u32]) -> u32 {
    let exponents = [id_of("e"), id_of("E")];
    move |allowed| {
        let choices: Vec<u32> = allowed
            .iter()
            .copied()
            .filter(|t| !exponents.contains(t))
            .collect();
        let choices = if choices.is_empty() {
            allowed
        } else {
            &choices
        };
        choices[rng.random_range(0..choices.len())]
    }
}

#[test]
fn random_allowed_tokens_give_valid_people() -> Result<(), String> {
    for seed in 0..20 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut c = constraint(ResponseFormat::JsonSchema(person_schema()))?;
        let text = drive(&mut c, random_choice(&mut rng), 20_000)?;
        check_person(&text).map_err(|e| format!("seed {seed}: {e}"))?;
    }
    Ok(())
}

#[test]
fn random_json_objects_parse() -> Result<(), String> {
    for seed in 0..10 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut c = constraint(ResponseFormat::JsonObject)?;
        let text = drive(&mut c, random_choice(&mut rng), 20_000)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        assert!(value.is_object(), "seed {seed}: {text}");
    }
    Ok(())
}

#[test]
fn invalid_schemas_are_schema_errors() -> Result<(), ConstraintError> {
    let factory = factory()?;
    let bad = [
        json!({ "type": "no-such-type" }),
        json!({ "$ref": "#/$defs/missing" }),
        json!({ "type": "integer", "minimum": 5, "maximum": 1 }),
        json!(42),
    ];
    for schema in bad {
        match factory.constraint(&ResponseFormat::JsonSchema(schema.clone())) {
            Err(ConstraintError::Schema(message)) => assert!(!message.is_empty()),
            other => panic!("schema {schema} gave {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn clients_cannot_lift_the_whitespace_bound() -> Result<(), String> {
    let mut schema = json!({ "type": "object" });
    schema["x-guidance"] = json!({ "whitespace_flexible": true });
    let mut c = constraint(ResponseFormat::JsonSchema(schema))?;
    commit_text(&mut c, &["{", "\n", "\n"]).map_err(|e| e.to_string())?;
    assert!(
        !c.allowed_tokens()
            .map_err(|e| e.to_string())?
            .contains(&id_of("\n"))
    );
    Ok(())
}

#[test]
fn constraints_can_move_between_threads() {
    fn send<T: Send>() {}
    fn share<T: Send + Sync>() {}
    send::<Constraint>();
    share::<ConstraintFactory>();
}
