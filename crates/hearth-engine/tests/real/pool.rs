//! The batching engine behind `hearth serve`, on SmolLM2: batch invariance, parity
//! through the pool, prefix reuse, cancellation and the errors it reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hearth_engine::{EngineConfig, EnginePool, SchedulerConfig};
use hearth_protocol::{
    Backend, BackendError, ChatMessage, Done, EventStream, GenerateEvent, GenerateRequest,
    ModelPool, Prompt, ResponseFormat, SamplingParams, StopConditions,
};
use hearth_test_support::{RealModel, parity, real_model};

const NAME: &str = "smollm2";

fn pool(path: PathBuf, n_ctx: usize, max_running: usize) -> Arc<EnginePool> {
    let config = EngineConfig {
        n_ctx,
        scheduler: SchedulerConfig {
            max_running,
            token_budget: 256,
        },
        max_queue: 64,
        ..EngineConfig::default()
    };
    EnginePool::new(vec![(NAME.into(), path)], config).unwrap()
}

fn greedy_request(prompt: Prompt, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        sampling: SamplingParams::greedy(),
        stop: StopConditions {
            max_tokens: Some(max_tokens),
            stop: Vec::new(),
        },
        ..GenerateRequest::new(NAME, prompt)
    }
}

/// Every token id and the whole text of a finished stream, and how it ended.
async fn collect_done(mut stream: EventStream) -> (Vec<u32>, String, Done) {
    let (mut ids, mut text) = (Vec::new(), String::new());
    while let Some(event) = stream.next().await {
        match event {
            GenerateEvent::Token(t) => {
                ids.push(t.token);
                text.push_str(&t.text);
            }
            GenerateEvent::Done(done) => return (ids, text, done),
            GenerateEvent::Error(e) => panic!("generation failed: {e}"),
        }
    }
    panic!("the stream ended without a Done event");
}

async fn run_done(pool: &EnginePool, request: GenerateRequest) -> (Vec<u32>, String, Done) {
    collect_done(pool.generate(request).await.unwrap()).await
}

async fn run(pool: &EnginePool, request: GenerateRequest) -> (Vec<u32>, String) {
    let (ids, text, _) = run_done(pool, request).await;
    (ids, text)
}

#[tokio::test]
async fn eight_sequences_batched_equal_each_alone_and_llama_cpp() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let fixture = parity::load("smollm2");
    let cases = &fixture.raw[..8];
    let request = |i: usize| greedy_request(Prompt::Text(cases[i].prompt.clone()), 32);

    let batched_pool = pool(path.clone(), 512, 8);
    let batched = join_all((0..8).map(|i| run(&batched_pool, request(i)))).await;
    let alone_pool = pool(path, 512, 1);
    for (i, (ids, _)) in batched.iter().enumerate() {
        let (alone, _) = run(&alone_pool, request(i)).await;
        assert_eq!(ids, &alone, "prompt {:?} in a batch of 8", cases[i].prompt);
        assert_eq!(
            ids, &cases[i].ids,
            "prompt {:?} against llama.cpp",
            cases[i].prompt
        );
    }
}

#[tokio::test]
async fn a_follow_up_turn_reusing_the_cached_prefix_answers_as_a_fresh_engine() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let first = vec![ChatMessage::new("user", "Name a color.")];
    let warm = pool(path.clone(), 512, 1);
    let (_, answer) = run(&warm, greedy_request(Prompt::Chat(first.clone()), 8)).await;
    let mut second = first;
    second.push(ChatMessage::new("assistant", answer));
    second.push(ChatMessage::new("user", "Name another one."));
    let request = greedy_request(Prompt::Chat(second), 8);

    let (ids, text, done) = run_done(&warm, request.clone()).await;
    let (fresh_ids, fresh_text, fresh_done) = run_done(&pool(path, 512, 1), request).await;
    assert_eq!((ids, text), (fresh_ids, fresh_text));
    assert_eq!(fresh_done.usage.cached_tokens, 0);
    let cached = done.usage.cached_tokens;
    assert!(cached > 10, "only {cached} prompt tokens were reused");
    assert!(cached < done.usage.prompt_tokens);
}

