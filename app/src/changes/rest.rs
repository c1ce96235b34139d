//! The approval queue over REST (`/api/v1/changes`): list, read one, approve, reject, cancel
//! one's own request, and ask for the rollback of an applied change.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::service as changes;
use super::ChangeRequest;
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/changes", get(list_changes))
        .route("/api/v1/changes/{id}", get(get_change))
        .route("/api/v1/changes/{id}/cancel", post(cancel_change))
        .route("/api/v1/changes/{id}/approve", post(approve_change))
        .route("/api/v1/changes/{id}/reject", post(reject_change))
        .route("/api/v1/changes/{id}/rollback", post(rollback_change))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// `pending` (default) or `recent`.
    pub state: Option<String>,
}

/// Change requests in the token's tenants.
#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", security(("bearer" = [])), params(ChangesQuery),
    responses((status = 200, body = [ChangeRequest])))]
pub async fn list_changes(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<Vec<ChangeRequest>>, AppError> {
    let f = match q.state.as_deref() {
        None | Some("pending") => changes::Filter::Pending,
        Some("recent") => changes::Filter::Recent,
        Some(_) => return Err(AppError::invalid("state is pending or recent")),
    };
    Ok(Json(changes::list(&st, &a, f).await?))
}

/// One change request in the token's tenants (its before-state, its decision, its rollback).
#[utoipa::path(get, path = "/api/v1/changes/{id}", tag = "changes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequest), (status = 404, description = "No such request in the token's tenants")))]
pub async fn get_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<ChangeRequest>, AppError> {
    Ok(Json(changes::get(&st, &a, &id).await?))
}

/// Withdraws the token's own pending request (someone else's is rejected instead).
#[utoipa::path(post, path = "/api/v1/changes/{id}/cancel", tag = "changes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")),
    responses((status = 204), (status = 404), (status = 409, description = "Already decided or expired"),
        (status = 422, description = "Someone else's request")))]
pub async fn cancel_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    changes::cancel(&st, &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approves someone else's pending request and applies it (one effect, however many approve
/// at once).
#[utoipa::path(post, path = "/api/v1/changes/{id}/approve", tag = "changes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")),
    responses((status = 200, body = ChangeRequest), (status = 404), (status = 409, description = "Already decided or expired"), (status = 422, description = "Own request")))]
pub async fn approve_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<ChangeRequest>, AppError> {
    Ok(Json(changes::approve(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RejectRequest {
    #[serde(default)]
    pub note: String,
}

/// Rejects a pending request.
#[utoipa::path(post, path = "/api/v1/changes/{id}/reject", tag = "changes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")), request_body = RejectRequest,
    responses((status = 204), (status = 404), (status = 409)))]
pub async fn reject_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RejectRequest>,
) -> Result<StatusCode, AppError> {
    changes::reject(&st, &a, &id, &body.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RollbackRequest {
    /// Why the change is undone (kept with the request and in the audit log).
    #[serde(default)]
    pub reason: String,
}

/// Asks for the rollback of an applied change: a new change request of the same kind that a
/// second person approves. Refused at once (409, saying what changed) when the object no
/// longer looks as the change left it, or when a rollback of it is already waiting.
#[utoipa::path(post, path = "/api/v1/changes/{id}/rollback", tag = "changes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Id of the applied change request")), request_body = RollbackRequest,
    responses((status = 202, body = ChangeRequest, description = "The rollback request, waiting for approval"),
        (status = 404), (status = 409, description = "Not applied, changed since, or a rollback is already waiting"),
        (status = 422, description = "No reason, or the request is itself a rollback")))]
pub async fn rollback_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RollbackRequest>,
) -> Result<(StatusCode, Json<ChangeRequest>), AppError> {
    let c = changes::request_rollback(&st, &a, &id, &body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(c)))
}
