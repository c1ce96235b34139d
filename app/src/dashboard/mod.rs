//! The first page after sign-in: every domain in reach at a glance (searchable, filterable,
//! sortable, paged in SQL), the platform's vital signs, and what happened lately.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::auth::PageData;
use crate::tenancy::pages::DomainBrowser;
use crate::tenancy::{DomainBrowse, DomainQuery};
use crate::ui::signed_in_page;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dashboard {
    /// Whether the platform-wide figures apply (owners and operators).
    pub platform: bool,
    pub now: i64,
    pub tenants: i64,
    pub domains: i64,
    pub mailboxes: i64,
    pub operators: i64,
    pub open_invites: i64,
    pub failed_signins_24h: i64,
    pub audit_events: i64,
    pub recent: Vec<AuditEvent>,
    pub browse: DomainBrowse,
    /// Change requests waiting for a decision.
    pub pending_approvals: i64,
    /// Tenants with a burst of password resets right now.
    pub reset_bursts: Vec<crate::mailboxes::ResetBurst>,
    /// Catch-alls on, external forwards, routes expiring soon, routing requests waiting.
    pub routing: crate::routing::RoutingBadges,
    /// Open alerts in the actor's scope, by severity.
    pub open_alerts: Vec<(String, i64)>,
    /// The domain-control registry: domains with nothing recorded, with warnings, the worst.
    pub control: crate::domain_control::ControlSummary,
}

#[server(prefix = "/_sf")]
pub async fn get_dashboard(query: DomainQuery) -> Result<PageData<Dashboard>, ServerFnError> {
    use crate::core::authz::{authorize, decide, Action, Role};
    crate::ssr::page(|c| async move {
        let actor = c.actor();
        authorize(&actor, Action::ViewDashboard)?;
        // Client viewers have their own read-only portal.
        if actor.role == Some(Role::ClientViewer) {
            leptos_axum::redirect("/portal");
        }
        let now = c.st.clock.now();
        // Platform figures for those who run the platform; tenant people see their tenant.
        let platform = decide(&actor, Action::ViewOperators);
        // The pieces are independent reads: run them at once (each waits on the database).
        let counts = async {
            if platform {
                crate::auth::service::platform_counts(&c.st, &actor).await
            } else {
                Ok((0, 0))
            }
        };
        let stats = async {
            if platform {
                crate::audit::service::stats(&c.st.db, now - 86400).await
            } else {
                Ok((0, 0))
            }
        };
        let recent = async {
            match authorize(&actor, Action::ViewAudit) {
                Ok(g) => {
                    let f = crate::audit::AuditFilter {
                        limit: Some(8),
                        ..Default::default()
                    };
                    Ok(crate::audit::service::list(&c.st.db, &g, &f).await?.events)
                }
                Err(_) => Ok(vec![]),
            }
        };
        let totals = crate::tenancy::service::totals(&c.st, &actor);
        let browse = crate::tenancy::service::browse_domains(&c.st, &actor, &query);
        let pending = crate::changes::service::pending_count(&c.st, &actor);
        let bursts = crate::mailboxes::service::reset_bursts(&c.st, &actor);
        let routing = crate::routing::service::badges(&c.st, &actor);
        let alerts = crate::monitoring::service::open_counts(&c.st, &actor);
        let control = crate::domain_control::service::summary(&c.st, &actor);
        let (
            (operators, invites),
            (failed, total),
            recent,
            (tenants, domains, mailboxes),
            browse,
            pending_approvals,
            reset_bursts,
            routing,
            open_alerts,
            control,
        ) = tokio::try_join!(
            counts, stats, recent, totals, browse, pending, bursts, routing, alerts, control
        )?;
        Ok(Dashboard {
            platform,
            now,
            tenants,
            domains,
            mailboxes,
            operators,
            open_invites: invites,
            failed_signins_24h: failed,
            audit_events: total,
            recent,
            browse,
            pending_approvals,
            reset_bursts,
            routing,
            open_alerts,
            control,
        })
    })
    .await
}

