//! Incident use cases: declare, ask to end, keep open, confirm the end (a second person);
//! the incidents in force over an actor's tenants, which authentication loads with every
//! actor so the gate can refuse what they freeze.
use serde_json::json;

mod checks;
mod hunt;
mod postmortem;
pub use checks::{checklist, confirm_check};
pub use hunt::{hunt, to_csv};
pub use postmortem::{postmortem, save_postmortem, to_markdown};

use super::{store, Incident, NewIncident, RevokeInput, RevokeReceipt, RevokedAccount};
use crate::audit::service::{record, Event};
use crate::auth::Role;
use crate::core::authz::{authorize, authorize_protective_in, Action, Actor, TenantScope};
use crate::core::db::Db;
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::types::ActiveIncident;

/// The incidents in force over `scope` (platform-wide ones included), with tenant names.
pub async fn in_force(db: &Db, scope: &TenantScope) -> AppResult<Vec<ActiveIncident>> {
    let mut list = store::in_force(db, scope).await?;
    let names = tenant_names(db, list.iter().map(|i| i.tenant_id.as_deref())).await?;
    for i in &mut list {
        i.tenant_name = i.tenant_id.as_ref().and_then(|t| names.get(t).cloned());
    }
    Ok(list)
}

async fn named(st: &AppState, mut list: Vec<Incident>) -> AppResult<Vec<Incident>> {
    let names = tenant_names(&st.db, list.iter().map(|i| i.tenant_id.as_deref())).await?;
    for i in &mut list {
        i.tenant_name = i.tenant_id.as_ref().and_then(|t| names.get(t).cloned());
    }
    Ok(list)
}

/// Names of the tenants among `ids` (none asked when no incident names a tenant).
async fn tenant_names<'a>(
    db: &Db,
    ids: impl Iterator<Item = Option<&'a str>>,
) -> AppResult<std::collections::HashMap<String, String>> {
    let ids: Vec<&str> = ids.flatten().collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut conn = db.pool().acquire().await?;
    crate::tenancy::store::names_of(&mut conn, ids).await
}

/// Incidents over the actor's tenants and the platform, those in force first.
pub async fn list(st: &AppState, actor: &Actor) -> AppResult<Vec<Incident>> {
    let g = authorize(actor, Action::ViewIncidents)?;
    let list = store::list(&st.db, &g).await?;
    named(st, list).await
}

pub async fn get(st: &AppState, actor: &Actor, id: &str) -> AppResult<Incident> {
    let g = authorize(actor, Action::ViewIncidents)?;
    load(st, &g, id).await
}

/// One incident the proof covers, with its tenant's name.
async fn load(st: &AppState, g: &crate::core::authz::Granted<'_>, id: &str) -> AppResult<Incident> {
    let i = store::get(&st.db, g, id).await?.ok_or(AppError::NotFound)?;
    Ok(named(st, vec![i]).await?.remove(0))
}

/// The incident to act on, for whoever handles incidents (a write-only API token too).
async fn to_handle(st: &AppState, actor: &Actor, id: &str) -> AppResult<Incident> {
    let g = authorize(actor, Action::ManageIncidents)?;
    load(st, &g, id).await
}

/// The proof to act on an incident: in its tenant, or over the whole platform (only for
/// those who see every tenant). Protective: an incident never freezes its own handling.
fn handling<'a>(actor: &'a Actor, i: &Incident) -> AppResult<crate::core::authz::Granted<'a>> {
    match &i.tenant_id {
        Some(t) => authorize_protective_in(actor, Action::ManageIncidents, t),
        None => {
            let g = authorize(actor, Action::ManageIncidents)?;
            if matches!(actor.tenants, TenantScope::All) {
                Ok(g)
            } else {
                Err(AppError::NotFound)
            }
        }
    }
}

