//! Provisioning: creating a mailbox with its one-time link, sending or revealing links, and the
//! tenant's reveal policy.
#[allow(unused_imports)]
use super::*;

pub struct Created {
    pub mailbox: Mailbox,
    /// The invitation went out by email (otherwise an operator reveals it once).
    pub emailed: bool,
}

/// Creates an invited mailbox: address in one of the tenant's domains, display name, quota
/// from the pool, the critical flag, and a one-time link to the person's current address.
/// A shared mailbox (`new.shared`) has no link and no password: it is active at once, and
/// people reach it through delegation.
pub async fn create(st: &AppState, actor: &Actor, new: &NewMailbox) -> AppResult<Created> {
    authorize(actor, Action::ManageMailboxes)?;
    let view = authorize(actor, Action::ViewTenants)?;
    let raw = new.address.trim();
    let (local, domain_key) = match (raw.rsplit_once('@'), new.domain.as_deref()) {
        (Some((l, d)), _) => (l.to_string(), d.to_string()),
        (None, Some(d)) if !d.trim().is_empty() => (raw.to_string(), d.trim().to_string()),
        _ => {
            return Err(AppError::invalid_field(
                "address",
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
            AppError::invalid_field(
                "address",
                format!(
                    "“{local}” cannot be the name part of an address: use letters, digits, dots, \
                 hyphens or underscores."
                ),
            )
        })?
        .key();
    let display_name = new.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(AppError::invalid_field(
            "display_name",
            "Enter the person's name (at most 100 characters).",
        ));
    }
    let quota = parse_quota(new.quota.as_deref().unwrap_or(""))
        .map_err(|m| AppError::invalid_field("quota", m))?;
    let invite_to = match new
        .invite_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            EmailAddress::parse(s)
                .map_err(|m| AppError::invalid_field("invite_to", m))?
                .key(),
        ),
        None => None,
    };
    if new.shared && invite_to.is_some() {
        return Err(AppError::invalid_field(
            "invite_to",
            "Nobody signs in to a shared mailbox, so there is no invitation: leave this empty and delegate the mailbox to the people who use it.",
        ));
    }
    if invite_to.as_deref() == Some(address.as_str()) {
        return Err(AppError::invalid_field(
            "invite_to",
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
        status: if new.shared {
            MailboxStatus::Active
        } else {
            MailboxStatus::Invited
        },
        quota_bytes: quota,
        used_bytes: None,
        critical: new.critical,
        created_at: now,
        contact_email: invite_to.clone(),
        invite_revealed_to: None,
        password_set_at: None,
        offboarded_at: None,
        purge_after: None,
        purged_at: None,
        shared: new.shared,
    };
    let delivery = if new.shared {
        None
    } else {
        Some(delivery_for(st, &probe, invite_to.as_deref()).await?)
    };
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
            ))
            .on("quota"));
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
        shared: new.shared,
    };
    if let Err(e) = store::insert_many(tx.conn(), &g, std::slice::from_ref(&row), now).await {
        return Err(match e {
            AppError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                AppError::Conflict(format!("{address} already exists.")).on("address")
            }
            e => e,
        });
    }
    let ev = Event::new("mailbox.created")
        .target(id.clone())
        .details(json!({
            "address": address, "display_name": display_name, "quota_bytes": quota,
            "critical": new.critical, "invite_to": invite_to, "shared": new.shared,
        }))
        .tenant(domain.tenant_id.clone());
    // The mailbox's event and its first link's, recorded together (one claim on the chain).
    let mut events = vec![ev];
    let emailed = match delivery {
        Some(delivery) => {
            let (emailed, link_ev) = first_link(st, &mut tx, &g, &probe, delivery, now).await?;
            events.push(link_ev);
            emailed
        }
        None => false,
    };
    record_many(&mut tx, g.actor, now, events).await?;
    let mail = tx.commit_outbox().await?;
    crate::core::mailer::deliver(st, g.actor, mail, &format!("{} was created", probe.address))
        .await?;
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

pub(crate) async fn delivery_for(
    st: &AppState,
    m: &Mailbox,
    send_to: Option<&str>,
) -> AppResult<Delivery> {
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
    g: &Granted<'_>,
    m: &Mailbox,
    purpose: &str,
    delivery: Delivery,
    reason: Option<&str>,
    now: i64,
) -> AppResult<bool> {
    let (emailed, ev) = replace_link(st, tx, g, m, purpose, delivery, reason, now).await?;
    record(tx, g.actor, now, ev).await?;
    Ok(emailed)
}

/// [`issue_link`] without recording its audit event, which it returns: for bulk work that
/// records many links' events at once (`audit::service::record_many`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn replace_link(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    m: &Mailbox,
    purpose: &str,
    delivery: Delivery,
    reason: Option<&str>,
    now: i64,
) -> AppResult<(bool, Event<'static>)> {
    if m.shared {
        return Err(AppError::Conflict(format!(
            "{} is a shared mailbox: nobody signs in to it, so it has no link or password. Delegate it to the people who use it.",
            m.address
        )));
    }
    // Holds the mailbox row to the end of this transaction, so an offboarding that runs at
    // the same time waits and then revokes this link too; one that came first wins.
    if !store::hold(tx.conn(), g, &m.id).await? {
        return Err(AppError::Conflict(format!(
            "{} was offboarded: no link was made.",
            m.address
        )));
    }
    let revoked = store::revoke_open_invites(tx.conn(), g, &m.id, now).await?;
    new_link(st, tx, g, m, purpose, delivery, reason, revoked, now).await
}

