use hearth_models::Model;
use hearth_test_support::tiny_llama;

use crate::write;

fn model() -> (tempfile::TempDir, Model) {
    let (dir, path) = write(&tiny_llama());
    (dir, Model::load(&path).unwrap())
}

#[test]
fn merges_apply_and_bytes_round_trip() {
    let (_dir, model) = model();
    let tok = model.tokenizer();
    let ids = tok.encode(" the hello", false, false).unwrap();
    // " the" merges to "Ġthe"; " hello" becomes "Ġ", "hell", "o".
    let the = 256 + 2;
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids[0], the);
    assert_eq!(tok.decode(&ids), " the hello");
}

#[test]
fn special_token_text_is_only_special_when_asked() {
    let (_dir, model) = model();
    let tok = model.tokenizer();
    let im_start = 256 + 5 + 1;
    let plain = tok.encode("<|im_start|>", false, false).unwrap();
    assert!(!plain.contains(&im_start), "{plain:?}");
    let parsed = tok.encode("a<|im_start|>b", false, true).unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[1], im_start);
}

#[test]
fn control_tokens_print_nothing_and_end_of_turn_stops() {
    let (_dir, model) = model();
    let tok = model.tokenizer();
    let im_end = 256 + 5 + 2;
    assert!(tok.token_bytes(im_end).is_empty());
    assert!(tok.is_end_of_generation(im_end));
    assert!(!tok.is_end_of_generation(65));
}

#[test]
fn unicode_round_trips_through_byte_tokens() {
    let (_dir, model) = model();
    let tok = model.tokenizer();
    let text = "héllo 你好 👨‍👩‍👧 \t\r\n";
    let ids = tok.encode(text, false, false).unwrap();
    assert_eq!(tok.decode(&ids), text);
}