/// Declares an incident: from now on the gate freezes high-risk operations over its tenant
/// (or every tenant) and every page of those concerned shows it.
pub async fn declare(st: &AppState, actor: &Actor, n: &NewIncident) -> AppResult<Incident> {
    authorize(actor, Action::ManageIncidents)?;
    let title = n.title.trim();
    let reason = n.reason.trim();
    if title.chars().count() < 3 || title.chars().count() > 200 {
        return Err(AppError::invalid(
            "Give the incident a title of 3 to 200 characters.",
        ));
    }
    if reason.chars().count() < 4 || reason.chars().count() > 4000 {
        return Err(AppError::invalid(
            "Say why (4 to 4,000 characters): it goes into the audit log and the postmortem.",
        ));
    }
    let now = st.clock.now();
    let since = n.since_at.unwrap_or(now - 86_400);
    if since > now + 60 {
        return Err(AppError::invalid(
            "The start time T cannot be in the future: it is since when what happened is distrusted.",
        ));
    }
    if since < now - 366 * 86_400 {
        return Err(AppError::invalid(
            "The start time T is more than a year ago: pick a time within the last year.",
        ));
    }
    let tenant = n.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let tenant_id = match tenant {
        Some(key) => {
            let mut conn = st.db.pool().acquire().await?;
            let id = crate::tenancy::store::tenant_id_for(&mut conn, key)
                .await?
                .filter(|id| actor.tenants.contains(id))
                .ok_or_else(|| AppError::invalid(format!("There is no tenant named {key}.")))?;
            Some(id)
        }
        None => None,
    };
    let g = match &tenant_id {
        Some(t) => authorize_protective_in(actor, Action::ManageIncidents, t)?,
        None => {
            if !matches!(actor.tenants, TenantScope::All) {
                return Err(AppError::invalid(
                    "Only someone who sees every tenant can declare a platform-wide incident: pick a tenant.",
                ));
            }
            authorize(actor, Action::ManageIncidents)?
        }
    };
    let alert_id = n
        .alert_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(a) = alert_id {
        let alert = crate::monitoring::service::alert(st, actor, a)
            .await
            .map_err(|_| AppError::invalid(format!("There is no alert {a}.")))?;
        if alert.tenant_id.is_some() && alert.tenant_id != tenant_id {
            return Err(AppError::invalid(
                "That alert belongs to another tenant than the incident.",
            ));
        }
    }
    let id = secrets::new_id("inc");
    let mut tx = st.db.begin().await?;
    let row = store::NewRow {
        id: &id,
        tenant_id: tenant_id.as_deref(),
        title,
        reason,
        since_at: since,
        alert_id,
    };
    if !store::insert(tx.conn(), &g, &row, now).await? {
        drop(tx);
        let open = in_force(&st.db, &actor.tenants)
            .await?
            .into_iter()
            .find(|i| i.tenant_id == tenant_id);
        return Err(AppError::Conflict(match open {
            Some(i) => format!(
                "{} is already in force over this scope: work in it, or end it first.",
                capitalized(&i.name())
            ),
            None => "An incident is already in force over this scope.".into(),
        }));
    }
    let mut ev = Event::new("incident.declared")
        .target(id.clone())
        .details(json!({
            "title": title, "reason": reason, "since_at": since, "alert_id": alert_id,
            "scope": if tenant_id.is_some() { "tenant" } else { "platform" },
        }));
    if let Some(t) = &tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    load(st, &g, &id).await
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn event(i: &Incident, action: &'static str, details: serde_json::Value) -> Event<'static> {
    let mut ev = Event::new(action).target(i.id.clone()).details(details);
    if let Some(t) = &i.tenant_id {
        ev = ev.tenant(t.clone());
    }
    ev
}

/// Someone asks to end an incident in force; another person confirms ([`confirm_end`]).
pub async fn request_end(
    st: &AppState,
    actor: &Actor,
    id: &str,
    note: &str,
) -> AppResult<Incident> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    let note = note.trim();
    if note.chars().count() < 4 || note.chars().count() > 4000 {
        return Err(AppError::invalid(
            "Say why it can end (4 to 4,000 characters): what was found, what was done.",
        ));
    }
    if i.state != "active" {
        return Err(AppError::Conflict(
            "This incident has ended already.".into(),
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::request_end(tx.conn(), &g, &i, note, now).await? {
        return Err(AppError::Conflict(format!(
            "{} asked to end it already: another person confirms, or keeps it open.",
            i.end_requested_by_label.as_deref().unwrap_or("Someone")
        )));
    }
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.end_requested",
            json!({ "title": i.title, "note": note }),
        ),
    )
    .await?;
    tx.commit().await?;
    to_handle(st, actor, id).await
}

/// Withdraws a request to end the incident: it stays in force.
pub async fn keep_open(st: &AppState, actor: &Actor, id: &str) -> AppResult<Incident> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::keep_open(tx.conn(), &g, &i).await? {
        return Err(AppError::Conflict(
            "Nobody has asked to end this incident.".into(),
        ));
    }
    record(
        &mut tx,
        actor,
        now,
        event(&i, "incident.kept_open", json!({ "title": i.title })),
    )
    .await?;
    tx.commit().await?;
    to_handle(st, actor, id).await
}

/// Holds the outbound mail the incident covers (its tenant's; every tenant's for a platform
/// incident), or releases the hold. While held, `mailward policy` answers HOLD: the mail plane
/// keeps submitted mail in its hold queue, nothing leaves. Releasing lets new mail go; what
/// was held stays until someone on the mail host releases (`postsuper -H ALL`) or deletes it.
pub async fn hold_outbound(
    st: &AppState,
    actor: &Actor,
    id: &str,
    hold: bool,
) -> AppResult<Incident> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let by = actor.label.clone();
    if !store::set_outbound_hold(tx.conn(), &g, &i, hold.then_some((now, by.as_str()))).await? {
        return Err(AppError::Conflict(if i.state != "active" {
            "This incident has ended.".into()
        } else if hold {
            "Outbound mail is held already.".into()
        } else {
            "Outbound mail is not held.".into()
        }));
    }
    let action = if hold {
        "incident.outbound_held"
    } else {
        "incident.outbound_released"
    };
    record(
        &mut tx,
        actor,
        now,
        event(&i, action, json!({ "title": i.title })),
    )
    .await?;
    tx.commit().await?;
    to_handle(st, actor, id).await
}

