//! The monitoring tables: `signin_failures`, `mail_networks`, `mail_login_hours`, `alerts`,
//! `monitor_cursor`, `alert_settings`, `alert_destinations`, `alert_deliveries`.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Alert, RulesChange};
use crate::core::authz::{Action, Granted};
use crate::core::db::{Db, Where};
use crate::core::AppResult;

/// A failed sign-in to record.
pub struct Failure<'a> {
    pub id: &'a str,
    pub at: i64,
    pub login: &'a str,
    pub mailbox_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub protocol: &'a str,
    pub remote: &'a str,
    pub network: &'a str,
}

pub async fn insert_failure(c: &mut AnyConnection, f: &Failure<'_>) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO signin_failures (id, at, login, mailbox_id, tenant_id, protocol, remote, \
         network) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(f.id.to_string())
    .bind(f.at)
    .bind(f.login.to_string())
    .bind(f.mailbox_id.map(str::to_string))
    .bind(f.tenant_id.map(str::to_string))
    .bind(f.protocol.to_string())
    .bind(f.remote.to_string())
    .bind(f.network.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Failures from `remote` since `since`: (count, distinct logins, tenants hit).
pub async fn failures_from(
    c: &mut AnyConnection,
    remote: &str,
    since: i64,
) -> AppResult<(i64, Vec<String>, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT login, tenant_id, COUNT(*) AS n FROM signin_failures \
         WHERE remote = $1 AND at >= $2 GROUP BY login, tenant_id",
    )
    .bind(remote.to_string())
    .bind(since)
    .fetch_all(&mut *c)
    .await?;
    let mut total = 0;
    let mut logins = Vec::new();
    let mut tenants = Vec::new();
    for r in &rows {
        total += r.try_get::<i64, _>("n")?;
        let l: String = r.try_get("login")?;
        if !logins.contains(&l) {
            logins.push(l);
        }
        if let Some(t) = r.try_get::<Option<String>, _>("tenant_id")? {
            if !tenants.contains(&t) {
                tenants.push(t);
            }
        }
    }
    Ok((total, logins, tenants))
}

/// Failures for `login` since `since`: (count, distinct source addresses).
pub async fn failures_for(c: &mut AnyConnection, login: &str, since: i64) -> AppResult<(i64, i64)> {
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT remote) AS r FROM signin_failures \
         WHERE login = $1 AND at >= $2",
    )
    .bind(login.to_string())
    .bind(since)
    .fetch_one(c)
    .await?;
    Ok((r.try_get("n")?, r.try_get("r")?))
}

/// Forgets failures older than `before`.
pub async fn purge_failures(c: &mut AnyConnection, before: i64) -> AppResult<u64> {
    Ok(sqlx::query("DELETE FROM signin_failures WHERE at < $1")
        .bind(before)
        .execute(c)
        .await?
        .rows_affected())
}

/// What is known of a mailbox's networks: (this network's last use, other networks used
/// since `since`).
pub async fn network_history(
    c: &mut AnyConnection,
    mailbox_id: &str,
    network: &str,
    since: i64,
) -> AppResult<(Option<i64>, i64)> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT last_at FROM mail_networks WHERE mailbox_id = $1 AND network = $2",
    )
    .bind(mailbox_id.to_string())
    .bind(network.to_string())
    .fetch_optional(&mut *c)
    .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_networks WHERE mailbox_id = $1 AND network <> $2 \
         AND last_at >= $3",
    )
    .bind(mailbox_id.to_string())
    .bind(network.to_string())
    .bind(since)
    .fetch_one(c)
    .await?;
    Ok((last, others))
}

/// A successful login: the mailbox's row for this network, made or brought up to date.
#[allow(clippy::too_many_arguments)]
pub async fn saw_network(
    c: &mut AnyConnection,
    mailbox_id: &str,
    tenant_id: &str,
    network: &str,
    remote: &str,
    protocol: &str,
    via: &str,
    country: Option<&str>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO mail_networks (mailbox_id, tenant_id, network, first_at, last_at, hits, \
         last_remote, protocol, via, country) VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $7, $8) \
         ON CONFLICT (mailbox_id, network) DO UPDATE SET last_at = excluded.last_at, \
         hits = mail_networks.hits + 1, last_remote = excluded.last_remote, \
         protocol = excluded.protocol, via = excluded.via, \
         country = COALESCE(excluded.country, mail_networks.country)",
    )
    .bind(mailbox_id.to_string())
    .bind(tenant_id.to_string())
    .bind(network.to_string())
    .bind(now)
    .bind(remote.to_string())
    .bind(protocol.to_string())
    .bind(via.to_string())
    .bind(country.map(str::to_string))
    .execute(c)
    .await?;
    Ok(())
}

