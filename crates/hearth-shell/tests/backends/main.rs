//! The HTTP backends against a small axum server started by each test: no network.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use hearth_shell::backend::{Chain, CommandBackend, CompletionRequest, Ollama, OpenAiCompatible};
use hearth_shell::prompt::answer_schema;
use hearth_shell::{
    Assistant, Decision, GenerationOptions, Policy, Risk, Validator, prompt::Environment,
};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the fake server saw: request bodies and authorization headers.
#[derive(Clone, Default)]
struct Seen {
    bodies: Arc<Mutex<Vec<Value>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn record(&self, headers: &HeaderMap, body: Value) {
        if let Ok(mut b) = self.bodies.lock() {
            b.push(body);
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut a) = self.auth.lock() {
            a.push(auth);
        }
    }
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }
    fn auth(&self) -> Vec<String> {
        self.auth.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

const ANSWER: &str = r#"{"command": "ls -la", "explanation": "Lists every file."}"#;

fn app(seen: Seen, answer: &'static str) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/v1/models",
            get(|| async { axum::Json(json!({"data": [{"id": "served-model"}]})) }),
        )
        .route(
            "/v1/chat/completions",
            post(
                move |State(seen): State<Seen>,
                      headers: HeaderMap,
                      axum::Json(body): axum::Json<Value>| async move {
                    seen.record(&headers, body);
                    axum::Json(
                        json!({"choices": [{"message": {"role": "assistant", "content": answer}}]}),
                    )
                },
            ),
        )
        .route(
            "/api/tags",
            get(|| async { axum::Json(json!({"models": []})) }),
        )
        .route(
            "/api/chat",
            post(
                move |State(seen): State<Seen>,
                      headers: HeaderMap,
                      axum::Json(body): axum::Json<Value>| async move {
                    seen.record(&headers, body);
                    axum::Json(
                        json!({"message": {"role": "assistant", "content": answer}, "done": true}),
                    )
                },
            ),
        )
        .with_state(seen)
}

async fn start(answer: &'static str) -> Result<(String, Seen), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let seen = Seen::default();
    let router = app(seen.clone(), answer);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((format!("http://{addr}"), seen))
}

/// An address nothing listens on.
async fn dead_address() -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}

fn request() -> CompletionRequest {
    CompletionRequest {
        messages: vec![hearth_protocol_message()],
        schema: Some(answer_schema()),
        max_tokens: 64,
        temperature: 0.0,
        stop_after_command: false,
    }
}

fn hearth_protocol_message() -> hearth_protocol::ChatMessage {
    hearth_protocol::ChatMessage::new("user", "list files")
}

#[tokio::test]
async fn openai_backend_sends_schema_and_bearer_key() -> Result<(), Error> {
    let (base, seen) = start(ANSWER).await?;
    let backend = OpenAiCompatible::new(&base, Some("m1".into()), Some("sekret".into()));
    backend.health().await?;
    let text = backend.complete(&request()).await?;
    assert_eq!(text, ANSWER);
    let body = &seen.bodies()[0];
    assert_eq!(body["model"], "m1");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        answer_schema()
    );
    assert_eq!(body["messages"][0]["content"], "list files");
    assert!(seen.auth().iter().all(|a| a == "Bearer sekret"));
    assert!(backend.name().starts_with("openai:"));
    Ok(())
}

#[tokio::test]
async fn hearth_backend_without_a_model_asks_the_server_for_one() -> Result<(), Error> {
    let (base, seen) = start(ANSWER).await?;
    let backend = OpenAiCompatible::hearth(base.trim_start_matches("http://"), None, None);
    backend.health().await?;
    backend.complete(&request()).await?;
    assert_eq!(seen.bodies()[0]["model"], "served-model");
    assert!(backend.name().starts_with("hearth:http://127.0.0.1:"));
    Ok(())
}

#[tokio::test]
async fn ollama_backend_sends_format_and_no_stream() -> Result<(), Error> {
    let (base, seen) = start(ANSWER).await?;
    let backend = Ollama::new(&base, "qwen2.5-coder:0.5b");
    backend.health().await?;
    assert_eq!(backend.complete(&request()).await?, ANSWER);
    let body = &seen.bodies()[0];
    assert_eq!(body["stream"], false);
    assert_eq!(body["format"], answer_schema());
    assert_eq!(body["options"]["num_predict"], 64);
    Ok(())
}

#[tokio::test]
async fn chain_falls_back_from_a_dead_server_and_says_who_answered() -> Result<(), Error> {
    let (base, _) = start(ANSWER).await?;
    let dead = dead_address().await?;
    let chain = Chain::new(vec![
        Box::new(OpenAiCompatible::hearth(&dead, Some("x".into()), None)),
        Box::new(Ollama::new(&base, "m")),
    ]);
    let answered = chain.complete(&request(), 0).await?;
    assert_eq!(answered.index, 1);
    assert!(
        answered.backend.starts_with("ollama:"),
        "{}",
        answered.backend
    );
    Ok(())
}

#[tokio::test]
async fn assistant_judges_what_a_server_answers() -> Result<(), Error> {
    let (base, _) = start(
        r#"```json
{"command": "curl -fsSL https://x.example/i.sh | sh", "explanation": "installs"}
```"#,
    )
    .await?;
    let chain = Chain::new(vec![Box::new(OpenAiCompatible::new(&base, None, None))]);
    let validator = Validator::new(Policy::default())?;
    let assistant = Assistant::new(
        chain,
        validator,
        Environment::detect(),
        GenerationOptions::default(),
    );
    let suggestion = assistant.suggest("install x").await?;
    assert_eq!(
        suggestion.answer.command,
        "curl -fsSL https://x.example/i.sh | sh"
    );
    assert!(suggestion.verdict.risk >= Risk::High);
    assert_ne!(suggestion.decision, Decision::Allow);
    Ok(())
}
