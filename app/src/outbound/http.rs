//! Form endpoints of a tenant's own outgoing relay (the tenant page's "Outgoing relay" card).
use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::{service, RelayInput, RelayTls};
use crate::auth::web::Caller;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{slug}/relay", post(set))
        .route("/tenants/{slug}/relay/test", post(test))
        .route("/tenants/{slug}/relay/remove", post(remove))
}

#[derive(Deserialize, Default)]
struct RelayForm {
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    tls: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The tenant's id behind its short name, for the caller (not found when not theirs).
async fn tenant_id(c: &Caller, slug: &str) -> Result<String, AppError> {
    Ok(crate::tenancy::service::tenant(&c.st, &c.actor(), slug)
        .await?
        .0
        .id)
}

async fn set(c: Caller, Path(slug): Path<String>, Form(f): Form<RelayForm>) -> Response {
    let to = format!("/tenants/{slug}");
    let r = async {
        let port =
            f.port.trim().parse::<u16>().map_err(|_| {
                AppError::invalid_field("port", "Give the relay's port, such as 587.")
            })?;
        let tls = RelayTls::parse(f.tls.trim())
            .ok_or_else(|| AppError::invalid_field("tls", "Choose STARTTLS or TLS."))?;
        let input = RelayInput {
            host: f.host,
            port,
            tls,
            username: f.username,
            password: f.password,
        };
        let id = tenant_id(&c, &slug).await?;
        service::set_relay(&c.st, &c.actor(), &id, &input).await
    }
    .await;
    c.answer(
        r,
        &format!("{to}#relay-h"),
        "Relay saved: mail to outside addresses leaves through it from the next message. Test the connection to be sure it signs in.",
        &to,
    )
    .await
}

async fn test(c: Caller, Path(slug): Path<String>) -> Response {
    let to = format!("/tenants/{slug}#relay-h");
    let r = async {
        let id = tenant_id(&c, &slug).await?;
        service::test_relay(&c.st, &c.actor(), &id).await
    }
    .await;
    match r {
        Ok(relay) if relay.test_ok == Some(true) => {
            crate::auth::web::done(
                &c.session,
                &to,
                "The relay answered: connected, encrypted and signed in.",
            )
            .await
        }
        Ok(relay) => {
            crate::auth::web::failed(
                &c.session,
                &to,
                AppError::Conflict(format!(
                    "The test failed: {}",
                    relay.test_result.unwrap_or_default()
                )),
            )
            .await
        }
        Err(e) => crate::auth::web::failed(&c.session, &to, e).await,
    }
}

async fn remove(c: Caller, Path(slug): Path<String>) -> Response {
    let to = format!("/tenants/{slug}");
    let r = async {
        let id = tenant_id(&c, &slug).await?;
        service::remove_relay(&c.st, &c.actor(), &id).await
    }
    .await;
    c.answer(r, &to, "Relay removed.", &to).await
}
