//! External recipients confirm a forward from a one-time link.
#[allow(unused_imports)]
use super::*;

/// What a confirmation link is about (for its page), or None when it does not work.
pub async fn confirmation(
    st: &AppState,
    token: &str,
) -> AppResult<Option<(String, String, Option<i64>)>> {
    store::confirmation(&st.db, &secrets::sha256_hex(token), st.clock.now()).await
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
    let (route_id, addr, active) = store::confirm(tx.conn(), &secrets::sha256_hex(token), now)
        .await?
        .ok_or_else(bad)?;
    let route = route_by_id(tx.conn(), &route_id).await?.ok_or_else(bad)?;
    let domain_id = store::domain_of(tx.conn(), &route_id).await?;
    let ev = Event::new("route.confirmed")
        .target(domain_id)
        .tenant(route.tenant_id.clone())
        .details(json!({
            "route": route_id, "source": route.source, "recipient": addr,
            "active": active, "after": route,
        }));
    record(&mut tx, client, now, ev).await?;
    tx.commit().await?;
    Ok(route.source)
}
