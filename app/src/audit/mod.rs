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

/// What a table entry's object is (see [`VERBS`]).
#[derive(Clone, Copy)]
enum Obj {
    /// No object: the verb says it all ("changed their password").
    None,
    Mailbox,
    Domain,
    /// A person, by the `email` the event recorded.
    Person,
    Route,
    Change,
    Import,
    Incident,
    /// What the event calls `name` (a plan, a destination, a token).
    Named,
}

/// The verbs of the events without a sentence of their own in [`AuditEvent::sentence`]:
/// the action, what the actor did, and to what.
const VERBS: &[(&str, &str, Obj)] = &[
    (
        "setup.link_issued",
        "issued the first owner's setup link",
        Obj::None,
    ),
    ("user.created", "created the account of", Obj::Person),
    ("user.enabled", "enabled the account of", Obj::Person),
    ("user.disabled", "disabled the account of", Obj::Person),
    (
        "user.access_ended",
        "ended the sessions and tokens of",
        Obj::Person,
    ),
    (
        "user.factor_reset",
        "reset the second factor of",
        Obj::Person,
    ),
    (
        "user.factor_reset_withdrawn",
        "withdrew the second-factor reset of",
        Obj::Person,
    ),
    (
        "operator.invite_revealed",
        "revealed the invitation link of",
        Obj::Person,
    ),
    (
        "operator.invite_revoked",
        "revoked the invitation of",
        Obj::Person,
    ),
    (
        "operator.scope_changed",
        "changed the tenants of",
        Obj::Person,
    ),
    (
        "owner.recovery_link_issued",
        "issued a recovery link for",
        Obj::Person,
    ),
    (
        "auth.totp_enrolled",
        "set up an authenticator for",
        Obj::Person,
    ),
    (
        "auth.recovery_codes_issued",
        "received new recovery codes",
        Obj::None,
    ),
    ("auth.recovery_code_used", "used a recovery code", Obj::None),
    ("auth.password_changed", "changed their password", Obj::None),
    (
        "auth.totp_change_started",
        "started replacing their authenticator",
        Obj::None,
    ),
    ("auth.session_revoked", "ended a session", Obj::None),
    (
        "auth.sessions_revoked_all",
        "ended all their other sessions",
        Obj::None,
    ),
    (
        "auth.account_recovered",
        "recovered the account",
        Obj::Person,
    ),
    (
        "auth.reauth_failed",
        "failed to confirm their password",
        Obj::None,
    ),
    (
        "auth.second_factor_failed",
        "failed the second factor",
        Obj::None,
    ),
    (
        "auth.locked_out",
        "was paused from signing in as",
        Obj::Person,
    ),
    (
        "auth.signin_throttled",
        "was paused from signing in as",
        Obj::Person,
    ),
    (
        "mailbox.password_reset",
        "reset the password of",
        Obj::Mailbox,
    ),
    (
        "mailbox.reset_rolled_back",
        "rolled back the password reset of",
        Obj::Mailbox,
    ),
    (
        "mailbox.reset_throttled",
        "was paused resetting",
        Obj::Mailbox,
    ),
    (
        "mailbox.self_reset_refused",
        "was refused a self-service reset of",
        Obj::Mailbox,
    ),
    (
        "mailbox.signin_throttled",
        "was paused from signing in as",
        Obj::Mailbox,
    ),
    (
        "mailbox.recovery_codes_regenerated",
        "made new recovery codes for",
        Obj::Mailbox,
    ),
    (
        "mailbox.identity_added",
        "listed an outside service that recovers through",
        Obj::Mailbox,
    ),
    (
        "mailbox.identity_removed",
        "removed an outside service from",
        Obj::Mailbox,
    ),
    (
        "mailbox.invite_not_sent",
        "could not mail the one-time link of",
        Obj::Mailbox,
    ),
    (
        "mailbox.offboarding_verified",
        "checked the offboarding of",
        Obj::Mailbox,
    ),
    (
        "route.expiry_reminder",
        "sent an expiry reminder for the route of",
        Obj::Route,
    ),
    ("change.rejected", "rejected the change to", Obj::Change),
    ("change.cancelled", "withdrew the change to", Obj::Change),
    ("tenant.plan_changed", "changed a tenant's plan", Obj::None),
    ("tenant.suspended", "suspended the tenant", Obj::Named),
    ("tenant.resumed", "resumed the tenant", Obj::Named),
    (
        "tenant.reveal_policy_changed",
        "changed a tenant's link policy",
        Obj::None,
    ),
    (
        "tenant.routing_policy_changed",
        "changed a tenant's routing policy",
        Obj::None,
    ),
    ("plan.created", "created the plan", Obj::Named),
    ("plan.retired", "retired the plan", Obj::Named),
    ("plan.reinstated", "brought back the plan", Obj::Named),
    ("domain.suspended", "suspended the domain", Obj::Domain),
    (
        "domain.control_saved",
        "saved the registration record of",
        Obj::Domain,
    ),
    (
        "domain.control_rdap",
        "read the registration data of",
        Obj::Domain,
    ),
    ("dns.record_updated", "updated a DNS record of", Obj::Domain),
    (
        "dns.change_entered",
        "entered a DNS change for",
        Obj::Domain,
    ),
    ("dns.observed", "observed the DNS of", Obj::Domain),
    (
        "dns.rollback_failed",
        "could not roll back a DNS change of",
        Obj::Domain,
    ),
    ("dns.provider_set", "set the DNS provider", Obj::Named),
    ("dns.provider_tested", "tested the DNS provider", Obj::Named),
    ("dns.template_changed", "changed a DNS baseline", Obj::None),
    ("dns.bulk_planned", "planned a bulk DNS change", Obj::None),
    (
        "dns.bulk_batch_applied",
        "applied a batch of a bulk DNS change",
        Obj::None,
    ),
    (
        "dns.bulk_batch_verified",
        "verified a batch of a bulk DNS change",
        Obj::None,
    ),
    (
        "dns.bulk_batch_failed",
        "saw a batch of a bulk DNS change fail",
        Obj::None,
    ),
    (
        "dns.bulk_batch_rolled_back",
        "rolled back a batch of a bulk DNS change",
        Obj::None,
    ),
    (
        "dns.bulk_overridden",
        "went on with a bulk DNS change despite a failure",
        Obj::None,
    ),
    ("dns.bulk_done", "finished a bulk DNS change", Obj::None),
    ("dkim.zone_written", "wrote the DKIM record of", Obj::Domain),
    (
        "dmarc.report_imported",
        "imported a DMARC report for",
        Obj::Domain,
    ),
    (
        "dmarc.new_source",
        "saw a new sender in the DMARC reports of",
        Obj::Domain,
    ),
    ("import.previewed", "checked", Obj::Import),
    ("import.started", "started", Obj::Import),
    ("import.completed", "completed", Obj::Import),
    ("import.failed", "saw the failure of", Obj::Import),
    ("import.cancelled", "discarded", Obj::Import),
    ("incident.declared", "declared", Obj::Incident),
    (
        "incident.sessions_kicked",
        "ended every session during",
        Obj::Incident,
    ),
    ("incident.revoked", "revoked access during", Obj::Incident),
    ("incident.ended", "ended", Obj::Incident),
    ("incident.kept_open", "kept open", Obj::Incident),
    (
        "incident.outbound_held",
        "held the outbound mail of",
        Obj::Incident,
    ),
    (
        "incident.outbound_released",
        "released the outbound mail of",
        Obj::Incident,
    ),
    ("incident.end_requested", "asked to end", Obj::Incident),
    (
        "incident.postmortem_saved",
        "saved the postmortem of",
        Obj::Incident,
    ),
    ("alert.raised", "raised an alert", Obj::None),
    ("alert.acknowledged", "acknowledged an alert", Obj::None),
    ("alert.resolved", "resolved an alert", Obj::None),
    ("alert.rules_changed", "changed the alert rules", Obj::None),
    (
        "alert.destination_added",
        "added the alert destination",
        Obj::Named,
    ),
    (
        "alert.destination_removed",
        "removed the alert destination",
        Obj::Named,
    ),
    (
        "alert.destination_tested",
        "tested the alert destination",
        Obj::Named,
    ),
    (
        "alert.webhook_secret_rotated",
        "rotated the webhook secret of",
        Obj::Named,
    ),
];

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
                s("source").map(|x| crate::types::shown_source(&x)),
                (!target.is_empty()).then(|| format!("/routing?domain={target}&state=all")),
            )
        };
        // A change names what it changes (a catch-all as `*@domain`), else "a change".
        let change = || {
            (
                Some(
                    s("target")
                        .map(|x| crate::types::shown_source(&x))
                        .unwrap_or_else(|| "a change".into()),
                ),
                Some("/approvals".to_string()),
            )
        };
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
                "mailbox.purged" => {
                    let n = d["messages"].as_i64().unwrap_or(0);
                    (
                        "deleted the kept mail of",
                        mailbox(),
                        format!(
                            " ({}) as its retention ended",
                            crate::ui::plural(n, "message", "messages")
                        ),
                    )
                }
                "mailbox.purge_failed" => {
                    let why = s("error").map(|r| format!(": {r}")).unwrap_or_default();
                    ("could not delete the kept mail of", mailbox(), why)
                }
                "mailbox.delegation_granted" => {
                    // Before shared folders, a delegation was sending only (no `send_as`).
                    let send = d["send_as"].as_bool().unwrap_or(true);
                    let rights = match (send, d["folders"].as_str().unwrap_or("none")) {
                        (true, "read") => " (send as it, read its folders)",
                        (true, "read_write") => " (send as it, read and write its folders)",
                        (false, "read") => " (read its folders)",
                        (false, "read_write") => " (read and write its folders)",
                        _ => " (send as it)",
                    };
                    (
                        "delegated",
                        mailbox(),
                        s("delegate")
                            .map(|x| format!(" to {x}{rights}"))
                            .unwrap_or_default(),
                    )
                }
                "mailbox.delegation_revoked" => (
                    "revoked the delegation of",
                    mailbox(),
                    s("delegate")
                        .map(|x| format!(" to {x}"))
                        .unwrap_or_default(),
                ),
                "tenant.relay_set" | "tenant.relay_removed" | "tenant.relay_tested" => {
                    let r = if d["relay"].is_object() {
                        &d["relay"]
                    } else {
                        &d
                    };
                    let at = match (r["host"].as_str(), r["port"].as_i64()) {
                        (Some(h), Some(p)) => format!(" {h}:{p}"),
                        _ => String::new(),
                    };
                    let verb = match self.action.as_str() {
                        "tenant.relay_set" => "set the tenant's outgoing relay",
                        "tenant.relay_removed" => "removed the tenant's outgoing relay",
                        _ => "tested the tenant's outgoing relay",
                    };
                    let after = match d["ok"].as_bool() {
                        Some(true) => format!("{at}: it signed in"),
                        Some(false) => format!("{at}: it failed"),
                        None => at,
                    };
                    (verb, (None, None), after)
                }
                "mailbox.retention_extended" => {
                    let until = s("until").map(|u| format!(" to {u}")).unwrap_or_default();
                    let why = s("reason").map(|r| format!(" (“{r}”)")).unwrap_or_default();
                    (
                        "extended the mail retention of",
                        mailbox(),
                        format!("{until}{why}"),
                    )
                }
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
                other => match VERBS.iter().find(|(a, _, _)| *a == other) {
                    Some((_, verb, what)) => {
                        let domain = || {
                            (
                                readable(s("domain").or(s("name"))),
                                (!target.is_empty()).then(|| format!("/domains/{target}")),
                            )
                        };
                        let object = match what {
                            Obj::None => (None, None),
                            Obj::Mailbox => mailbox(),
                            Obj::Domain => domain(),
                            Obj::Person => person(),
                            Obj::Route => route(),
                            Obj::Change => change(),
                            Obj::Import => (
                                Some("a mailbox import".into()),
                                (!target.is_empty()).then(|| format!("/imports/{target}")),
                            ),
                            Obj::Incident => (
                                Some("an incident".into()),
                                (!target.is_empty()).then(|| format!("/incidents/{target}")),
                            ),
                            Obj::Named => (readable(s("name").or(s("label"))), None),
                        };
                        // An event that did not record its object's name still reads whole:
                        // "a mailbox", linked when the event knows which.
                        let object = match (object, what) {
                            ((None, _), Obj::Mailbox) => (
                                Some("a mailbox".to_string()),
                                (!target.is_empty()).then(|| format!("/mailboxes/{target}")),
                            ),
                            ((None, _), Obj::Domain) => (Some("a domain".into()), None),
                            ((None, _), Obj::Person) => (Some("someone".into()), None),
                            ((None, _), Obj::Route) => (Some("a route".into()), None),
                            ((None, _), Obj::Change) => (Some("a change".into()), None),
                            (o, _) => o,
                        };
                        // A change of one value reads "(from “Starter” to “Pro”)".
                        let after = match (s("before"), s("after")) {
                            (Some(b), Some(a)) => format!(" (from “{b}” to “{a}”)"),
                            _ => String::new(),
                        };
                        (*verb, object, after)
                    }
                    None => {
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
                },
            };
        Sentence {
            before: format!("{} {verb}", self.actor_label),
            href: href.filter(|_| object.is_some()),
            object,
            after,
        }
    }
}
