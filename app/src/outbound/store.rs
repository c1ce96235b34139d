//! SQL for `send_counts`: messages let through and refused per mailbox and per tenant in each
//! clock hour. Increments are conditional (`sent < limit` in the statement), so concurrent
//! submissions — other smtpd processes, other policy servers on one PostgreSQL — never pass a
//! limit between a read and a write.
use sqlx::{AnyConnection, Row};

use super::Scope;
use crate::core::authz::{Action, Granted};
use crate::core::db::Where;
use crate::core::AppResult;

/// Makes sure the hour's row exists; true when this call created it (the first message of
/// the hour for that mailbox or tenant).
pub async fn open_window(
    c: &mut AnyConnection,
    scope: Scope,
    subject_id: &str,
    tenant_id: &str,
    window_start: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "INSERT INTO send_counts (scope, subject_id, window_start, tenant_id, sent, refused) \
         VALUES ($1, $2, $3, $4, 0, 0) ON CONFLICT (scope, subject_id, window_start) DO NOTHING",
    )
    .bind(scope.as_str())
    .bind(subject_id.to_string())
    .bind(window_start)
    .bind(tenant_id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Counts one message if the hour still has room under `limit`; false (nothing counted) when
/// it has not.
pub async fn take(
    c: &mut AnyConnection,
    scope: Scope,
    subject_id: &str,
    window_start: i64,
    limit: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE send_counts SET sent = sent + 1 \
         WHERE scope = $1 AND subject_id = $2 AND window_start = $3 AND sent < $4",
    )
    .bind(scope.as_str())
    .bind(subject_id.to_string())
    .bind(window_start)
    .bind(limit)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Counts one refused message; returns the refusals of the hour so far, this one included.
pub async fn refused(
    c: &mut AnyConnection,
    scope: Scope,
    subject_id: &str,
    tenant_id: &str,
    window_start: i64,
) -> AppResult<i64> {
    open_window(c, scope, subject_id, tenant_id, window_start).await?;
    sqlx::query(
        "UPDATE send_counts SET refused = refused + 1 \
         WHERE scope = $1 AND subject_id = $2 AND window_start = $3",
    )
    .bind(scope.as_str())
    .bind(subject_id.to_string())
    .bind(window_start)
    .execute(&mut *c)
    .await?;
    let n: i64 = sqlx::query(
        "SELECT refused FROM send_counts WHERE scope = $1 AND subject_id = $2 AND window_start = $3",
    )
    .bind(scope.as_str())
    .bind(subject_id.to_string())
    .bind(window_start)
    .fetch_one(c)
    .await?
    .try_get("refused")?;
    Ok(n)
}

/// Counts one message put on hold for a tenant in the hour.
pub async fn held(c: &mut AnyConnection, tenant_id: &str, window_start: i64) -> AppResult<()> {
    open_window(c, Scope::Tenant, tenant_id, tenant_id, window_start).await?;
    sqlx::query(
        "UPDATE send_counts SET held = held + 1 \
         WHERE scope = 'tenant' AND subject_id = $1 AND window_start = $2",
    )
    .bind(tenant_id.to_string())
    .bind(window_start)
    .execute(c)
    .await?;
    Ok(())
}

/// Messages sent in the hour by one mailbox or tenant (0 when nothing was counted).
pub async fn sent(
    c: &mut AnyConnection,
    scope: Scope,
    subject_id: &str,
    window_start: i64,
) -> AppResult<i64> {
    let r = sqlx::query(
        "SELECT sent FROM send_counts WHERE scope = $1 AND subject_id = $2 AND window_start = $3",
    )
    .bind(scope.as_str())
    .bind(subject_id.to_string())
    .bind(window_start)
    .fetch_optional(c)
    .await?;
    Ok(match r {
        Some(r) => r.try_get("sent")?,
        None => 0,
    })
}

/// Forgets a tenant's hours that ended before `before` (run as a new hour begins).
pub async fn forget_before(c: &mut AnyConnection, tenant_id: &str, before: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM send_counts WHERE tenant_id = $1 AND window_start < $2")
        .bind(tenant_id.to_string())
        .bind(before)
        .execute(c)
        .await?;
    Ok(())
}

/// One counted row, as the tenant page shows it.
pub struct Counted {
    pub scope: Scope,
    pub subject_id: String,
    pub window_start: i64,
    pub sent: i64,
    pub refused: i64,
    pub held: i64,
}

/// A tenant's rows since `since` (its own and its mailboxes'), inside the actor's tenants.
pub async fn of_tenant(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    since: i64,
) -> AppResult<Vec<Counted>> {
    g.require(&[Action::ViewTenants])?;
    let mut w = Where::new();
    let t = w.arg(tenant_id);
    let s = w.arg(since);
    w.and(format!("tenant_id = {t} AND window_start >= {s}"));
    w.granted("tenant_id", g);
    let sql = format!(
        "SELECT scope, subject_id, window_start, sent, refused, held FROM send_counts{} \
         ORDER BY window_start DESC, sent DESC",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(c).await?;
    rows.iter()
        .map(|r| {
            Ok(Counted {
                scope: Scope::parse(&r.try_get::<String, _>("scope")?),
                subject_id: r.try_get("subject_id")?,
                window_start: r.try_get("window_start")?,
                sent: r.try_get("sent")?,
                refused: r.try_get("refused")?,
                held: r.try_get("held")?,
            })
        })
        .collect()
}

// ---------- tenant_relays: a tenant's own outgoing relay ----------

/// A tenant's relay row: what is shown, and the sealed password.
pub struct RelayRow {
    pub relay: super::Relay,
    pub password_enc: String,
}

fn relay_row(r: &sqlx::any::AnyRow) -> AppResult<RelayRow> {
    let tls: String = r.try_get("tls")?;
    Ok(RelayRow {
        relay: super::Relay {
            host: r.try_get("host")?,
            port: r.try_get::<i64, _>("port")?.clamp(0, 65535) as u16,
            tls: super::RelayTls::parse(&tls).unwrap_or_default(),
            username: r.try_get("username")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by_label")?,
            tested_at: r.try_get("tested_at")?,
            test_ok: r.try_get::<Option<i64>, _>("test_ok")?.map(|v| v != 0),
            test_result: r.try_get("test_result")?,
        },
        password_enc: r.try_get("password_enc")?,
    })
}

/// The tenant's relay, if it set one (the caller has its proof of access).
pub async fn relay(c: &mut AnyConnection, tenant_id: &str) -> AppResult<Option<RelayRow>> {
    let r = sqlx::query(
        "SELECT host, port, tls, username, password_enc, updated_at, updated_by_label, \
         tested_at, test_ok, test_result FROM tenant_relays WHERE tenant_id = $1",
    )
    .bind(tenant_id.to_string())
    .fetch_optional(c)
    .await?;
    r.as_ref().map(relay_row).transpose()
}

/// Sets the tenant's relay (a new one, or a changed one: the last test no longer applies).
pub async fn put_relay(
    c: &mut AnyConnection,
    tenant_id: &str,
    r: &super::Relay,
    password_enc: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO tenant_relays (tenant_id, host, port, tls, username, password_enc, \
         updated_at, updated_by_label, tested_at, test_ok, test_result) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL) \
         ON CONFLICT (tenant_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
         tls = excluded.tls, username = excluded.username, password_enc = excluded.password_enc, \
         updated_at = excluded.updated_at, updated_by_label = excluded.updated_by_label, \
         tested_at = NULL, test_ok = NULL, test_result = NULL",
    )
    .bind(tenant_id.to_string())
    .bind(r.host.clone())
    .bind(r.port as i64)
    .bind(r.tls.as_str())
    .bind(r.username.clone())
    .bind(password_enc.to_string())
    .bind(r.updated_at)
    .bind(r.updated_by.clone())
    .execute(c)
    .await?;
    Ok(())
}

/// Removes the tenant's relay; false when it had none.
pub async fn delete_relay(c: &mut AnyConnection, tenant_id: &str) -> AppResult<bool> {
    let r = sqlx::query("DELETE FROM tenant_relays WHERE tenant_id = $1")
        .bind(tenant_id.to_string())
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a connection test of the relay as it was (`updated_at`): a test of a relay changed
/// meanwhile is not recorded on the new one.
pub async fn relay_tested(
    c: &mut AnyConnection,
    tenant_id: &str,
    updated_at: i64,
    at: i64,
    ok: bool,
    result: &str,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE tenant_relays SET tested_at = $1, test_ok = $2, test_result = $3 \
         WHERE tenant_id = $4 AND updated_at = $5",
    )
    .bind(at)
    .bind(ok as i64)
    .bind(result.to_string())
    .bind(tenant_id.to_string())
    .bind(updated_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Claims a connection test of the relay as it is (`updated_at`) unless one began within
/// `spacing` seconds; the claim marks the relay as being tested.
pub async fn claim_relay_test(
    c: &mut AnyConnection,
    tenant_id: &str,
    updated_at: i64,
    now: i64,
    spacing: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE tenant_relays SET tested_at = $1, test_ok = NULL, test_result = NULL \
         WHERE tenant_id = $2 AND updated_at = $3 AND (tested_at IS NULL OR tested_at <= $4)",
    )
    .bind(now)
    .bind(tenant_id.to_string())
    .bind(updated_at)
    .bind(now - spacing)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
