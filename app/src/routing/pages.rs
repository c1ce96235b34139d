//! Routing pages: the live routes with the request form, a domain's routing history, the
//! persistence report, and the public page where an external recipient confirms a forward.
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use super::{PersistenceItem, Route, RoutingBadges};
use crate::audit::AuditEvent;
use crate::auth::PageData;
use crate::ui::{auth_page, signed_in_page, Badge, EmptyState, Time};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RoutingQuery {
    pub tenant: String,
    pub domain: String,
    pub kind: String,
    pub state: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoutingPage {
    pub routes: Vec<Route>,
    pub badges: RoutingBadges,
    pub can_manage: bool,
    pub query: RoutingQuery,
    /// (slug, name)
    pub tenants: Vec<(String, String)>,
    pub history: Vec<AuditEvent>,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_routing(query: RoutingQuery) -> Result<PageData<RoutingPage>, ServerFnError> {
    use crate::core::authz::{authorize, decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let filter = super::service::RouteFilter {
            tenant: Some(query.tenant.clone()),
            domain: Some(query.domain.clone()),
            state: Some(query.state.clone()),
            kind: Some(query.kind.clone()),
            since: None,
        };
        let routes = super::service::list(&c.st, &a, &filter).await?;
        let badges = super::service::badges(&c.st, &a).await?;
        let g = authorize(&a, Action::ViewTenants)?;
        let tenants = crate::tenancy::store::tenant_names(&c.st.db, &g).await?;
        let history = if query.domain.is_empty() {
            Vec::new()
        } else {
            let d = crate::tenancy::store::domain(&c.st.db, &g, &query.domain)
                .await?
                .filter(|d| g.actor.tenants.contains(&d.tenant_id))
                .ok_or(crate::core::AppError::NotFound)?;
            super::service::history(&c.st, &a, &d.id)
                .await
                .unwrap_or_default()
        };
        Ok(RoutingPage {
            routes,
            badges,
            can_manage: decide(&a, Action::ManageMailboxes),
            query,
            tenants,
            history,
            now: c.st.clock.now(),
        })
    })
    .await
}

pub fn state_tone(state: &str) -> &'static str {
    match state {
        "active" => "green",
        "unconfirmed" => "amber",
        "expired" | "removed" => "gray",
        _ => "gray",
    }
}

#[component]
fn BadgeTile(label: &'static str, value: i64, warn: bool, testid: &'static str) -> impl IntoView {
    let cls = if warn && value > 0 {
        "text-xl font-semibold text-amber-700"
    } else {
        "text-xl font-semibold"
    };
    view! {
        <div class="card px-4 py-3" data-testid=testid>
            <p class="text-xs text-zinc-500">{label}</p>
            <p class=cls>{value}</p>
        </div>
    }
}

/// The four routing numbers (the dashboard shows them too).
#[component]
pub fn RoutingBadgesRow(badges: RoutingBadges) -> impl IntoView {
    view! {
        <div class="grid grid-cols-2 md:grid-cols-4 gap-3" data-testid="routing-badges">
            <BadgeTile label="Domains with catch-all on" value=badges.catchall_domains warn=true testid="badge-catchall"/>
            <BadgeTile label="External forwards" value=badges.external_forwards warn=true testid="badge-forwards"/>
            <BadgeTile label="Expiring within 7 days" value=badges.expiring_within_7_days warn=true testid="badge-expiring"/>
            <BadgeTile label="Routing requests waiting" value=badges.pending_approvals warn=true testid="badge-pending"/>
        </div>
    }
}

