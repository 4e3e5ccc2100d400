//! `POST /v1/chat/completions`: response shapes, streaming, n choices, logprobs.

use axum::http::StatusCode;
use hearth_protocol::{ChatMessage, Prompt};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn chat_completion_has_openai_shape() -> TestResult {
    let (app, _) = hello_app();
    let reply = post_json(app, "/v1/chat/completions", &chat_body(json!({}))).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-")),
        "{body}"
    );
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().is_some_and(|t| t > 1_600_000_000));
    assert_eq!(body["model"], MODEL);
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": "Hello world"})
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(
        body["usage"],
        json!({
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": 3,
            "total_tokens": PROMPT_TOKENS + 3,
            "prompt_tokens_details": {"cached_tokens": 0},
        })
    );
    Ok(())
}

#[tokio::test]
async fn request_fields_reach_the_backend() -> TestResult {
    let (app, backend) = hello_app();
    let body = chat_body(json!({
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
        ],
        "temperature": 0.2, "top_p": 0.9, "top_k": 20, "min_p": 0.1, "seed": 42,
        "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "max_completion_tokens": 16, "stop": "END",
        "response_format": {"type": "json_object"}
    }));
    let reply = post_json(app, "/v1/chat/completions", &body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let requests = backend.requests();
    let request = requests.first().ok_or("no request reached the backend")?;
    assert_eq!(request.model, MODEL);
    assert_eq!(
        request.prompt,
        Prompt::Chat(vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi")
        ])
    );
    let s = &request.sampling;
    assert_eq!(
        (s.temperature, s.top_p, s.top_k, s.min_p),
        (0.2, 0.9, 20, 0.1)
    );
    assert_eq!((s.presence_penalty, s.frequency_penalty), (0.5, -0.5));
    assert_eq!(s.seed, Some(42));
    assert_eq!(request.stop.max_tokens, Some(16));
    assert_eq!(request.stop.stop, vec!["END".to_owned()]);
    assert_eq!(request.format, hearth_protocol::ResponseFormat::JsonObject);
    assert_eq!(request.logprobs, None);
    Ok(())
}

#[tokio::test]
async fn max_tokens_cut_finishes_with_length() -> TestResult {
    let (app, _) = hello_app();
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"max_tokens": 2})),
    )
    .await?;
    let body = reply.json()?;
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello wor");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    Ok(())
}

#[tokio::test]
async fn n_choices_are_separate_seeded_requests_with_summed_usage() -> TestResult {
    let (app, backend) = hello_app();
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"n": 3, "seed": 10})),
    )
    .await?;
    let body = reply.json()?;
    let indices: Vec<_> = body["choices"]
        .as_array()
        .ok_or("no choices")?
        .iter()
        .map(|c| c["index"].as_u64())
        .collect();
    assert_eq!(indices, vec![Some(0), Some(1), Some(2)]);
    let mut seeds: Vec<_> = backend.requests().iter().map(|r| r.sampling.seed).collect();
    seeds.sort();
    assert_eq!(seeds, vec![Some(10), Some(11), Some(12)]);
    assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["completion_tokens"], 9);
    assert_eq!(body["usage"]["total_tokens"], PROMPT_TOKENS + 9);
    Ok(())
}

#[tokio::test]
async fn chat_logprobs_have_openai_content_shape() -> TestResult {
    let (app, backend) = hello_app();
    let body = chat_body(json!({"logprobs": true, "top_logprobs": 2}));
    let reply = post_json(app, "/v1/chat/completions", &body).await?;
    let body = reply.json()?;
    assert_eq!(backend.requests()[0].logprobs, Some(2));
    let content = body["choices"][0]["logprobs"]["content"]
        .as_array()
        .ok_or("no logprobs.content")?;
    assert_eq!(content.len(), 3);
    assert_eq!(
        content[0],
        json!({
            "token": "Hello", "logprob": -0.5, "bytes": [72, 101, 108, 108, 111],
            "top_logprobs": [
                {"token": "alt0", "logprob": -1.0, "bytes": [97, 108, 116, 48]},
                {"token": "alt1", "logprob": -2.0, "bytes": [97, 108, 116, 49]}
            ]
        })
    );
    Ok(())
}

#[tokio::test]
async fn logprobs_without_top_logprobs_asks_for_none_of_the_alternatives() -> TestResult {
    let (app, backend) = hello_app();
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"logprobs": true})),
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(backend.requests()[0].logprobs, Some(0));
    let body = reply.json()?;
    assert_eq!(
        body["choices"][0]["logprobs"]["content"][1]["top_logprobs"],
        json!([])
    );
    Ok(())
}

#[tokio::test]
async fn chat_stream_sends_role_content_finish_usage_and_done() -> TestResult {
    let (app, _) = hello_app();
    let body = chat_body(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let reply = post_json(app, "/v1/chat/completions", &body).await?;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("text/event-stream"));
    let data = reply.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks = reply.sse_json()?;
    assert_eq!(chunks.len(), 6, "{chunks:#?}");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks[1..4]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello world");
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
    assert_eq!(chunks[5]["usage"]["prompt_tokens"], PROMPT_TOKENS);
    Ok(())
}

#[tokio::test]
async fn chat_stream_without_include_usage_has_no_usage_chunk() -> TestResult {
    let (app, _) = hello_app();
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"stream": true})),
    )
    .await?;
    let chunks = reply.sse_json()?;
    assert_eq!(chunks.len(), 5);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    Ok(())
}

#[tokio::test]
async fn streamed_n_choices_each_open_and_finish() -> TestResult {
    let (app, _) = hello_app();
    let reply = post_json(
        app,
        "/v1/chat/completions",
        &chat_body(json!({"stream": true, "n": 2})),
    )
    .await?;
    let chunks = reply.sse_json()?;
    for index in 0..2 {
        let mine: Vec<_> = chunks
            .iter()
            .filter(|c| c["choices"][0]["index"] == index)
            .collect();
        assert_eq!(mine.len(), 5, "choice {index}: {mine:#?}");
        assert_eq!(mine[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(mine[4]["choices"][0]["finish_reason"], "stop");
    }
    assert_eq!(reply.sse_data().last().map(String::as_str), Some("[DONE]"));
    Ok(())
}

#[tokio::test]
async fn streamed_logprobs_ride_on_each_content_chunk() -> TestResult {
    let (app, _) = hello_app();
    let body = chat_body(json!({"stream": true, "logprobs": true, "top_logprobs": 1}));
    let reply = post_json(app, "/v1/chat/completions", &body).await?;
    let chunks = reply.sse_json()?;
    let first = &chunks[1]["choices"][0]["logprobs"]["content"];
    assert_eq!(first[0]["token"], "Hello");
    assert_eq!(first[0]["top_logprobs"][0]["token"], "alt0");
    Ok(())
}
