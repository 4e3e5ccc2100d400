//! The optional API key: `Authorization: Bearer <key>` on every endpoint but `/health`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Rejects requests without the configured key with 401 `invalid_api_key`; lets
/// everything through when no key is configured.
pub(crate) async fn require_api_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = state.config.api_key.as_deref() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented) if same(presented.as_bytes(), key.as_bytes()) => next.run(request).await,
        // Ollama clients read Ollama's error shape.
        _ if request.uri().path().starts_with("/api/") => {
            crate::ollama::OllamaError(ApiError::InvalidApiKey).into_response()
        }
        _ => ApiError::InvalidApiKey.into_response(),
    }
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn keys_match_only_when_equal() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
