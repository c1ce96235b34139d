//! DNS use cases: reading a domain's DNS (expected, observed, keys, snippet), the category
//! templates, checking now, the scanner ([`scan`]), DKIM keys ([`dkim`]). One file per
//! concern: [`baseline`] (pure: the records, comparison, findings), [`resolve`] (asking
//! nameservers), [`scan`] (the recurring job and the check on demand), [`dkim`].
use std::collections::HashMap;

use serde_json::json;

use super::store;
use super::{DkimKey, DomainDns, Expected, Observed, Template};
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted};
use crate::core::db::Tx;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::tenancy::service as tenancy;
use crate::tenancy::{Domain, DOMAIN_CATEGORIES};

pub mod baseline;
pub mod bulk;
pub mod changes;
pub mod dkim;
pub mod dmarc;
pub mod probe;
pub mod resolve;
mod scan;
pub mod sign;
pub mod update;
pub use dkim::{generate_key, open_private, rotate_key, set_delegation};
pub use dmarc::{import_report, read_maildir};
pub use scan::*;
pub use sign::{sign_message, Signed};

/// Every category's template in force (saved by an owner, or the built-in one).
pub async fn templates_in_force(st: &AppState) -> AppResult<HashMap<String, Template>> {
    let mut m: HashMap<String, Template> = DOMAIN_CATEGORIES
        .iter()
        .map(|(c, _)| (c.to_string(), Template::default_for(c)))
        .collect();
    for (c, t) in store::templates(&st.db).await? {
        m.insert(c, t);
    }
    Ok(m)
}

/// The templates page: each category with its template and whether an owner saved it.
pub async fn templates(
    st: &AppState,
    actor: &Actor,
) -> AppResult<Vec<(String, String, Template, bool)>> {
    authorize(actor, Action::ViewTenants)?;
    let saved: HashMap<String, Template> = store::templates(&st.db).await?.into_iter().collect();
    Ok(DOMAIN_CATEGORIES
        .iter()
        .map(|(c, label)| {
            let t = saved.get(*c).cloned();
            (
                c.to_string(),
                label.to_string(),
                t.clone().unwrap_or_else(|| Template::default_for(c)),
                t.is_some(),
            )
        })
        .collect())
}

