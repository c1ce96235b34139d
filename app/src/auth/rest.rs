//! REST for identity: who a token acts for; the people of this Mailward (list, invite,
//! scope, disable, enable) and their open invitations (list, revoke; revealing a link is the
//! browser's only).
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{self, GrantOutcome, StatusChange};
use crate::api::ApiActor;
use crate::core::authz::Principal;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/people", get(list_people).post(invite_person))
        .route(
            "/api/v1/people/{id}/tenants",
            axum::routing::put(set_tenants),
        )
        .route("/api/v1/invitations", get(list_invitations))
        .route(
            "/api/v1/invitations/{id}",
            axum::routing::delete(revoke_invitation),
        )
        .route("/api/v1/people/{id}/access", get(person_access))
        .route("/api/v1/people/{id}/end-access", post(end_person_access))
        .route("/api/v1/people/{id}/disable", post(disable_person))
        .route("/api/v1/people/{id}/enable", post(enable_person))
        .route("/api/v1/people/{id}/role", axum::routing::put(set_role))
        .route("/api/v1/people/{id}/factor-reset", post(factor_reset))
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

#[derive(Deserialize, ToSchema)]
pub struct NewPerson {
    pub email: String,
    /// `operator`, `tenant_admin` or `client_viewer`.
    pub role: String,
    /// For `tenant_admin` and `client_viewer`: the tenant (short name or id).
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    /// The invitation's id (to revoke it); never the link.
    pub id: String,
    /// Mailed to the person; otherwise an operator reveals the link once in the console.
    pub emailed: bool,
}

