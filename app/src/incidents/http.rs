//! Form endpoints of incidents.
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{service, NewIncident};
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", post(declare))
        .route("/incidents/{id}/end", post(request_end))
        .route("/incidents/{id}/end/confirm", post(confirm_end))
        .route("/incidents/{id}/keep-open", post(keep_open))
        .route("/incidents/{id}/outbound", post(outbound))
        .route("/incidents/{id}/revoke", post(revoke))
        .route("/incidents/{id}/restore", post(restore))
        .route("/incidents/{id}/postmortem", post(save_postmortem))
        .route("/incidents/{id}/checks", post(confirm_check))
        .route("/incidents/{id}/postmortem.md", get(postmortem_md))
        .route("/incidents/{id}/hunt.csv", get(hunt_csv))
        .route("/incidents/{id}/hunt.json", get(hunt_json))
}

/// The hunt as a CSV download.
async fn hunt_csv(c: Caller, Path(id): Path<String>) -> Response {
    match service::hunt(&c.st, &c.actor(), &id).await {
        Ok((i, findings)) => (
            [
                (
                    http::header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".to_string(),
                ),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"hunt-{}.csv\"", i.id),
                ),
            ],
            service::to_csv(&findings),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The hunt as JSON (the same as the API's).
async fn hunt_json(c: Caller, Path(id): Path<String>) -> Response {
    match service::hunt(&c.st, &c.actor(), &id).await {
        Ok((i, findings)) => (
            [(
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"hunt-{}.json\"", i.id),
            )],
            axum::Json(findings),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
struct DeclareForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    reason: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field), read as UTC.
    #[serde(default)]
    since: String,
    #[serde(default)]
    alert_id: String,
}

/// A `datetime-local` value as UTC seconds.
fn parse_since(s: &str) -> Result<i64, AppError> {
    let s = s.trim();
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map(|d| d.and_utc().timestamp())
        .map_err(|_| AppError::invalid("Give the start time T as a date and time (UTC)."))
}

async fn declare(c: Caller, Form(f): Form<DeclareForm>) -> Response {
    // Back to the form, still prefilled from its alert (ids are letters, digits and `_`).
    let alert = f.alert_id.trim();
    let back = if alert.is_empty() || !alert.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        "/incidents".to_string()
    } else {
        format!("/incidents?alert={alert}")
    };
    let since = match parse_since(&f.since) {
        Ok(t) => t,
        Err(e) => return failed(&c.session, &back, e).await,
    };
    let n = NewIncident {
        tenant: Some(f.tenant),
        title: f.title,
        reason: f.reason,
        since_at: Some(since),
        alert_id: Some(f.alert_id),
    };
    match service::declare(&c.st, &c.actor(), &n).await {
        Ok(i) => {
            done(
                &c.session,
                &format!("/incidents/{}", i.id),
                "Incident declared: risky operations are frozen for everyone concerned.",
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

#[derive(Deserialize, Default)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn request_end(c: Caller, Path(id): Path<String>, Form(f): Form<NoteForm>) -> Response {
    let r = service::request_end(&c.st, &c.actor(), &id, &f.note).await;
    let to = format!("/incidents/{id}");
    c.answer(
        r,
        &to,
        "Asked to end it: another person confirms. The freeze holds until then.",
        &to,
    )
    .await
}

async fn confirm_end(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::confirm_end(&c.st, &c.actor(), &id).await;
    let to = format!("/incidents/{id}");
    c.answer(r, &to, "The incident has ended: the freeze is lifted.", &to)
        .await
}

async fn keep_open(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::keep_open(&c.st, &c.actor(), &id).await;
    let to = format!("/incidents/{id}");
    c.answer(r, &to, "The incident stays in force.", &to).await
}

#[derive(serde::Deserialize)]
struct OutboundForm {
    #[serde(default)]
    hold: String,
}

/// Holds (`hold=true`) or releases the outbound mail the incident covers.
async fn outbound(c: Caller, Path(id): Path<String>, Form(f): Form<OutboundForm>) -> Response {
    let hold = f.hold == "true";
    let r = service::hold_outbound(&c.st, &c.actor(), &id, hold).await;
    let to = format!("/incidents/{id}");
    let msg = if hold {
        "Outbound mail is held: what the incident's mailboxes submit stays in the mail plane's hold queue."
    } else {
        "Outbound mail flows again. Mail held so far stays in the hold queue until released on the mail host."
    };
    c.answer(r, &to, msg, &to).await
}

/// The revoke form: `users` repeated (checkboxes), `mailboxes` one per line, `disable`.
async fn revoke(
    c: Caller,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut input = super::RevokeInput::default();
    for (k, v) in fields {
        match k.as_str() {
            "users" => input.users.push(v),
            "mailboxes" => input.mailboxes.extend(
                v.split(|ch: char| ch == '\n' || ch == ',' || ch.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            "disable" => input.disable = v == "on",
            _ => {}
        }
    }
    let to = format!("/incidents/{id}");
    match service::revoke(&c.st, &c.actor(), &id, &input).await {
        Ok(r) => {
            let n = r.accounts.len();
            let msg = match &r.mail_plane {
                None => format!("Access revoked for {n} account(s): the receipt is below."),
                Some(p) => format!("Access revoked for {n} account(s). {p}"),
            };
            done(&c.session, &to, msg).await
        }
        Err(e) => failed(&c.session, &to, e).await,
    }
}

#[derive(Deserialize, Default)]
struct RestoreForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    domain: String,
}

async fn restore(c: Caller, Path(id): Path<String>, Form(f): Form<RestoreForm>) -> Response {
    let tenant = (!f.tenant.trim().is_empty()).then_some(f.tenant.as_str());
    let domain = (!f.domain.trim().is_empty()).then_some(f.domain.as_str());
    match service::restore(&c.st, &c.actor(), &id, tenant, domain).await {
        Ok(plan) => {
            done(
                &c.session,
                &format!("/dns/bulk/{plan}"),
                "Restore planned: another person approves it (the freeze lets restores through).",
            )
            .await
        }
        Err(e) => failed(&c.session, &format!("/incidents/{id}"), e).await,
    }
}

#[derive(Deserialize, Default)]
struct PostmortemForm {
    #[serde(default)]
    root_cause: String,
    #[serde(default)]
    blocking_control: String,
    /// One per line: `what | owner`.
    #[serde(default)]
    actions: String,
    #[serde(default)]
    shared: Option<String>,
}

async fn save_postmortem(
    c: Caller,
    Path(id): Path<String>,
    Form(f): Form<PostmortemForm>,
) -> Response {
    let to = format!("/incidents/{id}/postmortem");
    let mut actions = Vec::new();
    for line in f.actions.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.rsplit_once('|') {
            Some((what, owner)) => actions.push(super::FollowUp {
                what: what.trim().to_string(),
                owner: owner.trim().to_string(),
            }),
            None => {
                let e = AppError::invalid(format!(
                    "Write each follow-up action as \u{201c}what | owner\u{201d} (line: {line})."
                ));
                return failed(&c.session, &to, e).await;
            }
        }
    }
    let input = super::PostmortemInput {
        root_cause: f.root_cause,
        blocking_control: f.blocking_control,
        actions,
        shared: f.shared.as_deref() == Some("on"),
    };
    let r = service::save_postmortem(&c.st, &c.actor(), &id, &input).await;
    c.answer(r, &to, "Postmortem saved.", &to).await
}

/// The postmortem as a Markdown download.
async fn postmortem_md(c: Caller, Path(id): Path<String>) -> Response {
    match service::postmortem(&c.st, &c.actor(), &id).await {
        Ok(p) => (
            [
                (
                    http::header::CONTENT_TYPE,
                    "text/markdown; charset=utf-8".to_string(),
                ),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"postmortem-{}.md\"", p.incident.id),
                ),
            ],
            service::to_markdown(&p),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// One item of "validate domain control" confirmed for one domain.
async fn confirm_check(
    c: Caller,
    Path(id): Path<String>,
    Form(f): Form<super::CheckInput>,
) -> Response {
    let to = format!("/incidents/{id}#control");
    let r = service::confirm_check(&c.st, &c.actor(), &id, &f).await;
    c.answer(r, &to, "Confirmed, with your name and the time.", &to)
        .await
}
