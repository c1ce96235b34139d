//! Tenancy use cases: authorize → validate → store (limits enforced in SQL) → audit, in one
//! transaction.
use serde::Deserialize;

use super::{
    store, Domain, DomainBrowse, DomainName, DomainQuery, Plan, Tenant, DOMAIN_CATEGORIES,
};
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor};
use crate::core::secrets::new_id;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::EmailAddress;
use crate::types::LiveStatus;

pub async fn plans(st: &AppState, actor: &Actor) -> AppResult<Vec<Plan>> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::plans(&st.db, &g).await
}

/// The tenants the actor may see.
pub async fn tenants(st: &AppState, actor: &Actor) -> AppResult<Vec<Tenant>> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::tenants(&st.db, &g).await
}

/// A tenant by id or slug, then the decision for `action` on it: outside the actor's scope
/// it is not found, inside it the role decides.
pub(crate) async fn tenant_for(
    st: &AppState,
    actor: &Actor,
    key: &str,
    action: Action,
) -> AppResult<Tenant> {
    let view = authorize(actor, Action::ViewTenants)?;
    let t = store::tenant(&st.db, &view, key)
        .await?
        .ok_or(AppError::NotFound)?;
    authorize_in(actor, action, &t.id)?;
    Ok(t)
}

/// A tenant by id or slug, with its domains.
pub async fn tenant(st: &AppState, actor: &Actor, key: &str) -> AppResult<(Tenant, Vec<Domain>)> {
    let t = tenant_for(st, actor, key, Action::ViewTenants).await?;
    let g = authorize_in(actor, Action::ViewTenants, &t.id)?;
    let d = store::domains(&st.db, &g, Some(&t.id), None).await?;
    Ok((t, d))
}

