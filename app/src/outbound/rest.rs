//! REST for outbound mail: a tenant's sending counters, as its page shows them.
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::Sending;
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/tenants/{id}/sending", get(tenant_sending))
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
