//! Tenants, tenant detail, domains and the plan catalogue.
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::{
    format_bytes, Domain, DomainBrowse, Plan, Tenant, DOMAIN_CATEGORIES, DOMAIN_HEALTH_FILTERS,
    PAGE_SIZES,
};
use crate::auth::pages::{DeliveryBadge, InviteActions, SecretOnce};
use crate::auth::PageData;
use crate::ui::html::Html;
use crate::ui::{
    badge_class, signed_in_page, status_tone, Badge, ConfirmButton, EmptyState, PoolBar, Time,
};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantsPage {
    pub tenants: Vec<Tenant>,
    pub plans: Vec<Plan>,
    pub can_manage: bool,
}

#[server(prefix = "/_sf")]
pub async fn get_tenants() -> Result<PageData<TenantsPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let tenants = super::service::tenants(&c.st, &a).await?;
        let plans = super::service::plans(&c.st, &a).await?;
        Ok(TenantsPage {
            tenants,
            plans,
            can_manage: decide(&a, Action::ManageTenants),
        })
    })
    .await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantPage {
    pub tenant: Tenant,
    pub domains: Vec<Domain>,
    pub plans: Vec<Plan>,
    /// May change the plan and status.
    pub can_manage: bool,
    /// May add and suspend domains.
    pub can_manage_domains: bool,
    pub can_invite: bool,
    pub people: Vec<crate::auth::OperatorView>,
    pub invites: Vec<crate::auth::InviteRow>,
    pub fresh: Option<crate::auth::FreshSecret>,
    pub now: i64,
    /// Who may see invitation links revealed: `allowed`, `not_critical`, `forbidden`.
    pub invite_reveal: String,
    pub can_manage_mailboxes: bool,
    pub imports: Vec<crate::imports::ImportJob>,
    pub routing: crate::routing::RoutingPolicy,
    /// This hour's outbound mail against the plan's limits.
    pub sending: crate::outbound::Sending,
    /// Where mail to outside addresses leaves (managed relay, own relay, or nowhere).
    pub outbound: crate::outbound::Outbound,
    pub can_manage_relay: bool,
}

#[server(prefix = "/_sf")]
pub async fn get_tenant(slug: String) -> Result<PageData<TenantPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let (tenant, domains) = super::service::tenant(&c.st, &a, &slug).await?;
        let plans = super::service::plans(&c.st, &a).await?;
        let (people, invites) = crate::auth::service::tenant_people(&c.st, &a, &slug).await?;
        let fresh = crate::auth::api::take_fresh(&c).await;
        let invite_reveal =
            crate::mailboxes::service::tenant_reveal_policy(&c.st, &tenant.id).await?;
        let imports = crate::imports::service::of_tenant(&c.st, &a, &tenant.id).await?;
        let routing = crate::routing::service::tenant_policy(&c.st, &a, &tenant.id).await?;
        let sending = crate::outbound::service::of_tenant(&c.st, &a, &tenant.id).await?;
        let outbound = crate::outbound::service::outbound(&c.st, &a, &tenant.id).await?;
        Ok(TenantPage {
            sending,
            outbound,
            can_manage_relay: crate::core::authz::authorize_in(&a, Action::ManageRelay, &tenant.id)
                .is_ok(),
            routing,
            can_manage_mailboxes: crate::core::authz::authorize_in(
                &a,
                Action::ManageMailboxes,
                &tenant.id,
            )
            .is_ok(),
            imports,
            invite_reveal,
            tenant,
            domains,
            plans,
            can_manage: decide(&a, Action::ManageTenants),
            can_manage_domains: decide(&a, Action::ManageDomains),
            can_invite: decide(&a, Action::InviteTenantUser),
            people,
            invites,
            fresh,
            now: c.st.clock.now(),
        })
    })
    .await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlansPage {
    pub plans: Vec<Plan>,
    pub can_manage: bool,
}

#[server(prefix = "/_sf")]
pub async fn get_plans() -> Result<PageData<PlansPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        Ok(PlansPage {
            plans: super::service::plans(&c.st, &a).await?,
            can_manage: decide(&a, Action::ManagePlans),
        })
    })
    .await
}

fn plan_label(p: &Plan) -> String {
    format!(
        "{} — {} domain{}, {} pooled",
        p.name,
        p.max_domains,
        if p.max_domains == 1 { "" } else { "s" },
        format_bytes(p.storage_bytes)
    )
}

