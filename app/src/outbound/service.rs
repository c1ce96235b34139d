//! Sending limits, as the submission policy asks about them and the tenant's page reads them.
use serde_json::json;

use super::{policy, store, MailboxSending, Scope, Sending};
use crate::core::authz::{authorize, authorize_in, Action, Actor};
use crate::core::state::AppState;
use crate::core::AppResult;

/// How long counted hours are kept (the tenant page's week).
const KEEP: i64 = 7 * 24 * 3600;

/// Where in the SMTP dialogue the policy is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A recipient of a message: refused early when an hour is already full; nothing counted.
    Recipient,
    /// The whole message was received: counted against the mailbox and the tenant, or refused.
    EndOfMessage,
}

/// A message over a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// The SMTP reply (`450 4.7.1 …`).
    pub reply: String,
    pub scope: Scope,
    pub subject_id: String,
    pub tenant_id: String,
    /// The mailbox that sent it.
    pub address: String,
    pub limit: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Not ours to limit (no login, or a login that is no mailbox) or within the limits.
    Pass,
    Refuse(Refusal),
    /// An incident holds the tenant's outbound mail: accepted, kept in the hold queue (the
    /// text goes to the mail plane's log).
    Hold(String),
}

/// The submission policy's question: may the mailbox signed in as `login` send this?
pub async fn submission(st: &AppState, login: &str, stage: Stage) -> AppResult<Verdict> {
    let login = login.trim().to_lowercase();
    if login.is_empty() || login.len() > 320 {
        return Ok(Verdict::Pass);
    }
    // Mailward's own mail (invitations, resets, notices, alerts) signs in with the login of
    // its `[smtp]` / `[alert_smtp]` settings: a large import must not be held to one
    // mailbox's hourly limit.
    let own = [&st.config.smtp, &st.config.alert_smtp]
        .into_iter()
        .flatten()
        .filter_map(|s| s.username.as_deref())
        .any(|u| u.trim().eq_ignore_ascii_case(&login));
    if own {
        return Ok(Verdict::Pass);
    }
    let sys = Actor::system("mail plane");
    let g = authorize(&sys, Action::ManageMailboxes)?;
    let Some(m) = crate::mailboxes::store::get(&st.db, &g, &login).await? else {
        return Ok(Verdict::Pass);
    };
    let mut c = st.db.pool().acquire().await?;
    let Some((tenant, plan, per_mailbox, per_tenant)) =
        crate::tenancy::store::send_limits(&mut c, &m.tenant_id).await?
    else {
        return Ok(Verdict::Pass);
    };
    let now = st.clock.now();
    let w = policy::window_start(now);
    if let Some((id, title)) = crate::incidents::store::outbound_hold(&mut c, &m.tenant_id).await? {
        if stage == Stage::EndOfMessage {
            drop(c);
            let mut tx = st.db.begin().await?;
            store::held(tx.conn(), &m.tenant_id, w).await?;
            tx.commit_bookkeeping().await?;
        }
        return Ok(Verdict::Hold(policy::ascii(&format!(
            "held during incident {id}: {title}"
        ))));
    }
    let refuse = |scope: Scope, limit: i64| {
        let (who, subject) = match scope {
            Scope::Mailbox => (m.address.as_str(), m.id.clone()),
            Scope::Tenant => (tenant.as_str(), m.tenant_id.clone()),
        };
        Verdict::Refuse(Refusal {
            reply: policy::refusal(who, scope == Scope::Tenant, limit, &plan, now),
            scope,
            subject_id: subject,
            tenant_id: m.tenant_id.clone(),
            address: m.address.clone(),
            limit,
        })
    };
    match stage {
        Stage::Recipient => {
            if store::sent(&mut c, Scope::Mailbox, &m.id, w).await? >= per_mailbox {
                return Ok(refuse(Scope::Mailbox, per_mailbox));
            }
            if store::sent(&mut c, Scope::Tenant, &m.tenant_id, w).await? >= per_tenant {
                return Ok(refuse(Scope::Tenant, per_tenant));
            }
            Ok(Verdict::Pass)
        }
        Stage::EndOfMessage => {
            drop(c);
            let mut tx = st.db.begin().await?;
            // Mailbox first, then tenant: every submission locks in that order, so two at
            // once wait for each other instead of deadlocking.
            store::open_window(tx.conn(), Scope::Mailbox, &m.id, &m.tenant_id, w).await?;
            if store::open_window(tx.conn(), Scope::Tenant, &m.tenant_id, &m.tenant_id, w).await? {
                store::forget_before(tx.conn(), &m.tenant_id, w - KEEP).await?;
            }
            if !store::take(tx.conn(), Scope::Mailbox, &m.id, w, per_mailbox).await? {
                return Ok(refuse(Scope::Mailbox, per_mailbox));
            }
            if !store::take(tx.conn(), Scope::Tenant, &m.tenant_id, w, per_tenant).await? {
                return Ok(refuse(Scope::Tenant, per_tenant));
            }
            tx.commit_bookkeeping().await?;
            Ok(Verdict::Pass)
        }
    }
}

