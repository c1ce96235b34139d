//! REST for mailboxes: the same services, gate and audit as the
//! console. Secrets never travel here: links are emailed (revealing is browser-only), passwords and
//! app passwords belong to the mailbox owner.
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ApiActor;
use crate::core::state::AppState;
use crate::core::AppError;
use crate::mailboxes::service::{self, ResetOutcome};
use crate::mailboxes::{
    AppPassword, Mailbox, MailboxEdit, MailboxInvite, NewMailbox, OffboardingReceipt,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/mailboxes",
            get(list_mailboxes).post(create_mailbox),
        )
        .route("/api/v1/mailboxes/offboard", post(offboard_many))
        .route(
            "/api/v1/mailboxes/{id}",
            get(get_mailbox).patch(edit_mailbox),
        )
        .route("/api/v1/mailboxes/{id}/unlock", post(unlock_mailbox))
        .route("/api/v1/mailboxes/{id}/retention", post(extend_retention))
        .route(
            "/api/v1/tenants/{id}/invite-reveal",
            axum::routing::put(set_reveal_policy),
        )
        .route(
            "/api/v1/mailboxes/{id}/invite",
            post(resend_invite).delete(revoke_invite),
        )
        .route("/api/v1/mailboxes/{id}/reset", post(reset_mailbox))
        .route(
            "/api/v1/mailboxes/{id}/offboard",
            get(offboard_preview).post(offboard_mailbox),
        )
        .route("/api/v1/mailboxes/{id}/receipt", get(get_receipt))
        .route(
            "/api/v1/mailboxes/{id}/app-passwords",
            get(list_app_passwords),
        )
        .route(
            "/api/v1/mailboxes/{id}/app-passwords/{ap}",
            delete(revoke_app_password),
        )
        .route(
            "/api/v1/mailboxes/{id}/identities",
            get(list_identities).post(add_identity),
        )
        .route(
            "/api/v1/mailboxes/{id}/identities/{idn}",
            delete(remove_identity),
        )
        .route(
            "/api/v1/mailboxes/{id}/delegations",
            get(list_delegations).post(grant_delegation),
        )
        .route(
            "/api/v1/mailboxes/{id}/delegations/{delegate}",
            delete(revoke_delegation),
        )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailboxListQuery {
    /// Part of the address or the person's name.
    pub q: Option<String>,
    /// `invited`, `active`, `locked` or `offboarded` (default: all but offboarded).
    pub status: Option<String>,
    /// 1-based page of 100.
    pub page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MailboxList {
    pub mailboxes: Vec<crate::mailboxes::MailboxRow>,
    pub total: i64,
}

/// Mailboxes across the token's tenants, 100 a page.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mailboxes", security(("bearer" = [])), params(MailboxListQuery),
    responses((status = 200, body = MailboxList)))]
pub async fn list_mailboxes(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Query(q): Query<MailboxListQuery>,
) -> Result<Json<MailboxList>, AppError> {
    let q = crate::mailboxes::MailboxQuery {
        q: q.q.unwrap_or_default(),
        status: q.status.unwrap_or_default(),
        page: q.page.unwrap_or(1),
    };
    let (mailboxes, total) = service::search(&st, &a, &q).await?;
    Ok(Json(MailboxList { mailboxes, total }))
}

#[derive(Deserialize, ToSchema)]
pub struct BulkOffboard {
    /// Mailbox ids or addresses (at most 500).
    pub mailboxes: Vec<String>,
    pub keep_days: i64,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct BulkOffboardItem {
    pub mailbox: String,
    pub receipt: Option<OffboardingReceipt>,
    pub error: Option<String>,
}

/// Offboards several mailboxes, each with its own transaction, receipt and scan.
#[utoipa::path(post, path = "/api/v1/mailboxes/offboard", tag = "mailboxes", security(("bearer" = [])), request_body = BulkOffboard,
    responses((status = 200, body = [BulkOffboardItem]), (status = 403), (status = 422)))]
