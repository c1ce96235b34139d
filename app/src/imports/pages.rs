//! The import page: the preview with each bad line's error, the start button, and the
//! progress of a running import (the page refreshes itself while it runs, with or without
//! JavaScript).
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::{ImportJob, ImportRow};
use crate::auth::PageData;
use crate::tenancy::format_bytes;
use crate::ui::{plural, signed_in_page, Badge, ConfirmButton, Time};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImportPage {
    pub job: ImportJob,
    pub rows: Vec<ImportRow>,
    pub can_manage: bool,
    pub now: i64,
}

#[server(prefix = "/_sf")]
pub async fn get_import(id: String) -> Result<PageData<ImportPage>, ServerFnError> {
    use crate::core::authz::{authorize_in, Action};
    crate::ssr::page(|c| async move {
        let a = c.actor();
        let job = super::service::get(&c.st, &a, &id).await?;
        // The whole preview while it is a draft; afterwards the start of the file.
        let limit = if job.state == "draft" || job.state == "failed" {
            300
        } else {
            50
        };
        let rows = super::service::rows(&c.st, &a, &id, limit).await?;
        Ok(ImportPage {
            can_manage: authorize_in(&a, Action::ManageMailboxes, &job.tenant_id).is_ok(),
            job,
            rows,
            now: c.st.clock.now(),
        })
    })
    .await
}

fn state_tone(s: &str) -> &'static str {
    match s {
        "done" => "green",
        "failed" => "red",
        "running" | "queued" => "blue",
        "draft" => "amber",
        _ => "gray",
    }
}

