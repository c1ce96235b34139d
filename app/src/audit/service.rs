//! The audit chain. Every mutation calls [`record`] inside its own transaction, so the change
//! and its event commit together. Writers first bump the single head row, which serialises
//! them (a row lock on PostgreSQL; SQLite has one writer), keeping one unbroken chain even
//! with several server instances on one database. Rows are never updated or deleted.
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::key::AuditKey;
use super::{AuditEvent, AuditFilter, AuditPage};
use crate::core::authz::{Action, Granted};
use crate::core::db::{like_term, values, Db, Tx, Where};
use crate::core::{authz::Actor, AppError, AppResult};

/// What a service says about its change; who/where/when come from the actor and clock.
pub struct Event<'a> {
    pub action: &'a str,
    pub target: Option<String>,
    pub tenant_id: Option<String>,
    pub details: serde_json::Value,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str) -> Self {
        Event {
            action,
            target: None,
            tenant_id: None,
            details: serde_json::json!({}),
        }
    }
    pub fn target(mut self, t: impl Into<String>) -> Self {
        self.target = Some(t.into());
        self
    }
    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
    pub fn tenant(mut self, t: impl Into<String>) -> Self {
        self.tenant_id = Some(t.into());
        self
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: i64,
    actor_id: &'a Option<String>,
    actor_label: &'a str,
    action: &'a str,
    target: &'a Option<String>,
    tenant_id: &'a Option<String>,
    ip: &'a Option<String>,
    user_agent: &'a Option<String>,
    details: &'a str,
}

/// The first events (before migration 0009) were chained with plain SHA-256; every event
/// since is an HMAC-SHA256 under the audit key, which someone who can only write the
/// database cannot recompute.
fn chain_hash(key: Option<&AuditKey>, prev_hash: &str, c: &Canonical<'_>) -> String {
    let body = serde_json::to_vec(c).expect("canonical event serialises");
    match key {
        Some(k) => k.mac(&[prev_hash.as_bytes(), &body]),
        None => {
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            h.update(b"\n");
            h.update(body);
            hex::encode(h.finalize())
        }
    }
}

/// Appends one event to the chain inside `tx`. Returns its sequence number.
pub async fn record(tx: &mut Tx, actor: &Actor, now: i64, ev: Event<'_>) -> AppResult<i64> {
    record_many(tx, actor, now, vec![ev]).await
}

/// Appends several events by one actor inside `tx` (bulk work: a CSV import records one
/// event per mailbox). The same chain as [`record`], written with three statements per 40
/// events instead of three per event.
pub async fn record_many(
    tx: &mut Tx,
    actor: &Actor,
    now: i64,
    events: Vec<Event<'_>>,
) -> AppResult<i64> {
    if events.is_empty() {
        return Ok(0);
    }
    let n_events = events.len();
    let key = tx
        .audit_key()
        .cloned()
        .ok_or_else(|| AppError::internal("the audit key was not loaded (audit::key::attach)"))?;
    let n = events.len() as i64;
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(tx.conn())
        .await?;
    let last: i64 = head.try_get("seq")?;
    let mut prev_hash: String = head.try_get("hash")?;
    let mut rows = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        let seq = last - n + 1 + i as i64;
        let details = ev.details.to_string();
        let hash = chain_hash(
            Some(&key),
            &prev_hash,
            &Canonical {
                seq,
                at: now,
                actor_id: &actor.user_id,
                actor_label: &actor.label,
                action: ev.action,
                target: &ev.target,
                tenant_id: &ev.tenant_id,
                ip: &actor.ip,
                user_agent: &actor.user_agent,
                details: &details,
            },
        );
        rows.push((
            seq,
            ev,
            details,
            std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        ));
    }
    for chunk in rows.chunks(40) {
        let sql = format!(
            "INSERT INTO audit_events (seq, at, actor_id, actor_label, action, target, tenant_id, ip, \
             user_agent, details, prev_hash, hash, keyed) VALUES {}",
            values(
                chunk.len(),
                12,
                "({1},{2},{3},{4},{5},{6},{7},{8},{9},{10},{11},{12},1)"
            )
        );
        let mut q = sqlx::query(&sql);
        for (seq, ev, details, prev, hash) in chunk {
            q = q
                .bind(*seq)
                .bind(now)
                .bind(actor.user_id.clone())
                .bind(actor.label.clone())
                .bind(ev.action)
                .bind(ev.target.clone())
                .bind(ev.tenant_id.clone())
                .bind(actor.ip.clone())
                .bind(actor.user_agent.clone())
                .bind(details.clone())
                .bind(prev.clone())
                .bind(hash.clone());
        }
        q.execute(tx.conn()).await?;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev_hash)
        .execute(tx.conn())
        .await?;
    tx.note_events(n_events);
    Ok(last)
}

