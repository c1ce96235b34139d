//! Mail probes: the last part of a DNS change's verification (`[probe]` in the settings).
//! Once every nameserver serves the change, one message comes in through the mail plane's
//! port 25 to `mailward-probe@<domain>` (as mail from outside would), and one leaves from that
//! address through submission — signed in as the probe mailbox, DKIM-signed by the milter — to
//! `outbound_to`, an address elsewhere that brings it back. The mail plane, rendered with
//! `--probe-mailbox`, delivers `mailward-probe@` of every hosted domain to the probe mailbox,
//! whose Maildir is read here. The returned outbound probe is then checked as a receiver would
//! check it (mail-auth against the live DNS): DKIM, SPF for the mail plane's sending address,
//! DMARC. Each result is a [`DnsCheck`] kept on the change.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use lettre::Message;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, SpfResult};

use super::changes::resolver;
use crate::core::config::{ProbeConfig, SmtpConfig};
use crate::core::mailer::Mailer;
use crate::core::secrets::new_id;
use crate::core::state::AppState;
use crate::dns::DnsCheck;

/// The local part every hosted domain accepts for probes (the rendered mail plane routes it).
pub const LOCAL: &str = "mailward-probe";
pub const INBOUND: &str = "inbound mail";
pub const OUTBOUND: &str = "outbound mail";
pub const AUTH: &str = "authentication";

/// A probe file larger than this is not a probe (and is not read whole).
const MAX_BYTES: u64 = 1 << 20;

fn check(name: &str, ok: Option<bool>, detail: String, at: i64, probe: Option<String>) -> DnsCheck {
    DnsCheck {
        name: name.into(),
        ok,
        detail,
        at,
        probe,
    }
}

/// The verification's state in one check: the nameservers' alone before the probes; then
/// failed if one check failed, passed when all passed, else still open.
pub fn summary(checks: &[DnsCheck]) -> DnsCheck {
    let Some(first) = checks.first() else {
        return DnsCheck::default();
    };
    if checks.len() == 1 {
        return first.clone();
    }
    let ok = if checks.iter().any(|c| c.ok == Some(false)) {
        Some(false)
    } else if checks.iter().all(|c| c.ok == Some(true)) {
        Some(true)
    } else {
        None
    };
    let shown: Vec<String> = checks
        .iter()
        .filter(|c| ok == Some(true) || c.ok != Some(true))
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    DnsCheck {
        name: "mail probes".into(),
        ok,
        detail: shown.join("; "),
        at: checks.iter().map(|c| c.at).max().unwrap_or_default(),
        probe: None,
    }
}

/// The check that stands for the probes of a domain that does not take mail here yet: mail
/// for it is refused on purpose, so probing it would only roll back a change that is fine
/// (the challenge record of a domain being verified, say).
pub fn skipped(d: &crate::tenancy::Domain, now: i64) -> Option<DnsCheck> {
    (d.status != crate::types::LiveStatus::Active).then(|| {
        check(
            "mail probes",
            Some(true),
            format!(
                "not sent: {} does not take mail here yet ({}); they run once it is active",
                d.name, d.status
            ),
            now,
            None,
        )
    })
}

/// Whether these checks include probes already sent.
pub fn sent(checks: &[DnsCheck]) -> bool {
    checks.iter().any(|c| c.name == INBOUND)
}

