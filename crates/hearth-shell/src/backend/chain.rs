//! Backends tried in order: a health check, a timeout and one retry each, then the next.

use std::time::Duration;

use hearth_protocol::error_chain;

use super::{BackendFailure, CommandBackend, CompletionRequest};

/// Backends in order of preference.
pub struct Chain {
    backends: Vec<Box<dyn CommandBackend>>,
    /// Longest wait for one completion.
    pub timeout: Duration,
    /// Longest wait for a health check.
    pub health_timeout: Duration,
    /// Extra attempts on the same backend after a transient failure.
    pub retries: u32,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("backends", &self.names())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A completion and the backend that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub text: String,
    /// Position of the backend in the chain.
    pub index: usize,
    /// Its [`CommandBackend::name`].
    pub backend: String,
}

/// Every backend failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("no backend is configured")]
    Empty,
    #[error("every backend failed: {}", summary(.0))]
    AllFailed(Vec<(String, BackendFailure)>),
}

fn summary(failures: &[(String, BackendFailure)]) -> String {
    failures
        .iter()
        .map(|(name, e)| format!("`{name}`: {}", error_chain(e)))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Chain {
    /// A chain over `backends`, 60 s per completion, 2 s per health check, one retry.
    pub fn new(backends: Vec<Box<dyn CommandBackend>>) -> Self {
        Self {
            backends,
            timeout: Duration::from_secs(60),
            health_timeout: Duration::from_secs(2),
            retries: 1,
        }
    }

    /// The backends' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.name().to_owned()).collect()
    }

    /// Asks the backends from position `start` on, and returns the first answer.
    ///
    /// # Errors
    ///
    /// [`ChainError::AllFailed`] with each backend's failure when none answered.
    pub async fn complete(
        &self,
        request: &CompletionRequest,
        start: usize,
    ) -> Result<Answered, ChainError> {
        if self.backends.is_empty() {
            return Err(ChainError::Empty);
        }
        let mut failures = Vec::new();
        for (index, backend) in self.backends.iter().enumerate().skip(start) {
            match self.try_backend(backend.as_ref(), request).await {
                Ok(text) => {
                    return Ok(Answered {
                        text,
                        index,
                        backend: backend.name().to_owned(),
                    });
                }
                Err(failure) => {
                    if index + 1 < self.backends.len() {
                        tracing::warn!(backend = backend.name(), error = %error_chain(&failure), "backend failed; trying the next");
                    }
                    failures.push((backend.name().to_owned(), failure));
                }
            }
        }
        Err(ChainError::AllFailed(failures))
    }

    async fn try_backend(
        &self,
        backend: &dyn CommandBackend,
        request: &CompletionRequest,
    ) -> Result<String, BackendFailure> {
        match tokio::time::timeout(self.health_timeout, backend.health()).await {
            Ok(result) => result?,
            Err(_) => return Err(BackendFailure::Timeout(self.health_timeout)),
        }
        let mut attempt = 0;
        loop {
            let result = match tokio::time::timeout(self.timeout, backend.complete(request)).await {
                Ok(result) => result,
                Err(_) => Err(BackendFailure::Timeout(self.timeout)),
            };
            match result {
                Err(failure) if failure.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(backend = backend.name(), attempt, "retrying");
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hearth_protocol::{BackendError, BoxFuture};

    use super::*;

    /// Answers with `text`, failing the first `failures` calls with a queue-full error.
    struct Fake {
        name: String,
        healthy: bool,
        failures: usize,
        calls: AtomicUsize,
        text: String,
    }

    impl Fake {
        fn boxed(name: &str, healthy: bool, failures: usize) -> Box<dyn CommandBackend> {
            Box::new(Self {
                name: name.to_owned(),
                healthy,
                failures,
                calls: AtomicUsize::new(0),
                text: format!("from {name}"),
            })
        }
    }

    impl CommandBackend for Fake {
        fn name(&self) -> &str {
            &self.name
        }
        fn health(&self) -> BoxFuture<'_, Result<(), BackendFailure>> {
            let healthy = self.healthy;
            Box::pin(async move {
                if healthy {
                    Ok(())
                } else {
                    Err(BackendError::Unavailable("down".into()).into())
                }
            })
        }
        fn complete<'a>(
            &'a self,
            _request: &'a CompletionRequest,
        ) -> BoxFuture<'a, Result<String, BackendFailure>> {
            Box::pin(async move {
                if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                    Err(BackendError::QueueFull {
                        retry_after_secs: 0,
                    }
                    .into())
                } else {
                    Ok(self.text.clone())
                }
            })
        }
    }

    fn request() -> CompletionRequest {
        CompletionRequest {
            messages: Vec::new(),
            schema: None,
            max_tokens: 8,
            temperature: 0.0,
            stop_after_command: false,
        }
    }

    #[tokio::test]
    async fn unhealthy_backends_are_skipped() -> Result<(), ChainError> {
        let chain = Chain::new(vec![Fake::boxed("a", false, 0), Fake::boxed("b", true, 0)]);
        let answered = chain.complete(&request(), 0).await?;
        assert_eq!(answered.backend, "b");
        assert_eq!(answered.index, 1);
        assert_eq!(answered.text, "from b");
        Ok(())
    }

    #[tokio::test]
    async fn one_transient_failure_is_retried_on_the_same_backend() -> Result<(), ChainError> {
        let chain = Chain::new(vec![Fake::boxed("a", true, 1), Fake::boxed("b", true, 0)]);
        assert_eq!(chain.complete(&request(), 0).await?.backend, "a");
        let chain = Chain::new(vec![Fake::boxed("a", true, 2), Fake::boxed("b", true, 0)]);
        assert_eq!(chain.complete(&request(), 0).await?.backend, "b");
        Ok(())
    }

    #[tokio::test]
    async fn all_failures_are_reported_by_backend() {
        let chain = Chain::new(vec![Fake::boxed("a", false, 0), Fake::boxed("b", true, 9)]);
        let err = chain.complete(&request(), 0).await;
        let Err(ChainError::AllFailed(failures)) = err else {
            panic!("expected every backend to fail, got {err:?}");
        };
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].0, "a");
        assert!(ChainError::AllFailed(failures).to_string().contains("`b`"));
    }
}
