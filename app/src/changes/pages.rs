//! The one approval queue: pending change requests in the actor's tenants, with approve and
//! reject for everyone but the requester, and the recent decisions.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ChangeRequest, ChangeState};
use crate::auth::PageData;
use crate::ui::{signed_in_page, Badge, ConfirmButton, EmptyState, Time};

pub fn state_tone(state: ChangeState) -> &'static str {
    match state {
        ChangeState::Pending => "amber",
        ChangeState::RolledBack | ChangeState::Approved => "blue",
        ChangeState::Applied => "green",
        ChangeState::Rejected | ChangeState::Failed => "red",
        ChangeState::Cancelled | ChangeState::Expired => "gray",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApprovalsPage {
    /// Each waiting request, with its words (`ChangeRequest::words`).
    pub pending: Vec<ChangeRequest>,
    pub recent: Vec<ChangeRequest>,
    pub me: Option<String>,
    pub can_decide: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_approvals() -> Result<PageData<ApprovalsPage>, ServerFnError> {
    use super::service::{self, Filter};
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let (pending, recent) = tokio::try_join!(
            service::list(&c.st, &a, Filter::Pending),
            service::list(&c.st, &a, Filter::Recent),
        )?;
        // The recent decisions are listed by title: their rows would only weigh the page.
        let recent = recent
            .into_iter()
            .take(50)
            .map(|c| ChangeRequest { words: None, ..c })
            .collect();
        Ok(ApprovalsPage {
            pending,
            recent,
            me: a.user_id.clone(),
            can_decide: decide(&a, Action::ApproveChanges),
            now: c.st.clock.now(),
        })
    })
    .await
}

