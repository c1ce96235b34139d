//! Routing's registered kinds: the three governed route changes and the recurring sweep.
use async_trait::async_trait;

use super::service;
use crate::changes::ChangeRequest;
use crate::core::authz::{Action, Granted};
use crate::core::db::Tx;
use crate::core::registry::{Applied, ChangeKind, JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// Routing's change and job kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(RouteChange("routing.alias"))
        .change(RouteChange("routing.forward"))
        .change(RouteChange("routing.catchall"))
        .job(Sweep)
}

/// An alias, external forward or catch-all waiting for a second person: applying makes the
/// route; rolling back ends it (and brings back a forward it renewed).
struct RouteChange(&'static str);

#[async_trait]
impl ChangeKind for RouteChange {
    fn kind(&self) -> &'static str {
        self.0
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
        service::apply(st, tx, g, c, now).await
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        service::roll_back_route(tx, g, original, now).await
    }
}

/// Turns expired routes off and sends the week-before reminders, every few minutes.
struct Sweep;

#[async_trait]
impl JobKind for Sweep {
    fn kind(&self) -> &'static str {
        "routing.sweep"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_routing_sweep")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        service::sweep_job(st, id, worker).await
    }
}
