//! A request's prompt as token ids: chat messages through the model's template, raw
//! text as is.

use hearth_models::{ChatMessage, Model};
use hearth_protocol::{BackendError, Prompt};

/// Token ids of `prompt` for `model`, special tokens in the text parsed as such (as
/// llama.cpp's server does), with the model's begin-of-sequence token when it uses one.
pub(crate) fn tokenize_prompt(model: &Model, prompt: &Prompt) -> Result<Vec<u32>, BackendError> {
    let text = match prompt {
        Prompt::Text(text) => text.clone(),
        Prompt::Chat(messages) => {
            let messages: Vec<ChatMessage> = messages
                .iter()
                .map(|m| ChatMessage::new(&m.role, &m.content))
                .collect();
            model.chat_template().render(&messages, true).map_err(|e| {
                BackendError::InvalidRequest {
                    param: Some("messages".into()),
                    message: format!("the model's chat template rejected the messages: {e}"),
                }
            })?
        }
    };
    let ids = model
        .tokenizer()
        .encode(&text, true, true)
        .map_err(|e| BackendError::Internal(format!("tokenizing the prompt failed: {e}")))?;
    if ids.is_empty() {
        return Err(BackendError::InvalidRequest {
            param: Some("prompt".into()),
            message: "the prompt is empty".into(),
        });
    }
    Ok(ids)
}
