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
        .route("/alerts/destinations", post(add_destination))
        .route("/alerts/destinations/{id}/delete", post(remove_destination))
        .route("/alerts/destinations/{id}/test", post(test_destination))
        .route("/alerts/destinations/{id}/rotate", post(rotate_secret))
        .route("/alerts/rules/{tenant}", post(set_rules))
}

/// The rules form: an empty field follows the platform's default.
#[derive(Deserialize)]
struct RulesForm {
    #[serde(default)]
    failure_burst: String,
    #[serde(default)]
    failure_minutes: String,
    #[serde(default)]
    new_network_days: String,
    #[serde(default)]
    reset_burst: String,
    #[serde(default)]
    reset_minutes: String,
    #[serde(default)]
    auth_fail_percent: String,
    #[serde(default)]
    odd_hours: Option<String>,
    #[serde(default)]
    viewers_see: Option<String>,
}

fn number(label: &str, v: &str) -> Result<Option<i64>, crate::core::AppError> {
    match v.trim() {
        "" => Ok(None),
        v => v.parse::<i64>().map(Some).map_err(|_| {
            crate::core::AppError::invalid(format!(
                "{label} is a whole number (or empty for the platform's default)."
            ))
        }),
    }
}

impl RulesForm {
    fn change(&self) -> Result<super::RulesChange, crate::core::AppError> {
        Ok(super::RulesChange {
            failure_burst: number("Failed sign-ins", &self.failure_burst)?,
            failure_minutes: number("Their window", &self.failure_minutes)?,
            new_network_days: number("New network days", &self.new_network_days)?,
            reset_burst: number("Resets", &self.reset_burst)?,
            reset_minutes: number("Their window", &self.reset_minutes)?,
            auth_fail_percent: number("DMARC failure share", &self.auth_fail_percent)?,
            odd_hours: self.odd_hours.is_some(),
            viewers_see: self.viewers_see.is_some(),
        })
    }
}

async fn set_rules(c: Caller, Path(tenant): Path<String>, Form(f): Form<RulesForm>) -> Response {
    // Ids and short names are [a-z0-9_-]; anything else goes back to the picker.
    let back = if !tenant.is_empty()
        && tenant
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        format!("/alerts/rules?tenant={tenant}")
    } else {
        "/alerts/rules".to_string()
    };
    let change = match f.change() {
        Ok(ch) => ch,
        Err(e) => return failed(&c.session, &back, e).await,
    };
    match service::set_tenant_rules(&c.st, &c.actor(), &tenant, &change).await {
        Ok(r) => {
            done(
                &c.session,
                &back,
                format!("Alert rules of {} saved.", r.tenant_name),
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

const DESTINATIONS: &str = "/alerts/destinations";

#[derive(Deserialize)]
struct DestinationForm {
    kind: String,
    target: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    min_severity: String,
    #[serde(default)]
    daily_cap: String,
    #[serde(default)]
    digest: Option<String>,
}

async fn keep_secret(c: &Caller, label: &str, value: String) {
    let fresh = crate::auth::FreshSecret {
        label: label.into(),
        value,
    };
    let _ = c
        .session
        .insert(crate::auth::sessions::FRESH_SECRET, fresh)
        .await;
}

async fn add_destination(c: Caller, Form(f): Form<DestinationForm>) -> Response {
    let cap = match f.daily_cap.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return failed(
                    &c.session,
                    DESTINATIONS,
                    crate::core::AppError::invalid("The daily cap is a number of messages."),
                )
                .await
            }
        },
    };
    let n = super::notify::NewDestination {
        kind: f.kind,
        target: f.target,
        tenant: f.tenant,
        min_severity: f.min_severity,
        daily_cap: cap,
        digest: f.digest.is_some(),
    };
    match super::notify::add_destination(&c.st, &c.actor(), &n).await {
        Ok((d, secret)) => {
            if let Some(s) = secret {
                keep_secret(&c, "Signing secret of the webhook", s).await;
            }
            done(
                &c.session,
                DESTINATIONS,
                format!("Alerts now go to {} too.", d.target),
            )
            .await
        }
        Err(e) => failed(&c.session, DESTINATIONS, e).await,
    }
}

async fn remove_destination(c: Caller, Path(id): Path<String>) -> Response {
    match super::notify::remove_destination(&c.st, &c.actor(), &id).await {
        Ok(()) => done(&c.session, DESTINATIONS, "Destination removed.").await,
        Err(e) => failed(&c.session, DESTINATIONS, e).await,
    }
}

async fn test_destination(c: Caller, Path(id): Path<String>) -> Response {
    match super::notify::test_destination(&c.st, &c.actor(), &id).await {
        Ok(d) if d.state == "sent" => {
            done(&c.session, DESTINATIONS, "Test message delivered.").await
        }
        Ok(d) => {
            failed(
                &c.session,
                DESTINATIONS,
                crate::core::AppError::invalid(format!(
                    "The test message was not delivered: {}. It will be tried again.",
                    d.last_error.unwrap_or_default()
                )),
            )
            .await
        }
        Err(e) => failed(&c.session, DESTINATIONS, e).await,
    }
}

async fn rotate_secret(c: Caller, Path(id): Path<String>) -> Response {
    match super::notify::rotate_secret(&c.st, &c.actor(), &id).await {
        Ok(s) => {
            keep_secret(
                &c,
                "New signing secret (the old one signs beside it for 24 hours)",
                s,
            )
            .await;
            axum::response::Redirect::to(DESTINATIONS).into_response()
        }
        Err(e) => failed(&c.session, DESTINATIONS, e).await,
    }
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
