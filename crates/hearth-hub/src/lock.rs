//! [`BlobLock`]: an exclusive OS file lock per blob, so that two processes (a CLI
//! pull and a server pull) never write the same partial file at once.

use std::fs::{File, OpenOptions};

use crate::error::HubError;
use crate::home::HearthHome;

/// Holds `locks/<key>.lock` exclusively; the lock is released when this is dropped
/// (closing the file releases it, also when the process dies).
#[derive(Debug)]
pub(crate) struct BlobLock {
    _file: File,
}

impl BlobLock {
    /// Waits for the lock on a blocking thread, so the async runtime keeps running.
    /// If the caller's future is dropped meanwhile, the thread still takes the lock
    /// and releases it at once.
    pub(crate) async fn acquire(home: &HearthHome, key: &str) -> Result<Self, HubError> {
        let home = home.clone();
        let key = key.to_string();
        let path = home.lock_path(&key);
        tokio::task::spawn_blocking(move || Self::acquire_blocking(&home, &key))
            .await
            .map_err(|e| HubError::io("lock", path, std::io::Error::other(e)))?
    }

    /// Waits for the lock on the current thread.
    pub(crate) fn acquire_blocking(home: &HearthHome, key: &str) -> Result<Self, HubError> {
        let dir = home.locks_dir();
        std::fs::create_dir_all(&dir).map_err(|e| HubError::io("create", &dir, e))?;
        let path = home.lock_path(key);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| HubError::io("open", &path, e))?;
        file.lock().map_err(|e| HubError::io("lock", &path, e))?;
        Ok(BlobLock { _file: file })
    }
}
