//! Routing use cases. Every route change goes through here: requests are validated once
//! ([`check`]) before they reach the queue and again when they are applied, inside the
//! approving transaction; every enable, disable, expiry and confirmation is an audit event
//! whose target is the domain (so a domain's routing history is one query), with the route
//! before and after.
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
use crate::core::registry::Applied;
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::EmailAddress;

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
SELECT m.address AS target FROM mailboxes m JOIN mail_live_domains d ON d.id = m.domain_id \
 WHERE m.address = $1 AND m.status IN ('active', 'locked') \
UNION \
SELECT t.address AS target FROM routes r JOIN route_targets t ON t.route_id = r.id \
 JOIN mail_live_domains d ON d.id = r.domain_id \
 WHERE r.state = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2) \
 AND (t.external = 1 AND t.confirmed_at IS NOT NULL \
      OR t.external = 0 AND EXISTS (SELECT 1 FROM mailboxes tm \
                                    JOIN mail_live_domains td ON td.id = tm.domain_id \
                                    WHERE tm.id = t.target_mailbox_id \
                                    AND tm.status IN ('active', 'locked')) \
      OR t.external = 0 AND t.target_mailbox_id IS NULL AND EXISTS (SELECT 1 FROM routes ar \
                                    JOIN mail_live_domains ad ON ad.id = ar.domain_id \
                                    WHERE ar.source = t.address AND ar.kind = 'alias' \
                                    AND ar.state = 'active' \
                                    AND (ar.expires_at IS NULL OR ar.expires_at > $2))) \
 AND (r.source = $1 OR (r.kind = 'catchall' AND r.source = $3 \
      AND NOT EXISTS (SELECT 1 FROM mailboxes x WHERE x.address = $1 AND x.status <> 'offboarded') \
      AND NOT EXISTS (SELECT 1 FROM routes y WHERE y.source = $1 AND y.state = 'active' \
                      AND (y.expires_at IS NULL OR y.expires_at > $2)))) \
ORDER BY target";

// ---------- reading ----------

const ROUTE_COLS: &str = "r.id, r.tenant_id, t.name AS tenant_name, d.name AS domain, r.kind, \
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
                tenant_name: r.try_get("tenant_name")?,
                domain: r.try_get("domain")?,
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
    let mut w = Where::new();
    w.scope("r.tenant_id", &g.actor.tenants);
    if let Some(t) = f.tenant.as_deref().filter(|s| !s.is_empty()) {
        let a = w.arg(t.to_string());
        w.and(format!("(t.id = {a} OR t.slug = {a})"));
    }
    if let Some(d) = f.domain.as_deref().filter(|s| !s.is_empty()) {
        let a = w.arg(d.to_string());
        w.and(format!("(d.id = {a} OR d.name = {a})"));
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
        "SELECT {ROUTE_COLS} FROM routes r JOIN tenants t ON t.id = r.tenant_id \
         JOIN domains d ON d.id = r.domain_id{} ORDER BY r.created_at DESC, r.id LIMIT 1000",
        w.sql()
    );
    let mut conn = st.db.pool().acquire().await?;
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
    let sql = format!(
        "SELECT {ROUTE_COLS} FROM routes r JOIN tenants t ON t.id = r.tenant_id \
         JOIN domains d ON d.id = r.domain_id{}",
        w.sql()
    );
    Ok(load_routes(conn, &sql, &w).await?.pop())
}

async fn live_route_for(conn: &mut AnyConnection, source: &str) -> AppResult<Option<Route>> {
    let mut w = Where::new();
    let a = w.arg(source.to_string());
    w.and(format!(
        "r.source = {a} AND r.state IN ('active', 'unconfirmed')"
    ));
    let sql = format!(
        "SELECT {ROUTE_COLS} FROM routes r JOIN tenants t ON t.id = r.tenant_id \
         JOIN domains d ON d.id = r.domain_id{}",
        w.sql()
    );
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
        "SELECT {ROUTE_COLS} FROM routes r JOIN tenants t ON t.id = r.tenant_id \
         JOIN domains d ON d.id = r.domain_id{} ORDER BY r.created_at DESC",
        w.sql()
    );
    let mut conn = st.db.pool().acquire().await?;
    let routes = load_routes(&mut conn, &sql, &w).await?;
    let pending: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests WHERE target_id = $1 \
         AND kind = 'routing.forward' AND state = 'pending'",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok((routes, pending))
}

// ---------- policy ----------

pub async fn policy(conn: &mut AnyConnection, tenant_id: &str) -> AppResult<RoutingPolicy> {
    let r = sqlx::query(
        "SELECT alias_policy, forward_allowlist, route_default_days, route_max_days, \
         forward_confirmation FROM tenants WHERE id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(RoutingPolicy {
        alias_policy: r.try_get("alias_policy")?,
        allowlist: r
            .try_get::<String, _>("forward_allowlist")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        default_days: r.try_get("route_default_days")?,
        max_days: r.try_get("route_max_days")?,
        confirmation: r.try_get::<i64, _>("forward_confirmation")? != 0,
    })
}

/// The tenant's routing policy (anyone who sees the tenant).
pub async fn tenant_policy(st: &AppState, actor: &Actor, tenant: &str) -> AppResult<RoutingPolicy> {
    let t = tenant_for(st, actor, tenant, Action::ViewTenants).await?;
    let mut conn = st.db.pool().acquire().await?;
    policy(&mut conn, &t.id).await
}

async fn tenant_for(
    st: &AppState,
    actor: &Actor,
    key: &str,
    action: Action,
) -> AppResult<crate::tenancy::Tenant> {
    let view = authorize(actor, Action::ViewTenants)?;
    let t = crate::tenancy::store::tenant(&st.db, &view, key)
        .await?
        .filter(|t| view.actor.tenants.contains(&t.id))
        .ok_or(AppError::NotFound)?;
    authorize_in(actor, action, &t.id)?;
    Ok(t)
}

