//! Monitoring use cases: the mail plane's authentication reports (Dovecot's policy protocol),
//! the signal rules, raising alerts (deduplicated while not resolved), the inbox, and the
//! watcher that follows the audit log (`monitoring.watch`, every minute).
//!
//! Rules, with their defaults (configuration in brackets):
//! - failed sign-ins — console, self-service, IMAP, SMTP — from one source address:
//!   `alert_failure_burst` (10) within `alert_failure_minutes` (10) raise one alert per
//!   address; from many addresses against one account, one per account;
//! - a mail-plane login from a network (/24, /48) the account has not used in
//!   `alert_new_network_days` (30), for an account that has a history (the first login of a
//!   new mailbox is not an anomaly); an app password from such a network says so;
//! - with a GeoIP country database (`geoip_country_db`), a mail-plane login from a country
//!   none of the account's logins in `alert_new_network_days` came from;
//! - a mail-plane login at an hour (UTC) far outside the mailbox's own history (fewer than
//!   2 % of its logins within two hours of it), once it has `alert_odd_hour_min_logins` (30)
//!   logins over a week at least;
//! - DNS drift (resolved by itself when the records are back), forwarding or a catch-all
//!   turned on, access granted (an operator or tenant user invited, an operator's scope
//!   changed, an account enabled again, an owner's recovery link issued on the server), a
//!   burst of password resets in a tenant, a DMARC sending source never seen;
//! - authentication health: in a DMARC aggregate report, more than `alert_auth_fail_percent`
//!   (10) of the mail from the domain's own sources (those that passed DMARC in the last 30
//!   days) failing DMARC at the receiver.
//!
//! Each tenant may set its own thresholds (`alert_settings`; its admins only tighten them)
//! and may let its client viewers read its alerts. A source address's burst follows the
//! platform's thresholds (it is not one tenant's).
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;

use super::store::{self, Failure};
use super::{Alert, RulesChange, TenantRules, Thresholds};
use crate::audit::service::{record, Event};
use crate::audit::AuditEvent;
use crate::core::authz::{authorize, authorize_in, Action, Actor, TenantScope};
use crate::core::db::Tx;
use crate::core::state::AppState;
use crate::core::{AppError, AppResult};

/// Failed sign-ins are kept this long.
pub const RETAIN_FAILURES_DAYS: i64 = 30;
/// A DMARC report needs this many messages from the domain's own sources to say anything
/// about its authentication health.
const MIN_REPORTED_MESSAGES: i64 = 20;
/// Evidence kept per alert (the latest).
const MAX_EVIDENCE: usize = 50;

/// The network an address belongs to, for "seen before": its /24 (IPv4) or /48 (IPv6).
pub fn network_of(remote: &str) -> String {
    match remote.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(&v4.to_string()),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
        Err(_) => "unknown".into(),
    }
}

/// What Dovecot sends for one authentication (the attributes `mailward mailplane render`
/// asks for, plus `success` on a report).
#[derive(Debug, Default, Deserialize)]
pub struct PolicyRequest {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub remote: String,
    #[serde(default)]
    pub protocol: String,
    /// `password` or `app_password` (which passdb matched); empty when none did.
    #[serde(default)]
    pub via: String,
    pub success: Option<bool>,
    #[serde(default)]
    pub policy_reject: bool,
}

static TOKENS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
    std::sync::OnceLock::new();

/// The secret the mail plane presents to the policy endpoint (64 hex digits in
/// `mailplane-policy.key` beside the database, made on first use). `mailward mailplane
/// render` writes it into Dovecot's configuration.
pub fn policy_token(cfg: &crate::core::config::Config) -> AppResult<String> {
    let path = crate::core::audit_key::secret_path(cfg, None, "mailplane-policy.key");
    let key = path.display().to_string();
    let cache = TOKENS.get_or_init(Default::default);
    if let Some(t) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(t);
    }
    let (secret, _) =
        crate::core::audit_key::load_or_create_secret(&path, "mail-plane policy key")?;
    let token = hex::encode(secret);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, token.clone());
    }
    Ok(token)
}

/// The policy token for `mailward mailplane render`: read, never made (`serve` makes it at its
/// first start, as the user it runs as; a file made here by root would be unreadable to it).
pub fn existing_policy_token(cfg: &crate::core::config::Config) -> AppResult<String> {
    let path = crate::core::audit_key::secret_path(cfg, None, "mailplane-policy.key");
    if !path.exists() {
        return Err(AppError::Config(format!(
            "{} does not exist yet: start `mailward serve` once (it makes it), then render again",
            path.display()
        )));
    }
    policy_token(cfg)
}

