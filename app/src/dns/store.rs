//! All SQL of `dns_templates`, `dns_records`, `dkim_keys`, `dkim_delegations`, the DMARC
//! reports, `dns_providers` and `dns_changes`.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Observed, Template};
use crate::core::authz::{Action, Granted};
use crate::core::db::{fetch_in, Db};
use crate::core::{AppError, AppResult};

/// Saved templates by category (categories without a row use the built-in default).
pub async fn templates(db: &Db) -> AppResult<Vec<(String, Template)>> {
    let rows = sqlx::query("SELECT category, body FROM dns_templates ORDER BY category")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let cat: String = r.try_get("category")?;
            let body: String = r.try_get("body")?;
            let t = serde_json::from_str(&body)
                .map_err(|e| AppError::Internal(format!("dns template {cat}: {e}")))?;
            Ok((cat, t))
        })
        .collect()
}

pub async fn save_template(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    category: &str,
    t: &Template,
    by: &str,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDnsBaselines])?;
    let body = serde_json::to_string(t).map_err(|e| AppError::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO dns_templates (category, body, updated_at, updated_by) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (category) DO UPDATE SET body = $2, updated_at = $3, updated_by = $4",
    )
    .bind(category.to_string())
    .bind(body)
    .bind(now)
    .bind(by.to_string())
    .execute(c)
    .await?;
    Ok(())
}

fn observed_row(r: &AnyRow) -> Result<(String, Observed), sqlx::Error> {
    let list = |s: Option<String>| -> Option<Vec<String>> {
        s.and_then(|s| serde_json::from_str(&s).ok())
    };
    Ok((
        r.try_get("domain_id")?,
        Observed {
            name: r.try_get("name")?,
            rtype: r.try_get("rtype")?,
            purpose: r.try_get("purpose")?,
            expected: list(r.try_get("expected")?).unwrap_or_default(),
            observed: list(r.try_get("observed")?),
            status: r.try_get("status")?,
            detail: r.try_get("detail")?,
            required: false,
            observed_at: r.try_get("observed_at")?,
            since: r.try_get("since")?,
        },
    ))
}

const RECORD_COLS: &str =
    "domain_id, name, rtype, purpose, expected, observed, status, detail, observed_at, since";

/// The latest observations of these domains, as (domain id, set).
pub async fn observations(
    c: &mut AnyConnection,
    domain_ids: &[&str],
) -> AppResult<Vec<(String, Observed)>> {
    fetch_in(
        c,
        &format!(
            "SELECT {RECORD_COLS} FROM dns_records WHERE domain_id IN ({{in}}) \
             ORDER BY domain_id, purpose, name"
        ),
        domain_ids,
        observed_row,
    )
    .await
}

