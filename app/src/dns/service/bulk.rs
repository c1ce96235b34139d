//! Bulk DNS changes (change kind `dns.bulk`, job `dns.bulk`): many domains of one tenant,
//! one approval for the plan.
//!
//! **Plan** — domains chosen by filter (one domain, a category, only the drifted ones) and an
//! operation: *restore the baseline* (every record set that differs from it) or *set one
//! record set* everywhere. Each domain's before is read from its primary now; the plan lists
//! every domain's diff. A plan that would update or delete more than `dns_bulk_max_percent`
//! (30%, as octoDNS) of the records a zone is known to hold is **unsafe**: it waits until an
//! approver overrides it with a reason. Domains edited by hand are left out and named.
//!
//! **Run** — a canary domain first (batch 0), then batches of `batch_size`. Each batch:
//! apply (one compare-and-swap per record set; a set already holding its after-value is not
//! sent again, so a restart never applies twice), verify on every nameserver within
//! `dns_verify_seconds`, then the next. A failing batch (a refusal, a moved set, a set not
//! seen in time) is rolled back — compare-and-swap back to its before-state — and verified,
//! and the plan stops: earlier batches stay, later ones are never touched. Every item's state
//! is written before the next step, so the job resumes where it was after a restart or
//! `kill -9`. Rolling the whole plan back goes through the queue like any change.
use std::str::FromStr;

use async_trait::async_trait;
use serde_json::json;

use super::baseline;
use super::changes::{
    absolute, at_primary, check_nameservers, live_at, resolver, swap, writer, AtPrimary,
};
use super::probe;
use super::update;
use crate::audit::service::{record, Event};
use crate::changes::service::{self as changes, NewChange};
use crate::core::authz::{authorize_in, Action, Actor, Granted};
use crate::core::db::Tx;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::state::AppState;
use crate::core::{jobs, AppError, AppResult};
use crate::dns::store::{self, BulkItemRow, BulkPlanRow};
use crate::dns::{BulkInput, BulkItem, BulkPlan};
use crate::tenancy::service as tenancy;
use crate::tenancy::DOMAIN_CATEGORIES;
use crate::types::ChangeRequest;

/// The change kind and the job that runs it.
pub const BULK_KIND: &str = "dns.bulk";
pub const BULK_JOB: &str = "dns.bulk";
const MAX_ITEMS: usize = 20_000;

