//! `hearth pull`: download a model from a Hugging Face compatible hub into
//! `HEARTH_HOME`, with resume, retries and a sha256 check.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use hearth_hub::{ClientConfig, HearthHome, HubError, ModelRef, Progress, Puller};

use crate::cli::{Hinted, PullArgs};

pub fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let model = ModelRef::parse(&args.model).map_err(hub_error)?;
    let home = HearthHome::from_env().map_err(hub_error)?;
    let puller = Puller::new(home, ClientConfig::from_env()).map_err(hub_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut view = ProgressView::new(std::io::stderr().is_terminal());
    // Ctrl-C ends the process; the partial file stays and the next pull resumes it.
    let result = runtime.block_on(puller.pull(&model, |p| view.show(&p)));
    view.end_line();
    let manifest = result.map_err(hub_error)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", manifest.name).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Keeps the hub's hint for `main`'s `hint:` line, and the causes in the message.
fn hub_error(err: HubError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => Hinted::error(err.with_causes(), hint),
        None => anyhow::Error::new(err),
    }
}

/// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise.
struct ProgressView {
    terminal: bool,
    /// The file being downloaded, when it started, and how much was on disk then
    /// (a resumed download's speed counts only this run's bytes).
    current: Option<(String, Instant, u64)>,
    mid_line: bool,
}

impl ProgressView {
    fn new(terminal: bool) -> Self {
        ProgressView {
            terminal,
            current: None,
            mid_line: false,
        }
    }

    fn show(&mut self, event: &Progress) {
        // Progress is best effort: a closed stderr must not fail the pull.
        let _ = self.try_show(event);
    }

    fn try_show(&mut self, event: &Progress) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        match event {
            Progress::Resolving { name } => writeln!(err, "pulling {name}")?,
            Progress::Downloading {
                file,
                completed,
                total,
            } => {
                let fresh = self.current.as_ref().is_none_or(|(f, _, _)| f != file);
                if fresh {
                    self.end_line();
                    self.current = Some((file.clone(), Instant::now(), *completed));
                    if !self.terminal {
                        let resumed = if *completed > 0 && completed < total {
                            format!(", resuming at {}", bytes(*completed))
                        } else {
                            String::new()
                        };
                        writeln!(err, "downloading {file} ({}{resumed})", bytes(*total))?;
                    }
                }
                if self.terminal {
                    write!(err, "\r\x1b[K{}", self.bar(file, *completed, *total))?;
                    self.mid_line = true;
                }
            }
            Progress::Verifying { file } => {
                self.end_line();
                writeln!(err, "verifying sha256 of {file}")?;
            }
            Progress::Done { name } => {
                self.end_line();
                writeln!(err, "done: {name}")?;
            }
        }
        err.flush()
    }

    fn bar(&self, file: &str, completed: u64, total: u64) -> String {
        const WIDTH: usize = 30;
        let fraction = if total == 0 {
            1.0
        } else {
            completed as f64 / total as f64
        };
        let filled = ((fraction * WIDTH as f64) as usize).min(WIDTH);
        let (speed, eta) = match &self.current {
            Some((_, started, base)) => {
                let secs = started.elapsed().as_secs_f64();
                let speed = if secs > 0.2 {
                    completed.saturating_sub(*base) as f64 / secs
                } else {
                    0.0
                };
                let eta = (speed > 0.0).then(|| (total.saturating_sub(completed)) as f64 / speed);
                (speed, eta)
            }
            None => (0.0, None),
        };
        let name = file.rsplit('/').next().unwrap_or(file);
        format!(
            "{name} [{}{}] {:>3.0}% {}/{} {}/s ETA {}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            fraction * 100.0,
            bytes(completed),
            bytes(total),
            bytes(speed as u64),
            eta.map_or_else(|| "--".to_string(), duration),
        )
    }

    fn end_line(&mut self) {
        if self.mid_line {
            let _ = writeln!(std::io::stderr());
            self.mid_line = false;
        }
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(125.0), "2m05s");
        assert_eq!(duration(7300.0), "2h01m");
    }
}
