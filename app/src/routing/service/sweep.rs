//! The recurring sweep: expiry, lapsed confirmations, week-before reminders (idempotent).
#[allow(unused_imports)]
use super::*;

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Swept {
    pub expired: usize,
    pub reminded: usize,
}

/// Turns off routes whose time is up (and forwards whose recipient let the confirmation
/// link lapse) and reminds requesters of routes ending within a
/// week (once each). Idempotent: each step is a conditional update, so a second run, or a
/// run on another instance, finds nothing left to do.
pub async fn sweep(st: &AppState) -> AppResult<Swept> {
    let sys = Actor::system("routing sweep");
    let g = authorize(&sys, Action::ManageMailboxes)?;
    let now = st.clock.now();
    let mut out = Swept::default();
    let mut tx = st.db.begin().await?;
    let expired = store::expire_due(tx.conn(), &g, now).await?;
    for r in &expired {
        sync_catch_all(tx.conn(), &g, &r.domain_id).await?;
        let after = route_by_id(tx.conn(), &r.id).await?;
        let ev = Event::new("route.expired")
            .target(r.domain_id.clone())
            .tenant(r.tenant_id.clone())
            .details(json!({
                "route": r.id, "kind": r.kind,
                "source": r.source,
                "expires_at": r.expires_at,
                "why": r.ended_reason,
                "after": after,
            }));
        record(&mut tx, &sys, now, ev).await?;
    }
    out.expired = expired.len();
    // Reminders: to the requester, once, a week ahead.
    let due = store::remind_due(tx.conn(), &g, now, now + REMIND_BEFORE_SECS).await?;
    for r in &due {
        let (id, source, kind) = (r.id.clone(), r.source.clone(), r.kind.clone());
        let expires: i64 = r.expires_at.unwrap_or(now);
        let by = &r.requested_by;
        // The console user who asked, or the mailbox owner who asked from /me.
        let email: Option<String> = match &by {
            Some(u) => crate::auth::store::active_email(tx.conn(), u).await?,
            None => {
                let owner = r.requested_by_label.clone();
                crate::mailboxes::store::receives(tx.conn(), &owner)
                    .await?
                    .then_some(owner)
            }
        };
        let until = chrono::DateTime::from_timestamp(expires, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        if let (Some(to), true) = (&email, st.mailer.is_configured()) {
            tx.mail_after_commit(Mail {
                to: to.clone(),
                subject: format!("{} for {source} ends {until}", crate::routing::kind_label(&kind)),
                body: format!(
                    "The {} you requested for {source} stops on {until}.\n\nIf it is still needed, \
                     request it again at {}/routing: a renewal is a new request another person approves.\n\
                     If not, nothing to do: it turns itself off.\n",
                    crate::routing::kind_label(&kind).to_lowercase(),
                    st.config.public_url()
                ),
                link: None,
            });
        }
        let ev = Event::new("route.expiry_reminder")
            .target(r.domain_id.clone())
            .tenant(r.tenant_id.clone())
            .details(json!({
                "route": id, "source": source, "expires_at": expires, "emailed_to": email,
            }));
        record(&mut tx, &sys, now, ev).await?;
    }
    out.reminded = due.len();
    if out.expired == 0 && out.reminded == 0 {
        // Nothing was due: nothing changed, nothing to log.
        return Ok(out);
    }
    let mail = tx.commit_outbox().await?;
    for m in mail {
        if let Err(e) = st.mailer.send(&m.to, &m.subject, m.body).await {
            tracing::warn!(error = %e, "expiry reminder not sent");
        }
    }
    Ok(out)
}

/// The recurring job around [`sweep`].
pub async fn sweep_job(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    let r = sweep(st).await;
    if let Err(e) = &r {
        tracing::warn!(error = %e, "routing sweep");
    }
    crate::core::jobs::reschedule(st, id, worker, SWEEP_EVERY_SECS).await?;
    r.map(|_| ())
}
