//! The REST API under `/api/v1`: bearer tokens, JSON, the same services and gate as the
//! console, described by an OpenAPI document.
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::audit::{AuditEvent, AuditFilter};
use crate::auth::TokenView;
use crate::core::authz::{authorize, Action, Actor, Principal};
use crate::core::state::AppState;
use crate::core::web::ClientInfo;
use crate::core::AppError;
use crate::tenancy::service::{self as tenancy, NewPlan, NewTenant};
use crate::tenancy::{Domain, Plan, Tenant};

// Each capability's REST lives beside its pages and forms; this module keeps what is shared
// (the token extractor, the OpenAPI document) and identity, audit and tenancy REST.
use crate::mailboxes::rest as mailboxes;
use crate::routing::rest as routing;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(mailboxes::routes())
        .merge(routing::routes())
        .merge(crate::changes::rest::routes())
        .route("/api/v1/me", get(me))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/openapi.json", get(openapi))
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

// ---------- tenancy ----------

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
}

/// All domains, optionally searched.
#[utoipa::path(get, path = "/api/v1/domains", tag = "tenancy", security(("bearer" = [])), params(DomainSearch),
    responses((status = 200, body = [Domain]), (status = 401), (status = 403)))]
pub async fn list_domains(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<DomainSearch>,
) -> Result<Json<Vec<Domain>>, AppError> {
    Ok(Json(tenancy::domains(&st, &a, q.q.as_deref()).await?))
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
    Ok(Json(
        tenancy::set_domain_status(&st, &a, &id, &body.status).await?,
    ))
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

/// The actor behind `Authorization: Bearer mwt_…`.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Unauthorized("send an API token as `Authorization: Bearer mwt_…`".into())
            })?;
        let client = parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default();
        Ok(ApiActor(
            crate::auth::service::actor_from_token(st, bearer, client.ip, client.user_agent)
                .await?,
        ))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// The token in use.
    pub token_id: String,
    pub scopes: Vec<String>,
}

/// Who the token acts for, and with which scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, description = "Missing, unknown, expired or revoked token")))]
pub async fn me(ApiActor(a): ApiActor) -> Result<Json<Me>, AppError> {
    let (token_id, scopes) = match &a.principal {
        Principal::Token { token_id, scopes } => (
            token_id.clone(),
            scopes.iter().map(|s| s.as_str().to_string()).collect(),
        ),
        _ => return Err(AppError::Forbidden),
    };
    Ok(Json(Me {
        user_id: a.user_id.clone().unwrap_or_default(),
        email: a.label.split(' ').next().unwrap_or_default().to_string(),
        role: a.role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        token_id,
        scopes,
    }))
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
        },
    )
    .await?;
    Ok(Json(AuditList {
        events: page.events,
        has_more: page.has_more,
    }))
}

struct BearerScheme;
impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Mailward API", version = "1", description = "Control plane for multi-domain email hosting. Authenticate with `Authorization: Bearer <token>`; tokens are created in the console or with `mailward token create`."),
    paths(me, audit, list_plans, create_plan, update_plan, list_tenants, create_tenant, get_tenant, update_tenant, add_domain,
        list_domains, get_domain, update_domain, delete_domain,
        mailboxes::list_mailboxes, mailboxes::offboard_many,
        mailboxes::create_import, mailboxes::get_import, mailboxes::start_import,
        mailboxes::create_mailbox, mailboxes::get_mailbox, mailboxes::resend_invite, mailboxes::revoke_invite,
        mailboxes::reset_mailbox, mailboxes::offboard_mailbox, mailboxes::get_receipt,
        mailboxes::list_app_passwords, mailboxes::revoke_app_password,
        crate::changes::rest::list_changes, crate::changes::rest::approve_change,
        crate::changes::rest::reject_change, crate::changes::rest::rollback_change,
        routing::list_routes, routing::request_route, routing::get_route, routing::disable_route,
        routing::persistence_report, routing::routing_badges, routing::get_routing_policy,
        routing::set_routing_policy),
    components(schemas(Me, AuditList, AuditEvent, TokenView, Plan, NewPlan, PlanUpdate, Tenant, Domain, NewTenant,
        TenantDetail, TenantUpdate, NewDomain, DomainUpdate,
        crate::mailboxes::Mailbox, crate::mailboxes::NewMailbox, crate::mailboxes::MailboxInvite,
        crate::mailboxes::AppPassword, crate::mailboxes::OffboardingReceipt, crate::mailboxes::Revocations,
        crate::mailboxes::ScanCheck, crate::changes::ChangeRequest, crate::mailboxes::AliasRequest, crate::mailboxes::MailboxRow,
        mailboxes::MailboxList, mailboxes::BulkOffboard, mailboxes::BulkOffboardItem,
        mailboxes::ImportDetail, crate::imports::ImportJob, crate::imports::ImportRow,
        mailboxes::MailboxCreated, mailboxes::MailboxDetail, mailboxes::SendTo, mailboxes::LinkIssued,
        mailboxes::ResetRequest, mailboxes::ResetAnswer, mailboxes::OffboardRequest, crate::changes::rest::RejectRequest,
        crate::changes::rest::RollbackRequest,
        crate::routing::Route, crate::routing::RouteTarget, crate::routing::NewRoute, crate::routing::RouteOutcome,
        crate::routing::RoutingPolicy, routing::RoutingPolicyPatch, crate::routing::RoutingBadges, crate::routing::PersistenceItem,
        routing::DisableRequest)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(s) => ([(http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}

/// Audit export from the console (session), as CSV or JSON Lines, filtered like the page.
pub fn export_routes() -> Router<AppState> {
    Router::new()
        .route("/audit/export.csv", get(export_csv))
        .route("/audit/export.jsonl", get(export_jsonl))
}

type ExportArgs = (
    State<AppState>,
    Extension<crate::core::web::SignedIn>,
    Extension<ClientInfo>,
    Query<std::collections::HashMap<String, String>>,
);

async fn export_csv(
    s: State<AppState>,
    u: Extension<crate::core::web::SignedIn>,
    c: Extension<ClientInfo>,
    q: Query<std::collections::HashMap<String, String>>,
) -> Response {
    export((s, u, c, q), "csv").await
}

async fn export_jsonl(
    s: State<AppState>,
    u: Extension<crate::core::web::SignedIn>,
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
    let g = match authorize(&actor, Action::ExportAudit) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let params = leptos_router::params::ParamsMap::from_iter(q.into_iter());
    let mut filter = crate::audit::pages::filter_from_query(&params);
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
