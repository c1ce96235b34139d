//! Operator-initiated resets: rate-limited, governed for critical mailboxes (the `mailbox.reset`
//! change kind applies and rolls back here), and reset bursts for the dashboard.
#[allow(unused_imports)]
use super::*;

#[derive(Clone, Debug, PartialEq)]
pub enum ResetOutcome {
    /// A reset link was issued (emailed, or waiting to be revealed).
    Issued { emailed: bool },
    /// Critical mailbox: a change request waits for a second person.
    Queued { change_id: String },
}

/// An operator-initiated reset = a new link, with a mandatory reason. The old password
/// keeps working until the owner sets a new one, unless `lock_now` (suspected compromise)
/// disables it at once. For critical mailboxes it becomes a change request that someone
/// else must approve. Rate-limited per operator and per tenant.
pub async fn request_reset(
    st: &AppState,
    actor: &Actor,
    key: &str,
    reason: &str,
    lock_now: bool,
    send_to: Option<&str>,
) -> AppResult<ResetOutcome> {
    let (m, g) = managed(st, actor, key, Action::ManageMailboxes).await?;
    // A reset is frozen while an incident holds; "lock now" is protective and stays allowed.
    if !lock_now {
        authorize_in(actor, Action::ResetMailbox, &m.tenant_id)?;
    }
    if m.shared {
        return Err(AppError::Conflict(format!(
            "{} is a shared mailbox: it has no password to reset or lock out. Revoke its delegations instead (or lock it with an incident's \u{201c}revoke access\u{201d}).",
            m.address
        )));
    }
    let reason = reason.trim();
    if reason.chars().count() < 4 || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "Give the reason for the reset (4 to 500 characters): it goes into the audit log.",
        ));
    }
    match m.status.as_str() {
        "active" | "locked" => {}
        "invited" => {
            return Err(AppError::Conflict(format!(
                "{} has not been activated yet: send a new invitation instead.",
                m.address
            )))
        }
        _ => return Err(AppError::Conflict(format!("{} is offboarded.", m.address))),
    }
    let to = match send_to.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(EmailAddress::parse(s).map_err(AppError::Invalid)?.key()),
        None => m.contact_email.clone(),
    };
    if to.as_deref() == Some(m.address.as_str()) {
        return Err(AppError::invalid(
            "A reset link cannot go to the mailbox being reset: give the person's other address.",
        ));
    }
    // Checked now, so a request that could never be delivered is refused up front.
    let delivery = delivery_for(st, &m, to.as_deref()).await?;
    let now = st.clock.now();
    let actor_id = g.actor.user_id.clone().unwrap_or_default();
    let limits = [
        (
            crate::audit::service::By::Actor(&actor_id),
            st.config.reset_limit_per_operator_hour,
            "you",
        ),
        (
            crate::audit::service::By::Tenant(&m.tenant_id),
            st.config.reset_limit_per_tenant_hour,
            "this tenant",
        ),
    ];
    for (by, max, who) in limits {
        let n = crate::audit::service::count_since(
            &st.db,
            by,
            crate::audit::service::Actions::OneOf(&["mailbox.reset_requested"]),
            now - 3600,
        )
        .await?;
        if n >= max {
            return Err(AppError::TooManyRequests(format!(
                "Reset limit reached: {who} started {n} resets in the last hour (limit {max}). \
                 Try again later."
            )));
        }
    }
    let mut tx = st.db.begin().await?;
    let (mut cut, mut suspended) = (store::Cut::default(), Vec::new());
    if lock_now && m.status != "locked" {
        (cut, suspended) = lock_in(st, &mut tx, &g, &m, now).await?;
    }
    let ev = Event::new("mailbox.reset_requested")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "channel": "operator", "initiator": g.actor.label,
            "reason": reason, "lock_now": lock_now, "critical": m.critical, "send_to": to,
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    if lock_now && m.status != "locked" {
        let ev = Event::new("mailbox.locked")
            .target(m.id.clone())
            .details(json!({
                "address": m.address, "reason": reason, "sessions_ended": cut.sessions,
                "app_passwords_revoked": cut.app_passwords, "forwards_suspended": suspended,
            }))
            .tenant(m.tenant_id.clone());
        record(&mut tx, g.actor, now, ev).await?;
    }
    let outcome = if m.critical {
        let id = changes::submit(
            st,
            &mut tx,
            &g,
            NewChange {
                tenant_id: Some(&m.tenant_id),
                kind: "mailbox.reset",
                target_id: &m.id,
                target_label: &m.address,
                payload: json!({ "send_to": to, "lock_now": lock_now }),
                before: json!({
                    "status": m.status, "password_set_at": m.password_set_at,
                    "contact_email": m.contact_email,
                }),
                rollback: None,
                reason,
            },
            None,
            now,
        )
        .await?;
        ResetOutcome::Queued { change_id: id }
    } else {
        let emailed = issue_link(st, &mut tx, &g, &m, "reset", delivery, Some(reason), now).await?;
        ResetOutcome::Issued { emailed }
    };
    let mail = tx.commit_outbox().await?;
    if lock_now && m.status != "locked" {
        super::end_live_sessions(st, &m.address).await;
        super::end_delegates_sessions(st, &m.id).await;
    }
    crate::core::mailer::deliver(st, g.actor, mail, "The reset was started").await?;
    Ok(outcome)
}

