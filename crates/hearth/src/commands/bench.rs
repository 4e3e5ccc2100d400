//! `hearth bench`: llama-bench's tests on Hearth's engine — prompt processing (`ppN`),
//! single-sequence generation (`tgN`) and, with `-b`, BATCH sequences generating
//! together (`tgN×B`, aggregate tokens/s).
//!
//! Like llama-bench, the tokens are arbitrary ids (the speed does not depend on them),
//! generation feeds one token per step from an empty cache, and every repetition starts
//! from an empty cache.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use hearth_models::{KvCache, Model, SeqChunk};
use serde_json::json;

use crate::cli::BenchArgs;
use crate::model_ref;

/// Prompt tokens per forward pass, as llama.cpp's default micro-batch.
const PROMPT_CHUNK: usize = 512;

/// One measured test.
struct Measurement {
    name: String,
    batch: usize,
    n_prompt: usize,
    n_gen: usize,
    /// Tokens/s of each repetition.
    rates: Vec<f64>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let model = model_ref::load(&args.model)?;
    let load = started.elapsed();
    let n_ctx = (args.n_prompt.max(args.n_gen) + 1).min(model.n_ctx_train());
    let mut tests = Vec::new();
    if args.n_prompt > 0 {
        tests.push(measure(&model, &args, n_ctx, 1, Test::Prompt)?);
    }
    if args.n_gen > 0 {
        tests.push(measure(&model, &args, n_ctx, 1, Test::Generate)?);
        if args.batch > 1 {
            tests.push(measure(&model, &args, n_ctx, args.batch, Test::Generate)?);
        }
    }
    let name = model_name(&args.model);
    let rss = peak_rss_mb();
    let mut out = std::io::stdout().lock();
    if args.json {
        for t in &tests {
            writeln!(out, "{}", json_line(&name, &args, t, load, rss))?;
        }
    } else {
        print_table(&mut out, &name, &args, &tests, load, rss)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
enum Test {
    Prompt,
    Generate,
}

fn measure(
    model: &Model,
    args: &BenchArgs,
    n_ctx: usize,
    batch: usize,
    test: Test,
) -> anyhow::Result<Measurement> {
    let mut caches = (0..batch)
        .map(|_| model.new_cache(n_ctx))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot allocate the KV cache")?;
    let mut tokens = TokenSource::new(model.n_vocab());
    // A warm-up run, as llama-bench does, so page faults and lazy setup are not timed.
    run_test(
        model,
        &mut caches,
        &mut tokens,
        test,
        args,
        8.min(args.n_gen.max(1)),
    )?;
    let mut rates = Vec::new();
    for _ in 0..args.repetitions.max(1) {
        let elapsed = run_test(model, &mut caches, &mut tokens, test, args, usize::MAX)?;
        let n = match test {
            Test::Prompt => args.n_prompt,
            Test::Generate => args.n_gen * batch,
        };
        rates.push(n as f64 / elapsed.as_secs_f64());
    }
    let (name, n_prompt, n_gen) = match test {
        Test::Prompt => (format!("pp{}", args.n_prompt), args.n_prompt, 0),
        Test::Generate if batch > 1 => (format!("tg{}x{batch}", args.n_gen), 0, args.n_gen),
        Test::Generate => (format!("tg{}", args.n_gen), 0, args.n_gen),
    };
    Ok(Measurement {
        name,
        batch,
        n_prompt,
        n_gen,
        rates,
    })
}

/// Runs one repetition from empty caches; `cap` shortens it for the warm-up.
fn run_test(
    model: &Model,
    caches: &mut [KvCache],
    tokens: &mut TokenSource,
    test: Test,
    args: &BenchArgs,
    cap: usize,
) -> anyhow::Result<Duration> {
    caches.iter_mut().for_each(|c| c.truncate(0));
    let started = Instant::now();
    match test {
        Test::Prompt => {
            let prompt: Vec<u32> = (0..args.n_prompt.min(cap)).map(|_| tokens.next()).collect();
            for part in prompt.chunks(PROMPT_CHUNK) {
                let start = caches[0].len();
                let chunk = SeqChunk {
                    tokens: part,
                    start,
                };
                model.forward(&[chunk], &mut [&mut caches[0]])?;
            }
        }
        Test::Generate => {
            for _ in 0..args.n_gen.min(cap) {
                let step: Vec<[u32; 1]> = caches.iter().map(|_| [tokens.next()]).collect();
                let chunks: Vec<SeqChunk> = step
                    .iter()
                    .zip(caches.iter())
                    .map(|(t, c)| SeqChunk {
                        tokens: t,
                        start: c.len(),
                    })
                    .collect();
                let mut refs: Vec<&mut KvCache> = caches.iter_mut().collect();
                model.forward(&chunks, &mut refs)?;
            }
        }
    }
    Ok(started.elapsed())
}

/// Arbitrary but reproducible token ids (a linear congruential generator).
struct TokenSource {
    state: u64,
    n_vocab: u64,
}

impl TokenSource {
    fn new(n_vocab: usize) -> Self {
        Self {
            state: 0x2545_f491_4f6c_dd1d,
            n_vocab: n_vocab.max(1) as u64,
        }
    }

    fn next(&mut self) -> u32 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The id is below n_vocab, which is a u32 in GGUF.
        ((self.state >> 33) % self.n_vocab) as u32
    }
}

fn mean_stddev(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Peak resident memory of this process in MB (`VmHWM`), where the OS reports it.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn model_name(path: &std::path::Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn json_line(
    model: &str,
    args: &BenchArgs,
    t: &Measurement,
    load: Duration,
    rss: Option<f64>,
) -> serde_json::Value {
    let (mean, stddev) = mean_stddev(&t.rates);
    let (pp, tg) = if t.n_prompt > 0 {
        (Some(mean), None)
    } else {
        (None, Some(mean))
    };
    json!({
        "model": model,
        "test": t.name,
        "threads": args.threads,
        "batch": t.batch,
        "n_prompt": t.n_prompt,
        "n_gen": t.n_gen,
        "repetitions": t.rates.len(),
        "pp_tps": pp,
        "tg_tps": tg,
        "tps_stddev": stddev,
        "samples_tps": t.rates,
        "load_ms": load.as_secs_f64() * 1000.0,
        "peak_rss_mb": rss,
    })
}

fn print_table(
    out: &mut impl Write,
    model: &str,
    args: &BenchArgs,
    tests: &[Measurement],
    load: Duration,
    rss: Option<f64>,
) -> std::io::Result<()> {
    writeln!(out, "| model | threads | test | t/s |")?;
    writeln!(out, "| --- | ---: | ---: | ---: |")?;
    for t in tests {
        let (mean, stddev) = mean_stddev(&t.rates);
        writeln!(
            out,
            "| {model} | {} | {} | {mean:.2} ± {stddev:.2} |",
            args.threads, t.name
        )?;
    }
    let rss = rss.map_or_else(|| "unknown".to_string(), |mb| format!("{mb:.0} MB"));
    writeln!(
        out,
        "\nload {:.0} ms, peak RSS {rss}",
        load.as_secs_f64() * 1000.0
    )
}
