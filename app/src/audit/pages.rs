//! The audit log page: filters, newest first, paging, export.
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{AuditFilter, AuditPage};
use crate::auth::PageData;
use crate::ui::{signed_in_page, urlencode, EmptyState, Time};

#[server(prefix = "/_sf")]
pub async fn get_audit(filter: AuditFilter) -> Result<PageData<(i64, AuditPage)>, ServerFnError> {
    use crate::core::authz::{authorize, Action};
    crate::ssr::page(|c| async move {
        let actor = c.actor();
        let g = authorize(&actor, Action::ViewAudit)?;
        let mut filter = filter;
        resolve(&c.st, &actor, &mut filter).await?;
        let page = super::service::list(&c.st.db, &g, &filter).await?;
        Ok((c.st.clock.now(), page))
    })
    .await
}

/// The console's filters as people type them, made ids: a tenant's short name, a mailbox's
/// address or a domain's name (one the actor may see; anything else stays as typed and matches
/// nothing but an id).
#[cfg(feature = "ssr")]
pub async fn resolve(
    st: &crate::core::state::AppState,
    actor: &crate::core::authz::Actor,
    f: &mut AuditFilter,
) -> crate::core::AppResult<()> {
    if let Some(t) = f.tenant.clone().filter(|t| !t.trim().is_empty()) {
        if let Ok((tenant, _)) = crate::tenancy::service::tenant(st, actor, t.trim()).await {
            f.tenant = Some(tenant.id);
        }
    }
    if let Some(k) = f.target.clone().filter(|t| !t.trim().is_empty()) {
        let k = k.trim();
        if k.contains('@') {
            if let Ok(m) = crate::mailboxes::service::get(st, actor, k).await {
                f.target = Some(m.id);
            }
        } else if let Ok(d) = crate::tenancy::service::domain(st, actor, k).await {
            f.target = Some(d.id);
        }
    }
    Ok(())
}

fn date_to_ts(s: &str, end: bool) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let t = if end {
        d.and_hms_opt(23, 59, 59)?
    } else {
        d.and_hms_opt(0, 0, 0)?
    };
    Some(t.and_utc().timestamp())
}

