//! Pulling while serving: the job database and the hub client, wired into the server.

use std::sync::Arc;

use hearth_hub::{ClientConfig, Puller};
use hearth_protocol::ModelPool;
use hearth_server::pulls::PullManager;
use hearth_store::Store;

use crate::catalog;
use crate::hub_source::HubSource;

/// The pull manager over Hearth's home, with the jobs a previous run left unfinished
/// resumed. `None` (with a warning) when the home or its database cannot be used: the
/// server still serves the models it has.
pub async fn manager(pool: Arc<dyn ModelPool>) -> Option<Arc<PullManager>> {
    let home = match catalog::home() {
        Ok(home) => home,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "pulling is off");
            return None;
        }
    };
    let store = match Store::open(&home.db_path()).await {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!(error = %e, "pulling is off: cannot open the job database");
            return None;
        }
    };
    let puller = match Puller::new(home, ClientConfig::from_env()) {
        Ok(puller) => puller,
        Err(e) => {
            tracing::warn!(error = %e, "pulling is off");
            return None;
        }
    };
    let manager = PullManager::new(store, Arc::new(HubSource::new(puller)), pool);
    match manager.resume().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "resuming unfinished pulls"),
        Err(e) => tracing::warn!(error = %e, "cannot resume unfinished pulls"),
    }
    Some(manager)
}
