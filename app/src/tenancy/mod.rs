//! Tenancy: the plan catalogue, tenants with a pooled storage allowance, and their domains.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
pub mod pages;
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
    pub status: String,
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
    pub status: String,
    pub category: String,
    pub catch_all: bool,
    pub mailbox_count: i64,
    pub created_at: i64,
}

pub const DOMAIN_CATEGORIES: [(&str, &str); 4] = [
    ("standard", "Standard mail"),
    ("transactional", "Transactional / notifications"),
    ("marketing", "Marketing"),
    ("parked", "Parked (no mail)"),
];

/// "12.5 GB" (decimal units, as the plans are sold).
pub fn format_bytes(b: i64) -> String {
    let b = b.max(0) as f64;
    let (v, unit) = if b >= 1e12 {
        (b / 1e12, "TB")
    } else if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else if b >= 1e3 {
        (b / 1e3, "kB")
    } else {
        return format!("{b} B");
    };
    if v >= 100.0 || (v - v.round()).abs() < 0.05 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
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
    }
}
