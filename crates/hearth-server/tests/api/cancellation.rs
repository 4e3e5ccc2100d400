//! Over a real socket: a client that goes away cancels its generation, and shutdown
//! lets in-flight streams finish.

use std::time::Duration;

use hearth_server::{AppState, ServerConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::*;

struct Running {
    addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn start(script: Script) -> TestResult<(Running, std::sync::Arc<FakeBackend>)> {
    let backend = FakeBackend::new(script);
    let state = AppState::new(
        backend.clone(),
        FakePool::with_models(&[MODEL]),
        ServerConfig::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(hearth_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok((Running { addr, stop, server }, backend))
}

/// Opens a connection and sends one POST with `body`.
async fn open_request(
    addr: std::net::SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> TestResult<TcpStream> {
    let mut socket = TcpStream::connect(addr).await?;
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    Ok(socket)
}

/// Reads until `needle` has arrived or `timeout` passes; returns what was read.
async fn read_until(socket: &mut TcpStream, needle: &str, timeout: Duration) -> TestResult<String> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    read.map_err(|_| format!("timed out waiting for `{needle}`"))??;
    Ok(String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test]
async fn dropping_a_streaming_client_cancels_the_generation() -> TestResult {
    let (running, backend) = start(Script::Hold).await?;
    let body = chat_body(json!({"stream": true}));
    let mut socket = open_request(running.addr, "/v1/chat/completions", &body).await?;
    let seen = read_until(&mut socket, "tick", Duration::from_secs(5)).await?;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    drop(socket);
    assert!(
        backend.wait_for_drop(Duration::from_secs(5)).await,
        "the backend's stream was not dropped after the client left"
    );
    let _ = running.stop.send(());
    running.server.await??;
    Ok(())
}

#[tokio::test]
async fn dropping_a_waiting_non_streamed_client_cancels_the_generation() -> TestResult {
    let (running, backend) = start(Script::Hold).await?;
    let socket = open_request(running.addr, "/v1/completions", &completion_body(json!({}))).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(backend.requests().len(), 1);
    drop(socket);
    assert!(
        backend.wait_for_drop(Duration::from_secs(5)).await,
        "the backend's stream was not dropped after the client left"
    );
    let _ = running.stop.send(());
    running.server.await??;
    Ok(())
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() -> TestResult {
    let script = Script::Slow(vec!["a", "b", "c", "d"], Duration::from_millis(50));
    let (running, _) = start(script).await?;
    let body = completion_body(json!({"stream": true}));
    let mut socket = open_request(running.addr, "/v1/completions", &body).await?;
    read_until(&mut socket, "data:", Duration::from_secs(5)).await?;
    let _ = running.stop.send(());
    let rest = read_until(&mut socket, "[DONE]", Duration::from_secs(5)).await?;
    assert!(rest.contains("[DONE]"), "{rest}");
    drop(socket);
    tokio::time::timeout(Duration::from_secs(5), running.server).await???;
    Ok(())
}

#[tokio::test]
async fn dropping_an_ollama_ndjson_client_cancels_the_generation() -> TestResult {
    let (running, backend) = start(Script::Hold).await?;
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    let mut socket = open_request(running.addr, "/api/chat", &body).await?;
    let seen = read_until(&mut socket, "tick", Duration::from_secs(5)).await?;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("application/x-ndjson"), "{seen}");
    drop(socket);
    assert!(
        backend.wait_for_drop(Duration::from_secs(5)).await,
        "the backend's stream was not dropped after the client left"
    );
    let _ = running.stop.send(());
    running.server.await??;
    Ok(())
}

#[tokio::test]
async fn dropping_a_waiting_non_streamed_ollama_client_cancels_the_generation() -> TestResult {
    let (running, backend) = start(Script::Hold).await?;
    let body = json!({"model": MODEL, "prompt": "hi", "stream": false});
    let socket = open_request(running.addr, "/api/generate", &body).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(backend.requests().len(), 1);
    drop(socket);
    assert!(
        backend.wait_for_drop(Duration::from_secs(5)).await,
        "the backend's stream was not dropped after the client left"
    );
    let _ = running.stop.send(());
    running.server.await??;
    Ok(())
}
