//! SQL for plans, tenants and domains. Limits are enforced here with conditional updates,
//! so concurrent requests cannot push a tenant past its plan.
use std::collections::{BTreeSet, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Domain, DomainGlance, DomainQuery, Plan, Tenant};
use crate::core::authz::{Action, Granted};
use crate::core::db::{fetch_in, like_term, Db, Where};
use crate::core::{AppError, AppResult};

fn plan_row(r: &AnyRow) -> Result<Plan, sqlx::Error> {
    Ok(Plan {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        max_domains: r.try_get("max_domains")?,
        storage_bytes: r.try_get("storage_bytes")?,
        managed_smtp: r.try_get::<i64, _>("managed_smtp")? != 0,
        send_per_hour_mailbox: r.try_get("send_per_hour_mailbox")?,
        send_per_hour_tenant: r.try_get("send_per_hour_tenant")?,
        retired: r.try_get::<Option<i64>, _>("retired_at")?.is_some(),
        tenants: r.try_get("tenants")?,
    })
}

pub async fn plans(db: &Db, g: &Granted<'_>) -> AppResult<Vec<Plan>> {
    g.require(&[Action::ViewTenants, Action::ManagePlans])?;
    // Tenants on each plan among those the actor sees (a client viewer sees their own).
    let mut w = Where::new();
    let seen = w.scope_cond("t.id", &g.actor.tenants);
    let sql = format!(
        "SELECT p.id, p.name, p.max_domains, p.storage_bytes, p.managed_smtp, p.send_per_hour_mailbox, \
         p.send_per_hour_tenant, p.retired_at, \
         (SELECT COUNT(*) FROM tenants t WHERE t.plan_id = p.id AND {seen}) AS tenants \
         FROM plans p ORDER BY p.position, p.name"
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(plan_row).collect::<Result<_, _>>()?)
}

pub async fn plan(c: &mut AnyConnection, id: &str) -> AppResult<Option<Plan>> {
    let r = sqlx::query(
        "SELECT p.id, p.name, p.max_domains, p.storage_bytes, p.managed_smtp, p.send_per_hour_mailbox, \
         p.send_per_hour_tenant, p.retired_at, \
         (SELECT COUNT(*) FROM tenants t WHERE t.plan_id = p.id) AS tenants FROM plans p WHERE p.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.as_ref().map(plan_row).transpose()?)
}

/// What a tenant may send, by its plan. The submission policy's read, one indexed join.
pub async fn send_limits(c: &mut AnyConnection, tenant_id: &str) -> AppResult<Option<SendLimits>> {
    let r = sqlx::query(
        "SELECT t.name, p.name AS plan_name, p.send_per_hour_mailbox, p.send_per_hour_tenant, \
         p.managed_smtp FROM tenants t JOIN plans p ON p.id = t.plan_id WHERE t.id = $1",
    )
    .bind(tenant_id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(match r {
        Some(r) => Some(SendLimits {
            tenant: r.try_get("name")?,
            plan: r.try_get("plan_name")?,
            per_mailbox: r.try_get("send_per_hour_mailbox")?,
            per_tenant: r.try_get("send_per_hour_tenant")?,
            managed_smtp: r.try_get::<i64, _>("managed_smtp")? != 0,
        }),
        None => None,
    })
}

/// What a tenant's plan says about its outgoing mail.
pub struct SendLimits {
    /// The tenant's and the plan's names.
    pub tenant: String,
    pub plan: String,
    /// Messages per hour, per mailbox and for the whole tenant.
    pub per_mailbox: i64,
    pub per_tenant: i64,
    /// Whether the plan includes the platform's managed relay.
    pub managed_smtp: bool,
}

const TENANT_COLS: &str = "t.id, t.name, t.slug, t.status, t.plan_id, p.name AS plan_name, \
    p.max_domains, p.storage_bytes, t.contact_name, t.contact_email, t.domain_count, \
    t.storage_allocated, t.storage_used, t.created_at";

fn tenant_row(r: &AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        status: crate::core::db::named(r, "status")?,
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

/// A tenant as a list reads it (`db::page_json`): the result columns of [`TENANT_COLS`].
impl<'r> sqlx::FromRow<'r, AnyRow> for Tenant {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        tenant_row(r)
    }
}

/// The tenants in the actor's scope, by name.
pub async fn tenants(db: &Db, g: &Granted<'_>) -> AppResult<Vec<Tenant>> {
    let mut w = Where::new();
    w.scope("t.id", &g.actor.tenants);
    let sql = format!(
        "SELECT {TENANT_COLS} FROM tenants t JOIN plans p ON p.id = t.plan_id{} ORDER BY t.name",
        w.sql()
    );
    // `Tenant`'s fields are the result columns of `TENANT_COLS` (a unit test holds them).
    crate::core::db::page_json(db, &w, &sql, "r.name").await
}

/// A tenant's id or short name beside its name, for pickers and labels.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct KeyName {
    handle: String,
    name: String,
}

/// (`key_col`, name) of the tenants in the actor's scope, by name: one JSON row (an agency's
/// hundreds of tenants fill every dashboard's tenant filter).
async fn keys_and_names(
    db: &Db,
    g: &Granted<'_>,
    key_col: &'static str,
) -> AppResult<Vec<(String, String)>> {
    let mut w = Where::new();
    w.scope("id", &g.actor.tenants);
    let sql = format!(
        "SELECT {key_col} AS handle, name FROM tenants{} ORDER BY name",
        w.sql()
    );
    let rows: Vec<KeyName> = crate::core::db::page_json(db, &w, &sql, "r.name").await?;
    Ok(rows.into_iter().map(|r| (r.handle, r.name)).collect())
}

/// Tenants, domains and mailboxes in the actor's scope (from the maintained counters).
pub async fn totals(db: &Db, g: &Granted<'_>) -> AppResult<(i64, i64, i64)> {
    let mut w = Where::new();
    let in_t = w.scope_cond("id", &g.actor.tenants);
    let in_d = w.scope_cond("tenant_id", &g.actor.tenants);
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM tenants WHERE {in_t}) AS t, \
         (SELECT CAST(COALESCE(SUM(domain_count), 0) AS BIGINT) FROM tenants WHERE {in_t}) AS d, \
         (SELECT CAST(COALESCE(SUM(mailbox_count), 0) AS BIGINT) FROM domains WHERE {in_d}) AS m"
    );
    let r = w.bind(sqlx::query(&sql)).fetch_one(db.pool()).await?;
    Ok((r.try_get("t")?, r.try_get("d")?, r.try_get("m")?))
}

