//! CSV imports: validated at upload (nothing is created then), started by a person, run by a
//! job worker in two phases:
//!
//! 1. **create** — mailboxes in batches of 500 rows per transaction; each row's mailbox id is
//!    written with the mailbox, so a resumed job skips what is done. If any row fails (an
//!    address taken meanwhile, the pool full), every mailbox of the job is removed again and
//!    the job fails: all or nothing.
//! 2. **invite** — one transaction per row: a one-time link, mailed (or left to be revealed).
//!    A resumed job continues at the first row without a link.
use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::store;
use super::{columns, parse_csv, ImportJob, ImportRow, MAX_ROWS};
use crate::audit::service::{record, record_many, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor};
use crate::core::jobs;
use crate::core::secrets;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};
use crate::mailboxes::service::{replace_link, Delivery};
use crate::mailboxes::{parse_quota, store as mstore};
use crate::types::EmailAddress;

const CREATE_BATCH: i64 = 500;

/// Import jobs as the console shows them, with their tenant's name.
async fn shown(st: &AppState, jobs: Vec<jobs::JobRow>) -> AppResult<Vec<ImportJob>> {
    let mut c = st.db.pool().acquire().await?;
    let tenants =
        crate::tenancy::store::labels_of(&mut c, jobs.iter().map(|j| j.tenant_id.as_str())).await?;
    Ok(jobs
        .into_iter()
        .map(|j| {
            let (tenant_name, tenant_slug) = tenants.get(&j.tenant_id).cloned().unwrap_or_default();
            ImportJob {
                rows: j.payload["rows"].as_i64().unwrap_or(0),
                errors: j.payload["errors"].as_i64().unwrap_or(0),
                id: j.id,
                tenant_id: j.tenant_id,
                tenant_name,
                tenant_slug,
                state: j.state,
                phase: j.phase,
                done: j.done,
                total: j.total,
                error: j.error,
                created_by: j.created_by_label,
                created_at: j.created_at,
                finished_at: j.finished_at,
            }
        })
        .collect())
}

async fn load(st: &AppState, id: &str) -> AppResult<Option<ImportJob>> {
    match jobs::get(&st.db, "import", id).await? {
        Some(j) => Ok(shown(st, vec![j]).await?.pop()),
        None => Ok(None),
    }
}

/// An import the actor may see (another tenant's: not found).
pub async fn get(st: &AppState, actor: &Actor, id: &str) -> AppResult<ImportJob> {
    authorize(actor, Action::ViewTenants)?;
    let job = load(st, id).await?.ok_or(AppError::NotFound)?;
    authorize_in(actor, Action::ViewTenants, &job.tenant_id)?;
    Ok(job)
}

/// Rows of an import, those with errors first (at most `limit`).
pub async fn rows(st: &AppState, actor: &Actor, id: &str, limit: i64) -> AppResult<Vec<ImportRow>> {
    get(st, actor, id).await?;
    store::rows(&st.db, id, limit).await
}

