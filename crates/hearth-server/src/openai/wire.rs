//! OpenAI request bodies as they arrive, and their conversion into validated
//! [`GenerateRequest`]s: parse, don't validate.
//!
//! The wire structs accept every shape a client may send (most fields optional, a few
//! kept as raw JSON because they take several shapes); [`ChatCompletionRequest::validate`]
//! and [`CompletionRequest::validate`] turn them into a [`Validated`] request or an
//! [`ApiError`] naming the offending `param`. Unknown fields are ignored.
//!
//! Sampling defaults are OpenAI's, not llama.cpp's: a field the client leaves out
//! means temperature 1, top_p 1, top_k off (0), min_p off (0), no penalties. A missing
//! `max_tokens` generates until the model stops or the context is full. With `n > 1`
//! each choice is its own request; with a `seed`, choice `i` uses `seed + i`.

use hearth_protocol::{
    ChatMessage, GenerateRequest, Prompt, ResponseFormat, SamplingParams, StopConditions,
};
use serde::Deserialize;
use serde_json::Value;

use crate::ApiError;

/// The most choices one request may ask for.
pub const MAX_N: u32 = 8;
/// The most stop strings one request may give.
pub const MAX_STOP: usize = 4;
/// The most alternatives `top_logprobs` (chat) or `logprobs` (completions) may ask for.
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Option<Vec<WireMessage>>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    #[serde(flatten)]
    pub common: Common,
}

/// `POST /v1/completions` body.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub prompt: Option<Value>,
    pub max_tokens: Option<u64>,
    pub logprobs: Option<u32>,
    pub echo: Option<bool>,
    #[serde(flatten)]
    pub common: Common,
}

/// Fields both endpoints share.
///
/// Flattened, so a wrong type here is reported without its path by serde; every field
/// is therefore read as raw JSON and typed in [`Common::sampling`], which names it.
#[derive(Debug, Default, Deserialize)]
pub struct Common {
    temperature: Option<Value>,
    top_p: Option<Value>,
    top_k: Option<Value>,
    min_p: Option<Value>,
    presence_penalty: Option<Value>,
    frequency_penalty: Option<Value>,
    seed: Option<Value>,
    n: Option<Value>,
    stop: Option<Value>,
    stream: Option<Value>,
    stream_options: Option<Value>,
    response_format: Option<Value>,
}

/// One chat message on the wire.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: Option<String>,
    /// A string, `null`, or an array of `{"type":"text","text":…}` parts.
    pub content: Option<Value>,
}

/// A request that passed every check: one [`GenerateRequest`] per choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub model: String,
    /// `n` requests, identical but for their seeds.
    pub requests: Vec<GenerateRequest>,
    pub stream: bool,
    /// Streamed responses end with one chunk holding the usage.
    pub include_usage: bool,
}

impl ChatCompletionRequest {
    /// Checks every field and builds the requests.
    pub fn validate(self) -> Result<Validated, ApiError> {
        let model = required_model(self.model)?;
        let messages = self
            .messages
            .ok_or_else(|| ApiError::invalid("messages", "`messages` is required"))?;
        if messages.is_empty() {
            return Err(ApiError::invalid(
                "messages",
                "`messages` must hold at least one message",
            ));
        }
        let messages = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| chat_message(i, m))
            .collect::<Result<Vec<_>, _>>()?;
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        let param = if self.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        let max_tokens = positive(param, max_tokens)?;
        let logprobs = chat_logprobs(self.logprobs, self.top_logprobs)?;
        self.common
            .build(model, Prompt::Chat(messages), max_tokens, logprobs)
    }
}

impl CompletionRequest {
    /// Checks every field and builds the requests.
    pub fn validate(self) -> Result<Validated, ApiError> {
        let model = required_model(self.model)?;
        let prompt = completion_prompt(self.prompt)?;
        if self.echo == Some(true) {
            return Err(ApiError::invalid("echo", "`echo` is not supported"));
        }
        let max_tokens = positive("max_tokens", self.max_tokens)?;
        let logprobs = match self.logprobs {
            Some(n) if n > MAX_TOP_LOGPROBS => {
                return Err(ApiError::invalid(
                    "logprobs",
                    format!("`logprobs` must be between 0 and {MAX_TOP_LOGPROBS}, got {n}"),
                ));
            }
            other => other.map(|n| n as usize),
        };
        self.common
            .build(model, Prompt::Text(prompt), max_tokens, logprobs)
    }
}

