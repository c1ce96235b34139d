//! DKIM keys: made here (RSA-2048 by default, Ed25519 on request), private halves sealed with
//! ChaCha20-Poly1305 under the DKIM key file (never in the database in clear, never logged),
//! bound to their row (the key id and selector are the associated data, so a sealed key
//! copied to another row does not open).
use base64::Engine;

use super::*;
use crate::dns::store::KeyRow;

/// Key generation, one at a time in this process: a check that a domain has no key yet and
/// the insert of a new one must not interleave (100 clicks on "Check now" make one key, not
/// 100 RSA generations). Across processes the unique indexes on `dkim_keys` hold the line.
static KEYGEN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(super) async fn keygen_lock() -> tokio::sync::MutexGuard<'static, ()> {
    KEYGEN.lock().await
}

fn aad(id: &str, selector: &str) -> Vec<u8> {
    format!("mailward dkim {id} {selector}").into_bytes()
}

pub fn open_private(st: &AppState, k: &KeyRow) -> AppResult<Vec<u8>> {
    crate::core::sealed::open(&st.config, &aad(&k.id, &k.selector), &k.private_enc)?.ok_or_else(
        || {
            AppError::Config(format!(
                "the DKIM key {} does not open with this DKIM key file: is dkim_key_file the \
                 one this database was started with?",
                k.selector
            ))
        },
    )
}

fn selector_for(now: i64, taken: &[String]) -> String {
    let day = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_else(|| "0".into());
    let base = format!("mw{day}");
    if !taken.contains(&base) {
        return base;
    }
    for c in 'b'..='z' {
        let s = format!("{base}{c}");
        if !taken.contains(&s) {
            return s;
        }
    }
    format!("{base}-{}", &crate::core::secrets::new_id("")[..6])
}

/// A freshly made key pair, not yet stored.
pub(super) struct Pair {
    algorithm: &'static str,
    private: Vec<u8>,
    public: Vec<u8>,
}

