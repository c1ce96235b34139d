//! Routing's registered kinds: the three governed route changes (implemented beside their use
//! case, `service/requests.rs` `RouteChange`), the offboarding alias (`mailbox.alias`, asked
//! for by an offboarding: a route to a colleague), the routes offboarding ends
//! (`RoutesOfMailbox`), and the recurring sweep.
use async_trait::async_trait;

use super::service::{self, OffboardingAliasKind, RouteChange, RoutesOfMailbox};
use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// Routing's change and job kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.change(RouteChange("routing.alias"))
        .change(RouteChange("routing.forward"))
        .change(RouteChange("routing.catchall"))
        .change(OffboardingAliasKind)
        .mailbox_links(RoutesOfMailbox)
        .job(Sweep)
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
