//! DNS's registered kinds: the recurring scan.
use async_trait::async_trait;

use super::service;
use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

pub fn register(r: Registry) -> Registry {
    r.job(Scan)
}

/// Every domain's records against its baseline, every `dns_scan_minutes`.
struct Scan;

#[async_trait]
impl JobKind for Scan {
    fn kind(&self) -> &'static str {
        "dns.scan"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_dns_scan")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        service::scan_job(st, id, worker).await
    }
}
