//! SQL for `routes` and `route_targets`. Other capabilities' tables are never named here:
//! lists get tenant and domain names from tenancy, and the resolver reads mailboxes through
//! the mail plane's views (`mail_live_domains`, `mail_receiving`, `mail_mailbox_addresses`).
use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::service::RouteFilter;
use super::{Route, RouteTarget};
use crate::core::authz::Granted;
use crate::core::db::{Db, Where};
use crate::core::{AppError, AppResult};

// ---------- the mail plane's answer ----------

/// Where mail for `address` goes now, as the mail plane routes it (see
/// `routing::service::targets`). `address` is lower-case.
pub async fn targets(c: &mut AnyConnection, address: &str, now: i64) -> AppResult<Vec<String>> {
    let domain = format!(
        "@{}",
        address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    );
    let rows = sqlx::query(TARGETS_SQL)
        .bind(address)
        .bind(now)
        .bind(&domain)
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("target"))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// The routes query. `$1` the address, `$2` now, `$3` `@domain`.
const TARGETS_SQL: &str = "\
SELECT m.address AS target FROM mail_receiving m WHERE m.address = $1 \
UNION \
SELECT t.address AS target FROM routes r JOIN route_targets t ON t.route_id = r.id \
 JOIN mail_live_domains d ON d.id = r.domain_id \
 WHERE r.state = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2) \
 AND (t.external = 1 AND t.confirmed_at IS NOT NULL \
      OR t.external = 0 AND EXISTS (SELECT 1 FROM mail_receiving tm \
                                    WHERE tm.id = t.target_mailbox_id) \
      OR t.external = 0 AND t.target_mailbox_id IS NULL AND EXISTS (SELECT 1 FROM routes ar \
                                    JOIN mail_live_domains ad ON ad.id = ar.domain_id \
                                    WHERE ar.source = t.address AND ar.kind = 'alias' \
                                    AND ar.state = 'active' \
                                    AND (ar.expires_at IS NULL OR ar.expires_at > $2))) \
 AND (r.source = $1 OR (r.kind = 'catchall' AND r.source = $3 \
      AND NOT EXISTS (SELECT 1 FROM mail_mailbox_addresses x WHERE x.address = $1) \
      AND NOT EXISTS (SELECT 1 FROM routes y WHERE y.source = $1 AND y.state = 'active' \
                      AND (y.expires_at IS NULL OR y.expires_at > $2)))) \
ORDER BY target";