/// Validates a CSV file for one tenant and stores it as a draft import with an error per
/// bad line. Nothing is created yet.
pub async fn preview(
    st: &AppState,
    actor: &Actor,
    tenant_key: &str,
    csv: &str,
) -> AppResult<ImportJob> {
    authorize(actor, Action::ManageMailboxes)?;
    let view = authorize(actor, Action::ViewTenants)?;
    let tenant = crate::tenancy::store::tenant(&st.db, &view, tenant_key)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = authorize_in(actor, Action::ManageMailboxes, &tenant.id)?;
    // Frozen while an incident holds (the gate names it).
    authorize_in(actor, Action::ImportMailboxes, &tenant.id)?;
    refuse_suspended(&tenant)?;
    let records = parse_csv(csv).map_err(AppError::Invalid)?;
    let Some((_, first)) = records.first() else {
        return Err(AppError::invalid("The file is empty."));
    };
    let cols = columns(first).map_err(AppError::Invalid)?;
    let data: Vec<&(i64, Vec<String>)> = records.iter().skip(cols.has_header as usize).collect();
    if data.is_empty() {
        return Err(AppError::invalid("The file has a header but no rows."));
    }
    if data.len() > MAX_ROWS {
        return Err(AppError::invalid(format!(
            "The file has {} rows; import at most {MAX_ROWS} at a time.",
            data.len()
        )));
    }
    let domains: HashMap<String, crate::tenancy::Domain> =
        crate::tenancy::store::domains(&st.db, &g, Some(&tenant.id), None)
            .await?
            .into_iter()
            .flat_map(|d| {
                [
                    (d.name.clone(), d.clone()),
                    (d.unicode_name.to_lowercase(), d),
                ]
            })
            .collect();
    let policy =
        crate::tenancy::store::reveal_policy(&mut *st.db.pool().acquire().await?, &tenant.id)
            .await?;
    let mail = st.mailer.is_configured();
    let cell = |r: &Vec<String>, i: Option<usize>| -> String {
        i.and_then(|i| r.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    struct Parsed {
        line: i64,
        address: String,
        name: String,
        quota: Option<i64>,
        invite_to: Option<String>,
        error: Option<String>,
    }
    let mut parsed: Vec<Parsed> = Vec::with_capacity(data.len());
    let mut seen: HashMap<String, i64> = HashMap::new();
    for (line, r) in data {
        let raw = cell(r, Some(cols.address));
        let mut err: Option<String> = None;
        let mut address = raw.to_lowercase();
        match raw.rsplit_once('@') {
            None => err = Some(format!("“{raw}” is not an address.")),
            Some((local, dom)) => match domains.get(&dom.trim_end_matches('.').to_lowercase()) {
                None => err = Some(format!("{dom} is not one of {}'s domains.", tenant.name)),
                Some(d) if d.status == "suspended" => {
                    err = Some(format!("{} is suspended.", d.unicode_name))
                }
                Some(d) => {
                    match EmailAddress::parse(&format!("{}@{}", local.to_lowercase(), d.name)) {
                        Ok(a) => address = a.key(),
                        Err(_) => {
                            err = Some(format!("“{local}” cannot be the name part of an address."))
                        }
                    }
                }
            },
        }
        if err.is_none() {
            if let Some(prev) = seen.insert(address.clone(), *line) {
                err = Some(format!("{address} is already on line {prev}."));
            }
        }
        let mut name = cell(r, cols.name);
        if name.is_empty() {
            name = address.split('@').next().unwrap_or("").to_string();
        }
        if name.chars().count() > 100 && err.is_none() {
            err = Some("The name is longer than 100 characters.".into());
        }
        if name.chars().any(char::is_control) && err.is_none() {
            err = Some("The name contains control characters (a line break, a tab…).".into());
        }
        let quota = match parse_quota(&cell(r, cols.quota)) {
            Ok(q) => q,
            Err(e) => {
                err.get_or_insert(e);
                None
            }
        };
        let invite_raw = cell(r, cols.invite_to);
        let invite_to = if invite_raw.is_empty() {
            None
        } else {
            match EmailAddress::parse(&invite_raw) {
                Ok(a) if a.key() == address => {
                    err.get_or_insert("The invitation cannot go to the new mailbox itself.".into());
                    None
                }
                Ok(a) => Some(a.key()),
                Err(e) => {
                    err.get_or_insert(e);
                    None
                }
            }
        };
        let emailed = invite_to.is_some() && mail;
        if err.is_none() && !emailed && policy == "forbidden" {
            err = Some(if mail {
                "Give an invite-to address: this tenant's links go by email only.".into()
            } else {
                "Outgoing mail is not configured and this tenant forbids revealing links.".into()
            });
        }
        parsed.push(Parsed {
            line: *line,
            address,
            name,
            quota,
            invite_to,
            error: err,
        });
    }
    // Addresses that exist already.
    let wanted: Vec<&str> = parsed
        .iter()
        .filter(|p| p.error.is_none())
        .map(|p| p.address.as_str())
        .collect();
    let taken: HashSet<String> =
        mstore::taken(&mut *st.db.pool().acquire().await?, &wanted).await?;
    for p in parsed.iter_mut().filter(|p| p.error.is_none()) {
        if taken.contains(&p.address) {
            p.error = Some(format!("{} exists already.", p.address));
        }
    }
    let errors = parsed.iter().filter(|p| p.error.is_some()).count() as i64;
    let valid = parsed.len() as i64 - errors;
    let allocation: i64 = parsed
        .iter()
        .filter(|p| p.error.is_none())
        .filter_map(|p| p.quota)
        .sum();
    let free = (tenant.storage_bytes - tenant.storage_allocated).max(0);
    let pool_error = (allocation > free).then(|| {
        format!(
            "The quotas add up to {}, but only {} of {}'s pool is unallocated.",
            crate::tenancy::format_bytes(allocation),
            crate::tenancy::format_bytes(free),
            tenant.name
        )
    });
    let now = st.clock.now();
    let id = secrets::new_id("imp");
    let mut tx = st.db.begin().await?;
    // `errors` counts lines (the page shows them in red); a pool too small is the file's
    // error, kept apart in the job's `error`.
    let payload = json!({ "rows": parsed.len(), "errors": errors,
                          "allocation": allocation });
    jobs::insert(
        tx.conn(),
        &g,
        &jobs::NewJob {
            id: &id,
            kind: "import",
            tenant_id: &tenant.id,
            state: "draft",
            progress_total: valid,
            payload: &payload,
            error: pool_error.as_deref(),
        },
        now,
    )
    .await?;
    let rows: Vec<store::NewRow> = parsed
        .iter()
        .map(|p| store::NewRow {
            line: p.line,
            address: &p.address,
            name: &p.name,
            quota: p.quota,
            invite_to: p.invite_to.as_deref(),
            error: p.error.as_deref(),
        })
        .collect();
    store::insert(tx.conn(), &g, &id, &rows).await?;
    let ev = Event::new("import.previewed")
        .target(id.clone())
        .details(json!({
            "rows": parsed.len(), "errors": errors, "pool": pool_error,
        }))
        .tenant(tenant.id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    load(st, &id).await?.ok_or(AppError::NotFound)
}

/// Starts a previewed import without errors (or retries a failed one): the job worker picks
/// it up.
/// No mailboxes are added to a suspended tenant, by import or otherwise.
fn refuse_suspended(t: &crate::tenancy::Tenant) -> AppResult<()> {
    if t.status != "active" {
        return Err(AppError::Conflict(format!(
            "{} is suspended: resume the tenant before importing mailboxes.",
            t.name
        )));
    }
    Ok(())
}

pub async fn start(st: &AppState, actor: &Actor, id: &str) -> AppResult<ImportJob> {
    let job = get(st, actor, id).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &job.tenant_id)?;
    authorize_in(actor, Action::ImportMailboxes, &job.tenant_id)?;
    let view = authorize(actor, Action::ViewTenants)?;
    let tenant = crate::tenancy::store::tenant(&st.db, &view, &job.tenant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    refuse_suspended(&tenant)?;
    if job.state == "draft" && (job.errors > 0 || job.error.is_some()) {
        return Err(AppError::invalid(
            "The file has errors: fix them and upload it again.",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !jobs::queue(tx.conn(), id).await? {
        return Err(AppError::Conflict(format!(
            "This import is {} already.",
            job.state
        )));
    }
    let ev = Event::new("import.started")
        .target(id.to_string())
        .details(json!({ "rows": job.total, "retry": job.state == "failed" }))
        .tenant(job.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    load(st, id).await?.ok_or(AppError::NotFound)
}

/// Discards a draft.
pub async fn cancel(st: &AppState, actor: &Actor, id: &str) -> AppResult<()> {
    let job = get(st, actor, id).await?;
    let g = authorize_in(actor, Action::ManageMailboxes, &job.tenant_id)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !jobs::cancel_draft(tx.conn(), id, now).await? {
        return Err(AppError::Conflict(format!(
            "Only a draft can be discarded; this import is {}.",
            job.state
        )));
    }
    let ev = Event::new("import.cancelled")
        .target(id.to_string())
        .tenant(job.tenant_id.clone());
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await
}

/// Who a job acts as: the person who started it, with the rights they hold *now* (a job
/// can wait or resume long after it started; someone offboarded meanwhile is nobody). An
/// import started from the command line (no user) acts as the system.
async fn job_actor(
    st: &AppState,
    created_by: Option<String>,
    label: &str,
) -> AppResult<Option<Actor>> {
    let Some(uid) = created_by else {
        return Ok(Some(Actor::system(&format!("{label} (import)"))));
    };
    Ok(crate::auth::service::current_user(st, &uid)
        .await?
        .map(|u| {
            let mut a = crate::auth::service::actor_for(&u, None, None);
            a.label = format!("{} (import)", a.label);
            a
        }))
}

/// Takes the job's heartbeat inside a transaction: false if another worker has it now.
async fn still_mine(
    tx: &mut crate::core::db::Tx,
    id: &str,
    worker: &str,
    now: i64,
) -> AppResult<bool> {
    jobs::heartbeat(tx.conn(), id, worker, now).await
}

/// Rows whose invitation mail is issued in one transaction and then sent together.
const MAIL_BATCH: usize = 50;

/// Runs a claimed import to its end (or until another worker takes it over).
pub async fn run(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    let job = jobs::get(&st.db, "import", id)
        .await?
        .ok_or(AppError::NotFound)?;
    let tenant_id = job.tenant_id.clone();
    let phase = job.phase.clone();
    let starter = job_actor(st, job.created_by.clone(), &job.created_by_label).await?;
    let granted = starter
        .as_ref()
        .and_then(|a| authorize_in(a, Action::ManageMailboxes, &tenant_id).ok());
    let suspended: bool =
        crate::tenancy::store::tenant_status(&mut *st.db.pool().acquire().await?, &tenant_id)
            .await?
            != "active";
    let stop = match (&granted, suspended) {
        (_, true) => Some("the tenant was suspended"),
        (None, _) => Some("the person who started it may no longer manage this tenant's mailboxes"),
        _ => None,
    };
    if let Some(why) = stop {
        let system = Actor::system("import");
        let actor = starter.as_ref().unwrap_or(&system);
        return if phase == "invite" {
            fail(st, id, &tenant_id, actor, &format!("Stopped: {why}. The mailboxes exist; start the import again once that is resolved.")).await
        } else {
            roll_back(st, id, &tenant_id, actor, why).await
        };
    }
    let Some(g) = granted else {
        return Ok(());
    };
    let actor = g.actor;
    let domains: HashMap<String, crate::tenancy::Domain> =
        crate::tenancy::store::domains(&st.db, &g, Some(&tenant_id), None)
            .await?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
    if phase != "invite" {
        // Mailbox ids follow from the job and the line: a row's id is known before it exists.
        let prefix = format!(
            "mbx_{}_",
            &id.trim_start_matches("imp_")[..24.min(id.len() - 4)]
        );
        loop {
            let now = st.clock.now();
            let mut tx = st.db.begin().await?;
            if !still_mine(&mut tx, id, worker, now).await? {
                return Ok(());
            }
            jobs::set_phase(tx.conn(), id, "create", false).await?;
            let rows = store::to_create(tx.conn(), id, CREATE_BATCH).await?;
            if rows.is_empty() {
                jobs::set_phase(tx.conn(), id, "invite", true).await?;
                tx.commit_bookkeeping().await?;
                break;
            }
            struct R {
                line: i64,
                address: String,
                local: String,
                name: String,
                quota: Option<i64>,
                invite_to: Option<String>,
                domain_id: String,
            }
            let mut batch = Vec::with_capacity(rows.len());
            for r in &rows {
                let line = r.line;
                let address = r.address.clone();
                let (local, dom) = address.rsplit_once('@').unwrap_or((&address, ""));
                let Some(d) = domains.get(dom).filter(|d| d.status != "suspended") else {
                    let why =
                        format!("line {line}: {dom} is no longer an active domain of the tenant");
                    drop(tx);
                    return roll_back(st, id, &tenant_id, &actor, &why).await;
                };
                batch.push(R {
                    line,
                    local: local.to_string(),
                    domain_id: d.id.clone(),
                    address: address.clone(),
                    name: r.display_name.clone(),
                    quota: r.quota,
                    invite_to: r.invite_to.clone(),
                });
            }
            let (first, last) = (batch[0].line, batch[batch.len() - 1].line);
            let quota: i64 = batch.iter().filter_map(|r| r.quota).sum();
            if quota > 0
                && !crate::tenancy::store::allocate(tx.conn(), &g, &tenant_id, quota).await?
            {
                drop(tx);
                let why = format!("lines {first}–{last}: the storage pool is full");
                return roll_back(st, id, &tenant_id, &actor, &why).await;
            }
            let ids: Vec<String> = batch
                .iter()
                .map(|r| format!("{prefix}{}", r.line))
                .collect();
            let rows: Vec<mstore::NewRow> = batch
                .iter()
                .zip(&ids)
                .map(|(r, id)| mstore::NewRow {
                    id,
                    tenant_id: &tenant_id,
                    domain_id: &r.domain_id,
                    local_part: &r.local,
                    address: &r.address,
                    display_name: &r.name,
                    quota: r.quota,
                    critical: false,
                    contact_email: r.invite_to.as_deref(),
                    shared: false,
                })
                .collect();
            match mstore::insert_many(tx.conn(), &g, &rows, now).await {
                Ok(()) => {}
                Err(AppError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    drop(tx);
                    // Which address was taken meanwhile: the first of this batch that exists.
                    let addresses: Vec<&str> = batch.iter().map(|r| r.address.as_str()).collect();
                    let exists =
                        mstore::taken(&mut *st.db.pool().acquire().await?, &addresses).await?;
                    let why = match batch.iter().find(|r| exists.contains(&r.address)) {
                        Some(t) => format!("line {}: {} exists already", t.line, t.address),
                        None => format!("lines {first}–{last}: an address exists already"),
                    };
                    return roll_back(st, id, &tenant_id, &actor, &why).await;
                }
                Err(e) => return Err(e),
            }
            store::mark_created(tx.conn(), &g, id, &prefix, last).await?;
            let events = batch
                .iter()
                .map(|r| {
                    let ev = Event::new("mailbox.created")
                        .target(format!("{prefix}{}", r.line))
                        .details(json!({
                            "address": r.address, "display_name": r.name, "quota_bytes": r.quota,
                            "invite_to": r.invite_to, "import": id, "line": r.line,
                        }))
                        .tenant(tenant_id.clone());
                    ev
                })
                .collect();
            record_many(&mut tx, &actor, now, events).await?;
            jobs::advance(tx.conn(), id, batch.len() as i64).await?;
            tx.commit().await?;
        }
    }
    // Phase 2: one link per mailbox. A mailed link gets a transaction of its own (sent before
    // its commit, so a resumed job mails nobody twice but the one in flight); links left to
    // be revealed are made 100 per transaction.
    let reveal_ok = {
        let p: String =
            crate::tenancy::store::reveal_policy(&mut *st.db.pool().acquire().await?, &tenant_id)
                .await?;
        p != "forbidden"
    };
    let mail = st.mailer.is_configured();
    loop {
        let pending = store::to_invite(&st.db, id).await?;
        if pending.is_empty() {
            break;
        }
        let ids: Vec<String> = pending.iter().map(|(_, m, _)| m.clone()).collect();
        let boxes: HashMap<String, crate::mailboxes::Mailbox> = mstore::by_ids(&st.db, &ids)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        if !still_mine(&mut tx, id, worker, now).await? {
            return Ok(());
        }
        // Links to reveal (and rows that get none) in this one transaction…
        let mut mailed = Vec::new();
        let mut events = Vec::new();
        for (line, mid, to) in &pending {
            let (line, to) = (*line, to.clone());
            let Some(m) = boxes.get(mid) else { continue };
            match to {
                Some(to) if mail => mailed.push((line, m.clone(), to)),
                _ => {
                    if reveal_ok && !m.critical {
                        let (_, ev) = replace_link(
                            st,
                            &mut tx,
                            &g,
                            m,
                            "provision",
                            Delivery::Reveal,
                            None,
                            now,
                        )
                        .await?;
                        events.push(ev);
                    }
                    mark_invited(&mut tx, &g, id, line, now).await?;
                }
            }
        }
        record_many(&mut tx, &actor, now, events).await?;
        jobs::advance(tx.conn(), id, (pending.len() - mailed.len()) as i64).await?;
        tx.commit_bookkeeping().await?;
        // …mailed links in batches: one transaction issues a batch's links and marks its rows
        // invited, then its mail goes out after the commit, several messages at once. A row
        // whose mail fails gets its link withdrawn and is unmarked, so starting the import
        // again sends exactly the invitations that did not go out.
        for batch in mailed.chunks(MAIL_BATCH) {
            let now = st.clock.now();
            let mut tx = st.db.begin().await?;
            if !still_mine(&mut tx, id, worker, now).await? {
                return Ok(());
            }
            let mut events = Vec::with_capacity(batch.len());
            for (line, m, to) in batch {
                let (_, ev) = replace_link(
                    st,
                    &mut tx,
                    &g,
                    m,
                    "provision",
                    Delivery::Email(to.clone()),
                    None,
                    now,
                )
                .await?;
                events.push(ev);
                mark_invited(&mut tx, &g, id, *line, now).await?;
            }
            record_many(&mut tx, &actor, now, events).await?;
            jobs::advance(tx.conn(), id, batch.len() as i64).await?;
            let mails = tx.commit_outbox().await?;
            let mut sending = tokio::task::JoinSet::new();
            for (k, mail) in mails.into_iter().enumerate() {
                let mailer = st.mailer.clone();
                sending.spawn(async move {
                    let r = mailer
                        .send(&mail.to, &mail.subject, mail.body.clone())
                        .await;
                    (k, mail, r)
                });
            }
            let mut failed = Vec::new();
            // A slow mail server must not make the claim look dead: renew it while sending.
            let mut beat = tokio::time::interval(std::time::Duration::from_secs(30));
            beat.tick().await;
            loop {
                tokio::select! {
                    done = sending.join_next() => {
                        let Some(done) = done else { break };
                        let (k, mail, r) = done.map_err(AppError::internal)?;
                        if let Err(e) = r {
                            let msg =
                                crate::core::mailer::unsent(st, actor, &mail, &e, "The mailbox exists")
                                    .await?;
                            failed.push((batch[k].0, msg));
                        }
                    }
                    _ = beat.tick() => {
                        let mut tx = st.db.begin().await?;
                        still_mine(&mut tx, id, worker, st.clock.now()).await?;
                        tx.commit_bookkeeping().await?;
                    }
                }
            }
            if !failed.is_empty() {
                failed.sort();
                // Not invited after all: a restart sends these rows' invitations again.
                let mut tx = st.db.begin().await?;
                for (line, _) in &failed {
                    store::set_invited(tx.conn(), &g, id, *line, None).await?;
                }
                jobs::advance(tx.conn(), id, -(failed.len() as i64)).await?;
                tx.commit_bookkeeping().await?;
                let (line, msg) = &failed[0];
                return fail(
                    st,
                    id,
                    &tenant_id,
                    &actor,
                    &format!(
                        "line {line}: {msg} Start the import again to send the remaining invitations."
                    ),
                )
                .await;
            }
        }
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !still_mine(&mut tx, id, worker, now).await? {
        return Ok(());
    }
    let created = store::created(tx.conn(), id).await?.len() as i64;
    jobs::finish(tx.conn(), id, &json!({ "created": created }), now).await?;
    let ev = Event::new("import.completed")
        .target(id.to_string())
        .details(json!({ "created": created }))
        .tenant(tenant_id.clone());
    record(&mut tx, &actor, now, ev).await?;
    tx.commit().await
}

/// A row's link was issued.
async fn mark_invited(
    tx: &mut crate::core::db::Tx,
    g: &crate::core::authz::Granted<'_>,
    id: &str,
    line: i64,
    now: i64,
) -> AppResult<()> {
    store::set_invited(tx.conn(), g, id, line, Some(now)).await?;
    Ok(())
}

/// All or nothing: removes every mailbox the job created and fails it with the reason.
async fn roll_back(
    st: &AppState,
    id: &str,
    tenant_id: &str,
    actor: &Actor,
    why: &str,
) -> AppResult<()> {
    let now = st.clock.now();
    // Undoing the job's own work is allowed even when its starter has lost their rights
    // meanwhile: the cleanup is the system's (the event still names who it acts for).
    let cleanup = Actor::system("import");
    let g = authorize_in(&cleanup, Action::ManageMailboxes, tenant_id)?;
    let mut tx = st.db.begin().await?;
    let made = store::created(tx.conn(), id).await?;
    // Links someone made meanwhile for these brand-new mailboxes go with them.
    let removed = mstore::delete_new(tx.conn(), &g, tenant_id, &made).await?;
    store::forget_created(tx.conn(), &g, id).await?;
    // The counters follow what is left.
    let tally = crate::mailboxes::store::tally(tx.conn(), tenant_id).await?;
    crate::tenancy::store::recount(tx.conn(), &g, tenant_id, &tally).await?;
    jobs::fail(
        tx.conn(),
        id,
        &format!("Nothing was imported: {why}."),
        now,
        true,
    )
    .await?;
    let ev = Event::new("import.failed")
        .target(id.to_string())
        .details(json!({
            "error": why, "mailboxes_removed": removed,
        }))
        .tenant(tenant_id.to_string());
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

async fn fail(st: &AppState, id: &str, tenant_id: &str, actor: &Actor, why: &str) -> AppResult<()> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    jobs::fail(tx.conn(), id, why, now, false).await?;
    let ev = Event::new("import.failed")
        .target(id.to_string())
        .details(json!({ "error": why }))
        .tenant(tenant_id.to_string());
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

/// Recent imports of one tenant (for its page).
pub async fn of_tenant(st: &AppState, actor: &Actor, tenant_id: &str) -> AppResult<Vec<ImportJob>> {
    authorize_in(actor, Action::ViewTenants, tenant_id)?;
    let jobs = jobs::of_tenant(&st.db, "import", tenant_id, 10).await?;
    shown(st, jobs).await
}
