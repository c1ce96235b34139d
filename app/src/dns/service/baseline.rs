//! The baseline as records: a category's template filled in for one domain, the zone-file
//! snippet, how observed values are compared, and what the records say about authentication.
//! Pure functions (no I/O), unit-tested below.
use super::super::{Expected, Template, DMARC_POLICIES, MTA_STS_MODES};
use crate::core::{AppError, AppResult};
use crate::dns::store::KeyRow;

/// The TXT value of a DKIM key's record.
pub fn dkim_record(algorithm: &str, public_key_b64: &str) -> String {
    let k = if algorithm == "ed25519" {
        "ed25519"
    } else {
        "rsa"
    };
    format!("v=DKIM1; k={k}; p={public_key_b64}")
}

/// The MTA-STS policy file a domain of this template serves, if it has one.
pub fn mta_sts_policy(t: &Template, mail_host: Option<&str>) -> Option<String> {
    if t.mta_sts == "none" || !t.receive {
        return None;
    }
    let host = mail_host?;
    Some(format!(
        "version: STSv1\r\nmode: {}\r\nmx: {host}\r\nmax_age: 604800\r\n",
        t.mta_sts
    ))
}

/// The policy's id: changes whenever the policy does (a hash of it), as RFC 8461 asks.
pub fn policy_id(policy: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(policy.as_bytes())[..10])
}

fn mailto(addr: &str) -> String {
    if addr.starts_with("mailto:") || addr.starts_with("https:") {
        addr.to_string()
    } else {
        format!("mailto:{addr}")
    }
}

/// The record sets `domain` should publish under template `t`. `challenge`: the verification
/// record while it matters. Returns the sets and notes on what could not be filled in.
/// The two selectors a delegated domain alternates between: the customer's CNAMEs for them
/// never change, only the records they point to in the operator zone.
pub const DELEGATED_SELECTORS: [&str; 2] = ["mw1", "mw2"];

/// Where a delegated selector's key record lives: `<selector>.<domain>.<zone>`.
pub fn delegated_name(selector: &str, domain: &str, zone: &str) -> String {
    format!(
        "{selector}.{}.{}",
        domain.trim_end_matches('.'),
        zone.trim_end_matches('.')
    )
}

/// The record sets `domain` should publish under template `t`. `challenge`: the verification
/// record while it matters. `delegation`: (the domain's ASCII name, the operator zone, whether
/// new keys are delegated) when its selectors are or were delegated by CNAME; their key
/// records are then absolute names in that zone (ending in a dot), asked of the zone's own
/// nameservers. Returns the sets and notes on what could not be filled in.
pub fn expected(
    t: &Template,
    mail_host: Option<&str>,
    keys: &[KeyRow],
    challenge: Option<&str>,
    delegation: Option<(&str, &str, bool)>,
) -> (Vec<Expected>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let set =
        |name: &str, rtype: &str, purpose: &str, values: Vec<String>, required: bool| Expected {
            name: name.into(),
            rtype: rtype.into(),
            purpose: purpose.into(),
            values,
            required,
        };
    if let Some(v) = challenge {
        out.push(set(
            "_mailward-challenge",
            "TXT",
            "verify",
            vec![v.to_string()],
            false,
        ));
    }
    let host = mail_host.map(|h| format!("{}.", h.trim_end_matches('.')));
    if t.receive {
        match &host {
            Some(h) => out.push(set("@", "MX", "mx", vec![format!("10 {h}")], true)),
            None => notes.push(
                "No mail host is configured (mail_host / MAILWARD_MAIL_HOST): the MX and SRV \
                 records cannot be checked."
                    .into(),
            ),
        }
    } else {
        out.push(set("@", "MX", "mx", vec!["0 .".into()], true));
    }
    out.push(set("@", "TXT", "spf", vec![t.spf.clone()], true));
    if t.dkim {
        let live: Vec<&KeyRow> = keys.iter().filter(|k| k.state != "retired").collect();
        if live.is_empty() {
            notes.push(
                "No DKIM key yet: generate one (the scanner also makes one on its next run)."
                    .into(),
            );
        }
        for k in &live {
            if delegation.is_some() && DELEGATED_SELECTORS.contains(&k.selector.as_str()) {
                continue;
            }
            out.push(set(
                &format!("{}._domainkey", k.selector),
                "TXT",
                "dkim",
                vec![dkim_record(&k.algorithm, &k.public_key)],
                // Mail is signed with the active key: without its record, DKIM fails.
                k.state == "active",
            ));
        }
        if let Some((domain, zone, enabled)) = delegation {
            for sel in DELEGATED_SELECTORS {
                let key = live.iter().find(|k| k.selector == sel);
                if !enabled && key.is_none() {
                    // Delegation taken back and this selector's key retired: nothing to ask.
                    continue;
                }
                let signing = key.is_some_and(|k| k.state == "active");
                let target = delegated_name(sel, domain, zone);
                // The customer's CNAME, published once for both selectors.
                out.push(set(
                    &format!("{sel}._domainkey"),
                    "CNAME",
                    "dkim-cname",
                    vec![format!("{target}.")],
                    signing,
                ));
                // The key record in the operator zone; none for a selector without a key
                // (a retired key's record must be gone).
                out.push(set(
                    &format!("{target}."),
                    "TXT",
                    "dkim",
                    key.map(|k| vec![dkim_record(&k.algorithm, &k.public_key)])
                        .unwrap_or_default(),
                    signing,
                ));
            }
        }
    }
    let mut dmarc = format!("v=DMARC1; p={}", t.dmarc_policy);
    if !t.dmarc_rua.is_empty() {
        dmarc.push_str(&format!("; rua={}", mailto(&t.dmarc_rua)));
    }
    out.push(set("_dmarc", "TXT", "dmarc", vec![dmarc], true));
    if let Some(p) = mta_sts_policy(t, mail_host) {
        out.push(set(
            "_mta-sts",
            "TXT",
            "mta-sts",
            vec![format!("v=STSv1; id={}", policy_id(&p))],
            false,
        ));
    }
    if !t.tls_rpt_rua.is_empty() {
        out.push(set(
            "_smtp._tls",
            "TXT",
            "tls-rpt",
            vec![format!("v=TLSRPTv1; rua={}", mailto(&t.tls_rpt_rua))],
            false,
        ));
    }
    if t.autoconfig && t.receive {
        if let Some(h) = &host {
            out.push(set(
                "_submission._tcp",
                "SRV",
                "srv",
                vec![format!("0 1 587 {h}")],
                false,
            ));
            out.push(set(
                "_imaps._tcp",
                "SRV",
                "srv",
                vec![format!("0 1 993 {h}")],
                false,
            ));
        }
    }
    (out, notes)
}

