//! Tenancy: the plan catalogue, tenants with a pooled storage allowance, and their domains.
use serde::{Deserialize, Serialize};

pub use crate::types::LiveStatus;

#[cfg(feature = "ssr")]
pub mod http;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub max_domains: i64,
    /// Pooled storage in bytes (decimal: 1 GB = 10⁹ bytes).
    pub storage_bytes: i64,
    pub managed_smtp: bool,
    /// Messages one mailbox may submit per hour (`mailward policy` enforces it).
    pub send_per_hour_mailbox: i64,
    /// Messages all of a tenant's mailboxes together may submit per hour.
    pub send_per_hour_tenant: i64,
    pub retired: bool,
    /// Tenants on this plan.
    pub tenants: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// `active` or `suspended` (a suspended tenant's mail stops).
    pub status: LiveStatus,
    pub plan_id: String,
    pub plan_name: String,
    pub max_domains: i64,
    pub storage_bytes: i64,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub domain_count: i64,
    /// Bytes promised to mailboxes out of the pool.
    pub storage_allocated: i64,
    /// Bytes actually stored, as the mail plane reports it (none until it has reported).
    pub storage_used: Option<i64>,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Domain {
    pub id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    /// ASCII (punycode) form, as DNS and the mail servers use it.
    pub name: String,
    /// The name as people read it (differs from `name` for internationalised domains).
    pub unicode_name: String,
    /// `pending` (added, not receiving yet), `active` or `suspended`.
    pub status: LiveStatus,
    pub category: String,
    pub catch_all: bool,
    pub mailbox_count: i64,
    pub created_at: i64,
    /// How control of the domain's DNS was shown: `dns` (the challenge record was seen),
    /// `override` (an owner activated it without, giving a reason) or `legacy` (active before
    /// verification existed); `None`: not yet.
    pub verified: Option<String>,
    /// The value of the challenge record: `_mailward-challenge.<domain> TXT "mailward-verify=<token>"`.
    pub verify_token: String,
    /// The DNS scanner's summary: `unknown` (not checked, or no nameserver answered),
    /// `green`, `amber` or `red`, with the reason.
    pub health: String,
    pub health_reason: Option<String>,
    /// Some record set differs from the baseline.
    pub drift: bool,
    pub checked_at: Option<i64>,
}

impl Domain {
    /// The challenge record's owner name and value.
    pub fn challenge(&self) -> (String, String) {
        (
            format!("_mailward-challenge.{}", self.name),
            format!("mailward-verify={}", self.verify_token),
        )
    }
}

/// What the domain overview shows: a search term, filters, a sort and a page. Parsed from
/// the page's query string and from the API's; anything unknown falls back to the default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct DomainQuery {
    /// Part of a domain name (Unicode or ASCII) or of a tenant name.
    #[serde(default)]
    pub q: String,
    /// `pending`, `active` or `suspended`; empty for all.
    #[serde(default)]
    pub status: String,
    /// A tenant's short name; empty for all.
    #[serde(default)]
    pub tenant: String,
    /// `drifted` (DNS differs from the baseline), `red`, `unverified`; empty for all.
    #[serde(default)]
    pub health: String,
    /// `domain` (default), `tenant`, `status`, `mailboxes` or `added`.
    #[serde(default)]
    pub sort: String,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub dir: String,
    /// 1-based page number.
    #[serde(default)]
    pub page: i64,
    /// Rows per page: 50, 100 (default) or 500.
    #[serde(default)]
    pub per: i64,
}

pub const PAGE_SIZES: [i64; 3] = [50, 100, 500];
/// The dashboard's health filters (the first is "any").
pub const DOMAIN_HEALTH_FILTERS: [(&str, &str); 4] = [
    ("", "Any health"),
    ("drifted", "DNS drifted"),
    ("red", "Red"),
    ("unverified", "Unverified"),
];
pub const DOMAIN_SORTS: [(&str, &str); 6] = [
    ("domain", "Domain"),
    ("tenant", "Tenant"),
    ("status", "Status"),
    ("mailboxes", "Mailboxes"),
    ("added", "Added"),
    ("health", "Health (worst first)"),
];

impl DomainQuery {
    /// The same query with defaults filled in and bad values replaced.
    pub fn normalized(&self) -> DomainQuery {
        let mut q = self.clone();
        q.q = q.q.trim().chars().take(100).collect();
        if !["pending", "active", "suspended"].contains(&q.status.as_str()) {
            q.status.clear();
        }
        q.tenant = q.tenant.trim().to_string();
        if !DOMAIN_HEALTH_FILTERS.iter().any(|(k, _)| *k == q.health) {
            q.health.clear();
        }
        if !DOMAIN_SORTS.iter().any(|(k, _)| *k == q.sort) {
            q.sort = "domain".into();
        }
        if q.dir != "desc" {
            q.dir = "asc".into();
        }
        if !PAGE_SIZES.contains(&q.per) {
            q.per = 100;
        }
        // Bounded: a page of i64::MAX would overflow the offset.
        q.page = q.page.clamp(1, 1_000_000);
        q
    }

    /// The query string for this query with `page` replaced (defaults left out).
    pub fn href(&self, base: &str) -> String {
        let mut parts: Vec<String> = vec![];
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        if !self.q.is_empty() {
            parts.push(format!("q={}", enc(&self.q)));
        }
        if !self.status.is_empty() {
            parts.push(format!("status={}", enc(&self.status)));
        }
        if !self.tenant.is_empty() {
            parts.push(format!("tenant={}", enc(&self.tenant)));
        }
        if !self.health.is_empty() {
            parts.push(format!("health={}", enc(&self.health)));
        }
        if self.sort != "domain" && !self.sort.is_empty() {
            parts.push(format!("sort={}", enc(&self.sort)));
        }
        if self.dir == "desc" {
            parts.push("dir=desc".into());
        }
        if self.per != 100 && self.per != 0 {
            parts.push(format!("per={}", self.per));
        }
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        if parts.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    }
}

