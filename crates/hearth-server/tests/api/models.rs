//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn models_are_listed_as_owned_by_hearth() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/v1/models")?).await?;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json()?,
        json!({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "hearth"}
        ]})
    );
    Ok(())
}

#[tokio::test]
async fn model_id_with_slash_and_colon_is_found() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/v1/models/owner/repo:q4_k_m")?).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()?["id"], MODEL);
    Ok(())
}

#[tokio::test]
async fn unknown_model_id_is_a_404_model_not_found() -> TestResult {
    let (app, _) = hello_app();
    let reply = send(app, get("/v1/models/owner/other:q8_0")?).await?;
    let error = error_of(&reply, StatusCode::NOT_FOUND)?;
    assert_eq!(error["code"], "model_not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("owner/other:q8_0")
    );
    Ok(())
}
