//! The domain-control registry's use cases: read a domain's record (and the scanner's look at
//! its delegation), save it, mark it reviewed, read expiry and registrar from RDAP, the
//! dashboard's summary, and the recurring check that raises each warning as an alert once.
//!
//! Who may: reading follows the domain (`ViewTenants`); recording the facts is
//! `ManageDomains`; the expected delegation (NS, DS) is what drift is judged against, so
//! changing it also takes `ChangeDns` — frozen during an incident, like every DNS change.
use serde_json::json;

use super::store::{self, Fields, Stored};
use super::{warnings, ControlInput, ControlSummary, DomainControl, SummaryItem};
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::db::Tx;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::monitoring::service::{raise, Signal};
use crate::tenancy::Domain;

/// A record as read, with the domain's names and the warnings in force now.
fn filled(d: &Domain, s: Option<Stored>, now: i64) -> DomainControl {
    let mut c = s.map(|s| s.control).unwrap_or_else(|| DomainControl {
        domain_id: d.id.clone(),
        tenant_id: d.tenant_id.clone(),
        ..Default::default()
    });
    c.domain = d.name.clone();
    c.unicode_name = d.unicode_name.clone();
    c.warnings = warnings(&c, now);
    c
}

/// One domain's record (empty when nothing is recorded).
pub async fn control(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<DomainControl> {
    let d = crate::tenancy::service::domain(st, actor, domain_key).await?;
    control_of(st, actor, &d).await
}

/// [`control`] of a domain the caller has read already (`tenancy::service::domain`).
pub async fn control_of(st: &AppState, actor: &Actor, d: &Domain) -> AppResult<DomainControl> {
    let g = authorize_in(actor, Action::ViewTenants, &d.tenant_id)?;
    let mut conn = st.db.pool().acquire().await?;
    let s = store::get(&mut conn, &g, &d.id).await?;
    Ok(filled(d, s, st.clock.now()))
}

const MAX_TEXT: usize = 200;

fn text(s: &str, what: &str, max: usize) -> AppResult<String> {
    let s = s.trim();
    if s.chars().count() > max {
        return Err(AppError::invalid(format!(
            "Keep {what} under {max} characters."
        )));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::invalid(format!(
            "{what} contains control characters."
        )));
    }
    Ok(s.to_string())
}

/// `YYYY-MM-DD` as midnight UTC.
pub fn parse_date(s: &str) -> AppResult<i64> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        AppError::invalid(format!(
            "“{}” is not a date: write it as YYYY-MM-DD.",
            s.trim()
        ))
    })?;
    if !(1985..=2125).contains(&chrono::Datelike::year(&d)) {
        return Err(AppError::invalid(
            "The expiry date must be between 1985 and 2125.",
        ));
    }
    Ok(d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default())
}

/// Nameserver host names in their normal form: lower case, no final dot, sorted, unique.
pub fn nameservers(input: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for raw in input
        .iter()
        .flat_map(|l| l.split([',', ' ', '\n', '\r', '\t']))
    {
        let h = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if h.is_empty() {
            continue;
        }
        let ok = crate::types::is_host_name(&h);
        if !ok {
            return Err(AppError::invalid(format!(
                "“{}” is not a nameserver's host name (such as ns1.example.net; internationalised names in their xn-- form).",
                raw.trim()
            )));
        }
        if !out.contains(&h) {
            out.push(h);
        }
    }
    if out.len() > 13 {
        return Err(AppError::invalid("At most 13 nameservers."));
    }
    out.sort();
    Ok(out)
}

/// DS records in their normal form: `key-tag algorithm digest-type DIGEST`.
pub fn ds_records(input: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for line in input.iter().flat_map(|l| l.lines()) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            AppError::invalid(format!(
                "“{line}” is not a DS record: write key tag, algorithm, digest type and digest, such as 2371 13 2 1F987CC6…"
            ))
        };
        let [tag, alg, dt, digest @ ..] = parts.as_slice() else {
            return Err(bad());
        };
        let digest: String = digest.concat().to_ascii_uppercase();
        let ok = tag.parse::<u16>().is_ok()
            && alg.parse::<u8>().is_ok_and(|a| a > 0)
            && dt.parse::<u8>().is_ok_and(|a| a > 0)
            && digest.len() >= 20
            && digest.len() <= 200
            && digest.len().is_multiple_of(2)
            && digest.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            return Err(bad());
        }
        let r = format!(
            "{} {} {} {digest}",
            tag.parse::<u16>().unwrap_or_default(),
            alg.parse::<u8>().unwrap_or_default(),
            dt.parse::<u8>().unwrap_or_default()
        );
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.len() > 8 {
        return Err(AppError::invalid("At most 8 DS records."));
    }
    out.sort();
    Ok(out)
}

