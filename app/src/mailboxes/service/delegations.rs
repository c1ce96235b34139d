//! Delegation: another mailbox of the same tenant may send as a mailbox — its address as the
//! sender, through submission, signed in as itself (Postfix's sender-login map reads
//! `mail_sender_logins`, so a grant or a revocation is in force at the next message) — and
//! open its folders over IMAP, read-only or read-write, under `Shared/<address>/` (Dovecot's
//! ACL on the mailbox names two groups; the userdb puts a delegate in them from
//! `mail_shared_groups`, so a grant is in force at its next IMAP session, and a revocation
//! ends its live ones).
//! Granted and revoked by whoever manages the tenant's mailboxes (`Action::DelegateMailbox`)
//! or by the mailbox's owner on their own page (`Action::DelegateOwnMailbox`), both frozen
//! during an incident (a delegation is a way to keep access); audited; listed on both
//! mailboxes, in the persistence report and the incident hunt; revoked both ways when either
//! mailbox is offboarded.
use serde_json::json;

use super::super::{store, Delegation, Delegations, NewDelegation};
use super::get;
use crate::audit::service::{record, Event};
use crate::core::authz::{
    authorize, authorize_in, authorize_protective, authorize_protective_in, Action, Actor, Granted,
};
use crate::core::doveadm;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::mailboxes::Mailbox;
use crate::types::{FolderAccess, MailboxStatus};

/// Delegates one mailbox may have.
pub const MAX_DELEGATES: i64 = 50;

/// The mailbox `key` and the right to delegate it: a mailbox owner's own (`key` is not looked
/// at), or a mailbox of a tenant the actor manages. `protective`: revoking, which an incident
/// does not stop.
async fn delegated<'a>(
    st: &AppState,
    actor: &'a Actor,
    key: &str,
    protective: bool,
) -> AppResult<(Mailbox, Granted<'a>)> {
    if let Some(own) = actor.mailbox_id() {
        let g = if protective {
            authorize_protective(actor, Action::DelegateOwnMailbox)?
        } else {
            authorize(actor, Action::DelegateOwnMailbox)?
        };
        let m = store::get(&st.db, &g, own)
            .await?
            .ok_or(AppError::NotFound)?;
        return Ok((m, g));
    }
    let m = get(st, actor, key).await?;
    let g = if protective {
        authorize_protective_in(actor, Action::DelegateMailbox, &m.tenant_id)?
    } else {
        authorize_in(actor, Action::DelegateMailbox, &m.tenant_id)?
    };
    Ok((m, g))
}

/// A mailbox's delegations both ways (a mailbox owner: their own).
pub async fn delegations(st: &AppState, actor: &Actor, key: &str) -> AppResult<Delegations> {
    let m = match actor.mailbox_id() {
        Some(_) => delegated(st, actor, key, true).await?.0,
        None => get(st, actor, key).await?,
    };
    store::delegations(&st.db, &m.id).await
}

/// The delegations of a tenant (or of every tenant one sees) made at or after `since`, at
/// most 1,000: the persistence report's and the incident hunt's.
pub async fn delegations_in(
    st: &AppState,
    actor: &Actor,
    tenant_id: Option<&str>,
    since: i64,
) -> AppResult<Vec<Delegation>> {
    let g = match tenant_id {
        Some(t) => authorize_in(actor, Action::ViewTenants, t)?,
        None => authorize(actor, Action::ViewTenants)?,
    };
    store::delegations_in(&st.db, &g, tenant_id, since, 1000).await
}