/// Which of a name's TXT values belong to a purpose (the apex holds SPF beside unrelated
/// verification strings; only `v=spf1` ones are the SPF record).
pub fn belongs(purpose: &str, value: &str) -> bool {
    let v = value.trim_start().to_ascii_lowercase();
    match purpose {
        "spf" => v.starts_with("v=spf1"),
        "dmarc" => v.starts_with("v=dmarc1"),
        "dkim" => v.starts_with("v=dkim1") || v.contains("p="),
        "mta-sts" => v.starts_with("v=stsv1"),
        "tls-rpt" => v.starts_with("v=tlsrptv1"),
        "verify" => v.starts_with("mailward-verify="),
        _ => true,
    }
}

/// The form values are compared in: names lowercased with a final dot, runs of blanks
/// folded, no blanks around `;` and `=` in tag lists.
pub fn normalize(rtype: &str, value: &str) -> String {
    let folded = value.split_whitespace().collect::<Vec<_>>().join(" ");
    match rtype {
        "MX" | "SRV" | "CNAME" => folded.to_ascii_lowercase(),
        "NS" => folded
            .to_ascii_lowercase()
            .trim_end_matches('.')
            .to_string(),
        "DS" => folded.to_ascii_uppercase(),
        _ => folded
            .split(';')
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
                    None => p.to_string(),
                }
            })
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// The delegation a domain should have, from its domain-control record: its NS set and, where
/// DNSSEC is used, the DS set in the parent zone. Both are asked of the recursive resolver (as
/// the world sees them); a delegation that moved is drift like any other. Never written by
/// Mailward: NS and DS are changed at the registrar.
pub fn delegation(ns: &[String], ds: &[String]) -> Vec<Expected> {
    let mut out = Vec::new();
    if !ns.is_empty() {
        out.push(Expected {
            name: "@".into(),
            rtype: "NS".into(),
            purpose: "ns".into(),
            values: ns.to_vec(),
            required: true,
        });
    }
    if !ds.is_empty() {
        out.push(Expected {
            name: "@".into(),
            rtype: "DS".into(),
            purpose: "ds".into(),
            values: ds.to_vec(),
            required: true,
        });
    }
    out
}

/// Expected and observed values as sets, compared in normal form.
pub fn same(rtype: &str, expected: &[String], observed: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut n: Vec<String> = v.iter().map(|x| normalize(rtype, x)).collect();
        n.sort();
        n.dedup();
        n
    };
    norm(expected) == norm(observed)
}

