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
