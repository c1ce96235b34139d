//! The scanner: every domain's expected record sets asked of each of its authoritative
//! nameservers, compared, stored when something changed, summed up into the domain's health.
//! Runs as the recurring job `dns.scan` and, for one domain, when someone asks ("Check now").
//!
//! Rules: an error or timeout is *unknown* and never replaces what was known (no red badge
//! because a nameserver was slow); a set is written, and an event recorded, only when its
//! status or values change (no daily noise); a published DKIM key starts signing only once
//! every nameserver serves its record; the challenge record verifies (and activates) a
//! pending domain.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use hickory_net::proto::rr::RecordType;

use super::resolve::{Answer, Resolver};
use super::*;
use crate::dns::store::KeyRow;

/// Keys the scanner makes per run for domains without one (RSA generation takes a moment;
/// the rest follow on later runs, or at once with "Generate key").
pub const KEYGEN_PER_SCAN: usize = 10;
/// Domains asked at the same time.
pub const IN_FLIGHT: usize = 64;

/// What a scan did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scanned {
    pub domains: usize,
    pub sets: usize,
    /// Sets no nameserver answered for.
    pub unknown: usize,
    /// Domains whose observation changed (an event each).
    pub changed: usize,
    pub keys_made: usize,
    pub keys_activated: usize,
    pub keys_retired: usize,
    pub verified: usize,
    /// Domains whose signing key changed in this scan (looked at again at once: what is
    /// required changed with the key).
    pub switched: Vec<String>,
    pub lookup_ms: u128,
    pub store_ms: u128,
}

/// One domain's fresh observation.
struct Fresh {
    domain: Domain,
    sets: Vec<Observed>,
    /// Published keys whose record every nameserver serves.
    keys_seen: Vec<String>,
    challenge_seen: bool,
}

fn rtype_of(s: &str) -> RecordType {
    match s {
        "MX" => RecordType::MX,
        "SRV" => RecordType::SRV,
        "CNAME" => RecordType::CNAME,
        "NS" => RecordType::NS,
        "DS" => RecordType::DS,
        _ => RecordType::TXT,
    }
}

fn fqdn(name: &str, domain: &str) -> String {
    if let Some(absolute) = name.strip_suffix('.') {
        absolute.to_string()
    } else if name == "@" {
        domain.to_string()
    } else {
        format!("{name}.{domain}")
    }
}

/// Compares what each nameserver said with the expected values.
fn judge(e: &Expected, answers: &[(String, Answer)], now: i64) -> Observed {
    let mut per_ns: Vec<(String, &'static str, Vec<String>)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for (ns, a) in answers {
        match a {
            Ok(values) => {
                let mine: Vec<String> = values
                    .iter()
                    .filter(|v| e.rtype != "TXT" || baseline::belongs(&e.purpose, v))
                    .cloned()
                    .collect();
                let status = if baseline::same(&e.rtype, &e.values, &mine) {
                    "ok"
                } else if mine.is_empty() {
                    "missing"
                } else {
                    "changed"
                };
                per_ns.push((ns.clone(), status, mine));
            }
            Err(err) => errors.push(format!("{ns}: {err}")),
        }
    }
    let rank = |s: &str| match s {
        "missing" => 2,
        "changed" => 1,
        _ => 0,
    };
    let worst = per_ns.iter().max_by_key(|(_, s, _)| rank(s));
    let (status, observed) = match worst {
        None => ("unknown", None),
        Some((_, s, v)) => (*s, Some(v.clone())),
    };
    let mut detail: Vec<String> = Vec::new();
    let disagree = per_ns
        .iter()
        .any(|(_, s, _)| Some(*s) != worst.map(|w| w.1));
    if disagree {
        detail.extend(per_ns.iter().map(|(ns, s, _)| format!("{ns}: {s}")));
    }
    if !errors.is_empty() {
        detail.extend(errors.iter().map(|e| format!("{e} (unknown)")));
    }
    if status != "unknown" {
        if let Some(v) = observed.as_ref().and_then(|v| v.first()) {
            match e.purpose.as_str() {
                "spf" => detail.extend(baseline::spf_findings(v)),
                "dmarc" => detail.extend(baseline::dmarc_findings(v)),
                _ => {}
            }
            if e.purpose == "spf" && observed.as_ref().is_some_and(|o| o.len() > 1) {
                detail.push(format!(
                    "{} SPF records: receivers treat that as an error (permerror)",
                    observed.as_ref().map(|o| o.len()).unwrap_or(0)
                ));
            }
        }
    }
    Observed {
        name: e.name.clone(),
        rtype: e.rtype.clone(),
        purpose: e.purpose.clone(),
        expected: e.values.clone(),
        observed,
        status: status.into(),
        detail: (!detail.is_empty()).then(|| detail.join("; ")),
        required: e.required,
        observed_at: now,
        since: now,
    }
}

