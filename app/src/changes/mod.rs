//! Change requests: the one mechanism for governed changes. A risky change is not executed
//! directly; it is requested (with a reason and a snapshot of *before*), approved by a
//! different authorized person, and applied exactly once in the approving transaction.
//! What each kind does is registered by its capability (`core::registry`); every applied
//! change can be rolled back through the same queue.

#[cfg(feature = "ssr")]
pub mod http;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// The change queue's record and its states are shared vocabulary (`types`): every
/// capability's change kinds read it through the registry in `core`.
pub use crate::types::{ChangeRequest, ChangeState};

impl ChangeRequest {
    /// Whether an applied request can still be rolled back (a rollback itself cannot: ask
    /// for the change again instead).
    pub fn can_roll_back(&self) -> bool {
        self.state == ChangeState::Applied && self.rollback_of.is_none()
    }
    /// How the request reads on pages ("Rollback of an external forward").
    pub fn title(&self) -> String {
        match &self.rollback_of {
            Some(_) => format!("Rollback: {}", self.kind_label()),
            None => self.kind_label().to_string(),
        }
    }
    /// How the kind reads on pages.
    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "mailbox.reset" => "Reset of a critical mailbox",
            "mailbox.alias" => "Alias of an offboarded mailbox",
            "mailbox.critical_off" => "A mailbox no longer critical",
            "person.role" => "More access: a new role",
            "person.scope" => "More access: an operator's tenants",
            "person.factor_reset" => "Reset of someone's second factor",
            "routing.alias" => "Alias",
            "routing.forward" => "External forward",
            "routing.catchall" => "Catch-all",
            "dns.record" => "DNS record change",
            "dns.bulk" => "Bulk DNS change",
            _ => "Change",
        }
    }
}
