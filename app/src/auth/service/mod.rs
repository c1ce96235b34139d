//! Identity use cases. Each mutation: authorize → store calls → audit event, in one transaction.
use serde::{Deserialize, Serialize};

use super::store;
use super::{InviteRow, InviteView, OperatorView, Role, SessionView, TokenView, TotpEnrolment};
use crate::audit::service::{record, record_alone, Event};
use crate::core::authz::{
    authorize, authorize_in, authorize_protective, authorize_protective_in, Action, Actor, Granted,
    Principal, Scope, TenantScope,
};
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::EmailAddress;

mod account;
mod grants;
mod notices;
mod people;
pub use account::*;
pub use grants::*;
pub use notices::*;
pub use people::*;

/// Sign-in throttling windows and limits.
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
pub const MAX_PASSWORD_FAILURES: i64 = 10;
pub const MAX_SECOND_FACTOR_FAILURES: i64 = 5;
/// How long the password step stays valid while the second factor is awaited.
pub const SECOND_FACTOR_TTL_SECS: i64 = 5 * 60;

const NEUTRAL_SIGNIN: &str = "Sign-in failed. Check your email, password and code, and try again.";
const THROTTLED: &str =
    "Too many failed attempts. Sign-in is paused for up to 15 minutes; try again later.";
pub const BAD_LINK: &str =
    "This link is not valid any more. Ask whoever invited you for a new one.";

// ---------- setup and invitations ----------

/// On an empty database, issues a fresh one-time setup link for the first owner (revoking
/// any earlier one, whose token nobody can read back). Returns the link to print.
pub async fn ensure_setup_link(st: &AppState) -> AppResult<Option<String>> {
    if store::count_users(&st.db).await? > 0 {
        return Ok(None);
    }
    let now = st.clock.now();
    let token = secrets::new_token("mwi_");
    let mut tx = st.db.begin().await?;
    store::revoke_open_setup_links(tx.conn(), now).await?;
    let id = secrets::new_id("inv");
    let system = Actor::system("system");
    let g = authorize(&system, Action::ManageOperators)?;
    store::insert_invite(
        tx.conn(),
        &g,
        &id,
        None,
        Role::Owner,
        &secrets::sha256_hex(&token),
        now,
        now + st.config.invite_ttl_hours * 3600,
        "console",
        None,
    )
    .await?;
    record(
        &mut tx,
        &Actor::system("system"),
        now,
        Event::new("setup.link_issued").target(id),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(format!("{}/invite/{token}", st.config.public_url())))
}

async fn open_invite(st: &AppState, token: &str) -> AppResult<store::InviteRecord> {
    let inv = store::invite_by_hash(&st.db, &secrets::sha256_hex(token))
        .await?
        .ok_or_else(|| AppError::Invalid(BAD_LINK.into()))?;
    if inv.used_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= st.clock.now() {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    Ok(inv)
}

/// What the accept page shows for a link (the enrolment step comes from the session).
pub async fn invite_view(
    st: &AppState,
    token: &str,
    pending: Option<&Onboarding>,
) -> AppResult<InviteView> {
    let inv = open_invite(st, token).await?;
    let totp = match pending.filter(|p| p.invite_id == inv.id) {
        Some(p) => {
            let url = secrets::totp_url(&p.totp_secret, "Mailward", &p.email)?;
            Some(TotpEnrolment {
                secret: p.totp_secret.clone(),
                qr_data_url: secrets::qr_svg_data_url(&url)?,
                otpauth_url: url,
            })
        }
        None => None,
    };
    Ok(InviteView {
        email: inv.email,
        role: inv.role,
        expires_at: inv.expires_at,
        is_setup: inv.created_by.is_none() && inv.recovers.is_none(),
        recovering: inv.recovers.is_some(),
        totp,
    })
}

/// Step 1 done (kept in the server-side session until the authenticator is confirmed;
/// nothing is written to the database before that).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Onboarding {
    pub invite_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub totp_secret: String,
}