/// Whether a presented token is the policy token (compared in constant time).
pub fn policy_token_ok(cfg: &crate::core::config::Config, presented: &str) -> bool {
    use sha2::{Digest, Sha256};
    let Ok(token) = policy_token(cfg) else {
        return false;
    };
    let a = Sha256::digest(token.as_bytes());
    let b = Sha256::digest(presented.trim().as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn protocol_of(p: &str) -> &'static str {
    match p.to_ascii_lowercase().as_str() {
        "imap" => "imap",
        "smtp" | "submission" => "smtp",
        _ => "other",
    }
}

/// One authentication the mail plane reports (after it happened: the login did not wait).
pub async fn policy_report(st: &AppState, req: PolicyRequest) -> AppResult<()> {
    let login: String = req.login.trim().to_lowercase().chars().take(320).collect();
    let remote = match req.remote.trim().parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => "unknown".to_string(),
    };
    let protocol = protocol_of(&req.protocol);
    let sys = Actor::system("mail plane");
    let g = authorize(&sys, Action::ManageMailboxes)?;
    let mailbox = if login.is_empty() {
        None
    } else {
        crate::mailboxes::store::get(&st.db, &g, &login).await?
    };
    if req.success == Some(true) && !req.policy_reject {
        let Some(m) = mailbox else {
            return Ok(());
        };
        let via = match req.via.as_str() {
            "password" => "password",
            "app_password" => "app_password",
            _ => "unknown",
        };
        return login_seen(st, &m.id, &m.tenant_id, &m.address, &remote, protocol, via).await;
    }
    let id = crate::core::secrets::new_id("fail");
    failure_seen(
        st,
        &Failure {
            id: &id,
            at: st.clock.now(),
            login: &login,
            mailbox_id: mailbox.as_ref().map(|m| m.id.as_str()),
            tenant_id: mailbox.as_ref().map(|m| m.tenant_id.as_str()),
            protocol,
            remote: &remote,
            network: &network_of(&remote),
        },
        None,
    )
    .await
}

/// The platform's thresholds (the configuration).
pub fn defaults(cfg: &crate::core::config::Config) -> Thresholds {
    Thresholds {
        failure_burst: cfg.alert_failure_burst,
        failure_minutes: cfg.alert_failure_minutes,
        new_network_days: cfg.alert_new_network_days,
        reset_burst: cfg.reset_burst_count,
        reset_minutes: cfg.reset_burst_minutes,
        auth_fail_percent: cfg.alert_auth_fail_percent,
        odd_hours: true,
    }
}

/// The thresholds that apply to a tenant (its own over the platform's).
async fn thresholds(
    c: &mut sqlx::AnyConnection,
    st: &AppState,
    tenant_id: Option<&str>,
) -> AppResult<Thresholds> {
    let d = defaults(&st.config);
    let Some(t) = tenant_id else {
        return Ok(d);
    };
    Ok(match store::rules(c, t).await? {
        Some((r, _, _)) => super::policy::effective(&d, &r),
        None => d,
    })
}

fn no_rules() -> RulesChange {
    RulesChange {
        odd_hours: true,
        ..Default::default()
    }
}

/// A tenant's alert rules (`key`: its id or short name), for those who read its alerts.
pub async fn tenant_rules(st: &AppState, actor: &Actor, key: &str) -> AppResult<TenantRules> {
    let (t, _) = crate::tenancy::service::tenant(st, actor, key.trim()).await?;
    authorize_in(actor, Action::ViewAlerts, &t.id)?;
    let mut conn = st.db.pool().acquire().await?;
    let d = defaults(&st.config);
    let (r, at, by) = match store::rules(&mut conn, &t.id).await? {
        Some((r, at, by)) => (r, Some(at), Some(by)),
        None => (no_rules(), None, None),
    };
    Ok(TenantRules {
        tenant_id: t.id,
        tenant_name: t.name,
        tenant_slug: t.slug,
        effective: super::policy::effective(&d, &r),
        own: r,
        defaults: d,
        updated_at: at,
        updated_by: by,
    })
}

