//! The alert inbox (`/alerts`): what the signals raised, newest first, with acknowledge and
//! resolve (and a note) for those who may.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use super::{severity_tone, Alert};
use crate::auth::PageData;
use crate::ui::{signed_in_page, Badge, EmptyState, Time};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlertsPage {
    pub alerts: Vec<Alert>,
    /// The state shown: `open`, `acknowledged`, `resolved`, or "" for all not resolved.
    pub state: String,
    pub can_manage: bool,
    /// Owners and operators may declare an incident from an alert.
    pub can_declare: bool,
    /// A client viewer (who sees only what the tenant shares).
    pub viewer: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_alerts_page(state: String) -> Result<PageData<AlertsPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let s = (!state.is_empty()).then_some(state.as_str());
        let alerts = super::service::alerts(&c.st, &a, s).await?;
        Ok(AlertsPage {
            alerts,
            state: state.clone(),
            can_manage: authorize(&a, Action::ManageAlerts).is_ok(),
            can_declare: authorize(&a, Action::ManageIncidents).is_ok(),
            viewer: a.role == Some(crate::auth::Role::ClientViewer),
            now: c.st.clock.now(),
        })
    })
    .await
}

fn state_badge(s: &str) -> impl IntoView {
    let (text, tone) = match s {
        "open" => ("open", "red"),
        "acknowledged" => ("acknowledged", "amber"),
        _ => ("resolved", "green"),
    };
    view! { <Badge text=text tone=tone/> }
}

/// The facts of an alert as "key: value" pairs.
fn facts(detail: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(a) => a
                            .iter()
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        v => v.to_string(),
                    };
                    format!("{}: {v}", k.replace('_', " "))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

