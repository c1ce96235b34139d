//! SQL for the audit chain: `audit_events` (appended, never updated or deleted) and its one
//! `audit_head` row, which every writer bumps first (that serialises writers). The hashing
//! and the verification are the service's; this file only reads and writes rows.
use sqlx::{AnyConnection, Row as _};

use super::{AuditEvent, AuditFilter, AuditPage};
use crate::core::authz::{Action, Actor, Granted};
use crate::core::db::{like_term, values, Db, Where};
use crate::core::{AppError, AppResult};

/// Takes `n` sequence numbers: returns the last of them and the hash of the event before
/// the first (the head as it was). Locks the head row until the transaction ends.
pub async fn bump_head(c: &mut AnyConnection, n: i64) -> AppResult<(i64, String)> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(c)
        .await?;
    Ok((head.try_get("seq")?, head.try_get("hash")?))
}

/// The head's hash after the events written with [`insert`].
pub async fn set_head_hash(c: &mut AnyConnection, hash: &str) -> AppResult<()> {
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash)
        .execute(c)
        .await?;
    Ok(())
}

/// One event row, hashed.
pub struct Row<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub details: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// Appends keyed events, 40 to a statement.
pub async fn insert(c: &mut AnyConnection, rows: &[Row<'_>]) -> AppResult<()> {
    for chunk in rows.chunks(40) {
        let sql = format!(
            "INSERT INTO audit_events (seq, at, actor_id, actor_label, action, target, tenant_id, ip, \
             user_agent, details, prev_hash, hash, keyed) VALUES {}",
            values(
                chunk.len(),
                12,
                "({1},{2},{3},{4},{5},{6},{7},{8},{9},{10},{11},{12},1)"
            )
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.seq)
                .bind(r.at)
                .bind(r.actor.user_id.clone())
                .bind(r.actor.label.clone())
                .bind(r.action)
                .bind(r.target)
                .bind(r.tenant_id)
                .bind(r.actor.ip.clone())
                .bind(r.actor.user_agent.clone())
                .bind(r.details)
                .bind(r.prev_hash)
                .bind(r.hash);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// The head (seq, hash) and the first keyed event.
pub async fn head_with_first_keyed(db: &Db) -> AppResult<(i64, String, Option<i64>)> {
    let head = sqlx::query(
        "SELECT seq, hash, (SELECT MIN(seq) FROM audit_events WHERE keyed = 1) AS first_keyed \
         FROM audit_head WHERE id = 1",
    )
    .fetch_one(db.pool())
    .await?;
    Ok((
        head.try_get("seq")?,
        head.try_get("hash")?,
        head.try_get("first_keyed")?,
    ))
}

/// Up to `limit` events from `seq` on, in order, each with whether it is keyed.
pub async fn page_from(db: &Db, seq: i64, limit: i64) -> AppResult<Vec<(AuditEvent, bool)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS}, keyed FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2"
    ))
    .bind(seq)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((row_to_event(r)?, r.try_get::<i64, _>("keyed")? != 0)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Events below the first (out of chain).
pub async fn stray_count(db: &Db) -> AppResult<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE seq < 1")
            .fetch_one(db.pool())
            .await?
            .try_get("n")?,
    )
}

/// Which actions a query about one object takes.
#[derive(Clone, Copy, Debug)]
pub enum Actions<'a> {
    Any,
    OneOf(&'a [&'a str]),
    /// Actions starting with this (say `route.`).
    Prefix(&'a str),
}

impl Actions<'_> {
    fn push(&self, w: &mut Where) {
        match self {
            Actions::Any => {}
            Actions::OneOf(list) => {
                let marks: Vec<String> = list.iter().map(|a| w.arg(*a)).collect();
                w.and(format!("action IN ({})", marks.join(", ")));
            }
            Actions::Prefix(p) => {
                let m = w.arg(format!("{p}%"));
                w.and(format!("action LIKE {m}"));
            }
        }
    }
}

