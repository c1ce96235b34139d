//! Server-function plumbing: the state, session, user and client of the current request.
use leptos::prelude::*;
use tower_sessions::Session;

use crate::auth::web::SignedIn;
use crate::core::state::AppState;
use crate::core::web::ClientInfo;
use crate::core::AppError;

pub struct Ctx {
    pub st: AppState,
    pub session: Session,
    pub user: SignedIn,
    pub client: ClientInfo,
}

impl Ctx {
    pub fn actor(&self) -> crate::core::authz::Actor {
        self.user.actor(&self.client)
    }
}

pub async fn ctx() -> Result<Ctx, ServerFnError> {
    let st =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("application state missing"))?;
    let session: Session = leptos_axum::extract().await?;
    let axum::Extension(user): axum::Extension<SignedIn> = leptos_axum::extract().await?;
    let axum::Extension(client): axum::Extension<ClientInfo> = leptos_axum::extract().await?;
    Ok(Ctx {
        st,
        session,
        user,
        client,
    })
}

/// Maps a service error to what a page shows (internal details stay in the log), and sends
/// signed-out visitors to the sign-in page.
pub fn to_sfn(e: AppError) -> ServerFnError {
    e.log();
    if matches!(e, AppError::Unauthorized(_)) {
        leptos_axum::redirect("/login");
    }
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(e.status());
    }
    ServerFnError::new(e.user_message())
}

/// Runs a page's loader with the shell taken alongside (one server function per page).
/// A failure becomes the page's error text; signed-out visitors are sent to sign in.
pub async fn page<T, F, Fut>(load: F) -> Result<crate::auth::PageData<T>, ServerFnError>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let c = ctx().await?;
    let shell = crate::auth::Shell {
        user: c.user.0.clone(),
        flash: crate::auth::web::take_flash(&c.session).await,
    };
    let data = load(c).await.map_err(|e| {
        let sfn = to_sfn(e);
        match sfn {
            ServerFnError::ServerError(m) => m,
            other => other.to_string(),
        }
    });
    Ok(crate::auth::PageData { shell, data })
}
