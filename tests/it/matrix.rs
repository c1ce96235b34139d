//! The authorization matrix over every way in: each console page, form endpoint, server
//! function and REST endpoint × every role × their own tenant and another tenant, with the
//! outcome each must have. A route or server function that is not in the table fails
//! `every_route_is_in_the_matrix`, so a new way in cannot skip this decision.
//!
//! Allowed probes are chosen to pass the gate and then stop at validation (an empty name, an
//! unknown status…), so they prove the decision without changing much; denials must leave
//! the audit log untouched.
use app::core::authz::Actor;
use app::tenancy::service::{self, NewTenant};
use leptos::server_fn::ServerFn;
use mailward_tests::{both, Account, Backend, TestApp};

/// What a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    /// Through the gate (done, or refused by validation after it).
    A,
    /// 403 / "not allowed" (or no credential at all for this role).
    F,
    /// 404 / "not found": outside the actor's tenants, the object does not exist.
    N,
}
use Out::*;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A console page (GET).
    Page,
    /// A form endpoint (POST, answered with 303 and a flash message).
    Form,
    /// A server function (POST, url-encoded arguments).
    ServerFn,
    /// REST with a bearer token.
    Get,
    Post,
    Patch,
    Put,
    Delete,
    /// Not about roles: sign-in, invitation acceptance, health, one's own account.
    /// Listed so that every route is decided; covered by the auth and security tests.
    Public,
}
use Kind::*;

/// One row: how to call it, the arguments, and the outcome for owner, operator, tenant
/// admin and client viewer on their own tenant (`own`) and on another tenant (`other`;
/// `None` when the route names no tenant).
struct Row {
    route: &'static str,
    kind: Kind,
    path: &'static str,
    args: &'static str,
    own: [Out; 4],
    other: Option<[Out; 4]>,
}

const fn row(
    route: &'static str,
    kind: Kind,
    path: &'static str,
    args: &'static str,
    own: [Out; 4],
    other: Option<[Out; 4]>,
) -> Row {
    Row {
        route,
        kind,
        path,
        args,
        own,
        other,
    }
}

const ALL: [Out; 4] = [A, A, A, A];
const PLATFORM: [Out; 4] = [A, A, F, F];
const OWNER: [Out; 4] = [A, F, F, F];
const NOT_VIEWER: [Out; 4] = [A, A, A, F];
const HIDDEN: [Out; 4] = [A, A, N, N];

