//! REST for DNS: a domain's expected and observed records, a check on demand, a first DKIM
//! key, the category templates.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service;
use super::service::changes;
use super::{
    BulkInput, BulkPlan, DkimKey, DnsChange, DnsProvider, DomainDns, ImportedReport, ProviderInput,
    RecordChangeInput, Template,
};
use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/domains/{id}/dns", get(get_dns))
        .route("/api/v1/domains/{id}/dns/check", post(check_dns))
        .route("/api/v1/domains/{id}/dkim", post(create_dkim_key))
        .route("/api/v1/domains/{id}/dkim/rotate", post(rotate_dkim_key))
        .route(
            "/api/v1/domains/{id}/dkim/delegation",
            axum::routing::put(put_dkim_delegation),
        )
        .route(
            "/api/v1/dmarc/reports",
            post(upload_report).layer(axum::extract::DefaultBodyLimit::max(
                super::service::dmarc::MAX_REPORT_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/api/v1/domains/{id}/dns/provider",
            get(get_provider).put(put_provider),
        )
        .route(
            "/api/v1/domains/{id}/dns/provider/test",
            post(test_provider),
        )
        .route(
            "/api/v1/domains/{id}/dns/changes",
            get(list_changes).post(request_change),
        )
        .route("/api/v1/dns/changes/{id}/entered", post(change_entered))
        .route("/api/v1/dns/bulk", get(list_bulk).post(plan_bulk))
        .route("/api/v1/dns/bulk/{id}", get(get_bulk))
        .route("/api/v1/dns/bulk/{id}/override", post(override_bulk))
        .route("/api/v1/dns/templates", get(list_templates))
        .route(
            "/api/v1/dns/templates/{category}",
            axum::routing::put(put_template),
        )
}

/// A domain's DNS: the baseline filled in, the latest observation of each record set, its
/// DKIM keys (public halves), the zone-file snippet and its health.
#[utoipa::path(get, path = "/api/v1/domains/{id}/dns", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainDns), (status = 404)))]
pub async fn get_dns(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DomainDns>, AppError> {
    Ok(Json(service::domain_dns(&st, &a, &id).await?))
}

/// Asks the domain's authoritative nameservers now; answers with the result.
#[utoipa::path(post, path = "/api/v1/domains/{id}/dns/check", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DomainDns), (status = 404), (status = 403)))]
pub async fn check_dns(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DomainDns>, AppError> {
    service::check_now(&st, &a, &id).await?;
    Ok(Json(service::domain_dns(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewDkimKey {
    /// `rsa` (2048 bits, default) or `ed25519`.
    #[serde(default)]
    pub algorithm: Option<String>,
}

/// Makes the domain's first DKIM key (it signs once its record is seen on every nameserver).
#[utoipa::path(post, path = "/api/v1/domains/{id}/dkim", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = NewDkimKey,
    responses((status = 200, body = DkimKey), (status = 409, description = "It has a key already")))]
pub async fn create_dkim_key(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<NewDkimKey>,
) -> Result<Json<DkimKey>, AppError> {
    let alg = body.algorithm.unwrap_or_else(|| "rsa".into());
    Ok(Json(service::generate_key(&st, &a, &id, &alg).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RotateDkimKey {
    /// `rsa` (default) or `ed25519`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The signing key is compromised: it stops signing and is retired at once.
    #[serde(default)]
    pub emergency: bool,
}

/// Starts a DKIM key rotation (normal: the switch waits until every nameserver serves the new
/// record; emergency: the old key stops signing at once).
#[utoipa::path(post, path = "/api/v1/domains/{id}/dkim/rotate", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = RotateDkimKey,
    responses((status = 200, body = DkimKey), (status = 409, description = "No signing key, or a rotation under way")))]
pub async fn rotate_dkim_key(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RotateDkimKey>,
) -> Result<Json<DkimKey>, AppError> {
    let alg = body.algorithm.unwrap_or_else(|| "rsa".into());
    Ok(Json(
        service::rotate_key(&st, &a, &id, &alg, body.emergency).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct DkimDelegation {
    /// true: delegate the selectors to the operator's DKIM zone (the customer publishes two
    /// CNAMEs once); false: take the delegation back.
    pub delegated: bool,
}

/// Delegates a domain's DKIM selectors by CNAME to the operator's zone, or takes that back.
/// Either way the next key starts as a rotation (the current key signs until it is seen).
#[utoipa::path(put, path = "/api/v1/domains/{id}/dkim/delegation", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = DkimDelegation,
    responses((status = 200, body = DkimKey, description = "The key that comes next"),
        (status = 409, description = "Already so, or a rotation under way"),
        (status = 422, description = "No DKIM zone configured")))]
pub async fn put_dkim_delegation(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<DkimDelegation>,
) -> Result<Json<DkimKey>, AppError> {
    Ok(Json(
        service::set_delegation(&st, &a, &id, body.delegated).await?,
    ))
}

/// Imports a DMARC aggregate report collected elsewhere: the body is the report as it came
/// (XML, gzip, zip, or the whole report e-mail; ≤ 10 MB). Importing the same report again
/// changes nothing (`new: false`).
#[utoipa::path(post, path = "/api/v1/dmarc/reports", tag = "dns", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportedReport), (status = 422, description = "Not a report, or about a domain not hosted here")))]
pub async fn upload_report(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    body: axum::body::Bytes,
) -> Result<Json<ImportedReport>, AppError> {
    Ok(Json(
        service::import_report(&st, &a, &body, "api", None).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct CategoryTemplate {
    pub category: String,
    pub label: String,
    pub template: Template,
    /// An owner saved it (else: the built-in baseline).
    pub saved: bool,
}

/// The DNS baseline of each domain category.
#[utoipa::path(get, path = "/api/v1/dns/templates", tag = "dns", security(("bearer" = [])),
    responses((status = 200, body = Vec<CategoryTemplate>)))]
pub async fn list_templates(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<CategoryTemplate>>, AppError> {
    Ok(Json(
        service::templates(&st, &a)
            .await?
            .into_iter()
            .map(|(category, label, template, saved)| CategoryTemplate {
                category,
                label,
                template,
                saved,
            })
            .collect(),
    ))
}

/// Replaces a category's baseline (owners).
#[utoipa::path(put, path = "/api/v1/dns/templates/{category}", tag = "dns", security(("bearer" = [])),
    params(("category" = String, Path, description = "standard, transactional, marketing or parked")),
    request_body = Template,
    responses((status = 204), (status = 403), (status = 422)))]
pub async fn put_template(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(category): Path<String>,
    Json(t): Json<Template>,
) -> Result<http::StatusCode, AppError> {
    service::save_template(&st, &a, &category, t).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

/// Where the domain's DNS is managed (the TSIG secret is never shown: `secret_set`).
#[utoipa::path(get, path = "/api/v1/domains/{id}/dns/provider", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = DnsProvider), (status = 404)))]
pub async fn get_provider(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<DnsProvider>, AppError> {
    Ok(Json(changes::provider(&st, &a, &id).await?))
}

/// Sets where the domain's DNS is managed: `rfc2136` (server, zone, TSIG key; an empty
/// secret keeps the stored one) or `manual`. Allowing changes outside the baseline's record
/// sets (`allow_unmanaged`) is for owners.
#[utoipa::path(put, path = "/api/v1/domains/{id}/dns/provider", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = ProviderInput,
    responses((status = 200, body = DnsProvider), (status = 403), (status = 422)))]
pub async fn put_provider(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<ProviderInput>,
) -> Result<Json<DnsProvider>, AppError> {
    Ok(Json(changes::set_provider(&st, &a, &id, &body).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ProviderTest {
    pub ok: bool,
    /// What happened, in words (BADSIG/BADKEY named when the key is refused).
    pub result: String,
}

/// Proves the TSIG key works: writes a TXT record at `_mailward-test.<domain>`, reads it back
/// from the primary and removes it.
#[utoipa::path(post, path = "/api/v1/domains/{id}/dns/provider/test", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = ProviderTest), (status = 422, description = "Manual DNS: nothing to test")))]
pub async fn test_provider(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<ProviderTest>, AppError> {
    let (ok, result) = changes::test_provider(&st, &a, &id).await?;
    Ok(Json(ProviderTest { ok, result }))
}

/// The domain's DNS changes: waiting for approval, then the latest 20 with their
/// verification, each with its rollback ready to paste.
#[utoipa::path(get, path = "/api/v1/domains/{id}/dns/changes", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")),
    responses((status = 200, body = Vec<DnsChange>), (status = 404)))]
pub async fn list_changes(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<DnsChange>>, AppError> {
    Ok(Json(changes::domain_changes(&st, &a, &id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct RequestedChange {
    /// The change request a second person approves (`/api/v1/changes/{id}/approve`).
    pub change_id: String,
}

/// Asks for a change of one record set; its before-state is read from the live zone now.
/// Another person approves it; applying re-reads the before-state and stops if it moved.
#[utoipa::path(post, path = "/api/v1/domains/{id}/dns/changes", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id or name")), request_body = RecordChangeInput,
    responses((status = 202, body = RequestedChange), (status = 422), (status = 409), (status = 503)))]
pub async fn request_change(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RecordChangeInput>,
) -> Result<(http::StatusCode, Json<RequestedChange>), AppError> {
    let change_id = changes::request_change(&st, &a, &id, &body).await?;
    Ok((
        http::StatusCode::ACCEPTED,
        Json(RequestedChange { change_id }),
    ))
}

/// A manual domain's approved change (or rollback) was entered in the zone: verification
/// starts.
#[utoipa::path(post, path = "/api/v1/dns/changes/{id}/entered", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")),
    responses((status = 204), (status = 409, description = "Not waiting for entry")))]
pub async fn change_entered(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<http::StatusCode, AppError> {
    changes::mark_entered(&st, &a, &id).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

/// Plans a bulk DNS change over domains of one tenant (restore the baseline, or set one
/// record set); the plan lists every domain's diff and waits for a second person.
#[utoipa::path(post, path = "/api/v1/dns/bulk", tag = "dns", security(("bearer" = [])),
    request_body = BulkInput,
    responses((status = 202, body = RequestedChange), (status = 422), (status = 503)))]
pub async fn plan_bulk(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<BulkInput>,
) -> Result<(http::StatusCode, Json<RequestedChange>), AppError> {
    let change_id = super::service::bulk::plan(&st, &a, &body).await?;
    Ok((
        http::StatusCode::ACCEPTED,
        Json(RequestedChange { change_id }),
    ))
}

/// The newest bulk plans (counts; no items).
#[utoipa::path(get, path = "/api/v1/dns/bulk", tag = "dns", security(("bearer" = [])),
    responses((status = 200, body = Vec<BulkPlan>)))]
pub async fn list_bulk(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
) -> Result<Json<Vec<BulkPlan>>, AppError> {
    Ok(Json(super::service::bulk::bulk_plans(&st, &a).await?))
}

/// One bulk plan with every item and where the run stands.
#[utoipa::path(get, path = "/api/v1/dns/bulk/{id}", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")),
    responses((status = 200, body = BulkPlan), (status = 404)))]
pub async fn get_bulk(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<BulkPlan>, AppError> {
    Ok(Json(super::service::bulk::bulk_plan(&st, &a, &id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct BulkOverride {
    /// Why the plan is safe although it changes much of a zone.
    pub reason: String,
}

/// An approver (not the requester) overrides an unsafe plan with a reason; it can then be
/// approved.
#[utoipa::path(post, path = "/api/v1/dns/bulk/{id}/override", tag = "dns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Change request id")), request_body = BulkOverride,
    responses((status = 204), (status = 409), (status = 422)))]
pub async fn override_bulk(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<BulkOverride>,
) -> Result<http::StatusCode, AppError> {
    super::service::bulk::override_unsafe(&st, &a, &id, &body.reason).await?;
    Ok(http::StatusCode::NO_CONTENT)
}