/// A second person confirms the end: the freeze lifts and the banners go.
pub async fn confirm_end(st: &AppState, actor: &Actor, id: &str) -> AppResult<Incident> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    let me = actor.user_id.clone().ok_or(AppError::Forbidden)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::end(tx.conn(), &g, &i, &me, now).await? {
        drop(tx);
        let now_i = to_handle(st, actor, id).await?;
        return Err(if now_i.state != "active" {
            AppError::Conflict("This incident has ended already.".into())
        } else if now_i.end_requested_at.is_none() {
            AppError::invalid(
                "First someone asks to end it, saying why; then another person confirms.",
            )
        } else {
            AppError::invalid("You asked to end this incident, so another person must confirm it.")
        });
    }
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.ended",
            json!({
                "title": i.title, "asked_by": i.end_requested_by_label, "note": i.end_note,
                "declared_at": i.declared_at, "lasted_seconds": now - i.declared_at,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    to_handle(st, actor, id).await
}

/// Revokes chosen accounts in one step: console accounts lose their sessions and API tokens
/// (with `disable`, the account), mailboxes their self-service sessions and app passwords
/// (with `disable`, they are locked) — all in one transaction, audited per account and as one
/// receipt (`incident.revoked`). Then the mail plane ends the mailboxes' live IMAP sessions
/// (`doveadm kick`); what it said is in the receipt. Protective: never frozen.
pub async fn revoke(
    st: &AppState,
    actor: &Actor,
    id: &str,
    input: &RevokeInput,
) -> AppResult<RevokeReceipt> {
    let i = to_handle(st, actor, id).await?;
    let g = handling(actor, &i)?;
    if i.state != "active" {
        return Err(AppError::Conflict(
            "This incident has ended: revoke access from the account's own page.".into(),
        ));
    }
    let users: Vec<&str> = dedup(input.users.iter().map(|s| s.trim()));
    let boxes: Vec<&str> = dedup(input.mailboxes.iter().map(|s| s.trim()));
    if users.is_empty() && boxes.is_empty() {
        return Err(AppError::invalid(
            "Pick at least one account or mailbox whose access ends.",
        ));
    }
    if users.len() + boxes.len() > 1000 {
        return Err(AppError::invalid(
            "At most 1,000 accounts and mailboxes in one step.",
        ));
    }
    let me = actor.user_id.clone().unwrap_or_default();
    // Who: each account checked before anything changes.
    let mut people = Vec::new();
    for u in &users {
        let row = crate::auth::store::user_by_id(&st.db, u)
            .await?
            .ok_or_else(|| AppError::invalid(format!("There is no account {u}.")))?;
        if row.id == me {
            return Err(AppError::invalid(
                "Your own access is not revoked here: sign out everywhere from Your sessions.",
            ));
        }
        if row.role == Role::Owner && actor.role != Some(Role::Owner) {
            return Err(AppError::invalid(format!(
                "{} is an owner: only an owner revokes an owner's access.",
                row.email
            )));
        }
        if let Some(t) = &i.tenant_id {
            // In a tenant's incident: the people who can reach that tenant.
            let reaches = match row.role {
                Role::Owner => true,
                Role::Operator if row.all_tenants => true,
                _ => crate::auth::store::user_tenant_ids(&st.db, &row.id)
                    .await?
                    .contains(t),
            };
            if !reaches {
                return Err(AppError::invalid(format!(
                    "{} has no access to {}: nothing to revoke in this incident.",
                    row.email,
                    i.tenant_name.as_deref().unwrap_or("this tenant")
                )));
            }
        }
        people.push(row);
    }
    let mut mailboxes = Vec::new();
    for key in &boxes {
        let m = crate::mailboxes::service::get(st, actor, key)
            .await
            .map_err(|_| AppError::invalid(format!("There is no mailbox {key}.")))?;
        if !i.tenant_id.as_deref().is_none_or(|t| t == m.tenant_id) {
            return Err(AppError::invalid(format!(
                "{} belongs to another tenant than the incident.",
                m.address
            )));
        }
        if m.status == "offboarded" {
            return Err(AppError::invalid(format!(
                "{} is offboarded already: nothing is left to revoke.",
                m.address
            )));
        }
        mailboxes.push(m);
    }
    // Locking and cutting a mailbox's access is the mailboxes capability's, with its proof.
    let proofs = mailboxes
        .iter()
        .map(|m| authorize_protective_in(actor, Action::ManageMailboxes, &m.tenant_id))
        .collect::<AppResult<Vec<_>>>()?;
    let now = st.clock.now();
    let mut accounts = Vec::new();
    let mut tx = st.db.begin().await?;
    for row in &people {
        let (sessions, tokens) =
            crate::auth::store::revoke_access(tx.conn(), &g, &row.id, input.disable, now).await?;
        let mut ev = Event::new("user.access_revoked")
            .target(row.id.clone())
            .details(json!({
                "email": row.email, "role": row.role.as_str(), "incident": i.id,
                "sessions": sessions, "tokens": tokens, "disabled": input.disable,
            }));
        if let Some(t) = &i.tenant_id {
            ev = ev.tenant(t.clone());
        }
        record(&mut tx, actor, now, ev).await?;
        accounts.push(RevokedAccount {
            kind: "user".into(),
            id: row.id.clone(),
            label: row.email.clone(),
            sessions,
            tokens,
            app_passwords: 0,
            disabled: input.disable,
            imap_ended: None,
        });
    }
    for (m, mg) in mailboxes.iter().zip(&proofs) {
        let locked = input.disable && m.status != "locked";
        let (cut, suspended) = if locked {
            crate::mailboxes::service::lock_in(st, &mut tx, mg, m, now).await?
        } else {
            let cut = crate::mailboxes::store::cut_access(tx.conn(), mg, &m.id, now).await?;
            (cut, Vec::new())
        };
        let ev = Event::new("mailbox.access_revoked")
            .target(m.id.clone())
            .details(json!({
                "address": m.address, "incident": i.id, "sessions_ended": cut.sessions,
                "app_passwords_revoked": cut.app_passwords, "locked": locked,
                "forwards_suspended": suspended,
            }))
            .tenant(m.tenant_id.clone());
        record(&mut tx, actor, now, ev).await?;
        accounts.push(RevokedAccount {
            kind: "mailbox".into(),
            id: m.id.clone(),
            label: m.address.clone(),
            sessions: cut.sessions,
            tokens: 0,
            app_passwords: cut.app_passwords,
            disabled: input.disable,
            imap_ended: None,
        });
    }
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.revoked",
            json!({
                "accounts": accounts.iter().map(|a| json!({
                    "kind": a.kind, "id": a.id, "label": a.label, "sessions": a.sessions,
                    "tokens": a.tokens, "app_passwords": a.app_passwords, "disabled": a.disabled,
                })).collect::<Vec<_>>(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    // Delegates reading a locked mailbox's folders lose them too (their groups follow it).
    if input.disable {
        for m in &mailboxes {
            crate::mailboxes::service::end_delegates_sessions(st, &m.id).await;
        }
    }
    // Live IMAP sessions end at once on the mail plane (they would otherwise last until the
    // client logs in again).
    let addresses: Vec<String> = mailboxes.iter().map(|m| m.address.clone()).collect();
    let mut mail_plane = None;
    if !addresses.is_empty() {
        match crate::core::doveadm::kick(&st.config, &addresses).await {
            Ok(kicked) => {
                let mut failed = Vec::new();
                for (a, k) in accounts
                    .iter_mut()
                    .filter(|a| a.kind == "mailbox")
                    .zip(kicked)
                {
                    match k {
                        crate::core::doveadm::Kicked::Ended(n) => a.imap_ended = Some(n),
                        crate::core::doveadm::Kicked::Failed(e) => {
                            failed.push(format!("{}: {e}", a.label))
                        }
                    }
                }
                if !failed.is_empty() {
                    mail_plane = Some(format!(
                        "The mail plane could not end these live IMAP sessions: {}.",
                        failed.join("; ")
                    ));
                }
            }
            Err(e) => {
                mail_plane = Some(format!(
                    "Live IMAP sessions were not ended at once ({e}): they end when the client next logs in."
                ))
            }
        }
        if let Some(note) = &mail_plane {
            tracing::warn!(incident = %i.id, "{note}");
        }
        let mut ev = Event::new("incident.sessions_kicked")
            .target(i.id.clone())
            .details(json!({
                "mailboxes": accounts.iter().filter(|a| a.kind == "mailbox")
                    .map(|a| json!({ "address": a.label, "imap_ended": a.imap_ended }))
                    .collect::<Vec<_>>(),
                "problem": mail_plane,
            }));
        if let Some(t) = &i.tenant_id {
            ev = ev.tenant(t.clone());
        }
        crate::audit::service::record_alone(&st.db, actor, st.clock.now(), ev).await?;
    }
    Ok(RevokeReceipt {
        incident_id: i.id.clone(),
        at: now,
        by: actor.label.clone(),
        accounts,
        mail_plane,
    })
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    items.filter(|s| !s.is_empty() && seen.insert(*s)).collect()
}

/// Plans the restore of the known-good DNS baseline for the incident's tenant (`tenant` for
/// a platform incident): a bulk change (`dns.bulk`, operation *restore*) over its domains —
/// or one `domain` — with every diff read live, a canary and batches, verified after each.
/// Protective: planning and approving it pass the freeze. Returns the plan's change id.
pub async fn restore(
    st: &AppState,
    actor: &Actor,
    id: &str,
    tenant: Option<&str>,
    domain: Option<&str>,
) -> AppResult<String> {
    let i = to_handle(st, actor, id).await?;
    handling(actor, &i)?;
    if i.state != "active" {
        return Err(AppError::Conflict(
            "This incident has ended: plan a restore from the DNS changes page.".into(),
        ));
    }
    let tenant = match (
        &i.tenant_id,
        tenant.map(str::trim).filter(|t| !t.is_empty()),
    ) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t.to_string(),
        (None, None) => {
            return Err(AppError::invalid(
                "A platform incident covers every tenant: pick the tenant to restore.",
            ))
        }
    };
    let input = crate::dns::BulkInput {
        tenant,
        operation: "restore".into(),
        domain: domain.map(str::trim).unwrap_or_default().to_string(),
        reason: format!(
            "Incident \u{201c}{}\u{201d}: restore the known-good DNS baseline",
            i.title
        ),
        ..Default::default()
    };
    let plan = crate::dns::service::bulk::plan(st, actor, &input).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    record(
        &mut tx,
        actor,
        now,
        event(
            &i,
            "incident.restore_planned",
            json!({ "plan": plan, "domain": input.domain }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(plan)
}

/// Postmortems of `tenant_id`'s incidents shared with its client viewers: (id, title), for
/// the client portal.
pub async fn shared_postmortems(
    st: &AppState,
    actor: &Actor,
    tenant_id: &str,
) -> AppResult<Vec<(String, String)>> {
    let g = crate::core::authz::authorize_in(actor, Action::ViewTenants, tenant_id)?;
    let mut out = Vec::new();
    for id in store::shared_postmortems(&st.db, tenant_id).await? {
        if let Ok(i) = load(st, &g, &id).await {
            out.push((i.id, i.title));
        }
    }
    Ok(out)
}