/// What is different between two records, field by field (for the audit event).
fn diff(before: &DomainControl, after: &DomainControl) -> serde_json::Value {
    let b = serde_json::to_value(before).unwrap_or_default();
    let a = serde_json::to_value(after).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for k in [
        "registrar",
        "registrar_account",
        "dns_provider",
        "expires_at",
        "auto_renew",
        "recovery_address",
        "mfa",
        "billing_owner",
        "expected_ns",
        "expected_ds",
        "notes",
    ] {
        if b.get(k) != a.get(k) {
            out.insert(k.into(), json!({ "before": b.get(k), "after": a.get(k) }));
        }
    }
    serde_json::Value::Object(out)
}

/// Saves what someone recorded. Changing the expected delegation (NS, DS) also takes the
/// right to change DNS. A record saved meanwhile by someone else is a conflict (409).
pub async fn save(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    input: &ControlInput,
) -> AppResult<DomainControl> {
    let d = crate::tenancy::service::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let recovery = text(&input.recovery_address, "The recovery address", 254)?;
    if !recovery.is_empty() {
        crate::types::EmailAddress::parse(&recovery).map_err(AppError::invalid)?;
    }
    let expires_at = match input.expires_on.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_date(s)?),
    };
    let ns = nameservers(&input.expected_ns)?;
    let ds = ds_records(&input.expected_ds)?;
    let mut after = DomainControl {
        domain_id: d.id.clone(),
        domain: d.name.clone(),
        unicode_name: d.unicode_name.clone(),
        tenant_id: d.tenant_id.clone(),
        recorded: true,
        registrar: text(&input.registrar, "The registrar", MAX_TEXT)?,
        registrar_account: text(&input.registrar_account, "The registrar account", MAX_TEXT)?,
        dns_provider: text(&input.dns_provider, "The DNS provider", MAX_TEXT)?,
        expires_at,
        auto_renew: input.auto_renew,
        recovery_address: recovery.to_ascii_lowercase(),
        mfa: input.mfa,
        billing_owner: text(&input.billing_owner, "The billing owner", MAX_TEXT)?,
        expected_ns: ns,
        expected_ds: ds,
        notes: text(&input.notes, "The notes", 4000)?,
        ..Default::default()
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let before = store::get(tx.conn(), &g, &d.id).await?;
    let prior = filled(&d, before.clone(), now);
    // The version the edit was made from: a form names it; an API client that leaves it out
    // overwrites knowingly (the current one).
    let version = match (input.version, &before) {
        (Some(0), _) => None,
        (Some(v), _) => Some(v),
        (None, Some(b)) => Some(b.control.version),
        (None, None) => None,
    };
    if version.is_some() && before.is_none() {
        return Err(AppError::Conflict(
            "This record was removed meanwhile: reload the page.".into(),
        ));
    }
    let delegation_changed =
        prior.expected_ns != after.expected_ns || prior.expected_ds != after.expected_ds;
    if delegation_changed {
        authorize_in(actor, Action::ChangeDns, &d.tenant_id)?;
    }
    let expiry_source = match (&before, after.expires_at) {
        (_, None) => None,
        (Some(b), Some(e)) if b.control.expires_at == Some(e) => b.control.expiry_source.clone(),
        _ => Some("manual".to_string()),
    };
    let new_version = store::save(
        tx.conn(),
        &g,
        &d.id,
        &d.tenant_id,
        &Fields {
            registrar: &after.registrar,
            registrar_account: &after.registrar_account,
            dns_provider: &after.dns_provider,
            expires_at: after.expires_at,
            expiry_source: expiry_source.as_deref(),
            auto_renew: after.auto_renew,
            recovery_address: &after.recovery_address,
            mfa: after.mfa,
            billing_owner: &after.billing_owner,
            expected_ns: &after.expected_ns,
            expected_ds: &after.expected_ds,
            notes: &after.notes,
            reviewed: input.reviewed,
        },
        version,
        now,
    )
    .await?;
    after.version = new_version;
    let changes = diff(&prior, &after);
    let ev = Event::new("domain.control_saved")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({
            "domain": d.name, "created": before.is_none(), "reviewed": input.reviewed,
            "changes": changes, "delegation_changed": delegation_changed,
        }));
    record(&mut tx, actor, now, ev).await?;
    let stored = store::get(tx.conn(), &g, &d.id)
        .await?
        .ok_or(AppError::NotFound)?;
    settle(&mut tx, st, &g, &d, &stored, now).await?;
    tx.commit().await?;
    control_of(st, actor, &d).await
}

