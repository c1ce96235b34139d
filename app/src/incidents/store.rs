//! SQL for `incidents`.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Incident;
use crate::core::authz::{Action, Granted, TenantScope};
use crate::core::db::{Db, Where};
use crate::core::{AppError, AppResult};
use crate::types::ActiveIncident;

const COLS: &str = "id, tenant_id, title, reason, since_at, alert_id, state, declared_by_label, \
    declared_at, end_requested_by_label, end_requested_at, end_note, ended_by_label, ended_at, \
    outbound_held_at, outbound_held_by_label";

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
        outbound_held_at: r.try_get("outbound_held_at")?,
        outbound_held_by_label: r.try_get("outbound_held_by_label")?,
    })
}

/// Holds (`Some((now, by))`) or releases (`None`) the outbound mail an incident in force
/// covers; false when it already was so, or the incident has ended.
pub async fn set_outbound_hold(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    i: &Incident,
    hold: Option<(i64, &str)>,
) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    let sql = if hold.is_some() {
        "UPDATE incidents SET outbound_held_at = $1, outbound_held_by_label = $2 \
         WHERE id = $3 AND state = 'active' AND outbound_held_at IS NULL"
    } else {
        "UPDATE incidents SET outbound_held_at = $1, outbound_held_by_label = $2 \
         WHERE id = $3 AND state = 'active' AND outbound_held_at IS NOT NULL"
    };
    let n = sqlx::query(sql)
        .bind(hold.map(|h| h.0))
        .bind(hold.map(|h| h.1.to_string()))
        .bind(&i.id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The incident in force holding a tenant's outbound mail, if any (its own or the
/// platform's): (id, title). The submission policy's read, through `incidents_one_active`.
pub async fn outbound_hold(
    c: &mut AnyConnection,
    tenant_id: &str,
) -> AppResult<Option<(String, String)>> {
    let r = sqlx::query(
        "SELECT id, title FROM incidents WHERE state = 'active' AND outbound_held_at IS NOT NULL \
         AND (tenant_id = $1 OR tenant_id IS NULL) ORDER BY declared_at LIMIT 1",
    )
    .bind(tenant_id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(match r {
        Some(r) => Some((r.try_get("id")?, r.try_get("title")?)),
        None => None,
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

/// What people wrote into an incident's postmortem: (input, updated by, updated at).
pub async fn postmortem(
    db: &Db,
    incident_id: &str,
) -> AppResult<Option<(super::PostmortemInput, String, i64)>> {
    let row = sqlx::query(
        "SELECT root_cause, blocking_control, actions, shared, updated_by_label, updated_at \
         FROM incident_postmortems WHERE incident_id = $1",
    )
    .bind(incident_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let actions: String = r.try_get("actions")?;
    Ok(Some((
        super::PostmortemInput {
            root_cause: r.try_get("root_cause")?,
            blocking_control: r.try_get("blocking_control")?,
            actions: serde_json::from_str(&actions).unwrap_or_default(),
            shared: r.try_get::<i64, _>("shared")? != 0,
        },
        r.try_get("updated_by_label")?,
        r.try_get("updated_at")?,
    )))
}

/// Writes an incident's postmortem (one row per incident, replaced whole).
pub async fn save_postmortem(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    i: &Incident,
    p: &super::PostmortemInput,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    sqlx::query(
        "INSERT INTO incident_postmortems (incident_id, root_cause, blocking_control, actions, shared, \
         updated_by_label, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (incident_id) DO UPDATE SET root_cause = excluded.root_cause, \
         blocking_control = excluded.blocking_control, actions = excluded.actions, \
         shared = excluded.shared, updated_by_label = excluded.updated_by_label, \
         updated_at = excluded.updated_at",
    )
    .bind(&i.id)
    .bind(&p.root_cause)
    .bind(&p.blocking_control)
    .bind(serde_json::to_string(&p.actions).unwrap_or_else(|_| "[]".into()))
    .bind(p.shared as i64)
    .bind(&g.actor.label)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Ids of the incidents of `tenant_id` whose postmortem is shared with its client viewers,
/// newest first.
pub async fn shared_postmortems(db: &Db, tenant_id: &str) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT p.incident_id FROM incident_postmortems p JOIN incidents i ON i.id = p.incident_id \
         WHERE p.shared = 1 AND i.tenant_id = $1 ORDER BY i.declared_at DESC LIMIT 50",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("incident_id"))
        .collect::<Result<_, _>>()?)
}

/// One confirmed item of the "validate domain control" checklist.
pub struct CheckRow {
    pub domain_id: String,
    pub item: String,
    pub note: String,
    pub confirmed_by_label: String,
    pub confirmed_at: i64,
}

/// The confirmed items of an incident's checklist.
pub async fn checks(db: &Db, incident_id: &str) -> AppResult<Vec<CheckRow>> {
    let rows = sqlx::query(
        "SELECT domain_id, item, note, confirmed_by_label, confirmed_at FROM incident_checks \
         WHERE incident_id = $1 ORDER BY confirmed_at",
    )
    .bind(incident_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CheckRow {
                domain_id: r.try_get("domain_id")?,
                item: r.try_get("item")?,
                note: r.try_get("note")?,
                confirmed_by_label: r.try_get("confirmed_by_label")?,
                confirmed_at: r.try_get("confirmed_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Confirms one item for one domain; false when someone confirmed it already.
#[allow(clippy::too_many_arguments)]
pub async fn confirm_check(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    i: &Incident,
    domain_id: &str,
    domain_name: &str,
    item: &str,
    note: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageIncidents])?;
    covered(g, i)?;
    let r = sqlx::query(
        "INSERT INTO incident_checks (incident_id, domain_id, domain_name, item, note, \
         confirmed_by, confirmed_by_label, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (incident_id, domain_id, item) DO NOTHING",
    )
    .bind(&i.id)
    .bind(domain_id)
    .bind(domain_name)
    .bind(item)
    .bind(note)
    .bind(g.actor.user_id.as_deref())
    .bind(&g.actor.label)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
