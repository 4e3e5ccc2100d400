//! `POST /api/generate` and `POST /api/chat`: NDJSON framing, the final counters,
//! options into the request, keep_alive, load/unload, and Ollama-shaped errors.

use std::time::Duration;

use axum::http::{StatusCode, header};
use hearth_protocol::{
    BackendError, ChatMessage, GenerateRequest, KeepAlive, Prompt, ResponseFormat,
};
use hearth_server::ServerConfig;
use serde_json::{Value, json};

use crate::support::*;

/// A minimal valid `/api/generate` body, with `extra` fields merged in.
fn generate_body(extra: Value) -> Value {
    let mut body = json!({ "model": MODEL, "prompt": "Say hello" });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// The NDJSON lines of a reply, parsed; every line must end with a newline.
fn ndjson(reply: &Reply) -> TestResult<Vec<Value>> {
    let text = reply.text();
    assert!(text.ends_with('\n'), "no final newline: {text:?}");
    text.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
}

/// The one request the backend received.
fn only_request(backend: &FakeBackend) -> TestResult<GenerateRequest> {
    let mut requests = backend.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    Ok(requests.pop().ok_or("no request")?)
}

/// Asserts an Ollama error body and returns its message.
fn ollama_error(reply: &Reply, status: StatusCode) -> TestResult<String> {
    assert_eq!(reply.status, status, "body: {}", reply.text());
    let body = reply.json()?;
    let message = body["error"].as_str().ok_or("`error` is not a string")?;
    Ok(message.to_owned())
}

fn assert_counters(last: &Value, eval_count: u64) {
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(last["prompt_eval_count"], PROMPT_TOKENS as u64, "{last}");
    assert_eq!(last["eval_count"], eval_count, "{last}");
    for key in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[key].is_u64(), "`{key}` missing in {last}");
    }
    assert!(last.get("context").is_none(), "{last}");
}

#[tokio::test]
async fn generate_streams_ndjson_lines_then_a_done_line_with_counters() -> TestResult {
    let (app, _) = hello_app();
    let reply = post_json(app, "/api/generate", &generate_body(json!({}))).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/x-ndjson",
        "streaming is the default"
    );
    let lines = ndjson(&reply)?;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let texts: Vec<&str> = lines[..3]
        .iter()
        .map(|l| l["response"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(texts, ["Hello", " wor", "ld"]);
    for line in &lines[..3] {
        assert_eq!(line["done"], false);
        assert_eq!(line["model"], MODEL);
        assert!(
            line["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
            "{line}"
        );
    }
    let last = &lines[3];
    assert_eq!(last["response"], "");
    assert_eq!(last["done_reason"], "stop");
    assert_counters(last, 3);
    Ok(())
}

#[tokio::test]
async fn generate_without_stream_answers_one_object() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({"stream": false, "system": "Be brief."}));
    let reply = post_json(app, "/api/generate", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let body = reply.json()?;
    assert_eq!(body["response"], "Hello world");
    assert_eq!(body["done_reason"], "stop");
    assert_counters(&body, 3);
    let request = only_request(&backend)?;
    assert_eq!(
        request.prompt,
        Prompt::Chat(vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Say hello"),
        ]),
        "the prompt goes through the chat template"
    );
    Ok(())
}

#[tokio::test]
async fn raw_generate_sends_the_prompt_as_text() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({"stream": false, "raw": true}));
    let reply = post_json(app, "/api/generate", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        only_request(&backend)?.prompt,
        Prompt::Text("Say hello".into())
    );
    Ok(())
}

