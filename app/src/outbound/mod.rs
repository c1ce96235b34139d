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
//! Where a tenant's outside mail leaves: paid plans through the platform's managed relay
//! (`mailplane render --relayhost … --relay-username …`), Free plans through the tenant's own
//! relay ([`Relay`], set on the tenant page; the password sealed at rest). `mailward policy`
//! answers Postfix's socketmap lookups for it — which relay a hosted sender's mail takes, with
//! which credentials — so a changed relay applies without rendering again; a Free tenant with
//! no relay of its own is refused at RCPT for outside recipients, with the reason.
//!
//! Tables (`store.rs`): `send_counts`, `tenant_relays`.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
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

/// How a relay's connection is encrypted: STARTTLS on a submission port (587, 25, 2525) or
/// TLS from the first byte (465). Both required: a relay is never used in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    #[default]
    Starttls,
    Tls,
}

impl RelayTls {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayTls::Starttls => "starttls",
            RelayTls::Tls => "tls",
        }
    }
    pub fn parse(s: &str) -> Option<RelayTls> {
        match s {
            "starttls" => Some(RelayTls::Starttls),
            "tls" => Some(RelayTls::Tls),
            _ => None,
        }
    }
    pub fn words(self) -> &'static str {
        match self {
            RelayTls::Starttls => "STARTTLS",
            RelayTls::Tls => "TLS (implicit, as on port 465)",
        }
    }
}

/// A tenant's own outgoing relay, as shown (the password never is).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    pub username: String,
    pub updated_at: i64,
    pub updated_by: String,
    /// The last connection test: when, whether it passed, and what the relay said.
    pub tested_at: Option<i64>,
    pub test_ok: Option<bool>,
    pub test_result: Option<String>,
}

/// A relay as entered. `password`: empty keeps the stored one, which is only possible while
/// the host, port and user name stay the same (a stored password never goes to a new host).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RelayInput {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: RelayTls,
    pub username: String,
    #[serde(default)]
    pub password: String,
}

/// Where a tenant's mail to outside addresses leaves, as its page and the API say it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Outbound {
    /// Whether the tenant's plan includes the platform's managed relay.
    pub managed: bool,
    /// The tenant's own relay, if set (used whatever the plan).
    pub relay: Option<Relay>,
    /// Whether mail to outside addresses can leave at all (a Free tenant needs its own relay).
    pub can_send_out: bool,
}
