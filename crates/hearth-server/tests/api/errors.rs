//! Backend failures and server limits map onto OpenAI's statuses and error codes.

use std::time::Duration;

use axum::http::{StatusCode, header};
use hearth_protocol::BackendError;
use hearth_server::ServerConfig;
use serde_json::json;

use crate::support::*;

async fn refused(err: BackendError) -> TestResult<Reply> {
    let (app, _, _) = app_with(Script::Refuse(err), ServerConfig::default());
    post_json(app, "/v1/chat/completions", &chat_body(json!({}))).await
}

#[tokio::test]
async fn prompt_beyond_the_context_is_a_400_with_the_numbers() -> TestResult {
    let reply = refused(BackendError::ContextLengthExceeded {
        n_prompt: 5000,
        n_ctx: 2048,
    })
    .await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("5000") && message.contains("2048"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_model_is_a_404_model_not_found() -> TestResult {
    let reply = refused(BackendError::ModelNotFound("nope".into())).await?;
    let error = error_of(&reply, StatusCode::NOT_FOUND)?;
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["param"], "model");
    Ok(())
}

#[tokio::test]
async fn full_queue_is_a_429_with_retry_after() -> TestResult {
    let reply = refused(BackendError::QueueFull {
        retry_after_secs: 3,
    })
    .await?;
    let error = error_of(&reply, StatusCode::TOO_MANY_REQUESTS)?;
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(
        reply.headers.get(header::RETRY_AFTER).map(|v| v.as_bytes()),
        Some(&b"3"[..])
    );
    Ok(())
}

#[tokio::test]
async fn unavailable_backend_is_a_503() -> TestResult {
    let reply = refused(BackendError::Unavailable("loading failed".into())).await?;
    let error = error_of(&reply, StatusCode::SERVICE_UNAVAILABLE)?;
    assert_eq!(error["type"], "server_error");
    Ok(())
}

#[tokio::test]
async fn internal_failure_is_a_500_without_details() -> TestResult {
    let reply = refused(BackendError::Internal(
        "tensor shape [3, 4] at /secret/path".into(),
    ))
    .await?;
    let error = error_of(&reply, StatusCode::INTERNAL_SERVER_ERROR)?;
    assert!(!reply.text().contains("secret"), "{}", reply.text());
    assert_eq!(error["type"], "server_error");
    Ok(())
}

#[tokio::test]
async fn backend_rejection_keeps_its_param() -> TestResult {
    let reply = refused(BackendError::InvalidRequest {
        param: Some("response_format".into()),
        message: "schema too deep".into(),
    })
    .await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert_eq!(error["param"], "response_format");
    Ok(())
}

#[tokio::test]
async fn error_mid_stream_is_sent_as_an_error_event_and_ends_the_stream() -> TestResult {
    let script = Script::FailMidStream(
        vec!["Hel"],
        BackendError::Unavailable("model unloaded".into()),
    );
    let (app, _, _) = app_with(script, ServerConfig::default());
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"stream": true})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK);
    let data = reply.sse_data();
    let last = data.last().ok_or("no events")?;
    let error: serde_json::Value = serde_json::from_str(last)?;
    assert_eq!(error["error"]["code"], "service_unavailable", "{last}");
    assert!(!data.iter().any(|d| d == "[DONE]"), "{data:?}");
    assert!(data.iter().any(|d| d.contains("Hel")), "{data:?}");
    Ok(())
}

fn short_timeout() -> ServerConfig {
    ServerConfig {
        request_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn non_streamed_request_past_the_timeout_is_a_504_and_cancels() -> TestResult {
    let (app, backend, _) = app_with(Script::Hold, short_timeout());
    let reply = post_json(app, "/v1/completions", &completion_body(json!({}))).await?;
    let error = error_of(&reply, StatusCode::GATEWAY_TIMEOUT)?;
    assert_eq!(error["code"], "timeout");
    assert!(backend.wait_for_drop(Duration::from_secs(5)).await);
    Ok(())
}

#[tokio::test]
async fn streamed_request_past_the_timeout_ends_with_an_error_event() -> TestResult {
    let (app, backend, _) = app_with(Script::Hold, short_timeout());
    let reply = post_json(
        app,
        "/v1/completions",
        &completion_body(json!({"stream": true})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK);
    let data = reply.sse_data();
    let last: serde_json::Value = serde_json::from_str(data.last().ok_or("no events")?)?;
    assert_eq!(last["error"]["code"], "timeout");
    assert!(
        data.len() > 1,
        "some ticks should have streamed first: {data:?}"
    );
    assert!(backend.wait_for_drop(Duration::from_secs(5)).await);
    Ok(())
}

fn keyed() -> ServerConfig {
    ServerConfig {
        api_key: Some("sk-test".into()),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_a_401() -> TestResult {
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("sk-test"),
        Some("Basic sk-test"),
    ] {
        let (app, backend, _) = app_with(Script::Tokens(vec!["x"]), keyed());
        let mut request = post("/v1/chat/completions", chat_body(json!({})).to_string())?;
        if let Some(auth) = auth {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, auth.parse()?);
        }
        let reply = send(app, request).await?;
        let error = error_of(&reply, StatusCode::UNAUTHORIZED)?;
        assert_eq!(error["code"], "invalid_api_key", "for {auth:?}");
        assert_eq!(error["type"], "invalid_request_error");
        assert!(backend.requests().is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn right_api_key_is_accepted_everywhere() -> TestResult {
    for path in ["/v1/models", "/ready", "/metrics", "/openapi.json"] {
        let (app, _, _) = app_with(Script::Tokens(vec!["x"]), keyed());
        let unauthorised = send(app.clone(), get(path)?).await?;
        assert_eq!(unauthorised.status, StatusCode::UNAUTHORIZED, "{path}");
        let mut request = get(path)?;
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, "Bearer sk-test".parse()?);
        let reply = send(app, request).await?;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }
    Ok(())
}

#[tokio::test]
async fn health_needs_no_api_key() -> TestResult {
    let (app, _, _) = app_with(Script::Tokens(vec!["x"]), keyed());
    let reply = send(app, get("/health")?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()?, json!({"status": "ok"}));
    Ok(())
}

#[tokio::test]
async fn unknown_path_is_a_404_in_the_error_shape() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/v2/nothing")?).await?;
    let error = error_of(&reply, StatusCode::NOT_FOUND)?;
    assert_eq!(error["code"], "not_found");
    Ok(())
}

#[tokio::test]
async fn oversized_body_is_a_413_in_the_error_shape() -> TestResult {
    let (app, backend) = hello_app();
    let prompt = "x".repeat(17 * 1024 * 1024);
    let reply = post_json(
        app,
        "/v1/completions",
        &completion_body(json!({"prompt": prompt})),
    )
    .await?;
    let error = error_of(&reply, StatusCode::PAYLOAD_TOO_LARGE)?;
    assert_eq!(error["code"], "request_too_large");
    assert!(backend.requests().is_empty());
    Ok(())
}