/// Invites a person: an operator (owners) or a tenant's admin or client viewer (owners,
/// operators and that tenant's admins). The one-time link goes by email; without outgoing
/// mail it waits to be revealed once in the console.
#[utoipa::path(post, path = "/api/v1/people", tag = "identity", security(("bearer" = [])), request_body = NewPerson,
    responses((status = 201, body = InvitationCreated), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn invite_person(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(b): Json<NewPerson>,
) -> Result<(http::StatusCode, Json<InvitationCreated>), AppError> {
    let created = match (b.role.as_str(), b.tenant.as_deref().map(str::trim)) {
        ("operator", None | Some("")) => service::invite_operator(&st, &a, &b.email).await?,
        ("operator", Some(_)) => {
            return Err(AppError::invalid(
                "Operators belong to no tenant: leave `tenant` out and limit their scope with \
                 PUT /api/v1/people/{id}/tenants once they have joined.",
            ))
        }
        ("tenant_admin" | "client_viewer", Some(t)) if !t.is_empty() => {
            service::invite_tenant_user(&st, &a, t, &b.email, &b.role).await?
        }
        ("tenant_admin" | "client_viewer", _) => {
            return Err(AppError::invalid("Name the tenant (`tenant`)."))
        }
        _ => {
            return Err(AppError::invalid(
                "`role`: operator, tenant_admin or client_viewer.",
            ))
        }
    };
    Ok((
        http::StatusCode::CREATED,
        Json(InvitationCreated {
            id: created.id,
            emailed: created.emailed,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct TenantScopeBody {
    /// `true`: the operator sees every tenant (`tenant_ids` ignored).
    #[serde(default)]
    pub all: bool,
    /// The tenants (ids) the operator may see.
    #[serde(default)]
    pub tenant_ids: Vec<String>,
    /// Why (4–500 characters): required when the scope gets wider, which waits for another
    /// owner's approval.
    #[serde(default)]
    pub reason: Option<String>,
}

/// 200 when a grant applied at once, 202 when it waits for another person's approval.
fn grant_answer(o: service::GrantOutcome) -> (http::StatusCode, Json<service::GrantOutcome>) {
    let status = if o.change_request.is_some() {
        http::StatusCode::ACCEPTED
    } else {
        http::StatusCode::OK
    };
    (status, Json(o))
}

/// Sets an operator's tenant scope (owners): all tenants, or the listed ones. Narrowing
/// applies at once (from their next request); widening is a change request that another
/// owner approves (`reason` required).
#[utoipa::path(put, path = "/api/v1/people/{id}/tenants", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The operator's id")), request_body = TenantScopeBody,
    responses((status = 200, body = GrantOutcome, description = "Applied"),
        (status = 202, body = GrantOutcome, description = "Waits for approval"),
        (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn set_tenants(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<TenantScopeBody>,
) -> Result<(http::StatusCode, Json<service::GrantOutcome>), AppError> {
    let ids = (!b.all).then_some(b.tenant_ids);
    let o = service::set_operator_tenants(&st, &a, &id, ids, b.reason.as_deref()).await?;
    Ok(grant_answer(o))
}

#[derive(Deserialize, ToSchema)]
pub struct RoleBody {
    /// `owner` or `operator` for the platform's people; `tenant_admin` or `client_viewer`
    /// for a tenant's.
    pub role: String,
    /// Why (4–500 characters): required for the way up (operator → owner, client viewer →
    /// tenant admin), which waits for another person's approval.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Changes a person's role within its family. The way up is a change request; the way down
/// applies at once, never for the last active owner.
#[utoipa::path(put, path = "/api/v1/people/{id}/role", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")), request_body = RoleBody,
    responses((status = 200, body = GrantOutcome, description = "Applied"),
        (status = 202, body = GrantOutcome, description = "Waits for approval"),
        (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn set_role(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<RoleBody>,
) -> Result<(http::StatusCode, Json<service::GrantOutcome>), AppError> {
    let role = super::Role::parse(&b.role).ok_or_else(|| {
        AppError::invalid("`role`: owner, operator, tenant_admin or client_viewer.")
    })?;
    let o = service::set_role(&st, &a, &id, role, b.reason.as_deref()).await?;
    Ok(grant_answer(o))
}

#[derive(Deserialize, ToSchema)]
pub struct ReasonBody {
    /// Why (4–500 characters): it goes into the audit log and to the approver.
    pub reason: String,
}

/// Asks for a reset of someone else's second factor. Once another person approves, they get
/// a one-time link by mail to set a new password and authenticator (their current ones work
/// until then). Needs outgoing mail.
#[utoipa::path(post, path = "/api/v1/people/{id}/factor-reset", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")), request_body = ReasonBody,
    responses((status = 202, body = GrantOutcome, description = "Waits for approval"),
        (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn factor_reset(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<ReasonBody>,
) -> Result<(http::StatusCode, Json<service::GrantOutcome>), AppError> {
    let o = service::reset_factor(&st, &a, &id, Some(&b.reason)).await?;
    Ok(grant_answer(o))
}

/// An open invitation (never its link).
#[derive(Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: Option<String>,
    pub role: String,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// `email` or `reveal`.
    pub delivery: String,
    pub revealed: bool,
}

/// Open invitations: the platform's (operators) or, with `tenant`, that tenant's people.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "identity", security(("bearer" = [])), params(PeopleQuery),
    responses((status = 200, body = [Invitation]), (status = 403), (status = 404)))]
pub async fn list_invitations(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<PeopleQuery>,
) -> Result<Json<Vec<Invitation>>, AppError> {
    let invites = match q.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => service::tenant_people(&st, &a, t).await?.1,
        None => service::operators(&st, &a).await?.1,
    };
    Ok(Json(
        invites
            .into_iter()
            .map(|i| Invitation {
                id: i.id,
                email: i.email,
                role: i.role.as_str().to_string(),
                tenant_id: i.tenant_id,
                created_at: i.created_at,
                expires_at: i.expires_at,
                delivery: i.delivery,
                revealed: i.revealed,
            })
            .collect(),
    ))
}

/// Revokes an open invitation: its link stops working at once.
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The invitation's id")),
    responses((status = 204), (status = 404), (status = 409, description = "Used, revoked or expired already")))]
pub async fn revoke_invitation(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<http::StatusCode, AppError> {
    service::revoke_invite(&st, &a, &id).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PersonAccess {
    /// Live console sessions (where from, last seen).
    pub sessions: Vec<super::SessionView>,
    /// API tokens neither revoked nor expired (never their secrets).
    pub tokens: Vec<super::TokenView>,
}

/// A person's live sessions and API tokens (for whoever may disable the person).
#[utoipa::path(get, path = "/api/v1/people/{id}/access", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses((status = 200, body = PersonAccess), (status = 403), (status = 404)))]
pub async fn person_access(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<PersonAccess>, AppError> {
    let (sessions, tokens) = service::access_of(&st, &a, &id).await?;
    Ok(Json(PersonAccess { sessions, tokens }))
}

/// Signs a person out everywhere and revokes their API tokens; the account stays active.
#[utoipa::path(post, path = "/api/v1/people/{id}/end-access", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses((status = 200, body = StatusChange), (status = 403), (status = 404),
        (status = 409, description = "One's own account")))]
pub async fn end_person_access(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<StatusChange>, AppError> {
    Ok(Json(service::end_access_of(&st, &a, &id).await?))
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
        Principal::Token {
            token_id, scopes, ..
        } => (
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
