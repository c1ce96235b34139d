//! An operator's own account: a new password, new recovery codes, a new authenticator. Each
//! asks for a current factor again (throttled like sign-in), ends the account's other
//! sessions where a stolen one could otherwise stay in, is audited, and tells the person by
//! email. And the server's break-glass: a one-time link that recovers an owner's account.
#[allow(unused_imports)]
use super::*;
use crate::core::db::Tx;
use crate::core::mailer::Mail;

/// How long a new authenticator waits for its first code (between the two steps).
pub const TOTP_CHANGE_TTL_SECS: i64 = 10 * 60;

/// How long a break-glass recovery link works: it is used at once by whoever ran the command,
/// and nobody can list or withdraw it in the console.
pub const RECOVERY_LINK_TTL_SECS: i64 = 60 * 60;

/// The account behind a signed-in actor, with the proof to change it.
async fn own_account<'a>(
    st: &AppState,
    actor: &'a Actor,
) -> AppResult<(Granted<'a>, store::UserRow)> {
    let g = authorize(actor, Action::ManageOwnAccount)?;
    let id = g.actor.user_id.clone().ok_or(AppError::Forbidden)?;
    let user = store::user_by_id(&st.db, &id)
        .await?
        .filter(|u| u.status == "active")
        .ok_or(AppError::Forbidden)?;
    Ok((g, user))
}

