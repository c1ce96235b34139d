//! The postmortem: pre-filled from the audit log between T and the end — the timeline, what
//! changed since T, who approved it, which control let it through — and completed by people
//! (root cause, the control that would have blocked it, follow-up actions with owners).
//! Saved and audited; exported as Markdown; shown to the tenant's client viewers when shared.
use serde_json::json;

use super::super::{store, Finding, Incident, Postmortem, PostmortemInput, TimelineEntry};
use super::{event, handling, load, to_handle};
use crate::audit::service::{record, Actions};
use crate::core::authz::{authorize, Action, Actor};
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// Events that say nothing about what changed (sign-ins, observations, the watcher's own).
const NOISE: &[&str] = &[
    "auth.signin",
    "auth.signout",
    "auth.signin_failed",
    "auth.signin_throttled",
    "mailbox.signin",
    "mailbox.signin_failed",
    "mailbox.signin_throttled",
    "dns.observed",
    "alert.destination_tested",
];

/// Kinds of findings about accounts and access beyond the tenant: not shown to its viewers.
const PLATFORM_KINDS: &[&str] = &[
    "api_token",
    "account",
    "invitation",
    "operator_scope",
    "dns_baseline",
];

const MAX_TIMELINE: usize = 1000;

/// The incident for a postmortem reader: those who read incidents, or a client viewer of
/// its tenant when the postmortem is shared with them (`true` then).
async fn readable(st: &AppState, actor: &Actor, id: &str) -> AppResult<(Incident, bool)> {
    if let Ok(g) = authorize(actor, Action::ViewIncidents) {
        return Ok((load(st, &g, id).await?, false));
    }
    let g = authorize(actor, Action::ViewTenants)?;
    let i = load(st, &g, id).await?;
    let shared = store::postmortem(&st.db, &i.id)
        .await?
        .is_some_and(|(p, _, _)| p.shared);
    if i.tenant_id.is_none() || !shared {
        return Err(AppError::NotFound);
    }
    Ok((i, true))
}

pub async fn postmortem(st: &AppState, actor: &Actor, id: &str) -> AppResult<Postmortem> {
    let (incident, viewer) = readable(st, actor, id).await?;
    let end = incident.ended_at.unwrap_or_else(|| st.clock.now());
    let events = crate::audit::service::since(
        &st.db,
        incident.tenant_id.as_deref(),
        Actions::Any,
        incident.since_at,
        20_000,
    )
    .await?;
    let mut timeline: Vec<TimelineEntry> = events
        .iter()
        .filter(|e| e.at <= end && !NOISE.contains(&e.action.as_str()))
        // A viewer reads their tenant's events only.
        .filter(|e| !viewer || e.tenant_id.is_some())
        .map(|e| TimelineEntry {
            at: e.at,
            seq: e.seq,
            actor: e.actor_label.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
        })
        .collect();
    let timeline_truncated = timeline.len() > MAX_TIMELINE;
    timeline.truncate(MAX_TIMELINE);
    // What changed: the hunt, read as the system for a viewer (without reverts, and without
    // the platform's accounts and tokens).
    let findings: Vec<Finding> = if viewer {
        let sys = Actor::system("postmortem");
        super::hunt(st, &sys, &incident.id)
            .await?
            .1
            .into_iter()
            .filter(|f| !PLATFORM_KINDS.contains(&f.kind.as_str()))
            .map(|f| Finding { revert: None, ..f })
            .collect()
    } else {
        super::hunt(st, actor, &incident.id).await?.1
    }
    .into_iter()
    .filter(|f| f.at <= end)
    .collect();
    let (written, updated_by, updated_at) = match store::postmortem(&st.db, &incident.id).await? {
        Some((p, by, at)) => (p, Some(by), Some(at)),
        None => (PostmortemInput::default(), None, None),
    };
    Ok(Postmortem {
        incident,
        timeline,
        timeline_truncated,
        findings,
        written,
        updated_by,
        updated_at,
    })
}

