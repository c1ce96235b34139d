//! Routing governance: aliases, external forwards and catch-alls as governed, expiring,
//! logged routes. Aliases may be created directly (or through approval, a tenant policy);
//! forwards and catch-alls are always change requests another person approves, limited to
//! the tenant's allowlist of destination domains, and always expire. A recurring job turns
//! expired routes off and reminds requesters a week before. The persistence report lists
//! every way mail leaves a mailbox without its owner reading it.
use serde::{Deserialize, Serialize};

pub use crate::types::{RouteKind, RouteState};

#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// A route: mail for `source` goes to `targets`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Route {
    pub id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub domain: String,
    pub kind: RouteKind,
    /// An address, or `@domain` for a catch-all.
    pub source: String,
    pub targets: Vec<RouteTarget>,
    pub state: RouteState,
    pub expires_at: Option<i64>,
    pub reason: String,
    pub change_request_id: Option<String>,
    pub requested_by_label: String,
    pub approved_by_label: Option<String>,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub ended_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RouteTarget {
    pub address: String,
    /// Outside Mailward's mailboxes.
    pub external: bool,
    /// The recipient confirmed (always true where no confirmation is asked).
    pub confirmed: bool,
}

impl Route {
    pub fn kind_label(&self) -> &'static str {
        kind_label(self.kind.as_str())
    }
    /// Any target outside the tenant's own mailboxes.
    pub fn leaves_tenant(&self) -> bool {
        self.targets.iter().any(|t| t.external)
    }
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "alias" => "Alias",
        "forward" => "External forward",
        "catchall" => "Catch-all",
        "offboarding" => "Offboarding alias",
        _ => "Route",
    }
}

/// A request for a route (from the console, the API or a mailbox owner).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewRoute {
    /// `alias`, `forward` or `catchall`.
    pub kind: String,
    /// The address mail is for; for a catch-all, the domain (`example.com` or `@example.com`).
    pub source: String,
    /// Mailboxes or aliases of the tenant (alias, catch-all: exactly one mailbox), or
    /// external addresses (forward).
    pub targets: Vec<String>,
    /// Days until it expires (forward, catch-all; default and maximum per tenant).
    #[serde(default)]
    pub days: Option<i64>,
    /// Why: shown to the approver and kept in the log.
    #[serde(default)]
    pub reason: String,
}

/// What became of a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RouteOutcome {
    /// Applied at once (an alias under the `direct` policy).
    Created { route_id: String },
    /// Waiting in the approval queue.
    Queued { change_id: String },
}

/// A tenant's routing policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoutingPolicy {
    /// `direct` (aliases are created at once) or `approval` (they are change requests too).
    pub alias_policy: String,
    /// Destination domains external forwards may go to (empty: none).
    pub allowlist: Vec<String>,
    /// Expiry of a forward or catch-all when the request names none.
    pub default_days: i64,
    /// The longest a forward or catch-all may last (at most 90).
    pub max_days: i64,
    /// External recipients confirm a forward from a one-time link before it carries mail.
    pub confirmation: bool,
}

/// Routing at a glance, for the dashboard.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoutingBadges {
    pub catchall_domains: i64,
    pub external_forwards: i64,
    pub expiring_within_7_days: i64,
    pub pending_approvals: i64,
}

/// One line of the persistence report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PersistenceItem {
    pub route_id: String,
    pub kind: String,
    pub tenant: String,
    pub source: String,
    pub targets: Vec<String>,
    pub state: String,
    pub created_at: i64,
    pub age_days: i64,
    pub expires_at: Option<i64>,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub reason: String,
}
