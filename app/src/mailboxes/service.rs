//! Mailbox use cases. Each mutation: authorize → store calls → audit event, in one
//! transaction. Secrets (links, passwords, recovery codes, app passwords) are generated
//! here, stored only as hashes, and handed back once.
use serde_json::json;
use sqlx::Row;

use super::{
    parse_quota, store, Activation, AppPassword, Mailbox, MailboxInvite, NewMailbox,
    OffboardingReceipt, ResetBurst, Revocations, ScanCheck,
};
use crate::audit::service::{record, record_alone, Event};
use crate::audit::AuditEvent;
use crate::auth::service::Attempt;
use crate::changes::service::{self as changes, NewChange};
use crate::changes::ChangeRequest;
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted, Principal, TenantScope};
use crate::core::db::Tx;
use crate::core::mailer::Mail;
use crate::core::registry::Applied;
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::EmailAddress;

pub const BAD_LINK: &str =
    "This link is not valid any more. Ask whoever manages your mailbox for a new one.";
const NEUTRAL_SIGNIN: &str = "Sign-in failed. Check the address and password, and try again.";
const NEUTRAL_RESET: &str =
    "That did not work. Check the mailbox address and the recovery code, and try again.";
const THROTTLED: &str =
    "Too many failed attempts. This is paused for up to 15 minutes; try again later.";
/// Failed attempts allowed per mailbox and per address within the throttle window
/// (`auth::service::FAILURE_WINDOW_SECS`).
pub const MAX_FAILURES: i64 = 5;

// ---------- reading ----------

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

/// Mailboxes across the actor's tenants (search, status, page of 100) and the total.
pub async fn search(
    st: &AppState,
    actor: &Actor,
    q: &super::MailboxQuery,
) -> AppResult<(Vec<super::MailboxRow>, i64)> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::search(&st.db, &g, q).await
}

/// One mailbox by id or address (another tenant's: not found).
pub async fn get(st: &AppState, actor: &Actor, key: &str) -> AppResult<Mailbox> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::get(&st.db, &g, key).await?.ok_or(AppError::NotFound)
}

/// A mailbox and the right to act on it.
async fn managed<'a>(
    st: &AppState,
    actor: &'a Actor,
    key: &str,
    action: Action,
) -> AppResult<(Mailbox, Granted<'a>)> {
    let m = get(st, actor, key).await?;
    authorize_in(actor, Action::ManageMailboxes, &m.tenant_id)?;
    let g = authorize_in(actor, action, &m.tenant_id)?;
    Ok((m, g))
}

/// Everything the mailbox page shows besides the mailbox.
pub struct Extras {
    pub invite: Option<MailboxInvite>,
    pub app_passwords: Vec<AppPassword>,
    pub recovery_codes_left: i64,
    pub changes: Vec<ChangeRequest>,
    pub receipt: Option<OffboardingReceipt>,
    pub events: Vec<AuditEvent>,
    pub reveal: RevealPolicy,
}

pub async fn extras(st: &AppState, actor: &Actor, m: &Mailbox) -> AppResult<Extras> {
    authorize_in(actor, Action::ViewTenants, &m.tenant_id)?;
    let now = st.clock.now();
    let (invite, app_passwords, recovery_codes_left, changes, receipt, events, reveal) = tokio::try_join!(
        store::open_invite(&st.db, &m.id, now),
        store::app_passwords(&st.db, &m.id),
        store::codes_left(&st.db, &m.id),
        changes::list(st, actor, changes::Filter::Target(&m.id)),
        latest_receipt(st, &m.id),
        events_about(st, &m.id, None, 20),
        reveal_policy(st, m),
    )?;
    Ok(Extras {
        invite,
        app_passwords,
        recovery_codes_left,
        changes,
        receipt,
        events,
        reveal,
    })
}