/// Sets a tenant's alert rules. Owners and operators may loosen them; a tenant's admin only
/// tightens them (and may let the tenant's client viewers read its alerts). Audited with the
/// before and after; the same rules again change nothing.
pub async fn set_tenant_rules(
    st: &AppState,
    actor: &Actor,
    key: &str,
    next: &RulesChange,
) -> AppResult<TenantRules> {
    let (t, _) = crate::tenancy::service::tenant(st, actor, key.trim()).await?;
    let g = authorize_in(actor, Action::ManageAlerts, &t.id)?;
    let may_loosen = matches!(
        actor.role,
        Some(crate::auth::Role::Owner | crate::auth::Role::Operator)
    );
    let d = defaults(&st.config);
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let current = store::rules(tx.conn(), &t.id)
        .await?
        .map(|(r, _, _)| r)
        .unwrap_or_else(no_rules);
    super::policy::check_change(&d, &current, next, may_loosen).map_err(AppError::invalid)?;
    if &current != next {
        store::set_rules(tx.conn(), &g, &t.id, next, now).await?;
        let ev = Event::new("alert.rules_changed")
            .target(t.id.clone())
            .tenant(t.id.clone())
            .details(json!({ "tenant": t.name, "before": current, "after": next }));
        record(&mut tx, actor, now, ev).await?;
        tx.commit().await?;
    }
    tenant_rules(st, actor, &t.id).await
}

/// A successful mail-plane login: noted per network and per hour; a network the account has
/// not used for `new_network_days` raises an alert (unless the account has no history yet),
/// and so does an hour far outside its history.
async fn login_seen(
    st: &AppState,
    mailbox_id: &str,
    tenant_id: &str,
    address: &str,
    remote: &str,
    protocol: &str,
    via: &str,
) -> AppResult<()> {
    let now = st.clock.now();
    let network = network_of(remote);
    let mut tx = st.db.begin().await?;
    let th = thresholds(tx.conn(), st, Some(tenant_id)).await?;
    let since = now - th.new_network_days * 86400;
    let (last, others) = store::network_history(tx.conn(), mailbox_id, &network, since).await?;
    let hour = now.rem_euclid(86_400) / 3_600;
    let (hours, first) = store::login_hours(tx.conn(), mailbox_id).await?;
    store::saw_hour(tx.conn(), mailbox_id, hour, now).await?;
    let country = super::geoip::country_of(&st.config, remote);
    let countries = match &country {
        Some(_) => store::countries_seen(tx.conn(), mailbox_id, since).await?,
        None => vec![],
    };
    store::saw_network(
        tx.conn(),
        mailbox_id,
        tenant_id,
        &network,
        remote,
        protocol,
        via,
        country.as_deref(),
        now,
    )
    .await?;
    let new_here = last.is_none_or(|l| l < since);
    let mut raised = false;
    if new_here && others > 0 {
        let app = via == "app_password";
        let signal = Signal {
            rule: "mail.new_network",
            key: format!("mail.new_network:{mailbox_id}:{network}"),
            tenant_id: Some(tenant_id.to_string()),
            severity: "warning",
            title: if app {
                format!("An app password of {address} was used from a new network ({network})")
            } else {
                format!("{address} signed in from a new network ({network})")
            },
            detail: json!({
                "mailbox": address, "network": network, "remote": remote,
                "protocol": protocol, "via": via,
                "not_seen_for_days": th.new_network_days,
                "known_networks": others, "country": country,
            }),
            evidence: format!("login:{protocol}:{remote}"),
        };
        raised = raise(&mut tx, st, &signal, now).await?;
    }
    // With a GeoIP database: a country none of the account's recent logins came from.
    if let Some(cc) = &country {
        if !countries.is_empty() && !countries.contains(cc) {
            let signal = Signal {
                rule: "mail.new_country",
                key: format!("mail.new_country:{mailbox_id}:{cc}"),
                tenant_id: Some(tenant_id.to_string()),
                severity: "warning",
                title: format!("{address} signed in from a country it has not used ({cc})"),
                detail: json!({
                    "mailbox": address, "country": cc, "known_countries": countries,
                    "remote": remote, "network": network, "protocol": protocol, "via": via,
                    "not_seen_for_days": th.new_network_days,
                }),
                evidence: format!("login:{protocol}:{remote}"),
            };
            raised |= raise(&mut tx, st, &signal, now).await?;
        }
    }
    let odd = th.odd_hours
        && first.is_some_and(|f| {
            super::policy::odd_hour(
                &hours,
                f,
                now,
                st.config.alert_odd_hour_min_logins,
                hour as usize,
            )
        });
    if odd {
        let usual: Vec<String> = usual_hours(&hours);
        let signal = Signal {
            rule: "mail.odd_hour",
            key: format!("mail.odd_hour:{mailbox_id}"),
            tenant_id: Some(tenant_id.to_string()),
            severity: "warning",
            title: format!("{address} signed in at {hour:02}:00 UTC, far outside its usual hours"),
            detail: json!({
                "mailbox": address, "hour_utc": hour, "remote": remote, "network": network,
                "protocol": protocol, "via": via, "usual_hours_utc": usual,
                "logins_seen": hours.iter().sum::<i64>(),
            }),
            evidence: format!("login:{protocol}:{remote}"),
        };
        raised |= raise(&mut tx, st, &signal, now).await?;
    }
    finish(tx, raised).await
}

