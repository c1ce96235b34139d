//! Form endpoints for tenants and domains (plain POST + 303).
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::service::{self, NewTenant};
use crate::auth::web::{done, failed, Caller};
use crate::core::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create_tenant))
        .route("/tenants/{slug}/plan", post(change_plan))
        .route("/tenants/{slug}/status", post(tenant_status))
        .route("/tenants/{slug}/domains", post(add_domain))
        .route("/domains/{id}/status", post(domain_status))
        .route(
            "/domains/{id}/activate-unverified",
            post(activate_unverified),
        )
        .route("/domains/{id}/remove", post(remove_domain))
        .route("/tenants/{slug}/people", post(invite_person))
        .route("/tenants/{slug}/invites/{id}/reveal", post(reveal_invite))
        .route("/tenants/{slug}/invites/{id}/revoke", post(revoke_invite))
        .route("/plans", post(create_plan))
        .route("/plans/{id}/retire", post(retire_plan))
        .route("/plans/{id}/reinstate", post(reinstate_plan))
}

#[derive(Deserialize)]
struct PlanCatalogueForm {
    name: String,
    max_domains: String,
    storage_gb: String,
    #[serde(default)]
    managed_smtp: Option<String>,
    #[serde(default)]
    send_per_hour_mailbox: Option<String>,
    #[serde(default)]
    send_per_hour_tenant: Option<String>,
}