/// Saves what people wrote (replacing the last version); audited with the before.
pub async fn save_postmortem(
    st: &AppState,
    actor: &Actor,
    id: &str,
    input: &PostmortemInput,
) -> AppResult<Postmortem> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    let clean = |s: &str, what: &str, max: usize| -> AppResult<String> {
        let s = s.trim();
        if s.chars().count() > max {
            return Err(AppError::invalid(format!(
                "Keep {what} under {max} characters."
            )));
        }
        Ok(s.to_string())
    };
    let mut p = PostmortemInput {
        root_cause: clean(&input.root_cause, "the root cause", 20_000)?,
        blocking_control: clean(&input.blocking_control, "the control", 20_000)?,
        actions: Vec::new(),
        shared: input.shared,
    };
    if input.actions.len() > 100 {
        return Err(AppError::invalid("At most 100 follow-up actions."));
    }
    for a in &input.actions {
        let what = clean(&a.what, "an action", 1000)?;
        let owner = clean(&a.owner, "an owner", 200)?;
        if what.is_empty() && owner.is_empty() {
            continue;
        }
        if what.is_empty() || owner.is_empty() {
            return Err(AppError::invalid(
                "Each follow-up action needs what is to be done and who owns it.",
            ));
        }
        p.actions.push(crate::incidents::FollowUp { what, owner });
    }
    if p.shared && i.tenant_id.is_none() {
        return Err(AppError::invalid(
            "A platform incident's postmortem is not shown to any tenant's viewers.",
        ));
    }
    let before = store::postmortem(&st.db, &i.id).await?.map(|(b, _, _)| b);
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::save_postmortem(tx.conn(), &g, &i, &p, now).await?;
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.postmortem_saved",
            json!({
                "title": i.title, "shared": p.shared, "actions": p.actions.len(),
                "shared_before": before.as_ref().map(|b| b.shared),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    postmortem(st, actor, id).await
}

fn utc(t: i64) -> String {
    crate::core::clock::format_utc(t)
}

/// Markdown text in a table cell or list item: no line breaks, pipes escaped.
fn md(s: &str) -> String {
    s.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// The postmortem as Markdown.
pub fn to_markdown(p: &Postmortem) -> String {
    let i = &p.incident;
    let mut out = format!("# Postmortem: {}\n\n", md(&i.title));
    out += &format!(
        "- **Scope:** {}\n- **Distrusted since (T):** {}\n- **Declared:** {} by {}\n",
        i.tenant_name.as_deref().unwrap_or("the whole platform"),
        utc(i.since_at),
        utc(i.declared_at),
        md(&i.declared_by_label)
    );
    match i.ended_at {
        Some(t) => {
            out += &format!(
                "- **Ended:** {} by {} (asked by {})\n",
                utc(t),
                md(i.ended_by_label.as_deref().unwrap_or("")),
                md(i.end_requested_by_label.as_deref().unwrap_or(""))
            )
        }
        None => out += "- **Still in force**\n",
    }
    out += &format!("\n## Why it was declared\n\n{}\n", i.reason.trim());
    out += "\n## What changed since T\n\n";
    if p.findings.is_empty() {
        out += "Nothing that can keep an intruder in.\n";
    }
    for f in &p.findings {
        out += &format!(
            "- {} **{}** — {} — by {}{} — *control:* {}\n",
            utc(f.at),
            if f.live { "in effect" } else { "gone" },
            md(&f.what),
            md(&f.by),
            f.approved_by
                .as_deref()
                .map(|a| format!(", approved by {}", md(a)))
                .unwrap_or_default(),
            md(&f.control),
        );
    }
    out += "\n## Root cause\n\n";
    out += if p.written.root_cause.is_empty() {
        "(not written yet)"
    } else {
        p.written.root_cause.as_str()
    };
    out += "\n\n## The control that would have blocked it\n\n";
    out += if p.written.blocking_control.is_empty() {
        "(not written yet)"
    } else {
        p.written.blocking_control.as_str()
    };
    out += "\n\n## Follow-up actions\n\n";
    if p.written.actions.is_empty() {
        out += "(none yet)\n";
    }
    for a in &p.written.actions {
        out += &format!("- [ ] {} — owner: {}\n", md(&a.what), md(&a.owner));
    }
    out +=
        &format!(
        "\n## Timeline ({} events{})\n\n| Time (UTC) | Who | What | Object |\n|---|---|---|---|\n",
        p.timeline.len(),
        if p.timeline_truncated { ", the first 1,000" } else { "" }
    );
    for e in &p.timeline {
        out += &format!(
            "| {} | {} | {} | {} |\n",
            utc(e.at),
            md(&e.actor),
            md(&e.action),
            md(e.target.as_deref().unwrap_or(""))
        );
    }
    if let (Some(by), Some(at)) = (&p.updated_by, p.updated_at) {
        out += &format!("\n*Last edited by {} at {}.*\n", md(by), utc(at));
    }
    out
}