/// The countries a mailbox's mail logins came from since `since` (known ones only).
pub async fn countries_seen(
    c: &mut AnyConnection,
    mailbox_id: &str,
    since: i64,
) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT country FROM mail_networks WHERE mailbox_id = $1 AND last_at >= $2 \
         AND country IS NOT NULL ORDER BY country",
    )
    .bind(mailbox_id.to_string())
    .bind(since)
    .fetch_all(c)
    .await?)
}

const COLS: &str = "id, tenant_id, rule, severity, dedupe_key, title, detail, evidence, state, \
    first_at, last_at, hits, acked_by, acked_at, resolved_by, resolved_at, note";

fn alert_row(r: &AnyRow) -> Result<Alert, sqlx::Error> {
    let evidence: String = r.try_get("evidence")?;
    Ok(Alert {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        tenant_name: None,
        rule: r.try_get("rule")?,
        severity: r.try_get("severity")?,
        title: r.try_get("title")?,
        detail: r.try_get("detail")?,
        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
        state: r.try_get("state")?,
        first_at: r.try_get("first_at")?,
        last_at: r.try_get("last_at")?,
        hits: r.try_get("hits")?,
        acked_by: r.try_get("acked_by")?,
        acked_at: r.try_get("acked_at")?,
        resolved_by: r.try_get("resolved_by")?,
        resolved_at: r.try_get("resolved_at")?,
        note: r.try_get("note")?,
    })
}

/// The alert with this key that is not resolved yet.
pub async fn live_by_key(c: &mut AnyConnection, key: &str) -> AppResult<Option<Alert>> {
    let r = sqlx::query(&format!(
        "SELECT {COLS} FROM alerts WHERE dedupe_key = $1 AND state <> 'resolved'"
    ))
    .bind(key.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.as_ref().map(alert_row).transpose()?)
}

