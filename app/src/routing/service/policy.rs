//! A tenant's routing policy: alias policy, the allowlist of destination domains, expiry bounds,
//! recipient confirmation.
#[allow(unused_imports)]
use super::*;

pub async fn policy(conn: &mut AnyConnection, tenant_id: &str) -> AppResult<RoutingPolicy> {
    let p = crate::tenancy::store::routing_policy(conn, tenant_id).await?;
    Ok(RoutingPolicy {
        alias_policy: p.alias_policy,
        allowlist: p.allowlist.split_whitespace().map(str::to_string).collect(),
        default_days: p.default_days,
        max_days: p.max_days,
        confirmation: p.confirmation,
    })
}

/// The tenant's routing policy (anyone who sees the tenant).
pub async fn tenant_policy(st: &AppState, actor: &Actor, tenant: &str) -> AppResult<RoutingPolicy> {
    let t = crate::tenancy::service::tenant_for(st, actor, tenant, Action::ViewTenants).await?;
    let mut conn = st.db.pool().acquire().await?;
    policy(&mut conn, &t.id).await
}

/// A destination domain as the allowlist holds it (ASCII, lower case), or why not.
pub(crate) fn allowlist_domain(s: &str) -> AppResult<String> {
    let d = s.trim().trim_start_matches('@').to_lowercase();
    let d = idna::domain_to_ascii(&d)
        .map_err(|_| AppError::invalid(format!("“{s}” is not a domain name.")))?;
    EmailAddress::parse(&format!("x@{d}"))
        .map_err(|_| AppError::invalid(format!("“{s}” is not a domain name.")))?;
    Ok(d)
}

/// Sets a tenant's routing policy: owners and operators only (a tenant admin cannot open
/// their own tenant to external forwarding). Audited with before and after.
pub async fn set_policy(
    st: &AppState,
    actor: &Actor,
    tenant: &str,
    p: &RoutingPolicy,
) -> AppResult<RoutingPolicy> {
    let t = crate::tenancy::service::tenant_for(st, actor, tenant, Action::ManageTenants).await?;
    let g = authorize_in(actor, Action::ManageTenants, &t.id)?;
    // Frozen while an incident holds (the gate names it).
    authorize_in(actor, Action::ChangeRouting, &t.id)?;
    if !["direct", "approval"].contains(&p.alias_policy.as_str()) {
        return Err(AppError::invalid(
            "Aliases are created either directly or through approval.",
        ));
    }
    if !(1..=MAX_DAYS).contains(&p.max_days) {
        return Err(AppError::invalid(format!(
            "The longest a forward or catch-all may last is 1 to {MAX_DAYS} days."
        )));
    }
    if !(1..=p.max_days).contains(&p.default_days) {
        return Err(AppError::invalid(format!(
            "The default expiry must be 1 to {} days (the maximum you set).",
            p.max_days
        )));
    }
    let mut allow: Vec<String> = Vec::new();
    for d in &p.allowlist {
        let d = allowlist_domain(d)?;
        if !allow.contains(&d) {
            allow.push(d);
        }
    }
    allow.sort();
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let before = policy(tx.conn(), &t.id).await?;
    let after = RoutingPolicy {
        alias_policy: p.alias_policy.clone(),
        allowlist: allow,
        default_days: p.default_days,
        max_days: p.max_days,
        confirmation: p.confirmation,
    };
    crate::tenancy::store::set_routing_policy(
        tx.conn(),
        &g,
        &t.id,
        &crate::tenancy::store::RoutingSettings {
            alias_policy: &after.alias_policy,
            allowlist: &after.allowlist.join(" "),
            default_days: after.default_days,
            max_days: after.max_days,
            confirmation: after.confirmation,
        },
        now,
    )
    .await?;
    let ev = Event::new("tenant.routing_policy_changed")
        .target(t.id.clone())
        .tenant(t.id.clone())
        .details(json!({ "before": before, "after": after }));
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(after)
}
