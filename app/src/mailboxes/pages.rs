//! Mailbox views: the table shared by the domain page and the client portal, the new-mailbox
//! form, the mailbox page (invitation, reset, app passwords, offboarding and its receipt) and
//! the owner's activation page.
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::{AppPassword, Mailbox, MailboxInvite, OffboardingReceipt, Revocations};
use crate::audit::AuditEvent;
use crate::auth::pages::SecretOnce;
use crate::auth::{FreshSecret, PageData};
use crate::changes::ChangeRequest;
use crate::tenancy::{format_bytes, Tenant};
use crate::ui::{
    auth_page, signed_in_page, status_tone, urlencode, Badge, ConfirmButton, NewPassword, Time,
};

/// Mailboxes with their status, pool allocation and use (never any secret). With `links`,
/// each address opens its mailbox page.
#[component]
pub fn MailboxesTable(mailboxes: Vec<Mailbox>, #[prop(optional)] links: bool) -> impl IntoView {
    view! {
        <div class="card overflow-x-auto">
            <table class="table" data-testid="mailboxes-table">
                <thead><tr><th>"Address"</th><th>"Name"</th><th>"Status"</th><th>"Quota"</th><th>"Used"</th></tr></thead>
                <tbody>
                    {mailboxes.into_iter().map(|m| view! {
                        <tr>
                            <td class="font-medium">
                                {if links {
                                    view! { <a class="link" href=format!("/mailboxes/{}", m.id)>{crate::types::readable(&m.address)}</a> }.into_any()
                                } else {
                                    view! { <span>{crate::types::readable(&m.address)}</span> }.into_any()
                                }}
                                {m.critical.then(|| view! { <span class="ml-2"><Badge text="critical" tone="amber"/></span> })}
                                {m.invite_revealed_to.clone().map(|who| view! { <span class="ml-2"><Badge text=format!("link revealed to {who}") tone="red"/></span> })}
                            </td>
                            <td>{m.display_name.clone()}</td>
                            <td><Badge text=m.status.as_str() tone=status_tone(m.status.as_str())/>{m.shared.then(|| view! { " "<Badge text="shared" tone="blue"/> })}</td>
                            <td>{m.quota_bytes.map(format_bytes).unwrap_or_else(|| "within the pool".into())}</td>
                            <td class="text-zinc-500">{m.used_bytes.map(format_bytes).unwrap_or_else(|| "no data yet".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MailboxesList {
    pub rows: Vec<super::MailboxRow>,
    pub total: i64,
    pub query: super::MailboxQuery,
    pub can_manage: bool,
}

#[server(prefix = "/_sf")]
pub async fn get_mailboxes(
    query: super::MailboxQuery,
) -> Result<PageData<MailboxesList>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let (rows, total) = super::service::search(&c.st, &a, &query).await?;
        Ok(MailboxesList {
            rows,
            total,
            query,
            can_manage: decide(&a, Action::ManageMailboxes),
        })
    })
    .await
}

#[component]
pub fn MailboxesListPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let q = move || {
        let m = query.read();
        super::MailboxQuery {
            q: crate::ui::param(&m, "q").unwrap_or_default(),
            status: crate::ui::param(&m, "status").unwrap_or_default(),
            page: crate::ui::param(&m, "page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1),
        }
    };
    let data = Resource::new(q, get_mailboxes);
    signed_in_page(
        "Mailboxes",
        Some("Mailboxes"),
        "Every mailbox in your tenants. Create them on a domain's page; offboard several at once here.",
        data,
        |p: MailboxesList| {
            let q = p.query.clone();
            let pages = ((p.total + super::MAILBOX_PAGE - 1) / super::MAILBOX_PAGE).max(1);
            let page = q.page.max(1);
            let link = {
                let q = q.clone();
                move |page: i64| format!("/mailboxes?q={}&status={}&page={page}", urlencode(&q.q), q.status)
            };
            let can_manage = p.can_manage && q.status != "offboarded";
            let table = view! {
                <div class="card overflow-x-auto">
                    <table class="table" data-testid="mailbox-list">
                        <thead><tr>
                            {can_manage.then(|| view! { <th class="w-8"><span class="sr-only">"Select"</span></th> })}
                            <th>"Address"</th><th>"Name"</th><th>"Tenant"</th><th>"Status"</th><th>"Quota"</th><th>"Created"</th>
                        </tr></thead>
                        <tbody>
                            {p.rows.clone().into_iter().map(|r| { let m = r.mailbox; view! {
                                <tr>
                                    {can_manage.then(|| view! { <td><input type="checkbox" name="id" value=m.id.clone() aria-label=format!("Select {}", m.address)/></td> })}
                                    <td class="font-medium"><a class="link" href=format!("/mailboxes/{}", m.id)>{crate::types::readable(&m.address)}</a>
                                        {m.critical.then(|| view! { <span class="ml-2"><Badge text="critical" tone="amber"/></span> })}</td>
                                    <td>{m.display_name.clone()}</td>
                                    <td><a class="link" href=format!("/tenants/{}", r.tenant_slug)>{r.tenant_name.clone()}</a></td>
                                    <td><Badge text=m.status.as_str() tone=status_tone(m.status.as_str())/>{m.shared.then(|| view! { " "<Badge text="shared" tone="blue"/> })}</td>
                                    <td>{m.quota_bytes.map(format_bytes).unwrap_or_else(|| "within the pool".into())}</td>
                                    <td class="text-zinc-500">{chrono::DateTime::from_timestamp(m.created_at, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()}</td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                </div>
            };
            view! {
                <form method="get" action="/mailboxes" class="flex flex-wrap items-end gap-3">
                    <div class="flex-1 min-w-64">
                        <label class="label" for="mq">"Search"</label>
                        <input class="input" id="mq" name="q" value=q.q.clone() placeholder="address or name"/>
                    </div>
                    <div>
                        <label class="label" for="ms">"Status"</label>
                        <select class="input" id="ms" name="status">
                            <option value="" selected=q.status.is_empty()>"all but offboarded"</option>
                            {super::MAILBOX_STATUSES.iter().map(|s| view! { <option value=*s selected=q.status == *s>{*s}</option> }).collect_view()}
                        </select>
                    </div>
                    <button class="btn btn-secondary" type="submit">"Show"</button>
                </form>
                {if p.rows.is_empty() {
                    view! { <crate::ui::EmptyState title="No mailboxes here" hint="Mailboxes are created on a domain's page: open a domain from the dashboard."/> }.into_any()
                } else if can_manage {
                    view! {
                        <form method="post" action="/mailboxes/offboard" class="space-y-3">
                            <details class="card p-4" data-testid="bulk-offboard">
                                <summary class="cursor-pointer font-medium text-red-800">"Offboard selected mailboxes…"<span class="ml-2 font-normal text-zinc-500">"tick them in the list below"</span></summary>
                                <p class="mt-2 text-sm text-zinc-600">"Each is offboarded like one at a time: sign-in, sessions, app passwords, links, recovery codes, pending requests and the same person's console accounts are revoked, and each gets its own receipt and verification scan."</p>
                                <div class="mt-3 grid gap-3 sm:grid-cols-3 items-end">
                                    <div class="sm:col-span-2"><label class="label" for="bo-reason">"Reason"</label><input class="input" id="bo-reason" name="reason" minlength="4" maxlength="500" placeholder="e.g. client contract ended"/></div>
                                    <div><label class="label" for="bo-days">"Keep the mail for (days)"</label><input class="input" id="bo-days" name="keep_days" type="number" min="0" max="3650" value="30"/></div>
                                    <label class="sm:col-span-2 flex items-center gap-2 text-sm"><input type="checkbox" name="confirm" value="on"/>"Yes, offboard every selected mailbox now"</label>
                                    <div><button class="btn btn-danger w-full" type="submit">"Offboard selected"</button></div>
                                </div>
                            </details>
                            {table}
                        </form>
                    }.into_any()
                } else {
                    table.into_any()
                }}
                <div class="flex items-center justify-between text-sm text-zinc-600">
                    <span data-testid="mailbox-count">{format!("{} mailbox{}", p.total, if p.total == 1 { "" } else { "es" })}</span>
                    <span class="flex items-center gap-3">
                        {(page > 1).then(|| view! { <a class="link" href=link(page - 1)>"← Previous"</a> })}
                        <span>{format!("Page {} of {}", page.min(pages), pages)}</span>
                        {(page < pages).then(|| view! { <a class="link" href=link(page + 1)>"Next →"</a> })}
                    </span>
                </div>
            }
        },
    )
}

/// The new-mailbox form of a domain page.
#[component]
pub fn NewMailboxForm(domain_id: String, domain_name: String, back: String) -> impl IntoView {
    let t = crate::ui::typed("/mailboxes");
    view! {
        <form method="post" action="/mailboxes" class="card p-5 space-y-3" data-testid="new-mailbox">
            <h3 class="font-medium">"New mailbox"</h3>
            <p class="text-sm text-zinc-600">"The person gets a one-time link and sets their own password; nobody else ever knows it."</p>
            <input type="hidden" name="domain" value=domain_id/>
            <input type="hidden" name="back" value=back/>
            <div class="grid gap-3 sm:grid-cols-2">
                <div>
                    <label class="label" for="mb-address">"Address"</label>
                    <div class="flex items-center gap-1">
                        <input class="input" id="mb-address" name="address" required placeholder="ann" autocomplete="off"
                            value=t.value("address", "") autofocus=t.focus("address", true)
                            aria-invalid=t.invalid("address") aria-describedby=t.described("address")/>
                        <span class="text-sm text-zinc-500 whitespace-nowrap">"@"{domain_name}</span>
                    </div>
                    {t.error_below("address")}
                </div>
                <div>
                    <label class="label" for="mb-name">"Name"</label>
                    <input class="input" id="mb-name" name="display_name" required maxlength="100" placeholder="Ann Example"
                        value=t.value("display_name", "") autofocus=t.focus("display_name", false)
                            aria-invalid=t.invalid("display_name") aria-describedby=t.described("display_name")/>
                    {t.error_below("display_name")}
                </div>
                <div>
                    <label class="label" for="mb-quota">"Quota"</label>
                    <input class="input" id="mb-quota" name="quota" placeholder="e.g. 2 GB (empty: within the pool)"
                        value=t.value("quota", "") autofocus=t.focus("quota", false)
                            aria-invalid=t.invalid("quota") aria-describedby=t.described("quota")/>
                    {t.error_below("quota")}
                    <p class="hint">"Allocated from the tenant's storage pool."</p>
                </div>
                <div>
                    <label class="label" for="mb-invite">"Send the invitation to"</label>
                    <input class="input" id="mb-invite" name="invite_to" type="email" placeholder="the person's current address"
                        value=t.value("invite_to", "") autofocus=t.focus("invite_to", false)
                            aria-invalid=t.invalid("invite_to") aria-describedby=t.described("invite_to")/>
                    {t.error_below("invite_to")}
                    <p class="hint">"Without it, an operator reveals the link once to hand it over."</p>
                </div>
            </div>
            <label class="flex items-start gap-2 text-sm">
                <input type="checkbox" name="shared" value="on" class="mt-0.5" checked=t.ticked("shared", false)/>
                <span>"Shared mailbox"<span class="block text-xs text-zinc-500">"For info@, support@ and the like: nobody signs in to it, so there is no invitation; the people who use it are delegated its folders and sending as it."</span></span>
            </label>
            <label class="flex items-start gap-2 text-sm">
                <input type="checkbox" name="critical" value="on" class="mt-0.5" checked=t.ticked("critical", false)/>
                <span>"Critical mailbox"<span class="block text-xs text-zinc-500">"A recovery address for registrars, billing, cloud consoles or password managers: resets need a second person's approval and links are never revealed."</span></span>
            </label>
            <button class="btn btn-primary" type="submit">"Create"</button>
        </form>
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MailboxPage {
    pub mailbox: Mailbox,
    pub domain_name: String,
    pub tenant: Tenant,
    pub invite: Option<MailboxInvite>,
    pub app_passwords: Vec<AppPassword>,
    pub recovery_codes_left: i64,
    pub changes: Vec<ChangeRequest>,
    pub receipt: Option<OffboardingReceipt>,
    pub events: Vec<AuditEvent>,
    pub can_manage: bool,
    /// Why the link cannot be revealed (policy, role), if it cannot.
    pub reveal_blocked: Option<String>,
    pub fresh: Option<FreshSecret>,
    /// What offboarding would revoke now.
    pub preview: Option<Revocations>,
    pub mailer: bool,
    pub now: i64,
    /// Where mail to this address goes through aliases now.
    pub aliases: Vec<super::AliasView>,
    /// Outside services that use this address (email as identity).
    pub identities: Vec<super::Identity>,
    /// Who may send as it, and as whom it may send.
    pub delegations: super::Delegations,
    pub can_delegate: bool,
}

#[server(prefix = "/_sf")]
pub async fn get_mailbox_page(id: String) -> Result<PageData<MailboxPage>, ServerFnError> {
    use super::service;
    use crate::core::authz::{authorize_in, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let mailbox = service::get(&c.st, &a, &id).await?;
        let domain = crate::tenancy::service::domain(&c.st, &a, &mailbox.domain_id).await?;
        let (tenant, _) = crate::tenancy::service::tenant(&c.st, &a, &mailbox.tenant_id).await?;
        let x = service::extras(&c.st, &a, &mailbox).await?;
        let can_manage = authorize_in(&a, Action::ManageMailboxes, &mailbox.tenant_id).is_ok();
        let reveal_blocked = match (
            &x.reveal,
            authorize_in(&a, Action::RevealInvite, &mailbox.tenant_id),
        ) {
            (service::RevealPolicy::Forbidden(why), _) => Some(why.clone()),
            (_, Err(_)) => Some("Only operators can reveal invitation links.".into()),
            _ => None,
        };
        let preview = if can_manage && mailbox.status != "offboarded" {
            Some(service::offboard_preview(&c.st, &a, &mailbox.id).await?)
        } else {
            None
        };
        let fresh = crate::auth::api::take_fresh(&c).await;
        let aliases =
            crate::routing::service::aliases_to_mailboxes(&c.st, &mailbox.address).await?;
        let identities = service::identities(&c.st, &a, &mailbox.id).await?;
        let delegations = service::delegations(&c.st, &a, &mailbox.id).await?;
        Ok(MailboxPage {
            can_delegate: authorize_in(&a, Action::DelegateMailbox, &mailbox.tenant_id).is_ok(),
            delegations,
            identities,
            aliases,
            domain_name: domain.unicode_name,
            tenant,
            invite: x.invite,
            app_passwords: x.app_passwords,
            recovery_codes_left: x.recovery_codes_left,
            changes: x.changes,
            receipt: x.receipt,
            events: x.events,
            can_manage,
            reveal_blocked,
            fresh,
            preview,
            mailer: c.st.mailer.is_configured(),
            now: c.st.clock.now(),
            mailbox,
        })
    })
    .await
}

#[component]
pub fn MailboxDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || crate::ui::param(&params.read(), "id").unwrap_or_default();
    let data = Resource::new(id, get_mailbox_page);
    signed_in_page(
        "Mailbox",
        Some("Mailboxes"),
        "Its invitation, password resets, app passwords and offboarding. Passwords and links are never shown to anyone but their owner.",
        data,
        move |p: MailboxPage| {
            let m = p.mailbox.clone();
            let now = p.now;
            let live = m.status != "offboarded";
            view! {
                <section class="card p-5 space-y-1" data-testid="mailbox-head">
                    <h2 class="text-lg font-semibold">{crate::types::readable(&m.address)}" "<Badge text=m.status.as_str() tone=status_tone(m.status.as_str())/>
                        {m.shared.then(|| view! { " "<Badge text="shared mailbox" tone="blue"/> })}
                        {m.critical.then(|| view! { " "<Badge text="critical" tone="amber"/> })}</h2>
                    <p class="text-sm text-zinc-600">{m.display_name.clone()}" · domain "
                        <a class="link" href=format!("/domains/{}", m.domain_id)>{p.domain_name.clone()}</a>
                        " · tenant "<a class="link" href=format!("/tenants/{}", p.tenant.slug)>{p.tenant.name.clone()}</a></p>
                    <p class="text-sm text-zinc-600">
                        {format!("Quota: {}", m.quota_bytes.map(format_bytes).unwrap_or_else(|| "within the pool".into()))}
                        {(!m.shared).then(|| format!(" · recovery codes left: {}", p.recovery_codes_left))}
                        {m.contact_email.clone().map(|c| format!(" · other address: {c}"))}
                    </p>
                    {m.shared.then(|| view! {
                        <p class="text-sm text-zinc-600" data-testid="shared-note">"Nobody signs in to a shared mailbox: the people who use it open its folders and send as it through delegation (below), each signed in as themselves."</p>
                    })}
                    {m.password_set_at.map(|t| view! { <p class="text-sm text-zinc-600">"Password set by its owner "<Time at=t now=now/></p> })}
                    {p.aliases.clone().into_iter().map(|a| view! {
                        <p class="mt-2 rounded border border-blue-200 bg-blue-50 px-3 py-2 text-sm text-blue-900" data-testid="alias">
                            {format!("Mail to {} goes to {}", a.address, a.target)}
                            {a.expires_at.map(|e| view! { " until "<Time at=e now=now/> })}
                        </p>
                    }).collect_view()}
                    {m.invite_revealed_to.clone().map(|who| view! {
                        <p class="mt-2 rounded border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="revealed-mark">
                            {format!("Invitation link revealed to {who}. This mark stays until the owner has set a password.")}
                        </p>
                    })}
                </section>
                {p.fresh.clone().map(|f| view! { <SecretOnce secret=f/> })}
                // Each panel type-erased: the page renders within a worker thread's stack.
                // A shared mailbox has no link, no password and nobody to unlock it for.
                {(p.can_manage && live).then(|| view! {
                    {(!m.shared).then(|| view! { <InvitePanel mailbox=m.clone() invite=p.invite.clone() reveal_blocked=p.reveal_blocked.clone() mailer=p.mailer now=now/> }.into_any())}
                    {(m.status == "locked").then(|| view! { <UnlockPanel mailbox=m.clone()/> }.into_any())}
                    {(m.status != "invited" && !m.shared).then(|| view! { <ResetPanel mailbox=m.clone()/> }.into_any())}
                    {view! { <DetailsPanel mailbox=m.clone()/> }.into_any()}
                }.into_any())}
                <ChangesList changes=p.changes.clone() now=now/>
                {(!m.shared).then(|| view! {
                <section class="card">
                    <div class="px-4 py-3 border-b border-zinc-200">
                        <h2 class="font-medium">"App passwords"</h2>
                        <p class="text-sm text-zinc-600">"For mail clients (IMAP, SMTP submission). Only the owner creates them, from their own area; here you can revoke them."</p>
                    </div>
                    <AppPasswordsTable items=p.app_passwords.clone() now=now
                        revoke_base=p.can_manage.then(|| format!("/mailboxes/{}/app-passwords", m.id))/>
                </section>
                }.into_any())}
                <IdentitiesCard items=p.identities.clone() critical=m.critical now=now
                    base=(p.can_manage && live).then(|| format!("/mailboxes/{}/identities", m.id))/>
                {view! { <DelegationsCard mailbox=m.clone() d=p.delegations.clone() now=now
                    base=format!("/mailboxes/{}/delegations", m.id) can_delegate=p.can_delegate && live/> }.into_any()}
                {p.preview.clone().map(|pv| view! { <OffboardPanel mailbox=m.clone() preview=pv/> }.into_any())}
                {(!live).then(|| view! { <RetentionCard mailbox=m.clone() can_manage=p.can_manage now=now/> }.into_any())}
                {p.receipt.clone().map(|r| view! { <ReceiptCard receipt=r now=now/> }.into_any())}
                <crate::audit::pages::ActivityCard title="History of this mailbox" events=p.events.clone() now=now
                    more=format!("/audit?about={}", urlencode(&m.address))/>
            }
        },
    )
}

#[component]
fn InvitePanel(
    mailbox: Mailbox,
    invite: Option<MailboxInvite>,
    reveal_blocked: Option<String>,
    mailer: bool,
    now: i64,
) -> impl IntoView {
    let id = mailbox.id.clone();
    let invited = mailbox.status == "invited";
    view! {
        <section class="card p-5 space-y-3" data-testid="invite-panel">
            <h2 class="font-medium">"Invitation link"</h2>
            {match invite.clone() {
                Some(i) => view! {
                    <p class="text-sm">
                        {if i.purpose == "reset" { "A reset link is open" } else { "An invitation is open" }}
                        {match (&i.delivery[..], i.send_to.clone()) {
                            ("email", Some(to)) => format!(": emailed to {to}"),
                            _ => if i.revealed_at.is_some() { ": revealed once".to_string() } else { ": waiting to be revealed".to_string() },
                        }}
                        " · made by "{i.created_by.clone()}" · expires "<Time at=i.expires_at now=now/>
                    </p>
                }.into_any(),
                None => view! { <p class="text-sm text-zinc-600">{if invited { "No open invitation: the last one was used, revoked or has expired." } else { "No open link." }}</p> }.into_any(),
            }}
            <div class="flex flex-wrap items-end gap-3">
                {invited.then(|| { let id = id.clone(); let contact = mailbox.contact_email.clone().unwrap_or_default(); view! {
                    <form method="post" action=format!("/mailboxes/{id}/invite/resend") class="flex items-end gap-2">
                        <div>
                            <label class="label" for="resend-to">"Send a new link to"</label>
                            <input class="input" id="resend-to" name="send_to" type="email" value=contact placeholder="empty: reveal it once instead"/>
                        </div>
                        <button class="btn btn-secondary" type="submit">{if mailer { "Send new invitation" } else { "Make new link" }}</button>
                    </form>
                }})}
                {invite.clone().filter(|i| i.revealed_at.is_none() && i.delivery == "reveal").map(|_| {
                    match reveal_blocked.clone() {
                        None => view! {
                            <form method="post" action=format!("/mailboxes/{id}/invite/reveal")>
                                <button class="btn btn-secondary" type="submit" title="Shows the link once, for handing over in person; recorded in the audit log">"Reveal link once"</button>
                            </form>
                        }.into_any(),
                        Some(why) => view! { <p class="text-xs text-zinc-500 max-w-xs">{why}</p> }.into_any(),
                    }
                })}
                {invite.is_some().then(|| view! {
                    <ConfirmButton action=format!("/mailboxes/{id}/invite/revoke") label="Revoke link"
                        question="The open link stops working at once."/>
                })}
            </div>
        </section>
    }
}

/// The mailbox's editable details: name, contact address, allocation, critical flag.
#[component]
fn DetailsPanel(mailbox: Mailbox) -> impl IntoView {
    let id = mailbox.id.clone();
    let t = crate::ui::typed(&format!("/mailboxes/{id}/edit"));
    let quota = mailbox
        .quota_bytes
        .map(super::quota_input)
        .unwrap_or_default();
    view! {
        <section class="card p-5 space-y-3" data-testid="details-panel">
            <h2 class="font-medium">"Details"</h2>
            <form method="post" action=format!("/mailboxes/{id}/edit") class="grid gap-3 sm:grid-cols-2 items-start">
                <div>
                    <label class="label" for="edit-name">"Name"</label>
                    <input class="input" id="edit-name" name="display_name" required maxlength="100" value=t.value("display_name", mailbox.display_name.clone()) autofocus=t.focus("display_name", true) aria-invalid=t.invalid("display_name") aria-describedby=t.described("display_name")/>
                    {t.error_below("display_name")}
                </div>
                <div>
                    <label class="label" for="edit-contact">"Contact address"</label>
                    <input class="input" id="edit-contact" name="contact_email" type="email" value=t.value("contact_email", mailbox.contact_email.clone().unwrap_or_default()) placeholder="the person's other address" autofocus=t.focus("contact_email", false) aria-invalid=t.invalid("contact_email") aria-describedby=t.described("contact_email")/>
                    {t.error_below("contact_email")}
                    <p class="text-xs text-zinc-500 mt-1">"Where invitation and reset links and notices go. The previous address is told of a change."</p>
                </div>
                <div>
                    <label class="label" for="edit-quota">"Allocation from the pool"</label>
                    <input class="input" id="edit-quota" name="quota" value=t.value("quota", quota) placeholder="e.g. 2 GB; empty: unlimited within the pool" autofocus=t.focus("quota", false) aria-invalid=t.invalid("quota") aria-describedby=t.described("quota")/>
                    {t.error_below("quota")}
                </div>
                <label class="flex items-start gap-2 text-sm">
                    <input type="checkbox" name="critical" value="on" class="mt-0.5" checked=t.ticked("critical", mailbox.critical)/>
                    <span>"Critical"<span class="block text-xs text-zinc-500">
                        {if mailbox.critical {
                            "Resets need a second person. Unticking it asks for approval too."
                        } else {
                            "A recovery address for registrars, billing or consoles: resets will need a second person."
                        }}
                    </span></span>
                </label>
                {mailbox.critical.then(|| view! {
                    <div class="sm:col-span-2">
                        <label class="label" for="edit-reason">"Reason, if it should no longer be critical"</label>
                        <input class="input" id="edit-reason" name="reason" maxlength="500" placeholder="e.g. no longer the registrar contact (ticket 4711)" value=t.value("reason", "")/>
                    </div>
                })}
                <div class="sm:col-span-2"><button class="btn btn-secondary" type="submit">"Save details"</button></div>
            </form>
        </section>
    }
}

/// Unlocking a locked mailbox, or sending its owner a new link when the password is suspect.
#[component]
fn UnlockPanel(mailbox: Mailbox) -> impl IntoView {
    let id = mailbox.id.clone();
    view! {
        <section class="card p-5 space-y-3" data-testid="unlock-panel">
            <h2 class="font-medium">"Unlock"</h2>
            <p class="text-sm text-zinc-600">"The mailbox is locked: its password, sessions and app passwords do not work. Unlocking makes the current password work again."</p>
            <form method="post" action=format!("/mailboxes/{id}/unlock") class="grid gap-3 sm:grid-cols-2 items-end">
                <div class="sm:col-span-2">
                    <label class="label" for="unlock-reason">"Reason (goes into the audit log)"</label>
                    <input class="input" id="unlock-reason" name="reason" required minlength="4" maxlength="500" placeholder="e.g. the owner confirmed the sign-ins were theirs (ticket 4712)"/>
                </div>
                <label class="flex items-start gap-2 text-sm sm:col-span-2">
                    <input type="checkbox" name="new_link" value="on" class="mt-0.5"/>
                    <span>"The password may be known to someone else"<span class="block text-xs text-zinc-500">"Send the owner a new link instead (a reset); the mailbox stays locked until they use it."</span></span>
                </label>
                <div class="sm:col-span-2"><button class="btn btn-primary" type="submit">"Unlock"</button></div>
            </form>
        </section>
    }
}

#[component]
fn ResetPanel(mailbox: Mailbox) -> impl IntoView {
    let id = mailbox.id.clone();
    let can_reset = matches!(mailbox.status.as_str(), "active" | "locked");
    view! {
        <section class="card p-5 space-y-3" data-testid="reset-panel">
            <h2 class="font-medium">"Reset password"</h2>
            {if !can_reset {
                view! { <p class="text-sm text-zinc-600">"Resets are for activated mailboxes; until then, send a new invitation."</p> }.into_any()
            } else {
                view! {
                    <p class="text-sm text-zinc-600">
                        "Sends the owner a new one-time link; you never see or set the password. "
                        {if mailbox.critical { "This is a critical mailbox: the reset waits for another person's approval." } else { "" }}
                    </p>
                    <form method="post" action=format!("/mailboxes/{id}/reset") class="grid gap-3 sm:grid-cols-2 items-end">
                        <div class="sm:col-span-2">
                            <label class="label" for="reset-reason">"Reason (goes into the audit log)"</label>
                            <input class="input" id="reset-reason" name="reason" required minlength="4" maxlength="500" placeholder="e.g. owner lost their phone and recovery codes (ticket 4711)"/>
                        </div>
                        <div>
                            <label class="label" for="reset-to">"Send the link to"</label>
                            <input class="input" id="reset-to" name="send_to" type="email" value=mailbox.contact_email.clone().unwrap_or_default() placeholder="the owner's other address"/>
                        </div>
                        <div class="sm:col-span-2"><button class="btn btn-primary" type="submit">{if mailbox.critical { "Request reset" } else { "Reset password" }}</button></div>
                    </form>
                }.into_any()
            }}
        </section>
        {(mailbox.status == "active").then(|| view! { <LockPanel mailbox=mailbox.clone()/> }.into_any())}
    }
}

/// "Lock now": suspected compromise. Its own form, confirmed in a dialog.
#[component]
fn LockPanel(mailbox: Mailbox) -> impl IntoView {
    let id = mailbox.id.clone();
    let t = crate::ui::typed(&format!("/mailboxes/{id}/lock"));
    let question = format!(
        "{} stops working at once: its password, signed-in sessions and app passwords. Its \
         forwards are suspended. The owner gets a link to set a new password{}.",
        mailbox.address,
        if mailbox.critical {
            " once another person approves the reset"
        } else {
            ""
        }
    );
    view! {
        <section class="card p-5 space-y-3 border-red-200" data-testid="lock-panel">
            <h2 class="font-medium text-red-800">"Lock now"</h2>
            <p class="text-sm text-zinc-600">"For a suspected compromise: the password, sessions and app passwords stop working at once, forwards to outside addresses are suspended (they come back only through a new, approved request), and the owner is sent a link to set a new password."</p>
            <ConfirmButton action=format!("/mailboxes/{id}/lock") label="Lock now" question=question
                form_class="grid gap-3 sm:grid-cols-2 items-end" button_class="btn btn-danger sm:col-span-2 justify-self-start">
                <div class="sm:col-span-2">
                    <label class="label" for="lock-reason">"Reason (goes into the audit log)"</label>
                    <input class="input" id="lock-reason" name="reason" required minlength="4" maxlength="500" placeholder="e.g. sign-ins from an unknown country (ticket 4713)"
                        value=t.value("reason", "") autofocus=t.is_back()/>
                </div>
                <div>
                    <label class="label" for="lock-to">"Send the new link to"</label>
                    <input class="input" id="lock-to" name="send_to" type="email" placeholder="the owner's other address"
                        value=t.value("send_to", &mailbox.contact_email.clone().unwrap_or_default())/>
                </div>
            </ConfirmButton>
        </section>
    }
}

/// Change requests about one object (pending first), with links to the approval queue.
#[component]
pub fn ChangesList(changes: Vec<ChangeRequest>, now: i64) -> impl IntoView {
    (!changes.is_empty()).then(|| view! {
        <section class="card" data-testid="changes">
            <div class="px-4 py-3 border-b border-zinc-200 flex items-center justify-between">
                <h2 class="font-medium">"Change requests"</h2>
                <a class="link text-sm" href="/approvals">"Approval queue →"</a>
            </div>
            <ul class="divide-y divide-zinc-100">
                {changes.into_iter().map(|c| view! {
                    <li class="px-4 py-2 text-sm flex flex-wrap gap-x-3 gap-y-1 items-center">
                        <Badge text=c.state.label() tone=crate::changes::pages::state_tone(c.state)/>
                        <span class="font-medium">{c.title()}</span>
                        <span class="text-zinc-600">{if c.reason.trim().is_empty() { format!("asked by {}", c.requested_by_label) } else { format!("“{}” — asked by {}", c.reason, c.requested_by_label) }}</span>
                        <span class="text-zinc-500"><Time at=c.requested_at now=now/></span>
                        {c.decided_by_label.clone().map(|d| view! { <span class="text-zinc-600">{format!("decided by {d}")}</span> })}
                        {c.result.clone().map(|r| view! { <span class="text-zinc-500">{r}</span> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    })
}

#[component]
pub fn AppPasswordsTable(
    items: Vec<AppPassword>,
    now: i64,
    /// `…/app-passwords` to offer revoking (`{base}/{id}/revoke`).
    revoke_base: Option<String>,
) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="px-4 py-3 text-sm text-zinc-500">"No app passwords."</p> }
            .into_any();
    }
    view! {
        <table class="table" data-testid="app-passwords">
            <thead><tr><th>"Name"</th><th>"For"</th><th>"Created"</th><th>"Expires"</th><th class="text-right">"Status"</th></tr></thead>
            <tbody>
                {items.into_iter().map(|a| {
                    let expired = a.expires_at.is_some_and(|e| e <= now);
                    let live = a.revoked_at.is_none() && !expired;
                    view! {
                        <tr>
                            <td class="font-medium">
                                {a.name.clone()}
                                {(live && !a.works_for_mail).then(|| view! {
                                    <p class="text-xs font-normal text-amber-700">"Made before mail sign-in was connected: it opens nothing. Revoke it and make a new one."</p>
                                })}
                            </td>
                            <td>{a.protocols.iter().map(|p| p.to_uppercase()).collect::<Vec<_>>().join(" + ")}</td>
                            <td><Time at=a.created_at now=now/></td>
                            <td>{match a.expires_at { Some(e) => view! { <Time at=e now=now/> }.into_any(), None => view! { <span class="text-zinc-500">"never"</span> }.into_any() }}</td>
                            <td class="text-right">
                                {if live {
                                    match revoke_base.clone() {
                                        Some(b) => view! { <ConfirmButton action=format!("{b}/{}/revoke", a.id) label="Revoke"
                                            question=format!("Mail clients using “{}” stop working at once.", a.name)/> }.into_any(),
                                        None => view! { <Badge text="active" tone="green"/> }.into_any(),
                                    }
                                } else if a.revoked_at.is_some() {
                                    view! { <Badge text="revoked" tone="gray"/> }.into_any()
                                } else {
                                    view! { <Badge text="expired" tone="gray"/> }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn OffboardPanel(mailbox: Mailbox, preview: Revocations) -> impl IntoView {
    let id = mailbox.id.clone();
    let routes = preview.route_list.clone();
    let t = crate::ui::typed(&format!("/mailboxes/{id}/offboard"));
    let items: Vec<String> = vec![
        format!(
            "Sign-in with the mailbox password: {}",
            if preview.sign_in {
                "disabled"
            } else {
                "none set yet"
            }
        ),
        format!("Signed-in sessions: {}", preview.sessions),
        format!("App passwords: {}", preview.app_passwords),
        format!("Open invitation or reset links: {}", preview.invites),
        format!("Unused recovery codes: {}", preview.recovery_codes),
        format!(
            "Pending change requests: {} (cancelled)",
            preview.change_requests
        ),
        if preview.route_list.is_empty() {
            "Aliases, catch-alls and forwards from or to it: none".to_string()
        } else {
            format!(
                "Aliases, catch-alls and forwards from or to it: {} (listed below)",
                preview.route_list.len()
            )
        },
        format!(
            "Delegations (of this mailbox, or to it): {}",
            preview.delegations
        ),
        if preview.accounts.is_empty() {
            "Console accounts of the same person: none".to_string()
        } else {
            format!(
                "Console accounts of the same person (disabled): {}",
                preview.accounts.join(", ")
            )
        },
        format!("API tokens those accounts created: {}", preview.api_tokens),
    ];
    view! {
        <section class="card p-5 space-y-3 border-red-200" data-testid="offboard-panel">
            <h2 class="font-medium text-red-800">"Offboard mailbox"</h2>
            <p class="text-sm text-zinc-600">"Revokes everything below in one step, then re-reads the database to prove nothing active remains. The receipt can be downloaded."</p>
            <ul class="list-disc pl-5 text-sm text-zinc-700" data-testid="offboard-preview">
                {items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}
            </ul>
            <form method="post" action=format!("/mailboxes/{id}/offboard") class="grid gap-3 sm:grid-cols-3 items-end">
                {(!routes.is_empty()).then(|| view! {
                    <div class="sm:col-span-3 space-y-2" data-testid="offboard-routes">
                        <h3 class="text-sm font-medium">"Mail routed from or to this mailbox"</h3>
                        <ul class="divide-y divide-zinc-100 rounded border border-zinc-200 text-sm">
                            {routes.into_iter().map(|r| {
                                let field = format!("repoint_{}", r.id);
                                let input_id = format!("ob-rp-{}", r.id);
                                let typed = t.value(&field, "");
                                view! {
                                    <li class="p-3 space-y-2" data-testid="offboard-route">
                                        <p class="break-words">
                                            <span class="font-medium">{r.kind.clone()}</span>" "
                                            <span class="font-mono">{crate::types::shown_source(&r.source)}</span>" → "
                                            <span class="font-mono">{r.targets.join(", ")}</span>
                                        </p>
                                        <p class="text-zinc-600">{r.fate.clone()}</p>
                                        {r.inbound.then(|| view! {
                                            <div class="flex flex-wrap items-center gap-2">
                                                <label class="text-zinc-700" for=input_id.clone()>"Re-point to"</label>
                                                <input class="input max-w-xs" id=input_id name=field type="email"
                                                    placeholder="a colleague's address" value=typed/>
                                            </div>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        <p class="hint">"A re-pointed alias goes on at once where aliases need no approval; a catch-all, or an alias under the approval policy, waits for another person's approval."</p>
                    </div>
                })}
                <div>
                    <label class="label" for="ob-days">"Keep the mail for (days)"</label>
                    <input class="input" id="ob-days" name="keep_days" type="number" min="0" max="3650" value=t.value("keep_days", "30") required/>
                    <p class="hint">"Then the mail plane deletes it."</p>
                </div>
                <div class="sm:col-span-2">
                    <label class="label" for="ob-reason">"Reason"</label>
                    <input class="input" id="ob-reason" name="reason" required minlength="4" maxlength="500" placeholder="e.g. left the company on 30 Nov"
                        value=t.value("reason", "")/>
                </div>
                <div class="sm:col-span-2">
                    <label class="label" for="ob-alias">"Then send its mail to a colleague (optional)"</label>
                    <input class="input" id="ob-alias" name="alias_to" type="email" placeholder="colleague's address in this tenant"
                        value=t.value("alias_to", "")/>
                    <p class="hint">"An alias, approved by a second person, that ends by itself."</p>
                </div>
                <div>
                    <label class="label" for="ob-alias-days">"For (days, at most 90)"</label>
                    <input class="input" id="ob-alias-days" name="alias_days" type="number" min="1" max="90" value=t.value("alias_days", "30")/>
                </div>
                <div class="sm:col-span-2">
                    <label class="label" for="ob-confirm">{format!("Type {} to confirm", mailbox.address)}</label>
                    <input class="input" id="ob-confirm" name="confirm" required autocomplete="off" autofocus=t.is_back()/>
                </div>
                <div><button class="btn btn-danger w-full" type="submit">"Offboard now"</button></div>
            </form>
        </section>
    }
}

/// How long an offboarded mailbox's mail is kept, and once deleted, when; an operator may keep
/// it longer while the date has not passed.
#[component]
fn RetentionCard(mailbox: Mailbox, can_manage: bool, now: i64) -> impl IntoView {
    let m = mailbox;
    let ty = crate::ui::typed(&format!("/mailboxes/{}/retention", m.id));
    let (state, text) = match (m.purged_at, m.purge_after) {
        (Some(at), _) => (
            view! { <Badge text="mail deleted" tone="gray"/> }.into_any(),
            format!("Its kept mail was deleted on {}, as its retention ended.", crate::ui::utc(at)),
        ),
        (None, Some(after)) if after <= now => (
            view! { <Badge text="deletion due" tone="amber"/> }.into_any(),
            format!("Its mail was due for deletion on {}; the mail plane deletes it at its next run.", crate::ui::utc(after)),
        ),
        (None, Some(after)) => (
            view! { <Badge text="mail kept" tone="green"/> }.into_any(),
            format!("Its mail is kept until {} (UTC) and deleted after that day. Nobody can sign in to read it meanwhile.", super::kept_until(after)),
        ),
        (None, None) => (
            view! { <Badge text="no deletion date" tone="gray"/> }.into_any(),
            "Its mail has no deletion date.".to_string(),
        ),
    };
    let extendable = can_manage && m.purged_at.is_none() && m.purge_after.is_some_and(|a| a > now);
    let form = extendable.then(|| view! {
        <form method="post" action=format!("/mailboxes/{}/retention", m.id) class="grid gap-3 sm:grid-cols-3 items-start" data-testid="retention-form">
            <div>
                <label class="label" for="ret-until">"Keep the mail until"</label>
                <input class="input" id="ret-until" name="until" type="date" required min=m.purge_after.map(|a| super::kept_until(a + 86_400))
                    value=ty.value("until", "") autofocus=ty.focus("until", false)
                    aria-invalid=ty.invalid("until") aria-describedby=ty.described("until")/>
                {ty.error_below("until")}
            </div>
            <div>
                <label class="label" for="ret-reason">"Reason"</label>
                <input class="input" id="ret-reason" name="reason" required maxlength="500" placeholder="Legal hold until the case closes"
                    value=ty.value("reason", "") autofocus=ty.focus("reason", false)
                    aria-invalid=ty.invalid("reason") aria-describedby=ty.described("reason")/>
                {ty.error_below("reason")}
            </div>
            <div class="sm:pt-6"><button class="btn btn-secondary" type="submit">"Keep longer"</button></div>
        </form>
    });
    view! {
        <section class="card p-5 space-y-3" data-testid="retention">
            <div class="flex items-center gap-2"><h2 class="font-medium">"Kept mail"</h2>{state}</div>
            <p class="text-sm text-zinc-600">{text}</p>
            {form}
        </section>
    }
}

#[component]
fn ReceiptCard(receipt: OffboardingReceipt, now: i64) -> impl IntoView {
    let r = receipt.clone();
    let rv = r.revoked.clone();
    let rows: Vec<(String, String)> = vec![
        (
            "Sign-in (password)".into(),
            if rv.sign_in {
                "disabled".into()
            } else {
                "was not set".into()
            },
        ),
        ("Sessions ended".into(), rv.sessions.to_string()),
        ("App passwords revoked".into(), rv.app_passwords.to_string()),
        ("Links revoked".into(), rv.invites.to_string()),
        (
            "Recovery codes voided".into(),
            rv.recovery_codes.to_string(),
        ),
        (
            "Change requests cancelled".into(),
            rv.change_requests.to_string(),
        ),
        (
            "Aliases, catch-alls and forwards".into(),
            rv.routes.to_string(),
        ),
        ("Delegations".into(), rv.delegations.to_string()),
        (
            "Console accounts disabled".into(),
            if rv.accounts.is_empty() {
                "0".into()
            } else {
                rv.accounts.join(", ")
            },
        ),
        ("API tokens revoked".into(), rv.api_tokens.to_string()),
    ];
    let alias = rv.alias_requested.clone();
    let routes = rv.route_list.clone();
    view! {
        <section class="card p-5 space-y-3" id="receipt" data-testid="receipt">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 class="font-medium">"Offboarding receipt"</h2>
                <span class="flex gap-2">
                    <a class="btn btn-secondary" href=format!("/mailboxes/{}/receipt.md", r.mailbox_id) download="">"Download Markdown"</a>
                    <a class="btn btn-secondary" href=format!("/mailboxes/{}/receipt.json", r.mailbox_id) download="">"Download JSON"</a>
                </span>
            </div>
            <p class="text-sm text-zinc-600">{format!("{} offboarded by {} ", r.address, r.by)}<Time at=r.at now=now/>
                {format!(" · reason: {} · mail kept {} days", r.reason, r.keep_days)}</p>
            {alias.map(|a| view! { <p class="text-sm text-zinc-700">{format!("Alias requested: {a}")}</p> })}
            {r.purge.clone().map(|pg| view! {
                <p class="text-sm text-zinc-700" data-testid="receipt-purge">{format!(
                    "Mail deleted {} as the retention ended: {} ({}) removed from every folder, {} left.",
                    crate::ui::utc(pg.at), crate::ui::plural(pg.messages, "message", "messages"),
                    crate::tenancy::format_bytes(pg.bytes), pg.left
                )}</p>
            })}
            {(!routes.is_empty()).then(|| view! {
                <ul class="list-disc pl-5 text-sm text-zinc-700" data-testid="receipt-routes">
                    {routes.into_iter().map(|r| view! {
                        <li class="break-words"><span class="font-mono">{format!("{} → {}", crate::types::shown_source(&r.source), r.targets.join(", "))}</span>{format!(" ({}): {}", r.kind.to_lowercase(), r.fate)}</li>
                    }).collect_view()}
                </ul>
            })}
            <div class="grid gap-4 sm:grid-cols-2">
                <table class="table">
                    <thead><tr><th>"Revoked"</th><th class="text-right">"Count"</th></tr></thead>
                    <tbody>{rows.into_iter().map(|(k, v)| view! { <tr><td>{k}</td><td class="text-right tabular-nums">{v}</td></tr> }).collect_view()}</tbody>
                </table>
                <div>
                    <p class="text-sm font-medium" data-testid="scan-result">
                        {if r.scan_clean {
                            view! { <Badge text="verification scan: clean" tone="green"/> }.into_any()
                        } else {
                            view! { <Badge text="verification scan: NOT clean" tone="red"/> }.into_any()
                        }}
                    </p>
                    <table class="table mt-2">
                        <thead><tr><th>"Check"</th><th class="text-right">"Still active"</th></tr></thead>
                        <tbody>{r.scan.clone().into_iter().map(|c| view! {
                            <tr><td>{c.what.clone()}</td><td class=if c.remaining == 0 { "text-right tabular-nums text-green-700" } else { "text-right tabular-nums text-red-700 font-semibold" }>{c.remaining}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </div>
            </div>
        </section>
    }
}

// ---------- the owner's activation page (public) ----------

#[server(prefix = "/_sf")]
pub async fn get_activation(token: String) -> Result<PageData<super::Activation>, ServerFnError> {
    crate::ssr::page(|c| async move { super::service::activation(&c.st, &token).await }).await
}

#[component]
pub fn ActivatePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || crate::ui::param(&params.read(), "token").unwrap_or_default();
    let data = Resource::new(token, get_activation);
    auth_page(
        "Set your mailbox password",
        Some("Only you will know it: nobody at your provider can see or set it."),
        data,
        move |a: super::Activation| {
            let action = format!("/activate/{}", token());
            view! {
                <div class="rounded-md bg-zinc-50 border border-zinc-200 px-3 py-2">
                    <p class="text-sm font-medium" data-testid="activation-address">{crate::types::readable(&a.address)}</p>
                    <p class="text-xs text-zinc-500">{a.display_name.clone()}{if a.purpose == "reset" { " · password reset" } else { " · new mailbox" }}</p>
                </div>
                <form method="post" action=action class="mt-4 space-y-3">
                    <NewPassword action=action.clone() hint="At least 12 characters, not containing the address; a phrase of a few unrelated words works well."/>
                    <button class="btn btn-primary w-full" type="submit">"Set password"</button>
                </form>
            }
        },
    )
}

/// Delegation: who may send as this mailbox or open its folders (granted and revoked here),
/// and which mailboxes were delegated to it.
#[component]
pub fn DelegationsCard(
    mailbox: Mailbox,
    d: super::Delegations,
    can_delegate: bool,
    /// Where the form posts (and `<base>/<delegate id>/revoke`).
    base: String,
    /// Shown to the mailbox's owner (`/me`): second person, no links into the console.
    #[prop(optional)]
    owner: bool,
    now: i64,
) -> impl IntoView {
    let m = mailbox;
    let ty = crate::ui::typed(&base);
    let mailbox_link = move |id: &str, address: String, class: &'static str| {
        if owner {
            view! { <span class=class>{address}</span> }.into_any()
        } else {
            view! { <a class=format!("link {class}") href=format!("/mailboxes/{id}")>{address}</a> }
                .into_any()
        }
    };
    let delegates = if d.delegates.is_empty() {
        view! { <p class="px-5 py-3 text-sm text-zinc-500">"Nobody else sends as this address or opens its folders."</p> }.into_any()
    } else {
        view! {
            <ul class="divide-y divide-zinc-100" data-testid="delegates">
                {d.delegates.into_iter().map(|g| {
                    let revoke = can_delegate.then(|| format!("{base}/{}/revoke", g.delegate_id));
                    let question = match (g.send_as, g.folders != crate::types::FolderAccess::None) {
                        (true, true) => format!("{} can no longer send as {} from its next message, and its folders close at once.", g.delegate, g.address),
                        (true, false) => format!("{} can no longer send as {} from its next message.", g.delegate, g.address),
                        _ => format!("{}'s folders close for {} at once (its open sessions end).", g.address, g.delegate),
                    };
                    view! {
                        <li class="px-5 py-2 text-sm flex flex-wrap items-center gap-2" data-testid="delegate">
                            {mailbox_link(&g.delegate_id, g.delegate.clone(), "font-medium")}
                            {g.send_as.then(|| view! { <Badge text="sends as this mailbox" tone="amber"/> })}
                            {match g.folders {
                                crate::types::FolderAccess::Read => Some(view! { <Badge text="reads its folders" tone="amber"/> }),
                                crate::types::FolderAccess::ReadWrite => Some(view! { <Badge text="reads and writes its folders" tone="red"/> }),
                                crate::types::FolderAccess::None => None,
                            }}
                            <span class="text-xs text-zinc-500">{format!("granted by {} ", g.created_by)}<Time at=g.created_at now=now/></span>
                            {revoke.map(|action| view! {
                                <ConfirmButton action=action label="Revoke" form_class="ml-auto" question=question/>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any()
    };
    let granted = (!d.granted.is_empty()).then(|| view! {
        <div class="px-5 py-3 border-t border-zinc-100 text-sm" data-testid="sends-as">
            <span class="text-zinc-600">"Delegated to this mailbox: "</span>
            {d.granted.into_iter().map(|g| view! {
                <span class="mr-3">{mailbox_link(&g.mailbox_id, g.address.clone(), "")}
                    <span class="text-xs text-zinc-500">{format!(" ({})", g.rights())}</span></span>
            }).collect_view()}
        </div>
    });
    let folders = ty.value("folders", "none");
    let form = can_delegate.then(|| view! {
        <form method="post" action=base.clone() class="px-5 py-3 border-t border-zinc-100 grid gap-3 sm:grid-cols-6 items-start" data-testid="delegation-form">
            <div class="sm:col-span-3">
                <label class="label" for="dl-delegate">{if owner { "Delegate to a colleague's mailbox" } else { "Delegate to another mailbox of this tenant" }}</label>
                <input class="input" id="dl-delegate" name="delegate" type="email" required maxlength="320" placeholder="assistant@example.com"
                    value=ty.value("delegate", "") autofocus=ty.focus("delegate", false)
                    aria-invalid=ty.invalid("delegate") aria-describedby=ty.described("delegate")/>
                {ty.error_below("delegate")}
            </div>
            <div class="sm:col-span-2">
                <label class="label" for="dl-folders">"Its folders"</label>
                <select class="input" id="dl-folders" name="folders"
                    aria-invalid=ty.invalid("folders") aria-describedby=ty.described("folders")>
                    <option value="none" selected=folders == "none">"Not shared"</option>
                    <option value="read" selected=folders == "read">"Read"</option>
                    <option value="read_write" selected=folders == "read_write">"Read and write"</option>
                </select>
                {ty.error_below("folders")}
            </div>
            {owner.then(|| view! {
                <div class="sm:col-span-3">
                    <label class="label" for="dl-current">"Your password"</label>
                    <input class="input" id="dl-current" name="current" type="password" required autocomplete="current-password"
                        autofocus=ty.focus("current", false)
                        aria-invalid=ty.invalid("current") aria-describedby=ty.described("current")/>
                    {ty.error_below("current")}
                </div>
            })}
            <div class="sm:col-span-1 sm:pt-6"><button class="btn btn-secondary w-full" type="submit">"Grant"</button></div>
            <div class="sm:col-span-6">
                <label class="inline-flex items-center gap-2 text-sm">
                    <input type="checkbox" name="send_as" value="on" checked=ty.ticked("send_as", true)
                        aria-invalid=ty.invalid("send_as") aria-describedby=ty.described("send_as")/>
                    "May send as this mailbox"
                </label>
                {ty.error_below("send_as")}
                <p class="hint">"The delegate signs in as itself: it sends with this address as the sender, and finds shared folders under Shared/"{m.address.clone()}"/ in its mail app. Audited; revoked when either mailbox is offboarded."</p>
            </div>
        </form>
    });
    view! {
        <section class="card" id="delegations" data-testid="delegations">
            <div class="px-5 py-3 border-b border-zinc-200 space-y-1">
                <h2 class="font-medium">"Delegation"</h2>
                <p class="text-sm text-zinc-600">{if owner {
                    "Colleagues' mailboxes that may send as yours or open your folders — each signed in as themselves. Whoever manages your mailbox sees this list too.".to_string()
                } else {
                    format!("Mailboxes that may send as {} or open its folders.", m.address)
                }}</p>
            </div>
            {delegates}
            {granted}
            {form}
        </section>
    }
}

/// Email as identity: the outside services that use this address to sign in or recover an
/// account — listed, added and removed by the owner (`/me`) or whoever manages the mailbox.
#[component]
pub fn IdentitiesCard(
    items: Vec<super::Identity>,
    /// Where the add form posts (and `<base>/<id>/remove`); none: read only.
    base: Option<String>,
    critical: bool,
    /// Shown to the mailbox's owner (wording in the second person).
    #[prop(optional)]
    owner: bool,
    now: i64,
) -> impl IntoView {
    let n = items.len();
    view! {
        <section class="card" id="identities" data-testid="identities">
            <div class="px-5 py-3 border-b border-zinc-200 space-y-1">
                <h2 class="font-medium">{if owner { "Accounts that use this address" } else { "Email as identity" }}</h2>
                <p class="text-sm text-zinc-600">{if owner {
                    "Outside services — a registrar, a bank, a cloud console — that send their password resets here. Whoever holds this mailbox can take them over; listing them helps protect it."
                } else {
                    "Outside services that use this address to sign in or recover an account: whoever holds the mailbox can take them over."
                }}</p>
                {(n > 0 && !critical).then(|| view! {
                    <p class="text-sm text-amber-800" data-testid="propose-critical">{format!(
                        "{n} service{} recover{} through this address: {}",
                        if n == 1 { "" } else { "s" }, if n == 1 { "s" } else { "" },
                        if owner {
                            "ask whoever manages your mailbox to mark it critical, so that a password reset needs a second person."
                        } else {
                            "it should be a critical mailbox (a password reset then needs a second person)."
                        }
                    )}</p>
                })}
            </div>
            {if items.is_empty() {
                view! { <p class="px-5 py-3 text-sm text-zinc-500">"None listed."</p> }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-zinc-100">
                        {items.into_iter().map(|i| {
                            let remove = base.clone().map(|b| format!("{b}/{}/remove", i.id));
                            view! {
                                <li class="px-5 py-2 text-sm flex flex-wrap items-center gap-2" data-testid="identity">
                                    <span class="font-medium">{i.service.clone()}</span>
                                    {(!i.note.is_empty()).then(|| view! { <span class="text-zinc-600">{i.note.clone()}</span> })}
                                    <span class="text-xs text-zinc-500">{format!("added by {} ", i.added_by)}<Time at=i.added_at now=now/></span>
                                    {remove.map(|action| view! {
                                        <form method="post" action=action class="ml-auto">
                                            <button class="btn btn-secondary py-1 text-xs" type="submit">"Remove"</button>
                                        </form>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {base.clone().map(|b| view! {
                <form method="post" action=b class="px-5 py-3 border-t border-zinc-100 grid gap-2 sm:grid-cols-5 items-end">
                    <div class="sm:col-span-2"><label class="label" for="idn-service">"Service"</label>
                        <input class="input" id="idn-service" name="service" required maxlength="120" placeholder="e.g. Registrar account, AWS root, Bank"/></div>
                    <div class="sm:col-span-2"><label class="label" for="idn-note">"Note (optional)"</label>
                        <input class="input" id="idn-note" name="note" maxlength="500" placeholder="e.g. recovery address since 2021"/></div>
                    <div><button class="btn btn-secondary w-full" type="submit" data-testid="identity-add">"Add"</button></div>
                </form>
            })}
        </section>
    }
}