/// A new alert (the partial unique index refuses a second live one with the same key).
pub async fn insert_alert(c: &mut AnyConnection, a: &Alert, key: &str) -> AppResult<()> {
    sqlx::query(&format!(
        "INSERT INTO alerts ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $9, 1, \
         NULL, NULL, NULL, NULL, NULL)"
    ))
    .bind(a.id.clone())
    .bind(a.tenant_id.clone())
    .bind(a.rule.clone())
    .bind(a.severity.clone())
    .bind(key.to_string())
    .bind(a.title.clone())
    .bind(a.detail.clone())
    .bind(serde_json::to_string(&a.evidence).unwrap_or_else(|_| "[]".into()))
    .bind(a.first_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The signal fired again for a live alert.
pub async fn bump_alert(
    c: &mut AnyConnection,
    id: &str,
    now: i64,
    detail: &str,
    evidence: &[String],
    severity: &str,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE alerts SET last_at = $2, hits = hits + 1, detail = $3, evidence = $4, \
         severity = $5 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(detail.to_string())
    .bind(serde_json::to_string(evidence).unwrap_or_else(|_| "[]".into()))
    .bind(severity.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Someone acknowledges or resolves an alert; `from`: the states it may be in. Returns
/// whether it moved.
#[allow(clippy::too_many_arguments)]
pub async fn set_state(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    a: &Alert,
    to: &str,
    by: &str,
    note: Option<&str>,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageAlerts])?;
    if let Some(t) = &a.tenant_id {
        g.check(t)?;
    }
    let sql = if to == "acknowledged" {
        "UPDATE alerts SET state = 'acknowledged', acked_by = $2, acked_at = $3, \
         note = COALESCE($4, note) WHERE id = $1 AND state = 'open'"
    } else {
        "UPDATE alerts SET state = 'resolved', resolved_by = $2, resolved_at = $3, \
         note = COALESCE($4, note) WHERE id = $1 AND state <> 'resolved'"
    };
    let r = sqlx::query(sql)
        .bind(a.id.clone())
        .bind(by.to_string())
        .bind(now)
        .bind(note.map(str::to_string))
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// One alert, within the proof's scope (platform-wide alerts only for all-tenant actors).
pub async fn get(db: &Db, g: &Granted<'_>, id: &str) -> AppResult<Option<Alert>> {
    let mut w = Where::new();
    let p = w.arg(id);
    w.and(format!("id = {p}"));
    scope(&mut w, g);
    let sql = format!("SELECT {COLS} FROM alerts{}", w.sql());
    let r = w.bind(sqlx::query(&sql)).fetch_optional(db.pool()).await?;
    Ok(r.as_ref().map(alert_row).transpose()?)
}

fn scope(w: &mut Where, g: &Granted<'_>) {
    match (&g.actor.tenants, g.tenant()) {
        (crate::core::authz::TenantScope::All, None) => {}
        _ => {
            let c = w.scope_cond("tenant_id", &g.actor.tenants);
            w.and(format!("tenant_id IS NOT NULL AND {c}"));
        }
    }
    // A client viewer reads the alerts of a tenant that shows them to its viewers, only.
    if g.actor.role == Some(crate::auth::Role::ClientViewer) {
        w.and(
            "tenant_id IN (SELECT tenant_id FROM alert_settings WHERE viewers_see = 1)".to_string(),
        );
    }
}

/// Alerts in the proof's scope, newest activity first; `state`: one state, or `None` for
/// those not resolved.
pub async fn list(
    db: &Db,
    g: &Granted<'_>,
    state: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Alert>> {
    let mut w = Where::new();
    match state {
        Some(s) => {
            let p = w.arg(s);
            w.and(format!("state = {p}"));
        }
        None => w.and("state <> 'resolved'"),
    }
    scope(&mut w, g);
    let sql = format!(
        "SELECT {COLS} FROM alerts{} ORDER BY last_at DESC, id LIMIT {limit}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(alert_row).collect::<Result<_, _>>()?)
}

/// Open alerts in the proof's scope by severity (the dashboard's badge, /metrics).
pub async fn open_counts(db: &Db, g: &Granted<'_>) -> AppResult<Vec<(String, i64)>> {
    let mut w = Where::new();
    w.and("state = 'open'");
    scope(&mut w, g);
    let sql = format!(
        "SELECT severity, COUNT(*) AS n FROM alerts{} GROUP BY severity",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("severity")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn cursor(c: &mut AnyConnection) -> AppResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM monitor_cursor WHERE name = 'audit'")
            .fetch_optional(c)
            .await?
            .unwrap_or(0),
    )
}

/// Moves the cursor forward, only from where this reader found it (two watchers never both
/// handle the same events).
pub async fn advance_cursor(c: &mut AnyConnection, from: i64, to: i64) -> AppResult<bool> {
    let r = sqlx::query("UPDATE monitor_cursor SET seq = $2 WHERE name = 'audit' AND seq = $1")
        .bind(from)
        .bind(to)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Alerts ever raised, by rule (for /metrics: a counter that only grows).
pub async fn raised_by_rule(db: &Db) -> AppResult<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT rule, COUNT(*) AS n FROM alerts GROUP BY rule ORDER BY rule")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("rule")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

// ---------- the hours of mail logins ----------

/// A successful mail-plane login at `hour` (UTC).
pub async fn saw_hour(
    c: &mut AnyConnection,
    mailbox_id: &str,
    hour: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO mail_login_hours (mailbox_id, hour, hits, first_at, last_at) \
         VALUES ($1, $2, 1, $3, $3) ON CONFLICT (mailbox_id, hour) DO UPDATE SET \
         hits = mail_login_hours.hits + 1, last_at = excluded.last_at",
    )
    .bind(mailbox_id.to_string())
    .bind(hour)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// A mailbox's logins per hour of the day, and when the first of them was (`None`: none).
pub async fn login_hours(
    c: &mut AnyConnection,
    mailbox_id: &str,
) -> AppResult<([i64; 24], Option<i64>)> {
    let rows =
        sqlx::query("SELECT hour, hits, first_at FROM mail_login_hours WHERE mailbox_id = $1")
            .bind(mailbox_id.to_string())
            .fetch_all(c)
            .await?;
    let mut hits = [0i64; 24];
    let mut first: Option<i64> = None;
    for r in &rows {
        let h: i64 = r.try_get("hour")?;
        if (0..24).contains(&h) {
            hits[h as usize] = r.try_get("hits")?;
        }
        let f: i64 = r.try_get("first_at")?;
        first = Some(first.map_or(f, |x| x.min(f)));
    }
    Ok((hits, first))
}

// ---------- each tenant's rules ----------

/// A tenant's own settings (`None`: it has none; everything follows the platform), with when
/// and by whom they were last changed.
pub async fn rules(
    c: &mut AnyConnection,
    tenant_id: &str,
) -> AppResult<Option<(RulesChange, i64, String)>> {
    let r = sqlx::query(
        "SELECT failure_burst, failure_minutes, new_network_days, reset_burst, reset_minutes, \
         auth_fail_percent, odd_hours, viewers_see, updated_at, updated_by \
         FROM alert_settings WHERE tenant_id = $1",
    )
    .bind(tenant_id.to_string())
    .fetch_optional(c)
    .await?;
    let Some(r) = r else {
        return Ok(None);
    };
    Ok(Some((
        RulesChange {
            failure_burst: r.try_get("failure_burst")?,
            failure_minutes: r.try_get("failure_minutes")?,
            new_network_days: r.try_get("new_network_days")?,
            reset_burst: r.try_get("reset_burst")?,
            reset_minutes: r.try_get("reset_minutes")?,
            auth_fail_percent: r.try_get("auth_fail_percent")?,
            odd_hours: r.try_get::<i64, _>("odd_hours")? != 0,
            viewers_see: r.try_get::<i64, _>("viewers_see")? != 0,
        },
        r.try_get("updated_at")?,
        r.try_get("updated_by")?,
    )))
}

/// Sets a tenant's rules (made or replaced), within the proof's scope.
pub async fn set_rules(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    r: &RulesChange,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageAlerts])?;
    g.check(tenant_id)?;
    sqlx::query(
        "INSERT INTO alert_settings (tenant_id, failure_burst, failure_minutes, \
         new_network_days, reset_burst, reset_minutes, auth_fail_percent, odd_hours, \
         viewers_see, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (tenant_id) DO UPDATE SET failure_burst = excluded.failure_burst, \
         failure_minutes = excluded.failure_minutes, \
         new_network_days = excluded.new_network_days, reset_burst = excluded.reset_burst, \
         reset_minutes = excluded.reset_minutes, \
         auth_fail_percent = excluded.auth_fail_percent, odd_hours = excluded.odd_hours, \
         viewers_see = excluded.viewers_see, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(tenant_id.to_string())
    .bind(r.failure_burst)
    .bind(r.failure_minutes)
    .bind(r.new_network_days)
    .bind(r.reset_burst)
    .bind(r.reset_minutes)
    .bind(r.auth_fail_percent)
    .bind(r.odd_hours as i64)
    .bind(r.viewers_see as i64)
    .bind(now)
    .bind(g.actor.label.clone())
    .execute(c)
    .await?;
    Ok(())
}

// ---------- destinations and deliveries ----------

/// An alert destination as stored (secrets still sealed).
#[derive(Clone, Debug)]
pub struct DestinationRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub kind: String,
    pub target: String,
    pub secret_enc: Option<String>,
    pub old_secret_enc: Option<String>,
    pub old_until: Option<i64>,
    pub min_severity: String,
    pub daily_cap: i64,
    pub digest: bool,
    pub last_digest_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
}

const DEST_COLS: &str = "id, tenant_id, kind, target, secret_enc, old_secret_enc, old_until, \
    min_severity, daily_cap, digest, last_digest_at, created_at, created_by";

fn dest_row(r: &AnyRow) -> Result<DestinationRow, sqlx::Error> {
    Ok(DestinationRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        target: r.try_get("target")?,
        secret_enc: r.try_get("secret_enc")?,
        old_secret_enc: r.try_get("old_secret_enc")?,
        old_until: r.try_get("old_until")?,
        min_severity: r.try_get("min_severity")?,
        daily_cap: r.try_get("daily_cap")?,
        digest: r.try_get::<i64, _>("digest")? != 0,
        last_digest_at: r.try_get("last_digest_at")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

pub async fn insert_destination(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    d: &DestinationRow,
) -> AppResult<()> {
    g.require(&[Action::ManageAlerts])?;
    if let Some(t) = &d.tenant_id {
        g.check(t)?;
    }
    sqlx::query(&format!(
        "INSERT INTO alert_destinations ({DEST_COLS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, \
         $7, $8, NULL, $9, $10)"
    ))
    .bind(d.id.clone())
    .bind(d.tenant_id.clone())
    .bind(d.kind.clone())
    .bind(d.target.clone())
    .bind(d.secret_enc.clone())
    .bind(d.min_severity.clone())
    .bind(d.daily_cap)
    .bind(d.digest as i64)
    .bind(d.created_at)
    .bind(d.created_by.clone())
    .execute(c)
    .await?;
    Ok(())
}

pub async fn delete_destination(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    d: &DestinationRow,
) -> AppResult<bool> {
    g.require(&[Action::ManageAlerts])?;
    if let Some(t) = &d.tenant_id {
        g.check(t)?;
    }
    let r = sqlx::query("DELETE FROM alert_destinations WHERE id = $1")
        .bind(d.id.clone())
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A new webhook secret; the current one keeps signing beside it until `old_until`.
pub async fn rotate_secret(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    d: &DestinationRow,
    new_enc: &str,
    old_until: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageAlerts])?;
    if let Some(t) = &d.tenant_id {
        g.check(t)?;
    }
    let r = sqlx::query(
        "UPDATE alert_destinations SET old_secret_enc = secret_enc, old_until = $3, \
         secret_enc = $2 WHERE id = $1 AND secret_enc = $4",
    )
    .bind(d.id.clone())
    .bind(new_enc.to_string())
    .bind(old_until)
    .bind(d.secret_enc.clone().unwrap_or_default())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Destinations in the proof's scope (platform ones only for all-tenant actors).
pub async fn destinations(db: &Db, g: &Granted<'_>) -> AppResult<Vec<DestinationRow>> {
    let mut w = Where::new();
    scope(&mut w, g);
    let sql = format!(
        "SELECT {DEST_COLS} FROM alert_destinations{} ORDER BY created_at, id",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(dest_row).collect::<Result<_, _>>()?)
}

pub async fn destination(c: &mut AnyConnection, id: &str) -> AppResult<Option<DestinationRow>> {
    let r = sqlx::query(&format!(
        "SELECT {DEST_COLS} FROM alert_destinations WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.as_ref().map(dest_row).transpose()?)
}

/// The destinations an alert of `tenant_id` goes to: the tenant's and the platform's.
pub async fn destinations_for(
    c: &mut AnyConnection,
    tenant_id: Option<&str>,
) -> AppResult<Vec<DestinationRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEST_COLS} FROM alert_destinations WHERE tenant_id IS NULL OR tenant_id = $1"
    ))
    .bind(tenant_id.unwrap_or("").to_string())
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(dest_row).collect::<Result<_, _>>()?)
}

/// Messages of `rule` to a destination since `since`, not counting capped ones.
pub async fn sent_today(
    c: &mut AnyConnection,
    destination_id: &str,
    rule: &str,
    since: i64,
) -> AppResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM alert_deliveries WHERE destination_id = $1 AND rule = $2 \
         AND created_at >= $3 AND state <> 'capped'",
    )
    .bind(destination_id.to_string())
    .bind(rule.to_string())
    .bind(since)
    .fetch_one(c)
    .await?)
}

