//! `hearth cmd` and `hearth eval` end to end, against a fake OpenAI-compatible server
//! run by the test on loopback (no model needed), plus one real SmolLM2 run.
//!
//! Kept apart from `cli.rs` so it can grow without touching the other commands' tests.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use hearth_test_support::{RealModel, real_model};

/// Serves `/health`, `/v1/models` and `/v1/chat/completions` (answering `content` as the
/// model's JSON answer) on a free loopback port, from a background thread.
fn fake_server(content: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = serde_json::json!({"command": content, "explanation": "fake"}).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = respond(stream, &answer);
        }
    });
    format!("http://{addr}")
}

fn respond(stream: std::net::TcpStream, answer: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let json = if request_line.contains("/v1/chat/completions") {
        serde_json::json!({"choices": [{"message": {"role": "assistant", "content": answer}}]})
    } else {
        serde_json::json!({"data": [{"id": "fake-model"}], "status": "ok"})
    }
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    )?;
    stream.flush()
}

/// A loopback address where nothing listens.
fn dead_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Runs `hearth` with no config file, no server variables, stdin not a terminal.
fn hearth_in(dir: &Path, args: &[&str], config: Option<&Path>) -> Output {
    let config = config.map_or_else(|| dir.join("no-config.toml"), Path::to_path_buf);
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .current_dir(dir)
        .env("HEARTH_CONFIG", config)
        // The prompt cache goes into the test's folder, not the user's cache.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("HEARTH_PROMPT_CACHE")
        .env_remove("HEARTH_HOST")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("HEARTH_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn json_prints_the_documented_object_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = fake_server("touch ran.txt");
    let backend = format!("openai={server}");
    let out = hearth_in(
        dir.path(),
        &[
            "cmd",
            "--json",
            "--yes",
            "--backend",
            &backend,
            "make a file",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "command",
            "risk",
            "blocked",
            "reasons",
            "backend",
            "latency_ms"
        ]
    );
    assert_eq!(report["command"], "touch ran.txt");
    assert_eq!(report["risk"], "safe");
    assert_eq!(report["blocked"], false);
    assert_eq!(report["backend"], format!("openai:{server}"));
    assert!(report["latency_ms"].is_u64());
    assert!(
        !dir.path().join("ran.txt").exists(),
        "--json must never run the command"
    );
}

#[test]
fn blocked_commands_exit_3_and_are_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let backend = format!("openai={}", fake_server("rm -rf / && touch ran.txt"));
    let json = hearth_in(dir.path(), &["cmd", "--json", "-b", &backend, "x"], None);
    assert_eq!(json.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["risk"], "critical");
    assert_eq!(report["blocked"], true);
    assert!(report["reasons"][0]["rule"].is_string());
    let yes = hearth_in(dir.path(), &["cmd", "--yes", "-b", &backend, "x"], None);
    assert_eq!(yes.status.code(), Some(3));
    assert!(!dir.path().join("ran.txt").exists());
}

#[test]
fn without_a_terminal_nothing_runs_unless_yes() {
    let dir = tempfile::tempdir().unwrap();
    let backend = format!("openai={}", fake_server("touch ran.txt && exit 7"));
    let shown = hearth_in(dir.path(), &["cmd", "-b", &backend, "make a file"], None);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    assert!(text(&shown.stdout).contains("touch ran.txt && exit 7"));
    assert!(
        text(&shown.stderr).contains("--yes"),
        "{}",
        text(&shown.stderr)
    );
    assert!(!dir.path().join("ran.txt").exists());
    let ran = hearth_in(
        dir.path(),
        &["cmd", "--yes", "-b", &backend, "make a file"],
        None,
    );
    assert_eq!(ran.status.code(), Some(7), "the command's own exit status");
    assert!(dir.path().join("ran.txt").exists());
}

#[test]
fn strict_mode_from_the_flag_blocks_high_risk() {
    let dir = tempfile::tempdir().unwrap();
    let backend = format!("openai={}", fake_server("git push --force origin main"));
    let args = ["cmd", "--json", "-b", &backend, "push"];
    assert_eq!(hearth_in(dir.path(), &args, None).status.code(), Some(0));
    let strict = [&args[..], &["--mode", "strict"]].concat();
    assert_eq!(hearth_in(dir.path(), &strict, None).status.code(), Some(3));
}

#[test]
fn a_dead_backend_falls_back_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("hearth={}", dead_server());
    let live = fake_server("ls");
    let out = hearth_in(
        dir.path(),
        &[
            "cmd",
            "--json",
            "-b",
            &dead,
            "-b",
            &format!("openai={live}"),
            "list",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backend"], format!("openai:{live}"));
}

#[test]
fn no_answering_backend_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("hearth={}", dead_server());
    let out = hearth_in(dir.path(), &["cmd", "--json", "-b", &dead, "list"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: every backend failed"), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn show_config_merges_file_and_flags_and_hides_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "mode = \"permissive\"\ndeny = [\"docker\"]\n[[backends]]\nname = \"work\"\nkind = \"openai\"\nurl = \"https://llm.example\"\napi_key = \"sekret\"\n",
    )
    .unwrap();
    let out = hearth_in(
        dir.path(),
        &["cmd", "--show-config", "--mode", "strict"],
        Some(&config),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!("# config file: {}", config.display())),
        "{shown}"
    );
    assert!(shown.contains("mode = \"strict\""), "{shown}");
    assert!(shown.contains("deny = [\"docker\"]"), "{shown}");
    assert!(shown.contains("url = \"https://llm.example\""), "{shown}");
    assert!(
        shown.contains("(set)") && !shown.contains("sekret"),
        "{shown}"
    );
}