/// [`issue_link`] for a mailbox this transaction created: nobody else can see it yet, so
/// there is no row to hold against an offboarding and no open link to revoke. The link's
/// audit event is the caller's to record.
async fn first_link(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    m: &Mailbox,
    delivery: Delivery,
    now: i64,
) -> AppResult<(bool, Event<'static>)> {
    new_link(st, tx, g, m, "provision", delivery, None, 0, now).await
}

/// The link itself: its row and, by email, its message (after commit); returns whether it
/// is emailed and its audit event, for the caller to record.
#[allow(clippy::too_many_arguments)]
async fn new_link(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    m: &Mailbox,
    purpose: &str,
    delivery: Delivery,
    reason: Option<&str>,
    revoked: i64,
    now: i64,
) -> AppResult<(bool, Event<'static>)> {
    let token = secrets::new_token("mwm_");
    let id = secrets::new_id("minv");
    let expires = now + st.config.invite_ttl_hours * 3600;
    let (send_to, mode) = match &delivery {
        Delivery::Email(to) => (Some(to.as_str()), "email"),
        Delivery::Reveal => (None, "reveal"),
    };
    store::insert_invite(
        tx.conn(),
        g,
        &id,
        &m.id,
        &m.tenant_id,
        purpose,
        &secrets::sha256_hex(&token),
        send_to,
        mode,
        reason,
        g.actor,
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
    if let Delivery::Email(to) = delivery {
        let link = format!("{}/activate/{token}", st.config.public_url());
        // People read the Unicode form of the address; the link carries no address at all.
        let address = crate::types::readable(&m.address);
        let (subject, what) = if purpose == "reset" {
            (
                format!("Set a new password for {address}"),
                "A password reset was started for your mailbox",
            )
        } else {
            (
                format!("Your new mailbox {address}"),
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
                m.display_name, address, st.config.invite_ttl_hours
            ),
            link: Some(id),
        });
        return Ok((true, ev));
    }
    Ok((false, ev))
}

/// When an invitation mail cannot be sent, its link is withdrawn (and that is audited), so
/// no live link exists that nobody received. Registered with the kinds
/// (`core::registry::UnsentMail`); `core::mailer::deliver` calls it.
pub(crate) struct WithdrawUnsentLink;

#[async_trait::async_trait]
impl crate::core::registry::UnsentMail for WithdrawUnsentLink {
    async fn unsent(
        &self,
        st: &AppState,
        by: &Actor,
        mail: &Mail,
        e: &AppError,
    ) -> AppResult<Option<String>> {
        let Some(link) = &mail.link else {
            return Ok(None);
        };
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        // Withdrawing a link nobody received is the system's safety net, whoever's action
        // sent the mail (an approver, a mailbox owner…): it runs on the system's proof and
        // is recorded as theirs.
        let system = Actor::system("mail delivery");
        let sg = authorize(&system, Action::ManageMailboxes)?;
        if let Some((mailbox_id, tenant_id)) =
            store::withdraw_invite(tx.conn(), &sg, link, now).await?
        {
            let ev = Event::new("mailbox.invite_not_sent")
                .target(mailbox_id)
                .tenant(tenant_id)
                .details(json!({ "invite": link, "send_to": mail.to, "error": e.to_string() }));
            record(&mut tx, by, now, ev).await?;
            tx.commit().await?;
        }
        Ok(Some(
            "The link in it was withdrawn: send a new one when outgoing mail works.".into(),
        ))
    }
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
        store::set_contact_email(tx.conn(), &g, &m.id, to.as_deref()).await?;
    }
    let emailed = issue_link(st, &mut tx, &g, &m, "provision", delivery, None, now).await?;
    let mail = tx.commit_outbox().await?;
    crate::core::mailer::deliver(st, g.actor, mail, "A new link was made").await?;
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
    if !store::reveal_invite(
        tx.conn(),
        &g,
        &inv.id,
        &secrets::sha256_hex(&token),
        &by,
        now,
    )
    .await?
    {
        return Err(AppError::Conflict(
            "This link was revealed already. Send a new invitation to reveal again.".into(),
        ));
    }
    store::mark_revealed(tx.conn(), &g, &m.id, &g.actor.label).await?;
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
    let n = store::revoke_open_invites(tx.conn(), &g, &m.id, now).await?;
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
    let before: String = crate::tenancy::store::reveal_policy(tx.conn(), &t.id).await?;
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
        crate::tenancy::store::reveal_policy(&mut *st.db.pool().acquire().await?, tenant_id)
            .await?,
    )
}
