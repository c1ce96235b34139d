//! The mailboxes capability's registered change kinds; each is implemented beside its use case:
//! [`ResetKind`](super::service::ResetKind) in `service/resets.rs` and
//! [`OffboardingAliasKind`](super::service::OffboardingAliasKind) in `service/offboarding.rs`.
use crate::core::registry::Registry;

/// The mailboxes capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::ResetKind)
        .change(super::service::OffboardingAliasKind)
}
