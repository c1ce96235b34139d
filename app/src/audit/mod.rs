//! The tamper-evident audit log: shared types here, the chain in `service`.
use serde::{Deserialize, Serialize};

pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// One audit event as pages and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub target: Option<String>,
    pub tenant_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// JSON object with the event's details (never secrets).
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters of the audit page, the export and the API.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AuditFilter {
    /// Action, or a prefix ending in `.` (e.g. `auth.`).
    #[serde(default)]
    pub action: Option<String>,
    /// Part of the actor's label.
    #[serde(default)]
    pub actor: Option<String>,
    /// Unix seconds, inclusive.
    #[serde(default)]
    pub since: Option<i64>,
    #[serde(default)]
    pub until: Option<i64>,
    /// Show events with seq below this (paging backwards).
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// Events of one tenant (its id).
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub has_more: bool,
}
