//! The audit chain. Every mutation calls [`record`] inside its own transaction, so the change
//! and its event commit together. Writers first bump the single head row, which serialises
//! them (a row lock on PostgreSQL; SQLite has one writer), keeping one unbroken chain even
//! with several server instances on one database. Rows are never updated or deleted.
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::store;
use super::AuditEvent;
use crate::core::audit_key::AuditKey;
use crate::core::db::{Db, Tx};
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
    /// The tenant, when the event has one (a platform change request has none).
    pub fn maybe_tenant(mut self, t: Option<String>) -> Self {
        self.tenant_id = t;
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
    let key = tx.audit_key().cloned().ok_or_else(|| {
        AppError::internal("the audit key was not loaded (audit::service::attach_key)")
    })?;
    let n = events.len() as i64;
    let (last, mut prev_hash) = store::bump_head(tx.conn(), n).await?;
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
    let rows: Vec<store::Row<'_>> = rows
        .iter()
        .map(|(seq, ev, details, prev, hash)| store::Row {
            seq: *seq,
            at: now,
            actor,
            action: ev.action,
            target: ev.target.as_deref(),
            tenant_id: ev.tenant_id.as_deref(),
            details,
            prev_hash: prev,
            hash,
        })
        .collect();
    store::insert(tx.conn(), &rows).await?;
    store::set_head_hash(tx.conn(), &prev_hash).await?;
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

pub use super::store::{
    about, busiest_tenants, count_since, list, row_to_event, since, Actions, By,
};

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
    db.audit_key().ok_or_else(|| {
        AppError::internal("the audit key was not loaded (audit::service::attach_key)")
    })
}

/// Signs the chain's current head.
pub async fn checkpoint(db: &Db, now: i64) -> AppResult<Checkpoint> {
    let key = need_key(db)?;
    let (seq, hash, first_keyed) = store::head_with_first_keyed(db).await?;
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
        let rows = store::page_from(db, expected_seq, 1000).await?;
        if rows.is_empty() {
            break;
        }
        for (e, keyed) in rows {
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
            let use_key = match (keyed, first_keyed) {
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
    let stray = store::stray_count(db).await?;
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
    let (head_seq, head_hash, _) = store::head_with_first_keyed(db).await?;
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

pub use super::store::{claim_head_key, head_key_id, stats};

/// Up to `limit` events after `seq`, in order: for readers that follow the log (the
/// monitoring watcher).
pub async fn events_after(db: &Db, seq: i64, limit: i64) -> AppResult<Vec<AuditEvent>> {
    Ok(super::store::page_from(db, seq + 1, limit)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// Loads (or on first start creates) the configured key, checks it is the key this
/// database's chain was written with, and hands back the database handle that records with
/// it. Every process that writes the audit log opens its database through here.
pub async fn attach_key(db: Db, cfg: &crate::core::config::Config) -> AppResult<Db> {
    let path = crate::core::audit_key::key_path(cfg);
    let (key, created) = crate::core::audit_key::load_or_create(&path)?;
    let id = key.id();
    let have = super::store::head_key_id(&db).await?;
    match have {
        Some(h) if h != id => {
            return Err(AppError::Config(format!(
                "the audit log of this database is keyed with another audit key (id {h}; {} has \
                 id {id}). Point audit_key_file (MAILWARD_AUDIT_KEY_FILE) at the key this \
                 database was started with; every instance sharing it needs the same key.",
                path.display()
            )));
        }
        Some(_) => {}
        None => {
            super::store::claim_head_key(&db, &id).await?;
            // Two instances starting at once with different keys: one of them loses here.
            let now = super::store::head_key_id(&db).await?;
            if now.as_deref() != Some(id.as_str()) {
                return Err(AppError::Config(
                    "another instance keyed this audit log with a different key at the same time"
                        .into(),
                ));
            }
        }
    }
    if created {
        tracing::warn!(
            path = %path.display(),
            key_id = %id,
            "created a new audit key: back it up, keep it off the database host if you can, and \
             give every instance sharing this database the same file"
        );
    }
    Ok(db.with_audit_key(key))
}
