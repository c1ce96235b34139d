//! The registry's registered kinds: the recurring check of every record's warnings.
use async_trait::async_trait;

use crate::core::registry::{JobKind, Registry};
use crate::core::state::AppState;
use crate::core::AppResult;

pub fn register(r: Registry) -> Registry {
    r.job(Check)
}

/// Seconds between two checks (expiry is counted in days; an hour is early enough).
pub const CHECK_EVERY: i64 = 3600;

/// Looks at every record's warnings at the current time and raises each new one as an alert.
struct Check;

#[async_trait]
impl JobKind for Check {
    fn kind(&self) -> &'static str {
        "domain_control.check"
    }
    fn recurring(&self) -> Option<&'static str> {
        Some("job_domain_control_check")
    }
    async fn run(&self, st: &AppState, id: &str, worker: &str) -> AppResult<()> {
        let r = super::service::check(st).await;
        match &r {
            Ok(n) if *n > 0 => tracing::info!(alerts = n, "domain control check"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "domain control check"),
        }
        crate::core::jobs::reschedule(st, id, worker, CHECK_EVERY).await?;
        r.map(|_| ())
    }
}