async fn create_plan(c: Caller, Form(f): Form<PlanCatalogueForm>) -> Response {
    // A limit left empty takes the default; anything else must be a whole number.
    let whole = |v: &Option<String>, field: &'static str, default: i64| match v
        .as_deref()
        .map(|v| v.trim().replace([',', '_', ' '], ""))
    {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v.parse::<i64>().map_err(|_| {
            crate::core::AppError::invalid_field(
                field,
                "Give the messages per hour as a whole number, e.g. 200.",
            )
        }),
    };
    let defaults = service::NewPlan::default();
    let parsed = (
        f.max_domains.trim().parse::<i64>(),
        f.storage_gb.trim().replace(',', ".").parse::<f64>(),
    );
    let r = match parsed {
        (Ok(max_domains), Ok(storage_gb)) => {
            match (
                whole(
                    &f.send_per_hour_mailbox,
                    "send_per_hour_mailbox",
                    defaults.send_per_hour_mailbox,
                ),
                whole(
                    &f.send_per_hour_tenant,
                    "send_per_hour_tenant",
                    defaults.send_per_hour_tenant,
                ),
            ) {
                (Ok(send_per_hour_mailbox), Ok(send_per_hour_tenant)) => {
                    let new = service::NewPlan {
                        name: f.name,
                        max_domains,
                        storage_gb,
                        managed_smtp: f.managed_smtp.is_some(),
                        send_per_hour_mailbox,
                        send_per_hour_tenant,
                    };
                    service::create_plan(&c.st, &c.actor(), &new).await
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        _ => Err(crate::core::AppError::invalid(
            "Give the domains as a whole number and the storage in GB, e.g. 25 or 2.5.",
        )),
    };
    c.answer(r, "/plans", "Plan added to the catalogue.", "/plans")
        .await
}

async fn retire_plan(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::set_plan_retired(&c.st, &c.actor(), &id, true).await;
    c.answer(
        r,
        "/plans",
        "Plan retired: new tenants cannot choose it; tenants on it keep it until moved.",
        "/plans",
    )
    .await
}

async fn reinstate_plan(c: Caller, Path(id): Path<String>) -> Response {
    let r = service::set_plan_retired(&c.st, &c.actor(), &id, false).await;
    c.answer(r, "/plans", "Plan offered again.", "/plans").await
}

async fn create_tenant(c: Caller, Form(f): Form<NewTenant>) -> Response {
    match service::create_tenant(&c.st, &c.actor(), &f).await {
        Ok(t) => {
            done(
                &c.session,
                &format!("/tenants/{}", t.slug),
                &format!("Tenant {} created on {}.", t.name, t.plan_name),
            )
            .await
        }
        Err(e) => failed(&c.session, "/tenants", e).await,
    }
}

#[derive(Deserialize)]
struct PlanForm {
    plan_id: String,
}

async fn change_plan(c: Caller, Path(slug): Path<String>, Form(f): Form<PlanForm>) -> Response {
    let back = format!("/tenants/{slug}");
    match service::change_plan(&c.st, &c.actor(), &slug, &f.plan_id).await {
        Ok(t) => {
            done(
                &c.session,
                &back,
                &format!("{} is now on {}.", t.name, t.plan_name),
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

async fn tenant_status(c: Caller, Path(slug): Path<String>, Form(f): Form<StatusForm>) -> Response {
    let back = format!("/tenants/{slug}");
    let r = service::set_tenant_status(&c.st, &c.actor(), &slug, &f.status).await;
    let msg = if f.status == "suspended" {
        "Tenant suspended."
    } else {
        "Tenant resumed."
    };
    c.answer(r, &back, msg, &back).await
}

#[derive(Deserialize)]
struct DomainForm {
    name: String,
    #[serde(default)]
    category: String,
}

async fn add_domain(c: Caller, Path(slug): Path<String>, Form(f): Form<DomainForm>) -> Response {
    let back = format!("/tenants/{slug}");
    match service::add_domain(&c.st, &c.actor(), &slug, &f.name, &f.category).await {
        Ok(d) => {
            done(
                &c.session,
                &back,
                &format!(
                    "{} added. It stays pending until its DNS challenge record is seen: the record is on its DNS page.",
                    d.unicode_name
                ),
            )
            .await
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

async fn domain_status(c: Caller, Path(id): Path<String>, Form(f): Form<StatusForm>) -> Response {
    match service::set_domain_status(&c.st, &c.actor(), &id, &f.status).await {
        Ok(d) => {
            done(
                &c.session,
                &format!("/tenants/{}", d.tenant_slug),
                &format!("{} is now {}.", d.unicode_name, d.status),
            )
            .await
        }
        Err(e) => failed(&c.session, "/domains", e).await.into_response(),
    }
}

#[derive(Deserialize)]
struct OverrideForm {
    reason: String,
}

async fn activate_unverified(
    c: Caller,
    Path(id): Path<String>,
    Form(f): Form<OverrideForm>,
) -> Response {
    match service::activate_unverified(&c.st, &c.actor(), &id, &f.reason).await {
        Ok(d) => {
            done(
                &c.session,
                &format!("/domains/{}", d.id),
                &format!(
                    "{} is active without DNS verification; the reason is in the audit log.",
                    d.unicode_name
                ),
            )
            .await
        }
        Err(e) => failed(&c.session, &format!("/domains/{id}"), e)
            .await
            .into_response(),
    }
}

#[derive(Deserialize)]
struct PersonForm {
    email: String,
    role: String,
}

async fn invite_person(c: Caller, Path(slug): Path<String>, Form(f): Form<PersonForm>) -> Response {
    let back = format!("/tenants/{slug}");
    let r =
        crate::auth::service::invite_tenant_user(&c.st, &c.actor(), &slug, &f.email, &f.role).await;
    let msg = match &r {
        Ok(created) if created.emailed => "Invitation sent by email.",
        _ => "Invitation created. Outgoing mail is not configured: reveal the link once and hand it over yourself.",
    };
    c.answer(r, &back, msg, &back).await
}

async fn reveal_invite(c: Caller, Path((slug, id)): Path<(String, String)>) -> Response {
    let back = format!("/tenants/{slug}");
    match crate::auth::service::reveal_invite(&c.st, &c.actor(), &id).await {
        Ok(link) => {
            let fresh = crate::auth::FreshSecret {
                label: "Invitation link (works once)".into(),
                value: link,
            };
            let _ = c
                .session
                .insert(crate::auth::sessions::FRESH_SECRET, fresh)
                .await;
            axum::response::Redirect::to(&back).into_response()
        }
        Err(e) => failed(&c.session, &back, e).await,
    }
}

async fn revoke_invite(c: Caller, Path((slug, id)): Path<(String, String)>) -> Response {
    let back = format!("/tenants/{slug}");
    let r = crate::auth::service::revoke_invite(&c.st, &c.actor(), &id).await;
    c.answer(r, &back, "Invitation revoked.", &back).await
}

async fn remove_domain(c: Caller, Path(id): Path<String>) -> Response {
    match service::remove_domain(&c.st, &c.actor(), &id).await {
        Ok(d) => {
            done(
                &c.session,
                &format!("/tenants/{}", d.tenant_slug),
                &format!("{} removed; its plan slot is free again.", d.unicode_name),
            )
            .await
        }
        Err(e) => failed(&c.session, &format!("/domains/{id}"), e).await,
    }
}
