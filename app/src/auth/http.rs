//! Form endpoints for identity (plain POST + 303 redirect, so everything works without
//! JavaScript) and the middleware that resolves the signed-in user of each request.
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use super::service::{self, Onboarding};
use super::sessions as keys;
use super::{CurrentUser, FlashKind, FreshSecret};
use crate::auth::web::{done, failed, set_flash, Caller, SignedIn};
use crate::core::state::AppState;
use crate::core::web::ClientInfo;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/invite/{token}/password", post(invite_password))
        .route("/invite/{token}/totp", post(invite_totp))
        .route("/invite/{token}/restart", post(invite_restart))
        .route("/account/recovery-codes.txt", get(recovery_codes_txt))
        .route("/account/recovery-codes/ack", post(recovery_codes_ack))
        .route("/login", post(login))
        .route("/login/verify", post(login_verify))
        .route("/logout", post(logout))
        .route("/account/sessions/revoke", post(revoke_session))
        .route("/account/sessions/revoke-all", post(revoke_all))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/account/password", post(change_password))
        .route("/account/recovery-codes/new", post(new_recovery_codes))
        .route("/account/totp/start", post(start_totp_change))
        .route("/account/totp/finish", post(finish_totp_change))
        .route("/account/totp/cancel", post(cancel_totp_change))
        .route("/people/{id}/disable", post(disable_person))
        .route("/people/{id}/enable", post(enable_person))
        .route("/people/{id}/role", post(person_role))
        .route("/people/{id}/factor-reset", post(factor_reset))
        .route("/operators/invite", post(invite_operator))
        .route("/operators/{id}/tenants", post(operator_tenants))
        .route("/operators/invites/{id}/reveal", post(reveal_invite))
        .route("/operators/invites/{id}/revoke", post(revoke_invite))
}

fn client_of(req: &Request) -> ClientInfo {
    req.extensions()
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_default()
}

/// Pages anyone may open; everything else needs a signed-in user.
pub fn is_public_path(path: &str) -> bool {
    path == "/login"
        || path.starts_with("/login/")
        || path.starts_with("/invite/")
        || path.starts_with("/activate/")
        || path.starts_with("/routing/confirm/")
        || path == "/me"
        || path.starts_with("/me/")
        || path.starts_with("/pkg/")
        || path.starts_with("/api/")
        || path.starts_with("/_sf/")
        || matches!(
            path,
            "/healthz"
                | "/readyz"
                | "/metrics"
                | "/favicon.ico"
                | "/favicon.svg"
                | "/.well-known/mta-sts.txt"
        )
}

/// Resolves the session's user (refusing sessions past their absolute lifetime or of
/// disabled accounts), and sends anonymous visitors of private pages to the sign-in page.
pub async fn session_user(
    State(st): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let now = st.clock.now();
    let mut user: Option<CurrentUser> = None;
    if let Ok(Some(uid)) = session.get::<String>(keys::USER_ID).await {
        let auth_at = session
            .get::<i64>(keys::AUTH_AT)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if now - auth_at > st.config.session_absolute_hours * 3600 {
            let _ = session.flush().await;
        } else {
            match service::current_user(&st, &uid).await {
                Ok(Some(mut u)) => {
                    // The incidents in force over this person's tenants: the banner on
                    // every page, and what the gate freezes for them.
                    match crate::incidents::service::in_force(
                        &st.db,
                        &crate::core::authz::TenantScope::from_ids(u.tenant_ids.clone()),
                    )
                    .await
                    {
                        Ok(list) => u.incidents = list,
                        Err(e) => return e.into_response(),
                    }
                    // Slide the idle expiry (and "last seen") without a write per request.
                    let seen = session.get::<i64>(keys::SEEN_AT).await.ok().flatten();
                    if seen.is_none_or(|s| now - s >= 60) {
                        let _ = session.insert(keys::SEEN_AT, now).await;
                    }
                    user = Some(u)
                }
                Ok(None) => {
                    let _ = session.flush().await;
                }
                Err(e) => return e.into_response(),
            }
        }
    }
    let path = req.uri().path().to_string();
    if user.is_none() && req.method() == http::Method::GET && !is_public_path(&path) {
        return Redirect::to("/login").into_response();
    }
    // The mailbox owner's own pages need a mailbox owner's session.
    if req.method() == http::Method::GET
        && (path == "/me" || path == "/me/recovery-codes")
        && crate::mailboxes::http::owner_of(&st, &session, &client_of(&req))
            .await
            .is_none()
    {
        return Redirect::to("/me/login").into_response();
    }
    req.extensions_mut().insert(SignedIn(user));
    next.run(req).await
}

