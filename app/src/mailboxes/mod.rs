//! Mailboxes: addresses in a tenant's domains, with a quota allocated from the tenant's
//! storage pool. This is the read side the dashboard and the client portal need; the
//! lifecycle (invitations, resets, offboarding) builds on it.
use serde::{Deserialize, Serialize};

pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Mailbox {
    pub id: String,
    pub tenant_id: String,
    pub domain_id: String,
    pub address: String,
    pub display_name: String,
    /// `invited`, `active`, `locked` or `offboarded`.
    pub status: String,
    /// Allocation from the tenant's pool in bytes; none = unlimited within the pool.
    pub quota_bytes: Option<i64>,
    /// Bytes stored, as the mail plane reports it; none until it has reported.
    pub used_bytes: Option<i64>,
    /// Recovery address for registrars, billing, consoles…: resets need a second person.
    pub critical: bool,
    pub created_at: i64,
}
