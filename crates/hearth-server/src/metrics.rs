//! `GET /metrics`: Prometheus text exposition, written by hand.
//!
//! Counters and histograms live in [`Metrics`], updated by the generation handlers;
//! the queue depth, running sequences and KV-cache usage gauges are read from
//! [`ModelPool::stats`](hearth_protocol::ModelPool::stats) at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use hearth_protocol::PoolStats;

use crate::AppState;

/// Upper bounds, in seconds, of the time-to-first-token buckets.
const TTFT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Upper bounds, in seconds, of the time-per-output-token buckets.
const TPOT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The server's counters and histograms.
#[derive(Debug)]
pub struct Metrics {
    /// Finished requests by (model, HTTP status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    time_to_first_token: Histogram,
    time_per_output_token: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Mutex::default(),
            prompt_tokens: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            time_to_first_token: Histogram::new(TTFT_BUCKETS),
            time_per_output_token: Histogram::new(TPOT_BUCKETS),
        }
    }
}

impl Metrics {
    /// Counts one answered generation request for `model` with HTTP `status`.
    pub fn record_request(&self, model: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((model.to_owned(), status)).or_default() += 1;
    }

    /// Adds the token counts of one finished generation.
    pub fn record_tokens(&self, prompt: usize, generated: usize) {
        self.prompt_tokens
            .fetch_add(prompt as u64, Ordering::Relaxed);
        self.generated_tokens
            .fetch_add(generated as u64, Ordering::Relaxed);
    }

    /// Observes the time from the request's arrival to its first generated text.
    pub fn observe_time_to_first_token(&self, elapsed: Duration) {
        self.time_to_first_token.observe(elapsed.as_secs_f64());
    }

    /// Observes the mean time between generated tokens of one sequence.
    pub fn observe_time_per_output_token(&self, elapsed: Duration) {
        self.time_per_output_token.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of everything, with `stats` as the gauges.
    pub fn render(&self, stats: &PoolStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP hearth_requests_total Generation requests answered, by model and HTTP status.\n");
        out.push_str("# TYPE hearth_requests_total counter\n");
        {
            let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            for ((model, status), count) in requests.iter() {
                let model = escape_label(model);
                let _ = writeln!(
                    out,
                    "hearth_requests_total{{model=\"{model}\",status=\"{status}\"}} {count}"
                );
            }
        }
        counter(
            &mut out,
            "hearth_prompt_tokens_total",
            "Prompt tokens processed.",
            self.prompt_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "hearth_generated_tokens_total",
            "Tokens generated.",
            self.generated_tokens.load(Ordering::Relaxed),
        );
        self.time_to_first_token.render(
            &mut out,
            "hearth_time_to_first_token_seconds",
            "Time from a request's arrival to its first generated text.",
        );
        self.time_per_output_token.render(
            &mut out,
            "hearth_time_per_output_token_seconds",
            "Mean time between generated tokens of a sequence.",
        );
        gauge(
            &mut out,
            "hearth_queue_depth",
            "Requests accepted but not yet started.",
            stats.queued as f64,
        );
        gauge(
            &mut out,
            "hearth_running_sequences",
            "Sequences being prefilled or decoded.",
            stats.running as f64,
        );
        gauge(
            &mut out,
            "hearth_kv_cache_usage_ratio",
            "Share of the KV-cache capacity in use, 0 to 1.",
            stats.kv_cache_usage,
        );
        out
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.render(&state.pool.stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}

/// Escapes a label value as the exposition format requires.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A fixed-bucket histogram.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    state: Mutex<HistogramState>,
}

#[derive(Debug, Default)]
struct HistogramState {
    /// Observations per bucket, not cumulative; one more than `bounds` for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            state: Mutex::new(HistogramState {
                counts: vec![0; bounds.len() + 1],
                sum: 0.0,
            }),
        }
    }

    fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = state.counts.get_mut(bucket) {
            *count += 1;
        }
        state.sum += value;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&state.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total: u64 = state.counts.iter().sum();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", state.sum);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.observe_time_to_first_token(Duration::from_millis(20));
        metrics.observe_time_to_first_token(Duration::from_secs(100));
        let text = metrics.render(&PoolStats::default());
        assert!(text.contains("hearth_time_to_first_token_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("hearth_time_to_first_token_seconds_bucket{le=\"60\"} 1\n"));
        assert!(text.contains("hearth_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("hearth_time_to_first_token_seconds_count 2\n"));
    }

    #[test]
    fn model_labels_are_escaped() {
        let metrics = Metrics::default();
        metrics.record_request("a\"b", 200);
        let text = metrics.render(&PoolStats::default());
        assert!(text.contains(r#"hearth_requests_total{model="a\"b",status="200"} 1"#));
    }
}
