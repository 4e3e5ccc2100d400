//! `hearth ps`: the models the running server has loaded, asked over its API.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{Hinted, PsArgs};
use crate::commands::list::{human_size, print_table};

#[derive(Debug, Deserialize, serde::Serialize)]
struct Ps {
    models: Vec<Loaded>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct Loaded {
    name: String,
    size: u64,
    expires_at: Option<String>,
    #[serde(default)]
    details: serde_json::Value,
}

pub fn run(args: PsArgs) -> anyhow::Result<ExitCode> {
    let base = server_url(args.host.as_deref());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ps = runtime.block_on(fetch(&base, args.api_key.as_deref()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &ps)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if ps.models.is_empty() {
        writeln!(out, "no models loaded on {base}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = ps
        .models
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                human_size(m.size),
                m.details["quantization_level"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                "CPU".to_string(),
                m.expires_at.clone().unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    let header = ["NAME", "MEMORY", "QUANT", "PROCESSOR", "UNTIL"].map(str::to_string);
    print_table(&mut out, &header, &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `http://HOST:PORT` from `--host`, else `HEARTH_HOST`, else the default address.
fn server_url(host: Option<&str>) -> String {
    let host = host
        .map(str::to_string)
        .or_else(|| std::env::var("HEARTH_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "127.0.0.1:8434".into());
    let host = host.trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else if host.contains(':') {
        format!("http://{host}")
    } else {
        format!("http://{host}:8434")
    }
}

async fn fetch(base: &str, api_key: Option<&str>) -> anyhow::Result<Ps> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut request = client.get(format!("{base}/api/ps"));
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| {
        Hinted::error(
            format!("cannot reach a Hearth server at {base}: {e}"),
            "start one with `hearth serve`, or point HEARTH_HOST at it",
        )
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(Hinted::error(
            format!("the server at {base} answered {status}: {body}"),
            "pass the server's key with --api-key or HEARTH_API_KEY",
        ));
    }
    response
        .json()
        .await
        .with_context(|| format!("unexpected answer from {base}/api/ps"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_take_host_port_or_a_url() {
        assert_eq!(server_url(Some("0.0.0.0:9000")), "http://0.0.0.0:9000");
        assert_eq!(server_url(Some("myhost")), "http://myhost:8434");
        assert_eq!(server_url(Some("http://x:1/")), "http://x:1");
    }
}
