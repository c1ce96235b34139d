//! DNS changes as production changes (change kind `dns.record`):
//!
//! 1. **Where the DNS is managed** — per domain, `rfc2136` (Mailward updates the zone's
//!    primary itself, TSIG-signed; the secret sealed at rest, never shown back; a connection
//!    test writes and removes a Mailward-owned TXT name) or `manual`.
//! 2. **Request** — one record set of the domain (bring it back to baseline, change it, add
//!    or remove it). The *before* is read from the live zone (the primary, or every
//!    authoritative nameserver for a manual domain), never from memory; the request keeps the
//!    smallest diff and the rollback as an `nsupdate` script and a zone-file snippet. SOA is
//!    never touched; NS and names outside the baseline's record sets only when an owner
//!    allowed it. A second person approves.
//! 3. **Apply** — the before is read again: if the set moved since the request, nothing is
//!    sent and the change fails saying so. Otherwise one RFC 2136 UPDATE whose prerequisites
//!    repeat the before-state exactly (compare-and-swap): a concurrent edit makes the server
//!    refuse it whole. A manual domain shows the records to enter and waits for "Entered".
//! 4. **Verify** — job `dns.verify`: every authoritative nameserver answers the new set and
//!    the SOA serial moved, within `dns_verify_seconds`.
//! 5. **Roll back by itself** — when verification fails, the before-state is put back at
//!    once (no second approval: restoring what was recorded is protective; again a
//!    compare-and-swap), verified the same way, and the change ends `rolled_back`.
//!
//! Every step is an audit event (`dns.provider_set`, `dns.provider_tested`,
//! `dns.record_updated`, `dns.change_entered`, `dns.change_verified`,
//! `dns.change_verify_failed`, `dns.rollback_verified`, `dns.rollback_failed`).
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use async_trait::async_trait;
use base64::Engine;
use hickory_net::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SRV};
use hickory_net::proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::baseline;
use super::probe;
use super::resolve::{present, Resolver};
use super::update::{self, UpdateError, ZoneWriter};
use crate::audit::service::{record, Event};
use crate::changes::service::{self as changes, NewChange};
use crate::core::authz::{authorize_in, Action, Actor, Granted};
use crate::core::db::Tx;
use crate::core::registry::{Applied, ChangeKind};
use crate::core::state::AppState;
use crate::core::{jobs, sealed, secrets, AppError, AppResult};
use crate::dns::store::{self, ChangeRow, ProviderRow};
use crate::dns::{DnsChange, DnsCheck, DnsProvider, ProviderInput, RecordChangeInput};
use crate::tenancy::service as tenancy;
use crate::tenancy::Domain;
use crate::types::ChangeRequest;

/// The change kind.
pub const KIND: &str = "dns.record";
/// The job that verifies an applied change (and its automatic rollback).
pub const VERIFY_JOB: &str = "dns.verify";
/// The name the connection test writes and removes (under the domain).
const PROBE_LABEL: &str = "_mailward-test";
/// The record types a change may touch (SOA never: the server keeps its serial).
pub const RECORD_TYPES: [&str; 7] = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS"];
const MAX_VALUES: usize = 50;

fn aad(domain_id: &str) -> Vec<u8> {
    format!("dns_provider:{domain_id}").into_bytes()
}

// ---------- where the DNS is managed ----------

fn view(p: Option<ProviderRow>) -> DnsProvider {
    match p {
        Some(p) => DnsProvider {
            kind: p.kind,
            server: p.server,
            zone: p.zone,
            tsig_name: p.tsig_name,
            tsig_algorithm: p.tsig_algorithm,
            secret_set: p.tsig_secret.is_some(),
            allow_unmanaged: p.allow_unmanaged,
            tested_at: p.tested_at,
            test_result: p.test_result,
        },
        None => DnsProvider {
            kind: "manual".into(),
            ..Default::default()
        },
    }
}

/// A domain's DNS provider (no secret).
pub async fn provider(st: &AppState, actor: &Actor, domain_key: &str) -> AppResult<DnsProvider> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let mut conn = st.db.pool().acquire().await?;
    Ok(view(store::provider(&mut conn, &d.id).await?))
}

/// Sets where a domain's DNS is managed. An empty secret keeps the stored one; allowing
/// changes outside the baseline is an owner's decision.
pub async fn set_provider(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    input: &ProviderInput,
) -> AppResult<DnsProvider> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    // Where the zone is managed (and with which key) is frozen while an incident holds.
    authorize_in(actor, Action::ChangeDns, &d.tenant_id)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let current = store::provider(tx.conn(), &d.id).await?;
    let was_allowed = current.as_ref().is_some_and(|p| p.allow_unmanaged);
    let allow = input.allow_unmanaged.unwrap_or(was_allowed);
    if allow != was_allowed
        && authorize_in(actor, Action::ManageDnsBaselines, &d.tenant_id).is_err()
    {
        return Err(AppError::invalid(
            "Only an owner can allow changes outside the baseline's record sets.",
        ));
    }
    let kind = input.kind.trim().to_ascii_lowercase();
    let mut row = ProviderRow {
        kind: kind.clone(),
        allow_unmanaged: allow,
        updated_at: now,
        updated_by: actor.label.clone(),
        ..Default::default()
    };
    let mut secret_changed = false;
    match kind.as_str() {
        "manual" => {}
        "rfc2136" => {
            let server = update::parse_server(&input.server)
                .map_err(|e| AppError::invalid(format!("Primary nameserver: {e}.")))?;
            // Mailward sends UPDATEs and zone transfers there: a tenant's admin may name any
            // nameserver, but only on the DNS port (no probing of other services).
            if server.port() != 53
                && authorize_in(actor, Action::ManageTenants, &d.tenant_id).is_err()
            {
                return Err(AppError::invalid(
                    "The primary nameserver listens on port 53; only the platform's owners and \
                     operators may name another port.",
                ));
            }
            let zone = input.zone.trim().trim_end_matches('.').to_ascii_lowercase();
            let zone = if zone.is_empty() {
                d.name.clone()
            } else {
                zone
            };
            if d.name != zone && !d.name.ends_with(&format!(".{zone}")) {
                return Err(AppError::invalid(format!(
                    "The zone must be {} or a zone above it (such as the parent domain); {zone} is neither.",
                    d.name
                )));
            }
            let tsig_name = input
                .tsig_name
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if tsig_name.is_empty()
                || tsig_name.len() > 253
                || Name::from_str(&format!("{tsig_name}.")).is_err()
                || !tsig_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(AppError::invalid(
                    "Give the TSIG key's name as the server knows it (letters, digits, - _ .).",
                ));
            }
            let alg = input.tsig_algorithm.trim().to_ascii_lowercase();
            let alg = if alg.is_empty() {
                "hmac-sha256".to_string()
            } else {
                alg
            };
            if !update::TSIG_ALGORITHMS.contains(&alg.as_str()) {
                return Err(AppError::invalid(
                    "The TSIG algorithm must be hmac-sha256, hmac-sha384 or hmac-sha512.",
                ));
            }
            let secret = input.tsig_secret.trim();
            let sealed_secret = if secret.is_empty() {
                match current.as_ref().and_then(|p| p.tsig_secret.clone()) {
                    Some(s) => s,
                    None => {
                        return Err(AppError::invalid(
                            "Enter the TSIG secret (base64, as in the server's key file).",
                        ))
                    }
                }
            } else {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(secret)
                    .map_err(|_| {
                        AppError::invalid(
                            "The TSIG secret must be base64, as in the server's key file.",
                        )
                    })?;
                if !(16..=512).contains(&bytes.len()) {
                    return Err(AppError::invalid(
                        "The TSIG secret must be 16 to 512 bytes (base64 of a random key).",
                    ));
                }
                secret_changed = true;
                sealed::seal(&st.config, &aad(&d.id), &bytes)?
            };
            row.server = Some(server.to_string());
            row.zone = Some(zone);
            row.tsig_name = Some(tsig_name);
            row.tsig_algorithm = Some(alg);
            row.tsig_secret = Some(sealed_secret);
        }
        _ => {
            return Err(AppError::invalid(
                "Choose where the DNS is managed: rfc2136 (Mailward updates it) or manual.",
            ))
        }
    }
    store::put_provider(tx.conn(), &g, &d.id, &d.tenant_id, &row).await?;
    let ev = Event::new("dns.provider_set")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({
            "domain": d.name, "kind": row.kind, "server": row.server, "zone": row.zone,
            "tsig_name": row.tsig_name, "tsig_algorithm": row.tsig_algorithm,
            "secret_changed": secret_changed, "allow_unmanaged": row.allow_unmanaged,
        }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok(view(Some(row)))
}

