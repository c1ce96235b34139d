//! REST for plans, tenants and domains: the same services, gate and audit as the console.
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;
use crate::tenancy::service::{self as tenancy, NewPlan, NewTenant};
use crate::tenancy::{Domain, Plan, Tenant};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/plans", get(list_plans).post(create_plan))
        .route("/api/v1/plans/{id}", axum::routing::patch(update_plan))
        .route("/api/v1/tenants", get(list_tenants).post(create_tenant))
        .route("/api/v1/tenants/{id}", get(get_tenant).patch(update_tenant))
        .route(
            "/api/v1/tenants/{id}/domains",
            axum::routing::post(add_domain),
        )
        .route("/api/v1/domains", get(list_domains))
        .route(
            "/api/v1/domains/{id}",
            get(get_domain).patch(update_domain).delete(delete_domain),
        )
}

/// Adds a plan to the catalogue (owner only).
#[utoipa::path(post, path = "/api/v1/plans", tag = "tenancy", security(("bearer" = [])), request_body = NewPlan,
    responses((status = 201, body = Plan), (status = 403), (status = 409), (status = 422)))]
pub async fn create_plan(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<NewPlan>,
) -> Result<(StatusCode, Json<Plan>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(tenancy::create_plan(&st, &a, &body).await?),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct PlanUpdate {
    /// Retire (true: no new tenant may choose it; tenants on it keep it) or offer again.
    pub retired: bool,
}

/// Retires a plan or offers it again (owner only).
#[utoipa::path(patch, path = "/api/v1/plans/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")), request_body = PlanUpdate,
    responses((status = 200, body = Plan), (status = 403), (status = 404), (status = 422)))]
pub async fn update_plan(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<PlanUpdate>,
) -> Result<Json<Plan>, AppError> {
    Ok(Json(
        tenancy::set_plan_retired(&st, &a, &id, body.retired).await?,
    ))
}

/// The plan catalogue.
#[utoipa::path(get, path = "/api/v1/plans", tag = "tenancy", security(("bearer" = [])),
    responses((status = 200, body = [Plan]), (status = 401), (status = 403)))]
pub async fn list_plans(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<Plan>>, AppError> {
    Ok(Json(tenancy::plans(&st, &a).await?))
}

/// All tenants with plan, domain use and storage pool.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenancy", security(("bearer" = [])),
    responses((status = 200, body = [Tenant]), (status = 401), (status = 403)))]
pub async fn list_tenants(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<Tenant>>, AppError> {
    Ok(Json(tenancy::tenants(&st, &a).await?))
}

/// Creates a tenant on a plan. Needs the `write` scope.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenancy", security(("bearer" = [])), request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 409, description = "Short name taken"), (status = 422, description = "Invalid input")))]
pub async fn create_tenant(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(tenancy::create_tenant(&st, &a, &body).await?),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct TenantDetail {
    pub tenant: Tenant,
    pub domains: Vec<Domain>,
}

/// One tenant (by id or short name) with its domains.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    responses((status = 200, body = TenantDetail), (status = 404)))]
pub async fn get_tenant(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<TenantDetail>, AppError> {
    let (tenant, domains) = tenancy::tenant(&st, &a, &id).await?;
    Ok(Json(TenantDetail { tenant, domains }))
}

#[derive(Deserialize, ToSchema)]
pub struct TenantUpdate {
    /// Move to this plan (refused when current use does not fit).
    pub plan_id: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
}

/// Changes a tenant's plan and/or status.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")), request_body = TenantUpdate,
    responses((status = 200, body = Tenant), (status = 404), (status = 409, description = "Use does not fit the plan"), (status = 422)))]
pub async fn update_tenant(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<TenantUpdate>,
) -> Result<Json<Tenant>, AppError> {
    if body.plan_id.is_none() && body.status.is_none() {
        return Err(AppError::invalid(
            "Nothing to change: send plan_id and/or status.",
        ));
    }
    if let Some(p) = &body.plan_id {
        tenancy::change_plan(&st, &a, &id, p).await?;
    }
    if let Some(s) = &body.status {
        tenancy::set_tenant_status(&st, &a, &id, s).await?;
    }
    Ok(Json(tenancy::tenant(&st, &a, &id).await?.0))
}

#[derive(Deserialize, ToSchema)]
pub struct NewDomain {
    /// Unicode or ASCII; stored as punycode.
    pub name: String,
    /// standard, transactional, marketing or parked (default standard).
    #[serde(default)]
    pub category: String,
}

/// Adds a domain to a tenant (within its plan's domain limit).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/domains", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")), request_body = NewDomain,
    responses((status = 201, body = Domain), (status = 404), (status = 409, description = "Plan full or domain exists"), (status = 422)))]
