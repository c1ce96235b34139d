//! The owner's side: accepting a link (password and recovery codes), signing in to the own area,
//! self-service reset, password and codes, app passwords.
#[allow(unused_imports)]
use super::*;

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
    Actor::signed_in(
        Principal::Mailbox {
            mailbox_id: m.id.clone(),
        },
        None,
        m.address.clone(),
        None,
        TenantScope::Only(vec![m.tenant_id.clone()]),
        ip,
        ua,
    )
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
        return Err(AppError::invalid_field(
            "confirm",
            "The two passwords do not match.",
        ));
    }
    secrets::check_password_policy(password, &m.address).map_err(|e| e.on("password"))?;
    let hash = secrets::hash_mail_password(password.to_string()).await?;
    let (codes, hashes) = new_codes();
    let now = st.clock.now();
    // The link authenticates its holder as the mailbox's owner.
    let owner = owner_actor_for(&m, client.ip.clone(), client.user_agent.clone());
    let g = authorize(&owner, Action::ManageOwnMailbox)?;
    let mut tx = st.db.begin().await?;
    if !store::use_invite(tx.conn(), &inv.id, now).await? {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    if !store::set_password(tx.conn(), &g, &m.id, &hash, now, true).await? {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    let cut = store::cut_access(tx.conn(), &g, &m.id, now).await?;
    store::replace_codes(tx.conn(), &g, &m.id, &hashes, now).await?;
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
    m.status = MailboxStatus::Active;
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
        // The right password for a locked mailbox: its owner (or whoever holds the password)
        // is told why, not sent guessing; nothing opens.
        Some((m, _)) if ok && m.status == "locked" => {
            attempt.failed();
            note_failure(
                st,
                actor,
                "mailbox.signin_failed",
                Some(&m),
                json!({ "address": key, "locked": true }),
            )
            .await?;
            Err(AppError::Unauthorized(LOCKED_SIGNIN.into()))
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
        return Err(AppError::invalid_field(
            "confirm",
            "The two passwords do not match.",
        ));
    }
    secrets::check_password_policy(password, &key).map_err(|e| e.on("password"))?;
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
                // The recovery code authenticated its holder as the mailbox's owner.
                let owner = owner_actor_for(m, actor.ip.clone(), actor.user_agent.clone());
                let g = authorize(&owner, Action::ManageOwnMailbox)?;
                // Locked meanwhile: the lock holds (the code stays used, and that is logged;
                // the answer is neutral).
                if !store::set_password(tx.conn(), &g, &m.id, &hash, now, false).await? {
                    let ev = Event::new("mailbox.self_reset_refused")
                        .target(m.id.clone())
                        .details(json!({
                            "address": m.address, "channel": "recovery_code",
                            "reason": "the mailbox was locked meanwhile; the code is used up",
                        }))
                        .tenant(m.tenant_id.clone());
                    record(&mut tx, &owner, now, ev).await?;
                    tx.commit().await?;
                    return Err(AppError::Unauthorized(NEUTRAL_RESET.into()));
                }
                let cut = store::cut_access(tx.conn(), &g, &m.id, now).await?;
                // A link an operator issued is moot once the owner has reset themselves.
                let revoked = store::revoke_open_invites(tx.conn(), &g, &m.id, now).await?;
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
                m.status = MailboxStatus::Active;
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
pub(crate) async fn confirm_current(st: &AppState, id: &str, current: &str) -> AppResult<Mailbox> {
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
            Err(AppError::invalid_field(
                "current",
                "The current password is not right.",
            ))
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
        return Err(AppError::invalid_field(
            "confirm",
            "The two new passwords do not match.",
        ));
    }
    if password == current {
        return Err(AppError::invalid_field(
            "password",
            "Choose a password different from the current one.",
        ));
    }
    secrets::check_password_policy(password, &m.address).map_err(|e| e.on("password"))?;
    let hash = secrets::hash_mail_password(password.to_string()).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::set_password(tx.conn(), &g, &m.id, &hash, now, false).await? {
        return Err(AppError::Conflict(
            "This mailbox is locked: only a reset link from whoever manages it opens it again."
                .into(),
        ));
    }
    let cut = store::cut_access(tx.conn(), &g, &m.id, now).await?;
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
    store::replace_codes(tx.conn(), &g, &id, &hashes, now).await?;
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
        &g,
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
    if store::revoke_app_passwords(tx.conn(), &g, &m_id, Some(id), now).await? != 1 {
        return Err(AppError::NotFound);
    }
    let mut ev = Event::new("mailbox.app_password_revoked")
        .target(m_id)
        .details(json!({ "app_password": id }));
    ev.tenant_id = tenant;
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}
