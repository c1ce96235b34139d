//! REST for identity: who a token acts for.
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::core::authz::Principal;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/me", get(me))
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
