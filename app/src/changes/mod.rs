//! Change requests: the one mechanism for governed changes. A risky change is not executed
//! directly; it is requested (with a reason and a snapshot of *before*), approved by a
//! different authorized person, and applied exactly once in the approving transaction.
//! What each kind does is registered by its capability (`core::registry`); every applied
//! change can be rolled back through the same queue.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChangeRequest {
    pub id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    /// What kind of change, e.g. `mailbox.reset`.
    pub kind: String,
    pub target_id: String,
    pub target_label: String,
    /// The change itself (JSON text).
    pub payload: String,
    /// The state before the change (JSON text), for the record and for rollback.
    pub before: String,
    pub reason: String,
    pub state: ChangeState,
    pub requested_by: Option<String>,
    pub requested_by_label: String,
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_by_label: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub applied_at: Option<i64>,
    /// What applying did, or why it failed.
    pub result: Option<String>,
    /// The object as applying left it (JSON text), for a rollback's "changed since?" check.
    pub after: Option<String>,
    /// For a rollback: the applied request it undoes.
    pub rollback_of: Option<String>,
}

/// Where a change request is in its life (stored and sent as its snake_case name).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    /// Waiting for a second person (until it expires).
    Pending,
    /// Won by an approver, being applied (never seen outside the approving transaction).
    Approved,
    Applied,
    Rejected,
    /// Withdrawn by the requester, or ended with its object (offboarding).
    Cancelled,
    /// Nobody decided in time (shown as soon as the time passes).
    Expired,
    /// Approved, but it no longer fitted the data; the reason is in `result`.
    Failed,
    /// Applied, then undone by an applied rollback request.
    RolledBack,
}

impl ChangeState {
    pub const ALL: [ChangeState; 8] = [
        ChangeState::Pending,
        ChangeState::Approved,
        ChangeState::Applied,
        ChangeState::Rejected,
        ChangeState::Cancelled,
        ChangeState::Expired,
        ChangeState::Failed,
        ChangeState::RolledBack,
    ];
    /// The stored name (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Approved => "approved",
            ChangeState::Applied => "applied",
            ChangeState::Rejected => "rejected",
            ChangeState::Cancelled => "cancelled",
            ChangeState::Expired => "expired",
            ChangeState::Failed => "failed",
            ChangeState::RolledBack => "rolled_back",
        }
    }
    /// How it reads on pages and in messages (`rolled back`).
    pub fn label(self) -> &'static str {
        match self {
            ChangeState::RolledBack => "rolled back",
            other => other.as_str(),
        }
    }
    pub fn parse(s: &str) -> Option<ChangeState> {
        ChangeState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for ChangeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Compares with the stored name, so `state == "applied"` reads as before.
impl PartialEq<&str> for ChangeState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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
            "routing.alias" => "Alias",
            "routing.forward" => "External forward",
            "routing.catchall" => "Catch-all",
            _ => "Change",
        }
    }
}