impl Common {
    fn build(
        self,
        model: String,
        prompt: Prompt,
        max_tokens: Option<usize>,
        logprobs: Option<usize>,
    ) -> Result<Validated, ApiError> {
        let n = match integer("n", self.n.as_ref())? {
            None => 1,
            Some(n) if (1..=i64::from(MAX_N)).contains(&n) => n as u32,
            Some(n) => {
                return Err(ApiError::invalid(
                    "n",
                    format!("`n` must be between 1 and {MAX_N}, got {n}"),
                ));
            }
        };
        let sampling = self.sampling()?;
        let stop = StopConditions {
            max_tokens,
            stop: stop_strings(self.stop)?,
        };
        let format = response_format(self.response_format)?;
        let stream = boolean("stream", self.stream.as_ref())?.unwrap_or(false);
        let include_usage = include_usage(self.stream_options)?;
        let template = GenerateRequest {
            model: model.clone(),
            prompt,
            sampling,
            stop,
            logprobs,
            format,
            keep_alive: None,
        };
        let requests = (0..u64::from(n))
            .map(|i| {
                let mut request = template.clone();
                request.sampling.seed = template.sampling.seed.map(|s| s.wrapping_add(i));
                request
            })
            .collect();
        Ok(Validated {
            model,
            requests,
            stream,
            include_usage,
        })
    }

    fn sampling(&self) -> Result<SamplingParams, ApiError> {
        let top_k = match integer("top_k", self.top_k.as_ref())? {
            None => 0,
            // llama.cpp's convention: zero or below keeps every token.
            Some(k) if k <= 0 => 0,
            Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
        };
        let seed =
            integer("seed", self.seed.as_ref())?.map(|s| u64::from_ne_bytes(s.to_ne_bytes()));
        Ok(SamplingParams {
            temperature: ranged("temperature", self.temperature.as_ref(), 0.0, 2.0)?.unwrap_or(1.0),
            top_p: ranged("top_p", self.top_p.as_ref(), 0.0, 1.0)?.unwrap_or(1.0),
            top_k,
            min_p: ranged("min_p", self.min_p.as_ref(), 0.0, 1.0)?.unwrap_or(0.0),
            repeat_penalty: 1.0,
            presence_penalty: ranged(
                "presence_penalty",
                self.presence_penalty.as_ref(),
                -2.0,
                2.0,
            )?
            .unwrap_or(0.0),
            frequency_penalty: ranged(
                "frequency_penalty",
                self.frequency_penalty.as_ref(),
                -2.0,
                2.0,
            )?
            .unwrap_or(0.0),
            seed,
            ..SamplingParams::default()
        })
    }
}

pub(crate) fn required_model(model: Option<String>) -> Result<String, ApiError> {
    match model {
        Some(m) if !m.trim().is_empty() => Ok(m),
        _ => Err(ApiError::invalid("model", "`model` is required")),
    }
}

pub(crate) fn chat_message(index: usize, message: WireMessage) -> Result<ChatMessage, ApiError> {
    let role = match message.role.as_deref() {
        Some(role @ ("system" | "user" | "assistant" | "tool")) => role.to_owned(),
        // OpenAI's newer name for the system role; chat templates know `system`.
        Some("developer") => "system".to_owned(),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("messages[{index}].role"),
                format!(
                    "unknown role `{other}`; expected `system`, `developer`, `user`, \
                     `assistant` or `tool`"
                ),
            ));
        }
        None => {
            return Err(ApiError::invalid(
                format!("messages[{index}].role"),
                "every message needs a `role`",
            ));
        }
    };
    let content = message_content(index, message.content)?;
    Ok(ChatMessage { role, content })
}

fn message_content(index: usize, content: Option<Value>) -> Result<String, ApiError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(text)) => return Ok(text),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(ApiError::invalid(
                format!("messages[{index}].content"),
                "`content` must be a string or an array of text parts",
            ));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let param = format!("messages[{index}].content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text").and_then(Value::as_str) {
                Some(text) => texts.push(text),
                None => {
                    return Err(ApiError::invalid(
                        format!("{param}.text"),
                        "a text part needs a string `text`",
                    ));
                }
            },
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{param}.type"),
                    format!("content parts of type `{other}` are not supported; only `text`"),
                ));
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{param}.type"),
                    "every content part needs a `type`",
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