#[component]
pub fn TenantsListPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_tenants());
    signed_in_page(
        "Tenants",
        Some("Tenants"),
        "Each client of the agency is a tenant: its domains and mailboxes share one plan and one storage pool.",
        data,
        move |p: TenantsPage|  view! {
                            {p.can_manage.then(|| { let plans = p.plans.clone(); let t = crate::ui::typed("/tenants"); view! {
                                <details class="card p-5" open=p.tenants.is_empty() || t.is_back()>
                                    <summary class="font-medium cursor-pointer">"New tenant"</summary>
                                    <form method="post" action="/tenants" class="mt-4 grid gap-4 sm:grid-cols-2">
                                        <div>
                                            <label class="label" for="t-name">"Name"</label>
                                            <input class="input" id="t-name" name="name" required maxlength="100" placeholder="Acme Corp"
                                                value=t.value("name", "") autofocus=t.focus("name", true)
                                                aria-invalid=t.invalid("name") aria-describedby=t.described("name")/>
                                            {t.error_below("name")}
                                        </div>
                                        <div>
                                            <label class="label" for="t-slug">"Short name (optional)"</label>
                                            <input class="input" id="t-slug" name="slug" maxlength="40" placeholder="made from the name"
                                                value=t.value("slug", "") autofocus=t.focus("slug", false)
                                                aria-invalid=t.invalid("slug") aria-describedby=t.described("slug")/>
                                            {t.error_below("slug")}
                                        </div>
                                        <div>
                                            <label class="label" for="t-plan">"Plan"</label>
                                            <select class="input" id="t-plan" name="plan_id" required autofocus=t.focus("plan_id", false)
                                                aria-invalid=t.invalid("plan_id") aria-describedby=t.described("plan_id")>
                                                {plans.iter().filter(|p| !p.retired).map(|pl| view! { <option value=pl.id.clone() selected=t.chose("plan_id", &pl.id, false)>{plan_label(pl)}</option> }).collect_view()}
                                            </select>
                                            {t.error_below("plan_id")}
                                        </div>
                                        <div class="grid grid-cols-2 gap-2">
                                            <div>
                                                <label class="label" for="t-cname">"Contact"</label>
                                                <input class="input" id="t-cname" name="contact_name" maxlength="100" value=t.value("contact_name", "")/>
                                            </div>
                                            <div>
                                                <label class="label" for="t-cemail">"Contact email"</label>
                                                <input class="input" id="t-cemail" name="contact_email" type="email" value=t.value("contact_email", "")
                                                    autofocus=t.focus("contact_email", false)
                                                    aria-invalid=t.invalid("contact_email") aria-describedby=t.described("contact_email")/>
                                                {t.error_below("contact_email")}
                                            </div>
                                        </div>
                                        <div class="sm:col-span-2"><button class="btn btn-primary" type="submit">"Create tenant"</button></div>
                                    </form>
                                </details>
                            }})}
                            {if p.tenants.is_empty() {
                                view! { <EmptyState title="No tenants yet" hint="Create the first one above: pick a plan, then add its domains."/> }.into_any()
                            } else {
                                view! { <TenantsTable tenants=p.tenants/> }.into_any()
                            }}
                        }.into_any(),
    )
}