/// The hours (UTC) that hold most of a history, as ranges ("08–11"), for the alert's text.
fn usual_hours(hits: &[i64; 24]) -> Vec<String> {
    let total: i64 = hits.iter().sum();
    let busy: Vec<bool> = hits.iter().map(|h| *h * 20 >= total.max(1)).collect();
    let mut out = Vec::new();
    let mut h = 0;
    while h < 24 {
        if busy[h] {
            let start = h;
            while h + 1 < 24 && busy[h + 1] {
                h += 1;
            }
            out.push(if start == h {
                format!("{start:02}")
            } else {
                format!("{start:02}–{h:02}")
            });
        }
        h += 1;
    }
    out
}

/// A failed sign-in (any door): recorded; a burst from one address, or against one account
/// from many, raises one alert that later failures add to.
pub async fn failure_seen(st: &AppState, f: &Failure<'_>, cause: Option<String>) -> AppResult<()> {
    let cause = cause.unwrap_or_else(|| format!("failure:{}", f.id));
    let window = st.config.alert_failure_minutes * 60;
    let burst = st.config.alert_failure_burst;
    let mut tx = st.db.begin().await?;
    store::insert_failure(tx.conn(), f).await?;
    let since = f.at - window;
    let (from_source, logins, tenants) = store::failures_from(tx.conn(), f.remote, since).await?;
    let mut raised = false;
    if from_source >= burst {
        // One tenant's accounts: that tenant's alert; several (or none known): the platform's.
        let tenant = (tenants.len() == 1).then(|| tenants[0].clone());
        let signal = Signal {
            rule: "signin.failure_burst",
            key: format!("signin.failure_burst:source:{}", f.remote),
            tenant_id: tenant,
            severity: if from_source >= burst * 5 {
                "critical"
            } else {
                "warning"
            },
            title: format!(
                "{from_source} failed sign-ins from {} in {} minutes",
                f.remote, st.config.alert_failure_minutes
            ),
            detail: json!({
                "remote": f.remote, "network": f.network, "failures": from_source,
                "accounts": logins.iter().take(20).collect::<Vec<_>>(),
                "accounts_total": logins.len(), "last_protocol": f.protocol,
                "window_minutes": st.config.alert_failure_minutes,
            }),
            evidence: cause.clone(),
        };
        raised = raise(&mut tx, st, &signal, f.at).await?;
    } else if !f.login.is_empty() {
        // Against one account: its tenant's thresholds.
        let th = thresholds(tx.conn(), st, f.tenant_id).await?;
        let since = f.at - th.failure_minutes * 60;
        let (for_login, sources) = store::failures_for(tx.conn(), f.login, since).await?;
        if for_login >= th.failure_burst {
            let signal = Signal {
                rule: "signin.failure_burst",
                key: format!("signin.failure_burst:account:{}", f.login),
                tenant_id: f.tenant_id.map(str::to_string),
                severity: "warning",
                title: format!(
                    "{for_login} failed sign-ins for {} from {sources} addresses in {} minutes",
                    f.login, th.failure_minutes
                ),
                detail: json!({
                    "account": f.login, "failures": for_login, "sources": sources,
                    "last_remote": f.remote, "last_protocol": f.protocol,
                    "window_minutes": th.failure_minutes,
                }),
                evidence: cause.clone(),
            };
            raised = raise(&mut tx, st, &signal, f.at).await?;
        }
    }
    finish(tx, raised).await
}

/// A transaction that raised an alert carries its event; one that only noted an observation
/// (a login, a failure, another hit on a live alert) is the system's bookkeeping.
async fn finish(tx: Tx, raised: bool) -> AppResult<()> {
    if raised {
        tx.commit().await
    } else {
        tx.commit_bookkeeping().await
    }
}

/// What a rule found.
pub struct Signal {
    pub rule: &'static str,
    /// Alerts with the same key are one alert while it is not resolved.
    pub key: String,
    pub tenant_id: Option<String>,
    pub severity: &'static str,
    pub title: String,
    pub detail: serde_json::Value,
    pub evidence: String,
}

