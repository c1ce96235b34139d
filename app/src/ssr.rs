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
        if !from_browser() {
            // The server renders the page: its HTTP status says what came of it.
            return match to_sfn(e) {
                ServerFnError::ServerError(m) => m,
                other => other.to_string(),
            };
        }
        // A call from the browser's router (a click between pages): the answer is the
        // page's data, an error text included, so it stays a 200 the client can read —
        // a 4xx would make it read the body as a bare error and show gibberish. Signed-out
        // visitors are still sent to sign in (the redirect header, which the router follows).
        e.log();
        if matches!(e, AppError::Unauthorized(_)) {
            leptos_axum::redirect("/login");
        }
        e.user_message()
    });
    Ok(crate::auth::PageData { shell, data })
}

/// Whether this is a server-function call from the browser (client-side navigation), not
/// the server rendering a page.
fn from_browser() -> bool {
    use_context::<axum::http::request::Parts>().is_some_and(|p| p.uri.path().starts_with("/_sf/"))
}
