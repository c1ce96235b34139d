//! The mailboxes capability's registered change kinds: the reset of a critical mailbox and
//! the alias an offboarding leaves to a colleague.
use async_trait::async_trait;

use super::service;
use crate::changes::ChangeRequest;
use crate::core::authz::{Action, Granted};
use crate::core::db::Tx;
use crate::core::registry::{Applied, ChangeKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// The mailboxes capability's change kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(Reset).change(OffboardingAlias)
}

/// A reset of a critical mailbox: applying issues the reset link; rolling back revokes it
/// (while unused) and puts the status back.
struct Reset;

#[async_trait]
impl ChangeKind for Reset {
    fn kind(&self) -> &'static str {
        "mailbox.reset"
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        service::apply_reset(st, tx, g, c, now).await
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        service::roll_back_reset(tx, g, original, now).await
    }
}

/// Mail to an offboarded address goes to a colleague for a while: applying makes that
/// route; rolling back ends it.
struct OffboardingAlias;

#[async_trait]
impl ChangeKind for OffboardingAlias {
    fn kind(&self) -> &'static str {
        "mailbox.alias"
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        service::apply_alias(st, tx, g, c, now).await
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        crate::routing::service::roll_back_route(tx, g, original, now).await
    }
}
