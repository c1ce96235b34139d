//! Monitoring's registered kinds: the watcher of the audit log.
use async_trait::async_trait;

use super::service;
use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

pub fn register(r: Registry) -> Registry {
    r.job(Watch).job(Deliver)
}

/// Seconds between two runs of the delivery job.
pub const DELIVER_EVERY: i64 = 15;

/// Sends queued alert messages (and digests that are due), retrying with backoff.
struct Deliver;

#[async_trait]
impl JobKind for Deliver {
    fn kind(&self) -> &'static str {
        "monitoring.deliver"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_monitoring_deliver")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        let r = super::notify::deliver_due(st).await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "alert delivery");
        }
        crate::core::jobs::reschedule(st, id, worker, DELIVER_EVERY).await?;
        r.map(|_| ())
    }
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
