//! Ollama request bodies as they arrive, and their conversion into a validated
//! [`Validated`] request: parse, don't validate.
//!
//! Shared checks (roles, numbers, integers) are the OpenAI side's, so both APIs read
//! a field the same way. Differences that are Ollama's:
//!
//! - Sampling defaults are Ollama's: temperature 0.8, top_k 40, top_p 0.9, min_p 0,
//!   repeat_penalty 1.1 over the last 64 tokens, no presence or frequency penalty, a
//!   fresh seed (a negative `seed` also draws a fresh one).
//! - `options.num_predict`: a positive count, or `-1`/`-2` (until the model stops or
//!   the context is full). `options.num_ctx` is accepted and ignored: the context size
//!   is the server's (`hearth serve --ctx`). Options that tune Ollama's runner
//!   (`num_gpu`, `num_thread`, `use_mmap`, …) are accepted and ignored; unknown
//!   options are ignored with a warning in the log, as Ollama does.
//! - `format`: `"json"` or a JSON Schema object.
//! - `keep_alive`: seconds as a number, or a duration string (`"5m"`, `"0"`, `"-1"`).
//! - `logprobs: true` and `top_logprobs` (0–20) ask for log-probabilities.
//! - `/api/generate` renders `prompt` (and `system`) with the model's chat template
//!   unless `raw` is true; a custom `template`, `suffix`, `images` and `context` are
//!   refused with 400 rather than silently ignored.

