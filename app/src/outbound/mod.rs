//! Outbound mail: what a tenant's mailboxes may send. Each plan sets how many messages one
//! mailbox and a whole tenant may submit per clock hour; `mailward policy`, a Postfix policy
//! delegation server on the submission service, asks [`service::submission`] about every
//! recipient (refused early, nothing counted) and every finished message (counted, or
//! refused with the reason and when sending resumes). The first refusal of an hour raises an
//! alert (`sending.limit_reached`); the tenant's page shows the hour's counters.
//!
//! An incident in force may hold the outbound mail of its tenant (of all tenants, for a
//! platform incident): the policy then answers HOLD, and Postfix keeps the mail in its hold
//! queue instead of sending it.
//!
//! This is reputation isolation between clients: one tenant's compromised mailbox cannot
//! spend the platform's sending reputation beyond its plan.
//!
//! Tables (`store.rs`): `send_counts`.
use serde::{Deserialize, Serialize};

pub mod pages;
pub mod policy;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// Who a count is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Mailbox,
    Tenant,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Mailbox => "mailbox",
            Scope::Tenant => "tenant",
        }
    }
    pub fn parse(s: &str) -> Scope {
        if s == "tenant" {
            Scope::Tenant
        } else {
            Scope::Mailbox
        }
    }
}

/// A tenant's sending, as its page shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Sending {
    /// The clock hour counted now (epoch seconds of its start) and when the next begins.
    pub window_start: i64,
    pub window_end: i64,
    /// Messages all mailboxes sent this hour, and those refused.
    pub sent: i64,
    pub refused: i64,
    /// Messages put on hold this hour (an incident holds the tenant's outbound mail).
    pub held: i64,
    /// The incident holding the tenant's outbound mail now, if one does (its title).
    pub held_by: Option<String>,
    /// The plan's limits per hour.
    pub per_mailbox: i64,
    pub per_tenant: i64,
    /// This hour's senders, busiest first (at most 5).
    pub busiest: Vec<MailboxSending>,
    /// The last 7 days: messages sent, refused, and the hours in which a limit was reached.
    pub week_sent: i64,
    pub week_refused: i64,
    pub week_limited_hours: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxSending {
    pub address: String,
    pub sent: i64,
    pub refused: i64,
}
