//! External recipients confirm a forward from a one-time link.
#[allow(unused_imports)]
use super::*;

/// What a confirmation link is about (for its page), or None when it does not work.
pub async fn confirmation(
    st: &AppState,
    token: &str,
) -> AppResult<Option<(String, String, Option<i64>)>> {
    let r = sqlx::query(
        "SELECT r.source, t.address, r.expires_at FROM route_targets t JOIN routes r ON r.id = t.route_id \
         WHERE t.confirm_hash = $1 AND t.confirmed_at IS NULL AND t.confirm_expires_at > $2 \
         AND r.state = 'unconfirmed'",
    )
    .bind(secrets::sha256_hex(token))
    .bind(st.clock.now())
    .fetch_optional(st.db.pool())
    .await?;
    r.map(|r| {
        Ok((
            r.try_get("source")?,
            r.try_get("address")?,
            r.try_get("expires_at")?,
        ))
    })
    .transpose()
}

/// The external recipient confirms; once every external target has, the forward carries
/// mail. The link works once.
pub async fn confirm(st: &AppState, client: &Actor, token: &str) -> AppResult<String> {
    let bad = || {
        AppError::invalid(
            "This confirmation link is not valid any more (used, expired or withdrawn).",
        )
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let r = sqlx::query(
        "UPDATE route_targets SET confirmed_at = $2 WHERE confirm_hash = $1 AND confirmed_at IS NULL \
         AND confirm_expires_at > $2 AND route_id IN (SELECT id FROM routes WHERE state = 'unconfirmed') \
         RETURNING route_id, address",
    )
    .bind(secrets::sha256_hex(token))
    .bind(now)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(bad)?;
    let route_id: String = r.try_get("route_id")?;
    let addr: String = r.try_get("address")?;
    let left: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM route_targets WHERE route_id = $1 AND confirmed_at IS NULL",
    )
    .bind(&route_id)
    .fetch_one(tx.conn())
    .await?
    .try_get("n")?;
    if left == 0 {
        sqlx::query("UPDATE routes SET state = 'active' WHERE id = $1 AND state = 'unconfirmed'")
            .bind(&route_id)
            .execute(tx.conn())
            .await?;
    }
    let route = route_by_id(tx.conn(), &route_id).await?.ok_or_else(bad)?;
    let domain_id: String = sqlx::query("SELECT domain_id FROM routes WHERE id = $1")
        .bind(&route_id)
        .fetch_one(tx.conn())
        .await?
        .try_get("domain_id")?;
    let ev = Event::new("route.confirmed")
        .target(domain_id)
        .tenant(route.tenant_id.clone())
        .details(json!({
            "route": route_id, "source": route.source, "recipient": addr,
            "active": left == 0, "after": route,
        }));
    record(&mut tx, client, now, ev).await?;
    tx.commit().await?;
    Ok(route.source)
}
