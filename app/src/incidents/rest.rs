//! REST for incidents: list, declare, read, ask to end, confirm the end, keep open. The same
//! services, gate and audit as the console.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{service, Incident, NewIncident};
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/incidents",
            get(list_incidents).post(declare_incident),
        )
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route(
            "/api/v1/incidents/{id}/end",
            post(request_end).delete(keep_open),
        )
        .route("/api/v1/incidents/{id}/end/confirm", post(confirm_end))
        .route("/api/v1/incidents/{id}/outbound", post(hold_outbound))
        .route("/api/v1/incidents/{id}/revoke", post(revoke))
        .route("/api/v1/incidents/{id}/hunt", get(hunt))
        .route("/api/v1/incidents/{id}/restore", post(restore))
        .route(
            "/api/v1/incidents/{id}/checks",
            get(list_checks).post(confirm_check),
        )
        .route(
            "/api/v1/incidents/{id}/postmortem",
            get(get_postmortem).put(put_postmortem),
        )
}

/// The postmortem: pre-filled (timeline, what changed, controls) and what people wrote.
/// Client viewers of the tenant read it once it is shared with them.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/postmortem", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = super::Postmortem), (status = 404)))]
pub async fn get_postmortem(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<super::Postmortem>, AppError> {
    Ok(Json(service::postmortem(&st, &a, &id).await?))
}

/// Replaces what people wrote into the postmortem. Audited as `incident.postmortem_saved`.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/postmortem", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = super::PostmortemInput,
    responses((status = 200, body = super::Postmortem), (status = 404), (status = 422)))]
pub async fn put_postmortem(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<super::PostmortemInput>,
) -> Result<Json<super::Postmortem>, AppError> {
    Ok(Json(service::save_postmortem(&st, &a, &id, &b).await?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RestoreBody {
    /// For a platform incident: the tenant (short name or id).
    #[serde(default)]
    pub tenant: Option<String>,
    /// One domain only; none: every domain of the tenant.
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct RestorePlanned {
    /// The bulk DNS change (change request id); see `/api/v1/dns/bulk/{id}`.
    pub plan: String,
}

/// Plans the restore of the known-good DNS baseline (a bulk DNS change, operation restore),
/// which another person approves; the freeze lets it through.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/restore", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = RestoreBody,
    responses((status = 201, body = RestorePlanned), (status = 404), (status = 409), (status = 422)))]
pub async fn restore(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<RestoreBody>,
) -> Result<(StatusCode, Json<RestorePlanned>), AppError> {
    let plan = service::restore(&st, &a, &id, b.tenant.as_deref(), b.domain.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(RestorePlanned { plan })))
}

/// The persistence hunt: everything created or changed since the incident's T that can keep
/// an intruder in, oldest first, each with who, who approved, whether it is still in effect
/// and its revert (a console form; the same actions exist in this API).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/hunt", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = Vec<super::Finding>), (status = 404)))]
pub async fn hunt(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<super::Finding>>, AppError> {
    Ok(Json(service::hunt(&st, &a, &id).await?.1))
}

/// Revokes chosen accounts in one step (sessions, API tokens, app passwords; with `disable`,
/// accounts disabled and mailboxes locked), then ends the mailboxes' live IMAP sessions on
/// the mail plane. Never frozen. Audited per account and as `incident.revoked`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/revoke", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = super::RevokeInput,
    responses((status = 200, body = super::RevokeReceipt), (status = 404), (status = 409), (status = 422)))]
pub async fn revoke(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<super::RevokeInput>,
) -> Result<Json<super::RevokeReceipt>, AppError> {
    Ok(Json(service::revoke(&st, &a, &id, &b).await?))
}

/// Incidents over the caller's tenants and the platform, those in force first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Vec<Incident>), (status = 403)))]
pub async fn list_incidents(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<Incident>>, AppError> {
    Ok(Json(service::list(&st, &a).await?))
}

/// Declares an incident for a tenant (or, without one, the whole platform: only for those
/// who see every tenant). From then on the gate answers 423 to what it freezes, naming it.
/// Audited as `incident.declared`; 409 while one is in force over the same scope.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])),
    request_body = NewIncident,
    responses((status = 201, body = Incident), (status = 403), (status = 409), (status = 422)))]
pub async fn declare_incident(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(n): Json<NewIncident>,
) -> Result<(StatusCode, Json<Incident>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(service::declare(&st, &a, &n).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = Incident), (status = 404)))]
pub async fn get_incident(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Incident>, AppError> {
    Ok(Json(service::get(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct EndNote {
    /// Why it can end: what was found, what was done.
    pub note: String,
}

/// Asks to end the incident (another person confirms). Audited as `incident.end_requested`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/end", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = EndNote,
    responses((status = 200, body = Incident), (status = 404), (status = 409), (status = 422)))]
pub async fn request_end(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<EndNote>,
) -> Result<Json<Incident>, AppError> {
    Ok(Json(service::request_end(&st, &a, &id, &b.note).await?))
}

/// Withdraws the request to end it: the incident stays in force.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/end", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = Incident), (status = 404), (status = 409)))]
pub async fn keep_open(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Incident>, AppError> {
    Ok(Json(service::keep_open(&st, &a, &id).await?))
}

/// Confirms the end (not the person who asked for it): the freeze lifts. Audited as
/// `incident.ended`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/end/confirm", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = Incident), (status = 404), (status = 409), (status = 422)))]
pub async fn confirm_end(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Incident>, AppError> {
    Ok(Json(service::confirm_end(&st, &a, &id).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct OutboundHold {
    /// true: hold the outbound mail the incident covers (the mail plane keeps what its
    /// mailboxes submit in the hold queue); false: let new mail go again.
    pub hold: bool,
}

/// Holds or releases the outbound mail of the incident's tenant (every tenant's, for a
/// platform incident), while it is in force. Audited as `incident.outbound_held` /
/// `incident.outbound_released`; 409 when it already is so or the incident has ended.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/outbound", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")), request_body = OutboundHold,
    responses((status = 200, body = Incident), (status = 404), (status = 409)))]
pub async fn hold_outbound(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<OutboundHold>,
) -> Result<Json<Incident>, AppError> {
    Ok(Json(service::hold_outbound(&st, &a, &id, body.hold).await?))
}

/// "Validate domain control": each affected domain (a tenant incident: all its domains; a
/// platform incident: the first 100 by name) with its domain-control record and which items
/// are confirmed, by whom and when.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/checks", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = Vec<super::DomainChecklist>), (status = 404)))]
pub async fn list_checks(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<super::DomainChecklist>>, AppError> {
    Ok(Json(service::checklist(&st, &a, &id).await?.0))
}

/// Confirms one checklist item for one domain, in the caller's name, while the incident
/// holds (409 once confirmed, or after the end). Audited as `incident.check_confirmed`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/checks", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = super::CheckInput,
    responses((status = 201, body = super::DomainChecklist), (status = 404), (status = 409), (status = 422)))]
pub async fn confirm_check(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<super::CheckInput>,
) -> Result<(StatusCode, Json<super::DomainChecklist>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(service::confirm_check(&st, &a, &id, &b).await?),
    ))
}
