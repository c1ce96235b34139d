//! SQL for plans, tenants and domains. Limits are enforced here with conditional updates,
//! so concurrent requests cannot push a tenant past its plan.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Domain, Plan, Tenant};
use crate::core::authz::Granted;
use crate::core::db::Db;
use crate::core::AppResult;

fn plan_row(r: &AnyRow) -> Result<Plan, sqlx::Error> {
    Ok(Plan {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        max_domains: r.try_get("max_domains")?,
        storage_bytes: r.try_get("storage_bytes")?,
        managed_smtp: r.try_get::<i64, _>("managed_smtp")? != 0,
        retired: r.try_get::<Option<i64>, _>("retired_at")?.is_some(),
        tenants: r.try_get("tenants")?,
    })
}

pub async fn plans(db: &Db, _g: &Granted<'_>) -> AppResult<Vec<Plan>> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.max_domains, p.storage_bytes, p.managed_smtp, p.retired_at, \
         (SELECT COUNT(*) FROM tenants t WHERE t.plan_id = p.id) AS tenants \
         FROM plans p ORDER BY p.position, p.name",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(plan_row).collect::<Result<_, _>>()?)
}

pub async fn plan(c: &mut AnyConnection, id: &str) -> AppResult<Option<Plan>> {
    let r = sqlx::query(
        "SELECT p.id, p.name, p.max_domains, p.storage_bytes, p.managed_smtp, p.retired_at, \
         (SELECT COUNT(*) FROM tenants t WHERE t.plan_id = p.id) AS tenants FROM plans p WHERE p.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.as_ref().map(plan_row).transpose()?)
}

const TENANT_COLS: &str = "t.id, t.name, t.slug, t.status, t.plan_id, p.name AS plan_name, \
    p.max_domains, p.storage_bytes, t.contact_name, t.contact_email, t.domain_count, \
    t.storage_allocated, t.storage_used, t.created_at";

fn tenant_row(r: &AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        status: r.try_get("status")?,
        plan_id: r.try_get("plan_id")?,
        plan_name: r.try_get("plan_name")?,
        max_domains: r.try_get("max_domains")?,
        storage_bytes: r.try_get("storage_bytes")?,
        contact_name: r.try_get("contact_name")?,
        contact_email: r.try_get("contact_email")?,
        domain_count: r.try_get("domain_count")?,
        storage_allocated: r.try_get("storage_allocated")?,
        storage_used: r.try_get("storage_used")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn tenants(db: &Db, _g: &Granted<'_>) -> AppResult<Vec<Tenant>> {
    let rows = sqlx::query(&format!(
        "SELECT {TENANT_COLS} FROM tenants t JOIN plans p ON p.id = t.plan_id ORDER BY t.name"
    ))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(tenant_row).collect::<Result<_, _>>()?)
}

/// By id or slug.
pub async fn tenant(db: &Db, _g: &Granted<'_>, key: &str) -> AppResult<Option<Tenant>> {
    let r = sqlx::query(&format!(
        "SELECT {TENANT_COLS} FROM tenants t JOIN plans p ON p.id = t.plan_id WHERE t.id = $1 OR t.slug = $1"
    ))
    .bind(key.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(r.as_ref().map(tenant_row).transpose()?)
}

pub async fn slug_taken(db: &Db, slug: &str) -> AppResult<bool> {
    Ok(sqlx::query("SELECT 1 AS one FROM tenants WHERE slug = $1")
        .bind(slug.to_string())
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_tenant(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    id: &str,
    name: &str,
    slug: &str,
    plan_id: &str,
    contact_name: Option<&str>,
    contact_email: Option<&str>,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO tenants (id, name, slug, plan_id, status, contact_name, contact_email, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,'active',$5,$6,$7,$7)",
    )
    .bind(id.to_string())
    .bind(name.to_string())
    .bind(slug.to_string())
    .bind(plan_id.to_string())
    .bind(contact_name.map(str::to_string))
    .bind(contact_email.map(str::to_string))
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Moves a tenant to a plan only if its current use fits (checked in the same statement).
pub async fn set_plan_if_fits(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    tenant_id: &str,
    plan_id: &str,
    now: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE tenants SET plan_id = $1, updated_at = $2 WHERE id = $3 \
         AND domain_count <= (SELECT max_domains FROM plans WHERE id = $1) \
         AND storage_allocated <= (SELECT storage_bytes FROM plans WHERE id = $1) \
         AND (storage_used IS NULL OR storage_used <= (SELECT storage_bytes FROM plans WHERE id = $1))",
    )
    .bind(plan_id.to_string())
    .bind(now)
    .bind(tenant_id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_tenant_status(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    tenant_id: &str,
    status: &str,
    now: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1",
    )
    .bind(status.to_string())
    .bind(now)
    .bind(tenant_id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Takes one domain slot of the tenant's plan; false when the plan is full.
pub async fn take_domain_slot(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    tenant_id: &str,
    now: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE tenants SET domain_count = domain_count + 1, updated_at = $1 WHERE id = $2 \
         AND domain_count < (SELECT max_domains FROM plans WHERE plans.id = tenants.plan_id)",
    )
    .bind(now)
    .bind(tenant_id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn domain_exists(c: &mut AnyConnection, ascii: &str) -> AppResult<bool> {
    Ok(sqlx::query("SELECT 1 AS one FROM domains WHERE name = $1")
        .bind(ascii.to_string())
        .fetch_optional(c)
        .await?
        .is_some())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_domain(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    id: &str,
    tenant_id: &str,
    ascii: &str,
    unicode: &str,
    category: &str,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO domains (id, tenant_id, name, unicode_name, status, category, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,'pending',$5,$6,$6)",
    )
    .bind(id.to_string())
    .bind(tenant_id.to_string())
    .bind(ascii.to_string())
    .bind(unicode.to_string())
    .bind(category.to_string())
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn set_domain_status(
    c: &mut AnyConnection,
    _g: &Granted<'_>,
    domain_id: &str,
    status: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let r = sqlx::query(
        "UPDATE domains SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1 RETURNING name",
    )
    .bind(status.to_string())
    .bind(now)
    .bind(domain_id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.try_get("name")).transpose()?)
}

const DOMAIN_COLS: &str =
    "d.id, d.tenant_id, t.name AS tenant_name, t.slug AS tenant_slug, d.name, \
    d.unicode_name, d.status, d.category, d.catch_all_enabled, d.mailbox_count, d.created_at";

fn domain_row(r: &AnyRow) -> Result<Domain, sqlx::Error> {
    Ok(Domain {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        tenant_name: r.try_get("tenant_name")?,
        tenant_slug: r.try_get("tenant_slug")?,
        name: r.try_get("name")?,
        unicode_name: r.try_get("unicode_name")?,
        status: r.try_get("status")?,
        category: r.try_get("category")?,
        catch_all: r.try_get::<i64, _>("catch_all_enabled")? != 0,
        mailbox_count: r.try_get("mailbox_count")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Domains, optionally of one tenant, optionally matching a search term.
pub async fn domains(
    db: &Db,
    _g: &Granted<'_>,
    tenant_id: Option<&str>,
    search: Option<&str>,
) -> AppResult<Vec<Domain>> {
    let mut sql = format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id WHERE 1=1"
    );
    let mut n = 0;
    if tenant_id.is_some() {
        n += 1;
        sql += &format!(" AND d.tenant_id = ${n}");
    }
    if search.is_some() {
        n += 1;
        sql += &format!(
            " AND (d.name LIKE ${n} OR d.unicode_name LIKE ${n} OR LOWER(t.name) LIKE ${n})"
        );
    }
    sql += " ORDER BY d.name";
    let mut q = sqlx::query(&sql);
    if let Some(t) = tenant_id {
        q = q.bind(t.to_string());
    }
    if let Some(s) = search {
        q = q.bind(format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
    }
    let rows = q.fetch_all(db.pool()).await?;
    Ok(rows.iter().map(domain_row).collect::<Result<_, _>>()?)
}

pub async fn domain(db: &Db, _g: &Granted<'_>, id: &str) -> AppResult<Option<Domain>> {
    let r = sqlx::query(&format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id WHERE d.id = $1 OR d.name = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(r.as_ref().map(domain_row).transpose()?)
}
