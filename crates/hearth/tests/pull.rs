//! `hearth pull` end to end, for what needs no real hub: bad input and a refusing hub.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn pull(model: &str, endpoint: &str, home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["pull", model])
        .env("HEARTH_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn pull_rejects_a_bad_reference_with_a_hint() {
    let home = tempfile::tempdir().unwrap();
    let out = pull("not-a-repo", "http://127.0.0.1:9", home.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: invalid model reference `not-a-repo`"),
        "{err}"
    );
    assert!(err.contains("hint: use `owner/repo`"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn pull_from_a_refusing_hub_points_at_hf_token() {
    // A hub that answers 401 to everything, as the real one does for gated repos.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let home = tempfile::tempdir().unwrap();
    let out = pull("org/gated:Q4_K_M", &endpoint, home.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error: access to `org/gated` denied"), "{err}");
    assert!(err.contains("hint:") && err.contains("HF_TOKEN"), "{err}");
    assert!(!home.path().join("manifests").exists());
}