/// Audit events about one mailbox, newest first (optionally only some actions).
async fn events_about(
    st: &AppState,
    mailbox_id: &str,
    actions: Option<&[&str]>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let filter = actions
        .map(|a| {
            format!(
                " AND action IN ({})",
                a.iter()
                    .map(|x| format!("'{x}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, details, \
         prev_hash, hash FROM audit_events WHERE target = $1{filter} ORDER BY at DESC, seq DESC LIMIT $2"
    ))
    .bind(mailbox_id)
    .bind(limit)
    .fetch_all(st.db.pool())
    .await?;
    rows.iter()
        .map(crate::audit::service::row_to_event)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Whether an operator may reveal a mailbox's invitation link, and why not.
#[derive(Clone, Debug, PartialEq)]
pub enum RevealPolicy {
    Allowed,
    Forbidden(String),
}

pub(crate) async fn reveal_policy(st: &AppState, m: &Mailbox) -> AppResult<RevealPolicy> {
    let policy: String = sqlx::query("SELECT invite_reveal FROM tenants WHERE id = $1")
        .bind(&m.tenant_id)
        .fetch_one(st.db.pool())
        .await?
        .try_get("invite_reveal")?;
    Ok(match policy.as_str() {
        "forbidden" => RevealPolicy::Forbidden(
            "This tenant's policy forbids revealing invitation links: they go by email only."
                .into(),
        ),
        "not_critical" if m.critical => RevealPolicy::Forbidden(
            "Links of critical mailboxes are never revealed (tenant policy): they go by email only."
                .into(),
        ),
        _ => RevealPolicy::Allowed,
    })
}

// ---------- provisioning ----------

pub struct Created {
    pub mailbox: Mailbox,
    /// The invitation went out by email (otherwise an operator reveals it once).
    pub emailed: bool,
}

/// Creates an invited mailbox: address in one of the tenant's domains, display name, quota
/// from the pool, the critical flag, and a one-time link to the person's current address.
pub async fn create(st: &AppState, actor: &Actor, new: &NewMailbox) -> AppResult<Created> {
    authorize(actor, Action::ManageMailboxes)?;
    let view = authorize(actor, Action::ViewTenants)?;
    let raw = new.address.trim();
    let (local, domain_key) = match (raw.rsplit_once('@'), new.domain.as_deref()) {
        (Some((l, d)), _) => (l.to_string(), d.to_string()),
        (None, Some(d)) if !d.trim().is_empty() => (raw.to_string(), d.trim().to_string()),
        _ => {
            return Err(AppError::invalid(
                "Give the full address (name@domain) or choose the domain.",
            ))
        }
    };
    let not_ours = || AppError::invalid(format!("{domain_key} is not one of your domains."));
    let domain = crate::tenancy::store::domain(&st.db, &view, &domain_key.to_lowercase())
        .await?
        .filter(|d| actor.tenants.contains(&d.tenant_id))
        .ok_or_else(not_ours)?;
    let g = authorize_in(actor, Action::ManageMailboxes, &domain.tenant_id)?;
    let local = local.trim().to_lowercase();
    let address = EmailAddress::parse(&format!("{local}@{}", domain.name))
        .map_err(|_| {
            AppError::invalid(format!(
                "“{local}” cannot be the name part of an address: use letters, digits, dots, \
                 hyphens or underscores."
            ))
        })?
        .key();
    let display_name = new.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(AppError::invalid(
            "Enter the person's name (at most 100 characters).",
        ));
    }
    let quota = parse_quota(new.quota.as_deref().unwrap_or("")).map_err(AppError::Invalid)?;
    let invite_to = match new
        .invite_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(EmailAddress::parse(s).map_err(AppError::Invalid)?.key()),
        None => None,
    };
    if invite_to.as_deref() == Some(address.as_str()) {
        return Err(AppError::invalid(
            "The invitation cannot go to the new mailbox itself: give the person's current address.",
        ));
    }
    if domain.status == "suspended" {
        return Err(AppError::Conflict(format!(
            "{} is suspended: activate it before adding mailboxes.",
            domain.unicode_name
        )));
    }
    let tenant = crate::tenancy::store::tenant(&st.db, &view, &domain.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if tenant.status != "active" {
        return Err(AppError::Conflict(format!(
            "{} is suspended: resume the tenant before adding mailboxes.",
            tenant.name
        )));
    }
    let now = st.clock.now();
    let id = secrets::new_id("mbx");
    let probe = Mailbox {
        id: id.clone(),
        tenant_id: domain.tenant_id.clone(),
        domain_id: domain.id.clone(),
        address: address.clone(),
        display_name: display_name.to_string(),
        status: "invited".into(),
        quota_bytes: quota,
        used_bytes: None,
        critical: new.critical,
        created_at: now,
        contact_email: invite_to.clone(),
        invite_revealed_to: None,
        password_set_at: None,
        offboarded_at: None,
        purge_after: None,
    };
    let delivery = delivery_for(st, &probe, invite_to.as_deref()).await?;
    let mut tx = st.db.begin().await?;
    if let Some(q) = quota {
        if !crate::tenancy::store::allocate(tx.conn(), &g, &domain.tenant_id, q).await? {
            let left = (tenant.storage_bytes - tenant.storage_allocated).max(0);
            return Err(AppError::Conflict(format!(
                "{} does not fit in {}'s pool: {} of {} is still unallocated. Allocate less, \
                 leave it unlimited within the pool, or move the tenant to a larger plan.",
                crate::tenancy::format_bytes(q),
                tenant.name,
                crate::tenancy::format_bytes(left),
                crate::tenancy::format_bytes(tenant.storage_bytes)
            )));
        }
    }
    let row = store::NewRow {
        id: &id,
        tenant_id: &domain.tenant_id,
        domain_id: &domain.id,
        local_part: &local,
        address: &address,
        display_name,
        quota,
        critical: new.critical,
        contact_email: invite_to.as_deref(),
    };
    if let Err(e) = store::insert_many(tx.conn(), &g, std::slice::from_ref(&row), now).await {
        return Err(match e {
            AppError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                AppError::Conflict(format!("{address} already exists."))
            }
            e => e,
        });
    }
    let ev = Event::new("mailbox.created")
        .target(id.clone())
        .details(json!({
            "address": address, "display_name": display_name, "quota_bytes": quota,
            "critical": new.critical, "invite_to": invite_to,
        }))
        .tenant(domain.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    let emailed = issue_link(
        st,
        &mut tx,
        g.actor,
        &probe,
        "provision",
        delivery,
        None,
        now,
    )
    .await?;
    let mail = tx.commit_outbox().await?;
    deliver(st, g.actor, mail, &format!("{} was created", probe.address)).await?;
    Ok(Created {
        mailbox: probe,
        emailed,
    })
}

/// How a new link travels: by email when possible, else revealed once (if policy allows).
#[derive(Clone, Debug)]
pub(crate) enum Delivery {
    Email(String),
    Reveal,
}

async fn delivery_for(st: &AppState, m: &Mailbox, send_to: Option<&str>) -> AppResult<Delivery> {
    match send_to {
        Some(to) if st.mailer.is_configured() => Ok(Delivery::Email(to.to_string())),
        _ => match reveal_policy(st, m).await? {
            RevealPolicy::Allowed => Ok(Delivery::Reveal),
            RevealPolicy::Forbidden(why) => Err(AppError::Invalid(format!(
                "{why} {}",
                if st.mailer.is_configured() {
                    "Give the person's current address."
                } else {
                    "Outgoing mail is not configured, so no link can be delivered."
                }
            ))),
        },
    }
}

/// Issues a fresh link (revoking older open ones) and mails it when delivery is by email
/// (before commit: if the mail cannot be handed over, nothing is recorded). Returns whether
/// it was emailed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue_link(
    st: &AppState,
    tx: &mut Tx,
    by: &Actor,
    m: &Mailbox,
    purpose: &str,
    delivery: Delivery,
    reason: Option<&str>,
    now: i64,
) -> AppResult<bool> {
    // Holds the mailbox row to the end of this transaction, so an offboarding that runs at
    // the same time waits and then revokes this link too; one that came first wins.
    if !store::hold(tx.conn(), &m.id).await? {
        return Err(AppError::Conflict(format!(
            "{} was offboarded: no link was made.",
            m.address
        )));
    }
    let revoked = store::revoke_open_invites(tx.conn(), &m.id, now).await?;
    let token = secrets::new_token("mwm_");
    let id = secrets::new_id("minv");
    let expires = now + st.config.invite_ttl_hours * 3600;
    let (send_to, mode) = match &delivery {
        Delivery::Email(to) => (Some(to.as_str()), "email"),
        Delivery::Reveal => (None, "reveal"),
    };
    store::insert_invite(
        tx.conn(),
        &id,
        &m.id,
        &m.tenant_id,
        purpose,
        &secrets::sha256_hex(&token),
        send_to,
        mode,
        reason,
        by,
        now,
        expires,
    )
    .await?;
    let ev = Event::new("mailbox.invite_issued")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "invite": id, "purpose": purpose, "delivery": mode,
            "send_to": send_to, "replaced": revoked, "expires_at": expires,
        }))
        .tenant(m.tenant_id.clone());
    record(tx, by, now, ev).await?;
    if let Delivery::Email(to) = delivery {
        let link = format!("{}/activate/{token}", st.config.public_url());
        let (subject, what) = if purpose == "reset" {
            (
                format!("Set a new password for {}", m.address),
                "A password reset was started for your mailbox",
            )
        } else {
            (
                format!("Your new mailbox {}", m.address),
                "A mailbox was created for you",
            )
        };
        tx.mail_after_commit(Mail {
            to,
            subject,
            body: format!(
                "Hello {},\n\n{what}: {}.\n\nSet your password here (the link works once and \
                 expires in {} hours):\n\n{link}\n\nNobody else knows this link; nobody at your \
                 provider will ever ask for your password.\nIf you did not expect this, ignore \
                 this message.\n",
                m.display_name, m.address, st.config.invite_ttl_hours
            ),
            link: Some(id),
        });
        return Ok(true);
    }
    Ok(false)
}

/// Sends the mail a committed transaction queued. A link that cannot be sent is withdrawn
/// (and that is audited), so no live link exists that nobody received; the error says
/// what was done and what was not.
pub(crate) async fn deliver(
    st: &AppState,
    by: &Actor,
    mails: Vec<Mail>,
    done: &str,
) -> AppResult<()> {
    let mut failed = None;
    for mail in mails {
        if let Err(e) = st
            .mailer
            .send(&mail.to, &mail.subject, mail.body.clone())
            .await
        {
            let msg = withdraw(st, by, &mail, &e, done).await?;
            failed.get_or_insert(msg);
        }
    }
    match failed {
        Some(msg) => Err(AppError::Unavailable(msg)),
        None => Ok(()),
    }
}