/// What the SPF record says about itself: syntax, the 10-lookup limit (counted in the record
/// itself; includes are not followed), a permissive `all`.
pub fn spf_findings(spf: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut terms = spf.split_whitespace();
    if terms.next().map(|v| v.eq_ignore_ascii_case("v=spf1")) != Some(true) {
        return vec!["SPF record does not start with v=spf1".into()];
    }
    let mut lookups = 0;
    let mut has_all = false;
    for t in terms {
        let m = t
            .trim_start_matches(['+', '-', '~', '?'])
            .to_ascii_lowercase();
        let name = m.split([':', '/', '=']).next().unwrap_or("");
        match name {
            "include" | "a" | "mx" | "ptr" | "exists" | "redirect" => lookups += 1,
            "all" => {
                has_all = true;
                if t.starts_with('+') || t == "all" {
                    out.push("SPF ends in +all: anyone may send as this domain".into());
                }
            }
            "ip4" | "ip6" | "exp" => {}
            _ => out.push(format!("SPF has an unknown term \"{t}\"")),
        }
    }
    if lookups > 10 {
        out.push(format!(
            "SPF needs {lookups} DNS lookups; receivers stop at 10 (permerror)"
        ));
    }
    if !has_all && !spf.to_ascii_lowercase().contains("redirect=") {
        out.push("SPF has no final all (neutral for everyone else)".into());
    }
    out
}

/// What the DMARC record says: a policy, known tag values.
pub fn dmarc_findings(dmarc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let tags: Vec<(String, String)> = dmarc
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |k: &str| tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str());
    match get("p") {
        None => out.push("DMARC record has no policy (p=)".into()),
        Some(p) if !DMARC_POLICIES.contains(&p.to_ascii_lowercase().as_str()) => out.push(format!(
            "DMARC policy \"{p}\" is not none, quarantine or reject"
        )),
        _ => {}
    }
    for k in ["adkim", "aspf"] {
        if let Some(v) = get(k) {
            if !["r", "s"].contains(&v.to_ascii_lowercase().as_str()) {
                out.push(format!(
                    "DMARC {k}={v} is neither r (relaxed) nor s (strict)"
                ));
            }
        }
    }
    out
}

/// Checks an owner's template before it is saved.
pub fn validate(t: &Template) -> AppResult<()> {
    let spf = t.spf.trim();
    if spf.len() > 450 {
        return Err(AppError::invalid(
            "The SPF record is too long (450 characters at most).",
        ));
    }
    if !spf.to_ascii_lowercase().starts_with("v=spf1") {
        return Err(AppError::invalid("An SPF record starts with v=spf1."));
    }
    if let Some(f) = spf_findings(spf).into_iter().next() {
        return Err(AppError::invalid(format!("{f}.")));
    }
    if !DMARC_POLICIES.contains(&t.dmarc_policy.as_str()) {
        return Err(AppError::invalid(
            "The DMARC policy is none, quarantine or reject.",
        ));
    }
    if !MTA_STS_MODES.contains(&t.mta_sts.as_str()) {
        return Err(AppError::invalid(
            "The MTA-STS mode is none, testing or enforce.",
        ));
    }
    for (what, a) in [
        ("DMARC report", &t.dmarc_rua),
        ("TLS report", &t.tls_rpt_rua),
    ] {
        if !a.is_empty()
            && crate::types::EmailAddress::parse(a.trim_start_matches("mailto:")).is_err()
        {
            return Err(AppError::invalid(format!(
                "The {what} address is not an email address."
            )));
        }
    }
    Ok(())
}

/// A zone-file snippet with these records, ready to paste (TXT values split into 255-byte
/// strings, as DNS requires).
pub fn snippet(domain: &str, sets: &[Expected]) -> String {
    let mine: Vec<&Expected> = sets.iter().filter(|e| !e.name.ends_with('.')).collect();
    zone_lines(format!("$ORIGIN {domain}.\n"), &mine)
}

/// The records a delegated domain's keys need in the operator zone (absolute names).
pub fn operator_snippet(sets: &[Expected]) -> String {
    let theirs: Vec<&Expected> = sets.iter().filter(|e| e.name.ends_with('.')).collect();
    if theirs.iter().all(|e| e.values.is_empty()) {
        return String::new();
    }
    zone_lines(String::new(), &theirs)
}

