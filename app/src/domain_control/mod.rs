//! The domain-control registry: for each domain, who controls it outside Mailward — the
//! registrar and the account there (who holds it, its recovery address, whether MFA is on),
//! the DNS provider, expiry and auto-renew, whose card pays, when someone last checked all
//! that — and the delegation it should have (expected NS, and DS where DNSSEC is used), which
//! the DNS scanner compares with what is served (a delegation that moved is drift).
//!
//! What can go wrong with those facts is a warning ([`warnings`], pure): expiry within
//! 60/30/7/1 days, auto-renew off, a recovery address inside the domain itself (losing the
//! domain loses its recovery) or at a free-mail provider, MFA off, no owner recorded, not
//! reviewed for 180 days. Warnings show on the domain's page and the dashboard, and each
//! raises an alert once while it holds (the recurring job `domain_control.check`).
//! Expiry and registrar can be read from RDAP when an RDAP base URL is configured.
//!
//! Tables (`store.rs`): `domain_control`.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rdap;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// One domain's control record (empty fields when nothing is recorded yet).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DomainControl {
    pub domain_id: String,
    /// The domain's name (ASCII form) and as people read it.
    pub domain: String,
    pub unicode_name: String,
    pub tenant_id: String,
    /// Whether anything was recorded for the domain yet.
    pub recorded: bool,
    pub registrar: String,
    /// Who holds the registrar account (a person or team, and the login).
    pub registrar_account: String,
    /// Where the zone is edited (a provider, or "Mailward (RFC 2136)").
    pub dns_provider: String,
    /// Midnight UTC of the expiry date.
    pub expires_at: Option<i64>,
    /// `manual` or `rdap`.
    pub expiry_source: Option<String>,
    /// `None`: not recorded.
    pub auto_renew: Option<bool>,
    /// The registrar account's recovery address.
    pub recovery_address: String,
    /// MFA on the registrar account; `None`: not recorded.
    pub mfa: Option<bool>,
    /// Whose card pays the renewal.
    pub billing_owner: String,
    /// The nameservers the domain should be delegated to (lower case, no final dot, sorted).
    pub expected_ns: Vec<String>,
    /// The DS records the parent zone should hold, where DNSSEC is used.
    pub expected_ds: Vec<String>,
    pub notes: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub rdap_at: Option<i64>,
    pub rdap_error: Option<String>,
    /// Guards concurrent edits: a save names the version it was made from.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
    /// What is wrong now, most serious first.
    pub warnings: Vec<Warning>,
}

/// One thing wrong with a domain's control record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Warning {
    /// `expired`, `expiry.1`, `expiry.7`, `expiry.30`, `expiry.60`, `auto_renew.off`,
    /// `recovery.loop`, `recovery.freemail`, `mfa.off`, `owner.missing`, `review.stale`.
    pub code: String,
    /// `critical` or `warning`.
    pub severity: String,
    pub text: String,
}

/// What the form and `PUT /api/v1/domains/{id}/control` take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ControlInput {
    #[serde(default)]
    pub registrar: String,
    #[serde(default)]
    pub registrar_account: String,
    #[serde(default)]
    pub dns_provider: String,
    /// `YYYY-MM-DD`; empty or none: not recorded.
    #[serde(default)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub auto_renew: Option<bool>,
    #[serde(default)]
    pub recovery_address: String,
    #[serde(default)]
    pub mfa: Option<bool>,
    #[serde(default)]
    pub billing_owner: String,
    /// Host names; changing them needs the right to change DNS (and is frozen in an incident).
    #[serde(default)]
    pub expected_ns: Vec<String>,
    /// DS records as `key-tag algorithm digest-type digest`.
    #[serde(default)]
    pub expected_ds: Vec<String>,
    #[serde(default)]
    pub notes: String,
    /// The person checked these facts at the registrar now (sets "last reviewed").
    #[serde(default)]
    pub reviewed: bool,
    /// The version the edit was made from; a save over a newer one is refused (409).
    #[serde(default)]
    pub version: Option<i64>,
}

