//! Form endpoints of the domain-control registry.
use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::{service, ControlInput};
use crate::auth::web::Caller;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{name}/control", post(save))
        .route("/domains/{name}/control/review", post(review))
        .route("/domains/{name}/control/rdap", post(rdap))
}

#[derive(Deserialize, Default)]
struct ControlForm {
    #[serde(default)]
    registrar: String,
    #[serde(default)]
    registrar_account: String,
    #[serde(default)]
    dns_provider: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    auto_renew: String,
    #[serde(default)]
    recovery_address: String,
    #[serde(default)]
    mfa: String,
    #[serde(default)]
    billing_owner: String,
    #[serde(default)]
    expected_ns: String,
    #[serde(default)]
    expected_ds: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    reviewed: String,
    #[serde(default)]
    version: String,
}

/// `on` / `off` / empty (not recorded).
fn tri(v: &str, what: &str) -> Result<Option<bool>, AppError> {
    match v.trim() {
        "" => Ok(None),
        "on" | "yes" | "true" => Ok(Some(true)),
        "off" | "no" | "false" => Ok(Some(false)),
        _ => Err(AppError::invalid(format!(
            "Choose on, off or not recorded for {what}."
        ))),
    }
}

async fn save(c: Caller, Path(id): Path<String>, Form(f): Form<ControlForm>) -> Response {
    let to = format!("/domains/{id}/control");
    let parsed = (|| -> Result<ControlInput, AppError> {
        Ok(ControlInput {
            registrar: f.registrar,
            registrar_account: f.registrar_account,
            dns_provider: f.dns_provider,
            expires_on: Some(f.expires_on),
            auto_renew: tri(&f.auto_renew, "auto-renew")?,
            recovery_address: f.recovery_address,
            mfa: tri(&f.mfa, "MFA")?,
            billing_owner: f.billing_owner,
            expected_ns: vec![f.expected_ns],
            expected_ds: vec![f.expected_ds],
            notes: f.notes,
            reviewed: f.reviewed == "on",
            version: Some(
                f.version
                    .trim()
                    .parse()
                    .map_err(|_| AppError::invalid("The form is incomplete: reload the page."))?,
            ),
        })
    })();
    let r = match parsed {
        Ok(input) => service::save(&c.st, &c.actor(), &id, &input).await,
        Err(e) => Err(e),
    };
    let msg = match &r {
        Ok(rec) if rec.warnings.is_empty() => "Saved. Nothing to warn about.".to_string(),
        Ok(rec) => format!(
            "Saved. {} warning{} below; each one is also an alert.",
            rec.warnings.len(),
            if rec.warnings.len() == 1 { "" } else { "s" }
        ),
        Err(_) => String::new(),
    };
    c.answer(r, &to, &msg, &to).await
}

async fn review(c: Caller, Path(id): Path<String>) -> Response {
    let to = format!("/domains/{id}/control");
    let r = service::review(&c.st, &c.actor(), &id).await;
    c.answer(r, &to, "Marked as reviewed by you, now.", &to)
        .await
}

async fn rdap(c: Caller, Path(id): Path<String>) -> Response {
    let to = format!("/domains/{id}/control");
    let r = service::rdap_lookup(&c.st, &c.actor(), &id).await;
    let msg = match &r {
        Ok(rec) => format!(
            "RDAP read: registrar {}, expiry {}.",
            if rec.registrar.is_empty() {
                "not given"
            } else {
                rec.registrar.as_str()
            },
            rec.expires_at
                .map(super::date_of)
                .unwrap_or_else(|| "not given".into())
        ),
        Err(_) => String::new(),
    };
    c.answer(r, &to, &msg, &to).await
}