// ---------- invitation / first-owner setup ----------

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    display_name: String,
    password: String,
    confirm: String,
}

async fn invite_password(
    State(st): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let back = format!("/invite/{token}");
    match service::begin_onboarding(
        &st,
        &token,
        f.email.as_deref(),
        &f.display_name,
        &f.password,
        &f.confirm,
    )
    .await
    {
        Ok(ob) => {
            let _ = session.insert(keys::ONBOARDING, ob).await;
            Redirect::to(&back).into_response()
        }
        Err(e) => invite_failed(&session, &back, e).await,
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn invite_totp(
    State(st): State<AppState>,
    session: Session,
    Extension(client): Extension<ClientInfo>,
    Path(token): Path<String>,
    Form(f): Form<CodeForm>,
) -> Response {
    let back = format!("/invite/{token}");
    let Ok(Some(ob)) = session.get::<Onboarding>(keys::ONBOARDING).await else {
        return failed(
            &session,
            &back,
            AppError::invalid("Choose your password first."),
        )
        .await;
    };
    let anon = SignedIn(None).actor(&client);
    match service::complete_onboarding(&st, &token, &ob, &f.code, &anon).await {
        Ok((user_id, codes)) => {
            let _ = session.remove::<Onboarding>(keys::ONBOARDING).await;
            let _ = session.cycle_id().await;
            sign_in_session(&session, &st, &user_id, &client).await;
            let _ = session.insert(keys::FRESH_RECOVERY_CODES, codes).await;
            Redirect::to("/welcome/recovery-codes").into_response()
        }
        Err(e) => invite_failed(&session, &back, e).await,
    }
}

/// A dead link is explained by the invitation page itself; other errors come as a flash.
async fn invite_failed(session: &Session, back: &str, e: AppError) -> Response {
    match e {
        AppError::Invalid(m) if m == service::BAD_LINK => Redirect::to(back).into_response(),
        e => failed(session, back, e).await,
    }
}

async fn invite_restart(session: Session, Path(token): Path<String>) -> Response {
    let _ = session.remove::<Onboarding>(keys::ONBOARDING).await;
    Redirect::to(&format!("/invite/{token}")).into_response()
}

async fn sign_in_session(session: &Session, st: &AppState, user_id: &str, client: &ClientInfo) {
    // An operator's session is never also a mailbox owner's.
    let _ = session.remove::<String>(keys::MAILBOX_ID).await;
    let _ = session.insert(keys::USER_ID, user_id).await;
    let _ = session.insert(keys::AUTH_AT, st.clock.now()).await;
    let _ = session.insert(keys::IP, client.ip.clone()).await;
    let _ = session
        .insert(keys::USER_AGENT, client.user_agent.clone())
        .await;
}

async fn recovery_codes_txt(session: Session, Extension(user): Extension<SignedIn>) -> Response {
    let codes = session
        .get::<Vec<String>>(keys::FRESH_RECOVERY_CODES)
        .await
        .ok()
        .flatten();
    match (user.0, codes) {
        (Some(u), Some(codes)) => {
            let body = format!(
                "Mailward recovery codes for {}\n\nEach code works once, in place of your \
                 authenticator code. Keep them somewhere safe and offline.\n\n{}\n",
                u.email,
                codes.join("\n")
            );
            (
                [
                    (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (
                        http::header::CONTENT_DISPOSITION,
                        "attachment; filename=\"mailward-recovery-codes.txt\"",
                    ),
                    (http::header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response()
        }
        _ => AppError::NotFound.into_response(),
    }
}

#[derive(Deserialize)]
struct AckForm {
    /// `account` when the codes were renewed on the account page (not at onboarding).
    #[serde(default)]
    from: Option<String>,
}

async fn recovery_codes_ack(session: Session, Form(f): Form<AckForm>) -> Response {
    let _ = session
        .remove::<Vec<String>>(keys::FRESH_RECOVERY_CODES)
        .await;
    if f.from.as_deref() == Some("account") {
        return done(&session, "/account", "Your new recovery codes are in use.").await;
    }
    done(&session, "/", "You are all set. Welcome to Mailward.").await
}

// ---------- sign-in ----------

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    session: Session,
    Extension(client): Extension<ClientInfo>,
    Form(f): Form<LoginForm>,
) -> Response {
    let anon = SignedIn(None).actor(&client);
    match service::sign_in_password(&st, &anon, &f.email, &f.password).await {
        Ok(uid) => {
            let _ = session
                .insert(keys::PENDING_2FA, (uid, st.clock.now()))
                .await;
            Redirect::to("/login/verify").into_response()
        }
        Err(e) => failed(&session, "/login", e).await,
    }
}

async fn login_verify(
    State(st): State<AppState>,
    session: Session,
    Extension(client): Extension<ClientInfo>,
    Form(f): Form<CodeForm>,
) -> Response {
    let pending = session
        .get::<(String, i64)>(keys::PENDING_2FA)
        .await
        .ok()
        .flatten()
        .filter(|(_, at)| st.clock.now() - at <= service::SECOND_FACTOR_TTL_SECS);
    let Some((uid, _)) = pending else {
        let _ = session.remove::<(String, i64)>(keys::PENDING_2FA).await;
        set_flash(
            &session,
            FlashKind::Error,
            "Your sign-in timed out. Start again.",
        )
        .await;
        return Redirect::to("/login").into_response();
    };
    let anon = SignedIn(None).actor(&client);
    match service::sign_in_second_factor(&st, &anon, &uid, &f.code).await {
        Ok((_, method)) => {
            let _ = session.remove::<(String, i64)>(keys::PENDING_2FA).await;
            let _ = session.cycle_id().await;
            sign_in_session(&session, &st, &uid, &client).await;
            if method == service::SecondFactor::RecoveryCode {
                let left = super::store::unused_recovery_codes(&st.db, &uid)
                    .await
                    .unwrap_or(0);
                return done(
                    &session,
                    "/",
                    format!(
                        "Signed in with a recovery code. That code is now used up; {left} remain."
                    ),
                )
                .await;
            }
            Redirect::to("/").into_response()
        }
        Err(e) => failed(&session, "/login/verify", e).await,
    }
}

async fn logout(c: Caller) -> Response {
    if c.user.0.is_some() {
        let _ = service::record_signout(&c.st, &c.actor()).await;
    }
    let _ = c.session.flush().await;
    Redirect::to("/login").into_response()
}

// ---------- sessions and tokens ----------

#[derive(Deserialize)]
struct HandleForm {
    handle: String,
}

async fn revoke_session(c: Caller, Form(f): Form<HandleForm>) -> Response {
    let is_current = c
        .session
        .id()
        .map(|id| keys::handle_of(&id) == f.handle)
        .unwrap_or(false);
    match service::revoke_session(&c.st, &c.actor(), &f.handle).await {
        Ok(()) if is_current => {
            let _ = c.session.flush().await;
            Redirect::to("/login").into_response()
        }
        r => {
            c.answer(
                r,
                "/account/sessions",
                "Session signed out.",
                "/account/sessions",
            )
            .await
        }
    }
}

async fn revoke_all(c: Caller) -> Response {
    match service::revoke_all_sessions(&c.st, &c.actor()).await {
        Ok(_) => {
            let _ = c.session.flush().await;
            Redirect::to("/login").into_response()
        }
        Err(e) => failed(&c.session, "/account/sessions", e).await,
    }
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    #[serde(default)]
    scope_read: Option<String>,
    #[serde(default)]
    scope_write: Option<String>,
    #[serde(default)]
    scope_audit: Option<String>,
    days: String,
    /// Comma-separated tenant short names; empty: every tenant of the account.
    #[serde(default)]
    tenants: String,
    /// Addresses or CIDR ranges, separated by commas or spaces; empty: anywhere.
    #[serde(default)]
    allow_from: String,
}

async fn create_token(c: Caller, Form(f): Form<TokenForm>) -> Response {
    let scopes: Vec<String> = [
        (&f.scope_read, "read"),
        (&f.scope_write, "write"),
        (&f.scope_audit, "audit"),
    ]
    .into_iter()
    .filter(|(on, _)| on.is_some())
    .map(|(_, s)| s.to_string())
    .collect();
    let Ok(days) = f.days.trim().parse::<i64>() else {
        let e = AppError::invalid("Expiry must be a number of days.");
        return failed(&c.session, "/account/tokens", e).await;
    };
    let list = |v: &str| {
        let items: Vec<String> = v
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        (!items.is_empty()).then_some(items)
    };
    let limits = service::TokenLimits {
        tenants: list(&f.tenants),
        allow_from: list(&f.allow_from),
    };
    match service::create_limited_token(&c.st, &c.actor(), &f.name, &scopes, days, &limits).await {
        Ok((view, secret)) => {
            let fresh = FreshSecret {
                label: format!("API token “{}”", view.name),
                value: secret,
            };
            let _ = c.session.insert(keys::FRESH_SECRET, fresh).await;
            Redirect::to("/account/tokens").into_response()
        }
        Err(e) => failed(&c.session, "/account/tokens", e).await,
    }
}

async fn revoke_token(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::revoke_token(&c.st, &c.actor(), &id).await;
    c.answer(
        r,
        "/account/tokens",
        "Token revoked. It stops working at once.",
        "/account/tokens",
    )
    .await
}

// ---------- operators ----------

#[derive(Deserialize)]
struct InviteForm {
    email: String,
}

async fn invite_operator(c: Caller, Form(f): Form<InviteForm>) -> Response {
    let r = service::invite_operator(&c.st, &c.actor(), &f.email).await;
    let msg = match &r {
        Ok(created) if created.emailed => "Invitation sent by email.",
        _ => "Invitation created. Outgoing mail is not configured, so reveal the link once and hand it over yourself.",
    };
    c.answer(r, "/operators", msg, "/operators").await
}

async fn reveal_invite(c: Caller, Path(id): Path<String>) -> Response {
    match service::reveal_invite(&c.st, &c.actor(), &id).await {
        Ok(link) => {
            let fresh = FreshSecret {
                label: "Invitation link (works once)".into(),
                value: link,
            };
            let _ = c.session.insert(keys::FRESH_SECRET, fresh).await;
            Redirect::to("/operators").into_response()
        }
        Err(e) => failed(&c.session, "/operators", e).await,
    }
}

async fn revoke_invite(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::revoke_invite(&c.st, &c.actor(), &id).await;
    c.answer(r, "/operators", "Invitation revoked.", "/operators")
        .await
}

/// `scope=all`, or `scope=listed` with one `tenant=ID` per chosen tenant.
async fn operator_tenants(
    c: Caller,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let listed = fields.iter().any(|(k, v)| k == "scope" && v == "listed");
    let ids: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "tenant")
        .map(|(_, v)| v.clone())
        .collect();
    let reason = fields
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.as_str());
    let r =
        service::set_operator_tenants(&c.st, &c.actor(), &id, listed.then_some(ids), reason).await;
    granted(&c, r, "/operators".into()).await
}

/// The flash for a grant: what applied, or which request now waits.
async fn granted(c: &Caller, r: Result<service::GrantOutcome, AppError>, back: String) -> Response {
    let msg = match &r {
        Ok(o) => o.message.clone(),
        Err(_) => String::new(),
    };
    c.answer(r, &back, &msg, &back).await
}

// ---------- one's own account ----------

/// This browser's session handle (its other sessions end on a password or factor change).
fn own_handle(c: &Caller) -> Option<String> {
    c.session.id().map(|id| keys::handle_of(&id))
}

#[derive(Deserialize)]
struct PasswordChangeForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(c: Caller, Form(f): Form<PasswordChangeForm>) -> Response {
    let keep = own_handle(&c);
    let r = service::change_password(
        &c.st,
        &c.actor(),
        keep.as_deref(),
        &f.current,
        &f.password,
        &f.confirm,
    )
    .await;
    if r.is_ok() {
        // A new factor, a new session id: a copy of this browser's old cookie is worth nothing.
        let _ = c.session.cycle_id().await;
    }
    let msg = match &r {
        Ok(0) => "Password changed.".to_string(),
        Ok(n) => format!("Password changed. {n} other session(s) were signed out."),
        Err(_) => String::new(),
    };
    c.answer(r, "/account", &msg, "/account").await
}

async fn new_recovery_codes(c: Caller, Form(f): Form<CodeForm>) -> Response {
    match service::new_recovery_codes(&c.st, &c.actor(), &f.code).await {
        Ok(codes) => {
            // Shown on the account page until the person says they saved them.
            let _ = c.session.insert(keys::FRESH_RECOVERY_CODES, codes).await;
            Redirect::to("/account").into_response()
        }
        Err(e) => failed(&c.session, "/account", e).await,
    }
}

async fn start_totp_change(c: Caller, Form(f): Form<CodeForm>) -> Response {
    match service::start_totp_change(&c.st, &c.actor(), &f.code).await {
        Ok(change) => {
            let _ = c.session.insert(keys::TOTP_CHANGE, change).await;
            Redirect::to("/account").into_response()
        }
        Err(e) => failed(&c.session, "/account", e).await,
    }
}

async fn finish_totp_change(c: Caller, Form(f): Form<CodeForm>) -> Response {
    let Ok(Some(change)) = c
        .session
        .get::<service::TotpChange>(keys::TOTP_CHANGE)
        .await
    else {
        let e = AppError::invalid("Start the change with your current authenticator code first.");
        return failed(&c.session, "/account", e).await;
    };
    let keep = own_handle(&c);
    let r = service::finish_totp_change(&c.st, &c.actor(), keep.as_deref(), &change, &f.code).await;
    if r.is_ok() {
        let _ = c
            .session
            .remove::<service::TotpChange>(keys::TOTP_CHANGE)
            .await;
        let _ = c.session.cycle_id().await;
    }
    let msg = match &r {
        Ok(0) => "New authenticator set up. The old one no longer works.".to_string(),
        Ok(n) => format!(
            "New authenticator set up. The old one no longer works; {n} other session(s) were signed out."
        ),
        Err(_) => String::new(),
    };
    c.answer(r, "/account", &msg, "/account").await
}

async fn cancel_totp_change(c: Caller) -> Response {
    let _ = c
        .session
        .remove::<service::TotpChange>(keys::TOTP_CHANGE)
        .await;
    done(
        &c.session,
        "/account",
        "Nothing changed: your authenticator stays as it was.",
    )
    .await
}

// ---------- other people's accounts ----------

#[derive(Deserialize)]
struct BackForm {
    /// Where the form was (the operators page or a tenant's page).
    #[serde(default)]
    back: Option<String>,
}

fn back_to(f: &BackForm) -> String {
    // Only a local path: never an open redirect.
    match f.back.as_deref() {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)) =>
        {
            p.to_string()
        }
        _ => "/operators".to_string(),
    }
}

async fn disable_person(c: Caller, Path(id): Path<String>, Form(f): Form<BackForm>) -> Response {
    let back = back_to(&f);
    let r = service::disable_person(&c.st, &c.actor(), &id).await;
    let msg = match &r {
        Ok(s) => format!(
            "{} is disabled: {} session(s) ended and {} API token(s) revoked.",
            s.email, s.sessions_ended, s.tokens_revoked
        ),
        Err(_) => String::new(),
    };
    c.answer(r, &back, &msg, &back).await
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    back: Option<String>,
}

/// A person's role: owner/operator, or a tenant's admin/viewer (the way up waits for approval).
async fn person_role(c: Caller, Path(id): Path<String>, Form(f): Form<RoleForm>) -> Response {
    let back = back_to(&BackForm { back: f.back });
    let r = match crate::types::Role::parse(&f.role) {
        Some(role) => service::set_role(&c.st, &c.actor(), &id, role, f.reason.as_deref()).await,
        None => Err(AppError::invalid("Choose a role.")),
    };
    granted(&c, r, back).await
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    back: Option<String>,
}

/// Asks for a reset of someone else's second factor (approved by another person).
async fn factor_reset(c: Caller, Path(id): Path<String>, Form(f): Form<ReasonForm>) -> Response {
    let back = back_to(&BackForm { back: f.back });
    let r = service::reset_factor(&c.st, &c.actor(), &id, f.reason.as_deref()).await;
    granted(&c, r, back).await
}

async fn enable_person(c: Caller, Path(id): Path<String>, Form(f): Form<BackForm>) -> Response {
    let back = back_to(&f);
    let r = service::enable_person(&c.st, &c.actor(), &id).await;
    let msg = match &r {
        Ok(s) => format!("{} can sign in again.", s.email),
        Err(_) => String::new(),
    };
    c.answer(r, &back, &msg, &back).await
}
