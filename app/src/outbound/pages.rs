//! The tenant page's card of outbound mail: this hour's counters against the plan's limits.
use leptos::prelude::*;

use super::{policy, Outbound, Sending};
use crate::ui::{plural, thousands, Badge, ConfirmButton};

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
                                    {at_limit.then(|| view! { <span class="ml-2"><Badge text="at its limit" tone="amber"/></span> })}</td>
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

/// Where the tenant's mail to outside addresses leaves: the platform's managed relay (paid
/// plans), the tenant's own relay (set, tested and removed here; the password never shown
/// back), or nowhere (a Free tenant without a relay: said plainly).
#[component]
pub fn RelayCard(o: Outbound, slug: String, plan: String, can_manage: bool) -> impl IntoView {
    let action = format!("/tenants/{slug}/relay");
    let ty = crate::ui::typed(&action);
    let (badge, text) = match (&o.relay, o.managed) {
        (Some(r), _) => (
            match r.test_ok {
                Some(true) => view! { <Badge text="own relay" tone="green"/> }.into_any(),
                Some(false) => view! { <Badge text="own relay: test failed" tone="red"/> }.into_any(),
                None => view! { <Badge text="own relay: not tested" tone="amber"/> }.into_any(),
            },
            format!(
                "Mail to outside addresses leaves through {}:{} ({}), signed in as {}. Set by {} on {}.",
                r.host, r.port, r.tls.words(), r.username, r.updated_by, crate::ui::utc(r.updated_at)
            ),
        ),
        (None, true) => (
            view! { <Badge text="managed relay" tone="green"/> }.into_any(),
            format!("Mail to outside addresses leaves through the platform's managed relay, part of the {plan} plan. Set a relay of your own below to send through it instead."),
        ),
        (None, false) => (
            view! { <Badge text="cannot send to outside addresses" tone="red"/> }.into_any(),
            format!("The {plan} plan brings its own SMTP relay and none is set: mail to outside addresses is refused (the mail program is told why). Mail between the tenant's hosted mailboxes still flows."),
        ),
    };
    let test = o.relay.as_ref().and_then(|r| {
        let at = r.tested_at?;
        Some(match (r.test_ok, &r.test_result) {
            (Some(true), Some(t)) => view! {
                <p class="toast toast-success" role="status" data-testid="relay-test">{format!("Tested {}: {t}", crate::ui::utc(at))}</p>
            }.into_any(),
            (Some(false), Some(t)) => view! {
                <p class="toast toast-error" role="status" data-testid="relay-test">{format!("Tested {}: failed — {t}", crate::ui::utc(at))}</p>
            }.into_any(),
            _ => view! { <p class="text-sm text-zinc-500" data-testid="relay-test">"A test is running…"</p> }.into_any(),
        })
    });
    let has = o.relay.is_some();
    let r = o.relay.clone();
    let val = |name: &str, current: String| ty.value(name, &current);
    let form = can_manage.then(|| {
        let host = val("host", r.as_ref().map(|r| r.host.clone()).unwrap_or_default());
        let port = val("port", r.as_ref().map_or("587".into(), |r| r.port.to_string()));
        let user = val("username", r.as_ref().map(|r| r.username.clone()).unwrap_or_default());
        let tls = val("tls", r.as_ref().map_or("starttls".into(), |r| r.tls.as_str().to_string()));
        view! {
            <form method="post" action=action.clone() class="grid gap-3 sm:grid-cols-2 lg:grid-cols-4 items-start" data-testid="relay-form">
                <div class="lg:col-span-2">
                    <label class="label" for="relay-host">"Relay host"</label>
                    <input class="input" id="relay-host" name="host" required maxlength="253" placeholder="smtp.example.com" value=host
                        autocomplete="off" autofocus=ty.focus("host", false) aria-invalid=ty.invalid("host") aria-describedby=ty.described("host")/>
                    {ty.error_below("host")}
                </div>
                <div>
                    <label class="label" for="relay-port">"Port"</label>
                    <input class="input" id="relay-port" name="port" type="number" min="1" max="65535" required value=port
                        autofocus=ty.focus("port", false) aria-invalid=ty.invalid("port") aria-describedby=ty.described("port")/>
                    {ty.error_below("port")}
                </div>
                <div>
                    <label class="label" for="relay-tls">"Encryption"</label>
                    <select class="input" id="relay-tls" name="tls">
                        <option value="starttls" selected=tls == "starttls">"STARTTLS (587, 25)"</option>
                        <option value="tls" selected=tls == "tls">"TLS (465)"</option>
                    </select>
                </div>
                <div class="lg:col-span-2">
                    <label class="label" for="relay-user">"User name"</label>
                    <input class="input" id="relay-user" name="username" required maxlength="200" value=user autocomplete="off"
                        autofocus=ty.focus("username", false) aria-invalid=ty.invalid("username") aria-describedby=ty.described("username")/>
                    {ty.error_below("username")}
                </div>
                <div class="lg:col-span-2">
                    <label class="label" for="relay-password">"Password"</label>
                    <input class="input" id="relay-password" name="password" type="password" maxlength="200" autocomplete="new-password"
                        required=!has placeholder=if has { "unchanged (stored sealed)" } else { "" }
                        autofocus=ty.focus("password", false) aria-invalid=ty.invalid("password") aria-describedby=ty.described("password")/>
                    {ty.error_below("password")}
                    <p class="hint">"Stored sealed, never shown again. A new host, port or user name needs the password again."</p>
                </div>
                <div class="lg:col-span-4 flex flex-wrap gap-2">
                    <button class="btn btn-primary" type="submit">{if has { "Save relay" } else { "Set relay" }}</button>
                </div>
            </form>
        }
    });
    let actions = (can_manage && has).then(|| view! {
        <div class="flex flex-wrap items-center gap-2">
            <form method="post" action=format!("/tenants/{slug}/relay/test")>
                <button class="btn btn-secondary" type="submit" title="Connects, encrypts and signs in; sends nothing">"Test connection"</button>
            </form>
            <ConfirmButton action=format!("/tenants/{slug}/relay/remove") label="Remove relay"
                question=if o.managed {
                    "Mail to outside addresses goes back to the platform's managed relay.".to_string()
                } else {
                    "Mail to outside addresses is refused until a relay is set again.".to_string()
                }/>
        </div>
    });
    view! {
        <section class="card p-5 space-y-3" data-testid="relay" aria-labelledby="relay-h">
            <div class="flex flex-wrap items-center gap-2"><h2 class="font-medium" id="relay-h">"Outgoing relay"</h2>{badge}</div>
            <p class="text-sm text-zinc-600" data-testid="relay-state">{text}</p>
            {test}
            {actions}
            {form}
        </section>
    }
}
