//! Hearth's SQLite database: one file (`HEARTH_HOME/hearth.db`) in WAL mode, its
//! schema migrated on open from the migrations embedded in the binary. One module
//! per table.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_store::StoreError> {
//! let store = hearth_store::Store::open("hearth.db".as_ref()).await?;
//! let job = store.pulls().create("owner/repo:q4_k_m", "owner/repo:q4_k_m").await?;
//! assert_eq!(store.pulls().get(&job.id).await?.map(|j| j.status), Some(hearth_store::PullStatus::Queued));
//! # Ok(()) }
//! ```

mod error;
mod pulls;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use error::StoreError;
pub use pulls::{PullJob, PullStatus, Pulls};

/// An open database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating it if needed) the database at `path` and brings its schema up
    /// to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| StoreError::open(path, e))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL loses at most the last transactions on power loss, never
            // consistency; progress updates are frequent and cheap this way.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::open(path, e))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(Self { pool })
    }

    /// The pull jobs table.
    pub fn pulls(&self) -> Pulls<'_> {
        Pulls::new(&self.pool)
    }

    /// Closes every connection, checkpointing the write-ahead log.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