/// A delivery as stored.
#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub id: String,
    pub destination_id: String,
    pub alert_id: Option<String>,
    pub rule: String,
    pub subject: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub status_code: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const DEL_COLS: &str = "id, destination_id, alert_id, rule, subject, payload, state, attempts, \
    next_at, last_error, status_code, created_at, sent_at";

fn del_row(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        destination_id: r.try_get("destination_id")?,
        alert_id: r.try_get("alert_id")?,
        rule: r.try_get("rule")?,
        subject: r.try_get("subject")?,
        payload: r.try_get("payload")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_at: r.try_get("next_at")?,
        last_error: r.try_get("last_error")?,
        status_code: r.try_get("status_code")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

pub async fn insert_delivery(c: &mut AnyConnection, d: &DeliveryRow) -> AppResult<()> {
    sqlx::query(&format!(
        "INSERT INTO alert_deliveries ({DEL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, \
         $9, NULL, $10, NULL)"
    ))
    .bind(d.id.clone())
    .bind(d.destination_id.clone())
    .bind(d.alert_id.clone())
    .bind(d.rule.clone())
    .bind(d.subject.clone())
    .bind(d.payload.clone())
    .bind(d.state.clone())
    .bind(d.next_at)
    .bind(d.last_error.clone())
    .bind(d.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Takes up to `limit` queued deliveries that are due, pushing their next attempt out by
/// `lease` seconds so a second worker does not take them too.
pub async fn take_due(
    c: &mut AnyConnection,
    now: i64,
    lease: i64,
    limit: i64,
) -> AppResult<Vec<DeliveryRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEL_COLS} FROM alert_deliveries WHERE state = 'queued' AND next_at <= $1 \
         ORDER BY next_at LIMIT {limit}"
    ))
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for r in rows.iter().map(del_row) {
        let d = r?;
        let took = sqlx::query(
            "UPDATE alert_deliveries SET next_at = $3 WHERE id = $1 AND next_at = $2 \
             AND state = 'queued'",
        )
        .bind(d.id.clone())
        .bind(d.next_at)
        .bind(now + lease)
        .execute(&mut *c)
        .await?;
        if took.rows_affected() == 1 {
            out.push(d);
        }
    }
    Ok(out)
}

