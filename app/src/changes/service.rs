//! The change-request state machine:
//!
//! ```text
//! pending ─approve (someone else)─▶ approved ─apply─▶ applied
//!    │ └─reject─▶ rejected      └─(apply refused)─▶ failed
//!    ├─cancel (requester)─▶ cancelled
//!    └─(ttl passed)─▶ expired
//! ```
//!
//! Approving is one conditional `UPDATE … WHERE state = 'pending' AND requested_by <> me`
//! followed by the apply, in one transaction: two approvers at once give one effect, and a
//! requester can never approve their own request.
//!
//! What a kind *does* is not known here: each capability registers its kinds
//! ([`crate::core::registry::ChangeKind`]), and this module asks the registry.
//!
//! **Rollback** goes through the same queue: [`request_rollback`] on an applied request
//! submits a new request of the same kind with `rollback_of` set (a reason, a second person,
//! audited); approving it runs the kind's `roll_back` and marks the original `rolled_back`,
//! in one transaction.
use serde_json::Value;

use super::{store, ChangeRequest, ChangeState};
use crate::audit::service::{record, Event};
use crate::core::authz::{
    authorize, authorize_in, authorize_protective, authorize_protective_in, Action, Actor, Granted,
};
use crate::core::db::Tx;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// A change to submit (inside the requesting service's transaction).
pub struct NewChange<'a> {
    /// None: a change to the platform itself, asked and decided by people who see every
    /// tenant.
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    pub target_id: &'a str,
    pub target_label: &'a str,
    pub payload: Value,
    pub before: Value,
    pub rollback: Option<Value>,
    pub reason: &'a str,
}

/// Records a pending change request and its audit event; returns its id. The caller has
/// authorized the change itself (the approver will be authorized again). The kind must be
/// registered.
pub async fn submit(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: NewChange<'_>,
    rollback_of: Option<&str>,
    now: i64,
) -> AppResult<String> {
    st.kinds.change_kind(c.kind)?;
    let id = secrets::new_id("chg");
    let expires = now + st.config.change_request_ttl_hours * 3600;
    store::insert(
        tx.conn(),
        g,
        &store::NewRow {
            id: &id,
            tenant_id: c.tenant_id,
            kind: c.kind,
            target_id: c.target_id,
            target_label: c.target_label,
            payload: &c.payload,
            before: &c.before,
            rollback: c.rollback.as_ref(),
            reason: c.reason,
            expires_at: expires,
            rollback_of,
        },
        now,
    )
    .await?;
    let ev = Event::new("change.requested")
        .target(id.clone())
        .details(serde_json::json!({
            "kind": c.kind, "target": c.target_label, "reason": c.reason, "expires_at": expires,
            "rollback_of": rollback_of,
        }))
        .maybe_tenant(c.tenant_id.map(str::to_string));
    record(tx, g.actor, now, ev).await?;
    Ok(id)
}

pub use super::store::Filter;

/// Change requests in the actor's tenants (at most 200).
/// Change requests in the actor's tenants, each with its words.
pub async fn list(st: &AppState, actor: &Actor, f: Filter<'_>) -> AppResult<Vec<ChangeRequest>> {
    let g = authorize(actor, Action::ViewTenants)?;
    let list = store::list(&st.db, &g, f, st.clock.now()).await?;
    Ok(list.into_iter().map(|c| with_words(st, c)).collect())
}

/// One change request in the actor's tenants, with its words.
pub async fn get(st: &AppState, actor: &Actor, id: &str) -> AppResult<ChangeRequest> {
    let g = authorize(actor, Action::ViewTenants)?;
    Ok(with_words(
        st,
        store::get(&st.db, &g, id, st.clock.now()).await?,
    ))
}

fn with_words(st: &AppState, mut c: ChangeRequest) -> ChangeRequest {
    c.words = Some(described(st, &c));
    c
}

/// A request in words: its kind's sentence and rows; a rollback says what it undoes; a kind
/// this server does not know (any more) reads by its label.
pub fn described(st: &AppState, c: &ChangeRequest) -> crate::types::Described {
    match (&c.rollback_of, st.kinds.change_kind(&c.kind)) {
        (None, Ok(k)) => k.describe(c),
        (Some(o), _) => crate::types::Described {
            summary: format!(
                "Roll back the change “{}” to {} ({o}): what was there before it comes back.",
                c.kind_label(),
                crate::types::readable(&c.target_label)
            ),
            rows: Vec::new(),
        },
        (None, Err(_)) => crate::types::Described {
            summary: format!("{}: {}", c.kind_label(), c.target_label),
            rows: Vec::new(),
        },
    }
}

