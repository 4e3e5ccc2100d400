//! `POST /v1/completions`: the legacy text completion shapes.

use axum::http::StatusCode;
use hearth_protocol::Prompt;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn completion_has_openai_shape() -> TestResult {
    let (app, backend) = hello_app();
    let reply = post_json(app, "/v1/completions", &completion_body(json!({}))).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cmpl-")),
        "{body}"
    );
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"],
        json!([{"index": 0, "text": "Hello world", "logprobs": null, "finish_reason": "stop"}])
    );
    assert_eq!(body["usage"]["total_tokens"], PROMPT_TOKENS + 3);
    assert_eq!(
        backend.requests()[0].prompt,
        Prompt::Text("Once upon".into())
    );
    Ok(())
}

#[tokio::test]
async fn prompt_array_of_one_string_is_accepted() -> TestResult {
    let (app, backend) = hello_app();
    let reply = post_json(
        app,
        "/v1/completions",
        &completion_body(json!({"prompt": ["Hi there"]})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        backend.requests()[0].prompt,
        Prompt::Text("Hi there".into())
    );
    Ok(())
}

#[tokio::test]
async fn completion_logprobs_are_parallel_lists() -> TestResult {
    let (app, backend) = hello_app();
    let reply = post_json(
        app,
        "/v1/completions",
        &completion_body(json!({"logprobs": 2})),
    )
    .await?;
    assert_eq!(backend.requests()[0].logprobs, Some(2));
    let body = reply.json()?;
    assert_eq!(
        body["choices"][0]["logprobs"],
        json!({
            "tokens": ["Hello", " wor", "ld"],
            "token_logprobs": [-0.5, -0.5, -0.5],
            "top_logprobs": [
                {"alt0": -1.0, "alt1": -2.0},
                {"alt0": -1.0, "alt1": -2.0},
                {"alt0": -1.0, "alt1": -2.0}
            ],
            "text_offset": [0, 5, 9]
        })
    );
    Ok(())
}

#[tokio::test]
async fn completion_stream_sends_text_chunks_then_done() -> TestResult {
    let (app, _) = hello_app();
    let body = completion_body(
        json!({"stream": true, "logprobs": 0, "stream_options": {"include_usage": true}}),
    );
    let reply = post_json(app, "/v1/completions", &body).await?;
    assert_eq!(reply.sse_data().last().map(String::as_str), Some("[DONE]"));
    let chunks = reply.sse_json()?;
    assert_eq!(chunks.len(), 5, "{chunks:#?}");
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let text: String = chunks[..3]
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello world");
    assert_eq!(
        chunks[1]["choices"][0]["logprobs"]["text_offset"],
        json!([5])
    );
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[3]["choices"][0]["text"], "");
    assert_eq!(chunks[4]["choices"], json!([]));
    assert_eq!(chunks[4]["usage"]["completion_tokens"], 3);
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], Value::Null);
    Ok(())
}