/// Counts a refused message (once per message: the caller knows which recipients belong to
/// one). The first refusal of an hour for a mailbox or tenant raises an alert for the
/// tenant; later ones add to it.
pub async fn refused(st: &AppState, r: &Refusal) -> AppResult<()> {
    let now = st.clock.now();
    let w = policy::window_start(now);
    let mut tx = st.db.begin().await?;
    let n = store::refused(tx.conn(), r.scope, &r.subject_id, &r.tenant_id, w).await?;
    if n > 1 {
        return tx.commit_bookkeeping().await;
    }
    let (key, title) = match r.scope {
        Scope::Mailbox => (
            format!("sending.limit_reached:mailbox:{}", r.subject_id),
            format!(
                "{} reached its sending limit of {} messages an hour",
                r.address, r.limit
            ),
        ),
        Scope::Tenant => (
            format!("sending.limit_reached:tenant:{}", r.tenant_id),
            format!(
                "The tenant's mailboxes reached their sending limit of {} messages an hour (last: {})",
                r.limit, r.address
            ),
        ),
    };
    let signal = crate::monitoring::service::Signal {
        rule: "sending.limit_reached",
        key,
        tenant_id: Some(r.tenant_id.clone()),
        severity: "warning",
        title,
        detail: json!({
            "scope": r.scope.as_str(), "address": r.address, "limit_per_hour": r.limit,
            "hour": w, "reply": r.reply,
        }),
        evidence: format!("send:{}:{}:{w}", r.scope.as_str(), r.subject_id),
    };
    if crate::monitoring::service::raise(&mut tx, st, &signal, now).await? {
        tx.commit().await
    } else {
        tx.commit_bookkeeping().await
    }
}

/// A tenant's sending this hour and over the last week, with its plan's limits.
pub async fn of_tenant(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<Sending> {
    let g = authorize_in(actor, Action::ViewTenants, tenant_id)?;
    let now = st.clock.now();
    let w = policy::window_start(now);
    let mut c = st.db.pool().acquire().await?;
    let Some((_, _, per_mailbox, per_tenant)) =
        crate::tenancy::store::send_limits(&mut c, tenant_id).await?
    else {
        return Err(crate::core::AppError::NotFound);
    };
    let rows = store::of_tenant(&mut c, &g, tenant_id, now - KEEP).await?;
    drop(c);
    let mut s = Sending {
        window_start: w,
        window_end: w + 3600,
        per_mailbox,
        per_tenant,
        ..Sending::default()
    };
    // A refusal is counted on the row of the limit that refused it (the mailbox's or the
    // tenant's); messages sent, on both. So: sent from the tenant's rows, refused from all.
    let mut busiest = Vec::new();
    s.held_by =
        crate::incidents::store::outbound_hold(&mut *st.db.pool().acquire().await?, tenant_id)
            .await?
            .map(|(_, title)| title);
    for r in &rows {
        s.week_refused += r.refused;
        if r.window_start == w {
            s.refused += r.refused;
        }
        match r.scope {
            Scope::Tenant => {
                s.week_sent += r.sent;
                if r.window_start == w {
                    s.sent = r.sent;
                    s.held = r.held;
                }
            }
            Scope::Mailbox if r.window_start == w && (r.sent > 0 || r.refused > 0) => {
                busiest.push((r.subject_id.clone(), r.sent, r.refused));
            }
            Scope::Mailbox => {}
        }
    }
    // An hour in which anything was refused is an hour in which a limit was reached.
    let mut limited: Vec<i64> = rows
        .iter()
        .filter(|r| r.refused > 0)
        .map(|r| r.window_start)
        .collect();
    limited.sort_unstable();
    limited.dedup();
    s.week_limited_hours = limited.len() as i64;
    busiest.sort_by(|a, b| (b.1, b.2).cmp(&(a.1, a.2)));
    busiest.truncate(5);
    let ids: Vec<String> = busiest.iter().map(|b| b.0.clone()).collect();
    let mailboxes = crate::mailboxes::store::by_ids(&st.db, &ids).await?;
    s.busiest = busiest
        .into_iter()
        .filter_map(|(id, sent, refused)| {
            let m = mailboxes.iter().find(|m| m.id == id)?;
            Some(MailboxSending {
                address: m.address.clone(),
                sent,
                refused,
            })
        })
        .collect();
    Ok(s)
}