/// Events about one object (`target`), newest first, within a tenant scope.
pub async fn about(
    db: &Db,
    scope: &crate::core::authz::TenantScope,
    target: &str,
    actions: Actions<'_>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let mut w = Where::new();
    w.scope("tenant_id", scope);
    let t = w.arg(target);
    w.and(format!("target = {t}"));
    actions.push(&mut w);
    let lim = w.arg(limit.clamp(1, 10_000));
    let sql = format!(
        "SELECT seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, details, \
         prev_hash, hash FROM audit_events{} ORDER BY at DESC, seq DESC LIMIT {lim}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(row_to_event)
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Events of `actions` since `since` (inclusive), oldest first (at most `limit`): of one
/// tenant together with the platform's own events (no tenant), or of every tenant (`None`).
/// The incident hunt's reading.
pub async fn since(
    db: &Db,
    tenant: Option<&str>,
    actions: Actions<'_>,
    since: i64,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let mut w = Where::new();
    let s = w.arg(since);
    w.and(format!("at >= {s}"));
    if let Some(t) = tenant {
        let p = w.arg(t);
        w.and(format!("(tenant_id = {p} OR tenant_id IS NULL)"));
    }
    actions.push(&mut w);
    let lim = w.arg(limit.clamp(1, 50_000));
    let sql = format!(
        "SELECT seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, details, \
         prev_hash, hash FROM audit_events{} ORDER BY seq LIMIT {lim}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(row_to_event)
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Who did something, for counting.
#[derive(Clone, Copy, Debug)]
pub enum By<'a> {
    Actor(&'a str),
    Tenant(&'a str),
}

/// How many events of `actions` one actor, or in one tenant, since `since` (rate limits).
pub async fn count_since(db: &Db, by: By<'_>, actions: Actions<'_>, since: i64) -> AppResult<i64> {
    let mut w = Where::new();
    match by {
        By::Actor(a) => {
            let p = w.arg(a);
            w.and(format!("actor_id = {p}"));
        }
        By::Tenant(t) => {
            let p = w.arg(t);
            w.and(format!("tenant_id = {p}"));
        }
    }
    actions.push(&mut w);
    let p = w.arg(since);
    w.and(format!("at > {p}"));
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM audit_events{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql))
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Tenants (in the scope) with at least `min` events of `actions` since `since`, busiest
/// first: (tenant id, count).
pub async fn busiest_tenants(
    db: &Db,
    scope: &crate::core::authz::TenantScope,
    actions: Actions<'_>,
    since: i64,
    min: i64,
) -> AppResult<Vec<(String, i64)>> {
    let mut w = Where::new();
    w.scope("tenant_id", scope);
    w.and("tenant_id IS NOT NULL");
    actions.push(&mut w);
    let p = w.arg(since);
    w.and(format!("at > {p}"));
    let m = w.arg(min);
    let sql = format!(
        "SELECT tenant_id, CAST(COUNT(*) AS BIGINT) AS n FROM audit_events{} GROUP BY tenant_id \
         HAVING COUNT(*) >= {m} ORDER BY n DESC",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub fn row_to_event(r: &sqlx::any::AnyRow) -> Result<AuditEvent, sqlx::Error> {
    Ok(AuditEvent {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor_label: r.try_get("actor_label")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        tenant_id: r.try_get("tenant_id")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

const COLS: &str = "seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, \
                    details, prev_hash, hash";

/// Newest first, filtered; `limit` capped at 500.
pub async fn list(db: &Db, g: &Granted<'_>, f: &AuditFilter) -> AppResult<AuditPage> {
    if !matches!(g.action, Action::ViewAudit | Action::ExportAudit) {
        return Err(AppError::Forbidden);
    }
    let limit = f.limit.unwrap_or(50).clamp(1, 500);
    let mut w = Where::new();
    if let Some(a) = f.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let prefix = if a.ends_with('.') {
            a.to_string()
        } else {
            format!("{a}.")
        };
        let exact = w.arg(a);
        let under = w.arg(format!("{}%", prefix.replace(['%', '_'], "")));
        w.and(format!("(action = {exact} OR action LIKE {under})"));
    }
    if let Some(a) = f.actor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let p = w.arg(like_term(a));
        w.and(format!("LOWER(actor_label) LIKE {p}"));
    }
    if let Some(s) = f.since {
        let p = w.arg(s);
        w.and(format!("at >= {p}"));
    }
    if let Some(u) = f.until {
        let p = w.arg(u);
        w.and(format!("at <= {p}"));
    }
    if let Some(b) = f.before {
        let p = w.arg(b);
        w.and(format!("seq < {p}"));
    }
    if let Some(t) = f.tenant.as_deref().filter(|t| !t.is_empty()) {
        let p = w.arg(t);
        w.and(format!("tenant_id = {p}"));
    }
    if let Some(t) = f.target.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = w.arg(t);
        w.and(format!("target = {p}"));
    }
    // Tenant-scoped people see their tenants' events only.
    w.scope("tenant_id", &g.actor.tenants);
    let lim = w.arg(limit + 1);
    let sql = format!(
        "SELECT {COLS} FROM audit_events{} ORDER BY seq DESC LIMIT {lim}",
        w.sql()
    );
    let q = w.bind(sqlx::query(&sql));
    let rows = q.fetch_all(db.pool()).await?;
    let mut events = rows
        .iter()
        .map(row_to_event)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    Ok(AuditPage { events, has_more })
}

/// Failed sign-in steps since `since`, and the total number of events.
pub async fn stats(db: &Db, since: i64) -> AppResult<(i64, i64)> {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM audit_events WHERE at >= $1 AND action IN \
         ('auth.signin_failed', 'auth.second_factor_failed', 'auth.locked_out', 'auth.signin_throttled')) AS failed, \
         seq AS total FROM audit_head WHERE id = 1",
    )
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok((r.try_get("failed")?, r.try_get("total")?))
}

/// The id of the audit key the chain is keyed with (none: not keyed yet).
pub async fn head_key_id(db: &crate::core::db::Db) -> AppResult<Option<String>> {
    Ok(sqlx::query("SELECT key_id FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?
        .try_get("key_id")?)
}

/// Keys an unkeyed chain with `key_id` (a no-op if another key got there first).
pub async fn claim_head_key(db: &crate::core::db::Db, key_id: &str) -> AppResult<()> {
    sqlx::query("UPDATE audit_head SET key_id = $1 WHERE id = 1 AND key_id IS NULL")
        .bind(key_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