#[component]
pub fn AlertsPageView() -> impl IntoView {
    let query = use_query_map();
    let state = move || query.read().get("state").unwrap_or_default();
    let data = Resource::new(state, get_alerts_page);
    signed_in_page(
        "Alerts",
        Some("Alerts"),
        "What the signals raised: failed sign-in bursts, logins from new networks or at unusual hours, DNS drift, failing DMARC, forwarding turned on, reset bursts. One alert per cause while it is not resolved.",
        data,
        |p: AlertsPage| {
            let tabs = [("", "Not resolved"), ("open", "Open"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved")];
            let now = p.now;
            let can_manage = p.can_manage;
            let can_declare = p.can_declare;
            let viewer = p.viewer;
            view! {
                {(!viewer).then(|| view! {
                    <p class="flex flex-wrap gap-4 text-sm">
                        <a class="link" href="/alerts/destinations">"Where alerts are sent →"</a>
                        <a class="link" href="/alerts/rules">"Each tenant's rules →"</a>
                    </p>
                })}
                <nav class="flex flex-wrap gap-2 text-sm" aria-label="Alert states" data-testid="alert-tabs">
                    {tabs.into_iter().map(|(s, label)| {
                        let href = if s.is_empty() { "/alerts".to_string() } else { format!("/alerts?state={s}") };
                        let current = p.state == s;
                        view! {
                            <a href=href class=if current { "btn btn-primary" } else { "btn btn-secondary" } aria-current=current.then_some("page")>{label}</a>
                        }
                    }).collect_view()}
                </nav>
                {if p.alerts.is_empty() {
                    if viewer {
                        view! { <EmptyState title="No alerts shown here" hint="Your tenant's alerts appear here when your agency shares them with client viewers."/> }.into_any()
                    } else {
                        view! { <EmptyState title="No alerts" hint="Nothing has fired here. Alerts appear when a signal crosses its threshold."/> }.into_any()
                    }
                } else {
                    view! {
                        <ul class="space-y-3" data-testid="alerts">
                            {p.alerts.into_iter().map(|a| {
                                let id = a.id.clone();
                                view! {
                                    <li class="card p-4 space-y-2" data-testid="alert" data-rule=a.rule.clone() data-state=a.state.clone()>
                                        <div class="flex flex-wrap items-center gap-2">
                                            <Badge text=a.severity.clone() tone=severity_tone(&a.severity)/>
                                            {state_badge(&a.state)}
                                            <span class="font-medium">{a.title.clone()}</span>
                                        </div>
                                        <p class="text-sm text-zinc-600">
                                            {a.tenant_name.clone().map(|t| format!("{t} · ")).unwrap_or_else(|| "Platform · ".into())}
                                            {format!("{} · ", a.rule)}
                                            {if a.hits > 1 { format!("fired {} times · first ", a.hits) } else { "raised ".to_string() }}
                                            <Time at=a.first_at now=now/>
                                            {(a.hits > 1).then(|| view! { <span>" · last "<Time at=a.last_at now=now/></span> })}
                                        </p>
                                        <p class="text-sm text-zinc-700 break-words">{facts(&a.detail)}</p>
                                        {a.acked_by.clone().map(|by| view! { <p class="text-xs text-zinc-500">{format!("Acknowledged by {by}")}</p> })}
                                        {a.resolved_by.clone().map(|by| view! { <p class="text-xs text-zinc-500">{format!("Resolved by {by}")}</p> })}
                                        {a.note.clone().map(|n| view! { <p class="text-sm italic text-zinc-600">{format!("Note: {n}")}</p> })}
                                        <p class="text-xs text-zinc-500 break-words" data-testid="evidence">
                                            "Behind it: "
                                            {a.evidence.iter().rev().take(8).map(|e| match e.strip_prefix("audit:").and_then(|n| n.parse::<i64>().ok()) {
                                                Some(seq) => view! { <a class="link mr-2" href=format!("/audit?before={}", seq + 1)>{format!("event #{seq}")}</a> }.into_any(),
                                                None => match e.strip_prefix("control:") {
                                                    Some(d) => view! { <a class="link mr-2" href=format!("/domains/{d}/control")>"the domain-control record"</a> }.into_any(),
                                                    None => view! { <span class="mr-2">{e.replace("failure:", "failed sign-in ").replace("login:", "login ")}</span> }.into_any(),
                                                },
                                            }).collect_view()}
                                        </p>
                                        {(can_declare && a.state != "resolved").then(|| view! {
                                            <p class="text-sm"><a class="link text-red-700" href=format!("/incidents?alert={}", a.id) data-testid="declare-from-alert">"Declare an incident from this alert \u{2192}"</a></p>
                                        })}
                                        {(can_manage && a.state != "resolved").then(|| view! {
                                            <div class="flex flex-wrap items-end gap-2">
                                                <form method="post" action=format!("/alerts/{id}/acknowledge") class="flex flex-wrap items-end gap-2">
                                                    {(a.state == "open").then(|| view! {
                                                        <label class="sr-only" for=format!("note-{id}")>"Note"</label>
                                                        <input class="input w-64 max-w-full" id=format!("note-{id}") name="note" placeholder="Note (optional)" maxlength="2000"/>
                                                        <button class="btn btn-secondary" type="submit" data-testid="acknowledge">"Acknowledge"</button>
                                                    })}
                                                </form>
                                                <form method="post" action=format!("/alerts/{id}/resolve") class="flex flex-wrap items-end gap-2">
                                                    <label class="sr-only" for=format!("rnote-{id}")>"Resolution note"</label>
                                                    <input class="input w-64 max-w-full" id=format!("rnote-{id}") name="note" placeholder="What was it? (optional)" maxlength="2000"/>
                                                    <button class="btn btn-primary" type="submit" data-testid="resolve">"Resolve"</button>
                                                </form>
                                            </div>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            }
        },
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DestinationsPage {
    pub destinations: Vec<super::Destination>,
    /// Tenants one may add a destination for: (short name, name).
    pub tenants: Vec<(String, String)>,
    /// Owners and operators may add destinations for every alert.
    pub platform: bool,
    pub can_manage: bool,
    pub fresh: Option<crate::auth::FreshSecret>,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_destinations_page() -> Result<PageData<DestinationsPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action, TenantScope};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let destinations = super::notify::destinations(&c.st, &a).await?;
        let tenants = crate::tenancy::service::tenants(&c.st, &a)
            .await?
            .into_iter()
            .map(|t| (t.slug, t.name))
            .collect();
        let fresh = crate::auth::api::take_fresh(&c).await;
        Ok(DestinationsPage {
            destinations,
            tenants,
            platform: matches!(a.tenants, TenantScope::All),
            can_manage: authorize(&a, Action::ManageAlerts).is_ok(),
            fresh,
            now: c.st.clock.now(),
        })
    })
    .await
}

fn delivery_badge(state: &str) -> impl IntoView {
    let tone = match state {
        "sent" => "green",
        "failed" => "red",
        "queued" | "capped" => "amber",
        _ => "gray",
    };
    view! { <Badge text=state.to_string() tone=tone/> }
}

#[component]
pub fn DestinationsPageView() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_destinations_page());
    signed_in_page(
        "Alert destinations",
        Some("Alerts"),
        "Where alerts are sent: e-mail addresses and signed webhooks (Standard Webhooks). Each message is logged here, retried when it fails.",
        data,
        |p: DestinationsPage| {
            let now = p.now;
            let can_manage = p.can_manage;
            view! {
                {p.fresh.clone().map(|f| view! { <crate::auth::pages::SecretOnce secret=f/> })}
                <p class="text-sm"><a class="link" href="/alerts">"← The alert inbox"</a></p>
                {can_manage.then(|| view! {
                    <section class="card p-5 space-y-3">
                        <h2 class="font-medium">"Add a destination"</h2>
                        <form method="post" action="/alerts/destinations" class="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 items-end" data-testid="add-destination">
                            <div>
                                <label class="label" for="d-kind">"Kind"</label>
                                <select class="input" id="d-kind" name="kind">
                                    <option value="email">"E-mail"</option>
                                    <option value="webhook">"Webhook (signed)"</option>
                                </select>
                            </div>
                            <div class="sm:col-span-2">
                                <label class="label" for="d-target">"Address or URL"</label>
                                <input class="input" id="d-target" name="target" required placeholder="oncall@agency.example or https://hooks.example/mailward"/>
                            </div>
                            <div>
                                <label class="label" for="d-tenant">"Alerts of"</label>
                                <select class="input" id="d-tenant" name="tenant">
                                    {p.platform.then(|| view! { <option value="">"Every tenant and the platform"</option> })}
                                    {p.tenants.iter().map(|(slug, name)| view! { <option value=slug.clone()>{name.clone()}</option> }).collect_view()}
                                </select>
                            </div>
                            <div>
                                <label class="label" for="d-sev">"From severity"</label>
                                <select class="input" id="d-sev" name="min_severity">
                                    <option value="info">"info"</option>
                                    <option value="warning" selected=true>"warning"</option>
                                    <option value="critical">"critical"</option>
                                </select>
                            </div>
                            <div>
                                <label class="label" for="d-cap">"At most per rule and day"</label>
                                <input class="input" id="d-cap" name="daily_cap" type="number" min="1" max="1000" value="20"/>
                            </div>
                            <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="digest"/>"One daily digest instead"</label>
                            <div><button class="btn btn-primary" type="submit">"Add"</button></div>
                        </form>
                    </section>
                })}
                {if p.destinations.is_empty() {
                    view! { <EmptyState title="No destinations" hint="Alerts only show in the inbox until you add an e-mail address or a webhook."/> }.into_any()
                } else {
                    view! {
                        <ul class="space-y-3" data-testid="destinations">
                            {p.destinations.into_iter().map(|d| {
                                let id = d.id.clone();
                                view! {
                                    <li class="card p-4 space-y-2" data-testid="destination" data-kind=d.kind.clone()>
                                        <div class="flex flex-wrap items-center gap-2">
                                            <Badge text=d.kind.clone() tone="gray"/>
                                            <span class="font-medium break-all">{d.target.clone()}</span>
                                        </div>
                                        <p class="text-sm text-zinc-600">
                                            {format!("{} · from {} · at most {} per rule and day{}",
                                                d.tenant_name.clone().unwrap_or_else(|| "every tenant".into()),
                                                d.min_severity, d.daily_cap,
                                                if d.digest { " · daily digest" } else { "" })}
                                            {d.rotating_until.map(|u| view! { <span>" · previous secret signs too until "<Time at=u now=now/></span> })}
                                        </p>
                                        {can_manage.then(|| view! {
                                            <div class="flex flex-wrap gap-2">
                                                <form method="post" action=format!("/alerts/destinations/{id}/test")>
                                                    <button class="btn btn-secondary" type="submit" data-testid="test-send">"Send a test"</button>
                                                </form>
                                                {(d.kind == "webhook").then(|| view! {
                                                    <form method="post" action=format!("/alerts/destinations/{id}/rotate")>
                                                        <button class="btn btn-secondary" type="submit">"Rotate secret"</button>
                                                    </form>
                                                })}
                                                <form method="post" action=format!("/alerts/destinations/{id}/delete")>
                                                    <button class="btn btn-secondary" type="submit">"Remove"</button>
                                                </form>
                                            </div>
                                        })}
                                        {(!d.deliveries.is_empty()).then(|| view! {
                                            <div class="overflow-x-auto">
                                                <table class="table" data-testid="deliveries">
                                                    <thead><tr><th>"Message"</th><th>"State"</th><th>"Tries"</th><th>"When"</th><th>"Last error"</th></tr></thead>
                                                    <tbody>
                                                        {d.deliveries.iter().map(|m| view! {
                                                            <tr data-state=m.state.clone()>
                                                                <td class="max-w-xs truncate" title=m.subject.clone()>{m.subject.clone()}</td>
                                                                <td>{delivery_badge(&m.state)}</td>
                                                                <td class="tabular-nums">{m.attempts}</td>
                                                                <td class="whitespace-nowrap"><Time at=m.sent_at.unwrap_or(m.created_at) now=now/></td>
                                                                <td class="text-xs text-zinc-600 max-w-xs break-words">{m.last_error.clone().unwrap_or_default()}</td>
                                                            </tr>
                                                        }).collect_view()}
                                                    </tbody>
                                                </table>
                                            </div>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            }
        },
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RulesPage {
    /// Tenants in the actor's scope: (short name, name).
    pub tenants: Vec<(String, String)>,
    /// The chosen tenant's rules (the only tenant, for a tenant's people).
    pub rules: Option<super::TenantRules>,
    pub can_manage: bool,
    /// Owners and operators may loosen rules; a tenant's admin only tightens them.
    pub may_loosen: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_rules_page(tenant: String) -> Result<PageData<RulesPage>, ServerFnError> {
    use crate::auth::Role;
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        authorize(&a, Action::ViewAlerts)?;
        let tenants: Vec<(String, String)> = crate::tenancy::service::tenants(&c.st, &a)
            .await?
            .into_iter()
            .map(|t| (t.slug, t.name))
            .collect();
        let key = if tenant.trim().is_empty() && tenants.len() == 1 {
            tenants[0].0.clone()
        } else {
            tenant.trim().to_string()
        };
        let rules = if key.is_empty() {
            None
        } else {
            Some(super::service::tenant_rules(&c.st, &a, &key).await?)
        };
        Ok(RulesPage {
            tenants,
            rules,
            can_manage: authorize(&a, Action::ManageAlerts).is_ok(),
            may_loosen: matches!(a.role, Some(Role::Owner | Role::Operator)),
            now: c.st.clock.now(),
        })
    })
    .await
}

/// One threshold's field: empty follows the platform's default (shown as the placeholder).
fn threshold_field(
    id: &'static str,
    label: &'static str,
    unit: &'static str,
    value: Option<i64>,
    default: i64,
    disabled: bool,
) -> impl IntoView {
    let (min, max) = super::policy::bounds(id);
    view! {
        <div>
            <label class="label" for=id>{label}</label>
            <div class="flex items-center gap-2">
                <input class="input w-28" id=id name=id type="number" min=min max=max
                    value=value.map(|v| v.to_string()).unwrap_or_default()
                    placeholder=default.to_string() disabled=disabled/>
                <span class="text-sm text-zinc-600">{unit}</span>
            </div>
            <p class="text-xs text-zinc-500">{format!("Platform default: {default} · {min}–{max}")}</p>
        </div>
    }
}

#[component]
pub fn RulesPageView() -> impl IntoView {
    let query = use_query_map();
    let tenant = move || query.read().get("tenant").unwrap_or_default();
    let data = Resource::new(tenant, get_rules_page);
    signed_in_page(
        "Alert rules",
        Some("Alerts"),
        "Each tenant's thresholds: when failed sign-ins, resets, new networks, unusual hours and failing DMARC raise an alert. An empty field follows the platform's default.",
        data,
        |p: RulesPage| {
            let chosen = p.rules.as_ref().map(|r| r.tenant_slug.clone()).unwrap_or_default();
            view! {
                <p class="text-sm"><a class="link" href="/alerts">"← The alert inbox"</a></p>
                {(p.tenants.len() > 1).then(|| view! {
                    <form method="get" action="/alerts/rules" class="flex flex-wrap items-end gap-2" data-testid="rules-tenant">
                        <div>
                            <label class="label" for="r-tenant">"Tenant"</label>
                            <select class="input" id="r-tenant" name="tenant">
                                <option value="">"Choose a tenant"</option>
                                {p.tenants.iter().map(|(slug, name)| {
                                    let selected = p.rules.as_ref().is_some_and(|r| &r.tenant_slug == slug);
                                    view! { <option value=slug.clone() selected=selected>{name.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                        <button class="btn btn-secondary" type="submit">"Show"</button>
                    </form>
                })}
                {match p.rules.clone() {
                    None => view! { <EmptyState title="Choose a tenant" hint="Its alert rules show here."/> }.into_any(),
                    Some(r) => {
                        let locked = !p.can_manage;
                        let d = r.defaults;
                        view! {
                            <section class="card p-5 space-y-4" data-testid="rules">
                                <div class="flex flex-wrap items-baseline justify-between gap-2">
                                    <h2 class="font-medium">{format!("Rules of {}", r.tenant_name)}</h2>
                                    <p class="text-xs text-zinc-500">
                                        {match (&r.updated_by, r.updated_at) {
                                            (Some(by), Some(at)) => view! { <span>{format!("Last changed by {by} ")}<Time at=at now=p.now/></span> }.into_any(),
                                            _ => view! { <span>"Following the platform's defaults"</span> }.into_any(),
                                        }}
                                    </p>
                                </div>
                                {(!p.may_loosen && p.can_manage).then(|| view! {
                                    <p class="text-sm text-zinc-600">"You can make these rules stricter. Loosening one (or turning off the unusual-hours alert) takes an operator of your agency."</p>
                                })}
                                <form method="post" action=format!("/alerts/rules/{chosen}") class="space-y-4">
                                    <fieldset class="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
                                        <legend class="sr-only">"Thresholds"</legend>
                                        {threshold_field("failure_burst", "Failed sign-ins for one account", "failures", r.own.failure_burst, d.failure_burst, locked)}
                                        {threshold_field("failure_minutes", "… within", "minutes", r.own.failure_minutes, d.failure_minutes, locked)}
                                        {threshold_field("new_network_days", "A network is new after", "days unused", r.own.new_network_days, d.new_network_days, locked)}
                                        {threshold_field("reset_burst", "Password resets", "resets", r.own.reset_burst, d.reset_burst, locked)}
                                        {threshold_field("reset_minutes", "… within", "minutes", r.own.reset_minutes, d.reset_minutes, locked)}
                                        {threshold_field("auth_fail_percent", "Own mail failing DMARC", "% of a report", r.own.auth_fail_percent, d.auth_fail_percent, locked)}
                                    </fieldset>
                                    <div class="space-y-2">
                                        <label class="flex items-center gap-2 text-sm">
                                            <input type="checkbox" name="odd_hours" checked=r.own.odd_hours disabled=locked/>
                                            "Alert on mail logins at hours far outside the mailbox's own history"
                                        </label>
                                        <label class="flex items-center gap-2 text-sm">
                                            <input type="checkbox" name="viewers_see" checked=r.own.viewers_see disabled=locked/>
                                            "Client viewers of this tenant see its alerts (read-only)"
                                        </label>
                                    </div>
                                    <p class="text-xs text-zinc-500">
                                        {format!(
                                            "In effect: {} failures in {} min · new after {} days · {} resets in {} min · DMARC {} % · unusual hours {}. Failures from one source address against several tenants follow the platform's thresholds.",
                                            r.effective.failure_burst, r.effective.failure_minutes, r.effective.new_network_days,
                                            r.effective.reset_burst, r.effective.reset_minutes, r.effective.auth_fail_percent,
                                            if r.effective.odd_hours { "on" } else { "off" })}
                                    </p>
                                    {p.can_manage.then(|| view! { <button class="btn btn-primary" type="submit" data-testid="save-rules">"Save rules"</button> })}
                                </form>
                            </section>
                        }.into_any()
                    }
                }}
            }
        },
    )
}
