//! Server functions that load what the identity pages show.
use leptos::prelude::*;

use super::{FreshSecret, InviteRow, InviteView, OperatorView, SessionView, Shell, TokenView};

#[server(prefix = "/_sf")]
pub async fn get_shell() -> Result<Shell, ServerFnError> {
    let c = crate::ssr::ctx().await?;
    Ok(Shell {
        user: c.user.0.clone(),
        flash: crate::core::web::take_flash(&c.session).await,
    })
}

#[server(prefix = "/_sf")]
pub async fn get_invite(token: String) -> Result<InviteView, ServerFnError> {
    use super::service::{self, Onboarding};
    let c = crate::ssr::ctx().await?;
    let pending = c
        .session
        .get::<Onboarding>(super::sessions::ONBOARDING)
        .await
        .ok()
        .flatten();
    service::invite_view(&c.st, &token, pending.as_ref())
        .await
        .map_err(crate::ssr::to_sfn)
}

/// The second-factor page is only reachable between the two sign-in steps.
#[server(prefix = "/_sf")]
pub async fn get_pending_sign_in() -> Result<bool, ServerFnError> {
    let c = crate::ssr::ctx().await?;
    let pending = c
        .session
        .get::<(String, i64)>(super::sessions::PENDING_2FA)
        .await
        .ok()
        .flatten()
        .is_some();
    if !pending {
        leptos_axum::redirect("/login");
    }
    Ok(pending)
}

/// Recovery codes just issued; available until the owner confirms they saved them.
#[server(prefix = "/_sf")]
pub async fn get_fresh_recovery_codes() -> Result<Vec<String>, ServerFnError> {
    let c = crate::ssr::ctx().await?;
    if c.user.0.is_none() {
        leptos_axum::redirect("/login");
        return Ok(vec![]);
    }
    let codes = c
        .session
        .get::<Vec<String>>(super::sessions::FRESH_RECOVERY_CODES)
        .await
        .ok()
        .flatten();
    match codes {
        Some(codes) => Ok(codes),
        None => {
            leptos_axum::redirect("/");
            Ok(vec![])
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SessionsPage {
    pub now: i64,
    pub sessions: Vec<SessionView>,
}

#[server(prefix = "/_sf")]
pub async fn get_sessions() -> Result<SessionsPage, ServerFnError> {
    let c = crate::ssr::ctx().await?;
    let current = c.session.id().map(|id| super::sessions::handle_of(&id));
    let sessions = super::service::sessions(&c.st, &c.actor(), current.as_deref())
        .await
        .map_err(crate::ssr::to_sfn)?;
    Ok(SessionsPage {
        now: c.st.clock.now(),
        sessions,
    })
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TokensPage {
    pub now: i64,
    pub tokens: Vec<TokenView>,
    /// A token just created, shown this once.
    pub fresh: Option<FreshSecret>,
}

#[server(prefix = "/_sf")]
pub async fn get_tokens() -> Result<TokensPage, ServerFnError> {
    let c = crate::ssr::ctx().await?;
    let tokens = super::service::tokens(&c.st, &c.actor())
        .await
        .map_err(crate::ssr::to_sfn)?;
    let fresh = c
        .session
        .remove::<FreshSecret>(super::sessions::FRESH_SECRET)
        .await
        .ok()
        .flatten();
    Ok(TokensPage {
        now: c.st.clock.now(),
        tokens,
        fresh,
    })
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OperatorsPage {
    pub now: i64,
    pub can_invite: bool,
    pub mail_configured: bool,
    pub users: Vec<OperatorView>,
    pub invites: Vec<InviteRow>,
    pub fresh: Option<FreshSecret>,
}

#[server(prefix = "/_sf")]
pub async fn get_operators() -> Result<OperatorsPage, ServerFnError> {
    use crate::core::authz::{decide, Action};
    let c = crate::ssr::ctx().await?;
    let actor = c.actor();
    let (users, invites) = super::service::operators(&c.st, &actor)
        .await
        .map_err(crate::ssr::to_sfn)?;
    let fresh = c
        .session
        .remove::<FreshSecret>(super::sessions::FRESH_SECRET)
        .await
        .ok()
        .flatten();
    Ok(OperatorsPage {
        now: c.st.clock.now(),
        can_invite: decide(&actor, Action::InviteOperator),
        mail_configured: c.st.mailer.is_configured(),
        users,
        invites,
        fresh,
    })
}