/// The writer of an RFC 2136 domain's zone (its secret opened).
pub(super) fn writer(st: &AppState, d: &Domain, p: &ProviderRow) -> AppResult<ZoneWriter> {
    let (Some(server), Some(zone), Some(name), Some(alg), Some(secret)) = (
        &p.server,
        &p.zone,
        &p.tsig_name,
        &p.tsig_algorithm,
        &p.tsig_secret,
    ) else {
        return Err(AppError::invalid(format!(
            "{}'s DNS provider is incomplete: set its server, zone and TSIG key again.",
            d.unicode_name
        )));
    };
    let key = sealed::open(&st.config, &aad(&d.id), secret)?.ok_or_else(|| {
        AppError::Conflict(format!(
            "{}'s TSIG secret cannot be opened (sealed under another key file?): enter it again.",
            d.unicode_name
        ))
    })?;
    let signer = update::signer(alg, name, &key).map_err(AppError::invalid)?;
    ZoneWriter::new(
        server,
        zone,
        Some(signer),
        st.config.dns_timeout_ms,
        "the domain's DNS provider settings",
    )
    .map_err(AppError::invalid)
}

pub(super) fn resolver(st: &AppState) -> AppResult<Resolver> {
    Resolver::new(&st.config).map_err(|e| AppError::Unavailable(format!("DNS: {e}")))
}

/// Proves an RFC 2136 domain's key works: writes a TXT record at a Mailward-owned name,
/// reads it back from the primary and removes it. Returns whether it worked, in words (also
/// kept on the provider and in the audit log).
pub async fn test_provider(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
) -> AppResult<(bool, String)> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    let mut conn = st.db.pool().acquire().await?;
    let p = store::provider(&mut conn, &d.id).await?;
    drop(conn);
    let Some(p) = p.filter(|p| p.kind == "rfc2136") else {
        return Err(AppError::invalid(format!(
            "{}'s DNS is edited by hand: there is no connection to test.",
            d.unicode_name
        )));
    };
    let w = writer(st, &d, &p)?;
    let name = format!("{PROBE_LABEL}.{}", d.name);
    let token = secrets::new_id("test");
    let outcome: Result<(), String> = async {
        w.put_txt(&name, std::slice::from_ref(&token)).await?;
        let seen = resolver(st)
            .map_err(|e| e.user_message())?
            .ask(w.server(), &name, RecordType::TXT)
            .await;
        w.put_txt(&name, &[]).await?;
        match seen {
            Ok(v) if v == [token.clone()] => Ok(()),
            Ok(v) => Err(format!(
                "the update was accepted but {} then served {v:?} at {name}",
                w.server()
            )),
            Err(e) => Err(format!(
                "the update was accepted but reading it back failed: {e}"
            )),
        }
    }
    .await;
    let (ok, result) = match outcome {
        Ok(()) => (
            true,
            format!(
                "The key works: a test record at {name} was written to {}, read back and removed.",
                w.server()
            ),
        ),
        Err(e) => (false, format!("The test failed: {e}.")),
    };
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::provider_tested(tx.conn(), &g, &d.id, &d.tenant_id, &result, now).await?;
    let ev = Event::new("dns.provider_tested")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({ "domain": d.name, "ok": ok, "result": result }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await?;
    Ok((ok, result))
}

// ---------- values ----------