/// Replaces what is known of one domain's record sets (only sets whose observation changed
/// are written; the caller passes those). `gone`: sets no longer expected nor seen.
pub async fn put_observations(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    changed: &[Observed],
    gone: &[(String, String, String)],
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    let js = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    for o in changed {
        sqlx::query(
            "INSERT INTO dns_records (domain_id, tenant_id, name, rtype, purpose, expected, observed, \
             status, detail, observed_at, since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) \
             ON CONFLICT (domain_id, name, rtype, purpose) DO UPDATE SET expected = $6, \
             observed = $7, status = $8, detail = $9, observed_at = $10, since = $11",
        )
        .bind(domain_id.to_string())
        .bind(tenant_id.to_string())
        .bind(o.name.clone())
        .bind(o.rtype.clone())
        .bind(o.purpose.clone())
        .bind(js(&o.expected))
        .bind(o.observed.as_ref().map(js))
        .bind(o.status.clone())
        .bind(o.detail.clone())
        .bind(o.observed_at)
        .bind(o.since)
        .execute(&mut *c)
        .await?;
    }
    for (name, rtype, purpose) in gone {
        sqlx::query(
            "DELETE FROM dns_records WHERE domain_id = $1 AND name = $2 AND rtype = $3 AND purpose = $4",
        )
        .bind(domain_id.to_string())
        .bind(name.clone())
        .bind(rtype.clone())
        .bind(purpose.clone())
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// A domain's DKIM delegation (see migration 0014).
#[derive(Clone, Debug, PartialEq)]
pub struct Delegation {
    pub zone: String,
    /// New keys take the delegated selectors (false: the delegation is being taken back).
    pub enabled: bool,
}

/// The delegations of these domains, by domain id.
pub async fn delegations(
    c: &mut AnyConnection,
    domain_ids: &[&str],
) -> AppResult<Vec<(String, Delegation)>> {
    fetch_in(
        c,
        "SELECT domain_id, zone, enabled FROM dkim_delegations WHERE domain_id IN ({in})",
        domain_ids,
        |r| {
            Ok((
                r.try_get("domain_id")?,
                Delegation {
                    zone: r.try_get("zone")?,
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                },
            ))
        },
    )
    .await
}

/// Delegates a domain's selectors to `zone` (`enabled`), or starts taking the delegation
/// back (keys already in the zone stay there until they retire). The zone of an existing
/// row does not change. Returns whether anything changed.
pub async fn set_delegation(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    zone: &str,
    enabled: bool,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    let r = sqlx::query(
        "INSERT INTO dkim_delegations (domain_id, tenant_id, zone, enabled, since) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain_id) DO UPDATE \
         SET enabled = excluded.enabled, since = excluded.since \
         WHERE dkim_delegations.enabled <> excluded.enabled",
    )
    .bind(domain_id.to_string())
    .bind(tenant_id.to_string())
    .bind(zone.to_string())
    .bind(enabled as i64)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Drops a retired key whose selector is about to be used again (a delegated domain
/// alternates between two selectors; the audit log keeps the key's history).
pub async fn forget_retired(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    domain_id: &str,
    selector: &str,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    sqlx::query(
        "DELETE FROM dkim_keys WHERE domain_id = $1 AND selector = $2 AND state = 'retired'",
    )
    .bind(domain_id.to_string())
    .bind(selector.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// A DKIM key row, private half still sealed.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub id: String,
    pub domain_id: String,
    pub tenant_id: String,
    pub selector: String,
    pub algorithm: String,
    pub public_key: String,
    pub private_enc: String,
    pub state: String,
    pub created_at: i64,
    pub seen_at: Option<i64>,
    pub active_at: Option<i64>,
    pub retire_after: Option<i64>,
}

fn key_row(r: &AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        tenant_id: r.try_get("tenant_id")?,
        selector: r.try_get("selector")?,
        algorithm: r.try_get("algorithm")?,
        public_key: r.try_get("public_key")?,
        private_enc: r.try_get("private_enc")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
        seen_at: r.try_get("seen_at")?,
        active_at: r.try_get("active_at")?,
        retire_after: r.try_get("retire_after")?,
    })
}

const KEY_COLS: &str = "id, domain_id, tenant_id, selector, algorithm, public_key, private_enc, \
    state, created_at, seen_at, active_at, retire_after";

/// The keys of these domains that are not retired, oldest first.
pub async fn live_keys(c: &mut AnyConnection, domain_ids: &[&str]) -> AppResult<Vec<KeyRow>> {
    fetch_in(
        c,
        &format!(
            "SELECT {KEY_COLS} FROM dkim_keys WHERE domain_id IN ({{in}}) AND state <> 'retired' \
             ORDER BY domain_id, created_at, selector"
        ),
        domain_ids,
        key_row,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_key(c: &mut AnyConnection, g: &Granted<'_>, k: &KeyRow) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(&k.tenant_id)?;
    sqlx::query(
        "INSERT INTO dkim_keys (id, domain_id, tenant_id, selector, algorithm, public_key, \
         private_enc, state, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,'published',$8)",
    )
    .bind(k.id.clone())
    .bind(k.domain_id.clone())
    .bind(k.tenant_id.clone())
    .bind(k.selector.clone())
    .bind(k.algorithm.clone())
    .bind(k.public_key.clone())
    .bind(k.private_enc.clone())
    .bind(k.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// A published key was seen on every authoritative nameserver: it may sign now, if the
/// domain has no signing key yet (the partial unique index makes a second one impossible).
/// Returns whether it became the signing key.
pub async fn activate_key(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    k: &KeyRow,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&k.tenant_id)?;
    let r = sqlx::query(
        "UPDATE dkim_keys SET state = 'active', seen_at = COALESCE(seen_at, $2), active_at = $2 \
         WHERE id = $1 AND state = 'published' AND NOT EXISTS \
         (SELECT 1 FROM dkim_keys o WHERE o.domain_id = $3 AND o.state = 'active')",
    )
    .bind(k.id.clone())
    .bind(now)
    .bind(k.domain_id.clone())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A rotation's switch: `new` (published, now served everywhere) signs from now on; the
/// key it replaces keeps its record until `retire_after`. One statement each, both
/// conditional: a second scan finds nothing to switch.
pub async fn switch_key(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    new: &KeyRow,
    now: i64,
    retire_after: i64,
) -> AppResult<Option<String>> {
    g.require(&[Action::ManageDomains])?;
    g.check(&new.tenant_id)?;
    let old = sqlx::query(
        "UPDATE dkim_keys SET state = 'retiring', retire_after = $2 \
         WHERE domain_id = $1 AND state = 'active' AND id <> $3 RETURNING selector",
    )
    .bind(new.domain_id.clone())
    .bind(retire_after)
    .bind(new.id.clone())
    .fetch_optional(&mut *c)
    .await?;
    let old: Option<String> = old.map(|r| r.try_get("selector")).transpose()?;
    Ok(if activate_key(c, g, new, now).await? {
        old
    } else {
        None
    })
}

/// Ends a key: it no longer signs and its record is no longer expected (an emergency
/// rotation, or the end of a retiring key's grace period). Returns whether it changed.
pub async fn retire_key(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    k: &KeyRow,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&k.tenant_id)?;
    let r = sqlx::query(
        "UPDATE dkim_keys SET state = 'retired', retired_at = $2 WHERE id = $1 AND state <> 'retired'",
    )
    .bind(k.id.clone())
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Retiring keys whose grace period is over (all tenants; the scanner's work list).
pub async fn retire_due(c: &mut AnyConnection, now: i64) -> AppResult<Vec<KeyRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM dkim_keys WHERE state = 'retiring' AND retire_after <= $1 \
         ORDER BY retire_after LIMIT 1000"
    ))
    .bind(now)
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(key_row).collect::<Result<_, _>>()?)
}

/// Signing keys older than `cutoff` with no successor published yet (scheduled rotation).
pub async fn rotation_due(
    c: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> AppResult<Vec<KeyRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM dkim_keys k WHERE state = 'active' AND active_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM dkim_keys n WHERE n.domain_id = k.domain_id \
         AND n.state = 'published') ORDER BY active_at LIMIT {limit}"
    ))
    .bind(cutoff)
    .fetch_all(c)
    .await?;
    Ok(rows.iter().map(key_row).collect::<Result<_, _>>()?)
}

/// The key a domain signs with now, if any.
pub async fn active_key(c: &mut AnyConnection, domain_id: &str) -> AppResult<Option<KeyRow>> {
    let r = sqlx::query(&format!(
        "SELECT {KEY_COLS} FROM dkim_keys WHERE domain_id = $1 AND state = 'active'"
    ))
    .bind(domain_id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(r.as_ref().map(key_row).transpose()?)
}

/// Domains (of these) that have no live key.
pub async fn without_keys(c: &mut AnyConnection, domain_ids: &[&str]) -> AppResult<Vec<String>> {
    let have: std::collections::HashSet<String> = fetch_in(
        c,
        "SELECT DISTINCT domain_id FROM dkim_keys WHERE domain_id IN ({in}) AND state <> 'retired'",
        domain_ids,
        |r| r.try_get::<String, _>("domain_id"),
    )
    .await?
    .into_iter()
    .collect();
    Ok(domain_ids
        .iter()
        .filter(|d| !have.contains(**d))
        .map(|d| d.to_string())
        .collect())
}

/// One DMARC report's head, as stored.
#[derive(Clone, Debug)]
pub struct ReportRow {
    pub id: String,
    pub domain_id: String,
    pub tenant_id: String,
    pub org_name: String,
    pub report_id: String,
    pub date_begin: i64,
    pub date_end: i64,
    pub policy: String,
    pub messages: i64,
    pub received_at: i64,
    pub via: String,
}

/// One record of a report.
#[derive(Clone, Debug)]
pub struct ReportLine {
    pub day: i64,
    pub source_ip: String,
    pub messages: i64,
    pub disposition: String,
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub dkim_fail: bool,
    pub spf_softfail: bool,
    pub header_from: String,
}

/// Stores a report and its records, unless the same report (sender, id, domain, dates) is
/// there already: returns whether it was new.
pub async fn insert_report(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    r: &ReportRow,
    lines: &[ReportLine],
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&r.tenant_id)?;
    let done = sqlx::query(
        "INSERT INTO dmarc_reports (id, domain_id, tenant_id, org_name, report_id, date_begin, \
         date_end, policy, messages, received_at, via) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) \
         ON CONFLICT (domain_id, org_name, report_id, date_begin, date_end) DO NOTHING",
    )
    .bind(r.id.clone())
    .bind(r.domain_id.clone())
    .bind(r.tenant_id.clone())
    .bind(r.org_name.clone())
    .bind(r.report_id.clone())
    .bind(r.date_begin)
    .bind(r.date_end)
    .bind(r.policy.clone())
    .bind(r.messages)
    .bind(r.received_at)
    .bind(r.via.clone())
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for l in lines {
        sqlx::query(
            "INSERT INTO dmarc_rows (report_id, domain_id, day, source_ip, messages, disposition, \
             dkim_aligned, spf_aligned, dkim_fail, spf_softfail, header_from) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(r.id.clone())
        .bind(r.domain_id.clone())
        .bind(l.day)
        .bind(l.source_ip.clone())
        .bind(l.messages)
        .bind(l.disposition.clone())
        .bind(l.dkim_aligned as i64)
        .bind(l.spf_aligned as i64)
        .bind(l.dkim_fail as i64)
        .bind(l.spf_softfail as i64)
        .bind(l.header_from.clone())
        .execute(&mut *c)
        .await?;
    }
    Ok(true)
}

/// Which of `ips` a domain's reports showed before.
pub async fn known_sources(
    c: &mut AnyConnection,
    domain_id: &str,
    ips: &[&str],
) -> AppResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ips.chunks(400) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT DISTINCT source_ip FROM dmarc_rows WHERE domain_id = $1 AND source_ip IN ({})",
            marks.join(",")
        );
        let mut q = sqlx::query(&sql).bind(domain_id.to_string());
        for ip in chunk {
            q = q.bind(ip.to_string());
        }
        for r in q.fetch_all(&mut *c).await? {
            out.insert(r.try_get::<String, _>("source_ip")?);
        }
    }
    Ok(out)
}