#[component]
pub fn RoutingPageView() -> impl IntoView {
    let query = use_query_map();
    let q = move || {
        let m = query.read();
        RoutingQuery {
            tenant: crate::ui::param(&m, "tenant").unwrap_or_default(),
            domain: crate::ui::param(&m, "domain").unwrap_or_default(),
            kind: crate::ui::param(&m, "kind").unwrap_or_default(),
            state: crate::ui::param(&m, "state").unwrap_or_default(),
        }
    };
    let data = Resource::new(q, get_routing);
    signed_in_page(
        "Routing",
        Some("Routing"),
        "Where mail goes besides its mailbox. Aliases stay inside a tenant; external forwards and catch-alls need a second person's approval and always expire.",
        data,
        |p: RoutingPage| {
            let now = p.now;
            let back = if p.query.domain.is_empty() { "/routing".to_string() } else { format!("/routing?domain={}", p.query.domain) };
            let kind = p.query.kind.clone();
            let state = p.query.state.clone();
            let tenant = p.query.tenant.clone();
            view! {
                <RoutingBadgesRow badges=p.badges.clone()/>
                <div class="flex flex-wrap items-end justify-between gap-3">
                    <form method="get" action="/routing" class="flex flex-wrap items-end gap-2" data-testid="routing-filter">
                        <div>
                            <label class="label" for="f-tenant">"Tenant"</label>
                            <select class="input" id="f-tenant" name="tenant">
                                <option value="">"All tenants"</option>
                                {p.tenants.iter().map(|(slug, name)| view! { <option value=slug.clone() selected=*slug == tenant>{name.clone()}</option> }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class="label" for="f-kind">"Kind"</label>
                            <select class="input" id="f-kind" name="kind">
                                {[("", "All kinds"), ("alias", "Aliases"), ("forward", "External forwards"), ("catchall", "Catch-alls"), ("offboarding", "Offboarding aliases")]
                                    .into_iter().map(|(k, l)| view! { <option value=k selected=kind == k>{l}</option> }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class="label" for="f-state">"State"</label>
                            <select class="input" id="f-state" name="state">
                                {[("", "Carrying mail or waiting"), ("expired", "Expired"), ("removed", "Turned off"), ("all", "All")]
                                    .into_iter().map(|(k, l)| view! { <option value=k selected=state == k>{l}</option> }).collect_view()}
                            </select>
                        </div>
                        {(!p.query.domain.is_empty()).then(|| view! { <input type="hidden" name="domain" value=p.query.domain.clone()/> })}
                        <button class="btn btn-secondary" type="submit">"Show"</button>
                    </form>
                    <a class="btn btn-secondary" href="/routing/report" data-testid="report-link">"Persistence report →"</a>
                </div>
                {p.can_manage.then(|| view! { <RequestForm back=back.clone()/> })}
                <section class="card overflow-x-auto" data-testid="routes">
                    <div class="px-5 py-3 border-b border-zinc-200">
                        <h2 class="font-medium">{if p.query.domain.is_empty() { "Routes".to_string() } else { format!("Routes of {}", p.query.domain) }}</h2>
                    </div>
                    {if p.routes.is_empty() {
                        view! { <div class="p-5"><EmptyState title="No routes here" hint="Every mailbox receives only its own mail. Add an alias, or request a forward or catch-all above."/></div> }.into_any()
                    } else {
                        view! { <RoutesTable routes=p.routes.clone() now=now can_manage=p.can_manage back=back.clone()/> }.into_any()
                    }}
                </section>
                {(!p.query.domain.is_empty()).then(|| view! { <RoutingHistory events=p.history.clone() now=now/> })}
            }
        },
    )
}

#[component]
fn RequestForm(back: String) -> impl IntoView {
    let t = crate::ui::typed("/routing");
    view! {
        <form method="post" action="/routing" class="card p-5 grid gap-3 md:grid-cols-6 items-start" data-testid="route-request">
            <input type="hidden" name="back" value=back/>
            <div class="md:col-span-2">
                <label class="label" for="r-kind">"Add"</label>
                <select class="input" id="r-kind" name="kind" autofocus=t.focus("kind", true) aria-invalid=t.invalid("kind") aria-describedby=t.described("kind")>
                    <option value="alias" selected=t.chose("kind", "alias", true)>"Alias"</option>
                    <option value="forward" selected=t.chose("kind", "forward", false)>"External forward"</option>
                    <option value="catchall" selected=t.chose("kind", "catchall", false)>"Catch-all"</option>
                </select>
                {t.error_below("kind")}
            </div>
            <div class="md:col-span-2">
                <label class="label" for="r-source">"For (address, or domain for a catch-all)"</label>
                <input class="input" id="r-source" name="source" required placeholder="sales@example.com" value=t.value("source", "") autofocus=t.focus("source", false) aria-invalid=t.invalid("source") aria-describedby=t.described("source")/>
                {t.error_below("source")}
            </div>
            <div class="md:col-span-2">
                <label class="label" for="r-targets">"To (one or more addresses)"</label>
                <input class="input" id="r-targets" name="targets" required placeholder="ann@example.com, bob@example.com" value=t.value("targets", "") autofocus=t.focus("targets", false) aria-invalid=t.invalid("targets") aria-describedby=t.described("targets")/>
                {t.error_below("targets")}
            </div>
            <div class="md:col-span-1">
                <label class="label" for="r-days">"Expires in (days)"</label>
                <input class="input" id="r-days" name="days" type="number" min="1" max="90" placeholder="30" value=t.value("days", "") autofocus=t.focus("days", false) aria-invalid=t.invalid("days") aria-describedby=t.described("days")/>
                {t.error_below("days")}
            </div>
            <div class="md:col-span-4">
                <label class="label" for="r-reason">"Why"</label>
                <input class="input" id="r-reason" name="reason" maxlength="500" placeholder="Required for forwards and catch-alls: the approver reads it" value=t.value("reason", "") autofocus=t.focus("reason", false) aria-invalid=t.invalid("reason") aria-describedby=t.described("reason")/>
                {t.error_below("reason")}
            </div>
            <div class="md:col-span-1 md:pt-6"><button class="btn btn-primary w-full" type="submit">"Add or request"</button></div>
            <p class="hint md:col-span-6">"Aliases route to mailboxes or aliases of the same tenant. External forwards go only to domains on the tenant's allowlist; forwards and catch-alls wait for a second person's approval and expire (30 days unless you say otherwise, at most the tenant's maximum)."</p>
        </form>
    }
}

#[component]
pub fn RoutesTable(routes: Vec<Route>, now: i64, can_manage: bool, back: String) -> impl IntoView {
    view! {
        <table class="table">
            <thead><tr><th>"Kind"</th><th>"For"</th><th>"Goes to"</th><th>"State"</th><th>"Expires"</th><th>"Asked / approved"</th><th></th></tr></thead>
            <tbody>
                {routes.into_iter().map(|r| {
                    let live = r.state == "active" || r.state == "unconfirmed";
                    let action = format!("/routing/{}/disable", r.id);
                    view! {
                        <tr data-testid="route" data-source=r.source.clone() data-state=r.state.as_str()>
                            <td class="whitespace-nowrap"><Badge text=r.kind_label() tone=if r.kind == "forward" || r.kind == "catchall" { "amber" } else { "gray" }/></td>
                            <td class="font-mono text-sm">{crate::types::shown_source(&r.source)}</td>
                            <td class="text-sm">{r.targets.iter().map(|t| view! {
                                <div>{t.address.clone()}{t.external.then_some(" (external)")}{(!t.confirmed).then(|| view! { <span class="text-amber-700">" · not confirmed yet"</span> })}</div>
                            }).collect_view()}</td>
                            <td><Badge text=r.state.as_str() tone=state_tone(r.state.as_str())/></td>
                            <td class="text-sm">{match r.expires_at { Some(e) => view! { <Time at=e now=now/> }.into_any(), None => view! { <span class="text-zinc-500">"never"</span> }.into_any() }}</td>
                            <td class="text-xs text-zinc-600">{r.requested_by_label.clone()}{r.approved_by_label.clone().map(|a| format!(" / {a}"))}<br/><Time at=r.created_at now=now/></td>
                            <td class="whitespace-nowrap">{(can_manage && live).then(|| view! {
                                <form method="post" action=action.clone() class="inline">
                                    <input type="hidden" name="back" value=back.clone()/>
                                    <button class="btn btn-danger-ghost" type="submit">"Turn off"</button>
                                </form>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RoutingHistory(events: Vec<AuditEvent>, now: i64) -> impl IntoView {
    view! {
        <section class="card" data-testid="routing-history">
            <div class="px-5 py-3 border-b border-zinc-200"><h2 class="font-medium">"Routing history of this domain"</h2></div>
            {if events.is_empty() {
                view! { <p class="p-5 text-sm text-zinc-600">"No routing changes yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-zinc-100">
                        {events.into_iter().map(|e| {
                            let d: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
                            let kind = d["kind"].as_str().or_else(|| d["before"]["kind"].as_str()).unwrap_or("");
                            let what = format!("{} {}", if kind.is_empty() { "" } else { super::kind_label(kind) }, d["source"].as_str().unwrap_or("")).trim().to_string();
                            let why = d["reason"].as_str().or_else(|| d["why"].as_str()).map(|r| format!("“{r}”"));
                            view! {
                                <li class="px-5 py-2 text-sm flex flex-wrap items-center gap-2" data-testid="history-event">
                                    <span class="font-mono text-xs badge badge-gray">{e.action.clone()}</span>
                                    <span>{what}</span>
                                    {why.map(|w| view! { <span class="text-zinc-600">{w}</span> })}
                                    <span class="text-zinc-500">{format!("by {}", e.actor_label)}</span>
                                    <Time at=e.at now=now/>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

// ---------- the persistence report ----------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReportPage {
    pub items: Vec<PersistenceItem>,
    /// Mailboxes that may send as others (delegations), newest first.
    pub delegations: Vec<crate::mailboxes::Delegation>,
    pub tenants: Vec<(String, String)>,
    pub tenant: String,
    pub since: String,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_report(
    tenant: String,
    since: String,
) -> Result<PageData<ReportPage>, ServerFnError> {
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let s = super::http::parse_since(Some(&since))?;
        let items = super::service::report(
            &c.st,
            &a,
            Some(&tenant).filter(|t| !t.is_empty()).map(|t| t.as_str()),
            s,
        )
        .await?;
        let tenant_id = match Some(&tenant).filter(|t| !t.is_empty()) {
            Some(t) => Some(crate::tenancy::service::tenant(&c.st, &a, t).await?.0.id),
            None => None,
        };
        let delegations = crate::mailboxes::service::delegations_in(
            &c.st,
            &a,
            tenant_id.as_deref(),
            s.unwrap_or(0),
        )
        .await?;
        let g = authorize(&a, Action::ViewTenants)?;
        let tenants = crate::tenancy::store::tenant_names(&c.st.db, &g).await?;
        Ok(ReportPage {
            delegations,
            items,
            tenants,
            tenant,
            since,
            now: c.st.clock.now(),
        })
    })
    .await
}

#[component]
pub fn PersistenceReportPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || {
        let m = query.read();
        (
            crate::ui::param(&m, "tenant").unwrap_or_default(),
            crate::ui::param(&m, "since").unwrap_or_default(),
        )
    };
    let data = Resource::new(q, |(t, s)| get_report(t, s));
    signed_in_page(
        "Persistence report",
        Some("Routing"),
        "Every live way mail leaves a mailbox without its owner reading it — external forwards, catch-alls, aliases with a target outside their tenant — and every mailbox that may send as another. Check it first in an incident.",
        data,
        |p: ReportPage| {
            let now = p.now;
            let qs = format!("?tenant={}&since={}", p.tenant, p.since);
            let tenant = p.tenant.clone();
            view! {
                <div class="flex flex-wrap items-end justify-between gap-3">
                    <form method="get" action="/routing/report" class="flex flex-wrap items-end gap-2">
                        <div>
                            <label class="label" for="p-tenant">"Tenant"</label>
                            <select class="input" id="p-tenant" name="tenant">
                                <option value="">"All tenants"</option>
                                {p.tenants.iter().map(|(slug, name)| view! { <option value=slug.clone() selected=*slug == tenant>{name.clone()}</option> }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class="label" for="p-since">"Created since"</label>
                            <input class="input" id="p-since" name="since" type="date" value=p.since.clone()/>
                        </div>
                        <button class="btn btn-secondary" type="submit">"Show"</button>
                    </form>
                    <div class="flex gap-2">
                        <a class="btn btn-secondary" href=format!("/routing/report.csv{qs}") data-testid="export-csv">"Export CSV"</a>
                        <a class="btn btn-secondary" href=format!("/routing/report.json{qs}") data-testid="export-json">"Export JSON"</a>
                    </div>
                </div>
                <section class="card overflow-x-auto" data-testid="persistence-report">
                    {if p.items.is_empty() {
                        view! { <div class="p-5"><EmptyState title="Nothing persists" hint="No external forward, catch-all or cross-tenant alias is live."/></div> }.into_any()
                    } else {
                        view! {
                            <table class="table">
                                <thead><tr><th>"Kind"</th><th>"Tenant"</th><th>"For, and why"</th><th>"Goes to"</th><th>"Age"</th><th>"Expires"</th><th>"Asked by"</th><th>"Approved by"</th></tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|i| view! {
                                        <tr data-testid="persistence-item" data-source=i.source.clone()>
                                            <td class="whitespace-nowrap"><Badge text=super::kind_label(&i.kind) tone="amber"/>{(i.state == "unconfirmed").then(|| view! { <div class="text-xs text-amber-700">"not confirmed yet"</div> })}</td>
                                            <td>{i.tenant.clone()}</td>
                                            <td class="text-sm"><div class="font-mono">{i.source.clone()}</div>
                                                {(!i.reason.is_empty()).then(|| view! { <div class="text-xs text-zinc-500 max-w-xs">{format!("“{}”", i.reason)}</div> })}</td>
                                            <td class="text-sm">{i.targets.join(", ")}</td>
                                            <td class="text-sm whitespace-nowrap">{if i.age_days == 1 { "1 day".to_string() } else { format!("{} days", i.age_days) }}</td>
                                            <td class="text-sm">{match i.expires_at { Some(e) => view! { <Time at=e now=now/> }.into_any(), None => view! { <span>"never"</span> }.into_any() }}</td>
                                            <td class="text-sm">{i.requested_by.clone()}</td>
                                            <td class="text-sm">{i.approved_by.clone().unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                </section>
                {view! { <DelegationsReport items=p.delegations.clone() now=now/> }.into_any()}
            }
        },
    )
}

/// The report's second part: mailboxes delegated to others (sending as them, their folders).
#[component]
fn DelegationsReport(items: Vec<crate::mailboxes::Delegation>, now: i64) -> impl IntoView {
    view! {
        <section class="card overflow-x-auto" data-testid="delegations-report">
            <div class="px-5 py-3 border-b border-zinc-200">
                <h2 class="font-medium">"Delegations"</h2>
                <p class="text-sm text-zinc-600">"Mailboxes another mailbox of their tenant may send as, or whose folders it may open."</p>
            </div>
            {if items.is_empty() {
                view! { <p class="px-5 py-3 text-sm text-zinc-500">"No mailbox is delegated to another."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr><th>"Mailbox"</th><th>"Delegated to"</th><th>"May"</th><th>"Granted"</th><th>"Granted by"</th></tr></thead>
                        <tbody>
                            {items.into_iter().map(|d| view! {
                                <tr data-testid="delegation-item">
                                    <td class="font-mono text-sm"><a class="link" href=format!("/mailboxes/{}#delegations", d.mailbox_id)>{d.address.clone()}</a></td>
                                    <td class="font-mono text-sm"><a class="link" href=format!("/mailboxes/{}", d.delegate_id)>{d.delegate.clone()}</a></td>
                                    <td class="text-sm">{d.rights()}</td>
                                    <td class="text-sm"><Time at=d.created_at now=now/></td>
                                    <td class="text-sm">{d.created_by.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

// ---------- the recipient's confirmation (public) ----------

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Confirmation {
    pub source: String,
    pub recipient: String,
    pub expires_at: Option<i64>,
}

#[server(prefix = "/_sf")]
pub async fn get_confirmation(
    token: String,
) -> Result<PageData<Option<Confirmation>>, ServerFnError> {
    crate::ssr::page(|c| async move {
        Ok(super::service::confirmation(&c.st, &token).await?.map(
            |(source, recipient, expires_at)| Confirmation {
                source,
                recipient,
                expires_at,
            },
        ))
    })
    .await
}

#[component]
pub fn RouteConfirmPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || crate::ui::param(&params.read(), "token").unwrap_or_default();
    let data = Resource::new(token, get_confirmation);
    auth_page(
        "Confirm a forward",
        Some("Mail is forwarded to you only if you agree."),
        data,
        move |c: Option<Confirmation>| {
            match c {
            Some(c) => {
                let action = format!("/routing/confirm/{}", token());
                let until = c.expires_at.and_then(|e| chrono::DateTime::from_timestamp(e, 0)).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
                view! {
                    <p class="text-sm" data-testid="confirm-what">{format!("Mail sent to {} is to be forwarded to you ({}) until {until}.", c.source, c.recipient)}</p>
                    <form method="post" action=action class="mt-4">
                        <button class="btn btn-primary w-full" type="submit">"Yes, forward it to me"</button>
                    </form>
                    <p class="hint mt-3">"If you do not know why, close this page: nothing is forwarded until you confirm."</p>
                }.into_any()
            }
            None => view! {
                <p class="text-sm text-zinc-600" data-testid="confirm-done">"This link is used, expired or withdrawn. Nothing more to do here."</p>
            }.into_any(),
        }
        },
    )
}