/// A destination domain as the allowlist holds it (ASCII, lower case), or why not.
fn allowlist_domain(s: &str) -> AppResult<String> {
    let d = s.trim().trim_start_matches('@').to_lowercase();
    let d = idna::domain_to_ascii(&d)
        .map_err(|_| AppError::invalid(format!("“{s}” is not a domain name.")))?;
    EmailAddress::parse(&format!("x@{d}"))
        .map_err(|_| AppError::invalid(format!("“{s}” is not a domain name.")))?;
    Ok(d)
}

/// Sets a tenant's routing policy: owners and operators only (a tenant admin cannot open
/// their own tenant to external forwarding). Audited with before and after.
pub async fn set_policy(
    st: &AppState,
    actor: &Actor,
    tenant: &str,
    p: &RoutingPolicy,
) -> AppResult<RoutingPolicy> {
    let t = tenant_for(st, actor, tenant, Action::ManageTenants).await?;
    let g = authorize_in(actor, Action::ManageTenants, &t.id)?;
    if !["direct", "approval"].contains(&p.alias_policy.as_str()) {
        return Err(AppError::invalid(
            "Aliases are created either directly or through approval.",
        ));
    }
    if !(1..=MAX_DAYS).contains(&p.max_days) {
        return Err(AppError::invalid(format!(
            "The longest a forward or catch-all may last is 1 to {MAX_DAYS} days."
        )));
    }
    if !(1..=p.max_days).contains(&p.default_days) {
        return Err(AppError::invalid(format!(
            "The default expiry must be 1 to {} days (the maximum you set).",
            p.max_days
        )));
    }
    let mut allow: Vec<String> = Vec::new();
    for d in &p.allowlist {
        let d = allowlist_domain(d)?;
        if !allow.contains(&d) {
            allow.push(d);
        }
    }
    allow.sort();
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let before = policy(tx.conn(), &t.id).await?;
    let after = RoutingPolicy {
        alias_policy: p.alias_policy.clone(),
        allowlist: allow,
        default_days: p.default_days,
        max_days: p.max_days,
        confirmation: p.confirmation,
    };
    crate::tenancy::store::set_routing_policy(
        tx.conn(),
        &g,
        &t.id,
        &crate::tenancy::store::RoutingSettings {
            alias_policy: &after.alias_policy,
            allowlist: &after.allowlist.join(" "),
            default_days: after.default_days,
            max_days: after.max_days,
            confirmation: after.confirmation,
        },
        now,
    )
    .await?;
    let ev = Event::new("tenant.routing_policy_changed")
        .target(t.id.clone())
        .tenant(t.id.clone())
        .details(json!({ "before": before, "after": after }));
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(after)
}

// ---------- checking a request ----------

/// A request made valid: what would be written.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Checked {
    pub kind: String,
    pub tenant_id: String,
    pub domain_id: String,
    pub source: String,
    /// The mailbox the source is (forwards from a mailbox).
    pub source_mailbox_id: Option<String>,
    /// (address, mailbox id for internal targets)
    pub targets: Vec<(String, Option<String>)>,
    pub days: Option<i64>,
    pub reason: String,
    /// The live forward this one renews (replaced when applied).
    pub renews: Option<String>,
}

struct DomainRow {
    id: String,
    tenant_id: String,
    status: String,
}

async fn domain_named(conn: &mut AnyConnection, ascii: &str) -> AppResult<Option<DomainRow>> {
    let r = sqlx::query("SELECT id, tenant_id, status FROM domains WHERE name = $1")
        .bind(ascii)
        .fetch_optional(conn)
        .await?;
    r.map(|r| {
        Ok(DomainRow {
            id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            status: r.try_get("status")?,
        })
    })
    .transpose()
}

/// A mailbox that is not offboarded: (id, tenant, status).
async fn mailbox_at(
    conn: &mut AnyConnection,
    address: &str,
) -> AppResult<Option<(String, String, String)>> {
    let r = sqlx::query(
        "SELECT id, tenant_id, status FROM mailboxes WHERE address = $1 AND status <> 'offboarded'",
    )
    .bind(address)
    .fetch_optional(conn)
    .await?;
    r.map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("tenant_id")?,
            r.try_get("status")?,
        ))
    })
    .transpose()
}

/// A request's source as stored (an address, or `@domain` for a catch-all) and its domain.
fn source_of(kind: &str, raw: &str) -> AppResult<(String, String)> {
    if kind == "catchall" {
        let d = allowlist_domain(raw)?;
        return Ok((format!("@{d}"), d));
    }
    let a = address(raw)?;
    let d = a
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    Ok((a, d))
}

fn not_yours(domain: &str) -> AppError {
    AppError::invalid(format!("{domain} is not one of your domains."))
}

fn address(s: &str) -> AppResult<String> {
    // Internationalised domains are stored in ASCII, as the mail servers see them.
    let s = s.trim();
    let (local, dom) = s
        .rsplit_once('@')
        .ok_or_else(|| AppError::invalid(format!("“{s}” is not a valid email address.")))?;
    let dom = idna::domain_to_ascii(&dom.to_lowercase())
        .map_err(|_| AppError::invalid(format!("“{s}” is not a valid email address.")))?;
    Ok(EmailAddress::parse(&format!("{local}@{dom}"))
        .map_err(AppError::Invalid)?
        .key())
}

