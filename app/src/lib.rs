//! Mailward: the application (pages, server functions, services, stores).
#![recursion_limit = "512"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

pub mod audit;
pub mod auth;
pub mod changes;
pub mod dashboard;
pub mod dns;
pub mod domain_control;
pub mod imports;
pub mod incidents;
pub mod mailboxes;
pub mod monitoring;
pub mod outbound;
pub mod portal;
pub mod routing;
pub mod tenancy;
pub mod types;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod core;
#[cfg(feature = "ssr")]
pub mod ssr;

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <HydrationScripts options islands=true/>
                <leptos_meta::MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Async SSR: every page is complete HTML on arrival, so it works without JavaScript.
    let ssr = SsrMode::Async;
    view! {
        <Link rel="stylesheet" href="/pkg/mailward.css"/>
        <Link rel="icon" href="/favicon.svg"/>
        <Title text="Mailward"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=dashboard::DashboardPage ssr=ssr.clone()/>
                <Route path=path!("/login") view=auth::pages::LoginPage ssr=ssr.clone()/>
                <Route path=path!("/login/verify") view=auth::pages::VerifyPage ssr=ssr.clone()/>
                <Route path=path!("/invite/:token") view=auth::pages::InvitePage ssr=ssr.clone()/>
                <Route path=path!("/welcome/recovery-codes") view=auth::pages::RecoveryCodesPage ssr=ssr.clone()/>
                <Route path=path!("/account") view=auth::pages::AccountPage ssr=ssr.clone()/>
                <Route path=path!("/account/sessions") view=auth::pages::SessionsPage ssr=ssr.clone()/>
                <Route path=path!("/account/tokens") view=auth::pages::TokensPage ssr=ssr.clone()/>
                <Route path=path!("/operators") view=auth::pages::OperatorsPage ssr=ssr.clone()/>
                <Route path=path!("/audit") view=audit::pages::AuditLogPage ssr=ssr.clone()/>
                <Route path=path!("/tenants") view=tenancy::pages::TenantsListPage ssr=ssr.clone()/>
                <Route path=path!("/tenants/:slug") view=tenancy::pages::TenantDetailPage ssr=ssr.clone()/>
                <Route path=path!("/domains") view=dashboard::DashboardPage ssr=ssr.clone()/>
                <Route path=path!("/domains/:name") view=tenancy::pages::DomainDetailPage ssr=ssr.clone()/>
                <Route path=path!("/domains/:name/dns") view=dns::pages::DomainDnsPage ssr=ssr.clone()/>
                <Route path=path!("/domains/:name/control") view=domain_control::pages::ControlPageView ssr=ssr.clone()/>
                <Route path=path!("/dns/templates") view=dns::pages::TemplatesPageView ssr=ssr.clone()/>
                <Route path=path!("/dns/bulk") view=dns::pages::BulkListPageView ssr=ssr.clone()/>
                <Route path=path!("/dns/bulk/:id") view=dns::pages::BulkPlanPageView ssr=ssr.clone()/>
                <Route path=path!("/alerts") view=monitoring::pages::AlertsPageView ssr=ssr.clone()/>
                <Route path=path!("/alerts/destinations") view=monitoring::pages::DestinationsPageView ssr=ssr.clone()/>
                <Route path=path!("/alerts/rules") view=monitoring::pages::RulesPageView ssr=ssr.clone()/>
                <Route path=path!("/incidents") view=incidents::pages::IncidentsPageView ssr=ssr.clone()/>
                <Route path=path!("/incidents/:id") view=incidents::pages::IncidentPageView ssr=ssr.clone()/>
                <Route path=path!("/incidents/:id/postmortem") view=incidents::pages::PostmortemPageView ssr=ssr.clone()/>
                <Route path=path!("/portal") view=portal::PortalPage ssr=ssr.clone()/>
                <Route path=path!("/plans") view=tenancy::pages::PlansPage ssr=ssr.clone()/>
                <Route path=path!("/mailboxes") view=mailboxes::pages::MailboxesListPage ssr=ssr.clone()/>
                <Route path=path!("/mailboxes/:id") view=mailboxes::pages::MailboxDetailPage ssr=ssr.clone()/>
                <Route path=path!("/imports/:id") view=imports::pages::ImportDetailPage ssr=ssr.clone()/>
                <Route path=path!("/approvals") view=changes::pages::ApprovalsQueuePage ssr=ssr.clone()/>
                <Route path=path!("/routing") view=routing::pages::RoutingPageView ssr=ssr.clone()/>
                <Route path=path!("/routing/report") view=routing::pages::PersistenceReportPage ssr=ssr.clone()/>
                <Route path=path!("/routing/confirm/:token") view=routing::pages::RouteConfirmPage ssr=ssr.clone()/>
                <Route path=path!("/activate/:token") view=mailboxes::pages::ActivatePage ssr=ssr.clone()/>
                <Route path=path!("/me") view=mailboxes::me::OwnerHomePage ssr=ssr.clone()/>
                <Route path=path!("/me/login") view=mailboxes::me::OwnerLoginPage ssr=ssr.clone()/>
                <Route path=path!("/me/reset") view=mailboxes::me::SelfResetPage ssr=ssr.clone()/>
                <Route path=path!("/me/recovery-codes") view=mailboxes::me::OwnerCodesPage ssr=ssr.clone()/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <div class="min-h-screen flex flex-col items-center justify-center bg-zinc-50 text-zinc-900">
            <p class="text-sm text-zinc-500">"404"</p>
            <h1 class="mt-1 text-xl font-semibold">"There is nothing here"</h1>
            <a class="mt-4 link" href="/">"Back to the dashboard"</a>
        </div>
    }
}
