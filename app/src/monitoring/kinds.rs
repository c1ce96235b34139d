//! Monitoring's registered kinds: the watcher of the audit log.
use async_trait::async_trait;

use super::service;
use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

pub fn register(r: Registry) -> Registry {
    r.job(Watch)
}

/// Seconds between two runs of the watcher.
pub const WATCH_EVERY: i64 = 60;

/// Reads the audit log from where it stopped, applies the rules, forgets old failures.
struct Watch;

#[async_trait]
impl JobKind for Watch {
    fn kind(&self) -> &'static str {
        "monitoring.watch"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_monitoring_watch")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        let r = service::watch(st).await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "monitoring watch");
        }
        crate::core::jobs::reschedule(st, id, worker, WATCH_EVERY).await?;
        r.map(|_| ())
    }
}
