//! The mailboxes capability's registered change kinds; each is implemented beside its use case:
//! [`ResetKind`](super::service::ResetKind) in `service/resets.rs`, [`CriticalOffKind`](super::service::CriticalOffKind)
//! in `service/editing.rs` (the offboarding alias,
//! `mailbox.alias`, is a route: routing registers it); and what happens to a link whose mail
//! could not be sent
//! ([`WithdrawUnsentLink`](super::service::WithdrawUnsentLink), `service/provisioning.rs`).
use crate::core::registry::Registry;

/// The mailboxes capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::ResetKind)
        .change(super::service::CriticalOffKind)
        .unsent_mail(super::service::WithdrawUnsentLink)
}
