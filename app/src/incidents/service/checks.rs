//! "Validate domain control": for each domain the incident concerns, the domain-control
//! registry as a checklist — registrar access, DNS provider access, recovery address, MFA,
//! delegation — each item confirmed by a named person, with the time (and a note).
use serde_json::json;

use super::super::{store, CheckInput, CheckItem, DomainChecklist, Incident, CHECK_ITEMS};
use super::{event, get, handling, to_handle};
use crate::audit::service::record;
use crate::core::authz::{authorize, Action, Actor};
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// Domains listed for a platform-wide incident (a tenant's are all listed).
pub const PLATFORM_DOMAINS: usize = 100;

/// The affected domains of an incident: its tenant's, or (platform-wide) the first
/// [`PLATFORM_DOMAINS`] by name. Returns the domains and how many there are in all.
async fn affected(
    st: &AppState,
    actor: &Actor,
    i: &Incident,
) -> AppResult<(Vec<crate::tenancy::Domain>, usize)> {
    let g = authorize(actor, Action::ViewTenants)?;
    let mut all = crate::tenancy::store::domains(&st.db, &g, i.tenant_id.as_deref(), None).await?;
    let total = all.len();
    if i.tenant_id.is_none() {
        all.truncate(PLATFORM_DOMAINS);
    }
    Ok((all, total))
}

/// The checklist of every affected domain, and how many domains the incident concerns.
pub async fn checklist(
    st: &AppState,
    actor: &Actor,
    id: &str,
) -> AppResult<(Vec<DomainChecklist>, usize)> {
    let i = get(st, actor, id).await?;
    let (domains, total) = affected(st, actor, &i).await?;
    let ids: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
    let mut conn = st.db.pool().acquire().await?;
    let records = crate::domain_control::store::of_domains(&mut conn, &ids).await?;
    drop(conn);
    let done = store::checks(&st.db, &i.id).await?;
    let now = st.clock.now();
    let out = domains
        .iter()
        .map(|d| {
            let mut control = records
                .iter()
                .find(|r| r.control.domain_id == d.id)
                .map(|r| r.control.clone())
                .unwrap_or_else(|| crate::domain_control::DomainControl {
                    domain_id: d.id.clone(),
                    tenant_id: d.tenant_id.clone(),
                    ..Default::default()
                });
            control.domain = d.name.clone();
            control.unicode_name = d.unicode_name.clone();
            control.warnings = crate::domain_control::warnings(&control, now);
            let items = CHECK_ITEMS
                .iter()
                .map(|(item, label)| {
                    let c = done.iter().find(|c| c.domain_id == d.id && c.item == *item);
                    CheckItem {
                        item: item.to_string(),
                        label: label.to_string(),
                        confirmed_by: c.map(|c| c.confirmed_by_label.clone()),
                        confirmed_at: c.map(|c| c.confirmed_at),
                        note: c.map(|c| c.note.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            DomainChecklist {
                domain_id: d.id.clone(),
                domain: d.unicode_name.clone(),
                control,
                items,
            }
        })
        .collect();
    Ok((out, total))
}

/// Someone confirms one item for one domain, while the incident holds. Confirmed once: a
/// second confirmation of the same item is a conflict naming the first.
pub async fn confirm_check(
    st: &AppState,
    actor: &Actor,
    id: &str,
    input: &CheckInput,
) -> AppResult<DomainChecklist> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    if i.state != "active" {
        return Err(AppError::Conflict(
            "The incident has ended: its checklist is closed.".into(),
        ));
    }
    let Some((item, label)) = CHECK_ITEMS.iter().find(|(k, _)| *k == input.item.trim()) else {
        return Err(AppError::invalid(format!(
            "“{}” is not an item of the checklist.",
            input.item.trim()
        )));
    };
    let note = input.note.trim();
    if note.chars().count() > 1000 {
        return Err(AppError::invalid("Keep the note under 1000 characters."));
    }
    let d = crate::tenancy::service::domain(st, actor, input.domain.trim()).await?;
    if i.tenant_id.as_deref().is_some_and(|t| t != d.tenant_id) {
        return Err(AppError::invalid(format!(
            "{} is not a domain of the incident's tenant.",
            d.unicode_name
        )));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::confirm_check(tx.conn(), &g, &i, &d.id, &d.name, item, note, now).await? {
        // Let the connection go before asking who it was (many confirming at once each hold one).
        drop(tx);
        let who = store::checks(&st.db, &i.id)
            .await?
            .into_iter()
            .find(|c| c.domain_id == d.id && c.item == *item)
            .map(|c| c.confirmed_by_label)
            .unwrap_or_default();
        return Err(AppError::Conflict(format!("Already confirmed by {who}.")));
    }
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.check_confirmed",
            json!({ "domain": d.name, "item": item, "label": label, "note": note }),
        ),
    )
    .await?;
    tx.commit().await?;
    checklist(st, actor, id)
        .await?
        .0
        .into_iter()
        .find(|c| c.domain_id == d.id)
        .ok_or(AppError::NotFound)
}