use hearth_protocol::{
    ChatMessage, GenerateRequest, KeepAlive, Prompt, ResponseFormat, SamplingParams, StopConditions,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ApiError;
use crate::openai::wire::{
    WireMessage, boolean, chat_logprobs, chat_message, integer, ranged, required_model, wrong_type,
};

/// `POST /api/generate` body.
#[derive(Debug, Deserialize)]
pub struct GenerateBody {
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub system: Option<String>,
    pub template: Option<String>,
    pub suffix: Option<String>,
    pub raw: Option<bool>,
    pub images: Option<Vec<Value>>,
    pub context: Option<Vec<Value>>,
    #[serde(flatten)]
    pub common: Common,
}

/// `POST /api/chat` body.
#[derive(Debug, Deserialize)]
pub struct ChatBody {
    pub model: Option<String>,
    pub messages: Option<Vec<OllamaMessage>>,
    pub tools: Option<Vec<Value>>,
    #[serde(flatten)]
    pub common: Common,
}

/// One chat message on the wire.
#[derive(Debug, Deserialize)]
pub struct OllamaMessage {
    pub role: Option<String>,
    pub content: Option<Value>,
    pub images: Option<Vec<Value>>,
}

/// Fields both endpoints share, kept as raw JSON so a wrong type names its field
/// (serde reports errors inside a flattened struct without their path).
#[derive(Debug, Default, Deserialize)]
pub struct Common {
    stream: Option<Value>,
    format: Option<Value>,
    options: Option<Value>,
    keep_alive: Option<Value>,
    think: Option<Value>,
    logprobs: Option<Value>,
    top_logprobs: Option<Value>,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Generate text.
    Generate(Box<GenerateRequest>),
    /// Only load the model (an empty prompt or no messages), keeping it for this long.
    Load(Option<KeepAlive>),
    /// Only unload the model (an empty prompt or no messages with `keep_alive: 0`).
    Unload,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The model as the client named it; responses echo it.
    pub model: String,
    pub action: Action,
    pub stream: bool,
}

impl GenerateBody {
    /// Checks every field and builds the request.
    pub fn validate(self) -> Result<Validated, ApiError> {
        let model = required_model(self.model)?;
        refuse_nonempty(
            "template",
            self.template.as_deref().map(str::len),
            "custom templates are not supported; the model's own chat template is used",
        )?;
        refuse_nonempty(
            "suffix",
            self.suffix.as_deref().map(str::len),
            "`suffix` (fill-in-the-middle) is not supported",
        )?;
        refuse_nonempty(
            "images",
            self.images.as_ref().map(Vec::len),
            "images are not supported",
        )?;
        refuse_nonempty(
            "context",
            self.context.as_ref().map(Vec::len),
            "`context` is not supported; send the whole conversation to `/api/chat` instead",
        )?;
        let prompt = self.prompt.unwrap_or_default();
        let system = self.system.filter(|s| !s.is_empty());
        if prompt.is_empty() && system.is_none() {
            return self.common.load_or_unload(model);
        }
        let prompt = if self.raw.unwrap_or(false) {
            Prompt::Text(prompt)
        } else {
            let mut messages = Vec::with_capacity(2);
            messages.extend(system.map(|s| ChatMessage::new("system", s)));
            messages.push(ChatMessage::new("user", prompt));
            Prompt::Chat(messages)
        };
        self.common.build(model, prompt)
    }
}

impl ChatBody {
    /// Checks every field and builds the request.
    pub fn validate(self) -> Result<Validated, ApiError> {
        let model = required_model(self.model)?;
        refuse_nonempty(
            "tools",
            self.tools.as_ref().map(Vec::len),
            "tools are not supported",
        )?;
        let messages = self.messages.unwrap_or_default();
        if messages.is_empty() {
            return self.common.load_or_unload(model);
        }
        let messages = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                refuse_nonempty(
                    &format!("messages[{i}].images"),
                    m.images.as_ref().map(Vec::len),
                    "images are not supported",
                )?;
                chat_message(
                    i,
                    WireMessage {
                        role: m.role,
                        content: m.content,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.common.build(model, Prompt::Chat(messages))
    }
}

fn refuse_nonempty(param: &str, len: Option<usize>, message: &str) -> Result<(), ApiError> {
    match len {
        Some(n) if n > 0 => Err(ApiError::invalid(param, message)),
        _ => Ok(()),
    }
}

impl Common {
    fn stream(&self) -> Result<bool, ApiError> {
        Ok(boolean("stream", self.stream.as_ref())?.unwrap_or(true))
    }

    /// `logprobs: true` with `top_logprobs` (0–20) alternatives, as on the OpenAI side.
    fn logprobs(&self) -> Result<Option<usize>, ApiError> {
        let logprobs = boolean("logprobs", self.logprobs.as_ref())?;
        let top = match integer("top_logprobs", self.top_logprobs.as_ref())? {
            None => None,
            Some(n) => Some(u32::try_from(n).map_err(|_| {
                ApiError::invalid(
                    "top_logprobs",
                    format!("`top_logprobs` must be between 0 and 20, got {n}"),
                )
            })?),
        };
        chat_logprobs(logprobs, top)
    }

    fn load_or_unload(self, model: String) -> Result<Validated, ApiError> {
        let stream = self.stream()?;
        let keep_alive = keep_alive(self.keep_alive.as_ref())?;
        let action = match keep_alive {
            Some(k) if k.is_zero() => Action::Unload,
            other => Action::Load(other),
        };
        Ok(Validated {
            model,
            action,
            stream,
        })
    }

    fn build(self, model: String, prompt: Prompt) -> Result<Validated, ApiError> {
        let stream = self.stream()?;
        let logprobs = self.logprobs()?;
        if boolean("think", self.think.as_ref())? == Some(true) {
            return Err(ApiError::invalid(
                "think",
                "this model does not support thinking",
            ));
        }
        let options = match self.options {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(wrong_type("options", "an object", &other)),
        };
        let (sampling, stop) = options_into(&options)?;
        let request = GenerateRequest {
            model: model.clone(),
            prompt,
            sampling,
            stop,
            logprobs,
            format: format(self.format)?,
            keep_alive: keep_alive(self.keep_alive.as_ref())?,
        };
        Ok(Validated {
            model,
            action: Action::Generate(Box::new(request)),
            stream,
        })
    }
}

/// Options Ollama's runner takes that have no meaning here; accepted and ignored.
const IGNORED_OPTIONS: &[&str] = &[
    "num_ctx",
    "num_keep",
    "typical_p",
    "tfs_z",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "penalize_newline",
    "numa",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "low_vram",
    "vocab_only",
    "use_mmap",
    "use_mlock",
    "num_thread",
    "f16_kv",
    "logits_all",
    "embedding_only",
];

/// `options` into sampling parameters and stop conditions, with Ollama's defaults.
fn options_into(
    options: &Map<String, Value>,
) -> Result<(SamplingParams, StopConditions), ApiError> {
    for (key, value) in options {
        let known = matches!(
            key.as_str(),
            "num_predict"
                | "temperature"
                | "top_k"
                | "top_p"
                | "min_p"
                | "seed"
                | "stop"
                | "repeat_penalty"
                | "repeat_last_n"
                | "presence_penalty"
                | "frequency_penalty"
        );
        if !known && !value.is_null() {
            if IGNORED_OPTIONS.contains(&key.as_str()) {
                tracing::debug!(option = %key, "ignoring an option that does not apply to Hearth");
            } else {
                tracing::warn!(option = %key, "ignoring an unknown option");
            }
        }
    }
    let get = |key: &str| options.get(key);
    let param = |key: &str| format!("options.{key}");
    let number = |key: &str, lo: f64, hi: f64| ranged(&param(key), get(key), lo, hi);
    let int = |key: &str| integer(&param(key), get(key));
    let top_k = match int("top_k")? {
        None => 40,
        Some(k) if k <= 0 => 0,
        Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
    };
    let repeat_last_n = match int("repeat_last_n")? {
        None => 64,
        // Ollama's -1: the whole context; the sampler caps the window itself.
        Some(n) if n < 0 => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let sampling = SamplingParams {
        temperature: number("temperature", 0.0, 100.0)?.unwrap_or(0.8),
        top_k,
        top_p: number("top_p", 0.0, 1.0)?.unwrap_or(0.9),
        min_p: number("min_p", 0.0, 1.0)?.unwrap_or(0.0),
        repeat_penalty: number("repeat_penalty", 0.0, 100.0)?.unwrap_or(1.1),
        repeat_last_n,
        presence_penalty: number("presence_penalty", -100.0, 100.0)?.unwrap_or(0.0),
        frequency_penalty: number("frequency_penalty", -100.0, 100.0)?.unwrap_or(0.0),
        seed: int("seed")?.and_then(|s| u64::try_from(s).ok()),
    };
    let max_tokens = match int("num_predict")? {
        None => None,
        Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(-1 | -2) => None,
        Some(n) => {
            return Err(ApiError::invalid(
                param("num_predict"),
                format!("`options.num_predict` must be positive, -1 or -2, got {n}"),
            ));
        }
    };
    let stop = StopConditions {
        max_tokens,
        stop: stop_strings(get("stop"))?,
    };
    Ok((sampling, stop))
}

fn stop_strings(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            return Ok(vec![s.clone()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect());
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("options.stop", "an array of strings", other)),
    };
    let mut stop = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => stop.push(s.clone()),
            other => return Err(wrong_type(&format!("options.stop[{i}]"), "a string", other)),
        }
    }
    Ok(stop)
}

/// `format`: nothing, `"json"`, or a JSON Schema object.
fn format(value: Option<Value>) -> Result<ResponseFormat, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(ResponseFormat::Text),
        Some(Value::String(s)) if s.is_empty() => Ok(ResponseFormat::Text),
        Some(Value::String(s)) if s == "json" => Ok(ResponseFormat::JsonObject),
        Some(schema @ Value::Object(_)) => Ok(ResponseFormat::JsonSchema(schema)),
        Some(Value::String(s)) => Err(ApiError::invalid(
            "format",
            format!("unknown format `{s}`; expected `\"json\"` or a JSON Schema object"),
        )),
        Some(other) => Err(wrong_type(
            "format",
            "`\"json\"` or a JSON Schema object",
            &other,
        )),
    }
}