/// Someone confirmed the recorded facts with the registrar now, changing nothing.
pub async fn review(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<DomainControl> {
    let d = crate::tenancy::service::domain(st, actor, domain_key).await?;
    authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let c = control_of(st, actor, &d).await?;
    if !c.recorded {
        return Err(AppError::invalid(
            "Nothing is recorded for this domain yet: fill in the form first.",
        ));
    }
    let input = ControlInput {
        registrar: c.registrar.clone(),
        registrar_account: c.registrar_account.clone(),
        dns_provider: c.dns_provider.clone(),
        expires_on: c.expires_at.map(super::date_of),
        auto_renew: c.auto_renew,
        recovery_address: c.recovery_address.clone(),
        mfa: c.mfa,
        billing_owner: c.billing_owner.clone(),
        expected_ns: c.expected_ns.clone(),
        expected_ds: c.expected_ds.clone(),
        notes: c.notes.clone(),
        reviewed: true,
        version: Some(c.version),
    };
    save(st, actor, &c.domain_id, &input).await
}

/// Reads registrar and expiry from the configured RDAP service and records them.
pub async fn rdap_lookup(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
) -> AppResult<DomainControl> {
    let d = crate::tenancy::service::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let Some(base) = st.config.rdap_url.clone() else {
        return Err(AppError::invalid(
            "No RDAP service is configured (rdap_url): enter expiry and registrar by hand.",
        ));
    };
    let found = super::rdap::lookup(&base, &d.name).await;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let (registrar, expires_at, error) = match &found {
        Ok(r) => (r.registrar.as_deref(), r.expires_at, None),
        Err(e) => (None, None, Some(e.as_str())),
    };
    store::put_rdap(
        tx.conn(),
        &g,
        &d.id,
        &d.tenant_id,
        registrar,
        expires_at,
        error,
        now,
    )
    .await?;
    let ev = Event::new("domain.control_rdap")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(match &found {
            Ok(r) => json!({
                "domain": d.name, "registrar": r.registrar, "expires_at": r.expires_at,
                "nameservers": r.nameservers, "signed": r.signed,
            }),
            Err(e) => json!({ "domain": d.name, "error": e }),
        });
    record(&mut tx, actor, now, ev).await?;
    let stored = store::get(tx.conn(), &g, &d.id)
        .await?
        .ok_or(AppError::NotFound)?;
    settle(&mut tx, st, &g, &d, &stored, now).await?;
    tx.commit().await?;
    if let Err(e) = found {
        return Err(AppError::Unavailable(format!("RDAP: {e}")));
    }
    control_of(st, actor, &d).await
}

/// Brings a record's warnings up to date at `now`: each warning that holds and was not
/// alerted yet raises an alert (`domain.control`), and is remembered until it stops holding
/// (so expiry fires once at 60, 30, 7 and 1 days, and again after a renewal lapses).
/// Returns whether an alert was raised.
async fn settle(
    tx: &mut Tx,
    st: &AppState,
    g: &Granted<'_>,
    d: &Domain,
    s: &Stored,
    now: i64,
) -> AppResult<bool> {
    let c = filled(d, Some(s.clone()), now);
    let codes: Vec<String> = c.warnings.iter().map(|w| w.code.clone()).collect();
    let mut alerted: Vec<String> = s
        .alerted
        .iter()
        .filter(|a| codes.contains(a))
        .cloned()
        .collect();
    let mut raised = false;
    for w in &c.warnings {
        if alerted.contains(&w.code) {
            continue;
        }
        let signal = Signal {
            rule: "domain.control",
            key: format!("domain.control:{}:{}", d.id, w.code),
            tenant_id: Some(d.tenant_id.clone()),
            severity: if w.severity == "critical" {
                "critical"
            } else {
                "warning"
            },
            title: format!("{}: {}", d.unicode_name, w.text.trim_end_matches('.')),
            detail: json!({ "domain": d.name, "warning": w.code, "text": w.text }),
            evidence: format!("control:{}", d.id),
        };
        raised |= raise(tx, st, &signal, now).await?;
        alerted.push(w.code.clone());
    }
    if codes != s.codes || alerted != s.alerted {
        store::set_checked(tx.conn(), g, &d.id, &codes, &alerted).await?;
    }
    Ok(raised)
}

/// The recurring check: every record's warnings at the current time (expiry approaches
/// without anyone editing anything). Returns how many alerts were raised.
pub async fn check(st: &AppState) -> AppResult<usize> {
    let sys = Actor::system("domain control");
    let g = authorize(&sys, Action::ManageDomains)?;
    let mut after = String::new();
    let mut raised = 0;
    loop {
        let page = store::page(&st.db, &after, 500).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.control.domain_id.clone();
        let now = st.clock.now();
        let ids: Vec<&str> = page.iter().map(|s| s.control.domain_id.as_str()).collect();
        let mut conn = st.db.pool().acquire().await?;
        let domains = crate::tenancy::store::domains_by_id(&mut conn, &ids).await?;
        drop(conn);
        // Only records whose warnings moved are looked at in a transaction.
        let moved: Vec<(&Stored, &Domain)> = page
            .iter()
            .filter_map(|s| domains.get(&s.control.domain_id).map(|d| (s, d)))
            .filter(|(s, d)| {
                let codes: Vec<String> = filled(d, Some((*s).clone()), now)
                    .warnings
                    .into_iter()
                    .map(|w| w.code)
                    .collect();
                codes != s.codes
                    || codes.iter().any(|c| !s.alerted.contains(c))
                    || s.alerted.iter().any(|a| !codes.contains(a))
            })
            .collect();
        for (_, d) in moved {
            let mut tx = st.db.begin().await?;
            // Read again inside the transaction: a save may have settled it meanwhile.
            let Some(fresh) = store::get(tx.conn(), &g, &d.id).await? else {
                continue;
            };
            if settle(&mut tx, st, &g, d, &fresh, now).await? {
                raised += 1;
                tx.commit().await?;
            } else {
                tx.commit_bookkeeping().await?;
            }
        }
    }
    Ok(raised)
}

/// The dashboard's summary over the domains the actor sees.
pub async fn summary(st: &AppState, actor: &Actor) -> AppResult<ControlSummary> {
    let g = authorize(actor, Action::ViewTenants)?;
    let (recorded, with_warnings, rows) = store::with_warnings(&st.db, &g, 50).await?;
    let (_, domains_total, _) = crate::tenancy::store::totals(&st.db, &g).await?;
    let now = st.clock.now();
    let ids: Vec<&str> = rows.iter().map(|s| s.control.domain_id.as_str()).collect();
    let mut conn = st.db.pool().acquire().await?;
    let domains = crate::tenancy::store::domains_by_id(&mut conn, &ids).await?;
    let mut top: Vec<SummaryItem> = Vec::new();
    for s in rows {
        let Some(d) = domains.get(&s.control.domain_id) else {
            continue;
        };
        if let Some(w) = filled(d, Some(s), now).warnings.into_iter().next() {
            top.push(SummaryItem {
                domain: d.unicode_name.clone(),
                domain_id: d.id.clone(),
                warning: w,
            });
        }
    }
    top.sort_by_key(|i| {
        if i.warning.severity == "critical" {
            0
        } else {
            1
        }
    });
    top.truncate(10);
    Ok(ControlSummary {
        unrecorded: (domains_total - recorded).max(0),
        with_warnings,
        top,
    })
}