/// Validates a request against the data as it is now; `requested_by` is the mailbox an
/// owner asks for (only a forward of their own mailbox).
pub async fn check(
    conn: &mut AnyConnection,
    new: &NewRoute,
    own_mailbox: Option<&str>,
    now: i64,
) -> AppResult<Checked> {
    let kind = new.kind.trim().to_lowercase();
    if !["alias", "forward", "catchall"].contains(&kind.as_str()) {
        return Err(AppError::invalid(
            "Choose what to add: an alias, an external forward or a catch-all.",
        ));
    }
    let reason = new.reason.trim().to_string();
    if kind != "alias" && reason.chars().count() < 3 {
        return Err(AppError::invalid(
            "Say why: the approver reads it, and it stays in the log.",
        ));
    }
    let (source, domain_ascii) = source_of(&kind, &new.source)?;
    let dom = domain_named(conn, &domain_ascii)
        .await?
        .ok_or_else(|| not_yours(&domain_ascii))?;
    if dom.status != "active" {
        return Err(AppError::Conflict(format!(
            "{domain_ascii} is {}: routes need an active domain.",
            dom.status
        )));
    }
    let tenant_id = dom.tenant_id.clone();
    let pol = policy(conn, &tenant_id).await?;
    let source_mailbox = if kind == "catchall" {
        None
    } else {
        mailbox_at(conn, &source).await?
    };
    if let Some(own) = own_mailbox {
        if kind != "forward" || source_mailbox.as_ref().map(|m| m.0.as_str()) != Some(own) {
            return Err(AppError::Forbidden);
        }
    }
    // What is there now.
    let live = live_route_for(conn, &source).await?;
    let mut renews = None;
    match (kind.as_str(), &live) {
        (_, None) => {}
        // A new request for a live forward edits or renews it (replacing it once approved).
        ("forward", Some(r)) if r.kind == "forward" => renews = Some(r.id.clone()),
        // A catch-all is renewed with the same target; a second one is refused.
        ("catchall", Some(r))
            if r.kind == "catchall"
                && r.targets.len() == 1
                && new.targets.len() == 1
                && address(&new.targets[0]).ok().as_deref()
                    == Some(r.targets[0].address.as_str()) =>
        {
            renews = Some(r.id.clone())
        }
        ("catchall", Some(r)) => {
            return Err(AppError::Conflict(format!(
                "{domain_ascii} has a catch-all already (to {}): a domain has at most one. \
                 Turn it off first, or renew it with the same target.",
                r.targets.first().map(|t| t.address.as_str()).unwrap_or("?")
            )))
        }
        (_, Some(r)) => {
            return Err(AppError::Conflict(format!(
                "{source} already has a route ({}): remove it first.",
                r.kind_label().to_lowercase()
            )))
        }
    }
    let pending: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests WHERE state = 'pending' \
         AND kind LIKE 'routing.%' AND target_label = $1",
    )
    .bind(&source)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    // (At apply time the request itself is no longer pending.)
    if pending > 0 {
        return Err(AppError::Conflict(format!(
            "A request for {source} is already waiting for approval."
        )));
    }
    match kind.as_str() {
        "alias" => {
            if source_mailbox.is_some() {
                return Err(AppError::Conflict(format!(
                    "{source} is a mailbox: an alias needs an address of its own."
                )));
            }
        }
        "forward" => match &source_mailbox {
            Some((_, _, st)) if st == "invited" => {
                return Err(AppError::Conflict(format!(
                    "{source} has not been activated yet: nothing to forward."
                )))
            }
            Some(_) => {}
            None if live.as_ref().is_some_and(|r| r.kind == "alias") => {}
            None => {
                return Err(AppError::invalid(format!(
                    "{source} is neither a mailbox nor an alias of this tenant."
                )))
            }
        },
        _ => {}
    }
    // Targets.
    let mut targets: Vec<(String, Option<String>)> = Vec::new();
    for raw in new
        .targets
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        let a = address(raw)?;
        if targets.iter().any(|(t, _)| *t == a) {
            continue;
        }
        if a == source {
            return Err(AppError::invalid(format!(
                "{source} cannot route to itself."
            )));
        }
        let target_domain = a
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        let hosted = domain_named(conn, &target_domain).await?;
        // Another tenant's domain is nobody's business here: it is treated like any outside
        // domain, and its state is never named (no existence leak).
        if let Some(h) = hosted.as_ref().filter(|h| h.tenant_id == tenant_id) {
            if h.status == "suspended" {
                return Err(AppError::Conflict(format!(
                    "{a} is in a suspended domain: mail to it would bounce."
                )));
            }
        }
        if kind == "forward" {
            if hosted.as_ref().is_some_and(|h| h.tenant_id == tenant_id) {
                return Err(AppError::invalid(format!(
                    "{a} is in this tenant: use an alias for internal routing, not an external forward."
                )));
            }
            let allowed = pol
                .allowlist
                .iter()
                .any(|d| target_domain == *d || target_domain.ends_with(&format!(".{d}")));
            if !allowed {
                return Err(AppError::invalid(if pol.allowlist.is_empty() {
                    format!(
                        "{target_domain} is not on this tenant's forwarding allowlist (it is empty: no external forwarding until an owner or operator allows a domain)."
                    )
                } else {
                    format!(
                        "{target_domain} is not on this tenant's forwarding allowlist ({}).",
                        pol.allowlist.join(", ")
                    )
                }));
            }
            targets.push((a, None));
        } else {
            // Alias and catch-all targets stay inside the tenant.
            match mailbox_at(conn, &a).await? {
                Some((id, t, status)) if t == tenant_id => {
                    if status == "invited" && kind == "catchall" {
                        return Err(AppError::Conflict(format!(
                            "{a} has not been activated yet."
                        )));
                    }
                    targets.push((a, Some(id)));
                }
                // Another tenant's mailbox: the same answer as for no mailbox at all.
                Some(_) => {
                    return Err(AppError::invalid(format!(
                        "{a} is not a mailbox{} of this tenant.",
                        if kind == "alias" { " or alias" } else { "" }
                    )))
                }
                None if kind == "alias"
                    && live_route_for(conn, &a)
                        .await?
                        .is_some_and(|r| r.tenant_id == tenant_id && r.kind == "alias") =>
                {
                    targets.push((a, None));
                }
                None => {
                    return Err(AppError::invalid(format!(
                        "{a} is not a mailbox{} of this tenant.",
                        if kind == "alias" { " or alias" } else { "" }
                    )))
                }
            }
        }
    }
    if targets.is_empty() {
        return Err(AppError::invalid("Name at least one target address."));
    }
    if kind == "catchall" && targets.len() != 1 {
        return Err(AppError::invalid(
            "A catch-all delivers to exactly one mailbox.",
        ));
    }
    if targets.len() > MAX_TARGETS {
        return Err(AppError::invalid(format!("At most {MAX_TARGETS} targets.")));
    }
    if kind == "alias" {
        refuse_loops(conn, &source, &targets, now).await?;
    }
    let days = if kind == "alias" {
        None
    } else {
        let d = new.days.unwrap_or(pol.default_days);
        if !(1..=pol.max_days).contains(&d) {
            return Err(AppError::invalid(format!(
                "A {} lasts 1 to {} days (this tenant's maximum); renew it with a new request when it runs out.",
                super::kind_label(&kind).to_lowercase(),
                pol.max_days
            )));
        }
        Some(d)
    };
    Ok(Checked {
        kind,
        tenant_id,
        domain_id: dom.id,
        source_mailbox_id: source_mailbox.map(|m| m.0),
        source,
        targets,
        days,
        reason,
        renews,
    })
}