/// One row of the domain overview: the domain with its tenant's plan use and pool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DomainGlance {
    pub domain: Domain,
    pub plan_name: String,
    pub tenant_domains: i64,
    pub max_domains: i64,
    pub pool_bytes: i64,
    pub pool_allocated: i64,
    pub pool_used: Option<i64>,
}

/// A page of the domain overview.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DomainBrowse {
    pub rows: Vec<DomainGlance>,
    /// Rows matching the filters (all pages).
    pub total: i64,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub query: DomainQuery,
    /// Tenants the viewer can filter by: (short name, name).
    pub tenants: Vec<(String, String)>,
}

pub const DOMAIN_CATEGORIES: [(&str, &str); 4] = [
    ("standard", "Standard mail"),
    ("transactional", "Transactional / notifications"),
    ("marketing", "Marketing"),
    ("parked", "Parked (no mail)"),
];

/// "12.5 GB" (decimal units, as the plans are sold).
pub fn format_bytes(b: i64) -> String {
    Bytes(b).to_string()
}

/// A size as people read it ("1.5 GB", "200 kB"), written without an intermediate string.
pub struct Bytes(pub i64);

impl std::fmt::Display for Bytes {
    /// One decimal below 100 of a unit unless it is whole ("12.5 GB", "1 GB", "200 GB"),
    /// rounded half up, in integers (it is on every row of the domain overview).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0.max(0) as u128;
        let (unit, name) = match b {
            1_000_000_000_000.. => (1_000_000_000_000, "TB"),
            1_000_000_000.. => (1_000_000_000, "GB"),
            1_000_000.. => (1_000_000, "MB"),
            1_000.. => (1_000, "kB"),
            _ => return write!(f, "{b} B"),
        };
        if b >= 100 * unit {
            return write!(f, "{} {name}", (b + unit / 2) / unit);
        }
        let tenths = (b * 10 + unit / 2) / unit;
        if tenths % 10 == 0 {
            write!(f, "{} {name}", tenths / 10)
        } else {
            write!(f, "{}.{} {name}", tenths / 10, tenths % 10)
        }
    }
}

/// A domain name as Mailward accepts it: Unicode accepted, stored as punycode (IDNA),
/// letters-digits-hyphens labels of 1–63 characters, at least two labels, at most 253
/// characters, a trailing dot ignored, a top-level label that is not all digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainName {
    pub ascii: String,
    pub unicode: String,
}

#[cfg(feature = "ssr")]
impl DomainName {
    pub fn parse(input: &str) -> Result<DomainName, String> {
        let raw = input.trim();
        let raw = raw.strip_suffix('.').unwrap_or(raw);
        if raw.is_empty() {
            return Err("Enter a domain name, e.g. example.com.".into());
        }
        let bad = |why: &str| Err(format!("“{raw}” is not a valid domain name: {why}."));
        if raw.contains(['@', '/', ':', ' ', '*']) {
            return bad("use only the name, like example.com");
        }
        let Ok(ascii) = idna::domain_to_ascii(raw) else {
            return bad("it cannot be converted to its ASCII (IDNA) form");
        };
        let ascii = ascii.to_ascii_lowercase();
        if ascii.len() > 253 {
            return bad("it is longer than 253 characters");
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return bad("it needs at least two labels, like example.com");
        }
        for l in &labels {
            if l.is_empty() {
                return bad("it has an empty label (two dots in a row)");
            }
            if l.len() > 63 {
                return bad("a label is longer than 63 characters");
            }
            if l.starts_with('-') || l.ends_with('-') {
                return bad("a label starts or ends with a hyphen");
            }
            if !l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                return bad("only letters, digits and hyphens are allowed");
            }
        }
        if labels
            .last()
            .is_some_and(|t| t.bytes().all(|c| c.is_ascii_digit()))
        {
            return bad("the last label cannot be all digits");
        }
        let (unicode, _) = idna::domain_to_unicode(&ascii);
        Ok(DomainName { ascii, unicode })
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        let d = DomainName::parse(" Bücher.Example. ").unwrap();
        assert_eq!(d.ascii, "xn--bcher-kva.example");
        assert_eq!(d.unicode, "bücher.example");
        assert_eq!(
            DomainName::parse("xn--bcher-kva.example").unwrap().unicode,
            "bücher.example"
        );
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "x@y.com",
            "1.2.3.4",
            "*.a.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(1_000_000_000), "1 GB");
        assert_eq!(format_bytes(12_500_000_000), "12.5 GB");
        assert_eq!(format_bytes(200_000_000_000), "200 GB");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(-5), "0 B");
        assert_eq!(format_bytes(1_000), "1 kB");
        assert_eq!(format_bytes(1_049), "1 kB");
        assert_eq!(format_bytes(1_050), "1.1 kB");
        assert_eq!(format_bytes(99_960_000), "100 MB");
        assert_eq!(format_bytes(99_940_000), "99.9 MB");
        assert_eq!(format_bytes(123_456_789), "123 MB");
        assert_eq!(format_bytes(600_000_000), "600 MB");
        assert_eq!(format_bytes(2_345_000_000_000), "2.3 TB");
        assert_eq!(format_bytes(i64::MAX), "9223372 TB");
    }
}
