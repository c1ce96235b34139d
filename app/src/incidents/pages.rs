//! `/incidents` (those in force and past, and the form to declare one) and `/incidents/:id`
//! (what it freezes, who declared it, and ending it with a second person).
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use super::Incident;
use crate::auth::PageData;
use crate::ui::{signed_in_page, Badge, EmptyState, Time};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IncidentsPage {
    pub incidents: Vec<Incident>,
    /// Tenants one may declare for: (short name, name).
    pub tenants: Vec<(String, String)>,
    /// Sees every tenant: may declare a platform-wide incident.
    pub platform: bool,
    pub can_declare: bool,
    /// Prefilled from an alert (`?alert=`): (alert id, its tenant's short name, its title).
    pub from_alert: Option<(String, Option<String>, String)>,
    /// T's default in the form: 24 hours ago, as `YYYY-MM-DDTHH:MM` (UTC).
    pub default_since: String,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_incidents_page(alert: String) -> Result<PageData<IncidentsPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action, TenantScope};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let incidents = super::service::list(&c.st, &a).await?;
        let all = crate::tenancy::service::tenants(&c.st, &a).await?;
        let from_alert = if alert.is_empty() {
            None
        } else {
            match crate::monitoring::service::alert(&c.st, &a, &alert).await {
                Ok(al) => {
                    let slug = al
                        .tenant_id
                        .as_ref()
                        .and_then(|t| all.iter().find(|x| &x.id == t).map(|x| x.slug.clone()));
                    Some((al.id, slug, al.title))
                }
                Err(_) => None,
            }
        };
        let now = c.st.clock.now();
        Ok(IncidentsPage {
            incidents,
            tenants: all.into_iter().map(|t| (t.slug, t.name)).collect(),
            platform: matches!(a.tenants, TenantScope::All),
            can_declare: authorize(&a, Action::ManageIncidents).is_ok(),
            from_alert,
            default_since: chrono::DateTime::from_timestamp(now - 86_400, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M").to_string())
                .unwrap_or_default(),
            now,
        })
    })
    .await
}

fn state_badge(i: &Incident) -> impl IntoView {
    if i.state == "active" {
        view! { <Badge text="in force" tone="red"/> }
    } else {
        view! { <Badge text="ended" tone="gray"/> }
    }
}

fn scope_of(i: &Incident) -> String {
    i.tenant_name
        .clone()
        .unwrap_or_else(|| "Whole platform".to_string())
}

use crate::ui::utc;

/// What an incident freezes and what stays allowed, in the words the banner links to.
fn freeze_card() -> impl IntoView {
    view! {
        <section class="card p-5 grid gap-4 sm:grid-cols-2 text-sm" data-testid="freeze-rules">
            <div>
                <h2 class="font-semibold text-red-800">"Frozen while it holds"</h2>
                <ul class="mt-2 list-disc pl-5 space-y-1 text-zinc-700">
                    <li>"Password resets (except \u{201c}lock now\u{201d})"</li>
                    <li>"Revealing invitation links"</li>
                    <li>"Routing changes: aliases, forwards, catch-alls, the routing policy"</li>
                    <li>"DNS changes, DNS providers and the DNS baselines"</li>
                    <li>"New operators, tenant invitations, changes to who sees which tenant"</li>
                    <li>"New API tokens and mailbox imports"</li>
                    <li>"Approving queued change requests"</li>
                </ul>
            </div>
            <div>
                <h2 class="font-semibold text-emerald-800">"Still allowed"</h2>
                <ul class="mt-2 list-disc pl-5 space-y-1 text-zinc-700">
                    <li>"Locking mailboxes, revoking sessions, tokens and app passwords"</li>
                    <li>"Disabling routes, offboarding"</li>
                    <li>"Rolling back an applied change, restoring the DNS baseline (and approving those)"</li>
                    <li>"Reading everything, exporting the audit log"</li>
                </ul>
            </div>
        </section>
    }
}