/// (id, name) of the tenants in the actor's scope.
pub async fn tenant_names_by_id(db: &Db, g: &Granted<'_>) -> AppResult<Vec<(String, String)>> {
    keys_and_names(db, g, "id").await
}

/// The names of the given tenants, by id: how lists owned elsewhere (routes, change
/// requests, mailboxes, jobs) show whose a row is, without naming this table.
pub async fn names_of<'a>(
    c: &mut AnyConnection,
    ids: impl IntoIterator<Item = &'a str>,
) -> AppResult<HashMap<String, String>> {
    names_in(c, "tenants", ids).await
}

/// (name, short name) of the given tenants, by id.
pub async fn labels_of<'a>(
    c: &mut AnyConnection,
    ids: impl IntoIterator<Item = &'a str>,
) -> AppResult<HashMap<String, (String, String)>> {
    let ids: Vec<&str> = ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sql = "SELECT id, name, slug FROM tenants WHERE id IN ({in})";
    let rows = fetch_in(c, sql, &ids, |r| {
        Ok((r.try_get("id")?, (r.try_get("name")?, r.try_get("slug")?)))
    })
    .await?;
    Ok(rows.into_iter().collect())
}

/// `name` by `id` from `table` (tenants or domains).
async fn names_in<'a>(
    c: &mut AnyConnection,
    table: &'static str,
    ids: impl IntoIterator<Item = &'a str>,
) -> AppResult<HashMap<String, String>> {
    let ids: Vec<&str> = ids
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sql = format!("SELECT id, name FROM {table} WHERE id IN ({{in}})");
    let rows = fetch_in(c, &sql, &ids, |r| {
        Ok((r.try_get("id")?, r.try_get("name")?))
    })
    .await?;
    Ok(rows.into_iter().collect())
}

/// (short name, name) of the tenants in the actor's scope, for filters.
pub async fn tenant_names(db: &Db, g: &Granted<'_>) -> AppResult<Vec<(String, String)>> {
    keys_and_names(db, g, "slug").await
}

