//! REST for outbound mail: a tenant's sending counters, as its page shows them, and its own
//! outgoing relay (the page's "Outgoing relay" card).
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{Outbound, Relay, RelayInput, Sending};
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{id}/sending", get(tenant_sending))
        .route(
            "/api/v1/tenants/{id}/relay",
            get(get_relay).put(put_relay).delete(delete_relay),
        )
        .route("/api/v1/tenants/{id}/relay/test", post(test_relay))
}

/// A tenant's outbound mail this hour (sent, refused, held, the busiest mailboxes) and over
/// the last 7 days, with its plan's messages per hour, and the incident holding its mail if
/// one does.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/sending", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    responses((status = 200, body = Sending), (status = 404)))]
pub async fn tenant_sending(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Sending>, AppError> {
    let (tenant, _) = crate::tenancy::service::tenant(&st, &a, &id).await?;
    Ok(Json(super::service::of_tenant(&st, &a, &tenant.id).await?))
}

async fn tenant_id(
    st: &AppState,
    a: &crate::core::authz::Actor,
    id: &str,
) -> Result<String, AppError> {
    Ok(crate::tenancy::service::tenant(st, a, id).await?.0.id)
}

/// Where the tenant's mail to outside addresses leaves: whether its plan includes the managed
/// relay, its own relay if set (never the password), and whether it can send out at all.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/relay", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    responses((status = 200, body = Outbound), (status = 404)))]
pub async fn get_relay(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Outbound>, AppError> {
    let id = tenant_id(&st, &a, &id).await?;
    Ok(Json(super::service::outbound(&st, &a, &id).await?))
}

/// Sets the tenant's own relay (audited; the password is sealed and never returned). An empty
/// password keeps the stored one while host, port and user name stay the same.
#[utoipa::path(put, path = "/api/v1/tenants/{id}/relay", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    request_body = RelayInput,
    responses((status = 200, body = Relay), (status = 404), (status = 422)))]
pub async fn put_relay(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(input): Json<RelayInput>,
) -> Result<Json<Relay>, AppError> {
    let id = tenant_id(&st, &a, &id).await?;
    Ok(Json(super::service::set_relay(&st, &a, &id, &input).await?))
}

/// Removes the tenant's own relay (audited).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}/relay", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    responses((status = 204), (status = 404), (status = 409)))]
pub async fn delete_relay(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = tenant_id(&st, &a, &id).await?;
    super::service::remove_relay(&st, &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tries the tenant's relay: connects, encrypts, signs in, sends nothing. The result is in
/// `test_ok` and `test_result` (a failed sign-in is a result, not an error).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/relay/test", tag = "tenancy", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")),
    responses((status = 200, body = Relay), (status = 404), (status = 409)))]
pub async fn test_relay(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Relay>, AppError> {
    let id = tenant_id(&st, &a, &id).await?;
    Ok(Json(super::service::test_relay(&st, &a, &id).await?))
}
