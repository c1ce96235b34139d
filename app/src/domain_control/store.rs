//! SQL for `domain_control`.
use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::DomainControl;
use crate::core::authz::{Action, Granted};
use crate::core::db::{fetch_in, Db, Where};
use crate::core::{AppError, AppResult};

const COLS: &str = "domain_id, tenant_id, registrar, registrar_account, dns_provider, expires_at, \
    expiry_source, auto_renew, recovery_address, mfa, billing_owner, expected_ns, expected_ds, \
    notes, reviewed_by_label, reviewed_at, rdap_at, rdap_error, warnings, alerted, version, \
    updated_by_label, updated_at";

/// A stored record with the check's bookkeeping: the warning codes in force at the last
/// check and those an alert was raised for.
#[derive(Clone, Debug)]
pub struct Stored {
    pub control: DomainControl,
    pub codes: Vec<String>,
    pub alerted: Vec<String>,
}

fn flag(r: &AnyRow, col: &str) -> Result<Option<bool>, sqlx::Error> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
}

fn list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn row(r: &AnyRow) -> Result<Stored, sqlx::Error> {
    let codes: String = r.try_get("warnings")?;
    let alerted: String = r.try_get("alerted")?;
    Ok(Stored {
        control: DomainControl {
            domain_id: r.try_get("domain_id")?,
            tenant_id: r.try_get("tenant_id")?,
            recorded: true,
            registrar: r.try_get("registrar")?,
            registrar_account: r.try_get("registrar_account")?,
            dns_provider: r.try_get("dns_provider")?,
            expires_at: r.try_get("expires_at")?,
            expiry_source: r.try_get("expiry_source")?,
            auto_renew: flag(r, "auto_renew")?,
            recovery_address: r.try_get("recovery_address")?,
            mfa: flag(r, "mfa")?,
            billing_owner: r.try_get("billing_owner")?,
            expected_ns: list(&r.try_get::<String, _>("expected_ns")?, ' '),
            expected_ds: list(&r.try_get::<String, _>("expected_ds")?, '\n'),
            notes: r.try_get("notes")?,
            reviewed_by: r.try_get("reviewed_by_label")?,
            reviewed_at: r.try_get("reviewed_at")?,
            rdap_at: r.try_get("rdap_at")?,
            rdap_error: r.try_get("rdap_error")?,
            version: r.try_get("version")?,
            updated_by: Some(r.try_get("updated_by_label")?),
            updated_at: Some(r.try_get("updated_at")?),
            ..Default::default()
        },
        codes: serde_json::from_str(&codes).unwrap_or_default(),
        alerted: serde_json::from_str(&alerted).unwrap_or_default(),
    })
}

/// One domain's record, within what the proof covers.
pub async fn get(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
) -> AppResult<Option<Stored>> {
    let mut w = Where::new();
    let p = w.arg(domain_id);
    w.and(format!("domain_id = {p}"));
    w.granted("tenant_id", g);
    let sql = format!("SELECT {COLS} FROM domain_control{}", w.sql());
    let r = w.bind(sqlx::query(&sql)).fetch_optional(c).await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// The records of the given domains (the incident checklist, the scanner).
pub async fn of_domains(c: &mut AnyConnection, ids: &[&str]) -> AppResult<Vec<Stored>> {
    let sql = format!("SELECT {COLS} FROM domain_control WHERE domain_id IN ({{in}})");
    fetch_in(c, &sql, ids, row).await
}

/// Up to `limit` records after `after` (by domain id), for the recurring check.
pub async fn page(db: &Db, after: &str, limit: i64) -> AppResult<Vec<Stored>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM domain_control WHERE domain_id > $1 ORDER BY domain_id LIMIT {limit}"
    ))
    .bind(after)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
}

/// What a save writes (the service has checked and normalised it).
pub struct Fields<'a> {
    pub registrar: &'a str,
    pub registrar_account: &'a str,
    pub dns_provider: &'a str,
    pub expires_at: Option<i64>,
    pub expiry_source: Option<&'a str>,
    pub auto_renew: Option<bool>,
    pub recovery_address: &'a str,
    pub mfa: Option<bool>,
    pub billing_owner: &'a str,
    pub expected_ns: &'a [String],
    pub expected_ds: &'a [String],
    pub notes: &'a str,
    /// Set "last reviewed" to the actor and now.
    pub reviewed: bool,
}

