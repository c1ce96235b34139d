//! Notices about the change queue: who could approve a new request is mailed about it, the
//! requester hears the decision. They live with the people (auth); the queue's rows are read and
//! claimed through the changes service. A recurring job (`changes.notices`, registered in
//! `auth/kinds.rs`) sends them.
#[allow(unused_imports)]
use super::*;
use crate::changes::service as changes;
use crate::changes::ChangeState;
use crate::core::authz::Action;

/// How often the notices job runs.
pub const NOTICES_EVERY_SECS: i64 = 60;

/// Mails what the change queue has to tell: the people who could approve a request that
/// started waiting (one message per person with all their new requests; never the requester,
/// never someone whose role could not decide it), and the requester when a request is
/// decided. Each request's notice is claimed before it is sent, so with several instances it
/// goes out once; a notice that cannot be sent is logged, not retried — the queue itself is
/// the record. Returns how many messages went out.
pub async fn send_notices(st: &AppState) -> AppResult<usize> {
    use crate::core::authz::role_allows;
    let url = st.config.public_url();
    let mut out: Vec<(String, String, String)> = Vec::new();
    // Requests that started waiting → the people who could approve them.
    let mut asked: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in changes::unnoticed(st, true).await? {
        if !changes::claim_notice(st, &c.id, true).await? || !st.mailer.is_configured() {
            continue;
        }
        // A kind this server does not know (any more) cannot be decided here: nobody is asked.
        let Ok(need) = changes::action_to_decide(st, &c) else {
            continue;
        };
        let why = match c.reason.trim() {
            "" => String::new(),
            r => format!(", because “{r}”"),
        };
        let line = format!(
            "- {}\n  Asked by {} for {}{why}.",
            changes::in_words(st, &c),
            c.requested_by_label,
            c.tenant_name
        );
        for (id, email, role) in store::approvers(&st.db, c.tenant_id.as_deref()).await? {
            if Some(&id) == c.requested_by.as_ref()
                || !role_allows(role, Action::ApproveChanges)
                || !role_allows(role, need)
            {
                continue;
            }
            asked.entry(email).or_default().push(line.clone());
        }
    }
    for (email, lines) in asked {
        let subject = match lines.len() {
            1 => "A change waits for your approval".to_string(),
            n => format!("{n} changes wait for your approval"),
        };
        out.push((
            email,
            subject,
            format!(
                "{}\n\n{}\n\nRead each one, with what it changes, and approve or reject it in the \
                 approval queue (nobody approves their own request):\n\n{url}/approvals\n\n\
                 Requests nobody decides expire by themselves.\n",
                if lines.len() == 1 {
                    "A change someone asked for waits for a second person:"
                } else {
                    "Changes someone asked for wait for a second person:"
                },
                lines.join("\n\n")
            ),
        ));
    }
    // Decided requests → their requester.
    for c in changes::unnoticed(st, false).await? {
        if !changes::claim_notice(st, &c.id, false).await? || !st.mailer.is_configured() {
            continue;
        }
        let email = match c.requested_by.as_deref() {
            Some(uid) => {
                let mut conn = st.db.pool().acquire().await?;
                store::active_email(&mut conn, uid).await?
            }
            None => None,
        };
        let Some(email) = email else {
            continue;
        };
        let by = c
            .decided_by_label
            .clone()
            .unwrap_or_else(|| "Someone".into());
        let what = format!(
            "{} of {}",
            c.kind_label(),
            crate::types::readable(&c.target_label)
        );
        let (subject, said) = match c.state {
            ChangeState::Applied => (
                format!("Approved: {what}"),
                format!(
                    "{by} approved it and it was applied.\n\nResult: {}",
                    c.result.clone().unwrap_or_default()
                ),
            ),
            ChangeState::Rejected => (
                format!("Not approved: {what}"),
                format!(
                    "{by} rejected it: “{}”.\n\nNothing was changed.",
                    c.decision_note.clone().unwrap_or_default()
                ),
            ),
            ChangeState::Failed => (
                format!("Approved but not applied: {what}"),
                format!(
                    "{by} approved it, but it could not be applied: {}\n\nNothing was changed; \
                     ask again if it is still needed.",
                    c.result.clone().unwrap_or_default()
                ),
            ),
            // Withdrawn by the requester, or a state reached later (rolled back): nothing to say.
            _ => continue,
        };
        out.push((
            email,
            subject,
            format!(
                "You asked: {}\n\n{said}\n\nThe request and its history:\n\n{url}/approvals\n",
                changes::in_words(st, &c)
            ),
        ));
    }
    let mut sent = 0;
    for (to, subject, body) in out {
        match st.mailer.send(&to, &subject, body).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::warn!(error = %e, %to, "change-request notice not sent"),
        }
    }
    Ok(sent)
}

/// The recurring job around [`send_notices`].
pub async fn notices_job(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    let r = send_notices(st).await;
    if let Err(e) = &r {
        tracing::warn!(error = %e, "change-request notices");
    }
    crate::core::jobs::reschedule(st, id, worker, NOTICES_EVERY_SECS).await?;
    r.map(|_| ())
}
