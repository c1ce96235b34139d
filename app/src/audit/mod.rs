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
    /// Events about one object (its id: a mailbox, a domain — its routes too —, a change
    /// request…). The console also takes a mailbox's address or a domain's name.
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub has_more: bool,
}

/// An event as people read it: who did what to which object, named as the event recorded it
/// (so it reads right after the object is gone), with a link to where the object lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    /// "Otto Operator created the mailbox"
    pub before: String,
    /// The object's name, when the event names one ("ann@acme.example").
    pub object: Option<String>,
    /// Where the object lives in the console.
    pub href: Option<String>,
    /// The rest ("with a recovery code").
    pub after: String,
}

impl AuditEvent {
    /// The event in words. Known actions get their own verb; every other reads from its action
    /// ("dns.bulk_planned" → "dns: bulk planned") and the first name its details carry.
    pub fn sentence(&self) -> Sentence {
        let d: serde_json::Value = serde_json::from_str(&self.details).unwrap_or_default();
        let s = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let readable = |v: Option<String>| v.map(|x| crate::types::readable(&x));
        let target = self.target.clone().unwrap_or_default();
        let mailbox = || {
            (
                readable(s("address")),
                (!target.is_empty()).then(|| format!("/mailboxes/{target}")),
            )
        };
        let route = || {
            (
                readable(s("source")),
                (!target.is_empty()).then(|| format!("/routing?domain={target}&state=all")),
            )
        };
        let change = || (readable(s("target")), Some("/approvals".to_string()));
        let person = || (s("email"), None);
        let (verb, (object, href), after): (&str, (Option<String>, Option<String>), String) =
            match self.action.as_str() {
                "mailbox.created" => ("created the mailbox", mailbox(), String::new()),
                "mailbox.activated" => ("activated the mailbox", mailbox(), String::new()),
                "mailbox.updated" => ("changed the details of", mailbox(), String::new()),
                "mailbox.invite_issued" => ("issued a one-time link for", mailbox(), String::new()),
                "mailbox.invite_revealed" => {
                    ("revealed the one-time link of", mailbox(), String::new())
                }
                "mailbox.invite_revoked" => {
                    ("revoked the one-time link of", mailbox(), String::new())
                }
                "mailbox.reset_requested" => {
                    let why = s("reason").map(|r| format!(" (“{r}”)")).unwrap_or_default();
                    ("started a password reset of", mailbox(), why)
                }
                "mailbox.locked" => ("locked", mailbox(), String::new()),
                "mailbox.unlocked" => ("unlocked", mailbox(), String::new()),
                "mailbox.offboarded" => ("offboarded", mailbox(), String::new()),
                "mailbox.signin" => (
                    "signed in to their mailbox area",
                    (None, None),
                    String::new(),
                ),
                "mailbox.signin_failed" => ("failed to sign in as", mailbox(), String::new()),
                "mailbox.self_reset" => (
                    "reset the password of",
                    mailbox(),
                    " with a recovery code".into(),
                ),
                "mailbox.password_changed" => ("changed the password of", mailbox(), String::new()),
                "mailbox.app_password_created" => {
                    ("made an app password for", mailbox(), String::new())
                }
                "mailbox.app_password_revoked" => {
                    ("revoked an app password of", mailbox(), String::new())
                }
                "mailbox.access_revoked" => ("cut every way into", mailbox(), String::new()),
                "route.enabled" => ("turned on the route for", route(), String::new()),
                "route.disabled" => {
                    let why = s("reason").map(|r| format!(" ({r})")).unwrap_or_default();
                    ("turned off the route for", route(), why)
                }
                "route.expired" => ("saw the route expire for", route(), String::new()),
                "route.confirmed" => ("confirmed the forward from", route(), String::new()),
                "route.restored" => ("brought back the route for", route(), String::new()),
                "change.requested" => ("asked for a change to", change(), String::new()),
                "change.approved" => ("approved the change to", change(), String::new()),
                "change.applied" => ("applied the change to", change(), String::new()),
                "change.failed" => ("could not apply the change to", change(), String::new()),
                "change.rolled_back" => ("rolled back the change to", change(), String::new()),
                "user.role_changed" => ("changed the role of", person(), String::new()),
                "user.access_revoked" => ("ended the access of", person(), String::new()),
                "operator.invited" | "tenant.user_invited" => ("invited", person(), String::new()),
                "tenant.created" => (
                    "created the tenant",
                    (s("name"), s("slug").map(|slug| format!("/tenants/{slug}"))),
                    String::new(),
                ),
                "domain.added" | "domain.activated" | "domain.removed" | "domain.verified" => (
                    match self.action.as_str() {
                        "domain.added" => "added the domain",
                        "domain.activated" => "activated the domain",
                        "domain.removed" => "removed the domain",
                        _ => "verified the domain",
                    },
                    (
                        readable(s("domain").or(s("name"))),
                        (self.action != "domain.removed" && !target.is_empty())
                            .then(|| format!("/domains/{target}")),
                    ),
                    String::new(),
                ),
                "auth.signin" => ("signed in", (None, None), String::new()),
                "auth.signout" => ("signed out", (None, None), String::new()),
                "auth.signin_failed" => ("failed to sign in as", person(), String::new()),
                "token.created" => ("created an API token", (s("name"), None), String::new()),
                "token.revoked" => ("revoked an API token", (s("name"), None), String::new()),
                _ => {
                    let object = ["address", "email", "source", "domain", "name", "target"]
                        .iter()
                        .find_map(|k| s(k));
                    return Sentence {
                        before: format!(
                            "{} — {}",
                            self.actor_label,
                            self.action.replacen('.', ": ", 1).replace('_', " ")
                        ),
                        object: readable(object),
                        href: None,
                        after: String::new(),
                    };
                }
            };
        Sentence {
            before: format!("{} {verb}", self.actor_label),
            href: href.filter(|_| object.is_some()),
            object,
            after,
        }
    }
}
