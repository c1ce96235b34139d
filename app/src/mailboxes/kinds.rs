//! The mailboxes capability's registered change kinds; each is implemented beside its use case:
//! [`ResetKind`](super::service::ResetKind) in `service/resets.rs` and
//! [`OffboardingAliasKind`](super::service::OffboardingAliasKind) in `service/offboarding.rs`;
//! and what happens to a link whose mail could not be sent
//! ([`WithdrawUnsentLink`](super::service::WithdrawUnsentLink), `service/provisioning.rs`).
use crate::core::registry::Registry;

/// The mailboxes capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::ResetKind)
        .change(super::service::OffboardingAliasKind)
        .unsent_mail(super::service::WithdrawUnsentLink)
}