pub async fn begin_onboarding(
    st: &AppState,
    token: &str,
    email: Option<&str>,
    display_name: &str,
    password: &str,
    confirm: &str,
) -> AppResult<Onboarding> {
    let inv = open_invite(st, token).await?;
    let email = match (&inv.email, email) {
        (Some(e), _) => EmailAddress::parse(e).map_err(AppError::Invalid)?,
        (None, Some(e)) => {
            EmailAddress::parse(e).map_err(|m| AppError::invalid_field("email", m))?
        }
        (None, None) => {
            return Err(AppError::invalid_field(
                "email",
                "An email address is required.",
            ))
        }
    };
    let recovered = match &inv.recovers {
        Some(id) => store::user_by_id(&st.db, id).await?,
        None => None,
    };
    if inv.recovers.is_some() && recovered.is_none() {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    // A recovery keeps the account's name unless a new one is given.
    let display_name = match (&recovered, display_name.trim()) {
        (Some(u), "") => u.display_name.as_str(),
        (_, name) => name,
    };
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(AppError::invalid_field(
            "display_name",
            "Enter your name (at most 100 characters).",
        ));
    }
    if password != confirm {
        return Err(AppError::invalid_field(
            "confirm",
            "The two passwords do not match.",
        ));
    }
    secrets::check_password_policy(password, email.as_str()).map_err(|e| e.on("password"))?;
    if recovered.is_none() && store::user_by_email(&st.db, &email.key()).await?.is_some() {
        return Err(AppError::Conflict(
            "An account with this email address already exists.".into(),
        )
        .on("email"));
    }
    Ok(Onboarding {
        invite_id: inv.id,
        email: email.key(),
        display_name: display_name.to_string(),
        role: inv.role,
        password_hash: secrets::hash_password(password.to_string()).await?,
        totp_secret: secrets::new_totp_secret(),
    })
}

