//! REST for the audit log (`/api/v1/audit`, `/api/v1/audit/export` as JSON lines, a token
//! with the `audit` scope) and the console's exports (`/audit/export.csv|jsonl`, the signed-in
//! session), filtered like the page.
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::audit::{AuditEvent, AuditFilter};
use crate::core::authz::{authorize, Action};
use crate::core::state::AppState;
use crate::core::web::ClientInfo;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/audit/export", get(export_api))
        .route("/audit/export.csv", get(export_csv))
        .route("/audit/export.jsonl", get(export_jsonl))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Action or prefix ending in `.`.
    pub action: Option<String>,
    /// Part of the actor label.
    pub actor: Option<String>,
    /// Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Events with a sequence number below this.
    pub before: Option<i64>,
    /// At most 500 (default 50).
    pub limit: Option<i64>,
    /// Only this tenant's events (tenant id).
    pub tenant: Option<String>,
    /// Only events about this object (its id: a mailbox, a domain, a change request…).
    pub target: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditEvent>,
    pub has_more: bool,
}

/// Audit events, newest first. Needs the `audit` scope.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 401), (status = 403, description = "Token lacks the audit scope")))]
pub async fn audit(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditList>, AppError> {
    let g = authorize(&a, Action::ViewAudit)?;
    let page = crate::audit::service::list(
        &st.db,
        &g,
        &AuditFilter {
            action: q.action,
            actor: q.actor,
            since: q.since,
            until: q.until,
            before: q.before,
            limit: q.limit,
            tenant: q.tenant,
            target: q.target,
        },
    )
    .await?;
    Ok(Json(AuditList {
        events: page.events,
        has_more: page.has_more,
    }))
}

// ---------- the console's export (session, not token) ----------

type ExportArgs = (
    State<AppState>,
    Extension<crate::auth::web::SignedIn>,
    Extension<ClientInfo>,
    Query<std::collections::HashMap<String, String>>,
);

async fn export_csv(
    s: State<AppState>,
    u: Extension<crate::auth::web::SignedIn>,
    c: Extension<ClientInfo>,
    q: Query<std::collections::HashMap<String, String>>,
) -> Response {
    export((s, u, c, q), "csv").await
}

async fn export_jsonl(
    s: State<AppState>,
    u: Extension<crate::auth::web::SignedIn>,
    c: Extension<ClientInfo>,
    q: Query<std::collections::HashMap<String, String>>,
) -> Response {
    export((s, u, c, q), "jsonl").await
}

async fn export(
    (State(st), Extension(user), Extension(client), Query(q)): ExportArgs,
    fmt: &'static str,
) -> Response {
    let actor = user.actor(&client);
    let params = leptos_router::params::ParamsMap::from_iter(q.into_iter());
    let mut filter = crate::audit::pages::filter_from_query(&params);
    if let Err(e) = crate::audit::pages::resolve(&st, &actor, &mut filter).await {
        return e.into_response();
    }
    export_as(&st, &actor, filter, fmt).await
}

/// The whole selection as JSON lines (one event per line, oldest last), for SIEMs: the
/// console's export with a token. Needs the `audit` scope.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = String, description = "One audit event per line"),
        (status = 401), (status = 403, description = "Token lacks the audit scope")))]
pub async fn export_api(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = AuditFilter {
        action: q.action,
        actor: q.actor,
        since: q.since,
        until: q.until,
        before: q.before,
        limit: None,
        tenant: q.tenant,
        target: q.target,
    };
    export_as(&st, &a, filter, "jsonl").await
}

async fn export_as(
    st: &AppState,
    actor: &crate::core::authz::Actor,
    mut filter: AuditFilter,
    fmt: &'static str,
) -> Response {
    let g = match authorize(actor, Action::ExportAudit) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let mut events = Vec::new();
    // Page through the whole selection, 500 at a time.
    loop {
        filter.limit = Some(500);
        let page = match crate::audit::service::list(&st.db, &g, &filter).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        filter.before = page.events.last().map(|e| e.seq);
        let more = page.has_more;
        events.extend(page.events);
        if !more {
            break;
        }
    }
    let (body, ctype, ext) = match fmt {
        "csv" => (
            crate::audit::service::to_csv(&events),
            "text/csv; charset=utf-8",
            "csv",
        ),
        _ => (
            crate::audit::service::to_jsonl(&events),
            "application/x-ndjson",
            "jsonl",
        ),
    };
    (
        [
            (http::header::CONTENT_TYPE, ctype.to_string()),
            (
                http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"mailward-audit.{ext}\""),
            ),
        ],
        body,
    )
        .into_response()
}
