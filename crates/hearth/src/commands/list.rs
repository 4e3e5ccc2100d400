//! `hearth list`: the models on this machine, pulled or found on disk.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use hearth_hub::discovery::DiscoveredModel;

use crate::catalog;
use crate::cli::ListArgs;

pub fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let discovery = catalog::discover();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &discovery.models)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if discovery.models.is_empty() {
        writeln!(
            out,
            "no models yet: `hearth pull OWNER/REPO` gets one, or put .gguf files in ./models"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = discovery.models.iter().map(row).collect();
    let header = ["NAME", "SIZE", "QUANT", "ARCH", "SOURCE"].map(str::to_string);
    print_table(&mut out, &header, &rows).context("cannot write the list")?;
    if !discovery.adapters.is_empty() {
        writeln!(out, "\nLoRA adapters:")?;
        for a in &discovery.adapters {
            let base = a.base_model.as_deref().unwrap_or(&a.architecture);
            writeln!(out, "  {}  (for {base})  {}", a.name, a.path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(m: &DiscoveredModel) -> [String; 5] {
    [
        m.name.clone(),
        human_size(m.size_bytes),
        m.file_type.clone().unwrap_or_else(|| "-".into()),
        m.architecture.clone(),
        m.source.label().to_string(),
    ]
}

/// Bytes as `98 MB`, `1.2 GB`.
pub fn human_size(bytes: u64) -> String {
    const MB: f64 = 1e6;
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.0} MB", (b / MB).max(1.0))
    }
}

/// Left-aligned columns separated by three spaces.
pub fn print_table(
    out: &mut impl Write,
    header: &[String],
    rows: &[[String; 5]],
) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in std::iter::once(header).chain(rows.iter().map(|r| r.as_slice())) {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("   ").trim_end())?;
    }
    Ok(())
}