#[component]
pub fn Stat(
    label: &'static str,
    value: String,
    #[prop(optional)] hint: Option<String>,
    #[prop(optional)] href: Option<&'static str>,
    #[prop(optional)] warn: bool,
) -> impl IntoView {
    let value = view! { <p class=if warn { "mt-1 text-2xl font-semibold text-red-700" } else { "mt-1 text-2xl font-semibold" }>{value}</p> };
    view! {
        <div class="card p-4">
            <p class="text-xs uppercase tracking-wide text-zinc-500">{label}</p>
            {match href {
                Some(h) => view! { <a href=h class="hover:text-indigo-700">{value}</a> }.into_any(),
                None => value.into_any(),
            }}
            {hint.map(|h| view! { <p class="mt-1 text-xs text-zinc-500">{h}</p> })}
        </div>
    }
}

/// The query of the domain overview, read from the address bar.
pub fn domain_query_from_url() -> impl Fn() -> DomainQuery + Clone + Send + Sync + 'static {
    let query = use_query_map();
    move || {
        let m = query.read();
        let get = |k: &str| crate::ui::param(&m, k).unwrap_or_default();
        DomainQuery {
            q: get("q"),
            status: get("status"),
            tenant: get("tenant"),
            health: get("health"),
            sort: get("sort"),
            dir: get("dir"),
            page: get("page").parse().unwrap_or(1),
            per: get("per").parse().unwrap_or(100),
        }
        .normalized()
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(domain_query_from_url(), get_dashboard);
    signed_in_page(
        "Dashboard",
        None,
        "Every domain you look after, with its tenant's plan and storage pool.",
        data,
        |d: Dashboard| {
            let now = d.now;
            view! {
                {d.reset_bursts.iter().map(|b| view! {
                    <div class="rounded-lg border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-900" role="alert" data-testid="reset-burst">
                        <span class="font-semibold">"Reset burst: "</span>
                        {format!("{} password resets in {} within {} minutes. Check that they were expected. ", b.resets, b.tenant_name, b.minutes)}
                        <a class="link" href=format!("/audit?tenant={}&action=mailbox.", b.tenant_id)>"See them in the audit log →"</a>
                    </div>
                }).collect_view()}
                {(d.pending_approvals > 0).then(|| view! {
                    <a href="/approvals" class="block rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 hover:bg-amber-100" data-testid="pending-approvals">
                        {format!("{} change request{} waiting for approval →", d.pending_approvals, if d.pending_approvals == 1 { "" } else { "s" })}
                    </a>
                })}
                {alerts_banner(&d.open_alerts)}
                <div class="grid gap-4 grid-cols-2 lg:grid-cols-4">
                    <Stat label="Tenants" value=d.tenants.to_string() href="/tenants"/>
                    <Stat label="Domains" value=d.domains.to_string()/>
                    <Stat label="Mailboxes" value=d.mailboxes.to_string()/>
                    {if d.platform {
                        view! { <Stat label="Failed sign-ins (24 h)" value=d.failed_signins_24h.to_string() warn={d.failed_signins_24h > 0} href="/audit?action=auth."/> }.into_any()
                    } else {
                        view! { <Stat label="Audit log" value="View →".to_string() hint="every change to your tenant".to_string() href="/audit"/> }.into_any()
                    }}
                </div>
                <RoutingLine b=d.routing.clone()/>
                <ControlLine c=d.control.clone()/>
                {d.platform.then(|| view! {
                    <p class="text-sm text-zinc-600" data-testid="platform-line">
                        <a class="link" href="/operators">{format!("{} operator{}", d.operators, if d.operators == 1 { "" } else { "s" })}</a>
                        {format!(" · {} open invitation{} · ", d.open_invites, if d.open_invites == 1 { "" } else { "s" })}
                        <a class="link" href="/audit">{format!("{} audit events", d.audit_events)}</a>" (keyed hash chain)"
                    </p>
                })}
                <DomainBrowser browse=d.browse base="/"/>
                <crate::audit::pages::ActivityCard title="Recent activity" events=d.recent now=now more="/audit"/>
            }
        },
    )
}