/// Delegates the mailbox `key` to the mailbox `new.delegate` (an address or id of the same
/// tenant): sending as it, its folders, or both. Audited as `mailbox.delegation_granted`.
/// Opening folders needs the mail plane's doveadm API (the mailbox's ACL is set there first;
/// nothing is recorded when it cannot be).
pub async fn grant_delegation(
    st: &AppState,
    actor: &Actor,
    key: &str,
    new: &NewDelegation,
) -> AppResult<Delegation> {
    let (m, g) = delegated(st, actor, key, false).await?;
    if actor.mailbox_id().is_some() {
        // The owner's own mailbox: their password again, as for app passwords.
        super::owner::confirm_current(st, &m.id, new.current.as_deref().unwrap_or("")).await?;
    }
    if !new.send_as && new.folders == FolderAccess::None {
        return Err(AppError::invalid_field(
            "send_as",
            "Choose what the delegate may do: send as this mailbox, open its folders, or both.",
        ));
    }
    if new.folders != FolderAccess::None && st.config.doveadm_url.is_none() {
        return Err(AppError::invalid_field(
            "folders",
            "Sharing folders needs the mail plane's doveadm API, and Mailward has no doveadm_url set.",
        ));
    }
    let delegate = new.delegate.trim().to_lowercase();
    if delegate.is_empty() {
        return Err(AppError::invalid_field(
            "delegate",
            "Give the address of the mailbox that may send as this one.",
        ));
    }
    let d = match store::get(&st.db, &g, &delegate).await? {
        Some(d) if d.tenant_id == m.tenant_id => d,
        _ => {
            return Err(AppError::invalid_field(
                "delegate",
                format!("{delegate} is not a mailbox of this tenant."),
            ))
        }
    };
    if d.shared {
        return Err(AppError::invalid_field(
            "delegate",
            format!(
                "{} is a shared mailbox: nobody signs in to it to use a delegation.",
                d.address
            ),
        ));
    }
    if d.id == m.id {
        return Err(AppError::invalid_field(
            "delegate",
            "A mailbox sends as itself already.",
        ));
    }
    for (who, b) in [(&m, "this mailbox"), (&d, "the delegate")] {
        if who.status == MailboxStatus::Offboarded {
            return Err(AppError::invalid_field(
                "delegate",
                format!("{} ({b}) is offboarded.", who.address),
            ));
        }
    }
    if new.folders != FolderAccess::None {
        // The same ACL for every grant of this mailbox: set before anything is recorded, so a
        // grant never says more than the mail plane does.
        doveadm::share_folders(&st.config, &m.address, &m.id)
            .await
            .map_err(|e| {
                AppError::Unavailable(format!(
                    "Nothing was granted: the mail plane could not open {}'s folders ({e}).",
                    m.address
                ))
            })?;
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    // Both rows held to the end (in id order: two grants the other way round wait, never
    // deadlock): an offboarding that runs meanwhile is seen, and the count below is exact.
    let mut ids = [m.id.as_str(), d.id.as_str()];
    ids.sort_unstable();
    for id in ids {
        if !store::hold(tx.conn(), &g, id).await? {
            let who = if id == m.id { &m.address } else { &d.address };
            return Err(AppError::invalid_field(
                "delegate",
                format!("{who} is offboarded."),
            ));
        }
    }
    if store::delegate_count(tx.conn(), &m.id).await? >= MAX_DELEGATES {
        return Err(AppError::invalid_field(
            "delegate",
            format!("A mailbox has at most {MAX_DELEGATES} delegates."),
        ));
    }
    if !store::grant_delegation(tx.conn(), &g, &m, &d.id, new.send_as, new.folders, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is delegated to {} already: revoke it first to change what it may do.",
            m.address, d.address
        ))
        .on("delegate"));
    }
    let granted = Delegation {
        mailbox_id: m.id.clone(),
        address: m.address.clone(),
        delegate_id: d.id.clone(),
        delegate: d.address.clone(),
        send_as: new.send_as,
        folders: new.folders,
        created_at: now,
        created_by: actor.label.clone(),
    };
    record(
        &mut tx,
        actor,
        now,
        Event::new("mailbox.delegation_granted")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({
                "address": m.address, "delegate": d.address,
                "send_as": new.send_as, "folders": new.folders.as_str(),
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(granted)
}

/// Takes the delegation of the mailbox `key` away from `delegate` (address or id), and ends
/// the delegate's live IMAP sessions when it had the folders (a session keeps the groups it
/// signed in with). Audited as `mailbox.delegation_revoked`. Protective: allowed during an
/// incident (the hunt's revert of a delegation).
pub async fn revoke_delegation(
    st: &AppState,
    actor: &Actor,
    key: &str,
    delegate: &str,
) -> AppResult<()> {
    let (m, g) = delegated(st, actor, key, true).await?;
    let d = store::get(&st.db, &g, delegate.trim())
        .await?
        .ok_or(AppError::NotFound)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(gone) = store::revoke_delegation(tx.conn(), &g, &m, &d.id).await? else {
        return Err(AppError::NotFound);
    };
    record(
        &mut tx,
        actor,
        now,
        Event::new("mailbox.delegation_revoked")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({ "address": m.address, "delegate": d.address })),
    )
    .await?;
    tx.commit().await?;
    end_shared_sessions(st, std::slice::from_ref(&gone)).await;
    Ok(())
}

/// Ends the live IMAP sessions of the delegates that open `mailbox_id`'s folders: when it is
/// locked its groups are gone for new sessions (`mail_shared_groups` wants it active), and a
/// session open in its folders must not outlive that.
pub async fn end_delegates_sessions(st: &AppState, mailbox_id: &str) {
    if st.config.doveadm_url.is_none() {
        return;
    }
    match store::delegations(&st.db, mailbox_id).await {
        Ok(d) => end_shared_sessions(st, &d.delegates).await,
        Err(e) => tracing::warn!(error = %e, "reading the delegates whose sessions to end"),
    }
}

/// Ends the live IMAP sessions of the delegates that had folders among `gone` (revoked), so
/// no session outlives its groups. Best effort: the revocation stands either way (a new
/// session has no access); a failure is logged.
pub(crate) async fn end_shared_sessions(st: &AppState, gone: &[Delegation]) {
    let mut users: Vec<String> = gone
        .iter()
        .filter(|d| d.folders != FolderAccess::None)
        .map(|d| d.delegate.clone())
        .collect();
    users.sort();
    users.dedup();
    if users.is_empty() || st.config.doveadm_url.is_none() {
        return;
    }
    if let Err(e) = doveadm::kick(&st.config, &users).await {
        tracing::warn!(error = %e, "could not end the sessions of delegates whose folders were revoked");
    }
}