/// By id or slug.
/// A tenant by id or slug, if the proof covers it (else none: not found, no existence leak).
pub async fn tenant(db: &Db, g: &Granted<'_>, key: &str) -> AppResult<Option<Tenant>> {
    let mut w = Where::new();
    let k = w.arg(key);
    w.and(format!("(t.id = {k} OR t.slug = {k})"));
    w.granted("t.id", g);
    let sql = format!(
        "SELECT {TENANT_COLS} FROM tenants t JOIN plans p ON p.id = t.plan_id{}",
        w.sql()
    );
    let r = w.bind(sqlx::query(&sql)).fetch_optional(db.pool()).await?;
    Ok(r.as_ref().map(tenant_row).transpose()?)
}

/// The tenant its creator just made (an operator limited to listed tenants does not see it
/// in lists, but is told what they created).
pub async fn tenant_created(db: &Db, g: &Granted<'_>, id: &str) -> AppResult<Option<Tenant>> {
    g.require(&[Action::ManageTenants])?;
    let r = sqlx::query(&format!(
        "SELECT {TENANT_COLS} FROM tenants t JOIN plans p ON p.id = t.plan_id WHERE t.id = $1"
    ))
    .bind(id)
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
    g: &Granted<'_>,
    id: &str,
    name: &str,
    slug: &str,
    plan_id: &str,
    contact_name: Option<&str>,
    contact_email: Option<&str>,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageTenants])?;
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
    g: &Granted<'_>,
    tenant_id: &str,
    plan_id: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageTenants])?;
    g.check(tenant_id)?;
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
    g: &Granted<'_>,
    tenant_id: &str,
    status: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageTenants])?;
    g.check(tenant_id)?;
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
    g: &Granted<'_>,
    tenant_id: &str,
    now: i64,
) -> AppResult<bool> {
    g.check(tenant_id)?;
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
    g: &Granted<'_>,
    id: &str,
    tenant_id: &str,
    ascii: &str,
    unicode: &str,
    category: &str,
    now: i64,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query(
        "INSERT INTO domains (id, tenant_id, name, unicode_name, status, category, verify_token, \
         created_at, updated_at) VALUES ($1,$2,$3,$4,'pending',$5,$7,$6,$6)",
    )
    .bind(id.to_string())
    .bind(tenant_id.to_string())
    .bind(ascii.to_string())
    .bind(unicode.to_string())
    .bind(category.to_string())
    .bind(now)
    .bind(hex::encode(crate::core::secrets::random_bytes::<16>()))
    .execute(c)
    .await?;
    Ok(())
}

pub async fn set_domain_status(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    status: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let mut w = Where::new();
    let s = w.arg(status);
    let n = w.arg(now);
    let d = w.arg(domain_id);
    w.and(format!("id = {d} AND status <> {s}"));
    // A pending domain becomes active only once verified (see `mark_verified`,
    // `activate_unverified`).
    w.and(format!(
        "(status <> 'pending' OR {s} <> 'active' OR verified_how IS NOT NULL)"
    ));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE domains SET status = {s}, updated_at = {n}{} RETURNING name",
        w.sql()
    );
    let r = w.bind(sqlx::query(&sql)).fetch_optional(c).await?;
    Ok(r.map(|r| r.try_get("name")).transpose()?)
}

/// The challenge record was seen: the domain is verified (an override is upgraded to `dns`),
/// and a pending one becomes active. Returns the status after, or `None` when it was
/// verified by DNS already.
pub async fn mark_verified(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    now: i64,
) -> AppResult<Option<String>> {
    g.require(&[Action::ManageDomains])?;
    let mut w = Where::new();
    let n = w.arg(now);
    let d = w.arg(domain_id);
    w.and(format!(
        "id = {d} AND (verified_how IS NULL OR verified_how = 'override')"
    ));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE domains SET verified_at = {n}, verified_how = 'dns', updated_at = {n}, \
         status = CASE WHEN status = 'pending' THEN 'active' ELSE status END{} RETURNING status",
        w.sql()
    );
    let r = w.bind(sqlx::query(&sql)).fetch_optional(c).await?;
    Ok(r.map(|r| r.try_get("status")).transpose()?)
}

/// An owner's override: a pending, unverified domain becomes active without its challenge
/// record. False when it is not (or no longer) pending and unverified.
pub async fn activate_unverified(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::OverrideVerification])?;
    let mut w = Where::new();
    let n = w.arg(now);
    let d = w.arg(domain_id);
    w.and(format!(
        "id = {d} AND status = 'pending' AND verified_how IS NULL"
    ));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE domains SET status = 'active', verified_at = {n}, verified_how = 'override', \
         updated_at = {n}{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected() == 1)
}

