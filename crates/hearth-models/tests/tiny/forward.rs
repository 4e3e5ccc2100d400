use hearth_models::{Model, ModelError, SeqChunk};
use hearth_test_support::tiny_llama;

use crate::write;

fn model() -> (tempfile::TempDir, Model) {
    let (dir, path) = write(&tiny_llama());
    let model = Model::load(&path).unwrap();
    (dir, model)
}

fn logits_alone(model: &Model, tokens: &[u32]) -> Vec<f32> {
    let mut cache = model.new_cache(64).unwrap();
    let chunk = SeqChunk { tokens, start: 0 };
    model
        .forward(&[chunk], &mut [&mut cache])
        .unwrap()
        .row(0)
        .to_vec()
}

#[test]
fn logits_are_finite_and_one_row_per_chunk() {
    let (_dir, model) = model();
    let logits = logits_alone(&model, &[1, 2, 3]);
    assert_eq!(logits.len(), model.n_vocab());
    assert!(logits.iter().all(|x| x.is_finite()));
}

#[test]
fn a_sequence_in_a_batch_gets_the_logits_it_gets_alone() {
    let (_dir, model) = model();
    let (a, b) = ([5u32, 6, 7, 8], [9u32, 10]);
    let mut ca = model.new_cache(64).unwrap();
    let mut cb = model.new_cache(64).unwrap();
    let chunks = [
        SeqChunk {
            tokens: &a,
            start: 0,
        },
        SeqChunk {
            tokens: &b,
            start: 0,
        },
    ];
    let batched = model.forward(&chunks, &mut [&mut ca, &mut cb]).unwrap();
    assert_eq!(batched.row(0), logits_alone(&model, &a).as_slice());
    assert_eq!(batched.row(1), logits_alone(&model, &b).as_slice());
}

#[test]
fn prompt_in_pieces_equals_prompt_at_once() {
    let (_dir, model) = model();
    let tokens = [11u32, 12, 13, 14, 15];
    let mut cache = model.new_cache(64).unwrap();
    let first = SeqChunk {
        tokens: &tokens[..2],
        start: 0,
    };
    model.forward(&[first], &mut [&mut cache]).unwrap();
    let rest = SeqChunk {
        tokens: &tokens[2..],
        start: 2,
    };
    let pieces = model.forward(&[rest], &mut [&mut cache]).unwrap();
    let at_once = logits_alone(&model, &tokens);
    for (p, a) in pieces.row(0).iter().zip(&at_once) {
        assert!((p - a).abs() < 1e-3, "{p} vs {a}");
    }
}

/// The error a single chunk gets from a fresh cache of `n_ctx` positions.
fn forward_error(model: &Model, tokens: &[u32], start: usize, n_ctx: usize) -> ModelError {
    let mut cache = model.new_cache(n_ctx).unwrap();
    let chunk = SeqChunk { tokens, start };
    model.forward(&[chunk], &mut [&mut cache]).err().unwrap()
}

#[test]
fn writing_past_the_context_is_an_error() {
    let (_dir, model) = model();
    let err = forward_error(&model, &[1; 5], 0, 4);
    assert!(
        matches!(
            err,
            ModelError::ContextFull {
                needed: 5,
                n_ctx: 4
            }
        ),
        "{err}"
    );
}

#[test]
fn token_outside_the_vocabulary_is_an_error() {
    let (_dir, model) = model();
    let err = forward_error(&model, &[model.n_vocab() as u32], 0, 8);
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
}

#[test]
fn chunk_that_skips_positions_is_an_error() {
    let (_dir, model) = model();
    let err = forward_error(&model, &[1], 3, 8);
    assert!(matches!(err, ModelError::Batch(_)), "{err}");
}
