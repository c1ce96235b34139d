//! SQL for mailboxes, confined to the actor's tenant scope.
use sqlx::Row;

use super::Mailbox;
use crate::core::authz::Granted;
use crate::core::db::{Db, Where};
use crate::core::AppResult;

/// Mailboxes of one tenant (optionally one domain), by address; at most `limit`.
pub async fn list(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: &str,
    domain_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Mailbox>> {
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let p = w.arg(tenant_id);
    w.and(format!("tenant_id = {p}"));
    if let Some(d) = domain_id {
        let p = w.arg(d);
        w.and(format!("domain_id = {p}"));
    }
    let lim = w.arg(limit.clamp(1, 10_000));
    let sql = format!(
        "SELECT id, tenant_id, domain_id, address, display_name, status, quota_bytes, used_bytes, \
         critical, created_at FROM mailboxes{} ORDER BY address LIMIT {lim}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows
        .iter()
        .map(|r| {
            Ok(Mailbox {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                domain_id: r.try_get("domain_id")?,
                address: r.try_get("address")?,
                display_name: r.try_get("display_name")?,
                status: r.try_get("status")?,
                quota_bytes: r.try_get("quota_bytes")?,
                used_bytes: r.try_get("used_bytes")?,
                critical: r.try_get::<i64, _>("critical")? != 0,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}