/// The dashboard's summary over the domains one may see.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ControlSummary {
    /// Domains with nothing recorded.
    pub unrecorded: i64,
    /// Domains with at least one warning at the last check.
    pub with_warnings: i64,
    /// The most serious warnings first (at most 10), one per domain.
    pub top: Vec<SummaryItem>,
}

/// A domain's most serious warning, for the dashboard.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SummaryItem {
    /// As people read it.
    pub domain: String,
    pub domain_id: String,
    pub warning: Warning,
}

/// Days before expiry at which a warning fires (the tightest one crossed is in force).
pub const EXPIRY_DAYS: [i64; 4] = [1, 7, 30, 60];
/// A record not reviewed for this long is stale.
pub const REVIEW_DAYS: i64 = 180;

/// Providers where anyone can open an address: a registrar account recovered through one is
/// only as safe as a consumer mailbox.
pub const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "tutanota.com",
    "fastmail.com",
    "hey.com",
    "qq.com",
    "163.com",
    "free.fr",
    "orange.fr",
    "laposte.net",
    "libero.it",
];

/// Whether `domain` (lower case) is a free-mail provider (country variants of the big ones
/// included: `yahoo.co.uk`, `hotmail.fr`).
pub fn is_freemail(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    if FREEMAIL.contains(&d.as_str()) {
        return true;
    }
    ["yahoo.", "hotmail.", "outlook.", "live.", "gmx.", "yandex."]
        .iter()
        .any(|p| {
            d.strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && rest.split('.').count() <= 2)
        })
}

/// The date part (`YYYY-MM-DD`) of a time.
pub fn date_of(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// What is wrong with a domain's control record at `now`, most serious first. Pure.
pub fn warnings(c: &DomainControl, now: i64) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut add = |code: &str, severity: &str, text: String| {
        out.push(Warning {
            code: code.into(),
            severity: severity.into(),
            text,
        })
    };
    if !c.recorded {
        return out;
    }
    let domain = c.domain.to_ascii_lowercase();
    if let Some(exp) = c.expires_at {
        // Whole days left, counted to the expiry date's midnight.
        let left = (exp - now).div_euclid(86400) + i64::from((exp - now).rem_euclid(86400) > 0);
        let renew = match c.auto_renew {
            Some(false) => " and auto-renew is off",
            _ => "",
        };
        if left <= 0 {
            add(
                "expired",
                "critical",
                format!("The registration expired on {}{renew}.", date_of(exp)),
            );
        } else if let Some(d) = EXPIRY_DAYS.iter().find(|d| left <= **d) {
            let sev = if *d <= 7 { "critical" } else { "warning" };
            let when = if left == 1 {
                "tomorrow".to_string()
            } else {
                format!("in {left} days")
            };
            add(
                &format!("expiry.{d}"),
                sev,
                format!("The registration expires {when} ({}){renew}.", date_of(exp)),
            );
        }
    }
    let rec = c.recovery_address.trim().to_ascii_lowercase();
    if let Some((_, at)) = rec.rsplit_once('@') {
        let at = at.trim_end_matches('.');
        if at == domain || at.ends_with(&format!(".{domain}")) {
            add(
                "recovery.loop",
                "critical",
                format!(
                    "The registrar account recovers through {rec}, inside {domain} itself: losing the domain loses the way back to it."
                ),
            );
        } else if is_freemail(at) {
            add(
                "recovery.freemail",
                "warning",
                format!(
                    "The registrar account recovers through {rec}, at a free-mail provider: whoever takes that mailbox can take the domain."
                ),
            );
        }
    }
    if c.auto_renew == Some(false) {
        add(
            "auto_renew.off",
            "warning",
            "Auto-renew is off: the domain lapses unless someone renews it by hand.".into(),
        );
    }
    if c.mfa == Some(false) {
        add(
            "mfa.off",
            "warning",
            "The registrar account has no second factor: its password alone moves the domain."
                .into(),
        );
    }
    let mut missing = Vec::new();
    if c.registrar_account.trim().is_empty() {
        missing.push("who holds the registrar account");
    }
    if c.billing_owner.trim().is_empty() {
        missing.push("whose card pays");
    }
    if !missing.is_empty() {
        add(
            "owner.missing",
            "warning",
            format!("No owner recorded: {}.", missing.join(" and ")),
        );
    }
    match c.reviewed_at {
        None => add(
            "review.stale",
            "warning",
            "Never reviewed: nobody has confirmed these facts with the registrar.".into(),
        ),
        Some(r) if now - r > REVIEW_DAYS * 86400 => add(
            "review.stale",
            "warning",
            format!(
                "Not reviewed for {} days (last on {}).",
                (now - r) / 86400,
                date_of(r)
            ),
        ),
        _ => {}
    }
    out.sort_by_key(|w| if w.severity == "critical" { 0 } else { 1 });
    out
}

