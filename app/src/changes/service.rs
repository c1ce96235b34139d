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
use serde_json::Value;
use sqlx::Row;

use super::ChangeRequest;
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::db::{Tx, Where};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// A change to submit (inside the requesting service's transaction).
pub struct NewChange<'a> {
    pub tenant_id: &'a str,
    pub kind: &'a str,
    pub target_id: &'a str,
    pub target_label: &'a str,
    pub payload: Value,
    pub before: Value,
    pub rollback: Option<Value>,
    pub reason: &'a str,
}

/// Records a pending change request and its audit event; returns its id. The caller has
/// authorized the change itself (the approver will be authorized again).
pub async fn submit(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: NewChange<'_>,
    now: i64,
) -> AppResult<String> {
    let id = secrets::new_id("chg");
    let expires = now + st.config.change_request_ttl_hours * 3600;
    sqlx::query(
        "INSERT INTO change_requests (id, tenant_id, kind, target_id, target_label, payload, \
         before_state, rollback, reason, state, requested_by, requested_by_label, requested_at, \
         expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'pending',$10,$11,$12,$13)",
    )
    .bind(&id)
    .bind(c.tenant_id)
    .bind(c.kind)
    .bind(c.target_id)
    .bind(c.target_label)
    .bind(c.payload.to_string())
    .bind(c.before.to_string())
    .bind(c.rollback.map(|r| r.to_string()))
    .bind(c.reason)
    .bind(g.actor.user_id.clone())
    .bind(g.actor.label.clone())
    .bind(now)
    .bind(expires)
    .execute(tx.conn())
    .await?;
    let ev = Event::new("change.requested")
        .target(id.clone())
        .details(serde_json::json!({
            "kind": c.kind, "target": c.target_label, "reason": c.reason, "expires_at": expires,
        }))
        .tenant(c.tenant_id.to_string());
    record(tx, g.actor, now, ev).await?;
    Ok(id)
}

const COLS: &str =
    "c.id, c.tenant_id, t.name AS tenant_name, c.kind, c.target_id, c.target_label, \
    c.payload, c.before_state, c.reason, c.state, c.requested_by, c.requested_by_label, \
    c.requested_at, c.expires_at, c.decided_by_label, c.decided_at, c.decision_note, \
    c.applied_at, c.result";

fn from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<ChangeRequest, sqlx::Error> {
    let mut state: String = r.try_get("state")?;
    let expires_at: i64 = r.try_get("expires_at")?;
    // Expiry is a matter of time: shown as soon as it passes, and enforced on every decision.
    if state == "pending" && expires_at <= now {
        state = "expired".into();
    }
    Ok(ChangeRequest {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        tenant_name: r.try_get("tenant_name")?,
        kind: r.try_get("kind")?,
        target_id: r.try_get("target_id")?,
        target_label: r.try_get("target_label")?,
        payload: r.try_get("payload")?,
        before: r.try_get("before_state")?,
        reason: r.try_get("reason")?,
        state,
        requested_by: r.try_get("requested_by")?,
        requested_by_label: r.try_get("requested_by_label")?,
        requested_at: r.try_get("requested_at")?,
        expires_at,
        decided_by_label: r.try_get("decided_by_label")?,
        decided_at: r.try_get("decided_at")?,
        decision_note: r.try_get("decision_note")?,
        applied_at: r.try_get("applied_at")?,
        result: r.try_get("result")?,
    })
}

/// Which requests to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Waiting for a decision (not expired).
    Pending,
    /// Decided or expired, newest first.
    Recent,
    /// Every request about one object, newest first.
    Target(&'a str),
}

/// Change requests in the actor's tenants (at most 200).
pub async fn list(st: &AppState, actor: &Actor, f: Filter<'_>) -> AppResult<Vec<ChangeRequest>> {
    let g = authorize(actor, Action::ViewTenants)?;
    let now = st.clock.now();
    let mut w = Where::new();
    w.scope("c.tenant_id", &g.actor.tenants);
    let p = w.arg(now);
    match f {
        Filter::Pending => w.and(format!("c.state = 'pending' AND c.expires_at > {p}")),
        Filter::Recent => w.and(format!("(c.state <> 'pending' OR c.expires_at <= {p})")),
        Filter::Target(t) => {
            let p = w.arg(t);
            w.and(format!("c.target_id = {p}"))
        }
    }
    let order = if f == Filter::Pending { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {COLS} FROM change_requests c JOIN tenants t ON t.id = c.tenant_id{} \
         ORDER BY c.requested_at {order}, c.id LIMIT 200",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(st.db.pool()).await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r, now))
        .collect::<Result<_, _>>()?)
}