/// The DNS scanner's summary of one domain (what the Health column shows).
pub async fn set_dns_health(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    health: &str,
    reason: Option<&str>,
    drift: bool,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    let mut w = Where::new();
    let h = w.arg(health);
    let r = w.arg(reason.unwrap_or_default());
    let dr = w.arg(drift as i64);
    let n = w.arg(now);
    let d = w.arg(domain_id);
    w.and(format!("id = {d}"));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE domains SET dns_health = {h}, dns_reason = NULLIF({r}, ''), dns_drift = {dr}, \
         dns_checked_at = {n}{}",
        w.sql()
    );
    w.bind(sqlx::query(&sql)).execute(c).await?;
    Ok(())
}

/// The scanner looked and found nothing new: only the time of the check moves.
pub async fn touch_dns_checked(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_ids: &[&str],
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    for chunk in domain_ids.chunks(500) {
        let mut w = Where::new();
        let n = w.arg(now);
        let list: Vec<String> = chunk.iter().map(|id| w.arg(*id)).collect();
        w.and(format!("id IN ({})", list.join(",")));
        w.granted("tenant_id", g);
        let sql = format!("UPDATE domains SET dns_checked_at = {n}{}", w.sql());
        w.bind(sqlx::query(&sql)).execute(&mut *c).await?;
    }
    Ok(())
}

/// Every domain the scanner looks at (all tenants; the scanner is the system), oldest check
/// first, at most `limit`.
pub async fn domains_to_scan(db: &Db, g: &Granted<'_>, limit: i64) -> AppResult<Vec<Domain>> {
    let mut w = Where::new();
    w.scope("d.tenant_id", &g.actor.tenants);
    let sql = format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id{} \
         ORDER BY COALESCE(d.dns_checked_at, 0), d.name LIMIT {limit}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(domain_row).collect::<Result<_, _>>()?)
}

const DOMAIN_COLS: &str =
    "d.id, d.tenant_id, t.name AS tenant_name, t.slug AS tenant_slug, d.name, \
    d.unicode_name, d.status, d.category, d.catch_all_enabled, d.mailbox_count, d.created_at, \
    d.verified_how, d.verify_token, d.dns_health, d.dns_reason, d.dns_drift, d.dns_checked_at";

/// A domain as the database gives it (the result columns of [`DOMAIN_COLS`], by name): read
/// from an `AnyRow` (`sqlx::FromRow`) or from a JSON page (`db::page_json`, which asks serde
/// for the fields) — one list of columns for both.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct DomainRow {
    id: String,
    tenant_id: String,
    tenant_name: String,
    tenant_slug: String,
    name: String,
    unicode_name: String,
    status: String,
    category: String,
    catch_all_enabled: i64,
    mailbox_count: i64,
    created_at: i64,
    verified_how: Option<String>,
    verify_token: Option<String>,
    dns_health: String,
    dns_reason: Option<String>,
    dns_drift: i64,
    dns_checked_at: Option<i64>,
}

impl DomainRow {
    fn domain(self) -> Result<Domain, String> {
        Ok(Domain {
            status: self.status.parse()?,
            id: self.id,
            tenant_id: self.tenant_id,
            tenant_name: self.tenant_name,
            tenant_slug: self.tenant_slug,
            name: self.name,
            unicode_name: self.unicode_name,
            category: self.category,
            catch_all: self.catch_all_enabled != 0,
            mailbox_count: self.mailbox_count,
            created_at: self.created_at,
            verified: self.verified_how,
            verify_token: self.verify_token.unwrap_or_default(),
            health: self.dns_health,
            health_reason: self.dns_reason,
            drift: self.dns_drift != 0,
            checked_at: self.dns_checked_at,
        })
    }
}

fn domain_row(r: &AnyRow) -> Result<Domain, sqlx::Error> {
    use sqlx::FromRow;
    DomainRow::from_row(r)?
        .domain()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: e.into(),
        })
}

/// A page of domains through `db::page_json` (`inner` selects [`DOMAIN_COLS`] in `order`).
async fn domain_page(db: &Db, w: &Where, inner: &str, order: &str) -> AppResult<Vec<Domain>> {
    let rows: Vec<DomainRow> = crate::core::db::page_json(db, w, inner, order).await?;
    rows.into_iter()
        .map(|r| r.domain().map_err(AppError::internal))
        .collect()
}