/// Plans a bulk change and submits it for approval; returns the change request's id.
pub async fn plan(st: &AppState, actor: &Actor, input: &BulkInput) -> AppResult<String> {
    let (t, domains) = tenancy::tenant(st, actor, input.tenant.trim()).await?;
    let g = authorize_in(actor, Action::ManageDomains, &t.id)?;
    // Setting records is frozen while an incident holds; restoring the baseline is
    // protective and stays allowed (and so does approving it: `BulkChange::protective`).
    if input.operation.trim().to_ascii_lowercase() != "restore" {
        authorize_in(actor, Action::ChangeDns, &t.id)?;
    }
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("Say why the change is needed."));
    }
    if reason.chars().count() > 2000 {
        return Err(AppError::invalid("Keep the reason under 2,000 characters."));
    }
    let batch_size = input.batch_size.unwrap_or(st.config.dns_bulk_batch_size);
    if !(1..=1000).contains(&batch_size) {
        return Err(AppError::invalid("A batch holds 1 to 1,000 domains."));
    }
    let category = input.category.trim().to_ascii_lowercase();
    if !category.is_empty() && !DOMAIN_CATEGORIES.iter().any(|(c, _)| *c == category) {
        return Err(AppError::invalid(format!(
            "There is no category {category:?}."
        )));
    }
    let only = input
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let op = input.operation.trim().to_ascii_lowercase();
    // What "set" writes, checked once for every domain.
    let set = match op.as_str() {
        "restore" => None,
        "set" => {
            let rtype_s = input.rtype.trim().to_ascii_uppercase();
            if !super::changes::RECORD_TYPES.contains(&rtype_s.as_str()) || rtype_s == "NS" {
                return Err(AppError::invalid(
                    "Choose a record type: A, AAAA, CNAME, MX, TXT or SRV.",
                ));
            }
            let rtype = update::Rtype::from_str(&rtype_s).map_err(AppError::internal)?;
            let mut values = Vec::new();
            for v in input
                .values
                .iter()
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
            {
                let d = super::changes::parse_value(rtype, v)
                    .map_err(|e| AppError::invalid(format!("{rtype_s} value: {e}.")))?;
                let shown = super::resolve::present(&d).unwrap_or_else(|| v.to_string());
                if !values.contains(&shown) {
                    values.push(shown);
                }
            }
            if input.name.trim().is_empty() {
                return Err(AppError::invalid(
                    "Give the record's name (@ for the domain itself).",
                ));
            }
            Some((input.name.trim().to_string(), rtype_s, values))
        }
        _ => {
            return Err(AppError::invalid(
                "Choose what to do: restore the baseline, or set one record set.",
            ))
        }
    };
    let chosen: Vec<_> = domains
        .into_iter()
        .filter(|d| only.is_empty() || d.name == only || d.unicode_name == only)
        .filter(|d| category.is_empty() || d.category == category)
        .filter(|d| !input.only_drifted || d.drift)
        .collect();
    if chosen.is_empty() {
        return Err(AppError::invalid(
            "No domain of the tenant matches that choice.",
        ));
    }
    let r = resolver(st)?;
    let mut conn = st.db.pool().acquire().await?;
    let mut items: Vec<BulkItemRow> = Vec::new();
    let mut by_hand = Vec::new();
    let mut unsafe_zones: Vec<(String, i64)> = Vec::new();
    let mut planned_domains: Vec<String> = Vec::new();
    let now = st.clock.now();
    for d in &chosen {
        let prov = store::provider(&mut conn, &d.id).await?;
        let Some(prov) = prov.filter(|p| p.kind == "rfc2136") else {
            by_hand.push(d.name.clone());
            continue;
        };
        let w = writer(st, d, &prov)?;
        let sets: Vec<(String, String, Vec<String>)> = match &set {
            Some((name, rtype, values)) => {
                vec![(absolute(name, &d.name), rtype.clone(), values.clone())]
            }
            None => super::expected_of(st, d)
                .await?
                .into_iter()
                .map(|e| (absolute(&e.name, &d.name), e.rtype, e.values))
                .filter(|(n, _, _)| n == &d.name || n.ends_with(&format!(".{}", d.name)))
                .collect(),
        };
        // What the zone holds: by zone transfer when the key may (the count of records), else
        // the record sets the scanner has seen there.
        let known = match w.count_records().await {
            Ok(n) => n as i64,
            Err(_) => store::observations(&mut conn, &[d.id.as_str()])
                .await?
                .iter()
                .filter(|(_, o)| o.observed.as_ref().is_some_and(|v| !v.is_empty()))
                .count() as i64,
        };
        let mut touched_existing = 0i64; // records updated or deleted
        let mut asked_existing = 0i64;
        let mut here = Vec::new();
        for (fqdn, rtype_s, after) in sets {
            let rtype = update::Rtype::from_str(&rtype_s).map_err(AppError::internal)?;
            let live = live_at(&r, w.server(), &fqdn, rtype)
                .await
                .map_err(|e| AppError::Unavailable(format!("{}: {}", d.name, e.user_message())))?;
            asked_existing += live.values.len() as i64;
            if baseline::same(&rtype_s, &live.values, &after) {
                continue;
            }
            // Every record of the set is replaced (or deleted); adding to an empty set
            // changes nothing that exists.
            touched_existing += live.values.len() as i64;
            here.push(BulkItemRow {
                seq: 0,
                domain_id: d.id.clone(),
                domain: d.name.clone(),
                batch: 0,
                fqdn,
                rtype: rtype_s,
                before: live.values,
                after,
                ttl: i64::from(live.ttl.unwrap_or(update::TTL)),
                state: "pending".into(),
                serial_before: None,
                detail: None,
            });
        }
        if here.is_empty() {
            continue;
        }
        let existing = known.max(asked_existing).max(1);
        let percent = touched_existing * 100 / existing;
        if percent > st.config.dns_bulk_max_percent {
            unsafe_zones.push((d.name.clone(), percent));
        }
        planned_domains.push(d.name.clone());
        items.extend(here);
        if items.len() > MAX_ITEMS {
            return Err(AppError::invalid(format!(
                "The plan would hold more than {MAX_ITEMS} record sets: choose fewer domains."
            )));
        }
    }
    drop(conn);
    if items.is_empty() {
        return Err(AppError::invalid(format!(
            "Nothing to change: every chosen domain already holds these records{}.",
            if by_hand.is_empty() {
                String::new()
            } else {
                format!(" (left out, edited by hand: {})", by_hand.join(", "))
            }
        )));
    }
    // The canary is the first domain; the others follow in batches.
    let canary = planned_domains[0].clone();
    let mut batches = 0i64;
    for (i, it) in items.iter_mut().enumerate() {
        it.seq = i as i64;
        it.batch = match planned_domains.iter().position(|x| *x == it.domain) {
            Some(0) | None => 0,
            Some(p) => 1 + (p as i64 - 1) / batch_size,
        };
        batches = batches.max(it.batch);
    }
    let n = planned_domains.len();
    let title = match &set {
        None => format!(
            "Restore the baseline on {n} domain{} of {}",
            if n == 1 { "" } else { "s" },
            t.name
        ),
        Some((name, rtype, _)) => format!(
            "Set {name} {rtype} on {n} domain{} of {}",
            if n == 1 { "" } else { "s" },
            t.name
        ),
    };
    let row = BulkPlanRow {
        change_id: String::new(),
        tenant_id: t.id.clone(),
        title: title.clone(),
        batch_size,
        batches,
        unsafe_zones: unsafe_zones.clone(),
        override_by: None,
        override_reason: None,
        state: "planned".into(),
        batch: 0,
        stage: "apply".into(),
        deadline: None,
        note: (!by_hand.is_empty())
            .then(|| format!("Left out, edited by hand: {}.", by_hand.join(", "))),
        probes: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = st.db.begin().await?;
    let id = changes::submit(
        st,
        &mut tx,
        &g,
        NewChange {
            tenant_id: Some(&t.id),
            kind: BULK_KIND,
            target_id: &t.id,
            target_label: &title,
            payload: json!({
                "title": title, "operation": op, "domains": n, "record_sets": items.len(),
                "batch_size": batch_size, "batches": batches, "canary": canary,
                "category": category, "only_drifted": input.only_drifted,
            }),
            before: json!({ "read_from": "each domain's primary nameserver", "at": now }),
            rollback: Some(json!({ "each": "compare-and-swap back to the recorded before-state" })),
            reason,
        },
        None,
        now,
    )
    .await?;
    let row = BulkPlanRow {
        change_id: id.clone(),
        ..row
    };
    store::insert_plan(tx.conn(), &g, &row).await?;
    store::insert_items(tx.conn(), &g, &id, &t.id, &items, now).await?;
    let ev = Event::new("dns.bulk_planned")
        .target(id.clone())
        .tenant(t.id.clone())
        .details(json!({
            "title": title, "domains": n, "record_sets": items.len(), "canary": canary,
            "batch_size": batch_size, "unsafe": unsafe_zones, "by_hand": by_hand,
        }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok(id)
}

/// An approver overrides an unsafe plan, saying why (then approves it like any change).
pub async fn override_unsafe(
    st: &AppState,
    actor: &Actor,
    change_id: &str,
    reason: &str,
) -> AppResult<()> {
    let c = changes::get(st, actor, change_id).await?;
    // Like approving it: a restore of the baseline is protective (an incident does not stop it).
    let gate = if BulkChange.protective(&c) {
        crate::core::authz::authorize_protective_in
    } else {
        authorize_in
    };
    gate(actor, Action::ManageDomains, c.tenant())?;
    let g = gate(actor, Action::ApproveChanges, c.tenant())?;
    if c.kind != BULK_KIND {
        return Err(AppError::invalid("That is not a bulk DNS change."));
    }
    if c.requested_by.is_some() && c.requested_by == actor.user_id {
        return Err(AppError::invalid(
            "You asked for this plan, so someone else must decide whether it is safe.",
        ));
    }
    let reason = reason.trim();
    if reason.chars().count() < 5 || reason.chars().count() > 2000 {
        return Err(AppError::invalid(
            "Say why the plan is safe anyway (5 to 2,000 characters).",
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::override_plan(tx.conn(), &g, change_id, &actor.label, reason, now).await? {
        return Err(AppError::Conflict(
            "This plan is not waiting for an override (it is safe, overridden already, or decided)."
                .into(),
        ));
    }
    let ev = Event::new("dns.bulk_overridden")
        .target(change_id.to_string())
        .tenant(c.tenant())
        .details(json!({ "title": c.target_label, "reason": reason }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

async fn queue_job(tx: &mut Tx, g: &Granted<'_>, p: &BulkPlanRow, now: i64) -> AppResult<()> {
    super::changes::queue_job(tx, g, BULK_JOB, &p.tenant_id, &p.change_id, now).await
}

/// A plan over many domains (kind `dns.bulk`).
pub(crate) struct BulkChange;

#[async_trait]
impl ChangeKind for BulkChange {
    fn kind(&self) -> &'static str {
        BULK_KIND
    }
    fn action(&self) -> Action {
        Action::ManageDomains
    }
    /// Restoring the baseline puts the known-good state back: an incident does not stop it.
    fn protective(&self, c: &ChangeRequest) -> bool {
        serde_json::from_str::<serde_json::Value>(&c.payload)
            .ok()
            .and_then(|p| p["operation"].as_str().map(|o| o == "restore"))
            .unwrap_or(false)
    }
    async fn precheck(&self, st: &AppState, c: &ChangeRequest) -> AppResult<()> {
        if c.rollback_of.is_some() {
            return Ok(());
        }
        let mut conn = st.db.pool().acquire().await?;
        let p = store::bulk_plan(&mut conn, &c.id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !p.unsafe_zones.is_empty() && p.override_by.is_none() {
            return Err(AppError::invalid(format!(
                "This plan would update or delete more than {}% of the records of {}. Override \
                 it with a reason on the plan's page first, or ask for a smaller plan.",
                st.config.dns_bulk_max_percent,
                p.unsafe_zones
                    .iter()
                    .map(|(d, pct)| format!("{d} ({pct}%)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
    async fn apply(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let Some(mut p) = store::bulk_plan(tx.conn(), &c.id).await? else {
            return Err(AppError::Conflict("The plan is gone.".into()));
        };
        p.state = "running".into();
        if !store::move_plan(tx.conn(), g, &p, "planned", now).await? {
            return Err(AppError::Conflict("The plan was started already.".into()));
        }
        queue_job(tx, g, &p, now).await?;
        Ok(Applied {
            summary: format!(
                "Started: the canary domain first, then {} batch{} of up to {} domains, each \
                 verified before the next.",
                p.batches,
                if p.batches == 1 { "" } else { "es" },
                p.batch_size
            ),
            after: json!({ "plan": c.id }),
        })
    }
    async fn can_roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        _g: &Granted<'_>,
        original: &ChangeRequest,
        _now: i64,
    ) -> AppResult<()> {
        let p = store::bulk_plan(tx.conn(), &original.id)
            .await?
            .ok_or(AppError::NotFound)?;
        match p.state.as_str() {
            "done" | "stopped" => Ok(()),
            "running" => Err(AppError::Conflict(
                "The plan is still running; wait until it has finished or stopped.".into(),
            )),
            s => Err(AppError::Conflict(format!(
                "The plan is {s}: nothing to roll back."
            ))),
        }
    }
    async fn roll_back(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        self.can_roll_back(st, tx, g, original, now).await?;
        let mut p = store::bulk_plan(tx.conn(), &original.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let from = p.state.clone();
        p.state = "undoing".into();
        p.stage = "rollback".into();
        p.deadline = None;
        if !store::move_plan(tx.conn(), g, &p, &from, now).await? {
            return Err(AppError::Conflict(
                "The plan moved on meanwhile; try again.".into(),
            ));
        }
        queue_job(tx, g, &p, now).await?;
        Ok("Rolling back every domain the plan changed, each to its recorded before-state, then verifying.".into())
    }
}

// ---------- running ----------

/// What one step of the job did.
enum Step {
    /// Go on at once.
    Next,
    /// Look again after the poll interval.
    Wait,
    /// The plan has ended.
    End,
}

/// Runs a bulk plan as far as it can go now: steps until it must wait for nameservers (then
/// it is re-queued) or has ended.
pub async fn bulk_job(st: &AppState, job_id: &str, worker: &str) -> AppResult<()> {
    let job = jobs::get(&st.db, BULK_JOB, job_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let change_id = job.payload["change_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    loop {
        {
            let mut c = st.db.pool().acquire().await?;
            if !jobs::heartbeat(&mut c, job_id, worker, st.clock.now()).await? {
                return Ok(()); // another worker took it over
            }
        }
        match step(st, &change_id).await? {
            Step::Next => continue,
            Step::Wait => {
                return jobs::reschedule(st, job_id, worker, st.config.dns_verify_poll_seconds)
                    .await
            }
            Step::End => {
                let mut c = st.db.pool().acquire().await?;
                return jobs::finish(
                    &mut c,
                    job_id,
                    &json!({ "plan": change_id }),
                    st.clock.now(),
                )
                .await;
            }
        }
    }
}

fn in_scope(p: &BulkPlanRow, it: &BulkItemRow) -> bool {
    p.state == "undoing" || it.batch == p.batch
}

async fn step(st: &AppState, change_id: &str) -> AppResult<Step> {
    let mut conn = st.db.pool().acquire().await?;
    let Some(mut p) = store::bulk_plan(&mut conn, change_id).await? else {
        return Ok(Step::End);
    };
    if !["running", "undoing"].contains(&p.state.as_str()) {
        return Ok(Step::End);
    }
    let items: Vec<BulkItemRow> = store::bulk_items(&mut conn, change_id)
        .await?
        .into_iter()
        .filter(|it| in_scope(&p, it))
        .collect();
    drop(conn);
    let system = Actor::system("DNS bulk change");
    let g = authorize_in(&system, Action::ManageDomains, &p.tenant_id)?;
    let r = resolver(st)?;
    let (from_state, from_stage, from_batch) = (p.state.clone(), p.stage.clone(), p.batch);
    let now = st.clock.now();
    let label = if p.batch == 0 {
        "the canary".to_string()
    } else {
        format!("batch {}", p.batch)
    };
    match p.stage.as_str() {
        "apply" => {
            let mut failed = Vec::new();
            for it in items.iter().filter(|it| it.state == "pending") {
                let (state, serial, detail) = apply_item(st, &r, it).await;
                if state == "failed" {
                    failed.push(format!(
                        "{} {} {}: {}",
                        it.domain,
                        it.fqdn,
                        it.rtype,
                        detail.clone().unwrap_or_default()
                    ));
                }
                let mut c = st.db.pool().acquire().await?;
                store::set_bulk_item(
                    &mut c,
                    &g,
                    &p.tenant_id,
                    change_id,
                    it.seq,
                    state,
                    serial,
                    detail.as_deref(),
                    st.clock.now(),
                )
                .await?;
            }
            let failed_before: Vec<String> = items
                .iter()
                .filter(|it| it.state == "failed")
                .map(|it| {
                    format!(
                        "{} {} {}: {}",
                        it.domain,
                        it.fqdn,
                        it.rtype,
                        it.detail.clone().unwrap_or_default()
                    )
                })
                .collect();
            failed.extend(failed_before);
            let domains = distinct(items.iter().map(|it| it.domain.as_str()));
            let tx = st.db.begin().await?;
            let ev = if failed.is_empty() {
                p.stage = "verify".into();
                p.deadline = Some(now + st.config.dns_verify_seconds);
                Event::new("dns.bulk_batch_applied").details(json!({
                    "batch": p.batch, "domains": domains, "record_sets": items.len(),
                }))
            } else {
                p.stage = "rollback".into();
                p.note = Some(format!("{label} failed: {}", failed.join("; ")));
                Event::new("dns.bulk_batch_failed").details(json!({
                    "batch": p.batch, "domains": domains, "failed": failed,
                }))
            };
            if !advance(tx, &g, &p, (&from_state, &from_stage, from_batch), ev, now).await? {
                return Ok(Step::End);
            }
            Ok(Step::Next)
        }
        "verify" | "verify_rollback" => {
            let rollback = p.stage == "verify_rollback";
            let mut all_ok = true;
            let mut seen_details = Vec::new();
            for it in items.iter().filter(|it| {
                if rollback {
                    it.state == "rolled_back"
                } else {
                    it.state == "applied"
                }
            }) {
                let want = if rollback { &it.before } else { &it.after };
                let zone = zone_of(st, &it.domain_id, &it.domain).await?;
                let k = check_nameservers(
                    &r,
                    &it.domain,
                    &zone,
                    &it.fqdn,
                    &it.rtype,
                    want,
                    it.serial_before,
                    now,
                )
                .await;
                if k.ok != Some(true) {
                    all_ok = false;
                    seen_details.push(format!(
                        "{} {} {}: {}",
                        it.domain, it.fqdn, it.rtype, k.detail
                    ));
                } else if !rollback {
                    // What applying did, then what verification saw.
                    let detail = match &it.detail {
                        Some(d) => format!("{d}; {}", k.detail),
                        None => k.detail.clone(),
                    };
                    let mut c = st.db.pool().acquire().await?;
                    store::set_bulk_item(
                        &mut c,
                        &g,
                        &p.tenant_id,
                        change_id,
                        it.seq,
                        "verified",
                        it.serial_before,
                        Some(&detail),
                        now,
                    )
                    .await?;
                }
            }
            // Every nameserver serves the batch: the mail probes of each of its domains
            // (when configured), with a deadline of their own.
            let mut probes_failed = false;
            if let (true, Some(cfg)) = (all_ok, &st.config.probe) {
                let domains = distinct(items.iter().map(|it| it.domain.as_str()));
                match p.probes.take() {
                    None => {
                        let mut sent = std::collections::BTreeMap::new();
                        let mut to_send = Vec::new();
                        for dom in domains {
                            let Some(it) = items.iter().find(|it| it.domain == dom) else {
                                continue;
                            };
                            let d =
                                crate::tenancy::service::domain(st, &system, &it.domain_id).await;
                            match d.as_ref().ok().and_then(|d| probe::skipped(d, now)) {
                                Some(skip) => {
                                    sent.insert(dom, vec![skip]);
                                }
                                None => to_send.push(dom),
                            }
                        }
                        // Eight domains' probes at a time: each is two SMTP sessions.
                        for group in to_send.chunks(8) {
                            let mut set = tokio::task::JoinSet::new();
                            for dom in group {
                                let (cfg, dom, id) =
                                    (cfg.clone(), dom.clone(), change_id.to_string());
                                set.spawn(async move {
                                    let checks = probe::send(&cfg, &dom, &id, now).await;
                                    (dom, checks)
                                });
                            }
                            while let Some(r) = set.join_next().await {
                                let (dom, checks) = r.map_err(AppError::internal)?;
                                sent.insert(dom, checks);
                            }
                        }
                        p.probes = Some(sent);
                        p.deadline = Some(st.clock.now() + cfg.wait_seconds);
                        let mut c = st.db.pool().acquire().await?;
                        store::set_plan_probes(&mut c, &g, &p, now).await?;
                        return Ok(Step::Wait);
                    }
                    Some(mut sent) => {
                        let deadline = p.deadline.unwrap_or(now);
                        let mut open = false;
                        for (dom, checks) in sent.iter_mut() {
                            probe::look(st, cfg, dom, checks, deadline, now).await;
                            let sum = probe::summary(checks);
                            match sum.ok {
                                Some(true) => {}
                                Some(false) => {
                                    probes_failed = true;
                                    seen_details.push(format!("{dom}: {}", sum.detail));
                                }
                                None => open = true,
                            }
                        }
                        p.probes = Some(sent);
                        if probes_failed {
                            all_ok = false;
                        } else if open {
                            let mut c = st.db.pool().acquire().await?;
                            store::set_plan_probes(&mut c, &g, &p, now).await?;
                            return Ok(Step::Wait);
                        }
                    }
                }
            }
            let past = p.deadline.is_some_and(|t| now >= t) || probes_failed;
            if !all_ok && !past {
                return Ok(Step::Wait);
            }
            let tx = st.db.begin().await?;
            let domains = distinct(items.iter().map(|it| it.domain.as_str()));
            let ev = match (rollback, all_ok) {
                (false, true) => {
                    if p.batch >= p.batches {
                        p.state = "done".into();
                        p.note = None;
                        Event::new("dns.bulk_done").details(json!({ "batches": p.batches }))
                    } else {
                        let done = p.batch;
                        p.batch += 1;
                        p.stage = "apply".into();
                        p.deadline = None;
                        Event::new("dns.bulk_batch_verified")
                            .details(json!({ "batch": done, "domains": domains }))
                    }
                }
                (false, false) => {
                    p.stage = "rollback".into();
                    p.note = Some(if probes_failed {
                        format!(
                            "The mail probes of {label} failed: {}",
                            seen_details.join("; ")
                        )
                    } else {
                        format!(
                            "{label} was not seen on every nameserver within {} s: {}",
                            st.config.dns_verify_seconds,
                            seen_details.join("; ")
                        )
                    });
                    Event::new("dns.bulk_batch_failed").details(
                        json!({ "batch": p.batch, "domains": domains, "failed": seen_details }),
                    )
                }
                (true, ok) => {
                    let undoing = p.state == "undoing";
                    p.state = if undoing { "undone" } else { "stopped" }.into();
                    let outcome = if ok {
                        "rolled back and verified".to_string()
                    } else {
                        format!(
                            "rolled back, but {}: {}",
                            if probes_failed {
                                "the mail probes still fail"
                            } else {
                                "not yet seen everywhere"
                            },
                            seen_details.join("; ")
                        )
                    };
                    p.note = Some(match (undoing, p.note.take()) {
                        (true, _) => format!("The whole plan was {outcome}."),
                        (false, Some(n)) => format!(
                            "{n}. {} {outcome}; earlier batches stay, later ones were not touched.",
                            capital(&label)
                        ),
                        (false, None) => format!("{} {outcome}.", capital(&label)),
                    });
                    Event::new(if undoing { "dns.bulk_undone" } else { "dns.bulk_stopped" })
                        .details(json!({ "batch": p.batch, "domains": domains, "verified": ok, "note": p.note }))
                }
            };
            if !advance(tx, &g, &p, (&from_state, &from_stage, from_batch), ev, now).await? {
                return Ok(Step::End);
            }
            Ok(
                if ["done", "stopped", "undone"].contains(&p.state.as_str()) {
                    Step::End
                } else {
                    Step::Next
                },
            )
        }
        "rollback" => {
            for it in items
                .iter()
                .filter(|it| ["applied", "verified", "failed"].contains(&it.state.as_str()))
            {
                let (state, serial, detail) = roll_back_item(st, &r, it).await;
                let mut c = st.db.pool().acquire().await?;
                store::set_bulk_item(
                    &mut c,
                    &g,
                    &p.tenant_id,
                    change_id,
                    it.seq,
                    state,
                    serial,
                    detail.as_deref(),
                    st.clock.now(),
                )
                .await?;
            }
            let tx = st.db.begin().await?;
            p.stage = "verify_rollback".into();
            p.deadline = Some(now + st.config.dns_verify_seconds);
            let ev = Event::new("dns.bulk_batch_rolled_back").details(json!({
                "batch": if p.state == "undoing" { None } else { Some(p.batch) },
                "domains": distinct(items.iter().map(|it| it.domain.as_str())),
            }));
            if !advance(tx, &g, &p, (&from_state, &from_stage, from_batch), ev, now).await? {
                return Ok(Step::End);
            }
            Ok(Step::Next)
        }
        _ => Ok(Step::End),
    }
}

/// Moves the plan on from exactly where it was (`from`: state, stage, batch), with the step's
/// audit event, in one transaction. False: another worker moved it first (nothing written).
async fn advance(
    mut tx: Tx,
    g: &Granted<'_>,
    p: &BulkPlanRow,
    from: (&str, &str, i64),
    ev: Event<'_>,
    now: i64,
) -> AppResult<bool> {
    record(
        &mut tx,
        g.actor,
        now,
        ev.target(p.change_id.clone()).tenant(p.tenant_id.clone()),
    )
    .await?;
    if !store::move_plan_from(tx.conn(), g, p, from.0, from.1, from.2, now).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = it.map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

async fn zone_of(st: &AppState, domain_id: &str, domain: &str) -> AppResult<String> {
    let mut c = st.db.pool().acquire().await?;
    Ok(store::provider(&mut c, domain_id)
        .await?
        .and_then(|p| p.zone)
        .unwrap_or_else(|| domain.to_string()))
}

fn rtype_of(it: &BulkItemRow) -> AppResult<update::Rtype> {
    update::Rtype::from_str(&it.rtype).map_err(AppError::internal)
}

/// An item's record set at its domain's primary (the domain must still be RFC 2136).
async fn item_at_primary(
    st: &AppState,
    r: &super::resolve::Resolver,
    it: &BulkItemRow,
) -> AppResult<AtPrimary> {
    let d = tenancy::domain(st, &Actor::system("DNS bulk change"), &it.domain_id).await?;
    let mut c = st.db.pool().acquire().await?;
    let prov = store::provider(&mut c, &it.domain_id)
        .await?
        .filter(|p| p.kind == "rfc2136")
        .ok_or_else(|| AppError::Conflict("its DNS is now edited by hand".into()))?;
    drop(c);
    at_primary(st, r, &d, &prov, &it.fqdn, rtype_of(it)?).await
}

/// Applies one item: a set already holding its after-value is not sent again (a restart);
/// one still holding its before-value gets the compare-and-swap; anything else moved.
async fn apply_item(
    st: &AppState,
    r: &super::resolve::Resolver,
    it: &BulkItemRow,
) -> (&'static str, Option<i64>, Option<String>) {
    let attempt = async {
        let AtPrimary { w, live, serial } = item_at_primary(st, r, it).await?;
        if baseline::same(&it.rtype, &live.values, &it.after) {
            return Ok((None, "already in place (not sent again)".to_string()));
        }
        if !baseline::same(&it.rtype, &live.values, &it.before) {
            return Err(AppError::Conflict(format!(
                "moved since the plan: it now holds {:?}, the plan recorded {:?}; not sent",
                live.values, it.before
            )));
        }
        swap(
            &w,
            r,
            &it.fqdn,
            rtype_of(it)?,
            &live,
            &it.after,
            it.ttl as u32,
        )
        .await?;
        Ok((serial.map(i64::from), format!("sent to {}", w.server())))
    };
    match attempt.await {
        Ok((serial, detail)) => ("applied", serial, Some(detail)),
        Err(e) => ("failed", None, Some(e.user_message())),
    }
}

/// Rolls one item back to its before-state (compare-and-swap from the after-state); a set
/// that holds its before-state already is left as it is.
async fn roll_back_item(
    st: &AppState,
    r: &super::resolve::Resolver,
    it: &BulkItemRow,
) -> (&'static str, Option<i64>, Option<String>) {
    let attempt = async {
        let AtPrimary { w, live, serial } = item_at_primary(st, r, it).await?;
        if baseline::same(&it.rtype, &live.values, &it.before) {
            return Ok((it.serial_before, "holds its before-state".to_string()));
        }
        if !baseline::same(&it.rtype, &live.values, &it.after) {
            return Err(AppError::Conflict(format!(
                "changed by someone else since: it holds {:?}; left as it is",
                live.values
            )));
        }
        swap(
            &w,
            r,
            &it.fqdn,
            rtype_of(it)?,
            &live,
            &it.before,
            it.ttl as u32,
        )
        .await?;
        Ok((serial.map(i64::from), format!("restored on {}", w.server())))
    };
    match attempt.await {
        Ok((serial, detail)) => ("rolled_back", serial, Some(detail)),
        Err(e) => (
            "failed",
            it.serial_before,
            Some(format!("rollback: {}", e.user_message())),
        ),
    }
}

// ---------- reading ----------

/// A plan with every item, for its page and the API.
pub async fn bulk_plan(st: &AppState, actor: &Actor, change_id: &str) -> AppResult<BulkPlan> {
    let c = changes::get(st, actor, change_id).await?;
    if c.kind != BULK_KIND {
        return Err(AppError::NotFound);
    }
    let mut conn = st.db.pool().acquire().await?;
    let p = store::bulk_plan(&mut conn, change_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let items = store::bulk_items(&mut conn, change_id).await?;
    drop(conn);
    let count = |s: &str| items.iter().filter(|i| i.state == s).count() as i64;
    Ok(BulkPlan {
        id: c.id.clone(),
        title: p.title.clone(),
        tenant_name: c.tenant_name.clone(),
        request_state: c.state.as_str().to_string(),
        requested_by: c.requested_by_label.clone(),
        requested_by_id: c.requested_by.clone(),
        decided_by: c.decided_by_label.clone(),
        reason: c.reason.clone(),
        state: p.state.clone(),
        stage: p.stage.clone(),
        batch: p.batch,
        batches: p.batches,
        batch_size: p.batch_size,
        unsafe_zones: p.unsafe_zones.clone(),
        max_percent: st.config.dns_bulk_max_percent,
        override_by: p.override_by.clone(),
        override_reason: p.override_reason.clone(),
        note: p.note.clone(),
        pending: count("pending"),
        applied: count("applied"),
        verified: count("verified"),
        failed: count("failed"),
        rolled_back: count("rolled_back"),
        updated_at: p.updated_at,
        items: items
            .into_iter()
            .map(|i| BulkItem {
                domain: i.domain,
                batch: i.batch,
                fqdn: i.fqdn,
                rtype: i.rtype,
                before: i.before,
                after: i.after,
                state: i.state,
                detail: i.detail,
            })
            .collect(),
    })
}

/// The newest 50 plans in the actor's tenants (counts, no items).
pub async fn bulk_plans(st: &AppState, actor: &Actor) -> AppResult<Vec<BulkPlan>> {
    let g = crate::core::authz::authorize(actor, Action::ViewTenants)?;
    let rows = store::bulk_plans(&st.db, &g, 50).await?;
    let mut out = Vec::new();
    for r in rows {
        let mut p = bulk_plan(st, actor, &r.change_id).await?;
        p.items.clear();
        out.push(p);
    }
    Ok(out)
}
