//! DNS: what each domain's zone should hold (a baseline per domain category, filled in with
//! the mail host and the domain's DKIM key), what its authoritative nameservers actually
//! answer (the scanner), the difference (drift) and the health it adds up to; ownership
//! verification; DKIM keys.
//!
//! Tables: `dns_templates`, `dns_records`, `dkim_keys` (`store.rs`). The verification and the
//! health summary live on the domain's own row (tenancy's), written through its store.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// A category's baseline: which records a domain of that category publishes. Owners edit it;
/// each domain fills it in with the mail host and its own DKIM key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Template {
    /// Receive mail: MX at the mail host. Off: a null MX (`0 .`), "this domain takes no mail".
    pub receive: bool,
    /// The SPF record, exactly as published (`v=spf1 …`).
    pub spf: String,
    /// Sign outgoing mail and publish the key (`<selector>._domainkey`).
    pub dkim: bool,
    /// DMARC policy: `none`, `quarantine` or `reject`.
    pub dmarc_policy: String,
    /// Where DMARC aggregate reports go (an address; empty: none asked for).
    pub dmarc_rua: String,
    /// MTA-STS mode: `none` (no policy), `testing` or `enforce`.
    pub mta_sts: String,
    /// Where TLS reports go (`_smtp._tls`; an address; empty: no record).
    pub tls_rpt_rua: String,
    /// Publish the mail-client autoconfiguration SRV records (`_submission._tcp`,
    /// `_imaps._tcp`; never POP3).
    pub autoconfig: bool,
}

impl Template {
    /// The built-in baseline of a category (used until an owner saves one).
    pub fn default_for(category: &str) -> Template {
        let mut t = Template {
            receive: true,
            spf: "v=spf1 mx -all".into(),
            dkim: true,
            dmarc_policy: "quarantine".into(),
            dmarc_rua: String::new(),
            mta_sts: "none".into(),
            tls_rpt_rua: String::new(),
            autoconfig: true,
        };
        match category {
            "transactional" => {
                t.dmarc_policy = "reject".into();
                t.autoconfig = false;
            }
            "marketing" => {
                // Bulk senders start by watching reports before they quarantine.
                t.dmarc_policy = "none".into();
                t.autoconfig = false;
            }
            "parked" => {
                t = Template {
                    receive: false,
                    spf: "v=spf1 -all".into(),
                    dkim: false,
                    dmarc_policy: "reject".into(),
                    dmarc_rua: String::new(),
                    mta_sts: "none".into(),
                    tls_rpt_rua: String::new(),
                    autoconfig: false,
                };
            }
            _ => {}
        }
        t
    }
}

/// One record set a domain should publish: owner name (relative to the domain; `@` is the
/// apex), type, what it is for, the values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Expected {
    pub name: String,
    pub rtype: String,
    /// `mx`, `spf`, `dkim`, `dmarc`, `mta-sts`, `tls-rpt`, `srv`, `verify`.
    pub purpose: String,
    pub values: Vec<String>,
    /// Mail breaks without it: missing or changed turns the domain red.
    pub required: bool,
}

/// What the nameservers said of one record set, against the baseline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Observed {
    pub name: String,
    pub rtype: String,
    pub purpose: String,
    pub expected: Vec<String>,
    /// `None`: no nameserver answered.
    pub observed: Option<Vec<String>>,
    /// `ok`, `missing`, `changed`, `unknown`.
    pub status: String,
    /// Which nameserver said what, when they differ; or what a check found.
    pub detail: Option<String>,
    pub required: bool,
    /// Last time this set was looked at, and since when it has had this status.
    pub observed_at: i64,
    pub since: i64,
}

/// A DKIM key as the console shows it (never the private half).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DkimKey {
    pub id: String,
    pub selector: String,
    /// `rsa` (2048 bits) or `ed25519`.
    pub algorithm: String,
    /// `published` (waiting to be seen on every nameserver), `active` (signing), `retiring`,
    /// `retired`.
    pub state: String,
    /// The TXT value to publish at `<selector>._domainkey`.
    pub record: String,
    pub created_at: i64,
    pub seen_at: Option<i64>,
    pub active_at: Option<i64>,
}