#[component]
pub fn TenantsTable(tenants: Vec<Tenant>) -> impl IntoView {
    view! {
        <div class="card overflow-x-auto">
            <table class="table" data-testid="tenants-table">
                <thead><tr><th>"Tenant"</th><th>"Status"</th><th>"Plan"</th><th>"Domains"</th><th>"Storage pool"</th></tr></thead>
                <tbody>
                    {tenants.into_iter().map(|t| {
                        let full = t.domain_count >= t.max_domains;
                        view! {
                            <tr>
                                <td><a class="link font-medium" href=format!("/tenants/{}", t.slug)>{t.name.clone()}</a>
                                    <div class="text-xs text-zinc-500">{t.slug.clone()}</div></td>
                                <td><Badge text=t.status.clone() tone=status_tone(&t.status)/></td>
                                <td>{t.plan_name.clone()}</td>
                                <td>
                                    <span class=if full { "font-medium text-amber-800" } else { "" }>{format!("{} / {}", t.domain_count, t.max_domains)}</span>
                                    {full.then(|| view! { <span class="ml-2"><Badge text="plan full" tone="amber"/></span> })}
                                </td>
                                <td><PoolBar allocated=t.storage_allocated used=t.storage_used size=t.storage_bytes/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Suspend (with a confirmation saying what stops) or resume/activate: one form posting
/// `status` to `action`, used for tenants and domains.
#[component]
pub fn StatusToggle(
    #[prop(into)] action: String,
    active: bool,
    suspend: &'static str,
    resume: &'static str,
    #[prop(into)] question: String,
) -> impl IntoView {
    if active {
        view! { <ConfirmButton action=action label=suspend question=question hidden_name="status" hidden_value="suspended"/> }.into_any()
    } else {
        view! {
            <form method="post" action=action class="inline">
                <input type="hidden" name="status" value="active"/>
                <button class="btn btn-secondary" type="submit">{resume}</button>
            </form>
        }
        .into_any()
    }
}

/// A tenant at a glance: what the page is about on the left, then the plan's domain use and
/// the storage pool (tenant, domain and portal pages).
#[component]
pub fn TenantSummary(
    tenant: Tenant,
    #[prop(optional)] testid: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let t = tenant;
    view! {
        <section class="card p-5 grid gap-4 sm:grid-cols-4" data-testid=testid>
            <div class="sm:col-span-2">{children()}</div>
            <div>
                <p class="text-xs uppercase tracking-wide text-zinc-500">"Plan"</p>
                <p class="font-medium">{t.plan_name.clone()}</p>
                <p class="text-sm">{format!("{} of {} domains", t.domain_count, t.max_domains)}</p>
            </div>
            <div>
                <p class="text-xs uppercase tracking-wide text-zinc-500">"Storage pool"</p>
                <PoolBar allocated=t.storage_allocated used=t.storage_used size=t.storage_bytes/>
            </div>
        </section>
    }
}

/// A table cell: the domain as people read it, with its ASCII (punycode) form under it when they differ.
#[component]
pub fn DomainNameCell(domain: Domain) -> impl IntoView {
    let mut h = Html::with_capacity(160);
    h.tag("<td>");
    domain_name(&mut h, &domain);
    h.tag("</td>");
    h.view()
}

/// [`DomainNameCell`]'s content: the name as people read it, linking to the domain's page,
/// and the ASCII form under it when they differ.
fn domain_name(h: &mut Html, d: &Domain) {
    h.tag("<a class=\"link dn\" href=\"/domains/")
        .text(&d.name)
        .tag("\">")
        .text(&d.unicode_name)
        .tag("</a>");
    if d.unicode_name != d.name {
        h.tag("<div class=\"sub font-mono\">")
            .text(&d.name)
            .tag("</div>");
    }
}

/// A domain's health badge (DNS against its baseline), linking to its DNS page.
#[component]
pub fn HealthSlots(domain: Domain) -> impl IntoView {
    let mut h = Html::with_capacity(256);
    health_slots(&mut h, &domain);
    h.view()
}

fn health_slots(h: &mut Html, d: &Domain) {
    let href = format!("/domains/{}/dns", d.id);
    crate::dns::pages::health_badge(
        h,
        &d.health,
        d.health_reason.as_deref(),
        d.verified.is_some(),
        &href,
    );
}

/// The domain overview's rows, written into one buffer (~1 KB a row; up to 500 rows a page).
fn domain_rows(rows: &[super::DomainGlance]) -> Html {
    let mut h = Html::with_capacity(rows.len() * 1024 + 16);
    h.tag("<tbody>");
    for r in rows {
        let d = &r.domain;
        h.tag("<tr><td>");
        domain_name(&mut h, d);
        h.tag("</td><td><a class=\"link\" href=\"/tenants/")
            .text(&d.tenant_slug)
            .tag("\">")
            .text(&d.tenant_name)
            .tag("</a></td><td><span class=\"")
            .tag(badge_class(status_tone(d.status.as_str())))
            .tag("\">")
            .text(d.status.as_str())
            .tag("</span></td><td class=\"tabular-nums\">")
            .num(d.mailbox_count)
            .tag(if r.tenant_domains >= r.max_domains {
                "</td><td class=\"whitespace-nowrap\"><span class=\"font-medium text-amber-800\">"
            } else {
                "</td><td class=\"whitespace-nowrap\"><span>"
            })
            .fmt(format_args!("{} / {}", r.tenant_domains, r.max_domains))
            .tag("</span><span class=\"sub\"> domains · ")
            .text(&r.plan_name)
            .tag("</span></td><td>");
        crate::ui::pool_bar(&mut h, r.pool_allocated, r.pool_used, r.pool_bytes);
        h.tag("</td><td>");
        health_slots(&mut h, d);
        h.tag("</td></tr>");
    }
    h.tag("</tbody>");
    h
}

/// The domain overview: search and filters (a plain GET form), sortable column headers,
/// pages — all links, so it works without JavaScript and every view has its own address.
#[component]
pub fn DomainBrowser(browse: DomainBrowse, base: &'static str) -> impl IntoView {
    let q = browse.query.clone();
    let total = browse.total;
    let first = if total == 0 {
        0
    } else {
        (q.page - 1) * q.per + 1
    };
    let last = ((q.page - 1) * q.per + browse.rows.len() as i64).max(0);
    let pages = ((total + q.per - 1) / q.per).max(1);
    let filtered =
        !q.q.is_empty() || !q.status.is_empty() || !q.tenant.is_empty() || !q.health.is_empty();
    let header = {
        let q = q.clone();
        move |key: &'static str, label: &'static str| {
            let active = q.sort == key;
            let mut next = q.clone();
            next.sort = key.to_string();
            next.dir = if active && q.dir == "asc" {
                "desc".into()
            } else {
                "asc".into()
            };
            next.page = 1;
            let arrow = if !active {
                ""
            } else if q.dir == "asc" {
                " ↑"
            } else {
                " ↓"
            };
            let sort_state = if !active {
                "none"
            } else if q.dir == "asc" {
                "ascending"
            } else {
                "descending"
            };
            view! { <th aria-sort=sort_state><a class="hover:text-indigo-700" href=next.href(base)>{label}{arrow}</a></th> }
        }
    };
    let page_link = {
        let q = q.clone();
        move |page: i64, label: &'static str, enabled: bool| {
            let mut p = q.clone();
            p.page = page;
            if enabled {
                view! { <a class="btn btn-secondary" href=p.href(base)>{label}</a> }.into_any()
            } else {
                view! { <span class="btn btn-secondary opacity-40 pointer-events-none" aria-disabled="true">{label}</span> }.into_any()
            }
        }
    };
    let status_opts = [
        ("", "Any status"),
        ("active", "Active"),
        ("pending", "Pending"),
        ("suspended", "Suspended"),
    ];
    view! {
        <section class="space-y-3" data-testid="domain-browser">
            <form method="get" action=base class="card p-3 flex flex-wrap gap-2 items-end">
                <div class="grow min-w-[12rem]">
                    <label class="sr-only" for="f-q">"Search"</label>
                    <input class="input" id="f-q" name="q" type="search" placeholder="Search domains or tenants" value=q.q.clone()/>
                </div>
                <div>
                    <label class="sr-only" for="f-status">"Status"</label>
                    <select class="input" id="f-status" name="status">
                        {status_opts.into_iter().map(|(v, l)| view! { <option value=v selected=q.status == v>{l}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class="sr-only" for="f-health">"Health"</label>
                    <select class="input" id="f-health" name="health">
                        {DOMAIN_HEALTH_FILTERS.into_iter().map(|(v, l)| view! { <option value=v selected=q.health == v>{l}</option> }).collect_view()}
                    </select>
                </div>
                {(browse.tenants.len() > 1).then(|| view! {
                <div>
                    <label class="sr-only" for="f-tenant">"Tenant"</label>
                    <select class="input" id="f-tenant" name="tenant">
                        <option value="">"All tenants"</option>
                        {browse.tenants.iter().map(|(slug, name)| view! { <option value=slug.clone() selected=q.tenant == *slug>{name.clone()}</option> }).collect_view()}
                    </select>
                </div>
                })}
                <div>
                    <label class="sr-only" for="f-per">"Rows per page"</label>
                    <select class="input" id="f-per" name="per">
                        {PAGE_SIZES.into_iter().map(|n| view! { <option value=n.to_string() selected=q.per == n>{format!("{n} per page")}</option> }).collect_view()}
                    </select>
                </div>
                <input type="hidden" name="sort" value=q.sort.clone()/>
                <input type="hidden" name="dir" value=q.dir.clone()/>
                <button class="btn btn-secondary" type="submit">"Apply"</button>
                {filtered.then(|| view! { <a class="btn btn-secondary" href=base>"Clear"</a> })}
            </form>
            {if browse.rows.is_empty() {
                view! { <EmptyState title=if filtered { "No domain matches" } else { "No domains yet" }
                    hint=if filtered { "Change the search or the filters." } else { "Create a tenant, then add its domains on the tenant's page." }/> }.into_any()
            } else {
                view! {
                    <div class="card overflow-x-auto">
                        <table class="table" data-testid="domains-table">
                            <thead><tr>
                                {header("domain", "Domain")}
                                {header("tenant", "Tenant")}
                                {header("status", "Status")}
                                {header("mailboxes", "Mailboxes")}
                                <th>"Plan use"</th>
                                <th>"Storage pool"</th>
                                {header("health", "Health")}
                            </tr></thead>
                            {domain_rows(&browse.rows).view()}
                        </table>
                    </div>
                }.into_any()
            }}
            <div class="flex items-center justify-between text-sm text-zinc-600">
                <span data-testid="domain-count">{format!("{first}–{last} of {total} domain{}", if total == 1 { "" } else { "s" })}</span>
                <span class="flex items-center gap-2">
                    {page_link(q.page - 1, "← Previous", q.page > 1)}
                    <span>{format!("Page {} of {}", q.page.min(pages), pages)}</span>
                    {page_link(q.page + 1, "Next →", q.page < pages)}
                </span>
            </div>
        </section>
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DomainPage {
    pub domain: Domain,
    pub tenant: Tenant,
    pub mailboxes: Vec<crate::mailboxes::Mailbox>,
    pub can_manage: bool,
    pub can_manage_mailboxes: bool,
    /// Its domain-control record (none: not readable here).
    pub control: Option<crate::domain_control::DomainControl>,
}

#[server(prefix = "/_sf")]
pub async fn get_domain_page(name: String) -> Result<PageData<DomainPage>, ServerFnError> {
    use crate::core::authz::{authorize_in, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let domain = super::service::domain(&c.st, &a, &name).await?;
        // Three independent reads of what the domain leads to: at once (on PostgreSQL each
        // is a round trip).
        let (tenant, mailboxes, control) = tokio::join!(
            super::service::tenant_for(&c.st, &a, &domain.tenant_id, Action::ViewTenants),
            crate::mailboxes::service::of_domain(&c.st, &a, &domain),
            crate::domain_control::service::control_of(&c.st, &a, &domain),
        );
        let (tenant, mailboxes, control) = (tenant?, mailboxes?, control.ok());
        Ok(DomainPage {
            control,
            can_manage: authorize_in(&a, Action::ManageDomains, &domain.tenant_id).is_ok(),
            can_manage_mailboxes: authorize_in(&a, Action::ManageMailboxes, &domain.tenant_id)
                .is_ok(),
            domain,
            tenant,
            mailboxes,
        })
    })
    .await
}

#[component]
pub fn DomainDetailPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || crate::ui::param(&params.read(), "name").unwrap_or_default();
    let data = Resource::new(name, get_domain_page);
    signed_in_page(
        "Domain",
        Some("Domains"),
        "Its status, its tenant's plan and pool, and its mailboxes.",
        data,
        move |p: DomainPage| {
            let d = p.domain.clone();
            let t = p.tenant.clone();
            let head = view! {
                <h2 class="text-lg font-semibold">{d.unicode_name.clone()}" "<Badge text=d.status.clone() tone=status_tone(&d.status)/></h2>
                {(d.unicode_name != d.name).then(|| view! { <p class="text-xs font-mono text-zinc-500">{d.name.clone()}</p> })}
                <p class="text-sm text-zinc-500">"Tenant "<a class="link" href=format!("/tenants/{}", t.slug)>{t.name.clone()}</a>
                    {format!(" · {} · catch-all {}", d.category, if d.catch_all { "on" } else { "off" })}
                    " · "<a class="link" href=format!("/routing?domain={}", d.name) data-testid="domain-routing">"Routing and its history →"</a></p>
                <p class="mt-2 text-sm flex items-center gap-2">"DNS: "<HealthSlots domain=d.clone()/>
                    <a class="link" href=format!("/domains/{}/dns", d.id) data-testid="domain-dns">"Records, keys and history →"</a></p>
                <p class="mt-1 text-sm flex flex-wrap items-center gap-2" data-testid="domain-control">"Control: "
                    {match &p.control {
                        Some(c) if !c.recorded => view! { <crate::ui::Badge text="not recorded" tone="amber"/> }.into_any(),
                        Some(c) if c.warnings.is_empty() => view! { <crate::ui::Badge text="in order" tone="green"/> }.into_any(),
                        Some(c) => view! { <span class="flex flex-wrap items-center gap-2"><crate::ui::Badge text=c.warnings[0].severity.clone() tone=crate::domain_control::tone(&c.warnings[0].severity)/><span>{c.warnings[0].text.clone()}{(c.warnings.len() > 1).then(|| format!(" (+{} more)", c.warnings.len() - 1))}</span></span> }.into_any(),
                        None => view! { <span></span> }.into_any(),
                    }}
                    <a class="link" href=format!("/domains/{}/control", d.id) data-testid="domain-control-link">"Registrar, expiry, recovery →"</a></p>
            };
            view! {
                <TenantSummary tenant=t.clone()>{head}</TenantSummary>
                {p.can_manage.then(|| view! {
                    <div class="flex items-center gap-2">
                        {(d.status != "active").then(|| view! {
                            <span>
                                <ConfirmButton action=format!("/domains/{}/remove", d.id) label="Remove domain"
                                    question=format!("{} leaves Mailward and its tenant's plan slot is freed. Only a domain without mailboxes can be removed.", d.unicode_name)/>
                            </span>
                        })}
                        {if d.status == "pending" && d.verified.is_none() {
                            view! { <a class="btn btn-primary" href=format!("/domains/{}/dns", d.id)>"Verify ownership…"</a> }.into_any()
                        } else {
                            view! { <StatusToggle action=format!("/domains/{}/status", d.id) active=d.status == "active"
                                suspend="Suspend domain" resume="Activate domain"
                                question=format!("Mail for {} will be refused while it is suspended.", d.unicode_name)/> }.into_any()
                        }}
                    </div>
                })}
                {(p.can_manage_mailboxes && d.status != "suspended").then(|| view! {
                    <crate::mailboxes::pages::NewMailboxForm domain_id=d.id.clone() domain_name=d.unicode_name.clone() back=format!("/domains/{}", d.id)/>
                })}
                <h2 class="font-medium">{format!("Mailboxes ({})", d.mailbox_count)}</h2>
                {if p.mailboxes.is_empty() {
                    view! { <EmptyState title="No mailboxes yet" hint="Mailboxes are created by invitation; their owners set their own passwords."/> }.into_any()
                } else {
                    view! { <crate::mailboxes::pages::MailboxesTable mailboxes=p.mailboxes links=true/> }.into_any()
                }}
            }
        },
    )
}

#[component]
pub fn DomainsTable(domains: Vec<Domain>, #[prop(optional)] can_manage: bool) -> impl IntoView {
    view! {
        <div class="card overflow-x-auto">
            <table class="table" data-testid="domains-table">
                <thead><tr>
                    <th>"Domain"</th>
                    <th>"Status"</th><th>"Category"</th><th>"Mailboxes"</th><th>"Catch-all"</th>
                    <th>"Health"</th>
                    {can_manage.then(|| view! { <th class="text-right">"Action"</th> })}
                </tr></thead>
                <tbody>
                    {domains.into_iter().map(|d| {
                        view! {
                            <tr>
                                <DomainNameCell domain=d.clone()/>
                                <td><Badge text=d.status.clone() tone=status_tone(&d.status)/></td>
                                <td>{d.category.clone()}</td>
                                <td>{d.mailbox_count}</td>
                                <td>{if d.catch_all { view! { <Badge text="on" tone="amber"/> }.into_any() } else { view! { <span class="text-zinc-500">"off"</span> }.into_any() }}</td>
                                <td><HealthSlots domain=d.clone()/></td>
                                {can_manage.then(|| view! {
                                    <td class="text-right">
                                        {if d.status == "pending" && d.verified.is_none() {
                                            view! { <a class="btn btn-secondary" href=format!("/domains/{}/dns", d.id)>"Verify…"</a> }.into_any()
                                        } else {
                                            view! { <StatusToggle action=format!("/domains/{}/status", d.id) active=d.status == "active"
                                                suspend="Suspend" resume="Activate"
                                                question=format!("Mail for {} will be refused while it is suspended.", d.unicode_name)/> }.into_any()
                                        }}
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn TenantDetailPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || crate::ui::param(&params.read(), "slug").unwrap_or_default();
    let data = Resource::new(slug, get_tenant);
    signed_in_page(
        "Tenant",
        Some("Tenants"),
        "Its plan, storage pool, domains and people.",
        data,
        move |p: TenantPage| {
            let t = p.tenant.clone();
            let full = t.domain_count >= t.max_domains;
            let head = view! {
                <h2 class="text-lg font-semibold">{t.name.clone()}" "<Badge text=t.status.clone() tone=status_tone(&t.status)/></h2>
                <p class="text-sm text-zinc-500">{t.slug.clone()}
                    {t.contact_name.clone().map(|n| format!(" · contact: {n}"))}
                    {t.contact_email.clone().map(|e| format!(" <{e}>"))}</p>
                {p.can_invite.then(|| view! { <a class="link text-sm" href=format!("/portal?tenant={}", t.slug)>"Client portal preview →"</a> })}
            };
            view! {
                <TenantSummary tenant=t.clone()>{head}</TenantSummary>
                                                {p.fresh.clone().map(|f| view! { <SecretOnce secret=f/> })}
                {p.can_manage_domains.then(|| { let plans = p.plans.clone(); let t = t.clone(); let can_manage = p.can_manage; let dt = crate::ui::typed(&format!("/tenants/{}/domains", t.slug)); view! {
                    <section class="grid gap-4 sm:grid-cols-2">
                        <form method="post" action=format!("/tenants/{}/domains", t.slug) class="card p-5 space-y-3">
                            <h3 class="font-medium">"Add a domain"</h3>
                            {full.then(|| view! { <p class="text-sm text-amber-800">"The plan's domains are all in use: move the tenant to a larger plan first."</p> })}
                            <div>
                                <label class="label" for="d-name">"Domain name"</label>
                                <input class="input" id="d-name" name="name" required placeholder="example.com or bücher.example"
                                    value=dt.value("name", "") autofocus=dt.focus("name", true)
                                    aria-invalid=dt.invalid("name") aria-describedby=dt.described("name")/>
                                {dt.error_below("name")}
                            </div>
                            <div>
                                <label class="label" for="d-cat">"Category"</label>
                                <select class="input" id="d-cat" name="category" autofocus=dt.focus("category", false)
                                    aria-invalid=dt.invalid("category") aria-describedby=dt.described("category")>
                                    {DOMAIN_CATEGORIES.iter().map(|(k, l)| view! { <option value=*k selected=dt.chose("category", k, false)>{*l}</option> }).collect_view()}
                                </select>
                                {dt.error_below("category")}
                                <p class="hint">"Catch-all starts off; turning it on will need an approval."</p>
                            </div>
                            <button class="btn btn-primary" type="submit">"Add domain"</button>
                        </form>
                                                                {can_manage.then(|| view! {
                        <div class="card p-5 space-y-3">
                            <form method="post" action=format!("/tenants/{}/plan", t.slug) class="space-y-3">
                                <h3 class="font-medium">"Change plan"</h3>
                                <select class="input" name="plan_id" aria-label="Plan">
                                    {plans.iter().filter(|pl| !pl.retired || pl.id == t.plan_id).map(|pl| view! {
                                        <option value=pl.id.clone() selected=pl.id == t.plan_id>{plan_label(pl)}</option>
                                    }).collect_view()}
                                </select>
                                <button class="btn btn-secondary" type="submit">"Change plan"</button>
                            </form>
                            <div class="pt-3 border-t border-zinc-100">
                                <StatusToggle action=format!("/tenants/{}/status", t.slug) active=t.status == "active"
                                    suspend="Suspend tenant" resume="Resume tenant"
                                    question=format!("All of {}'s domains stop receiving mail while it is suspended.", t.name)/>
                            </div>
                        </div>
                        })}
                    </section>
                }})}
                <h2 class="font-medium">"Domains"</h2>
                {if p.domains.is_empty() {
                    view! { <EmptyState title="No domains yet" hint="Add the tenant's first domain above."/> }.into_any()
                } else {
                                                        view! { <DomainsTable domains=p.domains can_manage=p.can_manage_domains/> }.into_any()
                }}
                {view! { <crate::outbound::pages::SendingCard s=p.sending.clone() plan=t.plan_name.clone()/> }.into_any()}
                {view! { <crate::outbound::pages::RelayCard o=p.outbound.clone() slug=t.slug.clone() plan=t.plan_name.clone() can_manage=p.can_manage_relay/> }.into_any()}
                {p.can_manage_mailboxes.then(|| view! { <crate::imports::pages::ImportUpload slug=t.slug.clone() imports=p.imports.clone() now=p.now/> })}
                <TenantPeople slug=t.slug.clone() people=p.people invites=p.invites can_invite=p.can_invite now=p.now/>
                {p.can_manage.then(|| { let cur = p.invite_reveal.clone(); view! {
                    <form method="post" action=format!("/tenants/{}/invite-reveal", t.slug) class="card p-5 flex flex-wrap items-end gap-3" data-testid="reveal-policy">
                        <div class="flex-1 min-w-64">
                            <label class="label" for="reveal">"Revealing mailbox invitation links"</label>
                            <select class="input" id="reveal" name="invite_reveal">
                                {[("not_critical", "Operators may reveal a link once, except for critical mailboxes"), ("allowed", "Operators may reveal a link once, for any mailbox"), ("forbidden", "Never: links go by email only")]
                                    .into_iter().map(|(k, l)| view! { <option value=k selected=cur == k>{l}</option> }).collect_view()}
                            </select>
                            <p class="hint">"A revealed link is its own audit event and marks the mailbox until its owner sets a password."</p>
                        </div>
                        <button class="btn btn-secondary" type="submit">"Save policy"</button>
                    </form>
                }})}
                <RoutingPolicyCard slug=t.slug.clone() p=p.routing.clone() can_manage=p.can_manage/>
            }
        },
    )
}

#[component]
pub fn PlansPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_plans());
    signed_in_page(
        "Plans",
        Some("Plans"),
        "Plans are priced by domains; storage is one pool shared by all of a tenant's mailboxes.",
        data,
        |p: PlansPage| {
            let can_manage = p.can_manage;
            view! {
                <div class="grid gap-4 sm:grid-cols-2 lg:grid-cols-4" data-testid="plans">
                    {p.plans.into_iter().map(|pl| view! {
                        <div class=if pl.retired { "card p-5 opacity-70" } else { "card p-5" }>
                            <p class="font-semibold">{pl.name.clone()}{pl.retired.then(|| view! { <span class="ml-2"><Badge text="retired"/></span> })}</p>
                            <p class="mt-2 text-2xl font-semibold">{pl.max_domains}<span class="text-sm font-normal text-zinc-500">{if pl.max_domains == 1 { " domain" } else { " domains" }}</span></p>
                            <p class="text-sm">{format_bytes(pl.storage_bytes)}" pooled storage"</p>
                            <p class="text-sm">{if pl.managed_smtp { "Managed SMTP" } else { "No managed SMTP" }}</p>
                            <div class="text-sm" data-testid="send-limits" title="Messages sent through submission per hour; more are refused until the next hour">
                                <p>{format!("Sends {}/h per mailbox", crate::ui::thousands(pl.send_per_hour_mailbox))}</p>
                                <p>{format!("{}/h per tenant", crate::ui::thousands(pl.send_per_hour_tenant))}</p>
                            </div>
                            <p class="mt-2 text-xs text-zinc-500">{format!("{} tenant{}", pl.tenants, if pl.tenants == 1 { "" } else { "s" })}</p>
                            {can_manage.then(|| if pl.retired {
                                view! {
                                    <form method="post" action=format!("/plans/{}/reinstate", pl.id) class="mt-3">
                                        <button class="btn btn-secondary" type="submit">"Offer again"</button>
                                    </form>
                                }.into_any()
                            } else {
                                view! {
                                    <div class="mt-3">
                                        <ConfirmButton action=format!("/plans/{}/retire", pl.id) label="Retire"
                                            question=format!("New tenants will not be able to choose {}. The {} tenant(s) on it keep it until moved.", pl.name, pl.tenants)/>
                                    </div>
                                }.into_any()
                            })}
                        </div>
                    }).collect_view()}
                </div>
                {can_manage.then(|| view! {
                    <details class="card p-5">
                        <summary class="font-medium cursor-pointer">"Add a plan"</summary>
                        <form method="post" action="/plans" class="mt-4 grid gap-4 sm:grid-cols-4 items-end">
                            <div>
                                <label class="label" for="pl-name">"Name"</label>
                                <input class="input" id="pl-name" name="name" required maxlength="40" placeholder="Business"/>
                            </div>
                            <div>
                                <label class="label" for="pl-domains">"Domains"</label>
                                <input class="input" id="pl-domains" name="max_domains" type="number" min="1" max="10000" required placeholder="20"/>
                            </div>
                            <div>
                                <label class="label" for="pl-storage">"Pooled storage (GB)"</label>
                                <input class="input" id="pl-storage" name="storage_gb" inputmode="decimal" required placeholder="100"/>
                            </div>
                            <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="managed_smtp" checked/>"Managed SMTP"</label>
                            <div>
                                <label class="label" for="pl-send-mbx">"Messages per hour, per mailbox"</label>
                                <input class="input" id="pl-send-mbx" name="send_per_hour_mailbox" type="number" min="1" max="1000000" value="200" required/>
                            </div>
                            <div>
                                <label class="label" for="pl-send-tenant">"Messages per hour, per tenant"</label>
                                <input class="input" id="pl-send-tenant" name="send_per_hour_tenant" type="number" min="1" max="10000000" value="2000" required/>
                            </div>
                            <div class="sm:col-span-4"><button class="btn btn-primary" type="submit">"Add plan"</button></div>
                        </form>
                    </details>
                })}
            }
        },
    )
}

#[component]
fn TenantPeople(
    slug: String,
    people: Vec<crate::auth::OperatorView>,
    invites: Vec<crate::auth::InviteRow>,
    can_invite: bool,
    now: i64,
) -> impl IntoView {
    let ty = crate::ui::typed(&format!("/tenants/{slug}/people"));
    let invite_form = can_invite.then(|| view! {
        <form method="post" action=format!("/tenants/{slug}/people") class="card p-5 grid gap-3 sm:grid-cols-3 items-start">
            <div>
                <label class="label" for="p-email">"Email"</label>
                <input class="input" id="p-email" name="email" type="email" required value=ty.value("email", "") autofocus=ty.focus("email", true)
                    aria-invalid=ty.invalid("email") aria-describedby=ty.described("email")/>
                {ty.error_below("email")}
            </div>
            <div>
                <label class="label" for="p-role">"Role"</label>
                <select class="input" id="p-role" name="role">
                    <option value="tenant_admin" selected=ty.chose("role", "tenant_admin", true)>"Tenant admin — manages this tenant's domains"</option>
                    <option value="client_viewer" selected=ty.chose("role", "client_viewer", false)>"Client viewer — read-only portal"</option>
                </select>
            </div>
            <div class="sm:pt-6"><button class="btn btn-primary" type="submit">"Invite"</button></div>
        </form>
    });
    let empty = people.is_empty() && invites.is_empty();
    view! {
        <h2 class="font-medium">"People"</h2>
        {invite_form}
        {if empty {
            view! { <EmptyState title="Nobody from this tenant yet" hint="Invite a tenant admin or a client viewer; each gets their own account."/> }.into_any()
        } else {
            view! {
                <div class="card overflow-x-auto">
                    <table class="table" data-testid="people-table">
                        <thead><tr><th>"Person"</th><th>"Role"</th><th>"Status"</th><th class="text-right">"Actions"</th></tr></thead>
                        <tbody>
                            {people.into_iter().map(|u| {
                                // Those who invite a tenant's people can also take their access
                                // away (at once: sessions and tokens end) and give it back.
                                let back = format!("/tenants/{slug}");
                                let access = can_invite.then(|| if u.status == "active" {
                                    view! {
                                        <ConfirmButton action=format!("/people/{}/disable", u.id) label="Disable"
                                            question=format!("{} can no longer sign in; their sessions end, and their API tokens and the invitations they sent are revoked, at once.", u.email)
                                            hidden_name="back" hidden_value=back/>
                                    }.into_any()
                                } else {
                                    view! {
                                        <ConfirmButton action=format!("/people/{}/enable", u.id) label="Enable"
                                            question=format!("{} can sign in again with their own password and authenticator.", u.email)
                                            hidden_name="back" hidden_value=back/>
                                    }.into_any()
                                });
                                view! {
                                <tr>
                                    <td><span class="font-medium">{u.display_name.clone()}</span><div class="text-xs text-zinc-500">{u.email.clone()}</div></td>
                                    <td>{u.role.label()}</td>
                                    <td><Badge text=u.status.clone() tone=status_tone(&u.status)/></td>
                                    <td class="text-right">
                                        {access}
                                        {can_invite.then(|| view! { <crate::auth::pages::PersonGrants user_id=u.id.clone() email=u.email.clone() role=u.role back=format!("/tenants/{slug}")/> })}
                                    </td>
                                </tr>
                            }}).collect_view()}
                            {invites.into_iter().map(|i| {
                                let email = i.email.clone().unwrap_or_default();
                                let slug = slug.clone();
                                view! {
                                    <tr>
                                        <td><span class="font-medium">{email.clone()}</span><div class="text-xs text-zinc-500">"invited · expires "<Time at=i.expires_at now=now/></div></td>
                                        <td>{i.role.label()}</td>
                                        <td><DeliveryBadge invite=i.clone()/></td>
                                        <td class="text-right space-x-2">
                                            {can_invite.then(|| view! { <InviteActions base=format!("/tenants/{}/invites/{}", slug, i.id) invite=i.clone()/> })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}

/// The tenant's routing policy: read by everyone who sees the tenant, set by owners and
/// operators only.
#[component]
fn RoutingPolicyCard(
    slug: String,
    p: crate::routing::RoutingPolicy,
    can_manage: bool,
) -> impl IntoView {
    let allow = p.allowlist.join(", ");
    let direct = p.alias_policy == "direct";
    view! {
        <section class="card p-5 space-y-3" data-testid="routing-policy">
            <div class="flex items-center justify-between">
                <h2 class="font-medium">"Routing policy"</h2>
                <a class="link text-sm" href=format!("/routing?tenant={slug}")>"Routes of this tenant →"</a>
            </div>
            {if can_manage {
                view! {
                    <form method="post" action=format!("/tenants/{slug}/routing-policy") class="grid gap-3 md:grid-cols-4 items-end">
                        <div class="md:col-span-2">
                            <label class="label" for="rp-allow">"External forwarding allowed to (domains)"</label>
                            <input class="input" id="rp-allow" name="allowlist" value=allow.clone() placeholder="none: no external forwarding"/>
                            <p class="hint">"Comma-separated. Subdomains of a listed domain are allowed too. Empty means no external forwarding."</p>
                        </div>
                        <div>
                            <label class="label" for="rp-alias">"New aliases"</label>
                            <select class="input" id="rp-alias" name="alias_policy">
                                <option value="direct" selected=direct>"Created at once"</option>
                                <option value="approval" selected=!direct>"Need approval"</option>
                            </select>
                        </div>
                        <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="confirmation" value="on" checked=p.confirmation/>"Recipients confirm forwards"</label>
                        <div>
                            <label class="label" for="rp-def">"Default expiry (days)"</label>
                            <input class="input" id="rp-def" name="default_days" type="number" min="1" max="90" value=p.default_days.to_string()/>
                        </div>
                        <div>
                            <label class="label" for="rp-max">"Longest allowed (days)"</label>
                            <input class="input" id="rp-max" name="max_days" type="number" min="1" max="90" value=p.max_days.to_string()/>
                        </div>
                        <div class="md:col-span-2"><button class="btn btn-secondary" type="submit">"Save routing policy"</button></div>
                    </form>
                }.into_any()
            } else {
                view! {
                    <p class="text-sm text-zinc-600">{format!(
                        "External forwarding: {}. Forwards and catch-alls last {} days unless asked otherwise, at most {}. Aliases {}.",
                        if allow.is_empty() { "not allowed".to_string() } else { format!("to {allow}") },
                        p.default_days, p.max_days,
                        if direct { "are created at once" } else { "need approval" }
                    )}</p>
                }.into_any()
            }}
        </section>
    }
}