#[tokio::test]
async fn options_format_and_keep_alive_reach_the_backend() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({
        "stream": false,
        "format": "json",
        "keep_alive": "5m",
        "options": {
            "num_predict": 2, "temperature": 0.1, "top_k": 5, "top_p": 0.5,
            "min_p": 0.2, "seed": 42, "stop": ["END", "STOP"], "num_ctx": 4096,
            "repeat_penalty": 1.3, "repeat_last_n": 32, "presence_penalty": 0.5,
            "frequency_penalty": 0.25, "num_gpu": 1, "no_such_option": true
        }
    }));
    let reply = post_json(app, "/api/generate", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(body["response"], "Hello wor");
    assert_eq!(body["done_reason"], "length");
    let request = only_request(&backend)?;
    assert_eq!(request.model, MODEL);
    assert_eq!(request.stop.max_tokens, Some(2));
    assert_eq!(request.stop.stop, ["END", "STOP"]);
    let s = &request.sampling;
    assert_eq!(
        (s.temperature, s.top_k, s.top_p, s.min_p),
        (0.1, 5, 0.5, 0.2)
    );
    assert_eq!((s.repeat_penalty, s.repeat_last_n), (1.3, 32));
    assert_eq!((s.presence_penalty, s.frequency_penalty), (0.5, 0.25));
    assert_eq!(s.seed, Some(42));
    assert_eq!(request.format, ResponseFormat::JsonObject);
    assert_eq!(
        request.keep_alive,
        Some(KeepAlive::For(Duration::from_secs(300)))
    );
    Ok(())
}

