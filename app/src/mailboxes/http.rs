//! Form endpoints for mailboxes (console) and for their owners (activation, self-service,
//! recovery-code reset), plain POST + 303 like the rest of the console.
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use super::service::{self, ResetOutcome};
use super::{NewMailbox, OffboardingReceipt};
use crate::auth::sessions as keys;
use crate::auth::web::{done, failed, Caller};
use crate::auth::FreshSecret;
use crate::core::authz::Actor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mailboxes", post(create))
        .route("/mailboxes/offboard", post(offboard_many))
        .route("/mailboxes/{id}/invite/resend", post(resend))
        .route("/mailboxes/{id}/invite/reveal", post(reveal))
        .route("/mailboxes/{id}/invite/revoke", post(revoke))
        .route("/mailboxes/{id}/reset", post(reset))
        .route("/mailboxes/{id}/lock", post(lock))
        .route("/mailboxes/{id}/edit", post(edit))
        .route("/mailboxes/{id}/unlock", post(unlock))
        .route("/mailboxes/{id}/retention", post(retention))
        .route("/mailboxes/{id}/offboard", post(offboard))
        .route("/mailboxes/{id}/receipt.json", get(receipt_json))
        .route("/mailboxes/{id}/receipt.md", get(receipt_md))
        .route(
            "/mailboxes/{id}/app-passwords/{ap}/revoke",
            post(revoke_app_password),
        )
        .route("/tenants/{slug}/invite-reveal", post(reveal_policy))
        .route("/activate/{token}", post(activate))
        .route("/me/login", post(owner_login))
        .route("/me/logout", post(owner_logout))
        .route("/me/reset", post(self_reset))
        .route("/me/password", post(change_password))
        .route("/me/recovery-codes", post(regenerate_codes))
        .route("/me/recovery-codes.txt", get(codes_txt))
        .route("/me/recovery-codes/ack", post(codes_ack))
        .route("/me/app-passwords", post(create_app_password))
        .route("/me/identities", post(owner_add_identity))
        .route("/me/delegations", post(owner_grant_delegation))
        .route(
            "/me/delegations/{delegate}/revoke",
            post(owner_revoke_delegation),
        )
        .route("/me/identities/{id}/remove", post(owner_remove_identity))
        .route("/mailboxes/{id}/identities", post(add_identity))
        .route("/mailboxes/{id}/delegations", post(grant_delegation))
        .route(
            "/mailboxes/{id}/delegations/{delegate}/revoke",
            post(revoke_delegation),
        )
        .route(
            "/mailboxes/{id}/identities/{idn}/remove",
            post(remove_identity),
        )
        .route(
            "/me/app-passwords/{id}/revoke",
            post(owner_revoke_app_password),
        )
}

fn page_of(id: &str) -> String {
    format!("/mailboxes/{id}")
}

#[derive(Deserialize)]
struct CreateForm {
    address: String,
    #[serde(default)]
    domain: Option<String>,
    display_name: String,
    #[serde(default)]
    quota: Option<String>,
    #[serde(default)]
    critical: Option<String>,
    #[serde(default)]
    invite_to: Option<String>,
    #[serde(default)]
    shared: Option<String>,
    /// Where to go back to on error (the domain page).
    #[serde(default)]
    back: Option<String>,
}

