//! REST for alerts: the inbox, acknowledging, resolving.
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::service;
use super::Alert;
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}/acknowledge", post(acknowledge_alert))
        .route("/api/v1/alerts/{id}/resolve", post(resolve_alert))
}

#[derive(Deserialize, IntoParams)]
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
