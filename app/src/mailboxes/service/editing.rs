//! Editing a mailbox after creation: its person's name, contact address (where links and
//! notices go), allocation from the pool and the critical flag — turning it off is a change
//! request (`mailbox.critical_off`, [`CriticalOffKind`]) — and an operator's unlock.
#[allow(unused_imports)]
use super::*;
use crate::mailboxes::MailboxEdit;

/// What an edit did.
#[derive(Clone, Debug, PartialEq)]
pub struct Edited {
    pub mailbox: Mailbox,
    /// The fields that changed at once (`display_name`, `contact_email`, `quota_bytes`,
    /// `critical`), in that order.
    pub changed: Vec<&'static str>,
    /// Turning the critical flag off waits for a second person: that change request.
    pub queued: Option<String>,
}

/// Changes the fields `edit` names (a field left out, or equal to the current value, stays).
/// Every direct change happens in one transaction with one `mailbox.updated` event holding
/// before and after; an allocation takes from the pool by the same conditional update as
/// creation, and is refused past the pool with the amount left. A previous contact address
/// is told of its replacement (when outgoing mail is configured).
pub async fn edit(
    st: &AppState,
    actor: &Actor,
    key: &str,
    edit: &MailboxEdit,
) -> AppResult<Edited> {
    let (m, g) = managed(st, actor, key, Action::ManageMailboxes).await?;
    // Checked before anything is read again: bad input changes nothing.
    let name = match edit.display_name.as_deref().map(str::trim) {
        Some(n) if n.is_empty() || n.chars().count() > 100 => {
            return Err(AppError::invalid_field(
                "display_name",
                "Enter the person's name (at most 100 characters).",
            ))
        }
        n => n.map(str::to_string),
    };
    let contact = match edit.contact_email.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(s) => {
            let e = EmailAddress::parse(s)
                .map_err(|e| AppError::invalid_field("contact_email", e))?
                .key();
            if e == m.address {
                return Err(AppError::invalid_field(
                    "contact_email",
                    "The contact address is where links go when the mailbox cannot be used: give \
                     the person's other address, not the mailbox itself.",
                ));
            }
            Some(Some(e))
        }
    };
    let quota = match edit.quota.as_deref() {
        None => None,
        Some(q) => Some(parse_quota(q).map_err(|e| AppError::invalid_field("quota", e))?),
    };
    let critical_off = edit.critical == Some(false) && m.critical;
    let reason = if critical_off {
        Some(AppError::reason_for(
            edit.reason.as_deref(),
            "for no longer treating this mailbox as critical",
        )?)
    } else {
        None
    };
    if m.status == MailboxStatus::Offboarded {
        return Err(AppError::Conflict(format!(
            "{} is offboarded: its details cannot change.",
            m.address
        )));
    }

    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::hold(tx.conn(), &g, &m.id).await? {
        return Err(AppError::Conflict(format!("{} is offboarded.", m.address)));
    }
    // The row as it is now (held to the end): the difference is taken from this.
    let (cur, _) = store::credentials(tx.conn(), &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let new_name = name.unwrap_or_else(|| cur.display_name.clone());
    let new_contact = contact.unwrap_or_else(|| cur.contact_email.clone());
    let new_quota = quota.unwrap_or(cur.quota_bytes);
    let new_critical = edit.critical.unwrap_or(cur.critical) || cur.critical;
    let mut changed = Vec::new();
    let (mut before, mut after) = (serde_json::Map::new(), serde_json::Map::new());
    let mut note = |field: &'static str, b: serde_json::Value, a: serde_json::Value| {
        if b != a {
            changed.push(field);
            before.insert(field.into(), b);
            after.insert(field.into(), a);
        }
    };
    note("display_name", json!(cur.display_name), json!(new_name));
    note(
        "contact_email",
        json!(cur.contact_email),
        json!(new_contact),
    );
    note("quota_bytes", json!(cur.quota_bytes), json!(new_quota));
    note("critical", json!(cur.critical), json!(new_critical));

    if changed.contains(&"quota_bytes") {
        if let (Some(q), Some(used)) = (new_quota, cur.used_bytes) {
            if used > q {
                return Err(AppError::Conflict(format!(
                    "{} already stores {}: allocate at least that much.",
                    cur.address,
                    crate::tenancy::format_bytes(used)
                ))
                .on("quota"));
            }
        }
        let delta = new_quota.unwrap_or(0) - cur.quota_bytes.unwrap_or(0);
        if delta > 0
            && !crate::tenancy::store::allocate(tx.conn(), &g, &cur.tenant_id, delta).await?
        {
            let view = authorize_in(actor, Action::ViewTenants, &cur.tenant_id)?;
            let t = crate::tenancy::store::tenant(&st.db, &view, &cur.tenant_id)
                .await?
                .ok_or(AppError::NotFound)?;
            let left = (t.storage_bytes - t.storage_allocated).max(0);
            return Err(AppError::Conflict(format!(
                "{} more does not fit in {}'s pool: {} of {} is still unallocated. Allocate \
                 less, leave it unlimited within the pool, or move the tenant to a larger plan.",
                crate::tenancy::format_bytes(delta),
                t.name,
                crate::tenancy::format_bytes(left),
                crate::tenancy::format_bytes(t.storage_bytes)
            ))
            .on("quota"));
        }
        if delta < 0 {
            crate::tenancy::store::release(tx.conn(), &g, &cur.tenant_id, -delta).await?;
        }
    }
    if !changed.is_empty() {
        let details = store::Details {
            display_name: &new_name,
            contact_email: new_contact.as_deref(),
            quota: new_quota,
            critical: new_critical,
        };
        if !store::update_details(tx.conn(), &g, &cur.id, &details, now).await? {
            return Err(AppError::Conflict(format!(
                "{} is offboarded.",
                cur.address
            )));
        }
        let ev = Event::new("mailbox.updated")
            .target(cur.id.clone())
            .details(json!({
                "address": cur.address, "changed": changed, "before": before, "after": after,
            }))
            .tenant(cur.tenant_id.clone());
        record(&mut tx, g.actor, now, ev).await?;
        if let (Some(old), true) = (&cur.contact_email, changed.contains(&"contact_email")) {
            if st.mailer.is_configured() {
                tx.mail_after_commit(Mail {
                    to: old.clone(),
                    subject: format!("Mailward: the contact address of {} changed", cur.address),
                    body: format!(
                        "Hello {name},\n\nThis address is no longer the contact address of the \
                         mailbox {address}: invitation and reset links for it now go elsewhere. \
                         The change was made by {by} on {when}.\n\nIf you did not expect this, \
                         tell whoever manages your mailbox at once.\n",
                        name = new_name,
                        address = cur.address,
                        by = g.actor.label,
                        when = crate::core::clock::format_utc(now),
                    ),
                    link: None,
                });
            }
        }
    }
    let queued = match reason {
        Some(reason) => {
            let pending = changes::list(st, actor, changes::Filter::Target(&cur.id))
                .await?
                .into_iter()
                .find(|c| {
                    c.kind == CRITICAL_OFF && c.state == crate::changes::ChangeState::Pending
                });
            if let Some(c) = pending {
                return Err(AppError::Conflict(format!(
                    "A request to stop treating {} as critical already waits for approval ({}).",
                    cur.address, c.id
                )));
            }
            Some(
                changes::submit(
                    st,
                    &mut tx,
                    &g,
                    NewChange {
                        tenant_id: Some(&cur.tenant_id),
                        kind: CRITICAL_OFF,
                        target_id: &cur.id,
                        target_label: &cur.address,
                        payload: json!({ "critical": false }),
                        before: json!({ "critical": true }),
                        rollback: None,
                        reason: &reason,
                    },
                    None,
                    now,
                )
                .await?,
            )
        }
        None => None,
    };
    if changed.is_empty() && queued.is_none() {
        return Ok(Edited {
            mailbox: cur,
            changed,
            queued,
        });
    }
    let mail = tx.commit_outbox().await?;
    // The change stands; a notice that could not go out is logged by `deliver`.
    let _ = crate::core::mailer::deliver(st, g.actor, mail, "The mailbox was changed").await;
    let mailbox = get(st, actor, &cur.id).await?;
    Ok(Edited {
        mailbox,
        changed,
        queued,
    })
}

