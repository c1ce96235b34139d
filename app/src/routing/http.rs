//! Form endpoints and exports of routing: requests from the console and from mailbox
//! owners, turning a route off, the tenant policy, the recipient's confirmation, and the
//! persistence report as CSV or JSON.
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::service;
use super::{NewRoute, RouteOutcome, RoutingPolicy};
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/routing", post(request))
        .route("/routing/{id}/disable", post(disable))
        .route("/routing/confirm/{token}", post(confirm))
        .route("/routing/report.csv", get(report_csv))
        .route("/routing/report.json", get(report_json))
        .route("/tenants/{slug}/routing-policy", post(set_policy))
        .route("/me/forward", post(owner_request))
}

#[derive(Deserialize)]
pub struct RouteForm {
    kind: String,
    source: String,
    /// One address per line, or separated by commas or spaces.
    #[serde(default)]
    targets: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
    /// Where to come back to.
    #[serde(default)]
    back: String,
}

impl RouteForm {
    fn new_route(&self) -> Result<NewRoute, crate::core::AppError> {
        let days = match self.days.trim() {
            "" => None,
            d => Some(d.parse::<i64>().map_err(|_| {
                crate::core::AppError::invalid_field("days", "Give the expiry in whole days.")
            })?),
        };
        Ok(NewRoute {
            kind: self.kind.clone(),
            source: self.source.clone(),
            targets: self
                .targets
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            days,
            reason: self.reason.clone(),
        })
    }
}

fn outcome_message(o: &RouteOutcome) -> String {
    match o {
        RouteOutcome::Created { .. } => "Alias created: it carries mail now.".into(),
        RouteOutcome::Queued { .. } => {
            "Requested: it waits in Approvals until another person approves it.".into()
        }
    }
}

fn safe_back(back: &str, default: &str) -> String {
    if back.starts_with('/') && !back.starts_with("//") {
        back.to_string()
    } else {
        default.to_string()
    }
}

async fn request(c: Caller, Form(f): Form<RouteForm>) -> Response {
    let back = safe_back(&f.back, "/routing");
    let r = match f.new_route() {
        Ok(n) => service::request(&c.st, &c.actor(), &n).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(o) => done(&c.session, &back, outcome_message(&o)).await,
        Err(e) => failed(&c.session, &back, e).await,
    }
}

#[derive(Deserialize)]
struct ForwardForm {
    targets: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    reason: String,
}

/// A mailbox owner asks for a forward of their own mailbox; it joins the same queue.
async fn owner_request(c: Caller, Form(f): Form<ForwardForm>) -> Response {
    let Some(a) = crate::mailboxes::http::owner_of(&c.st, &c.session, &c.client).await else {
        return Redirect::to("/me/login").into_response();
    };
    let form = RouteForm {
        kind: "forward".into(),
        source: a.label.clone(),
        targets: f.targets,
        days: f.days,
        reason: f.reason,
        back: "/me".into(),
    };
    let r = match form.new_route() {
        Ok(n) => service::request(&c.st, &a, &n).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => {
            done(
                &c.session,
                "/me",
                "Forward requested: it starts once whoever manages your mailbox approves it.",
            )
            .await
        }
        Err(e) => failed(&c.session, "/me", e).await,
    }
}

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

async fn disable(c: Caller, Path(id): Path<String>, Form(f): Form<DisableForm>) -> Response {
    let back = safe_back(&f.back, "/routing");
    let reason = if f.reason.trim().is_empty() {
        "turned off from the console".to_string()
    } else {
        f.reason
    };
    let r = service::disable(&c.st, &c.actor(), &id, &reason).await;
    c.answer(
        r,
        &back,
        "Route turned off: it carries no more mail.",
        &back,
    )
    .await
}

async fn confirm(c: Caller, Path(token): Path<String>) -> Response {
    match service::confirm(&c.st, &c.actor(), &token).await {
        Ok(source) => {
            done(
                &c.session,
                &format!("/routing/confirm/{token}"),
                format!(
                    "Confirmed: mail for {source} is forwarded to you until the forward expires."
                ),
            )
            .await
        }
        Err(e) => failed(&c.session, &format!("/routing/confirm/{token}"), e).await,
    }
}

#[derive(Deserialize)]
struct PolicyForm {
    alias_policy: String,
    #[serde(default)]
    allowlist: String,
    default_days: String,
    max_days: String,
    #[serde(default)]
    confirmation: Option<String>,
}

async fn set_policy(c: Caller, Path(slug): Path<String>, Form(f): Form<PolicyForm>) -> Response {
    let back = format!("/tenants/{slug}");
    let num = |s: &str, what: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| crate::core::AppError::invalid(format!("Give the {what} in whole days.")))
    };
    let r = async {
        let p = RoutingPolicy {
            alias_policy: f.alias_policy.clone(),
            allowlist: f
                .allowlist
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            default_days: num(&f.default_days, "default expiry")?,
            max_days: num(&f.max_days, "maximum")?,
            confirmation: f.confirmation.is_some(),
        };
        service::set_policy(&c.st, &c.actor(), &slug, &p).await
    }
    .await;
    c.answer(r, &back, "Routing policy saved.", &back).await
}

#[derive(Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    pub tenant: Option<String>,
    /// `YYYY-MM-DD` (UTC) or unix seconds.
    #[serde(default)]
    pub since: Option<String>,
}

/// `since` as unix seconds: a date (`2026-11-01`) or a number; empty is none.
pub fn parse_since(s: Option<&str>) -> Result<Option<i64>, crate::core::AppError> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(n) = s.parse::<i64>() {
        return Ok(Some(n));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| {
            Some(
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp(),
            )
        })
        .map_err(|_| crate::core::AppError::invalid("Give “since” as a date, e.g. 2026-11-01."))
}

async fn report_items(
    c: &Caller,
    q: &ReportQuery,
) -> Result<Vec<super::PersistenceItem>, crate::core::AppError> {
    let since = parse_since(q.since.as_deref())?;
    service::report(
        &c.st,
        &c.actor(),
        q.tenant.as_deref().filter(|t| !t.is_empty()),
        since,
    )
    .await
}

async fn report_csv(c: Caller, Query(q): Query<ReportQuery>) -> Response {
    match report_items(&c, &q).await {
        Ok(items) => (
            [
                (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"mailward-persistence-report.csv\"",
                ),
            ],
            service::report_csv(&items),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn report_json(c: Caller, Query(q): Query<ReportQuery>) -> Response {
    match report_items(&c, &q).await {
        Ok(items) => (
            [(
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"mailward-persistence-report.json\"",
            )],
            axum::Json(items),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
