//! `hearth cmd`'s settings: a TOML file, then environment variables, then flags.
//!
//! ```toml
//! # ~/.config/hearth/config.toml (or the file `HEARTH_CONFIG` names)
//! mode = "moderate"            # strict | moderate | permissive
//! allow = ["git push .*"]      # regexes matching whole commands
//! deny = ["docker system prune"]
//! timeout_secs = 60            # per completion
//! max_tokens = 160
//! constrained = true           # ask backends for JSON-schema constrained output
//! prompt_cache = true          # in process: keep the prompt's KV cache on disk
//!
//! [[backends]]                 # tried in order; the first that answers wins
//! kind = "hearth"              # local | hearth | openai | ollama
//! url = "http://127.0.0.1:8434"
//! model = "qwen2.5-coder"
//!
//! [[backends]]
//! kind = "local"               # model: a path to a .gguf (default: the Qwen test model)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Mode, Policy};

/// Which kind of server (or none) a backend is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A model in this process.
    Local,
    /// A `hearth serve` server (`HEARTH_HOST`, default `127.0.0.1:8434`).
    Hearth,
    /// Any OpenAI-compatible server (`OPENAI_BASE_URL`, key from `OPENAI_API_KEY`).
    Openai,
    /// Ollama (`OLLAMA_HOST`, default `127.0.0.1:11434`).
    Ollama,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Hearth => "hearth",
            BackendKind::Openai => "openai",
            BackendKind::Ollama => "ollama",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(BackendKind::Local),
            "hearth" => Some(BackendKind::Hearth),
            "openai" => Some(BackendKind::Openai),
            "ollama" => Some(BackendKind::Ollama),
            _ => None,
        }
    }
}

/// One backend of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendConfig {
    /// A name to pick it with `--backend NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: BackendKind,
    /// Base URL of the server; unset means the kind's environment variable or default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Model name on the server, or a `.gguf` path for `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Bearer key (prefer `api_key_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Environment variable holding the bearer key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
}

impl BackendConfig {
    /// A backend of `kind` with everything else unset.
    pub fn of(kind: BackendKind) -> Self {
        Self {
            name: None,
            kind,
            url: None,
            model: None,
            api_key: None,
            api_key_env: None,
        }
    }

    /// The URL to use: the configured one, else the kind's environment variable, else
    /// its default. `None` for `local`, and for `openai` without `OPENAI_BASE_URL`.
    pub fn effective_url(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if let Some(url) = &self.url {
            return Some(url.clone());
        }
        match self.kind {
            BackendKind::Local => None,
            BackendKind::Hearth => {
                Some(env("HEARTH_HOST").unwrap_or_else(|| "127.0.0.1:8434".to_owned()))
            }
            BackendKind::Openai => env("OPENAI_BASE_URL")
                .map(|u| u.trim_end_matches('/').trim_end_matches("/v1").to_owned()),
            BackendKind::Ollama => {
                Some(env("OLLAMA_HOST").unwrap_or_else(|| "127.0.0.1:11434".to_owned()))
            }
        }
    }

    /// The bearer key: `api_key`, else the variable `api_key_env` names, else the kind's
    /// usual variable (`HEARTH_API_KEY`, `OPENAI_API_KEY`).
    pub fn effective_api_key(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if let Some(key) = &self.api_key {
            return Some(key.clone());
        }
        if let Some(var) = &self.api_key_env {
            return env(var);
        }
        match self.kind {
            BackendKind::Hearth => env("HEARTH_API_KEY"),
            BackendKind::Openai => env("OPENAI_API_KEY"),
            BackendKind::Local | BackendKind::Ollama => None,
        }
    }

    /// What `--show-config` prints: the name, the effective URL, no key values.
    fn effective(&self, env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            url: self.effective_url(env),
            api_key: self.effective_api_key(env).map(|_| "(set)".to_owned()),
            ..self.clone()
        }
    }
}

/// Everything `hearth cmd` and `hearth eval` are configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// Seconds one completion may take on one backend.
    pub timeout_secs: u64,
    /// Tokens one answer may have.
    pub max_tokens: usize,
    /// Ask for JSON-schema constrained output.
    pub constrained: bool,
    /// In-process models keep the KV cache of the last prompt on disk (in
    /// `$XDG_CACHE_HOME/hearth/prompt-cache`), so a new process computes only what
    /// differs from it: in practice the request, not the fixed instructions.
    pub prompt_cache: bool,
    /// The chain, in order. Empty means: `hearth` first when `HEARTH_HOST` is set,
    /// then `local`.
    pub backends: Vec<BackendConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Moderate,
            allow: Vec::new(),
            deny: Vec::new(),
            timeout_secs: 60,
            max_tokens: 160,
            constrained: true,
            prompt_cache: true,
            backends: Vec::new(),
        }
    }
}

/// A configuration file that cannot be used, or a bad `--backend`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file `{path}`")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "unknown backend `{0}`: expected `local`, `hearth[=URL]`, `openai=URL`, `ollama[=URL]` \
         or the name of a configured backend"
    )]
    UnknownBackend(String),
}

