//! The first page after sign-in: what needs attention, at a glance.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::auth::PageData;
use crate::tenancy::pages::TenantsTable;
use crate::ui::{signed_in_page, EmptyState, Time};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dashboard {
    /// Whether the platform-wide figures apply (owners and operators).
    pub platform: bool,
    pub now: i64,
    pub operators: i64,
    pub open_invites: i64,
    pub failed_signins_24h: i64,
    pub audit_events: i64,
    pub recent: Vec<AuditEvent>,
    pub tenants: Vec<crate::tenancy::Tenant>,
    pub domains: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_dashboard() -> Result<PageData<Dashboard>, ServerFnError> {
    use crate::core::authz::{authorize, decide, Action};
    crate::ssr::page(|c| async move {
        let actor = c.actor();
        authorize(&actor, Action::ViewDashboard)?;
        let now = c.st.clock.now();
        // Platform figures for those who run the platform; tenant people see their tenant.
        let platform = decide(&actor, Action::ViewOperators);
        let (operators, invites) = if platform {
            crate::auth::service::operators(&c.st, &actor).await?
        } else {
            (vec![], vec![])
        };
        let (failed, total) = if platform {
            crate::audit::service::stats(&c.st.db, now - 86400).await?
        } else {
            (0, 0)
        };
        let recent = match authorize(&actor, Action::ViewAudit) {
            Ok(g) => {
                let f = crate::audit::AuditFilter {
                    limit: Some(8),
                    ..Default::default()
                };
                crate::audit::service::list(&c.st.db, &g, &f).await?.events
            }
            Err(_) => vec![],
        };
        let tenants = crate::tenancy::service::tenants(&c.st, &actor).await?;
        let domains = tenants.iter().map(|t| t.domain_count).sum();
        Ok(Dashboard {
            platform,
            tenants,
            domains,
            now,
            operators: operators.len() as i64,
            open_invites: invites.len() as i64,
            failed_signins_24h: failed,
            audit_events: total,
            recent,
        })
    })
    .await
}

#[component]
fn Stat(
    label: &'static str,
    value: String,
    #[prop(optional)] hint: Option<String>,
    #[prop(optional)] warn: bool,
) -> impl IntoView {
    view! {
        <div class="card p-4">
            <p class="text-xs uppercase tracking-wide text-zinc-500">{label}</p>
            <p class=if warn { "mt-1 text-2xl font-semibold text-red-700" } else { "mt-1 text-2xl font-semibold" }>{value}</p>
            {hint.map(|h| view! { <p class="mt-1 text-xs text-zinc-500">{h}</p> })}
        </div>
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_dashboard());
    signed_in_page(
        "Dashboard",
        None,
        "What needs attention across your tenants, domains and mailboxes.",
        data,
        |d: Dashboard| {
            let now = d.now;
            view! {
                <div class="grid gap-4 sm:grid-cols-4" class:hidden=!d.platform>
                    <Stat label="Operators" value=d.operators.to_string() hint="people with console access".to_string()/>
                    <Stat label="Open invitations" value=d.open_invites.to_string()/>
                    <Stat label="Failed sign-ins (24 h)" value=d.failed_signins_24h.to_string() warn={d.failed_signins_24h > 0}/>
                    <Stat label="Audit events" value=d.audit_events.to_string() hint="hash-chained".to_string()/>
                </div>
                <div class="flex items-center justify-between">
                    <h2 class="font-medium">{format!("Tenants ({}) · domains ({})", d.tenants.len(), d.domains)}</h2>
                    <a class="link text-sm" href="/tenants">"Manage tenants →"</a>
                </div>
                {if d.tenants.is_empty() {
                    view! { <EmptyState title="No tenants yet" hint="Create your first tenant on the Tenants page, then add its domains."/> }.into_any()
                } else {
                    view! { <TenantsTable tenants=d.tenants.clone()/> }.into_any()
                }}
                <section class="card">
                    <div class="flex items-center justify-between px-4 py-3 border-b border-zinc-200">
                        <h2 class="font-medium">"Recent activity"</h2>
                        <a class="link text-sm" href="/audit">"Full audit log →"</a>
                    </div>
                    <ul class="divide-y divide-zinc-100">
                        {d.recent.into_iter().map(|e| view! {
                            <li class="px-4 py-2 text-sm flex gap-3">
                                <span class="text-zinc-500 w-24 shrink-0"><Time at=e.at now=now/></span>
                                <span class="font-mono text-xs badge badge-gray">{e.action.clone()}</span>
                                <span class="truncate">{e.actor_label.clone()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            }
        },
    )
}