/// Tailwind tone of a warning's severity.
pub fn tone(severity: &str) -> &'static str {
    if severity == "critical" {
        "red"
    } else {
        "amber"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86400;

    fn rec(expires_in_days: Option<i64>, now: i64) -> DomainControl {
        DomainControl {
            domain: "acme.example".into(),
            recorded: true,
            registrar_account: "ops@agency".into(),
            billing_owner: "Acme finance".into(),
            recovery_address: "hostmaster@agency.example".into(),
            auto_renew: Some(true),
            mfa: Some(true),
            reviewed_at: Some(now - DAY),
            expires_at: expires_in_days.map(|d| now - now.rem_euclid(DAY) + d * DAY),
            ..Default::default()
        }
    }

    fn codes(c: &DomainControl, now: i64) -> Vec<String> {
        warnings(c, now).into_iter().map(|w| w.code).collect()
    }

    #[test]
    fn expiry_thresholds() {
        let now = 1_800_000_000 - 1_800_000_000 % DAY + 3600;
        assert!(codes(&rec(Some(61), now), now).is_empty());
        assert_eq!(codes(&rec(Some(60), now), now), ["expiry.60"]);
        assert_eq!(codes(&rec(Some(31), now), now), ["expiry.60"]);
        assert_eq!(codes(&rec(Some(30), now), now), ["expiry.30"]);
        assert_eq!(codes(&rec(Some(7), now), now), ["expiry.7"]);
        assert_eq!(codes(&rec(Some(1), now), now), ["expiry.1"]);
        assert_eq!(codes(&rec(Some(0), now), now), ["expired"]);
        assert_eq!(codes(&rec(None, now), now), Vec::<String>::new());
        assert_eq!(warnings(&rec(Some(7), now), now)[0].severity, "critical");
        assert!(warnings(&rec(Some(1), now), now)[0]
            .text
            .contains("tomorrow"));
    }

    #[test]
    fn recovery_owner_review() {
        let now = 1_800_000_000;
        let mut c = rec(None, now);
        c.recovery_address = "admin@mail.acme.example".into();
        assert_eq!(codes(&c, now), ["recovery.loop"]);
        c.recovery_address = "someone@Gmail.com".into();
        assert_eq!(codes(&c, now), ["recovery.freemail"]);
        c.recovery_address = "x@yahoo.co.uk".into();
        assert_eq!(codes(&c, now), ["recovery.freemail"]);
        c.recovery_address = "x@notacme.example".into();
        assert!(codes(&c, now).is_empty());
        c.billing_owner.clear();
        c.auto_renew = Some(false);
        c.mfa = Some(false);
        c.reviewed_at = Some(now - 181 * DAY);
        assert_eq!(
            codes(&c, now),
            ["auto_renew.off", "mfa.off", "owner.missing", "review.stale"]
        );
        c.reviewed_at = None;
        assert!(warnings(&c, now)[3].text.starts_with("Never"));
        let blank = DomainControl::default();
        assert!(warnings(&blank, now).is_empty());
    }
}