#[component]
pub fn IncidentsPageView() -> impl IntoView {
    let query = use_query_map();
    let alert = move || query.read().get("alert").unwrap_or_default();
    let data = Resource::new(alert, get_incidents_page);
    signed_in_page(
        "Incidents",
        Some("Incidents"),
        "When something is wrong: declare an incident for a tenant or the whole platform. Risky operations freeze at once for everyone concerned; protective ones stay allowed. Ending it takes a second person.",
        data,
        |p: IncidentsPage| {
            let now = p.now;
            let declare = p.can_declare.then(|| {
                let (alert_id, alert_tenant, alert_title) = p.from_alert.clone().map(|(a, t, ti)| (Some(a), t, Some(ti))).unwrap_or((None, None, None));
                view! {
                    <section class="card p-5 space-y-3" data-testid="declare">
                        <h2 class="text-lg font-semibold">"Declare an incident"</h2>
                        {alert_title.clone().map(|t| view! { <p class="text-sm text-zinc-600">"From the alert: "<span class="font-medium">{t}</span></p> })}
                        <form method="post" action="/incidents" class="grid gap-3 sm:grid-cols-2">
                            {alert_id.map(|a| view! { <input type="hidden" name="alert_id" value=a/> })}
                            <label class="text-sm">"Scope"
                                <select class="input mt-1 w-full" name="tenant" data-testid="declare-tenant">
                                    {p.platform.then(|| view! { <option value="">"Whole platform"</option> })}
                                    {p.tenants.iter().map(|(slug, name)| {
                                        let selected = alert_tenant.as_deref() == Some(slug.as_str());
                                        view! { <option value=slug.clone() selected=selected>{name.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            </label>
                            <label class="text-sm">"Distrust what happened since (T, UTC)"
                                <input class="input mt-1 w-full" type="datetime-local" name="since" value=p.default_since.clone() required/>
                            </label>
                            <label class="text-sm sm:col-span-2">"Title"
                                <input class="input mt-1 w-full" name="title" required minlength="3" maxlength="200"
                                    placeholder="Suspected takeover of an operator account" value=alert_title.unwrap_or_default()/>
                            </label>
                            <label class="text-sm sm:col-span-2">"Why"
                                <textarea class="input mt-1 w-full" name="reason" rows="3" required minlength="4" maxlength="4000"
                                    placeholder="What was seen, by whom, and what is suspected"></textarea>
                            </label>
                            <div class="sm:col-span-2">
                                <button class="btn btn-danger" type="submit" data-testid="declare-submit">"Declare and freeze"</button>
                            </div>
                        </form>
                    </section>
                }
            });
            view! {
                {if p.incidents.is_empty() {
                    view! { <EmptyState title="No incidents" hint="None has been declared. Declare one when an account, a domain or a route can no longer be trusted."/> }.into_any()
                } else {
                    view! {
                        <ul class="space-y-3" data-testid="incidents">
                            {p.incidents.into_iter().map(|i| view! {
                                <li class="card p-4 space-y-1" data-testid="incident" data-state=i.state.clone()>
                                    <div class="flex flex-wrap items-center gap-2">
                                        {state_badge(&i)}
                                        <a class="font-medium link" href=format!("/incidents/{}", i.id)>{i.title.clone()}</a>
                                    </div>
                                    <p class="text-sm text-zinc-600">
                                        {format!("{} · declared by {} ", scope_of(&i), i.declared_by_label)}
                                        <Time at=i.declared_at now=now/>
                                        {i.ended_at.map(|t| view! { <span>" · ended "<Time at=t now=now/></span> })}
                                    </p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                {declare}
            }
        },
    )
}

/// A console account one may revoke in an incident.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub email: String,
    pub role: String,
}

/// A revocation done in the incident (from the audit log): when, by whom, what ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Revocation {
    pub at: i64,
    pub by: String,
    /// One line per account.
    pub lines: Vec<String>,
    /// What the mail plane said about live IMAP sessions, when it was asked.
    pub imap: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IncidentPage {
    pub incident: Incident,
    pub can_manage: bool,
    pub candidates: Vec<Candidate>,
    pub revocations: Vec<Revocation>,
    /// The persistence hunt since T (at most 500 shown; the exports hold all).
    pub findings: Vec<super::Finding>,
    pub findings_total: usize,
    /// "Validate domain control": each affected domain's checklist, and how many domains
    /// the incident concerns (a platform incident lists the first 100).
    pub checks: Vec<super::DomainChecklist>,
    pub checks_total: usize,
    /// Outside services that recover through the concerned mailboxes (email as identity).
    pub identities: Vec<crate::mailboxes::Identity>,
    /// The signed-in person asked to end it (so someone else confirms).
    pub asked_by_me: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_incident_page(id: String) -> Result<PageData<IncidentPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let incident = super::service::get(&c.st, &a, &id).await?;
        let asked_by_me = incident.end_requested_at.is_some()
            && incident.end_requested_by_label.as_deref() == Some(a.label.as_str());
        let can_manage = authorize(&a, Action::ManageIncidents).is_ok();
        // Accounts that reach the incident's tenant (or, platform-wide, every account).
        let mut candidates = Vec::new();
        if can_manage && incident.state == "active" {
            let me = a.user_id.clone().unwrap_or_default();
            let keep = |u: &crate::auth::OperatorView| {
                u.id != me && u.status == crate::auth::AccountStatus::Active
            };
            if let Ok((staff, _)) = crate::auth::service::operators(&c.st, &a).await {
                for u in staff.iter().filter(|u| keep(u)) {
                    let reaches = match (&incident.tenant_id, &u.tenant_ids) {
                        (Some(t), Some(ids)) => ids.contains(t),
                        _ => true,
                    };
                    if reaches && u.role != crate::auth::Role::ClientViewer && u.role != crate::auth::Role::TenantAdmin {
                        candidates.push(Candidate { id: u.id.clone(), email: u.email.clone(), role: u.role.label().into() });
                    } else if incident.tenant_id.is_none() {
                        candidates.push(Candidate { id: u.id.clone(), email: u.email.clone(), role: u.role.label().into() });
                    }
                }
            }
            if let Some(t) = &incident.tenant_id {
                if let Ok((people, _)) = crate::auth::service::tenant_people(&c.st, &a, t).await {
                    for u in people.iter().filter(|u| keep(u)) {
                        candidates.push(Candidate { id: u.id.clone(), email: u.email.clone(), role: u.role.label().into() });
                    }
                }
            }
        }
        let events = crate::audit::service::about(
            &c.st.db,
            &a.tenants,
            &incident.id,
            crate::audit::service::Actions::OneOf(&["incident.revoked", "incident.sessions_kicked"]),
            100,
        )
        .await?;
        let mut revocations: Vec<Revocation> = Vec::new();
        // Oldest first, so each kick report joins the revocation before it.
        for e in events.iter().rev() {
            let d: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            if e.action == "incident.revoked" {
                let lines = d["accounts"].as_array().cloned().unwrap_or_default().iter().map(|x| {
                    let what = if x["kind"] == "user" {
                        format!("{} sessions and {} API tokens ended", x["sessions"], x["tokens"])
                    } else {
                        format!("{} self-service sessions ended, {} app passwords revoked", x["sessions"], x["app_passwords"])
                    };
                    let off = if x["disabled"] == true {
                        if x["kind"] == "user" { ", account disabled" } else { ", mailbox locked" }
                    } else { "" };
                    format!("{}: {what}{off}", x["label"].as_str().unwrap_or_default())
                }).collect();
                revocations.push(Revocation { at: e.at, by: e.actor_label.clone(), lines, imap: None });
            } else if let Some(last) = revocations.last_mut() {
                last.imap = Some(match d["problem"].as_str() {
                    Some(p) => p.to_string(),
                    None => {
                        let ended: i64 = d["mailboxes"].as_array().map(|m| m.iter().filter_map(|x| x["imap_ended"].as_i64()).sum()).unwrap_or(0);
                        format!("The mail plane disconnected the live IMAP sessions of {ended} mailbox(es) at once; the others had none open.")
                    }
                });
            }
        }
        revocations.reverse();
        let (_, mut findings) = super::service::hunt(&c.st, &a, &incident.id).await?;
        let findings_total = findings.len();
        let (checks, checks_total) = super::service::checklist(&c.st, &a, &incident.id).await?;
        let identities =
            crate::mailboxes::service::identities_in(&c.st, &a, incident.tenant_id.as_deref())
                .await?;
        // Newest first on the page.
        findings.reverse();
        findings.truncate(500);
        Ok(IncidentPage {
            incident,
            can_manage,
            candidates,
            revocations,
            findings,
            findings_total,
            checks,
            checks_total,
            identities,
            asked_by_me,
            now: c.st.clock.now(),
        })
    })
    .await
}

#[component]
pub fn IncidentPageView() -> impl IntoView {
    let params = use_params_map();
    let id = move || crate::ui::param(&params.read(), "id").unwrap_or_default();
    let data = Resource::new(id, get_incident_page);
    signed_in_page(
        "Incident",
        Some("Incidents"),
        "What it freezes, since when, who declared it, and ending it (a second person confirms).",
        data,
        |p: IncidentPage| {
            let i = p.incident.clone();
            let now = p.now;
            let active = i.state == "active";
            let id = i.id.clone();
            let end = (p.can_manage && active).then(|| {
                match (&i.end_requested_by_label, p.asked_by_me) {
                    (None, _) => view! {
                        <form method="post" action=format!("/incidents/{id}/end") class="space-y-2" data-testid="request-end">
                            <label class="text-sm block">"Why it can end: what was found, what was done"
                                <textarea class="input mt-1 w-full" name="note" rows="3" required minlength="4" maxlength="4000"></textarea>
                            </label>
                            <button class="btn btn-secondary" type="submit">"Ask to end the incident"</button>
                            <p class="text-xs text-zinc-500">"Another person confirms; until then the freeze holds."</p>
                        </form>
                    }.into_any(),
                    (Some(by), true) => view! {
                        <div class="space-y-2" data-testid="end-asked">
                            <p class="text-sm">{format!("You asked to end it. Another person with the right to handle incidents confirms (asked {}).", crate::ui::relative(i.end_requested_at.unwrap_or(now), now))}</p>
                            <p class="text-sm italic text-zinc-600">{format!("\u{201c}{}\u{201d} \u{2014} {by}", i.end_note.clone().unwrap_or_default())}</p>
                            <form method="post" action=format!("/incidents/{id}/keep-open")>
                                <button class="btn btn-secondary" type="submit">"Withdraw: keep it in force"</button>
                            </form>
                        </div>
                    }.into_any(),
                    (Some(by), false) => view! {
                        <div class="space-y-2" data-testid="end-asked">
                            <p class="text-sm">{format!("{by} asks to end it:")}</p>
                            <p class="text-sm italic text-zinc-600">{format!("\u{201c}{}\u{201d}", i.end_note.clone().unwrap_or_default())}</p>
                            <div class="flex flex-wrap gap-2">
                                <form method="post" action=format!("/incidents/{id}/end/confirm")>
                                    <button class="btn btn-primary" type="submit" data-testid="confirm-end">"Confirm: end the incident"</button>
                                </form>
                                <form method="post" action=format!("/incidents/{id}/keep-open")>
                                    <button class="btn btn-secondary" type="submit">"Not yet: keep it in force"</button>
                                </form>
                            </div>
                        </div>
                    }.into_any(),
                }
            });
            view! {
                <section class="card p-5 space-y-2" data-testid="incident-summary" data-state=i.state.clone()>
                    <div class="flex flex-wrap items-center gap-2">
                        {state_badge(&i)}
                        <h2 class="text-lg font-semibold">{i.title.clone()}</h2>
                    </div>
                    <dl class="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                        <dt class="text-zinc-500">"Scope"</dt><dd>{scope_of(&i)}</dd>
                        <dt class="text-zinc-500">"Distrusted since (T)"</dt><dd>{utc(i.since_at)}</dd>
                        <dt class="text-zinc-500">"Declared"</dt><dd>{format!("{} by {}", utc(i.declared_at), i.declared_by_label)}</dd>
                        {i.alert_id.clone().map(|a| view! { <dt class="text-zinc-500">"From the alert"</dt><dd><a class="link" href="/alerts?state=">{a}</a></dd> })}
                        {i.ended_at.map(|t| view! { <dt class="text-zinc-500">"Ended"</dt><dd>{format!("{} by {} (asked by {})", utc(t), i.ended_by_label.clone().unwrap_or_default(), i.end_requested_by_label.clone().unwrap_or_default())}</dd> })}
                    </dl>
                    <p class="text-sm whitespace-pre-wrap break-words">{i.reason.clone()}</p>
                    {(!active).then(|| i.end_note.clone().map(|n| view! { <p class="text-sm italic text-zinc-600">{format!("Ended because: {n}")}</p> }))}
                    <p class="text-sm"><a class="link" href=format!("/incidents/{}/postmortem", i.id)>"The postmortem →"</a></p>
                    <p class="text-sm"><a class="link" href=format!("/audit?since={}", chrono::DateTime::from_timestamp(i.since_at, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default())>"The audit log since T →"</a></p>
                </section>
                {active.then(freeze_card)}
                {active.then(|| { let held = i.outbound_held_at; let by = i.outbound_held_by_label.clone().unwrap_or_default(); let can = p.can_manage; let id = id.clone(); view! {
                    <section class="card p-5 space-y-3" data-testid="outbound-hold" data-held=held.is_some().to_string()>
                        <div class="flex flex-wrap items-center gap-2">
                            <h2 class="text-lg font-semibold">"Outbound mail"</h2>
                            {if held.is_some() { view! { <Badge text="held" tone="red"/> }.into_any() } else { view! { <Badge text="flowing" tone="green"/> }.into_any() }}
                        </div>
                        {match held {
                            Some(t) => view! { <p class="text-sm text-zinc-600">{format!("Held since {} by {by}: mail the incident's mailboxes submit is accepted and kept in the mail plane's hold queue; nothing leaves. Releasing lets new mail go; what was held stays until someone on the mail host releases it (postsuper -H ALL) or deletes it.", utc(t))}</p> }.into_any(),
                            None => view! { <p class="text-sm text-zinc-600">"Hold it while you find out what was sent: the mail plane accepts what the incident's mailboxes submit and keeps it in its hold queue instead of sending it."</p> }.into_any(),
                        }}
                        {can.then(|| if held.is_some() {
                            view! {
                                <form method="post" action=format!("/incidents/{id}/outbound")>
                                    <input type="hidden" name="hold" value="false"/>
                                    <button class="btn btn-secondary" type="submit" data-testid="release-outbound">"Release: let new mail go"</button>
                                </form>
                            }.into_any()
                        } else {
                            view! {
                                <crate::ui::ConfirmButton action=format!("/incidents/{id}/outbound") label="Hold outbound mail"
                                    question="Mail the incident's mailboxes submit will be kept in the mail plane's hold queue until released."
                                    hidden_name="hold" hidden_value="true"/>
                            }.into_any()
                        })}
                    </section>
                }.into_any() })}
                {(p.can_manage && active).then(|| view! {
                    <section class="card p-5 space-y-3" data-testid="revoke">
                        <h2 class="text-lg font-semibold">"Revoke access"</h2>
                        <p class="text-sm text-zinc-600">"In one step: console accounts lose their sessions and API tokens; mailboxes their self-service sessions and app passwords, and their live IMAP connections end at once. A password reset alone does not end app passwords — this does."</p>
                        <form method="post" action=format!("/incidents/{}/revoke", id.clone()) class="space-y-3">
                            {if p.candidates.is_empty() {
                                view! { <p class="text-sm text-zinc-500">"No other console account reaches this tenant."</p> }.into_any()
                            } else {
                                view! {
                                    <fieldset class="space-y-1">
                                        <legend class="text-sm font-medium">"Console accounts"</legend>
                                        {p.candidates.iter().map(|c| view! {
                                            <label class="flex items-center gap-2 text-sm">
                                                <input type="checkbox" name="users" value=c.id.clone()/>
                                                <span>{c.email.clone()}</span>
                                                <span class="text-xs text-zinc-500">{c.role.clone()}</span>
                                            </label>
                                        }).collect_view()}
                                    </fieldset>
                                }.into_any()
                            }}
                            <label class="text-sm block">"Mailboxes (one address per line)"
                                <textarea class="input mt-1 w-full font-mono" name="mailboxes" rows="3" placeholder="ann@example.com"></textarea>
                            </label>
                            <label class="flex items-center gap-2 text-sm">
                                <input type="checkbox" name="disable" value="on"/>
                                "Also disable the accounts and lock the mailboxes"
                            </label>
                            <button class="btn btn-danger" type="submit" data-testid="revoke-submit">"Revoke now"</button>
                        </form>
                    </section>
                })}
                <ControlChecklist checks=p.checks.clone() total=p.checks_total incident=i.id.clone() can_confirm={p.can_manage && active} now=now/>
                <section class="card p-5 space-y-2" data-testid="incident-identities">
                    <h2 class="text-lg font-semibold">"Accounts elsewhere that recover through these mailboxes"</h2>
                    <p class="text-sm text-zinc-600">"Whoever held one of these mailboxes could reset the outside account: check each one's recent sign-ins and recovery settings."</p>
                    {if p.identities.is_empty() {
                        view! { <p class="text-sm text-zinc-500">"None listed. Mailbox owners list them at /me; operators on each mailbox's page."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="text-sm divide-y divide-zinc-100">
                                {p.identities.iter().map(|x| view! {
                                    <li class="py-1 flex flex-wrap gap-2" data-testid="incident-identity">
                                        <a class="link font-mono" href=format!("/mailboxes/{}#identities", x.mailbox_id)>{x.address.clone()}</a>
                                        <span class="font-medium">{x.service.clone()}</span>
                                        {(!x.note.is_empty()).then(|| view! { <span class="text-zinc-600">{x.note.clone()}</span> })}
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </section>
                {(p.can_manage && active).then(|| view! {
                    <section class="card p-5 space-y-3" data-testid="restore">
                        <h2 class="text-lg font-semibold">"Restore the known-good DNS baseline"</h2>
                        <p class="text-sm text-zinc-600">"Plans a bulk DNS change that brings the tenant's domains back to their baseline, every record set read live first: a canary domain, then batches, each verified on every nameserver and rolled back by itself if it fails. Another person approves it; the freeze lets restores through. Routes are reverted from the hunt below."</p>
                        <form method="post" action=format!("/incidents/{}/restore", id.clone()) class="flex flex-wrap items-end gap-2">
                            {i.tenant_id.is_none().then(|| view! {
                                <label class="text-sm">"Tenant (short name)"
                                    <input class="input mt-1" name="tenant" required/>
                                </label>
                            })}
                            <label class="text-sm">"One domain only (optional)"
                                <input class="input mt-1" name="domain" placeholder="every domain"/>
                            </label>
                            <button class="btn btn-primary" type="submit" data-testid="restore-submit">"Plan the restore"</button>
                        </form>
                    </section>
                })}
                <section class="card p-5 space-y-3" data-testid="hunt">
                    <div class="flex flex-wrap items-baseline justify-between gap-2">
                        <h2 class="text-lg font-semibold">{format!("Persistence hunt since T ({})", p.findings_total)}</h2>
                        <p class="text-sm flex gap-3">
                            <a class="link" href=format!("/incidents/{}/hunt.csv", id.clone())>"CSV"</a>
                            <a class="link" href=format!("/incidents/{}/hunt.json", id.clone())>"JSON"</a>
                        </p>
                    </div>
                    <p class="text-sm text-zinc-600">"Everything created or changed since T that can keep an intruder in: routes leaving the tenant, app passwords, API tokens, new accounts and wider scopes, invitations, policies, DNS changes, reset links. Newest first."</p>
                    {if p.findings.is_empty() {
                        view! { <p class="text-sm text-zinc-500">"Nothing found since T."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="divide-y divide-zinc-100" data-testid="findings">
                                {p.findings.iter().map(|f| view! {
                                    <li class="py-2 flex flex-wrap items-start justify-between gap-2" data-testid="finding" data-kind=f.kind.clone() data-live=f.live.to_string()>
                                        <div class="min-w-0 text-sm">
                                            <p class="break-words">
                                                {if f.live { view! { <Badge text="in effect" tone="red"/> }.into_any() } else { view! { <Badge text="gone" tone="gray"/> }.into_any() }}
                                                " "<span class="font-medium">{f.what.clone()}</span>
                                            </p>
                                            <p class="text-xs text-zinc-500">
                                                {format!("{} · by {}", utc(f.at), f.by)}
                                                {f.approved_by.clone().map(|a| format!(" · approved by {a}"))}
                                                {f.evidence.map(|seq| view! { " · "<a class="link" href=format!("/audit?before={}", seq + 1)>{format!("event #{seq}")}</a> })}
                                            </p>
                                        </div>
                                        {f.revert.clone().map(|r| view! {
                                            <form method="post" action=r.form.clone()>
                                                {r.fields.iter().map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone()/> }).collect_view()}
                                                <button class="btn btn-secondary py-1" type="submit" data-testid="revert">{r.label.clone()}</button>
                                            </form>
                                        })}
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                </section>
                {(!p.revocations.is_empty()).then(|| view! {
                    <section class="card p-5 space-y-3" data-testid="revocations">
                        <h2 class="text-lg font-semibold">"Revocation receipts"</h2>
                        {p.revocations.iter().map(|r| view! {
                            <div class="text-sm space-y-1 border-t border-zinc-100 pt-2 first:border-0 first:pt-0">
                                <p class="text-zinc-500">{format!("{} by {}", utc(r.at), r.by)}</p>
                                <ul class="list-disc pl-5">{r.lines.iter().map(|l| view! { <li>{l.clone()}</li> }).collect_view()}</ul>
                                {r.imap.clone().map(|m| view! { <p class="text-zinc-600">{m}</p> })}
                            </div>
                        }).collect_view()}
                    </section>
                })}
                {end.map(|e| view! { <section class="card p-5">{e}</section> })}
            }
        },
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PostmortemPage {
    pub pm: super::Postmortem,
    pub can_edit: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_postmortem_page(id: String) -> Result<PageData<PostmortemPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let pm = super::service::postmortem(&c.st, &a, &id).await?;
        Ok(PostmortemPage {
            pm,
            can_edit: authorize(&a, Action::ManageIncidents).is_ok(),
            now: c.st.clock.now(),
        })
    })
    .await
}

#[component]
pub fn PostmortemPageView() -> impl IntoView {
    let params = use_params_map();
    let id = move || crate::ui::param(&params.read(), "id").unwrap_or_default();
    let data = Resource::new(id, get_postmortem_page);
    signed_in_page(
        "Postmortem",
        Some("Incidents"),
        "What happened, what changed and who approved it — from the audit log — and what people learned: the root cause, the control that would have blocked it, follow-up actions with owners.",
        data,
        |p: PostmortemPage| {
            let pm = p.pm.clone();
            let i = pm.incident.clone();
            let id = i.id.clone();
            let actions_text = pm
                .written
                .actions
                .iter()
                .map(|a| format!("{} | {}", a.what, a.owner))
                .collect::<Vec<_>>()
                .join("\n");
            view! {
                <section class="card p-5 space-y-2" data-testid="postmortem-summary">
                    <div class="flex flex-wrap items-center justify-between gap-2">
                        <h2 class="text-lg font-semibold">{i.title.clone()}</h2>
                        <p class="text-sm flex gap-3">
                            <a class="link" href=format!("/incidents/{id}/postmortem.md")>"Markdown"</a>
                            {p.can_edit.then(|| view! { <a class="link" href=format!("/incidents/{id}")>"The incident →"</a> })}
                        </p>
                    </div>
                    <p class="text-sm text-zinc-600">
                        {format!("{} · distrusted since {} · declared {} by {}", scope_of(&i), utc(i.since_at), utc(i.declared_at), i.declared_by_label)}
                        {i.ended_at.map(|t| format!(" · ended {}", utc(t)))}
                    </p>
                    <p class="text-sm whitespace-pre-wrap break-words">{i.reason.clone()}</p>
                    {pm.updated_by.clone().map(|by| view! { <p class="text-xs text-zinc-500">{format!("Last edited by {by}, {}", crate::ui::relative(pm.updated_at.unwrap_or(p.now), p.now))}{if pm.written.shared { " · shared with the tenant's client viewers" } else { "" }}</p> })}
                </section>
                {if p.can_edit {
                    view! {
                        <section class="card p-5 space-y-3" data-testid="postmortem-form">
                            <h2 class="text-lg font-semibold">"What we learned"</h2>
                            <form method="post" action=format!("/incidents/{id}/postmortem") class="space-y-3">
                                <label class="text-sm block">"Root cause"
                                    <textarea class="input mt-1 w-full" name="root_cause" rows="4" maxlength="20000">{pm.written.root_cause.clone()}</textarea>
                                </label>
                                <label class="text-sm block">"The control that would have blocked it"
                                    <textarea class="input mt-1 w-full" name="blocking_control" rows="3" maxlength="20000">{pm.written.blocking_control.clone()}</textarea>
                                </label>
                                <label class="text-sm block">"Follow-up actions, one per line: what | owner"
                                    <textarea class="input mt-1 w-full font-mono" name="actions" rows="4" placeholder="Require a second approver for forwards | Olivia">{actions_text}</textarea>
                                </label>
                                {i.tenant_id.is_some().then(|| view! {
                                    <label class="flex items-center gap-2 text-sm">
                                        <input type="checkbox" name="shared" value="on" checked=pm.written.shared/>
                                        "Show this postmortem to the tenant's client viewers"
                                    </label>
                                })}
                                <button class="btn btn-primary" type="submit" data-testid="postmortem-save">"Save the postmortem"</button>
                            </form>
                        </section>
                    }.into_any()
                } else {
                    view! {
                        <section class="card p-5 space-y-3 text-sm" data-testid="postmortem-written">
                            <h2 class="text-lg font-semibold">"What we learned"</h2>
                            <h3 class="font-medium">"Root cause"</h3>
                            <p class="whitespace-pre-wrap">{pm.written.root_cause.clone()}</p>
                            <h3 class="font-medium">"The control that would have blocked it"</h3>
                            <p class="whitespace-pre-wrap">{pm.written.blocking_control.clone()}</p>
                            <h3 class="font-medium">"Follow-up actions"</h3>
                            <ul class="list-disc pl-5">{pm.written.actions.iter().map(|a| view! { <li>{format!("{} — {}", a.what, a.owner)}</li> }).collect_view()}</ul>
                        </section>
                    }.into_any()
                }}
                <section class="card p-5 space-y-2" data-testid="postmortem-changes">
                    <h2 class="text-lg font-semibold">{format!("What changed since T ({})", pm.findings.len())}</h2>
                    <ul class="space-y-2 text-sm">
                        {pm.findings.iter().map(|f| view! {
                            <li>
                                <p class="break-words">
                                    {if f.live { view! { <Badge text="in effect" tone="red"/> }.into_any() } else { view! { <Badge text="gone" tone="gray"/> }.into_any() }}
                                    " "<span class="font-medium">{f.what.clone()}</span>
                                </p>
                                <p class="text-xs text-zinc-500">{format!("{} · by {}{} · control: {}", utc(f.at), f.by, f.approved_by.clone().map(|a| format!(" · approved by {a}")).unwrap_or_default(), f.control)}</p>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
                <section class="card p-5 space-y-2" data-testid="timeline">
                    <h2 class="text-lg font-semibold">{format!("Timeline ({} events{})", pm.timeline.len(), if pm.timeline_truncated { ", the first 1,000" } else { "" })}</h2>
                    <div class="overflow-x-auto">
                        <table class="w-full text-sm">
                            <thead><tr class="text-left text-zinc-500"><th class="py-1 pr-3">"Time (UTC)"</th><th class="py-1 pr-3">"Who"</th><th class="py-1 pr-3">"What"</th><th class="py-1">"Object"</th></tr></thead>
                            <tbody>
                                {pm.timeline.iter().map(|e| view! {
                                    <tr class="border-t border-zinc-100">
                                        <td class="py-1 pr-3 whitespace-nowrap">{utc(e.at)}</td>
                                        <td class="py-1 pr-3 break-all">{e.actor.clone()}</td>
                                        <td class="py-1 pr-3 font-mono text-xs">{e.action.clone()}</td>
                                        <td class="py-1 font-mono text-xs break-all">{e.target.clone().unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                </section>
            }
        },
    )
}

/// "Validate domain control": per affected domain, what the registry says and each item
/// confirmed by a named person (or a button to confirm it).
#[component]
fn ControlChecklist(
    checks: Vec<super::DomainChecklist>,
    total: usize,
    incident: String,
    can_confirm: bool,
    now: i64,
) -> impl IntoView {
    let shown = checks.len();
    let confirmed: usize = checks
        .iter()
        .map(|c| c.items.iter().filter(|i| i.confirmed_at.is_some()).count())
        .sum();
    let all = checks.iter().map(|c| c.items.len()).sum::<usize>();
    view! {
        <section class="card p-5 space-y-3" id="control" data-testid="control-checklist">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="text-lg font-semibold">"Validate domain control"</h2>
                <span class="text-sm text-zinc-600" data-testid="checks-count">{format!("{confirmed} of {all} confirmed")}</span>
            </div>
            <p class="text-sm text-zinc-600">"Whoever holds a registrar or DNS account can move the domain, and its mail, elsewhere. Confirm each item with the registrar and provider themselves, not from memory."</p>
            {(total > shown).then(|| view! { <p class="text-sm text-amber-800">{format!("{shown} of {total} domains listed: validate the others per tenant.")}</p> })}
            {if checks.is_empty() {
                view! { <p class="text-sm text-zinc-500">"No domains are concerned."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-4">
                        {checks.into_iter().map(|d| {
                            let c = d.control.clone();
                            let facts = if c.recorded {
                                format!(
                                    "Registrar {} · account held by {} · recovery {} · MFA {} · expires {}",
                                    if c.registrar.is_empty() { "—" } else { c.registrar.as_str() },
                                    if c.registrar_account.is_empty() { "—" } else { c.registrar_account.as_str() },
                                    if c.recovery_address.is_empty() { "—" } else { c.recovery_address.as_str() },
                                    match c.mfa { Some(true) => "on", Some(false) => "off", None => "not recorded" },
                                    c.expires_at.map(crate::domain_control::date_of).unwrap_or_else(|| "—".into()),
                                )
                            } else {
                                "Nothing recorded about who controls this domain.".to_string()
                            };
                            let incident = incident.clone();
                            view! {
                                <li class="rounded-lg border border-zinc-200 p-3 space-y-2" data-testid="checklist-domain" data-domain=d.domain.clone()>
                                    <div class="flex flex-wrap items-center gap-2">
                                        <a class="font-medium link" href=format!("/domains/{}/control", d.domain_id)>{d.domain.clone()}</a>
                                        {c.warnings.first().map(|w| view! { <Badge text=format!("{} warning{}", c.warnings.len(), if c.warnings.len() == 1 { "" } else { "s" }) tone=crate::domain_control::tone(&w.severity)/> })}
                                    </div>
                                    <p class="text-xs text-zinc-600 break-words">{facts}</p>
                                    <ul class="space-y-1">
                                        {d.items.into_iter().map(|it| {
                                            let done = it.confirmed_at;
                                            view! {
                                                <li class="text-sm flex flex-wrap items-center gap-2" data-testid="check-item" data-item=it.item.clone() data-done=done.is_some().to_string()>
                                                    {if let (Some(at), Some(by)) = (done, it.confirmed_by.clone()) {
                                                        view! {
                                                            <span class="text-green-700" aria-hidden="true">"\u{2713}"</span>
                                                            <span>{it.label.clone()}</span>
                                                            <span class="text-xs text-zinc-500">{format!("confirmed by {by}, ")}<Time at=at now=now/>{(!it.note.is_empty()).then(|| format!(" — {}", it.note))}</span>
                                                        }.into_any()
                                                    } else if can_confirm {
                                                        view! {
                                                            <span class="text-zinc-400" aria-hidden="true">"\u{25CB}"</span>
                                                            <span>{it.label.clone()}</span>
                                                            <form method="post" action=format!("/incidents/{incident}/checks") class="flex flex-wrap items-center gap-1">
                                                                <input type="hidden" name="domain" value=d.domain_id.clone()/>
                                                                <input type="hidden" name="item" value=it.item.clone()/>
                                                                <label class="sr-only" for=format!("note-{}-{}", d.domain_id, it.item)>"Note"</label>
                                                                <input class="input py-1 text-xs w-48" id=format!("note-{}-{}", d.domain_id, it.item) name="note" maxlength="1000" placeholder="How it was checked (optional)"/>
                                                                <button class="btn btn-secondary py-1 text-xs" type="submit" data-testid="check-confirm">"Confirm"</button>
                                                            </form>
                                                        }.into_any()
                                                    } else {
                                                        view! {
                                                            <span class="text-zinc-400" aria-hidden="true">"\u{25CB}"</span>
                                                            <span class="text-zinc-600">{it.label.clone()}" — not confirmed"</span>
                                                        }.into_any()
                                                    }}
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