async fn create(c: Caller, Form(f): Form<CreateForm>) -> Response {
    let back = f
        .back
        .clone()
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let new = NewMailbox {
        address: f.address,
        domain: f.domain,
        display_name: f.display_name,
        quota: f.quota,
        critical: f.critical.is_some(),
        invite_to: f.invite_to,
        shared: f.shared.is_some(),
    };
    match service::create(&c.st, &c.actor(), &new).await {
        Ok(cr) => {
            let how = if cr.mailbox.shared {
                "Nobody signs in to it: delegate it below to the people who use it.".to_string()
            } else if cr.emailed {
                format!(
                    "The invitation was emailed to {}.",
                    cr.mailbox.contact_email.clone().unwrap_or_default()
                )
            } else {
                "Reveal the invitation link once below to hand it over in person.".into()
            };
            done(
                &c.session,
                &page_of(&cr.mailbox.id),
                format!("{} created. {how}", cr.mailbox.address),
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

#[derive(Deserialize)]
struct SendToForm {
    #[serde(default)]
    send_to: Option<String>,
}

async fn resend(c: Caller, Path(id): Path<String>, Form(f): Form<SendToForm>) -> Response {
    let r = service::resend_invite(&c.st, &c.actor(), &id, f.send_to.as_deref()).await;
    let msg = match &r {
        Ok(true) => "A new invitation was emailed; the previous link no longer works.",
        _ => "A new invitation link was made; the previous one no longer works. Reveal it once to hand it over.",
    };
    c.answer(r, &page_of(&id), msg, &page_of(&id)).await
}

async fn reveal(c: Caller, Path(id): Path<String>) -> Response {
    match service::reveal_invite(&c.st, &c.actor(), &id).await {
        Ok(link) => {
            let fresh = FreshSecret {
                label: "Invitation link (works once)".into(),
                value: link,
            };
            let _ = c.session.insert(keys::FRESH_SECRET, fresh).await;
            Redirect::to(&page_of(&id)).into_response()
        }
        Err(e) => failed(&c.session, &page_of(&id), e).await,
    }
}

async fn revoke(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::revoke_invite(&c.st, &c.actor(), &id).await;
    c.answer(r, &page_of(&id), "Invitation revoked.", &page_of(&id))
        .await
}

#[derive(Deserialize)]
struct ResetForm {
    reason: String,
    #[serde(default)]
    lock_now: Option<String>,
    #[serde(default)]
    send_to: Option<String>,
}

async fn reset(c: Caller, Path(id): Path<String>, Form(f): Form<ResetForm>) -> Response {
    reset_or_lock(c, id, f.lock_now.is_some(), f).await
}

/// "Lock now" (suspected compromise): a reset that locks the mailbox at once.
async fn lock(c: Caller, Path(id): Path<String>, Form(f): Form<ResetForm>) -> Response {
    reset_or_lock(c, id, true, f).await
}

async fn reset_or_lock(c: Caller, id: String, lock_now: bool, f: ResetForm) -> Response {
    let r = service::request_reset(
        &c.st,
        &c.actor(),
        &id,
        &f.reason,
        lock_now,
        f.send_to.as_deref(),
    )
    .await;
    let lock = if lock_now {
        " The mailbox is locked (its forwards suspended) until its owner sets a new password."
    } else {
        " The current password keeps working until the owner sets a new one."
    };
    let msg = match &r {
        Ok(ResetOutcome::Queued { .. }) => format!(
            "This is a critical mailbox: the reset waits in Approvals for a second person.{lock}"
        ),
        Ok(ResetOutcome::Issued { emailed: true }) => format!("Reset link emailed.{lock}"),
        _ => format!("Reset link made: reveal it once to hand it over.{lock}"),
    };
    c.answer(r, &page_of(&id), &msg, &page_of(&id)).await
}

#[derive(Deserialize)]
struct EditForm {
    display_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    quota: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    critical: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn edit(c: Caller, Path(id): Path<String>, Form(f): Form<EditForm>) -> Response {
    let e = super::MailboxEdit {
        display_name: Some(f.display_name),
        contact_email: Some(f.contact_email),
        quota: Some(f.quota),
        critical: Some(f.critical.is_some()),
        reason: f.reason,
    };
    let r = service::edit(&c.st, &c.actor(), &id, &e).await;
    let msg = match &r {
        Ok(e) if e.queued.is_some() && e.changed.is_empty() => {
            "No longer treating it as critical waits in Approvals for a second person.".to_string()
        }
        Ok(e) if e.queued.is_some() => "Saved. No longer treating it as critical waits in \
            Approvals for a second person."
            .to_string(),
        Ok(e) if e.changed.is_empty() => "Nothing changed.".to_string(),
        _ => "Saved.".to_string(),
    };
    c.answer(r, &page_of(&id), &msg, &page_of(&id)).await
}

#[derive(Deserialize)]
struct RetentionForm {
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

async fn retention(c: Caller, Path(id): Path<String>, Form(f): Form<RetentionForm>) -> Response {
    let r = service::extend_retention(&c.st, &c.actor(), &id, &f.until, &f.reason).await;
    let msg = match &r {
        Ok(m) => format!(
            "The mail of {} is kept until {} (deleted after that day).",
            m.address,
            m.purge_after.map(super::kept_until).unwrap_or_default()
        ),
        Err(_) => String::new(),
    };
    c.answer(r, &page_of(&id), &msg, &page_of(&id)).await
}

#[derive(Deserialize)]
struct UnlockForm {
    reason: String,
    #[serde(default)]
    new_link: Option<String>,
}

async fn unlock(c: Caller, Path(id): Path<String>, Form(f): Form<UnlockForm>) -> Response {
    let r = service::unlock(&c.st, &c.actor(), &id, &f.reason, f.new_link.is_some()).await;
    let msg = match &r {
        Ok(None) => "Unlocked: the owner's password works again.",
        Ok(Some(ResetOutcome::Queued { .. })) => {
            "This is a critical mailbox: the new link waits in Approvals for a second person; \
             the mailbox stays locked until its owner uses it."
        }
        Ok(Some(ResetOutcome::Issued { emailed: true })) => {
            "New link emailed; the mailbox stays locked until its owner uses it."
        }
        _ => "New link made: reveal it once to hand it over. The mailbox stays locked until its owner uses it.",
    };
    c.answer(r, &page_of(&id), msg, &page_of(&id)).await
}

#[derive(Deserialize)]
struct OffboardForm {
    keep_days: String,
    reason: String,
    /// The mailbox address typed again, as the confirmation.
    confirm: String,
    /// Keep the address as an alias to this colleague (empty: no alias).
    #[serde(default)]
    alias_to: String,
    #[serde(default)]
    alias_days: String,
    /// `repoint_<route id>`: the colleague an inbound route goes on to (empty: it ends).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

async fn offboard(c: Caller, Path(id): Path<String>, Form(f): Form<OffboardForm>) -> Response {
    let a = c.actor();
    let days = f.keep_days.trim().parse::<i64>().unwrap_or(-1);
    let alias = (!f.alias_to.trim().is_empty()).then(|| super::AliasRequest {
        to: f.alias_to.clone(),
        days: f.alias_days.trim().parse().unwrap_or(0),
    });
    let r = service::offboard(
        &c.st,
        &a,
        &id,
        days,
        &f.reason,
        Some(&f.confirm),
        alias.as_ref(),
        &f.rest
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("repoint_").map(|r| crate::types::Repoint {
                    route: r.to_string(),
                    to: v.clone(),
                })
            })
            .collect::<Vec<_>>(),
    )
    .await;
    match r {
        Ok(rc) => {
            let msg = if rc.scan_clean {
                format!(
                    "{} is offboarded. The verification scan is clean.",
                    rc.address
                )
            } else {
                format!(
                    "{} is offboarded, but the verification scan found something still active: see the receipt.",
                    rc.address
                )
            };
            done(&c.session, &format!("/mailboxes/{id}#receipt"), msg).await
        }
        Err(e) => failed(&c.session, &page_of(&id), e).await,
    }
}

/// Bulk offboarding from the mailbox list: `id` repeated, `reason`, `keep_days`, `confirm`.
async fn offboard_many(c: Caller, Form(f): Form<Vec<(String, String)>>) -> Response {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ids: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .collect();
    let back = "/mailboxes";
    if get("confirm") != "on" {
        return failed(
            &c.session,
            back,
            AppError::invalid("Tick the confirmation to offboard the selected mailboxes."),
        )
        .await;
    }
    let days = get("keep_days").trim().parse::<i64>().unwrap_or(-1);
    match service::offboard_many(&c.st, &c.actor(), &ids, days, &get("reason")).await {
        Ok(results) => {
            let ok: Vec<&OffboardingReceipt> = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .collect();
            let clean = ok.iter().filter(|r| r.scan_clean).count();
            let failures: Vec<String> = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().err().map(|e| e.user_message()))
                .collect();
            let mut msg = format!(
                "{} mailbox{} offboarded; verification scans clean: {clean} of {}.",
                ok.len(),
                if ok.len() == 1 { "" } else { "es" },
                ok.len()
            );
            if !failures.is_empty() {
                msg += &format!(" Not offboarded: {}", failures.join(" "));
            }
            let kind = if failures.is_empty() && clean == ok.len() {
                crate::auth::FlashKind::Success
            } else {
                crate::auth::FlashKind::Error
            };
            crate::auth::web::set_flash(&c.session, kind, msg).await;
            Redirect::to("/mailboxes?status=offboarded").into_response()
        }
        Err(e) => failed(&c.session, back, e).await,
    }
}

async fn receipt_json(c: Caller, Path(id): Path<String>) -> Response {
    match service::receipt(&c.st, &c.actor(), &id).await {
        Ok(r) => (
            [(
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"offboarding-{}.json\"", r.address),
            )],
            axum::Json(r),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn receipt_md(c: Caller, Path(id): Path<String>) -> Response {
    match service::receipt(&c.st, &c.actor(), &id).await {
        Ok(r) => (
            [
                (
                    http::header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_string(),
                ),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"offboarding-{}.md\"", r.address),
                ),
            ],
            r.to_markdown(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke_app_password(c: Caller, Path((id, ap)): Path<(String, String)>) -> Response {
    let r = service::revoke_app_password(&c.st, &c.actor(), Some(&id), &ap).await;
    c.answer(r, &page_of(&id), "App password revoked.", &page_of(&id))
        .await
}

#[derive(Deserialize)]
struct PolicyForm {
    invite_reveal: String,
}

async fn reveal_policy(c: Caller, Path(slug): Path<String>, Form(f): Form<PolicyForm>) -> Response {
    let back = format!("/tenants/{slug}");
    let r = service::set_reveal_policy(&c.st, &c.actor(), &slug, &f.invite_reveal).await;
    c.answer(r, &back, "Invitation policy saved.", &back).await
}

// ---------- mailbox owners ----------

/// Starts a mailbox owner's session (a fresh one: nothing of an earlier session carries over).
async fn owner_session(c: &Caller, mailbox_id: &str) {
    crate::auth::sessions::renew(&c.session).await;
    let _ = c.session.insert(keys::MAILBOX_ID, mailbox_id).await;
    let _ = c.session.insert(keys::AUTH_AT, c.st.clock.now()).await;
    let _ = c.session.insert(keys::IP, c.client.ip.clone()).await;
    let _ = c
        .session
        .insert(keys::USER_AGENT, c.client.user_agent.clone())
        .await;
}

/// The signed-in mailbox owner of this session, if any.
pub async fn owner_of(
    st: &AppState,
    session: &Session,
    client: &crate::core::web::ClientInfo,
) -> Option<Actor> {
    let id = session
        .get::<String>(keys::MAILBOX_ID)
        .await
        .ok()
        .flatten()?;
    let auth_at = session
        .get::<i64>(keys::AUTH_AT)
        .await
        .ok()
        .flatten()
        .unwrap_or(0);
    let now = st.clock.now();
    if now - auth_at > st.config.session_absolute_hours * 3600 {
        let _ = session.flush().await;
        return None;
    }
    match service::owner(st, &id, client.ip.clone(), client.user_agent.clone()).await {
        // A session from before the password last changed has ended, wherever it is.
        Ok(Some((m, a))) if m.password_set_at.is_none_or(|p| auth_at >= p) => {
            let seen = session.get::<i64>(keys::SEEN_AT).await.ok().flatten();
            if seen.is_none_or(|s| now - s >= 60) {
                let _ = session.insert(keys::SEEN_AT, now).await;
            }
            // Under the incidents in force over the mailbox's tenant: the gate freezes an
            // owner's new forwards too. Unknown (the database failed): not signed in.
            match crate::incidents::service::in_force(&st.db, &a.tenants).await {
                Ok(list) => Some(a.under(list)),
                Err(e) => {
                    tracing::warn!(error = %e, "incidents in force could not be read");
                    None
                }
            }
        }
        _ => {
            let _ = session.flush().await;
            None
        }
    }
}

#[derive(Deserialize)]
struct PasswordPair {
    password: String,
    confirm: String,
}

async fn activate(c: Caller, Path(token): Path<String>, Form(f): Form<PasswordPair>) -> Response {
    let back = format!("/activate/{token}");
    match service::accept(&c.st, &c.actor(), &token, &f.password, &f.confirm).await {
        Ok((m, codes)) => {
            owner_session(&c, &m.id).await;
            let _ = c.session.insert(keys::FRESH_MAILBOX_CODES, codes).await;
            Redirect::to("/me/recovery-codes").into_response()
        }
        Err(AppError::Invalid(m)) if m == service::BAD_LINK => Redirect::to(&back).into_response(),
        Err(e) => failed(&c.session, &back, e).await,
    }
}

#[derive(Deserialize)]
struct OwnerLogin {
    address: String,
    password: String,
}

async fn owner_login(c: Caller, Form(f): Form<OwnerLogin>) -> Response {
    match service::sign_in(&c.st, &c.actor(), &f.address, &f.password).await {
        Ok(m) => {
            owner_session(&c, &m.id).await;
            Redirect::to("/me").into_response()
        }
        Err(e) => failed(&c.session, "/me/login", e).await,
    }
}

async fn owner_logout(c: Caller) -> Response {
    crate::auth::sessions::renew(&c.session).await;
    Redirect::to("/me/login").into_response()
}

#[derive(Deserialize)]
struct SelfResetForm {
    address: String,
    code: String,
    password: String,
    confirm: String,
}

async fn self_reset(c: Caller, Form(f): Form<SelfResetForm>) -> Response {
    match service::self_reset(
        &c.st,
        &c.actor(),
        &f.address,
        &f.code,
        &f.password,
        &f.confirm,
    )
    .await
    {
        Ok(_) => {
            crate::auth::sessions::renew(&c.session).await;
            done(
                &c.session,
                "/me/login",
                "Your password is changed and every session was signed out. Sign in with the new password.",
            )
            .await
        }
        Err(e) => failed(&c.session, "/me/reset", e).await,
    }
}

/// Runs `f` as the signed-in owner, or sends the visitor to the owner sign-in.
async fn as_owner<F, Fut>(c: &Caller, f: F) -> Result<Fut::Output, Response>
where
    F: FnOnce(Actor) -> Fut,
    Fut: std::future::Future,
{
    match owner_of(&c.st, &c.session, &c.client).await {
        Some(a) => Ok(f(a).await),
        None => Err(Redirect::to("/me/login").into_response()),
    }
}

#[derive(Deserialize)]
struct ChangePasswordForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(c: Caller, Form(f): Form<ChangePasswordForm>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        let id = a.mailbox_id().map(str::to_string);
        service::change_password(&st, &a, &f.current, &f.password, &f.confirm)
            .await
            .map(|cut| (id, cut))
    })
    .await
    {
        Ok(Ok((Some(id), cut))) => {
            // Every session of the mailbox ended; this browser gets a fresh one.
            owner_session(&c, &id).await;
            let mut msg =
                String::from("Password changed. Any other signed-in sessions were signed out.");
            if cut.app_passwords > 0 {
                msg.push_str(&format!(
                    " {} app password(s) were revoked: create new ones for your mail apps.",
                    cut.app_passwords
                ));
            }
            done(&c.session, "/me", &msg).await
        }
        Ok(Ok((None, _))) => Redirect::to("/me/login").into_response(),
        Ok(Err(e)) => failed(&c.session, "/me", e).await,
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
struct CurrentPassword {
    current: String,
}

async fn regenerate_codes(c: Caller, Form(f): Form<CurrentPassword>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        service::regenerate_codes(&st, &a, &f.current).await
    })
    .await
    {
        Ok(Ok(codes)) => {
            let _ = c.session.insert(keys::FRESH_MAILBOX_CODES, codes).await;
            Redirect::to("/me/recovery-codes").into_response()
        }
        Ok(Err(e)) => failed(&c.session, "/me", e).await,
        Err(resp) => resp,
    }
}

async fn codes_txt(c: Caller) -> Response {
    let Some(a) = owner_of(&c.st, &c.session, &c.client).await else {
        return Redirect::to("/me/login").into_response();
    };
    let codes = c
        .session
        .get::<Vec<String>>(keys::FRESH_MAILBOX_CODES)
        .await
        .ok()
        .flatten();
    match codes {
        Some(codes) => (
            [
                (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (
                    http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"mailbox-recovery-codes.txt\"",
                ),
                (http::header::CACHE_CONTROL, "no-store"),
            ],
            format!(
                "Recovery codes for {}\n\nEach code works once, to set a new password at \
                 {}/me/reset if you forget yours. Keep them somewhere safe and offline.\n\n{}\n",
                a.label,
                c.st.config.public_url(),
                codes.join("\n")
            ),
        )
            .into_response(),
        None => AppError::NotFound.into_response(),
    }
}

async fn codes_ack(session: Session) -> Response {
    let _ = session
        .remove::<Vec<String>>(keys::FRESH_MAILBOX_CODES)
        .await;
    done(
        &session,
        "/me",
        "Recovery codes saved. Your mailbox is ready.",
    )
    .await
}

#[derive(Deserialize)]
struct AppPasswordForm {
    current: String,
    name: String,
    #[serde(default)]
    imap: Option<String>,
    #[serde(default)]
    smtp: Option<String>,
    #[serde(default)]
    days: Option<String>,
}

async fn create_app_password(c: Caller, Form(f): Form<AppPasswordForm>) -> Response {
    let st = c.st.clone();
    let mut protos = Vec::new();
    if f.imap.is_some() {
        protos.push("imap".to_string());
    }
    if f.smtp.is_some() {
        protos.push("smtp".to_string());
    }
    let days = match f.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(d) => d
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::invalid("Give the expiry in whole days, or leave it empty.")),
    };
    let name = f.name.clone();
    match as_owner(&c, |a| async move {
        let days = days?;
        service::create_app_password(&st, &a, &f.current, &name, &protos, days).await
    })
    .await
    {
        Ok(Ok((ap, secret))) => {
            let fresh = FreshSecret {
                label: format!("App password “{}”", ap.name),
                value: secret,
            };
            let _ = c.session.insert(keys::FRESH_SECRET, fresh).await;
            Redirect::to("/me").into_response()
        }
        Ok(Err(e)) => failed(&c.session, "/me", e).await,
        Err(resp) => resp,
    }
}

async fn owner_revoke_app_password(c: Caller, Path(id): Path<String>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        service::revoke_app_password(&st, &a, None, &id).await
    })
    .await
    {
        Ok(r) => c.answer(r, "/me", "App password revoked.", "/me").await,
        Err(resp) => resp,
    }
}

// ---------- delegation ----------

async fn grant_delegation(
    c: Caller,
    Path(id): Path<String>,
    Form(f): Form<super::DelegationForm>,
) -> Response {
    let r = match new_delegation(&f) {
        Ok(new) => service::grant_delegation(&c.st, &c.actor(), &id, &new).await,
        Err(e) => Err(e),
    };
    let to = format!("{}#delegations", page_of(&id));
    let msg = r.as_ref().map(granted_message).unwrap_or_default();
    c.answer(r, &to, &msg, &to).await
}

async fn revoke_delegation(c: Caller, Path((id, delegate)): Path<(String, String)>) -> Response {
    let r = service::revoke_delegation(&c.st, &c.actor(), &id, &delegate).await;
    let to = format!("{}#delegations", page_of(&id));
    c.answer(r, &to, REVOKED, &to).await
}

// ---------- email as identity ----------

async fn add_identity(
    c: Caller,
    Path(id): Path<String>,
    Form(f): Form<super::NewIdentity>,
) -> Response {
    let r = service::add_identity(&c.st, &c.actor(), &id, &f).await;
    let to = format!("{}#identities", page_of(&id));
    c.answer(r, &to, "Added to the services that use this address.", &to)
        .await
}

async fn remove_identity(c: Caller, Path((id, idn)): Path<(String, String)>) -> Response {
    let r = service::remove_identity(&c.st, &c.actor(), &id, &idn).await;
    let to = format!("{}#identities", page_of(&id));
    c.answer(r, &to, "Removed from the list.", &to).await
}

/// The delegation form's rights (`folders` checked here: the form sends text).
fn new_delegation(f: &super::DelegationForm) -> Result<super::NewDelegation, AppError> {
    let folders = match f.folders.as_deref().unwrap_or("none") {
        "" => Some(crate::types::FolderAccess::None),
        v => crate::types::FolderAccess::parse(v),
    };
    match folders {
        Some(folders) => Ok(super::NewDelegation {
            delegate: f.delegate.clone(),
            send_as: f.send_as.is_some(),
            folders,
            current: f.current.clone(),
        }),
        None => Err(AppError::invalid_field(
            "folders",
            "Choose no folders, read, or read and write.",
        )),
    }
}

fn granted_message(d: &super::Delegation) -> String {
    format!(
        "{} is delegated to {}: {}.",
        d.address,
        d.delegate,
        d.rights()
    )
}

const REVOKED: &str = "Delegation revoked: sending as the mailbox is refused from the next message, and its folders are closed (live sessions ended).";

async fn owner_grant_delegation(c: Caller, Form(f): Form<super::DelegationForm>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        match new_delegation(&f) {
            Ok(new) => service::grant_delegation(&st, &a, "", &new).await,
            Err(e) => Err(e),
        }
    })
    .await
    {
        Ok(r) => {
            let msg = r.as_ref().map(granted_message).unwrap_or_default();
            c.answer(r, "/me#delegations", &msg, "/me#delegations")
                .await
        }
        Err(resp) => resp,
    }
}

async fn owner_revoke_delegation(c: Caller, Path(delegate): Path<String>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        service::revoke_delegation(&st, &a, "", &delegate).await
    })
    .await
    {
        Ok(r) => {
            c.answer(r, "/me#delegations", REVOKED, "/me#delegations")
                .await
        }
        Err(resp) => resp,
    }
}

async fn owner_add_identity(c: Caller, Form(f): Form<super::NewIdentity>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        service::add_identity(&st, &a, "", &f).await
    })
    .await
    {
        Ok(r) => {
            c.answer(
                r,
                "/me#identities",
                "Added. Whoever manages your mailbox sees the list too.",
                "/me#identities",
            )
            .await
        }
        Err(resp) => resp,
    }
}

async fn owner_remove_identity(c: Caller, Path(id): Path<String>) -> Response {
    let st = c.st.clone();
    match as_owner(&c, |a| async move {
        service::remove_identity(&st, &a, "", &id).await
    })
    .await
    {
        Ok(r) => {
            c.answer(
                r,
                "/me#identities",
                "Removed from the list.",
                "/me#identities",
            )
            .await
        }
        Err(resp) => resp,
    }
}
