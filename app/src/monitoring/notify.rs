//! Alerts pushed out: e-mail (through `[alert_smtp]`, a relay apart from the monitored mail
//! plane when configured) and webhooks signed in the Standard Webhooks scheme
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! id.timestamp.body>`; during a secret rotation both signatures are sent). Each message is a
//! row in `alert_deliveries`, queued in the same transaction that raised the alert and sent by
//! the recurring job `monitoring.deliver`, retried with backoff, logged per destination;
//! per-rule daily caps; a daily digest instead of one message per alert, if asked for.
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::store::{self, DeliveryRow, DestinationRow};
use super::{Alert, Delivery, Destination};
use crate::audit::service::{record, Event};
use crate::core::authz::{authorize, authorize_in, Action, Actor, Granted, TenantScope};
use crate::core::db::Tx;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a taken delivery is reserved for the worker sending it.
const LEASE_SECS: i64 = 120;
/// A rotated-out webhook secret keeps signing this long.
pub const ROTATION_OVERLAP_SECS: i64 = 86400;

fn aad(id: &str) -> Vec<u8> {
    format!("mailward webhook {id}").into_bytes()
}

fn rank(severity: &str) -> u8 {
    match severity {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// What a new destination is.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct NewDestination {
    /// `email` or `webhook`.
    pub kind: String,
    pub target: String,
    /// A tenant's id or short name: its alerts. Empty: every alert (owners and operators).
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub min_severity: String,
    #[serde(default)]
    pub daily_cap: Option<i64>,
    #[serde(default)]
    pub digest: bool,
}

/// The proof for a destination of `tenant_id` (None: the platform's, all-tenant actors).
fn gate<'a>(actor: &'a Actor, tenant_id: Option<&str>) -> AppResult<Granted<'a>> {
    match tenant_id {
        Some(t) => authorize_in(actor, Action::ManageAlerts, t),
        None => {
            let g = authorize(actor, Action::ManageAlerts)?;
            if !matches!(actor.tenants, TenantScope::All) {
                // Destinations for every alert are for owners and operators.
                return Err(AppError::Forbidden);
            }
            Ok(g)
        }
    }
}

fn check_target(kind: &str, target: &str, trusted: bool) -> AppResult<String> {
    match kind {
        "email" => crate::types::EmailAddress::parse(target)
            .map(|e| e.as_str().to_string())
            .map_err(AppError::invalid),
        "webhook" => {
            let t = target.trim();
            if t.len() > 2000 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(AppError::invalid("A webhook is an https:// URL."));
            }
            let rest = t
                .strip_prefix("https://")
                .map(|r| (r, true))
                .or_else(|| t.strip_prefix("http://").map(|r| (r, false)));
            let Some((rest, tls)) = rest else {
                return Err(AppError::invalid("A webhook is an https:// URL."));
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let authority = authority.rsplit('@').next().unwrap_or("");
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => authority.split(':').next().unwrap_or(""),
            };
            if host.is_empty() {
                return Err(AppError::invalid("The webhook URL has no host."));
            }
            // Plain http only to this machine, and only for those who run it (`trusted`).
            if !tls && !(trusted && crate::core::config::is_loopback_host(host)) {
                return Err(AppError::invalid(
                    "A webhook must use https:// (plain http only to a receiver on this machine).",
                ));
            }
            Ok(t.to_string())
        }
        _ => Err(AppError::invalid(
            "A destination is an e-mail address or a webhook.",
        )),
    }
}

fn new_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD
            .encode(crate::core::secrets::random_bytes::<24>())
    )
}

fn public(
    d: &DestinationRow,
    tenant_name: Option<String>,
    deliveries: Vec<Delivery>,
    now: i64,
) -> Destination {
    Destination {
        id: d.id.clone(),
        tenant_id: d.tenant_id.clone(),
        tenant_name,
        kind: d.kind.clone(),
        target: d.target.clone(),
        min_severity: d.min_severity.clone(),
        daily_cap: d.daily_cap,
        digest: d.digest,
        rotating_until: d.old_until.filter(|u| *u > now),
        created_at: d.created_at,
        created_by: d.created_by.clone(),
        deliveries,
    }
}

fn delivery_view(d: &DeliveryRow) -> Delivery {
    Delivery {
        id: d.id.clone(),
        alert_id: d.alert_id.clone(),
        rule: d.rule.clone(),
        subject: d.subject.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        next_at: d.next_at,
        last_error: d.last_error.clone(),
        status_code: d.status_code,
        created_at: d.created_at,
        sent_at: d.sent_at,
    }
}

/// Adds a destination. For a webhook, the signing secret is in the answer, once.
pub async fn add_destination(
    st: &AppState,
    actor: &Actor,
    n: &NewDestination,
) -> AppResult<(Destination, Option<String>)> {
    let tenant_id = if n.tenant.trim().is_empty() {
        None
    } else {
        Some(
            crate::tenancy::service::tenant(st, actor, n.tenant.trim())
                .await?
                .0
                .id,
        )
    };
    let g = gate(actor, tenant_id.as_deref())?;
    // Plain http to this machine: only owners and operators (a tenant admin's webhook must
    // not reach services listening on the server's loopback).
    let target = check_target(
        n.kind.as_str(),
        &n.target,
        matches!(actor.tenants, TenantScope::All),
    )?;
    let min_severity = if n.min_severity.is_empty() {
        "warning".to_string()
    } else if ["info", "warning", "critical"].contains(&n.min_severity.as_str()) {
        n.min_severity.clone()
    } else {
        return Err(AppError::invalid("Severity is info, warning or critical."));
    };
    let daily_cap = n.daily_cap.unwrap_or(20);
    if !(1..=1000).contains(&daily_cap) {
        return Err(AppError::invalid(
            "The daily cap is between 1 and 1000 messages per rule.",
        ));
    }
    let id = crate::core::secrets::new_id("dest");
    let secret = (n.kind == "webhook").then(new_secret);
    let secret_enc = match &secret {
        Some(s) => Some(crate::core::sealed::seal(
            &st.config,
            &aad(&id),
            s.as_bytes(),
        )?),
        None => None,
    };
    let now = st.clock.now();
    let row = DestinationRow {
        id: id.clone(),
        tenant_id: tenant_id.clone(),
        kind: n.kind.clone(),
        target: target.clone(),
        secret_enc,
        old_secret_enc: None,
        old_until: None,
        min_severity: min_severity.clone(),
        daily_cap,
        digest: n.digest,
        last_digest_at: None,
        created_at: now,
        created_by: actor.label.clone(),
    };
    let mut tx = st.db.begin().await?;
    store::insert_destination(tx.conn(), &g, &row).await?;
    let mut ev = Event::new("alert.destination_added")
        .target(id.clone())
        .details(json!({
            "kind": row.kind, "target": target, "min_severity": min_severity,
            "daily_cap": daily_cap, "digest": n.digest,
        }));
    if let Some(t) = &tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok((public(&row, None, vec![], now), secret))
}

async fn destination_for(
    st: &AppState,
    actor: &Actor,
    id: &str,
) -> AppResult<(DestinationRow, ())> {
    let view = authorize(actor, Action::ManageAlerts)?;
    let mut conn = st.db.pool().acquire().await?;
    let d = store::destination(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let visible = match &d.tenant_id {
        Some(t) => view.covers(t),
        None => matches!(actor.tenants, TenantScope::All),
    };
    if !visible {
        return Err(AppError::NotFound);
    }
    Ok((d, ()))
}

/// Removes a destination (its delivery log goes with it).
pub async fn remove_destination(st: &AppState, actor: &Actor, id: &str) -> AppResult<()> {
    let (d, _) = destination_for(st, actor, id).await?;
    let g = gate(actor, d.tenant_id.as_deref())?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::delete_destination(tx.conn(), &g, &d).await? {
        return Err(AppError::NotFound);
    }
    let mut ev = Event::new("alert.destination_removed")
        .target(d.id.clone())
        .details(json!({ "kind": d.kind, "target": d.target }));
    if let Some(t) = &d.tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

/// A new signing secret for a webhook (shown once); the old one signs beside it for a day,
/// so receivers can switch without losing a message.
pub async fn rotate_secret(st: &AppState, actor: &Actor, id: &str) -> AppResult<String> {
    let (d, _) = destination_for(st, actor, id).await?;
    let g = gate(actor, d.tenant_id.as_deref())?;
    if d.kind != "webhook" {
        return Err(AppError::invalid("Only webhooks have a signing secret."));
    }
    let secret = new_secret();
    let enc = crate::core::sealed::seal(&st.config, &aad(&d.id), secret.as_bytes())?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::rotate_secret(tx.conn(), &g, &d, &enc, now + ROTATION_OVERLAP_SECS).await? {
        return Err(AppError::Conflict(
            "The secret was rotated at the same moment; look again.".into(),
        ));
    }
    let mut ev = Event::new("alert.webhook_secret_rotated")
        .target(d.id.clone())
        .details(json!({ "target": d.target, "old_secret_until": now + ROTATION_OVERLAP_SECS }));
    if let Some(t) = &d.tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok(secret)
}

/// Sends a test message to a destination now; the answer is its delivery (sent or why not).
pub async fn test_destination(st: &AppState, actor: &Actor, id: &str) -> AppResult<Delivery> {
    let (d, _) = destination_for(st, actor, id).await?;
    gate(actor, d.tenant_id.as_deref())?;
    let now = st.clock.now();
    let body = json!({
        "type": "alert.test",
        "timestamp": rfc3339(now),
        "data": { "message": "A test from Mailward: this destination receives its alerts.", "by": actor.label },
    });
    let del = DeliveryRow {
        id: crate::core::secrets::new_id("msg"),
        destination_id: d.id.clone(),
        alert_id: None,
        rule: "test".into(),
        subject: "[Mailward] Test message".into(),
        payload: body.to_string(),
        state: "queued".into(),
        attempts: 0,
        next_at: now + LEASE_SECS,
        last_error: None,
        status_code: None,
        created_at: now,
        sent_at: None,
    };
    let mut tx = st.db.begin().await?;
    store::insert_delivery(tx.conn(), &del).await?;
    let mut ev = Event::new("alert.destination_tested")
        .target(d.id.clone())
        .details(json!({ "target": d.target }));
    if let Some(t) = &d.tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    let done = send_one(st, &d, &del).await?;
    Ok(delivery_view(&done))
}

/// The destinations in the actor's scope with their latest deliveries.
pub async fn destinations(st: &AppState, actor: &Actor) -> AppResult<Vec<Destination>> {
    let g = authorize(actor, Action::ManageAlerts)?;
    let rows = store::destinations(&st.db, &g).await?;
    let ids: Vec<&str> = rows.iter().filter_map(|d| d.tenant_id.as_deref()).collect();
    let mut conn = st.db.pool().acquire().await?;
    let names = crate::tenancy::store::names_of(&mut conn, ids).await?;
    drop(conn);
    let now = st.clock.now();
    let mut out = Vec::new();
    for d in &rows {
        let log = store::deliveries_of(&st.db, &d.id, 10).await?;
        out.push(public(
            d,
            d.tenant_id.as_ref().and_then(|t| names.get(t).cloned()),
            log.iter().map(delivery_view).collect(),
            now,
        ));
    }
    Ok(out)
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Queues the messages for a newly raised alert, in the transaction that raised it.
pub(super) async fn enqueue(tx: &mut Tx, a: &Alert, now: i64) -> AppResult<usize> {
    let dests = store::destinations_for(tx.conn(), a.tenant_id.as_deref()).await?;
    let day_start = now - now.rem_euclid(86400);
    let body = json!({
        "type": "alert.raised",
        "timestamp": rfc3339(now),
        "data": {
            "id": a.id, "tenant_id": a.tenant_id, "rule": a.rule, "severity": a.severity,
            "title": a.title,
            "detail": serde_json::from_str::<serde_json::Value>(&a.detail).unwrap_or_default(),
            "first_at": rfc3339(a.first_at),
        },
    })
    .to_string();
    let mut n = 0;
    for d in dests {
        if rank(&a.severity) < rank(&d.min_severity) {
            continue;
        }
        let state = if d.digest {
            "held"
        } else if store::sent_today(tx.conn(), &d.id, &a.rule, day_start).await? >= d.daily_cap {
            "capped"
        } else {
            "queued"
        };
        store::insert_delivery(
            tx.conn(),
            &DeliveryRow {
                id: crate::core::secrets::new_id("msg"),
                destination_id: d.id.clone(),
                alert_id: Some(a.id.clone()),
                rule: a.rule.clone(),
                subject: format!("[Mailward {}] {}", a.severity, a.title),
                payload: body.clone(),
                state: state.into(),
                attempts: 0,
                next_at: now,
                last_error: (state == "capped")
                    .then(|| format!("over the daily cap of {} for {}", d.daily_cap, a.rule)),
                status_code: None,
                created_at: now,
                sent_at: None,
            },
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

/// The signature header value: `v1,<sig>` with the current secret, and with the previous
/// one too while a rotation lasts.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| {
            let raw = s.strip_prefix("whsec_").unwrap_or(s);
            let key = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mailward-Webhooks/1")
            .build()
            .expect("http client")
    })
}

/// One attempt: Ok(status) when delivered, Err((why, status)) otherwise.
async fn attempt(
    st: &AppState,
    d: &DestinationRow,
    m: &DeliveryRow,
) -> Result<Option<i64>, (String, Option<i64>)> {
    let now = st.clock.now();
    match d.kind.as_str() {
        "email" => {
            let facts: serde_json::Value = serde_json::from_str(&m.payload).unwrap_or_default();
            let mut body = format!("{}\n\n", m.subject.trim_start_matches("[Mailward "));
            if let Some(data) = facts.get("data").and_then(|v| v.as_object()) {
                for (k, v) in data {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    body.push_str(&format!("{k}: {v}\n"));
                }
            }
            body.push_str(&format!(
                "\nThe alert inbox: {}/alerts\n",
                st.config.public_url().trim_end_matches('/')
            ));
            st.alert_mailer
                .send(&d.target, &m.subject, body)
                .await
                .map(|_| None)
                .map_err(|e| (e.user_message(), None))
        }
        _ => {
            let mut secrets = Vec::new();
            for (enc, live) in [
                (&d.secret_enc, true),
                (&d.old_secret_enc, d.old_until.is_some_and(|u| u > now)),
            ] {
                if let (Some(enc), true) = (enc, live) {
                    match crate::core::sealed::open(&st.config, &aad(&d.id), enc) {
                        Ok(Some(s)) => secrets.push(String::from_utf8_lossy(&s).into_owned()),
                        _ => {
                            return Err((
                                "the webhook secret does not open with this key file".into(),
                                None,
                            ))
                        }
                    }
                }
            }
            let sig = signature(&secrets, &m.id, now, &m.payload);
            let r = http()
                .post(&d.target)
                .header("content-type", "application/json")
                .header("webhook-id", &m.id)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", sig)
                .body(m.payload.clone())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => Ok(Some(resp.status().as_u16() as i64)),
                Ok(resp) => Err((
                    format!("the receiver answered {}", resp.status()),
                    Some(resp.status().as_u16() as i64),
                )),
                Err(e) => Err((format!("could not reach the receiver: {e}"), None)),
            }
        }
    }
}

/// Sends one taken delivery and records the outcome (retry later with backoff, or give up).
async fn send_one(st: &AppState, d: &DestinationRow, m: &DeliveryRow) -> AppResult<DeliveryRow> {
    let outcome = attempt(st, d, m).await;
    let now = st.clock.now();
    let tries = m.attempts + 1;
    let (state, next_at, error, status) = match &outcome {
        Ok(status) => ("sent", now, None, *status),
        Err((why, status)) if tries >= MAX_ATTEMPTS => ("failed", now, Some(why.clone()), *status),
        Err((why, status)) => {
            let backoff = (30i64 << (tries - 1).min(7)).min(3600);
            ("queued", now + backoff, Some(why.clone()), *status)
        }
    };
    let mut tx = st.db.begin().await?;
    store::delivered(
        tx.conn(),
        &m.id,
        state,
        next_at,
        error.as_deref(),
        status,
        now,
    )
    .await?;
    tx.commit_bookkeeping().await?;
    let mut done = m.clone();
    done.state = state.into();
    done.attempts = tries;
    done.next_at = next_at;
    done.last_error = error;
    done.status_code = status;
    done.sent_at = (state == "sent").then_some(now);
    Ok(done)
}

/// The delivery job: due messages, then digests that are due. Returns messages attempted.
pub async fn deliver_due(st: &AppState) -> AppResult<usize> {
    let now = st.clock.now();
    // Digests first: each becomes one queued message of its own.
    let mut tx = st.db.begin().await?;
    for d in store::digests_due(tx.conn(), now).await? {
        let held = store::held(tx.conn(), &d.id).await?;
        if held.is_empty() {
            continue;
        }
        let lines: Vec<String> = held.iter().map(|h| h.subject.clone()).collect();
        let body = json!({
            "type": "alert.digest",
            "timestamp": rfc3339(now),
            "data": { "alerts": lines.len(), "titles": lines },
        });
        store::insert_delivery(
            tx.conn(),
            &DeliveryRow {
                id: crate::core::secrets::new_id("msg"),
                destination_id: d.id.clone(),
                alert_id: None,
                rule: "digest".into(),
                subject: format!(
                    "[Mailward] {} alert{} today",
                    lines.len(),
                    if lines.len() == 1 { "" } else { "s" }
                ),
                payload: body.to_string(),
                state: "queued".into(),
                attempts: 0,
                next_at: now,
                last_error: None,
                status_code: None,
                created_at: now,
                sent_at: None,
            },
        )
        .await?;
        let ids: Vec<String> = held.iter().map(|h| h.id.clone()).collect();
        store::release_held(tx.conn(), &d.id, &ids, now).await?;
    }
    tx.commit_bookkeeping().await?;
    let mut sent = 0;
    loop {
        let mut tx = st.db.begin().await?;
        let due = store::take_due(tx.conn(), now, LEASE_SECS, 50).await?;
        tx.commit_bookkeeping().await?;
        if due.is_empty() {
            break;
        }
        for m in &due {
            let mut conn = st.db.pool().acquire().await?;
            let d = store::destination(&mut conn, &m.destination_id).await?;
            drop(conn);
            if let Some(d) = d {
                send_one(st, &d, m).await?;
                sent += 1;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let s = signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(s, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Two secrets: two signatures, space-separated.
        let two = signature(
            &[
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
                "whsec_AAAA".to_string(),
            ],
            "m",
            1,
            "{}",
        );
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn webhooks_want_https_except_on_this_machine() {
        assert!(check_target("webhook", "https://hooks.example/x", false).is_ok());
        assert!(check_target("webhook", "http://hooks.example/x", true).is_err());
        assert!(check_target("webhook", "http://127.0.0.1:9/x", true).is_ok());
        assert!(check_target("webhook", "http://127.0.0.1:9/x", false).is_err());
        assert!(check_target("webhook", "ftp://x", true).is_err());
        assert!(check_target("webhook", "https:// spaces", true).is_err());
        assert!(check_target("email", "not an address", true).is_err());
    }
}
