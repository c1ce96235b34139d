//! Email as identity: the outside services that use a mailbox as their sign-in or recovery
//! address, entered by its owner (`/me`) or by whoever manages it. A mailbox with entries
//! that is not marked critical is proposed as critical; an incident lists them.
use serde_json::json;

use super::super::{store, Identity, Mailbox, NewIdentity};
use super::get;
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::state::AppState;
use crate::core::{secrets, AppError, AppResult};

/// Services one mailbox may list.
pub const MAX_IDENTITIES: i64 = 100;

/// The mailbox and the proof to change its list: its owner (`key` ignored: their own), or
/// someone who manages its tenant's mailboxes.
async fn target<'a>(
    st: &AppState,
    actor: &'a Actor,
    key: &str,
) -> AppResult<(Mailbox, Granted<'a>)> {
    if let Some(own) = actor.mailbox_id() {
        let g = authorize(actor, Action::ManageOwnMailbox)?;
        let m = store::get(&st.db, &g, own)
            .await?
            .ok_or(AppError::NotFound)?;
        return Ok((m, g));
    }
    let m = get(st, actor, key).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &m.tenant_id)?;
    Ok((m, g))
}

/// The services of one mailbox (its owner: their own).
pub async fn identities(st: &AppState, actor: &Actor, key: &str) -> AppResult<Vec<Identity>> {
    let m = match actor.mailbox_id() {
        Some(own) => {
            let g = authorize(actor, Action::ManageOwnMailbox)?;
            store::get(&st.db, &g, own)
                .await?
                .ok_or(AppError::NotFound)?
        }
        None => get(st, actor, key).await?,
    };
    store::identities(&st.db, &[m.id.as_str()]).await
}

/// The services of a tenant's mailboxes (or, for `None`, of every mailbox one sees), at
/// most 1,000 — for an incident's report.
pub async fn identities_in(
    st: &AppState,
    actor: &Actor,
    tenant_id: Option<&str>,
) -> AppResult<Vec<Identity>> {
    let g = match tenant_id {
        Some(t) => authorize_in(actor, Action::ViewTenants, t)?,
        None => authorize(actor, Action::ViewTenants)?,
    };
    store::identities_in(&st.db, &g, tenant_id, 1000).await
}

/// Adds a service to a mailbox's list. Audited as `mailbox.identity_added`.
pub async fn add_identity(
    st: &AppState,
    actor: &Actor,
    key: &str,
    input: &NewIdentity,
) -> AppResult<Identity> {
    let (m, g) = target(st, actor, key).await?;
    let service = input.service.trim();
    let note = input.note.trim();
    if service.is_empty() || service.chars().count() > 120 {
        return Err(AppError::invalid(
            "Name the service (at most 120 characters), such as “Registrar account” or “Bank”.",
        ));
    }
    if note.chars().count() > 500 {
        return Err(AppError::invalid("Keep the note under 500 characters."));
    }
    if service.chars().chain(note.chars()).any(char::is_control) {
        return Err(AppError::invalid("Use plain text, on one line."));
    }
    let now = st.clock.now();
    let id = secrets::new_id("idn");
    let mut tx = st.db.begin().await?;
    if store::identity_count(tx.conn(), &m.id).await? >= MAX_IDENTITIES {
        return Err(AppError::invalid(format!(
            "A mailbox lists at most {MAX_IDENTITIES} services."
        )));
    }
    if !store::add_identity(tx.conn(), &g, &m, &id, service, note, now).await? {
        return Err(AppError::Conflict(format!(
            "{} already lists {service}.",
            m.address
        )));
    }
    record(
        &mut tx,
        actor,
        now,
        Event::new("mailbox.identity_added")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({ "address": m.address, "service": service, "note": note, "critical": m.critical })),
    )
    .await?;
    tx.commit().await?;
    Ok(Identity {
        id,
        mailbox_id: m.id.clone(),
        address: m.address.clone(),
        service: service.to_string(),
        note: note.to_string(),
        added_by: actor.label.clone(),
        added_at: now,
    })
}

/// Removes a service from a mailbox's list. Audited as `mailbox.identity_removed`.
pub async fn remove_identity(st: &AppState, actor: &Actor, key: &str, id: &str) -> AppResult<()> {
    let (m, g) = target(st, actor, key).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(service) = store::remove_identity(tx.conn(), &g, &m, id).await? else {
        return Err(AppError::NotFound);
    };
    record(
        &mut tx,
        actor,
        now,
        Event::new("mailbox.identity_removed")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({ "address": m.address, "service": service })),
    )
    .await?;
    tx.commit().await
}