#[component]
pub fn ImportDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || crate::ui::param(&params.read(), "id").unwrap_or_default();
    let data = Resource::new(id, get_import);
    signed_in_page(
        "Mailbox import",
        Some("Mailboxes"),
        "A CSV file checked line by line before anything is created; then all of it is created, or none.",
        data,
        |p: ImportPage| {
            let j = p.job.clone();
            let live = matches!(j.state.as_str(), "queued" | "running");
            let pct = if j.total > 0 { (j.done * 100 / j.total).min(100) } else { 0 };
            let phase = match (j.state.as_str(), j.phase.as_str()) {
                ("queued", _) => "Waiting for the job worker…".to_string(),
                ("running", "invite") => format!("Sending invitations: {} of {}", j.done, j.total),
                ("running", _) => format!("Creating mailboxes: {} of {}", j.done, j.total),
                ("done", _) => format!("Done: {} mailboxes created and invited.", j.total),
                _ => String::new(),
            };
            let id = j.id.clone();
            let shown = p.rows.len() as i64;
            view! {
                {live.then(|| view! { <leptos_meta::Meta http_equiv="refresh" content="1"/> })}
                <section class="card p-5 space-y-2" data-testid="import-summary">
                    <h2 class="text-lg font-semibold">{format!("Import for {} ", j.tenant_name)}<Badge text=j.state.as_str() tone=state_tone(j.state.as_str())/></h2>
                    <p class="text-sm text-zinc-600">{format!("{} · {} · uploaded by {} ", plural(j.rows, "line", "lines"), match j.errors { 0 => "no line with errors".to_string(), n => format!("{} with errors", plural(n, "line", "lines")) }, j.created_by)}<Time at=j.created_at now=p.now/></p>
                    {(!phase.is_empty()).then(|| view! {
                        <div data-testid="import-progress">
                            <p class="text-sm">{phase.clone()}</p>
                            <svg viewBox="0 0 100 2" preserveAspectRatio="none" class="mt-1 h-2 w-full rounded" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.to_string()>
                                <rect width="100" height="2" class="fill-zinc-100"/>
                                <rect width=pct.to_string() height="2" class="fill-indigo-600"/>
                            </svg>
                        </div>
                    })}
                    {j.error.clone().map(|e| view! { <p class="rounded border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="import-error">{e}</p> })}
                    {(p.can_manage && j.state == "draft").then(|| { let id = id.clone(); if j.errors == 0 && j.error.is_none() { view! {
                        <div class="flex items-center gap-3">
                            <form method="post" action=format!("/imports/{id}/start")><button class="btn btn-primary" type="submit">{format!("Import {} mailboxes", j.total)}</button></form>
                            <ConfirmButton action=format!("/imports/{id}/discard") label="Discard" question="Nothing from this file will be created."/>
                        </div>
                    }.into_any() } else { view! {
                        <div class="flex items-center gap-3">
                            <p class="text-sm text-zinc-700">"Fix the lines below in the file and upload it again from the tenant's page. Nothing was created."</p>
                            <ConfirmButton action=format!("/imports/{id}/discard") label="Discard" question="Nothing from this file will be created."/>
                        </div>
                    }.into_any() } })}
                    {(p.can_manage && j.state == "failed").then(|| view! {
                        <form method="post" action=format!("/imports/{id}/start")><button class="btn btn-secondary" type="submit">"Start again"</button></form>
                    })}
                    <a class="link text-sm" href=format!("/tenants/{}", j.tenant_slug)>"← Back to the tenant"</a>
                </section>
                <div class="card overflow-x-auto">
                    <table class="table" data-testid="import-rows">
                        <thead><tr><th>"Line"</th><th>"Address"</th><th>"Name"</th><th>"Quota"</th><th>"Invite to"</th><th>"Check"</th></tr></thead>
                        <tbody>
                            {p.rows.into_iter().map(|r| view! {
                                <tr class=if r.error.is_some() { "bg-red-50" } else { "" }>
                                    <td class="tabular-nums">{r.line}</td>
                                    <td>{r.address.clone()}</td>
                                    <td>{r.display_name.clone()}</td>
                                    <td>{match (r.quota_bytes, &r.error) {
                                        (Some(q), _) => format_bytes(q),
                                        // A line in error has no quota to speak of (perhaps it was the quota).
                                        (None, Some(_)) => "—".into(),
                                        (None, None) => "within the pool".into(),
                                    }}</td>
                                    <td>{r.invite_to.clone().unwrap_or_else(|| "— (reveal once)".into())}</td>
                                    <td>{match r.error.clone() {
                                        Some(e) => view! { <span class="text-red-800" data-testid="row-error">{e}</span> }.into_any(),
                                        None if r.created => view! { <Badge text="created" tone="green"/> }.into_any(),
                                        None => view! { <span class="text-green-700">"ok"</span> }.into_any(),
                                    }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {(j.rows > shown).then(|| view! { <p class="text-sm text-zinc-500">{format!("Showing {shown} of {} lines (errors first).", j.rows)}</p> })}
            }
        },
    )
}

/// The upload form on a tenant's page, with the recent imports.
#[component]
pub fn ImportUpload(slug: String, imports: Vec<ImportJob>, now: i64) -> impl IntoView {
    view! {
        <section class="card p-5 space-y-3" data-testid="import-upload">
            <h3 class="font-medium">"Import mailboxes from CSV"</h3>
            <p class="text-sm text-zinc-600">"Columns: "<code>"address, display_name, quota, invite_to"</code>" (a header row names them; quota like 500 MB or 2 GB, empty = within the pool). You see every line checked before anything is created."</p>
            <form method="post" action="/imports" enctype="multipart/form-data" class="flex flex-wrap items-end gap-3">
                <input type="hidden" name="tenant" value=slug/>
                <input class="text-sm" type="file" name="file" accept=".csv,text/csv" required/>
                <button class="btn btn-secondary" type="submit">"Check file"</button>
            </form>
            {(!imports.is_empty()).then(|| view! {
                <ul class="text-sm divide-y divide-zinc-100">
                    {imports.into_iter().map(|j| view! {
                        <li class="py-1 flex gap-3 items-center">
                            <Badge text=j.state.as_str() tone=state_tone(j.state.as_str())/>
                            <a class="link" href=format!("/imports/{}", j.id)>{format!("{} rows", j.rows)}</a>
                            <span class="text-zinc-500">{format!("by {} ", j.created_by)}<Time at=j.created_at now=now/></span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