/// An owner changes a category's baseline. Every domain of the category is compared against
/// it from the next scan on; the event keeps before and after.
pub async fn save_template(
    st: &AppState,
    actor: &Actor,
    category: &str,
    t: Template,
) -> AppResult<()> {
    let g = authorize(actor, Action::ManageDnsBaselines)?;
    if !DOMAIN_CATEGORIES.iter().any(|(c, _)| *c == category) {
        return Err(AppError::NotFound);
    }
    let t = Template {
        spf: t.spf.split_whitespace().collect::<Vec<_>>().join(" "),
        dmarc_rua: t.dmarc_rua.trim().to_string(),
        tls_rpt_rua: t.tls_rpt_rua.trim().to_string(),
        ..t
    };
    baseline::validate(&t)?;
    let before = templates_in_force(st).await?.remove(category);
    if before.as_ref() == Some(&t) {
        return Err(AppError::invalid("Nothing changed."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::save_template(tx.conn(), &g, category, &t, &actor.label, now).await?;
    let ev = Event::new("dns.template_changed")
        .target(category.to_string())
        .details(json!({ "category": category, "before": before, "after": t }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

/// A domain's DNS as its page and the API show it.
pub async fn domain_dns(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<DomainDns> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let mut conn = st.db.pool().acquire().await?;
    let keys = store::live_keys(&mut conn, &[d.id.as_str()]).await?;
    let prior = store::observations(&mut conn, &[d.id.as_str()]).await?;
    let delegation = store::delegations(&mut conn, &[d.id.as_str()])
        .await?
        .into_iter()
        .next()
        .map(|(_, x)| x);
    drop(conn);
    let challenge = challenge_of(&d);
    let (expected, notes) = fill_in(st, &d, &keys, delegation.as_ref()).await?;
    let snippet = baseline::snippet(&d.name, &expected);
    let operator_snippet = baseline::operator_snippet(&expected);
    // The delegation from the domain-control record is watched, not published here.
    let mut expected = expected;
    let mut conn = st.db.pool().acquire().await?;
    if let Some((ns, ds)) = crate::domain_control::store::delegations(&mut conn, &[d.id.as_str()])
        .await?
        .remove(&d.id)
    {
        expected.extend(baseline::delegation(&ns, &ds));
    }
    drop(conn);
    let required: HashMap<(String, String, String), bool> = expected
        .iter()
        .map(|e| {
            (
                (e.name.clone(), e.rtype.clone(), e.purpose.clone()),
                e.required,
            )
        })
        .collect();
    let observed: Vec<Observed> = prior
        .into_iter()
        .map(|(_, mut o)| {
            o.required = required
                .get(&(o.name.clone(), o.rtype.clone(), o.purpose.clone()))
                .copied()
                .unwrap_or(false);
            o
        })
        .collect();
    Ok(DomainDns {
        domain_id: d.id.clone(),
        domain: d.name.clone(),
        unicode_name: d.unicode_name.clone(),
        tenant_slug: d.tenant_slug.clone(),
        tenant_name: d.tenant_name.clone(),
        category: d.category.clone(),
        status: d.status.to_string(),
        verified: d.verified.clone(),
        challenge,
        health: d.health.clone(),
        health_reason: d.health_reason.clone(),
        drift: d.drift,
        checked_at: d.checked_at,
        expected,
        observed,
        keys: keys.iter().map(dkim::public_view).collect(),
        snippet,
        notes,
        dmarc: dmarc::summary(st, &d.id).await?,
        delegated_to: delegation.filter(|x| x.enabled).map(|x| x.zone),
        delegation_offered: st.config.dkim_zone.is_some(),
        operator_zone_automatic: st.config.dkim_zone_server.is_some(),
        operator_snippet,
        provider: changes::provider(st, actor, &d.id).await?,
        changes: changes::changes_of(st, actor, &d).await?,
    })
}

/// The baseline of the domain's category filled in for it (with its keys and delegation),
/// and notes on the configuration.
async fn fill_in(
    st: &AppState,
    d: &Domain,
    keys: &[store::KeyRow],
    delegation: Option<&store::Delegation>,
) -> AppResult<(Vec<Expected>, Vec<String>)> {
    let templates = templates_in_force(st).await?;
    let t = templates
        .get(&d.category)
        .cloned()
        .unwrap_or_else(|| Template::default_for(&d.category));
    let challenge = challenge_of(d);
    Ok(baseline::expected(
        &t,
        st.config.mail_host.as_deref(),
        keys,
        challenge.as_ref().map(|(_, v)| v.as_str()),
        delegation.map(|x| (d.name.as_str(), x.zone.as_str(), x.enabled)),
    ))
}

/// The record sets a domain's baseline expects, as it is now.
pub async fn expected_of(st: &AppState, d: &Domain) -> AppResult<Vec<Expected>> {
    let mut conn = st.db.pool().acquire().await?;
    let keys = store::live_keys(&mut conn, &[d.id.as_str()]).await?;
    let delegation = store::delegations(&mut conn, &[d.id.as_str()])
        .await?
        .into_iter()
        .next()
        .map(|(_, x)| x);
    drop(conn);
    Ok(fill_in(st, d, &keys, delegation.as_ref()).await?.0)
}

/// The challenge record while it matters: until the domain is verified by DNS.
fn challenge_of(d: &Domain) -> Option<(String, String)> {
    (d.verified.as_deref() != Some("dns") && d.verified.as_deref() != Some("legacy"))
        .then(|| d.challenge())
}

/// The MTA-STS policy served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (the
/// operator's TLS proxy sends those hosts here), from the same template as the `_mta-sts`
/// record's id. `None`: not a hosted domain with a policy.
pub async fn mta_sts_policy(st: &AppState, host: &str) -> AppResult<Option<String>> {
    let host = host
        .split(':')
        .next()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let Some(name) = host.strip_prefix("mta-sts.") else {
        return Ok(None);
    };
    let sys = Actor::system("mta-sts");
    let g = authorize(&sys, Action::ViewTenants)?;
    let Some(d) = crate::tenancy::store::domain(&st.db, &g, name).await? else {
        return Ok(None);
    };
    if d.status != crate::types::LiveStatus::Active {
        return Ok(None);
    }
    let t = templates_in_force(st)
        .await?
        .remove(&d.category)
        .unwrap_or_else(|| Template::default_for(&d.category));
    Ok(baseline::mta_sts_policy(&t, st.config.mail_host.as_deref()))
}
