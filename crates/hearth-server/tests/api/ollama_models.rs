//! `GET /api/tags`, `POST /api/show`, `GET /api/ps`, `GET /api/version`, and
//! `POST /v1/models/{id}/load|unload`, over a tiny GGUF file written by the test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use hearth_gguf::{GgmlType, GgufWriter, Value as GgufValue};
use hearth_protocol::{KeepAlive, ModelInfo};
use hearth_server::ServerConfig;
use serde_json::{Value, json};

use crate::support::*;

const TEMPLATE: &str = "{% for m in messages %}{{ m.content }}{% endfor %}";

/// A GGUF file with llama metadata, file type 15 (Q4_K_M), a 100-token vocabulary
/// and two F32 tensors of 8 and 4 elements.
fn write_gguf(path: &Path) -> TestResult {
    let tokens = (0..100)
        .map(|i| GgufValue::String(format!("t{i}")))
        .collect();
    let mut writer = GgufWriter::new();
    writer
        .metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata("general.file_type", GgufValue::U32(15))
        .metadata("llama.context_length", GgufValue::U32(8192))
        .metadata("tokenizer.ggml.tokens", GgufValue::Array(tokens))
        .metadata(
            "tokenizer.chat_template",
            GgufValue::String(TEMPLATE.into()),
        );
    writer.tensor("a.weight", &[4, 2], GgmlType::F32, vec![0; 32])?;
    writer.tensor("b.weight", &[4], GgmlType::F32, vec![0; 16])?;
    writer.write(path)?;
    Ok(())
}

fn info(name: &str, path: PathBuf) -> ModelInfo {
    ModelInfo {
        name: name.to_owned(),
        path,
        architecture: "llama".to_owned(),
        n_ctx: 2048,
        size_bytes: 4242,
        created: 1_700_000_000,
    }
}

/// An app serving [`MODEL`] from a real tiny GGUF file, and `missing` whose file is
/// gone. The directory must outlive the app.
fn app_over_files() -> TestResult<(axum::Router, Arc<FakePool>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tiny.gguf");
    write_gguf(&path)?;
    let pool = FakePool::with_infos(vec![
        info(MODEL, path),
        info("missing", dir.path().join("gone.gguf")),
    ]);
    let (app, _) = app_with_pool(
        Script::Tokens(vec!["x"]),
        pool.clone(),
        ServerConfig::default(),
    );
    Ok((app, pool, dir))
}

#[tokio::test]
async fn version_is_hearths() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/api/version")?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()?, json!({"version": env!("CARGO_PKG_VERSION")}));
    Ok(())
}

#[tokio::test]
async fn tags_list_every_model_with_gguf_details() -> TestResult {
    let (app, _, _dir) = app_over_files()?;
    let reply = send(app, get("/api/tags")?).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    let models = body["models"].as_array().ok_or("no models array")?;
    assert_eq!(models.len(), 2, "{body}");
    let tiny = &models[0];
    assert_eq!(tiny["name"], MODEL);
    assert_eq!(tiny["model"], MODEL);
    assert_eq!(tiny["modified_at"], "2023-11-14T22:13:20Z");
    assert_eq!(tiny["size"], 4242);
    let digest = tiny["digest"].as_str().ok_or("no digest")?;
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{digest}"
    );
    assert_eq!(
        tiny["details"],
        json!({
            "parent_model": "", "format": "gguf", "family": "llama",
            "families": ["llama"], "parameter_size": "12", "quantization_level": "Q4_K_M"
        })
    );
    // A file that cannot be read is still listed, from what the pool knows.
    let missing = &models[1];
    assert_eq!(missing["name"], "missing");
    assert_eq!(missing["details"]["family"], "llama");
    assert_eq!(missing["details"]["quantization_level"], "unknown");
    Ok(())
}

#[tokio::test]
async fn tags_read_a_model_file_again_once_it_changes() -> TestResult {
    let (app, _, dir) = app_over_files()?;
    let quantization = |body: Value| body["models"][0]["details"]["quantization_level"].clone();
    let first = send(app.clone(), get("/api/tags")?).await?.json()?;
    assert_eq!(quantization(first), "Q4_K_M");
    let again = send(app.clone(), get("/api/tags")?).await?.json()?;
    assert_eq!(quantization(again), "Q4_K_M");
    // Rewritten as Q8_0 (file type 7), one entry longer so that its length changes too.
    let mut writer = GgufWriter::new();
    writer
        .metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata("general.file_type", GgufValue::U32(7))
        .metadata("general.name", GgufValue::String("rewritten".into()));
    writer.tensor("a.weight", &[4, 2], GgmlType::F32, vec![0; 32])?;
    writer.write(dir.path().join("tiny.gguf"))?;
    let after = send(app, get("/api/tags")?).await?.json()?;
    assert_eq!(quantization(after), "Q8_0");
    Ok(())
}

