//! REST for the domain-control registry: read, save, mark reviewed, RDAP lookup, and the
//! summary over every domain one sees. The same services, gate and audit as the console.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{service, ControlInput, ControlSummary, DomainControl};
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/domain-control", get(summary))
        .route(
            "/api/v1/domains/{id}/control",
            get(get_control).put(put_control),
        )
        .route("/api/v1/domains/{id}/control/review", post(review))
        .route("/api/v1/domains/{id}/control/rdap", post(rdap))
}

/// A domain's control record with the warnings in force now (`recorded: false` when nothing
/// is recorded yet).
#[utoipa::path(get, path = "/api/v1/domains/{id}/control", tag = "domain-control", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainControl), (status = 404)))]
pub async fn get_control(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DomainControl>, AppError> {
    Ok(Json(service::control(&st, &a, &id).await?))
}

/// Records who controls the domain. Every field is replaced. `version` from the last read
/// guards against overwriting someone else's save (409); without it the save applies to the
/// current record. Changing `expected_ns`/`expected_ds` also takes the right to change DNS
/// (423 while an incident holds). Each new warning raises an alert. Audited as
/// `domain.control_saved` with what changed.
#[utoipa::path(put, path = "/api/v1/domains/{id}/control", tag = "domain-control", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    request_body = ControlInput,
    responses((status = 200, body = DomainControl), (status = 404), (status = 409), (status = 422), (status = 423)))]
pub async fn put_control(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<ControlInput>,
) -> Result<Json<DomainControl>, AppError> {
    Ok(Json(service::save(&st, &a, &id, &b).await?))
}

/// Marks the record as reviewed by the caller now, changing nothing else.
#[utoipa::path(post, path = "/api/v1/domains/{id}/control/review", tag = "domain-control", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainControl), (status = 404), (status = 422)))]
pub async fn review(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DomainControl>, AppError> {
    Ok(Json(service::review(&st, &a, &id).await?))
}

/// Reads registrar and expiry from the configured RDAP service (`rdap_url`) and records
/// them; 503 with the reason when the lookup fails (the failure is kept on the record).
#[utoipa::path(post, path = "/api/v1/domains/{id}/control/rdap", tag = "domain-control", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainControl), (status = 404), (status = 422), (status = 503)))]
pub async fn rdap(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DomainControl>, AppError> {
    Ok(Json(service::rdap_lookup(&st, &a, &id).await?))
}

/// Over every domain the caller sees: how many have nothing recorded, how many have
/// warnings, and the most serious warnings.
#[utoipa::path(get, path = "/api/v1/domain-control", tag = "domain-control", security(("bearer" = [])),
    responses((status = 200, body = ControlSummary), (status = 403)))]
pub async fn summary(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<ControlSummary>, AppError> {
    Ok(Json(service::summary(&st, &a).await?))
}