/// After `mail` could not be sent: withdraws the link it carried (audited) and says in words
/// what was done and what was not.
pub(crate) async fn withdraw(
    st: &AppState,
    by: &Actor,
    mail: &Mail,
    e: &AppError,
    done: &str,
) -> AppResult<String> {
    tracing::warn!(error = %e, to = %mail.to, "mail not sent");
    if let Some(link) = &mail.link {
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        if let Some((mailbox_id, tenant_id)) = store::withdraw_invite(tx.conn(), link, now).await? {
            let ev = Event::new("mailbox.invite_not_sent")
                .target(mailbox_id)
                .tenant(tenant_id)
                .details(json!({ "invite": link, "send_to": mail.to, "error": e.to_string() }));
            record(&mut tx, by, now, ev).await?;
        }
        tx.commit().await?;
    }
    Ok(format!(
        "{done}, but the email to {} could not be sent ({e}). The link in it was withdrawn: \
         send a new one when outgoing mail works.",
        mail.to
    ))
}

/// Sends a new link (revoking the open one), to `send_to` or the address on file; an
/// empty `send_to` makes a link to reveal once instead of mailing it.
pub async fn resend_invite(
    st: &AppState,
    actor: &Actor,
    key: &str,
    send_to: Option<&str>,
) -> AppResult<bool> {
    let (m, g) = managed(st, actor, key, Action::ManageMailboxes).await?;
    if m.status != "invited" {
        return Err(AppError::Conflict(format!(
            "{} is {}: use Reset password instead.",
            m.address, m.status
        )));
    }
    // None: the address on file; "": no email (the link is revealed once instead).
    let to = match send_to.map(str::trim) {
        Some("") => None,
        Some(s) => Some(EmailAddress::parse(s).map_err(AppError::Invalid)?.key()),
        None => m.contact_email.clone(),
    };
    let delivery = delivery_for(st, &m, to.as_deref()).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if to.is_some() && to != m.contact_email {
        store::set_contact_email(tx.conn(), &m.id, to.as_deref()).await?;
    }
    let emailed = issue_link(st, &mut tx, g.actor, &m, "provision", delivery, None, now).await?;
    let mail = tx.commit_outbox().await?;
    deliver(st, g.actor, mail, "A new link was made").await?;
    Ok(emailed)
}