/// The active routes from `address` whose target is a mailbox that receives mail: (source,
/// target, expires at).
pub async fn aliases_to_mailboxes(
    db: &Db,
    address: &str,
    now: i64,
) -> AppResult<Vec<(String, String, Option<i64>)>> {
    let rows = sqlx::query(
        "SELECT r.source, t.address AS target, r.expires_at FROM routes r \
         JOIN route_targets t ON t.route_id = r.id JOIN mail_receiving m ON m.id = t.target_mailbox_id \
         WHERE r.source = $1 AND r.state = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2) \
         ORDER BY t.address",
    )
    .bind(address)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("source")?,
                r.try_get("target")?,
                r.try_get("expires_at")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

// ---------- reading routes ----------

const ROUTE_COLS: &str = "r.id, r.tenant_id, r.domain_id, r.kind, \
    r.source, r.state, r.expires_at, r.reason, r.change_request_id, r.requested_by_label, \
    r.approved_by_label, r.created_at, r.ended_at, r.ended_reason";

/// Routes with their targets, tenant names and domain names.
async fn load(c: &mut AnyConnection, sql: &str, w: &Where) -> AppResult<Vec<Route>> {
    let rows = w.bind(sqlx::query(sql)).fetch_all(&mut *c).await?;
    let mut routes: Vec<Route> = rows
        .iter()
        .map(|r| {
            Ok(Route {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                tenant_name: String::new(),
                // The domain's id until the names are filled in below.
                domain: r.try_get("domain_id")?,
                kind: crate::core::db::named(r, "kind")?,
                source: r.try_get("source")?,
                targets: Vec::new(),
                state: crate::core::db::named(r, "state")?,
                expires_at: r.try_get("expires_at")?,
                reason: r.try_get("reason")?,
                change_request_id: r.try_get("change_request_id")?,
                requested_by_label: r.try_get("requested_by_label")?,
                approved_by_label: r.try_get("approved_by_label")?,
                created_at: r.try_get("created_at")?,
                ended_at: r.try_get("ended_at")?,
                ended_reason: r.try_get("ended_reason")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    if routes.is_empty() {
        return Ok(routes);
    }
    let tenants =
        crate::tenancy::store::names_of(c, routes.iter().map(|r| r.tenant_id.as_str())).await?;
    let domains =
        crate::tenancy::store::domain_names_of(c, routes.iter().map(|r| r.domain.as_str())).await?;
    for r in &mut routes {
        r.tenant_name = tenants.get(&r.tenant_id).cloned().unwrap_or_default();
        r.domain = domains.get(&r.domain).cloned().unwrap_or_default();
    }
    let mut by_route: HashMap<String, Vec<RouteTarget>> = HashMap::new();
    for chunk in routes.chunks(500) {
        let mut tw = Where::new();
        let ids: Vec<String> = chunk.iter().map(|r| tw.arg(r.id.clone())).collect();
        tw.and(format!("route_id IN ({})", ids.join(", ")));
        let sql = format!(
            "SELECT route_id, address, external, confirmed_at FROM route_targets{} ORDER BY address",
            tw.sql()
        );
        for r in tw.bind(sqlx::query(&sql)).fetch_all(&mut *c).await? {
            by_route
                .entry(r.try_get("route_id")?)
                .or_default()
                .push(RouteTarget {
                    address: r.try_get("address")?,
                    external: r.try_get::<i64, _>("external")? != 0,
                    confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
                });
        }
    }
    for r in &mut routes {
        r.targets = by_route.remove(&r.id).unwrap_or_default();
    }
    Ok(routes)
}

/// Routes in the proof's scope, newest first (at most 1,000).
pub async fn list(db: &Db, g: &Granted<'_>, f: &RouteFilter) -> AppResult<Vec<Route>> {
    let mut c = db.pool().acquire().await?;
    let mut w = Where::new();
    w.scope("r.tenant_id", &g.actor.tenants);
    if let Some(t) = f.tenant.as_deref().filter(|s| !s.is_empty()) {
        // By id or short name; an unknown one matches nothing.
        let id = crate::tenancy::store::tenant_id_for(&mut c, t).await?;
        let a = w.arg(id.unwrap_or_default());
        w.and(format!("r.tenant_id = {a}"));
    }
    if let Some(d) = f.domain.as_deref().filter(|s| !s.is_empty()) {
        let named = crate::tenancy::store::domain_by_name(&mut c, d).await?;
        let a = w.arg(d.to_string());
        match named {
            Some((id, _, _)) => {
                let b = w.arg(id);
                w.and(format!("(r.domain_id = {a} OR r.domain_id = {b})"));
            }
            None => w.and(format!("r.domain_id = {a}")),
        }
    }
    match f.state.as_deref().unwrap_or("live") {
        "all" => {}
        "live" | "" => w.and("r.state IN ('active', 'unconfirmed')"),
        s => {
            let a = w.arg(s.to_string());
            w.and(format!("r.state = {a}"));
        }
    }
    if let Some(k) = f.kind.as_deref().filter(|s| !s.is_empty()) {
        let a = w.arg(k.to_string());
        w.and(format!("r.kind = {a}"));
    }
    if let Some(since) = f.since {
        let a = w.arg(since);
        w.and(format!("r.created_at >= {a}"));
    }
    let sql = format!(
        "SELECT {ROUTE_COLS} FROM routes r{} ORDER BY r.created_at DESC, r.id LIMIT 1000",
        w.sql()
    );
    load(&mut c, &sql, &w).await
}

/// One route by id (any tenant: the caller checks the scope).
pub async fn by_id(c: &mut AnyConnection, id: &str) -> AppResult<Option<Route>> {
    let mut w = Where::new();
    let a = w.arg(id.to_string());
    w.and(format!("r.id = {a}"));
    let sql = format!("SELECT {ROUTE_COLS} FROM routes r{}", w.sql());
    Ok(load(c, &sql, &w).await?.pop())
}

/// The live (active or unconfirmed) routes from `source`, newest first.
pub async fn live_from(c: &mut AnyConnection, source: &str) -> AppResult<Vec<Route>> {
    let mut w = Where::new();
    let a = w.arg(source.to_string());
    w.and(format!(
        "r.source = {a} AND r.state IN ('active', 'unconfirmed')"
    ));
    let sql = format!(
        "SELECT {ROUTE_COLS} FROM routes r{} ORDER BY r.created_at DESC",
        w.sql()
    );
    load(c, &sql, &w).await
}

/// The domain a route belongs to.
pub async fn domain_of(c: &mut AnyConnection, route_id: &str) -> AppResult<String> {
    Ok(sqlx::query("SELECT domain_id FROM routes WHERE id = $1")
        .bind(route_id)
        .fetch_optional(c)
        .await?
        .ok_or(AppError::NotFound)?
        .try_get("domain_id")?)
}

/// The live alias graph: (source, internal target) of live routes.
pub async fn internal_edges(c: &mut AnyConnection, now: i64) -> AppResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT r.source, t.address FROM routes r JOIN route_targets t ON t.route_id = r.id \
         WHERE r.state IN ('active', 'unconfirmed') AND (r.expires_at IS NULL OR r.expires_at > $1) \
         AND t.external = 0",
    )
    .bind(now)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("source")?, r.try_get("address")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Live routes (but offboarding aliases) from `address` or to `mailbox_id`: (id, domain id,
/// tenant id).
pub async fn live_about_mailbox(
    c: &mut AnyConnection,
    mailbox_id: &str,
    address: &str,
) -> AppResult<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT DISTINCT r.id, r.domain_id, r.tenant_id FROM routes r \
         LEFT JOIN route_targets t ON t.route_id = r.id \
         WHERE r.state IN ('active', 'unconfirmed') AND r.kind <> 'offboarding' \
         AND (r.source = $1 OR t.target_mailbox_id = $2)",
    )
    .bind(address)
    .bind(mailbox_id)
    .fetch_all(c)
    .await?;
    route_places(&rows)
}

/// (id, domain id, tenant id) of each route row.
fn route_places(rows: &[sqlx::any::AnyRow]) -> AppResult<Vec<(String, String, String)>> {
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("domain_id")?,
                r.try_get("tenant_id")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A route's targets as written: (address, mailbox id for an internal target, external).
pub async fn targets_of(
    c: &mut AnyConnection,
    route_id: &str,
) -> AppResult<Vec<(String, Option<String>, bool)>> {
    let rows = sqlx::query(
        "SELECT address, target_mailbox_id, external FROM route_targets WHERE route_id = $1 \
         ORDER BY address",
    )
    .bind(route_id)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("address")?,
                r.try_get("target_mailbox_id")?,
                r.try_get::<i64, _>("external")? != 0,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The live forwards from `address`: (id, domain id, tenant id).
pub async fn live_forwards_from(
    c: &mut AnyConnection,
    address: &str,
) -> AppResult<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT id, domain_id, tenant_id FROM routes WHERE source = $1 AND kind = 'forward' \
         AND state IN ('active', 'unconfirmed') ORDER BY created_at",
    )
    .bind(address)
    .fetch_all(c)
    .await?;
    route_places(&rows)
}

/// The dashboard's routing figures in the proof's scope: domains with a live catch-all,
/// live forwards, and forwards and catch-alls ending between `now` and `soon`.
pub async fn badge_counts(
    db: &Db,
    g: &Granted<'_>,
    now: i64,
    soon: i64,
) -> AppResult<(i64, i64, i64)> {
    let mut w = Where::new();
    w.scope("r.tenant_id", &g.actor.tenants);
    let n = w.arg(now);
    let soon = w.arg(soon);
    w.and("r.state IN ('active', 'unconfirmed')");
    let sql = format!(
        "SELECT \
         CAST(COUNT(DISTINCT CASE WHEN r.kind = 'catchall' AND r.state = 'active' THEN r.domain_id END) AS BIGINT) AS catchall, \
         CAST(COUNT(CASE WHEN r.kind = 'forward' THEN 1 END) AS BIGINT) AS forwards, \
         CAST(COUNT(CASE WHEN r.kind IN ('forward', 'catchall') AND r.expires_at > {n} AND r.expires_at <= {soon} THEN 1 END) AS BIGINT) AS soon \
         FROM routes r{}",
        w.sql()
    );
    let r = w.bind(sqlx::query(&sql)).fetch_one(db.pool()).await?;
    Ok((
        r.try_get("catchall")?,
        r.try_get("forwards")?,
        r.try_get("soon")?,
    ))
}

// ---------- confirmation links ----------

/// What a confirmation link (by its hash) is about: (source, recipient, expires at).
pub async fn confirmation(
    db: &Db,
    hash: &str,
    now: i64,
) -> AppResult<Option<(String, String, Option<i64>)>> {
    let r = sqlx::query(
        "SELECT r.source, t.address, r.expires_at FROM route_targets t JOIN routes r ON r.id = t.route_id \
         WHERE t.confirm_hash = $1 AND t.confirmed_at IS NULL AND t.confirm_expires_at > $2 \
         AND r.state = 'unconfirmed'",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(match r {
        Some(r) => Some((
            r.try_get("source")?,
            r.try_get("address")?,
            r.try_get("expires_at")?,
        )),
        None => None,
    })
}

/// Uses a confirmation link: marks its recipient confirmed and, once no recipient of the
/// route is left unconfirmed, activates the route. Returns (route id, recipient, whether
/// the route is active now); None when the link does not work (used, expired, withdrawn).
pub async fn confirm(
    c: &mut AnyConnection,
    hash: &str,
    now: i64,
) -> AppResult<Option<(String, String, bool)>> {
    let Some(r) = sqlx::query(
        "UPDATE route_targets SET confirmed_at = $2 WHERE confirm_hash = $1 AND confirmed_at IS NULL \
         AND confirm_expires_at > $2 AND route_id IN (SELECT id FROM routes WHERE state = 'unconfirmed') \
         RETURNING route_id, address",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(&mut *c)
    .await?
    else {
        return Ok(None);
    };
    let route_id: String = r.try_get("route_id")?;
    let addr: String = r.try_get("address")?;
    let left: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM route_targets WHERE route_id = $1 AND confirmed_at IS NULL",
    )
    .bind(&route_id)
    .fetch_one(&mut *c)
    .await?
    .try_get("n")?;
    if left == 0 {
        sqlx::query("UPDATE routes SET state = 'active' WHERE id = $1 AND state = 'unconfirmed'")
            .bind(&route_id)
            .execute(&mut *c)
            .await?;
    }
    Ok(Some((route_id, addr, left == 0)))
}

// ---------- writing routes ----------

/// A route to insert, with its targets.
pub struct NewRow<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub domain_id: &'a str,
    pub kind: &'a str,
    pub source: &'a str,
    /// `active` or `unconfirmed`.
    pub state: &'a str,
    pub expires_at: Option<i64>,
    pub reason: &'a str,
    pub change_request_id: Option<&'a str>,
    pub requested_by: Option<&'a str>,
    pub requested_by_label: &'a str,
    pub approved_by_label: Option<&'a str>,
}

/// A target of a new route.
pub struct NewTarget<'a> {
    pub address: &'a str,
    pub mailbox_id: Option<&'a str>,
    pub external: bool,
    pub confirm_hash: Option<&'a str>,
    pub confirm_expires_at: Option<i64>,
    pub confirmed_at: Option<i64>,
}

/// Inserts a route and its targets; a conflict when the source got a live route meanwhile
/// (a unique index).
pub async fn insert(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    r: &NewRow<'_>,
    targets: &[NewTarget<'_>],
    now: i64,
) -> AppResult<()> {
    g.check(r.tenant_id)?;
    let inserted = sqlx::query(
        "INSERT INTO routes (id, tenant_id, domain_id, kind, source, state, expires_at, reason, \
         change_request_id, requested_by, requested_by_label, approved_by_label, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.domain_id)
    .bind(r.kind)
    .bind(r.source)
    .bind(r.state)
    .bind(r.expires_at)
    .bind(r.reason)
    .bind(r.change_request_id)
    .bind(r.requested_by)
    .bind(r.requested_by_label)
    .bind(r.approved_by_label)
    .bind(now)
    .execute(&mut *c)
    .await;
    if let Err(sqlx::Error::Database(d)) = &inserted {
        if d.is_unique_violation() {
            return Err(AppError::Conflict(format!(
                "{} got a route meanwhile: nothing was changed.",
                r.source
            )));
        }
    }
    inserted?;
    for t in targets {
        sqlx::query(
            "INSERT INTO route_targets (route_id, address, target_mailbox_id, external, \
             confirm_hash, confirm_expires_at, confirmed_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(r.id)
        .bind(t.address)
        .bind(t.mailbox_id)
        .bind(t.external as i64)
        .bind(t.confirm_hash)
        .bind(t.confirm_expires_at)
        .bind(t.confirmed_at)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Brings back a route that a renewal ended (`removed`), in the state it had.
pub async fn restore(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    id: &str,
    state: &str,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query(
        "UPDATE routes SET state = $2, ended_at = NULL, ended_reason = NULL \
         WHERE id = $1 AND state = 'removed'",
    )
    .bind(id)
    .bind(state)
    .execute(c)
    .await?;
    Ok(())
}

/// Ends a live route of the proof's scope (`removed` or `expired`, and why); returns
/// whether it was live.
pub async fn end(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    state: &str,
    why: &str,
    now: i64,
) -> AppResult<bool> {
    let mut w = Where::new();
    let i = w.arg(id);
    let s = w.arg(state);
    let n = w.arg(now);
    let y = w.arg(why);
    w.and(format!("id = {i} AND state IN ('active', 'unconfirmed')"));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE routes SET state = {s}, ended_at = {n}, ended_reason = {y}{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected() == 1)
}

/// Whether the domain has a live catch-all.
pub async fn has_live_catch_all(c: &mut AnyConnection, domain_id: &str) -> AppResult<bool> {
    let n: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM routes WHERE domain_id = $1 \
         AND kind = 'catchall' AND state = 'active'",
    )
    .bind(domain_id)
    .fetch_one(c)
    .await?
    .try_get("n")?;
    Ok(n > 0)
}

/// A route the sweep ended or reminded of.
pub struct Swept {
    pub id: String,
    pub domain_id: String,
    pub tenant_id: String,
    pub kind: String,
    pub source: String,
    pub expires_at: Option<i64>,
    pub ended_reason: Option<String>,
    pub requested_by: Option<String>,
    pub requested_by_label: String,
}

fn swept(r: &sqlx::any::AnyRow, ended: bool) -> Result<Swept, sqlx::Error> {
    Ok(Swept {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        source: r.try_get("source")?,
        expires_at: r.try_get("expires_at")?,
        ended_reason: if ended {
            r.try_get("ended_reason")?
        } else {
            None
        },
        requested_by: if ended {
            None
        } else {
            r.try_get("requested_by")?
        },
        requested_by_label: if ended {
            String::new()
        } else {
            r.try_get("requested_by_label")?
        },
    })
}

/// Ends routes whose time is up, and forwards whose recipient let the link lapse.
pub async fn expire_due(c: &mut AnyConnection, g: &Granted<'_>, now: i64) -> AppResult<Vec<Swept>> {
    // The sweep runs as the system (every tenant); nothing narrower may expire routes.
    g.require(&[crate::core::authz::Action::ManageMailboxes])?;
    if !matches!(g.actor.tenants, crate::core::authz::TenantScope::All) {
        return Err(AppError::Forbidden);
    }
    let rows = sqlx::query(
        "UPDATE routes SET state = 'expired', ended_at = $1, ended_reason = CASE \
         WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 'expired' \
         ELSE 'not confirmed in time' END \
         WHERE state IN ('active', 'unconfirmed') AND ((expires_at IS NOT NULL AND expires_at <= $1) \
         OR (state = 'unconfirmed' AND EXISTS (SELECT 1 FROM route_targets t \
             WHERE t.route_id = routes.id AND t.confirmed_at IS NULL AND t.confirm_expires_at <= $1))) \
         RETURNING id, domain_id, tenant_id, kind, source, expires_at, ended_reason",
    )
    .bind(now)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| swept(r, true))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Marks the active routes ending by `until` that were not reminded of yet; returns them.
pub async fn remind_due(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    now: i64,
    until: i64,
) -> AppResult<Vec<Swept>> {
    g.require(&[crate::core::authz::Action::ManageMailboxes])?;
    if !matches!(g.actor.tenants, crate::core::authz::TenantScope::All) {
        return Err(AppError::Forbidden);
    }
    let rows = sqlx::query(
        "UPDATE routes SET reminded_at = $1 WHERE state = 'active' AND reminded_at IS NULL \
         AND expires_at IS NOT NULL AND expires_at > $1 AND expires_at <= $2 \
         RETURNING id, domain_id, tenant_id, kind, source, expires_at, requested_by, requested_by_label",
    )
    .bind(now)
    .bind(until)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| swept(r, false))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}
