//! The mailboxes capability's registered change kinds; each is implemented beside its use case:
//! [`ResetKind`](super::service::ResetKind) in `service/resets.rs`, [`CriticalOffKind`](super::service::CriticalOffKind)
//! in `service/editing.rs` (the offboarding alias,
//! `mailbox.alias`, is a route: routing registers it); and what happens to a link whose mail
//! could not be sent
//! ([`WithdrawUnsentLink`](super::service::WithdrawUnsentLink), `service/provisioning.rs`).
use async_trait::async_trait;

use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// Deletes offboarded mailboxes' mail once their retention has passed, every 15 minutes.
struct Purge;

#[async_trait]
impl JobKind for Purge {
    fn kind(&self) -> &'static str {
        "mailboxes.purge"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_mailboxes_purge")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        super::service::purge_job(st, id, worker).await
    }
}

/// The mailboxes capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::ResetKind)
        .job(Purge)
        .change(super::service::CriticalOffKind)
        .unsent_mail(super::service::WithdrawUnsentLink)
}