/// Makes a key pair off the async threads (RSA-2048 takes ~0.2 s of a core) and before any
/// transaction: a transaction open around it would hold SQLite's write lock (and on
/// PostgreSQL a connection) while nothing is written, and every other write would wait.
pub(super) async fn generate_pair(algorithm: &str) -> AppResult<Pair> {
    let algorithm = if algorithm == "ed25519" {
        "ed25519"
    } else {
        "rsa"
    };
    let (private, public) = tokio::task::spawn_blocking(move || {
        let pair = if algorithm == "ed25519" {
            mail_auth::dkim::generate::DkimKeyPair::generate_ed25519()
        } else {
            mail_auth::dkim::generate::DkimKeyPair::generate_rsa(2048)
        };
        pair.map(|p| p.into_inner())
            .map_err(|e| AppError::Internal(format!("DKIM key generation: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))??;
    Ok(Pair {
        algorithm,
        private,
        public,
    })
}

/// Stores `pair` as a new key for `d` in state `published` (it signs once its record is seen
/// on every nameserver). Runs in `tx`; the caller records the event.
pub(super) async fn new_key(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    d: &Domain,
    pair: Pair,
    now: i64,
) -> AppResult<KeyRow> {
    let Pair {
        algorithm,
        private,
        public,
    } = pair;
    let taken: Vec<String> = store::live_keys(tx.conn(), &[d.id.as_str()])
        .await?
        .into_iter()
        .map(|k| k.selector)
        .collect();
    let id = crate::core::secrets::new_id("dkim");
    let delegated = store::delegations(tx.conn(), &[d.id.as_str()])
        .await?
        .into_iter()
        .any(|(_, x)| x.enabled);
    let selector = if delegated {
        // The two delegated selectors alternate; the customer's CNAMEs never change.
        let Some(sel) = baseline::DELEGATED_SELECTORS
            .iter()
            .find(|s| !taken.iter().any(|t| t == *s))
        else {
            return Err(AppError::Conflict(format!(
                "Both delegated selectors of {} hold a key: the replaced one stays published \
                 for mail in flight until it retires. Rotate after that, or use an emergency \
                 rotation.",
                d.unicode_name
            )));
        };
        store::forget_retired(tx.conn(), g, &d.tenant_id, &d.id, sel).await?;
        sel.to_string()
    } else {
        selector_for(now, &taken)
    };
    let row = KeyRow {
        private_enc: crate::core::sealed::seal(&st.config, &aad(&id, &selector), &private)?,
        public_key: base64::engine::general_purpose::STANDARD.encode(public),
        id,
        domain_id: d.id.clone(),
        tenant_id: d.tenant_id.clone(),
        selector,
        algorithm: algorithm.into(),
        state: "published".into(),
        created_at: now,
        seen_at: None,
        active_at: None,
        retire_after: None,
    };
    store::insert_key(tx.conn(), g, &row)
        .await
        .map_err(|e| match e {
            AppError::Db(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                AppError::Conflict(format!(
                    "{} got a new DKIM key at the same moment; look again.",
                    d.unicode_name
                ))
            }
            e => e,
        })?;
    Ok(row)
}

/// The domain a key use case is about, with the proof to manage it, once the algorithm is
/// one we make.
async fn key_target<'a>(
    st: &AppState,
    actor: &'a Actor,
    domain_key: &str,
    algorithm: &str,
) -> AppResult<(Domain, Granted<'a>)> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    if !["rsa", "ed25519"].contains(&algorithm) {
        return Err(AppError::invalid(
            "A DKIM key is rsa (2048 bits) or ed25519.",
        ));
    }
    Ok((d, g))
}

/// `d`'s live keys as they are now (outside any transaction): what a key use case checks
/// before it spends ~0.2 s of a core on a pair — parallel clicks wait on [`keygen_lock`] and
/// the later ones are refused here, before generating. Checked again inside the transaction.
pub(super) async fn live_now(st: &AppState, d: &Domain) -> AppResult<Vec<KeyRow>> {
    let mut c = st.db.pool().acquire().await?;
    store::live_keys(&mut c, &[d.id.as_str()]).await
}

/// `d`'s delegation record, if any.
async fn delegation_of(
    c: &mut sqlx::AnyConnection,
    d: &Domain,
) -> AppResult<Option<crate::dns::store::Delegation>> {
    Ok(store::delegations(c, &[d.id.as_str()])
        .await?
        .into_iter()
        .next()
        .map(|(_, x)| x))
}

/// Whether `d`'s delegation can turn `on` (or off) now; the next key's algorithm (the signing
/// key's).
fn delegation_allowed(
    d: &Domain,
    on: bool,
    current: Option<&crate::dns::store::Delegation>,
    live: &[KeyRow],
) -> AppResult<&'static str> {
    if current.is_some_and(|x| x.enabled) == on {
        return Err(AppError::Conflict(if on {
            format!("{}'s DKIM selectors are already delegated.", d.unicode_name)
        } else {
            format!("{}'s DKIM selectors are not delegated.", d.unicode_name)
        }));
    }
    if let Some(p) = live.iter().find(|k| k.state == "published") {
        return Err(AppError::Conflict(format!(
            "A rotation is under way: key {} waits for its record to be seen on every \
             nameserver. Change the delegation when it has finished.",
            p.selector
        )));
    }
    Ok(match live.iter().find(|k| k.state == "active") {
        Some(k) if k.algorithm == "ed25519" => "ed25519",
        _ => "rsa",
    })
}

/// A first key only where there is none.
fn first_key_allowed(d: &Domain, live: &[KeyRow]) -> AppResult<()> {
    if live.is_empty() {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "{} already has a DKIM key; replacing it is a rotation.",
            d.unicode_name
        )))
    }
}

/// A rotation needs a signing key and no rotation under way; returns the signing key.
fn rotation_allowed(d: &Domain, live: &[KeyRow]) -> AppResult<KeyRow> {
    if let Some(p) = live.iter().find(|k| k.state == "published") {
        return Err(AppError::Conflict(format!(
            "A rotation is under way: key {} waits for its record to be seen on every nameserver.",
            p.selector
        )));
    }
    live.iter()
        .find(|k| k.state == "active")
        .cloned()
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "{} has no signing key to rotate; generate its first key.",
                d.unicode_name
            ))
        })
}