/// The current password again, counted against the account like a sign-in.
async fn confirm_password(
    st: &AppState,
    actor: &Actor,
    user: &store::UserRow,
    password: &str,
) -> AppResult<()> {
    let subject = format!("pw:acct:{}", user.email);
    let Some(attempt) = Attempt::reserve(st, &[subject], MAX_PASSWORD_FAILURES).await? else {
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    match secrets::verify_password(password.to_string(), Some(user.password_hash.clone())).await {
        Ok(true) => attempt.succeeded(st).await,
        Ok(false) => {
            attempt.failed();
            fail(
                st,
                actor,
                "auth.reauth_failed",
                Some(user.id.clone()),
                serde_json::json!({ "step": "password" }),
            )
            .await?;
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

/// A current second factor, confirmed and used up inside the change's transaction.
struct Confirmed {
    tx: Tx,
    attempt: Attempt,
    /// `totp` or `recovery_code`.
    with: &'static str,
}

/// A current second factor again, counted like the sign-in's second step: the authenticator's
/// code or, for someone whose phone is gone, one of their recovery codes. It is used up in
/// the transaction returned, which the change commits with its own event: one code serves
/// one change (two requests with it change the account once), and a change that fails
/// leaves the code unused.
async fn confirm_factor(
    st: &AppState,
    actor: &Actor,
    user: &store::UserRow,
    code: &str,
) -> AppResult<Confirmed> {
    let subject = format!("2fa:{}", user.id);
    let Some(attempt) = Attempt::reserve(
        st,
        std::slice::from_ref(&subject),
        MAX_SECOND_FACTOR_FAILURES,
    )
    .await?
    else {
        return Err(AppError::TooManyRequests(THROTTLED.into()));
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let used = spend_second_factor(&mut tx, user, code, now).await?;
    let Some(used) = used else {
        drop(tx);
        attempt.failed();
        fail(
            st,
            actor,
            "auth.reauth_failed",
            Some(user.id.clone()),
            serde_json::json!({ "step": "second_factor" }),
        )
        .await?;
        return Err(AppError::invalid(
            "That code is not right (or was used already). Enter your authenticator's current 6-digit code, or one of your recovery codes.",
        ));
    };
    let with = match used {
        SecondFactor::Totp => "totp",
        SecondFactor::RecoveryCode => "recovery_code",
    };
    if used == SecondFactor::RecoveryCode {
        record(
            &mut tx,
            actor,
            now,
            Event::new("auth.recovery_code_used")
                .target(user.id.clone())
                .details(serde_json::json!({ "for": "account_change" })),
        )
        .await?;
    }
    Ok(Confirmed { tx, attempt, with })
}

/// A notice to the account's own address (when outgoing mail is configured), sent after
/// the change committed. A notice that cannot be sent is logged; the change stands.
fn notice(st: &AppState, tx: &mut Tx, user: &store::UserRow, actor: &Actor, what: &str) {
    if !st.mailer.is_configured() {
        return;
    }
    let when = chrono::DateTime::from_timestamp(st.clock.now(), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let from = actor.ip.as_deref().unwrap_or("an unknown address");
    tx.mail_after_commit(Mail {
        to: user.email.clone(),
        subject: format!("Mailward: {what}"),
        body: format!(
            "Hello {name},\n\n{what} for your Mailward account {email}, on {when} from {from}.\n\n\
             If this was you, there is nothing to do. If it was not, ask an owner of your Mailward \
             to disable your account at once, then to give you a way back in.\n",
            name = user.display_name,
            email = user.email,
        ),
        link: None,
    });
}

async fn send_notices(st: &AppState, actor: &Actor, tx: Tx, done: &str) -> AppResult<()> {
    let mail = tx.commit_outbox().await?;
    // The change is made; a notice that could not go out is logged by `deliver`.
    let _ = crate::core::mailer::deliver(st, actor, mail, done).await;
    Ok(())
}

/// A new password (the current one asked). The account's other sessions end; `keep` is this
/// browser's session handle. Returns how many other sessions ended.
pub async fn change_password(
    st: &AppState,
    actor: &Actor,
    keep: Option<&str>,
    current: &str,
    password: &str,
    confirm: &str,
) -> AppResult<i64> {
    let (g, user) = own_account(st, actor).await?;
    if password != confirm {
        return Err(AppError::invalid_field(
            "confirm",
            "The two new passwords do not match.",
        ));
    }
    confirm_password(st, actor, &user, current).await?;
    if password == current {
        return Err(AppError::invalid_field(
            "password",
            "Choose a password different from the current one.",
        ));
    }
    secrets::check_password_policy(password, &user.email).map_err(|e| e.on("password"))?;
    let hash = secrets::hash_password(password.to_string()).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::set_own_password(tx.conn(), &g, &hash, now).await?;
    let ended = store::delete_other_sessions(tx.conn(), &g, keep).await?;
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("auth.password_changed")
            .target(user.id.clone())
            .details(serde_json::json!({ "other_sessions_ended": ended })),
    )
    .await?;
    notice(st, &mut tx, &user, actor, "The password was changed");
    send_notices(st, actor, tx, "The password was changed").await?;
    Ok(ended)
}

/// Ten new recovery codes (a current second factor asked); the old ones stop working.
/// Returned once.
pub async fn new_recovery_codes(
    st: &AppState,
    actor: &Actor,
    code: &str,
) -> AppResult<Vec<String>> {
    let (g, user) = own_account(st, actor).await?;
    let mut ok = confirm_factor(st, actor, &user, code).await?;
    let codes: Vec<String> = (0..secrets::RECOVERY_CODE_COUNT)
        .map(|_| secrets::new_recovery_code())
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| secrets::hash_recovery_code(c))
        .collect();
    let now = st.clock.now();
    store::replace_own_recovery_codes(ok.tx.conn(), &g, &hashes, now).await?;
    record(
        &mut ok.tx,
        g.actor,
        now,
        Event::new("auth.recovery_codes_issued")
            .target(user.id.clone())
            .details(serde_json::json!({
                "count": codes.len(), "replaced": true, "confirmed_with": ok.with,
            })),
    )
    .await?;
    notice(
        st,
        &mut ok.tx,
        &user,
        actor,
        "New recovery codes were made (the old ones stopped working)",
    );
    let Confirmed { tx, attempt, .. } = ok;
    send_notices(st, actor, tx, "New recovery codes were made").await?;
    attempt.succeeded(st).await?;
    Ok(codes)
}

/// Step 1 of a new authenticator: a current second factor (the authenticator's code, or a
/// recovery code when the phone is gone) proves the person; a new secret is made,
/// kept in the browser's server-side session until its first code confirms it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TotpChange {
    pub user_id: String,
    pub secret: String,
    pub started_at: i64,
}

pub async fn start_totp_change(st: &AppState, actor: &Actor, code: &str) -> AppResult<TotpChange> {
    let (_, user) = own_account(st, actor).await?;
    let mut ok = confirm_factor(st, actor, &user, code).await?;
    record(
        &mut ok.tx,
        actor,
        st.clock.now(),
        Event::new("auth.totp_change_started")
            .target(user.id.clone())
            .details(serde_json::json!({ "confirmed_with": ok.with })),
    )
    .await?;
    let Confirmed { tx, attempt, .. } = ok;
    tx.commit().await?;
    attempt.succeeded(st).await?;
    Ok(TotpChange {
        user_id: user.id,
        secret: secrets::new_totp_secret(),
        started_at: st.clock.now(),
    })
}

/// What the page shows for a started change: the new secret as a QR code and text.
pub fn totp_enrolment(change: &TotpChange, email: &str) -> AppResult<TotpEnrolment> {
    let url = secrets::totp_url(&change.secret, "Mailward", email)?;
    Ok(TotpEnrolment {
        secret: change.secret.clone(),
        qr_data_url: secrets::qr_svg_data_url(&url)?,
        otpauth_url: url,
    })
}

/// Step 2: the new authenticator's first code. The old authenticator stops working and the
/// account's other sessions end. Returns how many.
pub async fn finish_totp_change(
    st: &AppState,
    actor: &Actor,
    keep: Option<&str>,
    change: &TotpChange,
    code: &str,
) -> AppResult<i64> {
    let (g, user) = own_account(st, actor).await?;
    let now = st.clock.now();
    if change.user_id != user.id || now - change.started_at > TOTP_CHANGE_TTL_SECS {
        return Err(AppError::invalid(
            "This change of authenticator has expired. Start again with your current code.",
        ));
    }
    let Some(step) = secrets::totp_match(&change.secret, code, now) else {
        return Err(AppError::invalid(
            "That code is not right. Check the time on your phone and enter the new authenticator's current 6-digit code.",
        ));
    };
    let mut tx = st.db.begin().await?;
    store::set_own_totp(tx.conn(), &g, &change.secret, step, now).await?;
    let ended = store::delete_other_sessions(tx.conn(), &g, keep).await?;
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("auth.totp_enrolled")
            .target(user.id.clone())
            .details(serde_json::json!({ "replaced": true, "other_sessions_ended": ended })),
    )
    .await?;
    notice(
        st,
        &mut tx,
        &user,
        actor,
        "A new authenticator was set up (the old one stopped working)",
    );
    send_notices(st, actor, tx, "The new authenticator was set up").await?;
    Ok(ended)
}

// ---------- break-glass ----------

/// For the server's command line (`mailward owner recover --email …`): a one-time link
/// that gives an existing owner's account a new password, authenticator and recovery codes
/// (a disabled owner's account is active again once it is used). Earlier recovery links of
/// the account stop working. Audited with the host user who ran it. Returns the link.
pub async fn owner_recovery_link(st: &AppState, email: &str, host_user: &str) -> AppResult<String> {
    let key = email.trim().to_lowercase();
    let user = store::user_by_email(&st.db, &key)
        .await?
        .filter(|u| u.role == Role::Owner)
        .ok_or_else(|| {
            AppError::invalid(format!("There is no owner account with the address {key}."))
        })?;
    let actor = Actor::system(&format!("cli:{host_user}"));
    let g = authorize(&actor, Action::ManageOperators)?;
    let now = st.clock.now();
    let token = secrets::new_token("mwi_");
    let id = secrets::new_id("inv");
    let expires = now + RECOVERY_LINK_TTL_SECS;
    let mut tx = st.db.begin().await?;
    store::insert_recovery_invite(
        tx.conn(),
        &g,
        &id,
        &user,
        &secrets::sha256_hex(&token),
        now,
        expires,
        "cli",
    )
    .await?;
    record(
        &mut tx,
        &actor,
        now,
        Event::new("owner.recovery_link_issued")
            .target(user.id.clone())
            .details(serde_json::json!({
                "email": user.email, "host_user": host_user, "invite": id,
                "expires_at": expires, "was_disabled": user.status != "active",
            })),
    )
    .await?;
    notice(
        st,
        &mut tx,
        &user,
        &actor,
        "A recovery link was issued on the server",
    );
    send_notices(st, &actor, tx, "The recovery link was issued").await?;
    Ok(format!("{}/invite/{token}", st.config.public_url()))
}