/// A domain's DNS, as its page and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DomainDns {
    pub domain_id: String,
    pub domain: String,
    pub unicode_name: String,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub category: String,
    pub status: String,
    /// `dns`, `override`, `legacy`; `None`: not verified.
    pub verified: Option<String>,
    /// The challenge record (name, value), while it matters (not verified by DNS yet).
    pub challenge: Option<(String, String)>,
    pub health: String,
    pub health_reason: Option<String>,
    pub drift: bool,
    pub checked_at: Option<i64>,
    /// The baseline filled in for this domain.
    pub expected: Vec<Expected>,
    /// The latest observation of each set (empty before the first check).
    pub observed: Vec<Observed>,
    pub keys: Vec<DkimKey>,
    /// Ready to paste into a zone file.
    pub snippet: String,
    /// Problems with the configuration itself (no mail host set, …).
    pub notes: Vec<String>,
    /// What receivers reported (DMARC aggregate reports).
    pub dmarc: DmarcSummary,
    /// DKIM selectors delegated by CNAME to this operator zone; `None`: the key records are
    /// the customer's to publish.
    pub delegated_to: Option<String>,
    /// Whether this installation offers delegation (`dkim_zone` configured).
    pub delegation_offered: bool,
    /// Whether Mailward writes the operator zone itself (RFC 2136); otherwise the operator
    /// adds `operator_snippet` by hand.
    pub operator_zone_automatic: bool,
    /// The key records in the operator zone (delegated domains only), as a zone-file snippet.
    pub operator_snippet: String,
    /// Where the domain's DNS is managed.
    pub provider: DnsProvider,
    /// DNS changes asked for and made, newest first (pending requests, then the latest 20).
    pub changes: Vec<DnsChange>,
}

/// Where a domain's DNS is managed, as the console shows it (never the TSIG secret).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DnsProvider {
    /// `rfc2136` (Mailward updates the primary nameserver itself) or `manual` (someone edits
    /// the zone elsewhere and says when it is done).
    pub kind: String,
    /// The primary nameserver, `ip:port`.
    pub server: Option<String>,
    /// The zone that holds the domain (the domain itself or a parent).
    pub zone: Option<String>,
    pub tsig_name: Option<String>,
    pub tsig_algorithm: Option<String>,
    /// Whether a TSIG secret is stored (it is never shown back).
    pub secret_set: bool,
    /// An owner allows changes outside the baseline's record sets (and to NS).
    pub allow_unmanaged: bool,
    pub tested_at: Option<i64>,
    /// The last connection test, in words.
    pub test_result: Option<String>,
}

/// What a form or the API sends to set a domain's DNS provider.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProviderInput {
    /// `rfc2136` or `manual`.
    pub kind: String,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub zone: String,
    #[serde(default)]
    pub tsig_name: String,
    #[serde(default)]
    pub tsig_algorithm: String,
    /// Base64. Empty: keep the stored secret.
    #[serde(default)]
    pub tsig_secret: String,
    /// Owners only; absent: unchanged.
    #[serde(default)]
    pub allow_unmanaged: Option<bool>,
}

/// A record-set change to ask for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecordChangeInput {
    /// The owner name: `@` for the domain itself, a name relative to it (`_dmarc`), or the
    /// full name.
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `MX`, `TXT`, `SRV` or `NS`.
    pub rtype: String,
    /// The values the set should hold afterwards, in zone-file form (TXT without quotes).
    /// None: the set is removed.
    #[serde(default)]
    pub values: Vec<String>,
    pub reason: String,
}

/// One check of a DNS change's verification.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DnsCheck {
    /// What was checked (`nameservers`).
    pub name: String,
    /// `None`: not settled yet.
    pub ok: Option<bool>,
    /// What was seen, in words (each nameserver's answer and serial).
    pub detail: String,
    pub at: i64,
    /// A mail probe's Message-ID, while it is awaited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

/// A DNS change, from its request to its verification.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DnsChange {
    /// The change request's id.
    pub id: String,
    pub fqdn: String,
    pub rtype: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// The change request's state (`pending`, `applied`, `rolled_back`, `failed`…).
    pub state: String,
    /// Where it stands once approved: `awaiting_entry` (manual: enter the records, then say
    /// so), `verifying`, `verified`, `rolling_back`, `rolled_back`, `rollback_failed`,
    /// `failed`; empty while it waits for approval.
    pub phase: String,
    /// What the zone should hold now (`after`, or `before` while a rollback is verified).
    pub want: String,
    pub checks: Vec<DnsCheck>,
    pub deadline: Option<i64>,
    pub note: Option<String>,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    /// The domain's DNS is edited by hand: the records to enter are shown.
    pub manual: bool,
    /// The change as a zone-file snippet (what to enter by hand).
    pub zone_snippet: String,
    /// The rollback, ready to paste: an `nsupdate` script and a zone-file snippet.
    pub rollback_update: String,
    pub rollback_zone: String,
}

