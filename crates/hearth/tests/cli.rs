//! The `hearth` binary end to end, on a tiny random model written by the test.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use hearth_test_support::tiny_llama;

fn tiny() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    tiny_llama().write(&path);
    (dir, path)
}

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn tokenize_prints_a_json_array_of_ids() {
    let (_dir, model) = tiny();
    let out = hearth(&["tokenize", "-m", model.to_str().unwrap(), " the hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids: Vec<u32> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids.len(), 4);
}

#[test]
fn missing_model_is_an_error_with_a_hint() {
    let out = hearth(&["run", "-m", "/no/such/model.gguf", "-p", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: model `/no/such/model.gguf` not found"),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn corrupt_model_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gguf");
    std::fs::write(&path, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let out = hearth(&["run", "-m", path.to_str().unwrap(), "-p", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: cannot load model"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let out = hearth(&["run", "-p", "no model given"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn greedy_run_is_deterministic_and_prints_only_generated_text() {
    let (_dir, model) = tiny();
    let args = [
        "run",
        "-m",
        model.to_str().unwrap(),
        "--raw",
        "-p",
        "the",
        "-n",
        "6",
        "--temperature",
        "0",
    ];
    let first = hearth(&args);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = hearth(&args);
    assert_eq!(first.stdout, second.stdout);
    assert!(first.stderr.is_empty(), "{}", text(&first.stderr));
    // A shorter run prints a prefix of the longer one: nothing is appended on a pipe.
    let mut short = args;
    short[7] = "3";
    let shorter = hearth(&short);
    assert!(first.stdout.starts_with(&shorter.stdout));
    assert!(shorter.stdout.len() < first.stdout.len() || first.stdout.is_empty());
}

#[test]
fn seeded_sampling_repeats_and_verbose_prints_statistics() {
    let (_dir, model) = tiny();
    let m = model.to_str().unwrap();
    let args = [
        "run",
        "-m",
        m,
        "--raw",
        "-p",
        "hello",
        "-n",
        "8",
        "--temperature",
        "1.5",
        "--seed",
        "42",
        "-v",
    ];
    let a = hearth(&args);
    let b = hearth(&args);
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let stats = text(&a.stderr);
    assert!(
        stats.contains("generated:") && stats.contains("tokens/s"),
        "{stats}"
    );
}

#[test]
fn piped_stdin_is_the_prompt() {
    let (_dir, model) = tiny();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "run",
            "-m",
            model.to_str().unwrap(),
            "--raw",
            "-n",
            "4",
            "--temperature",
            "0",
            "-v",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"the hello").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // " the hello" minus the leading space: t, he, Ġ, hell, o.
    assert!(
        text(&out.stderr).contains("prompt: 5 tokens"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn prompt_longer_than_the_context_is_a_clear_error() {
    let (_dir, model) = tiny();
    let long = "a ".repeat(100);
    let out = hearth(&[
        "run",
        "-m",
        model.to_str().unwrap(),
        "--raw",
        "-c",
        "16",
        "-p",
        &long,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("the context holds 16"), "{err}");
}

#[test]
fn check_blocks_dangerous_commands_with_exit_3() {
    let out = hearth(&["check", "--json", "sudo sh -c 'rm -rf /'"]);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["risk"], "critical");
    assert_eq!(report["blocked"], true);
    assert!(
        report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "rm-recursive-root")
    );
}

#[test]
fn check_allows_everyday_commands() {
    let out = hearth(&["check", "rm -rf ./node_modules"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("risk:    safe (allowed in moderate mode)"));
}

#[test]
fn check_mode_changes_the_decision() {
    let force_push = "git push --force origin main";
    assert_eq!(hearth(&["check", force_push]).status.code(), Some(0));
    assert_eq!(
        hearth(&["check", "--mode", "strict", force_push])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn bench_json_prints_one_line_per_test() {
    let (_dir, model) = tiny();
    let args = [
        "bench",
        "-m",
        model.to_str().unwrap(),
        "-p",
        "16",
        "-n",
        "4",
    ];
    let out = hearth(&[&args[..], &["-b", "3", "-r", "2", "-t", "1", "--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tests: Vec<&str> = lines.iter().map(|l| l["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["pp16", "tg4", "tg4x3"]);
    assert!(lines[0]["pp_tps"].as_f64().unwrap() > 0.0);
    assert!(lines[2]["tg_tps"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[2]["batch"], 3);
    assert_eq!(lines[1]["threads"], 1);
    assert!(lines[0]["load_ms"].as_f64().unwrap() >= 0.0);
    assert!(lines[0]["peak_rss_mb"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[0]["samples_tps"].as_array().unwrap().len(), 2);
}