/// One value in zone-file form as record data (names always absolute).
pub fn parse_value(rtype: RecordType, v: &str) -> Result<RData, String> {
    let v = v.trim();
    let name = |s: &str| -> Result<Name, String> {
        let s = s.trim().trim_end_matches('.');
        if s.is_empty()
            || s.len() > 253
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.*".contains(c))
        {
            return Err(format!("{s:?} is not a host name"));
        }
        Name::from_str(&format!("{s}.")).map_err(|_| format!("{s:?} is not a host name"))
    };
    let num = |s: &str, what: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("{what} must be a number from 0 to 65535, not {s:?}"))
    };
    let parts: Vec<&str> = v.split_whitespace().collect();
    Ok(match rtype {
        RecordType::A => RData::A(A(
            Ipv4Addr::from_str(v).map_err(|_| format!("{v:?} is not an IPv4 address"))?
        )),
        RecordType::AAAA => RData::AAAA(AAAA(
            Ipv6Addr::from_str(v).map_err(|_| format!("{v:?} is not an IPv6 address"))?,
        )),
        RecordType::CNAME => RData::CNAME(CNAME(name(v)?)),
        RecordType::NS => RData::NS(NS(name(v)?)),
        RecordType::MX => match parts.as_slice() {
            [pref, host] if *host == "." => {
                RData::MX(MX::new(num(pref, "The preference")?, Name::root()))
            }
            [pref, host] => RData::MX(MX::new(num(pref, "The preference")?, name(host)?)),
            _ => {
                return Err(format!(
                    "an MX value is \"preference host\" (10 mail.example.net), not {v:?}"
                ))
            }
        },
        RecordType::SRV => match parts.as_slice() {
            [p, w, port, target] => RData::SRV(SRV::new(
                num(p, "The priority")?,
                num(w, "The weight")?,
                num(port, "The port")?,
                if *target == "." {
                    Name::root()
                } else {
                    name(target)?
                },
            )),
            _ => {
                return Err(format!(
                    "an SRV value is \"priority weight port target\", not {v:?}"
                ))
            }
        },
        RecordType::TXT => {
            // Quoted strings ("a" "b") are joined; bare text is taken as is.
            let text = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                v[1..v.len() - 1].split("\" \"").collect::<String>()
            } else {
                v.to_string()
            };
            if text.is_empty() {
                return Err("a TXT value cannot be empty".into());
            }
            if text.len() > 4000 || text.chars().any(|c| c.is_control()) {
                return Err("a TXT value must be printable text of at most 4,000 bytes".into());
            }
            update::txt(&text)
        }
        other => return Err(format!("{other} records cannot be changed here")),
    })
}

fn zone_line(fqdn: &str, ttl: u32, rtype: &str, value: &str) -> String {
    let data = if rtype == "TXT" {
        value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c).replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        value.to_string()
    };
    format!("{fqdn}. {ttl} IN {rtype} {data}")
}

/// A record set as zone-file lines (a comment when it is to be absent).
pub fn zone_snippet(fqdn: &str, rtype: &str, ttl: u32, values: &[String]) -> String {
    if values.is_empty() {
        return format!("; no {rtype} records at {fqdn}. (delete every {rtype} record there)");
    }
    values
        .iter()
        .map(|v| zone_line(fqdn, ttl, rtype, v))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `nsupdate` script that makes the set hold `values` (server line when known).
pub fn nsupdate_script(
    server: Option<&str>,
    zone: &str,
    fqdn: &str,
    rtype: &str,
    ttl: u32,
    values: &[String],
) -> String {
    let mut s = String::new();
    if let Some(server) = server.and_then(|s| s.parse::<SocketAddr>().ok()) {
        s.push_str(&format!("server {} {}\n", server.ip(), server.port()));
    }
    s.push_str(&format!("zone {zone}.\nupdate delete {fqdn}. {rtype}\n"));
    for v in values {
        s.push_str(&format!(
            "update add {}\n",
            zone_line(fqdn, ttl, rtype, v).replacen(" IN ", " ", 1)
        ));
    }
    s.push_str("send\n");
    s
}

// ---------- requesting ----------

/// What a `dns.record` request carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Payload {
    domain_id: String,
    domain: String,
    fqdn: String,
    rtype: String,
    values: Vec<String>,
    ttl: u32,
}

/// The before-state a request recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Before {
    values: Vec<String>,
    serial: Option<u32>,
    ttl: Option<u32>,
}

/// A record set as it is live.
pub(super) struct Live {
    pub(super) values: Vec<String>,
    raw: Vec<RData>,
    pub(super) ttl: Option<u32>,
}

/// The set as the primary serves it.
pub(super) async fn live_at(
    r: &Resolver,
    server: SocketAddr,
    fqdn: &str,
    rtype: RecordType,
) -> AppResult<Live> {
    let recs = r.ask_raw(server, fqdn, rtype).await.map_err(|e| {
        AppError::Unavailable(format!("The primary nameserver did not answer: {e}."))
    })?;
    Ok(Live {
        values: recs.iter().filter_map(|x| present(&x.data)).collect(),
        ttl: recs.first().map(|x| x.ttl),
        raw: recs.into_iter().map(|x| x.data).collect(),
    })
}

/// A record set at an RFC 2136 domain's primary: the writer, the set as it serves it now, and
/// the zone's serial now (what verification waits to see move).
pub(super) struct AtPrimary {
    pub(super) w: ZoneWriter,
    pub(super) live: Live,
    pub(super) serial: Option<u32>,
}

pub(super) async fn at_primary(
    st: &AppState,
    r: &Resolver,
    d: &Domain,
    prov: &ProviderRow,
    fqdn: &str,
    rtype: RecordType,
) -> AppResult<AtPrimary> {
    let w = writer(st, d, prov)?;
    let live = live_at(r, w.server(), fqdn, rtype).await?;
    let zone = prov.zone.as_deref().unwrap_or(&d.name);
    let serial = r.serial(w.server(), zone).await.ok().flatten();
    Ok(AtPrimary { w, live, serial })
}

/// The set as every authoritative nameserver serves it (they must agree), with the serial.
async fn live_everywhere(
    r: &Resolver,
    domain: &str,
    fqdn: &str,
    rtype: RecordType,
) -> AppResult<(Vec<String>, Option<u32>)> {
    let ns = r.nameservers(domain).await.map_err(|e| {
        AppError::Unavailable(format!("The nameservers of {domain} are unknown: {e}."))
    })?;
    let mut seen: Option<(String, Vec<String>)> = None;
    let mut serial = None;
    for (host, addr) in ns {
        let v = r
            .ask(addr, fqdn, rtype)
            .await
            .map_err(|e| AppError::Unavailable(format!("{host} did not answer: {e}.")))?;
        serial = serial.or(r.serial(addr, domain).await.ok().flatten());
        match &seen {
            Some((h, first)) if !baseline::same(rtype.to_string().as_str(), first, &v) => {
                return Err(AppError::Conflict(format!(
                    "The nameservers disagree about {fqdn} {rtype} ({h}: {first:?}; {host}: {v:?}). \
                     Wait until they agree, then ask again."
                )))
            }
            Some(_) => {}
            None => seen = Some((host, v)),
        }
    }
    Ok((seen.map(|(_, v)| v).unwrap_or_default(), serial))
}

/// The record sets the domain's baseline manages, as (absolute name, type).
async fn managed_sets(st: &AppState, d: &Domain) -> AppResult<Vec<(String, String)>> {
    let expected = super::expected_of(st, d).await?;
    Ok(expected
        .iter()
        .map(|e| (absolute(&e.name, &d.name), e.rtype.clone()))
        .filter(|(n, _)| n == &d.name || n.ends_with(&format!(".{}", d.name)))
        .collect())
}

