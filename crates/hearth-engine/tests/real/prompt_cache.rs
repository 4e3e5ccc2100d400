//! The prompt cache on disk, on SmolLM2: a fresh pool (a new process, in effect)
//! reuses the prompt prefix a first pool left in the cache folder, and answers exactly
//! as it would have without any cache; an unusable file is ignored and replaced.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_engine::{EngineConfig, EnginePool, SchedulerConfig};
use hearth_protocol::{
    Backend, ChatMessage, Done, GenerateEvent, GenerateRequest, Prompt, SamplingParams,
    StopConditions,
};
use hearth_test_support::{RealModel, real_model};

const NAME: &str = "smollm2";

/// The fixed part every request shares, long enough to be worth caching.
const SYSTEM: &str = "You are a terse assistant. Answer every question with a single \
    word, in lower case, with no punctuation and no explanation.";

fn pool(path: &Path, prompt_cache: Option<&Path>) -> Arc<EnginePool> {
    let config = EngineConfig {
        n_ctx: 256,
        scheduler: SchedulerConfig {
            max_running: 1,
            token_budget: 256,
        },
        prompt_cache: prompt_cache.map(Path::to_path_buf),
        ..EngineConfig::default()
    };
    EnginePool::new(vec![(NAME.into(), path.to_path_buf())], config).unwrap()
}

fn request(question: &str) -> GenerateRequest {
    let messages = vec![
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", question),
    ];
    GenerateRequest {
        sampling: SamplingParams::greedy(),
        stop: StopConditions {
            max_tokens: Some(6),
            stop: Vec::new(),
        },
        ..GenerateRequest::new(NAME, Prompt::Chat(messages))
    }
}

/// The text a fresh pool answers `question` with, and its usage.
async fn answer(path: &Path, prompt_cache: Option<&Path>, question: &str) -> (String, Done) {
    let pool = pool(path, prompt_cache);
    let mut stream = pool.generate(request(question)).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            GenerateEvent::Token(t) => text.push_str(&t.text),
            GenerateEvent::Done(done) => return (text, done),
            GenerateEvent::Error(e) => panic!("generation failed: {e}"),
        }
    }
    panic!("the stream ended without a Done event");
}

/// The one file in the cache folder.
fn cache_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test]
async fn a_fresh_pool_reuses_the_cached_prompt_and_answers_the_same() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Some(dir.path());
    let (plain, done) = answer(&path, None, "What colour is the sky?").await;
    assert_eq!(done.usage.cached_tokens, 0);

    let (first, done) = answer(&path, cache, "What colour is the sky?").await;
    assert_eq!(
        (first.as_str(), done.usage.cached_tokens),
        (plain.as_str(), 0)
    );
    let file = cache_file(dir.path());

    let (again, done) = answer(&path, cache, "What colour is the sky?").await;
    assert_eq!(again, plain);
    let prompt_tokens = done.usage.prompt_tokens;
    assert_eq!(
        done.usage.cached_tokens,
        prompt_tokens - 1,
        "all but the last"
    );

    // Another question shares only the system message and the start of the turn.
    let (plain_other, _) = answer(&path, None, "Which animal barks?").await;
    let (other, done) = answer(&path, cache, "Which animal barks?").await;
    assert_eq!(other, plain_other);
    let cached = done.usage.cached_tokens;
    assert!(
        cached > 20 && cached < done.usage.prompt_tokens - 3,
        "{cached}"
    );
    assert_eq!(cache_file(dir.path()), file, "the same file, rewritten");
}

#[tokio::test]
async fn a_garbage_cache_file_is_ignored_and_replaced() {
    let Some(path) = real_model(RealModel::SmolLm2) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = Some(dir.path());
    let (plain, _) = answer(&path, None, "Name a fruit.").await;
    answer(&path, cache, "Name a fruit.").await;
    let file = cache_file(dir.path());
    let length = std::fs::metadata(&file).unwrap().len() as usize;
    for garbage in [b"not a prompt cache".to_vec(), vec![0xAB; length / 2]] {
        std::fs::write(&file, garbage).unwrap();
        let (text, done) = answer(&path, cache, "Name a fruit.").await;
        assert_eq!(
            (text.as_str(), done.usage.cached_tokens),
            (plain.as_str(), 0)
        );
        let (text, done) = answer(&path, cache, "Name a fruit.").await;
        assert_eq!(text, plain);
        assert!(done.usage.cached_tokens > 0, "the file was replaced");
    }
    // Cut short: the file is read, found truncated, ignored.
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() - 100]).unwrap();
    let (text, done) = answer(&path, cache, "Name a fruit.").await;
    assert_eq!(
        (text.as_str(), done.usage.cached_tokens),
        (plain.as_str(), 0)
    );
}