/// Creates the record (`version` none) or replaces it if it is still at `version`; returns
/// the new version. A record created or changed meanwhile is a conflict (409).
pub async fn save(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    f: &Fields<'_>,
    version: Option<i64>,
    now: i64,
) -> AppResult<i64> {
    g.require(&[Action::ManageDomains, Action::ChangeDns])?;
    g.check(tenant_id)?;
    let ns = f.expected_ns.join(" ");
    let ds = f.expected_ds.join("\n");
    let reviewer = f.reviewed.then(|| g.actor.label.clone());
    let reviewed_at = f.reviewed.then_some(now);
    let bool_int = |b: Option<bool>| b.map(i64::from);
    let moved = || {
        AppError::Conflict(
            "Someone saved this record meanwhile: reload the page to see their changes.".into(),
        )
    };
    // The same sixteen values, in the same order ($1…$16), for both statements.
    let fields = |sql: &'static str| {
        sqlx::query(sql)
            .bind(f.registrar)
            .bind(f.registrar_account)
            .bind(f.dns_provider)
            .bind(f.expires_at)
            .bind(f.expiry_source)
            .bind(bool_int(f.auto_renew))
            .bind(f.recovery_address)
            .bind(bool_int(f.mfa))
            .bind(f.billing_owner)
            .bind(ns.clone())
            .bind(ds.clone())
            .bind(f.notes)
            .bind(reviewer.clone())
            .bind(reviewed_at)
            .bind(g.actor.label.clone())
            .bind(now)
            .bind(domain_id)
            .bind(tenant_id)
    };
    match version {
        None => {
            let r = fields(
                "INSERT INTO domain_control (registrar, registrar_account, dns_provider, expires_at, \
                 expiry_source, auto_renew, recovery_address, mfa, billing_owner, expected_ns, \
                 expected_ds, notes, reviewed_by_label, reviewed_at, updated_by_label, updated_at, \
                 domain_id, tenant_id, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1)",
            )
            .execute(c)
            .await;
            match r {
                Ok(_) => Ok(1),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(moved()),
                Err(e) => Err(e.into()),
            }
        }
        Some(v) => {
            let r = fields(
                "UPDATE domain_control SET registrar = $1, registrar_account = $2, dns_provider = $3, \
                 expires_at = $4, expiry_source = $5, auto_renew = $6, recovery_address = $7, \
                 mfa = $8, billing_owner = $9, expected_ns = $10, expected_ds = $11, notes = $12, \
                 reviewed_by_label = COALESCE($13, reviewed_by_label), \
                 reviewed_at = COALESCE($14, reviewed_at), version = version + 1, \
                 updated_by_label = $15, updated_at = $16 \
                 WHERE domain_id = $17 AND tenant_id = $18 AND version = $19",
            )
            .bind(v)
            .execute(c)
            .await?;
            if r.rows_affected() == 1 {
                Ok(v + 1)
            } else {
                Err(moved())
            }
        }
    }
}

/// What an RDAP lookup found (or why it failed): registrar and expiry replace the recorded
/// ones only when RDAP gave them. Creates the record when there is none.
#[allow(clippy::too_many_arguments)]
pub async fn put_rdap(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    registrar: Option<&str>,
    expires_at: Option<i64>,
    error: Option<&str>,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    sqlx::query(
        "INSERT INTO domain_control (domain_id, tenant_id, updated_by_label, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (domain_id) DO NOTHING",
    )
    .bind(domain_id)
    .bind(tenant_id)
    .bind(&g.actor.label)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE domain_control SET registrar = COALESCE($1, registrar), \
         expires_at = COALESCE($2, expires_at), \
         expiry_source = CASE WHEN $2 IS NULL THEN expiry_source ELSE 'rdap' END, \
         rdap_at = $3, rdap_error = $4, version = version + 1, updated_by_label = $5, updated_at = $3 \
         WHERE domain_id = $6 AND tenant_id = $7",
    )
    .bind(registrar)
    .bind(expires_at)
    .bind(now)
    .bind(error)
    .bind(&g.actor.label)
    .bind(domain_id)
    .bind(tenant_id)
    .execute(c)
    .await?;
    Ok(())
}

/// The check's bookkeeping: the codes in force and those alerted.
pub async fn set_checked(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    codes: &[String],
    alerted: &[String],
) -> AppResult<()> {
    g.require(&[Action::ManageDomains, Action::ChangeDns])?;
    sqlx::query("UPDATE domain_control SET warnings = $1, alerted = $2 WHERE domain_id = $3")
        .bind(serde_json::to_string(codes).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(alerted).unwrap_or_else(|_| "[]".into()))
        .bind(domain_id)
        .execute(c)
        .await?;
    Ok(())
}

/// How many domains of the proof's tenants have a record, and the records with warnings at
/// the last check (at most `limit`).
pub async fn with_warnings(
    db: &Db,
    g: &Granted<'_>,
    limit: i64,
) -> AppResult<(i64, i64, Vec<Stored>)> {
    let mut w = Where::new();
    w.granted("tenant_id", g);
    let r = w
        .bind(sqlx::query(&format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN warnings <> '[]' THEN 1 ELSE 0 END), 0) AS BIGINT) AS w \
             FROM domain_control{}",
            w.sql()
        )))
        .fetch_one(db.pool())
        .await?;
    let (recorded, warned): (i64, i64) = (r.try_get("n")?, r.try_get("w")?);
    w.and("warnings <> '[]'");
    let sql = format!(
        "SELECT {COLS} FROM domain_control{} ORDER BY COALESCE(expires_at, 9223372036854775807), domain_id LIMIT {limit}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok((
        recorded,
        warned,
        rows.iter().map(row).collect::<Result<_, _>>()?,
    ))
}

/// Expected NS host names and DS records of one domain.
pub type Delegation = (Vec<String>, Vec<String>);

/// The expected delegation (NS, DS) of the given domains that have one, for the scanner.
pub async fn delegations(
    c: &mut AnyConnection,
    ids: &[&str],
) -> AppResult<HashMap<String, Delegation>> {
    let sql = "SELECT domain_id, expected_ns, expected_ds FROM domain_control \
               WHERE domain_id IN ({in}) AND (expected_ns <> '' OR expected_ds <> '')";
    let rows = fetch_in(c, sql, ids, |r| {
        Ok((
            r.try_get::<String, _>("domain_id")?,
            (
                list(&r.try_get::<String, _>("expected_ns")?, ' '),
                list(&r.try_get::<String, _>("expected_ds")?, '\n'),
            ),
        ))
    })
    .await?;
    Ok(rows.into_iter().collect())
}