impl Config {
    /// Where the file is: `$HEARTH_CONFIG`, else `<config dir>/hearth/config.toml`.
    pub fn path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        env("HEARTH_CONFIG")
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|d| d.join("hearth").join("config.toml")))
    }

    /// Reads `path`; a missing file is the default configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file exists but cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The safety policy the configuration describes.
    pub fn policy(&self) -> Policy {
        Policy {
            mode: self.mode,
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }

    /// The chain to try: the configured backends, or the default one.
    pub fn chain(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<BackendConfig> {
        if !self.backends.is_empty() {
            return self.backends.clone();
        }
        let mut chain = Vec::new();
        if env("HEARTH_HOST").is_some() {
            chain.push(BackendConfig::of(BackendKind::Hearth));
        }
        chain.push(BackendConfig::of(BackendKind::Local));
        chain
    }

    /// Replaces the chain with `--backend` specs: `local`, `hearth`, `ollama`,
    /// `KIND=URL`, or the name of a configured backend.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownBackend`] for a spec that is none of these.
    pub fn select_backends(&mut self, specs: &[String]) -> Result<(), ConfigError> {
        if specs.is_empty() {
            return Ok(());
        }
        let mut chosen = Vec::new();
        for spec in specs {
            if let Some(named) = self
                .backends
                .iter()
                .find(|b| b.name.as_deref() == Some(spec.as_str()))
            {
                chosen.push(named.clone());
                continue;
            }
            let (kind, url) = match spec.split_once('=') {
                Some((kind, url)) => (kind, Some(url.to_owned())),
                None => (spec.as_str(), None),
            };
            let kind = BackendKind::parse(kind.trim())
                .ok_or_else(|| ConfigError::UnknownBackend(spec.clone()))?;
            chosen.push(BackendConfig {
                url,
                ..BackendConfig::of(kind)
            });
        }
        self.backends = chosen;
        Ok(())
    }

    /// The configuration as `--show-config` prints it: the effective chain with URLs
    /// filled in and keys shown only as `(set)`.
    pub fn effective(&self, env: &dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            backends: self.chain(env).iter().map(|b| b.effective(env)).collect(),
            ..self.clone()
        }
    }

    /// TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_file_sets_mode_lists_and_backends() -> Result<(), Box<dyn std::error::Error>> {
        let config: Config = toml::from_str(
            r#"
            mode = "strict"
            deny = ["docker"]
            [[backends]]
            name = "work"
            kind = "openai"
            url = "https://llm.example"
            model = "big"
            api_key_env = "WORK_KEY"
            "#,
        )?;
        assert_eq!(config.mode, Mode::Strict);
        assert_eq!(config.policy().deny, vec!["docker".to_owned()]);
        assert_eq!(config.timeout_secs, 60);
        assert!(config.prompt_cache, "on unless the file turns it off");
        let env = |k: &str| (k == "WORK_KEY").then(|| "secret".to_owned());
        assert_eq!(
            config.backends[0].effective_api_key(&env).as_deref(),
            Some("secret")
        );
        let shown = config.effective(&env).to_toml();
        assert!(
            shown.contains("(set)") && !shown.contains("secret"),
            "{shown}"
        );
        Ok(())
    }

    #[test]
    fn the_prompt_cache_can_be_turned_off() -> Result<(), toml::de::Error> {
        let config: Config = toml::from_str("prompt_cache = false")?;
        assert!(!config.prompt_cache);
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Config>("modes = \"strict\"").is_err());
    }

    #[test]
    fn default_chain_puts_a_hearth_server_first_when_hearth_host_is_set() {
        let config = Config::default();
        let kinds = |env: &dyn Fn(&str) -> Option<String>| {
            config.chain(env).iter().map(|b| b.kind).collect::<Vec<_>>()
        };
        assert_eq!(kinds(&no_env), vec![BackendKind::Local]);
        let env = |k: &str| (k == "HEARTH_HOST").then(|| "10.0.0.2:8434".to_owned());
        assert_eq!(kinds(&env), vec![BackendKind::Hearth, BackendKind::Local]);
        assert_eq!(
            config.chain(&env)[0].effective_url(&env).as_deref(),
            Some("10.0.0.2:8434")
        );
    }

    #[test]
    fn backend_flags_pick_kinds_urls_and_names() -> Result<(), ConfigError> {
        let mut config = Config {
            backends: vec![BackendConfig {
                name: Some("work".into()),
                ..BackendConfig::of(BackendKind::Openai)
            }],
            ..Config::default()
        };
        config.select_backends(&["ollama=http://h:1".into(), "work".into(), "local".into()])?;
        assert_eq!(config.backends[0].kind, BackendKind::Ollama);
        assert_eq!(config.backends[0].url.as_deref(), Some("http://h:1"));
        assert_eq!(config.backends[1].name.as_deref(), Some("work"));
        assert_eq!(config.backends[2].kind, BackendKind::Local);
        assert!(config.select_backends(&["gopher".into()]).is_err());
        Ok(())
    }

    #[test]
    fn a_missing_file_is_the_default() -> Result<(), ConfigError> {
        assert_eq!(
            Config::load(Path::new("/no/such/hearth.toml"))?,
            Config::default()
        );
        Ok(())
    }
}