/// Domains in the actor's scope, optionally of one tenant, optionally matching a search term.
pub async fn domains(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: Option<&str>,
    search: Option<&str>,
) -> AppResult<Vec<Domain>> {
    domains_page(db, g, tenant_id, search, None, None).await
}

/// [`domains`] by ASCII name, from after `after` on, at most `limit` of them (all without one).
pub async fn domains_page(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: Option<&str>,
    search: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> AppResult<Vec<Domain>> {
    let mut w = Where::new();
    w.scope("d.tenant_id", &g.actor.tenants);
    if let Some(t) = tenant_id {
        let p = w.arg(t);
        w.and(format!("d.tenant_id = {p}"));
    }
    if let Some(s) = search {
        search_cond(&mut w, s);
    }
    if let Some(a) = after {
        let p = w.arg(a);
        w.and(format!("d.name > {p}"));
    }
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let sql = format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id{} ORDER BY d.name{limit}",
        w.sql()
    );
    domain_page(db, &w, &sql, "r.name").await
}

fn search_cond(w: &mut Where, term: &str) {
    let p = w.arg(like_term(term));
    w.and(format!(
        "(d.name LIKE {p} OR LOWER(d.unicode_name) LIKE {p} OR LOWER(t.name) LIKE {p})"
    ));
}

/// One page of the domain overview, filtered, sorted and confined to the actor's scope in
/// SQL, with the number of matching rows.
pub async fn browse_domains(
    db: &Db,
    g: &Granted<'_>,
    q: &DomainQuery,
) -> AppResult<(Vec<DomainGlance>, i64)> {
    let q = q.normalized();
    let mut w = Where::new();
    w.scope("d.tenant_id", &g.actor.tenants);
    if !q.q.is_empty() {
        search_cond(&mut w, &q.q);
    }
    if !q.status.is_empty() {
        let p = w.arg(q.status.as_str());
        w.and(format!("d.status = {p}"));
    }
    if !q.tenant.is_empty() {
        let p = w.arg(q.tenant.as_str());
        w.and(format!("t.slug = {p}"));
    }
    match q.health.as_str() {
        "drifted" => w.and("d.dns_drift = 1"),
        "red" => w.and("d.dns_health = 'red'"),
        "unverified" => w.and("d.verified_how IS NULL"),
        _ => {}
    }
    let from = format!(
        "FROM domains d JOIN tenants t ON t.id = d.tenant_id JOIN plans p ON p.id = t.plan_id{}",
        w.sql()
    );
    // Counting needs the tenant only when a filter looks at it.
    let count_from = if q.q.is_empty() && q.tenant.is_empty() {
        format!("FROM domains d{}", w.sql())
    } else {
        from.clone()
    };
    let dir = if q.dir == "desc" { "DESC" } else { "ASC" };
    // The order twice: over the tables (the page's query) and over its result columns (the
    // aggregate that carries the page, `db::page_json`).
    let (order, by) = match q.sort.as_str() {
        "tenant" => (
            format!("t.name {dir}, d.name"),
            format!("r.tenant_name {dir}, r.name"),
        ),
        "status" => (
            format!("d.status {dir}, d.name"),
            format!("r.status {dir}, r.name"),
        ),
        "health" => {
            let rank = |c: &str| {
                format!("CASE {c} WHEN 'red' THEN 0 WHEN 'amber' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END {dir}")
            };
            (
                format!("{}, d.name", rank("d.dns_health")),
                format!("{}, r.name", rank("r.dns_health")),
            )
        }
        "mailboxes" => (
            format!("d.mailbox_count {dir}, d.name"),
            format!("r.mailbox_count {dir}, r.name"),
        ),
        "added" => (
            format!("d.created_at {dir}, d.name"),
            format!("r.created_at {dir}, r.name"),
        ),
        // As people read the names (Unicode), not by their punycode form.
        _ => (
            format!("d.unicode_name {dir}, d.name"),
            format!("r.unicode_name {dir}, r.name"),
        ),
    };
    let inner = format!(
        "SELECT {DOMAIN_COLS}, p.name AS plan_name, t.domain_count, p.max_domains, \
         p.storage_bytes, t.storage_allocated, t.storage_used {from} ORDER BY {order} LIMIT {} OFFSET {}",
        q.per,
        (q.page - 1) * q.per
    );
    let rows: Vec<(DomainRow, PlanCols)> =
        crate::core::db::page_json_pair(db, &w, &inner, &by).await?;
    // A short first page is the whole result; otherwise count (cheap: an index scan).
    let total: i64 = if q.page == 1 && (rows.len() as i64) < q.per {
        rows.len() as i64
    } else {
        w.bind(sqlx::query(&format!("SELECT COUNT(*) AS n {count_from}")))
            .fetch_one(db.pool())
            .await?
            .try_get("n")?
    };
    let rows = rows
        .into_iter()
        .map(|(d, p)| p.glance(d))
        .collect::<AppResult<_>>()?;
    Ok((rows, total))
}