/// Records one event in a transaction of its own (for events with no other change, such as
/// a failed sign-in).
pub async fn record_alone(db: &Db, actor: &Actor, now: i64, ev: Event<'_>) -> AppResult<i64> {
    let mut tx = db.begin().await?;
    let seq = record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Which actions a query about one object takes.
#[derive(Clone, Copy, Debug)]
pub enum Actions<'a> {
    Any,
    OneOf(&'a [&'a str]),
    /// Actions starting with this (say `route.`).
    Prefix(&'a str),
}

impl Actions<'_> {
    fn push(&self, w: &mut Where) {
        match self {
            Actions::Any => {}
            Actions::OneOf(list) => {
                let marks: Vec<String> = list.iter().map(|a| w.arg(*a)).collect();
                w.and(format!("action IN ({})", marks.join(", ")));
            }
            Actions::Prefix(p) => {
                let m = w.arg(format!("{p}%"));
                w.and(format!("action LIKE {m}"));
            }
        }
    }
}

/// Events about one object (`target`), newest first, within a tenant scope.
pub async fn about(
    db: &Db,
    scope: &crate::core::authz::TenantScope,
    target: &str,
    actions: Actions<'_>,
    limit: i64,
) -> AppResult<Vec<AuditEvent>> {
    let mut w = Where::new();
    w.scope("tenant_id", scope);
    let t = w.arg(target);
    w.and(format!("target = {t}"));
    actions.push(&mut w);
    let lim = w.arg(limit.clamp(1, 10_000));
    let sql = format!(
        "SELECT seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, details, \
         prev_hash, hash FROM audit_events{} ORDER BY at DESC, seq DESC LIMIT {lim}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(row_to_event)
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Who did something, for counting.
#[derive(Clone, Copy, Debug)]
pub enum By<'a> {
    Actor(&'a str),
    Tenant(&'a str),
}

/// How many events of `actions` one actor, or in one tenant, since `since` (rate limits).
pub async fn count_since(db: &Db, by: By<'_>, actions: Actions<'_>, since: i64) -> AppResult<i64> {
    let mut w = Where::new();
    match by {
        By::Actor(a) => {
            let p = w.arg(a);
            w.and(format!("actor_id = {p}"));
        }
        By::Tenant(t) => {
            let p = w.arg(t);
            w.and(format!("tenant_id = {p}"));
        }
    }
    actions.push(&mut w);
    let p = w.arg(since);
    w.and(format!("at > {p}"));
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM audit_events{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql))
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Tenants (in the scope) with at least `min` events of `actions` since `since`, busiest
/// first: (tenant id, count).
pub async fn busiest_tenants(
    db: &Db,
    scope: &crate::core::authz::TenantScope,
    actions: Actions<'_>,
    since: i64,
    min: i64,
) -> AppResult<Vec<(String, i64)>> {
    let mut w = Where::new();
    w.scope("tenant_id", scope);
    w.and("tenant_id IS NOT NULL");
    actions.push(&mut w);
    let p = w.arg(since);
    w.and(format!("at > {p}"));
    let m = w.arg(min);
    let sql = format!(
        "SELECT tenant_id, CAST(COUNT(*) AS BIGINT) AS n FROM audit_events{} GROUP BY tenant_id \
         HAVING COUNT(*) >= {m} ORDER BY n DESC",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub fn row_to_event(r: &sqlx::any::AnyRow) -> Result<AuditEvent, sqlx::Error> {
    Ok(AuditEvent {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor_label: r.try_get("actor_label")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        tenant_id: r.try_get("tenant_id")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

const COLS: &str = "seq, at, actor_id, actor_label, action, target, tenant_id, ip, user_agent, \
                    details, prev_hash, hash";

/// Newest first, filtered; `limit` capped at 500.
pub async fn list(db: &Db, g: &Granted<'_>, f: &AuditFilter) -> AppResult<AuditPage> {
    if !matches!(g.action, Action::ViewAudit | Action::ExportAudit) {
        return Err(AppError::Forbidden);
    }
    let limit = f.limit.unwrap_or(50).clamp(1, 500);
    let mut w = Where::new();
    if let Some(a) = f.action.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let prefix = if a.ends_with('.') {
            a.to_string()
        } else {
            format!("{a}.")
        };
        let exact = w.arg(a);
        let under = w.arg(format!("{}%", prefix.replace(['%', '_'], "")));
        w.and(format!("(action = {exact} OR action LIKE {under})"));
    }
    if let Some(a) = f.actor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let p = w.arg(like_term(a));
        w.and(format!("LOWER(actor_label) LIKE {p}"));
    }
    if let Some(s) = f.since {
        let p = w.arg(s);
        w.and(format!("at >= {p}"));
    }
    if let Some(u) = f.until {
        let p = w.arg(u);
        w.and(format!("at <= {p}"));
    }
    if let Some(b) = f.before {
        let p = w.arg(b);
        w.and(format!("seq < {p}"));
    }
    if let Some(t) = f.tenant.as_deref().filter(|t| !t.is_empty()) {
        let p = w.arg(t);
        w.and(format!("tenant_id = {p}"));
    }
    // Tenant-scoped people see their tenants' events only.
    w.scope("tenant_id", &g.actor.tenants);
    let lim = w.arg(limit + 1);
    let sql = format!(
        "SELECT {COLS} FROM audit_events{} ORDER BY seq DESC LIMIT {lim}",
        w.sql()
    );
    let q = w.bind(sqlx::query(&sql));
    let rows = q.fetch_all(db.pool()).await?;
    let mut events = rows
        .iter()
        .map(row_to_event)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    Ok(AuditPage { events, has_more })
}

/// Result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub events: i64,
    pub first_broken: Option<i64>,
    pub reason: Option<String>,
    /// The first event keyed with the audit key (earlier ones predate keyed chains).
    pub first_keyed: Option<i64>,
    /// Checkpoints the chain was checked against.
    pub checkpoints: usize,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// A signed statement "the chain had `seq` events, the last with `hash`", exported with
/// `mailward audit checkpoint` (and logged by the server every hour) to be kept elsewhere.
/// `audit verify --checkpoint FILE` then finds events removed or rewritten below it, even by
/// someone who also rewrote the head row.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub first_keyed: Option<i64>,
    pub at: i64,
    pub key_id: String,
    pub mac: String,
}

fn checkpoint_mac(
    key: &AuditKey,
    seq: i64,
    hash: &str,
    first_keyed: Option<i64>,
    at: i64,
) -> String {
    key.mac(&[
        b"mailward audit checkpoint v1",
        seq.to_string().as_bytes(),
        hash.as_bytes(),
        first_keyed
            .map(|k| k.to_string())
            .unwrap_or_default()
            .as_bytes(),
        at.to_string().as_bytes(),
    ])
}

fn need_key(db: &Db) -> AppResult<&AuditKey> {
    db.audit_key()
        .ok_or_else(|| AppError::internal("the audit key was not loaded (audit::key::attach)"))
}

/// Signs the chain's current head.
pub async fn checkpoint(db: &Db, now: i64) -> AppResult<Checkpoint> {
    let key = need_key(db)?;
    let head = sqlx::query(
        "SELECT seq, hash, (SELECT MIN(seq) FROM audit_events WHERE keyed = 1) AS first_keyed \
         FROM audit_head WHERE id = 1",
    )
    .fetch_one(db.pool())
    .await?;
    let seq: i64 = head.try_get("seq")?;
    let hash: String = head.try_get("hash")?;
    let first_keyed: Option<i64> = head.try_get("first_keyed")?;
    Ok(Checkpoint {
        mac: checkpoint_mac(key, seq, &hash, first_keyed, now),
        seq,
        hash,
        first_keyed,
        at: now,
        key_id: key.id(),
    })
}

/// Reads checkpoints, one JSON object a line (blank lines and `#` comments skipped).
pub fn parse_checkpoints(text: &str) -> Result<Vec<Checkpoint>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            serde_json::from_str(l.trim())
                .map_err(|e| format!("line {}: not a checkpoint: {e}", i + 1))
        })
        .collect()
}

/// Recomputes every hash from the first event on, checking sequence continuity, links and the
/// head. Reports the first broken event.
pub async fn verify(db: &Db) -> AppResult<VerifyReport> {
    verify_with(db, &[]).await
}

/// [`verify`], and besides, that the chain still holds every checkpoint's event unchanged.
pub async fn verify_with(db: &Db, checkpoints: &[Checkpoint]) -> AppResult<VerifyReport> {
    let key = db.audit_key();
    let mut expected_seq = 1i64;
    let mut prev = String::from("0000000000000000000000000000000000000000000000000000000000000000");
    let mut count = 0i64;
    let mut first_keyed: Option<i64> = None;
    let broken = |seq: i64, count: i64, first_keyed: Option<i64>, why: String| VerifyReport {
        events: count,
        first_broken: Some(seq),
        reason: Some(why),
        first_keyed,
        checkpoints: checkpoints.len(),
    };
    let mut by_seq = std::collections::HashMap::new();
    for c in checkpoints {
        let Some(k) = key else {
            return Err(AppError::internal(
                "checking checkpoints needs the audit key",
            ));
        };
        if c.key_id != k.id() || checkpoint_mac(k, c.seq, &c.hash, c.first_keyed, c.at) != c.mac {
            return Ok(broken(
                c.seq,
                0,
                None,
                format!(
                    "the checkpoint for event {} is not signed with this audit key (id {})",
                    c.seq,
                    k.id()
                ),
            ));
        }
        by_seq.insert(c.seq, c);
    }
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLS}, keyed FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 1000"
        ))
        .bind(expected_seq)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let e = row_to_event(r)?;
            let keyed: i64 = r.try_get("keyed")?;
            if e.seq != expected_seq {
                return Ok(broken(
                    expected_seq,
                    count,
                    first_keyed,
                    format!("event {expected_seq} is missing"),
                ));
            }
            if e.prev_hash != prev {
                return Ok(broken(
                    e.seq,
                    count,
                    first_keyed,
                    "link to the previous event does not match".into(),
                ));
            }
            let use_key = match (keyed != 0, first_keyed) {
                (true, _) => {
                    first_keyed.get_or_insert(e.seq);
                    match key {
                        Some(k) => Some(k),
                        None => {
                            return Ok(broken(
                                e.seq,
                                count,
                                first_keyed,
                                "keyed events cannot be checked without the audit key".into(),
                            ))
                        }
                    }
                }
                (false, Some(_)) => {
                    return Ok(broken(
                        e.seq,
                        count,
                        first_keyed,
                        "an unkeyed event after keyed ones".into(),
                    ))
                }
                (false, None) => None,
            };
            let c = Canonical {
                seq: e.seq,
                at: e.at,
                actor_id: &e.actor_id,
                actor_label: &e.actor_label,
                action: &e.action,
                target: &e.target,
                tenant_id: &e.tenant_id,
                ip: &e.ip,
                user_agent: &e.user_agent,
                details: &e.details,
            };
            if chain_hash(use_key, &prev, &c) != e.hash {
                return Ok(broken(
                    e.seq,
                    count,
                    first_keyed,
                    "content does not match its hash".into(),
                ));
            }
            if let Some(cp) = by_seq.get(&e.seq) {
                if cp.hash != e.hash || cp.first_keyed != first_keyed.filter(|k| *k <= e.seq) {
                    return Ok(broken(
                        e.seq,
                        count,
                        first_keyed,
                        "differs from the checkpoint taken of it".into(),
                    ));
                }
            }
            prev = e.hash;
            expected_seq += 1;
            count += 1;
        }
    }
    // Anything below the first event (seq < 1) is out of chain too.
    let stray: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE seq < 1")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    if stray > 0 {
        return Ok(broken(
            0,
            count,
            first_keyed,
            "events outside the chain".into(),
        ));
    }
    if let Some(cp) = checkpoints
        .iter()
        .filter(|c| c.seq > count)
        .max_by_key(|c| c.seq)
    {
        return Ok(broken(
            count + 1,
            count,
            first_keyed,
            format!(
                "the chain ends at event {count}, but a checkpoint of {} vouches for event {}: \
                 events were removed",
                chrono::DateTime::from_timestamp(cp.at, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                cp.seq
            ),
        ));
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    if head_seq != count || head_hash != prev {
        return Ok(broken(
            count + 1,
            count,
            first_keyed,
            format!(
                "chain ends at event {count} but its head says {head_seq}: events were removed"
            ),
        ));
    }
    Ok(VerifyReport {
        events: count,
        first_broken: None,
        reason: None,
        first_keyed,
        checkpoints: checkpoints.len(),
    })
}

/// CSV export (RFC 4180 quoting, formulas neutralised: anyone's User-Agent lands here).
pub fn to_csv(events: &[AuditEvent]) -> String {
    let mut c = crate::core::csv::Csv::new(&[
        "seq",
        "time_utc",
        "actor_id",
        "actor",
        "action",
        "target",
        "tenant_id",
        "ip",
        "user_agent",
        "details",
        "prev_hash",
        "hash",
    ]);
    for e in events {
        let time = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        c.num(e.seq)
            .text(&time)
            .text(e.actor_id.as_deref().unwrap_or(""))
            .text(&e.actor_label)
            .text(&e.action)
            .text(e.target.as_deref().unwrap_or(""))
            .text(e.tenant_id.as_deref().unwrap_or(""))
            .text(e.ip.as_deref().unwrap_or(""))
            .text(e.user_agent.as_deref().unwrap_or(""))
            .text(&e.details)
            .text(&e.prev_hash)
            .text(&e.hash);
        c.end_row();
    }
    c.finish()
}

/// JSON Lines export.
pub fn to_jsonl(events: &[AuditEvent]) -> String {
    let mut out = String::new();
    for e in events {
        out += &serde_json::to_string(e).expect("event serialises");
        out.push('\n');
    }
    out
}

/// Failed sign-in steps since `since`, and the total number of events.
pub async fn stats(db: &Db, since: i64) -> AppResult<(i64, i64)> {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM audit_events WHERE at >= $1 AND action IN \
         ('auth.signin_failed', 'auth.second_factor_failed', 'auth.locked_out', 'auth.signin_throttled')) AS failed, \
         seq AS total FROM audit_head WHERE id = 1",
    )
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok((r.try_get("failed")?, r.try_get("total")?))
}

/// The id of the audit key the chain is keyed with (none: not keyed yet).
pub async fn head_key_id(db: &crate::core::db::Db) -> AppResult<Option<String>> {
    Ok(sqlx::query("SELECT key_id FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?
        .try_get("key_id")?)
}

/// Keys an unkeyed chain with `key_id` (a no-op if another key got there first).
pub async fn claim_head_key(db: &crate::core::db::Db, key_id: &str) -> AppResult<()> {
    sqlx::query("UPDATE audit_head SET key_id = $1 WHERE id = 1 AND key_id IS NULL")
        .bind(key_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
