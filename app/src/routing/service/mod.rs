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
use sqlx::AnyConnection;

use super::store;
use super::{NewRoute, PersistenceItem, Route, RouteOutcome, RoutingBadges, RoutingPolicy};
use crate::audit::service::{record, Event};
use crate::changes::service::{self as changes, NewChange};
use crate::changes::ChangeRequest;
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::db::Tx;
use crate::core::mailer::Mail;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::{readable, ChangeRow, EmailAddress, MailboxRoute};

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
    store::targets(conn, &address.trim().to_lowercase(), now).await
}

/// The routes from `address` that carry mail to live mailboxes now (the mailbox page).
pub async fn aliases_to_mailboxes(
    st: &AppState,
    address: &str,
) -> AppResult<Vec<crate::mailboxes::AliasView>> {
    Ok(store::aliases_to_mailboxes(&st.db, address, st.clock.now())
        .await?
        .into_iter()
        .map(
            |(address, target, expires_at)| crate::mailboxes::AliasView {
                address,
                target,
                expires_at,
            },
        )
        .collect())
}

// ---------- reading ----------

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
    store::list(&st.db, &g, f).await
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
    store::by_id(conn, id).await
}

async fn live_route_for(conn: &mut AnyConnection, source: &str) -> AppResult<Option<Route>> {
    Ok(store::live_from(conn, source).await?.into_iter().next())
}

/// A mailbox owner's view: the live routes of their own address, and how many forward
/// requests of theirs wait for approval.
pub async fn own_routes(st: &AppState, actor: &Actor) -> AppResult<(Vec<Route>, i64)> {
    authorize(actor, Action::ManageOwnMailbox)?;
    let id = actor.mailbox_id().ok_or(AppError::Forbidden)?;
    let mut conn = st.db.pool().acquire().await?;
    let routes = store::live_from(&mut conn, &actor.label).await?;
    let pending =
        crate::changes::store::pending_for_target(&mut conn, id, "routing.forward").await?;
    Ok((routes, pending))
}
