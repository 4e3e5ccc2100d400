//! `hearth serve`: the OpenAI- and Ollama-compatible HTTP server over the models
//! given with `--model` (loaded at start) or, without `--model`, every model on this
//! machine (loaded on first use); models pulled while serving join them.

mod models;
mod pulls;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hearth_engine::{EngineConfig, EnginePool, ResidencyConfig, SchedulerConfig};
use hearth_protocol::ModelPool;
use hearth_server::{AppState, ServerConfig};

use crate::cli::{Hinted, ServeArgs};

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8434;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let models = models::to_serve(&args.models)?;
    let preload = if args.models.is_empty() {
        0
    } else {
        models.len()
    };
    let config = EngineConfig {
        n_ctx: args.ctx,
        scheduler: SchedulerConfig {
            max_running: args.max_batch.max(1),
            ..SchedulerConfig::default()
        },
        max_queue: args.max_queue,
        residency: ResidencyConfig {
            keep_alive: args.keep_alive,
            max_loaded: args.max_loaded,
            memory_budget: args.memory_budget.map(|mb| mb << 20),
        },
        // A long-running server keeps prefixes in its KV slots; the disk cache is for
        // processes that answer once and exit.
        prompt_cache: None,
    };
    let pool = if args.models.is_empty() {
        discovered_pool(models, config)?
    } else {
        EnginePool::new(models, config).context("cannot serve the models")?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, pool, preload))?;
    Ok(ExitCode::SUCCESS)
}

/// A pool over the models found on disk: one that cannot be offered is left out with
/// a warning rather than stopping the server.
fn discovered_pool(
    models: Vec<(String, std::path::PathBuf)>,
    config: EngineConfig,
) -> anyhow::Result<Arc<EnginePool>> {
    let pool = EnginePool::new(Vec::new(), config).context("cannot start the engine pool")?;
    for (name, path) in models {
        if let Err(e) = pool.add(&name, path.clone()) {
            tracing::warn!(model = %name, file = %path.display(), error = %e, "not serving a found model");
        }
    }
    Ok(pool)
}

async fn serve(args: ServeArgs, pool: Arc<EnginePool>, preload: usize) -> anyhow::Result<()> {
    let address = address(args.host.as_deref(), args.port)?;
    let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        Hinted::error(
            format!("cannot listen on `{address}`: {e}"),
            "another server may be using the port; pick another with `--port`",
        )
    })?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    // The models named on the command line are loaded up front, so the first request
    // does not wait; past --max-loaded the rest load on first use.
    let preload = match args.max_loaded {
        0 => preload,
        n => preload.min(n),
    };
    for model in pool.models().into_iter().take(preload) {
        pool.load(&model.name, None)
            .await
            .with_context(|| format!("cannot load model `{}`", model.name))?;
    }
    let config = ServerConfig {
        api_key: args.api_key.filter(|k| !k.is_empty()),
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        cors_origins: args.cors_origins,
        log_prompts: args.log_prompts,
    };
    let names: Vec<String> = pool.models().into_iter().map(|m| m.name).collect();
    let mut state = AppState::new(pool.clone(), pool.clone(), config);
    if let Some(manager) = pulls::manager(pool.clone()).await {
        state = state.with_pulls(manager);
    }
    let serving = if names.is_empty() {
        "no models yet (pull one with `hearth pull OWNER/REPO` or POST /api/pull)".to_string()
    } else {
        names.join(", ")
    };
    ready_line(&format!(
        "hearth: serving {serving} on http://{local} (Ctrl-C stops)"
    ));
    hearth_server::serve(listener, state, shutdown_signal())
        .await
        .context("the server failed")?;
    ready_line("hearth: stopped");
    Ok(())
}

/// The address to bind: `--host`/`--port`, else `HEARTH_HOST` (`host[:port]`), else
/// 127.0.0.1:8434.
fn address(host: Option<&str>, port: Option<u16>) -> anyhow::Result<String> {
    let env = std::env::var("HEARTH_HOST").ok().filter(|v| !v.is_empty());
    let (env_host, env_port) = match env.as_deref().map(split_host_port).transpose()? {
        Some((h, p)) => (Some(h), p),
        None => (None, None),
    };
    let host = host
        .map(str::to_string)
        .or(env_host)
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let port = port.or(env_port).unwrap_or(DEFAULT_PORT);
    Ok(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Splits `host[:port]` (an IPv6 host in brackets), with or without `http://`.
fn split_host_port(value: &str) -> anyhow::Result<(String, Option<u16>)> {
    let value = value.trim_start_matches("http://").trim_end_matches('/');
    let bad = || {
        Hinted::error(
            format!("invalid HEARTH_HOST `{value}`"),
            "write it as `host:port`, e.g. `127.0.0.1:8434`",
        )
    };
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
        _ => (value, None),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn ready_line(line: &str) {
    // A closed stderr must not stop the server.
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_and_defaults() -> anyhow::Result<()> {
        assert_eq!(
            split_host_port("0.0.0.0:9000")?,
            ("0.0.0.0".into(), Some(9000))
        );
        assert_eq!(split_host_port("localhost")?, ("localhost".into(), None));
        assert_eq!(
            split_host_port("http://[::1]:80/")?,
            ("[::1]".into(), Some(80))
        );
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("host:http").is_err());
        Ok(())
    }

    #[test]
    fn flags_override_the_default_address() -> anyhow::Result<()> {
        assert_eq!(address(Some("0.0.0.0"), Some(1))?, "0.0.0.0:1");
        assert_eq!(address(Some("::1"), Some(2))?, "[::1]:2");
        Ok(())
    }
}
