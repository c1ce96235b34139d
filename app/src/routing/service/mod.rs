//! Routing use cases. Every route change goes through here: requests are validated once
//! ([`check`]) before they reach the queue and again when they are applied, inside the
//! approving transaction; every enable, disable, expiry and confirmation is an audit event
//! whose target is the domain (so a domain's routing history is one query), with the route
//! before and after.
//!
//! One file per use case: [`policy`], [`check`], [`requests`] (request, apply, roll back,
//! turn off), [`confirm`], [`sweep`], [`report`]; this file holds the mail plane's data
//! contract and reading. Everything is re-exported here.
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::{
    NewRoute, PersistenceItem, Route, RouteOutcome, RouteTarget, RoutingBadges, RoutingPolicy,
};
use crate::audit::service::{record, Event};
use crate::changes::service::{self as changes, NewChange};
use crate::changes::ChangeRequest;
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::db::{Tx, Where};
use crate::core::mailer::Mail;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::EmailAddress;

mod check;
mod confirm;
mod policy;
mod report;
mod requests;
mod sweep;
pub use check::*;
pub use confirm::*;
pub use policy::*;
pub use report::*;
pub use requests::*;
pub use sweep::*;

/// No forward or catch-all lasts longer than this, whatever a tenant sets.
pub const MAX_DAYS: i64 = 90;
/// An alias delivers to at most this many targets.
pub const MAX_TARGETS: usize = 20;
/// Requesters are reminded this long before a route expires.
pub const REMIND_BEFORE_SECS: i64 = 7 * 86400;
/// The sweep runs this often.
pub const SWEEP_EVERY_SECS: i64 = 60;
/// A recipient's confirmation link lasts this long.
pub const CONFIRM_TTL_SECS: i64 = 7 * 86400;

// ---------- the data contract ----------