/// What a bulk DNS change is asked with (the form or the API).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkInput {
    /// The tenant (short name or id): a plan covers domains of one tenant.
    pub tenant: String,
    /// `restore` (every record set that differs from the baseline) or `set` (one record set).
    pub operation: String,
    /// Only this domain (empty: every domain that matches the filters).
    #[serde(default)]
    pub domain: String,
    /// Only domains of this category (empty: any).
    #[serde(default)]
    pub category: String,
    /// Only domains whose DNS differs from the baseline now.
    #[serde(default)]
    pub only_drifted: bool,
    /// For `set`: the owner name (`@`, `_dmarc`…), the type and the values afterwards.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub rtype: String,
    #[serde(default)]
    pub values: Vec<String>,
    /// Domains per batch after the canary (default `dns_bulk_batch_size`).
    #[serde(default)]
    pub batch_size: Option<i64>,
    pub reason: String,
}

/// One record set of one domain in a bulk plan.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkItem {
    pub domain: String,
    /// 0: the canary.
    pub batch: i64,
    pub fqdn: String,
    pub rtype: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// `pending`, `applied`, `verified`, `failed`, `rolled_back`.
    pub state: String,
    pub detail: Option<String>,
}

/// A bulk DNS change: the plan, where it stands, every item.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BulkPlan {
    /// The change request's id.
    pub id: String,
    pub title: String,
    pub tenant_name: String,
    /// The change request's state (`pending` until approved).
    pub request_state: String,
    pub requested_by: String,
    pub requested_by_id: Option<String>,
    pub decided_by: Option<String>,
    pub reason: String,
    /// `planned`, `running`, `done`, `stopped` (a batch failed and was rolled back),
    /// `undoing`, `undone`.
    pub state: String,
    /// `apply`, `verify`, `rollback`, `verify_rollback`.
    pub stage: String,
    /// The batch being worked on (0: the canary).
    pub batch: i64,
    pub batches: i64,
    pub batch_size: i64,
    /// Zones the plan would change beyond the limit: (domain, percent).
    pub unsafe_zones: Vec<(String, i64)>,
    pub max_percent: i64,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub note: Option<String>,
    pub pending: i64,
    pub applied: i64,
    pub verified: i64,
    pub failed: i64,
    pub rolled_back: i64,
    pub updated_at: i64,
    pub items: Vec<BulkItem>,
}

/// The record types a DNS change may touch (the form's choices).
pub fn service_types() -> &'static [&'static str] {
    &["TXT", "MX", "A", "AAAA", "CNAME", "SRV", "NS"]
}

/// How a DNS change's phase reads, and its badge tone.
pub fn phase_label(phase: &str) -> (&'static str, &'static str) {
    match phase {
        "" => ("waiting for approval", "amber"),
        "awaiting_entry" => ("enter the records", "amber"),
        "verifying" => ("verifying", "blue"),
        "verified" => ("verified", "green"),
        "rolling_back" => ("rolling back", "amber"),
        "rolled_back" => ("rolled back", "zinc"),
        "rollback_failed" => ("rollback failed", "red"),
        "failed" => ("verification failed", "red"),
        _ => ("unknown", "zinc"),
    }
}

/// One day of DMARC aggregate reports for a domain: how much mail receivers saw as coming
/// from it, and what became of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DmarcDay {
    /// UTC midnight, Unix seconds.
    pub day: i64,
    pub messages: i64,
    /// DMARC pass (aligned DKIM or aligned SPF).
    pub passed: i64,
    pub quarantined: i64,
    pub rejected: i64,
    pub spf_softfail: i64,
    pub dkim_fail: i64,
    /// Neither DKIM nor SPF aligned: someone else sends as this domain, or a forwarder broke it.
    pub misaligned: i64,
}

/// A sending source (IP address) in the reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DmarcSource {
    pub ip: String,
    /// The first day it appeared.
    pub first_day: i64,
    pub messages: i64,
    pub passed: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DmarcSummary {
    pub reports: i64,
    /// The latest 30 days with reports, newest first.
    pub days: Vec<DmarcDay>,
    /// Sources first seen in the last 30 days, newest first.
    pub new_sources: Vec<DmarcSource>,
}

/// What importing one report did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ImportedReport {
    pub domain: String,
    pub org_name: String,
    pub report_id: String,
    /// False: the same report was imported before; nothing changed.
    pub new: bool,
    pub messages: i64,
    /// Sources this report shows for the first time.
    pub new_sources: Vec<String>,
}

pub const DMARC_POLICIES: [&str; 3] = ["none", "quarantine", "reject"];
pub const MTA_STS_MODES: [&str; 3] = ["none", "testing", "enforce"];

/// The badge tone of a health word.
pub fn health_tone(h: &str) -> &'static str {
    match h {
        "green" => "green",
        "amber" => "amber",
        "red" => "red",
        _ => "zinc",
    }
}
