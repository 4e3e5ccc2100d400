//! A model in this process, through any [`Backend`] (the binary passes its engine pool).

use std::sync::Arc;

use hearth_protocol::{
    Backend, BoxFuture, GenerateEvent, GenerateRequest, Prompt, ResponseFormat, SamplingParams,
};

use super::{BackendFailure, CommandBackend, CompletionRequest};

/// Generates with `model` on an in-process [`Backend`], collecting the streamed text.
#[derive(Clone)]
pub struct InProcess {
    name: String,
    backend: Arc<dyn Backend>,
    model: String,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("model", &self.model)
            .finish()
    }
}

impl InProcess {
    /// Asks `backend` for the model it serves as `model`.
    pub fn new(backend: Arc<dyn Backend>, model: impl Into<String>) -> Self {
        let model = model.into();
        Self {
            name: format!("local:{model}"),
            backend,
            model,
        }
    }

    fn request(&self, request: &CompletionRequest) -> GenerateRequest {
        let mut generate =
            GenerateRequest::new(&self.model, Prompt::Chat(request.messages.clone()));
        generate.sampling = if request.temperature <= 0.0 {
            SamplingParams::greedy()
        } else {
            SamplingParams {
                temperature: request.temperature,
                ..SamplingParams::default()
            }
        };
        generate.stop.max_tokens = Some(request.max_tokens);
        if let Some(schema) = &request.schema {
            generate.format = ResponseFormat::JsonSchema(schema.clone());
        }
        generate
    }

    async fn run(&self, request: &CompletionRequest) -> Result<String, BackendFailure> {
        let mut events = self.backend.generate(self.request(request)).await?;
        let mut text = String::new();
        while let Some(event) = events.next().await {
            match event {
                GenerateEvent::Token(token) => {
                    text.push_str(&token.text);
                    // Dropping the stream cancels the rest of the generation.
                    if request.stop_after_command && crate::extract::has_command(&text) {
                        break;
                    }
                }
                GenerateEvent::Done(_) => break,
                GenerateEvent::Error(e) => return Err(e.into()),
            }
        }
        Ok(text)
    }
}

impl CommandBackend for InProcess {
    fn name(&self) -> &str {
        &self.name
    }

    fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>> {
        Box::pin(async { Ok(()) })
    }

    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<String, BackendFailure>> {
        Box::pin(self.run(request))
    }
}