/// Refuses an alias whose targets lead back to its own address through other aliases.
async fn refuse_loops(
    conn: &mut AnyConnection,
    source: &str,
    targets: &[(String, Option<String>)],
    now: i64,
) -> AppResult<()> {
    // The live alias graph (internal targets that are aliases themselves).
    let rows = sqlx::query(
        "SELECT r.source, t.address FROM routes r JOIN route_targets t ON t.route_id = r.id \
         WHERE r.state IN ('active', 'unconfirmed') AND (r.expires_at IS NULL OR r.expires_at > $1) \
         AND t.external = 0",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        edges
            .entry(r.try_get("source")?)
            .or_default()
            .push(r.try_get("address")?);
    }
    edges.insert(
        source.to_string(),
        targets.iter().map(|(a, _)| a.clone()).collect(),
    );
    // Depth-first from the new source, keeping the path for the message.
    fn walk(
        at: &str,
        goal: &str,
        edges: &HashMap<String, Vec<String>>,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> bool {
        for next in edges.get(at).into_iter().flatten() {
            path.push(next.clone());
            if next == goal {
                return true;
            }
            if seen.insert(next.clone()) && walk(next, goal, edges, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![source.to_string()];
    if walk(source, source, &edges, &mut path, &mut HashSet::new()) {
        return Err(AppError::invalid(format!(
            "That would make a loop: {}.",
            path.join(" → ")
        )));
    }
    Ok(())
}

// ---------- requesting ----------

fn change_kind(kind: &str) -> &'static str {
    match kind {
        "forward" => "routing.forward",
        "catchall" => "routing.catchall",
        _ => "routing.alias",
    }
}

/// Requests a route. Aliases under the `direct` policy are created at once; everything
/// else becomes a change request another person approves. Bad requests are refused here,
/// before they reach the queue.
pub async fn request(st: &AppState, actor: &Actor, new: &NewRoute) -> AppResult<RouteOutcome> {
    // Who: a mailbox owner for their own mailbox's forward; otherwise whoever manages the
    // tenant's mailboxes.
    let own = actor.mailbox_id().map(str::to_string);
    let g = match &own {
        Some(_) => authorize(actor, Action::ManageOwnMailbox)?,
        None => authorize(actor, Action::ManageMailboxes)?,
    };
    let now = st.clock.now();
    let mut conn = st.db.pool().acquire().await?;
    // Another tenant's domain reads like one that does not exist.
    let (_, dom) = source_of(&new.kind.trim().to_lowercase(), &new.source)?;
    match domain_named(&mut conn, &dom).await? {
        Some(d) if g.actor.tenants.contains(&d.tenant_id) => {}
        _ => return Err(not_yours(&dom)),
    }
    let c = check(&mut conn, new, own.as_deref(), now).await?;
    let pol = policy(&mut conn, &c.tenant_id).await?;
    drop(conn);
    let g = match &own {
        Some(_) => g,
        None => authorize_in(actor, Action::ManageMailboxes, &c.tenant_id)?,
    };
    if !g.actor.tenants.contains(&c.tenant_id) {
        return Err(AppError::NotFound);
    }
    let mut tx = st.db.begin().await?;
    if c.kind == "alias" && pol.alias_policy == "direct" {
        let (id, _) = insert(st, &mut tx, &g, &c, None, now).await?;
        let mail = tx.commit_outbox().await?;
        crate::mailboxes::service::deliver(st, g.actor, mail, "The alias was created").await?;
        return Ok(RouteOutcome::Created { route_id: id });
    }
    let mut before_conn = st.db.pool().acquire().await?;
    let before = live_route_for(&mut before_conn, &c.source).await?;
    drop(before_conn);
    let change_id = changes::submit(
        st,
        &mut tx,
        &g,
        NewChange {
            tenant_id: &c.tenant_id,
            kind: change_kind(&c.kind),
            // A forward belongs to its mailbox (offboarding cancels it); the rest to the domain.
            target_id: c.source_mailbox_id.as_deref().unwrap_or(&c.domain_id),
            target_label: &c.source,
            payload: serde_json::to_value(&c).map_err(AppError::internal)?,
            before: json!({ "route": before }),
            rollback: Some(json!({ "disable_route_for": c.source })),
            reason: &c.reason,
        },
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(RouteOutcome::Queued { change_id })
}

/// Applies an approved routing request (called by the change-request mechanism in the
/// approving transaction): checks it again against the data as it is now, then writes it.
pub async fn apply(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &ChangeRequest,
    now: i64,
) -> AppResult<Applied> {
    let asked: Checked = serde_json::from_str(&c.payload).map_err(AppError::internal)?;
    let again = NewRoute {
        kind: asked.kind.clone(),
        source: asked.source.trim_start_matches('@').to_string(),
        targets: asked.targets.iter().map(|(a, _)| a.clone()).collect(),
        days: asked.days,
        reason: asked.reason.clone(),
    };
    let fresh = check(tx.conn(), &again, None, now).await?;
    if fresh.tenant_id != c.tenant_id {
        return Err(AppError::Conflict(
            "The domain changed hands meanwhile.".into(),
        ));
    }
    let (id, state) = insert(st, tx, g, &fresh, Some(c), now).await?;
    let until = fresh
        .days
        .and_then(|d| chrono::DateTime::from_timestamp(now + d * 86400, 0))
        .map(|t| format!(" until {}", t.format("%Y-%m-%d")))
        .unwrap_or_default();
    let to = fresh
        .targets
        .iter()
        .map(|(a, _)| a.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let summary = if state == "unconfirmed" {
        format!(
            "Approved: mail for {} will go to {to}{until} once the recipient confirms (route {id}).",
            fresh.source
        )
    } else {
        format!(
            "Mail for {} goes to {to}{until} (route {id}).",
            fresh.source
        )
    };
    Ok(Applied {
        summary,
        after: json!({ "route": id, "renewed": fresh.renews }),
    })
}

/// Undoes an applied change that made a route (a routing request or an offboarding alias):
/// the route it made ends, and a live route it replaced (a renewed forward) is live again
/// unless it has expired meanwhile. Refused when the route it made has ended already or
/// another route has taken the address since.
pub async fn roll_back_route(
    tx: &mut Tx,
    g: &Granted<'_>,
    original: &ChangeRequest,
    now: i64,
) -> AppResult<String> {
    let after: Value = original
        .after
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(AppError::internal)?
        .unwrap_or(Value::Null);
    let route_id = after["route"].as_str().map(str::to_string);
    let made = match &route_id {
        Some(id) => route_by_id(tx.conn(), id).await?,
        None => None,
    }
    .ok_or_else(|| AppError::Conflict("This change made no route to undo.".into()))?;
    if !matches!(made.state.as_str(), "active" | "unconfirmed") {
        let when = made
            .ended_at
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        return Err(AppError::Conflict(format!(
            "The route for {} changed since: it is {}{when} ({}). There is nothing left to undo.",
            made.source,
            made.state,
            made.ended_reason.clone().unwrap_or_default()
        )));
    }
    let why = format!("rolled back ({})", original.id);
    end_route(tx.conn(), &made.id, "removed", &why, now).await?;
    let domain_id = route_domain(tx.conn(), &made.id).await?;
    sync_catch_all(tx.conn(), g, &domain_id).await?;
    let ev = Event::new("route.disabled")
        .target(domain_id.clone())
        .tenant(made.tenant_id.clone())
        .details(json!({
            "route": made.id, "kind": made.kind, "source": made.source, "reason": why,
            "before": made, "after": route_by_id(tx.conn(), &made.id).await?,
        }));
    record(tx, g.actor, now, ev).await?;
    let mut said = format!("The route for {} is off.", made.source);
    if let Some(old_id) = after["renewed"].as_str() {
        let old = route_by_id(tx.conn(), old_id).await?;
        let before_state = serde_json::from_str::<Value>(&original.before)
            .ok()
            .and_then(|b| b["route"]["state"].as_str().map(str::to_string))
            .unwrap_or_else(|| "active".into());
        match old {
            Some(o)
                if o.state == "removed"
                    && o.ended_reason.as_deref() == Some("renewed")
                    && o.expires_at.is_none_or(|e| e > now) =>
            {
                sqlx::query(
                    "UPDATE routes SET state = $2, ended_at = NULL, ended_reason = NULL \
                     WHERE id = $1 AND state = 'removed'",
                )
                .bind(&o.id)
                .bind(&before_state)
                .execute(tx.conn())
                .await?;
                sync_catch_all(tx.conn(), g, &domain_id).await?;
                let ev = Event::new("route.restored")
                    .target(domain_id.clone())
                    .tenant(o.tenant_id.clone())
                    .details(json!({
                        "route": o.id, "source": o.source, "reason": why,
                        "before": o, "after": route_by_id(tx.conn(), &o.id).await?,
                    }));
                record(tx, g.actor, now, ev).await?;
                said.push_str(" The route it replaced is back as it was.");
            }
            Some(_) => said.push_str(
                " The route it replaced has expired or was ended since, so it stays off.",
            ),
            None => {}
        }
    }
    Ok(said)
}

async fn route_domain(conn: &mut AnyConnection, route_id: &str) -> AppResult<String> {
    Ok(sqlx::query("SELECT domain_id FROM routes WHERE id = $1")
        .bind(route_id)
        .fetch_one(conn)
        .await?
        .try_get("domain_id")?)
}

/// Writes a checked route (renewing a live forward ends it first) and its audit event;
/// external recipients get a confirmation link if the tenant asks for one.
async fn insert(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &Checked,
    change: Option<&ChangeRequest>,
    now: i64,
) -> AppResult<(String, &'static str)> {
    let pol = policy(tx.conn(), &c.tenant_id).await?;
    let before = live_route_for(tx.conn(), &c.source).await?;
    if let Some(old) = &c.renews {
        end_route(tx.conn(), old, "removed", "renewed", now).await?;
    }
    let confirm = pol.confirmation && c.kind == "forward";
    let state = if confirm { "unconfirmed" } else { "active" };
    let id = secrets::new_id("rte");
    let expires = c.days.map(|d| now + d * 86400);
    let inserted = sqlx::query(
        "INSERT INTO routes (id, tenant_id, domain_id, kind, source, state, expires_at, reason, \
         change_request_id, requested_by, requested_by_label, approved_by_label, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&id)
    .bind(&c.tenant_id)
    .bind(&c.domain_id)
    .bind(&c.kind)
    .bind(&c.source)
    .bind(state)
    .bind(expires)
    .bind(&c.reason)
    .bind(change.map(|c| c.id.clone()))
    .bind(match change {
        Some(ch) => ch.requested_by.clone(),
        None => g.actor.user_id.clone(),
    })
    .bind(match change {
        Some(ch) => ch.requested_by_label.clone(),
        None => g.actor.label.clone(),
    })
    .bind(change.map(|_| g.actor.label.clone()))
    .bind(now)
    .execute(tx.conn())
    .await;
    if let Err(sqlx::Error::Database(d)) = &inserted {
        if d.is_unique_violation() {
            return Err(AppError::Conflict(format!(
                "{} got a route meanwhile: nothing was changed.",
                c.source
            )));
        }
    }
    inserted?;
    let mut links = Vec::new();
    for (addr, mailbox) in &c.targets {
        let external = mailbox.is_none() && c.kind == "forward";
        let (hash, exp, confirmed) = if external && confirm {
            let token = secrets::new_token("mwf_");
            links.push((addr.clone(), token.clone()));
            (
                Some(secrets::sha256_hex(&token)),
                Some(now + CONFIRM_TTL_SECS),
                None,
            )
        } else {
            (None, None, Some(now))
        };
        sqlx::query(
            "INSERT INTO route_targets (route_id, address, target_mailbox_id, external, \
             confirm_hash, confirm_expires_at, confirmed_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&id)
        .bind(addr)
        .bind(mailbox)
        .bind(external as i64)
        .bind(hash)
        .bind(exp)
        .bind(confirmed)
        .execute(tx.conn())
        .await?;
    }
    sync_catch_all(tx.conn(), g, &c.domain_id).await?;
    let after = route_by_id(tx.conn(), &id).await?;
    let ev = Event::new("route.enabled")
        .target(c.domain_id.clone())
        .tenant(c.tenant_id.clone())
        .details(json!({
            "route": id, "kind": c.kind, "source": c.source, "reason": c.reason,
            "change_request": change.map(|c| c.id.clone()),
            "renews": c.renews, "before": before, "after": after,
        }));
    record(tx, g.actor, now, ev).await?;
    for (to, token) in links {
        let link = format!("{}/routing/confirm/{token}", st.config.public_url());
        tx.mail_after_commit(Mail {
            to: to.clone(),
            subject: format!("Confirm forwarding from {}", c.source),
            body: format!(
                "Mail sent to {} is to be forwarded to you ({to}) until {}.\n\nIf you agree, \
                 confirm here (the link works once and expires in 7 days):\n\n{link}\n\nIf you do \
                 not know why, ignore this message: nothing is forwarded until you confirm.\n",
                c.source,
                expires
                    .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            ),
            link: None,
        });
    }
    Ok((id, state))
}

/// Keeps `domains.catch_all_enabled` in step with the domain's live catch-all route.
async fn sync_catch_all(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
) -> AppResult<()> {
    let live: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM routes WHERE domain_id = $1 \
         AND kind = 'catchall' AND state = 'active'",
    )
    .bind(domain_id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    crate::tenancy::store::set_catch_all(conn, g, domain_id, live > 0).await
}

/// Ends a live route; returns whether it was live.
async fn end_route(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    why: &str,
    now: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE routes SET state = $2, ended_at = $3, ended_reason = $4 WHERE id = $1 \
         AND state IN ('active', 'unconfirmed')",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .bind(why)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Turns a route off at once (switching off is never held for approval). Audited with the
/// route before and after.
pub async fn disable(st: &AppState, actor: &Actor, id: &str, reason: &str) -> AppResult<Route> {
    let r = get(st, actor, id).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &r.tenant_id)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("Say why the route is turned off."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !end_route(tx.conn(), &r.id, "removed", reason, now).await? {
        return Err(AppError::Conflict(format!(
            "This route is {} already.",
            r.state
        )));
    }
    let domain_id = route_domain(tx.conn(), &r.id).await?;
    sync_catch_all(tx.conn(), &g, &domain_id).await?;
    let after = route_by_id(tx.conn(), &r.id).await?;
    let ev = Event::new("route.disabled")
        .target(domain_id)
        .tenant(r.tenant_id.clone())
        .details(json!({
            "route": r.id, "kind": r.kind, "source": r.source, "reason": reason,
            "before": r, "after": after,
        }));
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    after.ok_or(AppError::NotFound)
}

/// Ends every route from or to a mailbox that is being offboarded (in its transaction);
/// returns how many routes ended.
pub async fn end_for_mailbox(
    tx: &mut Tx,
    g: &Granted<'_>,
    mailbox_id: &str,
    address: &str,
    now: i64,
) -> AppResult<i64> {
    let ids: Vec<(String, String, String)> = sqlx::query(
        "SELECT DISTINCT r.id, r.domain_id, r.tenant_id FROM routes r \
         LEFT JOIN route_targets t ON t.route_id = r.id \
         WHERE r.state IN ('active', 'unconfirmed') AND r.kind <> 'offboarding' \
         AND (r.source = $1 OR t.target_mailbox_id = $2)",
    )
    .bind(address)
    .bind(mailbox_id)
    .fetch_all(tx.conn())
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("domain_id")?,
            r.try_get("tenant_id")?,
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;
    for (id, domain, tenant) in &ids {
        let before = route_by_id(tx.conn(), id).await?;
        end_route(tx.conn(), id, "removed", "mailbox offboarded", now).await?;
        sync_catch_all(tx.conn(), g, domain).await?;
        let ev = Event::new("route.disabled")
            .target(domain.clone())
            .tenant(tenant.clone())
            .details(json!({
                "route": id, "reason": "mailbox offboarded", "mailbox": address,
                "before": before, "after": route_by_id(tx.conn(), id).await?,
            }));
        record(tx, g.actor, now, ev).await?;
    }
    Ok(ids.len() as i64)
}

/// Counts the live routes from or to a mailbox (the offboarding preview and scan).
pub async fn count_for_mailbox(
    conn: &mut AnyConnection,
    mailbox_id: &str,
    address: &str,
) -> AppResult<i64> {
    Ok(sqlx::query(
        "SELECT CAST(COUNT(DISTINCT r.id) AS BIGINT) AS n FROM routes r \
         LEFT JOIN route_targets t ON t.route_id = r.id \
         WHERE r.state IN ('active', 'unconfirmed') AND r.kind <> 'offboarding' \
         AND (r.source = $1 OR t.target_mailbox_id = $2)",
    )
    .bind(address)
    .bind(mailbox_id)
    .fetch_one(conn)
    .await?
    .try_get("n")?)
}

/// Writes the offboarding alias of an approved offboarding (the mailboxes service has
/// checked the colleague): mail to the old address goes to them for `days`.
#[allow(clippy::too_many_arguments)]
pub async fn insert_offboarding_alias(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &ChangeRequest,
    address: &str,
    target_id: &str,
    target_address: &str,
    days: i64,
    now: i64,
) -> AppResult<String> {
    let domain_id: String = sqlx::query("SELECT domain_id FROM mailboxes WHERE address = $1")
        .bind(address)
        .fetch_one(tx.conn())
        .await?
        .try_get("domain_id")?;
    let checked = Checked {
        kind: "offboarding".into(),
        tenant_id: c.tenant_id.clone(),
        domain_id,
        source: address.to_string(),
        source_mailbox_id: None,
        targets: vec![(target_address.to_string(), Some(target_id.to_string()))],
        days: Some(days),
        reason: c.reason.clone(),
        renews: None,
    };
    Ok(insert(st, tx, g, &checked, Some(c), now).await?.0)
}

// ---------- recipient confirmation ----------

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

// ---------- the sweep ----------

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Swept {
    pub expired: usize,
    pub reminded: usize,
}

/// Turns off routes whose time is up (and forwards whose recipient let the confirmation
/// link lapse) and reminds requesters of routes ending within a
/// week (once each). Idempotent: each step is a conditional update, so a second run, or a
/// run on another instance, finds nothing left to do.
pub async fn sweep(st: &AppState) -> AppResult<Swept> {
    let sys = Actor::system("routing sweep");
    let g = authorize(&sys, Action::ManageMailboxes)?;
    let now = st.clock.now();
    let mut out = Swept::default();
    let mut tx = st.db.begin().await?;
    let expired = sqlx::query(
        "UPDATE routes SET state = 'expired', ended_at = $1, ended_reason = CASE \
         WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 'expired' \
         ELSE 'not confirmed in time' END \
         WHERE state IN ('active', 'unconfirmed') AND ((expires_at IS NOT NULL AND expires_at <= $1) \
         OR (state = 'unconfirmed' AND EXISTS (SELECT 1 FROM route_targets t \
             WHERE t.route_id = routes.id AND t.confirmed_at IS NULL AND t.confirm_expires_at <= $1))) \
         RETURNING id, domain_id, tenant_id, kind, source, expires_at, ended_reason",
    )
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    for r in &expired {
        let id: String = r.try_get("id")?;
        let domain: String = r.try_get("domain_id")?;
        sync_catch_all(tx.conn(), &g, &domain).await?;
        let after = route_by_id(tx.conn(), &id).await?;
        let ev = Event::new("route.expired")
            .target(domain)
            .tenant(r.try_get::<String, _>("tenant_id")?)
            .details(json!({
                "route": id, "kind": r.try_get::<String, _>("kind")?,
                "source": r.try_get::<String, _>("source")?,
                "expires_at": r.try_get::<Option<i64>, _>("expires_at")?,
                "why": r.try_get::<String, _>("ended_reason")?,
                "after": after,
            }));
        record(&mut tx, &sys, now, ev).await?;
    }
    out.expired = expired.len();
    // Reminders: to the requester, once, a week ahead.
    let due = sqlx::query(
        "UPDATE routes SET reminded_at = $1 WHERE state = 'active' AND reminded_at IS NULL \
         AND expires_at IS NOT NULL AND expires_at > $1 AND expires_at <= $2 \
         RETURNING id, domain_id, tenant_id, kind, source, expires_at, requested_by, requested_by_label",
    )
    .bind(now)
    .bind(now + REMIND_BEFORE_SECS)
    .fetch_all(tx.conn())
    .await?;
    for r in &due {
        let id: String = r.try_get("id")?;
        let source: String = r.try_get("source")?;
        let kind: String = r.try_get("kind")?;
        let expires: i64 = r.try_get("expires_at")?;
        let by: Option<String> = r.try_get("requested_by")?;
        // The console user who asked, or the mailbox owner who asked from /me.
        let email: Option<String> = match &by {
            Some(u) => sqlx::query("SELECT email FROM users WHERE id = $1 AND status = 'active'")
                .bind(u)
                .fetch_optional(tx.conn())
                .await?
                .map(|r| r.try_get("email"))
                .transpose()?,
            None => sqlx::query(
                "SELECT address FROM mailboxes WHERE address = $1 AND status IN ('active', 'locked')",
            )
            .bind(r.try_get::<String, _>("requested_by_label")?)
            .fetch_optional(tx.conn())
            .await?
            .map(|r| r.try_get("address"))
            .transpose()?,
        };
        let until = chrono::DateTime::from_timestamp(expires, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        if let (Some(to), true) = (&email, st.mailer.is_configured()) {
            tx.mail_after_commit(Mail {
                to: to.clone(),
                subject: format!("{} for {source} ends {until}", super::kind_label(&kind)),
                body: format!(
                    "The {} you requested for {source} stops on {until}.\n\nIf it is still needed, \
                     request it again at {}/routing: a renewal is a new request another person approves.\n\
                     If not, nothing to do: it turns itself off.\n",
                    super::kind_label(&kind).to_lowercase(),
                    st.config.public_url()
                ),
                link: None,
            });
        }
        let ev = Event::new("route.expiry_reminder")
            .target(r.try_get::<String, _>("domain_id")?)
            .tenant(r.try_get::<String, _>("tenant_id")?)
            .details(json!({
                "route": id, "source": source, "expires_at": expires, "emailed_to": email,
            }));
        record(&mut tx, &sys, now, ev).await?;
    }
    out.reminded = due.len();
    let mail = tx.commit_outbox().await?;
    for m in mail {
        if let Err(e) = st.mailer.send(&m.to, &m.subject, m.body).await {
            tracing::warn!(error = %e, "expiry reminder not sent");
        }
    }
    Ok(out)
}

/// The recurring job around [`sweep`].
pub async fn sweep_job(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    let r = sweep(st).await;
    if let Err(e) = &r {
        tracing::warn!(error = %e, "routing sweep");
    }
    crate::core::jobs::reschedule(st, id, worker, SWEEP_EVERY_SECS).await?;
    r.map(|_| ())
}

// ---------- report and badges ----------

/// The persistence report: every live route that sends mail somewhere its mailbox owner
/// does not read — external forwards, catch-alls, aliases with a target outside their
/// tenant — with age, expiry, requester and approver. (Mailward has no delegations yet.)
pub async fn report(
    st: &AppState,
    actor: &Actor,
    tenant: Option<&str>,
    since: Option<i64>,
) -> AppResult<Vec<PersistenceItem>> {
    let routes = list(
        st,
        actor,
        &RouteFilter {
            tenant: tenant.map(str::to_string),
            since,
            ..Default::default()
        },
    )
    .await?;
    let now = st.clock.now();
    let mut conn = st.db.pool().acquire().await?;
    let mut out = Vec::new();
    for r in routes {
        let outside = match r.kind.as_str() {
            "forward" | "catchall" => true,
            _ => {
                // A target mailbox of another tenant (never made here, but reported if found).
                let mut other = r.leaves_tenant();
                for t in r.targets.iter().filter(|t| !t.external) {
                    if let Some((_, tid, _)) = mailbox_at(&mut conn, &t.address).await? {
                        other |= tid != r.tenant_id;
                    }
                }
                other
            }
        };
        if !outside {
            continue;
        }
        out.push(PersistenceItem {
            route_id: r.id.clone(),
            kind: r.kind.clone(),
            tenant: r.tenant_name.clone(),
            source: r.source.clone(),
            targets: r.targets.iter().map(|t| t.address.clone()).collect(),
            state: r.state.clone(),
            created_at: r.created_at,
            age_days: (now - r.created_at).max(0) / 86400,
            expires_at: r.expires_at,
            requested_by: r.requested_by_label.clone(),
            approved_by: r.approved_by_label.clone(),
            reason: r.reason.clone(),
        });
    }
    Ok(out)
}

/// The report as CSV (one line per route; targets separated by spaces).
pub fn report_csv(items: &[PersistenceItem]) -> String {
    let ts = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    };
    let mut c = crate::core::csv::Csv::new(&[
        "route_id",
        "kind",
        "tenant",
        "source",
        "targets",
        "state",
        "created_at",
        "age_days",
        "expires_at",
        "requested_by",
        "approved_by",
        "reason",
    ]);
    for i in items {
        c.text(&i.route_id)
            .text(&i.kind)
            .text(&i.tenant)
            .text(&i.source)
            .text(&i.targets.join(" "))
            .text(&i.state)
            .text(&ts(i.created_at))
            .num(i.age_days)
            .text(&i.expires_at.map(ts).unwrap_or_default())
            .text(&i.requested_by)
            .text(i.approved_by.as_deref().unwrap_or(""))
            .text(&i.reason);
        c.end_row();
    }
    c.finish()
}

pub async fn badges(st: &AppState, actor: &Actor) -> AppResult<RoutingBadges> {
    let g = authorize(actor, Action::ViewDashboard)?;
    let now = st.clock.now();
    let mut w = Where::new();
    w.scope("r.tenant_id", &g.actor.tenants);
    let n = w.arg(now);
    let soon = w.arg(now + REMIND_BEFORE_SECS);
    let sql = format!(
        "SELECT \
         CAST(COUNT(DISTINCT CASE WHEN r.kind = 'catchall' AND r.state = 'active' THEN r.domain_id END) AS BIGINT) AS catchall, \
         CAST(COUNT(CASE WHEN r.kind = 'forward' THEN 1 END) AS BIGINT) AS forwards, \
         CAST(COUNT(CASE WHEN r.kind IN ('forward', 'catchall') AND r.expires_at > {n} AND r.expires_at <= {soon} THEN 1 END) AS BIGINT) AS soon \
         FROM routes r{} {} r.state IN ('active', 'unconfirmed')",
        w.sql(),
        if w.sql().is_empty() { "WHERE" } else { "AND" }
    );
    let r = w.bind(sqlx::query(&sql)).fetch_one(st.db.pool()).await?;
    let mut cw = Where::new();
    cw.scope("tenant_id", &g.actor.tenants);
    let csql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM change_requests{} {} state = 'pending' AND kind LIKE 'routing.%'",
        cw.sql(),
        if cw.sql().is_empty() { "WHERE" } else { "AND" }
    );
    let pending: i64 = cw
        .bind(sqlx::query(&csql))
        .fetch_one(st.db.pool())
        .await?
        .try_get("n")?;
    Ok(RoutingBadges {
        catchall_domains: r.try_get("catchall")?,
        external_forwards: r.try_get("forwards")?,
        expiring_within_7_days: r.try_get("soon")?,
        pending_approvals: pending,
    })
}

/// A domain's routing history: every route event, newest first.
pub async fn history(
    st: &AppState,
    actor: &Actor,
    domain_id: &str,
) -> AppResult<Vec<crate::audit::AuditEvent>> {
    let g = authorize(actor, Action::ViewAudit)?;
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let d = w.arg(domain_id.to_string());
    w.and(format!("target = {d} AND action LIKE 'route.%'"));
    let sql = format!(
        "SELECT * FROM audit_events{} ORDER BY seq DESC LIMIT 200",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(st.db.pool()).await?;
    rows.iter()
        .map(crate::audit::service::row_to_event)
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}