pub async fn offboard_many(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<BulkOffboard>,
) -> Result<Json<Vec<BulkOffboardItem>>, AppError> {
    let r = service::offboard_many(&st, &a, &body.mailboxes, body.keep_days, &body.reason).await?;
    Ok(Json(
        r.into_iter()
            .map(|(mailbox, r)| match r {
                Ok(receipt) => BulkOffboardItem {
                    mailbox,
                    receipt: Some(receipt),
                    error: None,
                },
                Err(e) => BulkOffboardItem {
                    mailbox,
                    receipt: None,
                    error: Some(e.user_message()),
                },
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct MailboxCreated {
    pub mailbox: Mailbox,
    /// The invitation went out by email; otherwise an operator reveals it once in the console.
    pub invitation_emailed: bool,
}

/// Creates an invited mailbox and sends its one-time link to `invite_to`.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mailboxes", security(("bearer" = [])), request_body = NewMailbox,
    responses((status = 201, body = MailboxCreated), (status = 403), (status = 409, description = "Address taken, pool full, domain suspended"), (status = 422)))]
pub async fn create_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Json(body): Json<NewMailbox>,
) -> Result<(StatusCode, Json<MailboxCreated>), AppError> {
    let c = service::create(&st, &a, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(MailboxCreated {
            mailbox: c.mailbox,
            invitation_emailed: c.emailed,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct MailboxDetail {
    pub mailbox: Mailbox,
    pub open_invite: Option<MailboxInvite>,
    pub recovery_codes_left: i64,
    pub change_requests: Vec<crate::changes::ChangeRequest>,
}

/// One mailbox (by id or address) with its open link (never the link itself).
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = MailboxDetail), (status = 404)))]
pub async fn get_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<MailboxDetail>, AppError> {
    let m = service::get(&st, &a, &id).await?;
    let x = service::extras(&st, &a, &m).await?;
    Ok(Json(MailboxDetail {
        mailbox: m,
        open_invite: x.invite,
        recovery_codes_left: x.recovery_codes_left,
        change_requests: x.changes,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct SendTo {
    /// Where the new link goes (default: the address on file; an empty string: no email,
    /// an operator reveals it once in the console).
    #[serde(default)]
    pub send_to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LinkIssued {
    pub emailed: bool,
}

/// Sends a new invitation link (the previous one stops working).
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/invite", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = SendTo,
    responses((status = 200, body = LinkIssued), (status = 404), (status = 409), (status = 422)))]
pub async fn resend_invite(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<SendTo>,
) -> Result<Json<LinkIssued>, AppError> {
    let emailed = service::resend_invite(&st, &a, &id, body.send_to.as_deref()).await?;
    Ok(Json(LinkIssued { emailed }))
}

/// Revokes the open link.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}/invite", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 204), (status = 404), (status = 409)))]
pub async fn revoke_invite(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::revoke_invite(&st, &a, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct EditAnswer {
    pub mailbox: Mailbox,
    /// The fields changed at once.
    pub changed: Vec<String>,
    /// Turning the critical flag off: the change request that waits for a second person.
    pub change_request: Option<String>,
}

/// Changes a mailbox's name, contact address, allocation or critical flag (the fields given;
/// audited with before and after). An allocation past the pool is refused (409) with the
/// amount left; turning `critical` off becomes a change request (with `reason`).
#[utoipa::path(patch, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = MailboxEdit,
    responses((status = 200, body = EditAnswer), (status = 404), (status = 409), (status = 422)))]
pub async fn edit_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<MailboxEdit>,
) -> Result<Json<EditAnswer>, AppError> {
    let e = service::edit(&st, &a, &id, &body).await?;
    Ok(Json(EditAnswer {
        mailbox: e.mailbox,
        changed: e.changed.iter().map(|f| f.to_string()).collect(),
        change_request: e.queued,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct UnlockRequest {
    /// Why (4 to 500 characters; goes into the audit log).
    pub reason: String,
    /// The password may be known to someone else: send the owner a new link (a reset)
    /// instead; the mailbox stays locked until it is used.
    #[serde(default)]
    pub new_link: bool,
}

/// Unlocks a locked mailbox: its password works again — or, with `new_link`, the owner gets a
/// new link (a reset; queued for approval on a critical mailbox). Frozen in an incident.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/unlock", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = UnlockRequest,
    responses((status = 200, body = ResetAnswer, description = "`outcome`: `unlocked`, `issued` or `queued`"),
        (status = 404), (status = 409), (status = 422), (status = 423)))]
pub async fn unlock_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<UnlockRequest>,
) -> Result<Json<ResetAnswer>, AppError> {
    let r = service::unlock(&st, &a, &id, &body.reason, body.new_link).await?;
    Ok(Json(match r {
        None => ResetAnswer {
            outcome: "unlocked".into(),
            emailed: false,
            change_request: None,
        },
        Some(ResetOutcome::Issued { emailed }) => ResetAnswer {
            outcome: "issued".into(),
            emailed,
            change_request: None,
        },
        Some(ResetOutcome::Queued { change_id }) => ResetAnswer {
            outcome: "queued".into(),
            emailed: false,
            change_request: Some(change_id),
        },
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RetentionRequest {
    /// The last day (UTC, `YYYY-MM-DD`) the mail is kept; it is deleted after it. Later than
    /// the date in force, at most 3650 days from today.
    pub until: String,
    /// Why the mail is kept longer (required), e.g. a legal hold.
    pub reason: String,
}

/// Keeps an offboarded mailbox's mail longer, while its deletion date has not passed
/// (audited as `mailbox.retention_extended`). Answers the mailbox with its new `purge_after`.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/retention", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = RetentionRequest,
    responses((status = 200, body = Mailbox), (status = 404), (status = 409, description = "Deleted already, or the date has passed"),
        (status = 422)))]
pub async fn extend_retention(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RetentionRequest>,
) -> Result<Json<Mailbox>, AppError> {
    Ok(Json(
        service::extend_retention(&st, &a, &id, &body.until, &body.reason).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RevealPolicyBody {
    /// Whether an operator may reveal a mailbox's invitation link once (without outgoing mail):
    /// `allowed`, `not_critical` (never for critical mailboxes) or `forbidden`.
    pub policy: String,
}

/// Sets a tenant's invite-reveal policy (audited).
#[utoipa::path(put, path = "/api/v1/tenants/{id}/invite-reveal", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tenant id or short name")), request_body = RevealPolicyBody,
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub async fn set_reveal_policy(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<RevealPolicyBody>,
) -> Result<StatusCode, AppError> {
    service::set_reveal_policy(&st, &a, &id, &body.policy).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    /// Why (mandatory; goes into the audit log).
    pub reason: String,
    /// Suspected compromise: disable the current password and sessions at once.
    #[serde(default)]
    pub lock_now: bool,
    #[serde(default)]
    pub send_to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResetAnswer {
    /// `issued` (link sent or waiting to be revealed) or `queued` (critical: needs approval).
    pub outcome: String,
    pub emailed: bool,
    pub change_request: Option<String>,
}

/// Operator-initiated reset: a new one-time link to the owner; for critical mailboxes a
/// change request someone else must approve. Rate-limited per operator and tenant (429).
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/reset", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = ResetRequest,
    responses((status = 200, body = ResetAnswer), (status = 404), (status = 409), (status = 422), (status = 429)))]
pub async fn reset_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<ResetRequest>,
) -> Result<Json<ResetAnswer>, AppError> {
    let r = service::request_reset(
        &st,
        &a,
        &id,
        &body.reason,
        body.lock_now,
        body.send_to.as_deref(),
    )
    .await?;
    Ok(Json(match r {
        ResetOutcome::Issued { emailed } => ResetAnswer {
            outcome: "issued".into(),
            emailed,
            change_request: None,
        },
        ResetOutcome::Queued { change_id } => ResetAnswer {
            outcome: "queued".into(),
            emailed: false,
            change_request: Some(change_id),
        },
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct OffboardRequest {
    /// Days to keep the mail before the mail plane deletes it (0–3650).
    pub keep_days: i64,
    pub reason: String,
    /// Keep the address as an alias to a colleague (approved by a second person).
    #[serde(default)]
    pub alias: Option<crate::mailboxes::AliasRequest>,
    /// Aliases and catch-alls that lead to the mailbox and should go on to a colleague
    /// instead of ending (route ids as the offboarding preview lists them).
    #[serde(default)]
    pub repoint: Vec<crate::types::Repoint>,
}

/// Offboards a mailbox in one transaction and returns the receipt with its verification scan.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/offboard", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")), request_body = OffboardRequest,
    responses((status = 200, body = OffboardingReceipt), (status = 404), (status = 409), (status = 422)))]
pub async fn offboard_mailbox(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(body): Json<OffboardRequest>,
) -> Result<Json<OffboardingReceipt>, AppError> {
    Ok(Json(
        service::offboard(
            &st,
            &a,
            &id,
            body.keep_days,
            &body.reason,
            None,
            body.alias.as_ref(),
            &body.repoint,
        )
        .await?,
    ))
}

/// What offboarding the mailbox would revoke now, with each route from or to it (ids to
/// re-point) and what becomes of its mail.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/offboard", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = crate::mailboxes::Revocations), (status = 404)))]
pub async fn offboard_preview(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::mailboxes::Revocations>, AppError> {
    Ok(Json(service::offboard_preview(&st, &a, &id).await?))
}

/// The offboarding receipt of a mailbox.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/receipt", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = OffboardingReceipt), (status = 404)))]
pub async fn get_receipt(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<OffboardingReceipt>, AppError> {
    Ok(Json(service::receipt(&st, &a, &id).await?))
}

/// App passwords of a mailbox (names, protocols, times; never the secrets).
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/app-passwords", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = [AppPassword]), (status = 404)))]
pub async fn list_app_passwords(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<AppPassword>>, AppError> {
    let m = service::get(&st, &a, &id).await?;
    Ok(Json(service::extras(&st, &a, &m).await?.app_passwords))
}

/// Revokes one app password.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}/app-passwords/{ap}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address"), ("ap" = String, Path, description = "App password id")),
    responses((status = 204), (status = 404)))]
pub async fn revoke_app_password(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path((id, ap)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::revoke_app_password(&st, &a, Some(&id), &ap).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The outside services that use this mailbox as their sign-in or recovery address (email as
/// identity).
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/identities", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = [crate::mailboxes::Identity]), (status = 404)))]
pub async fn list_identities(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::mailboxes::Identity>>, AppError> {
    Ok(Json(service::identities(&st, &a, &id).await?))
}

/// Adds a service that uses this mailbox as its address (409 when listed already). Audited
/// as `mailbox.identity_added`.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/identities", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    request_body = crate::mailboxes::NewIdentity,
    responses((status = 201, body = crate::mailboxes::Identity), (status = 404), (status = 409), (status = 422)))]
pub async fn add_identity(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<crate::mailboxes::NewIdentity>,
) -> Result<(StatusCode, Json<crate::mailboxes::Identity>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(service::add_identity(&st, &a, &id, &b).await?),
    ))
}

/// Removes one service from the list. Audited as `mailbox.identity_removed`.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}/identities/{idn}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address"), ("idn" = String, Path, description = "Entry id")),
    responses((status = 204), (status = 404)))]
pub async fn remove_identity(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path((id, idn)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::remove_identity(&st, &a, &id, &idn).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A mailbox's delegations both ways: who may send as it, and as whom it may send.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/delegations", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    responses((status = 200, body = crate::mailboxes::Delegations), (status = 404)))]
pub async fn list_delegations(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::mailboxes::Delegations>, AppError> {
    Ok(Json(service::delegations(&st, &a, &id).await?))
}

/// Delegates this mailbox to another of the same tenant: sending as it (`send_as`, default
/// true), its folders over IMAP (`folders`: none, read, read_write; default none), or both
/// (409 when it is delegated to it already; 503 when the mail plane could not open the
/// folders — nothing is granted then). Audited as `mailbox.delegation_granted`; frozen
/// during an incident.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/delegations", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address")),
    request_body = crate::mailboxes::DelegationRequest,
    responses((status = 201, body = crate::mailboxes::Delegation), (status = 404), (status = 409), (status = 422), (status = 503)))]
pub async fn grant_delegation(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path(id): Path<String>,
    Json(b): Json<crate::mailboxes::DelegationRequest>,
) -> Result<(StatusCode, Json<crate::mailboxes::Delegation>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(service::grant_delegation(&st, &a, &id, &b.into()).await?),
    ))
}

/// Revokes a delegation of this mailbox (sending as it and its folders; the delegate's live
/// IMAP sessions end). Audited as `mailbox.delegation_revoked`.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}/delegations/{delegate}", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Mailbox id or address"), ("delegate" = String, Path, description = "The delegate's mailbox id or address")),
    responses((status = 204), (status = 404)))]
pub async fn revoke_delegation(
    State(st): State<AppState>,
    ApiActor(a): ApiActor,
    Path((id, delegate)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    service::revoke_delegation(&st, &a, &id, &delegate).await?;
    Ok(StatusCode::NO_CONTENT)
}