/// An owner name of the domain as an absolute name without the final dot.
pub(super) fn absolute(name: &str, domain: &str) -> String {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty() || n == "@" || n == domain {
        domain.to_string()
    } else if n.ends_with(&format!(".{domain}")) || name.trim().ends_with('.') {
        n
    } else {
        format!("{n}.{domain}")
    }
}

/// Asks for a change of one record set of a domain; returns the change request's id. The
/// before is read from the live zone now (and again when it is applied).
pub async fn request_change(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
    input: &RecordChangeInput,
) -> AppResult<String> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    let g = authorize_in(actor, Action::ManageDomains, &d.tenant_id)?;
    // Frozen while an incident holds (the gate names it).
    authorize_in(actor, Action::ChangeDns, &d.tenant_id)?;
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("Say why the change is needed."));
    }
    if reason.chars().count() > 2000 {
        return Err(AppError::invalid("Keep the reason under 2,000 characters."));
    }
    let rtype_s = input.rtype.trim().to_ascii_uppercase();
    if rtype_s == "SOA" {
        return Err(AppError::invalid(
            "The SOA record is never changed by hand: the nameserver keeps its serial.",
        ));
    }
    if !RECORD_TYPES.contains(&rtype_s.as_str()) {
        return Err(AppError::invalid(format!(
            "Choose a record type: {}.",
            RECORD_TYPES.join(", ")
        )));
    }
    let rtype = RecordType::from_str(&rtype_s).map_err(AppError::internal)?;
    let raw_name = input.name.trim();
    if raw_name.len() > 253 {
        return Err(AppError::invalid("That name is too long for DNS."));
    }
    let fqdn = absolute(raw_name, &d.name);
    if fqdn != d.name && !fqdn.ends_with(&format!(".{}", d.name)) {
        return Err(AppError::invalid(format!(
            "{raw_name} is not inside {}: give a name relative to the domain (@ for the domain itself).",
            d.unicode_name
        )));
    }
    if fqdn.len() > 253
        || fqdn.split('.').any(|l| l.is_empty() || l.len() > 63)
        || !fqdn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.*".contains(c))
        || Name::from_str(&format!("{fqdn}.")).is_err()
    {
        return Err(AppError::invalid(format!(
            "{raw_name:?} is not a valid DNS name."
        )));
    }
    let mut values: Vec<String> = Vec::new();
    let mut after_raw: Vec<RData> = Vec::new();
    for v in input
        .values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        if values.len() >= MAX_VALUES {
            return Err(AppError::invalid(format!(
                "At most {MAX_VALUES} values in one record set."
            )));
        }
        let data = parse_value(rtype, v)
            .map_err(|e| AppError::invalid(format!("{rtype_s} value: {e}.")))?;
        let shown = present(&data).unwrap_or_else(|| v.to_string());
        if !values.contains(&shown) {
            values.push(shown);
            after_raw.push(data);
        }
    }
    if rtype == RecordType::CNAME && values.len() > 1 {
        return Err(AppError::invalid("A name has at most one CNAME."));
    }
    if rtype == RecordType::CNAME && fqdn == d.name {
        return Err(AppError::invalid(
            "The domain itself cannot be a CNAME (it holds the SOA and NS records).",
        ));
    }
    let mut conn = st.db.pool().acquire().await?;
    let p = store::provider(&mut conn, &d.id).await?;
    drop(conn);
    let allowed = p.as_ref().is_some_and(|p| p.allow_unmanaged);
    let managed = managed_sets(st, &d).await?;
    let in_set = managed
        .iter()
        .any(|(n, t)| n == &fqdn && t.eq_ignore_ascii_case(&rtype_s));
    if (rtype == RecordType::NS || !in_set) && !allowed {
        return Err(AppError::invalid(format!(
            "{fqdn} {rtype_s} is outside the record sets {}'s baseline manages{}. An owner can \
             allow such changes in the domain's DNS provider settings.",
            d.unicode_name,
            if rtype == RecordType::NS {
                " (NS records decide who serves the zone)"
            } else {
                ""
            }
        )));
    }
    let r = resolver(st)?;
    let rfc = p.as_ref().filter(|p| p.kind == "rfc2136");
    let (before, ttl, zone, server) = match rfc {
        Some(p) => {
            let AtPrimary { w, live, serial } = at_primary(st, &r, &d, p, &fqdn, rtype).await?;
            (
                Before {
                    values: live.values,
                    serial,
                    ttl: live.ttl,
                },
                live.ttl.unwrap_or(update::TTL),
                p.zone.clone().unwrap_or_else(|| d.name.clone()),
                Some(w.server().to_string()),
            )
        }
        None => {
            let (v, serial) = live_everywhere(&r, &d.name, &fqdn, rtype).await?;
            (
                Before {
                    values: v,
                    serial,
                    ttl: None,
                },
                update::TTL,
                d.name.clone(),
                None,
            )
        }
    };
    if baseline::same(&rtype_s, &before.values, &values) {
        return Err(AppError::invalid(format!(
            "{fqdn} {rtype_s} already holds exactly these values: there is nothing to change."
        )));
    }
    let payload = Payload {
        domain_id: d.id.clone(),
        domain: d.name.clone(),
        fqdn: fqdn.clone(),
        rtype: rtype_s.clone(),
        values: values.clone(),
        ttl,
    };
    let rollback = json!({
        "update": nsupdate_script(server.as_deref(), &zone, &fqdn, &rtype_s, before.ttl.unwrap_or(ttl), &before.values),
        "zone": zone_snippet(&fqdn, &rtype_s, before.ttl.unwrap_or(ttl), &before.values),
    });
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let id = changes::submit(
        st,
        &mut tx,
        &g,
        NewChange {
            tenant_id: Some(&d.tenant_id),
            kind: KIND,
            target_id: &d.id,
            target_label: &format!("{fqdn} {rtype_s}"),
            payload: serde_json::to_value(&payload).map_err(AppError::internal)?,
            before: serde_json::to_value(&before).map_err(AppError::internal)?,
            rollback: Some(rollback),
            reason,
        },
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

// ---------- applying, verifying, rolling back ----------

fn data_of(rtype: RecordType, values: &[String]) -> AppResult<Vec<RData>> {
    values
        .iter()
        .map(|v| {
            parse_value(rtype, v).map_err(|e| AppError::Conflict(format!("Stored value: {e}.")))
        })
        .collect()
}

fn parsed(c: &ChangeRequest) -> AppResult<(Payload, Before, RecordType)> {
    let p: Payload = serde_json::from_str(&c.payload).map_err(AppError::internal)?;
    let b: Before = serde_json::from_str(&c.before).map_err(AppError::internal)?;
    let t = RecordType::from_str(&p.rtype).map_err(AppError::internal)?;
    Ok((p, b, t))
}

/// The domain a change is about, as it is now (same tenant), read on the deciding
/// transaction's own connection: twenty approvers at once each hold one, and a second one
/// from the pool would wait for the others (and time out).
async fn domain_of(
    tx: &mut Tx,
    g: &Granted<'_>,
    c: &ChangeRequest,
    p: &Payload,
) -> AppResult<Domain> {
    let gone = || AppError::Conflict(format!("{} no longer exists.", p.domain));
    let seen = crate::core::authz::authorize(g.actor, Action::ViewTenants)?;
    let d = crate::tenancy::store::domain_on(tx.conn(), &seen, &p.domain_id)
        .await?
        .ok_or_else(gone)?;
    authorize_in(g.actor, Action::ViewTenants, &d.tenant_id).map_err(|_| gone())?;
    if d.tenant_id != c.tenant() {
        return Err(AppError::Conflict(format!(
            "{} changed hands meanwhile.",
            p.domain
        )));
    }
    Ok(d)
}

/// Queues the verification of a change (a new job each time: apply, entry, rollback).
async fn queue_verify(tx: &mut Tx, g: &Granted<'_>, x: &ChangeRow, now: i64) -> AppResult<()> {
    queue_job(tx, g, VERIFY_JOB, &x.tenant_id, &x.change_id, now).await
}

/// Queues a job of `kind` about one change request (its payload names the change).
pub(super) async fn queue_job(
    tx: &mut Tx,
    g: &Granted<'_>,
    kind: &str,
    tenant_id: &str,
    change_id: &str,
    now: i64,
) -> AppResult<()> {
    jobs::insert(
        tx.conn(),
        g,
        &jobs::NewJob {
            id: &secrets::new_id("job"),
            kind,
            tenant_id,
            state: "queued",
            progress_total: 0,
            payload: &json!({ "change_id": change_id }),
            error: None,
        },
        now,
    )
    .await
}

/// Sends the compare-and-swap `from` → `to` to the primary. A lost answer is settled by
/// reading the set again: it holds `to` (done), still `from` (refused), or something else.
pub(super) async fn swap(
    w: &ZoneWriter,
    r: &Resolver,
    fqdn: &str,
    rtype: RecordType,
    from: &Live,
    to: &[String],
    ttl: u32,
) -> AppResult<()> {
    let to_raw = data_of(rtype, to)?;
    match w.swap(fqdn, rtype, &from.raw, &to_raw, ttl).await {
        Ok(()) => Ok(()),
        Err(UpdateError::Refused(m)) => Err(AppError::Conflict(format!("{m}."))),
        Err(UpdateError::Unknown(m)) => {
            let now = live_at(r, w.server(), fqdn, rtype).await?;
            let t = rtype.to_string();
            if baseline::same(&t, &now.values, to) {
                Ok(())
            } else if baseline::same(&t, &now.values, &from.values) {
                Err(AppError::Conflict(format!(
                    "{m}; the record set did not change."
                )))
            } else {
                Err(AppError::Conflict(format!(
                    "{m}; the record set now holds {:?}, neither before nor after.",
                    now.values
                )))
            }
        }
    }
}

/// A governed change of one DNS record set (kind `dns.record`).
pub(crate) struct RecordChange;

#[async_trait]
impl ChangeKind for RecordChange {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn action(&self) -> Action {
        Action::ManageDomains
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let (p, b, rtype) = parsed(c)?;
        let d = domain_of(tx, g, c, &p).await?;
        let prov = store::provider(tx.conn(), &d.id).await?;
        let r = resolver(st)?;
        let mut row = ChangeRow {
            change_id: c.id.clone(),
            tenant_id: d.tenant_id.clone(),
            domain_id: d.id.clone(),
            fqdn: p.fqdn.clone(),
            rtype: p.rtype.clone(),
            before: b.values.clone(),
            after: p.values.clone(),
            want: "after".into(),
            phase: "awaiting_entry".into(),
            serial_before: None,
            checks: json!([]),
            deadline: None,
            note: None,
            created_at: now,
            updated_at: now,
        };
        let summary = match prov.filter(|x| x.kind == "rfc2136") {
            None => {
                // Someone enters it by hand; the serial it must move from is today's.
                row.serial_before = match live_everywhere(&r, &d.name, &p.fqdn, rtype).await {
                    Ok((live, serial)) => {
                        if !baseline::same(&p.rtype, &live, &b.values)
                            && !baseline::same(&p.rtype, &live, &p.values)
                        {
                            return Err(moved(&p, &live, &b.values));
                        }
                        serial.map(i64::from)
                    }
                    Err(_) => None,
                };
                store::insert_change(tx.conn(), g, &row).await?;
                format!(
                    "Approved. Enter {} {} in the zone as shown on {}'s DNS page, then press \
                     “Entered”; Mailward then verifies it on every nameserver.",
                    p.fqdn, p.rtype, d.unicode_name
                )
            }
            Some(prov) => {
                let AtPrimary { w, live, serial } =
                    at_primary(st, &r, &d, &prov, &p.fqdn, rtype).await?;
                let already = baseline::same(&p.rtype, &live.values, &p.values);
                if !already && !baseline::same(&p.rtype, &live.values, &b.values) {
                    return Err(moved(&p, &live.values, &b.values));
                }
                if !already {
                    swap(&w, &r, &p.fqdn, rtype, &live, &p.values, p.ttl).await?;
                }
                row.phase = "verifying".into();
                row.serial_before = if already { None } else { serial.map(i64::from) };
                row.deadline = Some(now + st.config.dns_verify_seconds);
                store::insert_change(tx.conn(), g, &row).await?;
                queue_verify(tx, g, &row, now).await?;
                let ev = Event::new("dns.record_updated")
                    .target(d.id.clone())
                    .tenant(d.tenant_id.clone())
                    .details(json!({
                        "domain": d.name, "change": c.id, "name": p.fqdn, "type": p.rtype,
                        "before": b.values, "after": p.values, "server": w.server().to_string(),
                        "already_in_place": already,
                    }));
                record(tx, g.actor, now, ev).await?;
                format!(
                    "{} {} {} on the primary {}; verifying it on every nameserver.",
                    p.fqdn,
                    p.rtype,
                    if p.values.is_empty() {
                        "was removed".to_string()
                    } else {
                        format!("now holds {}", p.values.join(" | "))
                    },
                    w.server()
                )
            }
        };
        Ok(Applied {
            summary,
            after: json!({ "values": p.values }),
        })
    }

    async fn can_roll_back(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        _now: i64,
    ) -> AppResult<()> {
        let (p, _, rtype) = parsed(original)?;
        let d = domain_of(tx, g, original, &p).await?;
        let x = store::change(tx.conn(), &original.id).await?;
        if let Some(x) = &x {
            if ["verifying", "rolling_back"].contains(&x.phase.as_str()) {
                return Err(AppError::Conflict(format!(
                    "{} {} is still being verified; wait until that has finished.",
                    p.fqdn, p.rtype
                )));
            }
            if x.phase == "rolled_back" {
                return Err(AppError::Conflict(
                    "That change was rolled back already.".into(),
                ));
            }
        }
        if let Some(prov) = store::provider(tx.conn(), &d.id)
            .await?
            .filter(|x| x.kind == "rfc2136")
        {
            let w = writer(st, &d, &prov)?;
            let live = live_at(&resolver(st)?, w.server(), &p.fqdn, rtype).await?;
            if !baseline::same(&p.rtype, &live.values, &p.values) {
                return Err(AppError::Conflict(format!(
                    "{} {} changed since this change: it now holds {:?}. Nothing was rolled back; \
                     ask for a new change instead.",
                    p.fqdn, p.rtype, live.values
                )));
            }
        }
        Ok(())
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
        let (p, b, rtype) = parsed(original)?;
        let d = domain_of(tx, g, original, &p).await?;
        let Some(mut x) = store::change(tx.conn(), &original.id).await? else {
            return Err(AppError::Conflict(
                "That change has no record of being applied.".into(),
            ));
        };
        let from = x.phase.clone();
        x.want = "before".into();
        x.note = Some("Rollback approved.".into());
        let summary = match store::provider(tx.conn(), &d.id)
            .await?
            .filter(|x| x.kind == "rfc2136")
        {
            Some(prov) => {
                let r = resolver(st)?;
                let AtPrimary { w, live, serial } =
                    at_primary(st, &r, &d, &prov, &p.fqdn, rtype).await?;
                x.serial_before = serial.map(i64::from);
                swap(
                    &w,
                    &r,
                    &p.fqdn,
                    rtype,
                    &live,
                    &b.values,
                    b.ttl.unwrap_or(p.ttl),
                )
                .await?;
                x.phase = "rolling_back".into();
                x.deadline = Some(now + st.config.dns_verify_seconds);
                x.checks = json!([]);
                rolled_back_event(tx, g, &d, &x, "approved", now).await?;
                format!(
                    "{} {} is back to its before-state on the primary {}; verifying it on every nameserver.",
                    p.fqdn, p.rtype, w.server()
                )
            }
            None => {
                x.phase = "awaiting_entry".into();
                format!(
                    "Enter the before-state of {} {} in the zone (shown on {}'s DNS page), then press “Entered”.",
                    p.fqdn, p.rtype, d.unicode_name
                )
            }
        };
        if !store::move_change(tx.conn(), g, &x, &from, now).await? {
            return Err(AppError::Conflict(
                "The change moved on meanwhile; try again.".into(),
            ));
        }
        if x.phase == "rolling_back" {
            queue_verify(tx, g, &x, now).await?;
        }
        Ok(summary)
    }
}

fn moved(p: &Payload, live: &[String], before: &[String]) -> AppError {
    AppError::Conflict(format!(
        "{} {} moved since the request: it now holds {:?}, the request recorded {:?}. Nothing \
         was changed; ask again if the change is still wanted.",
        p.fqdn, p.rtype, live, before
    ))
}

async fn rolled_back_event(
    tx: &mut Tx,
    g: &Granted<'_>,
    d: &Domain,
    x: &ChangeRow,
    how: &str,
    now: i64,
) -> AppResult<()> {
    let ev = Event::new("dns.record_updated")
        .target(d.id.clone())
        .tenant(d.tenant_id.clone())
        .details(json!({
            "domain": d.name, "change": x.change_id, "name": x.fqdn, "type": x.rtype,
            "before": x.after, "after": x.before, "rollback": how,
        }));
    record(tx, g.actor, now, ev).await.map(|_| ())
}

/// Someone entered a manual change (or its rollback) in the zone: verification starts.
pub async fn mark_entered(st: &AppState, actor: &Actor, change_id: &str) -> AppResult<()> {
    let c = changes::get(st, actor, change_id).await?;
    let g = authorize_in(actor, Action::ManageDomains, c.tenant())?;
    if c.kind != KIND {
        return Err(AppError::invalid("That is not a DNS change."));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(mut x) = store::change(tx.conn(), change_id).await? else {
        return Err(AppError::Conflict(
            "This change has not been approved yet.".into(),
        ));
    };
    if x.phase != "awaiting_entry" {
        return Err(AppError::Conflict(format!(
            "This change is not waiting for its records to be entered (it is {}).",
            crate::dns::phase_label(&x.phase).0
        )));
    }
    x.phase = if x.want == "before" {
        "rolling_back"
    } else {
        "verifying"
    }
    .into();
    x.deadline = Some(now + st.config.dns_verify_seconds);
    x.checks = json!([]);
    if !store::move_change(tx.conn(), &g, &x, "awaiting_entry", now).await? {
        return Err(AppError::Conflict("Someone said so already.".into()));
    }
    queue_verify(&mut tx, &g, &x, now).await?;
    let ev = Event::new("dns.change_entered")
        .target(x.change_id.clone())
        .tenant(x.tenant_id.clone())
        .details(json!({ "name": x.fqdn, "type": x.rtype, "want": x.want }));
    record(&mut tx, actor, now, ev).await?;
    tx.commit().await
}

/// What every authoritative nameserver serves now, against what the change wants: `Some(true)`
/// when every one serves it and its serial moved, `Some(false)` when one serves something
/// else, `None` when an answer is missing.
#[allow(clippy::too_many_arguments)]
pub(super) async fn check_nameservers(
    r: &Resolver,
    domain: &str,
    zone: &str,
    fqdn: &str,
    rtype_s: &str,
    want: &[String],
    serial_before: Option<i64>,
    now: i64,
) -> DnsCheck {
    let rtype = match RecordType::from_str(rtype_s) {
        Ok(t) => t,
        Err(e) => {
            return DnsCheck {
                name: "nameservers".into(),
                ok: Some(false),
                detail: e.to_string(),
                at: now,
                probe: None,
            }
        }
    };
    let ns = match r.nameservers(domain).await {
        Ok(ns) => ns,
        Err(e) => {
            return DnsCheck {
                name: "nameservers".into(),
                ok: None,
                detail: format!("The nameservers of {domain} are unknown: {e}"),
                at: now,
                probe: None,
            }
        }
    };
    let mut lines = Vec::new();
    let (mut bad, mut unknown) = (false, false);
    for (host, addr) in ns {
        let values = r.ask(addr, fqdn, rtype).await;
        let serial = r.serial(addr, zone).await.ok().flatten();
        let (serial_moved, serial_text) = match (serial_before, serial) {
            (Some(b), Some(s)) if i64::from(s) != b => (true, format!("serial {s} (was {b})")),
            (Some(b), Some(_)) => (false, format!("serial still {b}")),
            (_, Some(s)) => (true, format!("serial {s}")),
            _ => (true, "no serial".into()),
        };
        match values {
            Ok(v) if baseline::same(rtype_s, &v, want) && serial_moved => {
                lines.push(format!("{host}: serves it, {serial_text}"));
            }
            Ok(v) if baseline::same(rtype_s, &v, want) => {
                bad = true;
                lines.push(format!("{host}: serves it but its {serial_text}"));
            }
            Ok(v) => {
                bad = true;
                lines.push(format!(
                    "{host}: still {}, {serial_text}",
                    if v.is_empty() {
                        "nothing".to_string()
                    } else {
                        v.join(" | ")
                    }
                ));
            }
            Err(e) => {
                unknown = true;
                lines.push(format!("{host}: no answer ({e})"));
            }
        }
    }
    let all = if unknown { None } else { Some(!bad) };
    DnsCheck {
        name: "nameservers".into(),
        ok: all,
        detail: lines.join("; "),
        at: now,
        probe: None,
    }
}

/// Runs one verification job: looks once; done, waits for the next look, or — past the
/// deadline — fails, and an RFC 2136 change is rolled back at once.
pub async fn verify_job(st: &AppState, job_id: &str, worker: &str) -> AppResult<()> {
    let job = jobs::get(&st.db, VERIFY_JOB, job_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let change_id = job.payload["change_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut conn = st.db.pool().acquire().await?;
    let x = store::change(&mut conn, &change_id).await?;
    drop(conn);
    let finish = |result: serde_json::Value| async move {
        let mut c = st.db.pool().acquire().await?;
        jobs::finish(&mut c, job_id, &result, st.clock.now()).await
    };
    let Some(mut x) = x.filter(|x| ["verifying", "rolling_back"].contains(&x.phase.as_str()))
    else {
        return finish(json!({ "skipped": "nothing to verify" })).await;
    };
    let system = Actor::system("DNS verification");
    let g = authorize_in(&system, Action::ManageDomains, &x.tenant_id)?;
    let Ok(d) = tenancy::domain(st, &system, &x.domain_id).await else {
        return finish(json!({ "skipped": "the domain is gone" })).await;
    };
    let mut conn = st.db.pool().acquire().await?;
    let prov = store::provider(&mut conn, &d.id)
        .await?
        .filter(|p| p.kind == "rfc2136");
    drop(conn);
    let zone = prov
        .as_ref()
        .and_then(|p| p.zone.clone())
        .unwrap_or_else(|| d.name.clone());
    let r = resolver(st)?;
    let want = if x.want == "before" {
        &x.before
    } else {
        &x.after
    };
    let mut checks: Vec<DnsCheck> = serde_json::from_value(x.checks.clone()).unwrap_or_default();
    let now = st.clock.now();
    let from = x.phase.clone();
    // The nameservers first; once every one serves the change, the mail probes (when
    // configured), with a deadline of their own.
    let probing = st.config.probe.is_some() && probe::sent(&checks);
    if !probing {
        let ns = check_nameservers(
            &r,
            &d.name,
            &zone,
            &x.fqdn,
            &x.rtype,
            want,
            x.serial_before,
            now,
        )
        .await;
        checks = vec![ns.clone()];
        if let (Some(cfg), Some(true)) = (&st.config.probe, ns.ok) {
            match probe::skipped(&d, now) {
                Some(skip) => checks.push(skip),
                None => {
                    checks.extend(probe::send(cfg, &d.name, &x.change_id, now).await);
                    x.deadline = Some(st.clock.now() + cfg.wait_seconds);
                }
            }
        }
    }
    let mut stage = "nameservers";
    if let Some(cfg) = st.config.probe.as_ref().filter(|_| probe::sent(&checks)) {
        stage = "probes";
        let deadline = x.deadline.unwrap_or(now);
        probe::look(st, cfg, &d.name, &mut checks[1..], deadline, now).await;
    }
    let check = probe::summary(&checks);
    x.checks = json!(checks);
    // A probe that failed has failed: no need to wait for the deadline.
    let past =
        x.deadline.is_some_and(|t| now >= t) || (stage == "probes" && check.ok == Some(false));
    let mut tx = st.db.begin().await?;
    let mut again = false;
    let mut rollback_now: Option<String> = None;
    let event = match (check.ok, from.as_str()) {
        (Some(true), "verifying") => {
            x.phase = "verified".into();
            Some("dns.change_verified")
        }
        (Some(true), _) => {
            x.phase = "rolled_back".into();
            Some("dns.rollback_verified")
        }
        _ if !past => {
            again = true;
            None
        }
        (_, "verifying") => {
            let why = if stage == "probes" {
                format!("The mail probes failed: {}", check.detail)
            } else {
                format!(
                    "Not seen on every nameserver within {} s: {}",
                    st.config.dns_verify_seconds, check.detail
                )
            };
            x.note = Some(why.clone());
            if prov.is_some() {
                rollback_now = Some(why);
            } else {
                x.phase = "failed".into();
            }
            Some("dns.change_verify_failed")
        }
        _ => {
            x.phase = "rollback_failed".into();
            x.note = Some(if stage == "probes" {
                format!(
                    "The before-state is back on every nameserver, but the mail probes fail: {}",
                    check.detail
                )
            } else {
                format!(
                    "The rollback was not seen on every nameserver within {} s: {}",
                    st.config.dns_verify_seconds, check.detail
                )
            });
            Some("dns.rollback_failed")
        }
    };
    if let Some(action) = event {
        let ev = Event::new(action)
            .target(x.change_id.clone())
            .tenant(x.tenant_id.clone())
            .details(json!({
                "domain": d.name, "name": x.fqdn, "type": x.rtype, "check": check.detail,
            }));
        record(&mut tx, &system, now, ev).await?;
    }
    if let (Some(why), Some(prov)) = (rollback_now, &prov) {
        // Protective: the recorded before-state goes back at once, then is verified.
        match auto_roll_back(st, &mut tx, &g, &d, prov, &mut x, &why, now).await {
            Ok(()) => again = true,
            Err(e) => {
                x.phase = "rollback_failed".into();
                x.note = Some(format!(
                    "{why}. The automatic rollback failed: {}",
                    e.user_message()
                ));
                let ev = Event::new("dns.rollback_failed")
                    .target(x.change_id.clone())
                    .tenant(x.tenant_id.clone())
                    .details(json!({ "domain": d.name, "name": x.fqdn, "type": x.rtype, "error": e.user_message() }));
                record(&mut tx, &system, now, ev).await?;
            }
        }
    }
    let moved = store::move_change(tx.conn(), &g, &x, &from, now).await?;
    if !moved {
        drop(tx);
        return finish(json!({ "skipped": "moved on meanwhile" })).await;
    }
    if again {
        if event.is_some() {
            tx.commit().await?;
        } else {
            // Only the latest look changed: bookkeeping, not an event.
            tx.commit_bookkeeping().await?;
        }
        jobs::reschedule(st, job_id, worker, st.config.dns_verify_poll_seconds).await
    } else {
        tx.commit().await?;
        finish(json!({ "phase": x.phase })).await
    }
}

/// Puts the recorded before-state back (compare-and-swap from the after-state; a set that
/// already holds the before-state — a rollback sent before a crash — is left as it is) and
/// marks the change request rolled back, with no second person: restoring what was recorded
/// is protective.
#[allow(clippy::too_many_arguments)]
async fn auto_roll_back(
    st: &AppState,
    tx: &mut Tx,
    g: &Granted<'_>,
    d: &Domain,
    prov: &ProviderRow,
    x: &mut ChangeRow,
    why: &str,
    now: i64,
) -> AppResult<()> {
    let rtype = RecordType::from_str(&x.rtype).map_err(AppError::internal)?;
    let r = resolver(st)?;
    let AtPrimary { w, live, serial } = at_primary(st, &r, d, prov, &x.fqdn, rtype).await?;
    if !baseline::same(&x.rtype, &live.values, &x.before) {
        if !baseline::same(&x.rtype, &live.values, &x.after) {
            return Err(AppError::Conflict(format!(
                "{} {} now holds {:?}, which is neither the change nor its before-state; left as it is",
                x.fqdn, x.rtype, live.values
            )));
        }
        swap(
            &w,
            &r,
            &x.fqdn,
            rtype,
            &live,
            &x.before,
            live.ttl.unwrap_or(update::TTL),
        )
        .await?;
    }
    x.want = "before".into();
    x.phase = "rolling_back".into();
    x.serial_before = serial.map(i64::from);
    x.deadline = Some(now + st.config.dns_verify_seconds);
    x.checks = json!([]);
    x.note = Some(format!(
        "{why}. Rolled back automatically to the recorded before-state."
    ));
    rolled_back_event(tx, g, d, x, "automatic", now).await?;
    let ag =
        crate::core::authz::authorize_protective_in(g.actor, Action::ApproveChanges, &x.tenant_id)?;
    changes::rolled_back_protectively(tx, &ag, &x.change_id, why, now).await?;
    Ok(())
}

// ---------- reading ----------

/// The DNS changes of one domain (by id or name).
pub async fn domain_changes(
    st: &AppState,
    actor: &Actor,
    domain_key: &str,
) -> AppResult<Vec<DnsChange>> {
    let d = tenancy::domain(st, actor, domain_key).await?;
    changes_of(st, actor, &d).await
}

/// The DNS changes of one domain for its page: pending requests first, then the latest 20.
pub async fn changes_of(st: &AppState, actor: &Actor, d: &Domain) -> AppResult<Vec<DnsChange>> {
    let requests = changes::list(st, actor, changes::Filter::Target(&d.id)).await?;
    let mut conn = st.db.pool().acquire().await?;
    let rows = store::changes_of(&mut conn, &d.id, 20).await?;
    let prov = store::provider(&mut conn, &d.id)
        .await?
        .filter(|p| p.kind == "rfc2136");
    drop(conn);
    let manual = prov.is_none();
    let server = prov.as_ref().and_then(|p| p.server.clone());
    let zone = prov
        .as_ref()
        .and_then(|p| p.zone.clone())
        .unwrap_or_else(|| d.name.clone());
    let mut out = Vec::new();
    for c in requests
        .iter()
        .filter(|c| c.kind == KIND && c.rollback_of.is_none())
    {
        let Ok((p, b, _)) = parsed(c) else { continue };
        let x = rows.iter().find(|x| x.change_id == c.id);
        if x.is_none() && c.state != crate::types::ChangeState::Pending {
            continue;
        }
        let want_values = match x {
            Some(x) if x.want == "before" => &b.values,
            _ => &p.values,
        };
        out.push(DnsChange {
            id: c.id.clone(),
            fqdn: p.fqdn.clone(),
            rtype: p.rtype.clone(),
            before: b.values.clone(),
            after: p.values.clone(),
            state: c.state.as_str().to_string(),
            phase: x.map(|x| x.phase.clone()).unwrap_or_default(),
            want: x.map(|x| x.want.clone()).unwrap_or_else(|| "after".into()),
            checks: x
                .and_then(|x| serde_json::from_value(x.checks.clone()).ok())
                .unwrap_or_default(),
            deadline: x.and_then(|x| x.deadline),
            note: x.and_then(|x| x.note.clone()),
            reason: c.reason.clone(),
            requested_by: c.requested_by_label.clone(),
            requested_at: c.requested_at,
            decided_by: c.decided_by_label.clone(),
            manual,
            zone_snippet: zone_snippet(&p.fqdn, &p.rtype, p.ttl, want_values),
            rollback_update: nsupdate_script(
                server.as_deref(),
                &zone,
                &p.fqdn,
                &p.rtype,
                b.ttl.unwrap_or(p.ttl),
                &b.values,
            ),
            rollback_zone: zone_snippet(&p.fqdn, &p.rtype, b.ttl.unwrap_or(p.ttl), &b.values),
        });
    }
    out.sort_by_key(|c| (c.state != "pending", -c.requested_at));
    Ok(out)
}
