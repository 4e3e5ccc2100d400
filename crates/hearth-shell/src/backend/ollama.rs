//! An Ollama server (`POST {base}/api/chat`).

use hearth_protocol::BoxFuture;
use serde_json::{Value, json};

use super::http::{json, normalize_base, reachable, text_at};
use super::{BackendFailure, CommandBackend, CompletionRequest};

/// Ollama's native chat API, non-streaming; the schema goes out as `format`.
#[derive(Clone, Debug)]
pub struct Ollama {
    name: String,
    base: String,
    model: String,
    client: reqwest::Client,
}

impl Ollama {
    /// Ollama at `base` (default port 11434), asking `model`.
    pub fn new(base: &str, model: impl Into<String>) -> Self {
        let base = normalize_base(base);
        Self {
            name: format!("ollama:{base}"),
            base,
            model: model.into(),
            client: reqwest::Client::new(),
        }
    }

    fn body(&self, request: &CompletionRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": request.messages,
            "stream": false,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        });
        if let Some(schema) = &request.schema {
            body["format"] = schema.clone();
        }
        body
    }

    async fn chat(&self, request: &CompletionRequest) -> Result<String, BackendFailure> {
        let url = format!("{}/api/chat", self.base);
        let answer = json(self.client.post(&url).json(&self.body(request)), &url).await?;
        text_at(&answer, "/message/content", &url)
    }
}

impl CommandBackend for Ollama {
    fn name(&self) -> &str {
        &self.name
    }

    fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>> {
        Box::pin(async move { reachable(&self.client, &format!("{}/api/tags", self.base)).await })
    }

    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<String, BackendFailure>> {
        Box::pin(self.chat(request))
    }
}
