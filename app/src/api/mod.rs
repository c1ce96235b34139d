//! The REST API under `/api/v1`: bearer tokens, JSON, the same services and gate as the
//! console, described by an OpenAPI document.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;

use crate::core::authz::Actor;
use crate::core::state::AppState;
use crate::core::web::ClientInfo;
use crate::core::AppError;

// Each capability's REST lives beside its pages and forms (`<capability>/rest.rs`); this module
// keeps what is shared: the token extractor, the routes merged, the OpenAPI document.
use crate::audit::rest as audit;
use crate::auth::rest as identity;
use crate::imports::rest as imports;
use crate::mailboxes::rest as mailboxes;
use crate::routing::rest as routing;
use crate::tenancy::rest as tenancy;

/// Every capability's REST routes, the OpenAPI document, and the console's audit export.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(crate::tenancy::rest::routes())
        .merge(crate::mailboxes::rest::routes())
        .merge(crate::imports::rest::routes())
        .merge(crate::routing::rest::routes())
        .merge(crate::changes::rest::routes())
        .merge(crate::auth::rest::routes())
        .merge(crate::audit::rest::routes())
        .merge(crate::dns::rest::routes())
        .merge(crate::monitoring::rest::routes())
        .merge(crate::incidents::rest::routes())
        .merge(crate::domain_control::rest::routes())
        .merge(crate::outbound::rest::routes())
        .route("/api/v1/openapi.json", get(openapi))
}

/// The actor behind `Authorization: Bearer mwt_…`.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Unauthorized("send an API token as `Authorization: Bearer mwt_…`".into())
            })?;
        let client = parts
            .extensions
            .get::<ClientInfo>()
            .cloned()
            .unwrap_or_default();
        let a = crate::auth::service::actor_from_token(st, bearer, client.ip, client.user_agent)
            .await?;
        // Under the incidents in force over the token's tenants (the gate freezes for them).
        let incidents = crate::incidents::service::in_force(&st.db, &a.tenants).await?;
        Ok(ApiActor(a.under(incidents)))
    }
}