pub async fn add_domain(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<NewDomain>,
) -> Result<(StatusCode, Json<Domain>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(tenancy::add_domain(&st, &a, &id, &body.name, &body.category).await?),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainSearch {
    /// Part of the domain or tenant name.
    pub q: Option<String>,
    /// Only domains whose ASCII name sorts after this one (the `next` link carries it).
    pub after: Option<String>,
    /// Domains per page, 1 to 1000 (default 500).
    pub limit: Option<i64>,
}

/// Domains by ASCII name, a page at a time (500 unless `limit` says otherwise). When more
/// follow, a `Link: <…>; rel="next"` header gives the next page's address.
#[utoipa::path(get, path = "/api/v1/domains", tag = "tenancy", security(("bearer" = [])), params(DomainSearch),
    responses((status = 200, body = [Domain], headers(("Link" = String, description = "`<…>; rel=\"next\"` when more domains follow"))),
        (status = 401), (status = 403), (status = 422, description = "`limit` outside 1–1000")))]
pub async fn list_domains(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<DomainSearch>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let (rows, more) =
        tenancy::domains(&st, &a, q.q.as_deref(), q.after.as_deref(), q.limit).await?;
    let next = rows.last().filter(|_| more).map(|last| {
        let mut link = format!("/api/v1/domains?after={}", crate::ui::urlencode(&last.name));
        if let Some(n) = q.limit {
            link.push_str(&format!("&limit={n}"));
        }
        if let Some(term) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
            link.push_str(&format!("&q={}", crate::ui::urlencode(term)));
        }
        format!("<{link}>; rel=\"next\"")
    });
    let mut resp = Json(rows).into_response();
    if let Some(v) = next.and_then(|l| http::HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(http::header::LINK, v);
    }
    Ok(resp)
}

/// One domain, by id or ASCII name.
#[utoipa::path(get, path = "/api/v1/domains/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = Domain), (status = 404)))]
pub async fn get_domain(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Domain>, AppError> {
    Ok(Json(tenancy::domain(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct DomainUpdate {
    /// `active` or `suspended`.
    pub status: String,
    /// Owners only: activate a pending domain whose DNS challenge was not seen, for this
    /// reason (kept in the audit log).
    #[serde(default)]
    pub unverified_reason: Option<String>,
}

/// Activates or suspends a domain.
#[utoipa::path(patch, path = "/api/v1/domains/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = DomainUpdate,
    responses((status = 200, body = Domain), (status = 404), (status = 422)))]
pub async fn update_domain(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<DomainUpdate>,
) -> Result<Json<Domain>, AppError> {
    Ok(Json(match body.unverified_reason.as_deref() {
        Some(reason) if body.status == "active" => {
            tenancy::activate_unverified(&st, &a, &id, reason).await?
        }
        _ => tenancy::set_domain_status(&st, &a, &id, &body.status).await?,
    }))
}

/// Removes a domain that is pending or suspended and has no mailboxes.
#[utoipa::path(delete, path = "/api/v1/domains/{id}", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 204), (status = 404), (status = 409, description = "Active, or still has mailboxes")))]
pub async fn delete_domain(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    tenancy::remove_domain(&st, &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
