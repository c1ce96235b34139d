//! The persistence hunt: everything created or changed since T, in the incident's scope, that
//! can keep an intruder in — routes leaving the tenant, app passwords, API tokens, new
//! accounts and widened scopes, invitations, routing and reveal policies, DNS changes and
//! providers, the DNS baselines, reset links, alert rules and destinations, imports — each
//! with who did it, who approved it, whether it is still in effect, and its revert: a
//! protective action (turn the route off, revoke the account or the mailbox's access,
//! withdraw the link) or a governed rollback through the approval queue.
use serde_json::Value;

use super::super::{Finding, Incident, Revert};
use super::to_handle;
use crate::audit::service::Actions;
use crate::core::authz::Actor;
use crate::core::state::AppState;
use crate::core::AppResult;

/// What the audit log says was done since T that the hunt reports.
const HUNTED: &[&str] = &[
    "mailbox.app_password_created",
    "mailbox.delegation_granted",
    "token.created",
    "user.created",
    "user.enabled",
    "auth.totp_enrolled",
    "auth.account_recovered",
    "operator.invited",
    "tenant.user_invited",
    "operator.scope_changed",
    "user.role_changed",
    "user.factor_reset",
    "tenant.routing_policy_changed",
    "tenant.reveal_policy_changed",
    "dns.provider_set",
    "dns.template_changed",
    "domain.control_saved",
    "change.applied",
    "mailbox.reset_requested",
    "mailbox.unlocked",
    "mailbox.updated",
    "alert.rules_changed",
    "alert.destination_removed",
    "import.completed",
    // Not findings themselves: they say an invitation is no longer open.
    "operator.invite_revoked",
];

/// Change kinds whose applied requests the hunt lists (routes come from the routes
/// themselves).
const HUNTED_KINDS: &[&str] = &["dns.record", "dns.bulk", "mailbox.reset"];

