//! SQL for `incidents`.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Incident;
use crate::core::authz::{Action, Granted, TenantScope};
use crate::core::db::{Db, Where};
use crate::core::{AppError, AppResult};
use crate::types::ActiveIncident;

const COLS: &str = "id, tenant_id, title, reason, since_at, alert_id, state, declared_by_label, \
    declared_at, end_requested_by_label, end_requested_at, end_note, ended_by_label, ended_at";

fn incident(r: &AnyRow) -> Result<Incident, sqlx::Error> {
    Ok(Incident {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        tenant_name: None,
        title: r.try_get("title")?,
        reason: r.try_get("reason")?,
        since_at: r.try_get("since_at")?,
        alert_id: r.try_get("alert_id")?,
        state: r.try_get("state")?,
        declared_by_label: r.try_get("declared_by_label")?,
        declared_at: r.try_get("declared_at")?,
        end_requested_by_label: r.try_get("end_requested_by_label")?,
        end_requested_at: r.try_get("end_requested_at")?,
        end_note: r.try_get("end_note")?,
        ended_by_label: r.try_get("ended_by_label")?,
        ended_at: r.try_get("ended_at")?,
    })
}

/// The incidents in force over `scope`: the platform's and those of its tenants. Read for
/// every signed-in request (a handful of rows at most, through `incidents_one_active`).
pub async fn in_force(db: &Db, scope: &TenantScope) -> AppResult<Vec<ActiveIncident>> {
    let mut w = Where::new();
    w.and("state = 'active'");
    let c = w.scope_cond("tenant_id", scope);
    w.and(format!("(tenant_id IS NULL OR {c})"));
    let sql = format!(
        "SELECT id, tenant_id, title, since_at, declared_at FROM incidents{} ORDER BY declared_at",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(ActiveIncident {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                tenant_name: None,
                title: r.try_get("title")?,
                since_at: r.try_get("since_at")?,
                declared_at: r.try_get("declared_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Incidents the proof covers (the platform's for everyone), those in force first, newest
/// first (at most 200).
pub async fn list(db: &Db, g: &Granted<'_>) -> AppResult<Vec<Incident>> {
    let mut w = Where::new();
    let c = w.scope_cond("tenant_id", &g.actor.tenants);
    w.and(format!("(tenant_id IS NULL OR {c})"));
    let sql = format!(
        "SELECT {COLS} FROM incidents{} ORDER BY (state = 'active') DESC, declared_at DESC LIMIT 200",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(incident).collect::<Result<_, _>>()?)
}

/// One incident the proof covers.
pub async fn get(db: &Db, g: &Granted<'_>, id: &str) -> AppResult<Option<Incident>> {
    let mut w = Where::new();
    let p = w.arg(id);
    w.and(format!("id = {p}"));
    let c = w.scope_cond("tenant_id", &g.actor.tenants);
    w.and(format!("(tenant_id IS NULL OR {c})"));
    let sql = format!("SELECT {COLS} FROM incidents{}", w.sql());
    let row = w.bind(sqlx::query(&sql)).fetch_optional(db.pool()).await?;
    Ok(row.as_ref().map(incident).transpose()?)
}

pub struct NewRow<'a> {
    pub id: &'a str,
    pub tenant_id: Option<&'a str>,
    pub title: &'a str,
    pub reason: &'a str,
    pub since_at: i64,
    pub alert_id: Option<&'a str>,
}

/// Declares; false when an incident is in force over the same scope already (the unique
/// index decides between two at once).
pub async fn insert(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    n: &NewRow<'_>,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    if let Some(t) = n.tenant_id {
        g.check(t)?;
    }
    let r = sqlx::query(
        "INSERT INTO incidents (id, tenant_id, title, reason, since_at, alert_id, state, \
         declared_by, declared_by_label, declared_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9)",
    )
    .bind(n.id)
    .bind(n.tenant_id)
    .bind(n.title)
    .bind(n.reason)
    .bind(n.since_at)
    .bind(n.alert_id)
    .bind(g.actor.user_id.as_deref())
    .bind(&g.actor.label)
    .bind(now)
    .execute(&mut *c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Someone asks to end an incident in force; false when it is not in force or someone
/// asked already.
pub async fn request_end(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    i: &Incident,
    note: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    let n = sqlx::query(
        "UPDATE incidents SET end_requested_by = $1, end_requested_by_label = $2, \
         end_requested_at = $3, end_note = $4 \
         WHERE id = $5 AND state = 'active' AND end_requested_at IS NULL",
    )
    .bind(g.actor.user_id.as_deref())
    .bind(&g.actor.label)
    .bind(now)
    .bind(note)
    .bind(&i.id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Withdraws the request to end it (the incident stays in force).
pub async fn keep_open(c: &mut AnyConnection, g: &Granted<'_>, i: &Incident) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    let n = sqlx::query(
        "UPDATE incidents SET end_requested_by = NULL, end_requested_by_label = NULL, \
         end_requested_at = NULL, end_note = NULL \
         WHERE id = $1 AND state = 'active' AND end_requested_at IS NOT NULL",
    )
    .bind(&i.id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A second person confirms the end: one conditional update, so whoever asked can never
/// confirm and two confirmations give one end.
pub async fn end(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    i: &Incident,
    me: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    let n = sqlx::query(
        "UPDATE incidents SET state = 'ended', ended_by = $1, ended_by_label = $2, ended_at = $3 \
         WHERE id = $4 AND state = 'active' AND end_requested_at IS NOT NULL \
         AND (end_requested_by IS NULL OR end_requested_by <> $1)",
    )
    .bind(me)
    .bind(&g.actor.label)
    .bind(now)
    .bind(&i.id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

fn covered(g: &Granted<'_>, i: &Incident) -> AppResult<()> {
    match &i.tenant_id {
        Some(t) => g.check(t),
        None if matches!(g.actor.tenants, TenantScope::All) => Ok(()),
        None => Err(AppError::NotFound),
    }
}
