//! SQL for `change_requests`, the one table of the change queue. Every decision is a
//! conditional `UPDATE` (it returns whether it won), so two approvers at once give one
//! effect and a decided request is never decided again.
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ChangeRequest, ChangeState};
use crate::core::authz::Granted;
use crate::core::db::{Db, Where};
use crate::core::{AppError, AppResult};
use crate::tenancy::store as tenancy;

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

/// A request row to insert (state `pending`).
pub struct NewRow<'a> {
    pub id: &'a str,
    /// None: a change to the platform itself (only someone who sees every tenant asks).
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    pub target_id: &'a str,
    pub target_label: &'a str,
    pub payload: &'a Value,
    pub before: &'a Value,
    pub rollback: Option<&'a Value>,
    pub reason: &'a str,
    pub expires_at: i64,
    pub rollback_of: Option<&'a str>,
}

pub async fn insert(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    r: &NewRow<'_>,
    now: i64,
) -> AppResult<()> {
    match r.tenant_id {
        Some(t) => g.check(t)?,
        None if matches!(g.actor.tenants, crate::core::authz::TenantScope::All)
            && g.tenant().is_none() => {}
        None => return Err(AppError::NotFound),
    }
    sqlx::query(
        "INSERT INTO change_requests (id, tenant_id, kind, target_id, target_label, payload, \
         before_state, rollback, reason, state, requested_by, requested_by_label, requested_at, \
         expires_at, rollback_of) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'pending',$10,$11,$12,$13,$14)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.kind)
    .bind(r.target_id)
    .bind(r.target_label)
    .bind(r.payload.to_string())
    .bind(r.before.to_string())
    .bind(r.rollback.map(|r| r.to_string()))
    .bind(r.reason)
    .bind(g.actor.user_id.clone())
    .bind(g.actor.label.clone())
    .bind(now)
    .bind(r.expires_at)
    .bind(r.rollback_of)
    .execute(c)
    .await?;
    Ok(())
}

const COLS: &str = "c.id, c.tenant_id, c.kind, c.target_id, c.target_label, \
    c.payload, c.before_state, c.reason, c.state, c.requested_by, c.requested_by_label, \
    c.requested_at, c.expires_at, c.decided_by_label, c.decided_at, c.decision_note, \
    c.applied_at, c.result, c.after_state, c.rollback_of";

fn from_row(r: &AnyRow, now: i64) -> Result<ChangeRequest, sqlx::Error> {
    let stored: String = r.try_get("state")?;
    let mut state = ChangeState::parse(&stored).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "state".into(),
        source: format!("unknown change request state {stored:?}").into(),
    })?;
    let expires_at: i64 = r.try_get("expires_at")?;
    // Expiry is a matter of time: shown as soon as it passes, and enforced on every decision.
    if state == ChangeState::Pending && expires_at <= now {
        state = ChangeState::Expired;
    }
    Ok(ChangeRequest {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        tenant_name: String::new(),
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
        after: r.try_get("after_state")?,
        rollback_of: r.try_get("rollback_of")?,
        words: None,
    })
}

async fn load(db: &Db, sql: &str, w: &Where, now: i64) -> AppResult<Vec<ChangeRequest>> {
    let mut c = db.pool().acquire().await?;
    let rows = w.bind(sqlx::query(sql)).fetch_all(&mut *c).await?;
    let mut out: Vec<ChangeRequest> = rows
        .iter()
        .map(|r| from_row(r, now))
        .collect::<Result<_, _>>()?;
    let names =
        tenancy::names_of(&mut c, out.iter().filter_map(|c| c.tenant_id.as_deref())).await?;
    for r in &mut out {
        r.tenant_name = match &r.tenant_id {
            Some(t) => names.get(t).cloned().unwrap_or_default(),
            None => "Platform".into(),
        };
    }
    Ok(out)
}

/// Requests in the proof's scope (at most 200).
pub async fn list(
    db: &Db,
    g: &Granted<'_>,
    f: Filter<'_>,
    now: i64,
) -> AppResult<Vec<ChangeRequest>> {
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
        "SELECT {COLS} FROM change_requests c{} ORDER BY c.requested_at {order}, c.id LIMIT 200",
        w.sql()
    );
    load(db, &sql, &w, now).await
}

