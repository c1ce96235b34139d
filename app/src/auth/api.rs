//! Server functions that load what the identity pages show: one per page, each returning
//! the shell (who is signed in, the flash message) with the page's data.
use leptos::prelude::*;

use super::{FreshSecret, InviteRow, InviteView, OperatorView, PageData, SessionView, TokenView};

/// Pages with no data of their own (sign-in).
#[server(prefix = "/_sf")]
pub async fn get_shell() -> Result<PageData<()>, ServerFnError> {
    crate::ssr::page(|_| async { Ok(()) }).await
}

#[server(prefix = "/_sf")]
pub async fn get_invite(token: String) -> Result<PageData<InviteView>, ServerFnError> {
    use super::service::{self, Onboarding};
    crate::ssr::page(|c| async move {
        let pending = c
            .session
            .get::<Onboarding>(super::sessions::ONBOARDING)
            .await
            .ok()
            .flatten();
        service::invite_view(&c.st, &token, pending.as_ref()).await
    })
    .await
}

/// The second-factor page is only reachable between the two sign-in steps.
#[server(prefix = "/_sf")]
pub async fn get_pending_sign_in() -> Result<PageData<bool>, ServerFnError> {
    crate::ssr::page(|c| async move {
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
    })
    .await
}

/// Recovery codes just issued; available until the owner confirms they saved them.
#[server(prefix = "/_sf")]
pub async fn get_fresh_recovery_codes() -> Result<PageData<Vec<String>>, ServerFnError> {
    crate::ssr::page(|c| async move {
        if c.user.0.is_none() {
            return Err(crate::core::AppError::Unauthorized("sign in first".into()));
        }
        let codes = c
            .session
            .get::<Vec<String>>(super::sessions::FRESH_RECOVERY_CODES)
            .await
            .ok()
            .flatten();
        if codes.is_none() {
            leptos_axum::redirect("/");
        }
        Ok(codes.unwrap_or_default())
    })
    .await
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AccountPage {
    pub email: String,
    pub display_name: String,
    pub role: crate::types::Role,
    pub recovery_codes_left: i64,
    pub live_sessions: usize,
    /// A new authenticator waiting for its first code (step 2 of changing it).
    pub totp_change: Option<super::TotpEnrolment>,
    /// Recovery codes just made, shown until the person says they saved them.
    pub fresh_codes: Option<Vec<String>>,
    pub mail_configured: bool,
}

/// The signed-in operator's own account: password, recovery codes, authenticator.
#[server(prefix = "/_sf")]
pub async fn get_account() -> Result<PageData<AccountPage>, ServerFnError> {
    use super::service;
    crate::ssr::page(|c| async move {
        let actor = c.actor();
        let user = c
            .user
            .0
            .clone()
            .ok_or_else(|| crate::core::AppError::Unauthorized("sign in first".into()))?;
        let left = service::recovery_codes_left(&c.st, &actor).await?;
        let live_sessions = service::sessions(&c.st, &actor, None).await?.len();
        let change = c
            .session
            .get::<service::TotpChange>(super::sessions::TOTP_CHANGE)
            .await
            .ok()
            .flatten()
            .filter(|t| {
                t.user_id == user.id
                    && c.st.clock.now() - t.started_at <= service::TOTP_CHANGE_TTL_SECS
            });
        let totp_change = match change {
            Some(t) => Some(service::totp_enrolment(&t, &user.email)?),
            None => None,
        };
        let fresh_codes = c
            .session
            .get::<Vec<String>>(super::sessions::FRESH_RECOVERY_CODES)
            .await
            .ok()
            .flatten();
        Ok(AccountPage {
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            recovery_codes_left: left,
            live_sessions,
            totp_change,
            fresh_codes,
            mail_configured: c.st.mailer.is_configured(),
        })
    })
    .await
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SessionsPage {
    pub now: i64,
    pub sessions: Vec<SessionView>,
}

#[server(prefix = "/_sf")]
pub async fn get_sessions() -> Result<PageData<SessionsPage>, ServerFnError> {
    crate::ssr::page(|c| async move {
        let current = c.session.id().map(|id| super::sessions::handle_of(&id));
        let sessions = super::service::sessions(&c.st, &c.actor(), current.as_deref()).await?;
        Ok(SessionsPage {
            now: c.st.clock.now(),
            sessions,
        })
    })
    .await
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TokensPage {
    pub now: i64,
    pub tokens: Vec<TokenView>,
    /// A token just created, shown this once.
    pub fresh: Option<FreshSecret>,
}

#[server(prefix = "/_sf")]
pub async fn get_tokens() -> Result<PageData<TokensPage>, ServerFnError> {
    crate::ssr::page(|c| async move {
        let tokens = super::service::tokens(&c.st, &c.actor()).await?;
        let fresh = take_fresh(&c).await;
        Ok(TokensPage {
            now: c.st.clock.now(),
            tokens,
            fresh,
        })
    })
    .await
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OperatorsPage {
    pub now: i64,
    /// The signed-in person (no disable button on their own row).
    pub me: String,
    pub can_invite: bool,
    pub mail_configured: bool,
    pub users: Vec<OperatorView>,
    pub invites: Vec<InviteRow>,
    pub fresh: Option<FreshSecret>,
    /// (id, name) of every tenant, for choosing an operator's scope.
    pub tenants: Vec<(String, String)>,
}

#[server(prefix = "/_sf")]
pub async fn get_operators() -> Result<PageData<OperatorsPage>, ServerFnError> {
    use crate::core::authz::{decide, Action};
    crate::ssr::page(|c| async move {
        let actor = c.actor();
        let (users, invites) = super::service::operators(&c.st, &actor).await?;
        let fresh = take_fresh(&c).await;
        Ok(OperatorsPage {
            now: c.st.clock.now(),
            me: actor.user_id.clone().unwrap_or_default(),
            can_invite: decide(&actor, Action::ManageOperators),
            mail_configured: c.st.mailer.is_configured(),
            tenants: if decide(&actor, Action::ManageOperators) {
                let g = crate::core::authz::authorize(&actor, Action::ViewTenants)?;
                crate::tenancy::store::tenant_names_by_id(&c.st.db, &g).await?
            } else {
                vec![]
            },
            users,
            invites,
            fresh,
        })
    })
    .await
}

/// A secret put aside for the next page view (shown once).
#[cfg(feature = "ssr")]
pub async fn take_fresh(c: &crate::ssr::Ctx) -> Option<FreshSecret> {
    crate::auth::web::take(&c.session, super::sessions::FRESH_SECRET).await
}
