use super::*;

fn chat(body: Value) -> Result<Validated, ApiError> {
    let request: ChatCompletionRequest =
        serde_json::from_value(body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    request.validate()
}

fn param_of(result: Result<Validated, ApiError>) -> Option<String> {
    match result {
        Err(ApiError::InvalidRequest { param, .. }) => param,
        _ => None,
    }
}

#[test]
fn omitted_sampling_fields_behave_like_openai() -> Result<(), ApiError> {
    let v = chat(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}]
    }))?;
    let sampling = &v.requests[0].sampling;
    assert_eq!(sampling.temperature, 1.0);
    assert_eq!(sampling.top_p, 1.0);
    assert_eq!(sampling.top_k, 0);
    assert_eq!(sampling.min_p, 0.0);
    assert_eq!(sampling.repeat_penalty, 1.0);
    assert_eq!(v.requests[0].stop.max_tokens, None);
    Ok(())
}

#[test]
fn each_choice_gets_the_next_seed() -> Result<(), ApiError> {
    let v = chat(serde_json::json!({
        "model": "m", "n": 3, "seed": 7, "messages": [{"role": "user", "content": "hi"}]
    }))?;
    let seeds: Vec<_> = v.requests.iter().map(|r| r.sampling.seed).collect();
    assert_eq!(seeds, vec![Some(7), Some(8), Some(9)]);
    Ok(())
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() -> Result<(), ApiError> {
    let v = chat(serde_json::json!({
        "model": "m", "max_tokens": 5, "max_completion_tokens": 9,
        "messages": [{"role": "user", "content": "hi"}]
    }))?;
    assert_eq!(v.requests[0].stop.max_tokens, Some(9));
    Ok(())
}

#[test]
fn text_parts_are_joined_and_developer_becomes_system() -> Result<(), ApiError> {
    let v = chat(serde_json::json!({
        "model": "m",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]
    }))?;
    let Prompt::Chat(messages) = &v.requests[0].prompt else {
        return Err(ApiError::Internal("expected a chat prompt".into()));
    };
    assert_eq!(messages[0], ChatMessage::new("system", "be brief"));
    assert_eq!(messages[1], ChatMessage::new("user", "a\nb"));
    Ok(())
}

#[test]
fn top_logprobs_without_logprobs_is_rejected() {
    let result = chat(serde_json::json!({
        "model": "m", "top_logprobs": 2, "messages": [{"role": "user", "content": "hi"}]
    }));
    assert_eq!(param_of(result).as_deref(), Some("top_logprobs"));
}

#[test]
fn json_schema_format_carries_the_schema() -> Result<(), ApiError> {
    let v = chat(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    }))?;
    assert_eq!(
        v.requests[0].format,
        ResponseFormat::JsonSchema(serde_json::json!({"type": "object"}))
    );
    Ok(())
}
