//! The auth capability's registered change kinds, implemented in `service/grants.rs`:
//! `person.role` ([`RoleKind`](super::service::RoleKind)), `person.scope`
//! ([`ScopeKind`](super::service::ScopeKind)) and `person.factor_reset`
//! ([`FactorResetKind`](super::service::FactorResetKind)).
use crate::core::registry::Registry;

/// The auth capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(super::service::RoleKind)
        .change(super::service::ScopeKind)
        .change(super::service::FactorResetKind)
}
