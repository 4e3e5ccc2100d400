//! A JSON body extractor whose rejections are [`ApiError`]s naming the field at fault.
//!
//! axum's own `Json` answers malformed bodies with plain text and a status of its
//! choosing; OpenAI clients expect the error object. This extractor reads the body,
//! deserializes it through `serde_path_to_error` so a wrong type reports its path
//! (`messages[0].content`), and accepts any content type, like OpenAI's API does for
//! `curl -d`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The largest request body accepted, in bytes: far more than any context holds.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A request body parsed as JSON into `T`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::InvalidRequest {
                    param: None,
                    message: format!("could not read the request body: {err}"),
                }
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Parses `bytes` as `T`, naming the path of a field with the wrong type.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(into_api_error)?;
    deserializer.end().map_err(|err| ApiError::InvalidRequest {
        param: None,
        message: format!("malformed JSON in the request body: {err}"),
    })?;
    Ok(value)
}

fn into_api_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data if path != "." => ApiError::InvalidRequest {
            message: format!("invalid value for `{path}`: {inner}"),
            param: Some(path),
        },
        serde_json::error::Category::Data => ApiError::InvalidRequest {
            param: None,
            message: format!("invalid request body: {inner}"),
        },
        serde_json::error::Category::Eof if inner.line() == 1 && inner.column() == 0 => {
            ApiError::InvalidRequest {
                param: None,
                message: "the request body is empty; send a JSON object".to_owned(),
            }
        }
        _ => ApiError::InvalidRequest {
            param: None,
            message: format!("malformed JSON in the request body: {inner}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn wrong_type_names_the_nested_field() -> Result<(), String> {
        let err = parse::<Body>(br#"{"items":[{"n":1},{"n":"x"}]}"#).err();
        let Some(ApiError::InvalidRequest { param, message }) = err else {
            return Err(format!("expected an invalid request, got {err:?}"));
        };
        assert_eq!(param.as_deref(), Some("items[1].n"));
        assert!(message.contains("expected u32"), "{message}");
        Ok(())
    }

    #[test]
    fn syntax_error_says_where_and_names_no_field() -> Result<(), String> {
        let err = parse::<Body>(b"{\"items\": [").err();
        let Some(ApiError::InvalidRequest { param, message }) = err else {
            return Err(format!("expected an invalid request, got {err:?}"));
        };
        assert_eq!(param, None);
        assert!(message.contains("line 1"), "{message}");
        Ok(())
    }
}
