//! Monitoring: the signals — failed sign-ins across the console, self-service, IMAP and SMTP
//! (the mail plane reports every authentication through Dovecot's authentication policy
//! protocol), logins from networks an account has not used, DNS drift, routing turned on,
//! bursts of resets — raised as alerts: deduplicated while open, linked to what caused them,
//! acknowledged and resolved by people, every step audited.
//!
//! Tables (`store.rs`): `signin_failures`, `mail_networks`, `mail_login_hours`, `alerts`,
//! `monitor_cursor`, `alert_settings`, `alert_destinations`, `alert_deliveries`.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod geoip;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
#[cfg(feature = "ssr")]
pub mod notify;
pub mod pages;
pub mod policy;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// One alert as the inbox and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: String,
    /// `None`: platform-wide (a source address attacking several tenants).
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    /// The rule that raised it: `signin.failure_burst`, `mail.new_network`,
    /// `mail.new_country` (with a GeoIP database), `mail.odd_hour`,
    /// `dns.drift`, `auth.degraded`, `routing.enabled`, `mailbox.reset_burst`,
    /// `dmarc.new_source`, `domain.control` (the domain-control registry's warnings).
    /// `sending.limit_reached` (a mailbox or tenant reached its plan's messages per hour).
    pub rule: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    pub title: String,
    /// JSON object: the facts of the signal (address, account, counts, domain …).
    pub detail: String,
    /// What caused it, newest last: `audit:<seq>` (an audit event) or `failure:<id>` (a
    /// failed sign-in).
    pub evidence: Vec<String>,
    /// `open`, `acknowledged`, `resolved`.
    pub state: String,
    pub first_at: i64,
    pub last_at: i64,
    /// How many times the signal fired while this alert was not resolved.
    pub hits: i64,
    pub acked_by: Option<String>,
    pub acked_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub note: Option<String>,
}

/// Where alerts are sent (an e-mail address or a webhook), with its latest deliveries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Destination {
    pub id: String,
    /// `None`: every alert (the platform's destination).
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    /// `email` or `webhook`.
    pub kind: String,
    pub target: String,
    /// Alerts below this severity are not sent here.
    pub min_severity: String,
    /// Messages per rule per day; more are logged as capped.
    pub daily_cap: i64,
    /// One message a day with the day's alerts instead of one per alert.
    pub digest: bool,
    /// A webhook secret rotation is under way: the previous secret signs too until then.
    pub rotating_until: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    /// The latest messages to it, newest first.
    pub deliveries: Vec<Delivery>,
}

/// One message to one destination.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: String,
    pub alert_id: Option<String>,
    pub rule: String,
    pub subject: String,
    /// `queued`, `sent`, `failed`, `capped` (over the daily cap), `held` (for the digest).
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub status_code: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The thresholds of the rules: the platform's defaults (configuration), or what one tenant
/// set for itself.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Thresholds {
    /// Failed sign-ins for one account within `failure_minutes` that raise an alert.
    pub failure_burst: i64,
    pub failure_minutes: i64,
    /// A network a mailbox has not used for this many days is new.
    pub new_network_days: i64,
    /// Password resets in one tenant within `reset_minutes` that raise an alert.
    pub reset_burst: i64,
    pub reset_minutes: i64,
    /// Share (percent) of the tenant's own mail failing DMARC at receivers that raises an
    /// alert (from DMARC aggregate reports).
    pub auth_fail_percent: i64,
    /// Whether a login at an hour far outside the mailbox's own history raises an alert.
    pub odd_hours: bool,
}

/// One tenant's alert rules: what it set (`own`: each threshold `None` follows the platform's
/// default; whether its client viewers read its alerts), the defaults, and what applies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantRules {
    pub tenant_id: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    /// The tenant's own settings (what `PUT …/alert-rules` takes).
    pub own: RulesChange,
    /// The platform's defaults, which the empty fields follow.
    pub defaults: Thresholds,
    /// What applies: the tenant's values over the defaults.
    pub effective: Thresholds,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// A tenant's own rules, as set or as a change (`None`: follow the platform's default).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RulesChange {
    pub failure_burst: Option<i64>,
    pub failure_minutes: Option<i64>,
    pub new_network_days: Option<i64>,
    pub reset_burst: Option<i64>,
    pub reset_minutes: Option<i64>,
    pub auth_fail_percent: Option<i64>,
    /// Default on.
    #[serde(default = "yes")]
    pub odd_hours: bool,
    #[serde(default)]
    pub viewers_see: bool,
}

fn yes() -> bool {
    true
}

pub const ALERT_STATES: [&str; 3] = ["open", "acknowledged", "resolved"];

/// Tailwind tone of a severity.
pub fn severity_tone(s: &str) -> &'static str {
    match s {
        "critical" => "red",
        "warning" => "amber",
        _ => "gray",
    }
}
