//! Which models a server offers: the `--model` arguments, or every model found on
//! this machine.

use std::path::PathBuf;

use crate::catalog;
use crate::cli::Hinted;

/// `(name, path)` of each model to serve. Named models must all exist; without
/// names, every discovered model of an architecture Hearth runs is offered, and the
/// others are logged and left out.
pub fn to_serve(args: &[String]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    if args.is_empty() {
        return Ok(discovered());
    }
    let models = args
        .iter()
        .map(|m| model_arg(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_unique(&models)?;
    Ok(models)
}

fn discovered() -> Vec<(String, PathBuf)> {
    let discovery = catalog::discover();
    discovery
        .models
        .into_iter()
        .filter(|m| {
            let runs = hearth_models::SUPPORTED_ARCHITECTURES.contains(&m.architecture.as_str());
            if !runs {
                tracing::info!(
                    model = %m.name,
                    architecture = %m.architecture,
                    "found a model of an architecture Hearth does not run yet; not serving it"
                );
            }
            runs && m.parts.is_empty()
        })
        .map(|m| (m.name, m.path))
        .collect()
}

/// `NAME=MODEL` or `MODEL`, where MODEL is a path to a `.gguf` file or the name of a
/// pulled or discovered model.
fn model_arg(arg: &str) -> anyhow::Result<(String, PathBuf)> {
    match arg.split_once('=') {
        Some((name, model)) if !name.is_empty() => {
            let found = catalog::resolve(model).map_err(|_| {
                Hinted::error(
                    format!("model `{model}` not found"),
                    "pass `--model NAME=PATH` with the path to a `.gguf` file, or a name from `hearth list`",
                )
            })?;
            Ok((name.to_string(), found.path))
        }
        _ => {
            let found = catalog::resolve(arg)?;
            Ok((found.name, found.path))
        }
    }
}

fn check_unique(models: &[(String, PathBuf)]) -> anyhow::Result<()> {
    for (i, (name, _)) in models.iter().enumerate() {
        if models[..i].iter().any(|(n, _)| n == name) {
            return Err(Hinted::error(
                format!("two models are named `{name}`"),
                "name them apart with `--model NAME=PATH`",
            ));
        }
    }
    Ok(())
}