fn completion_prompt(prompt: Option<Value>) -> Result<String, ApiError> {
    let not_supported = || {
        ApiError::invalid(
            "prompt",
            "`prompt` must be a string or an array of one string; several prompts and \
             token arrays are not supported",
        )
    };
    match prompt {
        None | Some(Value::Null) => Err(ApiError::invalid("prompt", "`prompt` is required")),
        Some(Value::String(text)) => Ok(text),
        Some(Value::Array(mut items)) if items.len() == 1 => match items.pop() {
            Some(Value::String(text)) => Ok(text),
            _ => Err(not_supported()),
        },
        Some(_) => Err(not_supported()),
    }
}

pub(crate) fn chat_logprobs(
    logprobs: Option<bool>,
    top: Option<u32>,
) -> Result<Option<usize>, ApiError> {
    match (logprobs.unwrap_or(false), top) {
        (_, Some(top)) if top > MAX_TOP_LOGPROBS => Err(ApiError::invalid(
            "top_logprobs",
            format!("`top_logprobs` must be between 0 and {MAX_TOP_LOGPROBS}, got {top}"),
        )),
        (false, Some(_)) => Err(ApiError::invalid(
            "top_logprobs",
            "`top_logprobs` needs `logprobs` set to true",
        )),
        (false, None) => Ok(None),
        (true, top) => Ok(Some(top.unwrap_or(0) as usize)),
    }
}

fn positive(param: &str, value: Option<u64>) -> Result<Option<usize>, ApiError> {
    match value {
        Some(0) => Err(ApiError::invalid(
            param,
            format!("`{param}` must be at least 1"),
        )),
        other => Ok(other.map(|v| usize::try_from(v).unwrap_or(usize::MAX))),
    }
}

fn stop_strings(stop: Option<Value>) -> Result<Vec<String>, ApiError> {
    let items = match stop {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![Value::String(s)],
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "`stop` must be a string or an array of strings",
            ));
        }
    };
    if items.len() > MAX_STOP {
        return Err(ApiError::invalid(
            "stop",
            format!(
                "`stop` holds at most {MAX_STOP} strings, got {}",
                items.len()
            ),
        ));
    }
    let mut stop = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => stop.push(s),
            _ => {
                return Err(ApiError::invalid(
                    format!("stop[{i}]"),
                    "every stop sequence must be a string",
                ));
            }
        }
    }
    Ok(stop)
}

fn response_format(format: Option<Value>) -> Result<ResponseFormat, ApiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(ResponseFormat::Text);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let schema = format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .filter(|s| s.is_object() || s.is_boolean());
            match schema {
                Some(schema) => Ok(ResponseFormat::JsonSchema(schema.clone())),
                None => Err(ApiError::invalid(
                    "response_format.json_schema.schema",
                    "`response_format` of type `json_schema` needs \
                     `json_schema.schema`, a JSON Schema object",
                )),
            }
        }
        Some(other) => Err(ApiError::invalid(
            "response_format.type",
            format!(
                "unknown response format `{other}`; expected `text`, `json_object` or \
                 `json_schema`"
            ),
        )),
        None => Err(ApiError::invalid(
            "response_format.type",
            "`response_format` needs a `type`",
        )),
    }
}

fn include_usage(options: Option<Value>) -> Result<bool, ApiError> {
    match options {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(map)) => {
            Ok(boolean("stream_options.include_usage", map.get("include_usage"))?.unwrap_or(false))
        }
        Some(_) => Err(ApiError::invalid(
            "stream_options",
            "`stream_options` must be an object",
        )),
    }
}

/// A number in `[lo, hi]`, or `None` when absent or `null`.
pub(crate) fn ranged(
    param: &str,
    value: Option<&Value>,
    lo: f64,
    hi: f64,
) -> Result<Option<f32>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if (lo..=hi).contains(&v) => Ok(Some(v as f32)),
            _ => Err(ApiError::invalid(
                param,
                format!("`{param}` must be between {lo} and {hi}, got {n}"),
            )),
        },
        Some(other) => Err(wrong_type(param, "a number", other)),
    }
}

/// An integer, or `None` when absent or `null`.
pub(crate) fn integer(param: &str, value: Option<&Value>) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| wrong_type(param, "an integer", &Value::Number(n.clone()))),
        Some(other) => Err(wrong_type(param, "an integer", other)),
    }
}

/// A boolean, or `None` when absent or `null`.
pub(crate) fn boolean(param: &str, value: Option<&Value>) -> Result<Option<bool>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(param, "a boolean", other)),
    }
}

pub(crate) fn wrong_type(param: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid(param, format!("`{param}` must be {expected}, got `{got}`"))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