/// Locks a mailbox (suspected compromise) inside `tx`: its password, sessions and app
/// passwords stop working, and the mail it sends on elsewhere (its forwards, through the
/// `MailboxLinks` registry) is suspended until someone decides to bring it back. The caller
/// records the event. Returns what was cut and what was suspended.
pub(crate) async fn lock_in(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    m: &Mailbox,
    now: i64,
) -> AppResult<(store::Cut, Vec<MailboxRoute>)> {
    store::set_status(tx.conn(), g, &m.id, "locked", now).await?;
    let cut = store::cut_access(tx.conn(), g, &m.id, now).await?;
    let mut suspended = Vec::new();
    for links in st.kinds.mailbox_links_all() {
        suspended.extend(
            links
                .suspend(
                    tx,
                    g,
                    &m.address,
                    "mailbox locked (suspected compromise)",
                    now,
                )
                .await?,
        );
    }
    Ok((cut, suspended))
}

/// A reset of a critical mailbox (change kind `mailbox.reset`): applying issues the reset link;
/// rolling back revokes it while unused and puts the status back (a reset that locked the
/// mailbox unlocks it). Refused once the owner has used the link: an old password cannot
/// come back.
pub(crate) struct ResetKind;

#[async_trait::async_trait]
impl ChangeKind for ResetKind {
    fn kind(&self) -> &'static str {
        "mailbox.reset"
    }
    fn action(&self) -> Action {
        Action::ManageMailboxes
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        let p: serde_json::Value = serde_json::from_str(&c.payload).unwrap_or_default();
        let b: serde_json::Value = serde_json::from_str(&c.before).unwrap_or_default();
        let address = crate::types::readable(&c.target_label);
        let to = p["send_to"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "an operator, who reveals it once".into());
        let locked = p["lock_now"] == true || b["status"] == "locked";
        crate::types::Described {
            summary: format!(
                "Send the owner of {address} a one-time link to set a new password, to {to}."
            ),
            rows: vec![
                crate::types::ChangeRow::new(
                    "Current password",
                    if locked { "locked" } else { "works" },
                    if locked {
                        "stays locked until the new one is set"
                    } else {
                        "works until the new one is set"
                    },
                ),
                crate::types::ChangeRow::new("Reset link", "none", format!("sent to {to}")),
            ],
        }
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let payload: serde_json::Value =
            serde_json::from_str(&c.payload).map_err(AppError::internal)?;
        let (m, _) = store::credentials(tx.conn(), &c.target_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !matches!(m.status.as_str(), "active" | "locked") {
            return Err(AppError::Conflict(format!(
                "{} is {} now: the reset no longer applies.",
                m.address, m.status
            )));
        }
        let to = payload
            .get("send_to")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let delivery = delivery_for(st, &m, to.as_deref()).await?;
        let emailed = issue_link(st, tx, g, &m, "reset", delivery, Some(&c.reason), now).await?;
        let link = store::open_invite_id(tx.conn(), &m.id).await?;
        Ok(Applied {
            summary: if emailed {
                format!("Reset link emailed to {}.", to.unwrap_or_default())
            } else {
                "Reset link issued; an operator can reveal it once.".to_string()
            },
            after: json!({
                "status": m.status, "password_set_at": m.password_set_at, "link": link,
            }),
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
        let parse = |s: Option<&str>| -> AppResult<serde_json::Value> {
            s.map(serde_json::from_str)
                .transpose()
                .map_err(AppError::internal)
                .map(Option::unwrap_or_default)
        };
        let after = parse(original.after.as_deref())?;
        let before = parse(Some(&original.before))?;
        let (m, _) = store::credentials(tx.conn(), &original.target_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let used = match after["link"].as_str() {
            Some(link) => store::invite_used(tx.conn(), link).await?,
            None => false,
        };
        if used || m.password_set_at != after["password_set_at"].as_i64() {
            let when = m
                .password_set_at
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            return Err(AppError::Conflict(format!(
                "{}'s owner has set a new password since{when}: a rollback cannot bring the old \
                 one back. If that was not the owner, lock the mailbox and reset it again.",
                m.address
            )));
        }
        let then = after["status"].as_str().unwrap_or_default();
        if m.status != then {
            return Err(AppError::Conflict(format!(
                "{} is {} now, not {then} as the reset left it: someone changed it since, so the \
                 rollback would undo their change too. Nothing was changed.",
                m.address, m.status
            )));
        }
        let revoked = store::revoke_open_invites(tx.conn(), g, &m.id, now).await?;
        let restore = before["status"].as_str().unwrap_or(then);
        let restored = m.status != restore && matches!(restore, "active" | "locked");
        if restored {
            store::set_status(tx.conn(), g, &m.id, restore, now).await?;
        }
        let status_after = if restored { restore } else { m.status.as_str() };
        let ev = Event::new("mailbox.reset_rolled_back")
            .target(m.id.clone())
            .details(json!({
                "address": m.address, "change_request": original.id, "links_revoked": revoked,
                "before": { "status": m.status }, "after": { "status": status_after },
            }))
            .tenant(m.tenant_id.clone());
        record(tx, g.actor, now, ev).await?;
        Ok(format!(
            "The reset link for {} no longer works{}.",
            m.address,
            if restored {
                format!("; the mailbox is {restore} again")
            } else {
                String::new()
            }
        ))
    }
}

/// Tenants with a burst of resets (at least `reset_burst_count` within
/// `reset_burst_minutes`), for the dashboard's alert.
pub async fn reset_bursts(st: &AppState, actor: &Actor) -> AppResult<Vec<ResetBurst>> {
    let g = authorize(actor, Action::ViewDashboard)?;
    let busy = crate::audit::service::busiest_tenants(
        &st.db,
        &g.actor.tenants,
        crate::audit::service::Actions::OneOf(&["mailbox.reset_requested", "mailbox.self_reset"]),
        st.clock.now() - st.config.reset_burst_minutes * 60,
        st.config.reset_burst_count,
    )
    .await?;
    let tenants = crate::tenancy::store::labels_of(
        &mut *st.db.pool().acquire().await?,
        busy.iter().map(|(t, _)| t.as_str()),
    )
    .await?;
    Ok(busy
        .into_iter()
        .map(|(tenant_id, resets)| {
            let (tenant_name, tenant_slug) = tenants.get(&tenant_id).cloned().unwrap_or_default();
            ResetBurst {
                tenant_id,
                tenant_name,
                tenant_slug,
                resets,
                minutes: st.config.reset_burst_minutes,
            }
        })
        .collect())
}