#[tokio::test]
async fn show_reports_metadata_template_and_capabilities() -> TestResult {
    let (app, _, _dir) = app_over_files()?;
    let reply = post_json(app.clone(), "/api/show", &json!({"model": MODEL})).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(body["template"], TEMPLATE);
    assert_eq!(body["capabilities"], json!(["completion"]));
    assert_eq!(body["details"]["quantization_level"], "Q4_K_M");
    assert_eq!(body["modified_at"], "2023-11-14T22:13:20Z");
    let info = &body["model_info"];
    assert_eq!(info["general.architecture"], "llama");
    assert_eq!(info["llama.context_length"], 8192);
    assert_eq!(info["general.parameter_count"], 12);
    assert_eq!(
        info["tokenizer.ggml.tokens"],
        Value::Null,
        "long arrays are left out"
    );
    assert!(
        body["parameters"]
            .as_str()
            .is_some_and(|p| p.contains("num_ctx 2048")),
        "{body}"
    );
    assert!(
        body["modelfile"]
            .as_str()
            .is_some_and(|m| m.starts_with("FROM ")),
        "{body}"
    );
    let verbose = json!({"name": MODEL, "verbose": true});
    let body = post_json(app, "/api/show", &verbose).await?.json()?;
    let tokens = body["model_info"]["tokenizer.ggml.tokens"].as_array();
    assert_eq!(tokens.map(Vec::len), Some(100), "verbose keeps them");
    Ok(())
}

#[tokio::test]
async fn show_of_an_unknown_model_is_a_404_and_no_model_a_400() -> TestResult {
    let (app, _, _dir) = app_over_files()?;
    let reply = post_json(app.clone(), "/api/show", &json!({"model": "nope"})).await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json()?,
        json!({"error": "model \"nope\" not found, try pulling it first"})
    );
    let reply = post_json(app, "/api/show", &json!({})).await?;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()?["error"].is_string());
    Ok(())
}

#[tokio::test]
async fn ps_lists_loaded_models_until_they_are_unloaded() -> TestResult {
    let (app, _, _dir) = app_over_files()?;
    let body = send(app.clone(), get("/api/ps")?).await?.json()?;
    assert_eq!(body, json!({"models": []}));

    let load = json!({"model": MODEL, "keep_alive": "5m"});
    let reply = post_json(app.clone(), "/api/generate", &load).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = send(app.clone(), get("/api/ps")?).await?.json()?;
    let running = &body["models"][0];
    assert_eq!(running["name"], MODEL);
    assert_eq!(running["model"], MODEL);
    assert_eq!(running["size"], LOADED_BYTES);
    assert_eq!(running["size_vram"], 0);
    assert_eq!(running["context_length"], 2048);
    assert_eq!(running["details"]["format"], "gguf");
    let expires = running["expires_at"].as_str().ok_or("no expires_at")?;
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");

    let forever = json!({"model": MODEL, "keep_alive": -1});
    post_json(app.clone(), "/api/generate", &forever).await?;
    let body = send(app.clone(), get("/api/ps")?).await?.json()?;
    let expires = body["models"][0]["expires_at"].as_str().unwrap_or_default();
    assert!(expires.starts_with("23"), "forever is far away: {expires}");

    let unload = json!({"model": MODEL, "keep_alive": 0});
    post_json(app.clone(), "/api/generate", &unload).await?;
    let body = send(app, get("/api/ps")?).await?.json()?;
    assert_eq!(body, json!({"models": []}));
    Ok(())
}

#[tokio::test]
async fn load_and_unload_endpoints_report_the_loaded_state() -> TestResult {
    let pool = FakePool::with_models(&[MODEL]);
    let (app, _) = app_with_pool(
        Script::Tokens(vec!["x"]),
        pool.clone(),
        ServerConfig::default(),
    );
    let path = format!("/v1/models/{MODEL}/load");
    let reply = post_json(app.clone(), &path, &json!({"keep_alive": "-1"})).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(body["id"], MODEL);
    assert_eq!(body["object"], "model");
    assert_eq!(body["loaded"], true);
    assert_eq!(body["memory_bytes"], LOADED_BYTES);
    assert_eq!(body["expires_at"], Value::Null);

    let reply = send(app.clone(), post(&path, "")?).await?;
    assert_eq!(reply.status, StatusCode::OK, "an empty body is fine");
    assert!(reply.json()?["expires_at"].is_u64());

    let reply = send(
        app.clone(),
        post(&format!("/v1/models/{MODEL}/unload"), "")?,
    )
    .await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json()?;
    assert_eq!(body["loaded"], false);
    assert_eq!(body["memory_bytes"], Value::Null);
    assert_eq!(
        pool.calls(),
        [
            PoolCall::Load(MODEL.into(), Some(KeepAlive::Forever)),
            PoolCall::Load(MODEL.into(), None),
            PoolCall::Unload(MODEL.into()),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn load_errors_are_openai_shaped() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app.clone(), post("/v1/models/owner/nope:q8_0/load", "")?).await?;
    let error = error_of(&reply, StatusCode::NOT_FOUND)?;
    assert_eq!(error["code"], "model_not_found");

    let path = format!("/v1/models/{MODEL}/load");
    let reply = post_json(app.clone(), &path, &json!({"keep_alive": "bogus"})).await?;
    let error = error_of(&reply, StatusCode::BAD_REQUEST)?;
    assert_eq!(error["param"], "keep_alive");

    for path in [
        format!("/v1/models/{MODEL}/reload"),
        format!("/v1/models/{MODEL}"),
    ] {
        let reply = send(app.clone(), post(&path, "")?).await?;
        let error = error_of(&reply, StatusCode::NOT_FOUND)?;
        assert_eq!(error["code"], "not_found", "{path}");
    }
    Ok(())
}
