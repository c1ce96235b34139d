//! The web side of authentication: who is signed in on a request (and the `Actor` it
//! makes), what a form handler knows about its caller, and the one-time messages and
//! redirects that answer a form post. Everything here reads or writes the session.
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::sessions as keys;
use super::{CurrentUser, Flash, FlashKind};
use crate::core::authz::Actor;
use crate::core::error::AppError;
use crate::core::state::AppState;
use crate::core::web::ClientInfo;

/// The person signed in on this request, if any (set by the session middleware).
#[derive(Clone, Debug, Default)]
pub struct SignedIn(pub Option<CurrentUser>);

impl SignedIn {
    pub fn actor(&self, client: &ClientInfo) -> Actor {
        match &self.0 {
            Some(u) => super::service::actor_for(u, client.ip.clone(), client.user_agent.clone()),
            None => Actor::anonymous(client.ip.clone(), client.user_agent.clone()),
        }
    }
}

pub async fn set_flash(session: &Session, kind: FlashKind, message: impl Into<String>) {
    set_flash_on(session, kind, message, None).await
}

/// A flash about one field of the form that was posted (see [`failed`]).
async fn set_flash_on(
    session: &Session,
    kind: FlashKind,
    message: impl Into<String>,
    field: Option<&str>,
) {
    let _ = session
        .insert(
            keys::FLASH,
            Flash {
                kind,
                message: message.into(),
                typed: None,
                field: field.map(str::to_string),
            },
        )
        .await;
}

pub async fn take_flash(session: &Session) -> Option<Flash> {
    take(session, keys::FLASH).await
}

/// Field names never kept for a form shown again: passwords, codes, secrets.
fn secret_field(name: &str) -> bool {
    [
        "password", "confirm", "current", "code", "secret", "token", "totp",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// Keeps what a console form carried when its post fails: the urlencoded fields (secrets
/// left out) go with the error's flash, so the page the browser is sent back to shows every
/// field as it was typed (`ui::typed`). One mechanism for every form; the handlers know
/// nothing of it.
pub async fn keep_typed(
    session: Session,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let form = req.method() == axum::http::Method::POST
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return next.run(req).await;
    }
    let action = super::without_link_token(req.uri().path());
    let (parts, body) = req.into_parts();
    // The edge has bounded the body already (2 MiB).
    let Ok(bytes) = axum::body::to_bytes(body, 4 << 20).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
        .into_owned()
        .filter(|(k, _)| !secret_field(k))
        .collect();
    let resp = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    if resp.status().is_redirection() {
        if let Ok(Some(mut f)) = session.get::<Flash>(keys::FLASH).await {
            // A form of passwords only keeps nothing, but still learns which field was wrong.
            if f.kind == FlashKind::Error
                && f.typed.is_none()
                && (!fields.is_empty() || f.field.is_some())
            {
                f.typed = Some(super::Typed { action, fields });
                let _ = session.insert(keys::FLASH, f).await;
            }
        }
    }
    resp
}

/// Removes and returns a one-time session value. Reads first: removing marks the session
/// changed, and an unchanged session is not written back.
pub async fn take<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    let v = session.get::<T>(key).await.ok().flatten()?;
    let _ = session.remove_value(key).await;
    Some(v)
}

/// After a form post: a success message and a 303 to `to`.
pub async fn done(session: &Session, to: &str, message: impl Into<String>) -> Response {
    set_flash(session, FlashKind::Success, message).await;
    Redirect::to(to).into_response()
}

/// After a failed form post: the error's user message and a 303 back to `to`; the form
/// shows it next to the field it is about, if any ([`AppError::field`]).
pub async fn failed(session: &Session, to: &str, err: AppError) -> Response {
    err.log();
    set_flash_on(session, FlashKind::Error, err.user_message(), err.field()).await;
    Redirect::to(to).into_response()
}

/// Everything a form handler needs about its caller, extracted once: the state, the
/// session, and the acting person (anonymous when signed out).
pub struct Caller {
    pub st: AppState,
    pub session: Session,
    pub client: ClientInfo,
    pub user: SignedIn,
}

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        st: &AppState,
    ) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, st)
            .await
            .map_err(|e| e.into_response())?;
        Ok(Caller {
            st: st.clone(),
            session,
            client: parts
                .extensions
                .get::<ClientInfo>()
                .cloned()
                .unwrap_or_default(),
            user: parts
                .extensions
                .get::<SignedIn>()
                .cloned()
                .unwrap_or_default(),
        })
    }
}

impl Caller {
    pub fn actor(&self) -> Actor {
        self.user.actor(&self.client)
    }

    /// Answers a form post: on success a flash message and a 303 to `ok_to`; on failure the
    /// error's message and a 303 to `err_to`.
    pub async fn answer<T>(
        &self,
        result: Result<T, AppError>,
        ok_to: &str,
        ok_message: &str,
        err_to: &str,
    ) -> Response {
        match result {
            Ok(_) => done(&self.session, ok_to, ok_message).await,
            Err(e) => failed(&self.session, err_to, e).await,
        }
    }
}