async fn observe(
    r: Resolver,
    d: Domain,
    expected: Vec<Expected>,
    published: Vec<KeyRow>,
    operator_zone: Option<String>,
    now: i64,
) -> Fresh {
    let nameservers = r.nameservers(&d.name).await;
    let operator_ns = match &operator_zone {
        Some(z) => Some(r.shared_zone_nameservers(z).await),
        None => None,
    };
    let mut sets = Vec::new();
    // (name, type) of the key records and CNAMEs every nameserver serves as expected.
    let mut everywhere_ok: HashSet<(String, String)> = HashSet::new();
    let mut challenge_seen = false;
    for e in &expected {
        // Absolute names live in the operator's zone, asked of its own nameservers.
        let servers = match (&operator_ns, e.name.ends_with('.')) {
            (Some(ns), true) => ns,
            _ => &nameservers,
        };
        let answers: Vec<(String, Answer)> = match servers {
            // The delegation is what the world sees, through the recursive resolver.
            _ if e.purpose == "ns" || e.purpose == "ds" => vec![(
                "resolver".into(),
                r.ask_recursive(&d.name, rtype_of(&e.rtype)).await,
            )],
            Err(err) => vec![("nameservers".into(), Err(err.clone()))],
            Ok(list) => {
                let mut out = Vec::new();
                for (host, addr) in list {
                    out.push((
                        host.clone(),
                        r.ask(*addr, &fqdn(&e.name, &d.name), rtype_of(&e.rtype))
                            .await,
                    ));
                }
                out
            }
        };
        // Every nameserver answered, and every answer is the expected one.
        let everywhere = answers.iter().all(|(_, a)| {
            a.as_ref().is_ok_and(|v| {
                let mine: Vec<String> = v
                    .iter()
                    .filter(|x| baseline::belongs(&e.purpose, x))
                    .cloned()
                    .collect();
                baseline::same(&e.rtype, &e.values, &mine)
                    || (e.purpose == "dkim"
                        && e.values.iter().all(|x| {
                            mine.iter().any(|m| {
                                baseline::normalize("TXT", m) == baseline::normalize("TXT", x)
                            })
                        }))
            })
        });
        if (e.purpose == "dkim" || e.purpose == "dkim-cname") && everywhere {
            everywhere_ok.insert((e.name.clone(), e.rtype.clone()));
        }
        if e.purpose == "verify" {
            challenge_seen = answers.iter().any(|(_, a)| {
                a.as_ref()
                    .is_ok_and(|v| v.iter().any(|x| x.trim() == e.values[0]))
            });
        }
        let mut judged = judge(e, &answers, now);
        if e.purpose == "spf" && judged.status != "unknown" {
            spf_depth(&r, &mut judged).await;
        }
        sets.push(judged);
    }
    // A published key may sign once its record is served everywhere; a delegated one also
    // needs the customer's CNAME to it everywhere.
    let keys_seen = published
        .iter()
        .filter(|k| {
            let direct = format!("{}._domainkey", k.selector);
            match expected.iter().find(|e| {
                e.purpose == "dkim"
                    && e.name.ends_with('.')
                    && e.name.starts_with(&format!("{}.", k.selector))
            }) {
                Some(remote) => {
                    everywhere_ok.contains(&(remote.name.clone(), "TXT".into()))
                        && everywhere_ok.contains(&(direct, "CNAME".into()))
                }
                None => everywhere_ok.contains(&(direct, "TXT".into())),
            }
        })
        .map(|k| k.id.clone())
        .collect();
    Fresh {
        domain: d,
        sets,
        keys_seen,
        challenge_seen,
    }
}