/// An operator unlocks a locked mailbox, with a reason: the owner's password works again.
/// When the password may be known to someone else, the owner gets a new link instead (a
/// reset, governed like any reset) and the mailbox stays locked until it is used.
/// Unlocking restores access, so an incident freezes it like a reset.
pub async fn unlock(
    st: &AppState,
    actor: &Actor,
    key: &str,
    reason: &str,
    new_link: bool,
) -> AppResult<Option<ResetOutcome>> {
    let (m, _) = managed(st, actor, key, Action::ResetMailbox).await?;
    let reason = AppError::reason_for(Some(reason), "for the unlock")?;
    if m.status != MailboxStatus::Locked {
        return Err(AppError::Conflict(format!(
            "{} is {}, not locked.",
            m.address, m.status
        )));
    }
    if new_link {
        return request_reset(st, actor, &m.id, &reason, false, None)
            .await
            .map(Some);
    }
    let g = authorize_in(actor, Action::ManageMailboxes, &m.tenant_id)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::unlock(tx.conn(), &g, &m.id, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is no longer locked.",
            m.address
        )));
    }
    let ev = Event::new("mailbox.unlocked")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "reason": reason,
            "before": { "status": "locked" }, "after": { "status": "active" },
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(None)
}

const CRITICAL_OFF: &str = "mailbox.critical_off";