#[component]
pub fn ApprovalsQueuePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_approvals());
    signed_in_page(
        "Approvals",
        Some("Approvals"),
        "Risky changes wait here until a second person approves them. Nobody approves their own request.",
        data,
        |p: ApprovalsPage| {
            let now = p.now;
            view! {
                <section class="space-y-3" data-testid="pending-changes">
                    <h2 class="font-medium">{format!("Waiting for approval ({})", p.pending.len())}</h2>
                    {if p.pending.is_empty() {
                        view! { <EmptyState title="Nothing waiting" hint="Resets of critical mailboxes, forwards, catch-alls, aliases that need approval, DNS changes and rollbacks appear here."/> }.into_any()
                    } else {
                        view! {
                            <div class="space-y-3">
                                {p.pending.into_iter().map(|c| {
                                    let words = c.words.clone().unwrap_or_default();
                                    let mine = c.requested_by.is_some() && c.requested_by == p.me;
                                    let question = format!("{} It applies at once; the change can be rolled back later through this queue.", words.summary);
                                    view! {
                                        <article class="card p-4 space-y-3" data-testid="change">
                                            <div class="flex flex-wrap items-center gap-2">
                                                <Badge text="pending" tone="amber"/>
                                                <span class="text-sm text-zinc-500">{format!("{} · {}", c.title(), c.tenant_name)}</span>
                                            </div>
                                            <p class="font-medium" data-testid="change-summary">{words.summary.clone()}</p>
                                            <p class="text-sm text-zinc-700">
                                                {format!("Asked by {}", c.requested_by_label)}
                                                {(!c.reason.trim().is_empty()).then(|| format!(", because “{}”", c.reason.trim()))}
                                                " · "<Time at=c.requested_at now=now/>
                                            </p>
                                            {(!words.rows.is_empty()).then(|| view! {
                                                <div class="overflow-x-auto">
                                                    <table class="table text-sm" data-testid="change-rows">
                                                        <thead><tr><th>""</th><th>"Now"</th><th>"After approval"</th></tr></thead>
                                                        <tbody>
                                                            {words.rows.clone().into_iter().map(|r| view! {
                                                                <tr><th scope="row" class="font-normal text-left text-zinc-600">{r.what}</th><td>{r.before}</td><td class="font-medium">{r.after}</td></tr>
                                                            }).collect_view()}
                                                        </tbody>
                                                    </table>
                                                </div>
                                            })}
                                            {match c.kind.as_str() {
                                                "dns.bulk" => Some(view! { <a class="link text-sm" href=format!("/dns/bulk/{}", c.rollback_of.clone().unwrap_or_else(|| c.id.clone()))>"See the plan: every domain's diff, the canary and the batches"</a> }.into_any()),
                                                "dns.record" => Some(view! { <a class="link text-sm" href=format!("/domains/{}/dns#dns-changes", c.target_id)>"See it on the domain's DNS page: before, after and the rollback"</a> }.into_any()),
                                                _ => None,
                                            }}
                                            {c.rollback_of.clone().map(|o| view! {
                                                <p class="text-sm text-zinc-600" data-testid="rollback-of">{format!("Undoes change {o}: approving restores what was there before it, if nothing changed since.")}</p>
                                            })}
                                            <p class="text-xs text-zinc-500">{format!("{} on {} · the request expires ", c.kind_label(), c.target_label)}<Time at=c.expires_at now=now/></p>
                                            <details class="text-xs text-zinc-600">
                                                <summary class="cursor-pointer">"Technical details"</summary>
                                                <pre class="mt-1 whitespace-pre-wrap break-all">{format!("id: {}\nbefore: {}\nchange: {}", c.id, c.before, c.payload)}</pre>
                                            </details>
                                            <div class="flex flex-wrap items-center gap-2">
                                                {if mine {
                                                    view! {
                                                        <span class="text-sm text-zinc-600" data-testid="own-request">"You asked for this: someone else must approve it."</span>
                                                        <form method="post" action=format!("/approvals/{}/cancel", c.id)>
                                                            <button class="btn btn-secondary" type="submit">"Withdraw"</button>
                                                        </form>
                                                    }.into_any()
                                                } else if p.can_decide {
                                                    view! {
                                                        <ConfirmButton action=format!("/approvals/{}/approve", c.id) label="Approve and apply"
                                                            question=question button_class="btn btn-primary"/>
                                                        <details class="relative inline-block" data-testid="reject">
                                                            <summary class="btn btn-danger-ghost cursor-pointer list-none">"Reject…"</summary>
                                                            <form method="post" action=format!("/approvals/{}/reject", c.id) class="card absolute right-0 z-20 mt-2 w-72 max-w-[80vw] p-3 space-y-2 shadow-lg">
                                                                <label class="block text-xs text-zinc-600" for=format!("no-{}", c.id)>"Why not? The requester is told."</label>
                                                                <input class="input w-full" id=format!("no-{}", c.id) name="note" required minlength="4" maxlength="500" placeholder="e.g. the client did not ask for this"/>
                                                                <button class="btn btn-danger" type="submit">"Reject"</button>
                                                            </form>
                                                        </details>
                                                    }.into_any()
                                                } else {
                                                    view! { <span class="text-sm text-zinc-500">"Waiting for an operator or tenant admin."</span> }.into_any()
                                                }}
                                            </div>
                                        </article>
                                    }
                                }).collect_view()}
                            </div>
                        }.into_any()
                    }}
                </section>
                <section class="card">
                    <h2 class="px-4 py-3 border-b border-zinc-200 font-medium">"Recent decisions"</h2>
                    {if p.recent.is_empty() {
                        view! { <p class="px-4 py-3 text-sm text-zinc-500">"None yet."</p> }.into_any()
                    } else {
                        view! {
                            <table class="table" data-testid="recent-changes">
                                <thead><tr><th>"State"</th><th>"Change"</th><th>"Asked / decided by"</th><th>"When"</th><th>"Result"</th><th><span class="sr-only">"Roll back"</span></th></tr></thead>
                                <tbody>
                                    {p.recent.into_iter().map(|c| {
                                        let offer = p.can_decide && c.can_roll_back();
                                        view! {
                                        <tr>
                                            <td><Badge text=c.state.label() tone=state_tone(c.state)/></td>
                                            <td>{format!("{} · {}", c.title(), c.target_label)}</td>
                                            <td class="text-sm">
                                                <div>{c.requested_by_label.clone()}</div>
                                                <div class="text-zinc-500">{c.decided_by_label.clone().map(|d| format!("→ {d}")).unwrap_or_else(|| "—".into())}</div>
                                            </td>
                                            <td><Time at=c.decided_at.unwrap_or(c.expires_at) now=now/></td>
                                            <td class="text-zinc-600 text-sm">{c.result.clone().or(c.decision_note.clone()).unwrap_or_default()}</td>
                                            <td class="text-right">
                                                {offer.then(|| view! {
                                                    <details class="relative inline-block text-left" data-testid="rollback">
                                                        <summary class="btn btn-secondary cursor-pointer whitespace-nowrap list-none">"Roll back…"</summary>
                                                        <form method="post" action=format!("/approvals/{}/rollback", c.id) class="card absolute right-0 z-20 mt-2 w-72 p-3 space-y-2 shadow-lg">
                                                            <label class="block text-xs text-zinc-600" for=format!("why-{}", c.id)>"Why? A second person approves the rollback."</label>
                                                            <input class="input w-full" id=format!("why-{}", c.id) name="reason" required maxlength="2000" placeholder="e.g. client withdrew the request"/>
                                                            <button class="btn btn-primary" type="submit">"Ask to roll back"</button>
                                                        </form>
                                                    </details>
                                                })}
                                            </td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                </section>
            }
        },
    )
}
