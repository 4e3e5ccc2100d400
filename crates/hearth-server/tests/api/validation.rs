//! Bad request bodies are 400s whose `param` names the field at fault.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn param_for(path: &str, body: Value) -> TestResult<Value> {
    let (app, backend) = hello_app();
    let reply = post_json(app, path, &body).await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert_eq!(error["type"], "invalid_request_error", "{error}");
    assert!(
        backend.requests().is_empty(),
        "an invalid request reached the backend"
    );
    Ok(error["param"].clone())
}

#[tokio::test]
async fn each_invalid_chat_field_is_named_in_a_400() -> TestResult {
    let cases = [
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"temperature": 2.5}), "temperature"),
        (json!({"temperature": -0.1}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"top_k": 1.5}), "top_k"),
        (json!({"min_p": -1}), "min_p"),
        (json!({"presence_penalty": 2.1}), "presence_penalty"),
        (json!({"frequency_penalty": -3}), "frequency_penalty"),
        (json!({"n": 0}), "n"),
        (json!({"n": 9}), "n"),
        (json!({"n": "two"}), "n"),
        (json!({"seed": "x"}), "seed"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_tokens": -1}), "max_tokens"),
        (json!({"max_tokens": "many"}), "max_tokens"),
        (json!({"max_completion_tokens": 0}), "max_completion_tokens"),
        (json!({"stop": 5}), "stop"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (json!({"stop": ["a", 1]}), "stop[1]"),
        (json!({"stream": "yes"}), "stream"),
        (
            json!({"stream_options": {"include_usage": 1}}),
            "stream_options.include_usage",
        ),
        (json!({"logprobs": 1}), "logprobs"),
        (
            json!({"logprobs": true, "top_logprobs": 21}),
            "top_logprobs",
        ),
        (json!({"top_logprobs": 3}), "top_logprobs"),
        (
            json!({"response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
        (
            json!({"response_format": {"type": "json_schema"}}),
            "response_format.json_schema.schema",
        ),
        (json!({"model": ""}), "model"),
        (json!({"model": 3}), "model"),
        (json!({"messages": "hi"}), "messages"),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "wizard", "content": "hi"}]}),
            "messages[0].role",
        ),
        (json!({"messages": [{"content": "hi"}]}), "messages[0].role"),
        (
            json!({"messages": [{"role": "user", "content": 3}]}),
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "http://x"}}
            ]}]}),
            "messages[0].content[1].type",
        ),
    ];
    for (extra, param) in cases {
        let got = param_for("/v1/chat/completions", chat_body(extra.clone())).await?;
        assert_eq!(got, param, "for {extra}");
    }
    Ok(())
}

#[tokio::test]
async fn missing_model_or_messages_is_named() -> TestResult {
    let got = param_for(
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await?;
    assert_eq!(got, "model");
    let got = param_for("/v1/chat/completions", json!({"model": MODEL})).await?;
    assert_eq!(got, "messages");
    Ok(())
}

#[tokio::test]
async fn each_invalid_completions_field_is_named_in_a_400() -> TestResult {
    let cases = [
        (json!({"prompt": ["one", "two"]}), "prompt"),
        (json!({"prompt": [1, 2, 3]}), "prompt"),
        (json!({"prompt": null}), "prompt"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"logprobs": 21}), "logprobs"),
        (json!({"echo": true}), "echo"),
        (json!({"temperature": 3}), "temperature"),
    ];
    for (extra, param) in cases {
        let got = param_for("/v1/completions", completion_body(extra.clone())).await?;
        assert_eq!(got, param, "for {extra}");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_where() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(
        app,
        post(
            "/v1/chat/completions",
            "{\"model\": \"m\",\n \"messages\": [",
        )?,
    )
    .await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert_eq!(error["param"], Value::Null);
    assert_eq!(error["code"], Value::Null);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 2"), "{message}");
    Ok(())
}

#[tokio::test]
async fn empty_body_is_a_400() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, post("/v1/completions", "")?).await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("empty")
    );
    Ok(())
}

#[tokio::test]
async fn unknown_fields_and_user_are_ignored() -> TestResult {
    let (app, backend) = hello_app();
    let body = chat_body(json!({"user": "u-1", "tools": [], "some_future_field": {"a": 1}}));
    let reply = post_json(app, "/v1/chat/completions", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(backend.requests().len(), 1);
    Ok(())
}