fn revert(label: &str, form: String, fields: &[(&str, &str)]) -> Option<Revert> {
    Some(Revert {
        label: label.into(),
        form,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The hunt's findings, oldest first.
pub async fn hunt(st: &AppState, actor: &Actor, id: &str) -> AppResult<(Incident, Vec<Finding>)> {
    let i = super::get(st, actor, id).await?;
    // Those who act on findings see their reverts; readers see the findings.
    let can_act = to_handle(st, actor, id).await.is_ok();
    let back = format!("/incidents/{}", i.id);
    let revoke_form = format!("/incidents/{}/revoke", i.id);
    let mut out = Vec::new();

    // Routes that leave the tenant, made since T.
    for r in
        crate::routing::service::made_since(st, actor, i.tenant_id.as_deref(), i.since_at).await?
    {
        let live = matches!(r.state.as_str(), "active" | "unconfirmed");
        let kind = match r.kind.as_str() {
            "forward" => "forward",
            "catchall" => "catchall",
            _ => "alias_outside",
        };
        let what = match kind {
            "catchall" => format!(
                "Catch-all {} to {}",
                crate::types::shown_source(&r.source),
                r.targets.join(", ")
            ),
            "forward" => format!("Forward of {} to {}", r.source, r.targets.join(", ")),
            _ => format!(
                "Alias {} to {} (outside the tenant)",
                r.source,
                r.targets.join(", ")
            ),
        };
        out.push(Finding {
            at: r.created_at,
            kind: kind.into(),
            what: format!("{what} — {}", r.state),
            by: r.requested_by.clone(),
            approved_by: r.approved_by.clone(),
            live,
            evidence: None,
            control: match &r.approved_by {
                Some(_) => "The tenant's routing policy allowed the target, and a second person approved it".into(),
                None => "The tenant's routing policy let it through without an approval".into(),
            },
            revert: (live && can_act)
                .then(|| {
                    revert(
                        "Turn it off",
                        format!("/routing/{}/disable", r.route_id),
                        &[("reason", "incident: persistence hunt"), ("back", &back)],
                    )
                })
                .flatten(),
        });
    }

    let events = crate::audit::service::since(
        &st.db,
        i.tenant_id.as_deref(),
        Actions::OneOf(HUNTED),
        i.since_at,
        5_000,
    )
    .await?;
    // Invitations accepted or withdrawn since T are no longer a way in.
    let closed: std::collections::HashSet<String> = events
        .iter()
        .filter_map(|e| match e.action.as_str() {
            "user.created" => serde_json::from_str::<Value>(&e.details)
                .ok()
                .and_then(|d| d["invite"].as_str().map(str::to_string)),
            "operator.invite_revoked" => e.target.clone(),
            _ => None,
        })
        .collect();
    for e in events {
        let d: Value = serde_json::from_str(&e.details).unwrap_or_default();
        let target = e.target.clone().unwrap_or_default();
        let ev = Some(e.seq);
        let mut f = Finding {
            at: e.at,
            kind: String::new(),
            what: String::new(),
            by: e.actor_label.clone(),
            approved_by: None,
            live: true,
            evidence: ev,
            control: String::new(),
            revert: None,
        };
        match e.action.as_str() {
            "mailbox.app_password_created" => {
                f.control = "Mailbox self-service: whoever holds the mailbox's password can make an app password".into();
                let Ok(m) = crate::mailboxes::service::get(st, actor, &target).await else {
                    continue;
                };
                let extras = crate::mailboxes::service::extras(st, actor, &m).await?;
                let ap = s(&d["app_password"]);
                f.kind = "app_password".into();
                f.live = extras.app_passwords.iter().any(|a| a.id == ap);
                f.what = format!(
                    "App password \u{201c}{}\u{201d} ({}) for {}",
                    s(&d["name"]),
                    s(&d["protocols"]),
                    m.address
                );
                if f.live && can_act {
                    f.revert = revert(
                        "Revoke the mailbox's access",
                        revoke_form.clone(),
                        &[("mailboxes", &m.id)],
                    );
                }
            }
            "mailbox.delegation_granted" => {
                f.control = "Whoever manages the tenant's mailboxes, or the mailbox's owner, may let another mailbox send as it or open its folders, without a second person".into();
                let Ok(m) = crate::mailboxes::service::get(st, actor, &target).await else {
                    continue;
                };
                let delegate = s(&d["delegate"]);
                let now = crate::mailboxes::service::delegations(st, actor, &m.id).await?;
                let live = now.delegates.iter().find(|g| g.delegate == delegate);
                f.kind = "delegation".into();
                f.live = live.is_some();
                f.what = match live {
                    Some(g) => {
                        use crate::types::FolderAccess;
                        let mut may = Vec::new();
                        if g.send_as {
                            may.push(format!("send as {}", m.address));
                        }
                        match g.folders {
                            FolderAccess::Read => {
                                may.push(format!("read the folders of {}", m.address))
                            }
                            FolderAccess::ReadWrite => {
                                may.push(format!("read and write the folders of {}", m.address))
                            }
                            FolderAccess::None => {}
                        }
                        format!("{delegate} may {}", may.join(" and "))
                    }
                    None => format!("{delegate} was delegated {}", m.address),
                };
                if let (Some(g), true) = (live, can_act) {
                    f.revert = revert(
                        "Revoke the delegation",
                        format!("/mailboxes/{}/delegations/{}/revoke", m.id, g.delegate_id),
                        &[],
                    );
                }
            }
            "token.created" => {
                f.control =
                    "Every console account may make API tokens for itself (within its own rights)"
                        .into();
                let Some(uid) = e.actor_id.clone() else {
                    continue;
                };
                let tokens = crate::auth::store::list_tokens(&st.db, &uid).await?;
                f.kind = "api_token".into();
                f.live = tokens.iter().any(|t| {
                    t.id == target && t.revoked_at.is_none() && t.expires_at > st.clock.now()
                });
                f.what = format!(
                    "API token \u{201c}{}\u{201d} ({}) of {}",
                    s(&d["name"]),
                    s(&d["scopes"]),
                    e.actor_label
                );
                if f.live && can_act && Some(uid.as_str()) != actor.user_id.as_deref() {
                    f.revert = revert(
                        "Revoke the account's access",
                        revoke_form.clone(),
                        &[("users", &uid)],
                    );
                }
            }
            "user.created" | "user.enabled" => {
                f.control = if e.action == "user.created" {
                    "An invitation was accepted (the invitation is listed separately)".into()
                } else {
                    "Owners enable operators; owners and operators a tenant's people".into()
                };
                let row = crate::auth::store::user_by_id(&st.db, &target).await?;
                f.kind = "account".into();
                f.live = row
                    .as_ref()
                    .is_some_and(|u| u.status == crate::auth::AccountStatus::Active);
                f.what = format!(
                    "{} {} account {}",
                    if e.action == "user.created" {
                        "New"
                    } else {
                        "Enabled again:"
                    },
                    s(&d["role"]).replace('_', " "),
                    s(&d["email"])
                );
                if f.live && can_act && Some(target.as_str()) != actor.user_id.as_deref() {
                    f.revert = revert(
                        "Revoke and disable it",
                        revoke_form.clone(),
                        &[("users", &target), ("disable", "on")],
                    );
                }
            }
            // A new authenticator (the account's own change, or the server's break-glass
            // link): whoever set it up can sign in with it.
            "auth.totp_enrolled" | "auth.account_recovered" => {
                let Some(u) = crate::auth::store::user_by_id(&st.db, &target).await? else {
                    continue;
                };
                f.control = if e.action == "auth.totp_enrolled" {
                    "A signed-in account may replace its own authenticator (a current code asked)"
                        .into()
                } else {
                    "A recovery link issued on the server's command line".into()
                };
                f.kind = "account_factor".into();
                f.live = u.status == crate::auth::AccountStatus::Active;
                f.what = format!(
                    "{} for {}",
                    if e.action == "auth.totp_enrolled" {
                        "New authenticator"
                    } else {
                        "Account recovered (new password and authenticator)"
                    },
                    u.email
                );
                if f.live && can_act && Some(target.as_str()) != actor.user_id.as_deref() {
                    f.revert = revert(
                        "Revoke the account's access",
                        revoke_form.clone(),
                        &[("users", &target)],
                    );
                }
            }
            "operator.invited" | "tenant.user_invited" => {
                f.control =
                    "Owners invite operators; owners and operators invite a tenant's people".into();
                f.kind = "invitation".into();
                f.live = !closed.contains(&target);
                f.what = format!(
                    "Invitation for {} as {}{}",
                    s(&d["email"]),
                    s(&d["role"]).replace('_', " "),
                    if f.live {
                        ""
                    } else {
                        " (accepted or withdrawn)"
                    }
                );
                if f.live && can_act {
                    f.revert = revert(
                        "Withdraw the invitation",
                        format!("/operators/invites/{target}/revoke"),
                        &[],
                    );
                }
            }
            "user.role_changed" | "user.factor_reset" => {
                let elevated = d["elevated"].as_bool().unwrap_or(false);
                if e.action == "user.role_changed" && !elevated {
                    continue;
                }
                let Some(u) = crate::auth::store::user_by_id(&st.db, &target).await? else {
                    continue;
                };
                f.control = "Another person approves a new owner or tenant admin and a reset of \
                             someone's second factor"
                    .into();
                f.kind = if e.action == "user.role_changed" {
                    "account_role"
                } else {
                    "account_factor"
                }
                .into();
                f.live = u.status == crate::auth::AccountStatus::Active;
                f.what = if e.action == "user.role_changed" {
                    format!(
                        "{} made {} (was {})",
                        u.email,
                        s(&d["after"]).replace('_', " "),
                        s(&d["before"]).replace('_', " ")
                    )
                } else {
                    format!("Second factor of {} reset by a mailed link", u.email)
                };
                if f.live && can_act && Some(target.as_str()) != actor.user_id.as_deref() {
                    f.revert = revert(
                        "Revoke the account's access",
                        revoke_form.clone(),
                        &[("users", &target)],
                    );
                }
            }
            "operator.scope_changed" => {
                f.control = "Owners decide which tenants an operator sees".into();
                f.kind = "operator_scope".into();
                f.what = format!(
                    "Tenants {} sees: {} \u{2192} {}",
                    s(&d["operator"]),
                    s(&d["before"]),
                    s(&d["after"])
                );
                if can_act && Some(target.as_str()) != actor.user_id.as_deref() {
                    f.revert = revert(
                        "Revoke the account's access",
                        revoke_form.clone(),
                        &[("users", &target)],
                    );
                }
            }
            "tenant.routing_policy_changed" | "tenant.reveal_policy_changed" => {
                f.control =
                    "Owners and operators set a tenant's policies, without a second person".into();
                f.kind = if e.action.contains("routing") {
                    "routing_policy"
                } else {
                    "reveal_policy"
                }
                .into();
                f.what = format!(
                    "{} policy: {}",
                    if e.action.contains("routing") {
                        "Routing"
                    } else {
                        "Invitation reveal"
                    },
                    diff(&d["before"], &d["after"])
                );
            }
            "dns.provider_set" => {
                f.control = "Those who manage a tenant's domains say where its zones are managed (no second person)".into();
                f.kind = "dns_provider".into();
                f.what = if s(&d["kind"]) == "rfc2136" {
                    format!(
                        "{} is now updated by Mailward at {} (TSIG key {}{})",
                        s(&d["domain"]),
                        s(&d["server"]),
                        s(&d["tsig_name"]),
                        if d["secret_changed"] == true {
                            ", new secret"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!("{} is now managed by hand", s(&d["domain"]))
                };
            }
            "dns.template_changed" => {
                f.control = "Owners edit the DNS baselines, without a second person".into();
                f.kind = "dns_baseline".into();
                f.what = format!("DNS baseline of the {} category changed", s(&d["category"]));
            }
            "domain.control_saved" => {
                // What decides who can take the domain back: its recovery, its holder, the
                // delegation drift is judged against.
                let fields = [
                    ("recovery_address", "recovery address"),
                    ("registrar_account", "registrar account holder"),
                    ("expected_ns", "expected nameservers"),
                    ("expected_ds", "expected DS"),
                ];
                let show = |v: &Value| match v {
                    Value::Array(a) if a.is_empty() => "(none)".to_string(),
                    Value::Array(a) => a.iter().map(|x| s(x)).collect::<Vec<_>>().join(", "),
                    Value::String(x) if x.is_empty() => "(none)".to_string(),
                    Value::String(x) => x.clone(),
                    _ => "(none)".to_string(),
                };
                let changed: Vec<String> = fields
                    .iter()
                    .filter_map(|(k, label)| {
                        let c = &d["changes"][k];
                        (!c.is_null()).then(|| {
                            format!(
                                "{label} {} \u{2192} {}",
                                show(&c["before"]),
                                show(&c["after"])
                            )
                        })
                    })
                    .collect();
                if changed.is_empty() {
                    continue;
                }
                f.kind = "domain_control".into();
                f.control = "Those who manage a domain record its control, without a second person (the delegation: with the right to change DNS)".into();
                f.what = format!(
                    "Domain-control record of {}: {}",
                    s(&d["domain"]),
                    changed.join("; ")
                );
            }
            "change.applied" => {
                let kind = s(&d["kind"]);
                if !HUNTED_KINDS.contains(&kind.as_str()) {
                    continue;
                }
                let Ok(c) = crate::changes::service::get(st, actor, &target).await else {
                    continue;
                };
                // Rollbacks and restores of the baseline put a known-good state back.
                let restore = serde_json::from_str::<Value>(&c.payload)
                    .is_ok_and(|p| p["operation"] == "restore");
                if c.rollback_of.is_some() || restore {
                    continue;
                }
                f.kind = if kind == "mailbox.reset" {
                    "reset_link"
                } else {
                    "dns_change"
                }
                .into();
                f.by = c.requested_by_label.clone();
                f.approved_by = Some(e.actor_label.clone());
                f.control = "Two-person approval in the change queue".into();
                f.live = c.state == crate::changes::ChangeState::Applied;
                f.what = format!(
                    "{kind}: {} \u{2014} {}",
                    c.target_label,
                    c.result.clone().unwrap_or_default()
                );
                if f.live && can_act {
                    f.revert = revert(
                        "Ask for its rollback",
                        format!("/approvals/{}/rollback", c.id),
                        &[("reason", "incident: persistence hunt")],
                    );
                }
            }
            "mailbox.reset_requested" => {
                f.control = "Those who manage mailboxes start resets; only critical mailboxes need a second person".into();
                f.kind = "reset_link".into();
                f.what = format!(
                    "Reset of {} started, link to {}{}",
                    s(&d["address"]),
                    if d["send_to"].is_null() {
                        "be revealed".to_string()
                    } else {
                        s(&d["send_to"])
                    },
                    if d["lock_now"] == true {
                        " (locked at once)"
                    } else {
                        ""
                    }
                );
                if can_act {
                    f.revert = revert(
                        "Withdraw the link",
                        format!("/mailboxes/{target}/invite/revoke"),
                        &[],
                    );
                }
            }
            "mailbox.unlocked" => {
                f.control = "Those who may reset a mailbox may unlock it, with a reason".into();
                f.kind = "unlock".into();
                f.what = format!(
                    "{} unlocked: \u{201c}{}\u{201d}",
                    s(&d["address"]),
                    s(&d["reason"])
                );
                if can_act {
                    f.revert = revert(
                        "Revoke the mailbox's access",
                        revoke_form.clone(),
                        &[("mailboxes", &target)],
                    );
                }
            }
            // Where reset links go, and whether resets need a second person.
            "mailbox.updated" => {
                let changed = |field: &str| {
                    d["changed"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v == field))
                };
                if changed("contact_email") {
                    f.control = "Those who manage mailboxes change where their links go".into();
                    f.kind = "contact_address".into();
                    f.what = format!(
                        "Contact address of {} changed from {} to {}",
                        s(&d["address"]),
                        Some(s(&d["before"]["contact_email"]))
                            .filter(|a| !a.is_empty())
                            .unwrap_or("none".into()),
                        Some(s(&d["after"]["contact_email"]))
                            .filter(|a| !a.is_empty())
                            .unwrap_or("none".into())
                    );
                } else if changed("critical") && d["after"]["critical"] == false {
                    f.control =
                        "A second person approves a mailbox no longer being critical".into();
                    f.kind = "critical_off".into();
                    f.what = format!("{} no longer critical", s(&d["address"]));
                } else {
                    continue;
                }
            }
            "alert.rules_changed" => {
                f.control = "Tenant admins may only tighten alert rules; owners and operators may loosen them".into();
                f.kind = "alert_rules".into();
                f.what = format!("Alert rules of {} changed", s(&d["tenant"]));
            }
            "alert.destination_removed" => {
                f.control = "Whoever manages alerts removes destinations".into();
                f.kind = "alert_destination".into();
                f.what = format!(
                    "Alert destination removed: {} {}",
                    s(&d["kind"]),
                    s(&d["target"])
                );
            }
            "import.completed" => {
                f.control = "Whoever manages mailboxes imports them from a file".into();
                f.kind = "import".into();
                f.what = format!("Import created {} mailboxes", s(&d["created"]));
            }
            _ => continue,
        }
        out.push(f);
    }
    out.sort_by_key(|f| f.at);
    Ok((i, out))
}

/// What differs between two JSON objects, as `key: before → after` (or the whole values).
fn diff(before: &Value, after: &Value) -> String {
    match (before.as_object(), after.as_object()) {
        (Some(b), Some(a)) => {
            let changed: Vec<String> = a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, v)| {
                    let old = b
                        .get(k)
                        .map(s)
                        .filter(|x| !x.is_empty())
                        .unwrap_or_else(|| "(none)".into());
                    let new = Some(s(v))
                        .filter(|x| !x.is_empty())
                        .unwrap_or_else(|| "(none)".into());
                    format!("{}: {old} \u{2192} {new}", k.replace('_', " "))
                })
                .collect();
            if changed.is_empty() {
                "unchanged".into()
            } else {
                changed.join("; ")
            }
        }
        _ => format!("{} \u{2192} {}", compact(before), compact(after)),
    }
}

/// A JSON value in one short line.
fn compact(v: &Value) -> String {
    let t = match v {
        Value::Object(o) => o
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{}: {}", k.replace('_', " "), s(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => s(other),
    };
    if t.chars().count() > 200 {
        t.chars().take(200).collect::<String>() + "\u{2026}"
    } else {
        t
    }
}

/// The findings as CSV (for the incident's record).
pub fn to_csv(findings: &[Finding]) -> String {
    let mut c = crate::core::csv::Csv::new(&[
        "at",
        "kind",
        "what",
        "by",
        "approved_by",
        "live",
        "audit_seq",
    ]);
    for f in findings {
        c.text(&crate::core::clock::format_utc(f.at))
            .text(&f.kind)
            .text(&f.what)
            .text(&f.by)
            .text(f.approved_by.as_deref().unwrap_or(""))
            .text(if f.live { "yes" } else { "no" })
            .text(&f.evidence.map(|s| s.to_string()).unwrap_or_default());
        c.end_row();
    }
    c.finish()
}