/// `keep_alive`: seconds as a number, or a duration string; `None` when absent.
pub(crate) fn keep_alive(value: Option<&Value>) -> Result<Option<KeepAlive>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(secs) => Ok(Some(KeepAlive::from_secs_f64(secs))),
            None => Err(wrong_type(
                "keep_alive",
                "a number of seconds or a duration",
                &Value::Number(n.clone()),
            )),
        },
        Some(Value::String(s)) => KeepAlive::parse(s)
            .map(Some)
            .map_err(|message| ApiError::invalid("keep_alive", message)),
        Some(other) => Err(wrong_type(
            "keep_alive",
            "a number of seconds or a duration such as `5m`",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn generate(body: Value) -> Result<Validated, ApiError> {
        crate::json::parse::<GenerateBody>(body.to_string().as_bytes())?.validate()
    }

    fn request(body: Value) -> Result<GenerateRequest, String> {
        match generate(body).map_err(|e| e.to_string())?.action {
            Action::Generate(request) => Ok(*request),
            other => Err(format!("expected a generation, got {other:?}")),
        }
    }

    #[test]
    fn defaults_are_ollamas() -> Result<(), String> {
        let request = request(json!({"model": "m", "prompt": "hi"}))?;
        assert_eq!(request.sampling.temperature, 0.8);
        assert_eq!(request.sampling.top_k, 40);
        assert_eq!(request.sampling.top_p, 0.9);
        assert_eq!(request.sampling.min_p, 0.0);
        assert_eq!(request.sampling.repeat_penalty, 1.1);
        assert_eq!(request.sampling.seed, None);
        assert_eq!(request.stop.max_tokens, None);
        assert_eq!(
            request.prompt,
            Prompt::Chat(vec![ChatMessage::new("user", "hi")])
        );
        Ok(())
    }

    #[test]
    fn raw_prompt_skips_the_template_and_negative_seed_is_random() -> Result<(), String> {
        let request = request(json!({
            "model": "m", "prompt": "hi", "raw": true,
            "options": {"seed": -1, "num_predict": -2, "stop": "x"}
        }))?;
        assert_eq!(request.prompt, Prompt::Text("hi".into()));
        assert_eq!(request.sampling.seed, None);
        assert_eq!(request.stop.max_tokens, None);
        assert_eq!(request.stop.stop, vec!["x".to_owned()]);
        Ok(())
    }

    #[test]
    fn empty_prompt_loads_and_zero_keep_alive_unloads() -> Result<(), ApiError> {
        let load = generate(json!({"model": "m", "keep_alive": "1h"}))?;
        assert_eq!(
            load.action,
            Action::Load(Some(KeepAlive::For(Duration::from_secs(3600))))
        );
        let unload = generate(json!({"model": "m", "prompt": "", "keep_alive": 0}))?;
        assert_eq!(unload.action, Action::Unload);
        Ok(())
    }

    #[test]
    fn bad_fields_name_themselves() -> Result<(), String> {
        for (extra, param) in [
            (json!({"keep_alive": "bogus"}), "keep_alive"),
            (json!({"keep_alive": true}), "keep_alive"),
            (json!({"options": {"top_p": 2}}), "options.top_p"),
            (json!({"options": {"stop": [1]}}), "options.stop[0]"),
            (
                json!({"options": {"num_predict": 0}}),
                "options.num_predict",
            ),
            (json!({"options": 3}), "options"),
            (json!({"format": "yaml"}), "format"),
            (json!({"template": "{{ .Prompt }}"}), "template"),
            (json!({"stream": "yes"}), "stream"),
            (json!({"think": true}), "think"),
            (json!({"model": null}), "model"),
        ] {
            let mut body = json!({"model": "m", "prompt": "x"});
            if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
                body.extend(extra);
            }
            match generate(body.clone()) {
                Err(ApiError::InvalidRequest { param: Some(p), .. }) if p == param => {}
                other => {
                    return Err(format!(
                        "{body}: expected a 400 naming `{param}`, got {other:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}
