//! Retention: an offboarded mailbox's mail is kept for the days its offboarding chose, then
//! deleted by the recurring job `mailboxes.purge` through the mail plane's doveadm API
//! (`doveadm expunge` of every folder, with the folders' totals read before and after in the
//! same request). The deletion is recorded on the offboarding receipt and in the audit log;
//! the mailbox's usage falls back to what the mail plane then reports (Dovecot's quota
//! clone). Until the date passes, an operator may keep the mail longer, with a reason.
use super::*;

/// How often the purge job looks for mailboxes whose retention has passed.
pub const PURGE_EVERY_SECS: i64 = 900;

/// The recurring job: purges what is due, then waits for its next run.
pub async fn purge_job(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    let r = purge_due(st).await;
    if let Err(e) = &r {
        tracing::warn!(error = %e, "retention purge");
    }
    crate::core::jobs::reschedule(st, id, worker, PURGE_EVERY_SECS).await?;
    r.map(|_| ())
}

/// Deletes the mail of every offboarded mailbox whose retention has passed (at most 100 a
/// run); returns how many were purged. A mailbox the mail plane cannot purge now is recorded
/// as such (and becomes an alert) and is tried again at the next run.
pub async fn purge_due(st: &AppState) -> AppResult<usize> {
    let now = st.clock.now();
    let mut purged = 0;
    for m in store::purge_due(&st.db, now, 100).await? {
        match purge_one(st, &m, now).await {
            Ok(true) => purged += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, mailbox = %m.address, "retention purge"),
        }
    }
    Ok(purged)
}

async fn purge_one(st: &AppState, m: &Mailbox, now: i64) -> AppResult<bool> {
    let sys = Actor::system("retention");
    let g = authorize_in(&sys, Action::ManageMailboxes, &m.tenant_id)?;
    let found = match crate::core::doveadm::purge(&st.config, &m.address).await {
        Ok(found) => found,
        Err(e) => {
            blocked(st, m, &e, now).await?;
            return Ok(false);
        }
    };
    // No such user at the mail plane: it never stored mail for the address.
    let (before, after) = found.unwrap_or_default();
    if after.messages > 0 {
        let why = format!(
            "{} messages were still there after the deletion",
            after.messages
        );
        blocked(st, m, &why, now).await?;
        return Ok(false);
    }
    let receipt = store::latest_receipt(&st.db, &m.id).await?;
    let record_of = super::super::Purged {
        at: now,
        messages: before.messages,
        bytes: before.bytes,
        left: after.messages,
    };
    let mut tx = st.db.begin().await?;
    if !store::mark_purged(tx.conn(), &g, m, now).await? {
        return Ok(false);
    }
    if let Some(r) = &receipt {
        let text = serde_json::to_string(&record_of).map_err(AppError::internal)?;
        store::set_receipt_purge(tx.conn(), &g, &r.id, &text).await?;
    }
    record(
        &mut tx,
        &sys,
        now,
        Event::new("mailbox.purged")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({
                "address": m.address, "messages": before.messages, "bytes": before.bytes,
                "left": after.messages, "purge_after": m.purge_after,
                "receipt": receipt.as_ref().map(|r| r.id.clone()),
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A purge that could not happen: recorded (`mailbox.purge_failed`, which the monitoring
/// watcher turns into an alert for the tenant) when it starts failing or fails for another
/// reason — not at every run.
async fn blocked(st: &AppState, m: &Mailbox, why: &str, now: i64) -> AppResult<()> {
    let sys = Actor::system("retention");
    let g = authorize_in(&sys, Action::ManageMailboxes, &m.tenant_id)?;
    let mut tx = st.db.begin().await?;
    if !store::note_purge_error(tx.conn(), &g, m, why).await? {
        return Ok(());
    }
    record(
        &mut tx,
        &sys,
        now,
        Event::new("mailbox.purge_failed")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({ "address": m.address, "purge_after": m.purge_after, "error": why })),
    )
    .await?;
    tx.commit().await
}

/// The first instant after the UTC day `date` (`2027-01-31`): mail kept "until" a day is
/// deleted after it.
pub fn end_of_day(date: &str) -> AppResult<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| {
        AppError::invalid_field("until", "Give the date as YYYY-MM-DD, e.g. 2027-01-31.")
    })?;
    let next = d.succ_opt().ok_or_else(|| {
        AppError::invalid_field("until", "Give the date as YYYY-MM-DD, e.g. 2027-01-31.")
    })?;
    Ok(next
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp())
}

/// Keeps an offboarded mailbox's mail longer: until the end of the UTC day `until`
/// (`YYYY-MM-DD`), later than the date in force and at most `MAX_KEEP_DAYS` from now.
/// Only while the mail is kept: a date that has passed cannot be moved.
pub async fn extend_retention(
    st: &AppState,
    actor: &Actor,
    key: &str,
    until: &str,
    reason: &str,
) -> AppResult<Mailbox> {
    let m = get(st, actor, key).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &m.tenant_id)?;
    let now = st.clock.now();
    if m.status != MailboxStatus::Offboarded {
        return Err(AppError::invalid(format!(
            "{} is not offboarded: its mail has no deletion date.",
            m.address
        )));
    }
    let fmt = crate::core::clock::format_utc;
    if let Some(at) = m.purged_at {
        return Err(AppError::Conflict(format!(
            "The mail of {} was deleted on {}.",
            m.address,
            fmt(at)
        )));
    }
    let current = m.purge_after.unwrap_or(now);
    if current <= now {
        return Err(AppError::Conflict(format!(
            "The mail of {} was due for deletion on {}: it can no longer be kept longer.",
            m.address,
            fmt(current)
        )));
    }
    let new_after = end_of_day(until)?;
    if new_after <= current {
        return Err(AppError::invalid_field(
            "until",
            format!(
                "Choose a day after the one in force: the mail is deleted on {}.",
                fmt(current)
            ),
        ));
    }
    if new_after > now + MAX_KEEP_DAYS * 86_400 {
        return Err(AppError::invalid_field(
            "until",
            format!("Mail is kept at most {MAX_KEEP_DAYS} days from today."),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid_field(
            "reason",
            "Say why the mail is kept longer (at most 500 characters), e.g. a legal hold.",
        ));
    }
    let mut tx = st.db.begin().await?;
    if !store::extend_retention(tx.conn(), &g, &m, new_after, now).await? {
        return Err(AppError::Conflict(format!(
            "The retention of {} changed meanwhile: reload the page.",
            m.address
        )));
    }
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("mailbox.retention_extended")
            .target(m.id.clone())
            .tenant(m.tenant_id.clone())
            .details(json!({
                "address": m.address, "from": current, "to": new_after, "reason": reason,
                "until": super::super::kept_until(new_after),
            })),
    )
    .await?;
    tx.commit().await?;
    get(st, actor, &m.id).await
}
