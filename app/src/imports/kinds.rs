//! The imports capability's registered job kind: a CSV import run in batches.
use async_trait::async_trait;

use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

/// The imports capability's kinds, for `server::kinds()`.
pub fn register(r: Registry) -> Registry {
    r.job(Import)
}

/// A started CSV import: creates the mailboxes in batches, then issues the invitations.
struct Import;

#[async_trait]
impl JobKind for Import {
    fn kind(&self) -> &'static str {
        "import"
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        super::service::run(st, id, worker).await
    }
}