/// Of `ips`, those that passed DMARC (aligned DKIM or SPF) for the domain in a report of a
/// day since `since`: the domain's own senders, as far as receivers can tell.
pub async fn passing_sources(
    c: &mut AnyConnection,
    domain_id: &str,
    ips: &[&str],
    since: i64,
) -> AppResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ips.chunks(400) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT DISTINCT source_ip FROM dmarc_rows WHERE domain_id = $1 AND day >= $2 \
             AND (dkim_aligned = 1 OR spf_aligned = 1) AND source_ip IN ({})",
            marks.join(",")
        );
        let mut q = sqlx::query(&sql).bind(domain_id.to_string()).bind(since);
        for ip in chunk {
            q = q.bind(ip.to_string());
        }
        for r in q.fetch_all(&mut *c).await? {
            out.insert(r.try_get::<String, _>("source_ip")?);
        }
    }
    Ok(out)
}

/// A domain's DMARC days (newest first) and its sources first seen since `since`.
pub async fn dmarc_summary(
    db: &Db,
    domain_id: &str,
    since: i64,
) -> AppResult<(i64, Vec<super::DmarcDay>, Vec<super::DmarcSource>)> {
    let reports: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM dmarc_reports WHERE domain_id = $1")
            .bind(domain_id.to_string())
            .fetch_one(db.pool())
            .await?
            .try_get("n")?;
    let days = sqlx::query(
        "SELECT day, CAST(SUM(messages) AS BIGINT) AS m, \
         CAST(SUM(CASE WHEN dkim_aligned = 1 OR spf_aligned = 1 THEN messages ELSE 0 END) AS BIGINT) AS p, \
         CAST(SUM(CASE WHEN disposition = 'quarantine' THEN messages ELSE 0 END) AS BIGINT) AS q, \
         CAST(SUM(CASE WHEN disposition = 'reject' THEN messages ELSE 0 END) AS BIGINT) AS r, \
         CAST(SUM(CASE WHEN spf_softfail = 1 THEN messages ELSE 0 END) AS BIGINT) AS s, \
         CAST(SUM(CASE WHEN dkim_fail = 1 THEN messages ELSE 0 END) AS BIGINT) AS k, \
         CAST(SUM(CASE WHEN dkim_aligned = 0 AND spf_aligned = 0 THEN messages ELSE 0 END) AS BIGINT) AS x \
         FROM dmarc_rows WHERE domain_id = $1 GROUP BY day ORDER BY day DESC LIMIT 30",
    )
    .bind(domain_id.to_string())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(super::DmarcDay {
            day: r.try_get("day")?,
            messages: r.try_get("m")?,
            passed: r.try_get("p")?,
            quarantined: r.try_get("q")?,
            rejected: r.try_get("r")?,
            spf_softfail: r.try_get("s")?,
            dkim_fail: r.try_get("k")?,
            misaligned: r.try_get("x")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let sources = sqlx::query(
        "SELECT source_ip, MIN(day) AS first_day, CAST(SUM(messages) AS BIGINT) AS m, \
         CAST(SUM(CASE WHEN dkim_aligned = 1 OR spf_aligned = 1 THEN messages ELSE 0 END) AS BIGINT) AS p \
         FROM dmarc_rows WHERE domain_id = $1 GROUP BY source_ip HAVING MIN(day) >= $2 \
         ORDER BY first_day DESC, source_ip LIMIT 20",
    )
    .bind(domain_id.to_string())
    .bind(since)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(super::DmarcSource {
            ip: r.try_get("source_ip")?,
            first_day: r.try_get("first_day")?,
            messages: r.try_get("m")?,
            passed: r.try_get("p")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((reports, days, sources))
}

// ---------- where each domain's DNS is managed, and DNS changes (migration 0017) ----------

/// A domain's DNS provider as stored (the TSIG secret sealed).
#[derive(Clone, Debug, Default)]
pub struct ProviderRow {
    /// `rfc2136` or `manual`.
    pub kind: String,
    pub server: Option<String>,
    pub zone: Option<String>,
    pub tsig_name: Option<String>,
    pub tsig_algorithm: Option<String>,
    pub tsig_secret: Option<String>,
    pub allow_unmanaged: bool,
    pub tested_at: Option<i64>,
    pub test_result: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

/// The provider of one domain (`None`: no row, i.e. manual).
pub async fn provider(c: &mut AnyConnection, domain_id: &str) -> AppResult<Option<ProviderRow>> {
    let r = sqlx::query(
        "SELECT kind, server, zone, tsig_name, tsig_algorithm, tsig_secret, allow_unmanaged, \
         tested_at, test_result, updated_at, updated_by FROM dns_providers WHERE domain_id = $1",
    )
    .bind(domain_id.to_string())
    .fetch_optional(c)
    .await?;
    r.map(|r| {
        Ok(ProviderRow {
            kind: r.try_get("kind")?,
            server: r.try_get("server")?,
            zone: r.try_get("zone")?,
            tsig_name: r.try_get("tsig_name")?,
            tsig_algorithm: r.try_get("tsig_algorithm")?,
            tsig_secret: r.try_get("tsig_secret")?,
            allow_unmanaged: r.try_get::<i64, _>("allow_unmanaged")? != 0,
            tested_at: r.try_get("tested_at")?,
            test_result: r.try_get("test_result")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        })
    })
    .transpose()
}

/// Sets a domain's provider (the last test's result is forgotten: it tested other settings).
pub async fn put_provider(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    p: &ProviderRow,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    sqlx::query(
        "INSERT INTO dns_providers (domain_id, tenant_id, kind, server, zone, tsig_name, \
         tsig_algorithm, tsig_secret, allow_unmanaged, tested_at, test_result, updated_at, updated_by) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,NULL,NULL,$10,$11) ON CONFLICT (domain_id) DO UPDATE SET \
         kind = excluded.kind, server = excluded.server, zone = excluded.zone, \
         tsig_name = excluded.tsig_name, tsig_algorithm = excluded.tsig_algorithm, \
         tsig_secret = excluded.tsig_secret, allow_unmanaged = excluded.allow_unmanaged, \
         tested_at = NULL, test_result = NULL, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(domain_id.to_string())
    .bind(tenant_id.to_string())
    .bind(p.kind.clone())
    .bind(p.server.clone())
    .bind(p.zone.clone())
    .bind(p.tsig_name.clone())
    .bind(p.tsig_algorithm.clone())
    .bind(p.tsig_secret.clone())
    .bind(p.allow_unmanaged as i64)
    .bind(p.updated_at)
    .bind(p.updated_by.clone())
    .execute(c)
    .await?;
    Ok(())
}

/// Records the result of a connection test.
pub async fn provider_tested(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    domain_id: &str,
    tenant_id: &str,
    result: &str,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    sqlx::query("UPDATE dns_providers SET tested_at = $2, test_result = $3 WHERE domain_id = $1")
        .bind(domain_id.to_string())
        .bind(now)
        .bind(result.to_string())
        .execute(c)
        .await?;
    Ok(())
}

/// An approved DNS change and where its verification stands.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub change_id: String,
    pub tenant_id: String,
    pub domain_id: String,
    pub fqdn: String,
    pub rtype: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// `after`, or `before` while a rollback is verified.
    pub want: String,
    pub phase: String,
    pub serial_before: Option<i64>,
    pub checks: serde_json::Value,
    pub deadline: Option<i64>,
    pub note: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CHANGE_COLS: &str = "change_id, tenant_id, domain_id, fqdn, rtype, before_values, \
    after_values, want, phase, serial_before, checks, deadline, note, created_at, updated_at";

fn change_row(r: &AnyRow) -> AppResult<ChangeRow> {
    let list = |col: &str| -> AppResult<Vec<String>> {
        Ok(serde_json::from_str(&r.try_get::<String, _>(col)?).unwrap_or_default())
    };
    Ok(ChangeRow {
        change_id: r.try_get("change_id")?,
        tenant_id: r.try_get("tenant_id")?,
        domain_id: r.try_get("domain_id")?,
        fqdn: r.try_get("fqdn")?,
        rtype: r.try_get("rtype")?,
        before: list("before_values")?,
        after: list("after_values")?,
        want: r.try_get("want")?,
        phase: r.try_get("phase")?,
        serial_before: r.try_get("serial_before")?,
        checks: serde_json::from_str(&r.try_get::<String, _>("checks")?).unwrap_or_default(),
        deadline: r.try_get("deadline")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Records an approved change (inside the approving transaction).
pub async fn insert_change(c: &mut AnyConnection, g: &Granted<'_>, x: &ChangeRow) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(&x.tenant_id)?;
    sqlx::query(&format!(
        "INSERT INTO dns_changes ({CHANGE_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
    ))
    .bind(x.change_id.clone())
    .bind(x.tenant_id.clone())
    .bind(x.domain_id.clone())
    .bind(x.fqdn.clone())
    .bind(x.rtype.clone())
    .bind(serde_json::to_string(&x.before).map_err(AppError::internal)?)
    .bind(serde_json::to_string(&x.after).map_err(AppError::internal)?)
    .bind(x.want.clone())
    .bind(x.phase.clone())
    .bind(x.serial_before)
    .bind(x.checks.to_string())
    .bind(x.deadline)
    .bind(x.note.clone())
    .bind(x.created_at)
    .bind(x.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// One change's row.
pub async fn change(c: &mut AnyConnection, change_id: &str) -> AppResult<Option<ChangeRow>> {
    let r = sqlx::query(&format!(
        "SELECT {CHANGE_COLS} FROM dns_changes WHERE change_id = $1"
    ))
    .bind(change_id.to_string())
    .fetch_optional(c)
    .await?;
    r.as_ref().map(change_row).transpose()
}

/// The newest changes of one domain.
pub async fn changes_of(
    c: &mut AnyConnection,
    domain_id: &str,
    limit: i64,
) -> AppResult<Vec<ChangeRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {CHANGE_COLS} FROM dns_changes WHERE domain_id = $1 \
         ORDER BY created_at DESC, change_id DESC LIMIT $2"
    ))
    .bind(domain_id.to_string())
    .bind(limit)
    .fetch_all(c)
    .await?;
    rows.iter().map(change_row).collect()
}

/// Moves a change on, from the phase `from` only (false: someone else moved it first):
/// writes its phase, want, serial, checks, deadline and note as `x` has them.
pub async fn move_change(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    x: &ChangeRow,
    from: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&x.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE dns_changes SET phase = $3, want = $4, serial_before = $5, checks = $6, \
         deadline = $7, note = $8, updated_at = $9 WHERE change_id = $1 AND phase = $2",
    )
    .bind(x.change_id.clone())
    .bind(from.to_string())
    .bind(x.phase.clone())
    .bind(x.want.clone())
    .bind(x.serial_before)
    .bind(x.checks.to_string())
    .bind(x.deadline)
    .bind(x.note.clone())
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
        == 1)
}

// ---------- bulk DNS changes (migration 0018) ----------

/// A bulk plan as stored.
#[derive(Clone, Debug)]
pub struct BulkPlanRow {
    pub change_id: String,
    pub tenant_id: String,
    pub title: String,
    pub batch_size: i64,
    pub batches: i64,
    pub unsafe_zones: Vec<(String, i64)>,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub state: String,
    pub batch: i64,
    pub stage: String,
    pub deadline: Option<i64>,
    pub note: Option<String>,
    /// The mail probes of the batch being verified, by domain (None: not sent).
    pub probes: Option<std::collections::BTreeMap<String, Vec<crate::dns::DnsCheck>>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One record set of one domain in a plan.
#[derive(Clone, Debug)]
pub struct BulkItemRow {
    pub seq: i64,
    pub domain_id: String,
    pub domain: String,
    pub batch: i64,
    pub fqdn: String,
    pub rtype: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub ttl: i64,
    pub state: String,
    pub serial_before: Option<i64>,
    pub detail: Option<String>,
}

const PLAN_COLS: &str = "change_id, tenant_id, title, batch_size, batches, unsafe_zones, \
    override_by, override_reason, state, batch, stage, deadline, note, created_at, updated_at, probes";

fn plan_row(r: &AnyRow) -> AppResult<BulkPlanRow> {
    Ok(BulkPlanRow {
        change_id: r.try_get("change_id")?,
        tenant_id: r.try_get("tenant_id")?,
        title: r.try_get("title")?,
        batch_size: r.try_get("batch_size")?,
        batches: r.try_get("batches")?,
        unsafe_zones: serde_json::from_str(&r.try_get::<String, _>("unsafe_zones")?)
            .unwrap_or_default(),
        override_by: r.try_get("override_by")?,
        override_reason: r.try_get("override_reason")?,
        state: r.try_get("state")?,
        batch: r.try_get("batch")?,
        stage: r.try_get("stage")?,
        deadline: r.try_get("deadline")?,
        note: r.try_get("note")?,
        probes: r
            .try_get::<Option<String>, _>("probes")?
            .and_then(|t| serde_json::from_str(&t).ok()),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Records a plan (inside the requesting transaction).
pub async fn insert_plan(c: &mut AnyConnection, g: &Granted<'_>, p: &BulkPlanRow) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(&p.tenant_id)?;
    sqlx::query(&format!(
        "INSERT INTO dns_bulk_plans ({PLAN_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,NULL)"
    ))
    .bind(p.change_id.clone())
    .bind(p.tenant_id.clone())
    .bind(p.title.clone())
    .bind(p.batch_size)
    .bind(p.batches)
    .bind(serde_json::to_string(&p.unsafe_zones).map_err(AppError::internal)?)
    .bind(p.override_by.clone())
    .bind(p.override_reason.clone())
    .bind(p.state.clone())
    .bind(p.batch)
    .bind(p.stage.clone())
    .bind(p.deadline)
    .bind(p.note.clone())
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Records a plan's items.
pub async fn insert_items(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    change_id: &str,
    tenant_id: &str,
    items: &[BulkItemRow],
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    for it in items {
        sqlx::query(
            "INSERT INTO dns_bulk_items (change_id, seq, tenant_id, domain_id, domain, batch, fqdn, \
             rtype, before_values, after_values, ttl, state, serial_before, detail, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
        )
        .bind(change_id.to_string())
        .bind(it.seq)
        .bind(tenant_id.to_string())
        .bind(it.domain_id.clone())
        .bind(it.domain.clone())
        .bind(it.batch)
        .bind(it.fqdn.clone())
        .bind(it.rtype.clone())
        .bind(serde_json::to_string(&it.before).map_err(AppError::internal)?)
        .bind(serde_json::to_string(&it.after).map_err(AppError::internal)?)
        .bind(it.ttl)
        .bind(it.state.clone())
        .bind(it.serial_before)
        .bind(it.detail.clone())
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// One plan.
pub async fn bulk_plan(c: &mut AnyConnection, change_id: &str) -> AppResult<Option<BulkPlanRow>> {
    let r = sqlx::query(&format!(
        "SELECT {PLAN_COLS} FROM dns_bulk_plans WHERE change_id = $1"
    ))
    .bind(change_id.to_string())
    .fetch_optional(c)
    .await?;
    r.as_ref().map(plan_row).transpose()
}

/// The newest plans in these tenants.
pub async fn bulk_plans(db: &Db, g: &Granted<'_>, limit: i64) -> AppResult<Vec<BulkPlanRow>> {
    let mut w = crate::core::db::Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let l = w.arg(limit);
    let sql = format!(
        "SELECT {PLAN_COLS} FROM dns_bulk_plans{} ORDER BY created_at DESC, change_id DESC LIMIT {l}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter().map(plan_row).collect()
}

/// A plan's items in order.
pub async fn bulk_items(c: &mut AnyConnection, change_id: &str) -> AppResult<Vec<BulkItemRow>> {
    let rows = sqlx::query(
        "SELECT seq, domain_id, domain, batch, fqdn, rtype, before_values, after_values, ttl, \
         state, serial_before, detail FROM dns_bulk_items WHERE change_id = $1 ORDER BY seq",
    )
    .bind(change_id.to_string())
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            let list = |col: &str| -> AppResult<Vec<String>> {
                Ok(serde_json::from_str(&r.try_get::<String, _>(col)?).unwrap_or_default())
            };
            Ok(BulkItemRow {
                seq: r.try_get("seq")?,
                domain_id: r.try_get("domain_id")?,
                domain: r.try_get("domain")?,
                batch: r.try_get("batch")?,
                fqdn: r.try_get("fqdn")?,
                rtype: r.try_get("rtype")?,
                before: list("before_values")?,
                after: list("after_values")?,
                ttl: r.try_get("ttl")?,
                state: r.try_get("state")?,
                serial_before: r.try_get("serial_before")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// Moves a plan from the state `from` (any stage or batch): writes its state, stage, batch,
/// deadline and note. False: someone else moved it first.
pub async fn move_plan(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    p: &BulkPlanRow,
    from: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&p.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE dns_bulk_plans SET state = $3, stage = $4, batch = $5, deadline = $6, note = $7, \
         probes = NULL, updated_at = $8 WHERE change_id = $1 AND state = $2",
    )
    .bind(p.change_id.clone())
    .bind(from.to_string())
    .bind(p.state.clone())
    .bind(p.stage.clone())
    .bind(p.batch)
    .bind(p.deadline)
    .bind(p.note.clone())
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
        == 1)
}

/// Moves a running plan on from exactly (state, stage, batch): one step, once.
pub async fn move_plan_from(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    p: &BulkPlanRow,
    state: &str,
    stage: &str,
    batch: i64,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&p.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE dns_bulk_plans SET state = $5, stage = $6, batch = $7, deadline = $8, note = $9, \
         probes = NULL, updated_at = $10 WHERE change_id = $1 AND state = $2 AND stage = $3 AND batch = $4",
    )
    .bind(p.change_id.clone())
    .bind(state.to_string())
    .bind(stage.to_string())
    .bind(batch)
    .bind(p.state.clone())
    .bind(p.stage.clone())
    .bind(p.batch)
    .bind(p.deadline)
    .bind(p.note.clone())
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
        == 1)
}

/// Keeps the mail probes of the batch being verified, and their deadline, while the plan
/// is still exactly where `p` found it; false when it moved on meanwhile.
pub async fn set_plan_probes(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    p: &BulkPlanRow,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageDomains])?;
    g.check(&p.tenant_id)?;
    let probes = p
        .probes
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(AppError::internal)?;
    Ok(sqlx::query(
        "UPDATE dns_bulk_plans SET probes = $5, deadline = $6, updated_at = $7 \
         WHERE change_id = $1 AND state = $2 AND stage = $3 AND batch = $4",
    )
    .bind(p.change_id.clone())
    .bind(p.state.clone())
    .bind(p.stage.clone())
    .bind(p.batch)
    .bind(probes)
    .bind(p.deadline)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
        == 1)
}

/// Records an approver's override of an unsafe plan that waits for approval; false when it
/// is not one (safe, overridden already, or started).
pub async fn override_plan(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    change_id: &str,
    by: &str,
    reason: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ApproveChanges])?;
    let mut w = crate::core::db::Where::new();
    let (i, b, r, n) = (w.arg(change_id), w.arg(by), w.arg(reason), w.arg(now));
    w.and(format!(
        "change_id = {i} AND state = 'planned' AND override_by IS NULL AND unsafe_zones <> '[]'"
    ));
    w.granted("tenant_id", g);
    let sql = format!(
        "UPDATE dns_bulk_plans SET override_by = {b}, override_reason = {r}, override_at = {n}, \
         updated_at = {n}{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql)).execute(c).await?.rows_affected() == 1)
}

/// Records where one item stands.
#[allow(clippy::too_many_arguments)]
pub async fn set_bulk_item(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    change_id: &str,
    seq: i64,
    state: &str,
    serial_before: Option<i64>,
    detail: Option<&str>,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageDomains])?;
    g.check(tenant_id)?;
    sqlx::query(
        "UPDATE dns_bulk_items SET state = $4, serial_before = $5, detail = $6, updated_at = $7 \
         WHERE change_id = $1 AND seq = $2 AND tenant_id = $3",
    )
    .bind(change_id.to_string())
    .bind(seq)
    .bind(tenant_id.to_string())
    .bind(state.to_string())
    .bind(serial_before)
    .bind(detail.map(str::to_string))
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}
