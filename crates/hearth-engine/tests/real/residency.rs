//! Hot model management with two real models (SmolLM2 and Gemma 3): keep-alive,
//! eviction under a memory budget that fits only one of them, adding and removing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_engine::{EngineConfig, EnginePool, ResidencyConfig};
use hearth_protocol::{
    Backend, GenerateEvent, GenerateRequest, KeepAlive, ModelPool, Prompt, SamplingParams,
    StopConditions,
};
use hearth_test_support::{RealModel, real_model};

const SMOL: &str = "smollm2";
const GEMMA: &str = "gemma3";

fn both() -> Option<(PathBuf, PathBuf)> {
    Some((
        real_model(RealModel::SmolLm2)?,
        real_model(RealModel::Gemma3)?,
    ))
}

fn pool(models: Vec<(String, PathBuf)>, residency: ResidencyConfig) -> Arc<EnginePool> {
    let config = EngineConfig {
        n_ctx: 256,
        residency,
        ..EngineConfig::default()
    };
    EnginePool::new(models, config).unwrap()
}

fn loaded_names(pool: &EnginePool) -> Vec<String> {
    pool.loaded().into_iter().map(|m| m.name).collect()
}

async fn generate(pool: &EnginePool, model: &str, keep_alive: Option<KeepAlive>) {
    let request = GenerateRequest {
        sampling: SamplingParams::greedy(),
        stop: StopConditions {
            max_tokens: Some(2),
            stop: Vec::new(),
        },
        keep_alive,
        ..GenerateRequest::new(model, Prompt::Text("The sky is".into()))
    };
    let mut stream = pool.generate(request).await.unwrap();
    while let Some(event) = stream.next().await {
        assert!(!matches!(event, GenerateEvent::Error(_)), "{event:?}");
    }
}

/// Polls until `done` holds, for at most ten seconds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_budget_for_one_model_evicts_the_least_recently_used() {
    let Some((smol, gemma)) = both() else {
        return;
    };
    let smol_mb = std::fs::metadata(&smol).unwrap().len() >> 20;
    let gemma_mb = std::fs::metadata(&gemma).unwrap().len() >> 20;
    // Room for the larger model and its cache, not for both models.
    let budget = (gemma_mb + 64).max(smol_mb + 64) << 20;
    assert!(budget < (smol_mb + gemma_mb) << 20);
    let residency = ResidencyConfig {
        memory_budget: Some(budget),
        ..ResidencyConfig::default()
    };
    let pool = pool(vec![(SMOL.into(), smol), (GEMMA.into(), gemma)], residency);

    generate(&pool, SMOL, None).await;
    assert_eq!(loaded_names(&pool), [SMOL]);
    generate(&pool, GEMMA, None).await;
    assert_eq!(loaded_names(&pool), [GEMMA]);
    generate(&pool, SMOL, None).await;
    assert_eq!(loaded_names(&pool), [SMOL]);
    let loaded = pool.loaded();
    assert!(loaded[0].memory_bytes >= smol_mb << 20, "{loaded:?}");
    assert!(loaded[0].expires_at.is_some());
}

#[tokio::test]
async fn keep_alive_zero_unloads_once_idle_and_negative_keeps_forever() {
    let Some((smol, _)) = both() else {
        return;
    };
    let pool = pool(vec![(SMOL.into(), smol)], ResidencyConfig::default());

    generate(&pool, SMOL, Some(KeepAlive::Forever)).await;
    assert_eq!(pool.loaded()[0].expires_at, None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(loaded_names(&pool), [SMOL]);

    generate(&pool, SMOL, Some(KeepAlive::For(Duration::ZERO))).await;
    eventually("keep_alive 0 unloads the model", || {
        pool.loaded().is_empty()
    })
    .await;

    pool.load(SMOL, Some(KeepAlive::For(Duration::from_millis(300))))
        .await
        .unwrap();
    assert_eq!(loaded_names(&pool), [SMOL]);
    eventually("a short keep-alive runs out", || pool.loaded().is_empty()).await;
}

#[tokio::test]
async fn models_can_be_added_and_removed_while_serving() {
    let Some((smol, gemma)) = both() else {
        return;
    };
    let pool = pool(
        vec![(SMOL.into(), smol.clone())],
        ResidencyConfig::default(),
    );
    let info = pool.add(GEMMA, gemma).unwrap();
    assert_eq!(info.architecture, "gemma3");
    let names: Vec<String> = pool.models().into_iter().map(|m| m.name).collect();
    assert_eq!(names, [GEMMA, SMOL]);
    generate(&pool, GEMMA, None).await;

    pool.remove(GEMMA).unwrap();
    assert!(pool.model(GEMMA).is_none());
    assert!(pool.loaded().is_empty());

    let not_a_model = tempfile::NamedTempFile::new().unwrap();
    assert!(pool.add("junk", not_a_model.path().to_path_buf()).is_err());
    assert!(pool.model("junk").is_none());
}
