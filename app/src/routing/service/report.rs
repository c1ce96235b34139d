//! The persistence report, the dashboard's badges and a domain's routing history.
#[allow(unused_imports)]
use super::*;

/// The persistence report: every live route that sends mail somewhere its mailbox owner
/// does not read — external forwards, catch-alls, aliases with a target outside their
/// tenant — with age, expiry, requester and approver. (The report page lists delegations
/// beside them: `mailboxes::service::delegations_in`.)
pub async fn report(
    st: &AppState,
    actor: &Actor,
    tenant: Option<&str>,
    since: Option<i64>,
) -> AppResult<Vec<PersistenceItem>> {
    leaving(st, actor, tenant, since, None).await
}

/// Routes leaving the tenant made since `since`, in any state (turned off and expired ones
/// too): the incident hunt's record.
pub async fn made_since(
    st: &AppState,
    actor: &Actor,
    tenant: Option<&str>,
    since: i64,
) -> AppResult<Vec<PersistenceItem>> {
    leaving(st, actor, tenant, Some(since), Some("all")).await
}

async fn leaving(
    st: &AppState,
    actor: &Actor,
    tenant: Option<&str>,
    since: Option<i64>,
    state: Option<&str>,
) -> AppResult<Vec<PersistenceItem>> {
    let routes = list(
        st,
        actor,
        &RouteFilter {
            tenant: tenant.map(str::to_string),
            since,
            state: state.map(str::to_string),
            ..Default::default()
        },
    )
    .await?;
    let now = st.clock.now();
    let mut conn = st.db.pool().acquire().await?;
    let mut out = Vec::new();
    for r in routes {
        let outside = match r.kind.as_str() {
            "forward" | "catchall" => true,
            _ => {
                // A target mailbox of another tenant (never made here, but reported if found).
                let mut other = r.leaves_tenant();
                for t in r.targets.iter().filter(|t| !t.external) {
                    if let Some((_, tid, _)) = mailbox_at(&mut conn, &t.address).await? {
                        other |= tid != r.tenant_id;
                    }
                }
                other
            }
        };
        if !outside {
            continue;
        }
        out.push(PersistenceItem {
            route_id: r.id.clone(),
            kind: r.kind.as_str().to_string(),
            tenant: r.tenant_name.clone(),
            source: r.source.clone(),
            targets: r.targets.iter().map(|t| t.address.clone()).collect(),
            state: r.state.as_str().to_string(),
            created_at: r.created_at,
            age_days: (now - r.created_at).max(0) / 86400,
            expires_at: r.expires_at,
            requested_by: r.requested_by_label.clone(),
            approved_by: r.approved_by_label.clone(),
            reason: r.reason.clone(),
        });
    }
    Ok(out)
}

/// The report as CSV (one line per route; targets separated by spaces).
pub fn report_csv(items: &[PersistenceItem]) -> String {
    let ts = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    };
    let mut c = crate::core::csv::Csv::new(&[
        "route_id",
        "kind",
        "tenant",
        "source",
        "targets",
        "state",
        "created_at",
        "age_days",
        "expires_at",
        "requested_by",
        "approved_by",
        "reason",
    ]);
    for i in items {
        c.text(&i.route_id)
            .text(&i.kind)
            .text(&i.tenant)
            .text(&i.source)
            .text(&i.targets.join(" "))
            .text(&i.state)
            .text(&ts(i.created_at))
            .num(i.age_days)
            .text(&i.expires_at.map(ts).unwrap_or_default())
            .text(&i.requested_by)
            .text(i.approved_by.as_deref().unwrap_or(""))
            .text(&i.reason);
        c.end_row();
    }
    c.finish()
}

pub async fn badges(st: &AppState, actor: &Actor) -> AppResult<RoutingBadges> {
    let g = authorize(actor, Action::ViewDashboard)?;
    let now = st.clock.now();
    let (catchall, forwards, soon) =
        store::badge_counts(&st.db, &g, now, now + REMIND_BEFORE_SECS).await?;
    let pending = crate::changes::store::pending_count(&st.db, &g, Some("routing."), now).await?;
    Ok(RoutingBadges {
        catchall_domains: catchall,
        external_forwards: forwards,
        expiring_within_7_days: soon,
        pending_approvals: pending,
    })
}

/// A domain's routing history: every route event, newest first.
pub async fn history(
    st: &AppState,
    actor: &Actor,
    domain_id: &str,
) -> AppResult<Vec<crate::audit::AuditEvent>> {
    let g = authorize(actor, Action::ViewAudit)?;
    crate::audit::service::about(
        &st.db,
        &g.actor.tenants,
        domain_id,
        crate::audit::service::Actions::Prefix("route."),
        200,
    )
    .await
}