#[tokio::test]
async fn a_dropped_stream_frees_its_slot() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let pool = pool(path, 512, 2);
    let prompt = Prompt::Text("Once upon a time".into());
    let mut stream = pool.generate(greedy_request(prompt, 400)).await.unwrap();
    assert!(matches!(stream.next().await, Some(GenerateEvent::Token(_))));
    // The engine publishes its counters after each step, so wait for them.
    wait_for_running(&pool, 1, "the sequence never showed as running").await;
    drop(stream);
    wait_for_running(&pool, 0, "the cancelled sequence is still running").await;
}

async fn wait_for_running(pool: &EnginePool, n: usize, failure: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pool.stats().running != n {
        assert!(Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn max_tokens_past_the_context_is_clamped_with_finish_reason_length() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let pool = pool(path, 16, 1);
    let mut stream = pool
        .generate(greedy_request(Prompt::Text("1, 2, 3, 4, 5,".into()), 1000))
        .await
        .unwrap();
    let mut n = 0;
    while let Some(event) = stream.next().await {
        match event {
            GenerateEvent::Token(_) => n += 1,
            GenerateEvent::Done(done) => {
                assert_eq!(done.finish_reason, hearth_protocol::FinishReason::Length);
                assert_eq!(done.usage.prompt_tokens + done.usage.completion_tokens, 16);
                assert_eq!(done.usage.completion_tokens, n);
                return;
            }
            GenerateEvent::Error(e) => panic!("{e}"),
        }
    }
    panic!("no Done event");
}

#[tokio::test]
async fn errors_name_the_model_and_the_context_numbers() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let pool = pool(path, 16, 1);
    let unknown = GenerateRequest::new("nope", Prompt::Text("hi".into()));
    let err = pool.generate(unknown).await.unwrap_err();
    assert_eq!(err, BackendError::ModelNotFound("nope".into()));

    let long = Prompt::Text("one two three four five six seven eight nine ten ".repeat(4));
    let err = pool.generate(greedy_request(long, 4)).await.unwrap_err();
    let BackendError::ContextLengthExceeded { n_prompt, n_ctx } = err else {
        panic!("expected context_length_exceeded, got {err:?}");
    };
    assert_eq!(n_ctx, 16);
    assert!(n_prompt > 16);
}

#[tokio::test]
async fn the_pool_lists_models_and_loads_them_on_first_use() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let pool = pool(path, 256, 1);
    let models = pool.models();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].architecture, "llama");
    assert_eq!(models[0].n_ctx, 256);
    assert!(pool.loaded().is_empty());
    pool.load(NAME, None).await.unwrap();
    assert_eq!(pool.loaded().len(), 1);
    pool.unload(NAME).unwrap();
    assert!(pool.loaded().is_empty());
}

#[tokio::test]
async fn a_json_schema_request_yields_json_that_fits_it() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let pool = pool(path, 512, 2);
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"color": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["color", "count"],
    });
    let question = ChatMessage::new("user", "Describe some apples as JSON.");
    let request = GenerateRequest {
        format: ResponseFormat::JsonSchema(schema),
        ..greedy_request(Prompt::Chat(vec![question]), 64)
    };
    let (_, text, done) = run_done(&pool, request).await;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        value["color"].is_string() && value["count"].is_i64(),
        "{text}"
    );
    assert_eq!(done.finish_reason, hearth_protocol::FinishReason::Stop);

    let bad = GenerateRequest {
        format: ResponseFormat::JsonSchema(serde_json::json!({"type": "no-such-type"})),
        ..greedy_request(Prompt::Text("hi".into()), 4)
    };
    let err = pool.generate(bad).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::InvalidRequest { param: Some(p), .. } if p == "response_format"),
        "{err:?}"
    );
}
