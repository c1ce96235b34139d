//! DNS's registered kinds: the recurring scan, the governed record change (`dns.record`,
//! implemented beside its use case in `service/changes.rs`) and its verification job, the bulk
//! change (`dns.bulk`, `service/bulk.rs`) and the job that runs it.
use async_trait::async_trait;

use super::service;
use super::service::bulk::{BulkChange, BULK_JOB};
use super::service::changes::{RecordChange, VERIFY_JOB};
use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

pub fn register(r: Registry) -> Registry {
    r.job(Scan)
        .change(RecordChange)
        .job(Verify)
        .change(BulkChange)
        .job(Bulk)
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

/// One applied DNS change looked at on every nameserver until it is seen, or until
/// `dns_verify_seconds` pass (then an RFC 2136 change is rolled back by itself).
struct Verify;

#[async_trait]
impl JobKind for Verify {
    fn kind(&self) -> &'static str {
        VERIFY_JOB
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        service::changes::verify_job(st, id, worker).await
    }
}

/// A bulk DNS change run step by step: canary, batches, verification, rollback of a failing
/// batch; re-queued while it waits for nameservers.
struct Bulk;

#[async_trait]
impl JobKind for Bulk {
    fn kind(&self) -> &'static str {
        BULK_JOB
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        service::bulk::bulk_job(st, id, worker).await
    }
}
