//! `hearth rm NAME…`: deletes models Hearth pulled; a model found elsewhere on disk
//! is only forgotten, its file left where it is.

use std::io::Write;
use std::process::ExitCode;

use hearth_hub::{HubError, manifest};

use crate::catalog;
use crate::cli::{Hinted, RmArgs};

pub fn run(args: RmArgs) -> anyhow::Result<ExitCode> {
    let home = catalog::home()?;
    let mut out = std::io::stdout().lock();
    for name in &args.models {
        match manifest::remove(&home, name) {
            Ok(removed) => {
                writeln!(out, "deleted {}", removed.name)?;
                continue;
            }
            Err(HubError::ModelNotFound { .. } | HubError::InvalidReference { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let discovery = catalog::discover();
        let Some(found) = catalog::find(&discovery, name) else {
            return Err(Hinted::error(
                format!("model `{name}` not found"),
                "see `hearth list` for the models on this machine",
            ));
        };
        hearth_hub::discovery::forget(&home, &found.path)?;
        writeln!(
            out,
            "forgot {} (its file stays at {})",
            found.name,
            found.path.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