/// Follows the SPF record's includes and redirects: a record within 10 lookups by itself can
/// need more through what it includes (a permanent error at every receiver).
async fn spf_depth(r: &Resolver, set: &mut Observed) {
    let Some(spf) = set
        .observed
        .as_ref()
        .and_then(|o| o.first())
        .filter(|_| set.observed.as_ref().is_some_and(|o| o.len() == 1))
        .cloned()
    else {
        return;
    };
    let (count, mut notes) = super::resolve::spf_lookups(r, &spf).await;
    let own = baseline::spf_findings(&spf)
        .iter()
        .any(|f| f.contains("DNS lookups"));
    if count > 10 && !own {
        notes.insert(
            0,
            format!(
                "SPF needs {count} DNS lookups with its includes; receivers stop at 10 (permerror)"
            ),
        );
    }
    if notes.is_empty() {
        return;
    }
    let mut detail: Vec<String> = set.detail.take().into_iter().collect();
    detail.extend(notes);
    set.detail = Some(detail.join("; "));
}

/// The domain's health from its sets: red when a set mail depends on is missing or wrong,
/// amber for the others and for what the records say about themselves, unknown when nothing
/// answered.
pub fn health(sets: &[Observed]) -> (String, Option<String>, bool) {
    let judged: Vec<&Observed> = sets.iter().filter(|s| s.purpose != "verify").collect();
    let drift = judged
        .iter()
        .any(|s| s.status == "missing" || s.status == "changed");
    if judged.is_empty() || judged.iter().all(|s| s.status == "unknown") {
        return (
            "unknown".into(),
            Some("no nameserver answered".into()),
            drift,
        );
    }
    let describe = |s: &Observed| {
        let what = match s.purpose.as_str() {
            "mx" => "MX".to_string(),
            "spf" => "SPF".to_string(),
            "dkim" if s.name.ends_with('.') => format!(
                "DKIM key {} (operator zone)",
                s.name.split('.').next().unwrap_or("")
            ),
            "dkim" => format!("DKIM key {}", s.name.trim_end_matches("._domainkey")),
            "dkim-cname" => format!("DKIM CNAME {}", s.name),
            "dmarc" => "DMARC".to_string(),
            "mta-sts" => "MTA-STS".to_string(),
            "tls-rpt" => "TLS-RPT".to_string(),
            "srv" => format!("SRV {}", s.name),
            "ns" => "Delegation (NS)".to_string(),
            "ds" => "DNSSEC delegation (DS)".to_string(),
            p => p.to_string(),
        };
        match s.status.as_str() {
            "missing" if matches!(s.purpose.as_str(), "ns" | "ds") => format!("{what} missing"),
            "changed" if matches!(s.purpose.as_str(), "ns" | "ds") => {
                format!("{what} differs from the domain-control record")
            }
            "missing" => format!("{what} record missing"),
            _ => format!("{what} record differs from the baseline"),
        }
    };
    let bad = |s: &&&Observed| s.status == "missing" || s.status == "changed";
    let red: Vec<String> = judged
        .iter()
        .filter(|s| s.required)
        .filter(bad)
        .map(|s| describe(s))
        .collect();
    if !red.is_empty() {
        return ("red".into(), Some(red.join("; ")), drift);
    }
    let mut amber: Vec<String> = judged
        .iter()
        .filter(|s| !s.required)
        .filter(bad)
        .map(|s| describe(s))
        .collect();
    for s in &judged {
        if s.status == "ok" {
            if let Some(d) = &s.detail {
                if matches!(s.purpose.as_str(), "spf" | "dmarc") {
                    amber.push(d.clone());
                }
            }
        }
    }
    if !amber.is_empty() {
        return ("amber".into(), Some(amber.join("; ")), drift);
    }
    ("green".into(), None, drift)
}

