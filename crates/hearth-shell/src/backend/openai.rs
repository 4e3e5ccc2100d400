//! Any OpenAI-compatible server (`POST {base}/v1/chat/completions`), a Hearth server
//! included.

use hearth_protocol::BoxFuture;
use serde_json::{Value, json};

use super::http::{json, normalize_base, reachable, text_at};
use super::{BackendFailure, CommandBackend, CompletionRequest};

/// A server speaking OpenAI's chat completions, with an optional bearer key. The schema
/// goes out as `response_format: {"type": "json_schema", …}`.
#[derive(Clone, Debug)]
pub struct OpenAiCompatible {
    name: String,
    base: String,
    /// `None` asks the server: the first model of `GET /v1/models`.
    model: Option<String>,
    api_key: Option<String>,
    health_path: &'static str,
    client: reqwest::Client,
}

impl OpenAiCompatible {
    /// A generic OpenAI-compatible server at `base` (e.g. `http://127.0.0.1:8080`),
    /// checked with `GET /v1/models`. Without a `model`, the server's first listed
    /// model is asked.
    pub fn new(base: &str, model: Option<String>, api_key: Option<String>) -> Self {
        let base = normalize_base(base);
        Self {
            name: format!("openai:{base}"),
            base,
            model: model.filter(|m| !m.is_empty()),
            api_key: api_key.filter(|k| !k.is_empty()),
            health_path: "/v1/models",
            client: reqwest::Client::new(),
        }
    }

    /// A Hearth server (`hearth serve`), checked with `GET /health`.
    pub fn hearth(base: &str, model: Option<String>, api_key: Option<String>) -> Self {
        let mut backend = Self::new(base, model, api_key);
        backend.name = format!("hearth:{}", backend.base);
        backend.health_path = "/health";
        backend
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn model(&self) -> Result<String, BackendFailure> {
        if let Some(model) = &self.model {
            return Ok(model.clone());
        }
        let url = format!("{}/v1/models", self.base);
        let list = json(self.authorized(self.client.get(&url)), &url).await?;
        text_at(&list, "/data/0/id", &url)
    }

    fn body(&self, model: &str, request: &CompletionRequest) -> Value {
        let mut body = json!({
            "model": model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": false,
        });
        if let Some(schema) = &request.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "shell_command", "strict": true, "schema": schema},
            });
        }
        body
    }

    async fn chat(&self, request: &CompletionRequest) -> Result<String, BackendFailure> {
        let url = format!("{}/v1/chat/completions", self.base);
        let model = self.model().await?;
        let http = self.authorized(self.client.post(&url).json(&self.body(&model, request)));
        let answer = json(http, &url).await?;
        text_at(&answer, "/choices/0/message/content", &url)
    }
}

impl CommandBackend for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>> {
        Box::pin(async move {
            let url = format!("{}{}", self.base, self.health_path);
            if self.health_path == "/health" {
                return reachable(&self.client, &url).await;
            }
            json(self.authorized(self.client.get(&url)), &url)
                .await
                .map(|_| ())
        })
    }

    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<String, BackendFailure>> {
        Box::pin(self.chat(request))
    }
}
