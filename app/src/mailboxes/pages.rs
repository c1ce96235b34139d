//! Mailbox views shared by the domain page and the client portal.
use leptos::prelude::*;

use super::Mailbox;
use crate::tenancy::format_bytes;
use crate::ui::{status_tone, Badge};

/// Mailboxes with their status, pool allocation and use (never any secret).
#[component]
pub fn MailboxesTable(mailboxes: Vec<Mailbox>) -> impl IntoView {
    view! {
        <div class="card overflow-x-auto">
            <table class="table" data-testid="mailboxes-table">
                <thead><tr><th>"Address"</th><th>"Name"</th><th>"Status"</th><th>"Quota"</th><th>"Used"</th></tr></thead>
                <tbody>
                    {mailboxes.into_iter().map(|m| view! {
                        <tr>
                            <td class="font-medium">{m.address.clone()}{m.critical.then(|| view! { <span class="ml-2"><Badge text="critical" tone="amber"/></span> })}</td>
                            <td>{m.display_name.clone()}</td>
                            <td><Badge text=m.status.clone() tone=status_tone(&m.status)/></td>
                            <td>{m.quota_bytes.map(format_bytes).unwrap_or_else(|| "within the pool".into())}</td>
                            <td class="text-zinc-500">{m.used_bytes.map(format_bytes).unwrap_or_else(|| "no data yet".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