fn zone_lines(mut s: String, sets: &[&Expected]) -> String {
    let width = sets.iter().map(|e| e.name.len()).max().unwrap_or(1).max(1);
    for e in sets {
        for v in &e.values {
            let data = if e.rtype == "TXT" {
                let parts: Vec<String> = v
                    .as_bytes()
                    .chunks(255)
                    .map(|c| format!("\"{}\"", String::from_utf8_lossy(c).replace('"', "\\\"")))
                    .collect();
                if parts.len() > 1 {
                    format!("( {} )", parts.join(" "))
                } else {
                    parts.join(" ")
                }
            } else {
                v.clone()
            };
            s.push_str(&format!(
                "{:<width$} 3600 IN {:<5} {data}\n",
                e.name, e.rtype
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: &str) -> KeyRow {
        KeyRow {
            id: "k".into(),
            domain_id: "d".into(),
            tenant_id: "t".into(),
            selector: "mw1".into(),
            algorithm: "rsa".into(),
            public_key: "AAAA".into(),
            private_enc: String::new(),
            state: state.into(),
            created_at: 0,
            seen_at: None,
            active_at: None,
            retire_after: None,
        }
    }

    #[test]
    fn delegated_selectors_point_into_the_operator_zone() {
        let (e, _) = expected(
            &Template::default_for("standard"),
            Some("mail.example"),
            &[key("active")],
            None,
            Some(("shop.example", "dkim.op.example", true)),
        );
        let cname = e.iter().find(|x| x.name == "mw1._domainkey").unwrap();
        assert_eq!(cname.rtype, "CNAME");
        assert_eq!(cname.values, vec!["mw1.shop.example.dkim.op.example."]);
        assert!(cname.required);
        let txt = e
            .iter()
            .find(|x| x.name == "mw1.shop.example.dkim.op.example.")
            .unwrap();
        assert_eq!(txt.values, vec!["v=DKIM1; k=rsa; p=AAAA"]);
        // The other selector: its CNAME is wanted, its record must be absent.
        let spare = e
            .iter()
            .find(|x| x.name == "mw2.shop.example.dkim.op.example.")
            .unwrap();
        assert!(spare.values.is_empty() && !spare.required);
        // The customer pastes CNAMEs; the operator zone gets the key record.
        let mine = snippet("shop.example", &e);
        assert!(mine.contains("mw2._domainkey") && !mine.contains("v=DKIM1"));
        let theirs = operator_snippet(&e);
        assert!(theirs.contains("mw1.shop.example.dkim.op.example.") && theirs.contains("p=AAAA"));
    }

    #[test]
    fn parked_domains_take_no_mail() {
        let (e, _) = expected(
            &Template::default_for("parked"),
            Some("mx.example"),
            &[],
            None,
            None,
        );
        let v = |p: &str| {
            e.iter()
                .find(|x| x.purpose == p)
                .map(|x| x.values[0].clone())
        };
        assert_eq!(v("mx").as_deref(), Some("0 ."));
        assert_eq!(v("spf").as_deref(), Some("v=spf1 -all"));
        assert_eq!(v("dmarc").as_deref(), Some("v=DMARC1; p=reject"));
        assert!(v("dkim").is_none() && v("srv").is_none());
    }

    #[test]
    fn standard_domains_publish_their_key_and_autoconfig() {
        let (e, notes) = expected(
            &Template::default_for("standard"),
            Some("mail.example."),
            &[key("active")],
            Some("mailward-verify=x"),
            None,
        );
        assert!(notes.is_empty());
        let names: Vec<_> = e
            .iter()
            .map(|x| (x.name.as_str(), x.rtype.as_str()))
            .collect();
        assert!(names.contains(&("mw1._domainkey", "TXT")));
        assert!(names.contains(&("_submission._tcp", "SRV")));
        assert!(names.contains(&("_imaps._tcp", "SRV")));
        assert!(!names.iter().any(|(n, _)| n.contains("pop3")));
        assert_eq!(
            e.iter().find(|x| x.purpose == "mx").unwrap().values[0],
            "10 mail.example."
        );
        assert!(e.iter().find(|x| x.purpose == "dkim").unwrap().required);
    }

    #[test]
    fn comparison_ignores_spacing_and_case_of_names() {
        assert!(same(
            "TXT",
            &["v=DMARC1; p=reject".into()],
            &["v=DMARC1;p=reject ".into()]
        ));
        assert!(same(
            "MX",
            &["10 mail.example.".into()],
            &["10 MAIL.example.".into()]
        ));
        assert!(!same(
            "TXT",
            &["v=DMARC1; p=reject".into()],
            &["v=DMARC1; p=none".into()]
        ));
        assert!(!same("TXT", &["v=spf1 mx -all".into()], &[]));
    }

    #[test]
    fn spf_findings_count_lookups() {
        assert!(spf_findings("v=spf1 mx -all").is_empty());
        let many = format!(
            "v=spf1 {} -all",
            (0..11)
                .map(|i| format!("include:s{i}.example"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(spf_findings(&many)[0].contains("11 DNS lookups"));
        assert!(spf_findings("v=spf1 +all")[0].contains("+all"));
    }

    #[test]
    fn long_txt_values_are_split_for_the_zone_file() {
        let long = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(400);
        let s = snippet(
            "acme.example",
            &[Expected {
                name: "mw1._domainkey".into(),
                rtype: "TXT".into(),
                purpose: "dkim".into(),
                values: vec![long],
                required: true,
            }],
        );
        assert!(s.contains("( \""), "{s}");
        assert!(s.lines().nth(1).unwrap().split('"').all(|p| p.len() <= 255));
    }
}
