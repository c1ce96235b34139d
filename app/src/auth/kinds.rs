//! The auth capability's registered change kinds, implemented in `service/grants.rs`:
//! `person.role` ([`RoleKind`](super::service::RoleKind)), `person.scope`
//! ([`ScopeKind`](super::service::ScopeKind)) and `person.factor_reset`
//! ([`FactorResetKind`](super::service::FactorResetKind)); and the recurring job that mails
//! the change queue's notices (`changes.notices`, `service/notices.rs`).
use async_trait::async_trait;

use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// The auth capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::RoleKind)
        .change(super::service::ScopeKind)
        .change(super::service::FactorResetKind)
        .job(Notices)
}

/// Mails the change queue's notices every minute.
struct Notices;

#[async_trait]
impl JobKind for Notices {
    fn kind(&self) -> &'static str {
        "changes.notices"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_changes_notices")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        super::service::notices_job(st, id, worker).await
    }
}
