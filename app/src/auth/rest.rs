//! REST for identity: who a token acts for; the people of this Mailward (list, disable,
//! enable).
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{self, StatusChange};
use crate::api::ApiActor;
use crate::core::authz::Principal;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/people", get(list_people))
        .route("/api/v1/people/{id}/disable", post(disable_person))
        .route("/api/v1/people/{id}/enable", post(enable_person))
}

/// A person with a console account.
#[derive(Serialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// `owner`, `operator`, `tenant_admin` or `client_viewer`.
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    /// For a tenant's people: the tenant's name.
    pub tenant: Option<String>,
    /// For an operator limited to listed tenants: their ids (absent: all tenants).
    pub tenant_ids: Option<Vec<String>>,
    pub created_at: i64,
}

impl From<super::OperatorView> for Person {
    fn from(u: super::OperatorView) -> Person {
        Person {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role.as_str().to_string(),
            status: u.status.as_str().to_string(),
            tenant: u.tenant,
            tenant_ids: u.tenant_ids,
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Only the admins and viewers of this tenant (its short name or id).
    pub tenant: Option<String>,
}

/// Everyone with a console account (owners and operators see all; with `tenant`, that
/// tenant's admins and viewers, for whoever may see the tenant).
#[utoipa::path(get, path = "/api/v1/people", tag = "identity", security(("bearer" = [])), params(PeopleQuery),
    responses((status = 200, body = [Person]), (status = 403, description = "The token's account may not see people")))]
pub async fn list_people(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<PeopleQuery>,
) -> Result<Json<Vec<Person>>, AppError> {
    let people = match q.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => service::tenant_people(&st, &a, t).await?.0,
        None => service::operators(&st, &a).await?.0,
    };
    Ok(Json(people.into_iter().map(Person::from).collect()))
}

/// Disables an account: it cannot sign in, its sessions end and its API tokens are revoked
/// at once. Refused (409) for the token's own account and for the last active owner.
#[utoipa::path(post, path = "/api/v1/people/{id}/disable", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses((status = 200, body = StatusChange), (status = 404, description = "No such person in sight"),
        (status = 409, description = "Disabled already, one's own account, or the last active owner")))]
pub async fn disable_person(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<StatusChange>, AppError> {
    Ok(Json(service::disable_person(&st, &a, &id).await?))
}

/// Enables a disabled account again.
#[utoipa::path(post, path = "/api/v1/people/{id}/enable", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses((status = 200, body = StatusChange), (status = 404, description = "No such person in sight"),
        (status = 409, description = "Active already, or one's own account")))]
pub async fn enable_person(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<StatusChange>, AppError> {
    Ok(Json(service::enable_person(&st, &a, &id).await?))
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