/// Step 2: the authenticator's first code proves enrolment; the account is created, the
/// invite consumed and ten recovery codes issued, all in one transaction.
pub async fn complete_onboarding(
    st: &AppState,
    token: &str,
    ob: &Onboarding,
    code: &str,
    actor: &Actor,
) -> AppResult<(String, Vec<String>)> {
    let inv = open_invite(st, token).await?;
    if inv.id != ob.invite_id {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    let now = st.clock.now();
    let Some(step) = secrets::totp_match(&ob.totp_secret, code, now) else {
        return Err(AppError::invalid(
            "That code is not right. Check the time on your phone and enter the current 6-digit code.",
        ));
    };
    let user_id = inv
        .recovers
        .clone()
        .unwrap_or_else(|| secrets::new_id("usr"));
    let codes: Vec<String> = (0..secrets::RECOVERY_CODE_COUNT)
        .map(|_| secrets::new_recovery_code())
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| secrets::hash_recovery_code(c))
        .collect();
    let mut tx = st.db.begin().await?;
    let mut sessions_ended = 0;
    if inv.recovers.is_some() {
        sessions_ended = store::recover_user(
            tx.conn(),
            &user_id,
            &ob.password_hash,
            &ob.totp_secret,
            step,
            now,
        )
        .await?;
    } else if let Err(e) = store::insert_user(
        tx.conn(),
        &user_id,
        &ob.email,
        &ob.display_name,
        ob.role,
        &ob.password_hash,
        &ob.totp_secret,
        step,
        now,
    )
    .await
    {
        return Err(match e {
            AppError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                AppError::Conflict("An account with this email address already exists.".into())
            }
            e => e,
        });
    }
    // Consumed in the same transaction: two tabs racing on one link create one account.
    if !store::mark_invite_used(tx.conn(), &inv.id, &user_id, now).await? {
        return Err(AppError::Invalid(BAD_LINK.into()));
    }
    if let (Some(t), None) = (&inv.tenant_id, &inv.recovers) {
        store::insert_user_tenant(tx.conn(), &user_id, t).await?;
    }
    store::insert_recovery_codes(tx.conn(), &user_id, &hashes, now).await?;
    let as_new_user = Actor::signed_in(
        Principal::User,
        Some(user_id.clone()),
        ob.email.clone(),
        Some(ob.role),
        TenantScope::from_ids(inv.tenant_id.clone().map(|t| vec![t])),
        actor.ip.clone(),
        actor.user_agent.clone(),
    );
    let ev = |action| {
        Event::new(action)
            .target(user_id.clone())
            .details(serde_json::json!({
                "email": ob.email, "role": ob.role.as_str(), "invite": inv.id,
            }))
    };
    let ev = |action| {
        let mut e = ev(action);
        e.tenant_id = inv.tenant_id.clone();
        e
    };
    if inv.recovers.is_some() {
        let mut e = ev("auth.account_recovered");
        e.details = serde_json::json!({
            "email": ob.email, "role": ob.role.as_str(), "invite": inv.id,
            "sessions_ended": sessions_ended,
        });
        record(&mut tx, &as_new_user, now, e).await?;
    } else {
        record(&mut tx, &as_new_user, now, ev("user.created")).await?;
    }
    record(&mut tx, &as_new_user, now, ev("auth.totp_enrolled")).await?;
    record(
        &mut tx,
        &as_new_user,
        now,
        Event::new("auth.recovery_codes_issued")
            .target(user_id.clone())
            .details(serde_json::json!({ "count": codes.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok((user_id, codes))
}

/// Result of inviting an operator.
pub struct InviteCreated {
    pub id: String,
    pub emailed: bool,
}

pub async fn invite_operator(
    st: &AppState,
    actor: &Actor,
    email: &str,
) -> AppResult<InviteCreated> {
    let g = authorize(actor, Action::ManageOperators)?;
    create_invite(st, &g, email, Role::Operator, None).await
}

/// Invites a tenant admin or a client viewer to one tenant.
pub async fn invite_tenant_user(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    email: &str,
    role: &str,
) -> AppResult<InviteCreated> {
    let view = authorize(actor, Action::ViewTenants)?;
    let tenant = crate::tenancy::store::tenant(&st.db, &view, tenant_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::InviteTenantUser, &tenant.id)?;
    let role = Role::parse(role)
        .filter(|r| r.is_tenant_role())
        .ok_or_else(|| AppError::invalid("Choose tenant admin or client viewer."))?;
    create_invite(st, &g, email, role, Some((&tenant.id, &tenant.name))).await
}

/// One invitation path for every role: a 256-bit link, stored hashed, sent by email when
/// outgoing mail is configured, otherwise left to be revealed once.
async fn create_invite(
    st: &AppState,
    g: &Granted<'_>,
    email: &str,
    role: Role,
    tenant: Option<(&str, &str)>,
) -> AppResult<InviteCreated> {
    let tenant_id = tenant.map(|(id, _)| id);
    let email = EmailAddress::parse(email).map_err(|m| AppError::invalid_field("email", m))?;
    let now = st.clock.now();
    if store::user_by_email(&st.db, &email.key()).await?.is_some() {
        return Err(AppError::Conflict(format!("{email} already has an account.")).on("email"));
    }
    if store::open_invite_for_email(&st.db, &email.key(), now).await? {
        return Err(AppError::Conflict(format!(
            "{email} already has an open invitation. Revoke it first to send a new one."
        ))
        .on("email"));
    }
    let token = secrets::new_token("mwi_");
    let id = secrets::new_id("inv");
    let emailed = st.mailer.is_configured();
    let delivery = if emailed { "email" } else { "reveal" };
    let mut tx = st.db.begin().await?;
    store::insert_invite(
        tx.conn(),
        &g,
        &id,
        Some(&email.key()),
        role,
        &secrets::sha256_hex(&token),
        now,
        now + st.config.invite_ttl_hours * 3600,
        delivery,
        tenant_id,
    )
    .await?;
    let action = if role.is_tenant_role() {
        "tenant.user_invited"
    } else {
        "operator.invited"
    };
    let mut ev = Event::new(action)
        .target(id.clone())
        .details(serde_json::json!({
            "email": email.key(), "role": role.as_str(), "delivery": delivery,
        }));
    ev.tenant_id = tenant_id.map(str::to_string);
    record(&mut tx, g.actor, now, ev).await?;
    if emailed {
        // Sent before commit: if the mail cannot be handed over, nothing is recorded.
        let link = format!("{}/invite/{token}", st.config.public_url());
        // The mail says who invited them, to what, and what the role lets them do.
        let (subject, what) = match (role, tenant) {
            (Role::TenantAdmin, Some((_, name))) => (
                format!("You are invited to manage {name}'s mail"),
                format!(
                    "to manage {name}'s mail domains and mailboxes in Mailward, as tenant admin: \
                     you will create mailboxes, reset passwords and ask for changes that another \
                     person approves"
                ),
            ),
            (Role::ClientViewer, Some((_, name))) => (
                format!("You are invited to see {name}'s mail set-up"),
                format!(
                    "to see how {name}'s mail is looked after, read-only: domains, mailboxes, \
                     changes and the audit log. You will not be able to change anything"
                ),
            ),
            _ => (
                "You are invited to operate Mailward".to_string(),
                format!("to operate Mailward as {}", role.label().to_lowercase()),
            ),
        };
        st.mailer
            .send(
                email.as_str(),
                &subject,
                format!(
                    "{} invited you {what}.\n\nSet your password and enrol your authenticator \
                     app here. The link works once and expires in {} hours:\n\n{link}\n\n\
                     If you did not expect this, ignore this message: nothing happens until the \
                     link is used.\n",
                    g.actor.label, st.config.invite_ttl_hours
                ),
            )
            .await?;
    }
    tx.commit().await?;
    Ok(InviteCreated { id, emailed })
}

/// Who may reveal or revoke an invitation: owners for platform roles; for tenant roles,
/// whoever may invite to that tenant.
async fn authorize_invite<'a>(
    st: &AppState,
    actor: &'a Actor,
    invite_id: &str,
    action: Action,
) -> AppResult<Granted<'a>> {
    let (role, tenant) = store::invite_meta(&st.db, invite_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Revoking an invitation is protective: an incident's freeze does not stop it.
    let protective = action == Action::RevokeInvite;
    match tenant {
        Some(t) if role.is_tenant_role() => {
            if protective {
                authorize_protective_in(actor, Action::InviteTenantUser, &t)?;
            } else {
                authorize_in(actor, Action::InviteTenantUser, &t)?;
            }
            authorize_in(actor, action, &t)
        }
        _ => {
            if protective {
                authorize_protective(actor, Action::ManageOperators)?;
            } else {
                authorize(actor, Action::ManageOperators)?;
            }
            authorize(actor, action)
        }
    }
}

/// Shows an invite link once, for out-of-band delivery. The link is new (the stored hash is
/// replaced), so nobody else could have it; the reveal is its own audit event.
pub async fn reveal_invite(st: &AppState, actor: &Actor, invite_id: &str) -> AppResult<String> {
    let g = authorize_invite(st, actor, invite_id, Action::RevealInvite).await?;
    let now = st.clock.now();
    let token = secrets::new_token("mwi_");
    let mut tx = st.db.begin().await?;
    let Some(email) =
        store::reveal_invite(tx.conn(), &g, invite_id, &secrets::sha256_hex(&token), now).await?
    else {
        return Err(AppError::Conflict(
            "This invitation cannot be revealed: it was revealed already, used, revoked or expired."
                .into(),
        ));
    };
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("operator.invite_revealed")
            .target(invite_id.to_string())
            .details(serde_json::json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(format!("{}/invite/{token}", st.config.public_url()))
}

pub async fn revoke_invite(st: &AppState, actor: &Actor, invite_id: &str) -> AppResult<()> {
    let g = authorize_invite(st, actor, invite_id, Action::RevokeInvite).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::revoke_invite(tx.conn(), &g, invite_id, now).await? {
        return Err(AppError::Conflict(
            "This invitation is no longer open: it was used, revoked or has expired.".into(),
        ));
    }
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("operator.invite_revoked").target(invite_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn operators(
    st: &AppState,
    actor: &Actor,
) -> AppResult<(Vec<OperatorView>, Vec<InviteRow>)> {
    let g = authorize(actor, Action::ViewOperators)?;
    let mut users = store::list_users(&st.db, &g).await?;
    for u in users.iter_mut().filter(|u| u.role == Role::Operator) {
        let row = store::user_by_id(&st.db, &u.id).await?;
        if row.is_some_and(|r| !r.all_tenants) {
            u.tenant_ids = Some(store::user_tenant_ids(&st.db, &u.id).await?);
        }
    }
    Ok((
        users,
        store::open_invites(&st.db, &g, st.clock.now(), None).await?,
    ))
}

/// (owners and operators, open invitations), for the dashboard.
pub async fn platform_counts(st: &AppState, actor: &Actor) -> AppResult<(i64, i64)> {
    let g = authorize(actor, Action::ViewOperators)?;
    store::platform_counts(&st.db, &g, st.clock.now()).await
}

// ---------- sign-in ----------

/// Attempts reserved against the throttles before an expensive or guessable check: the
/// attempt counts from the start, so parallel requests cannot all pass a check-then-record.
/// Give it back with [`Attempt::succeeded`] when the credentials were right (or were never
/// checked); dropping it leaves it counted as a failure.
#[must_use]
pub struct Attempt {
    subjects: Vec<String>,
}

impl Attempt {
    /// Reserves one attempt on each subject (an account, an address…), or none when any
    /// of them has used up its `max` attempts in the current window.
    pub async fn reserve(
        st: &AppState,
        subjects: &[String],
        max: i64,
    ) -> AppResult<Option<Attempt>> {
        let now = st.clock.now();
        let mut got = Attempt {
            subjects: Vec::new(),
        };
        for s in subjects {
            if store::reserve_attempt(&st.db, s, now, FAILURE_WINDOW_SECS, max).await? {
                got.subjects.push(s.clone());
            } else {
                got.succeeded(st).await?;
                return Ok(None);
            }
        }
        Ok(Some(got))
    }
    /// Gives the reserved attempts back.
    pub async fn succeeded(self, st: &AppState) -> AppResult<()> {
        for s in &self.subjects {
            store::release_attempt(&st.db, s).await?;
        }
        Ok(())
    }
    /// Keeps the attempts counted (the check failed).
    pub fn failed(self) {}
}

/// Records a failed step (its attempt already counted) as an audit event.
async fn fail(
    st: &AppState,
    actor: &Actor,
    action: &str,
    target: Option<String>,
    details: serde_json::Value,
) -> AppResult<()> {
    let mut ev = Event::new(action).details(details);
    ev.target = target;
    record_alone(&st.db, actor, st.clock.now(), ev).await?;
    st.metrics
        .signin_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Step 1 of sign-in. Returns the user id whose second factor is now awaited. Unknown
/// accounts cost the same time and give the same message.
pub async fn sign_in_password(
    st: &AppState,
    actor: &Actor,
    email: &str,
    password: &str,
) -> AppResult<String> {
    let key = email.trim().to_lowercase();
    let acct = format!("pw:acct:{key}");
    let ip = format!("pw:ip:{}", actor.ip.clone().unwrap_or_default());
    let Some(attempt) = Attempt::reserve(st, &[acct, ip], MAX_PASSWORD_FAILURES).await? else {
        record_alone(
            &st.db,
            actor,
            st.clock.now(),
            Event::new("auth.signin_throttled")
                .details(serde_json::json!({ "email": key, "step": "password" })),
        )
        .await?;
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    let user = store::user_by_email(&st.db, &key).await?;
    let ok = match secrets::verify_password(
        password.to_string(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await
    {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked (too many checks at once): the attempt does not count.
            attempt.succeeded(st).await?;
            return Err(e);
        }
    };
    match user {
        Some(u) if ok && u.status == "active" => {
            attempt.succeeded(st).await?;
            Ok(u.id)
        }
        u => {
            attempt.failed();
            fail(
                st,
                actor,
                "auth.signin_failed",
                u.map(|u| u.id),
                serde_json::json!({ "email": key, "step": "password" }),
            )
            .await?;
            Err(AppError::Unauthorized(NEUTRAL_SIGNIN.into()))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Uses up a second factor of `user` in `tx`: a TOTP code of a step after the last one
/// used, or an unused recovery code. `None` when `code` is neither.
async fn spend_second_factor(
    tx: &mut crate::core::db::Tx,
    user: &store::UserRow,
    code: &str,
    now: i64,
) -> AppResult<Option<SecondFactor>> {
    Ok(
        if let Some(step) = secrets::totp_match(&user.totp_secret, code, now) {
            store::advance_totp_step(tx.conn(), &user.id, step)
                .await?
                .then_some(SecondFactor::Totp)
        } else if secrets::looks_like_recovery_code(code) {
            store::consume_recovery_code(
                tx.conn(),
                &user.id,
                &secrets::hash_recovery_code(code),
                now,
            )
            .await?
            .then_some(SecondFactor::RecoveryCode)
        } else {
            None
        },
    )
}

/// Step 2 of sign-in: a TOTP code (each accepted once) or a recovery code (consumed).
/// Five failures in 15 minutes lock the second factor for the account, whatever session or
/// address the attempts come from; while locked even a right code is refused and no
/// recovery code is consumed.
pub async fn sign_in_second_factor(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
    code: &str,
) -> AppResult<(super::CurrentUser, SecondFactor)> {
    let subject = format!("2fa:{user_id}");
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .filter(|u| u.status == "active")
        .ok_or_else(|| AppError::Unauthorized(NEUTRAL_SIGNIN.into()))?;
    let as_user = Actor::signed_in(
        actor.principal.clone(),
        Some(user.id.clone()),
        user.email.clone(),
        actor.role,
        actor.tenants.clone(),
        actor.ip.clone(),
        actor.user_agent.clone(),
    );
    let Some(attempt) = Attempt::reserve(
        st,
        std::slice::from_ref(&subject),
        MAX_SECOND_FACTOR_FAILURES,
    )
    .await?
    else {
        record_alone(
            &st.db,
            &as_user,
            st.clock.now(),
            Event::new("auth.locked_out")
                .target(user.id.clone())
                .details(serde_json::json!({ "step": "second_factor" })),
        )
        .await?;
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let method = spend_second_factor(&mut tx, &user, code, now).await?;
    let Some(method) = method else {
        drop(tx);
        attempt.failed();
        let replay = secrets::totp_match(&user.totp_secret, code, now).is_some();
        fail(
            st,
            &as_user,
            "auth.second_factor_failed",
            Some(user.id.clone()),
            serde_json::json!({ "reason": if replay { "code_reused" } else { "wrong_code" } }),
        )
        .await?;
        return Err(AppError::Unauthorized(NEUTRAL_SIGNIN.into()));
    };
    let m = match method {
        SecondFactor::Totp => "totp",
        SecondFactor::RecoveryCode => "recovery_code",
    };
    if method == SecondFactor::RecoveryCode {
        record(
            &mut tx,
            &as_user,
            now,
            Event::new("auth.recovery_code_used").target(user.id.clone()),
        )
        .await?;
    }
    record(
        &mut tx,
        &as_user,
        now,
        Event::new("auth.signin")
            .target(user.id.clone())
            .details(serde_json::json!({ "method": m })),
    )
    .await?;
    tx.commit().await?;
    attempt.succeeded(st).await?;
    let current = current_user(st, &user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized(NEUTRAL_SIGNIN.into()))?;
    Ok((current, method))
}

/// Who a session's user id is now (disabled or deleted users are nobody).
pub async fn current_user(st: &AppState, user_id: &str) -> AppResult<Option<super::CurrentUser>> {
    let Some(u) = store::user_by_id(&st.db, user_id)
        .await?
        .filter(|u| u.status == "active")
    else {
        return Ok(None);
    };
    let tenant_ids = if u.all_tenants && !u.role.is_tenant_role() {
        None
    } else {
        Some(store::user_tenant_ids(&st.db, &u.id).await?)
    };
    Ok(Some(super::CurrentUser {
        id: u.id,
        email: u.email,
        display_name: u.display_name,
        role: u.role,
        tenant_ids,
        // Loaded by the web side that resolves the session (`http::session_user`).
        incidents: Vec::new(),
    }))
}

pub fn actor_for(user: &super::CurrentUser, ip: Option<String>, ua: Option<String>) -> Actor {
    Actor::signed_in(
        Principal::User,
        Some(user.id.clone()),
        user.email.clone(),
        Some(user.role),
        TenantScope::from_ids(user.tenant_ids.clone()),
        ip,
        ua,
    )
    .under(user.incidents.clone())
}

pub async fn record_signout(st: &AppState, actor: &Actor) -> AppResult<()> {
    record_alone(&st.db, actor, st.clock.now(), Event::new("auth.signout")).await?;
    Ok(())
}

pub async fn recovery_codes_left(st: &AppState, actor: &Actor) -> AppResult<i64> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    store::unused_recovery_codes(&st.db, g.actor.user_id.as_deref().unwrap_or_default()).await
}

// ---------- sessions ----------

pub async fn sessions(
    st: &AppState,
    actor: &Actor,
    current_handle: Option<&str>,
) -> AppResult<Vec<SessionView>> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    let mut list = store::list_sessions(
        &st.db,
        g.actor.user_id.as_deref().unwrap_or_default(),
        st.clock.now(),
    )
    .await?;
    for s in &mut list {
        s.current = Some(s.handle.as_str()) == current_handle;
    }
    Ok(list)
}

pub async fn revoke_session(st: &AppState, actor: &Actor, handle: &str) -> AppResult<()> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    let uid = g.actor.user_id.clone().unwrap_or_default();
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::delete_session_by_handle(tx.conn(), &g, handle).await? {
        return Err(AppError::NotFound);
    }
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("auth.session_revoked")
            .target(uid)
            .details(serde_json::json!({ "session": handle })),
    )
    .await?;
    tx.commit().await
}

pub async fn revoke_all_sessions(st: &AppState, actor: &Actor) -> AppResult<u64> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    let uid = g.actor.user_id.clone().unwrap_or_default();
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let n = store::delete_user_sessions(tx.conn(), &g).await?;
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("auth.sessions_revoked_all")
            .target(uid)
            .details(serde_json::json!({ "count": n })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

// ---------- API tokens ----------

pub const MAX_TOKEN_DAYS: i64 = 365;

/// Creates a token for the actor's own account. Returns its view and the secret, which is
/// shown once and stored only as a hash.
pub async fn create_token(
    st: &AppState,
    actor: &Actor,
    name: &str,
    scopes: &[String],
    days: i64,
) -> AppResult<(TokenView, String)> {
    create_limited_token(st, actor, name, scopes, days, &TokenLimits::default()).await
}

/// What a token is limited to besides its scopes.
#[derive(Clone, Debug, Default)]
pub struct TokenLimits {
    /// Tenants (ids or short names) of the account's; none: all it sees.
    pub tenants: Option<Vec<String>>,
    /// Addresses or CIDR ranges the token is accepted from; none: anywhere.
    pub allow_from: Option<Vec<String>>,
}

/// A token limited to some tenants and source addresses.
pub async fn create_limited_token(
    st: &AppState,
    actor: &Actor,
    name: &str,
    scopes: &[String],
    days: i64,
    limits: &TokenLimits,
) -> AppResult<(TokenView, String)> {
    let g = authorize(actor, Action::CreateApiToken)?;
    let tenant_ids = match &limits.tenants {
        None => None,
        Some(keys) => {
            let keys: Vec<&str> = keys
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .collect();
            if keys.is_empty() || keys.len() > 100 {
                return Err(AppError::invalid(
                    "Limit the token to 1 to 100 tenants, or to none (all your tenants).",
                ));
            }
            let mut ids = Vec::new();
            for k in keys {
                let t = crate::tenancy::service::tenant_for(st, actor, k, Action::ViewTenants)
                    .await
                    .map_err(|e| match e {
                        AppError::NotFound => {
                            AppError::invalid(format!("“{k}” is not one of your tenants."))
                        }
                        e => e,
                    })?;
                if !ids.contains(&t.id) {
                    ids.push(t.id);
                }
            }
            Some(ids)
        }
    };
    let allow_from = match &limits.allow_from {
        None => None,
        Some(nets) => {
            let nets: Vec<String> = nets
                .iter()
                .flat_map(|n| n.split([',', ' ', '\n']))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            if nets.is_empty() || nets.len() > 20 {
                return Err(AppError::invalid(
                    "Give 1 to 20 addresses or CIDR ranges the token is accepted from, or none.",
                ));
            }
            crate::core::web::NetList::parse_as(&nets, "Allowed from")
                .map_err(AppError::Invalid)?;
            Some(nets)
        }
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid(
            "Give the token a name (at most 64 characters).",
        ));
    }
    let mut parsed: Vec<Scope> = Vec::new();
    for s in scopes
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
    {
        let sc = Scope::parse(s).ok_or_else(|| {
            AppError::invalid(format!(
                "Unknown scope “{}”. Use read, write or audit.",
                s.trim()
            ))
        })?;
        if !parsed.contains(&sc) {
            parsed.push(sc);
        }
    }
    if parsed.is_empty() {
        return Err(AppError::invalid("Choose at least one scope."));
    }
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(AppError::invalid(format!(
            "Expiry must be between 1 and {MAX_TOKEN_DAYS} days."
        )));
    }
    let now = st.clock.now();
    let secret = secrets::new_token("mwt_");
    let id = secrets::new_id("tok");
    let scope_str = parsed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    g.actor.user_id.as_ref().ok_or(AppError::Forbidden)?;
    let mut tx = st.db.begin().await?;
    store::insert_token(
        tx.conn(),
        &g,
        &id,
        name,
        &secrets::sha256_hex(&secret),
        &scope_str,
        now,
        now + days * 86400,
        (
            tenant_ids.as_ref().map(|t| t.join(",")).as_deref(),
            allow_from.as_ref().map(|a| a.join(",")).as_deref(),
        ),
    )
    .await?;
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("token.created")
            .target(id.clone())
            .details(serde_json::json!({
                "name": name, "scopes": scope_str, "expires_at": now + days * 86400,
                "tenant_ids": tenant_ids, "allow_from": allow_from,
            })),
    )
    .await?;
    tx.commit().await?;
    let view = TokenView {
        id,
        name: name.to_string(),
        scopes: parsed.iter().map(|s| s.as_str().to_string()).collect(),
        created_at: now,
        expires_at: now + days * 86400,
        last_used_at: None,
        revoked_at: None,
        tenant_ids,
        allow_from,
    };
    Ok((view, secret))
}

pub async fn tokens(st: &AppState, actor: &Actor) -> AppResult<Vec<TokenView>> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    store::list_tokens(&st.db, g.actor.user_id.as_deref().unwrap_or_default()).await
}

pub async fn revoke_token(st: &AppState, actor: &Actor, id: &str) -> AppResult<()> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::revoke_token(tx.conn(), &g, id, now).await? {
        return Err(AppError::NotFound);
    }
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("token.revoked").target(id.to_string()),
    )
    .await?;
    tx.commit().await
}

/// How stale a token's "last used" may be before a request writes it again.
const TOKEN_TOUCH_SECONDS: i64 = 60;

/// The actor behind a bearer token: its creator, narrowed to the token's scopes.
pub async fn actor_from_token(
    st: &AppState,
    bearer: &str,
    ip: Option<String>,
    ua: Option<String>,
) -> AppResult<Actor> {
    let now = st.clock.now();
    let unauthorized =
        || AppError::Unauthorized("missing, unknown, expired or revoked API token".into());
    if !bearer.starts_with("mwt_") {
        return Err(unauthorized());
    }
    let (tok, user_id) = store::token_by_hash(&st.db, &secrets::sha256_hex(bearer), now)
        .await?
        .ok_or_else(unauthorized)?;
    let user = current_user(st, &user_id).await?.ok_or_else(unauthorized)?;
    if let Some(allowed) = &tok.allow_from {
        let nets = crate::core::web::NetList::parse_as(allowed, "allow_from").unwrap_or_default();
        let from = ip
            .as_deref()
            .and_then(|i| i.parse::<std::net::IpAddr>().ok());
        if !from.is_some_and(|i| nets.contains(i)) {
            return Err(AppError::Unauthorized(format!(
                "this API token is not accepted from {}",
                ip.as_deref().unwrap_or("an unknown address")
            )));
        }
    }
    // "Last used" to the minute: a busy client's every request need not be a write.
    if tok
        .last_used_at
        .is_none_or(|at| now - at >= TOKEN_TOUCH_SECONDS)
    {
        store::touch_token(&st.db, &tok.id, now).await?;
    }
    Ok(Actor::signed_in(
        Principal::Token {
            token_id: tok.id.clone(),
            scopes: tok.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            tenant_limited: tok.tenant_ids.is_some(),
        },
        Some(user.id),
        format!("{} (token {})", user.email, tok.name),
        Some(user.role),
        TenantScope::from_ids(user.tenant_ids.clone()).narrowed(tok.tenant_ids.as_deref()),
        ip,
        ua,
    ))
}

/// For the CLI: mint a token for an existing account without a browser session.
pub async fn create_token_for_email(
    st: &AppState,
    email: &str,
    name: &str,
    scopes: &[String],
    days: i64,
) -> AppResult<(TokenView, String)> {
    create_token_for_email_with(st, email, name, scopes, days, &TokenLimits::default()).await
}

/// [`create_token_for_email`] with tenant and address limits (`mailward token create`).
pub async fn create_token_for_email_with(
    st: &AppState,
    email: &str,
    name: &str,
    scopes: &[String],
    days: i64,
    limits: &TokenLimits,
) -> AppResult<(TokenView, String)> {
    let not_found = || AppError::invalid(format!("No active account with the address {email}."));
    let row = store::user_by_email(&st.db, &email.trim().to_lowercase())
        .await?
        .ok_or_else(not_found)?;
    let user = current_user(st, &row.id).await?.ok_or_else(not_found)?;
    let mut actor = actor_for(&user, None, Some("mailward-cli".into()));
    actor.label = format!("{} (cli)", user.email);
    create_limited_token(st, &actor, name, scopes, days, limits).await
}

/// The people of one tenant (admins and viewers) and its open invitations.
pub async fn tenant_people(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
) -> AppResult<(Vec<super::OperatorView>, Vec<super::InviteRow>)> {
    let t = crate::tenancy::service::tenant_for(st, actor, tenant_key, Action::ViewTenants).await?;
    let g = authorize_in(actor, Action::ViewTenants, &t.id)?;
    let people = store::tenant_users(&st.db, &g, &t.id).await?;
    // Reading the open invitations (to revoke them) stays possible under an incident.
    let invites = match authorize_protective_in(actor, Action::InviteTenantUser, &t.id) {
        Ok(gi) => store::open_invites(&st.db, &gi, st.clock.now(), Some(&t.id)).await?,
        Err(_) => vec![],
    };
    Ok((people, invites))
}