/// Routing at a glance: what sends mail somewhere else, in one line (amber when not zero).
#[component]
fn RoutingLine(b: crate::routing::RoutingBadges) -> impl IntoView {
    let part = |n: i64,
                one: &'static str,
                many: &'static str,
                testid: &'static str,
                href: &'static str| {
        let cls = if n > 0 {
            "link text-amber-700 font-medium"
        } else {
            "link"
        };
        view! { <a class=cls href=href data-testid=testid>{format!("{n} {}", if n == 1 { one } else { many })}</a> }
    };
    view! {
        <p class="text-sm text-zinc-600" data-testid="routing-line">
            <span class="font-medium text-zinc-700">"Routing: "</span>
            {part(b.catchall_domains, "domain with catch-all on", "domains with catch-all on", "badge-catchall", "/routing?kind=catchall")}
            " · "
            {part(b.external_forwards, "external forward", "external forwards", "badge-forwards", "/routing?kind=forward")}
            " · "
            {part(b.expiring_within_7_days, "route ending within 7 days", "routes ending within 7 days", "badge-expiring", "/routing")}
            " · "
            {part(b.pending_approvals, "routing request waiting", "routing requests waiting", "badge-pending", "/approvals")}
            " · "
            <a class="link" href="/routing/report">"persistence report"</a>
        </p>
    }
}

/// The domain-control registry at a glance: what is wrong with who controls the domains.
#[component]
fn ControlLine(c: crate::domain_control::ControlSummary) -> impl IntoView {
    let warned = c.with_warnings;
    view! {
        <div class="text-sm text-zinc-600 space-y-1" data-testid="control-line" data-warnings=warned.to_string() data-unrecorded=c.unrecorded.to_string()>
            <p>
                <span class="font-medium text-zinc-700">"Domain control: "</span>
                <span class={if warned > 0 { "text-amber-700 font-medium" } else { "" }}>
                    {format!("{warned} domain{} with warnings", if warned == 1 { "" } else { "s" })}
                </span>
                " · "
                <span class={if c.unrecorded > 0 { "text-amber-700" } else { "" }}>
                    {format!("{} with nothing recorded (registrar, expiry, recovery)", c.unrecorded)}
                </span>
            </p>
            {(!c.top.is_empty()).then(|| view! {
                <ul class="space-y-0.5" data-testid="control-top">
                    {c.top.into_iter().map(|i| view! {
                        <li class="flex items-start gap-2">
                            <crate::ui::Badge text=i.warning.severity.clone() tone=crate::domain_control::tone(&i.warning.severity)/>
                            <a class="link" href=format!("/domains/{}/control", i.domain_id)>{i.domain.clone()}</a>
                            <span class="text-zinc-600">{i.warning.text.clone()}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}

/// The open alerts, most severe first, as one line to the inbox (nothing when none).
fn alerts_banner(counts: &[(String, i64)]) -> impl IntoView {
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let n = |sev: &str| {
        counts
            .iter()
            .find(|(s, _)| s == sev)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let critical = n("critical");
    let parts: Vec<String> = [
        ("critical", critical),
        ("warning", n("warning")),
        ("info", n("info")),
    ]
    .into_iter()
    .filter(|(_, k)| *k > 0)
    .map(|(s, k)| format!("{k} {s}"))
    .collect();
    let class = if critical > 0 {
        "block rounded-lg border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-900 hover:bg-red-100"
    } else {
        "block rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 hover:bg-amber-100"
    };
    (total > 0).then(|| view! {
        <a href="/alerts?state=open" class=class data-testid="open-alerts" data-count=total.to_string()>
            {format!("{total} open alert{} ({}) →", if total == 1 { "" } else { "s" }, parts.join(", "))}
        </a>
    })
}
