//! Monitoring over HTTP: the mail plane's authentication-policy endpoint (Dovecot posts
//! every authentication here; `mailward mailplane render --auth-policy` sets it up) and the
//! inbox's forms (acknowledge, resolve).
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;

use super::service;
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;

/// The header Dovecot sends the policy token in.
pub const POLICY_HEADER: &str = "x-mailward-policy";
/// Where Dovecot posts (`?command=allow` before, `?command=report` after authentication).
pub const POLICY_PATH: &str = "/api/v1/mailplane/auth-policy";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(POLICY_PATH, post(auth_policy))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/alerts/{id}/resolve", post(resolve))
}

#[derive(Deserialize)]
struct PolicyQuery {
    #[serde(default)]
    command: String,
}

/// Dovecot's authentication policy protocol: `allow` answers `{"status":0}` (go on; a
/// negative status would refuse); `report` carries the outcome, recorded after the answer so
/// the login never waits for Mailward's database.
async fn auth_policy(
    State(st): State<AppState>,
    Query(q): Query<PolicyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presented = headers
        .get(POLICY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !service::policy_token_ok(&st.config, presented) {
        return (
            StatusCode::FORBIDDEN,
            "Refused: wrong or missing policy token.\n",
        )
            .into_response();
    }
    let req: service::PolicyRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Not a policy request: {e}\n"),
            )
                .into_response()
        }
    };
    match q.command.as_str() {
        "allow" => Json(serde_json::json!({ "status": 0, "msg": "" })).into_response(),
        "report" => {
            tokio::spawn(async move {
                if let Err(e) = service::policy_report(&st, req).await {
                    tracing::warn!(error = %e, "recording a mail-plane login");
                }
            });
            Json(serde_json::json!({ "status": 0 })).into_response()
        }
        other => (
            StatusCode::BAD_REQUEST,
            format!("Unknown command {other:?}: allow or report.\n"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn acknowledge(c: Caller, Path(id): Path<String>, Form(f): Form<NoteForm>) -> Response {
    match service::act(&c.st, &c.actor(), &id, false, &f.note).await {
        Ok(a) => done(&c.session, "/alerts", format!("Acknowledged: {}", a.title)).await,
        Err(e) => failed(&c.session, "/alerts", e).await,
    }
}

async fn resolve(c: Caller, Path(id): Path<String>, Form(f): Form<NoteForm>) -> Response {
    match service::act(&c.st, &c.actor(), &id, true, &f.note).await {
        Ok(a) => done(&c.session, "/alerts", format!("Resolved: {}", a.title)).await,
        Err(e) => failed(&c.session, "/alerts", e).await,
    }
}
