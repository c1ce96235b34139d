//! REST for CSV imports: check a file (a draft with an error per bad line), list a tenant's,
//! look at one, start it or discard the draft. The same services, gate and audit as the
//! console.
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/imports",
            post(create_import)
                .layer(axum::extract::DefaultBodyLimit::max(
                    super::http::MAX_UPLOAD,
                ))
                .get(list_imports),
        )
        .route("/api/v1/imports/{id}", get(get_import))
        .route("/api/v1/imports/{id}/start", post(start_import))
        .route("/api/v1/imports/{id}/discard", post(discard_import))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The tenant (short name or id).
    pub tenant: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportDetail {
    pub job: crate::imports::ImportJob,
    /// Lines with errors first (at most 1,000).
    pub rows: Vec<crate::imports::ImportRow>,
}

/// Checks a CSV file (the request body: `address,display_name,quota,invite_to`) and stores
/// it as a draft import with an error per bad line; nothing is created until it is started.
#[utoipa::path(post, path = "/api/v1/imports", tag = "mailboxes", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportDetail), (status = 404), (status = 422)))]
pub async fn create_import(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<ImportQuery>,
    body: String,
) -> Result<(StatusCode, Json<ImportDetail>), AppError> {
    let job = crate::imports::service::preview(&st, &a, &q.tenant, &body).await?;
    let rows = crate::imports::service::rows(&st, &a, &job.id, 1000).await?;
    Ok((StatusCode::CREATED, Json(ImportDetail { job, rows })))
}

/// A tenant's latest imports (ten, newest first), drafts included.
#[utoipa::path(get, path = "/api/v1/imports", tag = "mailboxes", security(("bearer" = [])), params(ImportQuery),
    responses((status = 200, body = [crate::imports::ImportJob]), (status = 404)))]
pub async fn list_imports(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<ImportQuery>,
) -> Result<Json<Vec<crate::imports::ImportJob>>, AppError> {
    let t = crate::tenancy::service::tenant_for(
        &st,
        &a,
        &q.tenant,
        crate::core::authz::Action::ViewTenants,
    )
    .await?;
    Ok(Json(
        crate::imports::service::of_tenant(&st, &a, &t.id).await?,
    ))
}

/// Discards a draft (a checked file that was not started); a started import cannot be.
#[utoipa::path(post, path = "/api/v1/imports/{id}/discard", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 204), (status = 404), (status = 409, description = "Not a draft")))]
pub async fn discard_import(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    crate::imports::service::cancel(&st, &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An import with its progress and its lines (errors first).
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, body = ImportDetail), (status = 404)))]
pub async fn get_import(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<ImportDetail>, AppError> {
    let job = crate::imports::service::get(&st, &a, &id).await?;
    let rows = crate::imports::service::rows(&st, &a, &id, 1000).await?;
    Ok(Json(ImportDetail { job, rows }))
}

/// Starts a checked import without errors (or retries a failed one).
#[utoipa::path(post, path = "/api/v1/imports/{id}/start", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, body = crate::imports::ImportJob), (status = 404), (status = 409), (status = 422)))]
pub async fn start_import(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::imports::ImportJob>, AppError> {
    Ok(Json(crate::imports::service::start(&st, &a, &id).await?))
}
