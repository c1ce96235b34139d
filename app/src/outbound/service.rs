//! Sending limits, as the submission policy asks about them and the tenant's page reads them.
use serde_json::json;

use super::{policy, store, MailboxSending, Outbound, Relay, RelayInput, RelayTls, Scope, Sending};
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor};
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

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
    /// Refused for good, not counted: mail to an outside address from a tenant whose plan has
    /// no managed relay and which set none of its own (the SMTP reply says so).
    Reject(String),
}

/// The submission policy's question: may the mailbox signed in as `login` send this (to
/// `recipient`, asked at [`Stage::Recipient`])?
pub async fn submission(
    st: &AppState,
    login: &str,
    stage: Stage,
    recipient: &str,
) -> AppResult<Verdict> {
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
    let Some(limits) = crate::tenancy::store::send_limits(&mut c, &m.tenant_id).await? else {
        return Ok(Verdict::Pass);
    };
    let (tenant, plan, per_mailbox, per_tenant) = (
        limits.tenant.as_str(),
        limits.plan.as_str(),
        limits.per_mailbox,
        limits.per_tenant,
    );
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
            Scope::Tenant => (tenant, m.tenant_id.clone()),
        };
        Verdict::Refuse(Refusal {
            reply: policy::refusal(who, scope == Scope::Tenant, limit, plan, now),
            scope,
            subject_id: subject,
            tenant_id: m.tenant_id.clone(),
            address: m.address.clone(),
            limit,
        })
    };
    match stage {
        Stage::Recipient => {
            if !limits.managed_smtp
                && store::relay(&mut c, &m.tenant_id).await?.is_none()
                && !hosted(&mut c, recipient).await?
            {
                return Ok(Verdict::Reject(policy::no_relay(tenant, plan)));
            }
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

/// Whether `recipient` is an address of an active hosted domain (delivered here, not sent
/// out through a relay).
async fn hosted(c: &mut sqlx::AnyConnection, recipient: &str) -> AppResult<bool> {
    let Some((_, domain)) = recipient.trim().rsplit_once('@') else {
        return Ok(false);
    };
    let Ok(ascii) = idna::domain_to_ascii(&domain.to_lowercase()) else {
        return Ok(false);
    };
    Ok(crate::tenancy::store::domain_by_name(c, &ascii)
        .await?
        .is_some_and(|(_, _, status)| status == "active"))
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
    let Some(limits) = crate::tenancy::store::send_limits(&mut c, tenant_id).await? else {
        return Err(AppError::NotFound);
    };
    let (per_mailbox, per_tenant) = (limits.per_mailbox, limits.per_tenant);
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

// ---------- Where outside mail leaves: the managed relay or the tenant's own ----------

/// What a sealed relay password is bound to: a sealed value copied to another tenant, host,
/// port or user name does not open.
fn relay_aad(tenant_id: &str, host: &str, port: u16, username: &str) -> Vec<u8> {
    format!("tenant_relay:{tenant_id}:{host}:{port}:{username}").into_bytes()
}

/// Where a tenant's mail to outside addresses leaves, as its page shows it.
pub async fn outbound(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<Outbound> {
    authorize_in(actor, Action::ViewTenants, tenant_id)?;
    let mut c = st.db.pool().acquire().await?;
    let Some(limits) = crate::tenancy::store::send_limits(&mut c, tenant_id).await? else {
        return Err(AppError::NotFound);
    };
    let relay = store::relay(&mut c, tenant_id).await?.map(|r| r.relay);
    Ok(Outbound {
        managed: limits.managed_smtp,
        can_send_out: limits.managed_smtp || relay.is_some(),
        relay,
    })
}

/// Sets the tenant's own relay (audited `tenant.relay_set`; the password is sealed and never
/// shown back). An empty password keeps the stored one only while host, port and user name
/// stay the same: a stored password is never handed to a new host.
pub async fn set_relay(
    st: &AppState,
    actor: &Actor,
    tenant_id: &str,
    input: &RelayInput,
) -> AppResult<Relay> {
    authorize_in(actor, Action::ManageRelay, tenant_id)?;
    let host = input.host.trim().to_lowercase();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let username = input.username.trim().to_string();
    policy::check_relay(
        &host,
        input.port,
        &username,
        &input.password,
        &st.config.relay_ports,
    )
    .map_err(|(field, msg)| AppError::invalid_field(field, msg))?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let before = store::relay(tx.conn(), tenant_id).await?;
    let same_place = before.as_ref().is_some_and(|b| {
        b.relay.host == host && b.relay.port == input.port && b.relay.username == username
    });
    let password_enc = if !input.password.is_empty() {
        crate::core::sealed::seal(
            &st.config,
            &relay_aad(tenant_id, &host, input.port, &username),
            input.password.as_bytes(),
        )?
    } else if same_place {
        if before.as_ref().is_some_and(|b| b.relay.tls == input.tls) {
            return Err(AppError::invalid_field(
                "password",
                "Nothing to change: the relay is set like this already.",
            ));
        }
        before
            .as_ref()
            .map(|b| b.password_enc.clone())
            .unwrap_or_default()
    } else {
        return Err(AppError::invalid_field(
            "password",
            if before.is_some() {
                "Give the relay's password: the stored one is kept only while the host, port and user name stay the same."
            } else {
                "Give the relay's password."
            },
        ));
    };
    let relay = Relay {
        host,
        port: input.port,
        tls: input.tls,
        username,
        updated_at: now,
        updated_by: actor.label.clone(),
        tested_at: None,
        test_ok: None,
        test_result: None,
    };
    store::put_relay(tx.conn(), tenant_id, &relay, &password_enc).await?;
    let shown = |r: &Relay| json!({ "host": r.host, "port": r.port, "tls": r.tls.as_str(), "username": r.username });
    record(
        &mut tx,
        actor,
        now,
        Event::new("tenant.relay_set")
            .target(tenant_id.to_string())
            .tenant(tenant_id.to_string())
            .details(json!({
                "relay": shown(&relay),
                "before": before.as_ref().map(|b| shown(&b.relay)),
                "password": if input.password.is_empty() { "kept" } else { "set" },
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(relay)
}

/// Removes the tenant's own relay (audited `tenant.relay_removed`): paid plans go back to the
/// managed relay; a Free tenant can no longer send to outside addresses.
pub async fn remove_relay(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<()> {
    authorize_in(actor, Action::ManageRelay, tenant_id)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(before) = store::relay(tx.conn(), tenant_id).await? else {
        return Err(AppError::Conflict(
            "This tenant has no relay of its own.".into(),
        ));
    };
    store::delete_relay(tx.conn(), tenant_id).await?;
    record(
        &mut tx,
        actor,
        now,
        Event::new("tenant.relay_removed")
            .target(tenant_id.to_string())
            .tenant(tenant_id.to_string())
            .details(
                json!({ "host": before.relay.host, "port": before.relay.port,
                "username": before.relay.username }),
            ),
    )
    .await?;
    tx.commit().await
}

/// How long a relay test keeps the next one waiting (a click repeated, or a hundred at once,
/// makes one connection to the relay).
const TEST_SPACING: i64 = 10;

/// Tries the tenant's relay as the mail plane will use it: connects, encrypts (STARTTLS or
/// TLS; the certificate is not verified, as Postfix's `encrypt` level does not), signs in
/// with the stored credentials, and quits without sending. The result is kept on the relay
/// and audited (`tenant.relay_tested`).
pub async fn test_relay(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<Relay> {
    authorize_in(actor, Action::ManageRelay, tenant_id)?;
    let now = st.clock.now();
    let mut c = st.db.pool().acquire().await?;
    let Some(row) = store::relay(&mut c, tenant_id).await? else {
        return Err(AppError::Conflict(
            "Set the relay first; then test it.".into(),
        ));
    };
    if !store::claim_relay_test(&mut c, tenant_id, row.relay.updated_at, now, TEST_SPACING).await? {
        return Err(AppError::Conflict(
            "A test of this relay ran a moment ago: wait a few seconds.".into(),
        ));
    }
    drop(c);
    let r = &row.relay;
    let outcome = match crate::core::sealed::open(
        &st.config,
        &relay_aad(tenant_id, &r.host, r.port, &r.username),
        &row.password_enc,
    )? {
        None => Err(
            "The stored password cannot be opened (the sealing key changed?): enter it again."
                .to_string(),
        ),
        Some(pw) => {
            let cfg = crate::core::config::SmtpConfig {
                host: r.host.clone(),
                port: r.port,
                username: Some(r.username.clone()),
                password: Some(String::from_utf8_lossy(&pw).into_owned()),
                tls: Some(match r.tls {
                    RelayTls::Starttls => "starttls".into(),
                    RelayTls::Tls => "implicit".into(),
                }),
                tls_insecure_skip_verify: true,
                ..Default::default()
            };
            crate::core::mailer::Mailer::try_once(cfg)
                .await
                .map(|d| format!("Connected, encrypted and signed in: {d}. Nothing was sent."))
        }
    };
    let (ok, result) = match outcome {
        Ok(s) => (true, s),
        Err(e) => (false, e),
    };
    let at = st.clock.now();
    let mut tx = st.db.begin().await?;
    let kept = store::relay_tested(tx.conn(), tenant_id, r.updated_at, at, ok, &result).await?;
    record(
        &mut tx,
        actor,
        at,
        Event::new("tenant.relay_tested")
            .target(tenant_id.to_string())
            .tenant(tenant_id.to_string())
            .details(json!({ "host": r.host, "port": r.port, "ok": ok, "result": result })),
    )
    .await?;
    tx.commit().await?;
    if !kept {
        return Err(AppError::Conflict(
            "The relay was changed during the test: test it again.".into(),
        ));
    }
    Ok(Relay {
        tested_at: Some(at),
        test_ok: Some(ok),
        test_result: Some(result),
        ..row.relay
    })
}

/// The relay a hosted sender's mail leaves through, with its password: the tenant's own, if
/// the sender's domain is an active hosted domain whose tenant set one. `None`: the managed
/// relay (or, for a Free tenant, nothing: its submissions to outside addresses are refused).
/// For `mailward policy`'s socketmap (the mail plane's question, no person asking).
pub async fn relay_for_sender(st: &AppState, sender: &str) -> AppResult<Option<(Relay, String)>> {
    let sender = sender.trim().to_lowercase();
    let Some((_, domain)) = sender.rsplit_once('@') else {
        return Ok(None);
    };
    let Ok(ascii) = idna::domain_to_ascii(domain) else {
        return Ok(None);
    };
    let mut c = st.db.pool().acquire().await?;
    let Some((_, tenant_id, status)) =
        crate::tenancy::store::domain_by_name(&mut c, &ascii).await?
    else {
        return Ok(None);
    };
    if status != "active" {
        return Ok(None);
    }
    let Some(row) = store::relay(&mut c, &tenant_id).await? else {
        return Ok(None);
    };
    let r = row.relay;
    let pw = crate::core::sealed::open(
        &st.config,
        &relay_aad(&tenant_id, &r.host, r.port, &r.username),
        &row.password_enc,
    )?
    .ok_or_else(|| {
        AppError::Internal(format!(
            "the relay password of tenant {tenant_id} cannot be opened (the sealing key changed?)"
        ))
    })?;
    Ok(Some((r, String::from_utf8_lossy(&pw).into_owned())))
}
