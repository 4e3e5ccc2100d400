//! The router, its middleware, and serving it on a listener.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::middleware;
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::json::MAX_BODY_BYTES;
use crate::{
    ApiError, AppState, ServerConfig, auth, health, metrics, models, ollama, openai, openapi, pulls,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP API over `state`, ready to serve or to call with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state.config);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));
    Router::new()
        .route("/v1/chat/completions", post(openai::chat::chat_completions))
        .route("/v1/completions", post(openai::completions::completions))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::get).post(models::action))
        .route("/api/generate", post(ollama::generate::generate))
        .route("/api/chat", post(ollama::chat::chat))
        .route("/api/tags", get(ollama::models::tags))
        .route("/api/show", post(ollama::models::show))
        .route("/api/ps", get(ollama::models::ps))
        .route("/api/version", get(ollama::models::version))
        .route(
            "/v1/pulls",
            post(pulls::routes::create).get(pulls::routes::list),
        )
        .route(
            "/v1/pulls/{id}",
            get(pulls::routes::get).delete(pulls::routes::cancel),
        )
        .route("/v1/pulls/{id}/events", get(pulls::routes::events))
        .route("/api/pull", post(pulls::ollama::pull))
        .route("/api/delete", delete(pulls::ollama::delete))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(layers)
}

/// Serves [`app`] on `listener` until `shutdown` completes, then stops accepting
/// connections and waits for in-flight requests (streams included) to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

/// One span per request; handlers fill in the model and token counts. The prompt is
/// never recorded here.
fn make_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        model = tracing::field::Empty,
        prompt_tokens = tracing::field::Empty,
        completion_tokens = tracing::field::Empty,
    )
}

/// Browser access: the configured origins, or any local origin when none are.
fn cors(config: &ServerConfig) -> CorsLayer {
    let origins = &config.cors_origins;
    let allow_origin = if origins.is_empty() {
        AllowOrigin::predicate(|origin: &HeaderValue, _| origin.to_str().is_ok_and(is_local_origin))
    } else if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring a CORS origin that is not a valid header value");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(3600))
}

/// `http://localhost`, `http://127.0.0.1` or `http://[::1]`, with or without a port.
fn is_local_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://") else {
        return false;
    };
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
        rest.strip_prefix(host).is_some_and(|port| {
            port.is_empty()
                || port.strip_prefix(':').is_some_and(|digits| {
                    (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::is_local_origin;

    #[test]
    fn only_plain_http_loopback_origins_are_local() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:5173",
        ] {
            assert!(is_local_origin(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://localhost:3000.evil.example",
            "http://127.0.0.1@evil.example",
            "http://localhost:",
            "null",
        ] {
            assert!(!is_local_origin(bad), "{bad}");
        }
    }
}
