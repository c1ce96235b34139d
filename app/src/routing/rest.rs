//! REST for routing: the same services, gate and audit as the console.
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;
use crate::routing::service::{self, RouteFilter};
use crate::routing::{
    NewRoute, PersistenceItem, Route, RouteOutcome, RoutingBadges, RoutingPolicy,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/routes", get(list_routes).post(request_route))
        .route("/api/v1/routes/{id}", get(get_route))
        .route("/api/v1/routes/{id}/disable", post(disable_route))
        .route("/api/v1/routing/report", get(persistence_report))
        .route("/api/v1/routing/badges", get(routing_badges))
        .route(
            "/api/v1/tenants/{id}/routing-policy",
            get(get_routing_policy).patch(set_routing_policy),
        )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteListQuery {
    /// Tenant id or slug.
    pub tenant: Option<String>,
    /// Domain id or name.
    pub domain: Option<String>,
    /// `live` (default: active or waiting for confirmation), `active`, `unconfirmed`,
    /// `expired`, `removed` or `all`.
    pub state: Option<String>,
    /// `alias`, `forward`, `catchall` or `offboarding`.
    pub kind: Option<String>,
}

/// Routes in the token's tenants (at most 1000, newest first).
#[utoipa::path(get, path = "/api/v1/routes", tag = "routing", security(("bearer" = [])), params(RouteListQuery),
    responses((status = 200, body = [Route])))]
pub async fn list_routes(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<RouteListQuery>,
) -> Result<Json<Vec<Route>>, AppError> {
    let f = RouteFilter {
        tenant: q.tenant,
        domain: q.domain,
        state: q.state,
        kind: q.kind,
        since: None,
    };
    Ok(Json(service::list(&st, &a, &f).await?))
}

/// Requests a route: an alias under the `direct` policy is created at once (201); forwards,
/// catch-alls and aliases under `approval` wait for another person (202).
#[utoipa::path(post, path = "/api/v1/routes", tag = "routing", security(("bearer" = [])), request_body = NewRoute,
    responses((status = 201, body = RouteOutcome), (status = 202, body = RouteOutcome), (status = 403), (status = 409), (status = 422)))]
pub async fn request_route(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<NewRoute>,
) -> Result<(StatusCode, Json<RouteOutcome>), AppError> {
    let o = service::request(&st, &a, &body).await?;
    let code = match o {
        RouteOutcome::Created { .. } => StatusCode::CREATED,
        RouteOutcome::Queued { .. } => StatusCode::ACCEPTED,
    };
    Ok((code, Json(o)))
}

#[utoipa::path(get, path = "/api/v1/routes/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Route), (status = 404)))]
pub async fn get_route(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Route>, AppError> {
    Ok(Json(service::get(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct DisableRequest {
    pub reason: String,
}

/// Turns a route off at once (switching off is never held for approval).
#[utoipa::path(post, path = "/api/v1/routes/{id}/disable", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = DisableRequest,
    responses((status = 200, body = Route), (status = 404), (status = 409), (status = 422)))]
pub async fn disable_route(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<DisableRequest>,
) -> Result<Json<Route>, AppError> {
    Ok(Json(service::disable(&st, &a, &id, &body.reason).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Tenant id or slug.
    pub tenant: Option<String>,
    /// Created since: a date (`2026-11-01`, UTC) or unix seconds.
    pub since: Option<String>,
}

/// The persistence report: live external forwards, catch-alls and aliases leaving their tenant.
#[utoipa::path(get, path = "/api/v1/routing/report", tag = "routing", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = [PersistenceItem]), (status = 422)))]
pub async fn persistence_report(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Vec<PersistenceItem>>, AppError> {
    let since = crate::routing::http::parse_since(q.since.as_deref())?;
    Ok(Json(
        service::report(
            &st,
            &a,
            q.tenant.as_deref().filter(|t| !t.is_empty()),
            since,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/routing/badges", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = RoutingBadges)))]
pub async fn routing_badges(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<RoutingBadges>, AppError> {
    Ok(Json(service::badges(&st, &a).await?))
}

#[utoipa::path(get, path = "/api/v1/tenants/{id}/routing-policy", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or slug")),
    responses((status = 200, body = RoutingPolicy), (status = 404)))]
pub async fn get_routing_policy(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<RoutingPolicy>, AppError> {
    Ok(Json(service::tenant_policy(&st, &a, &id).await?))
}

/// A change to a tenant's routing policy: only the fields given change.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingPolicyPatch {
    pub alias_policy: Option<String>,
    pub allowlist: Option<Vec<String>>,
    pub default_days: Option<i64>,
    pub max_days: Option<i64>,
    pub confirmation: Option<bool>,
}

/// Changes the tenant's routing policy (owners and operators); fields left out keep their
/// value.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}/routing-policy", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or slug")), request_body = RoutingPolicyPatch,
    responses((status = 200, body = RoutingPolicy), (status = 403), (status = 404), (status = 422)))]
pub async fn set_routing_policy(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(patch): Json<RoutingPolicyPatch>,
) -> Result<Json<RoutingPolicy>, AppError> {
    let mut body = service::tenant_policy(&st, &a, &id).await?;
    if let Some(v) = patch.alias_policy {
        body.alias_policy = v;
    }
    if let Some(v) = patch.allowlist {
        body.allowlist = v;
    }
    if let Some(v) = patch.default_days {
        body.default_days = v;
    }
    if let Some(v) = patch.max_days {
        body.max_days = v;
    }
    if let Some(v) = patch.confirmation {
        body.confirmation = v;
    }
    Ok(Json(service::set_policy(&st, &a, &id, &body).await?))
}
