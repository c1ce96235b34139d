//! The client portal: a read-only view of one tenant for its client viewers — domains,
//! mailboxes (no secrets), plan and storage pool, and the tenant's audit events. It renders
//! no mutating control; the gate refuses any mutation a viewer might call anyway.
//! Owners and operators open it with `?tenant=<short name>` to see what the client sees.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::auth::PageData;
use crate::mailboxes::Mailbox;
use crate::tenancy::pages::{DomainsTable, TenantSummary};
use crate::tenancy::{Domain, Tenant};
use crate::ui::{signed_in_page, status_tone, Badge, EmptyState};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Portal {
    pub tenant: Tenant,
    pub domains: Vec<Domain>,
    pub mailboxes: Vec<Mailbox>,
    pub events: Vec<AuditEvent>,
    /// Postmortems of the tenant's incidents shared with its viewers: (incident id, title).
    pub postmortems: Vec<(String, String)>,
    /// Shown to someone who runs the platform, previewing the client's view.
    pub preview: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_portal(tenant: String) -> Result<PageData<Portal>, ServerFnError> {
    use crate::core::authz::{authorize, Action, TenantScope};
    use crate::core::AppError;
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let key = match (&a.tenants, tenant.trim()) {
            (_, k) if !k.is_empty() => k.to_string(),
            (TenantScope::Only(ids), _) if ids.len() == 1 => ids[0].clone(),
            _ => {
                return Err(AppError::invalid(
                    "Choose a tenant: open its page and follow “Client portal preview”.",
                ))
            }
        };
        let (tenant, domains) = crate::tenancy::service::tenant(&c.st, &a, &key).await?;
        let mailboxes = crate::mailboxes::service::of_tenant(&c.st, &a, &tenant.id).await?;
        let events = match authorize(&a, Action::ViewAudit) {
            Ok(g) => {
                let f = crate::audit::AuditFilter {
                    tenant: Some(tenant.id.clone()),
                    limit: Some(20),
                    ..Default::default()
                };
                crate::audit::service::list(&c.st.db, &g, &f).await?.events
            }
            Err(_) => vec![],
        };
        let postmortems =
            crate::incidents::service::shared_postmortems(&c.st, &a, &tenant.id).await?;
        Ok(Portal {
            tenant,
            domains,
            mailboxes,
            events,
            postmortems,
            preview: !a.role.is_some_and(|r| r.is_tenant_role()),
            now: c.st.clock.now(),
        })
    })
    .await
}

#[component]
pub fn PortalPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || crate::ui::param(&query.read(), "tenant").unwrap_or_default(),
        get_portal,
    );
    signed_in_page(
        "Overview",
        Some("Overview"),
        "Your domains, mailboxes, plan and storage, and every change made to them.",
        data,
        |p: Portal| {
            let t = p.tenant.clone();
            let now = p.now;
            view! {
                {p.preview.then(|| view! {
                    <p class="rounded-md border border-indigo-200 bg-indigo-50 px-4 py-2 text-sm text-indigo-900" data-testid="portal-preview">
                        {format!("Preview: this is what {}'s client viewers see. ", t.name)}
                        <a class="link" href=format!("/tenants/{}", t.slug)>"Back to the tenant"</a>
                    </p>
                })}
                <TenantSummary tenant=t.clone() testid="portal-summary">
                    <h2 class="text-lg font-semibold">{t.name.clone()}" "<Badge text=t.status.clone() tone=status_tone(&t.status)/></h2>
                    <p class="text-sm text-zinc-500">"Read-only view. Ask your administrator for changes."</p>
                </TenantSummary>
                <h2 class="font-medium">"Domains"</h2>
                {if p.domains.is_empty() {
                    view! { <EmptyState title="No domains yet" hint="Your administrator adds them."/> }.into_any()
                } else {
                    view! { <DomainsTable domains=p.domains/> }.into_any()
                }}
                <h2 class="font-medium">{format!("Mailboxes ({})", p.mailboxes.len())}</h2>
                {if p.mailboxes.is_empty() {
                    view! { <EmptyState title="No mailboxes yet" hint="Mailboxes appear here once your administrator has created them."/> }.into_any()
                } else {
                    view! { <crate::mailboxes::pages::MailboxesTable mailboxes=p.mailboxes/> }.into_any()
                }}
                {(!p.postmortems.is_empty()).then(|| view! {
                    <section class="card p-5 space-y-2" data-testid="portal-postmortems">
                        <h2 class="font-medium">"Incident postmortems"</h2>
                        <ul class="list-disc pl-5 text-sm">
                            {p.postmortems.iter().map(|(id, title)| view! {
                                <li><a class="link" href=format!("/incidents/{id}/postmortem")>{title.clone()}</a></li>
                            }).collect_view()}
                        </ul>
                    </section>
                })}
                <crate::audit::pages::ActivityCard title="Recent changes" events=p.events now=now more=format!("/audit?tenant={}", t.id)/>
            }
        },
    )
}