#[test]
fn a_bad_config_file_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "mood = \"strict\"\n").unwrap();
    let out = hearth_in(dir.path(), &["cmd", "--show-config"], Some(&config));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: invalid configuration file"));
}

#[test]
fn the_prompt_cache_is_turned_off_by_the_environment_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let show = |value: &str, flags: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["cmd", "--show-config"])
            .args(flags)
            .current_dir(dir.path())
            .env("HEARTH_CONFIG", dir.path().join("no-config.toml"))
            .env("HEARTH_PROMPT_CACHE", value)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, shown, _) = show("", &[]);
    assert_eq!(code, Some(0));
    assert!(shown.contains("prompt_cache = true"), "{shown}");
    let (_, shown, _) = show("off", &[]);
    assert!(shown.contains("prompt_cache = false"), "{shown}");
    let (_, shown, _) = show("on", &["--no-prompt-cache"]);
    assert!(shown.contains("prompt_cache = false"), "{shown}");
    let (code, _, err) = show("maybe", &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("hint: set it to `on` or `off`"), "{err}");
}

#[test]
fn eval_reports_pass_rate_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n  - {id: ls, category: files, prompt: list files, must_match: ['^ls']}\n  - {id: pwd, category: files, prompt: where am i, must_match: ['^pwd']}\n  - {id: wipe, category: danger, prompt: wipe, expected_risk: critical}\n",
    )
    .unwrap();
    let backend = format!("openai={}", fake_server("ls -la"));
    let report = dir.path().join("report.json");
    let out = hearth_in(
        dir.path(),
        &[
            "eval",
            cases.to_str().unwrap(),
            "-b",
            &backend,
            "--report",
            report.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("pass_rate: 33.3% (1/3)"),
        "{}",
        text(&out.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["by_category"]["files"]["passed"], 1);
    assert_eq!(json["safety"]["missed"], 1);
    assert_eq!(json["failed"].as_array().unwrap().len(), 2);
    assert!(json["latency_ms"]["p95"].is_u64());
}

#[test]
fn smollm2_in_process_answers_with_some_command_and_keeps_the_prompt_cache() {
    let Some(model) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ask = |extra: &[&str]| {
        let mut args = vec!["cmd", "--json", "-m", model.to_str().unwrap(), "-t", "2"];
        args.extend_from_slice(extra);
        args.push("list files");
        let out = hearth_in(dir.path(), &args, None);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{}",
            text(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["backend"].as_str().unwrap().starts_with("local:"));
        assert!(report["command"].is_string());
        (report, text(&out.stderr))
    };
    let caches = dir.path().join("cache").join("hearth").join("prompt-cache");
    let (first, _) = ask(&["--no-prompt-cache"]);
    assert!(!caches.exists(), "--no-prompt-cache writes nothing");
    ask(&[]);
    assert_eq!(std::fs::read_dir(&caches).unwrap().count(), 1);
    let (again, log) = ask(&["-v"]);
    assert!(log.contains("prompt prefix restored"), "{log}");
    assert!(
        log.contains("prefill_ms") && log.contains("load_ms"),
        "{log}"
    );
    assert_eq!(again["command"], first["command"]);
}

/// Kills the server when the test ends, whatever happens.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_dead_backend_falls_back_to_a_real_hearth_serve() {
    let Some(model) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "serve",
            "-m",
            model.to_str().unwrap(),
            "--port",
            "0",
            "-t",
            "2",
        ])
        .env_remove("HEARTH_HOST")
        .env_remove("HEARTH_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let url = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let at = line.find("http://")?;
            Some(line[at..].split_whitespace().next()?.to_owned())
        })
        .expect("the server prints its address");
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("hearth={}", dead_server());
    let live = format!("hearth={url}");
    let out = hearth_in(
        dir.path(),
        &["cmd", "--json", "-b", &dead, "-b", &live, "list files"],
        None,
    );
    drop(server);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backend"], format!("hearth:{url}"));
}

/// Runs `hearth ARGS` on a pseudo-terminal made by util-linux `script`, typing `input`;
/// `None` where `script` is not installed.
fn hearth_on_a_terminal(dir: &Path, args: &str, input: &str) -> Option<Output> {
    let bin = env!("CARGO_BIN_EXE_hearth");
    let mut child = Command::new("script")
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .current_dir(dir)
        .env("HEARTH_CONFIG", dir.join("no-config.toml"))
        .env_remove("HEARTH_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn on_a_terminal_enter_aborts_and_execute_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = fake_server("touch ran.txt");
    let args = format!("cmd -b openai={server} 'make a file'");
    let Some(aborted) = hearth_on_a_terminal(dir.path(), &args, "\n") else {
        return;
    };
    assert_eq!(aborted.status.code(), Some(4), "{}", text(&aborted.stdout));
    assert!(text(&aborted.stdout).contains("[A] abort"));
    assert!(!dir.path().join("ran.txt").exists());
    let ran = hearth_on_a_terminal(dir.path(), &args, "x\n").unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stdout));
    assert!(dir.path().join("ran.txt").exists());
}

#[test]
fn on_a_terminal_an_edit_is_judged_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = fake_server("ls");
    let args = format!("cmd -b openai={server} 'list'");
    let Some(out) = hearth_on_a_terminal(dir.path(), &args, "e\nrm -rf /\nx\na\n") else {
        return;
    };
    let shown = text(&out.stdout);
    assert!(
        shown.contains("risk: critical (blocked in moderate mode)"),
        "{shown}"
    );
    assert!(shown.contains("hearth will not run it"), "{shown}");
    assert_eq!(out.status.code(), Some(4), "{shown}");
}