/// The API's page of domains: by ASCII name after `after`, at most `limit` (1–1000, default
/// [`DOMAIN_PAGE`]), and whether more follow.
pub async fn domains(
    st: &AppState,
    actor: &Actor,
    search: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> AppResult<(Vec<Domain>, bool)> {
    let g = authorize(actor, Action::ViewTenants)?;
    let limit = match limit {
        None => DOMAIN_PAGE,
        Some(n @ 1..=1000) => n,
        Some(_) => return Err(AppError::invalid("limit: from 1 to 1000")),
    };
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    let after = after.filter(|a| !a.is_empty());
    let mut rows = store::domains_page(&st.db, &g, None, search, after, Some(limit + 1)).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Domains per API page when the caller names no limit.
pub const DOMAIN_PAGE: i64 = 500;

/// (tenants, domains, mailboxes) in the actor's reach.
pub async fn totals(st: &AppState, actor: &Actor) -> AppResult<(i64, i64, i64)> {
    let g = authorize(actor, Action::ViewTenants)?;
    store::totals(&st.db, &g).await
}

/// A page of the domain overview (search, filters, sort, paging), within the actor's scope.
pub async fn browse_domains(
    st: &AppState,
    actor: &Actor,
    q: &DomainQuery,
) -> AppResult<DomainBrowse> {
    let g = authorize(actor, Action::ViewTenants)?;
    let query = q.normalized();
    let ((rows, total), tenants) = tokio::try_join!(
        store::browse_domains(&st.db, &g, &query),
        store::tenant_names(&st.db, &g)
    )?;
    Ok(DomainBrowse {
        rows,
        total,
        query,
        tenants,
    })
}

pub async fn domain(st: &AppState, actor: &Actor, key: &str) -> AppResult<Domain> {
    let g = authorize(actor, Action::ViewTenants)?;
    let d = store::domain(&st.db, &g, key)
        .await?
        .ok_or(AppError::NotFound)?;
    authorize_in(actor, Action::ViewTenants, &d.tenant_id)?;
    Ok(d)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewTenant {
    pub name: String,
    /// Short identifier for URLs; made from the name when empty.
    #[serde(default)]
    pub slug: Option<String>,
    pub plan_id: String,
    #[serde(default)]
    pub contact_name: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
}

/// `Acme Corp.` → `acme-corp`.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub async fn create_tenant(st: &AppState, actor: &Actor, new: &NewTenant) -> AppResult<Tenant> {
    let g = authorize(actor, Action::ManageTenants)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid_field(
            "name",
            "Give the tenant a name (at most 100 characters).",
        ));
    }
    let slug = match clean(new.slug.as_deref()) {
        Some(s) => {
            if s.len() < 2 || s.len() > 40 || slugify(&s) != s {
                return Err(AppError::invalid_field(
                    "slug",
                    "The short name may hold 2–40 lower-case letters, digits and single hyphens.",
                ));
            }
            s
        }
        None => slugify(name),
    };
    if slug.len() < 2 {
        return Err(AppError::invalid_field(
            "slug",
            "Choose a short name of at least 2 letters or digits.",
        ));
    }
    let contact_email = match clean(new.contact_email.as_deref()) {
        Some(e) => Some(
            EmailAddress::parse(&e)
                .map_err(|m| AppError::invalid_field("contact_email", m))?
                .to_string(),
        ),
        None => None,
    };
    let contact_name = clean(new.contact_name.as_deref());
    if store::slug_taken(&st.db, &slug).await? {
        return Err(AppError::Conflict(format!(
            "The short name “{slug}” is taken by another tenant."
        )));
    }
    let now = st.clock.now();
    let id = new_id("ten");
    let mut tx = st.db.begin().await?;
    let plan = store::plan(tx.conn(), &new.plan_id)
        .await?
        .filter(|p| !p.retired)
        .ok_or_else(|| AppError::invalid_field("plan_id", "Choose one of the current plans."))?;
    store::insert_tenant(
        tx.conn(),
        &g,
        &id,
        name,
        &slug,
        &plan.id,
        contact_name.as_deref(),
        contact_email.as_deref(),
        now,
    )
    .await
    .map_err(|e| match e {
        AppError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => AppError::Conflict(
            format!("The short name “{slug}” is taken by another tenant."),
        ),
        e => e,
    })?;
    let ev = Event::new("tenant.created")
        .target(id.clone())
        .details(serde_json::json!({
            "name": name, "slug": slug, "plan": plan.name,
        }))
        .tenant(id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    store::tenant_created(&st.db, &g, &id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Moves a tenant to another plan; refused (with how much is over) when its use does not fit.
pub async fn change_plan(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    plan_id: &str,
) -> AppResult<Tenant> {
    let t = tenant_for(st, actor, tenant_key, Action::ManageTenants).await?;
    let g = authorize_in(actor, Action::ManageTenants, &t.id)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let plan = store::plan(tx.conn(), plan_id)
        .await?
        .filter(|p| !p.retired || p.id == t.plan_id)
        .ok_or_else(|| AppError::invalid("Choose one of the current plans."))?;
    if plan.id == t.plan_id {
        return Err(AppError::invalid(format!(
            "{} is already on {}.",
            t.name, plan.name
        )));
    }
    if !store::set_plan_if_fits(tx.conn(), &g, &t.id, &plan.id, now).await? {
        // Re-read so the message states the current use.
        let fresh = store::tenant(&st.db, &g, &t.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut over = vec![];
        if fresh.domain_count > plan.max_domains {
            over.push(format!(
                "it has {} domains and {} allows {} ({} too many)",
                fresh.domain_count,
                plan.name,
                plan.max_domains,
                fresh.domain_count - plan.max_domains
            ));
        }
        let used = fresh.storage_allocated.max(fresh.storage_used.unwrap_or(0));
        if used > plan.storage_bytes {
            over.push(format!(
                "it uses {} of storage and {} holds {} ({} too much)",
                super::format_bytes(used),
                plan.name,
                super::format_bytes(plan.storage_bytes),
                super::format_bytes(used - plan.storage_bytes)
            ));
        }
        return Err(AppError::Conflict(format!(
            "{} cannot move to {}: {}.",
            t.name,
            plan.name,
            if over.is_empty() {
                "its use changed meanwhile; try again".to_string()
            } else {
                over.join("; ")
            }
        )));
    }
    let ev = Event::new("tenant.plan_changed")
        .target(t.id.clone())
        .details(serde_json::json!({
            "before": t.plan_name, "after": plan.name,
        }))
        .tenant(t.id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    store::tenant(&st.db, &g, &t.id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn set_tenant_status(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    status: &str,
) -> AppResult<()> {
    let t = tenant_for(st, actor, tenant_key, Action::ManageTenants).await?;
    let g = authorize_in(actor, Action::ManageTenants, &t.id)?;
    if !["active", "suspended"].contains(&status) {
        return Err(AppError::invalid("A tenant is either active or suspended."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::set_tenant_status(tx.conn(), &g, &t.id, status, now).await? {
        return Err(AppError::invalid(format!(
            "{} is already {status}.",
            t.name
        )));
    }
    let ev = Event::new(if status == "suspended" {
        "tenant.suspended"
    } else {
        "tenant.resumed"
    })
    .target(t.id.clone())
    .details(serde_json::json!({ "before": t.status, "after": status }))
    .tenant(t.id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

/// Adds a domain to a tenant: a valid, new name, within the plan's domain limit (taken
/// atomically, so two concurrent requests cannot both take the last slot).
pub async fn add_domain(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    name: &str,
    category: &str,
) -> AppResult<Domain> {
    let t = tenant_for(st, actor, tenant_key, Action::ManageDomains).await?;
    let g = authorize_in(actor, Action::ManageDomains, &t.id)?;
    let dn = DomainName::parse(name).map_err(|m| AppError::invalid_field("name", m))?;
    let category = if category.trim().is_empty() {
        "standard"
    } else {
        category.trim()
    };
    if !DOMAIN_CATEGORIES.iter().any(|(k, _)| *k == category) {
        return Err(AppError::invalid_field(
            "category",
            "Choose one of the listed categories.",
        ));
    }
    if t.status != "active" {
        return Err(AppError::Conflict(format!(
            "{} is suspended; resume it before adding domains.",
            t.name
        )));
    }
    let now = st.clock.now();
    let id = new_id("dom");
    let mut tx = st.db.begin().await?;
    if store::domain_exists(tx.conn(), &dn.ascii).await? {
        return Err(AppError::Conflict(format!(
            "{} is already managed in Mailward.",
            dn.unicode
        )));
    }
    if !store::take_domain_slot(tx.conn(), &g, &t.id, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is on {}, which allows {} domain{}, and all are in use. Move it to a larger plan first.",
            t.name,
            t.plan_name,
            t.max_domains,
            if t.max_domains == 1 { "" } else { "s" }
        )));
    }
    store::insert_domain(
        tx.conn(),
        &g,
        &id,
        &t.id,
        &dn.ascii,
        &dn.unicode,
        category,
        now,
    )
    .await
    .map_err(|e| match e {
        AppError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            AppError::Conflict(format!("{} is already managed in Mailward.", dn.unicode))
        }
        e => e,
    })?;
    let ev = Event::new("domain.added")
        .target(id.clone())
        .details(serde_json::json!({
            "domain": dn.ascii, "unicode": dn.unicode, "category": category, "catch_all": false,
        }))
        .tenant(t.id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    store::domain(&st.db, &g, &id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn set_domain_status(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    status: &str,
) -> AppResult<Domain> {
    let view = authorize(actor, Action::ViewTenants)?;
    let d = store::domain(&st.db, &view, domain_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    if !["active", "suspended"].contains(&status) {
        return Err(AppError::invalid("A domain can be activated or suspended."));
    }
    if status == "active" && d.status == LiveStatus::Pending && d.verified.is_none() {
        let (name, value) = d.challenge();
        return Err(AppError::Conflict(format!(
            "{} is not verified yet. Publish the TXT record {name} \"{value}\" and check its DNS: \
             it activates by itself once the record is seen. An owner can activate it without, \
             giving a reason.",
            d.unicode_name
        )));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if store::set_domain_status(tx.conn(), &g, &d.id, status, now)
        .await?
        .is_none()
    {
        return Err(AppError::invalid(format!(
            "{} is already {status}.",
            d.unicode_name
        )));
    }
    let ev = Event::new(if status == "active" {
        "domain.activated"
    } else {
        "domain.suspended"
    })
    .target(d.id.clone())
    .details(serde_json::json!({ "domain": d.name, "before": d.status, "after": status }))
    .tenant(d.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    store::domain(&st.db, &g, &d.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// An owner activates a pending domain whose challenge record was not seen (a registrar that
/// cannot publish TXT records, a migration under time pressure). The reason is kept in the
/// audit event; the domain shows `verified: override` until its record is seen.
pub async fn activate_unverified(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    reason: &str,
) -> AppResult<Domain> {
    let view = authorize(actor, Action::ViewTenants)?;
    let d = store::domain(&st.db, &view, domain_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::OverrideVerification, &d.tenant_id)?;
    let reason = reason.trim();
    if reason.chars().count() < 5 {
        return Err(AppError::invalid(
            "Say why this domain may receive mail without proof of its DNS (at least 5 characters).",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::activate_unverified(tx.conn(), &g, &d.id, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is not a pending, unverified domain (any more): look again.",
            d.unicode_name
        )));
    }
    let ev = Event::new("domain.activated")
        .target(d.id.clone())
        .details(serde_json::json!({
            "domain": d.name, "before": d.status, "after": "active",
            "verified": "override", "reason": reason,
        }))
        .tenant(d.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    store::domain(&st.db, &g, &d.id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Removes a domain from its tenant (freeing a plan slot). Only a domain that receives no
/// mail (pending or suspended) and holds no mailboxes can go; the event keeps what it was.
pub async fn remove_domain(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<Domain> {
    let view = authorize(actor, Action::ViewTenants)?;
    let d = store::domain(&st.db, &view, domain_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    if d.status == "active" {
        return Err(AppError::Conflict(format!(
            "{} is active: suspend it first, so that removing it cannot surprise anyone.",
            d.unicode_name
        )));
    }
    if d.mailbox_count > 0 {
        return Err(AppError::Conflict(format!(
            "{} still has {} mailbox{}; offboard {} first.",
            d.unicode_name,
            d.mailbox_count,
            if d.mailbox_count == 1 { "" } else { "es" },
            if d.mailbox_count == 1 { "it" } else { "them" }
        )));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::remove_domain(tx.conn(), &g, &d.id, now).await? {
        return Err(AppError::Conflict(format!(
            "{} changed meanwhile; look again before removing it.",
            d.unicode_name
        )));
    }
    let ev = Event::new("domain.removed")
        .target(d.id.clone())
        .details(serde_json::json!({
            "before": { "domain": d.name, "unicode": d.unicode_name, "status": d.status,
                        "category": d.category, "catch_all": d.catch_all },
        }))
        .tenant(d.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(d)
}

#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewPlan {
    pub name: String,
    /// Domains a tenant on this plan may have (1–10,000).
    pub max_domains: i64,
    /// Pooled storage in GB (decimal, 1 GB = 10⁹ bytes; fractions allowed, e.g. 0.5).
    pub storage_gb: f64,
    #[serde(default)]
    pub managed_smtp: bool,
    /// Messages one mailbox may submit per hour (1–1,000,000; default 200).
    #[serde(default = "default_send_mailbox")]
    pub send_per_hour_mailbox: i64,
    /// Messages a whole tenant may submit per hour (1–10,000,000, at least the mailbox
    /// figure; default 2,000).
    #[serde(default = "default_send_tenant")]
    pub send_per_hour_tenant: i64,
}

impl Default for NewPlan {
    fn default() -> Self {
        NewPlan {
            name: String::new(),
            max_domains: 1,
            storage_gb: 1.0,
            managed_smtp: false,
            send_per_hour_mailbox: default_send_mailbox(),
            send_per_hour_tenant: default_send_tenant(),
        }
    }
}

fn default_send_mailbox() -> i64 {
    200
}

fn default_send_tenant() -> i64 {
    2000
}

/// Adds a plan to the catalogue (owner only). Tenants choose it from then on.
pub async fn create_plan(st: &AppState, actor: &Actor, new: &NewPlan) -> AppResult<Plan> {
    let g = authorize(actor, Action::ManagePlans)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(AppError::invalid(
            "Give the plan a name (at most 40 characters).",
        ));
    }
    if !(1..=10_000).contains(&new.max_domains) {
        return Err(AppError::invalid(
            "A plan allows between 1 and 10,000 domains.",
        ));
    }
    if !new.storage_gb.is_finite() || new.storage_gb < 0.001 || new.storage_gb > 1_000_000.0 {
        return Err(AppError::invalid(
            "Give the pooled storage in GB, between 0.001 and 1,000,000.",
        ));
    }
    if !(1..=1_000_000).contains(&new.send_per_hour_mailbox) {
        return Err(AppError::invalid_field(
            "send_per_hour_mailbox",
            "A mailbox may send between 1 and 1,000,000 messages an hour.",
        ));
    }
    if !(new.send_per_hour_mailbox..=10_000_000).contains(&new.send_per_hour_tenant) {
        return Err(AppError::invalid_field(
            "send_per_hour_tenant",
            "A tenant may send at least as many messages an hour as one of its mailboxes, and at most 10,000,000.",
        ));
    }
    let storage_bytes = (new.storage_gb * 1e9).round() as i64;
    let now = st.clock.now();
    let id = new_id("plan");
    let mut tx = st.db.begin().await?;
    if store::plan_name_taken(tx.conn(), name).await? {
        return Err(AppError::Conflict(format!(
            "There is already a plan called “{name}”."
        )));
    }
    store::insert_plan(
        tx.conn(),
        &g,
        &id,
        name,
        new.max_domains,
        storage_bytes,
        new.managed_smtp,
        (new.send_per_hour_mailbox, new.send_per_hour_tenant),
        now,
    )
    .await?;
    record(
        &mut tx,
        g.actor,
        now,
        Event::new("plan.created")
            .target(id.clone())
            .details(serde_json::json!({
                "name": name, "max_domains": new.max_domains, "storage_bytes": storage_bytes,
                "managed_smtp": new.managed_smtp,
                "send_per_hour_mailbox": new.send_per_hour_mailbox,
                "send_per_hour_tenant": new.send_per_hour_tenant,
            })),
    )
    .await?;
    let plan = store::plan(tx.conn(), &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(plan)
}

/// Retires a plan (no new tenant can choose it; tenants on it keep it until moved) or
/// reinstates it.
pub async fn set_plan_retired(
    st: &AppState,
    actor: &Actor,
    plan_id: &str,
    retired: bool,
) -> AppResult<Plan> {
    let g = authorize(actor, Action::ManagePlans)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let plan = store::plan(tx.conn(), plan_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !store::set_plan_retired(tx.conn(), &g, &plan.id, retired.then_some(now)).await? {
        return Err(AppError::invalid(format!(
            "{} is already {}.",
            plan.name,
            if retired { "retired" } else { "offered" }
        )));
    }
    record(
        &mut tx,
        g.actor,
        now,
        Event::new(if retired {
            "plan.retired"
        } else {
            "plan.reinstated"
        })
        .target(plan.id.clone())
        .details(serde_json::json!({ "name": plan.name, "tenants_on_it": plan.tenants })),
    )
    .await?;
    let plan = store::plan(tx.conn(), &plan.id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::slugify;
    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  Müller & Söhne GmbH "), "m-ller-s-hne-gmbh");
        assert_eq!(slugify("--"), "");
    }
}