/// The overview's columns beside a domain's: its tenant's plan and storage pool.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct PlanCols {
    plan_name: String,
    domain_count: i64,
    max_domains: i64,
    storage_bytes: i64,
    storage_allocated: i64,
    storage_used: Option<i64>,
}

impl PlanCols {
    fn glance(self, d: DomainRow) -> AppResult<DomainGlance> {
        Ok(DomainGlance {
            domain: d.domain().map_err(AppError::internal)?,
            plan_name: self.plan_name,
            tenant_domains: self.domain_count,
            max_domains: self.max_domains,
            pool_bytes: self.storage_bytes,
            pool_allocated: self.storage_allocated,
            pool_used: self.storage_used,
        })
    }
}

/// A domain by id or name, if the proof covers it.
pub async fn domain(db: &Db, g: &Granted<'_>, id: &str) -> AppResult<Option<Domain>> {
    let mut c = db.pool().acquire().await?;
    domain_on(&mut c, g, id).await
}

/// [`domain`] on a connection the caller holds (inside a transaction: a second connection
/// from the pool could wait for one the caller's own peers hold).
pub async fn domain_on(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
) -> AppResult<Option<Domain>> {
    let mut w = Where::new();
    let k = w.arg(id);
    w.and(format!(
        "(d.id = {k} OR d.name = {k} OR d.unicode_name = {k})"
    ));
    w.granted("d.tenant_id", g);
    let sql = format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id{}",
        w.sql()
    );
    let r = w.bind(sqlx::query(&sql)).fetch_optional(c).await?;
    Ok(r.as_ref().map(domain_row).transpose()?)
}

pub async fn plan_name_taken(c: &mut AnyConnection, name: &str) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS one FROM plans WHERE LOWER(name) = LOWER($1)")
            .bind(name.to_string())
            .fetch_optional(c)
            .await?
            .is_some(),
    )
}

pub async fn insert_plan(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    name: &str,
    max_domains: i64,
    storage_bytes: i64,
    managed_smtp: bool,
    send_per_hour: (i64, i64),
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManagePlans])?;
    sqlx::query(
        "INSERT INTO plans (id, name, max_domains, storage_bytes, managed_smtp, \
         send_per_hour_mailbox, send_per_hour_tenant, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(position), 0) + 1 FROM plans), $8)",
    )
    .bind(id.to_string())
    .bind(name.to_string())
    .bind(max_domains)
    .bind(storage_bytes)
    .bind(managed_smtp as i64)
    .bind(send_per_hour.0)
    .bind(send_per_hour.1)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Retires (`Some(now)`) or reinstates (`None`) a plan; false when it already was.
