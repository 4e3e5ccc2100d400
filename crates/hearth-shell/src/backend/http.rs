//! The HTTP plumbing the server backends share.

use serde_json::Value;

use super::BackendFailure;

/// `base` without a trailing slash, with `http://` added when no scheme is given
/// (`HEARTH_HOST=127.0.0.1:8434`).
pub(crate) fn normalize_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    }
}

/// Sends a request and reads a JSON body, turning every failure into a [`BackendFailure`].
pub(crate) async fn json(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<Value, BackendFailure> {
    let response = request
        .send()
        .await
        .map_err(|source| BackendFailure::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|source| BackendFailure::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    if !status.is_success() {
        let mut body = body;
        body.truncate(300);
        return Err(BackendFailure::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body,
        });
    }
    serde_json::from_str(&body).map_err(|e| BackendFailure::BadResponse {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// A GET that only has to succeed.
pub(crate) async fn reachable(client: &reqwest::Client, url: &str) -> Result<(), BackendFailure> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|source| BackendFailure::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(BackendFailure::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body: String::new(),
        })
    }
}

/// A string at `pointer` in `value`, or a `BadResponse` naming what is missing.
pub(crate) fn text_at(value: &Value, pointer: &str, url: &str) -> Result<String, BackendFailure> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BackendFailure::BadResponse {
            url: url.to_owned(),
            message: format!("no string at `{pointer}`"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_get_a_scheme_and_lose_trailing_slashes() {
        assert_eq!(normalize_base("127.0.0.1:8434"), "http://127.0.0.1:8434");
        assert_eq!(normalize_base("https://api.x.com/"), "https://api.x.com");
    }
}
