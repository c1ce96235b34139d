//! Mailbox use cases.
use super::{store, Mailbox};
use crate::core::authz::{authorize_in, Action, Actor};
use crate::core::state::AppState;
use crate::core::AppResult;

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