/// No longer treating a mailbox as critical (change kind `mailbox.critical_off`): its resets
/// then need nobody else's approval and its links may be revealed, so a second person
/// decides. Rolling back makes it critical again while nobody has changed the flag since.
pub(crate) struct CriticalOffKind;

#[async_trait::async_trait]
impl ChangeKind for CriticalOffKind {
    fn kind(&self) -> &'static str {
        CRITICAL_OFF
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        crate::types::Described {
            summary: format!(
                "Stop treating {} as critical: its resets will no longer wait for a second \
                 person.",
                crate::types::readable(&c.target_label)
            ),
            rows: vec![crate::types::ChangeRow::new(
                "Resets",
                "approved by a second person",
                "started by one operator",
            )],
        }
    }
    async fn apply(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        if !store::swap_critical(tx.conn(), g, &c.target_id, true, false, now).await? {
            return Err(AppError::Conflict(format!(
                "{} is no longer critical, or was offboarded: nothing to change.",
                c.target_label
            )));
        }
        let ev = Event::new("mailbox.updated")
            .target(c.target_id.clone())
            .details(json!({
                "address": c.target_label, "changed": ["critical"], "change_request": c.id,
                "before": { "critical": true }, "after": { "critical": false },
            }))
            .tenant(c.tenant());
        record(tx, g.actor, now, ev).await?;
        Ok(Applied {
            summary: format!("{} is no longer treated as critical.", c.target_label),
            after: json!({ "critical": false }),
        })
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        if !store::swap_critical(tx.conn(), g, &original.target_id, false, true, now).await? {
            return Err(AppError::Conflict(format!(
                "{} is critical again already, or was offboarded: nothing was changed.",
                original.target_label
            )));
        }
        let ev = Event::new("mailbox.updated")
            .target(original.target_id.clone())
            .details(json!({
                "address": original.target_label, "changed": ["critical"],
                "change_request": original.id,
                "before": { "critical": false }, "after": { "critical": true },
            }))
            .tenant(original.tenant());
        record(tx, g.actor, now, ev).await?;
        Ok(format!("{} is critical again.", original.target_label))
    }
}