pub async fn get(st: &AppState, actor: &Actor, id: &str) -> AppResult<ChangeRequest> {
    let g = authorize(actor, Action::ViewTenants)?;
    let mut w = Where::new();
    w.scope("c.tenant_id", &g.actor.tenants);
    let p = w.arg(id);
    w.and(format!("c.id = {p}"));
    let sql = format!(
        "SELECT {COLS} FROM change_requests c JOIN tenants t ON t.id = c.tenant_id{}",
        w.sql()
    );
    let row = w
        .bind(sqlx::query(&sql))
        .fetch_optional(st.db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(from_row(&row, st.clock.now())?)
}

/// The action whoever decides a request of this kind must hold in its tenant, besides
/// [`Action::ApproveChanges`].
fn kind_action(kind: &str) -> AppResult<Action> {
    match kind {
        "mailbox.reset" | "mailbox.alias" | "routing.alias" | "routing.forward"
        | "routing.catchall" => Ok(Action::ManageMailboxes),
        other => Err(AppError::Internal(format!("unknown change kind {other}"))),
    }
}

/// Why a conditional decision touched no row, in words.
async fn explain(st: &AppState, actor: &Actor, id: &str) -> AppError {
    match get(st, actor, id).await {
        Ok(c)
            if c.state == "pending"
                && c.requested_by.is_some()
                && c.requested_by == actor.user_id =>
        {
            AppError::Invalid("You requested this change, so someone else must approve it.".into())
        }
        Ok(c) if c.state == "expired" => AppError::Conflict(
            "This request has expired. Ask for it again if it is still needed.".into(),
        ),
        Ok(c) => AppError::Conflict(format!(
            "This request was already decided: it is {}.",
            c.state.replace('_', " ")
        )),
        Err(e) => e,
    }
}

/// Approves someone else's pending request and applies it, in one transaction.
pub async fn approve(st: &AppState, actor: &Actor, id: &str) -> AppResult<ChangeRequest> {
    let c = get(st, actor, id).await?;
    authorize_in(actor, kind_action(&c.kind)?, &c.tenant_id)?;
    let g = authorize_in(actor, Action::ApproveChanges, &c.tenant_id)?;
    let me = g.actor.user_id.clone().ok_or(AppError::Forbidden)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let won = sqlx::query(
        "UPDATE change_requests SET state = 'approved', decided_by = $2, decided_by_label = $3, \
         decided_at = $4 WHERE id = $1 AND state = 'pending' AND expires_at > $4 \
         AND (requested_by IS NULL OR requested_by <> $2)",
    )
    .bind(id)
    .bind(&me)
    .bind(&g.actor.label)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1;
    if !won {
        drop(tx);
        return Err(explain(st, actor, id).await);
    }
    let ev = Event::new("change.approved")
        .target(id.to_string())
        .details(serde_json::json!({ "kind": c.kind, "target": c.target_label }))
        .tenant(c.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    let payload: Value = serde_json::from_str(&c.payload).map_err(AppError::internal)?;
    let applied = match c.kind.as_str() {
        "mailbox.reset" => {
            crate::mailboxes::service::apply_reset(st, &mut tx, &g, &c, &payload, now).await
        }
        "mailbox.alias" => {
            crate::mailboxes::service::apply_alias(st, &mut tx, &g, &c, &payload, now).await
        }
        "routing.alias" | "routing.forward" | "routing.catchall" => {
            crate::routing::service::apply(st, &mut tx, &g, &c, &payload, now).await
        }
        other => Err(AppError::Internal(format!("unknown change kind {other}"))),
    };
    match applied {
        Ok(result) => {
            sqlx::query(
                "UPDATE change_requests SET state = 'applied', applied_at = $2, result = $3 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(&result)
            .execute(tx.conn())
            .await?;
            let ev = Event::new("change.applied")
                .target(id.to_string())
                .details(serde_json::json!({ "kind": c.kind, "result": result }))
                .tenant(c.tenant_id.clone());
            record(&mut tx, g.actor, now, ev).await?;
            let mail = tx.commit_outbox().await?;
            crate::mailboxes::service::deliver(st, g.actor, mail, "The change was applied").await?;
        }
        // The change no longer fits (say the mailbox was offboarded meanwhile): the request
        // fails for good, with the reason kept.
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => {
            drop(tx);
            let mut tx = st.db.begin().await?;
            sqlx::query(
                "UPDATE change_requests SET state = 'failed', decided_by = $2, decided_by_label = $3, \
                 decided_at = $4, result = $5 WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(&me)
            .bind(&g.actor.label)
            .bind(now)
            .bind(e.user_message())
            .execute(tx.conn())
            .await?;
            let ev = Event::new("change.failed")
                .target(id.to_string())
                .details(serde_json::json!({ "kind": c.kind, "error": e.user_message() }))
                .tenant(c.tenant_id.clone());
            record(&mut tx, g.actor, now, ev).await?;
            tx.commit().await?;
            return Err(e);
        }
        // Anything else (outgoing mail down…): nothing happened; the request stays pending.
        Err(e) => return Err(e),
    }
    get(st, actor, id).await
}

/// Rejects a pending request (anyone who could approve it, including the requester's peers;
/// the requester withdraws with [`cancel`]).
pub async fn reject(st: &AppState, actor: &Actor, id: &str, note: &str) -> AppResult<()> {
    let c = get(st, actor, id).await?;
    authorize_in(actor, kind_action(&c.kind)?, &c.tenant_id)?;
    let g = authorize_in(actor, Action::ApproveChanges, &c.tenant_id)?;
    decide_without_applying(st, &g, &c, "rejected", note).await
}

/// The requester withdraws their own pending request.
pub async fn cancel(st: &AppState, actor: &Actor, id: &str) -> AppResult<()> {
    let c = get(st, actor, id).await?;
    let g = authorize_in(actor, kind_action(&c.kind)?, &c.tenant_id)?;
    if c.requested_by.is_none() || c.requested_by != g.actor.user_id {
        return Err(AppError::invalid(
            "Only the person who asked for a change can cancel it; reject it instead.",
        ));
    }
    decide_without_applying(st, &g, &c, "cancelled", "").await
}

async fn decide_without_applying(
    st: &AppState,
    g: &Granted<'_>,
    c: &ChangeRequest,
    state: &str,
    note: &str,
) -> AppResult<()> {
    let note = note.trim();
    if note.chars().count() > 500 {
        return Err(AppError::invalid("Keep the note under 500 characters."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let n = sqlx::query(
        "UPDATE change_requests SET state = $2, decided_by = $3, decided_by_label = $4, \
         decided_at = $5, decision_note = $6 WHERE id = $1 AND state = 'pending' AND expires_at > $5",
    )
    .bind(&c.id)
    .bind(state)
    .bind(g.actor.user_id.clone())
    .bind(&g.actor.label)
    .bind(now)
    .bind((!note.is_empty()).then_some(note))
    .execute(tx.conn())
    .await?
    .rows_affected();
    if n != 1 {
        drop(tx);
        return Err(explain(st, g.actor, &c.id).await);
    }
    let action = if state == "rejected" {
        "change.rejected"
    } else {
        "change.cancelled"
    };
    let ev = Event::new(action)
        .target(c.id.clone())
        .details(serde_json::json!({ "kind": c.kind, "target": c.target_label, "note": note }))
        .tenant(c.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

/// Cancels every pending request about one object (inside another change, e.g. offboarding).
/// Returns how many.
pub async fn cancel_for_target(
    tx: &mut Tx,
    target_id: &str,
    by: &Actor,
    now: i64,
    note: &str,
) -> AppResult<i64> {
    let n = sqlx::query(
        "UPDATE change_requests SET state = 'cancelled', decided_by = $2, decided_by_label = $3, \
         decided_at = $4, decision_note = $5 WHERE target_id = $1 AND state = 'pending'",
    )
    .bind(target_id)
    .bind(by.user_id.clone())
    .bind(&by.label)
    .bind(now)
    .bind(note)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(n as i64)
}

/// Pending requests in the actor's tenants (for the sidebar badge and the dashboard).
pub async fn pending_count(st: &AppState, actor: &Actor) -> AppResult<i64> {
    let g = authorize(actor, Action::ViewTenants)?;
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let p = w.arg(st.clock.now());
    w.and(format!("state = 'pending' AND expires_at > {p}"));
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests{}",
        w.sql()
    );
    let row = w.bind(sqlx::query(&sql)).fetch_one(st.db.pool()).await?;
    Ok(row.try_get("n")?)
}
