//! Incident mode: an incident declared for one tenant or the whole platform freezes, through
//! the one authorization gate, what an intruder uses to get in or stay in
//! (`core::authz::Action::frozen`): every actor is loaded with the incidents in force over
//! its tenants ([`service::in_force`]) and `authorize`/`authorize_in` refuse frozen actions
//! naming the incident. Protective actions stay allowed. Every page of the people concerned
//! shows a red banner (the shell's `CurrentUser::incidents`). Ending takes two people.
//!
//! Tables (`store.rs`): `incidents`, `incident_postmortems`, `incident_checks`.
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

/// An incident as its page and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: String,
    /// None: the whole platform.
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    pub title: String,
    pub reason: String,
    /// T: since when what happened is distrusted.
    pub since_at: i64,
    /// The alert it was declared from.
    pub alert_id: Option<String>,
    /// `active` or `ended`.
    pub state: String,
    pub declared_by_label: String,
    pub declared_at: i64,
    /// Someone asked to end it; another person confirms.
    pub end_requested_by_label: Option<String>,
    pub end_requested_at: Option<i64>,
    pub end_note: Option<String>,
    pub ended_by_label: Option<String>,
    pub ended_at: Option<i64>,
    /// Outbound mail of its tenant (of every tenant for a platform incident) is held in the
    /// mail plane's hold queue since then, by whom; none: not held.
    #[serde(default)]
    pub outbound_held_at: Option<i64>,
    #[serde(default)]
    pub outbound_held_by_label: Option<String>,
}

/// What the declare form and `POST /api/v1/incidents` take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewIncident {
    /// The tenant (short name or id); none or empty: the whole platform.
    #[serde(default)]
    pub tenant: Option<String>,
    pub title: String,
    pub reason: String,
    /// T as Unix seconds; none: 24 hours before now.
    #[serde(default)]
    pub since_at: Option<i64>,
    /// The alert that prompted it.
    #[serde(default)]
    pub alert_id: Option<String>,
}

/// What to revoke in one step: console accounts (user ids) and mailboxes (ids or
/// addresses). Their sessions, API tokens and app passwords end; with `disable` the
/// accounts are disabled and the mailboxes locked too.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokeInput {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub mailboxes: Vec<String>,
    #[serde(default)]
    pub disable: bool,
}

/// One account in a revocation receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokedAccount {
    /// `user` (console account) or `mailbox`.
    pub kind: String,
    pub id: String,
    pub label: String,
    pub sessions: i64,
    pub tokens: i64,
    pub app_passwords: i64,
    /// The account was disabled / the mailbox locked.
    pub disabled: bool,
    /// Mailboxes: 1 when the mail plane disconnected live IMAP sessions, 0 when none was
    /// open; none: the mail plane was not asked or failed (see the receipt's `mail_plane`).
    pub imap_ended: Option<i64>,
}

/// The receipt of a revocation: what ended, in one transaction, and what the mail plane said.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RevokeReceipt {
    pub incident_id: String,
    pub at: i64,
    pub by: String,
    pub accounts: Vec<RevokedAccount>,
    /// Why live IMAP sessions were not ended at once, if they were not.
    pub mail_plane: Option<String>,
}

/// One thing the hunt found: created or changed since T, able to keep an intruder in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Finding {
    pub at: i64,
    /// `forward`, `catchall`, `alias_outside`, `app_password`, `api_token`, `account`,
    /// `operator_scope`, `invitation`, `routing_policy`, `reveal_policy`, `dns_change`,
    /// `dns_provider`, `dns_baseline`, `reset_link`, `alert_rules`, `alert_destination`,
    /// `import`, `delegation`.
    pub kind: String,
    /// What it is, in one line.
    pub what: String,
    /// Who did it (and who approved it, for governed changes).
    pub by: String,
    pub approved_by: Option<String>,
    /// Still in effect, as far as Mailward knows (a route still live, a change not rolled
    /// back).
    pub live: bool,
    /// The audit event behind it.
    pub evidence: Option<i64>,
    /// Which control let it through (for the postmortem).
    pub control: String,
    /// The governed revert, if there is one.
    pub revert: Option<Revert>,
}

/// How to revert a finding: a form post (the console) or the same through the API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Revert {
    /// The button's words.
    pub label: String,
    /// The console form it posts to.
    pub form: String,
    /// The form's fields.
    pub fields: Vec<(String, String)>,
}

/// A follow-up action of a postmortem.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FollowUp {
    pub what: String,
    /// Who sees it done.
    pub owner: String,
}

/// One line of a postmortem's timeline (an audit event between T and the end).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    pub at: i64,
    pub seq: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
}

/// What people write into a postmortem.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PostmortemInput {
    #[serde(default)]
    pub root_cause: String,
    /// The control that would have blocked it.
    #[serde(default)]
    pub blocking_control: String,
    #[serde(default)]
    pub actions: Vec<FollowUp>,
    /// Shown to the tenant's client viewers.
    #[serde(default)]
    pub shared: bool,
}

/// An incident's postmortem: pre-filled from the audit log, completed by people.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Postmortem {
    pub incident: Incident,
    /// Audit events between T and the end (or now), without sign-in noise; at most 1,000.
    pub timeline: Vec<TimelineEntry>,
    pub timeline_truncated: bool,
    /// What changed since T, who approved it, which control allowed it.
    pub findings: Vec<Finding>,
    pub written: PostmortemInput,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

/// "Validate domain control": what is confirmed for each affected domain.
pub const CHECK_ITEMS: [(&str, &str); 5] = [
    (
        "registrar_access",
        "Registrar account: we still hold it, and its password was changed",
    ),
    (
        "dns_access",
        "DNS provider: who has access was checked; passwords and keys rotated",
    ),
    (
        "recovery",
        "Recovery address of the registrar account is ours and unchanged",
    ),
    (
        "mfa",
        "MFA is on for the registrar and DNS provider accounts",
    ),
    (
        "delegation",
        "Nameservers (and DS) at the registrar are the expected ones",
    ),
];

/// One affected domain's checklist, with what its domain-control record says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DomainChecklist {
    pub domain_id: String,
    /// As people read it.
    pub domain: String,
    pub control: crate::domain_control::DomainControl,
    pub items: Vec<CheckItem>,
}

/// One item of a domain's checklist.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckItem {
    /// `registrar_access`, `dns_access`, `recovery`, `mfa`, `delegation`.
    pub item: String,
    pub label: String,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<i64>,
    pub note: String,
}

/// What `POST /api/v1/incidents/{id}/checks` and the checklist's form take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckInput {
    /// Domain id or name.
    pub domain: String,
    /// One of [`CHECK_ITEMS`].
    pub item: String,
    #[serde(default)]
    pub note: String,
}