pub async fn set_plan_retired(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    plan_id: &str,
    retired_at: Option<i64>,
) -> AppResult<bool> {
    g.require(&[Action::ManagePlans])?;
    let sql = if retired_at.is_some() {
        "UPDATE plans SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL"
    } else {
        "UPDATE plans SET retired_at = $1 WHERE id = $2 AND retired_at IS NOT NULL"
    };
    let r = sqlx::query(sql)
        .bind(retired_at)
        .bind(plan_id.to_string())
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a domain that is not active and has no mailboxes, and frees its plan slot;
/// false when it no longer qualifies (checked in the statement).
pub async fn remove_domain(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    now: i64,
) -> AppResult<bool> {
    let mut w = Where::new();
    let d = w.arg(domain_id);
    // The counter is kept in the transaction of every mailbox insert and delete (and the
    // domain row is locked by it), so zero means no mailbox, offboarded ones included.
    w.and(format!(
        "id = {d} AND status <> 'active' AND mailbox_count = 0"
    ));
    w.granted("tenant_id", g);
    let sql = format!("DELETE FROM domains{} RETURNING tenant_id", w.sql());
    let r = w.bind(sqlx::query(&sql)).fetch_optional(&mut *c).await?;
    let Some(r) = r else { return Ok(false) };
    let tenant_id: String = r.try_get("tenant_id")?;
    sqlx::query(
        "UPDATE tenants SET domain_count = domain_count - 1, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(tenant_id)
    .execute(c)
    .await?;
    Ok(true)
}

// ---------- the counters and the pool (the one place they are kept) ----------

/// Takes `bytes` out of the tenant's storage pool if they fit (one conditional update: two
/// concurrent allocations cannot both take the last bytes).
pub async fn allocate(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    bytes: i64,
) -> AppResult<bool> {
    g.check(tenant_id)?;
    let n = sqlx::query(
        "UPDATE tenants SET storage_allocated = storage_allocated + $2 WHERE id = $1 \
         AND storage_allocated + $2 <= (SELECT storage_bytes FROM plans WHERE plans.id = tenants.plan_id)",
    )
    .bind(tenant_id)
    .bind(bytes)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives `bytes` back to the tenant's pool (never below zero).
pub async fn release(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    bytes: i64,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query(
        "UPDATE tenants SET storage_allocated = CASE WHEN storage_allocated > $2 \
         THEN storage_allocated - $2 ELSE 0 END WHERE id = $1",
    )
    .bind(tenant_id)
    .bind(bytes)
    .execute(c)
    .await?;
    Ok(())
}

/// Counts `n` more mailboxes in one of the tenant's domains.
pub async fn add_mailboxes(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    domain_id: &str,
    n: i64,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query(
        "UPDATE domains SET mailbox_count = mailbox_count + $3 WHERE id = $1 AND tenant_id = $2",
    )
    .bind(domain_id)
    .bind(tenant_id)
    .bind(n)
    .execute(c)
    .await?;
    Ok(())
}

/// What the mailboxes owner counts for a tenant, to set its counters from (see [`recount`]).
pub struct Tally {
    /// Mailboxes per domain id (every row, offboarded ones included).
    pub per_domain: Vec<(String, i64)>,
    /// The sum of the quotas of the mailboxes not offboarded.
    pub allocated: i64,
}

/// Sets the tenant's counters from what is there (after an import was rolled back): the
/// mailboxes per domain and the pool's allocation, as the mailboxes owner counted them in
/// the same transaction.
pub async fn recount(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    t: &Tally,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query("UPDATE domains SET mailbox_count = 0 WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *c)
        .await?;
    for (domain_id, n) in &t.per_domain {
        sqlx::query("UPDATE domains SET mailbox_count = $3 WHERE id = $1 AND tenant_id = $2")
            .bind(domain_id)
            .bind(tenant_id)
            .bind(*n)
            .execute(&mut *c)
            .await?;
    }
    sqlx::query("UPDATE tenants SET storage_allocated = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(t.allocated)
        .execute(c)
        .await?;
    Ok(())
}

/// Whether one of the tenant's domains has a live catch-all (routing keeps it in step).
pub async fn set_catch_all(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    enabled: bool,
) -> AppResult<()> {
    let tenant: Option<String> = sqlx::query("SELECT tenant_id FROM domains WHERE id = $1")
        .bind(domain_id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.try_get("tenant_id"))
        .transpose()?;
    g.check(tenant.as_deref().unwrap_or_default())?;
    sqlx::query("UPDATE domains SET catch_all_enabled = $2 WHERE id = $1")
        .bind(domain_id)
        .bind(enabled as i64)
        .execute(c)
        .await?;
    Ok(())
}

// ---------- tenant settings other capabilities decide ----------

/// A tenant's status (`active`, `suspended`); not found when there is no such tenant.
pub async fn tenant_status(c: &mut AnyConnection, tenant_id: &str) -> AppResult<String> {
    let r = sqlx::query("SELECT status FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(c)
        .await?
        .ok_or(crate::core::AppError::NotFound)?;
    Ok(r.try_get("status")?)
}

/// The tenant's invitation-link policy (`allowed`, `not_critical`, `forbidden`).
pub async fn reveal_policy(c: &mut AnyConnection, tenant_id: &str) -> AppResult<String> {
    let r = sqlx::query("SELECT invite_reveal FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(c)
        .await?
        .ok_or(crate::core::AppError::NotFound)?;
    Ok(r.try_get("invite_reveal")?)
}

/// The tenant's routing settings as stored (routing parses and enforces them).
pub struct StoredRouting {
    pub alias_policy: String,
    pub allowlist: String,
    pub default_days: i64,
    pub max_days: i64,
    pub confirmation: bool,
}

pub async fn routing_policy(c: &mut AnyConnection, tenant_id: &str) -> AppResult<StoredRouting> {
    let r = sqlx::query(
        "SELECT alias_policy, forward_allowlist, route_default_days, route_max_days, \
         forward_confirmation FROM tenants WHERE id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(c)
    .await?
    .ok_or(crate::core::AppError::NotFound)?;
    Ok(StoredRouting {
        alias_policy: r.try_get("alias_policy")?,
        allowlist: r.try_get("forward_allowlist")?,
        default_days: r.try_get("route_default_days")?,
        max_days: r.try_get("route_max_days")?,
        confirmation: r.try_get::<i64, _>("forward_confirmation")? != 0,
    })
}

/// A tenant's id from its id or short name.
pub async fn tenant_id_for(c: &mut AnyConnection, key: &str) -> AppResult<Option<String>> {
    let r = sqlx::query("SELECT id FROM tenants WHERE id = $1 OR slug = $1")
        .bind(key)
        .fetch_optional(c)
        .await?;
    Ok(match r {
        Some(r) => Some(r.try_get("id")?),
        None => None,
    })
}

/// A domain by its ASCII name: (id, tenant id, status).
pub async fn domain_by_name(
    c: &mut AnyConnection,
    ascii: &str,
) -> AppResult<Option<(String, String, String)>> {
    let r = sqlx::query("SELECT id, tenant_id, status FROM domains WHERE name = $1")
        .bind(ascii)
        .fetch_optional(c)
        .await?;
    Ok(match r {
        Some(r) => Some((
            r.try_get("id")?,
            r.try_get("tenant_id")?,
            r.try_get("status")?,
        )),
        None => None,
    })
}

/// The ASCII names of the given domains, by id.
/// The given domains, by id (for other owners' lists and jobs: no scope, the caller has
/// its proof).
pub async fn domains_by_id(
    c: &mut AnyConnection,
    ids: &[&str],
) -> AppResult<HashMap<String, Domain>> {
    let sql = format!(
        "SELECT {DOMAIN_COLS} FROM domains d JOIN tenants t ON t.id = d.tenant_id WHERE d.id IN ({{in}})"
    );
    let rows = fetch_in(c, &sql, ids, domain_row).await?;
    Ok(rows.into_iter().map(|d| (d.id.clone(), d)).collect())
}

pub async fn domain_names_of<'a>(
    c: &mut AnyConnection,
    ids: impl IntoIterator<Item = &'a str>,
) -> AppResult<HashMap<String, String>> {
    names_in(c, "domains", ids).await
}

/// Whether operators may be shown a mailbox's invitation link once (`allowed`) or links are
/// only ever emailed (`email_only`).
pub async fn set_reveal_policy(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    policy: &str,
    now: i64,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query("UPDATE tenants SET invite_reveal = $2, updated_at = $3 WHERE id = $1")
        .bind(tenant_id)
        .bind(policy)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

/// The tenant's routing policy, as routing has validated it.
pub struct RoutingSettings<'a> {
    pub alias_policy: &'a str,
    /// Space-separated destination domains.
    pub allowlist: &'a str,
    pub default_days: i64,
    pub max_days: i64,
    pub confirmation: bool,
}

pub async fn set_routing_policy(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    p: &RoutingSettings<'_>,
    now: i64,
) -> AppResult<()> {
    g.check(tenant_id)?;
    sqlx::query(
        "UPDATE tenants SET alias_policy = $2, forward_allowlist = $3, route_default_days = $4, \
         route_max_days = $5, forward_confirmation = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(tenant_id)
    .bind(p.alias_policy)
    .bind(p.allowlist)
    .bind(p.default_days)
    .bind(p.max_days)
    .bind(p.confirmation as i64)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::core::db::{fields, result_names};

    #[test]
    fn the_row_types_are_the_column_lists() {
        assert_eq!(
            result_names(super::DOMAIN_COLS),
            fields::<super::DomainRow>()
        );
        assert_eq!(
            result_names(super::TENANT_COLS),
            fields::<crate::tenancy::Tenant>()
        );
    }
}