/// Filters as they travel in the page's query string.
pub fn filter_from_query(q: &leptos_router::params::ParamsMap) -> AuditFilter {
    let get = |k: &str| crate::ui::param(&q, k).filter(|v| !v.trim().is_empty());
    AuditFilter {
        action: get("action"),
        actor: get("actor"),
        since: get("since").and_then(|s| date_to_ts(&s, false)),
        until: get("until").and_then(|s| date_to_ts(&s, true)),
        before: get("before").and_then(|s| s.parse().ok()),
        limit: Some(50),
        tenant: get("tenant"),
        target: get("about"),
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(move || filter_from_query(&query.read()), get_audit);
    let qs = move || {
        let q = query.read();
        ["action", "actor", "tenant", "about", "since", "until"]
            .iter()
            .filter_map(|k| {
                crate::ui::param(&q, k)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", urlencode(&v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let val = move |k: &'static str| crate::ui::param(&query.read(), k).unwrap_or_default();
    signed_in_page(
        "Audit log",
        Some("Audit"),
        "Every change and sign-in, in a chain keyed with a secret outside the database: mailward audit verify finds any edit, and with the checkpoints you keep (mailward audit checkpoint) any deletion.",
        data,
        move |(now, page): (i64, AuditPage)| {
            let last = page.events.last().map(|e| e.seq);
            let more = page.has_more;
            let table = if page.events.is_empty() {
                view! { <EmptyState title="No events match" hint="Change or clear the filters."/> }.into_any()
            } else {
                view! {
                    <div class="card overflow-x-auto">
                        <table class="table" data-testid="audit-table">
                            <thead><tr><th>"#"</th><th>"When"</th><th>"What happened"</th><th>"From"</th><th>"Details"</th></tr></thead>
                            <tbody>
                                {page.events.into_iter().map(|e| view! {
                                    <tr>
                                        <td class="font-mono text-xs text-zinc-500">{e.seq}</td>
                                        <td class="whitespace-nowrap"><Time at=e.at now=now/></td>
                                        <td class="min-w-[16rem]">
                                            <EventSentence event=e.clone()/>
                                            <div class="mt-0.5"><span class=action_class(&e.action)>{e.action.clone()}</span></div>
                                        </td>
                                        <td class="font-mono text-xs">{e.ip.clone().unwrap_or_default()}</td>
                                        <td class="text-xs">
                                            <details>
                                                <summary class="cursor-pointer text-zinc-600">"JSON"</summary>
                                                <pre class="mt-1 max-w-md whitespace-pre-wrap break-all font-mono">{format!("target: {}\n{}", e.target.clone().unwrap_or_else(|| "—".into()), pretty(&e.details))}</pre>
                                            </details>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {(more && last.is_some()).then(|| {
                        let q = qs();
                        let href = format!("/audit?{}{}before={}", q, if q.is_empty() { "" } else { "&" }, last.unwrap_or_default());
                        view! { <div class="flex justify-end"><a class="btn btn-secondary" href=href>"Older events →"</a></div> }
                    })}
                }.into_any()
            };
            view! {
                <form method="get" action="/audit" class="card p-4 grid gap-3 sm:grid-cols-4 items-end">
                    <div>
                        <label class="label" for="f-action">"Action"</label>
                        <input class="input" id="f-action" name="action" placeholder="e.g. auth. or token.created" value=val("action")/>
                    </div>
                    <div>
                        <label class="label" for="f-actor">"Actor"</label>
                        <input class="input" id="f-actor" name="actor" placeholder="email contains…" value=val("actor")/>
                    </div>
                    <div>
                        <label class="label" for="f-tenant">"Tenant"</label>
                        <input class="input" id="f-tenant" name="tenant" placeholder="short name, e.g. acme-corp" value=val("tenant")/>
                    </div>
                    <div>
                        <label class="label" for="f-about">"About"</label>
                        <input class="input" id="f-about" name="about" placeholder="a mailbox or domain" value=val("about")/>
                    </div>
                    <div>
                        <label class="label" for="f-since">"From (UTC)"</label>
                        <input class="input" id="f-since" name="since" type="date" value=val("since")/>
                    </div>
                    <div>
                        <label class="label" for="f-until">"To (UTC)"</label>
                        <input class="input" id="f-until" name="until" type="date" value=val("until")/>
                    </div>
                    <div class="flex gap-2">
                        <button class="btn btn-primary" type="submit">"Filter"</button>
                        <a class="btn btn-secondary" href="/audit">"Clear"</a>
                    </div>
                </form>
                <div class="flex gap-3 text-sm">
                    <span class="text-zinc-500">"Export this selection:"</span>
                    <a class="link" href=format!("/audit/export.csv?{}", qs())>"CSV"</a>
                    <a class="link" href=format!("/audit/export.jsonl?{}", qs())>"JSON Lines"</a>
                </div>
                {table}
            }
        },
    )
}

/// An event's details as indented JSON (as stored when they are not JSON).
fn pretty(details: &str) -> String {
    serde_json::from_str::<serde_json::Value>(details)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| details.to_string())
}

/// An audit event as a sentence, its object linked to where it lives.
#[component]
pub fn EventSentence(event: super::AuditEvent) -> impl IntoView {
    let s = event.sentence();
    let object = s.object.map(|o| match s.href {
        Some(h) => view! { <a class="link font-medium" href=h>{o}</a> }.into_any(),
        None => view! { <span class="font-medium">{o}</span> }.into_any(),
    });
    view! { <span data-testid="event-sentence">{s.before}" "{object}{s.after}</span> }
}

fn action_class(action: &str) -> &'static str {
    if action.contains("failed") || action.contains("locked") || action.contains("throttled") {
        "badge badge-red"
    } else if action.contains("revoked") || action.contains("revealed") {
        "badge badge-amber"
    } else {
        "badge badge-gray"
    }
}

/// The latest audit events as a card (dashboard, client portal), with a link to the log.
#[component]
pub fn ActivityCard(
    title: &'static str,
    events: Vec<super::AuditEvent>,
    now: i64,
    #[prop(into)] more: String,
) -> impl IntoView {
    view! {
        <section class="card">
            <div class="flex items-center justify-between px-4 py-3 border-b border-zinc-200">
                <h2 class="font-medium">{title}</h2>
                <a class="link text-sm" href=more>"Full audit log →"</a>
            </div>
            {if events.is_empty() {
                view! { <p class="px-4 py-3 text-sm text-zinc-500">"Nothing recorded yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-zinc-100" data-testid="activity">
                        {events.into_iter().map(|e| view! {
                            <li class="px-4 py-2 text-sm flex gap-3">
                                <span class="text-zinc-500 w-24 shrink-0"><Time at=e.at now=now/></span>
                                <span class="min-w-0 break-words" title=e.action.clone()><EventSentence event=e.clone()/></span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
