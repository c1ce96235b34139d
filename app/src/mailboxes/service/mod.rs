//! Mailbox use cases. Each mutation: authorize → store calls → audit event, in one
//! transaction. Secrets (links, passwords, recovery codes, app passwords) are generated
//! here, stored only as hashes, and handed back once.
//!
//! One file per use case: [`provisioning`], [`owner`] (the owner's own area), [`resets`],
//! [`offboarding`]; this file holds reading and the helpers they share. Everything is
//! re-exported here, so callers name `mailboxes::service::…` whatever the file.
use serde_json::json;

use super::{
    parse_quota, store, Activation, AppPassword, Mailbox, MailboxInvite, NewMailbox,
    OffboardingReceipt, ResetBurst, Revocations, ScanCheck,
};
use crate::audit::service::{record, record_alone, record_many, Event};
use crate::audit::AuditEvent;
use crate::auth::service::Attempt;
use crate::changes::service::{self as changes, NewChange};
use crate::changes::ChangeRequest;
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted, Principal, TenantScope};
use crate::core::db::Tx;
use crate::core::mailer::Mail;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::{EmailAddress, MailboxRoute, MailboxStatus, Repoint};

mod delegations;
mod editing;
mod identities;
mod offboarding;
mod owner;
mod provisioning;
mod resets;
mod retention;
pub use delegations::*;
pub use editing::*;
pub use identities::*;
pub use offboarding::*;
pub use owner::*;
pub use provisioning::*;
pub use resets::*;
pub use retention::*;

pub const BAD_LINK: &str =
    "This link is not valid any more. Ask whoever manages your mailbox for a new one.";
const NEUTRAL_SIGNIN: &str = "Sign-in failed. Check the address and password, and try again.";
const LOCKED_SIGNIN: &str = "This mailbox is locked: its password does not open it, here or in a \
                             mail app. Contact your administrator; they can send you a link to \
                             set a new password.";
const NEUTRAL_RESET: &str =
    "That did not work. Check the mailbox address and the recovery code, and try again.";
const THROTTLED: &str =
    "Too many failed attempts. This is paused for up to 15 minutes; try again later.";
/// Failed attempts allowed per mailbox and per address within the throttle window
/// (`auth::service::FAILURE_WINDOW_SECS`).
pub const MAX_FAILURES: i64 = 5;

// ---------- reading ----------

/// The mailboxes of one tenant the actor can see (at most 1,000, by address).
pub async fn of_tenant(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<Vec<Mailbox>> {
    let g = authorize_in(actor, Action::ViewTenants, tenant_id)?;
    store::list(&st.db, &g, tenant_id, None, 1000).await
}

/// The mailboxes of one domain (at most 1,000, by address).
pub async fn of_domain(
    st: &AppState,
    actor: &Actor,
    domain: &crate::tenancy::Domain,
) -> AppResult<Vec<Mailbox>> {
    let g = authorize_in(actor, Action::ViewTenants, &domain.tenant_id)?;
    store::list(&st.db, &g, &domain.tenant_id, Some(&domain.id), 1000).await
}

/// Mailboxes across the actor's tenants (search, status, page of 100) and the total.
pub async fn search(
    st: &AppState,
    actor: &Actor,
    q: &super::MailboxQuery,
) -> AppResult<(Vec<super::MailboxRow>, i64)> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::search(&st.db, &g, q).await
}

/// One mailbox by id or address (another tenant's: not found).
pub async fn get(st: &AppState, actor: &Actor, key: &str) -> AppResult<Mailbox> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::get(&st.db, &g, key).await?.ok_or(AppError::NotFound)
}

/// A mailbox and the right to act on it.
async fn managed<'a>(
    st: &AppState,
    actor: &'a Actor,
    key: &str,
    action: Action,
) -> AppResult<(Mailbox, Granted<'a>)> {
    let m = get(st, actor, key).await?;
    authorize_in(actor, Action::ManageMailboxes, &m.tenant_id)?;
    let g = authorize_in(actor, action, &m.tenant_id)?;
    Ok((m, g))
}

/// Everything the mailbox page shows besides the mailbox.
pub struct Extras {
    pub invite: Option<MailboxInvite>,
    pub app_passwords: Vec<AppPassword>,
    pub recovery_codes_left: i64,
    pub changes: Vec<ChangeRequest>,
    pub receipt: Option<OffboardingReceipt>,
    pub events: Vec<AuditEvent>,
    pub reveal: RevealPolicy,
}

pub async fn extras(st: &AppState, actor: &Actor, m: &Mailbox) -> AppResult<Extras> {
    authorize_in(actor, Action::ViewTenants, &m.tenant_id)?;
    let now = st.clock.now();
    let (invite, app_passwords, recovery_codes_left, changes, receipt, events, reveal) = tokio::try_join!(
        store::open_invite(&st.db, &m.id, now),
        store::app_passwords(&st.db, &m.id),
        store::codes_left(&st.db, &m.id),
        changes::list(st, actor, changes::Filter::Target(&m.id)),
        latest_receipt(st, &m.id),
        events_about(st, &m.id, None, 20),
        reveal_policy(st, m),
    )?;
    Ok(Extras {
        invite,
        app_passwords,
        recovery_codes_left,
        changes,
        receipt,
        events,
        reveal,
    })
}

/// Audit events about one mailbox, newest first (optionally only some actions).
async fn events_about(
    st: &AppState,
    mailbox_id: &str,
    actions: Option<&[&str]>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let actions = match actions {
        Some(a) => crate::audit::service::Actions::OneOf(a),
        None => crate::audit::service::Actions::Any,
    };
    // The mailbox was found in the actor's scope: its events are theirs to see.
    crate::audit::service::about(
        &st.db,
        &crate::core::authz::TenantScope::All,
        mailbox_id,
        actions,
        limit,
    )
    .await
}

/// Whether an operator may reveal a mailbox's invitation link, and why not.
#[derive(Clone, Debug, PartialEq)]
pub enum RevealPolicy {
    Allowed,
    Forbidden(String),
}

pub(crate) async fn reveal_policy(st: &AppState, m: &Mailbox) -> AppResult<RevealPolicy> {
    let policy: String =
        crate::tenancy::store::reveal_policy(&mut *st.db.pool().acquire().await?, &m.tenant_id)
            .await?;
    Ok(match policy.as_str() {
        "forbidden" => RevealPolicy::Forbidden(
            "This tenant's policy forbids revealing invitation links: they go by email only."
                .into(),
        ),
        "not_critical" if m.critical => RevealPolicy::Forbidden(
            "Links of critical mailboxes are never revealed (tenant policy): they go by email only."
                .into(),
        ),
        _ => RevealPolicy::Allowed,
    })
}