/// One request in the proof's scope.
pub async fn get(db: &Db, g: &Granted<'_>, id: &str, now: i64) -> AppResult<ChangeRequest> {
    let mut w = Where::new();
    w.scope("c.tenant_id", &g.actor.tenants);
    let p = w.arg(id);
    w.and(format!("c.id = {p}"));
    let sql = format!("SELECT {COLS} FROM change_requests c{}", w.sql());
    load(db, &sql, &w, now)
        .await?
        .pop()
        .ok_or(AppError::NotFound)
}

/// Pending, unexpired requests in the proof's scope; `kind_prefix` narrows to kinds that
/// start with it (say `routing.`).
pub async fn pending_count(
    db: &Db,
    g: &Granted<'_>,
    kind_prefix: Option<&str>,
    now: i64,
) -> AppResult<i64> {
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let p = w.arg(now);
    w.and(format!("state = 'pending' AND expires_at > {p}"));
    if let Some(prefix) = kind_prefix {
        let p = w.arg(format!("{prefix}%"));
        w.and(format!("kind LIKE {p}"));
    }
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests{}",
        w.sql()
    );
    let row = w.bind(sqlx::query(&sql)).fetch_one(db.pool()).await?;
    Ok(row.try_get("n")?)
}

/// Pending requests (expired or not) about one object, of kinds starting with `kind_prefix`.
pub async fn pending_for_target(
    c: &mut AnyConnection,
    target_id: &str,
    kind_prefix: &str,
) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests WHERE target_id = $1 \
         AND state = 'pending' AND kind LIKE $2",
    )
    .bind(target_id)
    .bind(format!("{kind_prefix}%"))
    .fetch_one(c)
    .await?;
    Ok(row.try_get("n")?)
}

/// Pending requests (expired or not) about one object, except those of `except_kind` (the
/// offboarding scan: the offboarding alias is the one request that should stay).
pub async fn pending_for_target_except(
    c: &mut AnyConnection,
    target_id: &str,
    except_kind: &str,
) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests WHERE target_id = $1 \
         AND state = 'pending' AND kind <> $2",
    )
    .bind(target_id)
    .bind(except_kind)
    .fetch_one(c)
    .await?;
    Ok(row.try_get("n")?)
}

/// Pending requests (expired or not) whose target is labelled `label` (say an address that
/// has no object yet), of kinds starting with `kind_prefix`.
pub async fn pending_for_label(
    c: &mut AnyConnection,
    label: &str,
    kind_prefix: &str,
) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests WHERE target_label = $1 \
         AND state = 'pending' AND kind LIKE $2",
    )
    .bind(label)
    .bind(format!("{kind_prefix}%"))
    .fetch_one(c)
    .await?;
    Ok(row.try_get("n")?)
}

/// `pending` → `approved` by `g`'s actor, unless it expired or they asked for it.
pub async fn mark_approved(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    me: &str,
    now: i64,
) -> AppResult<bool> {
    let mut w = Where::new();
    let i = w.arg(id);
    let m = w.arg(me);
    let l = w.arg(g.actor.label.as_str());
    let n = w.arg(now);
    w.and(format!(
        "id = {i} AND state = 'pending' AND expires_at > {n} \
         AND (requested_by IS NULL OR requested_by <> {m})"
    ));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE change_requests SET state = 'approved', decided_by = {m}, \
         decided_by_label = {l}, decided_at = {n}{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected() == 1)
}

/// `approved` → `applied`, with what the kind reported and the after-state it recorded.
pub async fn mark_applied(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    now: i64,
    result: &str,
    after: &Value,
) -> AppResult<()> {
    let mut w = Where::new();
    let i = w.arg(id);
    let n = w.arg(now);
    let r = w.arg(result);
    let a = w.arg(after.to_string());
    w.and(format!("id = {i} AND state = 'approved'"));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE change_requests SET state = 'applied', applied_at = {n}, result = {r}, \
         after_state = {a}{}",
        w.sql()
    );
    w.bind(sqlx::query(&sql)).execute(c).await?;
    Ok(())
}

/// `pending` → `failed` (the apply refused), with the reason kept.
pub async fn mark_failed(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    me: &str,
    now: i64,
    why: &str,
) -> AppResult<()> {
    let mut w = Where::new();
    let i = w.arg(id);
    let m = w.arg(me);
    let l = w.arg(g.actor.label.as_str());
    let n = w.arg(now);
    let y = w.arg(why);
    w.and(format!("id = {i} AND state = 'pending'"));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE change_requests SET state = 'failed', decided_by = {m}, decided_by_label = {l}, \
         decided_at = {n}, result = {y}{}",
        w.sql()
    );
    w.bind(sqlx::query(&sql)).execute(c).await?;
    Ok(())
}

