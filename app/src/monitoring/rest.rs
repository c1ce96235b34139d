//! REST for alerts: the inbox, acknowledging, resolving, destinations, each tenant's rules.
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::service;
use super::{Alert, Delivery, Destination, RulesChange, TenantRules};
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}/acknowledge", post(acknowledge_alert))
        .route("/api/v1/alerts/{id}/resolve", post(resolve_alert))
        .route(
            "/api/v1/alert-destinations",
            get(list_destinations).post(create_destination),
        )
        .route(
            "/api/v1/alert-destinations/{id}",
            axum::routing::delete(delete_destination),
        )
        .route(
            "/api/v1/alert-destinations/{id}/rotate",
            post(rotate_destination_secret),
        )
        .route(
            "/api/v1/alert-destinations/{id}/test",
            post(test_destination),
        )
        .route(
            "/api/v1/tenants/{tenant}/alert-rules",
            get(get_rules).put(put_rules),
        )
}

/// A tenant's alert rules: its own thresholds (empty: the platform's default), what
/// applies, and whether its client viewers read its alerts.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/alert-rules", tag = "monitoring", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Tenant id or short name")),
    responses((status = 200, body = TenantRules), (status = 404)))]
pub async fn get_rules(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(tenant): Path<String>,
) -> Result<Json<TenantRules>, AppError> {
    Ok(Json(service::tenant_rules(&st, &a, &tenant).await?))
}

/// Replaces a tenant's alert rules (a field left out or null follows the platform's
/// default). A tenant's admin may only make rules stricter; owners and operators may loosen
/// them. Audited as `alert.rules_changed`.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/alert-rules", tag = "monitoring", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Tenant id or short name")),
    request_body = RulesChange,
    responses((status = 200, body = TenantRules), (status = 404), (status = 422)))]
pub async fn put_rules(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(tenant): Path<String>,
    Json(b): Json<RulesChange>,
) -> Result<Json<TenantRules>, AppError> {
    Ok(Json(service::set_tenant_rules(&st, &a, &tenant, &b).await?))
}

/// Where alerts go (e-mail, webhooks), each with its latest deliveries.
#[utoipa::path(get, path = "/api/v1/alert-destinations", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = Vec<Destination>)))]
pub async fn list_destinations(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<Destination>>, AppError> {
    Ok(Json(super::notify::destinations(&st, &a).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewDestinationBody {
    /// `email` or `webhook`.
    pub kind: String,
    /// An e-mail address, or an https:// URL.
    pub target: String,
    /// A tenant (id or short name): its alerts. Absent: every alert (owners, operators).
    #[serde(default)]
    pub tenant: Option<String>,
    /// `info`, `warning` (default) or `critical`.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// Messages per rule per day (default 20).
    #[serde(default)]
    pub daily_cap: Option<i64>,
    #[serde(default)]
    pub digest: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedDestination {
    pub destination: Destination,
    /// A webhook's signing secret (`whsec_…`): shown this once.
    pub secret: Option<String>,
}

/// Adds a destination; a webhook's signing secret is in the answer, once.
#[utoipa::path(post, path = "/api/v1/alert-destinations", tag = "monitoring", security(("bearer" = [])),
    request_body = NewDestinationBody,
    responses((status = 200, body = CreatedDestination), (status = 422)))]
pub async fn create_destination(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(b): Json<NewDestinationBody>,
) -> Result<Json<CreatedDestination>, AppError> {
    let n = super::notify::NewDestination {
        kind: b.kind,
        target: b.target,
        tenant: b.tenant.unwrap_or_default(),
        min_severity: b.min_severity.unwrap_or_default(),
        daily_cap: b.daily_cap,
        digest: b.digest,
    };
    let (destination, secret) = super::notify::add_destination(&st, &a, &n).await?;
    Ok(Json(CreatedDestination {
        destination,
        secret,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The webhook's new signing secret (`whsec_…`): shown this once. The old one keeps
    /// signing alongside for a while, so receivers can switch without losing messages.
    pub secret: String,
}

/// Rotates a webhook destination's signing secret.
#[utoipa::path(post, path = "/api/v1/alert-destinations/{id}/rotate", tag = "monitoring", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RotatedSecret), (status = 404), (status = 409), (status = 422)))]
pub async fn rotate_destination_secret(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<RotatedSecret>, AppError> {
    let secret = super::notify::rotate_secret(&st, &a, &id).await?;
    Ok(Json(RotatedSecret { secret }))
}

/// Removes a destination and its delivery log.
#[utoipa::path(delete, path = "/api/v1/alert-destinations/{id}", tag = "monitoring", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn delete_destination(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    super::notify::remove_destination(&st, &a, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Sends a test message now; answers with its delivery (sent, or why not).
#[utoipa::path(post, path = "/api/v1/alert-destinations/{id}/test", tag = "monitoring", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Delivery), (status = 404)))]
pub async fn test_destination(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, AppError> {
    Ok(Json(super::notify::test_destination(&st, &a, &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open`, `acknowledged` or `resolved`; without it, those not resolved.
    pub state: Option<String>,
}

/// Alerts in the caller's tenants, newest activity first (at most 500).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "monitoring", security(("bearer" = [])),
    params(AlertQuery), responses((status = 200, body = Vec<Alert>)))]
pub async fn list_alerts(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Vec<Alert>>, AppError> {
    Ok(Json(service::alerts(&st, &a, q.state.as_deref()).await?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct AlertNote {
    #[serde(default)]
    pub note: String,
}

/// Acknowledges an open alert (someone is on it).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "monitoring", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AlertNote,
    responses((status = 200, body = Alert), (status = 409, description = "Not open")))]
pub async fn acknowledge_alert(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<AlertNote>,
) -> Result<Json<Alert>, AppError> {
    Ok(Json(service::act(&st, &a, &id, false, &body.note).await?))
}

/// Resolves an alert; the same signal raises a new one from then on.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "monitoring", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AlertNote,
    responses((status = 200, body = Alert), (status = 409, description = "Already resolved")))]
pub async fn resolve_alert(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<AlertNote>,
) -> Result<Json<Alert>, AppError> {
    Ok(Json(service::act(&st, &a, &id, true, &body.note).await?))
}