struct BearerScheme;
impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Mailward API", version = "1", description = "Control plane for multi-domain email hosting. Authenticate with `Authorization: Bearer <token>`; tokens are created in the console or with `mailward token create`."),
    paths(identity::me, identity::list_people, identity::invite_person, identity::set_tenants,
        identity::list_invitations, identity::revoke_invitation, identity::person_access, identity::end_person_access, identity::disable_person, identity::enable_person, identity::set_role, identity::factor_reset, audit::audit, audit::export_api, tenancy::list_plans, tenancy::create_plan, tenancy::update_plan,
        tenancy::list_tenants, tenancy::create_tenant, tenancy::get_tenant, tenancy::update_tenant, tenancy::add_domain, crate::outbound::rest::tenant_sending,
        crate::outbound::rest::get_relay, crate::outbound::rest::put_relay, crate::outbound::rest::delete_relay, crate::outbound::rest::test_relay,
        tenancy::list_domains, tenancy::get_domain, tenancy::update_domain, tenancy::delete_domain,
        mailboxes::list_mailboxes, mailboxes::offboard_many,
        imports::create_import, imports::list_imports, imports::get_import, imports::start_import,
        imports::discard_import,
        mailboxes::create_mailbox, mailboxes::get_mailbox, mailboxes::resend_invite, mailboxes::revoke_invite,
        mailboxes::reset_mailbox, mailboxes::edit_mailbox, mailboxes::set_reveal_policy, mailboxes::unlock_mailbox, mailboxes::extend_retention,
        mailboxes::offboard_preview, mailboxes::offboard_mailbox, mailboxes::get_receipt,
        mailboxes::list_app_passwords, mailboxes::revoke_app_password,
        crate::changes::rest::list_changes, crate::changes::rest::get_change,
        crate::changes::rest::cancel_change, crate::changes::rest::approve_change,
        crate::changes::rest::reject_change, crate::changes::rest::rollback_change,
        routing::list_routes, routing::request_route, routing::get_route, routing::disable_route,
        routing::persistence_report, routing::routing_badges, routing::get_routing_policy,
        routing::set_routing_policy,
        crate::dns::rest::get_dns, crate::dns::rest::check_dns, crate::dns::rest::create_dkim_key, crate::dns::rest::rotate_dkim_key, crate::dns::rest::put_dkim_delegation, crate::dns::rest::upload_report,
        crate::dns::rest::list_templates, crate::dns::rest::put_template,
        crate::dns::rest::get_provider, crate::dns::rest::put_provider, crate::dns::rest::test_provider,
        crate::dns::rest::list_changes, crate::dns::rest::request_change, crate::dns::rest::change_entered,
        crate::dns::rest::plan_bulk, crate::dns::rest::list_bulk, crate::dns::rest::get_bulk, crate::dns::rest::override_bulk,
        crate::monitoring::rest::list_alerts, crate::monitoring::rest::acknowledge_alert, crate::monitoring::rest::resolve_alert,
        crate::monitoring::rest::list_destinations, crate::monitoring::rest::create_destination, crate::monitoring::rest::delete_destination, crate::monitoring::rest::test_destination,
        crate::monitoring::rest::rotate_destination_secret,
        crate::monitoring::rest::get_rules, crate::monitoring::rest::put_rules,
        crate::incidents::rest::list_incidents, crate::incidents::rest::declare_incident, crate::incidents::rest::get_incident,
        crate::incidents::rest::request_end, crate::incidents::rest::keep_open, crate::incidents::rest::confirm_end, crate::incidents::rest::hold_outbound,
        crate::incidents::rest::revoke, crate::incidents::rest::hunt, crate::incidents::rest::restore,
        crate::incidents::rest::get_postmortem, crate::incidents::rest::put_postmortem,
        crate::incidents::rest::list_checks, crate::incidents::rest::confirm_check,
        mailboxes::list_identities, mailboxes::add_identity, mailboxes::remove_identity,
        mailboxes::list_delegations, mailboxes::grant_delegation, mailboxes::revoke_delegation,
        crate::domain_control::rest::get_control, crate::domain_control::rest::put_control,
        crate::domain_control::rest::review, crate::domain_control::rest::rdap, crate::domain_control::rest::summary),
    components(schemas(crate::mailboxes::Delegation, crate::mailboxes::Delegations, crate::mailboxes::DelegationRequest, crate::outbound::Sending, crate::outbound::MailboxSending, crate::outbound::Outbound, crate::outbound::Relay, crate::outbound::RelayInput, crate::outbound::RelayTls, identity::Me, identity::Person, identity::NewPerson, identity::InvitationCreated,
        identity::TenantScopeBody, identity::Invitation, identity::PersonAccess, crate::auth::SessionView, mailboxes::RevealPolicyBody, crate::monitoring::rest::RotatedSecret, crate::auth::service::StatusChange, crate::auth::service::GrantOutcome, identity::RoleBody, identity::ReasonBody, audit::AuditList, crate::audit::AuditEvent, crate::auth::TokenView,
        crate::tenancy::Plan, crate::tenancy::service::NewPlan, tenancy::PlanUpdate, crate::tenancy::Tenant,
        crate::tenancy::Domain, crate::tenancy::service::NewTenant,
        tenancy::TenantDetail, tenancy::TenantUpdate, tenancy::NewDomain, tenancy::DomainUpdate,
        crate::mailboxes::Mailbox, crate::mailboxes::NewMailbox, crate::mailboxes::MailboxInvite,
        crate::mailboxes::AppPassword, crate::mailboxes::OffboardingReceipt, crate::mailboxes::Revocations,
        crate::mailboxes::ScanCheck, crate::types::MailboxRoute, crate::types::Repoint, crate::changes::ChangeRequest, crate::mailboxes::AliasRequest, crate::mailboxes::MailboxRow,
        mailboxes::MailboxList, mailboxes::BulkOffboard, mailboxes::BulkOffboardItem,
        imports::ImportDetail, crate::imports::ImportJob, crate::imports::ImportRow,
        mailboxes::MailboxCreated, mailboxes::MailboxDetail, mailboxes::SendTo, mailboxes::LinkIssued,
        mailboxes::ResetRequest, mailboxes::ResetAnswer, mailboxes::OffboardRequest, crate::changes::rest::RejectRequest,
        crate::mailboxes::MailboxEdit, mailboxes::EditAnswer, mailboxes::UnlockRequest, mailboxes::RetentionRequest, crate::mailboxes::Purged,
        crate::changes::rest::RollbackRequest,
        crate::routing::Route, crate::routing::RouteTarget, crate::routing::NewRoute, crate::routing::RouteOutcome,
        crate::routing::RoutingPolicy, routing::RoutingPolicyPatch, crate::routing::RoutingBadges, crate::routing::PersistenceItem,
        routing::DisableRequest,
        crate::dns::DomainDns, crate::dns::Expected, crate::dns::Observed, crate::dns::DkimKey,
        crate::dns::Template, crate::dns::rest::NewDkimKey, crate::dns::rest::RotateDkimKey, crate::dns::rest::DkimDelegation, crate::dns::ImportedReport, crate::dns::DmarcSummary, crate::dns::DmarcDay, crate::dns::DmarcSource, crate::dns::rest::CategoryTemplate,
        crate::dns::DnsProvider, crate::dns::ProviderInput, crate::dns::RecordChangeInput, crate::dns::DnsChange, crate::dns::DnsCheck,
        crate::dns::rest::ProviderTest, crate::dns::rest::RequestedChange,
        crate::dns::BulkInput, crate::dns::BulkPlan, crate::dns::BulkItem, crate::dns::rest::BulkOverride,
        crate::monitoring::Alert, crate::monitoring::rest::AlertNote, crate::monitoring::Destination, crate::monitoring::Delivery,
        crate::monitoring::rest::NewDestinationBody, crate::monitoring::rest::CreatedDestination,
        crate::monitoring::Thresholds, crate::monitoring::TenantRules, crate::monitoring::RulesChange,
        crate::incidents::Incident, crate::incidents::NewIncident, crate::incidents::rest::EndNote, crate::incidents::rest::OutboundHold,
        crate::incidents::RevokeInput, crate::incidents::RevokeReceipt, crate::incidents::RevokedAccount,
        crate::incidents::Finding, crate::incidents::Revert, crate::incidents::rest::RestoreBody,
        crate::incidents::rest::RestorePlanned, crate::incidents::Postmortem, crate::incidents::PostmortemInput,
        crate::incidents::FollowUp, crate::incidents::TimelineEntry,
        crate::incidents::DomainChecklist, crate::incidents::CheckItem, crate::incidents::CheckInput,
        crate::mailboxes::Identity, crate::mailboxes::NewIdentity,
        crate::domain_control::DomainControl, crate::domain_control::Warning, crate::domain_control::ControlInput,
        crate::domain_control::ControlSummary, crate::domain_control::SummaryItem)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(s) => ([(http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => AppError::internal(e).into_response(),
    }
}