/// `{t}` is the tenant's short name, `{tid}` its id, `{d}` a domain's id, `{dn}` its name,
/// `{inv}` an open invitation of the tenant, `{opinv}` an open operator invitation, `{op}`
/// the operator's user id. Server functions name theirs in `args` (url-encoded).
fn table() -> Vec<Row> {
    vec![
        // ---- console pages ----
        row("/", Page, "/", "", ALL, None),
        row("/domains", Page, "/domains", "", ALL, None),
        row("/tenants", Page, "/tenants", "", ALL, None),
        row(
            "/tenants/:slug",
            Page,
            "/tenants/{t}",
            "",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "/domains/:name",
            Page,
            "/domains/{dn}",
            "",
            ALL,
            Some(HIDDEN),
        ),
        row("/portal", Page, "/portal?tenant={t}", "", ALL, Some(HIDDEN)),
        row("/plans", Page, "/plans", "", ALL, None),
        row("/operators", Page, "/operators", "", PLATFORM, None),
        row("/audit", Page, "/audit", "", ALL, None),
        // Incidents: read by those who run tenants; declared and ended by owners and
        // operators (the banner shows on every page of everyone concerned).
        row("/incidents", Page, "/incidents", "", NOT_VIEWER, None),
        row(
            "get_incidents_page",
            ServerFn,
            app::incidents::pages::GetIncidentsPage::PATH,
            "alert=",
            NOT_VIEWER,
            None,
        ),
        row(
            "/incidents/:id",
            Page,
            "/incidents/inc_none",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "get_incident_page",
            ServerFn,
            app::incidents::pages::GetIncidentPage::PATH,
            "id=inc_none",
            [N, N, N, F],
            None,
        ),
        // Through the gate, then refused: no title.
        row(
            "/incidents",
            Form,
            "/incidents",
            "tenant={t}&title=&reason=&since=2026-01-01T00:00",
            PLATFORM,
            Some(PLATFORM),
        ),
        row(
            "/incidents/{id}/end",
            Form,
            "/incidents/inc_none/end",
            "note=",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/{id}/end/confirm",
            Form,
            "/incidents/inc_none/end/confirm",
            "",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/{id}/hunt.csv",
            Page,
            "/incidents/inc_none/hunt.csv",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/incidents/{id}/hunt.json",
            Page,
            "/incidents/inc_none/hunt.json",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/incidents/{id}/restore",
            Form,
            "/incidents/inc_none/restore",
            "",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/:id/postmortem",
            Page,
            "/incidents/inc_none/postmortem",
            "",
            [N, N, N, N],
            None,
        ),
        row(
            "get_postmortem_page",
            ServerFn,
            app::incidents::pages::GetPostmortemPage::PATH,
            "id=inc_none",
            [N, N, N, N],
            None,
        ),
        row(
            "/incidents/{id}/postmortem",
            Form,
            "/incidents/inc_none/postmortem",
            "root_cause=x",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/{id}/postmortem.md",
            Page,
            "/incidents/inc_none/postmortem.md",
            "",
            [N, N, N, N],
            None,
        ),
        row(
            "/incidents/{id}/revoke",
            Form,
            "/incidents/inc_none/revoke",
            "users=usr_none",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/{id}/checks",
            Form,
            "/incidents/inc_none/checks",
            "domain=x&item=mfa",
            [N, N, F, F],
            None,
        ),
        row(
            "/domains/:name/control",
            Page,
            "/domains/{dn}/control",
            "",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_control_page",
            ServerFn,
            app::domain_control::pages::GetControlPage::PATH,
            "name={dn}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "/domains/{name}/control",
            Form,
            "/domains/{d}/control",
            "version=0&expires_on=someday",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{name}/control/review",
            Form,
            "/domains/{d}/control/review",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{name}/control/rdap",
            Form,
            "/domains/{d}/control/rdap",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/incidents/{id}/keep-open",
            Form,
            "/incidents/inc_none/keep-open",
            "",
            [N, N, F, F],
            None,
        ),
        row(
            "/incidents/{id}/outbound",
            Form,
            "/incidents/inc_none/outbound",
            "hold=true",
            [N, N, F, F],
            None,
        ),
        // A client viewer reads the alerts its tenant shares (none, unless it does).
        row("/alerts", Page, "/alerts", "", ALL, None),
        row(
            "get_alerts_page",
            ServerFn,
            app::monitoring::pages::GetAlertsPage::PATH,
            "state=",
            ALL,
            None,
        ),
        row("/alerts/rules", Page, "/alerts/rules", "", ALL, None),
        row(
            "get_rules_page",
            ServerFn,
            app::monitoring::pages::GetRulesPage::PATH,
            "tenant={t}",
            ALL,
            Some(HIDDEN),
        ),
        // Out of bounds: through the gate, then refused.
        row(
            "/alerts/rules/{tenant}",
            Form,
            "/alerts/rules/{t}",
            "failure_burst=0",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        // No alert of that id: those who may act reach the lookup (not found); a client
        // viewer is refused before it.
        row(
            "/alerts/{id}/acknowledge",
            Form,
            "/alerts/alert_none/acknowledge",
            "note=",
            [N, N, N, F],
            None,
        ),
        row(
            "/alerts/destinations",
            Page,
            "/alerts/destinations",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "get_destinations_page",
            ServerFn,
            app::monitoring::pages::GetDestinationsPage::PATH,
            "",
            NOT_VIEWER,
            None,
        ),
        // An invalid destination for the tenant: the gate first, then the refusal.
        row(
            "/alerts/destinations",
            Form,
            "/alerts/destinations",
            "kind=sms&target=x&tenant={t}",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/alerts/destinations/{id}/delete",
            Form,
            "/alerts/destinations/dest_none/delete",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/alerts/destinations/{id}/test",
            Form,
            "/alerts/destinations/dest_none/test",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/alerts/destinations/{id}/rotate",
            Form,
            "/alerts/destinations/dest_none/rotate",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/alerts/{id}/resolve",
            Form,
            "/alerts/alert_none/resolve",
            "note=",
            [N, N, N, F],
            None,
        ),
        row(
            "/account/sessions",
            Page,
            "/account/sessions",
            "",
            ALL,
            None,
        ),
        row("/account/tokens", Page, "/account/tokens", "", ALL, None),
        row(
            "/audit/export.csv",
            Page,
            "/audit/export.csv",
            "",
            ALL,
            None,
        ),
        row(
            "/audit/export.jsonl",
            Page,
            "/audit/export.jsonl",
            "",
            ALL,
            None,
        ),
        row("/login", Public, "", "", ALL, None),
        row("/login/verify", Public, "", "", ALL, None),
        row("/invite/:token", Public, "", "", ALL, None),
        row("/welcome/recovery-codes", Public, "", "", ALL, None),
        // ---- form endpoints ----
        row(
            "/tenants",
            Form,
            "/tenants",
            "name=&plan_id=plan_free",
            PLATFORM,
            None,
        ),
        row(
            "/tenants/{slug}/plan",
            Form,
            "/tenants/{t}/plan",
            "plan_id=nope",
            PLATFORM,
            Some([A, A, N, N]),
        ),
        row(
            "/tenants/{slug}/status",
            Form,
            "/tenants/{t}/status",
            "status=bogus",
            PLATFORM,
            Some([A, A, N, N]),
        ),
        row(
            "/tenants/{slug}/domains",
            Form,
            "/tenants/{t}/domains",
            "name=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        // A tenant's own relay: invalid input (nothing set), a test and a removal of a relay
        // that does not exist — past the gate, refused by the service.
        row(
            "/tenants/{slug}/relay",
            Form,
            "/tenants/{t}/relay",
            "host=&port=587&tls=starttls&username=&password=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/tenants/{slug}/relay/test",
            Form,
            "/tenants/{t}/relay/test",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/tenants/{slug}/relay/remove",
            Form,
            "/tenants/{t}/relay/remove",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/status",
            Form,
            "/domains/{d}/status",
            "status=bogus",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        // Probed on active domains: past the gate, refused because they are active.
        row(
            "/domains/{id}/remove",
            Form,
            "/domains/{d}/remove",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/tenants/{slug}/people",
            Form,
            "/tenants/{t}/people",
            "email=&role=tenant_admin",
            PLATFORM,
            Some([A, A, N, N]),
        ),
        row(
            "/tenants/{slug}/invites/{id}/reveal",
            Form,
            "/tenants/{t}/invites/{inv}/reveal",
            "",
            PLATFORM,
            Some([A, A, N, N]),
        ),
        row(
            "/tenants/{slug}/invites/{id}/revoke",
            Form,
            "/tenants/{t}/invites/{inv}/revoke",
            "",
            PLATFORM,
            Some([A, A, N, N]),
        ),
        row(
            "/operators/invite",
            Form,
            "/operators/invite",
            "email=",
            OWNER,
            None,
        ),
        row(
            "/operators/invites/{id}/reveal",
            Form,
            "/operators/invites/{opinv}/reveal",
            "",
            OWNER,
            None,
        ),
        row(
            "/operators/invites/{id}/revoke",
            Form,
            "/operators/invites/{opinv}/revoke",
            "",
            OWNER,
            None,
        ),
        row(
            "/operators/{id}/tenants",
            Form,
            "/operators/{op}/tenants",
            "scope=listed",
            OWNER,
            None,
        ),
        // People: an operator's account by owners; a tenant's people by owners and operators
        // (who invite them). Probes stop at "active already" / "disabled already".
        row(
            "/people/{id}/enable",
            Form,
            "/people/{op}/enable",
            "",
            OWNER,
            None,
        ),
        row(
            "/people/{id}/enable",
            Form,
            "/people/{pa}/enable",
            "",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/people/{id}/disable",
            Form,
            "/people/{pd}/disable",
            "",
            PLATFORM,
            Some(HIDDEN),
        ),
        // Grants: probes without a reason stop before anything is queued.
        row(
            "/people/{id}/role",
            Form,
            "/people/{op}/role",
            "role=owner",
            OWNER,
            None,
        ),
        row(
            "/people/{id}/role",
            Form,
            "/people/{pa}/role",
            "role=tenant_admin",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/people/{id}/factor-reset",
            Form,
            "/people/{op}/factor-reset",
            "",
            OWNER,
            None,
        ),
        row(
            "/people/{id}/factor-reset",
            Form,
            "/people/{pa}/factor-reset",
            "",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/plans",
            Form,
            "/plans",
            "name=&max_domains=1&storage_gb=1",
            OWNER,
            None,
        ),
        row(
            "/plans/{id}/retire",
            Form,
            "/plans/plan_free/retire",
            "",
            OWNER,
            None,
        ),
        row(
            "/plans/{id}/reinstate",
            Form,
            "/plans/plan_free/reinstate",
            "",
            OWNER,
            None,
        ),
        row(
            "/account/tokens",
            Form,
            "/account/tokens",
            "name=&days=1&scope_read=on",
            NOT_VIEWER,
            None,
        ),
        row("/account/tokens/{id}/revoke", Public, "", "", ALL, None),
        row("/account", Public, "", "", ALL, None),
        row("get_account", Public, "", "", ALL, None),
        row("/account/password", Public, "", "", ALL, None),
        row("/account/recovery-codes/new", Public, "", "", ALL, None),
        row("/account/totp/start", Public, "", "", ALL, None),
        row("/account/totp/finish", Public, "", "", ALL, None),
        row("/account/totp/cancel", Public, "", "", ALL, None),
        row("/account/sessions/revoke", Public, "", "", ALL, None),
        row("/account/sessions/revoke-all", Public, "", "", ALL, None),
        row("/account/recovery-codes.txt", Public, "", "", ALL, None),
        row("/account/recovery-codes/ack", Public, "", "", ALL, None),
        row("/login", Public, "", "", ALL, None),
        row("/login/verify", Public, "", "", ALL, None),
        row("/logout", Public, "", "", ALL, None),
        row("/invite/{token}/password", Public, "", "", ALL, None),
        row("/invite/{token}/totp", Public, "", "", ALL, None),
        row("/invite/{token}/restart", Public, "", "", ALL, None),
        row("/healthz", Public, "", "", ALL, None),
        row("/.well-known/mta-sts.txt", Public, "", "", ALL, None),
        row("/readyz", Public, "", "", ALL, None),
        row("/metrics", Public, "", "", ALL, None),
        // ---- DNS ----
        row(
            "/domains/:name/dns",
            Page,
            "/domains/{dn}/dns",
            "",
            ALL,
            Some(HIDDEN),
        ),
        row("/dns/templates", Page, "/dns/templates", "", ALL, None),
        row(
            "/domains/{id}/dns/check",
            Form,
            "/domains/{d}/dns/check",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/dkim",
            Form,
            "/domains/{d}/dkim",
            "algorithm=bogus",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/dkim/rotate",
            Form,
            "/domains/{d}/dkim/rotate",
            "algorithm=bogus",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/domains/{id}/dkim/rotate",
            Post,
            "/api/v1/domains/{d}/dkim/rotate",
            r#"{"algorithm":"bogus"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // Without a dkim_zone (the test configuration) an allowed caller gets "not offered"
        // after the gate: the probe changes nothing.
        row(
            "/domains/{id}/dkim/delegation",
            Form,
            "/domains/{d}/dkim/delegation",
            "delegate=on",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/domains/{id}/dkim/delegation",
            Put,
            "/api/v1/domains/{d}/dkim/delegation",
            r#"{"delegated":true}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // DNS changes: each allowed probe is refused by validation after the gate (a bogus
        // provider kind, an SOA change, no provider to test, not a DNS change).
        row(
            "/domains/{id}/dns/provider",
            Form,
            "/domains/{d}/dns/provider",
            "kind=bogus",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/dns/provider/test",
            Form,
            "/domains/{d}/dns/provider/test",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/dns/changes",
            Form,
            "/domains/{d}/dns/changes",
            "name=%40&rtype=SOA&reason=probe",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/domains/{id}/dns/changes/{change}/entered",
            Form,
            "/domains/{d}/dns/changes/{cr}/entered",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/domains/{id}/dns/provider",
            Get,
            "/api/v1/domains/{d}/dns/provider",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dns/provider",
            Put,
            "/api/v1/domains/{d}/dns/provider",
            r#"{"kind":"bogus"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dns/provider/test",
            Post,
            "/api/v1/domains/{d}/dns/provider/test",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dns/changes",
            Get,
            "/api/v1/domains/{d}/dns/changes",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dns/changes",
            Post,
            "/api/v1/domains/{d}/dns/changes",
            r#"{"name":"@","rtype":"SOA","reason":"probe"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/dns/changes/{id}/entered",
            Post,
            "/api/v1/dns/changes/{cr}/entered",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // Bulk DNS changes: an allowed probe is refused by validation after the gate.
        row("/dns/bulk", Page, "/dns/bulk", "", ALL, None),
        row(
            "get_bulk_list_page",
            ServerFn,
            app::dns::pages::GetBulkListPage::PATH,
            "",
            ALL,
            None,
        ),
        // A plan's page and its API read: only a bulk plan has one (the world's change request
        // is a route), so these are probed in tests/it/dns_changes.rs: another tenant's plan
        // is not found, a viewer of its tenant reads it.
        row("/dns/bulk/:id", Public, "", "", ALL, None),
        row("get_bulk_plan_page", Public, "", "", ALL, None),
        row("/api/v1/dns/bulk/{id}", Public, "", "", ALL, None),
        row(
            "/dns/bulk",
            Form,
            "/dns/bulk",
            "tenant={t}&operation=bogus&reason=probe",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/dns/bulk/{id}/override",
            Form,
            "/dns/bulk/{cr}/override",
            "reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/dns/bulk",
            Post,
            "/api/v1/dns/bulk",
            r#"{"tenant":"{t}","operation":"bogus","reason":"probe"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/dns/bulk",
            Get,
            "/api/v1/dns/bulk",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/dns/bulk/{id}/override",
            Post,
            "/api/v1/dns/bulk/{cr}/override",
            r#"{"reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // Multipart, like /imports: its gate (import_report) is probed through the API row
        // below and in tests/it/dns.rs (a viewer refused, another tenant's domain not found).
        row("/domains/{id}/dmarc", Public, "", "", ALL, None),
        row(
            "/api/v1/dmarc/reports",
            Post,
            "/api/v1/dmarc/reports",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/domains/{id}/activate-unverified",
            Form,
            "/domains/{d}/activate-unverified",
            "reason=",
            OWNER,
            Some([A, F, N, N]),
        ),
        row(
            "/dns/templates/{category}",
            Form,
            "/dns/templates/standard",
            "spf=bogus&dmarc_policy=none&mta_sts=none",
            OWNER,
            None,
        ),
        row(
            "/api/v1/domains/{id}/dns",
            Get,
            "/api/v1/domains/{d}/dns",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dns/check",
            Post,
            "/api/v1/domains/{d}/dns/check",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/dkim",
            Post,
            "/api/v1/domains/{d}/dkim",
            r#"{"algorithm":"bogus"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/dns/templates",
            Get,
            "/api/v1/dns/templates",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/dns/templates/{category}",
            Put,
            "/api/v1/dns/templates/standard",
            r#"{"receive":true,"spf":"bogus","dkim":true,"dmarc_policy":"none","dmarc_rua":"","mta_sts":"none","tls_rpt_rua":"","autoconfig":false}"#,
            OWNER,
            None,
        ),
        // ---- server functions (page loaders; same decisions as their pages) ----
        row(
            "get_dashboard",
            ServerFn,
            app::dashboard::GetDashboard::PATH,
            "query[q]=",
            ALL,
            None,
        ),
        row(
            "get_tenants",
            ServerFn,
            app::tenancy::pages::GetTenants::PATH,
            "",
            ALL,
            None,
        ),
        row(
            "get_tenant",
            ServerFn,
            app::tenancy::pages::GetTenant::PATH,
            "slug={t}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_domain_page",
            ServerFn,
            app::tenancy::pages::GetDomainPage::PATH,
            "name={dn}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_dns_page",
            ServerFn,
            app::dns::pages::GetDnsPage::PATH,
            "name={dn}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_templates_page",
            ServerFn,
            app::dns::pages::GetTemplatesPage::PATH,
            "",
            ALL,
            None,
        ),
        row(
            "get_portal",
            ServerFn,
            app::portal::GetPortal::PATH,
            "tenant={t}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_plans",
            ServerFn,
            app::tenancy::pages::GetPlans::PATH,
            "",
            ALL,
            None,
        ),
        row(
            "get_operators",
            ServerFn,
            app::auth::api::GetOperators::PATH,
            "",
            PLATFORM,
            None,
        ),
        row(
            "get_audit",
            ServerFn,
            app::audit::pages::GetAudit::PATH,
            "filter[limit]=5",
            ALL,
            None,
        ),
        row(
            "get_sessions",
            ServerFn,
            app::auth::api::GetSessions::PATH,
            "",
            ALL,
            None,
        ),
        row(
            "get_tokens",
            ServerFn,
            app::auth::api::GetTokens::PATH,
            "",
            ALL,
            None,
        ),
        row("get_shell", Public, "", "", ALL, None),
        row("get_invite", Public, "", "", ALL, None),
        row("get_pending_sign_in", Public, "", "", ALL, None),
        row("get_fresh_recovery_codes", Public, "", "", ALL, None),
        // ---- REST (bearer tokens; a client viewer cannot hold one) ----
        row("/api/v1/me", Get, "/api/v1/me", "", NOT_VIEWER, None),
        row("/api/v1/audit", Get, "/api/v1/audit", "", NOT_VIEWER, None),
        row(
            "/api/v1/audit/export",
            Get,
            "/api/v1/audit/export",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/alerts",
            Get,
            "/api/v1/alerts",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/alerts/{id}/acknowledge",
            Post,
            "/api/v1/alerts/alert_none/acknowledge",
            r#"{"note":""}"#,
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/tenants/{tenant}/alert-rules",
            Get,
            "/api/v1/tenants/{t}/alert-rules",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{tenant}/alert-rules",
            Put,
            "/api/v1/tenants/{t}/alert-rules",
            r#"{"failure_burst":0}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/alert-destinations",
            Get,
            "/api/v1/alert-destinations",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/alert-destinations",
            Post,
            "/api/v1/alert-destinations",
            r#"{"kind":"sms","target":"x","tenant":"{t}"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/alert-destinations/{id}",
            Delete,
            "/api/v1/alert-destinations/dest_none",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/alert-destinations/{id}/test",
            Post,
            "/api/v1/alert-destinations/dest_none/test",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/alert-destinations/{id}/rotate",
            Post,
            "/api/v1/alert-destinations/dest_none/rotate",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/incidents",
            Get,
            "/api/v1/incidents",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/incidents",
            Post,
            "/api/v1/incidents",
            r#"{"tenant":"{t}","title":"","reason":""}"#,
            PLATFORM,
            Some(PLATFORM),
        ),
        row(
            "/api/v1/incidents/{id}",
            Get,
            "/api/v1/incidents/inc_none",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/end",
            Post,
            "/api/v1/incidents/inc_none/end",
            r#"{"note":""}"#,
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/end",
            Delete,
            "/api/v1/incidents/inc_none/end",
            "",
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/checks",
            Get,
            "/api/v1/incidents/inc_none/checks",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/checks",
            Post,
            "/api/v1/incidents/inc_none/checks",
            r#"{"domain":"x","item":"mfa"}"#,
            [N, N, F, F],
            None,
        ),
        // The domain-control registry: read with the domain, recorded by those who manage
        // it (probes stop at validation: a date that is not one, nothing recorded yet, no
        // RDAP service configured).
        row(
            "/api/v1/domain-control",
            Get,
            "/api/v1/domain-control",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/domains/{id}/control",
            Get,
            "/api/v1/domains/{d}/control",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/control",
            Put,
            "/api/v1/domains/{d}/control",
            r#"{"expires_on":"someday"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/control/review",
            Post,
            "/api/v1/domains/{d}/control/review",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}/control/rdap",
            Post,
            "/api/v1/domains/{d}/control/rdap",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/incidents/{id}/hunt",
            Get,
            "/api/v1/incidents/inc_none/hunt",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/restore",
            Post,
            "/api/v1/incidents/inc_none/restore",
            "{}",
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/postmortem",
            Get,
            "/api/v1/incidents/inc_none/postmortem",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/postmortem",
            Put,
            "/api/v1/incidents/inc_none/postmortem",
            "{}",
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/revoke",
            Post,
            "/api/v1/incidents/inc_none/revoke",
            r#"{"users":["usr_none"]}"#,
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/end/confirm",
            Post,
            "/api/v1/incidents/inc_none/end/confirm",
            "",
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/incidents/{id}/outbound",
            Post,
            "/api/v1/incidents/inc_none/outbound",
            r#"{"hold":true}"#,
            [N, N, F, F],
            None,
        ),
        row(
            "/api/v1/alerts/{id}/resolve",
            Post,
            "/api/v1/alerts/alert_none/resolve",
            r#"{"note":""}"#,
            [N, N, N, F],
            None,
        ),
        row("/api/v1/openapi.json", Public, "", "", ALL, None),
        row("/api/v1/people", Get, "/api/v1/people", "", PLATFORM, None),
        row(
            "/api/v1/people",
            Post,
            "/api/v1/people",
            r#"{"email":"","role":"tenant_admin","tenant":"{t}"}"#,
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people",
            Post,
            "/api/v1/people",
            r#"{"email":"","role":"operator"}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/people/{id}/tenants",
            Put,
            "/api/v1/people/{op}/tenants",
            r#"{"all":false,"tenant_ids":[]}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/invitations",
            Get,
            "/api/v1/invitations",
            "",
            PLATFORM,
            None,
        ),
        row(
            "/api/v1/invitations",
            Get,
            "/api/v1/invitations?tenant={t}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/invitations/{id}",
            Delete,
            "/api/v1/invitations/{inv}",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/invitations/{id}",
            Delete,
            "/api/v1/invitations/{opinv}",
            "",
            OWNER,
            None,
        ),
        row(
            "/api/v1/people",
            Get,
            "/api/v1/people?tenant={t}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/enable",
            Post,
            "/api/v1/people/{op}/enable",
            "",
            OWNER,
            None,
        ),
        row(
            "/api/v1/people/{id}/enable",
            Post,
            "/api/v1/people/{pa}/enable",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/disable",
            Post,
            "/api/v1/people/{pd}/disable",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/role",
            Put,
            "/api/v1/people/{op}/role",
            r#"{"role":"owner"}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/people/{id}/role",
            Put,
            "/api/v1/people/{pa}/role",
            r#"{"role":"tenant_admin"}"#,
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/factor-reset",
            Post,
            "/api/v1/people/{op}/factor-reset",
            r#"{"reason":""}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/people/{id}/factor-reset",
            Post,
            "/api/v1/people/{pa}/factor-reset",
            r#"{"reason":""}"#,
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/access",
            Get,
            "/api/v1/people/{pd}/access",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/people/{id}/end-access",
            Post,
            "/api/v1/people/{pd}/end-access",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row("/api/v1/plans", Get, "/api/v1/plans", "", NOT_VIEWER, None),
        row(
            "/api/v1/plans",
            Post,
            "/api/v1/plans",
            r#"{"name":"","max_domains":1,"storage_gb":1}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/plans/{id}",
            Patch,
            "/api/v1/plans/plan_pro",
            r#"{"retired":false}"#,
            OWNER,
            None,
        ),
        row(
            "/api/v1/tenants",
            Get,
            "/api/v1/tenants",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/tenants",
            Post,
            "/api/v1/tenants",
            r#"{"name":"","plan_id":"plan_free"}"#,
            PLATFORM,
            None,
        ),
        row(
            "/api/v1/tenants/{id}",
            Get,
            "/api/v1/tenants/{t}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/sending",
            Get,
            "/api/v1/tenants/{t}/sending",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/relay",
            Get,
            "/api/v1/tenants/{t}/relay",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/relay",
            Put,
            "/api/v1/tenants/{t}/relay",
            r#"{"host":"","port":587,"username":"","password":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/relay",
            Delete,
            "/api/v1/tenants/{t}/relay",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/relay/test",
            Post,
            "/api/v1/tenants/{t}/relay/test",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}",
            Patch,
            "/api/v1/tenants/{t}",
            r#"{"plan_id":"nope"}"#,
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/domains",
            Post,
            "/api/v1/tenants/{t}/domains",
            r#"{"name":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains",
            Get,
            "/api/v1/domains",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/domains/{id}",
            Get,
            "/api/v1/domains/{d}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}",
            Patch,
            "/api/v1/domains/{d}",
            r#"{"status":"bogus"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/domains/{id}",
            Delete,
            "/api/v1/domains/{d}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // ---- mailboxes ({mb}: an invited mailbox; {cr}: a pending critical reset) ----
        row(
            "/mailboxes/:id",
            Page,
            "/mailboxes/{mb}",
            "",
            ALL,
            Some(HIDDEN),
        ),
        row("/approvals", Page, "/approvals", "", ALL, None),
        // Imports: an unknown import is not found for everyone; the import tests cover the rest.
        row(
            "/imports/:id",
            Page,
            "/imports/imp_nope",
            "",
            [N, N, N, N],
            None,
        ),
        row(
            "get_import",
            ServerFn,
            app::imports::pages::GetImport::PATH,
            "id=imp_nope",
            [N, N, N, N],
            None,
        ),
        row(
            "/imports/{id}/start",
            Form,
            "/imports/imp_nope/start",
            "",
            [N, N, N, N],
            None,
        ),
        row(
            "/imports/{id}/discard",
            Form,
            "/imports/imp_nope/discard",
            "",
            [N, N, N, N],
            None,
        ),
        // The multipart upload form: the same service as POST /api/v1/imports (rows below);
        // the import tests drive it with a real file.
        row("/imports", Public, "", "", ALL, None),
        row(
            "/api/v1/imports",
            Post,
            "/api/v1/imports?tenant={t}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/imports/{id}",
            Get,
            "/api/v1/imports/imp_nope",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/imports/{id}/start",
            Post,
            "/api/v1/imports/imp_nope/start",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/imports/{id}/discard",
            Post,
            "/api/v1/imports/imp_nope/discard",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/imports",
            Get,
            "/api/v1/imports?tenant={t}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row("/mailboxes", Page, "/mailboxes", "", ALL, None),
        row(
            "get_mailboxes",
            ServerFn,
            app::mailboxes::pages::GetMailboxes::PATH,
            "query[q]=probe",
            ALL,
            None,
        ),
        row(
            "/mailboxes/offboard",
            Form,
            "/mailboxes/offboard",
            "confirm=on&keep_days=-1&reason=",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/mailboxes",
            Get,
            "/api/v1/mailboxes",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/mailboxes/offboard",
            Post,
            "/api/v1/mailboxes/offboard",
            r#"{"mailboxes":[],"keep_days":1,"reason":"x"}"#,
            NOT_VIEWER,
            None,
        ),
        row(
            "get_mailbox_page",
            ServerFn,
            app::mailboxes::pages::GetMailboxPage::PATH,
            "id={mb}",
            ALL,
            Some(HIDDEN),
        ),
        row(
            "get_approvals",
            ServerFn,
            app::changes::pages::GetApprovals::PATH,
            "",
            ALL,
            None,
        ),
        // Another tenant's domain reads as "not one of your domains" (a validation answer
        // that says nothing about its existence).
        row(
            "/mailboxes",
            Form,
            "/mailboxes",
            "domain={d}&address=&display_name=x",
            NOT_VIEWER,
            Some([A, A, A, F]),
        ),
        row(
            "/mailboxes/{id}/invite/resend",
            Form,
            "/mailboxes/{mb}/invite/resend",
            "send_to=not-an-address",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/invite/reveal",
            Form,
            "/mailboxes/{mb}/invite/reveal",
            "",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/invite/revoke",
            Form,
            "/mailboxes/{mb}/invite/revoke",
            "",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/reset",
            Form,
            "/mailboxes/{mb}/reset",
            "reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/lock",
            Form,
            "/mailboxes/{mb}/lock",
            "reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/edit",
            Form,
            "/mailboxes/{mb}/edit",
            "display_name=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/unlock",
            Form,
            "/mailboxes/{mb}/unlock",
            "reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/retention",
            Form,
            "/mailboxes/{mb}/retention",
            "until=&reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/offboard",
            Form,
            "/mailboxes/{mb}/offboard",
            "keep_days=30&reason=&confirm=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        // No receipt exists before an offboarding: not found for everyone (the mailbox tests
        // download a real one).
        row(
            "/mailboxes/{id}/receipt.json",
            Page,
            "/mailboxes/{mb}/receipt.json",
            "",
            [N, N, N, N],
            Some([N, N, N, N]),
        ),
        row(
            "/mailboxes/{id}/receipt.md",
            Page,
            "/mailboxes/{mb}/receipt.md",
            "",
            [N, N, N, N],
            Some([N, N, N, N]),
        ),
        row(
            "/mailboxes/{id}/identities",
            Form,
            "/mailboxes/{mb}/identities",
            "service=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/identities/{idn}/remove",
            Form,
            "/mailboxes/{mb}/identities/idn_nope/remove",
            "",
            [N, N, N, F],
            Some([N, N, N, N]),
        ),
        row(
            "/mailboxes/{id}/delegations",
            Form,
            "/mailboxes/{mb}/delegations",
            "delegate=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/mailboxes/{id}/delegations/{delegate}/revoke",
            Form,
            "/mailboxes/{mb}/delegations/mbx_nope/revoke",
            "",
            [N, N, N, F],
            Some([N, N, N, N]),
        ),
        row(
            "/mailboxes/{id}/app-passwords/{ap}/revoke",
            Form,
            "/mailboxes/{mb}/app-passwords/app_nope/revoke",
            "",
            [N, N, N, F],
            Some([N, N, N, N]),
        ),
        row(
            "/tenants/{slug}/invite-reveal",
            Form,
            "/tenants/{t}/invite-reveal",
            "invite_reveal=bogus",
            PLATFORM,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/tenants/{id}/invite-reveal",
            Put,
            "/api/v1/tenants/{t}/invite-reveal",
            r#"{"policy":"bogus"}"#,
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/approvals/{id}/approve",
            Form,
            "/approvals/{cr}/approve",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/approvals/{id}/reject",
            Form,
            "/approvals/{cr}/reject",
            "note=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/approvals/{id}/rollback",
            Form,
            "/approvals/{cr}/rollback",
            "reason=",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/approvals/{id}/cancel",
            Form,
            "/approvals/{cr}/cancel",
            "",
            NOT_VIEWER,
            Some(HIDDEN),
        ),
        row(
            "/api/v1/mailboxes",
            Post,
            "/api/v1/mailboxes",
            r#"{"address":"","domain":"{d}","display_name":""}"#,
            NOT_VIEWER,
            Some([A, A, A, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}",
            Get,
            "/api/v1/mailboxes/{mb}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/invite",
            Post,
            "/api/v1/mailboxes/{mb}/invite",
            r#"{"send_to":"bad"}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/invite",
            Delete,
            "/api/v1/mailboxes/{mb}/invite",
            "",
            PLATFORM,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/reset",
            Post,
            "/api/v1/mailboxes/{mb}/reset",
            r#"{"reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}",
            Patch,
            "/api/v1/mailboxes/{mb}",
            r#"{"display_name":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/unlock",
            Post,
            "/api/v1/mailboxes/{mb}/unlock",
            r#"{"reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/retention",
            Post,
            "/api/v1/mailboxes/{mb}/retention",
            r#"{"until":"","reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/offboard",
            Get,
            "/api/v1/mailboxes/{mb}/offboard",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/offboard",
            Post,
            "/api/v1/mailboxes/{mb}/offboard",
            r#"{"keep_days":-1,"reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/receipt",
            Get,
            "/api/v1/mailboxes/{mb}/receipt",
            "",
            [N, N, N, F],
            Some([N, N, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/app-passwords",
            Get,
            "/api/v1/mailboxes/{mb}/app-passwords",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/identities",
            Get,
            "/api/v1/mailboxes/{mb}/identities",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/delegations",
            Get,
            "/api/v1/mailboxes/{mb}/delegations",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/delegations",
            Post,
            "/api/v1/mailboxes/{mb}/delegations",
            r#"{"delegate":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/delegations/{delegate}",
            Delete,
            "/api/v1/mailboxes/{mb}/delegations/mbx_nope",
            "",
            [N, N, N, F],
            Some([N, N, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/identities",
            Post,
            "/api/v1/mailboxes/{mb}/identities",
            r#"{"service":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/identities/{idn}",
            Delete,
            "/api/v1/mailboxes/{mb}/identities/idn_nope",
            "",
            [N, N, N, F],
            Some([N, N, N, F]),
        ),
        row(
            "/api/v1/mailboxes/{id}/app-passwords/{ap}",
            Delete,
            "/api/v1/mailboxes/{mb}/app-passwords/app_nope",
            "",
            [N, N, N, F],
            Some([N, N, N, F]),
        ),
        row(
            "/api/v1/changes",
            Get,
            "/api/v1/changes",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/changes/{id}",
            Get,
            "/api/v1/changes/{cr}",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // Through the gate, then refused: not the requester's own request.
        row(
            "/api/v1/changes/{id}/cancel",
            Post,
            "/api/v1/changes/{cr}/cancel",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/changes/{id}/approve",
            Post,
            "/api/v1/changes/{cr}/approve",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/changes/{id}/reject",
            Post,
            "/api/v1/changes/{cr}/reject",
            r#"{"note":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/changes/{id}/rollback",
            Post,
            "/api/v1/changes/{cr}/rollback",
            r#"{"reason":""}"#,
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        // Routing.
        row("/routing", Page, "/routing", "", ALL, None),
        row("/routing/report", Page, "/routing/report", "", ALL, None),
        row(
            "/routing/report.csv",
            Page,
            "/routing/report.csv",
            "",
            ALL,
            None,
        ),
        row(
            "/routing/report.json",
            Page,
            "/routing/report.json",
            "",
            ALL,
            None,
        ),
        row(
            "get_routing",
            ServerFn,
            app::routing::pages::GetRouting::PATH,
            "query[tenant]=",
            ALL,
            None,
        ),
        row(
            "get_report",
            ServerFn,
            app::routing::pages::GetReport::PATH,
            "tenant=&since=",
            ALL,
            None,
        ),
        // Another tenant's domain reads as "not one of your domains".
        row(
            "/routing",
            Form,
            "/routing",
            "kind=alias&source=x@{dn}&targets=",
            NOT_VIEWER,
            Some([A, A, A, F]),
        ),
        row(
            "/routing/{id}/disable",
            Form,
            "/routing/rte_nope/disable",
            "reason=x",
            [N, N, N, N],
            None,
        ),
        row(
            "/tenants/{slug}/routing-policy",
            Form,
            "/tenants/{t}/routing-policy",
            "alias_policy=bogus&default_days=1&max_days=1",
            PLATFORM,
            Some(HIDDEN),
        ),
        row("/routing/confirm/:token", Public, "", "", ALL, None),
        row("/routing/confirm/{token}", Public, "", "", ALL, None),
        row("get_confirmation", Public, "", "", ALL, None),
        row("/me/forward", Public, "", "", ALL, None),
        row(
            "/api/v1/routes",
            Get,
            "/api/v1/routes",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/routes",
            Post,
            "/api/v1/routes",
            r#"{"kind":"alias","source":"x@{dn}","targets":[]}"#,
            NOT_VIEWER,
            Some([A, A, A, F]),
        ),
        row(
            "/api/v1/routes/{id}",
            Get,
            "/api/v1/routes/rte_nope",
            "",
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/routes/{id}/disable",
            Post,
            "/api/v1/routes/rte_nope/disable",
            r#"{"reason":"x"}"#,
            [N, N, N, F],
            None,
        ),
        row(
            "/api/v1/routing/report",
            Get,
            "/api/v1/routing/report",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/routing/badges",
            Get,
            "/api/v1/routing/badges",
            "",
            NOT_VIEWER,
            None,
        ),
        row(
            "/api/v1/tenants/{id}/routing-policy",
            Get,
            "/api/v1/tenants/{t}/routing-policy",
            "",
            NOT_VIEWER,
            Some([A, A, N, F]),
        ),
        row(
            "/api/v1/tenants/{id}/routing-policy",
            Patch,
            "/api/v1/tenants/{t}/routing-policy",
            r#"{"alias_policy":"bogus","allowlist":[],"default_days":1,"max_days":1,"confirmation":false}"#,
            [A, A, F, F],
            Some([A, A, N, F]),
        ),
        // The mailbox owner's own area: no console role reaches it; covered by the mailbox tests.
        row("/activate/:token", Public, "", "", ALL, None),
        row("/activate/{token}", Public, "", "", ALL, None),
        row("get_activation", Public, "", "", ALL, None),
        row("/me", Public, "", "", ALL, None),
        row("/me/login", Public, "", "", ALL, None),
        row("/me/reset", Public, "", "", ALL, None),
        row("/me/recovery-codes", Public, "", "", ALL, None),
        row("/me/logout", Public, "", "", ALL, None),
        row("/me/password", Public, "", "", ALL, None),
        row("/me/recovery-codes.txt", Public, "", "", ALL, None),
        row("/me/recovery-codes/ack", Public, "", "", ALL, None),
        row("/me/app-passwords", Public, "", "", ALL, None),
        row("/me/app-passwords/{id}/revoke", Public, "", "", ALL, None),
        row("/me/identities", Public, "", "", ALL, None),
        row("/me/identities/{id}/remove", Public, "", "", ALL, None),
        row("/me/delegations", Public, "", "", ALL, None),
        row(
            "/me/delegations/{delegate}/revoke",
            Public,
            "",
            "",
            ALL,
            None,
        ),
        row("get_owner_codes", Public, "", "", ALL, None),
        row("get_owner_home", Public, "", "", ALL, None),
    ]
}

/// Every route, page route and server function in the source is in the table.
#[test]
fn every_route_is_in_the_matrix() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found: Vec<String> = vec![];
    let mut stack = vec![root.join("app/src"), root.join("server/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for (marker, end) in [
                (".route( \"", "\""),
                (".route(\"", "\""),
                ("path!(\"", "\""),
            ] {
                for part in squeezed.split(marker).skip(1) {
                    found.push(part.split(end).next().unwrap().to_string());
                }
            }
            for part in squeezed.split("#[server(").skip(1) {
                let name = part
                    .split("pub async fn ")
                    .nth(1)
                    .and_then(|s| s.split('(').next())
                    .unwrap();
                found.push(name.to_string());
            }
        }
    }
    assert!(found.len() > 40, "the scan finds the routes: {found:?}");
    let listed: Vec<&str> = table().iter().map(|r| r.route).collect();
    let missing: Vec<&String> = found
        .iter()
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
}

struct World {
    app: TestApp,
    people: [Account; 4],
    tokens: [Option<String>; 4],
    op_id: String,
    own: Vars,
    other: Vars,
    opinv: String,
}

#[derive(Clone)]
struct Vars {
    slug: String,
    tenant_id: String,
    domain_id: String,
    domain_name: String,
    invite: String,
    mailbox: String,
    change: String,
    /// An active client viewer of the tenant, and a disabled one.
    active_person: String,
    disabled_person: String,
}

impl World {
    fn fill(&self, s: &str, v: &Vars) -> String {
        s.replace("{tid}", &v.tenant_id)
            .replace("{t}", &v.slug)
            .replace("{dn}", &v.domain_name)
            .replace("{d}", &v.domain_id)
            .replace("{inv}", &v.invite)
            .replace("{mb}", &v.mailbox)
            .replace("{cr}", &v.change)
            .replace("{pa}", &v.active_person)
            .replace("{pd}", &v.disabled_person)
            .replace("{opinv}", &self.opinv)
            .replace("{op}", &self.op_id)
    }
}

async fn open_invite(app: &TestApp, owner: &Account, slug: &str, email: &str) -> String {
    let sys = Actor::system("test");
    owner
        .browser
        .post(
            &format!("/tenants/{slug}/people"),
            &[("email", email), ("role", "client_viewer")],
        )
        .await;
    let (_, invites) = app::auth::service::tenant_people(&app.state, &sys, slug)
        .await
        .unwrap();
    invites
        .into_iter()
        .find(|i| i.email.as_deref() == Some(email))
        .unwrap()
        .id
}

/// An invited mailbox, and a pending reset request of an active critical one.
async fn mailbox_and_change(app: &TestApp, slug: &str, domain: &str) -> (String, String) {
    use app::mailboxes::{service as mb, NewMailbox};
    let sys = Actor::system("test");
    // No outgoing mail here: links are revealed, which the tenant's policy must allow.
    mb::set_reveal_policy(&app.state, &sys, slug, "allowed")
        .await
        .unwrap();
    let new = |address: &str, critical: bool| NewMailbox {
        address: format!("{address}@{domain}"),
        display_name: address.into(),
        critical,
        ..Default::default()
    };
    let m = mb::create(&app.state, &sys, &new("probe", false))
        .await
        .unwrap()
        .mailbox;
    let c = mb::create(&app.state, &sys, &new("billing", true))
        .await
        .unwrap()
        .mailbox;
    sqlx::query("UPDATE mailboxes SET status = 'active' WHERE id = $1")
        .bind(&c.id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let out = mb::request_reset(&app.state, &sys, &c.id, "matrix probe", false, None)
        .await
        .unwrap();
    let mb::ResetOutcome::Queued { change_id } = out else {
        panic!("a critical reset is queued")
    };
    (m.id, change_id)
}

async fn world(b: Backend) -> World {
    let app = TestApp::start(b).await;
    let owner = app.setup_owner().await;
    let sys = Actor::system("test");
    let mut vars: Vec<Vars> = vec![];
    for (name, plan, domain) in [
        ("Acme", "plan_starter", "acme.example"),
        ("Globex", "plan_pro", "globex.example"),
    ] {
        let t = service::create_tenant(
            &app.state,
            &sys,
            &NewTenant {
                name: name.into(),
                plan_id: plan.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let d = service::add_domain(&app.state, &sys, &t.slug, domain, "")
            .await
            .unwrap();
        // Active, so that a removal probe stops at "suspend it first".
        service::activate_unverified(&app.state, &sys, &d.id, "test fixture")
            .await
            .unwrap();
        let invite = open_invite(&app, &owner, &t.slug, &format!("pending@{domain}")).await;
        let (mailbox, change) = mailbox_and_change(&app, &t.slug, domain).await;
        vars.push(Vars {
            mailbox,
            change,
            slug: t.slug,
            tenant_id: t.id,
            domain_id: d.id,
            domain_name: d.name,
            invite,
            active_person: String::new(),
            disabled_person: String::new(),
        });
    }
    let operator = app
        .invite_through(
            &owner,
            "/operators/invite",
            &[("email", "otto@agency.example")],
            "/operators",
            "otto@agency.example",
            "Otto",
        )
        .await;
    let mut admin = None;
    let mut viewer = None;
    for (email, role, name) in [
        ("ada@acme.example", "tenant_admin", "Ada"),
        ("carl@acme.example", "client_viewer", "Carl"),
    ] {
        let acc = app
            .invite_through(
                &owner,
                "/tenants/acme/people",
                &[("email", email), ("role", role)],
                "/tenants/acme",
                email,
                name,
            )
            .await;
        if role == "tenant_admin" {
            admin = Some(acc);
        } else {
            viewer = Some(acc);
        }
    }
    let opinv = {
        owner
            .browser
            .post("/operators/invite", &[("email", "olga@agency.example")])
            .await;
        let (_, inv) = app::auth::service::operators(&app.state, &sys)
            .await
            .unwrap();
        inv.into_iter()
            .find(|i| i.email.as_deref() == Some("olga@agency.example"))
            .unwrap()
            .id
    };
    // For the people probes: an active client viewer and a disabled one in each tenant
    // (Carl is Acme's active one).
    let id_of = |email: &'static str| {
        let db = app.state.db.clone();
        async move {
            app::auth::store::user_by_email(&db, email)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    vars[0].active_person = id_of("carl@acme.example").await;
    for (i, email, slug, active) in [
        (0, "dora@acme.example", "acme", false),
        (1, "gina@globex.example", "globex", true),
        (1, "gus@globex.example", "globex", false),
    ] {
        app.invite_through(
            &owner,
            &format!("/tenants/{slug}/people"),
            &[("email", email), ("role", "client_viewer")],
            &format!("/tenants/{slug}"),
            email,
            "Probe",
        )
        .await;
        let id = id_of(email).await;
        if active {
            vars[i].active_person = id;
        } else {
            app::auth::service::disable_person(&app.state, &sys, &id)
                .await
                .unwrap();
            vars[i].disabled_person = id;
        }
    }
    let people = [owner, operator, admin.unwrap(), viewer.unwrap()];
    let mut tokens: [Option<String>; 4] = Default::default();
    let emails = [
        people[0].email.as_str(),
        "otto@agency.example",
        "ada@acme.example",
        "carl@acme.example",
    ];
    for (i, email) in emails.into_iter().enumerate() {
        tokens[i] = app::auth::service::create_token_for_email(
            &app.state,
            email,
            "matrix",
            &["read,write,audit".into()],
            1,
        )
        .await
        .ok()
        .map(|(_, t)| t);
    }
    assert!(
        tokens[3].is_none(),
        "a client viewer cannot hold an API token"
    );
    let op_id = app::auth::store::user_by_email(&app.state.db, "otto@agency.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    World {
        app,
        people,
        tokens,
        op_id,
        own: vars[0].clone(),
        other: vars[1].clone(),
        opinv,
    }
}

async fn audit_len(app: &TestApp) -> i64 {
    app::audit::service::stats(&app.state.db, 0)
        .await
        .unwrap()
        .1
}

/// Calls one row as one person on one tenant; returns what came of it.
async fn probe(w: &World, r: &Row, who: usize, v: &Vars) -> Out {
    let path = w.fill(r.path, v);
    let args = w.fill(r.args, v);
    let br = &w.people[who].browser;
    let from_status = |s: u16| match s {
        403 | 401 => F,
        404 => N,
        _ => A,
    };
    match r.kind {
        Page => {
            let resp = br.get(&path).await;
            let s = resp.status().as_u16();
            if (300..400).contains(&s) {
                let to = resp.headers()["location"].to_str().unwrap().to_string();
                assert!(!to.starts_with("/login"), "{path}: signed out");
                return A;
            }
            assert!(s < 500, "{path}: {s}");
            from_status(s)
        }
        ServerFn => {
            let resp = br
                .http
                .post(format!("{}{}", br.base, path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(args.clone())
                .send()
                .await
                .unwrap();
            let s = resp.status().as_u16();
            assert!(s < 500 && s != 400, "{path} {args}: {s}");
            if s != 200 {
                return from_status(s);
            }
            // A page's loader answers the browser's router with a 200 and the page's data,
            // whose error text says what came of it.
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            match body["data"]["Err"].as_str() {
                Some(m) if m.contains("not allowed") => F,
                Some(m) if m.starts_with("Not found") => N,
                Some(m) => {
                    assert!(!m.contains("on our side"), "{path} {args}: {m}");
                    A
                }
                None => A,
            }
        }
        Form => {
            let form: Vec<(String, String)> = args
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            let form_ref: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let resp = br.post(&path, &form_ref).await;
            assert_eq!(resp.status(), 303, "{path}");
            let back = resp.headers()["location"].to_str().unwrap().to_string();
            let flash = br.flash(&back).await.unwrap_or_default();
            if flash.contains("not allowed") {
                F
            } else if flash.starts_with("Not found") {
                N
            } else {
                A
            }
        }
        Get | Post | Patch | Put | Delete => {
            let Some(token) = &w.tokens[who] else {
                return F;
            };
            let http = reqwest::Client::new();
            let url = w.app.url(&path);
            let req = match r.kind {
                Get => http.get(url),
                Post => http.post(url),
                Delete => http.delete(url),
                Put => http.put(url),
                _ => http.patch(url),
            };
            let req = if args.is_empty() {
                req
            } else {
                req.header("content-type", "application/json").body(args)
            };
            let s = req
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            assert!(s < 500, "{path}: {s}");
            from_status(s)
        }
        Public => unreachable!(),
    }
}

async fn authorization_matrix(b: Backend) {
    let w = world(b).await;
    let roles = ["owner", "operator", "tenant admin", "client viewer"];
    let mut wrong = vec![];
    for r in table() {
        if matches!(r.kind, Public) {
            continue;
        }
        // Denied callers first, then allowed ones, the other tenant before one's own, so a
        // probe that does take effect (a reveal, a revocation) runs after every refusal.
        let mut order: Vec<(usize, bool)> = vec![];
        for who in [3, 2, 1, 0] {
            if r.other.is_some() {
                order.push((who, true));
            }
            order.push((who, false));
        }
        order.sort_by_key(|&(who, other)| {
            let want = if other {
                r.other.unwrap()[who]
            } else {
                r.own[who]
            };
            want == A
        });
        for (who, other) in order {
            let (want, vars) = if other {
                (r.other.unwrap()[who], &w.other)
            } else {
                (r.own[who], &w.own)
            };
            let before = audit_len(&w.app).await;
            let got = probe(&w, &r, who, vars).await;
            let after = audit_len(&w.app).await;
            if got != want {
                wrong.push(format!(
                    "{:?} {} as {} on {} tenant: expected {want:?}, got {got:?}",
                    r.kind,
                    r.path,
                    roles[who],
                    if other { "another" } else { "their own" }
                ));
            }
            if want != A {
                assert_eq!(
                    before, after,
                    "a refused {:?} {} wrote to the audit log",
                    r.kind, r.path
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix:\n{}",
        wrong.join("\n")
    );
    // The refusals changed nothing: both tenants are as they were set up.
    let sys = Actor::system("test");
    for v in [&w.own, &w.other] {
        let (t, d) = service::tenant(&w.app.state, &sys, &v.slug).await.unwrap();
        assert_eq!((t.status.as_str(), d.len()), ("active", 1));
    }
}
both!(authorization_matrix);

/// What each console form does over REST: `"METHOD /api/v1/…"`, or `"browser: why"` for the
/// few that stay in the browser on purpose.
const TWINS: &[(&str, &str)] = &[
    ("/incidents", "POST /api/v1/incidents"),
    ("/incidents/{id}/end", "POST /api/v1/incidents/{id}/end"),
    ("/incidents/{id}/end/confirm", "POST /api/v1/incidents/{id}/end/confirm"),
    ("/incidents/{id}/keep-open", "DELETE /api/v1/incidents/{id}/end"),
    ("/incidents/{id}/outbound", "POST /api/v1/incidents/{id}/outbound"),
    ("/tenants/{slug}/relay", "PUT /api/v1/tenants/{id}/relay"),
    ("/tenants/{slug}/relay/test", "POST /api/v1/tenants/{id}/relay/test"),
    ("/tenants/{slug}/relay/remove", "DELETE /api/v1/tenants/{id}/relay"),
    ("/incidents/{id}/restore", "POST /api/v1/incidents/{id}/restore"),
    ("/incidents/{id}/postmortem", "PUT /api/v1/incidents/{id}/postmortem"),
    ("/incidents/{id}/revoke", "POST /api/v1/incidents/{id}/revoke"),
    ("/incidents/{id}/checks", "POST /api/v1/incidents/{id}/checks"),
    ("/domains/{name}/control", "PUT /api/v1/domains/{id}/control"),
    ("/domains/{name}/control/review", "POST /api/v1/domains/{id}/control/review"),
    ("/domains/{name}/control/rdap", "POST /api/v1/domains/{id}/control/rdap"),
    ("/alerts/rules/{tenant}", "PUT /api/v1/tenants/{tenant}/alert-rules"),
    ("/alerts/{id}/acknowledge", "POST /api/v1/alerts/{id}/acknowledge"),
    ("/alerts/{id}/resolve", "POST /api/v1/alerts/{id}/resolve"),
    ("/alerts/destinations", "POST /api/v1/alert-destinations"),
    ("/alerts/destinations/{id}/delete", "DELETE /api/v1/alert-destinations/{id}"),
    ("/alerts/destinations/{id}/test", "POST /api/v1/alert-destinations/{id}/test"),
    ("/alerts/destinations/{id}/rotate", "POST /api/v1/alert-destinations/{id}/rotate"),
    ("/tenants", "POST /api/v1/tenants"),
    ("/tenants/{slug}/plan", "PATCH /api/v1/tenants/{id}"),
    ("/tenants/{slug}/status", "PATCH /api/v1/tenants/{id}"),
    ("/tenants/{slug}/domains", "POST /api/v1/tenants/{id}/domains"),
    ("/domains/{id}/status", "PATCH /api/v1/domains/{id}"),
    ("/domains/{id}/activate-unverified", "PATCH /api/v1/domains/{id}"),
    ("/domains/{id}/remove", "DELETE /api/v1/domains/{id}"),
    ("/tenants/{slug}/people", "POST /api/v1/people"),
    ("/tenants/{slug}/invites/{id}/reveal", "browser: a revealed link is shown once, to a signed-in person, never to a token"),
    ("/tenants/{slug}/invites/{id}/revoke", "DELETE /api/v1/invitations/{id}"),
    ("/operators/invite", "POST /api/v1/people"),
    ("/operators/invites/{id}/reveal", "browser: a revealed link is shown once, to a signed-in person, never to a token"),
    ("/operators/invites/{id}/revoke", "DELETE /api/v1/invitations/{id}"),
    ("/operators/{id}/tenants", "PUT /api/v1/people/{id}/tenants"),
    ("/people/{id}/enable", "POST /api/v1/people/{id}/enable"),
    ("/people/{id}/disable", "POST /api/v1/people/{id}/disable"),
    ("/people/{id}/role", "PUT /api/v1/people/{id}/role"),
    ("/people/{id}/factor-reset", "POST /api/v1/people/{id}/factor-reset"),
    ("/plans", "POST /api/v1/plans"),
    ("/plans/{id}/retire", "PATCH /api/v1/plans/{id}"),
    ("/plans/{id}/reinstate", "PATCH /api/v1/plans/{id}"),
    ("/account/tokens", "browser: a token is made by a person signed in with a second factor, never by another token"),
    ("/domains/{id}/dns/check", "POST /api/v1/domains/{id}/dns/check"),
    ("/domains/{id}/dkim", "POST /api/v1/domains/{id}/dkim"),
    ("/domains/{id}/dkim/rotate", "POST /api/v1/domains/{id}/dkim/rotate"),
    ("/domains/{id}/dkim/delegation", "PUT /api/v1/domains/{id}/dkim/delegation"),
    ("/domains/{id}/dns/provider", "PUT /api/v1/domains/{id}/dns/provider"),
    ("/domains/{id}/dns/provider/test", "POST /api/v1/domains/{id}/dns/provider/test"),
    ("/domains/{id}/dns/changes", "POST /api/v1/domains/{id}/dns/changes"),
    ("/domains/{id}/dns/changes/{change}/entered", "POST /api/v1/dns/changes/{id}/entered"),
    ("/dns/bulk", "POST /api/v1/dns/bulk"),
    ("/dns/bulk/{id}/override", "POST /api/v1/dns/bulk/{id}/override"),
    ("/dns/templates/{category}", "PUT /api/v1/dns/templates/{category}"),
    ("/imports/{id}/start", "POST /api/v1/imports/{id}/start"),
    ("/imports/{id}/discard", "POST /api/v1/imports/{id}/discard"),
    ("/mailboxes/offboard", "POST /api/v1/mailboxes/offboard"),
    ("/mailboxes", "POST /api/v1/mailboxes"),
    ("/mailboxes/{id}/invite/resend", "POST /api/v1/mailboxes/{id}/invite"),
    ("/mailboxes/{id}/invite/reveal", "browser: a revealed link is shown once, to a signed-in person, never to a token"),
    ("/mailboxes/{id}/invite/revoke", "DELETE /api/v1/mailboxes/{id}/invite"),
    ("/mailboxes/{id}/reset", "POST /api/v1/mailboxes/{id}/reset"),
    ("/mailboxes/{id}/lock", "POST /api/v1/mailboxes/{id}/reset"),
    ("/mailboxes/{id}/edit", "PATCH /api/v1/mailboxes/{id}"),
    ("/mailboxes/{id}/unlock", "POST /api/v1/mailboxes/{id}/unlock"),
    ("/mailboxes/{id}/retention", "POST /api/v1/mailboxes/{id}/retention"),
    ("/mailboxes/{id}/offboard", "POST /api/v1/mailboxes/{id}/offboard"),
    ("/mailboxes/{id}/identities", "POST /api/v1/mailboxes/{id}/identities"),
    ("/mailboxes/{id}/delegations", "POST /api/v1/mailboxes/{id}/delegations"),
    ("/mailboxes/{id}/delegations/{delegate}/revoke", "DELETE /api/v1/mailboxes/{id}/delegations/{delegate}"),
    ("/mailboxes/{id}/identities/{idn}/remove", "DELETE /api/v1/mailboxes/{id}/identities/{idn}"),
    ("/mailboxes/{id}/app-passwords/{ap}/revoke", "DELETE /api/v1/mailboxes/{id}/app-passwords/{ap}"),
    ("/tenants/{slug}/invite-reveal", "PUT /api/v1/tenants/{id}/invite-reveal"),
    ("/approvals/{id}/approve", "POST /api/v1/changes/{id}/approve"),
    ("/approvals/{id}/reject", "POST /api/v1/changes/{id}/reject"),
    ("/approvals/{id}/rollback", "POST /api/v1/changes/{id}/rollback"),
    ("/approvals/{id}/cancel", "POST /api/v1/changes/{id}/cancel"),
    ("/routing", "POST /api/v1/routes"),
    ("/routing/{id}/disable", "POST /api/v1/routes/{id}/disable"),
    ("/tenants/{slug}/routing-policy", "PATCH /api/v1/tenants/{id}/routing-policy"),
];

/// Every console form has a REST twin in the matrix (same gate, same service), or is one of
/// the few browser-only ones with its reason; a new form without either fails here.
#[test]
fn every_console_form_has_a_rest_twin() {
    let rows = table();
    let forms: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| matches!(r.kind, Form))
        .map(|r| r.route)
        .collect();
    let method = |k: Kind| match k {
        Get => Some("GET"),
        Post => Some("POST"),
        Patch => Some("PATCH"),
        Put => Some("PUT"),
        Delete => Some("DELETE"),
        _ => None,
    };
    let rest: std::collections::BTreeSet<String> = rows
        .iter()
        .filter_map(|r| method(r.kind).map(|m| format!("{m} {}", r.route)))
        .collect();
    let mut problems = Vec::new();
    for f in &forms {
        match TWINS.iter().find(|(form, _)| form == f) {
            None => problems.push(format!("{f}: no REST twin and no browser-only reason")),
            Some((_, twin)) if twin.starts_with("browser: ") => {}
            Some((_, twin)) if !rest.contains(*twin) => {
                problems.push(format!("{f}: its twin {twin} is not in the matrix"))
            }
            Some(_) => {}
        }
    }
    for (form, _) in TWINS {
        if !forms.contains(form) {
            problems.push(format!("{form}: listed in TWINS but no such console form"));
        }
    }
    let browser_only = TWINS
        .iter()
        .filter(|(_, t)| t.starts_with("browser: "))
        .count();
    assert!(
        browser_only <= 5,
        "browser-only stays a short list: {browser_only}"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
