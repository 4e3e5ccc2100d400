//! `hearth rm NAME…`: deletes models Hearth pulled; a model found elsewhere on disk
//! is only forgotten, its file left where it is.

use std::io::Write;
use std::process::ExitCode;

use crate::catalog::{self, Removal};
use crate::cli::{Hinted, RmArgs};

pub fn run(args: RmArgs) -> anyhow::Result<ExitCode> {
    let home = catalog::home()?;
    let mut out = std::io::stdout().lock();
    for name in &args.models {
        match catalog::remove(&home, name)? {
            Removal::Deleted { name } => writeln!(out, "deleted {name}")?,
            Removal::Forgotten { name, path } => {
                writeln!(out, "forgot {name} (its file stays at {})", path.display())?
            }
            Removal::NotFound => {
                return Err(Hinted::error(
                    format!("model `{name}` not found"),
                    "see `hearth list` for the models on this machine",
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