#[tokio::test]
async fn keep_alive_takes_numbers_and_durations() -> TestResult {
    for (keep_alive, expected) in [
        (json!("5m"), KeepAlive::For(Duration::from_secs(300))),
        (json!(0), KeepAlive::For(Duration::ZERO)),
        (json!(-1), KeepAlive::Forever),
        (json!("-1"), KeepAlive::Forever),
        (json!(90), KeepAlive::For(Duration::from_secs(90))),
    ] {
        let (app, backend) = hello_app();
        let body = generate_body(json!({"stream": false, "keep_alive": keep_alive}));
        let reply = post_json(app, "/api/generate", &body).await?;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(
            only_request(&backend)?.keep_alive,
            Some(expected),
            "{keep_alive}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bogus_keep_alive_is_a_400_in_ollamas_shape() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({"keep_alive": "bogus"}));
    let reply = post_json(app, "/api/generate", &body).await?;
    let message = ollama_error(&reply, StatusCode::BAD_REQUEST)?;
    assert!(message.contains("bogus"), "{message}");
    assert!(backend.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn json_schema_format_is_passed_on() -> TestResult {
    let (app, backend) = hello_app();
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let body = json!({
        "model": MODEL, "stream": false, "format": schema,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let reply = post_json(app, "/api/chat", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        only_request(&backend)?.format,
        ResponseFormat::JsonSchema(schema)
    );
    Ok(())
}

#[tokio::test]
async fn chat_streams_assistant_messages() -> TestResult {
    let (app, backend) = hello_app();
    let body = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"}
        ]
    });
    let reply = post_json(app, "/api/chat", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/x-ndjson");
    let lines = ndjson(&reply)?;
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines[0]["message"],
        json!({"role": "assistant", "content": "Hello"})
    );
    assert_eq!(lines[0]["done"], false);
    let last = &lines[3];
    assert_eq!(last["message"], json!({"role": "assistant", "content": ""}));
    assert_eq!(last["done_reason"], "stop");
    assert_counters(last, 3);
    assert_eq!(
        only_request(&backend)?.prompt,
        Prompt::Chat(vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi"),
        ])
    );
    Ok(())
}

#[tokio::test]
async fn chat_without_stream_answers_the_whole_message() -> TestResult {
    let (app, _) = hello_app();
    let body = json!({
        "model": MODEL, "stream": false,
        "messages": [{"role": "user", "content": "Hi"}]
    });
    let reply = post_json(app, "/api/chat", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(
        body["message"],
        json!({"role": "assistant", "content": "Hello world"})
    );
    assert_counters(&body, 3);
    Ok(())
}

#[tokio::test]
async fn empty_prompt_loads_and_zero_keep_alive_unloads() -> TestResult {
    let pool = FakePool::with_models(&[MODEL]);
    let script = Script::Tokens(vec!["x"]);
    let (app, backend) = app_with_pool(script, pool.clone(), ServerConfig::default());
    let load = json!({"model": MODEL, "keep_alive": "1h"});
    let reply = post_json(app.clone(), "/api/generate", &load).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(
        (&body["done"], &body["done_reason"]),
        (&json!(true), &json!("load"))
    );
    assert_eq!(body["response"], "");
    let unload = json!({"model": MODEL, "messages": [], "keep_alive": 0});
    let reply = post_json(app, "/api/chat", &unload).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(body["done_reason"], "unload");
    assert_eq!(body["message"]["role"], "assistant");
    assert_eq!(
        pool.calls(),
        [
            PoolCall::Load(
                MODEL.into(),
                Some(KeepAlive::For(Duration::from_secs(3600)))
            ),
            PoolCall::Unload(MODEL.into()),
        ]
    );
    assert!(backend.requests().is_empty(), "nothing was generated");
    Ok(())
}

#[tokio::test]
async fn latest_tag_finds_an_untagged_model() -> TestResult {
    let pool = FakePool::with_models(&["smollm2"]);
    let (app, backend) = app_with_pool(Script::Tokens(vec!["ok"]), pool, ServerConfig::default());
    let body = json!({"model": "smollm2:latest", "prompt": "hi", "stream": false});
    let reply = post_json(app.clone(), "/api/generate", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.json()?["model"],
        "smollm2:latest",
        "the name is echoed"
    );
    assert_eq!(only_request(&backend)?.model, "smollm2");
    let text = send(app, get("/metrics")?).await?.text();
    assert!(
        text.contains("hearth_requests_total{model=\"smollm2\",status=\"200\"} 1"),
        "counted under the served name: {text}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_model_is_a_404_telling_to_pull_it() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({"model": "nope"}));
    let reply = post_json(app.clone(), "/api/generate", &body).await?;
    let message = ollama_error(&reply, StatusCode::NOT_FOUND)?;
    assert_eq!(message, "model \"nope\" not found, try pulling it first");
    let body = json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]});
    let reply = post_json(app, "/api/chat", &body).await?;
    ollama_error(&reply, StatusCode::NOT_FOUND)?;
    assert!(backend.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_bodies_are_400s_in_ollamas_shape() -> TestResult {
    for (path, body) in [
        ("/api/generate", "{not json".to_owned()),
        ("/api/generate", json!({"prompt": "x"}).to_string()),
        (
            "/api/generate",
            generate_body(json!({"options": {"top_p": 3}})).to_string(),
        ),
        (
            "/api/generate",
            generate_body(json!({"format": "yaml"})).to_string(),
        ),
        (
            "/api/generate",
            generate_body(json!({"images": ["aGk="]})).to_string(),
        ),
        (
            "/api/chat",
            json!({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}).to_string(),
        ),
        (
            "/api/chat",
            json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": "no"})
                .to_string(),
        ),
    ] {
        let (app, _) = hello_app();
        let reply = send(app, post(path, body.clone())?).await?;
        let message = ollama_error(&reply, StatusCode::BAD_REQUEST)?;
        assert!(!message.is_empty(), "{path} {body}");
    }
    Ok(())
}

#[tokio::test]
async fn backend_refusals_keep_their_status() -> TestResult {
    for (err, status) in [
        (
            BackendError::QueueFull {
                retry_after_secs: 3,
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            BackendError::Unavailable("loading failed".into()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            BackendError::Internal("secret detail".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        let (app, _, _) = app_with(Script::Refuse(err.clone()), ServerConfig::default());
        let reply = post_json(app, "/api/generate", &generate_body(json!({}))).await?;
        let message = ollama_error(&reply, status)?;
        assert!(!message.contains("secret"), "{message}");
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.headers[header::RETRY_AFTER], "3");
        }
    }
    Ok(())
}

#[tokio::test]
async fn error_mid_stream_ends_with_an_error_line() -> TestResult {
    let script = Script::FailMidStream(
        vec!["Hel"],
        BackendError::Unavailable("model unloaded".into()),
    );
    let (app, _, _) = app_with(script, ServerConfig::default());
    let reply = post_json(app, "/api/generate", &generate_body(json!({}))).await?;
    assert_eq!(reply.status, StatusCode::OK);
    let lines = ndjson(&reply)?;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["response"], "Hel");
    assert_eq!(lines[1], json!({"error": "model unloaded"}));
    Ok(())
}

#[tokio::test]
async fn api_routes_need_the_key_and_answer_in_ollamas_shape() -> TestResult {
    let config = ServerConfig {
        api_key: Some("sekrit".into()),
        ..ServerConfig::default()
    };
    let (app, _, _) = app_with(Script::Tokens(vec!["ok"]), config);
    for path in ["/api/tags", "/api/ps", "/api/version"] {
        let reply = send(app.clone(), get(path)?).await?;
        let message = ollama_error(&reply, StatusCode::UNAUTHORIZED)?;
        assert!(message.contains("API key"), "{message}");
    }
    let mut request = post(
        "/api/generate",
        generate_body(json!({"stream": false})).to_string(),
    )?;
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer sekrit".parse()?);
    let reply = send(app, request).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    Ok(())
}

#[tokio::test]
async fn ollama_requests_are_counted_in_the_metrics() -> TestResult {
    let (app, _) = hello_app();
    post_json(app.clone(), "/api/generate", &generate_body(json!({}))).await?;
    let body =
        json!({"model": MODEL, "stream": false, "messages": [{"role": "user", "content": "x"}]});
    post_json(app.clone(), "/api/chat", &body).await?;
    let text = send(app, get("/metrics")?).await?.text();
    assert!(
        text.contains(&format!(
            "hearth_requests_total{{model=\"{MODEL}\",status=\"200\"}} 2"
        )),
        "{text}"
    );
    assert!(text.contains("hearth_generated_tokens_total 6"), "{text}");
    Ok(())
}

#[tokio::test]
async fn logprobs_come_per_line_or_for_the_whole_answer() -> TestResult {
    let (app, backend) = hello_app();
    let body = generate_body(json!({"logprobs": true, "top_logprobs": 2}));
    let lines = ndjson(&post_json(app.clone(), "/api/generate", &body).await?)?;
    assert_eq!(
        lines[0]["logprobs"],
        json!([{
            "token": "Hello", "logprob": -0.5, "bytes": b"Hello".to_vec(),
            "top_logprobs": [
                {"token": "alt0", "logprob": -1.0, "bytes": b"alt0".to_vec()},
                {"token": "alt1", "logprob": -2.0, "bytes": b"alt1".to_vec()}
            ]
        }])
    );
    assert!(lines[3].get("logprobs").is_none(), "{}", lines[3]);
    assert_eq!(backend.requests()[0].logprobs, Some(2));

    let body = json!({
        "model": MODEL, "stream": false, "logprobs": true,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let whole = post_json(app.clone(), "/api/chat", &body).await?.json()?;
    let tokens: Vec<&str> = whole["logprobs"]
        .as_array()
        .ok_or("no logprobs")?
        .iter()
        .map(|lp| lp["token"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(tokens, ["Hello", " wor", "ld"]);

    let plain = post_json(
        app.clone(),
        "/api/generate",
        &generate_body(json!({"stream": false})),
    )
    .await?;
    assert!(plain.json()?.get("logprobs").is_none());

    let body = generate_body(json!({"top_logprobs": 2}));
    let reply = post_json(app, "/api/generate", &body).await?;
    ollama_error(&reply, StatusCode::BAD_REQUEST)?;
    Ok(())
}