fn message(from: &str, to: &str, subject: &str, id: &str, body: String) -> Result<Message, String> {
    let from: Mailbox = format!("Mailward probe <{from}>")
        .parse()
        .map_err(|e| format!("{from}: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("{to}: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .body(body)
        .map_err(|e| e.to_string())
}

/// Port 25 of the mail plane, as the internet reaches it: plain on this host, else STARTTLS
/// verified (with the submission's CA file, the same mail plane's certificate).
fn inbound_mailer(cfg: &ProbeConfig, from: &str) -> Mailer {
    let (host, port) = match cfg.inbound.parse::<std::net::SocketAddr>() {
        Ok(a) => (a.ip().to_string(), a.port()),
        Err(_) => (cfg.inbound.clone(), 25),
    };
    let local = crate::core::config::is_loopback_host(&host);
    Mailer::new(
        Some(SmtpConfig {
            host,
            port,
            from: from.into(),
            tls: Some(if local { "none" } else { "starttls" }.into()),
            tls_ca_file: if local {
                None
            } else {
                cfg.submission.tls_ca_file.clone()
            },
            tls_insecure_skip_verify: !local && cfg.submission.tls_insecure_skip_verify,
            ..SmtpConfig::default()
        }),
        "Mailward",
    )
}

/// What a mail server said, for the check's detail: the mailer's own words (server, reply;
/// never a password) rather than the console's generic "something went wrong".
fn said(e: crate::core::AppError) -> String {
    match e {
        crate::core::AppError::Internal(m) | crate::core::AppError::Config(m) => m,
        e => e.user_message(),
    }
}

/// Sends both probes for `domain`. The checks they start: awaited (`ok` None, with the
/// Message-ID to look for), failed when a server refused the message for good, or — a
/// connection that failed, a 4xx — open without a Message-ID, sent again at the next look.
pub async fn send(cfg: &ProbeConfig, domain: &str, change: &str, now: i64) -> Vec<DnsCheck> {
    vec![
        send_one(cfg, domain, INBOUND, change, now).await,
        send_one(cfg, domain, OUTBOUND, change, now).await,
        check(
            AUTH,
            None,
            "checked when the outbound probe is back".into(),
            now,
            None,
        ),
    ]
}

/// One probe: `INBOUND` from outside (the null sender) to the domain's probe address on
/// port 25, or `OUTBOUND` from that address through submission, out and back.
async fn send_one(cfg: &ProbeConfig, domain: &str, way: &str, change: &str, now: i64) -> DnsCheck {
    let addr = format!("{LOCAL}@{domain}");
    let inbound = way == INBOUND;
    let id = format!(
        "{}.{}@{domain}",
        new_id("prb"),
        if inbound { "in" } else { "out" }
    );
    let (to, subject, verb) = if inbound {
        (
            addr.clone(),
            format!("Mailward probe: mail to {domain}"),
            "reaches",
        )
    } else {
        (
            cfg.outbound_to.clone(),
            format!("Mailward probe: mail from {domain}"),
            "leaves",
        )
    };
    let body = format!(
        "Mailward checks that mail {verb} {domain} after a DNS change{}.\r\n\
         This message is read and removed by Mailward; nothing to do.\r\n",
        if change.is_empty() {
            String::new()
        } else {
            format!(" ({change})")
        }
    );
    let sent = match message(&addr, &to, &subject, &id, body) {
        Ok(m) if inbound => inbound_mailer(cfg, &addr)
            .send_raw(None, &addr, &m.formatted())
            .await
            .map_err(said),
        Ok(m) => Mailer::new(Some(cfg.submission.clone()), "Mailward")
            .send_raw(Some(&addr), &to, &m.formatted())
            .await
            .map_err(said),
        Err(e) => Err(format!("permanent error: {e}")),
    };
    let via = if inbound {
        format!("to {addr} through {}", cfg.inbound)
    } else {
        format!("from {addr} to {to} through submission")
    };
    match sent {
        Ok(()) => check(
            way,
            None,
            format!(
                "sent {via}; waiting for it{}",
                if inbound { "" } else { " to come back" }
            ),
            now,
            Some(id),
        ),
        // A refusal for good (5xx) fails; anything else is tried again.
        Err(e) if e.contains("permanent error") => {
            check(way, Some(false), format!("refused {via}: {e}"), now, None)
        }
        Err(e) => check(
            way,
            None,
            format!("not sent yet {via} ({e}); trying again"),
            now,
            None,
        ),
    }
}

/// The Message-ID of a stored message (its header block only), without the angle brackets.
fn message_id(raw: &[u8]) -> Option<String> {
    let head = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| raw.windows(4).position(|w| w == b"\r\n\r\n"))
        .map_or(raw, |n| &raw[..n]);
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut v = value.trim().to_string();
        while lines.peek().is_some_and(|l| l.starts_with([' ', '\t'])) {
            v.push_str(lines.next().unwrap_or_default().trim());
        }
        return Some(v.trim_matches(['<', '>']).to_ascii_lowercase());
    }
    None
}