/// Raises the signal's alert, or adds to the live one with its key. Returns whether a new
/// alert was raised (then an `alert.raised` event is in the transaction).
pub async fn raise(tx: &mut Tx, _st: &AppState, s: &Signal, now: i64) -> AppResult<bool> {
    let detail = s.detail.to_string();
    for _ in 0..2 {
        if let Some(live) = store::live_by_key(tx.conn(), &s.key).await? {
            let mut evidence = live.evidence.clone();
            if !evidence.contains(&s.evidence) {
                evidence.push(s.evidence.clone());
            }
            if evidence.len() > MAX_EVIDENCE {
                evidence.drain(..evidence.len() - MAX_EVIDENCE);
            }
            let severity = if rank(s.severity) > rank(&live.severity) {
                s.severity
            } else {
                live.severity.as_str()
            };
            store::bump_alert(tx.conn(), &live.id, now, &detail, &evidence, severity).await?;
            return Ok(false);
        }
        let a = Alert {
            id: crate::core::secrets::new_id("alert"),
            tenant_id: s.tenant_id.clone(),
            tenant_name: None,
            rule: s.rule.to_string(),
            severity: s.severity.to_string(),
            title: s.title.clone(),
            detail: detail.clone(),
            evidence: vec![s.evidence.clone()],
            state: "open".into(),
            first_at: now,
            last_at: now,
            hits: 1,
            acked_by: None,
            acked_at: None,
            resolved_by: None,
            resolved_at: None,
            note: None,
        };
        match store::insert_alert(tx.conn(), &a, &s.key).await {
            Ok(()) => {
                let queued = super::notify::enqueue(tx, &a, now).await?;
                let mut ev = Event::new("alert.raised")
                    .target(a.id.clone())
                    .details(json!({
                        "rule": a.rule, "severity": a.severity, "title": a.title,
                        "detail": s.detail, "evidence": a.evidence, "notifications": queued,
                    }));
                if let Some(t) = &a.tenant_id {
                    ev = ev.tenant(t.clone());
                }
                record(tx, &Actor::system("monitoring"), now, ev).await?;
                return Ok(true);
            }
            // Raised by someone else a moment ago: add to theirs.
            Err(AppError::Db(sqlx::Error::Database(db))) if db.is_unique_violation() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Conflict(
        "the alert changed while it was being raised".into(),
    ))
}

fn rank(severity: &str) -> u8 {
    match severity {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// The watcher: reads the audit log from where it stopped and applies the rules to what it
/// finds. Returns how many events it read.
pub async fn watch(st: &AppState) -> AppResult<usize> {
    let mut read = 0;
    for _ in 0..20 {
        let mut conn = st.db.pool().acquire().await?;
        let from = store::cursor(&mut conn).await?;
        drop(conn);
        let events = crate::audit::service::events_after(&st.db, from, 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        for ev in &events {
            if let Err(e) = on_event(st, ev).await {
                tracing::warn!(seq = ev.seq, action = %ev.action, error = %e, "monitoring rule");
            }
        }
        read += events.len();
        let mut tx = st.db.begin().await?;
        let moved = store::advance_cursor(tx.conn(), from, last).await?;
        tx.commit_bookkeeping().await?;
        if !moved {
            break;
        }
    }
    let mut tx = st.db.begin().await?;
    store::purge_failures(tx.conn(), st.clock.now() - RETAIN_FAILURES_DAYS * 86400).await?;
    tx.commit_bookkeeping().await?;
    Ok(read)
}

fn detail_str(d: &serde_json::Value, k: &str) -> Option<String> {
    d.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

/// The rules that read the audit log.
async fn on_event(st: &AppState, ev: &AuditEvent) -> AppResult<()> {
    let d: serde_json::Value = serde_json::from_str(&ev.details).unwrap_or_default();
    let evidence = format!("audit:{}", ev.seq);
    let signal = match ev.action.as_str() {
        "auth.signin_failed" | "auth.second_factor_failed" | "mailbox.signin_failed" => {
            let login = detail_str(&d, "email")
                .or_else(|| detail_str(&d, "address"))
                .unwrap_or_default()
                .to_lowercase();
            let remote = ev.ip.clone().unwrap_or_else(|| "unknown".into());
            let id = crate::core::secrets::new_id("fail");
            return failure_seen(
                st,
                &Failure {
                    id: &id,
                    at: ev.at,
                    login: &login,
                    mailbox_id: None,
                    tenant_id: ev.tenant_id.as_deref(),
                    protocol: if ev.action.starts_with("mailbox.") {
                        "me"
                    } else {
                        "console"
                    },
                    remote: &remote,
                    network: &network_of(&remote),
                },
                // The audit event is what a person can look at.
                Some(evidence),
            )
            .await;
        }
        "dns.drift" => {
            let domain = detail_str(&d, "domain").unwrap_or_default();
            let red = d
                .get("health")
                .and_then(|h| h.get("after"))
                .and_then(|v| v.as_str())
                == Some("red");
            Signal {
                rule: "dns.drift",
                key: format!("dns.drift:{}", ev.target.clone().unwrap_or_default()),
                tenant_id: ev.tenant_id.clone(),
                severity: if red { "critical" } else { "warning" },
                title: format!("The DNS of {domain} drifted from its baseline"),
                detail: json!({ "domain": domain, "reason": d.get("reason"), "health": d.get("health") }),
                evidence,
            }
        }
        "mailbox.purge_failed" => {
            let address = detail_str(&d, "address").unwrap_or_default();
            let error = detail_str(&d, "error").unwrap_or_default();
            Signal {
                rule: "mailbox.purge_blocked",
                key: format!("mailbox.purge_blocked:{}", ev.target.clone().unwrap_or_default()),
                tenant_id: ev.tenant_id.clone(),
                severity: "warning",
                title: format!(
                    "The mail of {address} is due for deletion, but the mail plane did not delete it: {error}"
                ),
                detail: json!({ "address": address, "error": error, "purge_after": d.get("purge_after") }),
                evidence,
            }
        }
        "mailbox.purged" => {
            let key = format!(
                "mailbox.purge_blocked:{}",
                ev.target.clone().unwrap_or_default()
            );
            return resolve_by_system(st, &key, "The mail was deleted.", ev).await;
        }
        "dns.drift_cleared" => {
            let key = format!("dns.drift:{}", ev.target.clone().unwrap_or_default());
            return resolve_by_system(st, &key, "The records are back to the baseline.", ev).await;
        }
        "route.enabled" => {
            let kind = detail_str(&d, "kind").unwrap_or_default();
            let source = detail_str(&d, "source").unwrap_or_default();
            Signal {
                rule: "routing.enabled",
                key: format!(
                    "routing.enabled:{}",
                    detail_str(&d, "route").unwrap_or_else(|| ev.seq.to_string())
                ),
                tenant_id: ev.tenant_id.clone(),
                severity: "warning",
                title: format!(
                    "{} turned on for {source}",
                    if kind.contains("catch") {
                        "A catch-all"
                    } else {
                        "Forwarding"
                    }
                ),
                detail: json!({ "kind": kind, "source": source, "after": d.get("after"), "by": ev.actor_label }),
                evidence,
            }
        }
        "mailbox.reset_requested" => {
            let Some(tenant) = ev.tenant_id.clone() else {
                return Ok(());
            };
            let th = {
                let mut conn = st.db.pool().acquire().await?;
                thresholds(&mut conn, st, Some(&tenant)).await?
            };
            let n = crate::audit::service::count_since(
                &st.db,
                crate::audit::service::By::Tenant(&tenant),
                crate::audit::service::Actions::OneOf(&["mailbox.reset_requested"]),
                ev.at - th.reset_minutes * 60,
            )
            .await?;
            if n < th.reset_burst {
                return Ok(());
            }
            Signal {
                rule: "mailbox.reset_burst",
                key: format!("mailbox.reset_burst:{tenant}"),
                tenant_id: Some(tenant),
                severity: "warning",
                title: format!("{n} password resets in {} minutes", th.reset_minutes),
                detail: json!({ "resets": n, "window_minutes": th.reset_minutes, "last_by": ev.actor_label }),
                evidence,
            }
        }
        "dmarc.report_imported" => {
            let own = d.get("own_messages").and_then(|v| v.as_i64()).unwrap_or(0);
            let failed = d.get("own_failed").and_then(|v| v.as_i64()).unwrap_or(0);
            let th = {
                let mut conn = st.db.pool().acquire().await?;
                thresholds(&mut conn, st, ev.tenant_id.as_deref()).await?
            };
            // A handful of messages says nothing; a share of a real volume does.
            if own < MIN_REPORTED_MESSAGES || failed * 100 < th.auth_fail_percent * own {
                return Ok(());
            }
            let domain = detail_str(&d, "domain").unwrap_or_default();
            let pct = failed * 100 / own;
            Signal {
                rule: "auth.degraded",
                key: format!("auth.degraded:{}", ev.target.clone().unwrap_or_default()),
                tenant_id: ev.tenant_id.clone(),
                severity: if pct >= 50 { "critical" } else { "warning" },
                title: format!(
                    "{pct}% of {domain}'s own mail failed DMARC at {}",
                    detail_str(&d, "org").unwrap_or_else(|| "a receiver".into())
                ),
                detail: json!({
                    "domain": domain, "org": d.get("org"), "report_id": d.get("report_id"),
                    "own_messages": own, "own_failed": failed,
                    "dkim_failed": d.get("own_dkim_fail"), "spf_softfail": d.get("own_spf_softfail"),
                    "threshold_percent": th.auth_fail_percent,
                }),
                evidence,
            }
        }
        // Access granted: someone may now act (an operator, a tenant's admin or viewer, a
        // wider scope). "Just give them access so they can work" is how a breach widens.
        "operator.invited"
        | "tenant.user_invited"
        | "operator.scope_changed"
        | "user.enabled"
        | "owner.recovery_link_issued" => {
            let (title, severity) = if ev.action == "owner.recovery_link_issued" {
                (
                    format!(
                        "A recovery link for the owner {} was issued on the server (by {})",
                        detail_str(&d, "email").unwrap_or_default(),
                        detail_str(&d, "host_user").unwrap_or_default()
                    ),
                    "critical",
                )
            } else if ev.action == "user.enabled" {
                let role = detail_str(&d, "role").unwrap_or_default();
                (
                    format!(
                        "{} enabled the account of {} ({}) again",
                        ev.actor_label,
                        detail_str(&d, "email").unwrap_or_default(),
                        role.replace('_', " ")
                    ),
                    if role == "client_viewer" {
                        "info"
                    } else {
                        "warning"
                    },
                )
            } else if ev.action == "operator.scope_changed" {
                (
                    format!(
                        "{} widened or changed the scope of {} ({})",
                        ev.actor_label,
                        detail_str(&d, "operator").unwrap_or_default(),
                        d.get("after")
                            .map(|v| match v {
                                serde_json::Value::String(s) => s.clone(),
                                v => v.to_string(),
                            })
                            .unwrap_or_default()
                    ),
                    "warning",
                )
            } else {
                let role = detail_str(&d, "role").unwrap_or_default();
                (
                    format!(
                        "{} invited {} as {}",
                        ev.actor_label,
                        detail_str(&d, "email").unwrap_or_default(),
                        role.replace('_', " ")
                    ),
                    if role == "client_viewer" {
                        "info"
                    } else {
                        "warning"
                    },
                )
            };
            Signal {
                rule: "access.granted",
                key: format!("access.granted:{}", ev.seq),
                tenant_id: ev.tenant_id.clone(),
                severity,
                title,
                detail: d.clone(),
                evidence,
            }
        }
        // More access through an approved change: a new owner or tenant admin, a second
        // factor reset (whoever reads the mailed link can set one up).
        "user.role_changed" | "user.factor_reset" => {
            if ev.action == "user.role_changed"
                && d.get("elevated") != Some(&serde_json::Value::Bool(true))
            {
                return Ok(());
            }
            let email = detail_str(&d, "email").unwrap_or_default();
            let title = if ev.action == "user.role_changed" {
                format!(
                    "{} is {} now (approved by {})",
                    email,
                    detail_str(&d, "after")
                        .unwrap_or_default()
                        .replace('_', " "),
                    ev.actor_label
                )
            } else {
                format!(
                    "The second factor of {} was reset: a link to set a new one was mailed \
                     (approved by {})",
                    email, ev.actor_label
                )
            };
            Signal {
                rule: "access.granted",
                key: format!("access.granted:{}", ev.seq),
                tenant_id: ev.tenant_id.clone(),
                severity: "warning",
                title,
                detail: d.clone(),
                evidence,
            }
        }
        "dmarc.new_source" => Signal {
            rule: "dmarc.new_source",
            key: format!("dmarc.new_source:{}", ev.seq),
            tenant_id: ev.tenant_id.clone(),
            severity: "info",
            title: format!(
                "Mail for {} came from a source never seen before",
                detail_str(&d, "domain").unwrap_or_default()
            ),
            detail: d.clone(),
            evidence,
        },
        _ => return Ok(()),
    };
    let mut tx = st.db.begin().await?;
    let raised = raise(&mut tx, st, &signal, ev.at.max(st.clock.now())).await?;
    finish(tx, raised).await
}

/// The condition behind a live alert is gone (e.g. DNS back to baseline): it resolves
/// itself, audited.
async fn resolve_by_system(st: &AppState, key: &str, note: &str, ev: &AuditEvent) -> AppResult<()> {
    let sys = Actor::system("monitoring");
    let g = authorize(&sys, Action::ManageAlerts)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(a) = store::live_by_key(tx.conn(), key).await? else {
        return Ok(());
    };
    if store::set_state(tx.conn(), &g, &a, "resolved", "monitoring", Some(note), now).await? {
        let mut e = Event::new("alert.resolved")
            .target(a.id.clone())
            .details(json!({
                "title": a.title, "note": note, "by_event": ev.seq,
            }));
        if let Some(t) = &a.tenant_id {
            e = e.tenant(t.clone());
        }
        record(&mut tx, &sys, now, e).await?;
        tx.commit().await
    } else {
        tx.commit_bookkeeping().await
    }
}

/// The inbox: alerts in the actor's scope (`state`: one state; none: those not resolved).
pub async fn alerts(st: &AppState, actor: &Actor, state: Option<&str>) -> AppResult<Vec<Alert>> {
    let g = authorize(actor, Action::ViewAlerts)?;
    if let Some(s) = state {
        if !super::ALERT_STATES.contains(&s) {
            return Err(AppError::invalid(
                "state is open, acknowledged or resolved.",
            ));
        }
    }
    let mut list = store::list(&st.db, &g, state, 500).await?;
    let ids: Vec<&str> = list.iter().filter_map(|a| a.tenant_id.as_deref()).collect();
    let mut conn = st.db.pool().acquire().await?;
    let names = crate::tenancy::store::names_of(&mut conn, ids).await?;
    for a in &mut list {
        a.tenant_name = a.tenant_id.as_ref().and_then(|t| names.get(t).cloned());
    }
    Ok(list)
}

/// One alert in the actor's scope.
pub async fn alert(st: &AppState, actor: &Actor, id: &str) -> AppResult<Alert> {
    let view = authorize(actor, Action::ViewAlerts)?;
    store::get(&st.db, &view, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Open alerts in the actor's scope, by severity (the dashboard's badge); empty for those
/// who may not see alerts.
pub async fn open_counts(st: &AppState, actor: &Actor) -> AppResult<Vec<(String, i64)>> {
    match authorize(actor, Action::ViewAlerts) {
        Ok(g) => store::open_counts(&st.db, &g).await,
        Err(_) => Ok(vec![]),
    }
}

/// The monitoring lines of `/metrics`: open alerts by severity, alerts raised by rule.
pub async fn metrics(st: &AppState) -> AppResult<String> {
    let sys = Actor::system("metrics");
    let g = authorize(&sys, Action::ViewAlerts)?;
    let open = store::open_counts(&st.db, &g).await?;
    let mut out = String::from(
        "# HELP mailward_alerts_open Alerts open (not acknowledged, not resolved), by severity.\n\
         # TYPE mailward_alerts_open gauge\n",
    );
    for sev in ["critical", "warning", "info"] {
        let n = open
            .iter()
            .find(|(s, _)| s == sev)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        out.push_str(&format!("mailward_alerts_open{{severity=\"{sev}\"}} {n}\n"));
    }
    out.push_str(
        "# HELP mailward_alerts_raised_total Alerts raised, by the rule that raised them.\n\
         # TYPE mailward_alerts_raised_total counter\n",
    );
    for (rule, n) in store::raised_by_rule(&st.db).await? {
        out.push_str(&format!(
            "mailward_alerts_raised_total{{rule=\"{rule}\"}} {n}\n"
        ));
    }
    Ok(out)
}

/// Someone acknowledges (`resolve` false) or resolves an alert, with an optional note.
pub async fn act(
    st: &AppState,
    actor: &Actor,
    id: &str,
    resolve: bool,
    note: &str,
) -> AppResult<Alert> {
    let note = note.trim();
    if note.chars().count() > 2000 {
        return Err(AppError::invalid("A note is at most 2,000 characters."));
    }
    // Those who only read alerts are refused before the lookup.
    authorize(actor, Action::ManageAlerts)?;
    let view = authorize(actor, Action::ViewAlerts)?;
    let a = store::get(&st.db, &view, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let g = match &a.tenant_id {
        Some(t) => authorize_in(actor, Action::ManageAlerts, t)?,
        None => {
            let g = authorize(actor, Action::ManageAlerts)?;
            if !matches!(actor.tenants, TenantScope::All) {
                return Err(AppError::NotFound);
            }
            g
        }
    };
    let to = if resolve { "resolved" } else { "acknowledged" };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let note_opt = (!note.is_empty()).then_some(note);
    if !store::set_state(tx.conn(), &g, &a, to, &actor.label, note_opt, now).await? {
        return Err(AppError::Conflict(format!(
            "This alert is already {}.",
            if a.state == "resolved" || resolve {
                "resolved"
            } else {
                "acknowledged"
            }
        )));
    }
    let mut ev = Event::new(if resolve {
        "alert.resolved"
    } else {
        "alert.acknowledged"
    })
    .target(a.id.clone())
    .details(json!({ "title": a.title, "rule": a.rule, "before": a.state, "note": note_opt }));
    if let Some(t) = &a.tenant_id {
        ev = ev.tenant(t.clone());
    }
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    store::get(&st.db, &view, id)
        .await?
        .ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::network_of;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(network_of("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:aa:bb::1"), "2001:db8:aa::/48");
        assert_eq!(network_of("::ffff:192.0.2.9"), "192.0.2.0/24");
        assert_eq!(network_of("nonsense"), "unknown");
    }
}
