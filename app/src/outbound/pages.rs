//! The tenant page's card of outbound mail: this hour's counters against the plan's limits.
use leptos::prelude::*;

use super::{policy, Sending};
use crate::ui::{plural, thousands};

/// This hour's sending of a tenant, its busiest mailboxes and the last week, with the plan's
/// limits and where they come from.
#[component]
pub fn SendingCard(s: Sending, plan: String) -> impl IntoView {
    let full = s.sent >= s.per_tenant;
    let width = if s.per_tenant <= 0 {
        0
    } else {
        (s.sent.clamp(0, s.per_tenant) as i128 * 10_000 / s.per_tenant as i128) as i64
    };
    let width = format!("{}.{:02}", width / 100, width % 100);
    let busiest = if s.busiest.is_empty() {
        view! { <p class="text-sm text-zinc-500 mt-3">"No mailbox has sent mail through submission this hour."</p> }.into_any()
    } else {
        let per_mailbox = s.per_mailbox;
        view! {
            <table class="table mt-3" data-testid="sending-busiest">
                <thead><tr><th>"Busiest this hour"</th><th class="text-right">"Sent"</th><th class="text-right">"Refused"</th></tr></thead>
                <tbody>
                    {s.busiest.into_iter().map(|m| {
                        let at_limit = m.sent >= per_mailbox;
                        view! {
                            <tr>
                                <td><a class="link" href=format!("/mailboxes/{}", m.address)>{m.address.clone()}</a>
                                    {at_limit.then(|| view! { <span class="ml-2"><crate::ui::Badge text="at its limit" tone="amber"/></span> })}</td>
                                <td class="text-right tabular-nums">{format!("{} of {}", thousands(m.sent), thousands(per_mailbox))}</td>
                                <td class="text-right tabular-nums">{thousands(m.refused)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    };
    let held = s.held_by.clone().map(|title| view! {
        <p class="mt-3 toast toast-error" role="status" data-testid="sending-held">{format!(
            "Outbound mail is held by the incident “{title}”: what the mailboxes submit stays in the mail plane's hold queue ({} this hour).",
            thousands(s.held)
        )}</p>
    });
    view! {
        <section class="card p-5" data-testid="sending" aria-labelledby="sending-h">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="font-medium" id="sending-h">"Outbound mail"</h2>
                <p class="text-xs text-zinc-500">{format!("This hour: {}–{} UTC", policy::clock(s.window_start), policy::clock(s.window_end))}</p>
            </div>
            {held}
            <div class="mt-3 grid gap-4 sm:grid-cols-3">
                <div>
                    <p class="text-xs uppercase tracking-wide text-zinc-500">"Sent by the tenant"</p>
                    <p class="text-2xl font-semibold tabular-nums">{thousands(s.sent)}<span class="text-sm font-normal text-zinc-500">{format!(" of {} an hour", thousands(s.per_tenant))}</span></p>
                    <svg viewBox="0 0 100 6" preserveAspectRatio="none" class="mt-1 h-2 w-full rounded" aria-hidden="true">
                        <rect width="100" height="6" class="fill-zinc-200"/>
                        <rect width=width height="6" class=if full { "fill-amber-500" } else { "fill-indigo-700" }/>
                    </svg>
                    {full.then(|| view! { <p class="mt-1 text-sm text-amber-800">{format!("Limit reached: submissions wait until {} UTC.", policy::clock(s.window_end))}</p> })}
                </div>
                <div>
                    <p class="text-xs uppercase tracking-wide text-zinc-500">"Refused this hour"</p>
                    <p class="text-2xl font-semibold tabular-nums">{thousands(s.refused)}</p>
                    <p class="text-sm text-zinc-500">"Told to try again after the hour"</p>
                </div>
                <div>
                    <p class="text-xs uppercase tracking-wide text-zinc-500">"Each mailbox"</p>
                    <p class="text-2xl font-semibold tabular-nums">{thousands(s.per_mailbox)}<span class="text-sm font-normal text-zinc-500">" an hour"</span></p>
                    <p class="text-sm text-zinc-500">{format!("Limits of the {plan} plan")}</p>
                </div>
            </div>
            {busiest}
            <p class="hint mt-3">{format!(
                "Last 7 days: {} sent, {} refused, a limit reached in {}. Mail a mailbox submits counts against its own and its tenant's hourly limit; the first refusal of an hour raises an alert.",
                thousands(s.week_sent), thousands(s.week_refused), plural(s.week_limited_hours, "hour", "hours")
            )}</p>
        </section>
    }
}