/// Shows the open link once, for out-of-band delivery: a new token replaces the stored hash,
/// the reveal is its own audit event, and the mailbox carries "revealed to <operator>" until
/// its owner sets a password.
pub async fn reveal_invite(st: &AppState, actor: &Actor, key: &str) -> AppResult<String> {
    let (m, g) = managed(st, actor, key, Action::RevealInvite).await?;
    if let RevealPolicy::Forbidden(why) = reveal_policy(st, &m).await? {
        return Err(AppError::Invalid(why));
    }
    let now = st.clock.now();
    let inv = store::open_invite(&st.db, &m.id, now)
        .await?
        .ok_or_else(|| AppError::Conflict("There is no open invitation to reveal.".into()))?;
    if inv.delivery == "email" {
        return Err(AppError::Conflict(format!(
            "This link was emailed to {}. To hand one over in person instead, make a new link \
             without an address, then reveal that.",
            inv.send_to.unwrap_or_default()
        )));
    }
    let token = secrets::new_token("mwm_");
    let mut tx = st.db.begin().await?;
    let by = g.actor.user_id.clone().unwrap_or_default();
    if !store::reveal_invite(tx.conn(), &inv.id, &secrets::sha256_hex(&token), &by, now).await? {
        return Err(AppError::Conflict(
            "This link was revealed already. Send a new invitation to reveal again.".into(),
        ));
    }
    store::mark_revealed(tx.conn(), &m.id, &g.actor.label).await?;
    let ev = Event::new("mailbox.invite_revealed")
        .target(m.id.clone())
        .details(json!({ "address": m.address, "invite": inv.id }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(format!("{}/activate/{token}", st.config.public_url()))
}

pub async fn revoke_invite(st: &AppState, actor: &Actor, key: &str) -> AppResult<()> {
    let (m, g) = managed(st, actor, key, Action::RevokeInvite).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let n = store::revoke_open_invites(tx.conn(), &m.id, now).await?;
    if n == 0 {
        return Err(AppError::Conflict(
            "There is no open invitation: it was used, revoked or has expired.".into(),
        ));
    }
    let ev = Event::new("mailbox.invite_revoked")
        .target(m.id.clone())
        .details(json!({ "address": m.address }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

/// Sets who may see invitation links of a tenant's mailboxes revealed.
pub async fn set_reveal_policy(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    policy: &str,
) -> AppResult<()> {
    let view = authorize(actor, Action::ViewTenants)?;
    let t = crate::tenancy::store::tenant(&st.db, &view, tenant_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::ManageTenants, &t.id)?;
    if !["allowed", "not_critical", "forbidden"].contains(&policy) {
        return Err(AppError::invalid(
            "Choose allowed, not for critical mailboxes, or forbidden.",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let before: String = sqlx::query("SELECT invite_reveal FROM tenants WHERE id = $1")
        .bind(&t.id)
        .fetch_one(tx.conn())
        .await?
        .try_get("invite_reveal")?;
    crate::tenancy::store::set_reveal_policy(tx.conn(), &g, &t.id, policy, now).await?;
    let ev = Event::new("tenant.reveal_policy_changed")
        .target(t.id.clone())
        .details(json!({ "before": before, "after": policy }))
        .tenant(t.id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

pub async fn tenant_reveal_policy(st: &AppState, tenant_id: &str) -> AppResult<String> {
    Ok(
        sqlx::query("SELECT invite_reveal FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_one(st.db.pool())
            .await?
            .try_get("invite_reveal")?,
    )
}

// ---------- accepting a link ----------

async fn open_link(st: &AppState, token: &str) -> AppResult<(store::InviteRecord, Mailbox)> {
    let bad = || AppError::Invalid(BAD_LINK.into());
    let inv = store::invite_by_hash(&st.db, &secrets::sha256_hex(token))
        .await?
        .ok_or_else(bad)?;
    if inv.used_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= st.clock.now() {
        return Err(bad());
    }
    let mut conn = st.db.pool().acquire().await?;
    let (m, _) = store::credentials(&mut conn, &inv.mailbox_id)
        .await?
        .ok_or_else(bad)?;
    if m.status == "offboarded" {
        return Err(bad());
    }
    Ok((inv, m))
}

pub async fn activation(st: &AppState, token: &str) -> AppResult<Activation> {
    let (inv, m) = open_link(st, token).await?;
    Ok(Activation {
        address: m.address,
        display_name: m.display_name,
        purpose: inv.purpose,
        expires_at: inv.expires_at,
    })
}

fn owner_actor_for(m: &Mailbox, ip: Option<String>, ua: Option<String>) -> Actor {
    Actor {
        principal: Principal::Mailbox {
            mailbox_id: m.id.clone(),
        },
        user_id: None,
        label: m.address.clone(),
        role: None,
        tenants: TenantScope::Only(vec![m.tenant_id.clone()]),
        ip,
        user_agent: ua,
    }
}

fn new_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..secrets::RECOVERY_CODE_COUNT)
        .map(|_| secrets::new_recovery_code())
        .collect();
    let hashes = codes
        .iter()
        .map(|c| secrets::hash_recovery_code(c))
        .collect();
    (codes, hashes)
}

/// The owner sets their password from a link: the link is consumed, the mailbox becomes
/// active, other sessions end, and ten new recovery codes are issued (returned once).
pub async fn accept(
    st: &AppState,
    client: &Actor,
    token: &str,
    password: &str,
    confirm: &str,
) -> AppResult<(Mailbox, Vec<String>)> {
    let (inv, m) = open_link(st, token).await?;
    if password != confirm {
        return Err(AppError::invalid("The two passwords do not match."));
    }
    secrets::check_password_policy(password, &m.address)?;
    let hash = secrets::hash_mail_password(password.to_string()).await?;
    let (codes, hashes) = new_codes();
    let now = st.clock.now();
    let owner = owner_actor_for(&m, client.ip.clone(), client.user_agent.clone());
    let mut tx = st.db.begin().await?;
    if !store::use_invite(tx.conn(), &inv.id, now).await? {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    if !store::set_password(tx.conn(), &m.id, &hash, now, true).await? {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    let cut = store::cut_access(tx.conn(), &m.id, now).await?;
    store::replace_codes(tx.conn(), &m.id, &hashes, now).await?;
    let action = if inv.purpose == "reset" {
        "mailbox.password_reset"
    } else {
        "mailbox.activated"
    };
    let ev = Event::new(action)
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "invite": inv.id, "channel": "invite_link",
            "sessions_ended": cut.sessions, "app_passwords_revoked": cut.app_passwords,
            "recovery_codes": codes.len(),
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, &owner, now, ev).await?;
    tx.commit().await?;
    let mut m = m;
    m.status = "active".into();
    m.password_set_at = Some(now);
    m.invite_revealed_to = None;
    Ok((m, codes))
}

// ---------- the owner's own area ----------

/// The mailbox owner behind a session's mailbox id (inactive mailboxes are nobody).
pub async fn owner(
    st: &AppState,
    mailbox_id: &str,
    ip: Option<String>,
    ua: Option<String>,
) -> AppResult<Option<(Mailbox, Actor)>> {
    let mut conn = st.db.pool().acquire().await?;
    Ok(store::credentials(&mut conn, mailbox_id)
        .await?
        .filter(|(m, _)| m.status == "active")
        .map(|(m, _)| {
            let a = owner_actor_for(&m, ip, ua);
            (m, a)
        }))
}

/// Records a failed attempt (already counted by its [`Attempt`]) as an audit event.
async fn note_failure(
    st: &AppState,
    actor: &Actor,
    action: &str,
    m: Option<&Mailbox>,
    details: serde_json::Value,
) -> AppResult<()> {
    let mut ev = Event::new(action).details(details);
    if let Some(m) = m {
        ev.target = Some(m.id.clone());
        ev.tenant_id = Some(m.tenant_id.clone());
    }
    record_alone(&st.db, actor, st.clock.now(), ev).await?;
    Ok(())
}

fn subjects(kind: &str, address: &str, actor: &Actor) -> Vec<String> {
    vec![
        format!("{kind}:mbx:{address}"),
        format!("{kind}:ip:{}", actor.ip.clone().unwrap_or_default()),
    ]
}

/// The owner signs in to their self-service area with the mailbox password. Unknown
/// addresses cost the same time and get the same answer.
pub async fn sign_in(
    st: &AppState,
    actor: &Actor,
    address: &str,
    password: &str,
) -> AppResult<Mailbox> {
    let key = address.trim().to_lowercase();
    let subj = subjects("msignin", &key, actor);
    let Some(attempt) = Attempt::reserve(st, &subj, MAX_FAILURES).await? else {
        record_alone(
            &st.db,
            actor,
            st.clock.now(),
            Event::new("mailbox.signin_throttled").details(json!({ "address": key })),
        )
        .await?;
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    let mut conn = st.db.pool().acquire().await?;
    let found = store::credentials(&mut conn, &key).await?;
    drop(conn);
    let ok = match secrets::verify_mail_password(
        password.to_string(),
        found.as_ref().and_then(|(_, h)| h.clone()),
    )
    .await
    {
        Ok(ok) => ok,
        Err(e) => {
            attempt.succeeded(st).await?;
            return Err(e);
        }
    };
    match found {
        Some((m, _)) if ok && m.status == "active" => {
            attempt.succeeded(st).await?;
            let owner = owner_actor_for(&m, actor.ip.clone(), actor.user_agent.clone());
            let ev = Event::new("mailbox.signin")
                .target(m.id.clone())
                .tenant(m.tenant_id.clone());
            record_alone(&st.db, &owner, st.clock.now(), ev).await?;
            Ok(m)
        }
        found => {
            attempt.failed();
            note_failure(
                st,
                actor,
                "mailbox.signin_failed",
                found.as_ref().map(|(m, _)| m),
                json!({ "address": key }),
            )
            .await?;
            Err(AppError::Unauthorized(NEUTRAL_SIGNIN.into()))
        }
    }
}

/// Self-service reset with a recovery code (no operator involved): consumes the code, sets
/// the new password, ends the mailbox's sessions and notifies the owner. Wrong address and
/// wrong code give one neutral answer after the same work (a password hash either way).
pub async fn self_reset(
    st: &AppState,
    actor: &Actor,
    address: &str,
    code: &str,
    password: &str,
    confirm: &str,
) -> AppResult<Mailbox> {
    let key = address.trim().to_lowercase();
    if password != confirm {
        return Err(AppError::invalid("The two passwords do not match."));
    }
    secrets::check_password_policy(password, &key)?;
    let subj = subjects("mreset", &key, actor);
    let Some(attempt) = Attempt::reserve(st, &subj, MAX_FAILURES).await? else {
        record_alone(
            &st.db,
            actor,
            st.clock.now(),
            Event::new("mailbox.reset_throttled").details(json!({ "address": key })),
        )
        .await?;
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    // The same work whether or not the address exists: one argon2 hash.
    let hash = match secrets::hash_mail_password(password.to_string()).await {
        Ok(h) => h,
        Err(e) => {
            attempt.succeeded(st).await?;
            return Err(e);
        }
    };
    let mut conn = st.db.pool().acquire().await?;
    let found = store::credentials(&mut conn, &key).await?.map(|(m, _)| m);
    drop(conn);
    let now = st.clock.now();
    // A locked mailbox (suspected compromise) opens only with an operator's reset link.
    let usable = found.as_ref().filter(|m| m.status == "active");
    if let Some(m) = usable {
        if secrets::looks_like_recovery_code(code) {
            let mut tx = st.db.begin().await?;
            if store::consume_code(tx.conn(), &m.id, &secrets::hash_recovery_code(code), now)
                .await?
            {
                // Locked meanwhile: the lock holds (the code stays used; the answer is neutral).
                if !store::set_password(tx.conn(), &m.id, &hash, now, false).await? {
                    tx.commit().await?;
                    return Err(AppError::Unauthorized(NEUTRAL_RESET.into()));
                }
                let cut = store::cut_access(tx.conn(), &m.id, now).await?;
                // A link an operator issued is moot once the owner has reset themselves.
                let revoked = store::revoke_open_invites(tx.conn(), &m.id, now).await?;
                let owner = owner_actor_for(m, actor.ip.clone(), actor.user_agent.clone());
                let ev = Event::new("mailbox.self_reset")
                    .target(m.id.clone())
                    .details(json!({
                        "address": m.address, "channel": "recovery_code", "initiator": "owner",
                        "sessions_ended": cut.sessions,
                        "app_passwords_revoked": cut.app_passwords, "links_revoked": revoked,
                    }))
                    .tenant(m.tenant_id.clone());
                record(&mut tx, &owner, now, ev).await?;
                tx.commit().await?;
                attempt.succeeded(st).await?;
                notify_reset(st, m, actor).await;
                let mut m = m.clone();
                m.status = "active".into();
                return Ok(m);
            }
        }
    }
    attempt.failed();
    note_failure(
        st,
        actor,
        "mailbox.self_reset_failed",
        found.as_ref(),
        json!({ "address": key }),
    )
    .await?;
    Err(AppError::Unauthorized(NEUTRAL_RESET.into()))
}

/// Tells the owner (their mailbox and their other address) that the password changed.
/// Best effort: the reset stands even if the notice cannot be sent.
async fn notify_reset(st: &AppState, m: &Mailbox, actor: &Actor) {
    if !st.mailer.is_configured() {
        return;
    }
    let when = chrono::DateTime::from_timestamp(st.clock.now(), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let body = format!(
        "The password of {} was reset with a recovery code on {when}{}.\n\nAll signed-in \
         sessions were ended. If this was not you, contact whoever manages your mailbox at once.\n",
        m.address,
        actor
            .ip
            .as_deref()
            .map(|ip| format!(" from {ip}"))
            .unwrap_or_default()
    );
    let mut to = vec![m.address.clone()];
    to.extend(m.contact_email.clone());
    for addr in to {
        if let Err(e) = st
            .mailer
            .send(&addr, "Your mailbox password was reset", body.clone())
            .await
        {
            tracing::warn!(error = %e, mailbox = %m.id, "reset notice not sent");
        }
    }
}

fn own<'a>(actor: &'a Actor) -> AppResult<(Granted<'a>, String)> {
    let g = authorize(actor, Action::ManageOwnMailbox)?;
    let id = actor.mailbox_id().ok_or(AppError::Forbidden)?.to_string();
    Ok((g, id))
}

/// The owner's mailbox, after checking their current password (asked again before any
/// change to how the mailbox is reached: password, recovery codes, app passwords).
async fn confirm_current(st: &AppState, id: &str, current: &str) -> AppResult<Mailbox> {
    let mut conn = st.db.pool().acquire().await?;
    let (m, hash) = store::credentials(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    // Guessing the current password from a signed-in session is throttled like sign-in.
    let subject = format!("mcurrent:mbx:{id}");
    let Some(attempt) = Attempt::reserve(st, std::slice::from_ref(&subject), MAX_FAILURES).await?
    else {
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    match secrets::verify_mail_password(current.to_string(), hash).await {
        Ok(true) => {
            attempt.succeeded(st).await?;
            Ok(m)
        }
        Ok(false) => {
            attempt.failed();
            Err(AppError::invalid("The current password is not right."))
        }
        Err(e) => {
            attempt.succeeded(st).await?;
            Err(e)
        }
    }
}

/// The owner changes their password: every session of the mailbox ends (the caller starts
/// a fresh one for this browser) and app passwords are revoked, as after a reset.
pub async fn change_password(
    st: &AppState,
    actor: &Actor,
    current: &str,
    password: &str,
    confirm: &str,
) -> AppResult<store::Cut> {
    let (g, id) = own(actor)?;
    let m = confirm_current(st, &id, current).await?;
    if password != confirm {
        return Err(AppError::invalid("The two new passwords do not match."));
    }
    if password == current {
        return Err(AppError::invalid(
            "Choose a password different from the current one.",
        ));
    }
    secrets::check_password_policy(password, &m.address)?;
    let hash = secrets::hash_mail_password(password.to_string()).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::set_password(tx.conn(), &m.id, &hash, now, false).await? {
        return Err(AppError::Conflict(
            "This mailbox is locked: only a reset link from whoever manages it opens it again."
                .into(),
        ));
    }
    let cut = store::cut_access(tx.conn(), &m.id, now).await?;
    let ev = Event::new("mailbox.password_changed")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "channel": "self_service",
            "sessions_ended": cut.sessions, "app_passwords_revoked": cut.app_passwords,
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(cut)
}

/// New recovery codes for the owner (the old ones stop working); returned once.
pub async fn regenerate_codes(
    st: &AppState,
    actor: &Actor,
    current: &str,
) -> AppResult<Vec<String>> {
    let (g, id) = own(actor)?;
    confirm_current(st, &id, current).await?;
    let (codes, hashes) = new_codes();
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::replace_codes(tx.conn(), &id, &hashes, now).await?;
    let mut ev = Event::new("mailbox.recovery_codes_regenerated")
        .target(id.clone())
        .details(json!({ "count": codes.len() }));
    ev.tenant_id = g.actor.tenants_one();
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(codes)
}

/// What the owner's area shows.
pub struct OwnerView {
    pub mailbox: Mailbox,
    pub recovery_codes_left: i64,
    pub app_passwords: Vec<AppPassword>,
    pub signins: Vec<AuditEvent>,
}

pub async fn owner_view(st: &AppState, actor: &Actor) -> AppResult<OwnerView> {
    let (_, id) = own(actor)?;
    let mut conn = st.db.pool().acquire().await?;
    let (mailbox, _) = store::credentials(&mut conn, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let (recovery_codes_left, app_passwords, signins) = tokio::try_join!(
        store::codes_left(&st.db, &id),
        store::app_passwords(&st.db, &id),
        events_about(
            st,
            &id,
            Some(&[
                "mailbox.signin",
                "mailbox.signin_failed",
                "mailbox.self_reset",
                "mailbox.password_reset",
                "mailbox.password_changed",
                "mailbox.activated",
            ]),
            10
        ),
    )?;
    Ok(OwnerView {
        mailbox,
        recovery_codes_left,
        app_passwords,
        signins,
    })
}

pub const MAX_APP_PASSWORD_DAYS: i64 = 730;

/// The owner creates an app password for a mail client: named, for IMAP and/or SMTP
/// submission, optionally expiring; the secret is returned once and stored as `{ARGON2ID}`.
pub async fn create_app_password(
    st: &AppState,
    actor: &Actor,
    current: &str,
    name: &str,
    protocols: &[String],
    days: Option<i64>,
) -> AppResult<(AppPassword, String)> {
    let (g, id) = own(actor)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid(
            "Name the app password after the device or program (at most 64 characters).",
        ));
    }
    let mut protos: Vec<String> = Vec::new();
    for p in protocols.iter().map(|p| p.trim().to_lowercase()) {
        if !["imap", "smtp"].contains(&p.as_str()) {
            return Err(AppError::invalid(format!(
                "Unknown protocol “{p}”: use imap or smtp."
            )));
        }
        if !protos.contains(&p) {
            protos.push(p);
        }
    }
    if protos.is_empty() {
        return Err(AppError::invalid("Choose IMAP, SMTP or both."));
    }
    protos.sort();
    confirm_current(st, &id, current).await?;
    if let Some(d) = days {
        if !(1..=MAX_APP_PASSWORD_DAYS).contains(&d) {
            return Err(AppError::invalid(format!(
                "Expiry must be between 1 and {MAX_APP_PASSWORD_DAYS} days (or none)."
            )));
        }
    }
    let now = st.clock.now();
    let expires_at = days.map(|d| now + d * 86400);
    let ap_id = secrets::new_id("app");
    let tenant = g.actor.tenants_one().unwrap_or_default();
    // The first group is the public selector the mail plane looks the password up by: one
    // not in use by this mailbox (the unique index guards the rare race). Hashed before the
    // transaction, which then holds no lock while argon2 runs.
    let secret = {
        let mut conn = st.db.pool().acquire().await?;
        let mut secret = secrets::new_app_password();
        while store::app_selector_taken(&mut conn, &id, secrets::app_password_selector(&secret))
            .await?
        {
            secret = secrets::new_app_password();
        }
        secret
    };
    let hash = secrets::hash_mail_password(secret.clone()).await?;
    let mut tx = st.db.begin().await?;
    store::insert_app_password(
        tx.conn(),
        &ap_id,
        &id,
        &tenant,
        name,
        &protos.join(" "),
        secrets::app_password_selector(&secret),
        &hash,
        now,
        expires_at,
    )
    .await?;
    let ev = Event::new("mailbox.app_password_created")
        .target(id.clone())
        .details(json!({
            "app_password": ap_id, "name": name, "protocols": protos, "expires_at": expires_at,
        }))
        .tenant(tenant);
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok((
        AppPassword {
            id: ap_id,
            name: name.to_string(),
            protocols: protos,
            created_at: now,
            expires_at,
            works_for_mail: true,
            revoked_at: None,
        },
        secret,
    ))
}

/// Revokes an app password: by its owner, or by whoever manages the mailbox.
pub async fn revoke_app_password(
    st: &AppState,
    actor: &Actor,
    mailbox_key: Option<&str>,
    id: &str,
) -> AppResult<()> {
    let (g, m_id, tenant) = match actor.mailbox_id() {
        Some(_) => {
            let (g, mid) = own(actor)?;
            let t = g.actor.tenants_one();
            (g, mid, t)
        }
        None => {
            let (m, g) = managed(
                st,
                actor,
                mailbox_key.unwrap_or(""),
                Action::ManageMailboxes,
            )
            .await?;
            (g, m.id, Some(m.tenant_id))
        }
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if store::revoke_app_passwords(tx.conn(), &m_id, Some(id), now).await? != 1 {
        return Err(AppError::NotFound);
    }
    let mut ev = Event::new("mailbox.app_password_revoked")
        .target(m_id)
        .details(json!({ "app_password": id }));
    ev.tenant_id = tenant;
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

// ---------- operator-initiated resets ----------

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
    let limits = [
        (
            "actor_id",
            g.actor.user_id.clone().unwrap_or_default(),
            st.config.reset_limit_per_operator_hour,
            "you",
        ),
        (
            "tenant_id",
            m.tenant_id.clone(),
            st.config.reset_limit_per_tenant_hour,
            "this tenant",
        ),
    ];
    for (col, val, max, who) in limits {
        let n: i64 = sqlx::query(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM audit_events WHERE action = \
             'mailbox.reset_requested' AND {col} = $1 AND at > $2"
        ))
        .bind(&val)
        .bind(now - 3600)
        .fetch_one(st.db.pool())
        .await?
        .try_get("n")?;
        if n >= max {
            return Err(AppError::TooManyRequests(format!(
                "Reset limit reached: {who} started {n} resets in the last hour (limit {max}). \
                 Try again later."
            )));
        }
    }
    let mut tx = st.db.begin().await?;
    let mut cut = store::Cut::default();
    if lock_now && m.status != "locked" {
        store::set_status(tx.conn(), &m.id, "locked", now).await?;
        cut = store::cut_access(tx.conn(), &m.id, now).await?;
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
                "app_passwords_revoked": cut.app_passwords,
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
                tenant_id: &m.tenant_id,
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
        let emailed = issue_link(
            st,
            &mut tx,
            g.actor,
            &m,
            "reset",
            delivery,
            Some(reason),
            now,
        )
        .await?;
        ResetOutcome::Issued { emailed }
    };
    let mail = tx.commit_outbox().await?;
    deliver(st, g.actor, mail, "The reset was started").await?;
    Ok(outcome)
}

/// Applies an approved critical-mailbox reset (called by the change-request mechanism in
/// the approving transaction): issues the reset link.
pub async fn apply_reset(
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
    let emailed = issue_link(st, tx, g.actor, &m, "reset", delivery, Some(&c.reason), now).await?;
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

/// Rolls back an applied critical-mailbox reset: the reset link stops working and the
/// mailbox's status is what it was before the request (a reset that locked the mailbox
/// unlocks it). Refused once the owner has used the link: an old password cannot come back.
pub async fn roll_back_reset(
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
    let revoked = store::revoke_open_invites(tx.conn(), &m.id, now).await?;
    let restore = before["status"].as_str().unwrap_or(then);
    let restored = restore != m.status && matches!(restore, "active" | "locked");
    if restored {
        store::set_status(tx.conn(), &m.id, restore, now).await?;
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

/// Tenants with a burst of resets (at least `reset_burst_count` within
/// `reset_burst_minutes`), for the dashboard's alert.
pub async fn reset_bursts(st: &AppState, actor: &Actor) -> AppResult<Vec<ResetBurst>> {
    let g = authorize(actor, Action::ViewDashboard)?;
    let mut w = crate::core::db::Where::new();
    w.scope("e.tenant_id", &g.actor.tenants);
    let since = w.arg(st.clock.now() - st.config.reset_burst_minutes * 60);
    w.and(format!(
        "e.action IN ('mailbox.reset_requested', 'mailbox.self_reset') AND e.at > {since}"
    ));
    let min = w.arg(st.config.reset_burst_count);
    let sql = format!(
        "SELECT t.id, t.name, t.slug, CAST(COUNT(*) AS BIGINT) AS n FROM audit_events e \
         JOIN tenants t ON t.id = e.tenant_id{} GROUP BY t.id, t.name, t.slug \
         HAVING COUNT(*) >= {min} ORDER BY n DESC",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(st.db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(ResetBurst {
                tenant_id: r.try_get("id")?,
                tenant_name: r.try_get("name")?,
                tenant_slug: r.try_get("slug")?,
                resets: r.try_get("n")?,
                minutes: st.config.reset_burst_minutes,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

// ---------- offboarding ----------

/// The same person's console accounts (same address) and whether the actor may disable
/// them: tenant roles of this tenant always; platform accounts only with operator rights.
async fn same_person_accounts(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    m: &Mailbox,
) -> AppResult<(Vec<(String, String)>, Vec<String>)> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.role, (SELECT COUNT(*) FROM user_tenants ut WHERE ut.user_id = u.id \
         AND ut.tenant_id = $2) AS here FROM users u WHERE u.email = $1 AND u.status = 'active'",
    )
    .bind(&m.address)
    .bind(&m.tenant_id)
    .fetch_all(conn)
    .await?;
    let may_platform = authorize(actor, Action::ManageOperators).is_ok();
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for r in rows {
        let id: String = r.try_get("id")?;
        let email: String = r.try_get("email")?;
        let role: String = r.try_get("role")?;
        let here: i64 = r.try_get("here")?;
        let tenant_role = role == "tenant_admin" || role == "client_viewer";
        if (tenant_role && here > 0) || may_platform {
            yes.push((id, format!("{email} ({})", role.replace('_', " "))));
        } else {
            no.push(format!("{email} ({})", role.replace('_', " ")));
        }
    }
    Ok((yes, no))
}

const Q_SESSIONS: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM sessions WHERE mailbox_id = $1";
const Q_APP: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM app_passwords WHERE mailbox_id = $1 AND revoked_at IS NULL";
const Q_INV: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE mailbox_id = $1 AND used_at IS NULL AND revoked_at IS NULL";
const Q_CODES: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_recovery_codes WHERE mailbox_id = $1 AND used_at IS NULL";
// The offboarding alias is the one request about an offboarded mailbox that should stay.
const Q_CHANGES: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM change_requests WHERE target_id = $1 AND state = 'pending' AND kind <> 'mailbox.alias'";

/// What offboarding would revoke now (the confirmation lists it).
pub async fn offboard_preview(st: &AppState, actor: &Actor, key: &str) -> AppResult<Revocations> {
    let (m, _) = managed(st, actor, key, Action::ManageMailboxes).await?;
    let mut conn = st.db.pool().acquire().await?;
    let (_, hash) = store::credentials(&mut conn, &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (accounts, _) = same_person_accounts(&mut conn, actor, &m).await?;
    let mut tokens = 0;
    for (uid, _) in &accounts {
        tokens += store::count(
            &mut conn,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL",
            uid,
        )
        .await?;
    }
    Ok(Revocations {
        sign_in: hash.is_some(),
        sessions: store::count(&mut conn, Q_SESSIONS, &m.id).await?,
        app_passwords: store::count(&mut conn, Q_APP, &m.id).await?,
        invites: store::count(&mut conn, Q_INV, &m.id).await?,
        recovery_codes: store::count(&mut conn, Q_CODES, &m.id).await?,
        change_requests: store::count(&mut conn, Q_CHANGES, &m.id).await?,
        routes: crate::routing::service::count_for_mailbox(&mut conn, &m.id, &m.address).await?,
        delegations: 0,
        accounts: accounts.into_iter().map(|(_, l)| l).collect(),
        api_tokens: tokens,
        alias_requested: None,
    })
}

pub const MAX_KEEP_DAYS: i64 = 3650;

/// Offboards a mailbox in one transaction — sign-in disabled, sessions ended, app passwords,
/// links, recovery codes and pending requests revoked, the same person's console accounts
/// disabled with their API tokens — then re-reads the database to verify nothing active
/// remains. Returns the receipt. `confirm`, when given (the console asks for it), must be
/// the address typed again.
pub async fn offboard(
    st: &AppState,
    actor: &Actor,
    key: &str,
    keep_days: i64,
    reason: &str,
    confirm: Option<&str>,
    alias: Option<&super::AliasRequest>,
) -> AppResult<OffboardingReceipt> {
    let (m, g) = managed(st, actor, key, Action::ManageMailboxes).await?;
    let alias_target = match alias {
        None => None,
        Some(a) => {
            if !(1..=super::MAX_ALIAS_DAYS).contains(&a.days) {
                return Err(AppError::invalid(format!(
                    "An alias lasts 1 to {} days.",
                    super::MAX_ALIAS_DAYS
                )));
            }
            let t = store::get(&st.db, &g, a.to.trim())
                .await?
                .filter(|t| t.tenant_id == m.tenant_id)
                .ok_or_else(|| {
                    AppError::invalid(format!("{} is not a mailbox of this tenant.", a.to.trim()))
                })?;
            if t.id == m.id || t.status != "active" {
                return Err(AppError::invalid(format!(
                    "The alias must point to a colleague's active mailbox, not {}.",
                    t.address
                )));
            }
            Some((t, a.days))
        }
    };
    if let Some(c) = confirm {
        if c.trim().to_lowercase() != m.address {
            return Err(AppError::invalid(format!(
                "Type the address {} to confirm the offboarding.",
                m.address
            )));
        }
    }
    if m.status == "offboarded" {
        return Err(AppError::Conflict(format!(
            "{} is already offboarded.",
            m.address
        )));
    }
    if !(0..=MAX_KEEP_DAYS).contains(&keep_days) {
        return Err(AppError::invalid(format!(
            "Keep the mail between 0 and {MAX_KEEP_DAYS} days."
        )));
    }
    let reason = reason.trim();
    if reason.chars().count() < 4 || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "Give the reason for offboarding (4 to 500 characters).",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let (_, hash) = store::credentials(tx.conn(), &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Conditional: two offboardings at once give one.
    if !store::mark_offboarded(tx.conn(), &g, &m, now + keep_days * 86400, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is already offboarded.",
            m.address
        )));
    }
    if let Some(q) = m.quota_bytes {
        // The allocation returns to the pool; the kept mail is read by nobody.
        crate::tenancy::store::release(tx.conn(), &g, &m.tenant_id, q).await?;
    }
    let store::Cut {
        sessions,
        app_passwords,
    } = store::cut_access(tx.conn(), &m.id, now).await?;
    let invites = store::revoke_open_invites(tx.conn(), &m.id, now).await?;
    let recovery_codes = store::burn_codes(tx.conn(), &m.id, now).await?;
    let change_requests =
        changes::cancel_for_target(&mut tx, &m.id, g.actor, now, "The mailbox was offboarded.")
            .await?;
    let routes =
        crate::routing::service::end_for_mailbox(&mut tx, &g, &m.id, &m.address, now).await?;
    let (accounts, _) = same_person_accounts(tx.conn(), actor, &m).await?;
    let mut api_tokens = 0;
    for (uid, _) in &accounts {
        api_tokens += crate::auth::store::disable_everywhere(tx.conn(), &g, uid, now).await?;
    }
    let revoked = Revocations {
        sign_in: hash.is_some(),
        sessions,
        app_passwords,
        invites,
        recovery_codes,
        change_requests,
        routes,
        delegations: 0,
        accounts: accounts.into_iter().map(|(_, l)| l).collect(),
        api_tokens,
        alias_requested: None,
    };
    let mut revoked = revoked;
    if let Some((t, days)) = &alias_target {
        let cr = changes::submit(
            st,
            &mut tx,
            &g,
            NewChange {
                tenant_id: &m.tenant_id,
                kind: "mailbox.alias",
                target_id: &m.id,
                target_label: &m.address,
                payload: json!({
                    "address": m.address, "target_mailbox_id": t.id, "target": t.address, "days": days,
                }),
                before: json!({ "status": m.status, "aliases": [] }),
                rollback: Some(json!({ "remove_alias_of": m.address })),
                reason: &format!(
                    "Offboarding: mail to {} goes to {} for {days} days. {reason}",
                    m.address, t.address
                ),
            },
            None,
            now,
        )
        .await?;
        revoked.alias_requested = Some(format!(
            "{} → {} for {days} days, waiting for a second person's approval ({cr})",
            m.address, t.address
        ));
    }
    let receipt_id = secrets::new_id("rcpt");
    let options = json!({ "keep_days": keep_days, "reason": reason });
    let revoked_json = serde_json::to_string(&revoked).map_err(AppError::internal)?;
    store::insert_receipt(
        tx.conn(),
        &g,
        &store::NewReceipt {
            id: &receipt_id,
            mailbox: &m,
            options: &options,
            revoked: &revoked_json,
        },
        now,
    )
    .await?;
    let ev = Event::new("mailbox.offboarded")
        .target(m.id.clone())
        .details(json!({
            "address": m.address, "receipt": receipt_id, "reason": reason, "keep_days": keep_days,
            "before": { "status": m.status, "quota_bytes": m.quota_bytes },
            "revoked": revoked,
        }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    verify_offboarding(st, g.actor, &m, &receipt_id).await?;
    latest_receipt(st, &m.id).await?.ok_or(AppError::NotFound)
}

/// Offboards several mailboxes, each in its own transaction with its own receipt; one
/// failure does not stop the others. Returns each address with its outcome.
pub async fn offboard_many(
    st: &AppState,
    actor: &Actor,
    ids: &[String],
    keep_days: i64,
    reason: &str,
) -> AppResult<Vec<(String, AppResult<OffboardingReceipt>)>> {
    authorize(actor, Action::ManageMailboxes)?;
    if ids.is_empty() {
        return Err(AppError::invalid("Select at least one mailbox."));
    }
    if ids.len() > 500 {
        return Err(AppError::invalid("Offboard at most 500 mailboxes at once."));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let r = offboard(st, actor, id, keep_days, reason, None, None).await;
        out.push((id.clone(), r));
    }
    Ok(out)
}

/// The verification scan: re-reads the database and counts whatever is still active for
/// the mailbox; stored on the receipt and audited.
async fn verify_offboarding(
    st: &AppState,
    actor: &Actor,
    m: &Mailbox,
    receipt_id: &str,
) -> AppResult<Vec<ScanCheck>> {
    let mut conn = st.db.pool().acquire().await?;
    let (now_m, hash) = store::credentials(&mut conn, &m.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let same_person = store::count(
        &mut conn,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE email = $1 AND status = 'active'",
        &m.address,
    )
    .await?;
    let tokens = store::count(
        &mut conn,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.email = $1 AND t.revoked_at IS NULL",
        &m.address,
    )
    .await?;
    let checks = vec![
        ScanCheck {
            what: "Mailbox not offboarded".into(),
            remaining: (now_m.status != "offboarded") as i64,
        },
        ScanCheck {
            what: "Password that can sign in".into(),
            remaining: hash.is_some() as i64,
        },
        ScanCheck {
            what: "Sessions".into(),
            remaining: store::count(&mut conn, Q_SESSIONS, &m.id).await?,
        },
        ScanCheck {
            what: "App passwords".into(),
            remaining: store::count(&mut conn, Q_APP, &m.id).await?,
        },
        ScanCheck {
            what: "Open invitation links".into(),
            remaining: store::count(&mut conn, Q_INV, &m.id).await?,
        },
        ScanCheck {
            what: "Unused recovery codes".into(),
            remaining: store::count(&mut conn, Q_CODES, &m.id).await?,
        },
        ScanCheck {
            what: "Pending change requests".into(),
            remaining: store::count(&mut conn, Q_CHANGES, &m.id).await?,
        },
        ScanCheck {
            what: "Routes from or to the mailbox".into(),
            remaining: crate::routing::service::count_for_mailbox(&mut conn, &m.id, &m.address)
                .await?,
        },
        ScanCheck {
            what: "Console accounts of the same address".into(),
            remaining: same_person,
        },
        ScanCheck {
            what: "API tokens of those accounts".into(),
            remaining: tokens,
        },
    ];
    drop(conn);
    let clean = checks.iter().all(|c| c.remaining == 0);
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let scan = serde_json::to_string(&checks).map_err(AppError::internal)?;
    store::set_receipt_scan(tx.conn(), receipt_id, &scan, clean, now).await?;
    let ev = Event::new("mailbox.offboarding_verified")
        .target(m.id.clone())
        .details(json!({ "receipt": receipt_id, "clean": clean, "checks": checks }))
        .tenant(m.tenant_id.clone());
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok(checks)
}

async fn latest_receipt(st: &AppState, mailbox_id: &str) -> AppResult<Option<OffboardingReceipt>> {
    let row = sqlx::query(
        "SELECT id, mailbox_id, tenant_id, address, actor_label, at, options, revoked, scan, \
         scan_clean, scan_at FROM offboarding_receipts WHERE mailbox_id = $1 ORDER BY at DESC LIMIT 1",
    )
    .bind(mailbox_id)
    .fetch_optional(st.db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let options: serde_json::Value =
        serde_json::from_str(&r.try_get::<String, _>("options")?).map_err(AppError::internal)?;
    let scan: Option<String> = r.try_get("scan")?;
    Ok(Some(OffboardingReceipt {
        id: r.try_get("id")?,
        mailbox_id: r.try_get("mailbox_id")?,
        tenant_id: r.try_get("tenant_id")?,
        address: r.try_get("address")?,
        by: r.try_get("actor_label")?,
        at: r.try_get("at")?,
        keep_days: options["keep_days"].as_i64().unwrap_or(0),
        reason: options["reason"].as_str().unwrap_or("").to_string(),
        revoked: serde_json::from_str(&r.try_get::<String, _>("revoked")?)
            .map_err(AppError::internal)?,
        scan: scan
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(AppError::internal)?
            .unwrap_or_default(),
        scan_clean: r.try_get::<Option<i64>, _>("scan_clean")?.unwrap_or(0) != 0,
        scan_at: r.try_get("scan_at")?,
    }))
}

/// The offboarding receipt of a mailbox.
pub async fn receipt(st: &AppState, actor: &Actor, key: &str) -> AppResult<OffboardingReceipt> {
    let m = get(st, actor, key).await?;
    latest_receipt(st, &m.id).await?.ok_or(AppError::NotFound)
}

/// Applies an approved offboarding alias (called by the change-request mechanism in the
/// approving transaction): mail to the old address goes to the colleague until it expires.
pub async fn apply_alias(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &ChangeRequest,
    now: i64,
) -> AppResult<Applied> {
    let payload: serde_json::Value =
        serde_json::from_str(&c.payload).map_err(AppError::internal)?;
    let address = payload["address"].as_str().unwrap_or_default().to_string();
    let target_id = payload["target_mailbox_id"].as_str().unwrap_or_default();
    let days = payload["days"]
        .as_i64()
        .unwrap_or(0)
        .clamp(1, super::MAX_ALIAS_DAYS);
    let (t, _) = store::credentials(tx.conn(), target_id)
        .await?
        .ok_or_else(|| AppError::Conflict("The colleague's mailbox is gone.".into()))?;
    if t.status != "active" || t.tenant_id != c.tenant_id {
        return Err(AppError::Conflict(format!(
            "{} is {} now: the alias no longer applies.",
            t.address, t.status
        )));
    }
    let expires = now + days * 86400;
    let route = crate::routing::service::insert_offboarding_alias(
        st, tx, g, c, &address, &t.id, &t.address, days, now,
    )
    .await?;
    let until = chrono::DateTime::from_timestamp(expires, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    Ok(Applied {
        summary: format!("Mail to {address} goes to {} until {until}.", t.address),
        after: json!({ "route": route, "renewed": null }),
    })
}

/// The aliases of `address` that carry mail now (what the mailbox page shows).
pub async fn alias_targets(st: &AppState, address: &str) -> AppResult<Vec<super::AliasView>> {
    let rows = sqlx::query(
        "SELECT r.source, t.address AS target, r.expires_at FROM routes r \
         JOIN route_targets t ON t.route_id = r.id JOIN mailboxes m ON m.id = t.target_mailbox_id \
         WHERE r.source = $1 AND r.state = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2) \
         AND m.status IN ('active', 'locked') ORDER BY t.address",
    )
    .bind(address)
    .bind(st.clock.now())
    .fetch_all(st.db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(super::AliasView {
                address: r.try_get("source")?,
                target: r.try_get("target")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