/// Scans every domain (`only`: one domain, by id). Lookups run concurrently; results are
/// written in transactions of 200 domains.
pub async fn scan(st: &AppState, only: Option<&str>) -> AppResult<Scanned> {
    let mut out = scan_once(st, only).await?;
    // A key that just started signing makes the replaced key's record optional: the health
    // written a moment ago was judged against the old requirement, so look once more.
    for id in std::mem::take(&mut out.switched) {
        let again = scan_once(st, Some(&id)).await?;
        out.changed += again.changed;
        out.keys_activated += again.keys_activated;
    }
    Ok(out)
}

async fn scan_once(st: &AppState, only: Option<&str>) -> AppResult<Scanned> {
    let sys = Actor::system("dns scanner");
    let g = authorize(&sys, Action::ManageDomains)?;
    let mut out = Scanned::default();
    let domains: Vec<Domain> = match only {
        Some(id) => crate::tenancy::store::domain(&st.db, &g, id)
            .await?
            .into_iter()
            .collect(),
        None => crate::tenancy::store::domains_to_scan(&st.db, &g, 1_000_000).await?,
    };
    if domains.is_empty() {
        return Ok(out);
    }
    let templates = templates_in_force(st).await?;
    let ids: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
    let mut conn = st.db.pool().acquire().await?;
    let mut keys: HashMap<String, Vec<KeyRow>> = HashMap::new();
    for k in store::live_keys(&mut conn, &ids).await? {
        keys.entry(k.domain_id.clone()).or_default().push(k);
    }
    let delegations: HashMap<String, store::Delegation> = store::delegations(&mut conn, &ids)
        .await?
        .into_iter()
        .collect();
    // The delegation each domain should have (NS, DS), from its domain-control record.
    let registered = crate::domain_control::store::delegations(&mut conn, &ids).await?;
    drop(conn);
    // Delegated domains whose keys changed in this run: their operator-zone records are
    // written before they are looked at.
    let mut to_publish: HashSet<String> = HashSet::new();
    // Replaced keys whose grace period is over are retired; keys signing for longer than
    // dkim_rotate_days get a successor (a few per run: key generation takes a moment).
    if only.is_none() {
        let now = st.clock.now();
        let mut conn = st.db.pool().acquire().await?;
        let due = store::retire_due(&mut conn, now).await?;
        let rotate = if st.config.dkim_rotate_days > 0 {
            store::rotation_due(
                &mut conn,
                now - st.config.dkim_rotate_days * 86400,
                KEYGEN_PER_SCAN as i64,
            )
            .await?
        } else {
            vec![]
        };
        drop(conn);
        let by_id: HashMap<&str, &Domain> = domains.iter().map(|d| (d.id.as_str(), d)).collect();
        for k in due {
            let Some(d) = by_id.get(k.domain_id.as_str()) else {
                continue;
            };
            let mut tx = st.db.begin().await?;
            if store::retire_key(tx.conn(), &g, &k, now).await? {
                let mut r = k.clone();
                r.state = "retired".into();
                record(
                    &mut tx,
                    &sys,
                    now,
                    dkim::key_event("dkim.key_retired", d, &r),
                )
                .await?;
                tx.commit().await?;
                out.keys_retired += 1;
                to_publish.insert(d.id.clone());
            }
        }
        for k in rotate {
            let Some(d) = by_id.get(k.domain_id.as_str()) else {
                continue;
            };
            let algorithm = k.algorithm.clone();
            match dkim::rotate_key(st, &sys, &d.id, &algorithm, false).await {
                Ok(_) => out.keys_made += 1,
                Err(e) => tracing::warn!(domain = %d.name, error = %e, "scheduled DKIM rotation"),
            }
        }
        // What changed above is read again below.
        keys.clear();
        let mut conn = st.db.pool().acquire().await?;
        for k in store::live_keys(&mut conn, &ids).await? {
            keys.entry(k.domain_id.clone()).or_default().push(k);
        }
    }
    // Keys for domains whose template signs and that have none yet (a few per run).
    let budget = if only.is_some() { 1 } else { KEYGEN_PER_SCAN };
    let keyless: Vec<&Domain> = domains
        .iter()
        .filter(|d| templates.get(&d.category).is_some_and(|t| t.dkim))
        .filter(|d| !keys.contains_key(&d.id))
        .take(budget)
        .collect();
    for d in keyless {
        let _one_at_a_time = dkim::keygen_lock().await;
        // A concurrent check or click may have made it while this one waited for the lock:
        // looked at before the pair is made (~0.2 s of a core), and again in the transaction.
        let have = dkim::live_now(st, d).await?;
        if !have.is_empty() {
            keys.insert(d.id.clone(), have);
            continue;
        }
        let pair = dkim::generate_pair("rsa").await?;
        let now = st.clock.now();
        let mut tx = st.db.begin().await?;
        // Looked at again under the lock: a concurrent check or click may have made it.
        let have = store::live_keys(tx.conn(), &[d.id.as_str()]).await?;
        if !have.is_empty() {
            keys.insert(d.id.clone(), have);
            continue;
        }
        let made = match dkim::new_key(st, &mut tx, &g, d, pair, now).await {
            Ok(k) => k,
            // Another instance made it meanwhile: the scan goes on.
            Err(AppError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        };
        record(
            &mut tx,
            &sys,
            now,
            dkim::key_event("dkim.key_created", d, &made),
        )
        .await?;
        tx.commit().await?;
        keys.entry(d.id.clone()).or_default().push(made);
        out.keys_made += 1;
        to_publish.insert(d.id.clone());
    }
    for d in domains.iter().filter(|d| to_publish.contains(&d.id)) {
        if delegations.contains_key(&d.id) {
            dkim::publish_after(st, d).await;
        }
    }

    let resolver = Resolver::new(&st.config).map_err(AppError::Config)?;
    let started = Instant::now();
    let now = st.clock.now();
    let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for d in domains {
        let t = templates
            .get(&d.category)
            .cloned()
            .unwrap_or_else(|| Template::default_for(&d.category));
        let dk = keys.get(&d.id).cloned().unwrap_or_default();
        let challenge = challenge_of(&d).map(|(_, v)| v);
        let deleg = delegations.get(&d.id);
        let (mut expected, _) = baseline::expected(
            &t,
            st.config.mail_host.as_deref(),
            &dk,
            challenge.as_deref(),
            deleg.map(|x| (d.name.as_str(), x.zone.as_str(), x.enabled)),
        );
        if let Some((ns, ds)) = registered.get(&d.id) {
            expected.extend(baseline::delegation(ns, ds));
        }
        let published: Vec<KeyRow> = dk.into_iter().filter(|k| k.state == "published").collect();
        let operator_zone = deleg.map(|x| x.zone.clone());
        let r = resolver.clone();
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        tasks.spawn(async move {
            let f = observe(r, d, expected, published, operator_zone, now).await;
            drop(permit);
            f
        });
    }
    let mut fresh = Vec::new();
    while let Some(f) = tasks.join_next().await {
        fresh.push(f.map_err(|e| AppError::Internal(e.to_string()))?);
    }
    out.lookup_ms = started.elapsed().as_millis();
    // Operator-zone records that are missing or stale are Mailward's own to repair (they
    // hold its keys, not the customer's records); the next scan sees the result.
    let repair: Vec<Domain> = fresh
        .iter()
        .filter(|f| {
            f.sets
                .iter()
                .any(|s| s.name.ends_with('.') && (s.status == "missing" || s.status == "changed"))
        })
        .map(|f| f.domain.clone())
        .collect();
    let started = Instant::now();
    for chunk in fresh.chunks(200) {
        let r = persist(st, &sys, &g, chunk, &keys, now).await?;
        out.domains += r.domains;
        out.sets += r.sets;
        out.unknown += r.unknown;
        out.changed += r.changed;
        out.keys_activated += r.keys_activated;
        out.switched.extend(r.switched);
        out.verified += r.verified;
    }
    out.store_ms = started.elapsed().as_millis();
    for d in &repair {
        dkim::publish_after(st, d).await;
    }
    Ok(out)
}

async fn persist(
    st: &AppState,
    sys: &Actor,
    g: &Granted<'_>,
    chunk: &[Fresh],
    keys: &HashMap<String, Vec<KeyRow>>,
    now: i64,
) -> AppResult<Scanned> {
    let mut out = Scanned::default();
    let ids: Vec<&str> = chunk.iter().map(|f| f.domain.id.as_str()).collect();
    let mut tx = st.db.begin().await?;
    let mut prior: HashMap<String, Vec<Observed>> = HashMap::new();
    for (d, o) in store::observations(tx.conn(), &ids).await? {
        prior.entry(d).or_default().push(o);
    }
    let mut events = 0usize;
    let mut touched: Vec<String> = Vec::new();
    for f in chunk {
        let d = &f.domain;
        out.domains += 1;
        out.sets += f.sets.len();
        let before = prior.remove(&d.id).unwrap_or_default();
        let key = |o: &Observed| (o.name.clone(), o.rtype.clone(), o.purpose.clone());
        let before_by: HashMap<_, &Observed> = before.iter().map(|o| (key(o), o)).collect();
        // Merge: an unknown answer keeps what was known.
        let mut merged: Vec<Observed> = Vec::new();
        let mut changed: Vec<Observed> = Vec::new();
        let mut diffs = Vec::new();
        for s in &f.sets {
            if s.status == "unknown" {
                out.unknown += 1;
            }
            let old = before_by.get(&key(s)).copied();
            let now_set = match old {
                Some(o) if s.status == "unknown" && o.status != "unknown" => {
                    let mut keep = o.clone();
                    keep.required = s.required;
                    keep
                }
                Some(o)
                    if o.status == s.status
                        && o.observed == s.observed
                        && o.expected == s.expected
                        && o.detail == s.detail =>
                {
                    let mut keep = o.clone();
                    keep.required = s.required;
                    keep
                }
                _ => {
                    let mut n = s.clone();
                    if let Some(o) = old.filter(|o| o.status == s.status) {
                        n.since = o.since;
                    }
                    changed.push(n.clone());
                    if s.purpose != "verify"
                        && old.map(|o| o.status.as_str()) != Some(s.status.as_str())
                    {
                        diffs.push(json!({
                            "name": s.name, "type": s.rtype, "purpose": s.purpose,
                            "before": old.map(|o| o.status.clone()), "after": s.status,
                            "expected": s.expected, "observed": s.observed,
                        }));
                    }
                    n
                }
            };
            merged.push(now_set);
        }
        let fresh_keys: HashSet<_> = f.sets.iter().map(key).collect();
        let gone: Vec<(String, String, String)> = before
            .iter()
            .map(key)
            .filter(|k| !fresh_keys.contains(k))
            .collect();
        let (health, reason, drift) = health(&merged);
        let health_changed = health != d.health || reason != d.health_reason || drift != d.drift;
        if !changed.is_empty() || !gone.is_empty() {
            store::put_observations(tx.conn(), g, &d.id, &d.tenant_id, &changed, &gone).await?;
        }
        if health_changed || !diffs.is_empty() {
            crate::tenancy::store::set_dns_health(
                tx.conn(),
                g,
                &d.id,
                &health,
                reason.as_deref(),
                drift,
                now,
            )
            .await?;
            let action = if drift && (!d.drift || !diffs.is_empty()) {
                "dns.drift"
            } else if d.drift && !drift {
                "dns.drift_cleared"
            } else {
                "dns.health"
            };
            let ev = Event::new(action)
                .target(d.id.clone())
                .tenant(d.tenant_id.clone())
                .details(json!({
                    "domain": d.name,
                    "health": { "before": d.health, "after": health },
                    "reason": reason,
                    "sets": diffs,
                }));
            record(&mut tx, sys, now, ev).await?;
            events += 1;
            out.changed += 1;
        } else if !changed.is_empty() {
            // Values moved without a change of status (e.g. a nameserver's detail): keep the
            // record of it with an event, so nothing is written silently.
            let ev = Event::new("dns.observed")
                .target(d.id.clone())
                .tenant(d.tenant_id.clone())
                .details(json!({ "domain": d.name, "sets": changed.len() }));
            record(&mut tx, sys, now, ev).await?;
            events += 1;
        } else if f.sets.iter().any(|s| s.status != "unknown") {
            touched.push(d.id.clone());
        }
        // Keys whose record every nameserver serves start signing (a rotation switches: the
        // key replaced keeps its record for dkim_retire_days).
        for kid in &f.keys_seen {
            if let Some(k) = keys
                .get(&d.id)
                .and_then(|ks| ks.iter().find(|k| &k.id == kid))
            {
                let retire_after = now + st.config.dkim_retire_days * 86400;
                let rotating = keys
                    .get(&d.id)
                    .is_some_and(|ks| ks.iter().any(|o| o.state == "active" && o.id != k.id));
                let switched = if rotating {
                    store::switch_key(tx.conn(), g, k, now, retire_after).await?
                } else if store::activate_key(tx.conn(), g, k, now).await? {
                    Some(String::new())
                } else {
                    None
                };
                if let Some(replaced) = switched {
                    let mut k = k.clone();
                    k.state = "active".into();
                    let mut ev = dkim::key_event("dkim.key_active", d, &k);
                    if !replaced.is_empty() {
                        ev = ev.details(json!({
                            "domain": d.name, "selector": k.selector, "replaces": replaced,
                            "old_record_until": retire_after,
                        }));
                    }
                    record(&mut tx, sys, now, ev).await?;
                    events += 1;
                    out.keys_activated += 1;
                    out.switched.push(d.id.clone());
                }
            }
        }
        if f.challenge_seen && d.verified.as_deref() != Some("dns") {
            if let Some(after) =
                crate::tenancy::store::mark_verified(tx.conn(), g, &d.id, now).await?
            {
                let ev = Event::new("domain.verified")
                    .target(d.id.clone())
                    .tenant(d.tenant_id.clone())
                    .details(json!({
                        "domain": d.name, "before": d.status, "after": after,
                        "was": d.verified,
                    }));
                record(&mut tx, sys, now, ev).await?;
                events += 1;
                out.verified += 1;
                if after == "active" && d.status != crate::types::LiveStatus::Active {
                    let ev = Event::new("domain.activated")
                        .target(d.id.clone())
                        .tenant(d.tenant_id.clone())
                        .details(json!({ "domain": d.name, "before": d.status, "after": "active", "verified": "dns" }));
                    record(&mut tx, sys, now, ev).await?;
                }
            }
        }
    }
    if !touched.is_empty() {
        let refs: Vec<&str> = touched.iter().map(String::as_str).collect();
        crate::tenancy::store::touch_dns_checked(tx.conn(), g, &refs, now).await?;
    }
    if events > 0 {
        tx.commit().await
    } else {
        // Only the time of the check moved: the scan's own bookkeeping.
        tx.commit_bookkeeping().await
    }?;
    Ok(out)
}

/// Someone asks for a domain's DNS to be checked now (needs the right to manage it).
pub async fn check_now(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<Scanned> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    scan(st, Some(&d.id)).await
}

/// The recurring job: scan everything, then come back in `dns_scan_minutes`.
pub async fn scan_job(st: &AppState, id: &str, worker: &str) -> AppResult<()> {
    match super::dmarc::read_maildir(st).await {
        Ok((0, 0, 0)) => {}
        Ok((imported, known, skipped)) => {
            tracing::info!(imported, known, skipped, "dmarc mailbox read")
        }
        Err(e) => tracing::warn!(error = %e, "dmarc mailbox"),
    }
    let r = scan(st, None).await;
    match &r {
        Ok(s) => tracing::info!(
            domains = s.domains,
            sets = s.sets,
            unknown = s.unknown,
            changed = s.changed,
            lookup_ms = s.lookup_ms as u64,
            store_ms = s.store_ms as u64,
            "dns scan"
        ),
        Err(e) => tracing::warn!(error = %e, "dns scan"),
    }
    crate::core::jobs::reschedule(st, id, worker, st.config.dns_scan_minutes * 60).await?;
    r.map(|_| ())
}