/// The outcome of an attempt.
pub async fn delivered(
    c: &mut AnyConnection,
    id: &str,
    state: &str,
    next_at: i64,
    error: Option<&str>,
    status: Option<i64>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE alert_deliveries SET state = $2, attempts = attempts + 1, next_at = $3, \
         last_error = $4, status_code = $5, sent_at = CASE WHEN $2 = 'sent' THEN $6 ELSE sent_at END \
         WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(state.to_string())
    .bind(next_at)
    .bind(error.map(str::to_string))
    .bind(status)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Deliveries held for a digest destination.
pub async fn held(c: &mut AnyConnection, destination_id: &str) -> AppResult<Vec<DeliveryRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEL_COLS} FROM alert_deliveries WHERE destination_id = $1 AND state = 'held' \
         ORDER BY created_at"
    ))
    .bind(destination_id.to_string())
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(del_row).collect::<Result<_, _>>()?)
}

/// Held deliveries went out in a digest (the digest is a delivery of its own).
pub async fn release_held(
    c: &mut AnyConnection,
    destination_id: &str,
    ids: &[String],
    now: i64,
) -> AppResult<()> {
    for id in ids {
        sqlx::query(
            "UPDATE alert_deliveries SET state = 'sent', sent_at = $2 WHERE id = $1 AND state = 'held'",
        )
        .bind(id.clone())
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("UPDATE alert_destinations SET last_digest_at = $2 WHERE id = $1")
        .bind(destination_id.to_string())
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

/// Digest destinations due (a day since the last digest, or since they were added), with
/// something held.
pub async fn digests_due(c: &mut AnyConnection, now: i64) -> AppResult<Vec<DestinationRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEST_COLS} FROM alert_destinations d WHERE digest = 1 \
         AND COALESCE(last_digest_at, created_at) <= $1 \
         AND EXISTS (SELECT 1 FROM alert_deliveries x WHERE x.destination_id = d.id AND x.state = 'held')"
    ))
    .bind(now - 86400)
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(dest_row).collect::<Result<_, _>>()?)
}

/// The latest deliveries to a destination (its log).
pub async fn deliveries_of(
    db: &Db,
    destination_id: &str,
    limit: i64,
) -> AppResult<Vec<DeliveryRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DEL_COLS} FROM alert_deliveries WHERE destination_id = $1 \
         ORDER BY created_at DESC, id LIMIT {limit}"
    ))
    .bind(destination_id.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(del_row).collect::<Result<_, _>>()?)
}