/// The action whoever decides `c` must hold in its tenant, besides
/// [`Action::ApproveChanges`] (registered with the kind).
fn kind_action(st: &AppState, c: &ChangeRequest) -> AppResult<Action> {
    Ok(st.kinds.change_kind(&c.kind)?.action_for(c))
}

/// The gate for a decision about `c`: in its tenant, or for a platform change over the
/// actor's whole reach. Protective decisions pass an incident's freeze.
fn gate<'a>(
    actor: &'a Actor,
    action: Action,
    c: &ChangeRequest,
    protective: bool,
) -> AppResult<Granted<'a>> {
    match (c.tenant_id.as_deref(), protective) {
        (Some(t), false) => authorize_in(actor, action, t),
        (Some(t), true) => authorize_protective_in(actor, action, t),
        (None, false) => authorize(actor, action),
        (None, true) => authorize_protective(actor, action),
    }
}

/// Why a conditional decision touched no row, in words.
async fn explain(st: &AppState, actor: &Actor, id: &str) -> AppError {
    match get(st, actor, id).await {
        Ok(c)
            if c.state == ChangeState::Pending
                && c.requested_by.is_some()
                && c.requested_by == actor.user_id =>
        {
            AppError::Invalid("You requested this change, so someone else must approve it.".into())
        }
        Ok(c) if c.state == ChangeState::Expired => AppError::Conflict(
            "This request has expired. Ask for it again if it is still needed.".into(),
        ),
        Ok(c) => AppError::Conflict(format!(
            "This request was already decided: it is {}.",
            c.state
        )),
        Err(e) => e,
    }
}