/// Someone with the right to manage the domain asks for a key now (the first one; rotation
/// is its own use case).
pub async fn generate_key(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    algorithm: &str,
) -> AppResult<DkimKey> {
    let (d, g) = key_target(st, actor, domain_key, algorithm).await?;
    let _one_at_a_time = keygen_lock().await;
    first_key_allowed(&d, &live_now(st, &d).await?)?;
    let pair = generate_pair(algorithm).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    first_key_allowed(&d, &store::live_keys(tx.conn(), &[d.id.as_str()]).await?)?;
    let k = new_key(st, &mut tx, &g, &d, pair, now).await?;
    record(&mut tx, actor, now, key_event("dkim.key_created", &d, &k)).await?;
    tx.commit().await?;
    publish_after(st, &d).await;
    Ok(public_view(&k))
}

/// Starts a rotation. Normal: a new key is published; the scanner switches signing to it
/// once every nameserver serves its record, and the old key keeps its record for
/// `dkim_retire_days` more. Emergency (the old key is compromised): the old key stops
/// signing at once and is retired in the same step; mail leaves unsigned until the new
/// record is out. Either way: one action, every step an audit event.
pub async fn rotate_key(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    algorithm: &str,
    emergency: bool,
) -> AppResult<DkimKey> {
    let (d, g) = key_target(st, actor, domain_key, algorithm).await?;
    let _one_at_a_time = keygen_lock().await;
    rotation_allowed(&d, &live_now(st, &d).await?)?;
    let pair = generate_pair(algorithm).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let old = rotation_allowed(&d, &store::live_keys(tx.conn(), &[d.id.as_str()]).await?)?;
    if emergency {
        store::retire_key(tx.conn(), &g, &old, now).await?;
        let mut o = old.clone();
        o.state = "retired".into();
        let ev = key_event("dkim.key_revoked", &d, &o).details(json!({
            "domain": d.name, "selector": o.selector, "why": "emergency rotation",
        }));
        record(&mut tx, actor, now, ev).await?;
    }
    let k = new_key(st, &mut tx, &g, &d, pair, now).await?;
    let ev = key_event("dkim.rotation_started", &d, &k).details(json!({
        "domain": d.name, "selector": k.selector, "algorithm": k.algorithm,
        "replaces": old.selector, "emergency": emergency,
    }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    publish_after(st, &d).await;
    Ok(public_view(&k))
}

/// Makes the operator zone hold exactly the records of `d`'s keys on delegated selectors (a
/// selector without a live key: no record), by RFC 2136. `Ok(false)`: nothing to write
/// (not delegated, or the zone is kept by hand). Each write is audited.
pub async fn publish_delegated(st: &AppState, d: &Domain) -> Result<bool, String> {
    let Some(writer) = super::update::ZoneWriter::dkim_zone(&st.config)? else {
        return Ok(false);
    };
    let mut conn = st.db.pool().acquire().await.map_err(|e| e.to_string())?;
    let Some((_, deleg)) = store::delegations(&mut conn, &[d.id.as_str()])
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    let live = store::live_keys(&mut conn, &[d.id.as_str()])
        .await
        .map_err(|e| e.to_string())?;
    drop(conn);
    let mut written = Vec::new();
    for sel in baseline::DELEGATED_SELECTORS {
        let values: Vec<String> = live
            .iter()
            .filter(|k| k.selector == sel)
            .map(|k| baseline::dkim_record(&k.algorithm, &k.public_key))
            .collect();
        let name = baseline::delegated_name(sel, &d.name, &deleg.zone);
        writer.put_txt(&name, &values).await?;
        written.push(json!({ "name": name, "published": !values.is_empty() }));
    }
    let sys = Actor::system("dkim zone");
    let now = st.clock.now();
    let audited = async {
        let mut tx = st.db.begin().await?;
        let ev = Event::new("dkim.zone_written")
            .target(d.id.clone())
            .tenant(d.tenant_id.clone())
            .details(json!({ "domain": d.name, "zone": deleg.zone, "records": written }));
        record(&mut tx, &sys, now, ev).await?;
        tx.commit().await
    };
    audited.await.map_err(|e: AppError| e.to_string())?;
    Ok(true)
}

/// Publishes after a key change; a failure is logged (the scan tries again and the DNS page
/// shows the operator zone's record missing meanwhile).
pub(super) async fn publish_after(st: &AppState, d: &Domain) {
    if let Err(e) = publish_delegated(st, d).await {
        tracing::warn!(domain = %d.name, error = %e, "writing the DKIM zone");
    }
}

/// Delegates a domain's DKIM selectors to the operator zone (`on`), or takes the delegation
/// back. Either way the next key is started at once as a rotation: the current key signs
/// until the new one's records are seen everywhere (for delegation: the customer's two
/// CNAMEs and the key record in the operator zone), so there is no gap in signing.
pub async fn set_delegation(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    on: bool,
) -> AppResult<DkimKey> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let Some(zone) = st.config.dkim_zone.clone() else {
        return Err(AppError::invalid(
            "This installation has no DKIM zone (dkim_zone), so selectors cannot be delegated.",
        ));
    };
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if baseline::delegated_name("mw1", &d.name, &zone).len() > 250 {
        return Err(AppError::invalid(format!(
            "{} is too long to be delegated into {zone} (DNS names stop at 253 characters).",
            d.unicode_name
        )));
    }
    let _one_at_a_time = keygen_lock().await;
    // Checked before the pair is made (see `generate_pair`) and again inside the transaction.
    let (current, live) = {
        let mut c = st.db.pool().acquire().await?;
        (
            delegation_of(&mut c, &d).await?,
            store::live_keys(&mut c, &[d.id.as_str()]).await?,
        )
    };
    let algorithm = delegation_allowed(&d, on, current.as_ref(), &live)?;
    let pair = generate_pair(algorithm).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let current = delegation_of(tx.conn(), &d).await?;
    let live = store::live_keys(tx.conn(), &[d.id.as_str()]).await?;
    if delegation_allowed(&d, on, current.as_ref(), &live)? != algorithm {
        return Err(AppError::Conflict(format!(
            "{}'s signing key changed meanwhile; look again.",
            d.unicode_name
        )));
    }
    let zone = current.map(|x| x.zone).unwrap_or(zone);
    store::set_delegation(tx.conn(), &g, &d.id, &d.tenant_id, &zone, on, now).await?;
    let k = new_key(st, &mut tx, &g, &d, pair, now).await?;
    let cnames: Vec<String> = baseline::DELEGATED_SELECTORS
        .iter()
        .map(|s| {
            format!(
                "{s}._domainkey.{} CNAME {}.",
                d.name,
                baseline::delegated_name(s, &d.name, &zone)
            )
        })
        .collect();
    let ev = Event::new(if on {
        "dkim.delegated"
    } else {
        "dkim.delegation_ended"
    })
    .target(d.id.clone())
    .tenant(d.tenant_id.clone())
    .details(json!({
        "domain": d.name, "zone": zone, "cnames": if on { cnames } else { vec![] },
        "next_selector": k.selector,
        "replaces": live.iter().find(|k| k.state == "active").map(|k| k.selector.clone()),
    }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    publish_after(st, &d).await;
    Ok(public_view(&k))
}

pub(super) fn key_event<'a>(action: &'a str, d: &Domain, k: &KeyRow) -> Event<'a> {
    Event::new(action)
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({
            "domain": d.name, "selector": k.selector, "algorithm": k.algorithm, "state": k.state,
        }))
}

pub fn public_view(k: &KeyRow) -> DkimKey {
    DkimKey {
        id: k.id.clone(),
        selector: k.selector.clone(),
        algorithm: k.algorithm.clone(),
        state: k.state.clone(),
        record: baseline::dkim_record(&k.algorithm, &k.public_key),
        created_at: k.created_at,
        seen_at: k.seen_at,
        active_at: k.active_at,
    }
}
