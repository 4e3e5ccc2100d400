//! Health, readiness, metrics, the OpenAPI document, CORS and request ids.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hearth_protocol::BackendError;
use hearth_server::{AppState, ServerConfig};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn ready_is_200_with_models_and_503_without() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/ready")?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()?["status"], "ready");

    let empty = AppState::new(
        FakeBackend::new(Script::Tokens(vec![])),
        FakePool::with_models(&[]),
        ServerConfig::default(),
    );
    let reply = send(hearth_server::app(empty), get("/ready")?).await?;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    Ok(())
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_read_pool_gauges() -> TestResult {
    let (app, _, state) = app_with(Script::Tokens(vec!["a", "b"]), ServerConfig::default());
    for _ in 0..2 {
        let reply = post_json(app.clone(), "/v1/chat/completions", &chat_body(json!({}))).await?;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = post_json(
        app.clone(),
        "/v1/completions",
        &completion_body(json!({"stream": true})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK);
    let bad = post_json(
        app.clone(),
        "/v1/chat/completions",
        &chat_body(json!({"n": 0})),
    )
    .await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let reply = send(app, get("/metrics")?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.text();
    for line in [
        format!("hearth_requests_total{{model=\"{MODEL}\",status=\"200\"}} 3"),
        format!("hearth_requests_total{{model=\"{MODEL}\",status=\"400\"}} 1"),
        format!("hearth_prompt_tokens_total {}", 3 * PROMPT_TOKENS),
        "hearth_generated_tokens_total 6".to_owned(),
        "hearth_time_to_first_token_seconds_count 3".to_owned(),
        "hearth_time_per_output_token_seconds_count 3".to_owned(),
        "hearth_queue_depth 2".to_owned(),
        "hearth_running_sequences 3".to_owned(),
        "hearth_kv_cache_usage_ratio 0.25".to_owned(),
        "# TYPE hearth_time_to_first_token_seconds histogram".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    drop(state);
    Ok(())
}

#[tokio::test]
async fn metrics_label_unknown_models_as_unknown() -> TestResult {
    let (app, _, _) = app_with(
        Script::Refuse(BackendError::ModelNotFound("made-up".into())),
        ServerConfig::default(),
    );
    let reply = post_json(
        app.clone(),
        "/v1/chat/completions",
        &chat_body(json!({"model": "made-up"})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let text = send(app, get("/metrics")?).await?.text();
    assert!(
        text.contains("hearth_requests_total{model=\"unknown\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(!text.contains("made-up"));
    Ok(())
}

#[tokio::test]
async fn openapi_document_lists_the_endpoints() -> TestResult {
    let (app, _) = hello_app();
    let doc = send(app, get("/openapi.json")?).await?.json()?;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/models/{model}/load",
        "/v1/models/{model}/unload",
        "/api/generate",
        "/api/chat",
        "/api/tags",
        "/api/show",
        "/api/ps",
        "/api/version",
        "/health",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    Ok(())
}

fn preflight(origin: &str) -> TestResult<Request<Body>> {
    Ok(Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/chat/completions")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,authorization",
        )
        .body(Body::empty())?)
}

#[tokio::test]
async fn cors_preflight_from_localhost_is_allowed() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, preflight("http://localhost:3000")?).await?;
    assert!(reply.status.is_success(), "{}", reply.status);
    let allowed = reply.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    assert_eq!(
        allowed.and_then(|v| v.to_str().ok()),
        Some("http://localhost:3000")
    );
    Ok(())
}

#[tokio::test]
async fn cors_preflight_from_another_site_is_refused() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, preflight("https://evil.example")?).await?;
    assert!(
        reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn cors_preflight_passes_even_with_an_api_key_set() -> TestResult {
    let config = ServerConfig {
        api_key: Some("sk-test".into()),
        ..ServerConfig::default()
    };
    let (app, _, _) = app_with(Script::Tokens(vec![]), config);
    let reply = send(app, preflight("http://127.0.0.1:5173")?).await?;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert!(
        reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn configured_cors_origins_replace_the_local_default() -> TestResult {
    let config = ServerConfig {
        cors_origins: vec!["https://app.example".into()],
        ..ServerConfig::default()
    };
    let (app, _, _) = app_with(Script::Tokens(vec![]), config);
    let allowed = send(app.clone(), preflight("https://app.example")?).await?;
    assert!(
        allowed
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_some()
    );
    let local = send(app, preflight("http://localhost:3000")?).await?;
    assert!(
        local
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() -> TestResult {
    let (app, _) = hello_app();
    let mut request = get("/health")?;
    request
        .headers_mut()
        .insert("x-request-id", "abc-123".parse()?);
    let reply = send(app.clone(), request).await?;
    assert_eq!(
        reply.headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"abc-123"[..])
    );

    let reply = send(app, get("/health")?).await?;
    let generated = reply.headers.get("x-request-id").ok_or("no request id")?;
    assert_eq!(generated.len(), 36, "{generated:?}");
    Ok(())
}