/// `applied` → `rolled_back`; false when it was rolled back already.
pub async fn mark_rolled_back(c: &mut AnyConnection, g: &Granted<'_>, id: &str) -> AppResult<bool> {
    let mut w = Where::new();
    let i = w.arg(id);
    w.and(format!("id = {i} AND state = 'applied'"));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE change_requests SET state = 'rolled_back'{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected() == 1)
}

/// Rollback requests of `original_id` that expired unanswered become `expired`, so they no
/// longer block a new one (one pending rollback per change: a unique index).
pub async fn expire_rollbacks_of(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    original_id: &str,
    now: i64,
) -> AppResult<()> {
    let mut w = Where::new();
    let o = w.arg(original_id);
    let n = w.arg(now);
    w.and(format!(
        "rollback_of = {o} AND state = 'pending' AND expires_at <= {n}"
    ));
    w.granted("tenant_id", g);
    let sql = format!("UPDATE change_requests SET state = 'expired'{}", w.sql());
    w.bind(sqlx::query(&sql)).execute(c).await?;
    Ok(())
}

/// `pending` → `rejected` or `cancelled`, with the decider's note; false when it was not
/// pending any more (or expired).
pub async fn decide(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    state: ChangeState,
    note: Option<&str>,
    now: i64,
) -> AppResult<bool> {
    let n = sqlx::query(
        "UPDATE change_requests SET state = $2, decided_by = $3, decided_by_label = $4, \
         decided_at = $5, decision_note = $6 WHERE id = $1 AND state = 'pending' AND expires_at > $5",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(g.actor.user_id.clone())
    .bind(&g.actor.label)
    .bind(now)
    .bind(note)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Cancels every pending request about one object of the proof's tenant; how many.
pub async fn cancel_for_target(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    target_id: &str,
    now: i64,
    note: &str,
) -> AppResult<i64> {
    let mut w = Where::new();
    let p_target = w.arg(target_id);
    let p_user = match g.actor.user_id.clone() {
        Some(u) => w.arg(u),
        None => "NULL".into(),
    };
    let p_label = w.arg(g.actor.label.as_str());
    let p_now = w.arg(now);
    let p_note = w.arg(note);
    w.and(format!("target_id = {p_target} AND state = 'pending'"));
    match g.tenant() {
        Some(t) => {
            let p = w.arg(t);
            w.and(format!("tenant_id = {p}"));
        }
        None => w.scope("tenant_id", &g.actor.tenants),
    }
    let sql = format!(
        "UPDATE change_requests SET state = 'cancelled', decided_by = {p_user}, \
         decided_by_label = {p_label}, decided_at = {p_now}, decision_note = {p_note}{}",
        w.sql()
    );
    let n = w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected();
    Ok(n as i64)
}

// ---------- notices ----------

/// Requests nobody was told about yet: `new` — pending ones approvers have not been mailed
/// about; otherwise decided ones whose requester has not been told (oldest first, at most 200).
pub async fn unnoticed(db: &Db, new: bool, now: i64) -> AppResult<Vec<ChangeRequest>> {
    let mut w = Where::new();
    let n = w.arg(now);
    if new {
        w.and(format!(
            "c.notified_at IS NULL AND c.state = 'pending' AND c.expires_at > {n}"
        ));
    } else {
        w.and("c.decision_notified_at IS NULL AND c.state NOT IN ('pending', 'approved')");
    }
    let sql = format!(
        "SELECT {COLS} FROM change_requests c{} ORDER BY c.requested_at, c.id LIMIT 200",
        w.sql()
    );
    load(db, &sql, &w, now).await
}

/// Claims a request's notice (new: to approvers; else: of its decision): true for the one
/// caller that sets the mark, so two instances never mail twice.
pub async fn claim_notice(c: &mut AnyConnection, id: &str, new: bool, now: i64) -> AppResult<bool> {
    let col = if new {
        "notified_at"
    } else {
        "decision_notified_at"
    };
    let sql = format!("UPDATE change_requests SET {col} = $1 WHERE id = $2 AND {col} IS NULL");
    Ok(sqlx::query(&sql)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected()
        == 1)
}