/// Finds the probes with these Message-IDs in the probe Maildir: each one's file and text.
/// Probes nobody waits for any more (older than a day) are removed on the way.
fn find(maildir: &str, wanted: &[String]) -> HashMap<String, (PathBuf, Vec<u8>)> {
    let mut found = HashMap::new();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(Path::new(maildir).join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || meta.len() > MAX_BYTES {
                continue;
            }
            let Ok(raw) = std::fs::read(e.path()) else {
                continue;
            };
            let Some(id) = message_id(&raw) else { continue };
            if let Some(w) = wanted.iter().find(|w| w.eq_ignore_ascii_case(&id)) {
                found.insert(w.clone(), (e.path(), raw));
            } else if id.starts_with("prb_") && meta.modified().is_ok_and(|m| m < day_ago) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    found
}

/// Looks for the awaited probes and updates their checks; authenticates the returned
/// outbound probe (kept in the Maildir until that check is settled, so a temporary DNS error
/// is tried again at the next look). Past `deadline`, whatever is still open fails. A probe
/// is removed from the Maildir once its checks are settled.
pub async fn look(
    st: &AppState,
    cfg: &ProbeConfig,
    domain: &str,
    checks: &mut [DnsCheck],
    deadline: i64,
    now: i64,
) {
    let past = now >= deadline;
    // Probes not sent yet (a connection or a 4xx failed): again, or failed past the deadline.
    for c in checks.iter_mut() {
        if c.ok.is_none() && c.probe.is_none() && (c.name == INBOUND || c.name == OUTBOUND) {
            if past {
                c.ok = Some(false);
                c.detail = format!("never sent within {} s: {}", cfg.wait_seconds, c.detail);
                c.at = now;
            } else {
                *c = send_one(cfg, domain, &c.name.clone(), "", now).await;
            }
        }
    }
    let wanted: Vec<String> = checks.iter().filter_map(|c| c.probe.clone()).collect();
    let maildir = cfg.maildir.clone();
    let found = tokio::task::spawn_blocking(move || find(&maildir, &wanted))
        .await
        .unwrap_or_default();
    let mut done_with: Vec<PathBuf> = Vec::new();
    let mut returned: Option<(String, Vec<u8>)> = None;
    for c in checks.iter_mut() {
        let Some(id) = c.probe.clone() else { continue };
        match found.get(&id) {
            Some((path, raw)) => {
                if c.ok.is_none() {
                    c.ok = Some(true);
                    c.at = now;
                    c.detail = if c.name == INBOUND {
                        format!("delivered to the probe mailbox ({id})")
                    } else {
                        format!("came back from {} ({id})", cfg.outbound_to)
                    };
                }
                if c.name == OUTBOUND {
                    returned = Some((id.clone(), raw.clone()));
                } else {
                    c.probe = None;
                    done_with.push(path.clone());
                }
            }
            None if c.ok.is_none() && past => {
                c.ok = Some(false);
                c.at = now;
                c.detail = if c.name == INBOUND {
                    format!(
                        "not delivered to the probe mailbox within {} s ({id})",
                        cfg.wait_seconds
                    )
                } else {
                    format!(
                        "did not come back from {} within {} s ({id})",
                        cfg.outbound_to, cfg.wait_seconds
                    )
                };
                c.probe = None;
            }
            None => {}
        }
    }
    let outbound_failed = checks
        .iter()
        .any(|c| c.name == OUTBOUND && c.ok == Some(false));
    let settled = if let Some(a) = checks.iter_mut().find(|c| c.name == AUTH && c.ok.is_none()) {
        if let Some((_, raw)) = &returned {
            let (ok, detail) = authenticate(st, cfg, domain, raw).await;
            // A failure is final only at the deadline: the recursive resolver may still hold
            // the record the change replaced until its TTL runs out.
            a.ok = match ok {
                Some(true) => Some(true),
                _ if past => Some(false),
                _ => None,
            };
            a.detail = detail;
            a.at = now;
        } else if outbound_failed {
            a.ok = Some(false);
            a.detail = "not checked: the outbound probe did not come back".into();
            a.at = now;
        } else if past {
            a.ok = Some(false);
            a.detail = format!("not settled within {} s", cfg.wait_seconds);
            a.at = now;
        }
        a.ok.is_some()
    } else {
        true
    };
    if settled {
        if let Some((id, _)) = &returned {
            if let Some((path, _)) = found.get(id) {
                done_with.push(path.clone());
            }
            for c in checks.iter_mut().filter(|c| c.name == OUTBOUND) {
                c.probe = None;
            }
        }
    }
    for p in done_with {
        let _ = std::fs::remove_file(p);
    }
}

/// Checks the returned outbound probe as a receiver would: DKIM, SPF for the mail plane's
/// sending address, DMARC — against the live DNS (the recursive resolver Mailward uses).
/// `None`: a temporary DNS error, try again.
async fn authenticate(
    st: &AppState,
    cfg: &ProbeConfig,
    domain: &str,
    raw: &[u8],
) -> (Option<bool>, String) {
    let server = match resolver(st) {
        Ok(r) => r.recursive(),
        Err(e) => return (None, e.user_message()),
    };
    let mut ns = NameServerConfig::udp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut opts = ResolverOpts::default();
    opts.timeout = std::time::Duration::from_millis(st.config.dns_timeout_ms);
    let auth =
        match MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![ns]), opts) {
            Ok(a) => a,
            Err(e) => return (None, format!("no resolver for the check: {e}")),
        };
    // Maildir files have bare LF line ends; signatures were made over CRLF.
    let text = String::from_utf8_lossy(raw)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let Some(msg) = AuthenticatedMessage::parse(text.as_bytes()) else {
        return (
            Some(false),
            "the returned probe could not be read as a message".into(),
        );
    };
    let ip = match cfg.sending_ip.parse() {
        Ok(ip) => ip,
        Err(_) => return (Some(false), "probe.sending_ip is not an address".into()),
    };
    let sender = format!("{LOCAL}@{domain}");
    let dkim = auth.verify_dkim(&msg).await;
    let spf = auth
        .verify_spf(SpfParameters::verify_mail_from(
            ip, &cfg.helo, &cfg.helo, &sender,
        ))
        .await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim, domain, &spf))
        .await;
    let mut temp = false;
    let mut bad = false;
    let dkim_text = if dkim.is_empty() {
        "DKIM none (not signed)".to_string()
    } else {
        let parts: Vec<String> = dkim
            .iter()
            .map(|d| {
                let sel = d
                    .signature()
                    .map(|s| format!(" (d={}, s={})", s.d, s.s))
                    .unwrap_or_default();
                match d.result() {
                    DkimResult::Pass => format!("DKIM pass{sel}"),
                    DkimResult::None => format!("DKIM none{sel}"),
                    DkimResult::TempError(e) => {
                        temp = true;
                        format!("DKIM temporary error{sel}: {e}")
                    }
                    DkimResult::Neutral(e) => format!("DKIM neutral{sel}: {e}"),
                    DkimResult::Fail(e) | DkimResult::PermError(e) => {
                        bad = true;
                        format!("DKIM fail{sel}: {e}")
                    }
                }
            })
            .collect();
        parts.join(", ")
    };
    let spf_text = match spf.result() {
        SpfResult::Pass => format!("SPF pass for {ip}"),
        SpfResult::None => format!("SPF none (no record) for {ip}"),
        SpfResult::Neutral => format!("SPF neutral for {ip}"),
        SpfResult::TempError => {
            temp = true;
            format!("SPF temporary error for {ip}")
        }
        r => {
            bad = true;
            let w = match r {
                SpfResult::Fail => "fail",
                SpfResult::SoftFail => "softfail",
                _ => "permerror",
            };
            format!("SPF {w}: {domain} does not allow {ip} to send")
        }
    };
    let dmarc_text = match dmarc.result() {
        DmarcResult::Pass => format!(
            "DMARC pass (p={})",
            format!("{:?}", dmarc.policy()).to_lowercase()
        ),
        DmarcResult::None => "DMARC none (no record)".to_string(),
        DmarcResult::TempError(e) => {
            temp = true;
            format!("DMARC temporary error: {e}")
        }
        DmarcResult::Fail(e) | DmarcResult::PermError(e) => {
            bad = true;
            format!("DMARC fail: {e}")
        }
    };
    let passed_something = dmarc.result() == DmarcResult::Pass
        || spf.result() == SpfResult::Pass
        || dkim.iter().any(|d| {
            // Only a signature of the domain itself (or its parent or a subdomain) vouches
            // for it, not a forwarder's own.
            let aligned = d.signature().is_some_and(|sig| {
                let sd = sig.d.to_ascii_lowercase();
                sd == domain
                    || domain.ends_with(&format!(".{sd}"))
                    || sd.ends_with(&format!(".{domain}"))
            });
            aligned && d.result() == &DkimResult::Pass
        });
    let detail = format!("{dkim_text}; {spf_text}; {dmarc_text}");
    if bad {
        (Some(false), detail)
    } else if temp {
        (None, detail)
    } else if !passed_something {
        (
            Some(false),
            format!("{detail}: nothing vouches for mail from {domain}"),
        )
    } else {
        (Some(true), detail)
    }
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn message_ids_are_read_from_the_header_block() {
        let m = b"Return-Path: <>\nMessage-ID:\n <prb_AbC.in@acme.example>\nSubject: x\n\nMessage-ID: <not@body>\n";
        assert_eq!(message_id(m).as_deref(), Some("prb_abc.in@acme.example"));
        assert_eq!(message_id(b"Subject: x\r\n\r\nMessage-ID: <a@b>\r\n"), None);
    }
}