/// Approves someone else's pending request and applies it, in one transaction.
pub async fn approve(st: &AppState, actor: &Actor, id: &str) -> AppResult<ChangeRequest> {
    let c = get(st, actor, id).await?;
    // Two proofs: approving (the queue's rows) and the kind's own action (what applying does).
    // While an incident holds, only protective approvals pass: rollbacks, and what the
    // kind says puts a known-good state back.
    let kind = st.kinds.change_kind(&c.kind)?;
    let protective = c.rollback_of.is_some() || kind.protective(&c);
    let kg = gate(actor, kind.action_for(&c), &c, protective)?;
    let g = gate(actor, Action::ApproveChanges, &c, protective)?;
    let me = g.actor.user_id.clone().ok_or(AppError::Forbidden)?;
    if c.state == ChangeState::Pending && c.requested_by.as_deref() != Some(me.as_str()) {
        // The kind may hold the request back (it stays pending), saying why.
        kind.precheck(st, &c).await?;
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let won = store::mark_approved(tx.conn(), &g, id, &me, now).await?;
    if !won {
        drop(tx);
        return Err(explain(st, actor, id).await);
    }
    let ev = Event::new("change.approved")
        .target(id.to_string())
        .details(serde_json::json!({ "kind": c.kind, "target": c.target_label }))
        .maybe_tenant(c.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    let applied = match &c.rollback_of {
        None => kind.apply(st, &mut tx, &kg, &c, now).await,
        Some(original) => roll_back_in(st, &mut tx, &g, &kg, kind, original, now).await,
    };
    match applied {
        Ok(Applied {
            summary: result,
            after,
        }) => {
            store::mark_applied(tx.conn(), &g, id, now, &result, &after).await?;
            let ev = Event::new("change.applied")
                .target(id.to_string())
                .details(serde_json::json!({
                    "kind": c.kind, "target": c.target_label, "result": result,
                }))
                .maybe_tenant(c.tenant_id.clone());
            record(&mut tx, g.actor, now, ev).await?;
            let mail = tx.commit_outbox().await?;
            crate::core::mailer::deliver(st, g.actor, mail, "The change was applied").await?;
        }
        // The change no longer fits (say the mailbox was offboarded meanwhile): the request
        // fails for good, with the reason kept.
        Err(e) if matches!(e.kind(), AppError::Invalid(_) | AppError::Conflict(_)) => {
            drop(tx);
            let mut tx = st.db.begin().await?;
            store::mark_failed(tx.conn(), &g, id, &me, now, &e.user_message()).await?;
            let ev = Event::new("change.failed")
                .target(id.to_string())
                .details(serde_json::json!({
                    "kind": c.kind, "target": c.target_label, "error": e.user_message(),
                }))
                .maybe_tenant(c.tenant_id.clone());
            record(&mut tx, g.actor, now, ev).await?;
            tx.commit().await?;
            return Err(e);
        }
        // Anything else (outgoing mail down…): nothing happened; the request stays pending.
        Err(e) => return Err(e),
    }
    get(st, actor, id).await
}

/// Runs the rollback `c` asks for, in the approving transaction: the kind undoes the
/// original (or refuses, saying what changed since) and the original becomes `rolled_back`.
async fn roll_back_in(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    kg: &Granted<'_>,
    kind: &dyn ChangeKind,
    original_id: &str,
    now: i64,
) -> AppResult<Applied> {
    let original = get(st, g.actor, original_id).await?;
    let summary = kind.roll_back(st, tx, kg, &original, now).await?;
    if !store::mark_rolled_back(tx.conn(), g, original_id).await? {
        return Err(AppError::Conflict(
            "That change was rolled back already.".into(),
        ));
    }
    let ev = Event::new("change.rolled_back")
        .target(original_id.to_string())
        .details(serde_json::json!({
            "kind": original.kind, "target": original.target_label, "result": summary,
        }))
        .maybe_tenant(original.tenant_id.clone());
    record(tx, g.actor, now, ev).await?;
    Ok(Applied {
        summary,
        after: Value::Null,
    })
}

/// Asks for the rollback of an applied change: a new request of the same kind, which
/// another person approves like any other. Refused at once when the change cannot be rolled
/// back now (the kind's rollback is tried in a transaction that is thrown away, so the
/// refusal says what changed), or when a rollback of it is already waiting.
pub async fn request_rollback(
    st: &AppState,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> AppResult<ChangeRequest> {
    let c = get(st, actor, id).await?;
    let kind = st.kinds.change_kind(&c.kind)?;
    let g = gate(actor, kind.action_for(&c), &c, false)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid(
            "Say why the change is to be rolled back.",
        ));
    }
    if reason.chars().count() > 2000 {
        return Err(AppError::invalid("Keep the reason under 2,000 characters."));
    }
    if c.rollback_of.is_some() {
        return Err(AppError::invalid(
            "This request is itself a rollback: ask for the change again instead.",
        ));
    }
    if c.state != ChangeState::Applied {
        return Err(AppError::Conflict(format!(
            "Only an applied change can be rolled back; this one is {}.",
            c.state
        )));
    }
    let now = st.clock.now();
    // A dry run: the kind's own checks, in a transaction that is never committed.
    {
        let mut dry = st.db.begin().await?;
        kind.can_roll_back(st, &mut dry, &g, &c, now).await?;
    }
    let mut tx = st.db.begin().await?;
    // A rollback request that expired unanswered no longer blocks a new one.
    store::expire_rollbacks_of(tx.conn(), &g, &c.id, now).await?;
    let submitted = submit(
        st,
        &mut tx,
        &g,
        NewChange {
            tenant_id: c.tenant_id.as_deref(),
            kind: &c.kind,
            target_id: &c.target_id,
            target_label: &c.target_label,
            payload: serde_json::json!({ "rollback_of": c.id }),
            before: c
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or(Value::Null),
            rollback: None,
            reason,
        },
        Some(&c.id),
        now,
    )
    .await;
    let new_id = match submitted {
        Ok(new_id) => new_id,
        Err(AppError::Db(e)) if is_unique_violation(&e) => {
            return Err(AppError::Conflict(
                "A rollback of this change is already waiting for approval.".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    get(st, actor, &new_id).await
}

/// Marks an applied change rolled back by its own kind, with no second person: a protective
/// undo to the recorded before-state (a DNS change whose verification failed puts the
/// before-state back by itself). Inside the kind's transaction; audited as
/// `change.rolled_back` with `automatic: true` and the reason. False: it was not applied.
pub async fn rolled_back_protectively(
    tx: &mut Tx,
    g: &Granted<'_>,
    id: &str,
    why: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ApproveChanges])?;
    if !store::mark_rolled_back(tx.conn(), g, id).await? {
        return Ok(false);
    }
    let ev = Event::new("change.rolled_back")
        .target(id.to_string())
        .details(serde_json::json!({ "automatic": true, "result": why }))
        .maybe_tenant(g.tenant().map(str::to_string));
    record(tx, g.actor, now, ev).await?;
    Ok(true)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Rejects a pending request (anyone who could approve it, including the requester's peers;
/// the requester withdraws with [`cancel`]).
pub async fn reject(st: &AppState, actor: &Actor, id: &str, note: &str) -> AppResult<()> {
    let c = get(st, actor, id).await?;
    // Rejecting changes nothing: an incident's freeze does not stop it.
    gate(actor, kind_action(st, &c)?, &c, true)?;
    let g = gate(actor, Action::ApproveChanges, &c, true)?;
    // The requester is told why.
    let note = AppError::reason_for(Some(note), "for rejecting it (the requester reads it)")?;
    decide_without_applying(st, &g, &c, ChangeState::Rejected, &note).await
}

/// The requester withdraws their own pending request.
pub async fn cancel(st: &AppState, actor: &Actor, id: &str) -> AppResult<()> {
    let c = get(st, actor, id).await?;
    let g = gate(actor, kind_action(st, &c)?, &c, false)?;
    if c.requested_by.is_none() || c.requested_by != g.actor.user_id {
        return Err(AppError::invalid(
            "Only the person who asked for a change can cancel it; reject it instead.",
        ));
    }
    decide_without_applying(st, &g, &c, ChangeState::Cancelled, "").await
}

async fn decide_without_applying(
    st: &AppState,
    g: &Granted<'_>,
    c: &ChangeRequest,
    state: ChangeState,
    note: &str,
) -> AppResult<()> {
    let note = note.trim();
    if note.chars().count() > 500 {
        return Err(AppError::invalid("Keep the note under 500 characters."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let won = store::decide(
        tx.conn(),
        g,
        &c.id,
        state,
        (!note.is_empty()).then_some(note),
        now,
    )
    .await?;
    if !won {
        drop(tx);
        return Err(explain(st, g.actor, &c.id).await);
    }
    let action = if state == ChangeState::Rejected {
        "change.rejected"
    } else {
        "change.cancelled"
    };
    let ev = Event::new(action)
        .target(c.id.clone())
        .details(serde_json::json!({ "kind": c.kind, "target": c.target_label, "note": note }))
        .maybe_tenant(c.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

/// Cancels every pending request about one object (inside another change, e.g. offboarding).
/// Returns how many.
pub async fn cancel_for_target(
    tx: &mut Tx,
    g: &Granted<'_>,
    target_id: &str,
    now: i64,
    note: &str,
) -> AppResult<i64> {
    store::cancel_for_target(tx.conn(), g, target_id, now, note).await
}

/// Pending requests in the actor's tenants (for the sidebar badge and the dashboard).
pub async fn pending_count(st: &AppState, actor: &Actor) -> AppResult<i64> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::pending_count(&st.db, &g, None, st.clock.now()).await
}

// ---------- notices ----------

/// Requests nobody was told about yet (`new`: waiting ones approvers were not mailed about;
/// otherwise decided ones whose requester was not told). The notices themselves are auth's
/// (`auth::service::send_notices`): they are about people.
pub async fn unnoticed(st: &AppState, new: bool) -> AppResult<Vec<ChangeRequest>> {
    store::unnoticed(&st.db, new, st.clock.now()).await
}

/// Claims a request's notice: true for the one caller that may send it.
pub async fn claim_notice(st: &AppState, id: &str, new: bool) -> AppResult<bool> {
    let mut conn = st.db.pool().acquire().await?;
    store::claim_notice(&mut conn, id, new, st.clock.now()).await
}

/// A request in words (its kind's sentence; a rollback says what it undoes).
pub fn in_words(st: &AppState, c: &ChangeRequest) -> String {
    described(st, c).summary
}

/// The action whoever decides `c` must hold besides approving (its kind's).
pub fn action_to_decide(st: &AppState, c: &ChangeRequest) -> AppResult<Action> {
    kind_action(st, c)
}