/// Where mail for `address` goes now, as the mail plane routes it: the mailbox itself if it
/// is one that receives mail, plus the targets of active, approved, unexpired routes whose
/// domain is live (active, of an active tenant) — external targets once confirmed, internal
/// ones while they are live mailboxes or live aliases (one step: the mail plane follows the
/// chain); a catch-all of the domain only when the address is neither a mailbox nor routed.
/// One query, both databases; the `mail_aliases` view (migration 0008) answers the same, and
/// the routing tests check that on every lookup.
pub async fn targets(conn: &mut AnyConnection, address: &str, now: i64) -> AppResult<Vec<String>> {
    let address = address.trim().to_lowercase();
    let domain = format!(
        "@{}",
        address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    );
    let rows = sqlx::query(TARGETS_SQL)
        .bind(&address)
        .bind(now)
        .bind(&domain)
        .fetch_all(conn)
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

/// The routes from `address` that carry mail to live mailboxes now (the mailbox page).
pub async fn aliases_to_mailboxes(
    st: &AppState,
    address: &str,
) -> AppResult<Vec<crate::mailboxes::AliasView>> {
    let rows = sqlx::query(
        "SELECT r.source, t.address AS target, r.expires_at FROM routes r \
         JOIN route_targets t ON t.route_id = r.id JOIN mail_receiving m ON m.id = t.target_mailbox_id \
         WHERE r.source = $1 AND r.state = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2) \
         ORDER BY t.address",
    )
    .bind(address)
    .bind(st.clock.now())
    .fetch_all(st.db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::mailboxes::AliasView {
                address: r.try_get("source")?,
                target: r.try_get("target")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

// ---------- reading ----------

const ROUTE_COLS: &str = "r.id, r.tenant_id, r.domain_id, r.kind, \
    r.source, r.state, r.expires_at, r.reason, r.change_request_id, r.requested_by_label, \
    r.approved_by_label, r.created_at, r.ended_at, r.ended_reason";

async fn load_routes(conn: &mut AnyConnection, sql: &str, w: &Where) -> AppResult<Vec<Route>> {
    let rows = w.bind(sqlx::query(sql)).fetch_all(&mut *conn).await?;
    let mut routes: Vec<Route> = rows
        .iter()
        .map(|r| {
            Ok(Route {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                tenant_name: String::new(),
                // The domain's id until the names are filled in below.
                domain: r.try_get("domain_id")?,
                kind: r.try_get("kind")?,
                source: r.try_get("source")?,
                targets: Vec::new(),
                state: r.try_get("state")?,
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
        crate::tenancy::store::names_of(conn, routes.iter().map(|r| r.tenant_id.as_str())).await?;
    let domains =
        crate::tenancy::store::domain_names_of(conn, routes.iter().map(|r| r.domain.as_str()))
            .await?;
    for r in &mut routes {
        r.tenant_name = tenants.get(&r.tenant_id).cloned().unwrap_or_default();
        r.domain = domains.get(&r.domain).cloned().unwrap_or_default();
    }
    let mut tw = Where::new();
    let ids: Vec<String> = routes.iter().map(|r| tw.arg(r.id.clone())).collect();
    tw.and(format!("route_id IN ({})", ids.join(", ")));
    let sql = format!(
        "SELECT route_id, address, external, confirmed_at FROM route_targets{} ORDER BY address",
        tw.sql()
    );
    let mut by_route: HashMap<String, Vec<RouteTarget>> = HashMap::new();
    for r in tw.bind(sqlx::query(&sql)).fetch_all(&mut *conn).await? {
        by_route
            .entry(r.try_get("route_id")?)
            .or_default()
            .push(RouteTarget {
                address: r.try_get("address")?,
                external: r.try_get::<i64, _>("external")? != 0,
                confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
            });
    }
    for r in &mut routes {
        r.targets = by_route.remove(&r.id).unwrap_or_default();
    }
    Ok(routes)
}

/// Which routes a list shows.
#[derive(Clone, Debug, Default)]
pub struct RouteFilter {
    /// Tenant id or slug.
    pub tenant: Option<String>,
    /// Domain id or name.
    pub domain: Option<String>,
    /// `live` (active or unconfirmed, the default), or one state, or `all`.
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Created at or after (unix seconds).
    pub since: Option<i64>,
}

pub async fn list(st: &AppState, actor: &Actor, f: &RouteFilter) -> AppResult<Vec<Route>> {
    let g = authorize(actor, Action::ViewTenants)?;
    let mut conn = st.db.pool().acquire().await?;
    let mut w = Where::new();
    w.scope("r.tenant_id", &g.actor.tenants);
    if let Some(t) = f.tenant.as_deref().filter(|s| !s.is_empty()) {
        // By id or short name; an unknown one matches nothing.
        let id = crate::tenancy::store::tenant_id_for(&mut conn, t).await?;
        let a = w.arg(id.unwrap_or_default());
        w.and(format!("r.tenant_id = {a}"));
    }
    if let Some(d) = f.domain.as_deref().filter(|s| !s.is_empty()) {
        let named = crate::tenancy::store::domain_by_name(&mut conn, d).await?;
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
    load_routes(&mut conn, &sql, &w).await
}

pub async fn get(st: &AppState, actor: &Actor, id: &str) -> AppResult<Route> {
    let g = authorize(actor, Action::ViewTenants)?;
    let mut conn = st.db.pool().acquire().await?;
    let r = route_by_id(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !g.actor.tenants.contains(&r.tenant_id) {
        return Err(AppError::NotFound);
    }
    Ok(r)
}

async fn route_by_id(conn: &mut AnyConnection, id: &str) -> AppResult<Option<Route>> {
    let mut w = Where::new();
    let a = w.arg(id.to_string());
    w.and(format!("r.id = {a}"));
    let sql = format!("SELECT {ROUTE_COLS} FROM routes r{}", w.sql());
    Ok(load_routes(conn, &sql, &w).await?.pop())
}

async fn live_route_for(conn: &mut AnyConnection, source: &str) -> AppResult<Option<Route>> {
    let mut w = Where::new();
    let a = w.arg(source.to_string());
    w.and(format!(
        "r.source = {a} AND r.state IN ('active', 'unconfirmed')"
    ));
    let sql = format!("SELECT {ROUTE_COLS} FROM routes r{}", w.sql());
    Ok(load_routes(conn, &sql, &w).await?.pop())
}

/// A mailbox owner's view: the live routes of their own address, and how many forward
/// requests of theirs wait for approval.
pub async fn own_routes(st: &AppState, actor: &Actor) -> AppResult<(Vec<Route>, i64)> {
    authorize(actor, Action::ManageOwnMailbox)?;
    let id = actor.mailbox_id().ok_or(AppError::Forbidden)?;
    let mut w = Where::new();
    let a = w.arg(actor.label.clone());
    w.and(format!(
        "r.source = {a} AND r.state IN ('active', 'unconfirmed')"
    ));
    let sql = format!(
        "SELECT {ROUTE_COLS} FROM routes r{} ORDER BY r.created_at DESC",
        w.sql()
    );
    let mut conn = st.db.pool().acquire().await?;
    let routes = load_routes(&mut conn, &sql, &w).await?;
    let pending =
        crate::changes::store::pending_for_target(&mut conn, id, "routing.forward").await?;
    Ok((routes, pending))
}
