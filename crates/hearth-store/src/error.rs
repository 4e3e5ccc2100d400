use std::path::{Path, PathBuf};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database `{}`: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("cannot update the database schema: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the database holds an unknown pull status `{0}`")]
    UnknownStatus(String),
}

impl StoreError {
    pub(crate) fn open(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
